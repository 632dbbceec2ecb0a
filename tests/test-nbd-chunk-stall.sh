#!/usr/bin/env bash
# A swap write never waits long on a lock a stopped process holds.  A
# process attached to the pool (a cache daemon, a tool) stopped while it
# holds chunk_lock, the lock under which a chunk changes hands: the pool
# waits at most 100 ms for it per put and answers that it has no ready
# chunk (reserve_empty), which the plugin retries while the pool has
# room.  The write of a page that needs a new chunk must still be
# answered within its retry budget (NT_NOSPACE_WAIT_MS, 200 ms, plus a
# lock wait), not after 200 retries of 100 ms each.  Once the process
# goes on, the write goes through.
. ./functions.sh
requires nbdkit --version
requires qemu-io --version
requires qemu-img --version
requires test -e "$TMEM_PLUGIN"
requires test -x ./ctl-put

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

nbdkit -f --log=stderr -U "$tmp/sock" \
    "$TMEM_PLUGIN" size=1M pool=$pool pool-size=64M 2>"$tmp/log" &
pid=$!
cleanup_fn "kill $pid 2>/dev/null"
wait_for 10 test -S "$tmp/sock" || { cat "$tmp/log"; fail "nbdkit"; }
uri="nbd+unix:///?socket=$tmp/sock"

ctl_put_stall "$pool" chunkstall "$tmp"

# A page that does not compress: it needs a chunk of raw pages, which
# only chunk_lock hands out.
head -c 4096 /dev/urandom > "$tmp/new"
start=$(date +%s%N)
timeout 60 qemu-io -f raw -c "write -s $tmp/new 0 4k" "$uri" >"$tmp/out" 2>&1 || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "write with chunk_lock held by a stopped process: $ms ms:" \
    "$(grep -o 'No space left on device\|wrote .*' "$tmp/out" | head -1)"
[ "$ms" -lt 3000 ] || {
    cat "$tmp/out" >&2
    fail "the write waited $ms ms for a lock a stopped process holds"
}

kill -CONT "$stall"
wait "$stall" || fail "the stalling process failed: $(cat "$tmp/stall.err")"
wait_for 10 qemu-io -f raw -c "write -s $tmp/new 0 4k" "$uri" >/dev/null ||
    fail "the write after the process went on"
qemu-img compare -f raw -F raw "$tmp/new" "$uri" ||
    fail "the page written does not read back"
kill "$pid"
echo "chunk stall: ok"
