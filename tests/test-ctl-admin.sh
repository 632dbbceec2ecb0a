#!/bin/bash
# tmemctl create, destroy, check and config, and its messages: a missing
# segment, a segment that is not ours or of another version, no
# permission, a segment in use, a bad config file, bad usage.
. ./functions.sh

[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
seg=$(unique_segment)
tmp=$(mktemp_dir)

# ---- usage
expect 0 "" "$TMEMCTL" --help
grep -q "^Usage: tmemctl" "$tmp/out" || fail "--help"
expect 0 "" "$TMEMCTL" --version
grep -q "^tmemctl [0-9]" "$tmp/out" || fail "--version"
expect 2 "no command given" "$TMEMCTL"
expect 2 "unknown command 'frobnicate'" "$TMEMCTL" frobnicate
expect 2 "unrecognized option" "$TMEMCTL" stats --frob
expect 2 "check: --json does not apply" "$TMEMCTL" check --json
expect 2 "exclude each other" "$TMEMCTL" stats --json --prometheus
expect 2 "expected a number of seconds" "$TMEMCTL" stats --watch 0
expect 2 "expected a number of seconds" "$TMEMCTL" stats --watch soon
expect 2 "not a valid name" "$TMEMCTL" stats --segment ../etc
expect 2 "unexpected argument 'x'" "$TMEMCTL" stats "$seg" x
expect 2 "unexpected argument 'x'" "$TMEMCTL" config x
expect 2 "frob: unknown key" "$TMEMCTL" config frob=1
expect 2 "size: '1Q' is not a size" "$TMEMCTL" config pool-size=1Q

# ---- config: the file, the command line over it, FILE:LINE on errors
conf="$abs_top_srcdir/tmem.conf"
expect 0 "" "$TMEMCTL" --config "$conf" config pool-size=1G level=-1
grep -q "^size = 1G ; command line$" "$tmp/out" || fail "config: $(cat "$tmp/out")"
grep -q "^level = -1 ; command line$" "$tmp/out" || fail "config level"
grep -q "^name = tmem ; default$" "$tmp/out" || fail "config name"
printf '[pool]\nsize = 2G\nlevel = 5\n[swap]\nthreads = 4\n' > "$tmp/a.conf"
expect 0 "" "$TMEMCTL" --config "$tmp/a.conf" config level=1
grep -q "^size = 2G ; $tmp/a.conf:2$" "$tmp/out" || fail "config from file"
grep -q "^level = 1 ; command line$" "$tmp/out" || fail "command line wins"
grep -q "^threads = 4 ; $tmp/a.conf:5$" "$tmp/out" || fail "threads"
# The printed configuration is a valid config file that means the same.
sed 's/ ;.*//' "$tmp/out" > "$tmp/b.conf"
"$TMEMCTL" --config "$tmp/b.conf" config | sed 's/ ;.*//' > "$tmp/b.out"
sed 's/ ;.*//' "$tmp/out" | cmp - "$tmp/b.out" || fail "config round trip"
# --get: one bare value for scripts, sizes in bytes.
[ "$("$TMEMCTL" --config "$tmp/a.conf" config --get pool.size --get swap.threads \
      --get swap.socket --get pool.min-share.x threads=8)" = \
  "$(printf '2147483648\n8\n/run/tmem.sock\n0')" ] || fail "config --get"
expect 2 "expected SECTION.KEY" "$TMEMCTL" config --get size
expect 2 "--get swap.colour: no such key" "$TMEMCTL" config --get swap.colour
expect 2 "stats: --get does not apply" "$TMEMCTL" stats --get pool.size
printf '[pool]\nsize = 1G\n\n[swap]\nsize = 5000\n' > "$tmp/bad.conf"
expect 1 "^tmemctl: $tmp/bad.conf:5: size: '5000' is not a multiple of the page size (4096)$" \
    "$TMEMCTL" --config "$tmp/bad.conf" stats
printf '[pool]\nsize = 64M\n[cache]\nmax-share = 1G\n' > "$tmp/conflict.conf"
expect 1 "$tmp/conflict.conf:4: max-share: 1G is more than the pool's size (64M)" \
    "$TMEMCTL" --config "$tmp/conflict.conf" config
expect 1 "$tmp/none.conf: No such file or directory" \
    "$TMEMCTL" --config "$tmp/none.conf" config

# ---- docs/ctl.md's example tmem.conf is one the programs take
sed -n '/^```ini$/,/^```$/p' "$abs_top_srcdir/docs/ctl.md" | sed '1d;$d' > "$tmp/ctl-md.conf"
[ -s "$tmp/ctl-md.conf" ] || fail "no example in docs/ctl.md"
expect 0 "" "$TMEMCTL" --config "$tmp/ctl-md.conf" config

# ---- a missing segment
expect 1 "segment '$seg' does not exist" "$TMEMCTL" stats --segment "$seg"
expect 1 "segment '$seg' does not exist" "$TMEMCTL" check --segment "$seg"
expect 1 "segment '$seg' does not exist" "$TMEMCTL" pools "$seg"
expect 1 "segment '$seg' does not exist" "$TMEMCTL" destroy --segment "$seg"
[ ! -e "/dev/shm/$seg" ] || fail "a read created the segment"

# ---- create, with sub-pools; the segment name from the config file
printf '[pool]\nname = %s\nsize = 32M\nlevel = 1\nmax-share.c1 = 8M\n' "$seg" \
    > "$tmp/seg.conf"
expect 0 "" "$TMEMCTL" --config "$tmp/seg.conf" create \
    --subpool s1:persistent:4M --subpool c1:ephemeral dedup=no
grep -q "^segment $seg: created, ceiling 32.0 MiB, level 1, dedup off$" "$tmp/out" ||
    fail "create: $(cat "$tmp/out")"
expect 1 "segment '$seg' already exists" "$TMEMCTL" create --segment "$seg"
expect 1 "kind 'sometimes' is neither" \
    "$TMEMCTL" create --segment "$seg" --subpool x:sometimes
# A spec gets the checks a config file gets, and says why it is refused.
seg2=$(unique_segment)2
expect 1 "min-share.b: the reserved shares add up to 20M, more than the pool can reserve (its size, 16M, less one 64K chunk)" \
    "$TMEMCTL" create "$seg2" pool-size=16M -S a:persistent:10M -S b:persistent:10M
[ ! -e "/dev/shm/$seg2" ] || fail "a refused create left /dev/shm/$seg2"
expect 1 "max-share.a: 1T is more than the pool's size (16M)" \
    "$TMEMCTL" create "$seg2" pool-size=16M -S a:persistent:0:1T
expect 1 "min-share.a: 1T is more than the pool's size (16M)" \
    "$TMEMCTL" create "$seg2" pool-size=16M -S a:persistent:1T
[ ! -e "/dev/shm/$seg2" ] || fail "a refused create left /dev/shm/$seg2"
# An empty MIN is 0, not MAX moved up a field.
"$TMEMCTL" create "$seg2" pool-size=16M -S a:persistent::8M > /dev/null ||
    fail "create -S a:persistent::8M"
cleanup_fn "rm -f /dev/shm/$seg2"
"$TMEMCTL" pools "$seg2" --json | python3 -c '
import json, sys
p = {x["name"]: x for x in json.load(sys.stdin)}
assert p["a"]["min_bytes"] == 0 and p["a"]["max_bytes"] == 8 << 20, p' ||
    fail "-S a:persistent::8M: $("$TMEMCTL" pools "$seg2")"
# Added to an existing segment, the shares are checked against its size
# and the minimums its sub-pools already reserve.
expect 1 "min-share.b: 20M is more than segment '$seg2''s ceiling (16M)" \
    "$TMEMCTL" create "$seg2" -S b:persistent:20M pool-size=1G
expect 1 "sub-pools' reserved minimums would add up to 20M, more than segment '$seg2' can reserve (its ceiling, 16M, less one 64K chunk)" \
    "$TMEMCTL" create "$seg2" -S b:persistent:10M -S c:persistent:10M pool-size=1G
"$TMEMCTL" pools "$seg2" | grep -qw b && fail "a refused create added sub-pool b"
rm -f "/dev/shm/$seg2"
# ... and against that size alone, not the configuration's (256M by
# default) when the segment is larger.
printf '' > "$tmp/empty.conf"
"$TMEMCTL" -c "$tmp/empty.conf" create "$seg2" pool-size=1G > /dev/null ||
    fail "create 1G"
"$TMEMCTL" -c "$tmp/empty.conf" create "$seg2" -S x:persistent:512M \
    -S y:persistent::300M > /dev/null ||
    fail "shares within an existing 1G segment refused against the configuration's 256M"
rm -f "/dev/shm/$seg2"
"$TMEMCTL" --config "$tmp/seg.conf" pools --json > "$tmp/pools" || fail "pools"
python3 -c '
import json, sys
p = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert p["s1"]["kind"] == "persistent" and p["s1"]["min_bytes"] == 4 << 20, p
assert p["c1"]["kind"] == "ephemeral" and p["c1"]["max_bytes"] == 8 << 20, p
' "$tmp/pools" || fail "create's sub-pools: $(cat "$tmp/pools")"
"$TMEMCTL" stats --segment "$seg" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["pool_size"] == 32 << 20 and s["level"] == 1 and s["dedup"] is False, s
' || fail "create's settings"
expect 0 "" "$TMEMCTL" check --segment "$seg"

# ---- destroy: a sub-pool; refused while in use; then the segment
expect 0 "" "$TMEMCTL" destroy --segment "$seg" --subpool c1
expect 1 "no such sub-pool" "$TMEMCTL" destroy --segment "$seg" --subpool c1
./ctl-put "$seg" hold > "$tmp/hold" &
holder=$!
cleanup_fn "kill $holder 2>/dev/null"
wait_for 10 grep -q attached "$tmp/hold" || fail "ctl-put hold did not attach"
expect 1 "segment '$seg' is in use by 1 process: stop them first" \
    "$TMEMCTL" destroy --segment "$seg"
[ -e "/dev/shm/$seg" ] || fail "destroy removed a segment in use"
kill "$holder"; wait "$holder" 2>/dev/null || true
expect 0 "" "$TMEMCTL" destroy --segment "$seg"
[ ! -e "/dev/shm/$seg" ] || fail "destroy left /dev/shm/$seg"

# ---- not a tmem segment
head -c 1048576 /dev/urandom > "/dev/shm/$seg"
chmod 600 "/dev/shm/$seg"
expect 1 "segment '$seg' is not a tmem segment or its header is corrupt" \
    "$TMEMCTL" stats --segment "$seg"
rm -f "/dev/shm/$seg"
# A file that is not a segment and starts with zeros: create -S leaves
# its bytes alone (it formats only a file it made, or an empty one), and
# stats does not call it missing.
{ head -c 4096 /dev/zero; head -c 61440 /dev/urandom; } > "/dev/shm/$seg"
chmod 600 "/dev/shm/$seg"
cp "/dev/shm/$seg" "$tmp/zeros"
expect 1 "not a tmem segment (not formatted)" \
    "$TMEMCTL" create --segment "$seg" --subpool x:persistent
cmp -s "/dev/shm/$seg" "$tmp/zeros" || fail "create -S formatted over a file that is not a segment"
expect 1 "not a tmem segment (not formatted)" "$TMEMCTL" stats --segment "$seg"
rm -f "/dev/shm/$seg"
# An empty one is formatted.
: > "/dev/shm/$seg"
chmod 600 "/dev/shm/$seg"
expect 0 "" "$TMEMCTL" create --segment "$seg" --subpool x:persistent pool-size=16M
expect 0 "" "$TMEMCTL" stats --segment "$seg"
rm -f "/dev/shm/$seg"

# ---- another version: a real segment whose layout version is changed
./ctl-put "$seg" fill || fail "ctl-put fill"
# The header starts with the 8-byte magic and the 32-bit layout version:
# those two never move, so that any version can tell another's segment.
python3 -c '
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(8); f.write(struct.pack("<I", 9999))' "/dev/shm/$seg" ||
    fail "cannot change the layout version"
expect 1 "segment '$seg' was made by another version of tmem" \
    "$TMEMCTL" stats --segment "$seg"
rm -f "/dev/shm/$seg"

# ---- no permission: another user and a 0600 segment
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    ./ctl-put "$seg" fill || fail "ctl-put fill"
    expect 1 "no permission to open segment '$seg' (/dev/shm/$seg is owned by uid 0, mode 0600)" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$TMEMCTL" stats --segment "$seg"
    rm -f "/dev/shm/$seg"
else
    skip "the permission check needs root (and setpriv) to act as another user"
fi
echo "admin: ok"
