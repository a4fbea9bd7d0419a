"""Issue 2, point 4: blobs are POSIX regular files - random reads and
writes, truncate, holes, fsync, times, rename over an existing file."""
import errno
import mmap
import os
import random

import pytest

from util import assert_errno, kind, read, run, sh

MiB = 1 << 20


def test_cp_and_cmp(mount, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(20 * MiB + 123))
    sh("cp %s %s/copy.bin" % (src, mount.mnt))
    sh("cmp %s %s/copy.bin" % (src, mount.mnt))
    assert os.stat(mount.mnt + "/copy.bin").st_size == 20 * MiB + 123
    sh("cp %s/copy.bin %s/back.bin" % (mount.mnt, tmp_path))
    sh("cmp %s %s/back.bin" % (src, tmp_path))
    assert kind(mount.mnt + "/copy.bin") == "blob"


def test_random_pwrite_pread(mount):
    p = mount.mnt + "/b"
    rnd = random.Random(7)
    mirror = bytearray()
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for _ in range(400):
            off = rnd.randrange(3 * MiB)
            data = rnd.randbytes(rnd.choice((1, 13, 4096, 5000, 131072)))
            assert os.pwrite(fd, data, off) == len(data)
            if len(mirror) < off:
                mirror += bytes(off - len(mirror))
            mirror[off:off + len(data)] = data
            if rnd.random() < 0.3:
                roff = rnd.randrange(len(mirror))
                n = rnd.randrange(1, 200000)
                assert os.pread(fd, n, roff) == bytes(mirror[roff:roff + n])
        assert os.fstat(fd).st_size == len(mirror)
    finally:
        os.close(fd)
    assert read(p) == bytes(mirror)
    assert kind(p) == "blob"


def test_two_handles_see_each_others_writes(mount):
    p = mount.mnt + "/b"
    a = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    b = os.open(p, os.O_RDWR)
    try:
        os.pwrite(a, b"hello world", 0)
        assert os.pread(b, 11, 0) == b"hello world"
        os.pwrite(b, b"W", 6)
        assert os.pread(a, 11, 0) == b"hello World"
    finally:
        os.close(a)
        os.close(b)


def test_truncate_up_and_down(mount):
    p = mount.mnt + "/b"
    data = os.urandom(10000)
    with open(p, "wb") as f:
        f.write(data)
    os.truncate(p, 50000)
    assert read(p) == data + bytes(40000)
    os.truncate(p, 100)
    assert read(p) == data[:100]
    sh("truncate -s 3000 %s" % p)
    assert read(p) == data[:100] + bytes(2900)
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 10)
        assert os.fstat(fd).st_size == 10
        os.pwrite(fd, b"Z", 20)
    finally:
        os.close(fd)
    assert read(p) == data[:10] + bytes(10) + b"Z"
    sh("truncate -s 0 %s" % p)
    assert read(p) == b""
    assert kind(p) == "blob"
    # A truncate to a non-zero size of a kind-less file makes a blob.
    sh("touch %s/e && truncate -s 100 %s/e" % (mount.mnt, mount.mnt))
    assert kind(mount.mnt + "/e") == "blob"
    assert read(mount.mnt + "/e") == bytes(100)


def test_open_trunc_and_redirect(mount):
    p = mount.mnt + "/b"
    sh("echo first version > %s" % p)
    sh("echo second > %s" % p)
    assert read(p) == b"second\n"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert read(p) == b""


def supports_holes(directory):
    """True if the file system under directory reports holes itself."""
    probe = os.path.join(directory, ".hole-probe")
    fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"x", 4 * MiB)
        return os.lseek(fd, 0, os.SEEK_HOLE) == 0
    finally:
        os.close(fd)
        os.unlink(probe)


def test_holes(mount):
    if not supports_holes(mount.data):
        pytest.skip("the data folder's file system does not report holes")
    p = mount.mnt + "/sparse"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"a" * 4096, 0)
        os.pwrite(fd, b"b" * 4096, 8 * MiB)
        os.fsync(fd)
        assert os.fstat(fd).st_size == 8 * MiB + 4096
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
        assert 4096 <= hole < 8 * MiB
        data = os.lseek(fd, hole, os.SEEK_DATA)
        assert hole < data <= 8 * MiB
        assert os.lseek(fd, 8 * MiB, os.SEEK_HOLE) == 8 * MiB + 4096
        assert_errno(errno.ENXIO, os.lseek, fd, 8 * MiB + 4096, os.SEEK_DATA)
        assert os.pread(fd, 4096, 4 * MiB) == bytes(4096)
        st = os.fstat(fd)
        assert st.st_blocks * 512 < 1 * MiB, \
            "%d blocks: the hole takes space" % st.st_blocks
    finally:
        os.close(fd)
    # Truncating up makes a hole as well.
    os.truncate(p, 1 << 30)
    assert os.stat(p).st_blocks * 512 < 1 * MiB
    out = sh("du -k %s" % p).stdout.split()[0]
    assert int(out) < 1024


def test_fsync_and_fdatasync(mount):
    p = mount.mnt + "/b"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"durable")
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    d = os.open(mount.mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(d)
    finally:
        os.close(d)
    run(["sync", p])
    assert read(p) == b"durable"


def test_times_follow_writes_and_utime(mount):
    p = mount.mnt + "/b"
    sh("echo x > %s" % p)
    os.utime(p, ns=(1000000000000000001, 1000000000000000002))
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == (1000000000000000001,
                                                1000000000000000002)
    ctime = st.st_ctime_ns
    with open(p, "ab") as f:
        f.write(b"y")
    st = os.stat(p)
    assert st.st_mtime_ns > 1000000000000000002
    assert st.st_ctime_ns >= ctime
    os.chmod(p, 0o600)
    assert os.stat(p).st_ctime_ns >= st.st_ctime_ns


def test_rename_over_an_existing_file(mount):
    m = mount.mnt
    sh("printf new > %s/a && printf old > %s/b" % (m, m))
    old = open(m + "/b", "rb")
    try:
        sh("mv %s/a %s/b" % (m, m))
        assert os.listdir(m) == ["b"]
        assert read(m + "/b") == b"new"
        assert old.read() == b"old", "an open file keeps its old content"
    finally:
        old.close()
    # A blob renamed over a topic is refused (test_replace.py).
    sh("echo line >> %s/t && printf blob > %s/c" % (m, m))
    assert_errno(errno.EPERM, os.rename, m + "/c", m + "/t")
    assert read(m + "/t") == b"line\n"
    assert kind(m + "/t") == "topic"
    assert sorted(os.listdir(m)) == ["b", "c", "t"]
    os.mkdir(m + "/d")
    assert_errno(errno.EISDIR, os.rename, m + "/b", m + "/d")
    assert_errno(errno.ENOTDIR, os.rename, m + "/d", m + "/b")
    assert read(m + "/b") == b"new"


def test_dd_into_the_middle(mount):
    p = mount.mnt + "/b"
    sh("head -c 10000 /dev/zero > %s" % p)
    sh("printf XYZ | dd of=%s bs=1 seek=5000 conv=notrunc status=none" % p)
    data = read(p)
    assert len(data) == 10000
    assert data[5000:5003] == b"XYZ"
    assert data.count(b"\0") == 9997


def test_mmap_read(mount):
    p = mount.mnt + "/b"
    data = os.urandom(3 * 4096 + 5)
    with open(p, "wb") as f:
        f.write(data)
    with open(p, "rb") as f:
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            assert mm[:] == data
