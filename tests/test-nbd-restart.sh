#!/usr/bin/env bash
# The device lives in a persistent sub-pool named after the export: stop
# nbdkit, start it again on the same pool, and the data is all there; a
# second export on the same pool is a separate device; an index chain cut
# while it was stopped is relinked at the next start.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

python3 "$srcdir/nbd-corpus.py" "$tmp/corpus" 8 1 1
size=$(stat -c %s "$tmp/corpus")

# The first server runs as a daemon (nbdkit forks into the background
# between .get_ready and .after_fork) and is stopped with SIGTERM.
nbdkit -U "$tmp/sock" -P "$tmp/pid" "$TMEM_PLUGIN" size=$size pool=$pool \
       pool-size=64M
pid=$(cat "$tmp/pid")
cleanup_fn "kill $pid 2>/dev/null"
nbdcopy "$tmp/corpus" "nbd+unix:///?socket=$tmp/sock"
kill "$pid"
wait_for 10 sh -c "! kill -0 $pid" || fail "nbdkit did not exit on SIGTERM"
# The same keys, a new process: same data.
nbdkit -U - "$TMEM_PLUGIN" size=$size pool=$pool pool-size=64M \
       --run "nbdcopy \"\$uri\" '$tmp/back'"
cmp "$tmp/corpus" "$tmp/back"

# An index chain cut while the server was stopped (one link made zero, as
# dd would): the start-up verification finds the stripe short and the
# repair relinks it before it is served: the same data, never zeros.
if [ -x ./ctl-put ]; then
    n=$(./ctl-put "$pool" cut) || fail "ctl-put cut"
    [ "$n" -gt 0 ] || fail "no chain to cut"
    nbdkit -U - "$TMEM_PLUGIN" size=$size pool=$pool pool-size=64M \
           --run "nbdcopy \"\$uri\" '$tmp/back'" 2> "$tmp/log" ||
        fail "after the cut: $(cat "$tmp/log")"
    grep -q "cut off their chains" "$tmp/log" ||
        fail "no message for the cut chain: $(cat "$tmp/log")"
    cmp "$tmp/corpus" "$tmp/back" || fail "$n entries cut off: wrong data"
    echo "cut chain: $n entries relinked"
fi

# Another export on the same pool starts empty and leaves the first alone.
nbdkit -U - "$TMEM_PLUGIN" size=$size pool=$pool export=other \
       --run "nbdcopy \"\$uri\" '$tmp/other' &&
              qemu-io -f raw -c 'write -P 0xaa 0 1M' \"\$uri\" >/dev/null"
cmp -n "$size" "$tmp/other" /dev/zero
nbdkit -U - "$TMEM_PLUGIN" size=$size pool=$pool \
       --run "nbdcopy \"\$uri\" '$tmp/back2'"
cmp "$tmp/corpus" "$tmp/back2"

# reset=true drops what the export held.
nbdkit -U - "$TMEM_PLUGIN" size=$size pool=$pool reset=true \
       --run "nbdcopy \"\$uri\" '$tmp/back3'"
cmp -n "$size" "$tmp/back3" /dev/zero
