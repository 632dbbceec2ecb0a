#!/usr/bin/env bash
# tmem-fuse-cache on a small pool while another process fills it with
# persistent pages: the cache's pages are evicted under it, and every
# read through the mount stays correct.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 32M

tmp=$(mktemp_dir)
src=$tmp/src mnt=$tmp/mnt
mkdir "$src" "$mnt"
for i in $(seq 1 12); do
    head -c $(( 3 * 1024 * 1024 + i * 4099 )) /dev/urandom > "$src/r$i"
    seq 1 $(( 200000 + i )) > "$src/t$i"
done
sleep 0.2
name="fc-pressure-test-$$"
fc_mount "$src" "$mnt" -o "$FC_POOL,cache-name=$name,timestamp-granularity=0.05"

check_all ()
{
    local f
    for f in "$src"/*; do
        cmp "$f" "$mnt/${f##*/}" || fail "$1: ${f##*/} differs"
    done
}

check_all "first pass"        # about 45 MiB through a 32 MiB pool
echo 3 > /proc/sys/vm/drop_caches
check_all "second pass"
"$FC_PRESSURE" "$FC_SEG" stats "$name"

# Persistent puts from another process, while reads go on.
"$FC_PRESSURE" "$FC_SEG" put 5000 > "$tmp/pressure.out" 2>&1 &
ppid=$!
for round in 1 2 3; do
    echo 3 > /proc/sys/vm/drop_caches
    check_all "under pressure, round $round"
done
wait "$ppid" || { cat "$tmp/pressure.out"; fail "fc-pressure failed"; }
cat "$tmp/pressure.out"
echo 3 > /proc/sys/vm/drop_caches
check_all "after pressure"
stats=$("$FC_PRESSURE" "$FC_SEG" stats "$name")
echo "cache sub-pool: $stats"
evictions=$(echo "$stats" | sed -n 's/.*evictions \([0-9]*\).*/\1/p')
[ "${evictions:-0}" -gt 0 ] || fail "no cache page was evicted"
hits=$(echo "$stats" | sed -n 's/.* hits \([0-9]*\).*/\1/p')
[ "${hits:-0}" -gt 0 ] || fail "the pool served no page"
