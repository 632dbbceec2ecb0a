#!/usr/bin/env bash
# [swap] full-oom: a server whose pool is full asks the kernel's OOM
# killer to act (a write of "f" to /proc/sysrq-trigger, here to a file of
# the test's own, TMEM_SYSRQ_TRIGGER) only when, for full-oom seconds in a
# row, every write was refused for want of room and nothing was read or
# taken, and memory pressure (PSI "full", faked here with
# -D tmem.oom_psi_full) shows every task waiting:
#   - refusals only, pressure 50%: asked, and the log says why;
#   - refusals with a read every 100 ms: not asked (the swap still moves);
#   - refusals only with this machine's own pressure (near 0): not asked;
#   - full-oom=0: not asked.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires test -r /proc/pressure/memory
requires_python_nbd
tmp=$(mktemp_dir)
cat > "$tmp/refuse.py" <<'PY'
import nbd, os, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
mode, seconds = sys.argv[2], float(sys.argv[3])
blk = 1 << 20
size = h.get_size()
off = 0
while off < size:
    try:
        h.pwrite(os.urandom(blk), off)
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", 28):
            raise
        break
    off += blk
assert off < size, "the pool never filled"
refused = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        h.pwrite(os.urandom(4096), size - 4096)
        sys.exit("a new page was taken with the pool full")
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", 28):
            raise
        refused += 1
    if mode == "read":
        h.pread(4096, 0)
    time.sleep(0.1)
print(refused)
PY
run ()
{
    local name=$1 mode=$2 secs=$3 psi=$4 full_oom=$5
    local pool debug=()
    pool=$(unique_segment)-$name
    cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
    [ "$psi" = - ] || debug=(-D tmem.oom_psi_full="$psi")
    : > "$tmp/sysrq-$name"
    TMEM_SYSRQ_TRIGGER="$tmp/sysrq-$name" \
        nbdkit -U - "${debug[@]}" "$TMEM_PLUGIN" size=32M pool=$pool \
        pool-size=8M full-oom="$full_oom" \
        --run "'$py' '$tmp/refuse.py' \"\$uri\" $mode $secs" \
        > "$tmp/out-$name" 2> "$tmp/log-$name" ||
        fail "$name: $(grep -v warning "$tmp/log-$name")"
    echo "$name: $(cat "$tmp/out-$name") writes refused in ${secs}s; asked: '$(cat "$tmp/sysrq-$name")'"
}
run stalled refuse 4 50 2
grep -q '^f' "$tmp/sysrq-stalled" || fail "stalled: no OOM kill asked for: $(cat "$tmp/log-stalled")"
grep -q 'full-oom: for [0-9]* s every write was refused.*50\.00% of the last 10 s: asked the kernel' "$tmp/log-stalled" ||
    fail "stalled: the log does not say why: $(cat "$tmp/log-stalled")"
run reading read 4 50 2
[ ! -s "$tmp/sysrq-reading" ] || fail "reading: asked for an OOM kill while reads were answered"
own=$(awk '/^full/ { sub("avg10=", "", $2); print $2 }' /proc/pressure/memory)
run calm refuse 4 - 2
[ ! -s "$tmp/sysrq-calm" ] || fail "calm: asked for an OOM kill at this machine's pressure ($own%)"
run off refuse 3 50 0
[ ! -s "$tmp/sysrq-off" ] || fail "off: asked for an OOM kill with full-oom=0"
echo "full-oom: ok"
