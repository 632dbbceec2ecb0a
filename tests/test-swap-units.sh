#!/bin/bash
# The systemd units (scripts/systemd/*.in) pass systemd-analyze verify, with
# the scripts they run in place; and verify does catch a broken unit, so
# that its silence means something.
. ./functions.sh

if ! command -v systemd-analyze >/dev/null; then
    [ "${CI:-}" = true ] && fail "systemd-analyze is missing (install systemd)"
    skip "systemd-analyze is missing"
fi
tmp=$(mktemp_dir)
mkdir "$tmp/units" "$tmp/broken"
for f in "$abs_top_srcdir"/scripts/systemd/*.in; do
    sed -e "s|@sbindir@|$abs_top_srcdir/scripts|g" -e "s|@sysconfdir@|/etc|g" \
        "$f" > "$tmp/units/$(basename "$f" .in)"
done
ls "$tmp/units"/*.service "$tmp/units"/*.mount >/dev/null || fail "no units found"

verify ()
{
    # verify warns about many mistakes with exit status 0: any output at
    # all counts as a failure.
    local out status=0
    out=$(systemd-analyze verify --man=no "$@" 2>&1) || status=$?
    [ $status -eq 0 ] && [ -z "$out" ] && return 0
    echo "$out" >&2
    return 1
}

# The template goes on its own: a unit with default dependencies in the
# same run pulls in local-fs.target, and the example mount unit's
# After=local-fs.target then makes a cycle with the Before= every local
# mount has.  An instance, as tmem-vm add starts it.
mkdir "$tmp/template"
mv "$tmp/units/tmem-vm@.service" "$tmp/template/"
cp "$tmp/template/tmem-vm@.service" "$tmp/template/tmem-vm@guest1.service"
verify "$tmp/units"/* || fail "systemd-analyze verify found problems (above)"
verify "$tmp/template"/* || fail "systemd-analyze verify found problems in tmem-vm@.service (above)"

cp "$tmp/units"/* "$tmp/broken/"
sed -i 's/^Type=forking/Type=forkng/' "$tmp/broken/tmem-nbd.service"
verify "$tmp/broken"/* 2>/dev/null && fail "verify did not notice a bad Type="
cp "$tmp/units"/* "$tmp/broken/"
sed -i "s|$abs_top_srcdir/scripts/tmem-swap|/nonexistent/tmem-swap|" "$tmp/broken/tmem-swap.service"
verify "$tmp/broken"/* 2>/dev/null && fail "verify did not notice a missing program"

cp "$tmp/template"/* "$tmp/broken/"
sed -i "s|$abs_top_srcdir/scripts/tmem-vm|/nonexistent/tmem-vm|" "$tmp/broken/tmem-vm@guest1.service"
verify "$tmp/broken"/tmem-vm@* 2>/dev/null && fail "verify did not notice a missing program in the template"

# The order that keeps pages safe: swap goes before its server stops.
grep -qx 'After=tmem-nbd.service' "$tmp/units/tmem-swap.service" ||
    fail "tmem-swap.service must start after (and so stop before) tmem-nbd.service"
grep -qx 'ExecStop=.*tmem-swap stop-swap' "$tmp/units/tmem-swap.service" ||
    fail "tmem-swap.service must run swapoff at stop"
# A guest's server outlives the guests at shutdown, and is locked and
# OOM-protected like the host's own.
for want in 'Before=libvirtd.service libvirt-guests.service shutdown.target' \
            'ExecStart=.*tmem-vm start-server %i' 'ExecStop=.*tmem-vm stop-server %i' \
            'PIDFile=/run/tmem/vm/%i.pid' 'LimitMEMLOCK=infinity' 'OOMScoreAdjust=-1000'; do
    grep -qx "$want" "$tmp/template/tmem-vm@.service" || fail "tmem-vm@.service lacks $want"
done
