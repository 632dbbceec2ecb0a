#!/bin/bash
# tmemctl cannot destroy live data, and failures leave nothing behind:
# - destroy --subpool of an export nbdkit serves, or of a mounted cache's
#   sub-pool, is refused naming the process, and the data stays readable;
# - a second cache mount with a cache-name in use is refused;
# - destroy removes only tmem segments (random bytes, an empty file stay),
#   and removes the nbd plugin's side files (lock, overflow map) with one;
#   destroy --subpool those of its export;
# - a create with a bad --subpool, and an nbdkit start refused for an
#   overflow file on tmpfs, leave no segment, lock, map or overflow file.
. ./functions.sh

[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
seg=$(unique_segment); cleanup_fn "rm -f /dev/shm/$seg /dev/shm/$seg.*"
tmp=$(mktemp_dir)

# ---- a failed create leaves nothing behind
expect 1 "'bad/name' is not a valid sub-pool name" \
    "$TMEMCTL" create --segment "$seg" --subpool ok:persistent \
    --subpool 'bad/name:ephemeral'
[ ! -e "/dev/shm/$seg" ] || fail "a refused create left /dev/shm/$seg"
expect 1 "MIN is more than MAX" \
    "$TMEMCTL" create --segment "$seg" --subpool a:persistent:8M:4M
[ ! -e "/dev/shm/$seg" ] || fail "a refused create left /dev/shm/$seg"

# ---- destroy removes tmem segments only
head -c 1048576 /dev/urandom > "/dev/shm/$seg"
expect 1 "'$seg' is not a tmem segment" "$TMEMCTL" destroy --segment "$seg"
[ -s "/dev/shm/$seg" ] || fail "destroy removed a file of random bytes"
: > "/dev/shm/$seg"
expect 1 "'$seg' is not a tmem segment" "$TMEMCTL" destroy --segment "$seg"
[ -e "/dev/shm/$seg" ] || fail "destroy removed an empty file"
rm -f "/dev/shm/$seg"

# ---- nbdkit: a served export's sub-pool is not destroyed
if nbdkit --version >/dev/null 2>&1 && command -v nbdcopy >/dev/null &&
   [ -e "$TMEM_PLUGIN" ]; then
    head -c 1M /dev/urandom > "$tmp/data"
    nbdkit -U "$tmp/sock" -P "$tmp/pid" "$TMEM_PLUGIN" size=1M pool="$seg" \
        pool-size=32M export=swap 2> "$tmp/nbdkit.log"
    # The daemon writes its pid file after the fork: wait for it.
    wait_for 10 test -s "$tmp/pid" ||
        fail "nbdkit did not start: $(cat "$tmp/nbdkit.log")"
    pid=$(cat "$tmp/pid")
    wait_for 10 test -S "$tmp/sock" || fail "nbdkit made no socket"
    cleanup_fn "kill $pid 2>/dev/null"
    uri="nbd+unix:///?socket=$tmp/sock"
    nbdcopy "$tmp/data" "$uri"
    expect 1 "sub-pool 'swap' of segment '$seg' is in use by pid $pid (nbdkit)" \
        "$TMEMCTL" destroy --segment "$seg" --subpool swap
    grep -q "nothing destroyed" "$tmp/err" || fail "destroy: $(cat "$tmp/err")"
    nbdcopy "$uri" "$tmp/back"
    cmp "$tmp/data" "$tmp/back" || fail "the served data changed"
    expect 1 "segment '$seg' is in use by" "$TMEMCTL" destroy --segment "$seg"
    [ -e "/dev/shm/$seg.nbd-swap.lock" ] || fail "no lock file beside $seg"
    kill "$pid"
    wait_for 10 sh -c "! kill -0 $pid" || fail "nbdkit did not exit"
    # Stopped: the sub-pool goes, and with it the export's lock file;
    # the segment's destroy takes the side files left.
    expect 0 "" "$TMEMCTL" destroy --segment "$seg" --subpool swap
    grep -q "removed /dev/shm/$seg.nbd-swap.lock" "$tmp/out" ||
        fail "destroy --subpool did not remove the export's lock: $(cat "$tmp/out")"
    [ ! -e "/dev/shm/$seg.nbd-swap.lock" ] || fail "destroy --subpool left the export's lock"
    # An overflow map, as the plugin leaves it, and a lock nbdkit left.
    printf 'TMEMOVM1' > "/dev/shm/$seg.nbd-swap.ovmap"
    : > "/dev/shm/$seg.nbd-swap.lock"
    printf 'not a map' > "/dev/shm/$seg.nbd-other.ovmap"
    expect 0 "" "$TMEMCTL" destroy --segment "$seg"
    for f in "$seg" "$seg.nbd-swap.lock" "$seg.nbd-swap.ovmap"; do
        [ ! -e "/dev/shm/$f" ] || fail "destroy left /dev/shm/$f"
    done
    grep -q "removed /dev/shm/$seg.nbd-swap.lock" "$tmp/out" ||
        fail "destroy did not say it removed the lock: $(cat "$tmp/out")"
    [ -e "/dev/shm/$seg.nbd-other.ovmap" ] ||
        fail "destroy removed a file that is not an overflow map"
    rm -f "/dev/shm/$seg.nbd-other.ovmap"

    # A start refused for an overflow file on tmpfs leaves nothing.
    ov="/dev/shm/$seg-overflow"
    cleanup_fn "rm -f '$ov'"
    if nbdkit -U - "$TMEM_PLUGIN" size=4M pool="$seg" pool-size=16M \
            overflow="$ov" --run true 2> "$tmp/err"; then
        fail "nbdkit started with an overflow file on tmpfs"
    fi
    grep -q "tmpfs" "$tmp/err" || fail "no tmpfs message: $(cat "$tmp/err")"
    for f in "$seg" "$seg.nbd-swap.lock" "$seg.nbd-swap.ovmap" "$seg-overflow"; do
        [ ! -e "/dev/shm/$f" ] || fail "a refused start left /dev/shm/$f"
    done
    # On an existing segment, the refused start leaves the segment as it
    # was: no new sub-pool in it.
    "$TMEMCTL" create --segment "$seg" pool-size=16M > /dev/null
    if nbdkit -U - "$TMEM_PLUGIN" size=4M pool="$seg" overflow="$ov" \
            --run true 2> "$tmp/err"; then
        fail "nbdkit started with an overflow file on tmpfs"
    fi
    "$TMEMCTL" pools --segment "$seg" > "$tmp/pools"
    if grep -q swap "$tmp/pools"; then
        fail "a refused start left its sub-pool: $(cat "$tmp/pools")"
    fi
    [ ! -e "$ov" ] || fail "a refused start left the overflow file"
    "$TMEMCTL" destroy --segment "$seg" > /dev/null
else
    echo "nbdkit or nbdcopy missing: the nbd cases are not run" >&2
fi

# ---- the cache: a mounted cache's sub-pool is not destroyed, and a
# second mount with its cache-name is refused
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null &&
   [ -x "$TMEM_FUSE_CACHE" ]; then
    . "$srcdir/fuse-functions.sh"
    mkdir "$tmp/src" "$tmp/mnt" "$tmp/mnt2"
    head -c 256K /dev/urandom > "$tmp/src/file"
    fc_mount "$tmp/src" "$tmp/mnt" -o "pool=$seg,pool-size=32M,cache-name=c1"
    cmp "$tmp/src/file" "$tmp/mnt/file"
    fcpid=${_fc_pids[$tmp/mnt]}
    expect 1 "sub-pool 'c1' of segment '$seg' is in use by pid $fcpid" \
        "$TMEMCTL" destroy --segment "$seg" --subpool c1
    if "$TMEM_FUSE_CACHE" -f -o "pool=$seg,cache-name=c1" "$tmp/src" \
            "$tmp/mnt2" > "$tmp/err2" 2>&1; then
        fail "a second mount with cache-name c1 ran"
    fi
    grep -q "cache-name=c1: .* in use by pid $fcpid" "$tmp/err2" ||
        fail "second mount: $(cat "$tmp/err2")"
    mountpoint -q "$tmp/mnt2" && fail "the second mount is mounted"
    # The first mount still has its sub-pool and serves.
    "$TMEMCTL" pools --segment "$seg" | grep -q c1 ||
        fail "the first mount's sub-pool is gone"
    cmp "$tmp/src/file" "$tmp/mnt/file"
    fc_unmount "$tmp/mnt"
else
    echo "no root, /dev/fuse or the cache: the cache cases are not run" >&2
fi
echo "live: ok"
