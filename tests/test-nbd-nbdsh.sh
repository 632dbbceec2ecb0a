#!/usr/bin/env bash
# Trim, zero, fast zero, FUA, cache, extents, multi-conn and requests past
# the end, through libnbd's Python binding (nbd-ops.py, as nbdsh runs it).
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"

# nbdsh is "python3 -m nbd": find the python3 that has the binding (a
# python3 earlier in PATH, e.g. pyenv's, may not).
py=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import nbd' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || skip "python3-libnbd (import nbd) is missing"

pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

nbdkit -U - "$TMEM_PLUGIN" size=1M pool=$pool pool-size=64M \
       --run "'$py' '$srcdir/nbd-ops.py' \"\$uri\""
