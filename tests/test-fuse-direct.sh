#!/usr/bin/env bash
# tmem-fuse-cache takes O_DIRECT as the source does (dd oflag=direct and
# iflag=direct, on a source that allows it), and a read error in one page
# of the source (slowfs bad-page=16) fails that page only: its neighbours
# in the same 128K chunk read as they are.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

# O_DIRECT needs a block-backed source (tmpfs refuses it on older kernels).
src=$(block_backed_dir)
[ -n "$src" ] || skip "no block-backed directory for an O_DIRECT source"
cleanup_fn "rm -rf '$src'"
tmp=$(mktemp_dir)
mkdir "$tmp/mnt" "$src/d"
head -c 1M /dev/urandom > "$tmp/data"
dd if="$tmp/data" of="$src/d/probe" bs=64K oflag=direct status=none ||
    skip "the source refuses O_DIRECT"

fc_mount "$src/d" "$tmp/mnt" -o "$FC_POOL,cache-name=direct-$$"
dd if="$tmp/data" of="$tmp/mnt/f" bs=64K oflag=direct status=none ||
    fail "dd oflag=direct through the mount"
cmp "$tmp/data" "$src/d/f" || fail "what O_DIRECT wrote differs in the source"
dd if="$tmp/mnt/f" of="$tmp/readback" bs=64K iflag=direct status=none ||
    fail "dd iflag=direct through the mount"
cmp "$tmp/data" "$tmp/readback" || fail "what O_DIRECT read differs"
# Unaligned: refused as the source refuses it.
if dd if="$tmp/data" of="$tmp/mnt/g" bs=1000 count=1 oflag=direct status=none \
        2> "$tmp/err"; then
    dd if="$tmp/data" of="$src/d/g2" bs=1000 count=1 oflag=direct status=none ||
        fail "an unaligned O_DIRECT write passed the mount, not the source"
else
    grep -q "Invalid argument" "$tmp/err" || fail "unaligned: $(cat "$tmp/err")"
fi
fc_unmount "$tmp/mnt"
echo "O_DIRECT through the mount works as on the source"

# A bad page: page 16 of 64 fails, the other pages of its chunk read.
mkdir "$tmp/back" "$tmp/slow"
head -c 256K /dev/urandom > "$tmp/back/bad-file"
slowfs_mount "$tmp/back" "$tmp/slow" -o bad-page=16
fc_mount "$tmp/slow" "$tmp/mnt" \
    -o "$FC_POOL,cache-name=bad-$$,timestamp-granularity=0.05"
sleep 1.1
for p in 0 15 17 20 31 63; do
    dd if="$tmp/mnt/bad-file" of="$tmp/page" bs=4096 skip=$p count=1 \
        status=none 2> "$tmp/err" || fail "page $p: $(cat "$tmp/err")"
    dd if="$tmp/back/bad-file" bs=4096 skip=$p count=1 status=none |
        cmp - "$tmp/page" || fail "page $p differs"
done
dd if="$tmp/mnt/bad-file" of="$tmp/page" bs=4096 skip=16 count=1 \
    status=none 2> "$tmp/err" && fail "the bad page read"
grep -q "Input/output error" "$tmp/err" || fail "bad page: $(cat "$tmp/err")"
echo "a bad page fails alone"
