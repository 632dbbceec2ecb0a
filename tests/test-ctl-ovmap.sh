#!/bin/bash
# check --deep reads each /dev/shm/SEGMENT.nbd-EXPORT.ovmap beside the
# segment, a file any user can create there.  A map too short for the
# slots it claims, one that is not a private regular file of the
# segment's owner, one whose path is not NUL-terminated, and one that
# names a FIFO are each refused with a message: no signal, no hang.
. ./functions.sh

[ -x "$TMEMCTL" ] || fail "tmemctl is not built"
seg=$(unique_segment)
tmp=$(mktemp_dir)
./ctl-put "$seg" fill || fail "ctl-put fill"
cleanup_fn "'$TMEMCTL' destroy --segment '$seg' > /dev/null 2>&1"
map=/dev/shm/$seg.nbd-swap.ovmap
cleanup_fn "rm -f '$map'"

# mkmap SIZE SLOTS PATH [DEV INO]: a map header as the plugin writes it,
# the file cut to SIZE bytes; PATH "-" fills the path field with no NUL.
mkmap ()
{
    rm -f "$map"
    python3 - "$map" "$@" <<'PY'
import os, struct, sys
out, size, slots, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dev = int(sys.argv[5]) if len(sys.argv) > 5 else 0
ino = int(sys.argv[6]) if len(sys.argv) > 6 else 0
p = b"a" * 3968 if path == "-" else path.encode().ljust(3968, b"\0")
h = b"TMEMOVM2" + struct.pack("<QQQQQ", 1, slots, 7, dev, ino) + p
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, h[:size])
os.ftruncate(fd, size)
os.close(fd)
PY
}

# deep PATTERN: check --deep exits 1 within 10 s and says PATTERN.
deep ()
{
    local st=0
    timeout 10 "$TMEMCTL" check --deep --segment "$seg" > "$tmp/out" 2>&1 || st=$?
    [ "$st" -eq 1 ] || fail "check --deep: exit $st, expected 1 ($1): $(cat "$tmp/out")"
    grep -q -- "$1" "$tmp/out" || fail "check --deep: no '$1': $(cat "$tmp/out")"
}

# 4016-4095 bytes hold the header but not its first slot.
for size in 4016 4050 4095; do
    mkmap "$size" 1 /nonexistent
    deep "truncated: 1 slots do not fit"
done
mkmap 8192 300 /nonexistent
deep "truncated: 300 slots do not fit"

mkmap 4096 0 /nonexistent
chmod 0644 "$map"
deep "not a private regular file of the segment's owner"
chmod 0600 "$map"
chown nobody "$map"
deep "not a private regular file of the segment's owner"

mkmap 4096 0 -
deep "the overflow file's path is not terminated"

mkfifo "$tmp/fifo"
mkmap 4096 0 "$tmp/fifo" "$(stat -c %d "$tmp/fifo")" "$(stat -c %i "$tmp/fifo")"
deep "overflow file $tmp/fifo: not a regular file"
ln -s "$tmp/fifo" "$tmp/link"
mkmap 4096 0 "$tmp/link" "$(stat -c %d "$tmp/fifo")" "$(stat -c %i "$tmp/fifo")"
deep "overflow file $tmp/link: "

# A sound empty map over a regular file still verifies.
: > "$tmp/file"
mkmap 4096 0 "$tmp/file" "$(stat -c %d "$tmp/file")" "$(stat -c %i "$tmp/file")"
"$TMEMCTL" check --deep --segment "$seg" > "$tmp/out" 2>&1 ||
    fail "check --deep with a sound map: $(cat "$tmp/out")"
grep -q "export swap: 0 overflow pages verified in $tmp/file" "$tmp/out" ||
    fail "check --deep: $(cat "$tmp/out")"
echo "ovmap: ok"
