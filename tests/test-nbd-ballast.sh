#!/usr/bin/env bash
# ballast=: the server holds that much locked memory and gives it back to
# the kernel when free memory has stayed at the minimum watermark for a
# second (faked here with -D tmem.ballast_free_kib=1 from the thread's
# 3rd second to its 6th), then takes it back once memory has been
# plentiful for 5 s; the data is
# untouched by either.  Without the fake it keeps the ballast; ballast=0
# holds none; a bad size is refused by name.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool* /dev/shm/$pool.*"

# The server's shared memory in KiB (the pool's segment and the ballast),
# read when the log says the ballast went and when it says it came back
# (the thread's seconds drift on a loaded machine: poll, do not sleep).
# The server is the nbdkit that the --run script's parent forked.
cat > "$tmp/run.sh" <<'EOF'
set -e
uri=$1 tmp=$2 srv=$3
shmem () { awk '/^RssShmem:/ { print $2 }' "/proc/$srv/status"; }
await () # await TEXT: wait up to 30 s for TEXT in the server's log
{
    local i
    for i in $(seq 300); do
        grep -q "$1" "$tmp/log1" && return 0
        sleep 0.1
    done
    echo "no '$1' in the log within 30 s" >&2
    return 1
}
nbdcopy "$tmp/data" "$uri"
echo held "$(shmem)" > "$tmp/rss"
await 'gave back the 8192 KiB ballast'
echo released "$(shmem)" >> "$tmp/rss"
await 'ballast: 8192 KiB held again'
echo refilled "$(shmem)" >> "$tmp/rss"
nbdcopy "$uri" "$tmp/back"
EOF

head -c 4M /dev/urandom > "$tmp/data"
nbdkit -v -U - "$TMEM_PLUGIN" size=16M pool=$pool pool-size=64M ballast=8M \
       -D tmem.ballast_free_kib=1 --run "
    bash '$tmp/run.sh' \"\$uri\" '$tmp' \$(pgrep -x -P \$PPID nbdkit)
" 2> "$tmp/log1" || { grep -v debug "$tmp/log1"; fail "the run failed"; }
cmp -n 4194304 "$tmp/data" "$tmp/back" || fail "wrong bytes after the ballast moved"
grep -q 'gave back the 8192 KiB ballast' "$tmp/log1" ||
    fail "no release logged: $(grep -i ballast "$tmp/log1")"
grep -q 'ballast given back 1 times, taken back 1 times, 8192 KiB held' "$tmp/log1" ||
    fail "counters: $(grep 'ballast given' "$tmp/log1")"
read -r _ held < <(grep held "$tmp/rss")
read -r _ released < <(grep released "$tmp/rss")
read -r _ refilled < <(grep refilled "$tmp/rss")
echo "RssShmem (KiB): held $held, released $released, refilled $refilled"
[ $(( held - released )) -ge 8000 ] ||
    fail "the release gave back $(( held - released )) KiB, not the 8192 KiB ballast"
[ $(( refilled - released )) -ge 8000 ] ||
    fail "the refill took back $(( refilled - released )) KiB, not the 8192 KiB ballast"

# Memory to spare (this machine): the ballast stays.
nbdkit -v -U - "$TMEM_PLUGIN" size=16M pool=$pool pool-size=64M ballast=4M \
       --run "sleep 2" 2> "$tmp/log2" || { grep -v debug "$tmp/log2"; fail "second run failed"; }
grep -q 'ballast given back 0 times, taken back 0 times, 4096 KiB held' "$tmp/log2" ||
    fail "with memory to spare: $(grep 'ballast given' "$tmp/log2")"
# Its floor: the zones' minimum watermarks with their protection, at least
# vm.min_free_kbytes (the sum of the zones' minimums).
floor=$(sed -n 's/.*ballast: 4096 KiB; given back below [0-9]* KiB free (floor \([0-9]*\) KiB.*/\1/p' "$tmp/log2")
[ -n "$floor" ] && [ $(( floor * 100 )) -ge $(( $(cat /proc/sys/vm/min_free_kbytes) * 99 )) ] ||
    fail "floor '$floor' KiB, below vm.min_free_kbytes $(cat /proc/sys/vm/min_free_kbytes): $(grep 'ballast:' "$tmp/log2")"

# ballast=0: none.
nbdkit -v -U - "$TMEM_PLUGIN" size=16M pool=$pool pool-size=64M ballast=0 \
       --run "true" 2> "$tmp/log3" || { grep -v debug "$tmp/log3"; fail "ballast=0 failed"; }
grep -q 'ballast given back 0 times, taken back 0 times, 0 KiB held' "$tmp/log3" ||
    fail "ballast=0: $(grep 'ballast given' "$tmp/log3")"

# A size that is not one: refused, naming the key.
if nbdkit -U - "$TMEM_PLUGIN" size=16M pool=$pool ballast=lots --run true \
       2> "$tmp/log4"; then
    fail "ballast=lots was accepted"
fi
grep -q 'ballast' "$tmp/log4" || fail "the error does not name ballast: $(cat "$tmp/log4")"
echo "ok"
