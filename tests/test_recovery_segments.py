"""Recovery of sealed segments that had not reached the disk.

A stream rolls to a new segment every 64 MiB without waiting for the sealed
one to be synced (docs/format.md).  A power cut can then leave damage in a
sealed segment, not only in the active one.  Pulling the power is not
possible here, so the test kills the daemon, damages a byte in the middle of
the sealed segment as a lost write-back would, and mounts again: the topic
must end at its last whole message before the damage, serve nothing damaged,
and take appends again at the right offsets.
"""
import glob
import os

from util import append, read

LINE = b"x" * 99 + b"\n"
PER_WRITE = 655                     # 100-byte lines in a 64 KiB write
REC = PER_WRITE * len(LINE)         # payload of one record
HDR = 48                            # record header (docs/format.md)


def fill(path, records):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(records):
            os.write(fd, LINE * PER_WRITE)
    finally:
        os.close(fd)


def test_damage_in_a_sealed_unsynced_segment_is_cut(mount):
    mount.expect_log(r"recover")
    os.mkdir(mount.mnt + "/s")
    t = mount.mnt + "/s/t"
    records = 1100                  # about 69 MiB: a second segment
    fill(t, records)
    assert os.path.getsize(t) == records * REC
    stream = "%016x" % os.stat(mount.mnt + "/s").st_ino
    mount.kill9()

    # (s's segments only: /.streamfs has its own.)
    sealed = glob.glob(os.path.join(mount.data, "segments", stream,
                                    "0000000000000001"))
    assert len(sealed) == 1, sealed
    assert os.path.exists(sealed[0][:-1] + "2"), "no second segment"
    damaged_at = 32 << 20
    with open(sealed[0], "r+b") as f:
        f.seek(damaged_at)
        b = f.read(1)
        f.seek(damaged_at)
        f.write(bytes([b[0] ^ 0xFF]))

    mount.start()
    whole = damaged_at // (REC + HDR)    # records wholly before the damage
    assert os.path.getsize(t) == whole * REC
    assert read(t) == LINE * (PER_WRITE * whole)
    append(t, b"after\n")
    assert read(t)[whole * REC:] == b"after\n"
    mount.restart()
    assert os.path.getsize(t) == whole * REC + 6


def test_clean_remount_across_a_roll_keeps_everything(mount):
    """A clean unmount writes the waiting index entries and syncs both
    segments: the next mount has every record, readable and in order, and
    the topic continues at the right offset."""
    os.mkdir(mount.mnt + "/s")
    t = mount.mnt + "/s/t"
    fill(t, 1100)
    mount.restart()
    assert os.path.getsize(t) == 1100 * REC
    assert read(t) == LINE * (PER_WRITE * 1100)
    append(t, b"after\n")
    assert read(t)[1100 * REC:] == b"after\n"


def test_kill9_across_a_roll_keeps_every_record(mount):
    """Index entries wait in memory for up to 256 appends and a roll does
    not wait for the disk: after kill -9 recovery must index again every
    record the crash left unindexed, in both segments."""
    mount.expect_log(r"recover")
    os.mkdir(mount.mnt + "/s")
    t = mount.mnt + "/s/t"
    records = 1100
    fill(t, records)
    mount.kill9()
    mount.start()
    assert os.path.getsize(t) == records * REC
    assert read(t) == LINE * (PER_WRITE * records)
    append(t, b"after\n")
    assert read(t)[records * REC:] == b"after\n"
