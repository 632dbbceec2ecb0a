#!/usr/bin/env bash
# The swap slot free notice loads on this kernel as it would serve: the
# BPF program passes the verifier, the ring and the spill table get the
# sizes asked for, and the spill table, mapped, puts each page's stamp
# where the probe writes it (checked by the plugin at load: a table read
# at the wrong stride would drop live pages).  The host may lack the
# probed function (the attach then fails, with its warning): the guest
# tests (check-vm-workload, with a 4 KiB ring) exercise the rest.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_root
nbdkit "$TMEM_PLUGIN" --dump-plugin | grep -qx tmem_free_notice=yes ||
    skip "tmem.so was built without the free notice"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
# A block device node of its own (a loop device's numbers; nothing need
# be attached: the probe only compares the device number).
mknod "$tmp/blk" b 7 250 || skip "cannot make a block device node"

# load [VAR=VALUE]: serve once with swap-device=; the log in $tmp/err.
load ()
{
    env "$@" nbdkit -v -U - "$TMEM_PLUGIN" pool="$pool" pool-size=32M \
        size=16388K swap-device="$tmp/blk" --run true > /dev/null 2> "$tmp/err" ||
        fail "nbdkit failed with $*: $(grep -v debug: "$tmp/err")"
    rm -f "/dev/shm/$pool" "/dev/shm/$pool".*
}

load
# Not root enough for BPF (a container), or a clock of its own (a time
# namespace): the notice is off there, with its warning.
if grep -qE "cannot hear.*(loading the BPF program|checking the system)" "$tmp/err"; then
    skip "the free notice cannot load here: $(grep 'cannot hear' "$tmp/err")"
fi
grep "cannot hear" "$tmp/err" | grep -v "attaching it to swap_range_free" &&
    fail "the free notice failed before its attach (above)"
# 16388K: 4097 pages, 2049 pairs of stamps, 16392 bytes in 5 pages.
grep -q "free notice: a ring of 65536 bytes, a spill table for 4097 pages (20 KiB)" "$tmp/err" ||
    fail "no line on the ring and the spill table: $(grep -E 'swap-device|libbpf' "$tmp/err")"
echo "default: $(grep -o 'free notice: .*' "$tmp/err")"

load TMEM_FREED_RING_BYTES=8192
grep -q "free notice: a ring of 8192 bytes" "$tmp/err" ||
    fail "TMEM_FREED_RING_BYTES=8192 not taken: $(grep -E 'swap-device|libbpf' "$tmp/err")"

for bad in 5000 2048 0x1000 -4096 99999999999 ""x; do
    load TMEM_FREED_RING_BYTES="$bad"
    grep -q "cannot hear.*TMEM_FREED_RING_BYTES (a power of two from 4096 to 1073741824)" "$tmp/err" ||
        fail "TMEM_FREED_RING_BYTES=$bad: no warning naming it: $(grep -E 'swap-device|warning' "$tmp/err")"
done
echo "TMEM_FREED_RING_BYTES: 8192 taken, bad values refused with a warning"
