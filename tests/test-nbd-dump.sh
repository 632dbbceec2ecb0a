#!/usr/bin/env bash
# What nbdkit and a client learn about tmem.so: --dump-plugin, --help,
# the negotiated features, -D tmem.* debug flags, statistics at unload.
. ./functions.sh
requires nbdkit --version
requires nbdinfo --version
requires qemu-io --version
requires test -e "$TMEM_PLUGIN"

tmp=$(mktemp_dir); cleanup_fn "rm -rf '$tmp'"
pool=$(unique_segment); cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"

nbdkit "$TMEM_PLUGIN" --dump-plugin > "$tmp/dump"
for want in name=tmem "version=" api_version=2 thread_model=parallel \
            magic_config_key=size has_extents=1 has_cache=1 has_zero=1 \
            has_trim=1 has_can_fast_zero=1 has_block_size=1 \
            has_after_fork=1 has_get_ready=1 tmem_version= tmem_overflow=yes; do
    grep -q "^$want" "$tmp/dump" || fail "--dump-plugin lacks $want"
done

nbdkit "$TMEM_PLUGIN" --help > "$tmp/help"
for key in size= export= pool= pool-size= overflow= overflow-size= \
           min-share= max-share= level= dedup= lock= prefault= contexts= reset= config= \
           log-file= watermark-gap= ballast= swap-device= demote-after= dedup-scope= dictionary=; do
    grep -q "^$key" "$tmp/help" || fail "--help does not document $key"
done

nbdkit -U - "$TMEM_PLUGIN" 1M pool=$pool pool-size=32M \
       --run 'nbdinfo "$uri"' > "$tmp/info" 2> "$tmp/info.err" ||
    fail "nbdinfo: $(cat "$tmp/info.err")"
# The watermark warning asks for 32 MiB between the watermarks on this
# machine's RAM (a scale factor in ten-thousandths, at most 1000), only
# when the settings are lower.  RAM as the plugin reads it (sysinfo, which
# getconf uses too; /proc/meminfo may be a container's own).
ram=$(( $(getconf _PHYS_PAGES) * $(getconf PAGESIZE) / 1024 ))
need=$(( (32768 * 10000 + ram - 1) / ram )); [ "$need" -gt 1000 ] && need=1000
scale=$(cat /proc/sys/vm/watermark_scale_factor 2>/dev/null) || scale=
min_free=$(cat /proc/sys/vm/min_free_kbytes 2>/dev/null) || min_free=
if [ -z "$scale" ] || [ -z "$min_free" ]; then
    : # the plugin cannot read them either, and says nothing
elif [ "$scale" -lt "$need" ] || [ "$min_free" -lt 16384 ]; then
    grep -q "raise them to at least 16384 and $need (32 MiB between the watermarks on this machine, \[swap\] watermark-gap" "$tmp/info.err" ||
        fail "the watermark warning does not ask for $need: $(grep watermark "$tmp/info.err")"
else
    ! grep -q "watermark_scale_factor" "$tmp/info.err" ||
        fail "a watermark warning with vm.watermark_scale_factor=$scale >= $need: $(cat "$tmp/info.err")"
fi
# watermark-gap= sets what it asks for: 1G is more than any machine has.
nbdkit -U - "$TMEM_PLUGIN" 1M pool=$pool pool-size=32M watermark-gap=1G \
       --run true 2> "$tmp/gap.err" || fail "watermark-gap=1G: $(cat "$tmp/gap.err")"
need=$(( (1048576 * 10000 + ram - 1) / ram )); [ "$need" -gt 1000 ] && need=1000
if [ -n "$scale" ] && [ -n "$min_free" ] && [ "$scale" -lt "$need" ]; then
    grep -q "raise them to at least 16384 and $need (1024 MiB between the watermarks on this machine, \[swap\] watermark-gap" "$tmp/gap.err" ||
        fail "watermark-gap=1G: the warning does not ask for $need: $(grep watermark "$tmp/gap.err")"
fi
for want in "export-size: 1048576" "can_multi_conn: true" "can_fua: true" \
            "can_fast_zero: true" "can_trim: true" "can_cache: true" \
            "block_size_preferred: 4096" "base:allocation"; do
    grep -q "$want" "$tmp/info" || fail "nbdinfo lacks '$want'"
done

# The segment the plugin just created has the plugin's default zstd level
# (an empty config file: whatever /etc/tmem.conf says does not count here).
: > "$tmp/empty.conf"
level=$(sed -n 's/^tmem_default_level=//p' "$tmp/dump")
[ -n "$level" ] || fail "--dump-plugin lacks tmem_default_level"
rm -f /dev/shm/$pool /dev/shm/$pool.*
nbdkit -U - "$TMEM_PLUGIN" 1M pool=$pool pool-size=32M config="$tmp/empty.conf" \
       --run 'nbdinfo "$uri"' > /dev/null || fail "nbdkit with an empty config"
"$TMEMCTL" stats --pool "$pool" --json > "$tmp/json" || fail "tmemctl stats"
grep -Eq "\"level\": *$level[,} ]" "$tmp/json" ||
    fail "pool created at level $(grep -o '"level": *[-0-9]*' "$tmp/json"), not the default $level"

# level= wins over the default.
rm -f /dev/shm/$pool /dev/shm/$pool.*
nbdkit -U - "$TMEM_PLUGIN" 1M pool=$pool pool-size=32M config="$tmp/empty.conf" \
       level=3 --run 'nbdinfo "$uri"' > /dev/null || fail "nbdkit level=3"
"$TMEMCTL" stats --pool "$pool" --json > "$tmp/json" || fail "tmemctl stats"
grep -Eq '"level": *3[,} ]' "$tmp/json" || fail "level=3 not applied"

# -D tmem.requests=1 logs each request; -v prints statistics at unload.
nbdkit -v -D tmem.requests=1 -U - "$TMEM_PLUGIN" 1M pool=$pool \
       --run 'nbdinfo --map "$uri"; qemu-io -f raw -c "write 0 8k" "$uri"' \
       > /dev/null 2> "$tmp/log"
grep -q 'pwrite 8192 @ 0' "$tmp/log" || fail "-D tmem.requests=1 logged no pwrite"
grep -q 'export swap: .*pages stored' "$tmp/log" || fail "no statistics at unload"
grep -q 'partial pages' "$tmp/log" || fail "no plugin counters at unload"
