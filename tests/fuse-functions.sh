# tmem: helpers for the tmem-fuse-cache tests (sourced after functions.sh).
#
#   fc_mount SRC MNT [-o opts]    start tmem-fuse-cache in the foreground,
#                                 wait for the mount, unmount at exit
#   slowfs_mount BACK MNT [-o ..] the same for the slow test source
#   slowfs_reads MNT              reads counted by slowfs so far
#   fc_unmount MNT                unmount now and wait for the daemon

SLOWFS="$abs_top_builddir/tests/slowfs"
FC_FSX="$abs_top_builddir/tests/fc-fsx"
FC_PRESSURE="$abs_top_builddir/tests/fc-pressure"

declare -A _fc_pids

_fc_start ()
{
    local log=$1 mnt=$2; shift 2
    "$@" -f >"$log" 2>&1 &
    local pid=$!
    _fc_pids[$mnt]=$pid
    cleanup_fn "fc_unmount '$mnt'"
    if ! wait_for 20 mountpoint -q "$mnt"; then
        cat "$log" >&2
        fail "$* did not mount"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        cat "$log" >&2
        fail "$* exited"
    fi
}

fc_mount ()
{
    local src=$1 mnt=$2; shift 2
    _fc_start "$mnt.log" "$mnt" "$TMEM_FUSE_CACHE" "$@" "$src" "$mnt"
}

slowfs_mount ()
{
    local back=$1 mnt=$2; shift 2
    _fc_start "$mnt.log" "$mnt" "$SLOWFS" "$@" "$back" "$mnt"
}

fc_unmount ()
{
    local mnt=$1 pid=${_fc_pids[$1]:-}
    if mountpoint -q "$mnt"; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
    fi
    if [ -n "$pid" ]; then
        local i
        for (( i=0; i<100; i++ )); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        unset "_fc_pids[$mnt]"
    fi
}

slowfs_reads ()
{
    sed -n 's/^reads //p' "$1/.slowfs-stats"
}

# A segment of this test's own, removed at exit: sets FC_SEG and FC_POOL
# ("pool=NAME,pool-size=SIZE" for -o).  Not in a $(...) subshell, so that
# the cleanup is registered in the test's own shell.
fc_use_pool ()
{
    FC_SEG="tmemtest-$(basename "$0" .sh)-$$"
    FC_POOL="pool=$FC_SEG,pool-size=${1:-64M}"
    cleanup_fn "rm -f '/dev/shm/$FC_SEG'"
}
