#!/usr/bin/env bash
# tmem-fuse-cache keeps close-to-open for names too, with default options:
# a name replaced in the source (an atomic `mv new file`, unlink and
# recreate, a directory in its place) is seen at the very next open
# through the mount, with no sleep, while the kernel still keeps the name
# for entry-timeout.  Hard links keep their own contents.  Over a local
# source and over tests/slowfs (a FUSE source).
. ./functions.sh
. "$srcdir/fuse-functions.sh"
requires_root
requires_fuse
fc_use_pool 64M

tmp=$(mktemp_dir)

# through MNT DIR: the replacement cases, DIR the source as the outside
# world sees it (the backing directory or the slow mount).
through ()
{
    local mnt=$1 dir=$2 what=$3 got
    expect_in () # FILE TEXT
    {
        got=$(cat "$mnt/$1" 2>&1) || true
        [ "$got" = "$2" ] || fail "$what: $1 reads '$got', expected '$2'"
    }

    echo one > "$dir/f"
    expect_in f one
    # The editors' and package managers' way: write aside, rename over.
    echo two > "$dir/f.tmp"
    mv "$dir/f.tmp" "$dir/f"
    expect_in f two
    expect_in f two
    # Unlink and make again.
    rm "$dir/f"
    echo three > "$dir/f"
    expect_in f three
    # A directory in its place: open as a file fails as on the source.
    rm "$dir/f"
    mkdir "$dir/f"
    echo inside > "$dir/f/x"
    got=$(cat "$mnt/f" 2>&1) && fail "$what: a directory read as a file: $got"
    echo "$got" | grep -q "Is a directory" || fail "$what: cat a directory said: $got"
    expect_in f/x inside
    rm -r "$dir/f"
    echo four > "$dir/f"
    expect_in f four

    # Hard links: one inode, two names; replacing one name leaves the
    # other's contents alone.
    echo linked > "$dir/g"
    ln "$dir/g" "$dir/h"
    expect_in g linked
    expect_in h linked
    echo other > "$dir/h.tmp"
    mv "$dir/h.tmp" "$dir/h"
    expect_in h other
    expect_in g linked
    expect_in h other
    # A rename through the mount, then the old name made again outside.
    mv "$mnt/g" "$mnt/g2"
    expect_in g2 linked
    echo fresh > "$dir/g"
    expect_in g fresh
    expect_in g2 linked
    rm -f "$dir/g" "$dir/g2" "$dir/h" "$dir/f"

    # A second hard link looked up last: replacing the first name is
    # still seen (every name the kernel may hold is checked, not only the
    # last one looked up).
    echo linked > "$dir/g"
    ln "$dir/g" "$dir/h"
    touch -d '1 hour ago' "$dir/g"
    sleep 2.1
    expect_in h linked
    expect_in g linked
    echo other > "$dir/h.tmp"
    mv "$dir/h.tmp" "$dir/h"
    expect_in h other
    expect_in g linked
    rm -f "$dir/g" "$dir/h"
    # More names than are recorded (4): the others are not kept by the
    # kernel, and a replace of any is seen.
    echo many > "$dir/l1"
    for i in 2 3 4 5 6; do ln "$dir/l1" "$dir/l$i"; done
    touch -d '1 hour ago' "$dir/l1"
    sleep 2.1
    for i in 1 2 3 4 5 6; do expect_in l$i many; done
    for i in 1 6; do
        echo new$i > "$dir/l$i.tmp"
        mv "$dir/l$i.tmp" "$dir/l$i"
    done
    for i in 1 6; do expect_in l$i new$i; done
    for i in 2 3 4 5; do expect_in l$i many; done
    rm -f "$dir"/l[1-6]

    # A parent directory replaced, a symlink on the path replaced: the
    # next open goes through the new one.
    mkdir "$dir/d" "$dir/dnew" "$dir/r1" "$dir/r2"
    echo old > "$dir/d/f"
    echo new > "$dir/dnew/f"
    echo v1 > "$dir/r1/x"
    echo v2 > "$dir/r2/x"
    ln -sfn r1 "$dir/cur"
    sleep 2.1
    expect_in d/f old
    expect_in cur/x v1
    mv "$dir/d" "$dir/dold"
    mv "$dir/dnew" "$dir/d"
    expect_in d/f new
    expect_in dold/f old
    ln -sfn r2 "$dir/cur.tmp"
    mv -T "$dir/cur.tmp" "$dir/cur"
    expect_in cur/x v2
    got=$(readlink "$mnt/cur")
    [ "$got" = r2 ] || fail "$what: readlink cur says '$got' after the swap"
    rm -rf "$dir/d" "$dir/dold" "$dir/r1" "$dir/r2" "$dir/cur"

    # A file open while it is renamed or unlinked through the mount opens
    # again through its descriptor (/proc/self/fd), as on the source.
    echo hello > "$mnt/x"
    exec 3< "$mnt/x"
    mv "$mnt/x" "$mnt/y"
    got=$(cat /proc/self/fd/3 2>&1) || true
    [ "$got" = hello ] || fail "$what: reopened after mv through the mount: '$got'"
    expect_in y hello
    exec 3<&-
    # Over a FUSE source an open deferred to the first miss holds no open
    # of the source: the daemon holds one across the unlink.
    echo bye > "$mnt/u"
    exec 3< "$mnt/u"
    rm "$mnt/u"
    got=$(cat /proc/self/fd/3 2>&1) || true
    [ "$got" = bye ] || fail "$what: reopened after rm through the mount: '$got'"
    got=$(cat <&3 2>&1) || true
    [ "$got" = bye ] || fail "$what: read after rm through the mount: '$got'"
    exec 3<&-
    echo old > "$mnt/v"
    echo new > "$mnt/v.tmp"
    exec 3< "$mnt/v"
    mv "$mnt/v.tmp" "$mnt/v"
    got=$(cat <&3 2>&1) || true
    [ "$got" = old ] || fail "$what: read after mv over through the mount: '$got'"
    exec 3<&-
    expect_in v new
    rm -f "$dir/y" "$dir/v"
    echo "$what: every replacement seen at the next open"
}

mkdir "$tmp/src" "$tmp/mnt"
fc_mount "$tmp/src" "$tmp/mnt" -o "$FC_POOL,cache-name=names-$$"
through "$tmp/mnt" "$tmp/src" "local source"
fc_unmount "$tmp/mnt"

mkdir "$tmp/back" "$tmp/slow"
slowfs_mount "$tmp/back" "$tmp/slow"
fc_mount "$tmp/slow" "$tmp/mnt" -o "$FC_POOL,cache-name=names-slow-$$"
through "$tmp/mnt" "$tmp/slow" "slowfs source"
# An unlink the source refuses (an immutable file) leaves no open of the
# source behind: the daemon opens the file before the unlink for the
# opens deferred on it, and must let go when the unlink fails, or it holds
# the file (and its file system: a busy umount) until the kernel forgets
# the inode.
echo pinned > "$tmp/back/p"
if chattr +i "$tmp/back/p" 2> /dev/null; then
    cleanup_fn "chattr -i '$tmp/back/p' 2>/dev/null"
    exec 3< "$tmp/mnt/p"
    rm "$tmp/mnt/p" 2> /dev/null && fail "an immutable file was removed"
    exec 3<&-
    # Opens that can read (not the O_PATH descriptor the daemon keeps
    # for every inode the kernel knows), once the close's release is in.
    pid=${_fc_pids[$tmp/mnt]}
    for k in $(seq 20); do
        held=0
        for fd in /proc/$pid/fd/*; do
            [ "$(readlink "$fd" 2>/dev/null)" = "$tmp/slow/p" ] || continue
            flags=$(awk '$1 == "flags:" { print $2 }' "/proc/$pid/fdinfo/${fd##*/}" 2>/dev/null)
            [ $(( 8#${flags:-0} & 8#10000000 )) -eq 0 ] && held=$((held + 1))
        done
        [ "$held" -eq 0 ] && break
        sleep 0.1
    done
    chattr -i "$tmp/back/p"
    [ "$held" -eq 0 ] || fail "the daemon holds $held opens of a file whose unlink failed"
    echo "a failed unlink leaves no open of the source behind"
fi
fc_unmount "$tmp/mnt"
fc_unmount "$tmp/slow"

# A rename or unlink through the mount moves or drops the name the daemon
# checks, as the kernel moves or drops its entry: reopening the file
# through its descriptor is not answered ESTALE even once (the VFS's
# retry would hide that from the caller, the daemon's count does not).
mkdir "$tmp/src2"
fc_mount "$tmp/src2" "$tmp/mnt" -o "$FC_POOL,cache-name=names-mv-$$"
echo hello > "$tmp/mnt/x"
exec 3< "$tmp/mnt/x"
mv "$tmp/mnt/x" "$tmp/mnt/y"
[ "$(cat /proc/self/fd/3)" = hello ] || fail "reopen after mv"
exec 3<&-
echo bye > "$tmp/mnt/u"
exec 3< "$tmp/mnt/u"
rm "$tmp/mnt/u"
[ "$(cat /proc/self/fd/3)" = bye ] || fail "reopen after rm"
exec 3<&-
echo one > "$tmp/mnt/a"
echo two > "$tmp/mnt/b"
exec 3< "$tmp/mnt/a"
mv "$tmp/mnt/a" "$tmp/mnt/b"
[ "$(cat /proc/self/fd/3)" = one ] || fail "reopen after mv over"
[ "$(cat "$tmp/mnt/b")" = one ] || fail "b after mv over"
exec 3<&-
fc_unmount "$tmp/mnt"
grep "stale names" "$tmp/mnt.log"
grep -q "stale names 0," "$tmp/mnt.log" ||
    fail "an open after a rename or unlink through the mount was answered ESTALE"

# Opens at once after an outside `mv` over a name the kernel holds: each
# one that walked the stale entry before the daemon dropped it must be
# answered ESTALE too (and retried), never open the old file.  8 threads
# meet at a barrier 100 times; with the replaced name forgotten after the
# first ESTALE, a third of them read the old bytes.
mkdir "$tmp/src3"
fc_mount "$tmp/src3" "$tmp/mnt" -o "$FC_POOL,cache-name=names-race-$$"
python3 - "$tmp/mnt" "$tmp/src3" <<'PY' || fail "concurrent opens after a replace read the old file"
import os, sys, threading
mnt, src = sys.argv[1], sys.argv[2]
stale = errors = 0
for it in range(100):
    with open(src + "/f", "w") as f:
        f.write("v%d" % it)
    with open(mnt + "/f") as f:  # the kernel now holds the name
        f.read()
    with open(src + "/f.tmp", "w") as f:
        f.write("v%d" % (it + 1))
    os.rename(src + "/f.tmp", src + "/f")
    barrier = threading.Barrier(8)
    got = [None] * 8
    def reader(i):
        barrier.wait()
        try:
            with open(mnt + "/f") as f:
                got[i] = f.read()
        except OSError as e:
            got[i] = "error %s" % e.errno
    ts = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    want = "v%d" % (it + 1)
    stale += sum(g != want and not g.startswith("error") for g in got)
    errors += sum(g.startswith("error") for g in got)
print("concurrent opens after a replace: %d stale, %d errors of 800" % (stale, errors))
sys.exit(1 if stale or errors else 0)
PY
fc_unmount "$tmp/mnt"
