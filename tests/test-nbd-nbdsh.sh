#!/usr/bin/env bash
# Trim, zero, fast zero, FUA, cache, extents, multi-conn and requests past
# the end, through libnbd's Python binding (nbd-ops.py, as nbdsh runs it).
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires_python_nbd

pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

nbdkit -U - "$TMEM_PLUGIN" size=1M pool=$pool pool-size=64M \
       --run "'$py' '$srcdir/nbd-ops.py' \"\$uri\""
