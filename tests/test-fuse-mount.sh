#!/usr/bin/env bash
# tmem-fuse-cache through mount(8): "mount -t fuse.tmem-fuse-cache SRC MNT
# -o opts" (as from /etc/fstab) runs mount.fuse3, which runs the program
# with the source, the mountpoint and -o options in that order.  mount(8)
# clears PATH for its helper, so an uninstalled build is tested through
# mount.fuse3 itself, exactly as mount(8) calls it.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
PATH="$PATH:/sbin:/usr/sbin"
command -v mount.fuse3 >/dev/null || skip "mount.fuse3 is missing"
fc_use_pool 32M

tmp=$(mktemp_dir)
mkdir "$tmp/src" "$tmp/mnt"
echo "through mount" > "$tmp/src/file"
PATH="$abs_top_builddir/fuse-cache:$PATH"
export PATH
do_mount ()
{
    mount.fuse3 "$1" "$2" -t tmem-fuse-cache -o "$3"
}
do_mount "$tmp/src" "$tmp/mnt" "$FC_POOL,chunk-size=64K,attr-timeout=2,noatime,rw"
cleanup_fn "fusermount3 -u '$tmp/mnt' 2>/dev/null"
[ "$(cat "$tmp/mnt/file")" = "through mount" ] || fail "read through mount(8)"
grep " $tmp/mnt fuse.tmem-fuse-cache " /proc/mounts ||
    fail "not listed as fuse.tmem-fuse-cache in /proc/mounts"
umount "$tmp/mnt"
mountpoint -q "$tmp/mnt" && fail "umount left the mount"
# A bad option is refused by mount too.
if do_mount "$tmp/src" "$tmp/mnt" "$FC_POOL,no-such-option" 2>"$tmp/err"; then
    fail "mount accepted an unknown option"
fi
cat "$tmp/err"
grep -q "no-such-option" "$tmp/err" || fail "unclear message for a bad option"
# lock=no is not obeyed (the daemon always locks), and says so.
do_mount "$tmp/src" "$tmp/mnt" "$FC_POOL,lock=no" 2>"$tmp/err" ||
    { cat "$tmp/err"; fail "mount with lock=no"; }
[ "$(cat "$tmp/mnt/file")" = "through mount" ] || fail "read with lock=no"
umount "$tmp/mnt"
grep -q "lock=no ignored" "$tmp/err" || { cat "$tmp/err"; fail "lock=no ignored silently"; }
echo ok
