#!/usr/bin/env bash
# A put refused only because the pool's grower is behind (the segment has
# room; its reserve of ready chunks is empty for a moment) is not pressure:
# the admission filter stays off, and the cache goes on putting the chunks
# it reads.  The grower is held back (SCHED_IDLE on a CPU kept busy), a
# file is read, the grower is let go, and a second file read at once must
# be served by the pool after the kernel's caches are dropped.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
for t in chrt taskset timeout; do
    command -v $t >/dev/null || skip "$t is not installed"
done
fc_use_pool 256M

tmp=$(mktemp_dir)
back=$tmp/back slow=$tmp/slow mnt=$tmp/mnt
mkdir "$back" "$slow" "$mnt"
head -c 64M /dev/urandom > "$back/a"
head -c 4M /dev/urandom > "$back/b"
slowfs_mount "$back" "$slow" -o latency=0,bandwidth=0
sleep 3   # older than the default 2 s timestamp granularity
fc_mount "$slow" "$mnt" -o "$FC_POOL,cache-name=fc-grower-$$"
pid=${_fc_pids[$mnt]}
grower=
for t in /proc/$pid/task/*; do
    [ "$(cat "$t/comm")" = tmem-grower ] && grower=${t##*/}
done
[ -n "$grower" ] || fail "no tmem-grower thread in $pid"

# One CPU this test may use, and the grower's own CPUs to put back.
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[-,].*//')
mask=$(taskset -pc "$grower" | sed 's/.*: *//')
[ -n "$cpu" ] && [ -n "$mask" ] || fail "cannot read the CPU affinity"
hog=
release ()
{
    if [ -n "$hog" ]; then
        kill "$hog" 2>/dev/null || true
        wait "$hog" 2>/dev/null || true
    fi
    hog=
    chrt -o -p 0 "$grower" 2>/dev/null || true
    taskset -pc "$mask" "$grower" >/dev/null 2>&1 || true
}
cleanup_fn release
taskset -pc "$cpu" "$grower" >/dev/null || skip "cannot move the grower to CPU $cpu"
chrt -i -p 0 "$grower" || skip "cannot make the grower SCHED_IDLE"
taskset -c "$cpu" timeout 300 sh -c 'while :; do :; done' &
hog=$!
cat "$mnt/a" > /dev/null
release
cat "$mnt/b" > /dev/null
echo 3 > /proc/sys/vm/drop_caches
r=$(slowfs_reads "$slow")
cmp "$mnt/b" "$back/b" || fail "b differs"
reads=$(( $(slowfs_reads "$slow") - r ))
"$FC_PRESSURE" "$FC_SEG" stats "fc-grower-$$" > "$tmp/stats"
fc_unmount "$mnt"
cat "$tmp/stats"
grep "puts deferred" "$mnt.log" || fail "no statistics at unmount: $(cat "$mnt.log")"
# Refused for the grower: no ready chunk, or no index record faulted in.
refused=$(sed -n 's/^rejected (\(reserve_empty\|records_later\)) //p' "$tmp/stats" |
    awk '{ n += $1 } END { print n + 0 }')
echo "puts refused while the grower was held back: ${refused:-0}; source reads of b after a drop: $reads"
[ "${refused:-0}" -gt 0 ] ||
    skip "the grower kept up even held back: nothing to show"
grep -q "puts deferred 0," "$mnt.log" ||
    fail "a lagging grower was taken for pressure: chunks read once were kept out"
# A put of b's may still have met the reserve empty just after the grower
# was let go; b has 32 chunks of 128 KiB.
[ "$reads" -le 4 ] ||
    fail "b's second read went to the source $reads times"
