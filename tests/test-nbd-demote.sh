#!/usr/bin/env bash
# demote-after=: with an overflow file, pages read back since they were
# written move out of the pool into the file after two scans, and only
# those; an eighth of the file stays free for the pool's refusals; every
# byte reads back the same, also after a restart and while readers and
# writers race the thread that moves them; demote-after=0 moves nothing.
. ./functions.sh
requires nbdkit --version
requires nbdcopy --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool* /dev/shm/$pool.*"
ovdir=$(block_backed_dir)
[ -n "$ovdir" ] || skip "no block-backed directory for the overflow file"
cleanup_fn "rm -rf '$ovdir'"

counter ()  # counter NAME LOG: the last "NAME N" of the plugin's stats
{
    sed -n "s/.*[;,] $1 \([0-9]*\).*/\1/p" "$2" | tail -1
}

# 8 MiB of random pages in a pool with room for all of them; read back
# the first 2 MiB (512 pages) only, then wait for two scans.  The pool is
# faulted in at start (prefault): a put must never find the reserve empty
# and spill to the file, which would put pages there that no scan moved.
head -c 8M /dev/urandom > "$tmp/data"
keys=(size=16M pool=$pool pool-size=32M prefault=yes overflow="$ovdir/ov" demote-after=0.5)
nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    set -e
    nbdcopy '$tmp/data' \"\$uri\"
    qemu-io -f raw -c 'read 0 2M' \"\$uri\" > /dev/null
    sleep 2.5
    qemu-io -f raw -c 'read -P 0 8M 8M' \"\$uri\" > /dev/null
" 2> "$tmp/log1" || { grep -v debug "$tmp/log1"; fail "first run failed"; }
moved=$(counter demoted "$tmp/log1")
[ "$moved" = 512 ] || fail "moved $moved pages, not the 512 read back: $(grep demoted "$tmp/log1")"
grep -q "overflow: 512 of 4096 slots in use" "$tmp/log1" ||
    fail "the file does not hold them: $(grep 'overflow:' "$tmp/log1")"
grep -q "read back 0 (0 bytes)" "$tmp/log1" ||
    fail "pages read back stayed in the pool: $(grep 'read back' "$tmp/log1")"

# A restart finds the moved pages in the file; a rewrite of one of them
# takes it back into the pool.
nbdkit -v -U - "$TMEM_PLUGIN" "${keys[@]}" --run "
    set -e
    nbdcopy \"\$uri\" '$tmp/back'
    qemu-io -f raw -c 'write -P 0x5a 4096 4096' \"\$uri\" > /dev/null
    qemu-io -f raw -c 'read -P 0x5a 4096 4096' \"\$uri\" > /dev/null
" 2> "$tmp/log2" || { grep -v debug "$tmp/log2"; fail "restart failed"; }
cmp -n 8388608 "$tmp/data" "$tmp/back" || fail "wrong bytes after the move"
grep -q "overflow: 511 of 4096 slots in use" "$tmp/log2" ||
    fail "a rewrite did not take its page back: $(grep 'overflow:' "$tmp/log2")"

# An eighth of the file stays free: a 1 MiB file (256 slots) takes at
# most 224 of the 512 pages read back (32 slots stay free).
pool2=$pool-small
nbdkit -v -U - "$TMEM_PLUGIN" size=16M pool=$pool2 pool-size=32M prefault=yes \
       overflow="$ovdir/small" overflow-size=1M demote-after=0.5 --run "
    set -e
    nbdcopy '$tmp/data' \"\$uri\"
    qemu-io -f raw -c 'read 0 2M' \"\$uri\" > /dev/null
    sleep 2.5
    nbdcopy \"\$uri\" '$tmp/back3'
" 2> "$tmp/log3" || { grep -v debug "$tmp/log3"; fail "small file run failed"; }
cmp -n 8388608 "$tmp/data" "$tmp/back3" || fail "wrong bytes with a small file"
moved=$(counter demoted "$tmp/log3")
[ "$moved" -gt 0 ] && [ "$moved" -le 224 ] ||
    fail "moved $moved pages into a 256-slot file (want 1 to 224)"

# demote-after=0: nothing moves.
pool3=$pool-off
nbdkit -v -U - "$TMEM_PLUGIN" size=16M pool=$pool3 pool-size=64M \
       overflow="$ovdir/off" demote-after=0 --run "
    set -e
    nbdcopy '$tmp/data' \"\$uri\"
    qemu-io -f raw -c 'read 0 2M' \"\$uri\" > /dev/null
    sleep 1.5
" 2> "$tmp/log4" || { grep -v debug "$tmp/log4"; fail "demote-after=0 run failed"; }
[ "$(counter demoted "$tmp/log4")" = 0 ] || fail "demote-after=0 moved pages"

# Racing the mover: two clients write and read random pages (each its own
# half of the device, with what it wrote last kept to check every read)
# while the thread scans every 20 ms.
py=$(python_nbd)
[ -n "$py" ] || { echo "no python3 nbd module: race part skipped"; exit 0; }
pool4=$pool-race
cat > "$tmp/race.py" <<'EOF'
import hashlib, random, sys, threading, time
import nbd

uri, seconds = sys.argv[1], float(sys.argv[2])
PAGES = 4096  # 16 MiB
errors = []

def page(n, gen):
    seed = hashlib.sha256(b"%d/%d" % (n, gen)).digest()
    return (seed * 128)[:4096]

def worker(half):
    h = nbd.NBD()
    h.connect_uri(uri)
    rnd = random.Random(half)
    lo, hi = half * PAGES // 2, (half + 1) * PAGES // 2
    gen = {}
    end = time.time() + seconds
    ops = 0
    while time.time() < end:
        n = rnd.randrange(lo, lo + 256)  # a few pages, hit often
        if n not in gen or rnd.random() < 0.3:
            gen[n] = gen.get(n, 0) + 1
            h.pwrite(page(n, gen[n]), n * 4096)
        else:
            got = h.pread(4096, n * 4096)
            if got != page(n, gen[n]):
                errors.append("page %d gen %d: wrong bytes" % (n, gen[n]))
                return
        ops += 1
    h.shutdown()
    print("worker %d: %d operations" % (half, ops))

ts = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    print("\n".join(errors)); sys.exit(1)
EOF
nbdkit -v -U - "$TMEM_PLUGIN" size=16M pool=$pool4 pool-size=64M \
       overflow="$ovdir/race" demote-after=0.02 \
       --run "'$py' '$tmp/race.py' \"\$uri\" 6" > "$tmp/out5" 2> "$tmp/log5" ||
    { cat "$tmp/out5"; grep -v debug "$tmp/log5" | tail; fail "race: wrong bytes or a failed request"; }
cat "$tmp/out5"
moved=$(counter demoted "$tmp/log5")
[ "$moved" -gt 0 ] || fail "race: the mover never moved a page"
echo "race: $moved pages moved while clients wrote and read"
