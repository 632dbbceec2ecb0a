#!/bin/bash
# scripts/tmem-vm refuses bad usage and bad settings with a clear message
# before starting anything; and, without systemd (--no-systemd) and as
# this user, add, list, show and remove really serve guests on one pool:
# each on its own socket, mode 0600, owned by the guest's user, with its
# own sub-pool and share.  (A real guest swaps on it in check-vm.)
. ./functions.sh

. "$srcdir/vm-functions.sh"

expect_msg 2 usage "$tv"
expect_msg 2 "unknown action 'go'" "$tv" go
expect_msg 2 "unknown option '--bogus'" "$tv" --bogus list
expect_msg 2 "add takes one guest name" "$tv" add
expect_msg 2 "add takes one guest name" "$tv" add a b
expect_msg 2 "list takes no guest" "$tv" list a
expect_msg 2 "go with add" "$tv" remove a --size 1G
expect_msg 2 "force goes with remove" "$tv" add a --force
expect_msg 2 "need --no-systemd" "$tv" -g "$tmp/guests" add a
expect_msg 2 "need --no-systemd" "$tv" -r "$tmp/run" remove a
# An empty value (an unset variable in a caller's script) is named, not
# taken for the current directory or a missing file.
for o in -c -p -g -r --user; do
    expect_msg 1 "$o: an empty value" "$tv" "${opts[@]}" "$o" "" list
done
expect_msg 1 "guest name '.hidden'" "$tv" "${opts[@]}" add .hidden
expect_msg 1 "guest name 'a/b'" "$tv" "${opts[@]}" add a/b
expect_msg 1 "guest name 'a b'" "$tv" "${opts[@]}" add "a b"
expect_msg 1 "longer than 63" "$tv" "${opts[@]}" add "$(printf 'g%.0s' $(seq 64))"
expect_msg 1 "size: 'lots'" "$tv" "${opts[@]}" add g1 --size lots --user "$me"
expect_msg 1 "size: '4097'" "$tv" "${opts[@]}" add g1 --size 4097 --user "$me"
expect_msg 1 "size: '0'" "$tv" "${opts[@]}" add g1 --size 0 --user "$me"
expect_msg 1 "size: an empty size" "$tv" "${opts[@]}" add g1 --size "" --user "$me"
# Sizes past 2^63 bytes are refused, not wrapped (16777217T was 1T).
expect_msg 1 "size: '16777217T'" "$tv" "${opts[@]}" add g1 --size 16777217T --user "$me"
expect_msg 1 "size: '999999999999999T'" "$tv" "${opts[@]}" add g1 --size 999999999999999T --user "$me"
expect_msg 1 "maximum '16777216T' is not a size" "$tv" "${opts[@]}" add g1 --share 0:16777216T --user "$me"
expect_msg 1 "minimum '9223372036854775808' is not a size" "$tv" "${opts[@]}" add g1 --share 9223372036854775808:1M --user "$me"
expect_msg 1 "is not MIN:MAX" "$tv" "${opts[@]}" add g1 --share 8M --user "$me"
expect_msg 1 "minimum 'x' is not a size" "$tv" "${opts[@]}" add g1 --share x:8M --user "$me"
expect_msg 1 "maximum '8Q' is not a size" "$tv" "${opts[@]}" add g1 --share 1M:8Q --user "$me"
expect_msg 1 "minimum 16M is more than the maximum 8M" "$tv" "${opts[@]}" add g1 --share 16M:8M --user "$me"
expect_msg 1 "dedup-scope: 'all' is not subpool or pool" "$tv" "${opts[@]}" add g1 --dedup-scope all --user "$me"
expect_msg 2 "go with add" "$tv" "${opts[@]}" show g1 --dedup-scope pool
expect_msg 1 "cannot have a reserved minimum" "$tv" "${opts[@]}" add g1 --dedup-scope pool --share 8M: --user "$me"
# The same when the scope comes from the config file (the server would
# refuse it at its start, its message in the journal).
printf '[pool]\nname = %s\nsize = 64M\n[swap]\ndedup-scope = pool\n' "$pool" > "$tmp/scope.conf"
expect_msg 1 "dedup-scope pool (\[swap\] dedup-scope of $tmp/scope.conf): a guest whose pages are shared cannot have a reserved minimum" \
    "$tv" -c "$tmp/scope.conf" "${opts[@]:2}" add g1 --share 8M: --user "$me"
expect_msg 1 "no user 'no-such-user-here'" "$tv" "${opts[@]}" add g1 --user no-such-user-here
expect_msg 1 "host's own swap export" "$tv" "${opts[@]}" add swap --user "$me"
expect_msg 2 "overflow-size goes with --overflow" "$tv" "${opts[@]}" add g1 --overflow-size 8M --user "$me"
expect_msg 2 "go with add" "$tv" "${opts[@]}" show g1 --overflow "$tmp/ov"
expect_msg 1 "overflow-size: '5000'" "$tv" "${opts[@]}" add g1 --overflow "$tmp/ov" --overflow-size 5000 --user "$me"
expect_msg 1 "no directory $tmp/none for $tmp/none/ov" "$tv" "${opts[@]}" add g1 --overflow "$tmp/none/ov" --user "$me"
expect_msg 1 "is a directory" "$tv" "${opts[@]}" add g1 --overflow "$tmp" --user "$me"
expect_msg 1 "with blanks, ';' or '#'" "$tv" "${opts[@]}" add g1 --overflow "$tmp/a b" --user "$me"
expect_msg 1 "with blanks, ';' or '#'" "$tv" "${opts[@]}" add g1 --overflow "$tmp/a;b" --user "$me"
: > "$tmp/image"
expect_msg 1 "$tmp/image exists" "$tv" "${opts[@]}" add g1 --overflow "$tmp/image" --user "$me"
[ -e "$tmp/image" ] || fail "a refused add removed the file it named"
# 2^64 + 2 would wrap to 2 in bash's arithmetic.
printf '[pool]\nname = %s\nsize = 64M\n[swap]\nthreads = 18446744073709551618\n' "$pool" > "$tmp/wrap.conf"
expect_msg 1 "threads: '18446744073709551618' is out of range (1 to 1024)" \
    "$tv" -c "$tmp/wrap.conf" "${opts[@]:2}" add g1 --size 16M --user "$me"
# tmem.conf is read as the plugin reads it: a section header with a
# comment after it counts.
printf '[pool] ; the pool\nname = %s\nsize = 64M\n[swap] ; host swap\nexport = g1\n' "$pool" > "$tmp/commented.conf"
expect_msg 1 "host's own swap export" \
    "$tv" -c "$tmp/commented.conf" "${opts[@]:2}" add g1 --size 16M --user "$me"
expect_msg 1 "config file $tmp/none.conf does not exist" "$tv" -c "$tmp/none.conf" --no-systemd add g1 --user "$me"
expect_msg 1 "no guest 'g9'" "$tv" "${opts[@]}" remove g9
expect_msg 1 "no guest 'g9'" "$tv" "${opts[@]}" show g9
[ -e "$tmp/guests" ] && fail "a refused add left $tmp/guests behind"
# The run directory goes into the printed qemu and libvirt lines as it
# is, and a Unix socket path has at most 107 bytes.
expect_msg 1 "run-dir: '$tmp/a,b': use letters" "$tv" "${opts[@]:0:6}" -r "$tmp/a,b" --no-systemd add g1 --size 16M --user "$me"
expect_msg 1 "run-dir: '$tmp/a b': use letters" "$tv" "${opts[@]:0:6}" -r "$tmp/a b" --no-systemd add g1 --size 16M --user "$me"
long=$tmp/$(printf 'r%.0s' $(seq 100))
expect_msg 1 "socket path $long/g1.sock is $((${#long} + 8)) bytes, more than the 107" \
    "$tv" "${opts[@]:0:6}" -r "$long" --no-systemd add g1 --size 16M --user "$me"
# A directory another user may write to would let them put their own
# socket where qemu connects, or their own settings (a plugin= that the
# unit loads as root).
mkdir -m 0777 "$tmp/open" "$tmp/open/run"
chmod 0777 "$tmp/open/run"
expect_msg 1 "run-dir: $tmp/open/run is writable by other users" \
    "$tv" "${opts[@]:0:6}" -r "$tmp/open/run" --no-systemd add g1 --size 16M --user "$me"
expect_msg 1 "guest-dir: $tmp/open is writable by other users" \
    "$tv" "${opts[@]:0:4}" -g "$tmp/open/guests" "${opts[@]:6}" add g1 --size 16M --user "$me"
[ -e "$tmp/open/run/g1.sock" ] || [ -e "$tmp/open/guests" ] && fail "a refused add made files in $tmp/open"

# The rest serves for real.
requires nbdkit --version
requires test -e "$TMEM_PLUGIN"
requires command -v ss
cleanup_fn "for p in $tmp/run/*.pid; do [ -f \"\$p\" ] && kill \$(cat \"\$p\"); done 2>/dev/null"

"$tv" "${opts[@]}" add g1 --size 16M --share 8M:32M --user "$me" > "$tmp/add1" 2> "$tmp/err" ||
    fail "add g1: $(cat "$tmp/err")"
"$tv" "${opts[@]}" add g2 --size 16M --user "$me" --dedup-scope pool > "$tmp/add2" 2> "$tmp/err" ||
    fail "add g2: $(cat "$tmp/err")"
grep -qx "dedup-scope = pool" "$tmp/guests/g2.conf" || fail "add did not record --dedup-scope: $(cat "$tmp/guests/g2.conf")"
grep -q "dedup-scope" "$tmp/guests/g1.conf" && fail "add recorded a dedup-scope for g1, given none"
expect_msg 1 "guest 'g1' exists" "$tv" "${opts[@]}" add g1 --user "$me"
# 8M + 60M reserved is more than the 64M pool.
expect_msg 1 "would add up to 68M, more than the pool can reserve: its 64M less the 64K chunk" "$tv" "${opts[@]}" add g3 --share 60M: --user "$me"
# 8M + 56M is the whole pool, the chunk kept free for compaction too.
expect_msg 1 "would add up to 64M, more than the pool can reserve" "$tv" "${opts[@]}" add g3 --share 56M: --user "$me"
# The host's own swap's reservation counts too: 8M + 16M + 48M.
sed 's/^threads = 2$/threads = 2\nmin-share = 16M/' "$tmp/t.conf" > "$tmp/t16.conf"
grep -q "min-share = 16M" "$tmp/t16.conf" || fail "cannot make $tmp/t16.conf"
expect_msg 1 "would add up to 72M" "$tv" -c "$tmp/t16.conf" "${opts[@]:2}" add g3 --share 48M: --user "$me"

# A sub-pool of the guest's name already in the pool (an earlier guest's
# that remove could not drop, another program's) is not taken over: its
# pages would be the new guest's disk, its shares not the ones given.
"$TMEMCTL" create "$pool" --subpool gx:persistent:0:4M > /dev/null || fail "cannot make sub-pool gx"
expect_msg 1 "pool $pool already has a sub-pool 'gx'" "$tv" "${opts[@]}" add gx --size 16M --share 1M:8M --user "$me"
[ -e "$tmp/guests/gx.conf" ] && fail "a refused add recorded guest gx"
"$TMEMCTL" pools "$pool" | awk '$2 == "gx"' | grep -q "4.0 MiB" || fail "sub-pool gx changed: $("$TMEMCTL" pools "$pool")"
"$TMEMCTL" destroy "$pool" --subpool gx > /dev/null || fail "cannot drop sub-pool gx"

for g in g1 g2; do
    s=$tmp/run/$g.sock
    [ -S "$s" ] || fail "no socket $s"
    [ "$(stat -c '%a %U' "$s")" = "600 $me" ] || fail "$s is $(stat -c '%a %U' "$s"), not 600 $me"
done
grep -qF -- "-drive 'file=nbd+unix:///g1?socket=$tmp/run/g1.sock,format=raw,if=virtio,cache=none,discard=unmap,werror=report,rerror=report'" "$tmp/add1" ||
    fail "add does not print the qemu -drive: $(cat "$tmp/add1")"
grep -qF -- "virtio-blk-pci,drive=tmem-g1,werror=report" "$tmp/add1" || fail "add does not print the -blockdev form"
grep -qF "error_policy='report'" "$tmp/add1" || fail "add does not print the libvirt disk with error_policy='report'"
grep -qF "<host transport='unix' socket='$tmp/run/g1.sock'/>" "$tmp/add1" || fail "the libvirt disk lacks the socket"
"$tv" "${opts[@]}" show g1 | cmp -s - "$tmp/add1" || fail "show g1 differs from what add printed"

# qemu's own NBD client reads what was written through another connection
# (the same export, the same data).
if command -v qemu-io >/dev/null; then
    qemu-io -f raw -c 'write -P 0x5a 4096 8192' "nbd+unix:///g1?socket=$tmp/run/g1.sock" >/dev/null ||
        fail "qemu-io could not write to g1"
    qemu-io -f raw -c 'read -P 0x5a 4096 8192' "nbd+unix:///g1?socket=$tmp/run/g1.sock" | grep -q 'read 8192/8192' ||
        fail "qemu-io did not read back what it wrote to g1"
fi

# g2 opted in: its pages go to the pool's shared sub-pool.
if command -v qemu-io >/dev/null; then
    qemu-io -f raw -c 'write -P 0x5b 0 8192' "nbd+unix:///g2?socket=$tmp/run/g2.sock" >/dev/null ||
        fail "qemu-io could not write to g2"
    "$TMEMCTL" stats "$pool" --json | python3 -c 'import json, sys
d = json.load(sys.stdin)["subpools"]
sys.exit(0 if d.get(".shared", {}).get("bytes_compressed", 0) > 0 and
         d["g2"]["bytes_compressed"] == 0 else 1)' ||
        fail "g2's pages are not in .shared: $("$TMEMCTL" stats "$pool")"
fi

# A guest cannot open another's export: as root, one guest for nobody
# and one for daemon; qemu-io as nobody reads its own and is refused the
# other's (its socket is daemon's, mode 0600).
if [ "$(id -u)" -eq 0 ] && command -v qemu-io >/dev/null && id nobody >/dev/null 2>&1 &&
   id daemon >/dev/null 2>&1; then
    chmod 0711 "$tmp"
    "$tv" "${opts[@]}" add gn --size 1M --user nobody > /dev/null 2> "$tmp/err" || fail "add gn: $(cat "$tmp/err")"
    "$tv" "${opts[@]}" add gd --size 1M --user daemon > /dev/null 2> "$tmp/err" || fail "add gd: $(cat "$tmp/err")"
    as_nobody=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
    "${as_nobody[@]}" qemu-io -f raw -c 'read 0 4096' "nbd+unix:///gn?socket=$tmp/run/gn.sock" > "$tmp/out" 2>&1 ||
        fail "nobody cannot open its own export gn: $(cat "$tmp/out")"
    if "${as_nobody[@]}" qemu-io -f raw -c 'read 0 4096' "nbd+unix:///gd?socket=$tmp/run/gd.sock" > "$tmp/out" 2>&1; then
        fail "nobody opened daemon's export gd"
    fi
    grep -q "Permission denied" "$tmp/out" || fail "opening gd as nobody failed, but not for permission: $(cat "$tmp/out")"
    "$tv" "${opts[@]}" remove gn > /dev/null || fail "remove gn failed"
    "$tv" "${opts[@]}" remove gd > /dev/null || fail "remove gd failed"
else
    echo "not root (or no qemu-io, nobody, daemon): the check across users is left out"
fi

# The device's default size: 2.5 x the guest's maximum share, else the
# pool's size (the pool keeps a page for every slot ever written); a
# warning once the guests' devices add up to more than 3 x the pool.
grep -q "tmem-vm: warning" "$tmp/err" && fail "a warning for 32M of devices on a 64M pool: $(cat "$tmp/err")"
"$tv" "${opts[@]}" add g3 --share :8M --user "$me" > /dev/null 2> "$tmp/err" || fail "add g3: $(cat "$tmp/err")"
grep -qx "size = $((20 << 20))" "$tmp/guests/g3.conf" || fail "g3's device is not 2.5 x its 8M share: $(cat "$tmp/guests/g3.conf")"
grep -q "tmem-vm: warning" "$tmp/err" && fail "a warning for 52M of devices on a 64M pool: $(cat "$tmp/err")"
"$tv" "${opts[@]}" add g4 --user "$me" > /dev/null 2> "$tmp/err" || fail "add g4: $(cat "$tmp/err")"
grep -qx "size = $((160 << 20))" "$tmp/guests/g4.conf" || fail "g4's device is not 2.5 x the 64M pool: $(cat "$tmp/guests/g4.conf")"
grep -q "warning: the guests' swap devices would add up to 212M, more than three times the pool's 64M" "$tmp/err" ||
    fail "no warning for 212M of devices on a 64M pool: $(cat "$tmp/err")"
for g in g3 g4; do "$tv" "${opts[@]}" remove $g > /dev/null || fail "remove $g failed"; done

# An overflow file of its own: the server spills to it what the pool
# cannot hold; a second guest cannot share it; remove deletes it and the
# sub-pool's slot map beside the segment.
ovdir=$(block_backed_dir)
if [ -n "$ovdir" ]; then
    cleanup_fn "rm -rf '$ovdir'"
    # A server that dies right after its start (a stand-in nbdkit runs
    # the real one, then kills it): add fails, and leaves nothing of its
    # own behind (its settings, the server's sub-pool, slot map, lock
    # file and overflow file), so that the same add works afterwards.
    mkdir "$tmp/dying"
    cat > "$tmp/dying/nbdkit" <<EOF
#!/bin/bash
$(command -v nbdkit) "\$@" || exit
while [ "\$1" != --pidfile ]; do shift; done
for _ in \$(seq 100); do [ -s "\$2" ] && break; sleep 0.1; done
pid=\$(cat "\$2")
kill -KILL "\$pid"
while [ -n "\$(tr -d '\\0' < /proc/\$pid/cmdline 2>/dev/null)" ]; do sleep 0.1; done
EOF
    # The same for one that dies a moment after its pidfile names it (its
    # plugin fails in .after_fork, which attaches to the pool after
    # nbdkit wrote the pidfile).
    mkdir "$tmp/late"
    cat > "$tmp/late/nbdkit" <<EOF
#!/bin/bash
$(command -v nbdkit) "\$@" || exit
while [ "\$1" != --pidfile ]; do shift; done
for _ in \$(seq 100); do [ -s "\$2" ] && break; sleep 0.1; done
(sleep 0.3; kill -KILL "\$(cat "\$2")") > /dev/null 2>&1 &
EOF
    chmod +x "$tmp/dying/nbdkit" "$tmp/late/nbdkit"
    for how in dying late; do
        PATH=$tmp/$how:$PATH expect_msg 1 "nbdkit of guest 'g5' exited after its start" \
            "$tv" "${opts[@]}" add g5 --size 32M --share :4M --overflow "$ovdir/g5" --overflow-size 16M --user "$me"
        [ -e "$ovdir/g5" ] && fail "a failed add ($how server) left the overflow file its server made"
        [ -e "$tmp/guests/g5.conf" ] && fail "a failed add ($how server) left its settings"
        "$TMEMCTL" pools "$pool" | grep -qw g5 && fail "a failed add ($how server) left sub-pool g5: $("$TMEMCTL" pools "$pool")"
        ls /dev/shm/"$pool".nbd-g5.* 2>/dev/null && fail "a failed add ($how server) left export g5's files beside the segment"
    done
    # A rollback that cannot drop the sub-pool (a stand-in tmemctl
    # refuses) keeps the settings that name it and the overflow file, and
    # says so: remove drops them once the cause is gone.  A remove that
    # cannot drop it keeps them too.
    printf '#!/bin/bash\ncase " $* " in *" destroy --subpool "*) echo "tmemctl: destroy: busy (stand-in)" >&2; exit 1 ;; esac\nexec %s "$@"\n' \
        "$TMEMCTL" > "$tmp/busy-tmemctl"
    chmod +x "$tmp/busy-tmemctl"
    kept="guest 'g5' is kept in $tmp/guests/g5.conf with its sub-pool and overflow file $ovdir/g5: 'tmem-vm -g $tmp/guests -r $tmp/run --no-systemd remove g5' drops what is left once the cause is gone"
    PATH=$tmp/dying:$PATH TMEMCTL=$tmp/busy-tmemctl expect_msg 1 "$kept" \
        "$tv" "${opts[@]}" add g5 --size 32M --share :4M --overflow "$ovdir/g5" --overflow-size 16M --user "$me"
    [ -e "$ovdir/g5" ] && [ ! -e "$tmp/guests/g5.conf" ] &&
        fail "a rollback that could not drop sub-pool g5 left its overflow file $ovdir/g5 without the settings that name it"
    TMEMCTL=$tmp/busy-tmemctl expect_msg 1 "$kept" "$tv" "${opts[@]}" remove g5
    [ -e "$ovdir/g5" ] && [ ! -e "$tmp/guests/g5.conf" ] &&
        fail "a remove that could not drop sub-pool g5 left its overflow file $ovdir/g5 without the settings that name it"
    "$tv" "${opts[@]}" remove g5 > "$tmp/out" 2>&1 || fail "remove g5 after a rollback that could not drop its sub-pool: $(cat "$tmp/out")"
    [ -e "$ovdir/g5" ] && fail "remove g5 after a half rollback left the overflow file"
    "$TMEMCTL" pools "$pool" | grep -qw g5 && fail "remove g5 after a half rollback left sub-pool g5"
    "$tv" "${opts[@]}" add g5 --size 32M --share :4M --overflow "$ovdir/g5" --overflow-size 16M --user "$me" \
        > "$tmp/add5" 2> "$tmp/err" || fail "add g5: $(cat "$tmp/err")"
    grep -qx "overflow = $ovdir/g5" "$tmp/guests/g5.conf" || fail "add did not record --overflow: $(cat "$tmp/guests/g5.conf")"
    grep -qx "overflow-size = $((16 << 20))" "$tmp/guests/g5.conf" || fail "add did not record --overflow-size: $(cat "$tmp/guests/g5.conf")"
    grep -qF "go to $ovdir/g5" "$tmp/add5" || fail "add does not say where the overflow goes: $(cat "$tmp/add5")"
    [ "$(stat -c %s "$ovdir/g5")" -eq $((16 << 20)) ] || fail "the overflow file is not 16M: $(ls -l "$ovdir/g5")"
    expect_msg 1 "is guest 'g5's overflow file" "$tv" "${opts[@]}" add g6 --overflow "$ovdir/g5" --user "$me"
    if command -v qemu-io >/dev/null; then
        # 12 MiB of random pages through a 4M share: most go to the file.
        head -c $((12 << 20)) /dev/urandom > "$tmp/rand"
        qemu-img convert -n -f raw -O raw "$tmp/rand" "nbd+unix:///g5?socket=$tmp/run/g5.sock" ||
            fail "qemu-img could not write 12M to g5"
        qemu-img convert -f raw -O raw "nbd+unix:///g5?socket=$tmp/run/g5.sock" "$tmp/back" ||
            fail "qemu-img could not copy g5 out"
        cmp -n $((12 << 20)) "$tmp/rand" "$tmp/back" || fail "g5 did not read back what it was given"
        "$TMEMCTL" check --deep "$pool" > "$tmp/out" 2>&1 || true
        n=$(sed -n 's/^export g5: \([0-9]*\) overflow pages verified.*/\1/p' "$tmp/out")
        echo "g5: $n pages in its overflow file"
        [ "${n:-0}" -ge 1024 ] || fail "g5's pages did not go to its overflow file: $(cat "$tmp/out")"
    fi
    ls /dev/shm/"$pool".nbd-g5.ovmap > /dev/null 2>&1 || fail "no slot map for g5 beside the segment"
    # Unheld lock files of other exports whose names start alike.
    : > "/dev/shm/$pool.nbd-g5x.lock"
    : > "/dev/shm/$pool.nbd-g.lock"
    "$tv" "${opts[@]}" remove g5 > "$tmp/out" 2>&1 || fail "remove g5: $(cat "$tmp/out")"
    grep -qF "removed the overflow file $ovdir/g5" "$tmp/out" || fail "remove g5 did not say it removed the file: $(cat "$tmp/out")"
    [ -e "$ovdir/g5" ] && fail "remove left g5's overflow file"
    [ -e "/dev/shm/$pool.nbd-g5.ovmap" ] && fail "remove left g5's slot map"
    for f in g5x g; do
        [ -e "/dev/shm/$pool.nbd-$f.lock" ] || fail "remove of g5 took export $f's lock file away"
        rm -f "/dev/shm/$pool.nbd-$f.lock"
    done
else
    echo "no block-backed directory: the overflow file case is left out"
fi

"$tv" "${opts[@]}" list > "$tmp/list" || fail "list: exit status $? with both servers up: $(cat "$tmp/list")"
grep -qE "^g1 +16M +8M +32M +$me +pid [0-9]+ +0 +$pool$" "$tmp/list" || fail "list lacks g1: $(cat "$tmp/list")"
grep -qE "^g2 +16M +- +- +$me +pid [0-9]+ +0 +$pool$" "$tmp/list" || fail "list lacks g2: $(cat "$tmp/list")"
# tmemctl shows each guest's sub-pool with its share.
grep -qE "^[0-9]+ +g1 +persistent +8.0 MiB +32.0 MiB" "$tmp/list" || fail "list has no sub-pool g1 with 8M:32M: $(cat "$tmp/list")"
"$TMEMCTL" stats "$pool" | grep -qE '^ +segment +(g1 +g2|g2 +g1)( +\.shared)?$' ||
    fail "tmemctl stats does not show g1 and g2: $("$TMEMCTL" stats "$pool")"

# A guest of another pool (add -c FILE): list shows it with its pool, and
# that pool's sub-pools after the first's; list -c FILE only the guests
# of FILE's pool.
pool2=$pool-b
cleanup_fn "rm -f /dev/shm/$pool2 /dev/shm/$pool2.*"
printf '[pool]\nname = %s\nsize = 32M\n[swap]\nthreads = 2\n' "$pool2" > "$tmp/t2.conf"
# pool_block 'NAME (config FILE)': the lines under "pool NAME (config FILE):" in the list.
pool_block () { awk -v h="pool $1:" '$0 == h { on = 1; next } /^$/ { on = 0 } on' "$tmp/list"; }
"$tv" -c "$tmp/t2.conf" "${opts[@]:2}" add g8 --size 1M --share :2M --user "$me" > /dev/null 2> "$tmp/err" ||
    fail "add g8: $(cat "$tmp/err")"
"$tv" "${opts[@]:2}" list > "$tmp/list" || fail "list: exit status $?: $(cat "$tmp/list")"
grep -qE "^g1 +16M .* $pool$" "$tmp/list" || fail "list lacks g1 on pool $pool: $(cat "$tmp/list")"
grep -qE "^g8 +1M +- +2M +$me +pid [0-9]+ +0 +$pool2$" "$tmp/list" || fail "list lacks g8 on pool $pool2: $(cat "$tmp/list")"
pool_block "$pool2 (config $tmp/t2.conf)" | grep -qE "^[0-9]+ +g8 +persistent +- +2.0 MiB" ||
    fail "list does not show pool $pool2's sub-pool g8: $(cat "$tmp/list")"
pool_block "$pool (config $tmp/t.conf)" | grep -qE "^[0-9]+ +g1 +persistent" ||
    fail "list does not show pool $pool's sub-pool g1: $(cat "$tmp/list")"
"$tv" "${opts[@]}" list > "$tmp/list" || fail "list -c: exit status $?: $(cat "$tmp/list")"
grep -q "^g8 " "$tmp/list" && fail "list -c $tmp/t.conf shows g8 of pool $pool2: $(cat "$tmp/list")"
grep -q "^pool $pool2" "$tmp/list" && fail "list -c $tmp/t.conf shows pool $pool2: $(cat "$tmp/list")"
grep -qE "^g1 +16M .* $pool$" "$tmp/list" || fail "list -c lacks g1: $(cat "$tmp/list")"
# An add that fails leaves alone what was there before it: a guest of
# the same name served from another guest directory (another pool) with
# the same run directory, whose server the add cannot start beside it.
p=$(cat "$tmp/run/g1.pid")
expect_msg 1 "guest 'g1' is already being served" \
    "$tv" -c "$tmp/t2.conf" "${opts[@]:2:2}" -g "$tmp/guests2" "${opts[@]:6}" add g1 --size 1M --user "$me"
kill -0 "$p" 2>/dev/null || fail "a failed add of g1 (another guest directory) stopped the g1 already served (pid $p)"
[ "$(cat "$tmp/run/g1.pid" 2>/dev/null)" = "$p" ] || fail "a failed add of g1 (another guest directory) removed g1's pidfile"
[ -S "$tmp/run/g1.sock" ] || fail "a failed add of g1 (another guest directory) removed g1's socket"
[ -e "$tmp/guests2/g1.conf" ] && fail "a failed add recorded guest g1 in $tmp/guests2"
# remove drops the guest's sub-pool from its own pool, not from the one
# a wrong -c names (where a sub-pool of that name may be someone else's).
"$TMEMCTL" create "$pool2" --subpool g1:persistent > /dev/null || fail "cannot make sub-pool g1 in $pool2"
expect_msg 1 "guest 'g1' is on the pool of $tmp/t.conf (as added), not of $tmp/t2.conf: leave -c and TMEM_CONFIG out" \
    "$tv" -c "$tmp/t2.conf" "${opts[@]:2}" remove g1
"$TMEMCTL" pools "$pool2" | grep -qw g1 || fail "remove -c $tmp/t2.conf g1 dropped $pool2's sub-pool g1"
[ -e "$tmp/guests/g1.conf" ] || fail "remove -c $tmp/t2.conf g1 removed guest g1"
"$TMEMCTL" destroy "$pool2" --subpool g1 > /dev/null || fail "cannot drop $pool2's sub-pool g1"
"$tv" -c "$tmp/t2.conf" "${opts[@]:2}" remove g8 > /dev/null || fail "remove g8 failed"

# A pidfile whose server died may name a pid the system has given to
# another process since: that one is neither taken for the server nor
# signalled.
"$tv" "${opts[@]}" add g7 --size 1M --user "$me" > /dev/null 2> "$tmp/err" || fail "add g7: $(cat "$tmp/err")"
p=$(cat "$tmp/run/g7.pid")
kill "$p"
for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
sleep 300 &
other=$!
cleanup_fn "kill $other 2>/dev/null"
echo "$other" > "$tmp/run/g7.pid"
expect_msg 3 "^g7 .*not running (stale pidfile)" "$tv" "${opts[@]}" list
expect_msg 0 "pidfile $tmp/run/g7.pid names pid $other, which is not guest 'g7's nbdkit" "$tv" "${opts[@]}" remove g7
case $(ps -o stat= -p "$other") in ''|Z*) fail "remove g7 killed pid $other, another process its stale pidfile named" ;; esac
kill "$other"

# A server whose parent does not reap it (a container whose first
# process reaps nothing) is a zombie once it exits: remove does not wait
# 30 s for it, nor fail.  The parent here: a subreaper that reaps only at
# its end.
python3 -c 'import ctypes, os, subprocess, sys, time
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
vm, out = sys.argv[1:-2], sys.argv[-1]
subprocess.run(vm + ["add", "gz", "--size", "1M", "--user", sys.argv[-2]], check=True, stdout=subprocess.DEVNULL)
t = time.monotonic()
r = subprocess.run(vm + ["remove", "gz"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
with open(out, "w") as f:
    print(r.returncode, round(time.monotonic() - t, 1), r.stderr.decode().replace("\n", " "), file=f)
# Reap what exited; a server still up (remove failed) is left to the
# cleanup.
while True:
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0:
            break
    except ChildProcessError:
        break' "$tv" "${opts[@]}" "$me" "$tmp/zombie" > "$tmp/err" 2>&1 || fail "add gz under a subreaper: $(cat "$tmp/err")"
read -r rc secs msg < "$tmp/zombie"
[ "$rc" = 0 ] || fail "remove gz, whose exited server was a zombie: exit status $rc after $secs s: $msg"
awk -v s="$secs" 'BEGIN { exit !(s < 10) }' || fail "remove gz, whose exited server was a zombie, took $secs s"

# A connected guest is not removed: its pages live only in its server.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
open(sys.argv[2], "w").close()
time.sleep(30)' "$tmp/run/g2.sock" "$tmp/connected" &
client=$!
cleanup_fn "kill $client 2>/dev/null"
for _ in $(seq 50); do [ -e "$tmp/connected" ] && break; sleep 0.1; done
expect_msg 1 "guest 'g2' is still connected (1 connection" "$tv" "${opts[@]}" remove g2
kill $client; wait $client 2>/dev/null || true

# A stopped server shows in the list's exit status.
kill "$(cat "$tmp/run/g2.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$tmp/run/g2.pid")" 2>/dev/null || break; sleep 0.1; done
expect_msg 3 "g2 .*not running" "$tv" "${opts[@]}" list
"$tv" "${opts[@]}" start-server g2 2> "$tmp/err" || fail "start-server g2: $(cat "$tmp/err")"
expect_msg 1 "already being served" "$tv" "${opts[@]}" start-server g2

# remove stops the server and drops the sub-pool and the settings.
"$tv" "${opts[@]}" remove g1 > "$tmp/out" 2>&1 || fail "remove g1: $(cat "$tmp/out")"
[ -e "$tmp/run/g1.sock" ] && fail "remove left the socket"
[ -e "$tmp/guests/g1.conf" ] && fail "remove left the settings"
"$TMEMCTL" pools "$pool" | grep -qw g1 && fail "remove left sub-pool g1: $("$TMEMCTL" pools "$pool")"
"$tv" "${opts[@]}" remove g2 > "$tmp/out" 2>&1 || fail "remove g2: $(cat "$tmp/out")"
"$tv" "${opts[@]}" list > "$tmp/list" || fail "list of no guests failed"
grep -q '^g[12] ' "$tmp/list" && fail "list still shows a removed guest: $(cat "$tmp/list")"
exit 0
