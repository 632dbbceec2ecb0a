#!/usr/bin/env bash
# qemu-img convert/compare against tmem.so, and qemu-io patterns of
# unaligned reads and writes applied both to the device and to a local
# file: the two must end up identical.
. ./functions.sh
requires nbdkit --version
requires qemu-img --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

python3 "$srcdir/nbd-corpus.py" "$tmp/corpus" 8 1 1
size=$(stat -c %s "$tmp/corpus")
cp "$tmp/corpus" "$tmp/mirror"

# Writes that start and end inside pages, span page boundaries, cover a
# page exactly, overlap each other and read back what they wrote.
cmds=(
    -c "write -P 0x11 1 1"
    -c "write -P 0x22 4095 2"
    -c "write -P 0x33 8191 4098"
    -c "write -P 0x44 20000 12345"
    -c "write -P 0x55 24576 4096"
    -c "write -P 0x66 24000 1000"
    -c "write -z 40000 9000"
    -c "write -P 0x77 1048571 9"
    -c "aio_write -P 0x88 2000001 3000"
    -c "aio_write -P 0x99 2003001 5000"
    -c "aio_flush"
    -c "read -P 0x22 4095 2"
    -c "read -P 0x55 25000 3672"
    -c "read -P 0x66 24000 1000"
    -c "read -P 0 40000 9000"
    -c "read -P 0x99 2003001 5000"
)
qemu-io -f raw "${cmds[@]}" "$tmp/mirror" >/dev/null

nbdkit -U - "$TMEM_PLUGIN" size=$size pool=$pool pool-size=128M --run "
    set -e
    qemu-img convert -n -f raw -O raw '$tmp/corpus' \"\$uri\"
    qemu-img compare -f raw -F raw '$tmp/corpus' \"\$uri\"
    qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\" > '$tmp/io.log'
    qemu-img compare -f raw -F raw '$tmp/mirror' \"\$uri\"
    qemu-img convert -f raw -O raw \"\$uri\" '$tmp/back'
"
if grep -q 'Pattern verification failed' "$tmp/io.log"; then
    cat "$tmp/io.log"
    fail "qemu-io read back something it did not write"
fi
cmp "$tmp/mirror" "$tmp/back"
