#!/bin/bash
# scripts/tmem-swap refuses bad usage and bad settings with a clear message,
# before touching any device.  (Real start/stop runs in the guest test.)
. ./functions.sh

ts=$abs_top_srcdir/scripts/tmem-swap
tmp=$(mktemp_dir)

expect_msg 2 usage "$ts"
expect_msg 2 "unknown action 'go'" "$ts" go
expect_msg 2 "unknown option '--bogus'" "$ts" --bogus start
expect_msg 1 "does not exist" "$ts" --config "$tmp/none.conf" start
expect_msg 1 "not an NBD device" "$ts" --device /dev/sda start

# Settings the script checks itself, before anything is started.
printf '[pool]\nname = t\n[swap]\nthreads = 4\n' > "$tmp/nosize.conf"
printf '[swap]\nsize = 1G\nthreads = many\n' > "$tmp/threads.conf"
printf '[swap]\nsize = 1G ; one gig\npriority = high\n' > "$tmp/prio.conf"
if [ "$(id -u)" -eq 0 ]; then
    expect_msg 1 "size is not set" "$ts" --config "$tmp/nosize.conf" start
    expect_msg 1 "threads: 'many'" "$ts" --config "$tmp/threads.conf" start
    expect_msg 1 "priority: 'high'" "$ts" --config "$tmp/prio.conf" start
else
    expect_msg 1 "needs root" "$ts" --config "$tmp/nosize.conf" start
fi

# status with nothing running says so, with its own exit status.
expect_msg 3 "server: not running" "$ts" --config "$tmp/nosize.conf" --run-dir "$tmp/run" --device /dev/nbd15 status
