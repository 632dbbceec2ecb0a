#!/usr/bin/env bash
# tmem-fuse-cache keeps an entry for a file the kernel forgot while its
# pages may be in the pool, so that the pool outlives the kernel's inode
# cache; those entries live in locked memory and are bounded (kept-inodes,
# by default one per 4K of the share, at least 1024).  A scan of 15,000
# small files through an 8M pool, the kernel's caches dropped after each
# of three passes, keeps at most the bound (the daemon's count at exit:
# 15,000 entries before the bound); every file still reads right.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 8M

tmp=$(mktemp_dir)
src=$tmp/src mnt=$tmp/mnt
mkdir "$src" "$mnt"
n=15000
for (( d=0; d<20; d++ )); do
    mkdir "$src/d$d"
    for (( i=0; i<n/20; i++ )); do
        echo "file $d/$i" > "$src/d$d/f$i"
    done
done
fc_mount "$src" "$mnt" -o "$FC_POOL,cache-name=kept-$$,timestamp-granularity=0"

names () { for (( d=0; d<20; d++ )); do
               for (( i=0; i<n/20; i++ )); do echo "d$d/f$i"; done
           done; }
want=$(cd "$src" && names | xargs cat | md5sum)

scan ()
{
    [ "$(cd "$mnt" && names | xargs cat | md5sum)" = "$want" ] ||
        fail "a pass read other bytes than the source holds"
    echo 2 > /proc/sys/vm/drop_caches
    sleep 1
}

scan
scan
scan
# The contents, one file at a time, as the source has them.
for f in d0/f0 d7/f123 d19/f749; do
    [ "$(cat "$mnt/$f")" = "$(cat "$src/$f")" ] || fail "$f reads wrong"
done
fc_unmount "$mnt"
line=$(grep "kept inodes" "$mnt.log") || fail "no kept count: $(cat "$mnt.log")"
echo "$line"
most=$(sed -n 's/.*kept inodes [0-9]* (most \([0-9]*\), bound \([0-9]*\),.*/\1/p' <<<"$line")
bound=$(sed -n 's/.*kept inodes [0-9]* (most \([0-9]*\), bound \([0-9]*\),.*/\2/p' <<<"$line")
dropped=$(sed -n 's/.*dropped \([0-9]*\))$/\1/p' <<<"$line")
[ "$bound" = 2048 ] || fail "an 8M pool's default bound is 2048, not '$bound'"
(( most <= bound )) || fail "$most entries kept, above the bound $bound"
(( most >= bound / 2 )) || fail "only $most entries kept: the scan did not test the bound"
(( dropped >= n )) || fail "only $dropped entries let go over three passes of $n files"
echo "the kept entries stay within their bound"
