#!/usr/bin/env bash
# [swap] realtime: nbdkit's request threads run SCHED_RR once they have
# served a request, so that their replies may allocate below the minimum
# watermark (the kernel's reserve for real-time tasks); the threads the
# plugin starts itself (grower, log, free notice...) and nbdkit's main
# thread stay ordinary.  realtime=no leaves every thread ordinary.  A
# server that may not use SCHED_RR (no CAP_SYS_NICE) says so at start
# and serves with ordinary threads.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires qemu-io --version
requires stdbuf --version
requires chrt -r 1 true

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# "NAME:POLICY" for every thread of PID (0 SCHED_OTHER, 2 SCHED_RR).
policies ()
{
    local task line f comm
    for task in /proc/"$1"/task/*; do
        read -r comm < "$task/comm"
        read -r line < "$task/stat"
        read -r -a f <<< "${line##*) }"
        printf '%s:%s\n' "$comm" "${f[38]}"
    done
}

reads_done () { [ "$(grep -c '^read ' "$1")" -ge 2 ]; }

# Serve, write and read back 1 MiB (requests on every worker), list the
# threads' policies into $tmp/$1, stop.  The rest: plugin keys, then
# -- and a wrapper command (may be empty).
serve ()
{
    local name=$1 keys=() wrap=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do keys+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    wrap=("$@")
    rm -f "$tmp/pid" "$tmp/sock"
    "${wrap[@]}" nbdkit -U "$tmp/sock" -P "$tmp/pid" -t 4 "$TMEM_PLUGIN" \
        size=16M pool=$pool pool-size=16M "${keys[@]}" 2>"$tmp/$name.err" ||
        fail "nbdkit ($name) did not start: $(cat "$tmp/$name.err")"
    # nbdkit's request threads live as long as the connection: listed
    # while qemu-io sleeps after its reads.
    stdbuf -oL qemu-io -f raw -c 'aio_write -P 7 0 512K' -c 'aio_write -P 8 512K 512K' \
        -c aio_flush -c 'read -P 7 0 512K' -c 'read -P 8 512K 512K' \
        -c 'sleep 3000' "nbd+unix:///?socket=$tmp/sock" >"$tmp/$name.io" 2>&1 &
    wait_for 20 reads_done "$tmp/$name.io" ||
        fail "qemu-io ($name) did not read: $(cat "$tmp/$name.io")"
    policies "$(cat "$tmp/pid")" > "$tmp/$name"
    wait $! || fail "qemu-io ($name): $(cat "$tmp/$name.io")"
    ! grep -q 'Pattern verification failed' "$tmp/$name.io" ||
        fail "qemu-io ($name) read back other data: $(cat "$tmp/$name.io")"
    kill "$(cat "$tmp/pid")"
    for _ in $(seq 50); do kill -0 "$(cat "$tmp/pid")" 2>/dev/null || break; sleep 0.1; done
}

serve default
grep -q '^nbdkit:2$' "$tmp/default" ||
    fail "no request thread runs SCHED_RR by default: $(tr '\n' ' ' < "$tmp/default")"
grep -q '^tmem-[a-z]*:2$' "$tmp/default" &&
    fail "a thread of the plugin's own runs SCHED_RR: $(tr '\n' ' ' < "$tmp/default")"
[ "$(head -1 "$tmp/default")" = nbdkit:0 ] ||
    fail "nbdkit's main thread is not ordinary: $(head -1 "$tmp/default")"
grep -q 'realtime' "$tmp/default.err" &&
    fail "a warning about realtime where it works: $(cat "$tmp/default.err")"

serve off realtime=no
grep -q ':2$' "$tmp/off" &&
    fail "with realtime=no a thread runs SCHED_RR: $(tr '\n' ' ' < "$tmp/off")"

# Without CAP_SYS_NICE (and no RLIMIT_RTPRIO): said, and served anyway.
if command -v capsh >/dev/null && capsh --drop=cap_sys_nice -- -c 'true' 2>/dev/null; then
    serve denied -- prlimit --rtprio=0 capsh --drop=cap_sys_nice -- -c 'exec "$0" "$@"'
    grep -q 'realtime: SCHED_RR: .*request threads stay ordinary' "$tmp/denied.err" ||
        fail "no warning when SCHED_RR is refused: $(cat "$tmp/denied.err")"
    grep -q ':2$' "$tmp/denied" &&
        fail "a thread runs SCHED_RR that may not: $(tr '\n' ' ' < "$tmp/denied")"
else
    echo "capsh cannot drop CAP_SYS_NICE here: the refusal case is not run"
fi
echo "request threads: $(grep -c '^nbdkit:2$' "$tmp/default") of $(grep -c '^nbdkit:' "$tmp/default") nbdkit threads SCHED_RR"
