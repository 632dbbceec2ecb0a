#!/bin/bash
# A segment changed as dd would while nothing is attached: a byte of a
# stored page, an entry's blob id (it names another page's blob), an
# entry's index (its key is lost).  Each damaged key reads EIO three times
# in a row, never other bytes or a miss; tmemctl check reports the entry
# damage, check --deep every damaged page, each by its key.
. ./functions.sh

[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
seg=$(unique_segment)
tmp=$(mktemp_dir)

./ctl-put "$seg" fill || fail "ctl-put fill"
"$TMEMCTL" check --deep --segment "$seg" > "$tmp/out" 2>&1 ||
    fail "check --deep of a sound segment: $(cat "$tmp/out")"
grep -q "^segment $seg: 29 entries, 14 stored pages verified; 0 damaged" "$tmp/out" ||
    fail "check --deep: $(cat "$tmp/out")"

./ctl-put "$seg" damage > "$tmp/reads" 2> "$tmp/log" || fail "ctl-put damage"
cat "$tmp/reads" "$tmp/log"
for i in 15 16 18; do
    [ "$(grep -c "^get $i: EIO$" "$tmp/reads")" -eq 3 ] ||
        fail "page $i did not read EIO three times: $(cat "$tmp/reads")"
done
[ "$(grep -c "^get 17: ok$" "$tmp/reads")" -eq 3 ] || fail "page 17 is not intact"
# Logged once per page, not once per read.
[ "$(grep -c "index 15: the stored page fails its checksum" "$tmp/log")" -eq 1 ] ||
    fail "page 15 not logged once: $(cat "$tmp/log")"

# The quick check (check) sees the two damaged entries ...
st=0; "$TMEMCTL" check --segment "$seg" > "$tmp/out" 2>&1 || st=$?
cat "$tmp/out"
[ "$st" -eq 1 ] || fail "check of a damaged segment: exit $st"
grep -q "object 1 index 16 .*fails its check" "$tmp/out" || fail "check: entry 16"
grep -q "object 1 index 82 .*fails its check" "$tmp/out" || fail "check: entry 18 (now 82)"
grep -q "NOT consistent" "$tmp/out" || fail "check: verdict"
# ... check --deep the damaged bytes too: page 15 and its dedup copies.
st=0; "$TMEMCTL" check --deep --rate 1000 --segment "$seg" > "$tmp/out" 2>&1 || st=$?
cat "$tmp/out"
[ "$st" -eq 1 ] || fail "check --deep of a damaged segment: exit $st"
for i in 15 23 24 25; do
    grep -q "object 1 index $i (entry [0-9]*): the stored page fails its checksum" "$tmp/out" ||
        fail "check --deep: page $i"
done
grep -q "object 1 index 16 .*fails its check" "$tmp/out" || fail "check --deep: entry 16"
grep -q "object 1 index 82 .*fails its check" "$tmp/out" || fail "check --deep: entry 82"
grep -q "6 damaged, 0 broken index chains" "$tmp/out" || fail "check --deep: count"
# The nbd plugin's start-up verification reports the damaged entries and
# serves.
if nbdkit --version >/dev/null 2>&1 && [ -e "$TMEM_PLUGIN" ]; then
    nbdkit -U - "$TMEM_PLUGIN" size=1M pool="$seg" export=other --run true \
        2> "$tmp/nbdkit.log" || fail "nbdkit: $(cat "$tmp/nbdkit.log")"
    grep -q "pool=$seg: 2 damaged index entries, 0 broken index chains" "$tmp/nbdkit.log" ||
        fail "nbdkit's start-up verification: $(cat "$tmp/nbdkit.log")"
fi
expect_usage=$("$TMEMCTL" check --rate x 2>&1 || true)
case $expect_usage in *"--rate x: expected a number"*) ;; *) fail "--rate x: $expect_usage" ;; esac
echo "verify: ok"
