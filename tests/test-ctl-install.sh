#!/bin/bash
# make install DESTDIR=...: everything lands in its usual place, the
# installed plugin loads in nbdkit, the installed tmemctl runs, and
# systemd accepts the installed units.
. ./functions.sh

requires command -v make
# Run make afresh, not as a child of the make running the tests.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
tmp=$(mktemp_dir)
dest="$tmp/dest"

# The installation directories, as configure set them.
dirs=$(make -s --no-print-directory -C "$abs_top_builddir" -f Makefile \
           -f - ctl-print-dirs <<'MK'
ctl-print-dirs:
	@echo "prefix='$(prefix)'"
	@echo "sbindir='$(sbindir)'"
	@echo "bindir='$(bindir)'"
	@echo "sysconfdir='$(sysconfdir)'"
	@echo "mandir='$(mandir)'"
	@echo "plugindir='$(NBDKIT_PLUGINDIR)'"
	@echo "unitdir='$(systemdsystemunitdir)'"
	@echo "have_pod2man='$(POD2MAN)'"
MK
) || fail "cannot read the installation directories"
eval "$(echo "$dirs" | grep "^[a-z0-9_]*='[^']*'$")"

make -C "$abs_top_builddir" install DESTDIR="$dest" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "make install failed"; }

# Programs, configuration, man pages.
if [ -x "$TMEMCTL" ]; then
    [ -x "$dest$sbindir/tmemctl" ] || fail "no $sbindir/tmemctl"
    "$dest$sbindir/tmemctl" --version | grep -q '^tmemctl [0-9]' ||
        fail "the installed tmemctl does not run"
    ctl_status=ok
else
    ctl_status="skipped: tmemctl is not built (the pool is not in this tree yet)"
fi
[ -f "$dest$sysconfdir/tmem.conf" ] || fail "no $sysconfdir/tmem.conf"
cmp "$dest$sysconfdir/tmem.conf" "$abs_top_srcdir/tmem.conf" ||
    fail "the installed tmem.conf is not the example"
if [ "$have_pod2man" != no ]; then
    for page in man8/tmemctl.8 man5/tmem.conf.5; do
        [ -s "$dest$mandir/$page" ] || fail "no $mandir/$page"
    done
fi
# Nothing lands outside the prefix but the plugin and the units.
stray=$(cd "$dest" && find . -type f | sed 's|^\.||' |
        grep -v "^$prefix/" | grep -v "^$plugindir/" | grep -v "^$unitdir/" || true)
[ -z "$stray" ] || fail "installed outside the prefix: $stray"

# The plugin, where nbdkit looks for it.  nbdkit 1.32 has no
# --plugindir: load it by path.
if [ -z "$plugindir" ]; then
    plugin_status="nbdkit not found by configure: plugin not built"
elif [ -f "$dest$plugindir/nbdkit-tmem-plugin.so" ]; then
    requires command -v nbdkit
    out=$(nbdkit "$dest$plugindir/nbdkit-tmem-plugin.so" --dump-plugin 2>&1) ||
        fail "nbdkit --dump-plugin on the installed plugin: $out"
    echo "$out" | grep -q '^name=tmem$' ||
        fail "--dump-plugin does not name the plugin tmem: $out"
    [ "$have_pod2man" = no ] || [ -s "$dest$mandir/man1/nbdkit-tmem-plugin.1" ] ||
        fail "no nbdkit-tmem-plugin(1)"
    plugin_status=ok
elif [ -f "$abs_top_builddir/nbd-tmem/tmem.so" ] ||
     ls "$abs_top_builddir"/nbd-tmem/.libs/*.so >/dev/null 2>&1; then
    fail "the plugin is built but make install did not put it in $plugindir"
else
    plugin_status="skipped: the plugin is not in this tree yet"
fi

# The systemd units.
units=$(find "$dest$unitdir" -maxdepth 1 -type f \
             \( -name '*.service' -o -name '*.mount' -o -name '*.socket' \
                -o -name '*.timer' -o -name '*.target' \) 2>/dev/null || true)
if [ -n "$units" ]; then
    requires command -v systemd-analyze
    # The units name installed programs by their final paths, which do
    # not exist outside DESTDIR: verify copies that point into DESTDIR
    # instead (only paths of files this install made are rewritten; the
    # rest of the system, nbdkit included, is the real one).
    mkdir "$tmp/units"
    : > "$tmp/rewrite.sed"
    (cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||') |
    while read -r f; do
        echo "/^Exec/ s#(^|[=@+!:[:space:]-])$f([[:space:]]|\$)#\\1$dest$f\\2#g"
    done > "$tmp/rewrite.sed"
    for u in $units; do
        sed -E -f "$tmp/rewrite.sed" "$u" > "$tmp/units/${u##*/}"
    done
    out=$(SYSTEMD_UNIT_PATH="$tmp/units:" \
          systemd-analyze verify "$tmp"/units/* 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify complains: $out"
    unit_status=ok
else
    unit_status="skipped: no systemd units in this tree yet"
fi

# What could not be checked yet is a skip, not a pass.
echo "tmemctl: $ctl_status"
echo "plugin: $plugin_status"
echo "units: $unit_status"
case "$ctl_status$plugin_status$unit_status" in
*skipped*) skip "installed files ok; tmemctl: $ctl_status; plugin: $plugin_status; units: $unit_status" ;;
esac
