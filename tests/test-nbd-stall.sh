#!/usr/bin/env bash
# A swap request never waits for ever on the pool.  A process attached to
# the pool (a cache daemon, a tool) stopped inside a header lock while a
# repair of the swap half is due keeps the server's grower from
# repairing: the server's reads and writes must then fail with EIO
# within the bound (twice TMEM_SERVED_WAIT_MS, shortened here) and change
# nothing; after the first, within a tenth of that.  Once the process
# goes on, the
# grower repairs and the data written before reads back.
. ./functions.sh
requires nbdkit --version
requires qemu-io --version
requires qemu-img --version
requires test -e "$TMEM_PLUGIN"
requires test -x ./ctl-put
# TMEM_SERVED_WAIT_MS is a test hook: without it the bound is 20 s.
requires_test_hooks

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# In the foreground, so that its log (the plugin's errors) stays here.
TMEM_SERVED_WAIT_MS=500 nbdkit -f --log=stderr -U "$tmp/sock" \
    "$TMEM_PLUGIN" size=1M pool=$pool pool-size=64M 2>"$tmp/log" &
pid=$!
cleanup_fn "kill $pid 2>/dev/null"
wait_for 10 test -S "$tmp/sock" || { cat "$tmp/log"; fail "nbdkit"; }
uri="nbd+unix:///?socket=$tmp/sock"

# Pages that compress (blobs, not same-filled entries).
seq 1 20000 > "$tmp/data"
qemu-io -f raw -c "write -s $tmp/data 0 64k" "$uri" >/dev/null || fail "write"
head -c 4096 /dev/urandom > "$tmp/new"

ctl_put_stall "$pool" stall "$tmp"

for op in 'read 0 4k' "write -s $tmp/new 4k 4k" 'read 8k 4k'; do
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
wait_for 5 grep -q "the pool's repair is held up" "$tmp/log" ||
    { cat "$tmp/log" >&2; fail "the server did not say why"; }

# The process goes on and lets go: the grower repairs (after its
# back-off); the refused write changed nothing.
kill -CONT "$stall"
wait "$stall" || fail "the stalling process failed: $(cat "$tmp/stall.err")"
head -c 65536 "$tmp/data" > "$tmp/want"
# Requests may still give up until the repair has run: try for 10 s.
wait_for 10 qemu-img compare -f raw -F raw "$tmp/want" "$uri" || {
    qemu-img compare -f raw -F raw "$tmp/want" "$uri" >&2
    fail "the data written before does not read back"
}
kill "$pid"
echo "stall: ok"
