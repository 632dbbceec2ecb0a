#!/usr/bin/env bash
# tmem-fuse-cache: everyday tools through the mount — cp -a, tar, find,
# diff -r, links, modes, times, xattrs, truncate, rename — agree with the
# source.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
requires tar --version
fc_use_pool 64M

tmp=$(mktemp_dir)
src=$tmp/src mnt=$tmp/mnt
mkdir "$src" "$mnt"

# A tree with text, binary, empty, sparse, zero-filled and large files,
# symlinks, a hard link and nested directories.
mkdir -p "$src/tree/a/b/c" "$src/tree/empty-dir"
cp -a "$abs_top_srcdir/fuse-cache" "$abs_top_srcdir/tests" "$src/tree/a/"
head -c 3000000 /dev/urandom > "$src/tree/a/b/random.bin"
head -c 1000000 /dev/zero > "$src/tree/a/b/zeros.bin"
: > "$src/tree/a/b/c/empty"
truncate -s 10M "$src/tree/sparse"
printf 'tail' >> "$src/tree/sparse"
ln -s ../random.bin "$src/tree/a/b/c/link"
ln -s /nonexistent "$src/tree/dangling"
ln "$src/tree/a/b/random.bin" "$src/tree/hardlink"
chmod 0640 "$src/tree/a/b/zeros.bin"
touch -d '2001-02-03 04:05:06' "$src/tree/a/b/c/empty"

fc_mount "$src" "$mnt" -o "$FC_POOL,entry-timeout=0"

# find and diff see the same tree.
diff <(cd "$src" && find . -printf '%p %y %m %s %l\n' | sort) \
     <(cd "$mnt" && find . -printf '%p %y %m %s %l\n' | sort) ||
    fail "find differs"
diff -r --no-dereference "$src" "$mnt" || fail "diff -r --no-dereference differs"
# twice: the second time pages come from the kernel or the pool
echo 3 > /proc/sys/vm/drop_caches
diff -r --no-dereference "$src" "$mnt" || fail "diff -r --no-dereference differs after drop_caches"

# tar out of the mount, unpack elsewhere, compare.
tar -C "$mnt" -cf "$tmp/out.tar" tree
mkdir "$tmp/untar"
tar -C "$tmp/untar" -xf "$tmp/out.tar"
diff -r --no-dereference "$src/tree" "$tmp/untar/tree" || fail "tar from the mount differs"

# cp -a into the mount keeps modes, times, links; the source gets the bytes.
cp -a "$src/tree" "$mnt/copy"
diff -r --no-dereference "$src/tree" "$src/copy" || fail "cp -a into the mount: source differs"
diff -r --no-dereference "$src/tree" "$mnt/copy" || fail "cp -a into the mount: mount differs"
[ "$(stat -c %Y "$src/copy/a/b/c/empty")" = "$(stat -c %Y "$src/tree/a/b/c/empty")" ] ||
    fail "cp -a lost an mtime"
[ "$(stat -c %a "$src/copy/a/b/zeros.bin")" = 640 ] || fail "cp -a lost a mode"
[ "$(readlink "$mnt/copy/a/b/c/link")" = ../random.bin ] || fail "symlink differs"

# cp -a out of the mount.
cp -a "$mnt/tree" "$tmp/out"
diff -r --no-dereference "$src/tree" "$tmp/out" || fail "cp -a out of the mount differs"

# Single operations, each checked in the source.
echo hello > "$mnt/copy/new"
[ "$(cat "$src/copy/new")" = hello ] || fail "write"
echo more >> "$mnt/copy/new"
[ "$(cat "$src/copy/new")" = "hello
more" ] || fail "append"
truncate -s 3 "$mnt/copy/new"
[ "$(cat "$mnt/copy/new")" = hel ] || fail "truncate through the mount"
[ "$(cat "$src/copy/new")" = hel ] || fail "truncate in the source"
mv "$mnt/copy/new" "$mnt/copy/a/renamed"
[ -e "$src/copy/a/renamed" ] && [ ! -e "$src/copy/new" ] || fail "rename"
ln "$mnt/copy/a/renamed" "$mnt/copy/hl"
[ "$(stat -c %h "$src/copy/hl")" = 2 ] || fail "link"
chmod 0600 "$mnt/copy/hl"
[ "$(stat -c %a "$src/copy/a/renamed")" = 600 ] || fail "chmod"
chown 1234:5678 "$mnt/copy/hl"
[ "$(stat -c %u:%g "$src/copy/hl")" = 1234:5678 ] || fail "chown"
touch -d '2010-01-01 00:00:00' "$mnt/copy/hl"
[ "$(stat -c %Y "$src/copy/hl")" = "$(date -d '2010-01-01 00:00:00' +%s)" ] ||
    fail "utimens"
ln -s target "$mnt/copy/sl"
[ "$(readlink "$src/copy/sl")" = target ] || fail "symlink"
mkfifo "$mnt/copy/fifo"
[ -p "$src/copy/fifo" ] || fail "mknod (fifo)"
if command -v setfattr >/dev/null; then
    if setfattr -n user.test -v value "$src/copy/hl" 2>/dev/null; then
        setfattr -n user.other -v 42 "$mnt/copy/hl"
        [ "$(getfattr --only-values -n user.other "$src/copy/hl")" = 42 ] ||
            fail "setxattr"
        [ "$(getfattr --only-values -n user.test "$mnt/copy/hl")" = value ] ||
            fail "getxattr"
        getfattr -d "$mnt/copy/hl" | grep -q user.other || fail "listxattr"
        setfattr -x user.other "$mnt/copy/hl"
        getfattr -d "$src/copy/hl" | grep -q user.other && fail "removexattr"
    fi
fi
if fallocate -l 1M "$src/copy/falloc-probe" 2>/dev/null; then
    fallocate -l 2M "$mnt/copy/falloc"
    [ "$(stat -c %s "$src/copy/falloc")" = 2097152 ] || fail "fallocate"
fi
df "$mnt" >/dev/null || fail "statfs"
rm -r "$mnt/copy"
[ ! -e "$src/copy" ] || fail "rm -r"
diff -r --no-dereference "$src" "$mnt" || fail "final diff -r"
rmdir "$mnt/tree/empty-dir"
[ ! -e "$src/tree/empty-dir" ] || fail "rmdir"
# errors come from the source
mkdir "$mnt/tree" 2>/dev/null && fail "mkdir over an existing name"
rmdir "$mnt/tree" 2>/dev/null && fail "rmdir of a non-empty directory"
cat "$mnt/nothing" 2>/dev/null && fail "read of a missing file"
echo "ok"
