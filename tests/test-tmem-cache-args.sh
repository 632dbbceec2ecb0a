#!/bin/bash
# scripts/tmem-cache refuses bad usage and bad directories with a clear
# message before starting anything.  (A real mount is in the demo and in
# the cache's own tests.)
. ./functions.sh

tc=$abs_top_srcdir/scripts/tmem-cache
tmp=$(mktemp_dir)
mkdir "$tmp/src" "$tmp/mnt"

expect_msg 2 usage "$tc"
expect_msg 2 usage "$tc" mount "$tmp/src"
expect_msg 2 "unknown action 'attach'" "$tc" attach "$tmp/src" "$tmp/mnt"
expect_msg 2 "unknown option '-x'" "$tc" -x mount "$tmp/src" "$tmp/mnt"
expect_msg 1 "does not exist" "$tc" --config "$tmp/none.conf" mount "$tmp/src" "$tmp/mnt"
expect_msg 1 "source '$tmp/nosrc' is not a directory" "$tc" mount "$tmp/nosrc" "$tmp/mnt"
expect_msg 1 "mountpoint '$tmp/nomnt' is not a directory" "$tc" mount "$tmp/src" "$tmp/nomnt"
expect_msg 1 "the same directory" "$tc" mount "$tmp/src" "$tmp/src/."
expect_msg 1 "not a tmem cache mount" "$tc" umount "$tmp/mnt"
expect_msg 1 "not installed" env TMEM_FUSE_CACHE= PATH=/usr/bin:/bin "$tc" mount "$tmp/src" "$tmp/mnt"
