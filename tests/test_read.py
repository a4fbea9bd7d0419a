"""Issue 2, point 7: reading topics - cat, dd skip=, tail -n, tail -f,
byte-range reads during appends, and poll() waking on new data."""
import os
import random
import select
import subprocess
import time

from util import PYTHON, read, run, sh, write_all


def make_topic(path, lines=20000):
    """A topic of numbered lines, appended in 64 KiB writes of whole lines;
    returns its content."""
    data = b"".join(b"line %06d %s\n" % (i, b"x" * (i % 50))
                    for i in range(lines))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        pos = 0
        while pos < len(data):
            end = data.rfind(b"\n", pos, pos + 65536) + 1
            write_all(fd, data[pos:end])
            pos = end
    finally:
        os.close(fd)
    return data


def test_cat(mount):
    p = mount.mnt + "/t"
    data = make_topic(p)
    assert run(["cat", p], binary=True).stdout == data
    assert os.stat(p).st_size == len(data)


def test_dd_skip(mount):
    p = mount.mnt + "/t"
    data = make_topic(p)
    out = sh("dd if=%s bs=1 skip=5 count=10 status=none" % p,
             binary=True).stdout
    assert out == data[5:15]
    out = sh("dd if=%s bs=4096 skip=3 status=none" % p, binary=True).stdout
    assert out == data[3 * 4096:]
    out = sh("dd if=%s bs=1M skip=100 status=none" % p, binary=True).stdout
    assert out == b""


def test_tail_n(mount):
    p = mount.mnt + "/t"
    data = make_topic(p)
    out = sh("tail -n 3 %s" % p, binary=True).stdout
    assert out == b"".join(data.splitlines(keepends=True)[-3:])
    out = sh("tail -c 100 %s" % p, binary=True).stdout
    assert out == data[-100:]


def test_pread_any_byte_range(mount):
    p = mount.mnt + "/t"
    data = make_topic(p, 5000)
    rnd = random.Random(2)
    fd = os.open(p, os.O_RDONLY)
    try:
        for _ in range(300):
            off = rnd.randrange(len(data) + 10)
            n = rnd.choice((1, 7, 100, 4096, 70000))
            assert os.pread(fd, n, off) == data[off:off + n], (off, n)
    finally:
        os.close(fd)


APPENDER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(int(sys.argv[2])):
    os.write(fd, b"msg %06d\n" % i)
"""


def test_reader_follows_a_concurrent_writer(mount):
    p = mount.mnt + "/t"
    open(p, "a").close()
    lines = 20000
    w = subprocess.Popen([PYTHON, "-c", APPENDER, p, str(lines)])
    got = bytearray()
    fd = os.open(p, os.O_RDONLY)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            chunk = os.read(fd, 65536)
            if chunk:
                got += chunk
                # A reader may stop anywhere, but what it got is a prefix.
                continue
            if w.poll() is not None and len(got) == os.stat(p).st_size:
                break
            time.sleep(0.001)
    finally:
        os.close(fd)
        w.wait(timeout=60)
    assert w.returncode == 0
    expect = b"".join(b"msg %06d\n" % i for i in range(lines))
    assert bytes(got) == expect
    assert read(p) == expect


def test_tail_f_sees_appends_from_another_process(mount):
    p = mount.mnt + "/t"
    sh("echo old >> %s" % p)
    tail = subprocess.Popen(["tail", "-n", "1", "-s", "0.1", "-f", p],
                            stdout=subprocess.PIPE)
    try:
        buf = b""

        def read_until(want, timeout):
            nonlocal buf
            deadline = time.monotonic() + timeout
            while want not in buf and time.monotonic() < deadline:
                r, _, _ = select.select([tail.stdout], [], [], 0.1)
                if r:
                    chunk = os.read(tail.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    buf += chunk
            return want in buf

        assert read_until(b"old\n", 10), "tail printed %r" % buf
        sh("echo new >> %s" % p)
        t0 = time.monotonic()
        assert read_until(b"new\n", 10), "tail -f printed only %r" % buf
        print("tail -f saw the append after %.3f s" % (time.monotonic() - t0))
        sh("echo third >> %s" % p)
        assert read_until(b"third\n", 10), buf
        assert buf == b"old\nnew\nthird\n"
    finally:
        tail.kill()
        tail.wait()
        tail.stdout.close()


POLL_WRITER = r"""
import os, sys, time
path = sys.argv[1]
for line in sys.stdin:
    t = time.monotonic_ns()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, line.encode())
    os.close(fd)
    print(t, flush=True)
"""


def test_poll_wakes_when_another_process_appends(mount):
    p = mount.mnt + "/t"
    sh("echo first >> %s" % p)
    w = subprocess.Popen([PYTHON, "-c", POLL_WRITER, p], text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    fd = os.open(p, os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"first\n"
        assert os.read(fd, 100) == b""
        po = select.poll()
        po.register(fd, select.POLLIN)
        # At the end of the data there is nothing to read: poll waits.
        assert po.poll(200) == [], "poll() at end of data must wait"
        for n in range(3):
            w.stdin.write("wake %d\n" % n)
            w.stdin.flush()
            events = po.poll(5000)
            woke = time.monotonic_ns()
            assert events and events[0][1] & select.POLLIN, \
                "poll() did not wake within 5 s of an append"
            sent = int(w.stdout.readline())
            print("poll woke %.3f ms after the append started"
                  % ((woke - sent) / 1e6))
            assert os.read(fd, 100) == b"wake %d\n" % n
            assert po.poll(100) == [], "poll() after reading all must wait"
        # With data unread, poll and select answer at once.
        w.stdin.write("more\n")
        w.stdin.flush()
        w.stdout.readline()
        assert po.poll(1000)
        r, _, _ = select.select([fd], [], [], 1)
        assert r == [fd]
        assert os.read(fd, 100) == b"more\n"
    finally:
        os.close(fd)
        w.stdin.close()
        w.wait(timeout=30)
