#!/usr/bin/env bash
# Bad keys and files stop nbdkit before it serves, with a message naming
# the key or the file; a second server on the same export is refused.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# refused "regexp the message must match" KEY=VALUE...
refused ()
{
    local want=$1; shift
    if nbdkit -U - "$TMEM_PLUGIN" pool=$pool pool-size=32M "$@" \
            --run 'echo SERVED' > "$tmp/out" 2> "$tmp/err"; then
        fail "nbdkit started with: $*"
    fi
    grep -q SERVED "$tmp/out" && fail "nbdkit served with: $*"
    grep -qE -- "$want" "$tmp/err" ||
        fail "with '$*' the message lacks '$want': $(cat "$tmp/err")"
    echo "refused: $* -> $(grep -E -- "$want" "$tmp/err" | head -1)"
}

refused "size: missing"
refused "size: missing" size=0
refused "size.*banana" size=banana
refused "size.*4097.* multiple" size=4097
refused "size: .9223372036854775808. is more than the maximum" size=9223372036854775808
refused "size.*9999" size=99999999999999999999999
refused "unknown key 'colour'" size=1M colour=blue
refused "pool-size" size=1M pool-size=lots
refused "level" size=1M level=high
refused "dedup" size=1M dedup=maybe
refused "overflow-size" size=1M overflow-size=100
refused "overflow-size: given without overflow=FILE" size=1M overflow-size=1M
refused "overflow file /dev/null: not a regular file" size=1M overflow=/dev/null
refused "reset" size=1M reset=perhaps
refused "max-share: must not be 0" size=1M max-share=0
refused "max-share: .lots. is not a size" size=1M max-share=lots
refused "storing the label: .*max-share is too small" size=1M max-share=4096
refused "min-share: 8388608 is more than max-share \\(4194304\\) for export g1" \
    size=1M export=g1 min-share=8M max-share=4M
refused "overflow file $tmp/missing/dir/ov" size=1M overflow="$tmp/missing/dir/ov"
refused "overflow file /dev/shm/$pool-ov.*tmpfs" size=1M overflow="/dev/shm/$pool-ov"
rm -f "/dev/shm/$pool-ov"
refused "swap-device=$tmp/nbd9: No such file.*modprobe nbd" size=1M swap-device="$tmp/nbd9"
: > "$tmp/plain"
refused "swap-device=$tmp/plain: not a block device" size=1M swap-device="$tmp/plain"
refused "config=$tmp/none.conf" size=1M config="$tmp/none.conf"
printf '[swap]\nsize = twelve\n' > "$tmp/bad.conf"
refused "$tmp/bad.conf" config="$tmp/bad.conf"

# A config file alone can give the size; the command line wins over it.
printf '[swap]\nsize = 2M\n' > "$tmp/good.conf"
nbdkit -U - "$TMEM_PLUGIN" pool=$pool pool-size=32M config="$tmp/good.conf" \
       --run 'nbdinfo --size "$uri"' | grep -qx 2097152 ||
    fail "size from the config file not used"

# min-share= and max-share= on the command line are the sub-pool's share,
# and win over the file's min-share.EXPORT (tmemctl pools shows them).
printf '[pool]\nmin-share.g2 = 1M\n' > "$tmp/share.conf"
nbdkit -U - "$TMEM_PLUGIN" pool=$pool pool-size=32M size=1M export=g2 \
       min-share=2M max-share=8M config="$tmp/share.conf" --run true
"$TMEMCTL" pools "$pool" | awk '$2 == "g2"' | grep -q "2.0 MiB *8.0 MiB" ||
    fail "sub-pool g2 lacks min 2M, max 8M: $("$TMEMCTL" pools "$pool")"

# The export remembers its size: another size is refused, reset=true
# starts afresh.
refused "export swap holds a device of 2097152 bytes" size=1M
nbdkit -U - "$TMEM_PLUGIN" pool=$pool size=1M reset=true \
       --run 'nbdinfo --size "$uri"' | grep -qx 1048576

# Two servers on one export would each think they own its pages.
nbdkit -U "$tmp/sock" -P "$tmp/pid" "$TMEM_PLUGIN" pool=$pool size=1M
cleanup_fn "kill \$(cat '$tmp/pid') 2>/dev/null"
refused "already being served" size=1M
kill "$(cat "$tmp/pid")"

# A segment that is not a tmem pool (here: garbage of the right size).
head -c 1M /dev/urandom > "/dev/shm/$pool-bad"
cleanup_fn "rm -f /dev/shm/$pool-bad /dev/shm/$pool-bad.*"
if nbdkit -U - "$TMEM_PLUGIN" pool=$pool-bad size=1M --run true 2> "$tmp/err"; then
    fail "served from a corrupt segment"
fi
grep -F "pool=$pool-bad" "$tmp/err"

# A segment of another layout: a real one, its layout version (the 32-bit
# word after the 64-bit magic) bumped, as another build would have it.
nbdkit -U - "$TMEM_PLUGIN" pool=$pool-old size=1M pool-size=32M --run true
cleanup_fn "rm -f /dev/shm/$pool-old /dev/shm/$pool-old.*"
python3 - "/dev/shm/$pool-old" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(8)
    v, = struct.unpack("<I", f.read(4))
    f.seek(8)
    f.write(struct.pack("<I", v + 1))
PY
if nbdkit -U - "$TMEM_PLUGIN" pool=$pool-old size=1M --run true 2> "$tmp/err"; then
    fail "served from a segment of another layout"
fi
grep -E "pool=$pool-old: .*(layout|geometry)" "$tmp/err" ||
    fail "no message naming the pool and its layout: $(cat "$tmp/err")"

# nbdkit can fail after the plugin is ready, before it serves (a socket
# path too long, a port in use): such a start leaves nothing either, not
# the segment, nor the sub-pool with a label that a later start on the
# same export would take for a device (with the shares of this start).
long=$tmp/$(printf 'd%.0s' $(seq 110))
mkdir "$long"
if nbdkit -U "$long/sock" "$TMEM_PLUGIN" pool=$pool-late pool-size=32M size=1M export=g9 \
       > /dev/null 2> "$tmp/err"; then
    fail "nbdkit served on a socket path of $((${#long} + 5)) bytes"
fi
grep -q "path too long" "$tmp/err" || fail "no socket error from nbdkit: $(cat "$tmp/err")"
left=$(ls /dev/shm | grep -F "$pool-late" || true)
[ -z "$left" ] || fail "a start nbdkit ended before serving left $left: $("$TMEMCTL" pools "$pool-late" 2>&1)"
# On a segment that stays (another sub-pool's), only what it made goes.
nbdkit -U - "$TMEM_PLUGIN" pool=$pool pool-size=32M size=1M export=g8 --run true
if nbdkit -U "$long/sock" "$TMEM_PLUGIN" pool=$pool size=1M export=g9 min-share=4M \
       > /dev/null 2> "$tmp/err"; then
    fail "nbdkit served on a socket path too long"
fi
"$TMEMCTL" pools "$pool" | awk '{ print $2 }' | grep -qx g9 &&
    fail "a start nbdkit ended before serving left sub-pool g9: $("$TMEMCTL" pools "$pool")"
"$TMEMCTL" pools "$pool" | awk '{ print $2 }' | grep -qx g8 ||
    fail "sub-pool g8 is gone: $("$TMEMCTL" pools "$pool")"
# A server that forked and served keeps its device.
nbdkit -U "$tmp/sock9" -P "$tmp/pid9" "$TMEM_PLUGIN" pool=$pool size=1M export=g9
cleanup_fn "kill \$(cat '$tmp/pid9') 2>/dev/null"
kill "$(cat "$tmp/pid9")"
wait_for 10 eval '! kill -0 $(cat "$tmp/pid9") 2>/dev/null'
"$TMEMCTL" pools "$pool" | awk '{ print $2 }' | grep -qx g9 ||
    fail "a server that served lost sub-pool g9: $("$TMEMCTL" pools "$pool")"
