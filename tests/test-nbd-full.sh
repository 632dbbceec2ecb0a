#!/usr/bin/env bash
# "Full" means full: a device twice the pool's size, written with random
# 1 MiB blocks as fast as the client goes, is refused (ENOSPC) only once
# the pool is full: every block but the one that did not fit is taken,
# within three chunks of the ceiling (chunk 0 is never used, one chunk is
# left to compaction, the label takes one), for 4M, 16M and 64M pools.
# Everything acknowledged reads back.  The metadata, the grower's reserve
# and a margin once counted against the ceiling and refused early.
. ./functions.sh
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
py=$(python_nbd)
[ -n "$py" ] || skip "python3-libnbd (import nbd) is missing"
tmp=$(mktemp_dir)
cat > "$tmp/fill.py" <<'PY'
import nbd, os, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
blk = 1 << 20
size = h.get_size()
data = os.urandom(size)
off = 0
while off < size:
    try:
        h.pwrite(data[off:off + blk], off)
    except nbd.Error as e:
        if e.errno not in ("ENOSPC", 28):
            raise
        break
    off += blk
for o in range(0, off, blk):
    assert h.pread(blk, o) == data[o:o + blk], o
print(off)
PY
for mb in 4 16 64; do
    pool=$(unique_segment)-$mb; cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
    acked=$(nbdkit -U - "$TMEM_PLUGIN" size=$((mb * 2))M pool=$pool \
                pool-size=${mb}M --run "'$py' '$tmp/fill.py' \"\$uri\"" \
                2> "$tmp/log") || fail "${mb}M: $(grep -v warning "$tmp/log")"
    ceiling=$((mb << 20))
    want=$((ceiling - (1 << 20) - 3 * 65536))
    echo "pool ${mb}M: $acked bytes taken before ENOSPC (at least $want)"
    [ "$acked" -lt "$ceiling" ] || fail "${mb}M: more than the ceiling taken"
    [ "$acked" -ge "$want" ] || fail "${mb}M: refused at $acked, the pool was not full"
done
echo "full: ok"
