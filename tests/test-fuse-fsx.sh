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

# Over a FUSE source too (slowfs without delays, exact timestamps): no
# inode generations there, so read-only opens are deferred to the first
# miss.  The source side of the tester works through the slowfs mount
# (behind the back of a path-based FUSE file system, a rename confuses
# that file system itself, as it would sshfs).
mkdir "$tmp/back" "$tmp/slow" "$tmp/mnt2"
slowfs_mount "$tmp/back" "$tmp/slow" -o latency=0,bandwidth=0,exact-times
fc_mount "$tmp/slow" "$tmp/mnt2" \
    -o "$FC_POOL,timestamp-granularity=0.05,entry-timeout=0,chunk-size=64K,cache-name=fsx2-$$"

seeds=${FSX_SEED:-"1 2 $RANDOM"}
for seed in $seeds; do
    "$FC_FSX" -s "$seed" -n "${FSX_OPS:-4000}" "$tmp/mnt" "$tmp/src" ||
        fail "fc-fsx failed with seed $seed"
    "$FC_FSX" -s "$seed" -n "${FSX_OPS:-4000}" "$tmp/mnt2" "$tmp/slow" ||
        fail "fc-fsx over slowfs failed with seed $seed"
done
for m in "$tmp/mnt" "$tmp/mnt2"; do
    fc_unmount "$m"
    cat "$m.log"
    # The pool was used: some pages were served from it.
    hits=$(sed -n 's/.*pool page hits \([0-9]*\).*/\1/p' "$m.log")
    [ "${hits:-0}" -gt 0 ] || fail "$m: no read was served by the pool"
done
