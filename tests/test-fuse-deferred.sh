#!/usr/bin/env bash
# tmem-fuse-cache over a source whose attributes the kernel caches (slowfs
# with meta-cache=30, as NFS's attribute cache or sshfs's): a read-only
# open is deferred (no source open until a miss), yet a change made in the
# source before the open is what that open returns — the validator is
# asked of the source itself (AT_STATX_FORCE_SYNC), as NFS's open does.
# With -o cto=no (NFS's nocto) the open trusts the attribute cache.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

tmp=$(mktemp_dir)
back=$tmp/back slow=$tmp/slow mnt=$tmp/mnt
mkdir "$back" "$slow" "$mnt"
head -c 200000 /dev/urandom > "$back/f"
slowfs_mount "$back" "$slow" -o meta-cache=30
fc_mount "$slow" "$mnt" \
    -o "$FC_POOL,cache-name=deferred-$$,timestamp-granularity=0.05"
sleep 1.1  # slowfs has whole-second times: older than the granularity

cmp "$back/f" "$mnt/f" || fail "first read"
cmp "$back/f" "$mnt/f" || fail "second read"
echo 3 > /proc/sys/vm/drop_caches
cmp "$back/f" "$mnt/f" || fail "read from the pool"
stat "$slow/f" > /dev/null     # the kernel now caches slowfs's attributes

# Same size, new bytes, new mtime: written behind slowfs's back, so its
# kernel attributes stay the old ones for 30 s.
head -c 200000 /dev/urandom > "$tmp/new"
cat "$tmp/new" > "$back/f"
cmp "$back/f" "$mnt/f" || fail "the open after a change returned the old bytes"
cmp "$back/f" "$mnt/f" || fail "the second open after a change"
fc_unmount "$mnt"
grep "stale opens 1," "$mnt.log" || fail "the change was not seen as one: $(cat "$mnt.log")"
echo "a change behind an attribute cache is seen at the next open"

# -o cto=no, as NFS's nocto: an open takes the attributes the kernel has
# cached for the source, so the same change stays unseen until slowfs's
# 30 s attribute cache expires (what the option trades for one round trip
# less per open).
head -c 200000 /dev/urandom > "$back/f"
fc_mount "$slow" "$mnt" \
    -o "$FC_POOL,cache-name=deferred-nocto-$$,timestamp-granularity=0.05,cto=no"
sleep 1.1
cmp "$back/f" "$mnt/f" || fail "cto=no: first read"
echo 3 > /proc/sys/vm/drop_caches
cmp "$back/f" "$mnt/f" || fail "cto=no: read from the pool"
stat "$slow/f" > /dev/null
cat "$tmp/new" > "$back/f"
if cmp -s "$back/f" "$mnt/f"; then
    fail "cto=no: the change was seen at once, so the option asked the source anyway"
fi
fc_unmount "$mnt"
echo "with cto=no the open trusts the source's attribute cache, as documented"
