#!/usr/bin/env bash
# dedup-scope=: two exports of one pool share nothing by default (each
# stores its own copy of the same data: no export can time whether a page
# is in another's); set to pool, both, they store it once, in the
# sub-pool .shared, and each still reads its own bytes, also once the
# other export is gone.  .shared cannot be destroyed while it holds pages;
# a bad value is refused with the key named.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires test -e "$TMEM_PLUGIN"
requires test -x "$TMEMCTL"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool* /dev/shm/$pool.*"
: > "$tmp/empty.conf"

# 4 MiB of text-like pages (compressible, none alike within the data).
python3 - "$tmp/data" <<'EOF'
import random, sys
r = random.Random(7)
words = [b"swap", b"page", b"pool", b"guest", b"memory", b"kernel", b"zstd", b"dedup"]
with open(sys.argv[1], "wb") as f:
    for p in range(1024):
        page = (b"page %d\n" % p) + b" ".join(r.choice(words) for _ in range(900))
        f.write(page[:4096].ljust(4096, b"."))
EOF

stat_of ()  # stat_of SUBPOOL FIELD: from tmemctl stats --json
{
    "$TMEMCTL" stats --pool "$pool" --json |
        python3 -c 'import json, sys
d = json.load(sys.stdin)["subpools"].get(sys.argv[1])
print(d[sys.argv[2]] if d else "none")' "$1" "$2"
}

serve ()  # serve EXPORT SCOPE: write the data, read it back
{
    nbdkit -U - "$TMEM_PLUGIN" size=8M pool=$pool pool-size=64M \
           config="$tmp/empty.conf" export="$1" dedup-scope="$2" --run "
        nbdcopy '$tmp/data' \"\$uri\" && nbdcopy \"\$uri\" '$tmp/back-$1'
    " || fail "export $1 (dedup-scope=$2) failed"
    cmp -n 4194304 "$tmp/data" "$tmp/back-$1" || fail "export $1: wrong bytes"
}

# The default: each export its own copy.
serve a subpool
serve b subpool
a=$(stat_of a bytes_compressed); b=$(stat_of b bytes_compressed)
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || fail "default: a holds $a, b $b compressed bytes"
[ "$(stat_of b dedup_hits)" -lt 16 ] || fail "default: b found a's pages ($(stat_of b dedup_hits) dedup hits)"
[ "$(stat_of .shared pages_stored)" = none ] || fail "default: a .shared sub-pool exists"
"$TMEMCTL" destroy --pool "$pool" > /dev/null || fail "tmemctl destroy"

# dedup-scope=pool on both: one copy, in .shared.
serve c pool
serve d pool
hits=$(stat_of d dedup_hits)
[ "$hits" -ge 1000 ] || fail "dedup-scope=pool: d found only $hits of c's 1024 pages"
[ "$(stat_of c bytes_compressed)" = 0 ] && [ "$(stat_of d bytes_compressed)" = 0 ] ||
    fail "dedup-scope=pool: pages charged to c or d, not to .shared"
shared=$(stat_of .shared bytes_compressed)
# One copy of the data, and each export's own label page (at most 4 KiB).
[ "$shared" -gt 0 ] && [ "$shared" -le $(( a + 4096 )) ] ||
    fail "dedup-scope=pool: .shared holds $shared compressed bytes (one copy is $a)"
echo "one export's copy: $a bytes compressed; two exports sharing: $shared"

# .shared stays while it holds pages; c gone, d still reads all its bytes.
if "$TMEMCTL" destroy --pool "$pool" --subpool .shared > "$tmp/out" 2>&1; then
    fail "tmemctl destroyed .shared while it held pages"
fi
grep -q "holds the pages of the sub-pools whose dedup scope is, or was, the pool" "$tmp/out" || fail "no reason given: $(cat "$tmp/out")"
"$TMEMCTL" destroy --pool "$pool" --subpool c > /dev/null || fail "destroying c failed"
nbdkit -U - "$TMEM_PLUGIN" size=8M pool=$pool config="$tmp/empty.conf" \
       export=d dedup-scope=pool --run "nbdcopy \"\$uri\" '$tmp/back-d2'" ||
    fail "reading d after c went failed"
cmp -n 4194304 "$tmp/data" "$tmp/back-d2" || fail "d: wrong bytes after c went"
# Only c's label page went with it.
after=$(stat_of .shared bytes_compressed)
[ "$after" -lt "$shared" ] && [ "$after" -ge $(( shared - 4096 )) ] ||
    fail ".shared holds $after compressed bytes once c went (was $shared)"

# A reserved minimum and pages kept in .shared do not go together.
if nbdkit -U - "$TMEM_PLUGIN" size=8M pool=$pool config="$tmp/empty.conf" \
          export=m min-share=1M dedup-scope=pool --run true 2> "$tmp/err"; then
    fail "min-share=1M with dedup-scope=pool was taken"
fi
grep -q "reserved minimum" "$tmp/err" || fail "no message naming min-share: $(cat "$tmp/err")"

# A bad value names the key.
if nbdkit -U - "$TMEM_PLUGIN" size=8M pool=$pool config="$tmp/empty.conf" \
          dedup-scope=all --run true 2> "$tmp/err"; then
    fail "dedup-scope=all was taken"
fi
grep -q "dedup-scope" "$tmp/err" || fail "no message naming dedup-scope: $(cat "$tmp/err")"
