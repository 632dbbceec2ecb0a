#!/usr/bin/env bash
# A pool smaller than the device plus an overflow file: write more than the
# pool holds and read all of it back, also after a restart; a trim frees
# the file's slots.  Without overflow= a full pool fails the write with a
# message that says so.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# The overflow file needs a block-backed file system (O_DIRECT, not RAM):
# the build tree, else /var/tmp.
ovdir=$(block_backed_dir)
[ -n "$ovdir" ] || skip "no block-backed directory for the overflow file"
cleanup_fn "rm -rf '$ovdir'"

# 40 MiB of random pages (no compression, no dedup) into a 16 MiB pool.
head -c 40M /dev/urandom > "$tmp/data"
keys=(size=64M pool=$pool pool-size=16M overflow="$ovdir/ov")

nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    nbdcopy '$tmp/data' \"\$uri\" && nbdcopy \"\$uri\" '$tmp/back1'
" 2> "$tmp/log1"
cmp -n 41943040 "$tmp/data" "$tmp/back1"
grep -E 'overflow: [0-9]+ of' "$tmp/log1"
used=$(sed -n 's/.*overflow: \([0-9]*\) of.*/\1/p' "$tmp/log1" | tail -1)
[ "$used" -gt 0 ] || fail "nothing went to the overflow file"
[ "$(stat -c %s "$ovdir/ov")" -eq 67108864 ] ||
    fail "the overflow file was not allocated in full"
# ... and written once in full: no extent is left unwritten for a swap
# write to convert (a journal transaction on the write path).
if command -v filefrag >/dev/null; then
    pool2=$pool-b
    cleanup_fn "rm -f /dev/shm/$pool2 /dev/shm/$pool2.*"
    nbdkit -U - "$TMEM_PLUGIN" size=64M pool=$pool2 pool-size=16M \
           overflow="$ovdir/fresh" --run true
    filefrag -v "$ovdir/fresh" > "$tmp/frag"
    if grep -q unwritten "$tmp/frag"; then
        cat "$tmp/frag" >&2
        fail "the overflow file has unwritten extents"
    fi
fi

# The file holds pages now: another overflow-size would lose them.
if nbdkit -U - "$TMEM_PLUGIN" "${keys[@]}" overflow-size=32M --run true \
        2> "$tmp/err"; then
    fail "started with another overflow-size over spilled pages"
fi
grep -q "overflow-size" "$tmp/err" || fail "no message naming overflow-size: $(cat "$tmp/err")"

# A restart finds every page again, those in the file included.  Then
# unaligned writes (read-modify-write of pages that may be in the file),
# replayed on a local copy to compare with; trimming everything at last
# gives every slot back.
cmds=(
    -c "write -P 0x11 100 5000"
    -c "write -P 0x22 20000001 9000"
    -c "write -P 0x33 33554431 2"
    -c "write -P 0x44 41943000 200"
    -c "write -z 12345 8192"
)
cp "$tmp/data" "$tmp/mirror"
truncate -s 64M "$tmp/mirror"
qemu-io -f raw "${cmds[@]}" "$tmp/mirror" >/dev/null
nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    set -e
    nbdcopy \"\$uri\" '$tmp/back2'
    qemu-io -f raw $(printf '%q ' "${cmds[@]}") \"\$uri\" >/dev/null
    qemu-img compare -q -f raw -F raw '$tmp/mirror' \"\$uri\"
    qemu-io -f raw -c 'discard 0 64M' \"\$uri\" >/dev/null
" 2> "$tmp/log2" || { grep -v debug "$tmp/log2"; fail "restart, unaligned writes or trim failed"; }
cmp -n 41943040 "$tmp/data" "$tmp/back2"
grep -q "overflow: 0 of 16384 slots in use" "$tmp/log2" ||
    fail "trim did not free the overflow slots: $(grep 'overflow:' "$tmp/log2")"

# Overwrites free slots too: rewrite with zero pages, all back in the pool.
nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    nbdcopy '$tmp/data' \"\$uri\" &&
    qemu-io -f raw -c 'write -P 0 0 64M' \"\$uri\" >/dev/null
" 2> "$tmp/log3"
grep -q "overflow: 0 of 16384 slots in use" "$tmp/log3" ||
    fail "overwrites did not free the overflow slots: $(grep 'overflow:' "$tmp/log3")"

# NBD_CMD_CACHE brings spilled pages back into the pool once it has room:
# fill, trim the first 24 MiB (pool pages), cache everything, read back.
py=$(python_nbd)
if [ -n "$py" ]; then
    nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
        set -e
        nbdcopy '$tmp/data' \"\$uri\"
        '$py' -c 'import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.trim(24 << 20, 0)
h.cache(64 << 20, 0)' \"\$uri\"
        nbdcopy \"\$uri\" '$tmp/back5'
    " 2> "$tmp/log5"
    cmp -i 25165824 -n 16777216 "$tmp/data" "$tmp/back5"
    grep -Eq "promoted [1-9]" "$tmp/log5" ||
        fail "cache promoted nothing: $(grep 'promoted' "$tmp/log5")"
fi

# No overflow file: the write fails, and the message names the cause.
pool2=$(unique_segment)-2; cleanup_fn "rm -f /dev/shm/$pool2 /dev/shm/$pool2.*"
if nbdkit -U - "$TMEM_PLUGIN" size=64M pool=$pool2 pool-size=16M \
        --run "nbdcopy '$tmp/data' \"\$uri\"" 2> "$tmp/log4"; then
    fail "40M of random data fitted in a 16M pool"
fi
grep 'pool is full' "$tmp/log4" || { cat "$tmp/log4"; fail "no 'pool is full' message"; }
# ... logged before the client saw the error: nbdkit may not outlive the
# client's hang-up (1.32 can abort on a reply to a closed socket), so a
# message still waiting for the log thread's next poll could be lost.
said=$(grep -n 'pool is full' "$tmp/log4" | head -1 | cut -d: -f1)
failed=$(grep -n 'nbdcopy: .*failed' "$tmp/log4" | head -1 | cut -d: -f1)
if [ -n "$failed" ] && [ "$said" -gt "$failed" ]; then
    cat "$tmp/log4"
    fail "the 'pool is full' message came after the client's error"
fi
