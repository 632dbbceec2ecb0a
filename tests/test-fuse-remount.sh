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
# A daemon killed without cleaning up leaves its sub-pool behind: the
# next one must still start from an empty one.
fc_mount "$tmp/a" "$tmp/mnt" -o "$opts"
cat "$tmp"/mnt/f* > /dev/null
kill -9 "${_fc_pids[$tmp/mnt]}"
sleep 0.5
fusermount3 -u -z "$tmp/mnt" 2>/dev/null || true
fc_unmount "$tmp/mnt"
fc_mount "$tmp/b" "$tmp/mnt" -o "$opts"
echo 3 > /proc/sys/vm/drop_caches
for i in $(seq 1 20); do
    cmp "$tmp/b/f$i" "$tmp/mnt/f$i" || fail "after a killed daemon: f$i differs"
done
echo ok
