#!/usr/bin/env bash
# tmem-fuse-cache: object ids restart with every daemon, so the pages a
# previous mount left under the same sub-pool name must never be served
# for other files.  Mount, cache one set of files, unmount; mount again
# over other files of the same names and sizes (the new daemon hands out
# the same object ids in the same order): every byte must be the new one.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

tmp=$(mktemp_dir)
mkdir "$tmp/a" "$tmp/b" "$tmp/mnt"
for i in $(seq 1 20); do
    head -c $(( 1500000 + i * 4096 )) /dev/urandom > "$tmp/a/f$i"
    head -c $(( 1500000 + i * 4096 )) /dev/urandom > "$tmp/b/f$i"
done
sleep 0.2
opts="$FC_POOL,cache-name=remount-$$,timestamp-granularity=0.05"

for round in 1 2 3; do
    for src in a b; do
        fc_mount "$tmp/$src" "$tmp/mnt" -o "$opts"
        for pass in 1 2; do
            for i in $(seq 1 20); do
                cmp "$tmp/$src/f$i" "$tmp/mnt/f$i" ||
                    fail "round $round, source $src, pass $pass: f$i differs"
            done
            echo 3 > /proc/sys/vm/drop_caches
        done
        stats=$("$FC_PRESSURE" "$FC_SEG" stats "remount-$$")
        echo "round $round source $src: $stats"
        hits=$(echo "$stats" | sed -n 's/.* hits \([0-9]*\).*/\1/p')
        [ "${hits:-0}" -gt 0 ] || fail "the second pass was not served by the pool"
        fc_unmount "$tmp/mnt"
    done
done
# A daemon killed without cleaning up leaves its sub-pool and a dead mount
# behind: a new daemon refuses the dead mount; once it is unmounted, the
# next one must still start from an empty sub-pool.
fc_mount "$tmp/a" "$tmp/mnt" -o "$opts"
cat "$tmp"/mnt/f* > /dev/null
kill -9 "${_fc_pids[$tmp/mnt]}"
sleep 0.05
# Its mount is dead (ENOTCONN) but still there: a new daemon on the same
# mountpoint says so and does not stack on it, even while the kernel still
# answers stat from cached attributes.
if timeout 20 "$TMEM_FUSE_CACHE" -o "$opts" "$tmp/a" "$tmp/mnt" -f 2> "$tmp/dead.err"; then
    fail "mounted over a dead mount"
fi
cat "$tmp/dead.err"
grep -q "a FUSE mount whose daemon is gone is still there" "$tmp/dead.err" ||
    fail "no word of the dead mount: $(cat "$tmp/dead.err")"
[ "$(grep -c " $tmp/mnt " /proc/mounts)" -eq 1 ] ||
    fail "$(grep -c " $tmp/mnt " /proc/mounts) mounts at $tmp/mnt"
fusermount3 -u "$tmp/mnt" || fusermount3 -u -z "$tmp/mnt"
fc_unmount "$tmp/mnt"
fc_mount "$tmp/b" "$tmp/mnt" -o "$opts"
echo 3 > /proc/sys/vm/drop_caches
for i in $(seq 1 20); do
    cmp "$tmp/b/f$i" "$tmp/mnt/f$i" || fail "after a killed daemon: f$i differs"
done
echo ok
