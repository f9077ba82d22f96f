#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The crash test's check (tests-ktest/crash/check): after the crash, <dev>
must hold every write logged before the log's last fsync ("F <seq>"), the
latest one of each block, whole. A block written only after that fsync may
hold zeros or one of those later writes; one written before it may also
hold a later write. So may any block hold a write numbered past the log's
last line, up to the end of the batch after the last fsync: the writer
issues one write at a time, 32 between fsyncs, and the crash can take the
log lines of writes that returned after the last fsync (the log is fsynced
only with the device). Anything else (an older write, a torn or
foreign block) fails. Prints one summary line; exits 1 on the first
violation."""
import sys

dev, log = sys.argv[1], sys.argv[2]
writes = []  # (seq, block)
last_fsync = 0
with open(log) as f:
    for line in f:
        # The last line may be cut short by the crash ("W 1234 5" of
        # "W 1234 567"): only whole lines count.
        if not line.endswith("\n"):
            break
        w = line.split()
        if len(w) == 3 and w[0] == "W":
            writes.append((int(w[1]), int(w[2])))
        elif len(w) == 2 and w[0] == "F":
            last_fsync = int(w[1])
if last_fsync == 0:
    sys.exit("the writer completed no fsync before the crash: nothing to check")

durable = {}  # block -> its last write up to the last fsync
later = {}  # block -> writes after it
for seq, block in writes:
    if seq <= last_fsync:
        durable[block] = seq
    else:
        later.setdefault(block, set()).add(seq)


def content(seq, block):
    line = f"iofollow crash write {seq} block {block}".ljust(63) + "\n"
    return (line * 64).encode()


# Writes between two fsyncs (tests-ktest/crash/writer.py).
BATCH = 32
last_logged = max((seq for seq, _ in writes), default=0)


def unlogged(got, block):
    """The write past the log's last line that `got` is, if it is one."""
    words = got[:63].decode("ascii", "replace").split()
    if len(words) != 6 or not words[3].isdigit():
        return None
    seq = int(words[3])
    return seq if last_logged < seq <= last_fsync + BATCH and got == content(seq, block) else None



present = unlogged_present = 0
with open(dev, "rb", buffering=0) as disk:
    for block in sorted(set(durable) | set(later)):
        disk.seek(block * 4096)
        got = disk.read(4096)
        allowed = set(later.get(block, ()))
        if block in durable:
            allowed.add(durable[block])
        elif got == bytes(4096):
            continue  # written only after the last fsync, and not there
        seq = next((s for s in allowed if got == content(s, block)), None)
        if seq is None:
            seq = unlogged(got, block)
            unlogged_present += seq is not None
        if seq is None:
            sys.exit(f"block {block} holds {got[:63]!r}, not write "
                     f"{durable.get(block, '(none)')} (durable) or one of "
                     f"{sorted(later.get(block, ())) or '(none)'} (later)")
        if seq > last_fsync:
            present += 1
print(f"{len(writes)} writes logged, last completed fsync after write {last_fsync}; "
      f"{len(set(durable) | set(later))} blocks checked: every durable write there, "
      f"{present} blocks hold a write acknowledged after the last fsync"
      + (f" ({unlogged_present} of them past the log's last line, write {last_logged})" if unlogged_present else ""))
