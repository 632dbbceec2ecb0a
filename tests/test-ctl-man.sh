#!/bin/bash
# The man pages: podchecker must find no error and no warning in the POD,
# and groff must render every generated page without a single warning
# (groff exits 0 even on an undefined macro, so its stderr is what counts).
# The pages must also document every key of the example tmem.conf and
# every option tmemctl --help lists.
. ./functions.sh

requires command -v podchecker
requires command -v groff
man_src="$abs_top_srcdir/man"
man_build="$abs_top_builddir/man"
pages="nbdkit-tmem-plugin.1 tmem-fuse-cache.1 tmemctl.8 tmem.conf.5"
[ -f "$man_build/tmemctl.8" ] ||
    skip "man pages not built: configure found no pod2man"

for pod in "$man_src"/*.pod; do
    out=$(podchecker -warnings -warnings "$pod" 2>&1) ||
        fail "podchecker $pod: $out"
    [ "$out" = "$pod pod syntax OK." ] ||
        fail "podchecker $pod says: $out"
done

for page in $pages; do
    [ -s "$man_build/$page" ] || fail "$page was not built"
    err=$(groff -man -ww -z "$man_build/$page" 2>&1 >/dev/null)
    [ -z "$err" ] || fail "groff warns about $page: $err"
    # Every page has the sections a reader looks for.
    for sect in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
        grep -q "^\.SH \"$sect\"" "$man_build/$page" ||
            fail "$page has no $sect section"
    done
done

# tmem.conf(5) documents every key of the example file, in its section.
section=
while read -r line; do
    case "$line" in
    \[*\]) section=${line#[}; section=${section%]} ;;
    \#[a-z]*=*)
        key=${line#\#}; key=${key%%=*}; key=${key% }
        grep -q "^=head1 SECTION \[$section\]" "$man_src/tmem.conf.pod" ||
            fail "tmem.conf.pod has no section [$section]"
        sed -n "/^=head1 SECTION \[$section\]/,/^=head1 [^S]/p" \
            "$man_src/tmem.conf.pod" | grep -q "^=item B<$key =>" ||
            fail "tmem.conf.pod does not document $key in [$section]"
        ;;
    esac
done < "$abs_top_srcdir/tmem.conf"

# tmemctl(8) documents every long option of tmemctl --help.
if [ -x "$TMEMCTL" ]; then
    for opt in $("$TMEMCTL" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        grep -q "B<$opt>" "$man_src/tmemctl.pod" ||
            fail "tmemctl.pod does not document $opt"
    done
fi
echo "man pages: ok"
