#!/usr/bin/env bash
# A swap request never waits for ever on the pool.  A process attached to
# the pool (a cache daemon, a tool) stopped inside a header lock while a
# repair of the swap half is due keeps the server's grower from
# repairing: the server's reads and writes must then fail with EIO
# within the bound (twice TMEM_SERVED_WAIT_MS, shortened here) and change
# nothing, and once the process goes on the grower repairs and the data
# written before reads back.
. ./functions.sh
requires nbdkit --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"
requires test -x ./ctl-put

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# In the foreground, so that its log (the plugin's errors) stays here.
TMEM_SERVED_WAIT_MS=500 nbdkit -f --log=stderr -U "$tmp/sock" \
    "$TMEM_PLUGIN" size=1M pool=$pool pool-size=64M 2>"$tmp/log" &
pid=$!
cleanup_fn "kill $pid 2>/dev/null"
wait_for 10 test -S "$tmp/sock" || { cat "$tmp/log"; fail "nbdkit"; }
uri="nbd+unix:///?socket=$tmp/sock"

qemu-io -f raw -c 'write -P 0xaa 0 64k' "$uri" >/dev/null || fail "write"

./ctl-put "$pool" stall >"$tmp/stall.out" 2>"$tmp/stall.err" &
stall=$!
cleanup_fn "kill -CONT $stall 2>/dev/null; kill $stall 2>/dev/null"
wait_for 10 grep -q stalled "$tmp/stall.out" ||
    fail "the stalling process did not start: $(cat "$tmp/stall.err")"
wait_for 10 grep -q '^State:.*stopped' "/proc/$stall/status" ||
    fail "the stalling process did not stop"

for op in 'read 0 4k' 'write -P 0x55 4k 4k'; do
    start=$(date +%s%N)
    if timeout 30 qemu-io -f raw -c "$op" "$uri" >"$tmp/out" 2>&1 &&
       ! grep -q 'failed' "$tmp/out"; then
        cat "$tmp/out" >&2
        fail "'$op' with the repair held up succeeded"
    fi
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    grep -q 'Input/output error' "$tmp/out" || {
        cat "$tmp/out" >&2
        fail "'$op' with the repair held up: not EIO"
    }
    echo "'$op' with the repair held up: EIO after $ms ms"
    [ "$ms" -lt 10000 ] || fail "'$op' waited $ms ms"
done
wait_for 5 grep -q "did not repair or check it in time" "$tmp/log" ||
    { cat "$tmp/log" >&2; fail "the server did not say why"; }

# The process goes on and lets go: the grower repairs; the refused write
# changed nothing.
kill -CONT "$stall"
wait "$stall" || fail "the stalling process failed: $(cat "$tmp/stall.err")"
qemu-io -f raw -c 'read -P 0xaa 0 64k' "$uri" >"$tmp/out" 2>&1 &&
    ! grep -q 'failed' "$tmp/out" ||
    { cat "$tmp/out" >&2; fail "the data written before does not read back"; }
kill "$pid"
echo "stall: ok"
