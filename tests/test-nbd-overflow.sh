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
ovdir=
for d in "$PWD" /var/tmp "${TMPDIR:-/tmp}"; do
    case $(stat -f -c %T "$d") in tmpfs|ramfs) continue ;; esac
    ovdir=$(mktemp -d "$d/tmem-overflow.XXXXXX") && break
done
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

# A restart finds every page again, those in the file included; trimming
# everything then gives every slot back.
nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    nbdcopy \"\$uri\" '$tmp/back2' &&
    qemu-io -f raw -c 'discard 0 64M' \"\$uri\" >/dev/null
" 2> "$tmp/log2"
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

# No overflow file: the write fails, and the message names the cause.
pool2=$(unique_segment)-2; cleanup_fn "rm -f /dev/shm/$pool2 /dev/shm/$pool2.*"
if nbdkit -U - "$TMEM_PLUGIN" size=64M pool=$pool2 pool-size=16M \
        --run "nbdcopy '$tmp/data' \"\$uri\"" 2> "$tmp/log4"; then
    fail "40M of random data fitted in a 16M pool"
fi
grep 'pool is full' "$tmp/log4" || { cat "$tmp/log4"; fail "no 'pool is full' message"; }
