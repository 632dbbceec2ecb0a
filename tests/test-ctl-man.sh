#!/bin/bash
# The man pages: podchecker must find no error and no warning in the POD,
# and groff must render every generated page without a single warning
# (groff exits 0 even on an undefined macro, so its stderr is what counts).
# The pages must also document every key of the example tmem.conf and
# every option the programs' --help lists.
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
# nbdkit-tmem-plugin(1) documents every key of the plugin's --help, and
# tmem-fuse-cache(1) every -o option of its own.
if [ -e "$TMEM_PLUGIN" ] && command -v nbdkit >/dev/null; then
    for key in $(nbdkit "$TMEM_PLUGIN" --help 2>/dev/null |
                 sed -n 's/^\([a-z][a-z-]*\)=.*/\1/p'); do
        grep -q "B<$key=>" "$man_src/nbdkit-tmem-plugin.pod" ||
            fail "nbdkit-tmem-plugin.pod does not document $key="
    done
fi
if [ -x "$TMEM_FUSE_CACHE" ]; then
    for opt in $("$TMEM_FUSE_CACHE" --help 2>&1 | sed -n '/^Usage\|^usage/,/^$/p;/options/,/^$/p' |
                 grep -o -- '-o [a-z][a-z._-]*' | sed 's/^-o //' | sort -u); do
        case "$opt" in
        *.NAME|*.) opt=${opt%NAME}; opt=${opt%.}. ;;
        esac
        grep -q "B<-o $opt" "$man_src/tmem-fuse-cache.pod" ||
            fail "tmem-fuse-cache.pod does not document -o $opt"
    done
fi
echo "man pages: ok"
