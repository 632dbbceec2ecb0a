#!/usr/bin/env bash
# The files a swap server keeps beside its pool, and the shares it takes:
# - the overflow file must be a regular file of this user's, private to it
#   (0600), not reached through a symbolic link, and one export's alone (two
#   exports given one file would each hand out its slots from 0);
# - a server started without overflow= over an export whose map records
#   pages in a file refuses to start (it would read them as zeros), and
#   starts again with the file, every page intact;
# - a pool named like an export's side file (POOL.nbd-EXPORT.ovmap) is
#   refused, and a segment of that name made by another tool is never
#   overwritten as a map;
# - a sub-pool holding pages but no device label (another program's) is
#   not taken over without reset=true;
# - log-file= is not followed through a symbolic link, nor appended to a
#   file another user owns or may write;
# - [pool] max-share.EXPORT alone leaves [swap] min-share in force.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd
requires setpriv --version
id nobody > /dev/null 2>&1 || skip "no user nobody"

tmp=$(mktemp_dir)
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
ovdir=$(block_backed_dir)
[ -n "$ovdir" ] || skip "no block-backed directory for the overflow file"
cleanup_fn "rm -rf '$ovdir'"
chmod 1777 "$ovdir"

# refused KEYS... : nbdkit must refuse to start; its message is in $tmp/err.
refused ()
{
    if nbdkit -U - "$TMEM_PLUGIN" "$@" --run true 2> "$tmp/err"; then
        fail "started with $*"
    fi
}
expect_err ()
{
    grep -q -- "$1" "$tmp/err" || fail "no message '$1': $(grep -v warning "$tmp/err")"
}

# ---- the overflow file's owner, mode and path
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    sh -c "umask 0; : > '$ovdir/theirs'"
refused size=8M pool=$pool pool-size=4M overflow="$ovdir/theirs"
expect_err "overflow file $ovdir/theirs: owned by uid"
[ -s "$ovdir/theirs" ] && fail "another user's overflow file was written"
: > "$ovdir/open"; chmod 666 "$ovdir/open"
refused size=8M pool=$pool pool-size=4M overflow="$ovdir/open"
expect_err "overflow file $ovdir/open: mode 0666"
echo precious > "$tmp/precious"
ln -s "$tmp/precious" "$ovdir/link"
refused size=8M pool=$pool pool-size=4M overflow="$ovdir/link"
expect_err "overflow file $ovdir/link is a symbolic link"
[ "$(cat "$tmp/precious")" = precious ] || fail "the link's target changed"
echo "overflow file: another user's, mode 0666 and a symbolic link refused"

# ---- one overflow file, two exports
head -c 12M /dev/urandom > "$tmp/data"
nbdkit -U "$tmp/a.sock" -P "$tmp/a.pid" "$TMEM_PLUGIN" size=12M pool=$pool \
    pool-size=4M export=a overflow="$ovdir/ov" 2> "$tmp/a.err" ||
    fail "export a: $(cat "$tmp/a.err")"
cleanup_fn "kill \$(cat '$tmp/a.pid') 2>/dev/null"
refused size=12M pool=$pool pool-size=4M export=b overflow="$ovdir/ov"
expect_err "overflow file $ovdir/ov is in use by another export or server"
nbdcopy "$tmp/data" "nbd+unix:///?socket=$tmp/a.sock" || fail "writing export a"
kill "$(cat "$tmp/a.pid")"
for k in $(seq 50); do [ -S "$tmp/a.sock" ] || break; sleep 0.1; done
echo "overflow file: a second export refused it while the first served"

# ---- a restart without the overflow file
refused size=12M pool=$pool export=a
expect_err "pages of this export are in the overflow file $ovdir/ov"
expect_err "give overflow=$ovdir/ov again, or reset=true"
nbdkit -U - "$TMEM_PLUGIN" size=12M pool=$pool export=a overflow="$ovdir/ov" \
    --run "nbdcopy \"\$uri\" '$tmp/back'" 2> "$tmp/err" ||
    fail "restart with the file: $(grep -v warning "$tmp/err")"
cmp "$tmp/data" "$tmp/back" || fail "pages lost across the refused start"
nbdkit -U - "$TMEM_PLUGIN" size=12M pool=$pool export=a reset=true \
    --run true 2> "$tmp/err" || fail "reset=true: $(grep -v warning "$tmp/err")"
echo "restart without overflow=: refused while the file holds pages; reset=true starts afresh"

# ---- names of the side files
refused size=4M pool=$pool.nbd-x pool-size=4M
expect_err "a pool name with \".nbd-\" in it is kept"
other=$pool-o
cleanup_fn "rm -f /dev/shm/$other /dev/shm/$other.*"
"$TMEMCTL" create "$other.nbd-swap.ovmap" pool-size=4M > /dev/null ||
    fail "tmemctl create"
before=$(md5sum < "/dev/shm/$other.nbd-swap.ovmap")
refused size=4M pool=$other pool-size=4M overflow="$ovdir/ov2"
expect_err "is not an overflow map"
[ "$(md5sum < "/dev/shm/$other.nbd-swap.ovmap")" = "$before" ] ||
    fail "a segment named like a map was overwritten"
"$TMEMCTL" stats "$other.nbd-swap.ovmap" > /dev/null ||
    fail "the segment named like a map no longer opens"
echo "side files: a pool named like one refused, a segment named like a map left alone"

# ---- a sub-pool of another program's pages (no device label) is not
# taken over
lab=$pool-l
cleanup_fn "rm -f /dev/shm/$lab /dev/shm/$lab.*"
./ctl-put "$lab" fill > /dev/null || fail "ctl-put fill"
refused size=4M pool=$lab export=swap0
expect_err "export=swap0: the sub-pool holds [0-9]* pages but no nbd-tmem device label"
nbdkit -U - "$TMEM_PLUGIN" size=4M pool=$lab export=swap0 reset=true \
    --run true 2> "$tmp/err" || fail "reset=true over another's pages: $(grep -v warning "$tmp/err")"
echo "a sub-pool of another program's pages: refused, reset=true takes it"

# ---- log-file=
ln -s "$tmp/precious" "$ovdir/log"
refused size=4M pool=$pool pool-size=4M log-file="$ovdir/log"
expect_err "log-file=$ovdir/log: a symbolic link"
# /dev/shm is as shared as any directory: no exception there.
ln -s "$tmp/precious" "/dev/shm/$pool-log"
cleanup_fn "rm -f /dev/shm/$pool-log"
refused size=4M pool=$pool pool-size=4M log-file="/dev/shm/$pool-log"
expect_err "log-file=/dev/shm/$pool-log: a symbolic link"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    sh -c "umask 0; : > '$ovdir/theirlog'"
refused size=4M pool=$pool pool-size=4M log-file="$ovdir/theirlog"
expect_err "log-file=$ovdir/theirlog: owned by uid"
[ "$(cat "$tmp/precious")" = precious ] || fail "the log link's target changed"
[ -s "$ovdir/theirlog" ] && fail "another user's log file was written"
echo "log-file: a symbolic link and another user's file refused"

# ---- shares
printf '[swap]\nsize = 1M\nmin-share = 2M\n[pool]\nsize = 16M\nmax-share.swap = 8M\n' > "$tmp/c.conf"
nbdkit -U - "$TMEM_PLUGIN" config="$tmp/c.conf" pool=$pool reset=true \
    --run "'$TMEMCTL' pools $pool --json" > "$tmp/pools" 2> "$tmp/err" ||
    fail "shares: $(grep -v warning "$tmp/err")"
grep -q '"name": "swap", "kind": "persistent", "min_bytes": 2097152, "max_bytes": 8388608' "$tmp/pools" ||
    fail "[swap] min-share lost beside max-share.swap: $(cat "$tmp/pools")"
printf '[swap]\nsize = 1M\nmin-share = 2M\n[pool]\nsize = 16M\nmax-share.swap = 1M\n' > "$tmp/c.conf"
refused config="$tmp/c.conf" pool=$pool
expect_err "c.conf:3: \[swap\] min-share: 2M is more than max-share.swap (1M)"
echo "shares: max-share.swap alone keeps [swap] min-share (and is checked against it)"
echo "side files: ok"
