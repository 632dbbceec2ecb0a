#!/usr/bin/env bash
# A swap request in a real server neither faults nor allocates a page:
# over one connection (as the kernel's nbd client keeps), writes of whole
# and partial pages, reads, trims, zeroes and flushes warm the server up,
# then the same mix on pages never written before is counted.  The page
# faults of nbdkit's own threads (every thread but the pool's and the
# plugin's named tmem-*: those pre-fault memory by design) must not move.
# test-pool-nofault checks the pool alone; this checks it inside nbdkit,
# with the plugin's glue and nbdkit's own request path.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

LD_BIND_NOW=1 nbdkit -U "$tmp/sock" -P "$tmp/pid" "$TMEM_PLUGIN" size=256M \
    pool=$pool pool-size=40M 2>"$tmp/err" || { cat "$tmp/err"; fail "nbdkit"; }
pid=$(cat "$tmp/pid")
cleanup_fn "kill $pid 2>/dev/null"
# Unlocked (no CAP_IPC_LOCK, RLIMIT_MEMLOCK too low), first touches fault.
if grep -Eq 'mlockall:|locking nbdkit' "$tmp/err"; then
    cat "$tmp/err"
    skip "the server cannot lock its memory here"
fi

"$py" - "$tmp/sock" "$pid" <<'PY' || fail "requests faulted in the server"
import os, random, sys
import nbd

sock, pid = sys.argv[1], int(sys.argv[2])
PAGE = 4096
rng = random.Random(1)
words = [b"swap", b"page", b"kernel", b"memory", b"tmem", b"pool", b"zstd"]

def page(kind):
    if kind == 0:
        return os.urandom(PAGE)
    if kind == 1:
        return b"\0" * PAGE
    if kind == 2:
        return bytes([rng.randrange(1, 256)]) * PAGE
    text = b" ".join(rng.choice(words) for _ in range(1200))
    return text[:PAGE]

# Pages the kernel tried to move (compaction, NUMA balancing; this test
# cannot set vm.compact_unevictable_allowed=0 as tmem-swap does): a locked
# page touched while it is unmapped for a move is a minor fault, no fault
# of ours.  A move that fails has unmapped the page too (a busy page fails
# most often: its extra references), and counts only in the *_fail lines.
MOVES = ("pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
         "thp_migration_fail", "numa_pages_migrated")

def migrated():
    """Pages the kernel moved or tried to move, since boot."""
    n = 0
    with open("/proc/vmstat") as f:
        for line in f:
            key, value = line.split()
            if key in MOVES:
                n += int(value)
    return n

def faults():
    """Minor and major faults of nbdkit's threads (not tmem-*)."""
    minor = major = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().startswith("tmem-"):
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        minor += int(rest[7])
        major += int(rest[9])
    return minor, major

h = nbd.NBD()
h.connect_unix(sock)

def wait():
    while h.aio_in_flight() > 0:
        h.poll(-1)

def mix(base, pages):
    """Requests as swap makes them, 32 in flight, over pages
    [base, base + pages); then partial-page requests and the rest."""
    for i in range(0, pages, 32):
        for p in range(i, min(i + 32, pages)):
            h.aio_pwrite(page(p % 4), (base + p) * PAGE)
        wait()
    for i in range(0, pages, 32):
        bufs = [nbd.Buffer(PAGE) for _ in range(32)]
        for p, b in zip(range(i, min(i + 32, pages)), bufs):
            h.aio_pread(b, (base + p) * PAGE)
        wait()
    for p in range(0, pages, 16):
        off = (base + p) * PAGE + rng.randrange(0, PAGE - 512)
        h.pwrite(os.urandom(512), off)
        h.pread(1024, (base + p) * PAGE + 1000)
    h.pwrite(os.urandom(8 * PAGE), base * PAGE)
    h.pread(8 * PAGE, base * PAGE)
    h.trim(4 * PAGE, (base + 8) * PAGE)
    h.zero(4 * PAGE, (base + 12) * PAGE)
    h.flush()

# Warm up as tmem-swap does: 32 requests of the largest size at once
# grow every worker's request buffer (nbdkit's, grown on demand); then
# every path a few times on every worker.
big = 8 * PAGE
for _ in range(2):
    for i in range(32):
        h.aio_pwrite(os.urandom(big), 60000 * PAGE + i * big)
    wait()
    bufs = [nbd.Buffer(big) for _ in range(32)]
    for i, b in enumerate(bufs):
        h.aio_pread(b, 60000 * PAGE + i * big)
    wait()
for r in range(3):
    mix(r * 4096, 4096)
def measured(what, run, base):
    """Faults of nbdkit's threads over run(base); again on fresh pages
    while the kernel moved pages meanwhile (its faults, not ours)."""
    for attempt in range(3):
        m0, before = migrated(), faults()
        run(base + attempt * 4096)
        after, moved = faults(), migrated() - m0
        minor, major = after[0] - before[0], after[1] - before[1]
        print(f"{what}: {minor} minor, {major} major faults in nbdkit's "
              f"threads ({moved} pages moved or tried by the kernel "
              f"meanwhile)")
        if not (minor or major) or not moved:
            break
    return bool(minor or major)

bad = measured(f"served {4096 * 2} pages and the rest",
               lambda b: mix(b, 4096), 4 * 4096)

# Then fill the pool: the writes it refuses take the error path, on
# workers that never took it (a message formatted for the log ring).
# Each attempt goes on from where the last one stopped: fresh pages.
refused = [0]
cursor = [8 * 4096]
def done(error):
    if error.value:
        refused[0] += 1
    return 1
def fill(_):
    stop = refused[0] + 200
    p = cursor[0]
    while refused[0] < stop and p < 60000 - 32:
        for i in range(32):
            h.aio_pwrite(os.urandom(PAGE), (p + i) * PAGE, completion=done)
        wait()
        p += 32
    cursor[0] = p
bad |= measured("pool full, 200 writes refused", fill, 0)
print(f"{refused[0]} writes refused in all")
bad |= refused[0] < 200
h.shutdown()
sys.exit(1 if bad else 0)
PY
exit 0
