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

verify "$tmp/units"/* || fail "systemd-analyze verify found problems (above)"

cp "$tmp/units"/* "$tmp/broken/"
sed -i 's/^Type=forking/Type=forkng/' "$tmp/broken/tmem-nbd.service"
verify "$tmp/broken"/* 2>/dev/null && fail "verify did not notice a bad Type="
cp "$tmp/units"/* "$tmp/broken/"
sed -i "s|$abs_top_srcdir/scripts/tmem-swap|/nonexistent/tmem-swap|" "$tmp/broken/tmem-swap.service"
verify "$tmp/broken"/* 2>/dev/null && fail "verify did not notice a missing program"

# The order that keeps pages safe: swap goes before its server stops.
grep -qx 'After=tmem-nbd.service' "$tmp/units/tmem-swap.service" ||
    fail "tmem-swap.service must start after (and so stop before) tmem-nbd.service"
grep -qx 'ExecStop=.*tmem-swap stop-swap' "$tmp/units/tmem-swap.service" ||
    fail "tmem-swap.service must run swapoff at stop"
