#!/usr/bin/env bash
# fio's nbd engine: 4 KiB random writes on four connections at once, each
# job on its own 16 MiB, then every block read back and checked (crc32c).
. ./functions.sh
requires nbdkit --version
requires fio --version
requires test -e "$TMEM_PLUGIN"
fio --enghelp 2>&1 | grep -qw nbd || skip "this fio has no nbd engine"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

nbdkit -U - "$TMEM_PLUGIN" size=64M pool=$pool pool-size=128M --run "
    fio --name=tmem --ioengine=nbd --uri=\"\$uri\" --numjobs=4 \
        --rw=randwrite --bs=4k --iodepth=8 --size=16M \
        --offset_increment=16M --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --verify_state_save=0 --group_reporting --output='$tmp/fio.txt'
"
grep -q 'err= 0' "$tmp/fio.txt" || { cat "$tmp/fio.txt"; fail "fio reported errors"; }
grep -E 'WRITE:|READ:' "$tmp/fio.txt"
