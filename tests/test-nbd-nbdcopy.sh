#!/usr/bin/env bash
# nbdcopy round trips of a swap-like corpus (real process memory, zero
# pages, random data) through tmem.so, on one and on four connections,
# compared byte for byte.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

python3 "$srcdir/nbd-corpus.py" "$tmp/corpus" 24 4 4
size=$(stat -c %s "$tmp/corpus")

nbdkit -U - "$TMEM_PLUGIN" size=$((size + 1048576)) pool=$pool \
       pool-size=256M --run "
    nbdcopy '$tmp/corpus' \"\$uri\" &&
    nbdcopy \"\$uri\" '$tmp/out1' &&
    nbdcopy --connections=4 --requests=16 \"\$uri\" '$tmp/out4'
"
cmp -n "$size" "$tmp/corpus" "$tmp/out1"
cmp -n "$size" "$tmp/corpus" "$tmp/out4"
# The megabyte past the corpus was never written: zeroes.
cmp -i "$size:0" -n 1048576 "$tmp/out1" /dev/zero
