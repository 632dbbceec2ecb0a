#!/bin/bash
# tmemctl check on a pool a server serves runs in the server: its grower
# thread does the stop-the-world walk and tmemctl prints what it found,
# naming the server.  With the server stopped (SIGSTOP), tmemctl neither
# waits for ever nor checks itself: it fails within the bound, naming the
# server's pid.  With no server left, tmemctl checks by itself.
. ./functions.sh

[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
seg=$(unique_segment)
tmp=$(mktemp_dir)

./ctl-put "$seg" fill || fail "ctl-put fill"
./ctl-put "$seg" serve > "$tmp/serve.out" 2> "$tmp/serve.err" &
pid=$!
cleanup_fn "kill -CONT $pid 2>/dev/null; kill $pid 2>/dev/null"
wait_for 10 grep -q attached "$tmp/serve.out" ||
    fail "the server did not start: $(cat "$tmp/serve.err")"

expect 0 "" "$TMEMCTL" check --segment "$seg"
grep -q "^segment $seg: checked by the grower of pid $pid, which serves it: 0 problems" \
    "$tmp/out" || fail "check on a served pool: $(cat "$tmp/out")"
grep -q "^segment $seg: consistent" "$tmp/out" || fail "check: $(cat "$tmp/out")"

# A stopped server: the check fails within the bound (shortened here),
# naming it; tmemctl did not check by itself.
kill -STOP "$pid"
start=$(date +%s)
expect 1 "the pool is served by pid $pid, whose grower has not checked it" \
    env TMEM_SERVED_WAIT_MS=1000 "$TMEMCTL" check --segment "$seg"
[ $(( $(date +%s) - start )) -le 5 ] || fail "the failing check took too long"
grep -q "cannot check" "$tmp/err" || fail "check: $(cat "$tmp/err")"
kill -CONT "$pid"

# No server: tmemctl checks by itself.
kill "$pid"
wait "$pid" 2>/dev/null || true
expect 0 "" "$TMEMCTL" check --segment "$seg"
grep -q "checked by" "$tmp/out" && fail "check without a server: $(cat "$tmp/out")"
grep -q "^segment $seg: consistent" "$tmp/out" || fail "check: $(cat "$tmp/out")"
echo "served: ok"
