#!/usr/bin/env bash
# One server per export, even when the export's lock file is removed
# while a server starts: tmemctl destroy --subpool removes an unheld lock
# file, and a start that fails removes the one it made.  A server that
# opened the file just before it went, and locked it just after, holds a
# lock on a file no one else will open: a second server would make a new
# file, lock that, and serve the same sub-pool beside the first.  The
# first must find that the file it locked is no longer the export's, and
# lock the one at the path.  A test hook (TMEM_TEST_LOCK_PAUSE_MS) holds
# the first server between its open and its lock while the file goes.
# Then the other way round: a server that made the file but lost it to
# another before its lock must fail without removing the file the other
# holds.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_test_hooks

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
lock=/dev/shm/$pool.nbd-race.lock

TMEM_TEST_LOCK_PAUSE_MS=4000 nbdkit -U "$tmp/sock1" -P "$tmp/pid1" \
    "$TMEM_PLUGIN" size=1M pool=$pool pool-size=16M export=race \
    2>"$tmp/err1" &
starter=$!
cleanup_fn "kill \$(cat '$tmp/pid1' 2>/dev/null) 2>/dev/null"
wait_for 10 test -e "$lock" || fail "the first server made no lock file"
rm -f "$lock"   # as tmemctl destroy --subpool would, the file unheld
wait "$starter" || fail "the first server did not start: $(cat "$tmp/err1")"
test -e "$lock" || fail "the first server serves without a lock file at $lock"

if nbdkit -U "$tmp/sock2" -P "$tmp/pid2" "$TMEM_PLUGIN" size=1M pool=$pool \
       export=race 2>"$tmp/err2"; then
    kill "$(cat "$tmp/pid2")"
    fail "a second server started on export race beside the first"
fi
grep -q 'already being served' "$tmp/err2" ||
    fail "the second server failed otherwise: $(cat "$tmp/err2")"
kill "$(cat "$tmp/pid1")"
for _ in $(seq 50); do kill -0 "$(cat "$tmp/pid1")" 2>/dev/null || break; sleep 0.1; done
rm -f "$tmp/pid1" "$tmp/pid2"

# A makes the file and pauses; B, started meanwhile, locks it and serves.
TMEM_TEST_LOCK_PAUSE_MS=4000 nbdkit -U "$tmp/sock3" -P "$tmp/pid3" \
    "$TMEM_PLUGIN" size=1M pool=$pool export=race2 2>"$tmp/err3" &
starter=$!
lock=/dev/shm/$pool.nbd-race2.lock
wait_for 10 test -e "$lock" || fail "server A made no lock file"
nbdkit -U "$tmp/sock4" -P "$tmp/pid4" "$TMEM_PLUGIN" size=1M pool=$pool \
    export=race2 2>"$tmp/err4" || fail "server B did not start: $(cat "$tmp/err4")"
cleanup_fn "kill \$(cat '$tmp/pid4' 2>/dev/null) 2>/dev/null"
if wait "$starter"; then
    kill "$(cat "$tmp/pid3")"
    fail "server A started beside server B"
fi
grep -q 'already being served' "$tmp/err3" ||
    fail "server A failed otherwise: $(cat "$tmp/err3")"
test -e "$lock" || fail "server A's failed start removed the lock file server B holds"
if nbdkit -U "$tmp/sock5" -P "$tmp/pid5" "$TMEM_PLUGIN" size=1M pool=$pool \
       export=race2 2>"$tmp/err5"; then
    kill "$(cat "$tmp/pid5")"
    fail "a third server started beside server B"
fi
echo "lock race: the second server was refused; a start that lost the race left the lock alone"
