"""How a topic whose head has gone (expired, or restored to start past 0)
looks through the mount: lseek(SEEK_DATA/SEEK_HOLE) sees the head as a
hole, st_blocks and du count the live bytes only, cp copies the head as a
hole, a seek by message into the head is ENOMSG, and streamctl says what
has expired.  Blobs answer lseek from their own file."""
import errno
import fcntl
import os
import struct
import time

import pytest

from util import BUILD, PFX, append, assert_errno, info, read, run

STREAMCTL = BUILD / "tools" / "streamctl"
# _IOW('S', 1, struct sf_restore): 32 bytes in (fs/sf_ioctl.h).
IOC_RESTORE = 0x40000000 | (32 << 16) | (ord("S") << 8) | 1
KiB = 1024
MiB = 1024 * KiB

START = 100000          # the first live byte of the topic below
FIRST = 7               # its first live message
LIVE = b"a\nbb\nccc\n"  # messages 7, 8 and 9
SIZE = START + len(LIVE)


def ctl(*args):
    return run([STREAMCTL] + [str(a) for a in args], check=False)


def new_topic(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    os.setxattr(path, PFX + "kind", b"topic")


def headless_topic(path):
    """A topic whose messages 0..6 (bytes 0..99999) are gone: its first
    record is restored at byte START, message FIRST, a second of age; one
    live append follows.  Returns the first record's arrival time."""
    new_topic(path)
    t0 = time.time_ns() - 10**9
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.ioctl(fd, IOC_RESTORE, struct.pack("<QQqII", START, FIRST, t0,
                                                 5, 2))
        os.write(fd, LIVE[:5])
    finally:
        os.close(fd)
    append(path, LIVE[5:])
    i = info(path)
    assert (i["first_offset"], i["first_message"], i["size"],
            i["messages"]) == (START, FIRST, SIZE, 3), i
    return t0


def seeks(path, cases):
    """Each (off, whence, want) through one descriptor: want is an offset,
    which must also be the descriptor's new position, or (errno,)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for off, whence, want in cases:
            name = "SEEK_DATA" if whence == os.SEEK_DATA else "SEEK_HOLE"
            if isinstance(want, tuple):
                assert_errno(want[0], os.lseek, fd, off, whence)
                continue
            got = os.lseek(fd, off, whence)
            assert got == want, "%s from %d: %d, not %d" % (name, off, got,
                                                            want)
            assert os.lseek(fd, 0, os.SEEK_CUR) == want
    finally:
        os.close(fd)


ENXIO = (errno.ENXIO,)


# ---------------------------------------------------------------- lseek

def test_lseek_sees_the_expired_head_as_a_hole(mount):
    p = mount.mnt + "/t"
    headless_topic(p)
    seeks(p, [
        # SEEK_DATA: from the head, the first live byte; from data, itself.
        (0, os.SEEK_DATA, START), (1, os.SEEK_DATA, START),
        (START - 1, os.SEEK_DATA, START), (START, os.SEEK_DATA, START),
        (START + 4, os.SEEK_DATA, START + 4), (SIZE - 1, os.SEEK_DATA,
                                               SIZE - 1),
        (SIZE, os.SEEK_DATA, ENXIO), (SIZE + 10**6, os.SEEK_DATA, ENXIO),
        # SEEK_HOLE: in the head, where we are; in data, the end.
        (0, os.SEEK_HOLE, 0), (START - 1, os.SEEK_HOLE, START - 1),
        (START, os.SEEK_HOLE, SIZE), (SIZE - 1, os.SEEK_HOLE, SIZE),
        (SIZE, os.SEEK_HOLE, ENXIO), (SIZE + 10**6, os.SEEK_HOLE, ENXIO),
    ])
    fd = os.open(p, os.O_RDONLY)
    try:
        os.lseek(fd, 0, os.SEEK_DATA)
        assert os.read(fd, 100) == LIVE      # reading on from there
    finally:
        os.close(fd)
    assert read(p) == bytes(START) + LIVE
    mount.restart()                          # the same from the index
    seeks(p, [(0, os.SEEK_DATA, START), (0, os.SEEK_HOLE, 0),
              (START, os.SEEK_HOLE, SIZE)])


def test_lseek_on_a_topic_that_starts_at_zero(mount):
    p = mount.mnt + "/t"
    append(p, b"a\nbb\n")
    seeks(p, [(0, os.SEEK_DATA, 0), (3, os.SEEK_DATA, 3),
              (4, os.SEEK_DATA, 4), (5, os.SEEK_DATA, ENXIO),
              (0, os.SEEK_HOLE, 5), (4, os.SEEK_HOLE, 5),
              (5, os.SEEK_HOLE, ENXIO), (99, os.SEEK_HOLE, ENXIO)])


def test_lseek_on_an_empty_topic_and_a_file_without_a_kind(mount):
    t, f = mount.mnt + "/t", mount.mnt + "/f"
    new_topic(t)
    os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o644))
    for p in (t, f):
        seeks(p, [(0, os.SEEK_DATA, ENXIO), (0, os.SEEK_HOLE, ENXIO),
                  (5, os.SEEK_DATA, ENXIO)])
    # The kernel keeps asking the daemon afterwards (no ENOSYS was sent):
    # a topic that then gets a message has data.
    append(t, b"x\n")
    seeks(t, [(0, os.SEEK_DATA, 0), (0, os.SEEK_HOLE, 2)])


def hole_probe(directory):
    """SEEK_DATA and SEEK_HOLE answers of a file made in directory like the
    blob below (1 MiB, 4 KiB written at 512 KiB), or None when that file
    system reports no holes."""
    probe = os.path.join(directory, ".hole-probe")
    fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, MiB)
        os.pwrite(fd, b"x" * 4096, 512 * KiB)
        os.fsync(fd)
        if os.lseek(fd, 0, os.SEEK_DATA) == 0:
            return None
        return [os.lseek(fd, 0, os.SEEK_DATA),
                os.lseek(fd, 0, os.SEEK_HOLE),
                os.lseek(fd, 512 * KiB, os.SEEK_HOLE),
                os.lseek(fd, 600 * KiB, os.SEEK_HOLE)]
    finally:
        os.close(fd)
        os.unlink(probe)


def test_lseek_on_a_blob_reports_its_holes(mount):
    want = hole_probe(mount.data)
    if want is None:
        pytest.skip("the data folder's file system does not report holes")
    p = mount.mnt + "/blob"
    run(["truncate", "-s", "1M", p])
    fd = os.open(p, os.O_RDWR)
    try:
        os.pwrite(fd, b"x" * 4096, 512 * KiB)
        os.fsync(fd)
        got = [os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE),
               os.lseek(fd, 512 * KiB, os.SEEK_HOLE),
               os.lseek(fd, 600 * KiB, os.SEEK_HOLE)]
        assert got == want
        assert 0 < got[0] <= 512 * KiB and got[1] == 0
        assert 516 * KiB <= got[2] <= MiB
        assert_errno(errno.ENXIO, os.lseek, fd, MiB, os.SEEK_DATA)
        assert_errno(errno.ENXIO, os.lseek, fd, MiB, os.SEEK_HOLE)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- blocks

def test_st_blocks_and_du_count_live_bytes_only(mount):
    p, q = mount.mnt + "/t", mount.mnt + "/u"
    headless_topic(p)
    st = os.stat(p)
    assert st.st_size == SIZE
    assert st.st_blocks == 1, st.st_blocks   # 9 live bytes, rounded up
    assert run(["du", "-B1", p]).stdout == "512\t%s\n" % p
    assert run(["du", "-B1", "--apparent-size", p]).stdout == \
        "%d\t%s\n" % (SIZE, p)
    append(q, b"x" * 1000 + b"\n")
    assert os.stat(q).st_blocks == 2         # 1001 bytes from 0
    new_topic(mount.mnt + "/empty")
    assert os.stat(mount.mnt + "/empty").st_blocks == 0


@pytest.mark.parametrize("how", [[], ["--sparse=always"]],
                         ids=["cp", "cp-sparse-always"])
def test_cp_copies_the_head_as_a_hole(mount, tmp_path, how):
    p = mount.mnt + "/t"
    headless_topic(p)
    copy = tmp_path / "copy"
    run(["cp"] + how + [p, copy])
    run(["cmp", p, copy])
    blocks = os.stat(copy).st_blocks
    assert blocks * 512 <= 16 * KiB, "%d blocks: the head was written" \
        % blocks


# ---------------------------------------------------------------- seeks

def test_seek_message_into_the_head_is_enomsg(mount):
    p = mount.mnt + "/t"
    t0 = headless_topic(p)
    for n in (0, 3, FIRST - 1):
        assert_errno(errno.ENOMSG, os.getxattr, p, PFX + "seek.message.%d"
                     % n)
    r = run(["getfattr", "-n", PFX + "seek.message.3", p], check=False)
    assert r.returncode != 0
    assert "No message of desired type" in r.stderr, r.stderr
    assert os.getxattr(p, PFX + "seek.message.%d" % FIRST) == b"%d" % START
    assert os.getxattr(p, PFX + "seek.message.9") == b"%d" % (START + 5)
    assert_errno(errno.ENXIO, os.getxattr, p, PFX + "seek.message.10")
    # By time, before the first live message: the first live byte.
    assert os.getxattr(p, PFX + "seek.time.1") == b"%d" % START
    assert os.getxattr(p, PFX + "seek.time.%d" % t0) == b"%d" % START


def test_streamctl_seek_into_the_head(mount):
    p = mount.mnt + "/t"
    t0 = headless_topic(p)
    r = ctl("seek", p, "--message", 3)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("streamctl: %s: message 3 has expired; the first "
                        "live message is %d, at byte %d\n"
                        % (p, FIRST, START))
    r = ctl("seek", p, "--message", FIRST)
    assert (r.returncode, r.stdout, r.stderr) == (0, "%d\n" % START, "")
    r = ctl("seek", p, "--time", 1)
    assert (r.returncode, r.stdout) == (0, "%d\n" % START)
    [line] = r.stderr.splitlines()
    assert line.startswith("streamctl: %s: note: the messages before "
                           "message %d have expired; the first live message "
                           "is %d, at byte %d, arrived " % (p, FIRST, FIRST,
                                                            START)), line
    r = ctl("seek", p, "--time", t0)         # at the first live message
    assert (r.returncode, r.stdout, r.stderr) == (0, "%d\n" % START, "")


def test_streamctl_seek_on_a_topic_that_starts_at_zero_adds_no_note(mount):
    p = mount.mnt + "/t"
    append(p, b"a\nbb\n")
    r = ctl("seek", p, "--time", 1)
    assert (r.returncode, r.stdout, r.stderr) == (0, "0\n", "")
    r = ctl("seek", p, "--message", 0)
    assert (r.returncode, r.stdout, r.stderr) == (0, "0\n", "")


# ---------------------------------------------------------------- info

def info_record(path):
    r = ctl("info", path)
    assert r.returncode == 0, r.stderr
    rec = {}
    for line in r.stdout.splitlines():
        key, sep, val = line.partition(":")
        rec[key] = val.strip()
    return rec


def test_streamctl_info_shows_the_first_live_message_and_byte(mount):
    p, q = mount.mnt + "/t", mount.mnt + "/u"
    headless_topic(p)
    rec = info_record(p)
    assert rec["messages"] == "3"
    assert (rec["first_message"], rec["last_message"]) == ("7", "9")
    assert rec["first_offset"] == str(START)
    assert rec["expired"] == "messages 0 to 6, bytes 0 to %d" % (START - 1)
    assert rec["size"] == str(SIZE)
    append(q, b"x\n")
    assert info_record(q)["expired"] == "none"
    help_text = ctl("info", "--help").stdout
    assert "first live message" in help_text and "first live byte" in \
        help_text
