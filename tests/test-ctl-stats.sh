#!/bin/bash
# tmemctl stats and pools on a live pool whose contents are known (ctl-put
# fill): the table, the JSON (parsed and every figure checked) and the
# Prometheus text (checked line by line), --subpool, --watch and --output.
. ./functions.sh

requires command -v python3
[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
seg=$(unique_segment)
tmp=$(mktemp_dir)

./ctl-put "$seg" fill || fail "ctl-put fill"

# ---- text
"$TMEMCTL" stats "$seg" > "$tmp/text" || fail "stats"
cat "$tmp/text"
grep -q "^segment $seg: layout [0-9]" "$tmp/text" || fail "no segment line"
# Rows: the segment's figure, then one column per sub-pool.
row () { awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2) }' "$tmp/text"; }
[ "$(row pages_stored)" = "29 26 3" ] || [ "$(row pages_stored)" = "29 3 26" ] ||
    fail "pages_stored row: $(row pages_stored)"
[ "$(row misses | awk '{print $1}')" = 3 ] || fail "misses row: $(row misses)"
grep -q '^rejects\.' "$tmp/text" || fail "no rejects rows"
grep -q '^ratio' "$tmp/text" || fail "no ratio row"

# docs/ctl.md's examples are of this build: its stats table's layout and
# rows, and the layout its "another version" message says this build knows.
layout=$(sed -n "s/^segment $seg: layout \([0-9]*\),.*/\1/p" "$tmp/text")
sed -n '/^### Reading `stats`/,/^### Messages/p' "$abs_top_srcdir/docs/ctl.md" \
    > "$tmp/doc"
grep -q "^segment tmem: layout $layout," "$tmp/doc" ||
    fail "docs/ctl.md's stats example is not of layout $layout: $(grep '^segment' "$tmp/doc")"
for r in $(awk '/^[a-z_.]+  +[0-9]/ { print $1 }' "$tmp/doc"); do
    grep -q "^$r " "$tmp/text" || fail "docs/ctl.md's stats example has a row $r that stats lacks"
done
grep -q "layout version [0-9]*, this build knows $layout " "$abs_top_srcdir/docs/ctl.md" ||
    fail "docs/ctl.md's another-version message does not know layout $layout"

# ---- JSON, parsed and checked
"$TMEMCTL" stats --pool "$seg" --json > "$tmp/json" || fail "stats --json"
python3 - "$tmp/json" "$seg" <<'PY' || fail "JSON check"
import json, sys
s = json.load(open(sys.argv[1]))
seg = sys.argv[2]
need = ["pages_stored", "bytes_represented", "bytes_used", "bytes_resident",
        "bytes_compressed", "bytes_index",
        "zero_pages", "same_filled_pages", "dedup_hits", "puts", "gets",
        "hits", "misses", "flushes", "evictions", "pages_read_back",
        "bytes_read_back", "rejects"]
def check(obj, where):
    for k in need:
        assert k in obj, "%s: no %s" % (where, k)
    for k, v in obj.items():
        if k in ("rejects",):
            assert isinstance(v, dict) and v, "%s: rejects %r" % (where, v)
            for r, n in v.items():
                assert isinstance(n, int) and n >= 0, (where, r, n)
        elif k in need:
            assert isinstance(v, int) and v >= 0, (where, k, v)
    assert obj["bytes_represented"] == 4096 * obj["pages_stored"], where
    assert obj["hits"] + obj["misses"] <= obj["gets"], where
    # An entry per key at least, all of it inside bytes_used.
    assert obj["bytes_index"] >= 32 * obj["pages_stored"], where
    assert obj["bytes_index"] + obj["bytes_compressed"] <= obj["bytes_used"], where
assert s["segment"] == seg, s["segment"]
check(s, "segment")
subs = s["subpools"]
assert set(subs) == {"swap0", "cache0"}, subs.keys()
for name, p in subs.items():
    check(p, name)
w, c = subs["swap0"], subs["cache0"]
assert w["kind"] == "persistent" and c["kind"] == "ephemeral"
# What ctl-put fill did to swap0.
expect = {"pages_stored": 26, "zero_pages": 10, "same_filled_pages": 5,
          "puts": 27, "gets": 30, "hits": 27, "misses": 3, "flushes": 1,
          "evictions": 0}
for k, v in expect.items():
    assert w[k] == v, "swap0 %s = %d, expected %d" % (k, w[k], v)
assert w["dedup_hits"] >= 3, w["dedup_hits"]   # 4 copies, one flushed
# Every key of swap0 was read back once; a blob's payload counts for each
# copy that was read, so more than the blobs' own bytes.
assert w["pages_read_back"] == 26, w["pages_read_back"]
assert w["bytes_read_back"] > w["bytes_compressed"], w
assert c["pages_read_back"] == 0 and c["bytes_read_back"] == 0, c
assert c["puts"] == 3 and c["gets"] == 3, c
assert c["pages_stored"] + c["evictions"] >= 3 or c["pages_stored"] <= 3
# The segment's figures are the sums of its sub-pools'.
for k in ("pages_stored", "zero_pages", "same_filled_pages", "puts", "gets",
          "hits", "misses", "flushes", "evictions", "dedup_hits",
          "bytes_represented", "pages_read_back", "bytes_read_back",
          "bytes_index"):
    assert s[k] == w[k] + c[k], "%s: %d != %d + %d" % (k, s[k], w[k], c[k])
for r in s["rejects"]:
    assert s["rejects"][r] == w["rejects"][r] + c["rejects"][r], r
assert s["bytes_used"] > 0 and s["bytes_resident"] > 0
assert s["bytes_used"] < s["pool_size"], (s["bytes_used"], s["pool_size"])
print("json ok")
PY

# ---- --subpool keeps the totals and one sub-pool
"$TMEMCTL" stats --segment "$seg" --subpool cache0 --json > "$tmp/sub" ||
    fail "stats --subpool"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert list(s["subpools"]) == ["cache0"], s["subpools"].keys()
assert s["pages_stored"] >= 26' "$tmp/sub" || fail "--subpool"
"$TMEMCTL" stats --segment "$seg" --subpool nosuch 2> "$tmp/err" &&
    fail "--subpool nosuch succeeded"
grep -q "no sub-pool named 'nosuch'" "$tmp/err" || fail "$(cat "$tmp/err")"

# ---- Prometheus, line by line
"$TMEMCTL" stats --segment "$seg" --prometheus > "$tmp/prom" ||
    fail "stats --prometheus"
python3 - "$tmp/prom" "$seg" <<'PY' || fail "Prometheus check"
import re, sys
seg = sys.argv[2]
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
sample_re = re.compile(r"^(%s)\{(%s(?:,%s)*)\} ([0-9]+)$" % (name_re, label_re, label_re))
helped, typed, samples, seen_families = set(), {}, {}, []
for n, line in enumerate(open(sys.argv[1]).read().split("\n"), 1):
    if line == "":
        continue
    m = re.match(r"^# HELP (%s) (.+)$" % name_re, line)
    if m:
        assert m.group(1) not in helped, "line %d: second HELP" % n
        helped.add(m.group(1)); seen_families.append(m.group(1)); continue
    m = re.match(r"^# TYPE (%s) (counter|gauge)$" % name_re, line)
    if m:
        assert m.group(1) in helped, "line %d: TYPE before HELP" % n
        assert m.group(1) not in typed, "line %d: second TYPE" % n
        typed[m.group(1)] = m.group(2); continue
    m = sample_re.match(line)
    assert m, "line %d: not a sample: %r" % (n, line)
    name, labels, value = m.group(1), m.group(2), int(m.group(3))
    assert name in typed, "line %d: %s has no TYPE" % (n, name)
    assert seen_families[-1] == name, "line %d: %s outside its family" % (n, name)
    if typed[name] == "counter":
        assert name.endswith("_total"), "line %d: counter %s" % (n, name)
    lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
    assert lab["segment"] == seg, "line %d: %r" % (n, lab)
    key = (name, tuple(sorted(lab.items())))
    assert key not in samples, "line %d: duplicate sample" % n
    samples[key] = value
def get(name, **lab):
    lab["segment"] = seg
    return samples[(name, tuple(sorted(lab.items())))]
assert get("tmem_pages_stored") == 29
assert get("tmem_misses_total") == 3
assert get("tmem_subpool_pages_stored", subpool="swap0", kind="persistent") == 26
assert get("tmem_subpool_zero_pages", subpool="swap0", kind="persistent") == 10
assert get("tmem_subpool_puts_total", subpool="cache0", kind="ephemeral") == 3
reasons = [dict(k[1])["reason"] for k in samples if k[0] == "tmem_rejects_total"]
assert reasons, "no tmem_rejects_total"
for f in ("tmem_bytes_used", "tmem_bytes_resident", "tmem_bytes_represented",
          "tmem_dedup_hits_total", "tmem_evictions_total", "tmem_flushes_total"):
    assert f in typed, f
print("prometheus ok: %d samples" % len(samples))
PY

# Per sub-pool, bytes_resident is its chunks' bytes, what the HELP says:
# below its bytes_used by exactly its index records.
grep -q '^# HELP tmem_subpool_bytes_resident Bytes of the chunks the sub-pool holds data in' "$tmp/prom" ||
    fail "per-sub-pool bytes_resident's HELP: $(grep 'HELP tmem_subpool_bytes_resident' "$tmp/prom")"
"$TMEMCTL" stats --segment "$seg" --json | python3 -c '
import json, sys
for n, p in json.load(sys.stdin)["subpools"].items():
    assert p["bytes_resident"] % 65536 == 0, (n, p)
    assert p["bytes_resident"] == p["bytes_used"] - p["bytes_index"], (n, p)' ||
    fail "per-sub-pool bytes_resident is not its chunks"

# ---- --watch repeats; --output writes atomically
timeout 2.5 "$TMEMCTL" stats --segment "$seg" --json --watch 0.5 > "$tmp/watch" ||
    [ $? -eq 124 ] || fail "stats --watch"
n=$(grep -c '^{$' "$tmp/watch")
[ "$n" -ge 3 ] || fail "--watch 0.5 for 2.5 s gave $n reports"
"$TMEMCTL" stats --segment "$seg" --prometheus --output "$tmp/tmem.prom" ||
    fail "--output"
cmp "$tmp/tmem.prom" "$tmp/prom" || fail "--output differs from stdout"
[ -z "$(ls "$tmp" | grep '^tmem\.prom\.')" ] || fail "--output left a temporary file"
# The temporary file's name is not one another user could plant a link
# at (FILE.PID.tmp was: a link there made tmemctl write where it
# pointed), and the report is readable by all (0644) whatever the umask.
: > "$tmp/victim"
TMEMCTL="$TMEMCTL" seg="$seg" out="$tmp/tmem2.prom" victim="$tmp/victim" \
    bash -c 'ln -s "$victim" "$out.$$.tmp"; umask 077
             exec "$TMEMCTL" stats --segment "$seg" --prometheus --output "$out"' ||
    fail "--output beside a planted link"
[ ! -s "$tmp/victim" ] || fail "--output wrote through a planted link"
cmp "$tmp/tmem2.prom" "$tmp/prom" || fail "--output beside a planted link differs"
[ "$(stat -c %a "$tmp/tmem2.prom")" = 644 ] ||
    fail "--output: mode $(stat -c %a "$tmp/tmem2.prom"), expected 644"

# ---- pools
"$TMEMCTL" pools --segment "$seg" > "$tmp/pools" || fail "pools"
cat "$tmp/pools"
grep -Eq '^[0-9]+ +swap0 +persistent .* 26 ' "$tmp/pools" || fail "pools: swap0"
grep -Eq '^[0-9]+ +cache0 +ephemeral ' "$tmp/pools" || fail "pools: cache0"
"$TMEMCTL" pools --segment "$seg" --json |
    python3 -c '
import json, sys
p = {x["name"]: x for x in json.load(sys.stdin)}
assert p["swap0"]["kind"] == "persistent" and p["swap0"]["pages_stored"] == 26
assert p["cache0"]["kind"] == "ephemeral"' || fail "pools --json"

# ---- check
"$TMEMCTL" check --segment "$seg" > "$tmp/check" || fail "check: $(cat "$tmp/check")"
grep -q "^segment $seg: consistent$" "$tmp/check" || fail "check: $(cat "$tmp/check")"
echo "stats: ok"
