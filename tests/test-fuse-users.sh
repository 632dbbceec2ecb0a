#!/usr/bin/env bash
# tmem-fuse-cache: two users on one allow_other mount served by a root
# daemon.  Data one user had cached never reaches a user the source
# refuses; files a user creates through the mount belong to that user;
# the caller's supplementary groups count at the source.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
requires setpriv --version
fc_use_pool 32M

tmp=$(mktemp_dir)
chmod 0755 "$tmp"
src=$tmp/src mnt=$tmp/mnt
mkdir -m 0755 "$src" "$mnt"

as () # as UID[:GROUPS] CMD...: run CMD as that user (gid = uid)
{
    local uid=${1%%:*} groups=
    [[ $1 == *:* ]] && groups=${1#*:}
    shift
    if [ -n "$groups" ]; then
        setpriv --reuid "$uid" --regid "$uid" --groups "$groups" -- "$@"
    else
        setpriv --reuid "$uid" --regid "$uid" --clear-groups -- "$@"
    fi
}

head -c 200000 /dev/urandom > "$src/secret"
chown 1000:1000 "$src/secret"
chmod 0600 "$src/secret"
mkdir -m 0770 "$src/team"
chown 0:3000 "$src/team"
mkdir -m 0777 "$src/pub"
sleep 0.2 # older than the granularity below: cacheable

name=fc-users-$$
fc_mount "$src" "$mnt" -o "$FC_POOL,timestamp-granularity=0.05,cache-name=$name"

# uid 1000 reads (and so caches) its file; uid 1001 is refused, also once
# the kernel's caches are gone and only the pool holds the pages.
as 1000 cmp "$src/secret" "$mnt/secret" || fail "owner cannot read its file"
as 1000 cat "$mnt/secret" >/dev/null
echo 3 > /proc/sys/vm/drop_caches
as 1000 cmp "$src/secret" "$mnt/secret" || fail "owner read differs after drop"
stats=$("$FC_PRESSURE" "$FC_SEG" stats "$name")
echo "after uid 1000's reads: $stats"
hits=$(echo "$stats" | sed -n 's/.* hits \([0-9]*\).*/\1/p')
[ "${hits:-0}" -gt 0 ] || fail "uid 1000's second read was not served by the pool"
for pass in 1 2; do
    if out=$(as 1001 cat "$mnt/secret" 2>&1 >/dev/null); then
        fail "uid 1001 read a file the source refuses it"
    fi
    echo "$out" | grep -q "Permission denied" ||
        fail "uid 1001: expected EACCES, got '$out'"
    echo 3 > /proc/sys/vm/drop_caches
done
as 1001 dd if="$mnt/secret" of=/dev/null bs=4k count=1 2>/dev/null &&
    fail "uid 1001 read through dd"

# Files created through the mount belong to their creator.
as 1000 sh -c "echo mine > '$mnt/pub/by1000'"
as 1000 mkdir "$mnt/pub/dir1000"
as 1000 ln -s by1000 "$mnt/pub/link1000"
as 1000 mkfifo "$mnt/pub/fifo1000"
as 1001 sh -c "echo theirs > '$mnt/pub/by1001'"
for f in by1000 dir1000 link1000 fifo1000; do
    [ "$(stat -c %u:%g "$src/pub/$f")" = 1000:1000 ] ||
        fail "$f is owned by $(stat -c %u:%g "$src/pub/$f"), not 1000:1000"
done
[ "$(stat -c %u:%g "$src/pub/by1001")" = 1001:1001 ] || fail "by1001 owner"
# A user may not chown to someone else, remove another's file in a
# sticky directory, or write a file it may only read.
as 1000 chown 1001 "$mnt/pub/by1000" 2>/dev/null && fail "chown to another user"
chmod 1777 "$src/pub"
as 1001 rm -f "$mnt/pub/by1000" 2>/dev/null || true
[ -e "$src/pub/by1000" ] || fail "uid 1001 removed 1000's file in a sticky dir"
chmod 0644 "$src/pub/by1000"
as 1001 sh -c "echo x >> '$mnt/pub/by1000'" 2>/dev/null && fail "wrote a read-only file"

# Supplementary groups: members of 3000 create in team/, others may not.
as 1001:3000 sh -c "echo team > '$mnt/team/by1001'" ||
    fail "a member of group 3000 could not create in a 0770 group dir"
[ "$(stat -c %u "$src/team/by1001")" = 1001 ] || fail "team file owner"
as 1002 sh -c "echo no > '$mnt/team/by1002'" 2>/dev/null &&
    fail "a non-member created in a 0770 group dir"

# root is root again afterwards on every worker thread.
pids=()
for i in $(seq 1 20); do echo "$i" > "$mnt/pub/root$i" & pids+=($!); done
wait "${pids[@]}"
for i in $(seq 1 20); do
    [ "$(stat -c %u:%g "$src/pub/root$i")" = 0:0 ] ||
        fail "root's file root$i owned by $(stat -c %u:%g "$src/pub/root$i")"
done
# A directory closed in the source shuts other users out at once, not
# after attr-timeout: the kernel checks the path (default_permissions)
# against attributes it asks for again at every walk, also of the
# directory a walk starts from.
mkdir -m 0755 "$src/priv"
echo secret > "$src/priv/s"
chmod 0644 "$src/priv/s"
[ "$(as 1000 cat "$mnt/priv/s")" = secret ] || fail "priv/s unreadable while open"
as 1000 ls "$mnt/priv" > /dev/null || fail "priv unlisted while open"
as 1000 bash -c "cd '$mnt/priv' && sleep 0.5 && cat s" > "$tmp/cwd.out" 2>&1 &
cwd_pid=$!
sleep 0.2
chmod 0700 "$src/priv"
as 1000 cat "$mnt/priv/s" 2>/dev/null &&
    fail "a directory closed in the source still let uid 1000 read through it"
as 1000 ls "$mnt/priv" 2>/dev/null &&
    fail "a directory closed in the source still let uid 1000 list it"
wait $cwd_pid && fail "a walk from inside a closed directory still found s: $(cat "$tmp/cwd.out")"
grep -q "Permission denied" "$tmp/cwd.out" ||
    fail "a walk from inside a closed directory: $(cat "$tmp/cwd.out")"
[ "$(cat "$mnt/priv/s")" = secret ] || fail "root refused priv/s"
echo ok
