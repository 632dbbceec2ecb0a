#!/usr/bin/env bash
# tmem-fuse-cache: bad input gets a clear message and a non-zero exit, and a
# source that disappears while mounted gives errors, not a crash.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 32M

tmp=$(mktemp_dir)
mkdir "$tmp/src" "$tmp/mnt"
echo data > "$tmp/src/file"

# expect_error MESSAGE-PATTERN ARGS...: fails with a message matching
expect_error ()
{
    local pattern=$1; shift
    local out status=0
    out=$("$TMEM_FUSE_CACHE" "$@" 2>&1) || status=$?
    if [ "$status" -eq 0 ]; then
        fusermount3 -u "$tmp/mnt" 2>/dev/null
        fail "'$*' succeeded"
    fi
    echo "$out" | grep -qi -- "$pattern" ||
        fail "'$*': message '$out' does not mention '$pattern'"
    mountpoint -q "$tmp/mnt" && fail "'$*' left a mount"
    echo "ok: $* -> $out"
}

expect_error "source '$tmp/missing'.*no such file" -o "$FC_POOL" "$tmp/missing" "$tmp/mnt"
expect_error "not a directory" -o "$FC_POOL" "$tmp/src/file" "$tmp/mnt"
expect_error "mountpoint '$tmp/src/file'.*not a directory" -o "$FC_POOL" "$tmp/src" "$tmp/src/file"
expect_error "mount.*point.*no such file" -o "$FC_POOL" "$tmp/src" "$tmp/nomnt"
expect_error "bogus" -o "$FC_POOL,bogus=1" "$tmp/src" "$tmp/mnt"
expect_error "chunk-size" -o "$FC_POOL,chunk-size=12345" "$tmp/src" "$tmp/mnt"
expect_error "chunk-size" -o "$FC_POOL,chunk-size=lots" "$tmp/src" "$tmp/mnt"
expect_error "timestamp-granularity" -o "$FC_POOL,timestamp-granularity=-1" "$tmp/src" "$tmp/mnt"
expect_error "admit" -o "$FC_POOL,admit=sometimes" "$tmp/src" "$tmp/mnt"
expect_error "config '$tmp/none.conf'" -o "$FC_POOL,config=$tmp/none.conf" "$tmp/src" "$tmp/mnt"
expect_error "usage" "$tmp/src"
expect_error "unexpected argument" "$tmp/src" "$tmp/mnt" "$tmp/third"

# A source the daemon's user cannot read.
mkdir -m 0700 "$tmp/private"
chmod 0755 "$tmp"
out=$(setpriv --reuid 65534 --regid 65534 --clear-groups \
      "$TMEM_FUSE_CACHE" -o "$FC_POOL" "$tmp/private" "$tmp/mnt" 2>&1) &&
    fail "an unreadable source was accepted"
echo "$out" | grep -qi "permission denied" ||
    fail "unreadable source: unclear message '$out'"
echo "ok: unreadable source -> $out"

# -o help lists our options and exits 0.
"$TMEM_FUSE_CACHE" -o help | grep -q chunk-size || fail "-o help lacks chunk-size"
"$TMEM_FUSE_CACHE" -o help | grep -q "admit=" || fail "-o help lacks admit"
"$TMEM_FUSE_CACHE" --help | grep -q max-share || fail "--help lacks max-share"

# The source disappears while mounted.
mkdir "$tmp/gone"
echo bytes > "$tmp/gone/f"
fc_mount "$tmp/gone" "$tmp/mnt" -o "$FC_POOL,entry-timeout=0,attr-timeout=0"
cat "$tmp/mnt/f" >/dev/null
rm -rf "$tmp/gone"
if ls "$tmp/mnt" >/dev/null 2>&1 && [ -e "$tmp/mnt/f" ]; then
    fail "a removed source still shows its file"
fi
touch "$tmp/mnt/new" 2>/dev/null && fail "created a file in a removed source"
pid=${_fc_pids[$tmp/mnt]}
kill -0 "$pid" || fail "the daemon died when its source went away"
stat "$tmp/mnt" >/dev/null || fail "the mountpoint itself no longer answers"
fc_unmount "$tmp/mnt"
wait "$pid" 2>/dev/null || true
grep -i "segfault\|abort\|assert" "$tmp/mnt.log" && fail "daemon crashed"
echo "ok: source removed while mounted"
