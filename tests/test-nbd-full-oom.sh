#!/usr/bin/env bash
# [swap] full-oom: a server whose pool is full asks the kernel's OOM
# killer to act (appends "f" to /proc/sysrq-trigger, here to a file of the
# test's own, TMEM_SYSRQ_TRIGGER) only when, for full-oom seconds in a
# row, writes were refused because the device is full, nothing was read,
# few writes were taken (at most one for four refused), and the "full"
# total of memory pressure (PSI, here a file the test writes in the
# kernel's format, TMEM_PSI_MEMORY) grew by at least a quarter of those
# seconds:
#   - refusals only, every task stalled 80% of the time: asked, once per
#     hold-off, and the log says why;
#   - refusals with a zero page taken for every five refused (what a
#     full pool still takes: pages that need no room): asked;
#   - refusals of two-page writes whose first page (a zero page) a full
#     pool takes: asked (a write refused in part is refused whole: the
#     kernel gets the error for all its pages, and none moved);
#   - refusals with a read every 100 ms: not asked (the swap still moves);
#   - refusals with a zero page taken for every one refused: not asked
#     (the swap still moves, slowly);
#   - refusals only, stalled 10% of the time: not asked;
#   - naps of 2.5 s (a stalled machine's) and full-oom=5: asked within
#     5 s of refusals, not after five naps;
#   - full-oom=0: not asked;
#   - asked once in 8 s of refusals (the hold-off);
#   - a client over TCP from an address other than the loopback: not
#     asked, and the log says why.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd
tmp=$(mktemp_dir)
cat > "$tmp/refuse.py" <<'PY'
import nbd, nbd_fill, os, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
mode, seconds, trigger = sys.argv[2], float(sys.argv[3]), sys.argv[4]
size = h.get_size()
# Page 0 zero: rewriting it is a write a full pool still takes (a zero
# page needs no room, and it frees none).  So is the last page but one,
# held as a zero page before the pool filled, for 'partial'.
h.pwrite(bytes(4096), size - 8192)
assert nbd_fill.fill(h, data=bytes(4096) + os.urandom(size - 4096)) < size, \
    "the pool never filled"
refused = 0
start = time.monotonic()
end = start + seconds
# Until the deadline, or (when asked for one) the first kill asked for.
while time.monotonic() < end:
    if mode in ("until", "trickle", "partial") and \
            os.path.getsize(trigger) > 0:
        break
    if mode == "partial":
        write = (bytes(4096) + os.urandom(4096), size - 8192)
    else:
        write = (os.urandom(4096), size - 4096)
    if not nbd_fill.refused(h, *write):
        sys.exit("a new page was taken with the pool full")
    refused += 1
    if mode == "read":
        h.pread(4096, 0)
    if mode == "taking" or (mode == "trickle" and refused % 5 == 0):
        h.pwrite(bytes(4096), 0)
    time.sleep(0.1)
# Refused writes, and the seconds from the pool's filling to the end.
print(refused, round(time.monotonic() - start, 1))
PY
# The kernel's format; "full" grows by pct% of real time, rewritten every
# 200 ms in place at a fixed width (the plugin preads the same file, and
# must never find it empty or short).
psi_writer ()
{
    local file=$1 pct=$2 t0 now us
    t0=${EPOCHREALTIME//[!0-9]/}
    : > "$file"
    while :; do
        now=${EPOCHREALTIME//[!0-9]/}
        us=$(( (now - t0) * pct / 100 ))
        printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=%020d\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=%020d\n' \
            "$us" "$us" 1<> "$file"
        sleep 0.2
    done
}
# Start the writer for file at pct%; its pid in wpid, once the file has
# its first lines.
start_psi ()
{
    psi_writer "$1" "$2" &
    wpid=$!
    cleanup_fn "kill $wpid 2>/dev/null"
    while [ ! -s "$1" ]; do sleep 0.05; done
}
run ()
{
    local name=$1 mode=$2 secs=$3 pct=$4 full_oom=$5 pool wpid
    pool=$(unique_segment)-$name
    cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
    : > "$tmp/sysrq-$name"
    start_psi "$tmp/psi-$name" "$pct"
    TMEM_SYSRQ_TRIGGER="$tmp/sysrq-$name" TMEM_PSI_MEMORY="$tmp/psi-$name" \
        nbdkit -U - "$TMEM_PLUGIN" size=32M pool=$pool pool-size=8M \
        full-oom="$full_oom" \
        --run "'$py' '$tmp/refuse.py' \"\$uri\" $mode $secs '$tmp/sysrq-$name'" \
        > "$tmp/out-$name" 2> "$tmp/log-$name" ||
        fail "$name: $(grep -v warning "$tmp/log-$name")"
    kill "$wpid" 2>/dev/null || true
    read -r refused elapsed < "$tmp/out-$name"
    echo "$name: $refused writes refused in $elapsed s; asked: '$(cat "$tmp/sysrq-$name")'"
}
# Loaded CI machines deschedule: the first case waits up to 20 s for the
# request (2 s needed), the others run 4 s (two windows of 2 s each).
run stalled until 20 80 2
grep -q '^f' "$tmp/sysrq-stalled" || fail "stalled: no OOM kill asked for: $(cat "$tmp/log-stalled")"
grep -q 'full-oom: for [0-9]* s writes were refused (the pool is full), nothing was read, 0 writes were taken against [0-9]* refused, and every task waited for memory [0-9]*% of that time: asked the kernel' "$tmp/log-stalled" ||
    fail "stalled: the log does not say why: $(cat "$tmp/log-stalled")"
# The window is full-oom seconds by the clock: on a stalled machine a 1 s
# nap takes longer, and five samples of 2.5 s are not a window of 5 s.
# (TMEM_TEST_OOM_SAMPLE_MS: a test hook.)
if grep -q '^#define TMEM_TEST_HOOKS 1' "$abs_top_builddir/config.h"; then
    export TMEM_TEST_OOM_SAMPLE_MS=2500
    run stretched until 20 80 5
    unset TMEM_TEST_OOM_SAMPLE_MS
    grep -q '^f' "$tmp/sysrq-stretched" || fail "stretched: no OOM kill asked for: $(cat "$tmp/log-stretched")"
    awk -v e="$elapsed" 'BEGIN { exit !(e < 9) }' ||
        fail "stretched: asked $elapsed s after the pool filled, with full-oom=5 and naps of 2.5 s (a window counted in naps, not seconds?)"
else
    echo "stretched: built without test hooks: not checked"
fi
run trickle trickle 20 80 2
grep -q '^f' "$tmp/sysrq-trickle" || fail "trickle: no OOM kill asked for with one zero page taken for five refused: $(cat "$tmp/log-trickle")"
run partial partial 20 80 2
grep -q '^f' "$tmp/sysrq-partial" || fail "partial: no OOM kill asked for with every write refused, if in part taken: $(cat "$tmp/log-partial")"
run reading read 4 80 2
[ ! -s "$tmp/sysrq-reading" ] || fail "reading: asked for an OOM kill while reads were answered"
run taking taking 4 80 2
[ ! -s "$tmp/sysrq-taking" ] || fail "taking: asked for an OOM kill while a write was taken for every one refused"
run calm refuse 4 10 2
[ ! -s "$tmp/sysrq-calm" ] || fail "calm: asked for an OOM kill with tasks stalled 10% of the time"
run off refuse 3 80 0
[ ! -s "$tmp/sysrq-off" ] || fail "off: asked for an OOM kill with full-oom=0"
# Asked once, then not again within the hold-off (10 s) while refusals
# go on: the kill needs time to free memory.
run holdoff refuse 8 80 2
[ "$(tr -d '\n' < "$tmp/sysrq-holdoff")" = f ] || fail "holdoff: asked '$(cat "$tmp/sysrq-holdoff")' in 8 s, not once"
# A client over TCP that is not on this machine is another kernel: never
# asked.  This machine's own address other than the loopback stands in
# for another machine's (the server cannot tell).
addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
if [ -n "$addr" ]; then
    pool=$(unique_segment)-tcp
    cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
    : > "$tmp/sysrq-tcp"
    start_psi "$tmp/psi-tcp" 80
    port=$(free_port)
    TMEM_SYSRQ_TRIGGER="$tmp/sysrq-tcp" TMEM_PSI_MEMORY="$tmp/psi-tcp" \
        nbdkit -i "$addr" -p "$port" "$TMEM_PLUGIN" size=32M pool=$pool \
        pool-size=8M full-oom=2 \
        --run "'$py' '$tmp/refuse.py' nbd://$addr:$port refuse 4 '$tmp/sysrq-tcp'" \
        > "$tmp/out-tcp" 2> "$tmp/log-tcp" ||
        fail "tcp: $(grep -v warning "$tmp/log-tcp")"
    kill "$wpid" 2>/dev/null || true
    [ ! -s "$tmp/sysrq-tcp" ] || fail "tcp: asked for an OOM kill for a client at $addr"
    grep -q 'full-oom: the pool is full, but a client came over the network' "$tmp/log-tcp" ||
        fail "tcp: the log does not say why none was asked: $(cat "$tmp/log-tcp")"
    echo "tcp: a client at $addr: not asked, and the log says why"
else
    echo "tcp: no address but the loopback here: not checked"
fi
echo "full-oom: ok"
