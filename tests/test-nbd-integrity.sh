#!/usr/bin/env bash
# Overflow pages are checked as pool pages are.  A 16M pool and an
# overflow file take 24 MiB of random pages; with the server stopped, one
# byte of a spilled page is changed in the file, and one slot record of
# the map is made to claim another page.  After a restart each of the
# three pages concerned (the changed one, the one whose record was
# changed, the page it now claims) reads EIO three times in a row, never
# other bytes or zeros, while an intact spilled page and a pool page read
# back right; block status calls a page that reads EIO data, not a hole;
# tmemctl check --deep names both slots.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd

tmp=$(mktemp_dir)
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
ovdir=$(block_backed_dir)
[ -n "$ovdir" ] || skip "no block-backed directory for the overflow file"
cleanup_fn "rm -rf '$ovdir'"

head -c 24M /dev/urandom > "$tmp/data"
keys=(size=32M pool=$pool pool-size=16M overflow="$ovdir/ov")
nbdkit -U - "$TMEM_PLUGIN" "${keys[@]}" --run "nbdcopy '$tmp/data' \"\$uri\"" ||
    fail "writing the data"
map=/dev/shm/$pool.nbd-swap.ovmap
"$TMEMCTL" check --deep --segment "$pool" > "$tmp/out" 2>&1 ||
    fail "check --deep of a sound device: $(cat "$tmp/out")"

# Damage, as dd would: the first used slot's bytes, the second used
# slot's record (its page field, to claim page 7000, never written).
read -r p1 s1 p2 s2 < <("$py" - "$map" "$ovdir/ov" <<'PY'
import struct, sys
m = open(sys.argv[1], "r+b")
slots = struct.unpack_from("<Q", m.read(48), 16)[0]
used = []
for s in range(slots):
    m.seek(4096 + 16 * s)
    page1, = struct.unpack("<Q", m.read(8))
    if page1:
        used.append((page1 - 1, s))
    if len(used) == 2:
        break
(p1, s1), (p2, s2) = used
with open(sys.argv[2], "r+b") as f:
    f.seek(s1 * 4096 + 100)
    b = f.read(1)
    f.seek(s1 * 4096 + 100)
    f.write(bytes([b[0] ^ 0x40]))
m.seek(4096 + 16 * s2)
m.write(struct.pack("<Q", 7000 + 1))
print(p1, s1, p2, s2)
PY
)
echo "damaged: page $p1 (slot $s1 bytes), page $p2 (slot $s2 record)"

# Three reads of each, an intact spilled page, a pool page.
nbdkit -U - "$TMEM_PLUGIN" "${keys[@]}" --run "'$py' - \"\$uri\" $p1 $p2 7000 > '$tmp/reads'" \
    2> "$tmp/log" <<'PY' || fail "reading: $(cat "$tmp/log")"
import errno, nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
for page in sys.argv[2:]:
    for k in range(3):
        try:
            h.pread(4096, int(page) * 4096)
            print(page, "read")
        except nbd.Error as e:
            print(page, "EIO" if e.errno in (errno.EIO, "EIO") else "error %s" % e.errno)
PY
cat "$tmp/reads"
for p in "$p1" "$p2" 7000; do
    [ "$(grep -c "^$p EIO$" "$tmp/reads")" -eq 3 ] ||
        fail "page $p did not read EIO three times: $(cat "$tmp/reads")"
done
grep -q "slot records fail their check" "$tmp/log" ||
    fail "no message for the damaged record: $(cat "$tmp/log")"
# Block status agrees: a page that reads EIO (found nowhere while records
# are lost: 7000, never written) is data, never a hole that reads as zeros
# (a client that skips zero extents would copy zeros, with no error).
nbdkit -U - "$TMEM_PLUGIN" "${keys[@]}" --run "'$py' - \"\$uri\" 7000" \
    2> "$tmp/log" <<'PY' || fail "block status of a page that reads EIO: $(tail -n 3 "$tmp/log")"
import nbd, sys
h = nbd.NBD()
h.add_meta_context("base:allocation")
h.connect_uri(sys.argv[1])
flags = []
def extent(meta, off, entries, err):
    flags.extend(entries[1::2])
    return 0
h.block_status(4096, int(sys.argv[2]) * 4096, extent)
assert flags and not flags[0] & (nbd.STATE_HOLE | nbd.STATE_ZERO), \
    "page %s: reads EIO, block status says flags %s" % (sys.argv[2], flags)
PY
# Messages from requests go through the plugin's log ring (a request never
# waits for the log): a burst of failed reads, far more than it holds,
# still shows the first message, and the rest as a count of dropped ones.
# The 500 reads are sent at once, so that they land within one drain of the
# ring (every 100 ms) however slow each one is.
nbdkit -U - "$TMEM_PLUGIN" "${keys[@]}" --run "'$py' - \"\$uri\" $p1" \
    2> "$tmp/burst" <<'PY' || fail "the burst: $(tail -n 5 "$tmp/burst")"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
bufs = [nbd.Buffer(4096) for k in range(500)]
cookies = [h.aio_pread(b, int(sys.argv[2]) * 4096) for b in bufs]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    try:
        h.aio_command_completed(c)
        sys.exit("page %s read back" % sys.argv[2])
    except nbd.Error:
        pass
PY
grep -q "read at $(( p1 * 4096 )): " "$tmp/burst" ||
    fail "no message for the burst's first read: $(tail -n 5 "$tmp/burst")"
grep -q "log messages were dropped" "$tmp/burst" ||
    fail "500 failed reads logged without the ring: $(grep -c 'read at' "$tmp/burst") messages"
echo "burst: $(grep -c "read at" "$tmp/burst") of 500 messages logged; $(grep -o '[0-9]* log messages were dropped' "$tmp/burst" | tr '\n' ' ')"
# The rest is intact (pages 0.. are in the pool, the last ones spilled).
nbdkit -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    '$py' -c 'import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
d = open(sys.argv[2], \"rb\").read()
for page in (0, 1, 5000, 6143):
    if page in ($p1, $p2): continue
    assert h.pread(4096, page * 4096) == d[page * 4096:(page + 1) * 4096], page' \"\$uri\" '$tmp/data'
" || fail "an intact page read back wrong"

st=0; "$TMEMCTL" check --deep --segment "$pool" > "$tmp/out" 2>&1 || st=$?
cat "$tmp/out"
[ "$st" -eq 1 ] || fail "check --deep: exit $st"
grep -q "export swap: page $p1 (overflow slot $s1): the stored page fails its checksum" "$tmp/out" ||
    fail "check --deep did not name slot $s1"
grep -q "export swap: overflow slot $s2: its map record fails its check" "$tmp/out" ||
    fail "check --deep did not name slot $s2"
echo "nbd integrity: ok"
