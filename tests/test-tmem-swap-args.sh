#!/bin/bash
# scripts/tmem-swap refuses bad usage and bad settings with a clear message,
# before touching any device.  (Real start/stop runs in the guest test.)
. ./functions.sh

ts=$abs_top_srcdir/scripts/tmem-swap
tmp=$(mktemp_dir)
# The script reads its settings through tmemctl.
export TMEMCTL=$abs_top_builddir/tmemctl/tmemctl

expect_msg 2 usage "$ts"
expect_msg 2 "unknown action 'go'" "$ts" go
expect_msg 2 "unknown option '--bogus'" "$ts" --bogus start
expect_msg 1 "does not exist" "$ts" --config "$tmp/none.conf" start
expect_msg 1 "not an NBD device" "$ts" --device /dev/sda start
expect_msg 1 "--log: 'loud' is not syslog, stderr or null" "$ts" --log loud start
for o in -c -d -p -r; do
    expect_msg 1 "$o: an empty value" "$ts" "$o" "" status
done

# Settings the script checks itself, before anything is started.
printf '[pool]\nname = t\n[swap]\nthreads = 4\n' > "$tmp/nosize.conf"
printf '[swap]\nsize = 1G\nthreads = many\n' > "$tmp/threads.conf"
printf '[swap]\nsize = 1G ; one gig\npriority = high\n' > "$tmp/prio.conf"
if [ "$(id -u)" -eq 0 ]; then
    # No [swap] size: twice the pool's.  A stand-in nbdkit shows what
    # the real one would have been given, then fails the start.  A
    # stand-in sysctl keeps vm.* in files (starting from this machine's
    # values): the test changes none of the machine's.
    mkdir -p "$tmp/bin" "$tmp/sysctl"
    for k in min_free_kbytes watermark_scale_factor page-cluster compact_unevictable_allowed; do
        cat "/proc/sys/vm/$k" > "$tmp/sysctl/vm.$k"
    done
    printf '#!/bin/sh\nfor a; do\n    case $a in\n    -*) ;;\n    *=*) echo "${a#*=}" > "%s/sysctl/${a%%%%=*}" ;;\n    *) cat "%s/sysctl/$a" || exit 1 ;;\n    esac\ndone\n' "$tmp" "$tmp" > "$tmp/bin/sysctl"
    printf '#!/bin/sh\necho "$@" > %s/nbdkit-args\nsysctl -n vm.min_free_kbytes vm.watermark_scale_factor > %s/vm\nexit 1\n' "$tmp" "$tmp" > "$tmp/bin/nbdkit"
    chmod +x "$tmp/bin/nbdkit" "$tmp/bin/sysctl"
    vm_now () { cat "$tmp/sysctl/vm.min_free_kbytes" "$tmp/sysctl/vm.watermark_scale_factor" | tr '\n' ' '; }
    printf '[pool]\nname = t\nsize = 160M\n[swap]\nsocket = %s/s.sock\n' "$tmp" > "$tmp/auto.conf"
    vm_before=$(vm_now)
    PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/auto.conf" --run-dir "$tmp/run" start-server
    grep -q "size=335544320 " "$tmp/nbdkit-args" ||
        fail "no [swap] size: nbdkit got '$(cat "$tmp/nbdkit-args")', not size=335544320 (twice the 160M pool)"
    # A section header with a comment after it (docs/ctl.md's style) is
    # read as the plugin reads it: the device is 4G, not twice the pool.
    printf '[pool] ; the pool\nname = t\nsize = 160M\n[swap] ; the swap device\nsize = 4G\nsocket = %s/s.sock\n' "$tmp" > "$tmp/commented.conf"
    PATH=$tmp/bin:$PATH \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/commented.conf" --run-dir "$tmp/run" start-server
    grep -q "size=4294967296 " "$tmp/nbdkit-args" ||
        fail "[swap] ; comment: nbdkit got '$(cat "$tmp/nbdkit-args")', not size=4294967296"
    # The watermarks are raised before nbdkit starts (it warns when they
    # are low), and put back when it fails.
    want_scale=$(awk '$1 == "MemTotal:" { s = int((32768 * 10000 + $2 - 1) / $2); print (s > 1000 ? 1000 : s) }' /proc/meminfo)
    mf=$(sed -n 1p "$tmp/vm"); sf=$(sed -n 2p "$tmp/vm")
    [ "$mf" -ge 16384 ] && [ "$sf" -ge "$want_scale" ] ||
        fail "nbdkit started with vm.min_free_kbytes=$mf vm.watermark_scale_factor=$sf, not at least 16384 and $want_scale"
    [ "$(vm_now)" = "$vm_before" ] ||
        fail "a failed start left the watermarks at $(vm_now), not $vm_before"
    # So is a server that exits once in the background (nbdkit's first
    # process exits 0, no pidfile names a server).
    mkdir -p "$tmp/bin-exit"
    printf '#!/bin/sh\nexit 0\n' > "$tmp/bin-exit/nbdkit"
    chmod +x "$tmp/bin-exit/nbdkit"
    PATH=$tmp/bin-exit:$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit exited after its start" "$ts" --config "$tmp/auto.conf" --run-dir "$tmp/run" start-server
    [ "$(vm_now)" = "$vm_before" ] ||
        fail "a server that exited after its start left the watermarks at $(vm_now), not $vm_before"
    # [swap] watermark-gap sets the gap asked for (256M: more than any
    # machine has by default).
    printf '[pool]\nname = t\nsize = 160M\n[swap]\nwatermark-gap = 256M\nsocket = %s/s.sock\n' "$tmp" > "$tmp/gap.conf"
    PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/gap.conf" --run-dir "$tmp/run" start-server
    want_scale=$(awk '$1 == "MemTotal:" { s = int((262144 * 10000 + $2 - 1) / $2); print (s > 1000 ? 1000 : s) }' /proc/meminfo)
    sf=$(sed -n 2p "$tmp/vm")
    [ "$sf" -ge "$want_scale" ] ||
        fail "watermark-gap = 256M: nbdkit started with vm.watermark_scale_factor=$sf, not at least $want_scale"
    [ "$(vm_now)" = "$vm_before" ] ||
        fail "watermark-gap = 256M: a failed start left the watermarks at $(vm_now)"
    # Below 16M (8M wedged a guest whose pool filled): a warning, once;
    # none at 256M.
    sed 's/^watermark-gap = 256M$/watermark-gap = 8M/' "$tmp/gap.conf" > "$tmp/gap8.conf"
    for g in 8 256; do
        PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
            "$ts" --config "$tmp/gap${g%256}.conf" --run-dir "$tmp/run" start-server > "$tmp/gap.out" 2>&1 &&
            fail "watermark-gap = ${g}M: the stand-in nbdkit started"
        n=$(grep -c 'watermark-gap is [0-9]* MiB: below 16 MiB' "$tmp/gap.out" || true)
        [ "$n" = "$([ "$g" = 8 ] && echo 1 || echo 0)" ] ||
            fail "watermark-gap = ${g}M: warned $n times: $(cat "$tmp/gap.out")"
    done
    # --log goes to nbdkit as its own --log.
    PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/auto.conf" --run-dir "$tmp/run" --log stderr start-server
    grep -q -- "--log=stderr " "$tmp/nbdkit-args" ||
        fail "--log stderr: nbdkit got '$(cat "$tmp/nbdkit-args")'"
    # Compression contexts follow the workers (16 by default: 16 contexts;
    # 4 workers: 8), unless the config file sets them.
    grep -qw "contexts=16" "$tmp/nbdkit-args" ||
        fail "16 threads: nbdkit got '$(cat "$tmp/nbdkit-args")', not contexts=16"
    printf '[pool]\nname = t\nsize = 160M\n[swap]\nthreads = 4\nsocket = %s/s.sock\n' "$tmp" > "$tmp/four.conf"
    PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/four.conf" --run-dir "$tmp/run" start-server
    grep -q -- "-t 4 " "$tmp/nbdkit-args" && grep -qw "contexts=8" "$tmp/nbdkit-args" ||
        fail "4 threads: nbdkit got '$(cat "$tmp/nbdkit-args")', not contexts=8"
    # 08 is eight workers, not an octal error.
    printf '[pool]\nname = t\nsize = 160M\n[swap]\nthreads = 08\nsocket = %s/s.sock\n' "$tmp" > "$tmp/eight.conf"
    PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/eight.conf" --run-dir "$tmp/run" start-server
    grep -q -- "-t 8 " "$tmp/nbdkit-args" && grep -qw "contexts=12" "$tmp/nbdkit-args" ||
        fail "threads = 08: nbdkit got '$(cat "$tmp/nbdkit-args")', not -t 8 and contexts=12"
    printf '[pool]\nname = t\nsize = 160M\ncontexts = 3\n[swap]\nthreads = 4\nsocket = %s/s.sock\n' "$tmp" > "$tmp/ctx.conf"
    PATH=$tmp/bin:$PATH TMEMCTL=$abs_top_builddir/tmemctl/tmemctl \
        expect_msg 1 "nbdkit failed to start" "$ts" --config "$tmp/ctx.conf" --run-dir "$tmp/run" start-server
    ! grep -q "contexts=" "$tmp/nbdkit-args" ||
        fail "[pool] contexts = 3 overridden: nbdkit got '$(cat "$tmp/nbdkit-args")'"
    TMEMCTL= PATH=/usr/bin:/bin expect_msg 1 "tmemctl not found" "$ts" --config "$tmp/nosize.conf" start
    expect_msg 1 "threads: 'many'" "$ts" --config "$tmp/threads.conf" start
    # 2^64 + 4 would wrap to 4 in bash's arithmetic; 0 and 1025 are out.
    for n in 18446744073709551620 0 000 1025; do
        printf '[swap]\nsize = 1G\nthreads = %s\n' "$n" > "$tmp/threads.conf"
        expect_msg 1 "threads: '$n' is out of range (1 to 1024)" "$ts" --config "$tmp/threads.conf" start
    done
    expect_msg 1 "priority: 'high'" "$ts" --config "$tmp/prio.conf" start
else
    expect_msg 1 "needs root" "$ts" --config "$tmp/nosize.conf" start
fi

# status with nothing running says so, with its own exit status; it
# reads the settings once (a stand-in tmemctl counts its runs).
mkdir -p "$tmp/count"
printf '#!/bin/sh\necho "$*" >> %s/count/runs\nexec %s "$@"\n' "$tmp" "$TMEMCTL" > "$tmp/count/tmemctl"
chmod +x "$tmp/count/tmemctl"
TMEMCTL=$tmp/count/tmemctl \
    expect_msg 3 "server: not running" "$ts" --config "$tmp/nosize.conf" --run-dir "$tmp/run" --device /dev/nbd15 status
n=$(grep -c '^--config .* config' "$tmp/count/runs" || true)
[ "$n" -eq 1 ] || fail "status ran tmemctl config $n times: $(cat "$tmp/count/runs")"
# A config file edited badly (or tmemctl gone) never keeps swap from being
# turned off: stop reads no setting, and status says what it can.
printf '[swap]\ncolour = blue\n' > "$tmp/bad.conf"
if [ "$(id -u)" -eq 0 ]; then
    TMEMCTL=/nonexistent "$ts" --config "$tmp/bad.conf" --run-dir "$tmp/run" \
        --device /dev/nbd15 stop || fail "stop with a refused config file failed"
fi
# A pidfile whose server died may name a pid the system has given to
# another process since: stop-server neither signals it nor says the
# server runs.
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$tmp/run"
    sleep 300 &
    other=$!
    cleanup_fn "kill $other 2>/dev/null"
    echo "$other" > "$tmp/run/nbdkit-nbd15.pid"
    expect_msg 3 "server: not running (stale pidfile $tmp/run/nbdkit-nbd15.pid" \
        "$ts" --config "$tmp/nosize.conf" --run-dir "$tmp/run" --device /dev/nbd15 status
    expect_msg 0 "pidfile $tmp/run/nbdkit-nbd15.pid names pid $other, which is not this device's nbdkit" \
        "$ts" --config "$tmp/nosize.conf" --run-dir "$tmp/run" --device /dev/nbd15 stop-server
    case $(ps -o stat= -p "$other") in ''|Z*) fail "stop-server killed pid $other, another process its stale pidfile named" ;; esac
    [ -e "$tmp/run/nbdkit-nbd15.pid" ] && fail "stop-server left the stale pidfile"
    kill "$other"
fi
expect_msg 3 "the settings cannot be read" "$ts" --config "$tmp/bad.conf" --run-dir "$tmp/run" --device /dev/nbd15 status
expect_msg 1 "colour: unknown key" "$ts" --config "$tmp/bad.conf" --run-dir "$tmp/run" start-server
