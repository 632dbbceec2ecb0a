#!/bin/bash
# tmemctl destroy --subpool of a sub-pool whose destroy was left pending:
# its destroy timed out waiting for a swap server that was stopped, and
# that server was then killed, the record left being destroyed.  The next
# destroy of the name finishes it: it says the sub-pool was destroyed,
# removes the export's side files as any destroy of it does, and succeeds;
# a destroy of the name after that finds no such sub-pool.
. ./functions.sh

[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
requires nbdkit --version
requires nbdcopy --version
[ -e "$TMEM_PLUGIN" ] || skip "the nbd plugin is not built"
seg=$(unique_segment)
tmp=$(mktemp_dir)
cleanup_fn "rm -f /dev/shm/$seg /dev/shm/$seg.nbd-*"

# Export "old" stored some pages, and its server exited: its sub-pool and
# lock file stay; an overflow map as the plugin leaves one.
head -c 1M /dev/urandom > "$tmp/data"
nbdkit -U - "$TMEM_PLUGIN" size=1M pool="$seg" pool-size=32M export=old \
    --run "nbdcopy '$tmp/data' \"\$uri\"" 2> "$tmp/old.log" ||
    fail "nbdkit export=old: $(cat "$tmp/old.log")"
printf 'TMEMOVM2' > "/dev/shm/$seg.nbd-old.ovmap"
[ -e "/dev/shm/$seg.nbd-old.lock" ] || fail "no lock file for export old"

# A swap server of export "swap", stopped: the destroy of "old" is left
# to it and times out (the wait shortened here).
nbdkit -U "$tmp/sock" -P "$tmp/pid" "$TMEM_PLUGIN" size=1M pool="$seg" \
    export=swap 2> "$tmp/nbdkit.log"
wait_for 10 test -s "$tmp/pid" ||
    fail "nbdkit did not start: $(cat "$tmp/nbdkit.log")"
pid=$(cat "$tmp/pid")
cleanup_fn "kill -KILL $pid 2>/dev/null"
wait_for 10 test -S "$tmp/sock" || fail "nbdkit made no socket"
# Serving for sure (its grower runs): a client has been served.
nbdcopy "$tmp/data" "nbd+unix:///?socket=$tmp/sock"
kill -STOP "$pid"
expect 1 "sub-pool 'old' of segment '$seg'" \
    env TMEM_SERVED_WAIT_MS=300 "$TMEMCTL" destroy --segment "$seg" --subpool old
"$TMEMCTL" pools --segment "$seg" | grep -qw old &&
    fail "a destroy left pending still lists the sub-pool"
# The server killed: nobody is left to finish it but the next lookup.
kill -KILL "$pid"
wait_for 10 sh -c "! kill -0 $pid" || fail "nbdkit did not die"

expect 0 "" "$TMEMCTL" destroy --segment "$seg" --subpool old
grep -q "^sub-pool old: destroyed (finished the destroy that a swap server" "$tmp/out" ||
    fail "destroy of a pending sub-pool: $(cat "$tmp/out")"
for f in "$seg.nbd-old.lock" "$seg.nbd-old.ovmap"; do
    [ ! -e "/dev/shm/$f" ] || fail "destroy --subpool old left /dev/shm/$f"
done
expect 1 "sub-pool 'old' of segment '$seg': no such sub-pool" \
    "$TMEMCTL" destroy --segment "$seg" --subpool old
expect 0 "" "$TMEMCTL" check --segment "$seg"
echo "destroy pending: ok"
