#!/usr/bin/env bash
# tmem-fuse-cache shares no page across files by default: two users' files
# with the same bytes are stored twice (a put that found the other's page
# would be faster: a timing oracle).  With -o cache-dedup=yes they share.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

tmp=$(mktemp_dir)
mkdir "$tmp/src" "$tmp/mnt"
head -c 1M /dev/urandom > "$tmp/src/mine"
cp "$tmp/src/mine" "$tmp/src/theirs"
chown 1000:1000 "$tmp/src/mine"
chown 1001:1001 "$tmp/src/theirs"
chmod 0644 "$tmp/src/mine" "$tmp/src/theirs"
touch -d '-1 min' "$tmp/src/mine" "$tmp/src/theirs"

# dedup_of OPTIONS: mount, read both files twice (the second time from the
# pool), print the sub-pool's dedup hits.
dedup_of ()
{
    local name=dedup-$$-$1 stats
    fc_mount "$tmp/src" "$tmp/mnt" \
        -o "$FC_POOL,cache-name=$name,admit=all,$2"
    for f in mine theirs; do
        cmp "$tmp/src/$f" "$tmp/mnt/$f" || fail "$f differs"
    done
    echo 3 > /proc/sys/vm/drop_caches
    for f in mine theirs; do
        cmp "$tmp/src/$f" "$tmp/mnt/$f" || fail "$f differs from the pool"
    done
    stats=$("$FC_PRESSURE" "$FC_SEG" stats "$name")
    echo "$2: $stats" >&2
    fc_unmount "$tmp/mnt"
    hits=$(echo "$stats" | sed -n 's/.* hits \([0-9]*\).*/\1/p')
    [ "${hits:-0}" -gt 0 ] || fail "$2: the second pass was not served by the pool"
    echo "$stats" | sed -n 's/.* dedup \([0-9]*\).*/\1/p'
}

d=$(dedup_of default "timestamp-granularity=0.05")
[ "$d" -eq 0 ] || fail "by default the cache shared $d pages across files"
d=$(dedup_of on "timestamp-granularity=0.05,cache-dedup=yes")
[ "$d" -ge 200 ] || fail "with cache-dedup=yes only $d of 256 pages were shared"
echo "default: no page shared; cache-dedup=yes: $d shared"
