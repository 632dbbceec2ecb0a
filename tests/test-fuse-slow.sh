#!/usr/bin/env bash
# tmem-fuse-cache over the slow source (tests/slowfs: 1 ms per read,
# 50 MB/s, direct_io, whole-second timestamps).  After the kernel's caches
# are dropped a second pass is served by the pool: the source sees no
# read.  A change made in the source from outside is what the next open
# returns.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

tmp=$(mktemp_dir)
back=$tmp/back slow=$tmp/slow mnt=$tmp/mnt
mkdir "$back" "$slow" "$mnt" "$back/d"
for i in $(seq 1 24); do
    head -c $(( 4096 * i * 7 + i )) /dev/urandom > "$back/d/r$i"
done
for i in $(seq 1 8); do
    seq 1 $(( 20000 * i )) > "$back/d/t$i"        # compressible
    head -c $(( 65536 * i )) /dev/zero > "$back/d/z$i"
done
slowfs_mount "$back" "$slow"
# Older than the default 2 s granularity, so the pool may keep them.
sleep 3
fc_mount "$slow" "$mnt" -o "$FC_POOL,cache-name=fc-slow-$$"

check_all () # every file through the mount equals the backing file
{
    local f
    for f in "$back"/d/*; do
        cmp "$f" "$mnt/d/${f##*/}" || fail "$1: ${f##*/} differs"
    done
}

r0=$(slowfs_reads "$slow")
check_all "cold pass"
r1=$(slowfs_reads "$slow")
[ "$r1" -gt "$r0" ] || fail "the cold pass did not read the source"
check_all "warm pass"
echo 3 > /proc/sys/vm/drop_caches
check_all "pass after drop_caches"
r2=$(slowfs_reads "$slow")
"$FC_PRESSURE" "$FC_SEG" stats fc-slow-$$
echo "source reads: cold pass $((r1 - r0)), after drop_caches $((r2 - r1))"
[ "$r2" -eq "$r1" ] ||
    fail "the pass after drop_caches read the source $((r2 - r1)) times"

# Changes from outside: in the backing directory (same size, new bytes),
# through the slow mount (new size), a replace by rename, a truncate.
head -c $(( 4096 * 7 + 1 )) /dev/urandom > "$tmp/new1"
cat "$tmp/new1" > "$back/d/r1"
head -c 100000 /dev/urandom > "$slow/d/r2"
seq 5 30000 > "$slow/d/t1.new"
mv "$slow/d/t1.new" "$slow/d/t1"
truncate -s 5000 "$back/d/r3"
echo 3 > /proc/sys/vm/drop_caches   # not needed for opens; for the pool path
sleep 1.1                           # the mount's entry and attribute timeouts
check_all "after changes from outside"
check_all "again after changes"

# Once the new versions are old enough they are cached again.
sleep 3
check_all "caching the new versions"
r3=$(slowfs_reads "$slow")
echo 3 > /proc/sys/vm/drop_caches
check_all "new versions from the pool"
r4=$(slowfs_reads "$slow")
[ "$r4" -eq "$r3" ] ||
    fail "the new versions were not served by the pool ($((r4 - r3)) reads)"

# A change from outside while the pool holds the old version and the
# kernel holds none: the pool's copy must not be served.
cmp "$mnt/d/r5" "$back/d/r5"
echo 3 > /proc/sys/vm/drop_caches
printf 'changed' | dd of="$back/d/r5" bs=1 seek=100 conv=notrunc 2>/dev/null
touch -d '@'$(( $(date +%s) - 100 )) "$back/d/r5"  # even with an old mtime
cmp "$mnt/d/r5" "$back/d/r5" || fail "stale pool page served after a change"
fc_unmount "$mnt"
cat "$mnt.log"

# Admission under pressure: with the sub-pool at its max share, a chunk
# goes into the pool at its second miss, so a file read once (a scan)
# does not push out a file read again and again.  One scan fills the
# pool, the hot file is read three times, another file is scanned, then
# the hot file is read again.  Run with the default admit=repeat and with
# admit=all, which must lose the hot file.
head -c $(( 64 << 10 )) /dev/urandom > "$back/hot"
head -c $(( 6 << 20 )) /dev/urandom > "$back/scan"
head -c $(( 6 << 20 )) /dev/urandom > "$back/scan2"
sleep 3
admission () # admission ADMIT: source reads of the hot file after a scan
{
    local m=$tmp/mnt-$1 r
    mkdir -p "$m"
    fc_mount "$slow" "$m" -o "$FC_POOL,cache-name=fc-adm-$1-$$,max-share=1M,chunk-size=4K,admit=$1"
    cmp "$m/scan" "$back/scan" || fail "admit=$1: scan differs"
    # Read the hot file until the pool serves all of it (the third read,
    # unless a put met a busy lock), so that what follows measures only
    # whether the scan pushes it out.
    local tries=0
    while :; do
        echo 3 > /proc/sys/vm/drop_caches
        r=$(slowfs_reads "$slow")
        cmp "$m/hot" "$back/hot" || fail "admit=$1: hot differs"
        [ "$(slowfs_reads "$slow")" = "$r" ] && [ $tries -ge 2 ] && break
        tries=$(( tries + 1 ))
        [ $tries -lt 8 ] || fail "admit=$1: the hot file read $tries times is still not all in the pool"
    done
    echo 3 > /proc/sys/vm/drop_caches
    cmp "$m/scan2" "$back/scan2" || fail "admit=$1: scan2 differs"
    echo 3 > /proc/sys/vm/drop_caches
    r=$(slowfs_reads "$slow")
    cmp "$m/hot" "$back/hot" || fail "admit=$1: hot differs"
    echo $(( $(slowfs_reads "$slow") - r )) > "$tmp/hot-reads-$1"
    fc_unmount "$m"
    grep "puts deferred" "$m.log" >&2
}
admission repeat
admission all
hot_repeat=$(cat "$tmp/hot-reads-repeat") hot_all=$(cat "$tmp/hot-reads-all")
echo "hot file after a scan, source reads: admit=repeat $hot_repeat, admit=all $hot_all"
grep -q "puts deferred [1-9]" "$tmp/mnt-repeat.log" ||
    fail "admit=repeat deferred no put under pressure"
grep -q "puts deferred 0," "$tmp/mnt-all.log" ||
    fail "admit=all deferred puts"
# 16 pages: a tag or two may collide in the admission table.
[ "$hot_repeat" -le 2 ] ||
    fail "admit=repeat: the scan pushed the hot file out ($hot_repeat reads)"
[ "$hot_all" -ge 8 ] ||
    fail "admit=all kept the hot file through a scan: the test shows nothing"

# A read racing an open that finds the file grown: the read's first chunk
# waits on the source (500 ms) while the second open takes the new
# validator; the read's later, shorter chunk was sized by the old size and
# must not be kept as the new version's page (it ended in zeros where the
# source has data).
mkdir "$tmp/back2" "$tmp/slow2" "$tmp/mnt2"
head -c 5000 /dev/urandom > "$tmp/back2/F"
slowfs_mount "$tmp/back2" "$tmp/slow2" -o latency=500
fc_mount "$tmp/slow2" "$tmp/mnt2" -o "$FC_POOL,cache-name=fc-race-$$,chunk-size=4K"
sleep 2.5   # older than the granularity: the open uses the pool
exec 3< "$tmp/mnt2/F"
head -c 7000 /dev/urandom >> "$tmp/back2/F"
sleep 3
dd bs=12288 count=1 of=/dev/null <&3 2>/dev/null &
dd_pid=$!
sleep 0.2
exec 4< "$tmp/mnt2/F"
wait $dd_pid
exec 3<&- 4<&-
echo 3 > /proc/sys/vm/drop_caches
cmp "$tmp/back2/F" "$tmp/mnt2/F" ||
    fail "a page put by a read racing a stale open ends where the old size did"
echo 3 > /proc/sys/vm/drop_caches
cmp "$tmp/back2/F" "$tmp/mnt2/F" || fail "the short page stays in the pool"
fc_unmount "$tmp/mnt2"
fc_unmount "$tmp/slow2"
