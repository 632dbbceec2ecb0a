#!/usr/bin/env bash
# A write the pool refuses because its grower has not mapped in the index
# records it needs, on a pool whose chunks are all taken: the chunks have
# room for what it stores (same-filled pages need none), so the pool is
# not full.  The pool is filled with random pages by one server; a second
# one serves it with its grower held up 3 s before it maps records in
# (TMEM_GROWER_STALL_IN=records, a test hook).  Same-filled pages go
# through the records it mapped at start, then a write is refused after
# the grower's whole wait (a second: it is faulting records in), said and
# counted as a late grower, not as a full pool; and once the grower is
# back, new pages are taken again.
. ./functions.sh
requires_test_hooks
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd
tmp=$(mktemp_dir)
cat > "$tmp/fill.py" <<'PY'
import nbd, os, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
blk = 1 << 20
for i in range(h.get_size() // blk):
    try:
        h.pwrite(os.urandom(blk), i * blk)
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", 28):
            raise
        break
else:
    sys.exit("the pool never filled")
open(sys.argv[2], "w").write(str(i))
print("full after %d MiB" % i)
PY
cat > "$tmp/records.py" <<'PY'
import nbd, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
blk = 1 << 20
first = int(open(sys.argv[2]).read()) + 1
same = bytes([0x5a]) * blk
for i in range(first, h.get_size() // blk - 1):
    t0 = time.monotonic()
    try:
        h.pwrite(same, i * blk)
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", 28):
            raise
        break
else:
    sys.exit("no write was refused")
print("refused after %d MiB, %.0f ms" %
      (i - first, (time.monotonic() - t0) * 1000))
time.sleep(4)
try:
    h.pwrite(same, (i + 1) * blk)
except nbd.Error as e:
    sys.exit("a new page refused after the stall (%s): the device was "
             "taken for full" % e.errno)
assert h.pread(blk, (i + 1) * blk) == same
print("taken after the stall")
PY
pool=$(unique_segment)
# serve SCRIPT [VAR=VALUE...]: a 64M device on the 16M pool, SCRIPT run
# against it in the environment given; its output in $tmp/out, nbdkit's in
# $tmp/log.
serve ()
{
    local script=$1
    shift
    env "$@" nbdkit -v -U - "$TMEM_PLUGIN" size=64M pool=$pool pool-size=16M \
        --run "'$py' '$tmp/$script' \"\$uri\" '$tmp/full'" \
        > "$tmp/out" 2> "$tmp/log" ||
        fail "$script: $(cat "$tmp/out"; grep -v 'debug:' "$tmp/log" | tail -20)"
    cat "$tmp/out"
}
serve fill.py
serve records.py TMEM_GROWER_STALL_MS=3000 TMEM_GROWER_STALL_IN=records
! grep -q "the pool is full" "$tmp/log" ||
    fail "a grower late with records was reported as a full pool: $(grep 'no space' "$tmp/log")"
said=$(grep -o "refused (ENOSPC) after waiting [0-9]* ms for the pool's grower with room left: it has been faulting in records for [0-9]* ms" "$tmp/log") ||
    fail "no word of the late grower: $(grep -v 'debug: \(pread\|pwrite\)' "$tmp/log" | tail -20)"
echo "log: $said"
[[ $said =~ waiting\ ([0-9]+)\ ms ]] && [ "${BASH_REMATCH[1]}" -ge 1000 ] ||
    fail "refused before a second of waiting for the grower faulting in records"
grep -q "refused after the whole wait with room left [1-9]" "$tmp/log" ||
    fail "not counted: $(grep 'no space' "$tmp/log")"
