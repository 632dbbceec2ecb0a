#!/usr/bin/env bash
# A swap request must not enter the dynamic loader: tmem.so is linked
# -z now (its calls bound when it is loaded) and its thread-local
# variables are initial-exec (no __tls_get_addr nor TLS descriptors: a
# dlopened module's dynamic TLS block is allocated at a thread's first
# use).  nbdkit and its libraries may bind lazily: then the plugin warns
# unless LD_BIND_NOW is set, as tmem-swap and tmem-vm set it.
. ./functions.sh
requires nbdkit --version
requires readelf --version
requires ldd --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir)
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

# Has the object calls to bind (a PLT) and no mark to bind them at load?
binds_lazily ()
{
    readelf -d "$1" > "$tmp/dyn" || return 1
    grep -q '(JMPREL)' "$tmp/dyn" &&
        ! grep -Eq '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*Flags:.* NOW' "$tmp/dyn"
}

binds_lazily "$TMEM_PLUGIN" && fail "$TMEM_PLUGIN is not linked -z now"
readelf -W --dyn-syms "$TMEM_PLUGIN" | grep -q '__tls_get_addr' &&
    fail "$TMEM_PLUGIN calls __tls_get_addr (a thread-local variable not initial-exec)"
readelf -W -r "$TMEM_PLUGIN" | grep -Eq 'DTPMOD|TLSDESC' &&
    fail "$TMEM_PLUGIN has dynamic TLS relocations (a thread-local variable not initial-exec)"

# Whether the plugin must warn: nbdkit or any library loaded with it or
# with the plugin binds lazily.  A wrapper script instead of the program:
# not known, not checked.
nbdkit_bin=$(command -v nbdkit)
expect=
if readelf -h "$nbdkit_bin" >/dev/null 2>&1; then
    expect=no
    for obj in "$nbdkit_bin" $( (ldd "$nbdkit_bin"; ldd "$TMEM_PLUGIN") |
                               awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
        if binds_lazily "$obj"; then expect=yes; echo "binds lazily: $obj"; fi
    done
fi
for env in "" 1; do
    LD_BIND_NOW=$env nbdkit -U - "$TMEM_PLUGIN" 1M pool=$pool pool-size=32M \
        --run true 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "nbdkit"; }
    warned=no
    grep -q 'bind their calls lazily' "$tmp/err" && warned=yes
    if [ -n "$env" ]; then
        [ $warned = no ] || fail "warned of lazy binding with LD_BIND_NOW=$env"
    elif [ -n "$expect" ]; then
        [ $warned = "$expect" ] ||
            fail "lazy binding: expected a warning: $expect, warned: $warned"
    fi
done
exit 0
