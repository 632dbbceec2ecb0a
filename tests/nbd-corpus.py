#!/usr/bin/env python3
# Write a corpus of swap-like pages: real process memory, then zero pages,
# then random bytes.
#
#   nbd-corpus.py OUT REAL_MIB [ZERO_MIB [RANDOM_MIB]]
#
# The real part is this Python process's own anonymous memory (heap and
# private writable mappings, read from /proc/self/mem) after it has filled
# itself with ordinary objects: the standard library imported, text split
# into words, dictionaries, lists of numbers.  That is what a swap device
# sees: pointers, small integers, object headers, strings and padding.
import os
import random
import sys

PAGE = 4096


def fill(target):
    """Allocate ordinary Python objects until about target bytes exist."""
    keep = []
    total = 0
    # Text from the standard library's sources, as strings and word lists.
    libdir = os.path.dirname(os.__file__)
    for root, _, files in os.walk(libdir):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(root, name), encoding="utf-8",
                          errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            words = text.split()
            keep.append(text)
            keep.append(words)
            keep.append({w: i for i, w in enumerate(words[:2000])})
            keep.append([len(w) * 7 + i for i, w in enumerate(words[:1000])])
            total += len(text) * 5
            if total >= target:
                return keep
    # Not enough source text here: add numeric and structured data.
    rnd = random.Random(1)
    while total < target:
        keep.append([rnd.randrange(1 << 20) for _ in range(4096)])
        keep.append({"k%d" % i: (i, str(i)) for i in range(1024)})
        total += 4096 * 40
    return keep


def anon_regions():
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            addr, perms, inode = parts[0], parts[1], parts[4]
            name = parts[5] if len(parts) > 5 else ""
            if not perms.startswith("rw") or name.startswith("[v"):
                continue
            if inode != "0" and name != "[heap]":
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            yield lo, hi


def dump_real(out, want):
    done = 0
    with open("/proc/self/mem", "rb", buffering=0) as mem:
        for lo, hi in anon_regions():
            for addr in range(lo, hi, 1 << 20):
                n = min(1 << 20, hi - addr, want - done)
                if n <= 0:
                    return done
                try:
                    mem.seek(addr)
                    data = mem.read(n)
                except OSError:
                    break
                out.write(data)
                done += len(data)
    return done


def main():
    path = sys.argv[1]
    real = int(sys.argv[2]) << 20
    zero = (int(sys.argv[3]) if len(sys.argv) > 3 else 0) << 20
    rand = (int(sys.argv[4]) if len(sys.argv) > 4 else 0) << 20
    objects = fill(real * 3 // 2)
    with open(path, "wb") as out:
        got = dump_real(out, real)
        if got < real:
            sys.exit("nbd-corpus: only %d bytes of anonymous memory" % got)
        out.write(bytes(zero))
        rnd = random.Random(42)
        for _ in range(rand // PAGE):
            out.write(rnd.randbytes(PAGE))
    del objects


main()
