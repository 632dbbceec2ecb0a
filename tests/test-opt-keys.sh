#!/usr/bin/env bash
# One option parser: the plugin's keys, the cache's -o options, tmemctl's
# KEY=VALUE and tmem.conf refuse the same bad value with the same words
# ("KEY: what is wrong"), and every range is the pool's own (contexts 1 to
# 62, a pool of 1M to 16G - 128K), so nothing the parser takes is refused
# later by tmem_open.  No pool is made: every case fails while parsing.
. ./functions.sh
requires test -x "$TMEMCTL"

tmp=$(mktemp_dir)
pool=$(unique_segment)
cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
: > "$tmp/empty.conf"

have_plugin=no have_cache=no
if nbdkit --version > /dev/null 2>&1 && [ -e "$TMEM_PLUGIN" ]; then
    have_plugin=yes
fi
[ -x "$TMEM_FUSE_CACHE" ] && have_cache=yes

# Each prints what its program said of KEY=VALUE, less the program's own
# prefix, and fails if the program took it.
by_plugin ()
{
    if nbdkit -U - "$TMEM_PLUGIN" pool=$pool size=1M \
              config="$tmp/empty.conf" "$1=$2" --run true \
              > /dev/null 2> "$tmp/err"; then
        fail "the plugin took $1=$2"
    fi
    sed -n 's/^nbdkit: \(tmem\[[0-9]*\]: \)\?error: //p' "$tmp/err" | head -1
}
by_cache ()
{
    if "$TMEM_FUSE_CACHE" -o "config=$tmp/empty.conf,pool=$pool,$1=$2" \
            "$tmp" "$tmp/none" > /dev/null 2> "$tmp/err"; then
        fail "the cache took -o $1=$2"
    fi
    sed -n 's/^tmem-fuse-cache: //p' "$tmp/err" | grep -v '^warning' | head -1
}
by_ctl ()
{
    if "$TMEMCTL" --config "$tmp/empty.conf" config "$1=$2" \
            > /dev/null 2> "$tmp/err"; then
        fail "tmemctl took $1=$2"
    fi
    sed -n 's/^tmemctl: //p' "$tmp/err" | head -1
}
# by_file SECTION KEY VALUE: "KEY: ..." for line 2 of a tmem.conf.
by_file ()
{
    printf '[%s]\n%s = %s\n' "$1" "$2" "$3" > "$tmp/bad.conf"
    if "$TMEMCTL" --config "$tmp/bad.conf" config > /dev/null 2> "$tmp/err"; then
        fail "tmem.conf took [$1] $2 = $3"
    fi
    sed -n "s|^tmemctl: $tmp/bad.conf:2: ||p" "$tmp/err" | head -1
}

# same OPTION SECTION KEY VALUE MESSAGE: every program that takes OPTION
# says "OPTION: MESSAGE", the file "KEY: MESSAGE".
same ()
{
    local opt=$1 section=$2 key=$3 value=$4 want=$5 got
    got=$(by_ctl "$opt" "$value")
    [ "$got" = "$opt: $want" ] || fail "tmemctl $opt=$value: '$got', not '$opt: $want'"
    if [ $have_plugin = yes ] && [ "$section" != cache ]; then
        got=$(by_plugin "$opt" "$value")
        [ "$got" = "$opt: $want" ] || fail "plugin $opt=$value: '$got', not '$opt: $want'"
    fi
    if [ $have_cache = yes ] && [ "$section" != swap ]; then
        got=$(by_cache "$opt" "$value")
        [ "$got" = "$opt: $want" ] || fail "cache -o $opt=$value: '$got', not '$opt: $want'"
    fi
    got=$(by_file "$section" "$key" "$value")
    [ "$got" = "$key: $want" ] || fail "tmem.conf $key = $value: '$got', not '$key: $want'"
    echo "ok: $opt=$value -> $want"
}

# The pool's ranges, everywhere.
same contexts pool contexts 100 "'100' is out of range (1 to 62)"
same contexts pool contexts 63 "'63' is out of range (1 to 62)"
same contexts pool contexts 0 "'0' is out of range (1 to 62)"
same pool-size pool size 16G "'16G' is more than the maximum, 16777088K"
same pool-size pool size 512K "'512K' is less than the minimum, 1M"
# The same words for the same mistake.
same pool-size pool size 1Q \
     "'1Q' is not a size (expected a number with an optional K, M, G or T suffix, or N% of RAM)"
same level pool level high "'high' is not an integer"
same dedup pool dedup maybe \
     "'maybe' is not a boolean (expected yes/no, true/false, on/off or 1/0)"
same pool pool name a/b \
     "'a/b' is not a valid name (1 to 63 letters, digits, '.', '_' or '-', not starting with '.' or '-')"
same size swap size 4097 "'4097' is not a multiple of the page size (4096)"
same chunk-size cache chunk-size 12345 "'12345' is not a multiple of the page size (4096)"
same attr-timeout cache attr-timeout soon "'soon' is not a number of seconds"
same watermark-gap swap watermark-gap 512K "'512K' is less than the minimum, 1M"
same watermark-gap swap watermark-gap 2G "'2G' is more than the maximum, 1G"

# The highest contexts the parser takes, the pool takes.
"$TMEMCTL" --segment $pool create pool-size=1M contexts=62 > /dev/null ||
    fail "tmemctl create contexts=62 refused"
"$TMEMCTL" destroy --segment $pool > /dev/null

# A program's own keys are its own: the others do not know them.
got=$(by_ctl reset yes)
[ "$got" = "reset: unknown key" ] || fail "tmemctl reset=yes: '$got'"
got=$(by_file swap overflow-size 1G)
[ "$got" = "overflow-size: unknown key in [swap]" ] || fail "tmem.conf overflow-size: '$got'"
if [ $have_plugin = yes ]; then
    got=$(by_plugin overflow-size 100)
    [ "$got" = "overflow-size: '100' is not a multiple of the page size (4096)" ] ||
        fail "plugin overflow-size=100: '$got'"
    got=$(by_plugin chunk-size 1M)
    [ "$got" = "unknown key 'chunk-size' (nbdkit tmem --help lists the keys)" ] ||
        fail "plugin chunk-size=1M: '$got'"
fi
# What the documents say of the keys: the largest pool tmem.conf(5)
# names is the parser's; overflow-size is no tmem.conf key; the plugin
# takes none of the keys the README says only the scripts read.
max=$("$TMEMCTL" config pool-size=16T 2>&1 | sed -n 's/.*more than the maximum, \([0-9]*K\)$/\1/p')
[ -n "$max" ] && grep -q "($max)" "$abs_top_srcdir/man/tmem.conf.pod" ||
    fail "tmem.conf(5) does not give the maximum pool size, $max"
printf '[swap]\noverflow-size = 8M\n' > "$tmp/ovs.conf"
got=$("$TMEMCTL" --config "$tmp/ovs.conf" config 2>&1 || true)
[ "$got" = "tmemctl: $tmp/ovs.conf:2: overflow-size: unknown key in [swap]" ] ||
    fail "[swap] overflow-size: '$got'"
grep -q "the plugin takes neither\$" "$abs_top_srcdir/README.md" ||
    fail "README: no list of the keys the plugin does not take"
if [ $have_plugin = yes ]; then
    for k in socket threads priority free-notify; do
        got=$(by_plugin "$k" 1)
        [ "$got" = "unknown key '$k' (nbdkit tmem --help lists the keys)" ] ||
            fail "plugin $k=1: '$got'"
        grep -A1 "the plugin takes neither\$" "$abs_top_srcdir/README.md" | grep -q "\`$k\`" ||
            fail "README does not say the plugin does not take $k"
    done
fi
if [ $have_cache = yes ]; then
    got=$(by_cache admit sometimes)
    [ "$got" = "admit: 'sometimes' is not 'repeat' or 'all'" ] ||
        fail "cache -o admit=sometimes: '$got'"
    got=$(by_cache timestamp-granularity -1)
    [ "$got" = "timestamp-granularity: '-1' is out of range (0 to 86400 seconds)" ] ||
        fail "cache -o timestamp-granularity=-1: '$got'"
fi
echo "plugin: $have_plugin, cache: $have_cache"
