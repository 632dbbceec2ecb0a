#!/usr/bin/env bash
# "Full" means full: a device twice the pool's size, written with random
# 1 MiB blocks as fast as the client goes, is refused (ENOSPC) only once
# the pool is full: every block but the one that did not fit is taken,
# within two chunks of the ceiling (one chunk is left to compaction, the
# label takes one), for 4M, 16M and 64M pools.
# Everything acknowledged reads back, and the log says how large a device
# the pool can hold (the rest of it looks like free swap to the kernel).
# The metadata, the grower's reserve
# and a margin once counted against the ceiling and refused early.  Once
# full, a zero page for a page never written is refused too, until a trim
# gives room back.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd
tmp=$(mktemp_dir)
cat > "$tmp/fill.py" <<'PY'
import nbd, nbd_fill, os, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
blk = 1 << 20
data = os.urandom(h.get_size())
off = nbd_fill.fill(h, blk, data)
for o in range(0, off, blk):
    assert h.pread(blk, o) == data[o:o + blk], o
print(off)
PY
for mb in 4 16 64; do
    pool=$(unique_segment)-$mb; cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
    acked=$(nbdkit -U - "$TMEM_PLUGIN" size=$((mb * 2))M pool=$pool \
                pool-size=${mb}M --run "'$py' '$tmp/fill.py' \"\$uri\"" \
                2> "$tmp/log") || fail "${mb}M: $(grep -v warning "$tmp/log")"
    ceiling=$((mb << 20))
    want=$((ceiling - (1 << 20) - 2 * 65536))
    echo "pool ${mb}M: $acked bytes taken before ENOSPC (at least $want)"
    [ "$acked" -lt "$ceiling" ] || fail "${mb}M: more than the ceiling taken"
    [ "$acked" -ge "$want" ] || fail "${mb}M: refused at $acked, the pool was not full"
    # Random pages are stored whole: the pool holds about a page per 4 KiB
    # of its size, half the device, and the log says what device it fits.
    fits=$(sed -n "s/.*this device's sub-pool holds [0-9]* pages of its $((mb * 512)) ([0-9]* bytes each): a device of about \([0-9]*\) MiB is what its room in the pool holds.*/\1/p" "$tmp/log")
    [ -n "$fits" ] || fail "${mb}M: no word of the device the pool can hold: $(grep -v warning "$tmp/log")"
    echo "pool ${mb}M: a device of about $fits MiB is what it can hold, says the log"
    [ "$fits" -le "$mb" ] && [ "$fits" -ge $((mb - 2)) ] || fail "${mb}M: a device of $fits MiB said to fit"
done
# The figure is the device's own: on a pool where another export holds
# 8 MiB, an export capped at max-share=4M is told about 4 MiB, not 12.
pool=$(unique_segment)-share; cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
nbdkit -U - "$TMEM_PLUGIN" size=8M pool=$pool pool-size=32M export=other \
    --run "'$py' '$tmp/fill.py' \"\$uri\"" > /dev/null 2> "$tmp/log" || fail "export other: $(grep -v warning "$tmp/log")"
nbdkit -U - "$TMEM_PLUGIN" size=32M pool=$pool max-share=4M export=capped \
    --run "'$py' '$tmp/fill.py' \"\$uri\"" > /dev/null 2> "$tmp/log" || fail "export capped: $(grep -v warning "$tmp/log")"
fits=$(sed -n "s/.*this device's sub-pool holds [0-9]* pages of its 8192 ([0-9]* bytes each): a device of about \([0-9]*\) MiB is what its room in the pool holds.*/\1/p" "$tmp/log")
echo "max-share 4M beside 8M of another export: a device of about $fits MiB, says the log"
[ -n "$fits" ] && [ "$fits" -le 4 ] && [ "$fits" -ge 2 ] || fail "max-share 4M: $(grep -v warning "$tmp/log")"
# Once full, the device refuses even what the pool could take without
# room (a zero page) for a page it does not hold, so that a kernel whose
# swap writes fail sees no progress and OOM-kills, rather than crawling on
# zero pages for ever (nbd-pages.c, dev_full).  A refused write, whole or
# partial, leaves the page as it was (no zeros where data was); zeroes
# into a page never written change nothing and are taken.  Over a page it
# holds, a zero page still goes through (it gives room back); after a trim
# returns room, new pages are taken again.
cat > "$tmp/latch.py" <<'PY'
import nbd, nbd_fill, os, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
size = h.get_size()
data = bytearray(os.urandom(size))
# The bytes the refused partial writes below aim at must change: neither
# 0xff (written) nor 0 (zeroed).
data[4096 * 5 + 100] = data[4096 * 6 + 100] = 0x5a
data = bytes(data)
off = nbd_fill.fill(h, data=data)
zero = bytes(4096)
def held(page):
    return h.pread(4096, 4096 * page) == data[4096 * page:4096 * (page + 1)]
fresh = size - 4096
def refused(o, data=zero):
    return nbd_fill.refused(h, data, o)
assert refused(fresh), "a zero page to a page never written was taken when full"
# New random data over a page the device holds: the pool has no room for
# it (its spare chunk is compaction's), and the refusal comes at its pace
# (20 ms), not after the 200 ms the plugin waits for a refilling grower,
# which cannot help a full pool (the best of three: not a benchmark, a
# wait that should not happen).
took = []
for k in range(3):
    t0 = time.monotonic()
    assert refused(4096 * (k + 1), os.urandom(4096)), "random data over a held page was taken when full"
    took.append(time.monotonic() - t0)
    # A refused write changes nothing: the page keeps its last write.
    assert held(k + 1), "a refused write over page %d lost its data" % (k + 1)
assert min(took) < 0.15, "a refused write over a held page took %.0f ms (waited for a refill?)" % (min(took) * 1000)
# Part of a held page: refused (the new page needs room), and the bytes it
# did not touch, as the ones it would have, are still the last write's.
assert refused(4096 * 5 + 100, b"\xff"), "a partial write over a held page was taken when full"
assert held(5), "a refused partial write lost the rest of its page"
try:
    h.zero(1, 4096 * 6 + 100)
    sys.exit("a partial zero over a held page was taken when full")
except nbd.Error as e:
    assert nbd_fill.nospace(e), e
assert held(6), "a refused partial zero lost the rest of its page"
# Zeroes into part of a page never written change nothing: taken.
h.zero(100, fresh - 4096 + 100)
h.pwrite(bytes(100), fresh - 4096 + 300)
assert h.pread(4096, fresh - 4096) == zero
h.pwrite(zero, 0)
assert h.pread(4096, 0) == zero
h.trim(off // 2, 0)
for k in range(100):
    if not refused(fresh):
        break
    time.sleep(0.05)
else:
    sys.exit("still refused 5 s after half the device was trimmed")
print("refused when full; taken %.2f s after the trim" % (k * 0.05))
PY
pool=$(unique_segment)-latch; cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
nbdkit -U - "$TMEM_PLUGIN" size=32M pool=$pool pool-size=16M \
    --run "'$py' '$tmp/latch.py' \"\$uri\"" 2> "$tmp/log" ||
    fail "full latch: $(grep -v warning "$tmp/log")"
echo "full: ok"
