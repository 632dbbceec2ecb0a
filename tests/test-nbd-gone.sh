#!/usr/bin/env bash
# A device whose sub-pool was destroyed under the server has lost its
# data: reads, writes and trims then fail with EIO.  A read never answers
# zeros for a page the device held.  tmemctl now refuses that destroy
# while the server holds the sub-pool; the test checks that the data
# stays, or, where a destroy goes through, that every request says EIO.
. ./functions.sh
requires nbdkit --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"
requires test -x "$TMEMCTL"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

nbdkit -U "$tmp/sock" -P "$tmp/pid" "$TMEM_PLUGIN" size=1M pool=$pool \
       pool-size=64M
pid=$(cat "$tmp/pid")
cleanup_fn "kill $pid 2>/dev/null"
uri="nbd+unix:///?socket=$tmp/sock"

qemu-io -f raw -c 'write -P 0xaa 0 64k' "$uri" >/dev/null
qemu-io -f raw -c 'read -P 0xaa 0 64k' "$uri" >/dev/null ||
    fail "the data written does not read back"
# tmemctl refuses to destroy a sub-pool a server holds (issue 15's holds):
# then the device keeps its data, which is what this test is for.  Where
# the refusal is missing, the device must fail with EIO below.
if ! "$TMEMCTL" -s "$pool" destroy -S swap >"$tmp/destroy" 2>&1; then
    grep -q 'in use' "$tmp/destroy" || { cat "$tmp/destroy" >&2; fail "destroy"; }
    qemu-io -f raw -c 'read -P 0xaa 0 64k' "$uri" >/dev/null ||
        fail "after a refused destroy the data does not read back"
    echo "destroy refused while served; the device kept its data"
    kill "$pid"
    exit 0
fi

for op in 'read 0 64k' 'read 512k 4k' 'write -P 0x55 0 4k' \
          'discard 0 64k'; do
    if qemu-io -f raw -c "$op" "$uri" >"$tmp/out" 2>&1 &&
       ! grep -q 'failed' "$tmp/out"; then
        cat "$tmp/out" >&2
        fail "'$op' on a device whose sub-pool is gone succeeded"
    fi
    grep -q 'Input/output error' "$tmp/out" || {
        cat "$tmp/out" >&2
        fail "'$op' on a device whose sub-pool is gone: not EIO"
    }
done
kill "$pid"
