#!/usr/bin/env bash
# A write the pool refuses because its grower fell behind, not because it
# is full: with the grower stopped for 3 s the first time its reserve runs
# low (TMEM_GROWER_STALL_MS, a test hook), a 1 MiB write of random pages
# waits its 200 ms for a chunk and gets ENOSPC.  The log says so, with what
# the grower was doing and for how long — not that the pool is full — and
# the counters count it apart.  Once the grower is back new pages are
# taken again, and everything acknowledged reads back.  Held up while it
# faults chunks or records in (TMEM_GROWER_STALL_IN=faulting, records), the
# grower is waited for up to a second, and once a write waits on it goes
# on waiting whatever the grower does next (below).
. ./functions.sh
requires_test_hooks
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd
tmp=$(mktemp_dir)
cat > "$tmp/late.py" <<'PY'
import nbd, os, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
blk = 1 << 20
# 1 MiB writes until one is refused: it must be the first, or with
# argv[2] = N one of the first N (the stall may begin with a reserve
# left, which the writes go through first).
tries = int(sys.argv[2]) if len(sys.argv) > 2 else 1
written = []
for i in range(tries):
    d = os.urandom(blk)
    t0 = time.monotonic()
    try:
        h.pwrite(d, i * blk)
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", 28):
            raise
        break
    written.append(d)
else:
    print("first write taken" if tries == 1 else "%d writes taken" % tries)
    sys.exit(1)
print("refused after %.0f ms" % ((time.monotonic() - t0) * 1000))
time.sleep(4)
base = len(written) + 1
data = [os.urandom(blk) for _ in range(4)]
for i, d in enumerate(data):
    h.pwrite(d, (base + i) * blk)
for i, d in enumerate(written + [None] + data):
    assert d is None or h.pread(blk, i * blk) == d, i
print("4 MiB taken and read back after the stall")
PY
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
TMEM_GROWER_STALL_MS=3000 nbdkit -v -U - "$TMEM_PLUGIN" size=32M pool=$pool \
    pool-size=16M --run "'$py' '$tmp/late.py' \"\$uri\"" \
    > "$tmp/out" 2> "$tmp/log" || fail "$(cat "$tmp/out"; grep -v 'debug: \(pread\|pwrite\)' "$tmp/log" | tail -20)"
cat "$tmp/out"
said=$(grep -o "refused (ENOSPC) after waiting [0-9]* ms for the pool's grower with room left: it has been [a-z ]* for [0-9]* ms" "$tmp/log") ||
    fail "no word of the late grower: $(grep -v 'debug: \(pread\|pwrite\)' "$tmp/log" | tail -20)"
echo "log: $said"
[[ $said =~ waiting\ ([0-9]+)\ ms.*been\ growing\ for\ ([0-9]+)\ ms ]] ||
    fail "the grower was not said to be growing: $said"
[ "${BASH_REMATCH[1]}" -ge 200 ] || fail "refused after ${BASH_REMATCH[1]} ms, not the whole wait"
# The stall may begin a little after the write starts waiting.
[ "${BASH_REMATCH[2]}" -ge 100 ] || fail "the grower was said to be growing for only ${BASH_REMATCH[2]} ms"
! grep -q "the pool is full" "$tmp/log" || fail "a late grower was reported as a full pool"
grep -q "refused after the whole wait with room left [1-9]" "$tmp/log" ||
    fail "not counted: $(grep 'no space' "$tmp/log")"

# Where the grower is held up in the kernel's allocator (the hook stalls it
# while it faults chunks in, as reclaim does), a write waits on for it, up
# to a second from its first refusal, rather than fail: stalled 600 ms, the
# write is taken; stalled 3 s, it is refused after about a second, and the
# log says the grower was faulting chunks in.
cat > "$tmp/taken.py" <<'PY'
import nbd, os, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
blk = 1 << 20
data = os.urandom(blk)
t0 = time.monotonic()
h.pwrite(data, 0)
print("taken after %.0f ms" % ((time.monotonic() - t0) * 1000))
assert h.pread(blk, 0) == data
PY
# stalled MS IN SCRIPT [N]: serve a 32M device on a 24M pool whose
# grower the hook stalls MS ms at IN, and run SCRIPT (with N) against it;
# its output in $tmp/out, nbdkit's in $tmp/log.
stalls=0
stalled ()
{
    local pool
    stalls=$((stalls + 1))
    pool=$(unique_segment)-$stalls
    TMEM_GROWER_STALL_MS=$1 TMEM_GROWER_STALL_IN=$2 nbdkit -v -U - "$TMEM_PLUGIN" \
        size=32M pool=$pool pool-size=24M --run "'$py' '$tmp/$3' \"\$uri\" ${4:-1}" \
        > "$tmp/out" 2> "$tmp/log" ||
        fail "stalled $1 ms at $2: $(cat "$tmp/out"; grep -v 'debug: \(pread\|pwrite\)' "$tmp/log" | tail -20)"
    cat "$tmp/out"
}

# refused_after STEP: the milliseconds the late-grower line says a write
# waited, the grower said to be at STEP (a regex).
refused_after ()
{
    local said
    said=$(grep -o "refused (ENOSPC) after waiting [0-9]* ms for the pool's grower with room left: it has been $1 for [0-9]* ms" "$tmp/log") ||
        fail "no word of the grower $1: $(grep -v 'debug: \(pread\|pwrite\)' "$tmp/log" | tail -20)"
    echo "log: $said" >&2
    [[ $said =~ waiting\ ([0-9]+)\ ms ]]
    echo "${BASH_REMATCH[1]}"
}

stalled 600 faulting taken.py
! grep -q "refused (ENOSPC)" "$tmp/log" || fail "stalled 600 ms while faulting: a write was refused"
grep -q "waited on for the grower's allocation [1-9]" "$tmp/log" ||
    fail "no write waited for the grower's allocation: $(grep 'no space' "$tmp/log")"

stalled 3000 faulting late.py
ms=$(refused_after "faulting chunks in")
[ "$ms" -ge 1000 ] || fail "refused after $ms ms, before a second of waiting for the grower's allocation"

# The kernel's allocator holds the grower while it faults in records too:
# a write whose reserve ran dry then waits on as well, a second in all.
# (The grower gets there with the chunks it just faulted in, and its
# reserve: the writes go through those first, up to 12 MiB.)
stalled 3000 records late.py 12
ms=$(refused_after "faulting in records")
[ "$ms" -ge 1000 ] || fail "refused after $ms ms, before a second of waiting for the grower faulting in records"

# A write that waits on goes on waiting when the grower leaves the
# allocator with the reserve still empty (in the guest: the chunk went to
# another waiting write, and the grower is compacting before its next
# fault).  Here the hook holds it 800 ms faulting, then 800 ms more before
# the chunk joins the reserve: a write refused while it faults waits a
# whole second, where it used to stop as soon as the fault ended.
stalled 800 faulting,faulted late.py
if grep -q "waited on for the grower's allocation [1-9]" "$tmp/log"; then
    ms=$(refused_after "[a-z ]*")
    [ "$ms" -ge 1000 ] || fail "refused after $ms ms: stopped waiting when the grower left the allocator"
else
    # The write came after the fault (a slow start of the client): it
    # never saw the grower allocate, which is not what this case tests.
    echo "the write started after the stalled fault: case not exercised"
fi
