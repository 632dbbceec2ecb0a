#!/usr/bin/env bash
# tmem-fuse-cache: the source's POSIX ACLs hold through the mount, with a
# root daemon and default options.  A named-user deny on a directory keeps
# that user out of it (listing, path walk, opening a file inside, also a
# file another user has just read and so cached), while the mode bits
# alone would let them in; a named-user deny on a file refuses its open;
# a named-user allow lets in a user the mode bits refuse; a directory's
# default ACL is inherited by files made through the mount, and without
# one the caller's umask applies.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
requires setpriv --version
requires setfacl --version
fc_use_pool 32M

tmp=$(mktemp_dir)
chmod 0755 "$tmp"
src=$tmp/src mnt=$tmp/mnt
mkdir -m 0755 "$src" "$mnt"
setfacl -m u:1000:r "$src" 2>/dev/null ||
    skip "the test directory's file system has no POSIX ACLs"
setfacl -b "$src"

as () # as UID CMD...: run CMD as that user (gid = uid, no other groups)
{
    local uid=$1; shift
    setpriv --reuid "$uid" --regid "$uid" --clear-groups -- "$@"
}

mkdir -m 0755 "$src/closed" "$src/open" "$src/inherit"
echo hidden > "$src/closed/f"
chmod 0644 "$src/closed/f"
setfacl -m u:1001:--- "$src/closed"
echo mine > "$src/open/f"
chmod 0644 "$src/open/f"
setfacl -m u:1001:--- "$src/open/f"
echo granted > "$src/open/g"
chmod 0600 "$src/open/g"
setfacl -m u:1001:r "$src/open/g"
setfacl -d -m u:1002:rw "$src/inherit"
chmod 0777 "$src/inherit"
mkdir -m 0777 "$src/plain"
sleep 0.2

fc_mount "$src" "$mnt" -o "$FC_POOL,timestamp-granularity=0.05,cache-name=fc-acl-$$"

# The source itself, for reference: what the mount must match.
as 1001 cat "$src/closed/f" >/dev/null 2>&1 &&
    fail "the source lets uid 1001 through a directory its ACL denies"

# uid 1000 (no ACL entry: the mode bits) reads the file: cached now.
[ "$(as 1000 cat "$mnt/closed/f")" = hidden ] || fail "uid 1000 cannot read closed/f"
for try in 1 2; do
    out=$(as 1001 cat "$mnt/closed/f" 2>&1) &&
        fail "uid 1001 read a file in a directory its ACL denies ($try): $out"
    echo "$out" | grep -q "Permission denied" || fail "cat said: $out"
    out=$(as 1001 ls "$mnt/closed" 2>&1) &&
        fail "uid 1001 listed a directory its ACL denies: $out"
    out=$(as 1001 stat "$mnt/closed/f" 2>&1) &&
        fail "uid 1001 walked through a directory its ACL denies: $out"
    echo 3 > /proc/sys/vm/drop_caches
done
# A file's own deny and allow entries.
[ "$(as 1000 cat "$mnt/open/f")" = mine ] || fail "uid 1000 cannot read open/f"
out=$(as 1001 cat "$mnt/open/f" 2>&1) && fail "uid 1001 read a file its ACL denies: $out"
[ "$(as 1001 cat "$mnt/open/g" 2>&1)" = granted ] ||
    fail "uid 1001 cannot read a 0600 file its ACL grants"
out=$(as 1000 cat "$mnt/open/g" 2>&1) && fail "uid 1000 read a 0600 file of root's: $out"

# Lifting the deny in the source lets the user in at the next try, also
# while the kernel has the old ACL cached.
as 1001 ls "$mnt/closed" >/dev/null 2>&1 && fail "uid 1001 listed closed/"
setfacl -x u:1001 "$src/closed"
sleep 1.1 # attr-timeout: the kernel may keep the old ACL that long
[ "$(as 1001 cat "$mnt/closed/f" 2>&1)" = hidden ] ||
    fail "uid 1001 still refused once the source's ACL allows"

# Inheritance at create, and the umask where there is nothing to inherit.
as 1001 sh -c "umask 022; echo new > '$mnt/inherit/n'" || fail "create in inherit/"
getfacl -p "$src/inherit/n" | grep -q '^user:1002:rw-' ||
    fail "the default ACL was not inherited: $(getfacl -p "$src/inherit/n")"
as 1001 sh -c "umask 027; echo new > '$mnt/plain/n'; mkdir '$mnt/plain/d'" ||
    fail "create in plain/"
m=$(stat -c %a "$src/plain/n") d=$(stat -c %a "$src/plain/d")
[ "$m" = 640 ] && [ "$d" = 750 ] ||
    fail "umask 027 made a file $m and a directory $d (expected 640, 750)"
fc_unmount "$mnt"

# -o acl=no: mode bits only, as documented (the directory deny is lost).
setfacl -m u:1001:--- "$src/closed"
fc_mount "$src" "$mnt" -o "$FC_POOL,timestamp-granularity=0.05,cache-name=fc-acl-no-$$,acl=no"
[ "$(as 1001 cat "$mnt/closed/f" 2>&1)" = hidden ] ||
    fail "with acl=no, the mode bits alone did not decide"
fc_unmount "$mnt"
echo "the source's ACLs hold through the mount"
