#!/usr/bin/env bash
# A segment, an export's lock file or an overflow map that another user
# made first (a squatter in /dev/shm), or that group or other users may
# open, is refused by tmemctl, the pool and nbdkit with a message naming
# the owner or the mode; nothing is written into it.
. ./functions.sh
requires_root
requires setpriv --version
[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
seg=$(unique_segment); cleanup_fn "rm -f /dev/shm/$seg.*"
nobody=65534


# ---- a squatted segment: an empty file another user made first
install -m 0600 -o $nobody -g $nobody /dev/null "/dev/shm/$seg"
expect 1 "owned by uid $nobody, not by uid 0" \
    "$TMEMCTL" create "$seg" --subpool x:ephemeral pool-size=16M
expect 1 "owned by uid $nobody, not by uid 0" "$TMEMCTL" stats --segment "$seg"
[ "$(stat -c %s "/dev/shm/$seg")" -eq 0 ] || fail "the pool wrote into a squatted segment"

# ---- a squatted, formatted segment: made by that user with tmemctl
rm -f "/dev/shm/$seg"
setpriv --reuid=$nobody --regid=$nobody --clear-groups \
    "$TMEMCTL" create "$seg" pool-size=16M > /dev/null ||
    fail "tmemctl create as uid $nobody"
expect 1 "owned by uid $nobody" "$TMEMCTL" stats --segment "$seg"
expect 1 "owned by uid $nobody" "$TMEMCTL" check --segment "$seg"
rm -f "/dev/shm/$seg"

# ---- our own segment, but open to group and other
"$TMEMCTL" create "$seg" pool-size=16M > /dev/null || fail "tmemctl create"
chmod 0644 "/dev/shm/$seg"
expect 1 "mode 0644 lets group or other users at it" \
    "$TMEMCTL" stats --segment "$seg"
chmod 0600 "/dev/shm/$seg"
"$TMEMCTL" stats --segment "$seg" > /dev/null || fail "a 0600 segment of ours"

# ---- nbdkit: the segment, the export's lock file, the overflow map
if nbdkit --version > /dev/null 2>&1 && [ -e "$TMEM_PLUGIN" ]; then
    serve ()
    {
        nbdkit -U - "$TMEM_PLUGIN" pool=$seg pool-size=16M size=1M "$@" \
            --run 'echo SERVED' > "$tmp/out" 2> "$tmp/err"
    }
    refused ()
    {
        local want=$1; shift
        serve "$@" && fail "nbdkit served with $*"
        grep -q SERVED "$tmp/out" && fail "nbdkit served with $*"
        grep -q -- "$want" "$tmp/err" ||
            fail "nbdkit $*: the message lacks '$want': $(cat "$tmp/err")"
        echo "refused: nbdkit $* -> $(grep -- "$want" "$tmp/err" | head -1)"
    }
    chown $nobody "/dev/shm/$seg"
    refused "owned by uid $nobody"
    chown 0 "/dev/shm/$seg"
    serve || fail "nbdkit on our own segment: $(cat "$tmp/err")"

    lock="/dev/shm/$seg.nbd-swap.lock"
    [ -e "$lock" ] || fail "no lock file at $lock: $(ls /dev/shm/$seg*)"
    chown $nobody "$lock"
    refused "lock file.*owned by uid $nobody"
    chown 0 "$lock"

    # The overflow file needs a block-backed file system (O_DIRECT).
    ovdir=$(block_backed_dir)
    [ -n "$ovdir" ] || fail "no block-backed directory for the overflow file"
    cleanup_fn "rm -rf '$ovdir'"
    serve overflow="$ovdir/ov" overflow-size=1M ||
        fail "nbdkit with an overflow file: $(cat "$tmp/err")"
    map=$(ls /dev/shm/$seg.*ovmap) || fail "no overflow map"
    chmod 0666 "$map"
    refused "overflow map.*mode 0666" overflow="$ovdir/ov" overflow-size=1M
else
    echo "nbdkit or tmem.so missing: the nbdkit part is left out"
fi
echo "all refused as they should be"
