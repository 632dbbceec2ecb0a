# Run by test-nbd-nbdsh.sh with python3-libnbd (as nbdsh would): trim, zero, fast
# zero, FUA, cache, extents and multi-conn semantics of tmem.so, checked
# against a model of the device kept here, plus requests past the end.
import os
import random
import sys

import nbd

P = 4096
HOLE = nbd.STATE_HOLE
ZERO = nbd.STATE_ZERO
uri = sys.argv[1]


def connect():
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(uri)
    return h


a = connect()
b = connect()
size = a.get_size()
model = bytearray(size)
rnd = random.Random(7)

assert a.can_multi_conn(), "multi-conn"
assert a.can_trim() and a.can_zero() and a.can_fast_zero()
assert a.can_fua() and a.can_flush() and a.can_cache()
assert a.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
assert a.get_block_size(nbd.SIZE_PREFERRED) == P
assert a.get_block_size(nbd.SIZE_MINIMUM) == 1


def extents(h, offset, count, flags=0):
    """[(offset, length, state)] as the server reports them."""
    got = []

    def cb(meta, off, entries, err):
        if meta == nbd.CONTEXT_BASE_ALLOCATION:
            pos = off
            for i in range(0, len(entries), 2):
                got.append((pos, entries[i], entries[i + 1]))
                pos += entries[i]
        return 0

    h.block_status(count, offset, cb, flags)
    return got


def state(h, offset):
    """The state of the byte at offset."""
    for off, length, st in extents(h, offset, min(P, size - offset)):
        if off <= offset < off + length:
            return st
    raise AssertionError("no extent covers %d" % offset)


def write(h, data, offset, flags=0):
    h.pwrite(data, offset, flags)
    model[offset:offset + len(data)] = data


def zero(h, count, offset, flags=0):
    h.zero(count, offset, flags)
    model[offset:offset + count] = bytes(count)


def check(h, offset=0, count=None):
    count = size - offset if count is None else count
    got = h.pread(count, offset)
    if got != bytes(model[offset:offset + count]):
        bad = next(i for i in range(count) if got[i] != model[offset + i])
        raise AssertionError("byte %d differs" % (offset + bad))


# A fresh device is one hole that reads as zeroes.
assert state(a, 0) == HOLE | ZERO
assert state(a, size - 1) == HOLE | ZERO
check(a)

# Written pages are data, and another connection sees them at once.
write(a, rnd.randbytes(16 * P), 0)
assert state(b, 5 * P) == 0
check(b, 0, 16 * P)

# FUA write, then flush.
write(a, b"F" * P, 20 * P, nbd.CMD_FLAG_FUA)
check(b, 20 * P, P)
a.flush()

# Trim of whole pages: holes reading as zero.
a.trim(2 * P, 3 * P)
model[3 * P:5 * P] = bytes(2 * P)
assert state(a, 3 * P) == HOLE | ZERO
assert state(a, 4 * P) == HOLE | ZERO
assert state(a, 5 * P) == 0
check(b, 0, 16 * P)
# A trim that covers no whole page changes nothing we can rely on but
# must not disturb its neighbours.
a.trim(100, 6 * P + 50)
assert a.pread(P, 5 * P) == bytes(model[5 * P:6 * P])
assert a.pread(P, 7 * P) == bytes(model[7 * P:8 * P])
model[6 * P + 50:6 * P + 150] = a.pread(100, 6 * P + 50)

# Zero without NO_HOLE may punch; with NO_HOLE it stays allocated but
# still reads (and is reported) as zero.
zero(a, 2 * P, 8 * P)
assert state(a, 8 * P) & ZERO
zero(a, 2 * P, 10 * P, nbd.CMD_FLAG_NO_HOLE)
assert state(a, 10 * P) == ZERO
# Fast zero succeeds (zeroing is always fast here), with FUA too.
zero(a, 2 * P, 12 * P, nbd.CMD_FLAG_FAST_ZERO)
zero(a, P, 14 * P, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_FUA)
assert state(a, 12 * P) & ZERO
# Unaligned zero: partial pages keep their other bytes.
zero(a, 3 * P + 10, P - 5)
check(b, 0, 24 * P)

# Unaligned writes across page boundaries from two connections at once,
# to different pages.
for i in range(200):
    off = rnd.randrange(32 * P, size - 3 * P)
    data = rnd.randbytes(rnd.randrange(1, 2 * P))
    write(a if i % 2 else b, data, off)
check(a)

# Four connections write disjoint pages in parallel; after one flush,
# every connection sees every write (what can_multi_conn promises).
hs = [connect() for _ in range(4)]
cookies = []
for i, h in enumerate(hs):
    for j in range(8):
        off = (64 + j * 4 + i) * P
        data = rnd.randbytes(P)
        model[off:off + P] = data
        cookies.append((h, h.aio_pwrite(nbd.Buffer.from_bytearray(data),
                                        off)))
for h, c in cookies:
    while not h.aio_command_completed(c):
        h.poll(-1)
hs[3].flush()
for h in hs:
    check(h, 64 * P, 32 * P)

# REQ_ONE: one extent, of one state.
ext = extents(a, 0, 16 * P, nbd.CMD_FLAG_REQ_ONE)
assert len(ext) == 1 and ext[0][0] == 0

# Cache is accepted and changes nothing.
a.cache(size, 0)
check(a)

# Requests past the end fail cleanly and the server carries on.
for fn in (lambda: a.pread(P, size),
           lambda: a.pread(2 * P, size - P),
           lambda: a.pwrite(b"x", size),
           lambda: a.zero(P, size),
           lambda: a.trim(P, size + P)):
    try:
        fn()
    except nbd.Error:
        pass
    else:
        raise AssertionError("a request past the end succeeded")
check(a)
check(b)

for h in [a, b] + hs:
    h.shutdown()
print("nbd-ops: all checks passed")
