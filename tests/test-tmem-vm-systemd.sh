#!/bin/bash
# scripts/tmem-vm through systemctl (its default path), with a stand-in
# systemctl that keeps the units' enabled state in a directory and runs
# tmem-vm@.service's ExecStart and ExecStop as the unit does.  The guests'
# files go where the unit looks for them, /etc/tmem/vm and /run/tmem/vm,
# which this test sees in a mount namespace of its own (/etc overlaid,
# /run a directory of the test's): nothing of this machine's changes.
# A start that fails leaves the unit disabled and nothing of the add's
# own behind, so that the same add works once the cause is gone.
. ./functions.sh

requires_root
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
tv=$abs_top_srcdir/scripts/tmem-vm
tmp=$(mktemp_dir)
pool=$(unique_segment)
cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
ovdir=$(block_backed_dir)
[ -n "$ovdir" ] || skip "no block-backed directory for the overflow file"
cleanup_fn "rm -rf '$ovdir'"
mkdir "$tmp/bin" "$tmp/enabled" "$tmp/etc-up" "$tmp/etc-work" "$tmp/run"
chmod 0755 "$tmp" "$tmp/run"
printf '[pool]\nname = %s\nsize = 64M\n[swap]\nthreads = 2\n' "$pool" > "$tmp/t.conf"
export TMEMCTL TMEM_PLUGIN

# in_ns COMMAND...: COMMAND with this test's /etc and /run.
cat > "$tmp/bin/in-ns" <<EOF
#!/bin/bash
exec unshare -m bash -c 'mount -t overlay overlay -o lowerdir=/etc,upperdir=$tmp/etc-up,workdir=$tmp/etc-work /etc &&
    mount --bind $tmp/run /run && PATH=$tmp/bin:\$PATH exec "\$@"' in-ns "\$@"
EOF
# FAIL_START=1: systemd gives up on the start after ExecStart (as at its
# start timeout) and stops what the unit started.
cat > "$tmp/bin/systemctl" <<EOF
#!/bin/bash
echo "systemctl \$*" >> $tmp/systemctl.log
verb=\$1 now=no
shift
[ "\$1" = --now ] && { now=yes; shift; }
g=\${1#tmem-vm@}
g=\${g%.service}
pid () { p=\$(cat /run/tmem/vm/\$g.pid 2>/dev/null) && kill -0 "\$p" 2>/dev/null && echo "\$p"; }
case \$verb in
enable)
    touch $tmp/enabled/\$g
    [ \$now = yes ] || exit 0
    [ -e /etc/tmem/vm/\$g.conf ] || exit 0
    $tv start-server "\$g" || { echo "Job for tmem-vm@\$g.service failed." >&2; exit 1; }
    if [ -n "\${FAIL_START:-}" ]; then
        p=\$(pid) && kill "\$p" && while kill -0 "\$p" 2>/dev/null; do sleep 0.1; done
        echo "Job for tmem-vm@\$g.service failed." >&2
        exit 1
    fi ;;
disable)
    rm -f $tmp/enabled/\$g
    [ \$now = yes ] || exit 0
    if pid > /dev/null; then $tv stop-server "\$g"; fi ;;
*) echo "stand-in systemctl: \$verb?" >&2; exit 1 ;;
esac
EOF
chmod +x "$tmp/bin/in-ns" "$tmp/bin/systemctl"
"$tmp/bin/in-ns" true 2>/dev/null || skip "cannot overlay /etc in a mount namespace (unshare -m, overlayfs)"
cleanup_fn "for p in $tmp/run/tmem/vm/*.pid; do [ -f \"\$p\" ] && kill \$(cat \"\$p\"); done 2>/dev/null"
vm=("$tmp/bin/in-ns" "$tv" -c "$tmp/t.conf" -p "$TMEM_PLUGIN")
add=(add g1 --size 16M --share :4M --overflow "$ovdir/g1" --overflow-size 8M --user root)

# A machine not booted with systemd (a container) has no
# /run/systemd/system, where systemctl may still be installed.
expect_msg 1 "systemd is not running here (no /run/systemd/system): use --no-systemd" "${vm[@]}" "${add[@]}"
[ -e "$tmp/etc-up/tmem/vm/g1.conf" ] || [ -e "$tmp/systemctl.log" ] && fail "add without systemd running went on"
mkdir -p "$tmp/run/systemd/system"

# The server starts, makes the pool's segment, its sub-pool and the
# overflow file, then systemd gives up on it.
FAIL_START=1 expect_msg 1 "tmem-vm@g1.service did not start (journalctl -u tmem-vm@g1.service)" "${vm[@]}" "${add[@]}"
grep -qx "systemctl disable --now tmem-vm@g1.service" "$tmp/systemctl.log" ||
    fail "the failed add did not disable the unit: $(cat "$tmp/systemctl.log")"
[ -e "$tmp/enabled/g1" ] && fail "a failed add left tmem-vm@g1.service enabled (it would start at the next boot)"
[ -e "$ovdir/g1" ] && fail "a failed add left the overflow file its server made: $(ls -l "$ovdir/g1")"
[ -e "$tmp/etc-up/tmem/vm/g1.conf" ] && fail "a failed add left its settings"
ls /dev/shm/"$pool"* 2>/dev/null && fail "a failed add left the pool's segment or the export's files its server made"
# Once the cause is gone, the same add works.
"${vm[@]}" "${add[@]}" > "$tmp/out" 2>&1 || fail "add g1 again: $(cat "$tmp/out")"
[ -e "$tmp/enabled/g1" ] || fail "add did not enable tmem-vm@g1.service"
[ -S "$tmp/run/tmem/vm/g1.sock" ] || fail "no socket for g1"
[ -e "$ovdir/g1" ] || fail "no overflow file for g1"

# A guest of a pool that existed: the segment and the other sub-pools
# stay, the failed guest's own go.
FAIL_START=1 expect_msg 1 "tmem-vm@g2.service did not start" "${vm[@]}" add g2 --size 16M --user root
[ -e "$tmp/enabled/g2" ] && fail "a failed add left tmem-vm@g2.service enabled"
"$TMEMCTL" pools "$pool" > "$tmp/pools" || fail "the failed add of g2 took the segment away"
grep -qw g1 "$tmp/pools" || fail "the failed add of g2 took g1's sub-pool: $(cat "$tmp/pools")"
grep -qw g2 "$tmp/pools" && fail "the failed add of g2 left its sub-pool: $(cat "$tmp/pools")"

"${vm[@]}" remove g1 > "$tmp/out" 2>&1 || fail "remove g1: $(cat "$tmp/out")"
[ -e "$tmp/enabled/g1" ] && fail "remove left tmem-vm@g1.service enabled"
[ -e "$ovdir/g1" ] && fail "remove left g1's overflow file"
exit 0
