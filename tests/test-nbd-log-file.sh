#!/usr/bin/env bash
# What the plugin says once it serves reaches the user when nbdkit runs in
# the background, where nbdkit points its own stderr at /dev/null (unless
# -v).  A forked nbdkit with --log=stderr and log-file=- has its pool
# filled; the refusal ("the pool is full") must be in the stderr it was
# started with.  log-file=FILE appends to FILE, created 0600, each line
# with the UTC time and nbdkit's pid, and nothing of it goes to stderr as
# well.  A log-file= that cannot be opened stops
# nbdkit before it serves, naming the key.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd
tmp=$(mktemp_dir)
cat > "$tmp/fill.py" <<'PY'
import nbd, nbd_fill, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
off = nbd_fill.fill(h)
if off >= h.get_size():
    sys.exit("the pool took the whole device")
print("refused at %d" % off)
PY
full="write at [0-9]*: the pool is full"
flags=

# serve_fill NAME KEY=VALUE...: a forked nbdkit on a 4M pool of its own,
# its 16M device filled until refused, then stopped (SIGTERM; the plugin
# drains its log ring as it unloads).  Its stderr is $tmp/NAME.err.
serve_fill ()
{
    local name=$1 pool sock=$tmp/$1.sock pidf=$tmp/$1.pid pid
    shift
    pool=$(unique_segment)-$name
    cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
    nbdkit $flags --log=stderr -U "$sock" -P "$pidf" "$TMEM_PLUGIN" size=16M \
        pool="$pool" pool-size=4M "$@" 2> "$tmp/$name.err" ||
        fail "$name: nbdkit did not start: $(cat "$tmp/$name.err")"
    # nbdkit's parent exits once the socket is bound; the child writes
    # the pidfile after the fork.
    wait_for 10 test -s "$pidf" || fail "$name: no pidfile"
    pid=$(cat "$pidf")
    cleanup_fn "kill $pid 2>/dev/null"
    "$py" "$tmp/fill.py" "nbd+unix:///?socket=$sock" || fail "$name: the fill failed"
    kill "$pid"
    wait_for 10 sh -c "! kill -0 $pid" || fail "$name: nbdkit did not stop"
}

unset LD_BIND_NOW
serve_fill stderr log-file=-
grep "$full" "$tmp/stderr.err" ||
    fail "log-file=-: the refusal is not in nbdkit's stderr: $(cat "$tmp/stderr.err")"
# Not stamped: a terminal or journald has its own.
grep "$full" "$tmp/stderr.err" | grep -q '^nbdkit: tmem: error: ' ||
    fail "log-file=-: the line is not nbdkit's own form: $(grep "$full" "$tmp/stderr.err")"
# A warning of .after_fork's own, where nbdkit's libraries bind lazily
# (as a captive nbdkit, which does not fork, shows): there too.
lazy="bind their calls lazily"
nbdkit -U - "$TMEM_PLUGIN" size=1M pool="$(unique_segment)-lazy" --run true 2> "$tmp/lazy.err" ||
    fail "captive nbdkit: $(cat "$tmp/lazy.err")"
if grep -q "$lazy" "$tmp/lazy.err"; then
    grep -q "$lazy" "$tmp/stderr.err" ||
        fail "log-file=-: the warning at the fork is not in nbdkit's stderr: $(cat "$tmp/stderr.err")"
    echo "log-file=-: the warning at the fork is there too"
fi

# With -v nbdkit keeps its stderr after the fork: the refusal goes to
# the file, not there as well.
flags=-v
serve_fill file log-file="$tmp/plugin.log"
flags=
grep "$full" "$tmp/plugin.log" ||
    fail "log-file=FILE: the refusal is not in the file: $(cat "$tmp/plugin.log"; grep -v 'debug:' "$tmp/file.err")"
[ "$(stat -c %a "$tmp/plugin.log")" = 600 ] ||
    fail "log-file=FILE created with mode $(stat -c %a "$tmp/plugin.log"), not 600"
grep -q "debug:" "$tmp/file.err" || fail "-v: nbdkit's stderr was not kept after the fork"
! grep -q "$full" "$tmp/file.err" || fail "log-file=FILE: the refusal went to stderr as well"
# A file's lines begin with the UTC time and nbdkit's pid; the time is now.
bad=$(grep -v '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]\{3\}Z nbdkit\[[0-9]\+\]: tmem: \(error\|warning\): ' "$tmp/plugin.log") &&
    fail "log-file=FILE: lines without the time and pid: $bad"
stamp=$(grep -m1 "$full" "$tmp/plugin.log" | cut -d' ' -f1)
age=$(( $(date +%s) - $(date -d "$stamp" +%s) ))
[ "$age" -ge 0 ] && [ "$age" -lt 120 ] || fail "log-file=FILE: stamped $stamp, $age s from now"
# Appended, not truncated: a second server's lines follow the first's.
serve_fill again log-file="$tmp/plugin.log"
[ "$(grep -c "$full" "$tmp/plugin.log")" = 2 ] ||
    fail "log-file=FILE was not appended to: $(cat "$tmp/plugin.log")"

# Without log-file= the same message goes where nbdkit sends it: with this
# nbdkit in the background, nowhere (said, not checked: a later nbdkit
# may keep its stderr).
serve_fill none
if grep -q "$full" "$tmp/none.err"; then
    echo "without log-file=, this nbdkit kept its stderr after the fork"
else
    echo "without log-file=, the refusal was lost (nbdkit's stderr after the fork is /dev/null)"
fi

expect_msg 1 "log-file=$tmp/no/such/dir/x: No such file or directory" \
    nbdkit -U - "$TMEM_PLUGIN" size=1M pool="$(unique_segment)-bad" \
    log-file="$tmp/no/such/dir/x" --run true
# A FIFO nobody reads is an error at once, not a start that hangs.
mkfifo "$tmp/fifo"
expect_msg 1 "log-file=$tmp/fifo: No such device or address" \
    timeout 20 nbdkit -U - "$TMEM_PLUGIN" size=1M pool="$(unique_segment)-fifo" \
    log-file="$tmp/fifo" --run true
