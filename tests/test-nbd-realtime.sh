#!/usr/bin/env bash
# [swap] realtime: nbdkit's request threads run SCHED_RR, so that their
# replies may allocate below the minimum watermark (the kernel's reserve
# for real-time tasks): all of them from the connection's start, also
# those that served nothing yet (started real-time, they are not woken
# behind the others); the threads the plugin starts itself (grower, log,
# free notice...) and nbdkit's main thread stay ordinary, the latter also
# in a server that does not fork.  A request of more than 1 MiB runs
# ordinary.  realtime=no leaves every thread ordinary.  A server that may
# not use SCHED_RR (no CAP_SYS_NICE) says so at start and serves with
# ordinary threads.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires qemu-io --version
requires stdbuf --version
requires chrt -r 1 true

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# The scheduling policy of thread TID of PID (0 SCHED_OTHER, 2 SCHED_RR).
policy ()
{
    local line f
    read -r line < /proc/"$1"/task/"$2"/stat
    read -r -a f <<< "${line##*) }"
    echo "${f[38]}"
}

# "NAME:POLICY" for every thread of PID.
policies ()
{
    local task comm
    for task in /proc/"$1"/task/*; do
        read -r comm < "$task/comm"
        printf '%s:%s\n' "$comm" "$(policy "$1" "${task##*/}")"
    done
}

# At least N requests answered, by qemu-io's account in FILE.
io_done () { [ "$(grep -c '^\(read\|wrote\) ' "$1")" -ge "$2" ]; }

# Serve and send I/O: 1 MiB written and read back in four requests (on
# several workers), or with long=yes one 2 MiB write alone; list the
# threads' policies into $tmp/NAME and the main thread's into
# $tmp/NAME.main while the connection is open (nbdkit's request threads
# live as long as it); stop.  The arguments: NAME, plugin keys, then --
# and a wrapper command (may be empty).
long=no
serve ()
{
    local name=$1 keys=() wrap=() io n pid
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do keys+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    wrap=("$@")
    io=(-c 'aio_write -P 7 0 512K' -c 'aio_write -P 8 512K 512K' -c aio_flush
        -c 'read -P 7 0 512K' -c 'read -P 8 512K 512K')
    n=4
    if [ "$long" = yes ]; then
        io=(-c 'write -P 9 0 2M')
        n=1
    fi
    rm -f "$tmp/pid" "$tmp/sock"
    "${wrap[@]}" nbdkit -U "$tmp/sock" -P "$tmp/pid" -t 4 "$TMEM_PLUGIN" \
        size=16M pool=$pool pool-size=16M "${keys[@]}" 2>"$tmp/$name.err" ||
        fail "nbdkit ($name) did not start: $(cat "$tmp/$name.err")"
    pid=$(cat "$tmp/pid")
    cleanup_fn "kill $pid 2>/dev/null"
    stdbuf -oL qemu-io -f raw "${io[@]}" -c 'sleep 3000' \
        "nbd+unix:///?socket=$tmp/sock" >"$tmp/$name.io" 2>&1 &
    wait_for 20 io_done "$tmp/$name.io" "$n" ||
        fail "qemu-io ($name) did not finish its I/O: $(cat "$tmp/$name.io")"
    policies "$pid" > "$tmp/$name"
    policy "$pid" "$pid" > "$tmp/$name.main"
    wait $! || fail "qemu-io ($name): $(cat "$tmp/$name.io")"
    ! grep -q 'Pattern verification failed' "$tmp/$name.io" ||
        fail "qemu-io ($name) read back other data: $(cat "$tmp/$name.io")"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
threads () { tr '\n' ' ' < "$tmp/$1"; }

# nbdkit's threads, and those of them that run SCHED_RR, in list NAME.
count () { grep -c "^nbdkit:${2:-}" "$tmp/$1"; }

serve default
[ "$(count default 2)" -ge 4 ] && [ "$(count default 2)" = "$(( $(count default) - 1 ))" ] ||
    fail "not every request thread (all of nbdkit's but the main one, at least the 4 workers) runs SCHED_RR: $(threads default)"
grep -q '^tmem-[a-z]*:2$' "$tmp/default" &&
    fail "a thread of the plugin's own runs SCHED_RR: $(threads default)"
[ "$(cat "$tmp/default.main")" = 0 ] ||
    fail "nbdkit's main thread is not ordinary: policy $(cat "$tmp/default.main")"
grep -q 'realtime' "$tmp/default.err" &&
    fail "a warning about realtime where it works: $(cat "$tmp/default.err")"

# A server that does not fork into the background: its main thread, which
# checked at start whether SCHED_RR works, is still ordinary.
main=$(nbdkit -U - "$TMEM_PLUGIN" size=1M pool=$pool pool-size=16M export=run \
           --run 'read -r l < /proc/$PPID/stat; set -- ${l##*) }; echo ${39}' \
           2>"$tmp/run.err") ||
    fail "nbdkit --run failed: $(cat "$tmp/run.err")"
[ "$main" = 0 ] || fail "the main thread of a server that did not fork runs policy $main"

serve off realtime=no
grep -q ':2$' "$tmp/off" &&
    fail "with realtime=no a thread runs SCHED_RR: $(threads off)"

# One 2 MiB write: its worker runs it ordinary, the others stay real-time.
long=yes serve long
[ "$(count long 2)" = "$(( $(count long) - 2 ))" ] ||
    fail "not exactly the 2 MiB request's worker and the main thread ordinary: $(threads long)"

# Without CAP_SYS_NICE and with no RLIMIT_RTPRIO: said, and served anyway.
if command -v capsh >/dev/null && command -v prlimit >/dev/null &&
    prlimit --rtprio=0 capsh --drop=cap_sys_nice -- -c '! chrt -r 1 true' 2>/dev/null; then
    serve denied -- prlimit --rtprio=0 capsh --drop=cap_sys_nice -- -c 'exec "$0" "$@"'
    grep -q 'realtime: SCHED_RR: .*request threads stay ordinary' "$tmp/denied.err" ||
        fail "no warning when SCHED_RR is refused: $(cat "$tmp/denied.err")"
    grep -q ':2$' "$tmp/denied" &&
        fail "a thread runs SCHED_RR that may not: $(threads denied)"
else
    echo "cannot take CAP_SYS_NICE away here: the refusal case is not run"
fi
echo "request threads: $(count default 2) of $(count default) nbdkit threads SCHED_RR"
