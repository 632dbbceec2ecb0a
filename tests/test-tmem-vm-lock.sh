#!/bin/bash
# scripts/tmem-vm: add and remove of one run directory take turns (a
# lock file in it), so that two at once cannot both pass a check and then
# make, or take back, the same guest's settings, server, sub-pool or
# overflow file.  One that waits longer than TMEM_VM_LOCK_WAIT seconds
# gives up, naming the holder.  The servers add starts do not hold it.
. ./functions.sh

requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires command -v flock
. "$srcdir/vm-functions.sh"
cleanup_fn "for p in $tmp/run/*.pid; do [ -f \"\$p\" ] && kill \$(cat \"\$p\"); done 2>/dev/null"
# A server slow to start: add's window between writing the settings and
# its server's start, held open for 3 s.
mkdir "$tmp/slow"
printf '#!/bin/bash\nsleep 3\nexec %s "$@"\n' "$(command -v nbdkit)" > "$tmp/slow/nbdkit"
chmod +x "$tmp/slow/nbdkit"

# wait_for FILE: until FILE exists (10 s at most).
wait_for ()
{
    for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
    fail "no $1 within 10 s"
}

# A remove of a guest whose add is still starting its server waits for
# that add: it then finds the server and drops it, its sub-pool and its
# settings, instead of taking the settings away under the add, whose
# server would then run on as no one's guest.
PATH=$tmp/slow:$PATH "$tv" "${opts[@]}" add g1 --size 16M --user "$me" > "$tmp/add1" 2>&1 &
adder=$!
wait_for "$tmp/guests/g1.conf"
st=0
TMEM_VM_LOCK_WAIT=30 "$tv" "${opts[@]}" remove g1 > "$tmp/rm1" 2>&1 || st=$?
wait $adder || fail "add g1 beside a remove: exit status $?: $(cat "$tmp/add1")"
[ $st -eq 0 ] || fail "remove g1 beside its add: exit status $st: $(cat "$tmp/rm1")"
[ -e "$tmp/guests/g1.conf" ] && fail "add g1 and remove g1 at once left the settings"
p=$(cat "$tmp/run/g1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null &&
    fail "add g1 and remove g1 at once left g1's server (pid $p) running with no settings (add said: $(cat "$tmp/add1"); remove said: $(cat "$tmp/rm1"))"
"$TMEMCTL" pools "$pool" 2>/dev/null | grep -qw g1 &&
    fail "add g1 and remove g1 at once left sub-pool g1 with no settings: $("$TMEMCTL" pools "$pool")"

# One that waits too long gives up before it does anything, naming the
# add it waited for.
PATH=$tmp/slow:$PATH "$tv" "${opts[@]}" add g2 --size 16M --user "$me" > "$tmp/add2" 2>&1 &
adder=$!
wait_for "$tmp/guests/g2.conf"
TMEM_VM_LOCK_WAIT=1 expect_msg 1 "$tmp/run/tmem-vm.lock is held by pid $adder (tmem-vm add g2): it did not end within 1 s" \
    "$tv" "${opts[@]}" add g3 --size 16M --user "$me"
[ -e "$tmp/guests/g3.conf" ] && fail "an add that did not get the lock recorded guest g3"
wait $adder || fail "add g2: exit status $?: $(cat "$tmp/add2")"
# The server add g2 started runs on without the lock.
TMEM_VM_LOCK_WAIT=5 "$tv" "${opts[@]}" remove g2 > "$tmp/out" 2>&1 || fail "remove g2 after its add: $(cat "$tmp/out")"
exit 0
