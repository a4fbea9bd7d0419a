"""What streamctl export and import use through the mount: the read-only
attribute user.streamfs.index.OFF (a topic's records from byte OFF on) and
the SF_IOC_RESTORE ioctl (fs/sf_ioctl.h), which appends a record with its
own arrival time, message count and offsets, for the stream's admin only."""
import errno
import fcntl
import os
import struct
import time

import pytest

from util import PFX, append, assert_errno, info, read

# _IOW('S', 1, struct sf_restore): 32 bytes in.
IOC_RESTORE = 0x40000000 | (32 << 16) | (ord("S") << 8) | 1


def records(path, off=0):
    text = os.getxattr(path, PFX + "index.%d" % off).decode()
    return [tuple(int(x) for x in line.split()) for line in text.splitlines()]


def new_topic(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    os.setxattr(path, PFX + "kind", b"topic")


def restore(fd, off, msg, ns, data, nmsgs, pieces=1):
    fcntl.ioctl(fd, IOC_RESTORE, struct.pack("<QQqII", off, msg, ns,
                                             len(data), nmsgs))
    step = -(-len(data) // pieces)
    for i in range(0, len(data), step):
        os.write(fd, data[i:i + step])


def test_index_lists_records(mount):
    p = mount.mnt + "/t"
    append(p, b"a\nbb\n")
    append(p, b"ccc\n")
    i = info(p)
    recs = records(p)
    assert [r[:4] for r in recs] == [(0, 5, 2, 0), (5, 4, 1, 2)]
    assert recs[0][4] == i["first_time"] and recs[1][4] == i["last_time"]
    assert records(p, 3) == recs        # from the record that holds it
    assert records(p, 5) == recs[1:]
    assert records(p, 9) == [] and records(p, 10**12) == []
    assert_errno(errno.EINVAL, os.getxattr, p, PFX + "index.x")
    assert_errno(errno.EPERM, os.setxattr, p, PFX + "index.0", b"1")
    assert PFX + "index.0" not in os.listxattr(p)


def test_index_answer_fills_64k(mount):
    """An answer lists as many records as fit in 64 KiB (the largest value
    Linux passes): a reader needs few calls, and the next call, from the end
    of the last record listed, goes on exactly there."""
    p = mount.mnt + "/t"
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for n in range(3000):
            os.write(fd, b"%d\n" % n)
    finally:
        os.close(fd)
    first = os.getxattr(p, PFX + "index.0")
    assert 65536 - 85 <= len(first) <= 65536
    first = records(p)
    assert len(first) > 780
    rest = records(p, first[-1][0] + first[-1][1])
    got = first + rest
    while len(got) < 3000 and rest:
        rest = records(p, got[-1][0] + got[-1][1])
        got += rest
    assert [r[3] for r in got] == list(range(3000))
    assert all(a[0] + a[1] == b[0] for a, b in zip(got, got[1:]))


def test_restore_appends_records_as_they_were(mount):
    p = mount.mnt + "/t"
    new_topic(p)
    t0 = time.time_ns() - 10**9
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        restore(fd, 0, 0, t0, b"a\nbb\n", 2, pieces=2)
        restore(fd, 5, 2, t0 + 7, b"bin\n\x00ary", 1)
    finally:
        os.close(fd)
    want = [(0, 5, 2, 0, t0), (5, 8, 1, 2, t0 + 7)]
    assert records(p) == want
    assert read(p) == b"a\nbb\nbin\n\x00ary"
    mount.restart()
    assert records(p) == want
    i = info(p)
    assert (i["messages"], i["first_time"], i["last_time"]) == \
        (3, t0, t0 + 7)
    assert os.getxattr(p, PFX + "seek.message.2") == b"5"
    assert os.getxattr(p, PFX + "seek.time.%d" % (t0 + 1)) == b"5"


def test_a_restored_topic_can_start_past_zero(mount):
    p = mount.mnt + "/t"
    new_topic(p)
    t0 = time.time_ns() - 10**9
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    restore(fd, 100, 7, t0, b"x\n", 1)
    os.close(fd)
    i = info(p)
    assert (i["first_offset"], i["size"], i["first_message"]) == (100, 102, 7)
    assert read(p) == b"\0" * 100 + b"x\n"
    append(p, b"live\n")               # live appends continue it
    assert records(p)[1][:4] == (102, 5, 1, 8)


def test_restore_refuses_what_does_not_fit(mount):
    p = mount.mnt + "/t"
    new_topic(p)
    now = time.time_ns()
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        restore(fd, 0, 0, now - 10**9, b"a\n", 1)

        def bad(off, msg, ns, data, nmsgs):
            return errno_of_restore(fd, off, msg, ns, data, nmsgs)
        assert bad(5, 1, now, b"b\n", 1) == errno.EINVAL   # not the end
        assert bad(2, 0, now, b"b\n", 1) == errno.EINVAL   # message offset
        assert bad(2, 1, now - 2 * 10**9, b"b\n", 1) == errno.EINVAL  # back
        assert bad(2, 1, now + 60 * 10**9, b"b\n", 1) == errno.EINVAL
        assert bad(2, 1, now, b"b\nc", 2) == errno.EINVAL  # not lines
        assert bad(2, 1, now, b"", 1) == errno.EINVAL
        # More bytes than the record named.
        fcntl.ioctl(fd, IOC_RESTORE, struct.pack("<QQqII", 2, 1, now, 2, 1))
        assert_errno(errno.EINVAL, os.write, fd, b"toolong")
        # An unfinished record is dropped at close, which says so.
        fcntl.ioctl(fd, IOC_RESTORE, struct.pack("<QQqII", 2, 1, now, 4, 1))
        os.write(fd, b"ha")
    finally:
        assert_errno(errno.EIO, os.close, fd)
    assert records(p) == [(0, 2, 1, 0, now - 10**9)]
    assert read(p) == b"a\n"
    # Not on a read-only descriptor, nor a blob.
    fd = os.open(p, os.O_RDONLY)
    assert errno_of_restore(fd, 2, 1, now, b"b\n", 1) == errno.EBADF
    os.close(fd)
    with open(mount.mnt + "/blob", "wb") as f:
        f.write(b"x")
        assert errno_of_restore(f.fileno(), 0, 0, now, b"b\n", 1) == \
            errno.EINVAL


def errno_of_restore(fd, off, msg, ns, data, nmsgs):
    try:
        restore(fd, off, msg, ns, data, nmsgs)
    except OSError as e:
        return e.errno
    return 0


@pytest.mark.mount_options("allow_other")
def test_restore_needs_admin(mount, other_user):
    s = mount.mnt + "/s"
    os.mkdir(s)
    os.chmod(s, 0o777)
    p = s + "/t"
    new_topic(p)
    os.chmod(p, 0o666)
    now = time.time_ns() - 10**9
    code = ("import fcntl, struct\n"
            "fd = os.open(%r, os.O_WRONLY | os.O_APPEND)\n"
            "fcntl.ioctl(fd, %d, struct.pack('<QQqII', 0, 0, %d, 2, 1))\n"
            "os.write(fd, b'x\\n')\n" % (p, IOC_RESTORE, now))
    assert other_user.call(code) == "EACCES"
    assert read(p) == b""
    os.chown(s, other_user.uid, other_user.gid)     # the owner is admin
    assert other_user.call(code) == "OK"
    assert records(p) == [(0, 2, 1, 0, now)]
