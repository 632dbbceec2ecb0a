#!/bin/bash
# scripts/tmem-swap refuses bad usage and bad settings with a clear message,
# before touching any device.  (Real start/stop runs in the guest test.)
. ./functions.sh

ts=$abs_top_srcdir/scripts/tmem-swap
tmp=$(mktemp_dir)

expect ()
{
    local want_status=$1 want_msg=$2 status=0 err
    shift 2
    err=$("$@" 2>&1) || status=$?
    [ "$status" -eq "$want_status" ] || fail "'$*': exit status $status, expected $want_status ($err)"
    echo "$err" | grep -q -- "$want_msg" || fail "'$*': message '$err' lacks '$want_msg'"
}

expect 2 usage "$ts"
expect 2 "unknown action 'go'" "$ts" go
expect 2 "unknown option '--bogus'" "$ts" --bogus start
expect 1 "does not exist" "$ts" --config "$tmp/none.conf" start
expect 1 "not an NBD device" "$ts" --device /dev/sda start

# Settings the script checks itself, before anything is started.
printf '[pool]\nname = t\n[swap]\nthreads = 4\n' > "$tmp/nosize.conf"
printf '[swap]\nsize = 1G\nthreads = many\n' > "$tmp/threads.conf"
printf '[swap]\nsize = 1G ; one gig\npriority = high\n' > "$tmp/prio.conf"
if [ "$(id -u)" -eq 0 ]; then
    expect 1 "size is not set" "$ts" --config "$tmp/nosize.conf" start
    expect 1 "threads: 'many'" "$ts" --config "$tmp/threads.conf" start
    expect 1 "priority: 'high'" "$ts" --config "$tmp/prio.conf" start
else
    expect 1 "needs root" "$ts" --config "$tmp/nosize.conf" start
fi

# status with nothing running says so, with its own exit status.
expect 3 "server: not running" "$ts" --config "$tmp/nosize.conf" --run-dir "$tmp/run" --device /dev/nbd15 status
