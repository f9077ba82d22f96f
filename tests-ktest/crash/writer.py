#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The crash test's writer (tests-ktest/crash/write): 4 KiB O_DIRECT writes
to random blocks of <dev>, 32 at a time, then an fsync of <dev>, for ever.
Each write is logged to <log> ("W <seq> <block>") once it returned, each
fsync ("F <seq>") once it returned, and the log is fsynced then. One process:
a dd per write costs 80 ms in the TCG guest. The block's content is
crash_block of tests-ktest/lib.sh: 64 lines of 64 bytes naming the write."""
import mmap
import os
import random
import sys

dev, log, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)  # page aligned, as O_DIRECT wants
rng = random.Random(os.getpid())
seq = 0
with open(log, "a", buffering=1) as out:
    while True:
        for _ in range(32):
            seq += 1
            block = rng.randrange(blocks)
            line = f"iofollow crash write {seq} block {block}".ljust(63) + "\n"
            buf.seek(0)
            buf.write((line * 64).encode())
            os.pwrite(fd, buf, block * 4096)
            out.write(f"W {seq} {block}\n")
        os.fsync(fd)
        out.write(f"F {seq}\n")
        os.fsync(out.fileno())
