#!/usr/bin/env bash
# tmem.so over TCP with nbdkit's TLS and a pre-shared key, as docs/vm.md
# sets it up for a guest on another machine: qemu's NBD client with the
# guest's identity and key writes and reads back; another identity, the
# right identity with another key, and a client without TLS are refused.
. ./functions.sh
requires nbdkit --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"
nbdkit --dump-config | grep -qx 'tls=yes' || skip "nbdkit was built without TLS"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

hexkey () { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# One key directory per client, as qemu's tls-creds-psk wants (dir/keys.psk).
mkdir -m 0700 "$tmp/vm1" "$tmp/vm2" "$tmp/thief"
k1=$(hexkey)
echo "vm1:$k1" > "$tmp/vm1/keys.psk"
echo "vm2:$(hexkey)" > "$tmp/vm2/keys.psk"
echo "vm1:$(hexkey)" > "$tmp/thief/keys.psk"
chmod 0600 "$tmp"/*/keys.psk

port=$(free_port)
# The server knows vm1's identity only.
nbdkit --tls=require --tls-psk="$tmp/vm1/keys.psk" -i 127.0.0.1 -p "$port" \
       --pidfile "$tmp/pid" "$TMEM_PLUGIN" pool="$pool" pool-size=32M size=1M export=vm1
cleanup_fn "kill \$(cat '$tmp/pid') 2>/dev/null"

# client KEYDIR USER qemu-io-commands...
client ()
{
    local dir=$1 user=$2
    shift 2
    qemu-io --object "tls-creds-psk,id=tls0,endpoint=client,dir=$tmp/$dir,username=$user" \
        --image-opts "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$port,export=vm1,tls-creds=tls0" \
        "$@"
}

client vm1 vm1 -c 'write -P 0x5a 4096 8192' > "$tmp/out" 2>&1 || fail "vm1 cannot write: $(cat "$tmp/out")"
client vm1 vm1 -c 'read -P 0x5a 4096 8192' > "$tmp/out" 2>&1 || fail "vm1 cannot read: $(cat "$tmp/out")"
grep -q 'read 8192/8192' "$tmp/out" || fail "vm1 did not read back what it wrote: $(cat "$tmp/out")"

refused ()
{
    local what=$1
    shift
    if "$@" -c 'read 4096 4096' > "$tmp/out" 2>&1; then
        fail "$what was let in: $(cat "$tmp/out")"
    fi
    grep -qiE 'TLS|handshake|negotiat' "$tmp/out" || fail "$what was refused, but not by TLS: $(cat "$tmp/out")"
    echo "refused, $what: $(grep -iE 'TLS|handshake|negotiat' "$tmp/out" | head -n 1)"
}
refused "another identity (vm2 with its own key)" client vm2 vm2
refused "vm1's identity with another key" client thief vm1
refused "a client without TLS" qemu-io -f raw "nbd://127.0.0.1:$port/vm1"

# The server is still up and vm1's data intact.
client vm1 vm1 -c 'read -P 0x5a 4096 8192' > "$tmp/out" 2>&1 || fail "vm1 cannot read after the refusals: $(cat "$tmp/out")"
