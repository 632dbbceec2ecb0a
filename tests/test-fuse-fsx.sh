#!/usr/bin/env bash
# tmem-fuse-cache: seeded random operations through the mount and directly
# in the source, every read checked against a model (fc-fsx).  A failure
# prints the seed; FSX_SEED=N reruns one.
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

tmp=$(mktemp_dir)
mkdir "$tmp/src" "$tmp/mnt"
# Granularity above a jiffy: changes on the source are seen by the
# validator; entry-timeout 0 so renames made in the source are seen at
# the next open (with 1 s the kernel may open the old file, as the
# contract allows).
fc_mount "$tmp/src" "$tmp/mnt" \
    -o "$FC_POOL,timestamp-granularity=0.05,entry-timeout=0,chunk-size=64K"

seeds=${FSX_SEED:-"1 2 $RANDOM"}
for seed in $seeds; do
    "$FC_FSX" -s "$seed" -n "${FSX_OPS:-4000}" "$tmp/mnt" "$tmp/src" ||
        fail "fc-fsx failed with seed $seed"
done
fc_unmount "$tmp/mnt"
cat "$tmp/mnt.log"
# The pool was used: some pages were served from it.
hits=$(sed -n 's/.*pool page hits \([0-9]*\).*/\1/p' "$tmp/mnt.log")
[ "${hits:-0}" -gt 0 ] || fail "no read was served by the pool"
