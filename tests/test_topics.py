"""Issue 2, points 4, 5 and 6: topics are append-only logs of messages,
framed by line (default) or by write, with an index of offsets and times."""
import errno
import os
import re
import shutil
import subprocess
import time

import pytest

from util import (BUILD, PFX, PYTHON, REPO, append, assert_errno, fallocate,
                  getx, info, kind, read, run, sh, write_all)

MiB = 1 << 20


def topic(mount, name="t", data=b"first\nsecond\n"):
    os.makedirs(mount.mnt + "/s", exist_ok=True)
    p = "%s/s/%s" % (mount.mnt, name)
    append(p, data)
    return p


# ---------------------------------------------------------------- kinds

def test_echo_append_creates_a_topic(mount):
    m = mount.mnt
    os.mkdir(m + "/plant")
    sh("echo hello >> %s/plant/temp" % m)
    assert kind(m + "/plant/temp") == "topic"
    assert sh("getfattr -n user.streamfs.kind %s/plant/temp" % m).stdout \
        .splitlines()[1] == 'user.streamfs.kind="topic"'
    assert read(m + "/plant/temp") == b"hello\n"
    sh("echo world >> %s/plant/temp" % m)
    assert read(m + "/plant/temp") == b"hello\nworld\n"
    assert os.stat(m + "/plant/temp").st_size == 12
    assert info(m + "/plant/temp")["messages"] == 2


def test_python_append_mode_creates_a_topic(mount):
    p = mount.mnt + "/t"
    with open(p, "a") as f:
        f.write("one\n")
    assert kind(p) == "topic"
    assert read(p) == b"one\n"


def test_cp_redirect_and_dd_create_blobs(mount, tmp_path):
    m = mount.mnt
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * MiB + 17))
    sh("cp %s %s/" % (src, m))
    assert kind(m + "/big.bin") == "blob"
    assert read(m + "/big.bin") == src.read_bytes()
    sh("echo hi > %s/redir" % m)
    assert kind(m + "/redir") == "blob"
    sh("dd if=/dev/zero of=%s/dd bs=4096 count=3 status=none" % m)
    assert kind(m + "/dd") == "blob"
    assert os.stat(m + "/dd").st_size == 12288
    # The kind never changes: appending to a blob keeps it a blob.
    sh("echo more >> %s/redir" % m)
    assert kind(m + "/redir") == "blob"
    assert read(m + "/redir") == b"hi\nmore\n"


def test_kind_attribute_rules(mount):
    m = mount.mnt
    sh("touch %s/e1 %s/e2" % (m, m))
    assert_errno(errno.ENODATA, os.getxattr, m + "/e1", PFX + "kind")
    sh("setfattr -n %skind -v topic %s/e1" % (PFX, m))
    assert kind(m + "/e1") == "topic"
    sh("setfattr -n %skind -v topic %s/e1" % (PFX, m))     # same: no-op
    assert_errno(errno.EPERM, os.setxattr, m + "/e1", PFX + "kind", b"blob")
    assert kind(m + "/e1") == "topic"
    i = info(m + "/e1")
    assert (i["messages"], i["last_message"], i["size"]) == (0, -1, 0)
    assert (i["first_time"], i["last_time"]) == (0, 0)
    # Explicitly created topic is append-only from the start.
    assert_errno(errno.EPERM, os.truncate, m + "/e1", 10)
    sh("setfattr -n %skind -v blob %s/e2" % (PFX, m))
    assert kind(m + "/e2") == "blob"
    assert_errno((errno.EINVAL, errno.EPERM), os.setxattr, m + "/e2",
                 PFX + "kind", b"log")
    p = topic(mount)
    assert_errno(errno.EPERM, os.setxattr, p, PFX + "kind", b"blob")
    os.mkdir(m + "/d")
    assert_errno((errno.EINVAL, errno.EPERM, errno.EISDIR), os.setxattr,
                 m + "/d", PFX + "kind", b"topic")


# ---------------------------------------------------------------- append-only

def test_write_not_at_end_is_eperm_and_changes_nothing(mount):
    p = topic(mount)
    old = read(p)
    fd = os.open(p, os.O_WRONLY)
    try:
        assert_errno(errno.EPERM, os.pwrite, fd, b"X", 0)
        assert_errno(errno.EPERM, os.pwrite, fd, b"X\n", 3)
        assert_errno(errno.EPERM, os.pwrite, fd, b"X\n", len(old) + 1)
        assert read(p) == old
        # At exactly the end a plain handle may append.
        assert os.pwrite(fd, b"third\n", len(old)) == 6
    finally:
        os.close(fd)
    assert read(p) == old + b"third\n"
    r = sh("printf Z | dd of=%s bs=1 seek=2 conv=notrunc status=none" % p,
           check=False)
    assert r.returncode != 0
    assert read(p) == old + b"third\n"


def test_append_handle_ignores_the_offset(mount):
    # As on a local file, a write through an O_APPEND handle lands at the
    # end whatever offset the caller gave.
    p = topic(mount)
    old = read(p)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        assert os.pwrite(fd, b"at zero\n", 0) == 8
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"after seek\n")
    finally:
        os.close(fd)
    assert read(p) == old + b"at zero\nafter seek\n"


def test_truncate_is_eperm(mount):
    p = topic(mount)
    old = read(p)
    for size in (0, 3, len(old), len(old) + 100):
        assert_errno(errno.EPERM, os.truncate, p, size)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        assert_errno(errno.EPERM, os.ftruncate, fd, 0)
    finally:
        os.close(fd)
    assert sh("truncate -s 0 %s" % p, check=False).returncode != 0
    assert read(p) == old
    assert os.stat(p).st_size == len(old)


def test_open_with_o_trunc_is_eperm(mount):
    p = topic(mount)
    old = read(p)
    assert_errno(errno.EPERM, os.open, p, os.O_WRONLY | os.O_TRUNC)
    assert_errno(errno.EPERM, os.open, p,
                 os.O_WRONLY | os.O_APPEND | os.O_TRUNC)
    assert sh("echo replaced > %s" % p, check=False).returncode != 0
    assert read(p) == old
    assert kind(p) == "topic"


def test_fallocate_is_refused(mount):
    p = topic(mount)
    old = read(p)
    fd = os.open(p, os.O_WRONLY)
    try:
        assert_errno(errno.EPERM, fallocate, fd, 0, 0, 4096)
        assert_errno(errno.EPERM, fallocate, fd, 0, len(old), 4096)
        assert_errno((errno.EPERM, errno.EOPNOTSUPP), os.posix_fallocate,
                     fd, 0, 1 << 16)
    finally:
        os.close(fd)
    assert sh("fallocate -l 1M %s" % p, check=False).returncode != 0
    assert read(p) == old
    assert os.stat(p).st_size == len(old)


# ---------------------------------------------------------------- framing

def test_partial_line_is_held_until_completed_or_closed(mount):
    p = mount.mnt + "/t"
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"abc")
        assert os.stat(p).st_size == 0
        assert read(p) == b""
        os.write(fd, b"def\nghi")
        assert os.stat(p).st_size == 7
        assert read(p) == b"abcdef\n"
        # Another writer's line goes in between whole lines only.
        sh("echo other >> %s" % p)
        assert read(p) == b"abcdef\nother\n"
        os.write(fd, b"jkl")
        assert read(p) == b"abcdef\nother\n"
    finally:
        os.close(fd)
    # Closing appends the held rest as a message of its own.
    assert read(p) == b"abcdef\nother\nghijkl"
    i = info(p)
    assert i["messages"] == 3
    assert getx(p, "seek.message.2") == str(len(b"abcdef\nother\n"))


def test_two_open_files_hold_their_own_partial_lines(mount):
    p = mount.mnt + "/t"
    a = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    b = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(a, b"aaa")
        os.write(b, b"bbb")
        os.write(a, b"AAA\n")
        os.write(b, b"BBB\n")
    finally:
        os.close(a)
        os.close(b)
    assert read(p) == b"aaaAAA\nbbbBBB\n"


WRITER = r"""
import os, sys
path, k, n, split = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(n):
    line = b"w%d %06d\n" % (k, i)
    if split:
        cut = 1 + i % (len(line) - 1)
        parts = (line[:cut], line[cut:])
    else:
        parts = (line,)
    for part in parts:
        if os.write(fd, part) != len(part):
            sys.exit("short write")
os.close(fd)
"""


def run_writers(path, writers, lines, split):
    procs = [subprocess.Popen([PYTHON, "-c", WRITER, path, str(k), str(lines),
                               "1" if split else "0"],
                              stderr=subprocess.PIPE)
             for k in range(writers)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err


def check_interleaving(path, writers, lines):
    data = read(path)
    assert data.endswith(b"\n")
    got = data.split(b"\n")[:-1]
    assert len(got) == writers * lines, "%d lines" % len(got)
    pattern = re.compile(rb"w(\d) (\d{6})\Z")
    seen = {k: [] for k in range(writers)}
    for line in got:
        mt = pattern.match(line)
        assert mt, "torn or interleaved line %r" % line
        seen[int(mt.group(1))].append(int(mt.group(2)))
    for k in range(writers):
        assert seen[k] == list(range(lines)), "writer %d out of order" % k
    assert os.stat(path).st_size == len(data)
    assert info(path)["messages"] == writers * lines


@pytest.mark.parametrize("mount", [[], ["threads"]], indirect=True,
                         ids=["single", "threads"])
def test_eight_writers_10000_lines_each(mount):
    p = mount.mnt + "/t"
    t0 = time.monotonic()
    run_writers(p, 8, 10000, split=False)
    print("8 x 10000 appends took %.2f s" % (time.monotonic() - t0))
    check_interleaving(p, 8, 10000)


def test_eight_writers_with_lines_split_across_writes(mount):
    p = mount.mnt + "/t"
    run_writers(p, 8, 2500, split=True)
    check_interleaving(p, 8, 2500)


def test_framing_write_makes_each_write_one_message(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    assert getx(m + "/s", "framing") == "line"
    sh("setfattr -n user.streamfs.framing -v write %s/s" % m)
    assert sh("getfattr --only-values -n user.streamfs.framing %s/s"
              % m).stdout == "write"
    p = m + "/s/t"
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"a\nb\nc\n")
        assert info(p)["messages"] == 1
        os.write(fd, b"no newline")          # not held: a whole message
        assert read(p) == b"a\nb\nc\nno newline"
        os.write(fd, b"\x00\xff binary\x00")
        assert info(p)["messages"] == 3
    finally:
        os.close(fd)
    assert info(p)["messages"] == 3
    assert getx(p, "seek.message.1") == "6"
    assert getx(p, "seek.message.2") == "16"
    # The default framing counts lines.
    q = m + "/lt"
    append(q, b"a\nb\nc\n")
    assert info(q)["messages"] == 3


def test_max_message_default_is_1mib(mount):
    m = mount.mnt
    assert getx(m, "max_message") == str(MiB)
    p = topic(mount)
    old = read(p)
    # A message is its line with the newline: exactly 1 MiB is accepted.
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        write_all(fd, b"x" * (MiB - 1) + b"\n")
    finally:
        os.close(fd)
    assert os.stat(p).st_size == len(old) + MiB
    old = read(p)
    # One byte more is refused, however the kernel splits the write.
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        assert_errno(errno.EMSGSIZE, write_all, fd, b"y" * MiB + b"\n")
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    assert read(p) == old
    assert info(p)["messages"] == 3


def test_max_message_1k(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    sh("setfattr -n user.streamfs.max_message -v 1k %s/s" % m)
    assert getx(m + "/s", "max_message") == "1024"
    p = m + "/s/t"
    append(p, b"a" * 1023 + b"\n")
    assert os.stat(p).st_size == 1024
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        assert_errno(errno.EMSGSIZE, os.write, fd, b"b" * 1024 + b"\n")
        # The whole write is refused, even its short first line.
        assert_errno(errno.EMSGSIZE, os.write, fd,
                     b"ok\n" + b"c" * 2000 + b"\n")
        # A partial line that grows too long is refused as well.
        os.write(fd, b"d" * 1000)
        assert_errno(errno.EMSGSIZE, os.write, fd, b"d" * 100)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    data = read(p)
    assert data[:1024] == b"a" * 1023 + b"\n"
    assert b"b" not in data and b"c" not in data and b"ok" not in data
    r = sh("printf '%%s\\n' \"$(head -c 2000 /dev/zero | tr '\\0' e)\" >> %s" % p,
           check=False)
    assert r.returncode != 0
    assert b"e" not in read(p)
    # framing=write: the limit applies to each write.
    sh("setfattr -n user.streamfs.framing -v write %s/s" % m)
    q = m + "/s/w"
    append(q, b"z" * 1024)
    assert_errno(errno.EMSGSIZE, append, q, b"z" * 1025)
    assert read(q) == b"z" * 1024


# ---------------------------------------------------------------- the index

def test_info_reports_offsets_sizes_and_times(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    p = m + "/s/t"
    t0 = time.time_ns()
    sh("echo a >> %s" % p)
    time.sleep(0.01)
    t1 = time.time_ns()
    sh("printf 'bb\\nccc\\n' >> %s" % p)
    t2 = time.time_ns()
    i = info(p)
    assert i["messages"] == 3
    assert i["first_message"] == 0
    assert i["last_message"] == 2
    assert i["first_offset"] == 0
    assert i["size"] == 9 == os.stat(p).st_size
    assert t0 <= i["first_time"] <= t1, (t0, i, t1)
    assert t1 <= i["last_time"] <= t2, (t1, i, t2)
    # Derived, so setting it (as copying tools do) changes nothing.
    os.setxattr(p, PFX + "info", b"messages=9")
    out = sh("getfattr --only-values -n user.streamfs.info %s" % p).stdout
    assert "messages=3" in out.splitlines()


def test_seek_by_message_and_time(mount):
    m = mount.mnt
    p = m + "/t"
    append(p, b"a\n")
    time.sleep(0.02)
    mid = time.time_ns()
    time.sleep(0.02)
    append(p, b"bb\nccc\n")
    assert [getx(p, "seek.message.%d" % n) for n in range(3)] == \
        ["0", "2", "5"]
    assert_errno(errno.ENXIO, os.getxattr, p, PFX + "seek.message.3")
    assert getx(p, "seek.time.0") == "0"
    assert getx(p, "seek.time.%d" % mid) == "2"
    assert getx(p, "seek.time.%d" % (time.time_ns() + 10**9)) == "9"


def streamctl():
    for cand in (BUILD / "tools" / "streamctl", REPO / "tools" / "streamctl"):
        if cand.is_file() and os.access(str(cand), os.X_OK):
            return str(cand)
    return shutil.which("streamctl")


def test_streamctl_info(mount):
    tool = streamctl()
    if tool is None:
        pytest.skip("streamctl is not built")
    p = topic(mount, data=b"a\nbb\nccc\n")
    i = info(p)
    out = run([tool, "info", p]).stdout
    assert re.search(r"messages\W+3\b", out), out
    assert re.search(r"\b%d\b" % i["size"], out), out
    r = run([tool, "info", mount.mnt + "/missing"], check=False)
    assert r.returncode != 0 and r.stderr.strip()


def test_open_topic_moved_to_another_stream_follows_its_policies(mount):
    """The daemon keeps a copy of each open file's stream; a rename while
    the topic is open must move it, so the next write is framed by the new
    stream's policy (write framing: one message at once, no held line)."""
    m = mount.mnt
    os.mkdir(m + "/lines")
    os.mkdir(m + "/writes")
    sh("setfattr -n user.streamfs.framing -v write %s/writes" % m)
    append(m + "/lines/t", b"first\n")
    fd = os.open(m + "/lines/t", os.O_WRONLY | os.O_APPEND)
    try:
        os.rename(m + "/lines/t", m + "/writes/t")
        os.write(fd, b"no newline")
        assert read(m + "/writes/t") == b"first\nno newline"
        assert info(m + "/writes/t")["messages"] == 2
    finally:
        os.close(fd)


def test_lines_counted_in_writes_of_every_length(mount):
    """Line counting takes writes 32 or 64 bytes at a time: lines that end
    at every position of a block, in writes of every length, are counted
    exactly."""
    import random
    rnd = random.Random(7)
    path = mount.mnt + "/t"
    want = 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for n in list(range(1, 300)) + [4095, 4096, 65536]:
            buf = bytearray(rnd.choice(b"ab") for _ in range(n))
            for _ in range(rnd.randrange(0, 1 + n // 8)):
                buf[rnd.randrange(n)] = 10
            buf[-1] = 10
            want += buf.count(b"\n")
            assert os.write(fd, bytes(buf)) == n
    finally:
        os.close(fd)
    assert info(path)["messages"] == want
