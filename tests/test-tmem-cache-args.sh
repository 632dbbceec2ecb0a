#!/bin/bash
# scripts/tmem-cache refuses bad usage and bad directories with a clear
# message before starting anything.  (A real mount is in the demo and in
# the cache's own tests.)
. ./functions.sh

tc=$abs_top_srcdir/scripts/tmem-cache
tmp=$(mktemp_dir)
mkdir "$tmp/src" "$tmp/mnt"

expect ()
{
    local want_status=$1 want_msg=$2 status=0 err
    shift 2
    err=$("$@" 2>&1) || status=$?
    [ "$status" -eq "$want_status" ] || fail "'$*': exit status $status, expected $want_status ($err)"
    echo "$err" | grep -q -- "$want_msg" || fail "'$*': message '$err' lacks '$want_msg'"
}

expect 2 usage "$tc"
expect 2 usage "$tc" mount "$tmp/src"
expect 2 "unknown action 'attach'" "$tc" attach "$tmp/src" "$tmp/mnt"
expect 2 "unknown option '-x'" "$tc" -x mount "$tmp/src" "$tmp/mnt"
expect 1 "does not exist" "$tc" --config "$tmp/none.conf" mount "$tmp/src" "$tmp/mnt"
expect 1 "source '$tmp/nosrc' is not a directory" "$tc" mount "$tmp/nosrc" "$tmp/mnt"
expect 1 "mountpoint '$tmp/nomnt' is not a directory" "$tc" mount "$tmp/src" "$tmp/nomnt"
expect 1 "the same directory" "$tc" mount "$tmp/src" "$tmp/src/."
expect 1 "not a tmem cache mount" "$tc" umount "$tmp/mnt"
expect 1 "not installed" env TMEM_FUSE_CACHE= PATH=/usr/bin:/bin "$tc" mount "$tmp/src" "$tmp/mnt"
