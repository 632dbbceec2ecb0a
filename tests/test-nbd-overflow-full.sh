#!/usr/bin/env bash
# A full device (pool and overflow file) still takes a write to a page it
# holds: a page in the overflow file is rewritten in its own slot.  The
# full device's quick refusal of pages it does not hold must tell "in the
# file" from "not": slot 0 (the first page spilled) is a slot too.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
ovdir=$(block_backed_dir)
[ -n "$ovdir" ] || skip "no block-backed directory for the overflow file"
cleanup_fn "rm -rf '$ovdir'"

nbdkit -U - "$TMEM_PLUGIN" size=16M pool=$pool pool-size=4M \
    overflow="$ovdir/ov" overflow-size=64K \
    --run "'$py' - \"\$unixsocket\" /dev/shm/$pool.nbd-swap.ovmap" <<'PY' ||
import errno, os, struct, sys
import nbd

sock, ovmap = sys.argv[1], sys.argv[2]
PAGE = 4096
h = nbd.NBD()
h.connect_unix(sock)

# Random pages until the device is full (the pool, then 16 slots).
data = {}
for p in range(16 * 256):
    buf = os.urandom(PAGE)
    try:
        h.pwrite(buf, p * PAGE)
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", errno.ENOSPC):
            raise
        print(f"full after {p} pages")
        break
    data[p] = buf
else:
    sys.exit("the device never filled")

def slot_page(slot):
    with open(ovmap, "rb") as f:
        f.seek(PAGE + 16 * slot)
        page1, = struct.unpack("<Q", f.read(8))
    return page1 - 1

bad = 0
for slot in (0, 5):
    p = slot_page(slot)
    if p < 0 or p not in data:
        sys.exit(f"slot {slot} holds no page written here ({p})")
    buf = os.urandom(PAGE)
    try:
        h.pwrite(buf, p * PAGE)
    except nbd.Error as e:
        print(f"FAIL: rewriting page {p} (overflow slot {slot}) on the "
              f"full device: {e}")
        bad += 1
        continue
    if h.pread(PAGE, p * PAGE) != buf:
        print(f"FAIL: page {p} (slot {slot}) does not read back")
        bad += 1
    else:
        print(f"page {p} in overflow slot {slot}: rewritten on the full device")
# A page the device does not hold is still refused.
try:
    h.pwrite(os.urandom(PAGE), (16 * 256 - 1) * PAGE)
    print("FAIL: a new page was taken by the full device")
    bad += 1
except nbd.Error as e:
    if e.errno not in ("ENOSPC", errno.ENOSPC):
        print(f"FAIL: a new page on the full device: {e}")
        bad += 1
    else:
        print("a new page on the full device: ENOSPC")
h.shutdown()
sys.exit(1 if bad else 0)
PY
    fail "a page the full device holds could not be rewritten"
echo "overflow full: ok"
