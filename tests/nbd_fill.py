# Imported by the tests' Python clients (with the tests' source directory
# on sys.path): fill a tmem.so device until the pool refuses, and try a
# write that a full pool must refuse.
import os

import nbd


def nospace(e):
    """Whether an nbd.Error is the server's ENOSPC."""
    return e.errno in ("ENOSPC", 28)


def fill(h, blk=1 << 20, data=None):
    """Write blk bytes at a time from offset 0, random (or data's slices),
    until a write is refused with ENOSPC or the device ends; the offset
    reached: every byte below it was taken."""
    size = h.get_size()
    off = 0
    while off < size:
        try:
            h.pwrite(data[off:off + blk] if data else os.urandom(blk), off)
        except nbd.Error as e:
            if not nospace(e):
                raise
            break
        off += blk
    return off


def refused(h, data, off):
    """Whether writing data at off is refused with ENOSPC."""
    try:
        h.pwrite(data, off)
        return False
    except nbd.Error as e:
        if not nospace(e):
            raise
        return True
