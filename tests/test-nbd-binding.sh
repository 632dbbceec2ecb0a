#!/usr/bin/env bash
# A swap request must not enter the dynamic loader: tmem.so is linked
# -z now (its calls into libraries resolved when nbdkit loads it) and its
# thread-local variables are initial-exec (no __tls_get_addr, which
# allocates a thread's block at its first use).  nbdkit itself may bind
# lazily: then the plugin warns unless LD_BIND_NOW is set, as tmem-swap
# and tmem-vm set it.
. ./functions.sh
requires nbdkit --version
requires readelf --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

binds_now () { readelf -d "$1" | grep -Eq '\(BIND_NOW\)|Flags:.* NOW'; }

binds_now "$TMEM_PLUGIN" || fail "$TMEM_PLUGIN is not linked -z now"
readelf -W --dyn-syms "$TMEM_PLUGIN" > "$tmp/syms"
grep -q '__tls_get_addr' "$tmp/syms" &&
    fail "$TMEM_PLUGIN uses __tls_get_addr (a thread-local variable not initial-exec)"

nbdkit_bin=$(command -v nbdkit)
for env in "" 1; do
    LD_BIND_NOW=$env nbdkit -U - "$TMEM_PLUGIN" 1M pool=$pool pool-size=32M \
        --run true 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "nbdkit"; }
    if [ -z "$env" ] && ! binds_now "$nbdkit_bin"; then
        grep -q 'binds its library calls lazily' "$tmp/err" ||
            fail "nbdkit binds lazily and the plugin does not say so"
    else
        grep -q 'binds its library calls lazily' "$tmp/err" &&
            fail "warned of lazy binding with LD_BIND_NOW='$env'"
    fi
done
rm -f /dev/shm/$pool /dev/shm/$pool.*
exit 0
