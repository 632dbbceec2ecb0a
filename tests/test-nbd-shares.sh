#!/usr/bin/env bash
# Two exports on one pool with reserved minimums (min-share=): a
# minimum is granted only while all of them can be kept (the pool's
# size less the 64 KiB chunk puts leave free for compaction), and an
# export filling the pool is refused (ENOSPC) only once it holds at
# least its minimum, the other's still free for it.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir)
pool=$(unique_segment)

# serve EXPORT MIN: a server of the export on $tmp/EXPORT.sock.
serve ()
{
    nbdkit -U "$tmp/$1.sock" -P "$tmp/$1.pid" "$TMEM_PLUGIN" pool=$pool pool-size=64M \
           size=48M export=$1 min-share=$2 2> "$tmp/$1.err"
}
cleanup_fn "for p in $tmp/*.pid; do [ -f \"\$p\" ] && kill \$(cat \"\$p\"); done 2>/dev/null"

# stat_of EXPORT KEY: a figure of its column (bytes_resident: its bytes
# in chunks; rejects.nospace: puts refused for want of room).
stat_of () { "$TMEMCTL" stats "$pool" --json | python3 -c 'import json, sys
v = json.load(sys.stdin)["subpools"][sys.argv[1]]
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"; }

serve g1 32M || fail "g1: $(cat "$tmp/g1.err")"
# 32M + 32M is the whole pool: one minimum could not be kept.
if serve g2 32M; then
    fail "g2 started with min-share=32M beside g1's 32M on a 64M pool"
fi
grep -q "more than the pool can reserve" "$tmp/g2.err" || fail "g2 refused, but not for its minimum: $(cat "$tmp/g2.err")"
# 32M + 32M - 64K: both can be kept.
serve g2 32704K || fail "g2 with 32704K: $(cat "$tmp/g2.err")"

head -c 40M /dev/urandom > "$tmp/rand"
for g in g1 g2; do
    nbdcopy "$tmp/rand" "nbd+unix:///?socket=$tmp/$g.sock" 2> "$tmp/copy" &&
        fail "$g took 40M of random pages in a 64M pool shared with a 32M minimum"
    grep -q "No space left" "$tmp/copy" || fail "$g's copy failed, but not for room: $(cat "$tmp/copy")"
    have=$(stat_of $g bytes_resident)
    [ "$g" = g1 ] && want=$((32 << 20)) || want=$((32704 << 10))
    echo "$g: refused $(stat_of $g rejects.nospace) puts holding $have bytes, its minimum $want"
    [ "$have" -ge "$want" ] || fail "$g was refused room below its minimum: $have bytes of $want"
done
exit 0
