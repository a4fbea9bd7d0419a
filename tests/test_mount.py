"""Issue 2, point 2: mounting, unmounting, options, one mount per data folder."""
import os
import subprocess
from pathlib import Path

import pytest

from util import (DAEMON, FUSERMOUNT, append, force_unmount, is_mounted,
                  mounts, read, run, sh, wait_for)


def test_help_prints_usage():
    r = run([DAEMON, "--help"], check=False)
    assert r.returncode == 0, r.stderr
    assert "usage" in (r.stdout + r.stderr).lower()


def test_mount_is_listed_as_streamfs(mount):
    entry = [m for m in mounts() if m[1] == os.path.realpath(mount.mnt)]
    assert len(entry) == 1
    source, _, fstype = entry[0]
    assert fstype.startswith("fuse") and (
        "streamfs" in fstype or "streamfs" in source), entry
    assert os.path.ismount(mount.mnt)


def test_missing_mountpoint_is_a_clear_error(tmp_path):
    r = run([DAEMON, "-f", tmp_path / "data", tmp_path / "nowhere"],
            check=False, timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip(), "no message on stderr"
    assert not is_mounted(tmp_path / "nowhere")


def test_unmount_keeps_data_and_daemon_exits_cleanly(mount):
    sh("mkdir %s/s && echo one >> %s/s/t" % (mount.mnt, mount.mnt))
    mount.restart()        # asserts exit status 0
    assert read(mount.mnt + "/s/t") == b"one\n"


def test_second_mount_of_same_data_is_refused(mount, scratch):
    append(mount.mnt + "/t", b"kept\n")
    other = Path(scratch) / "mnt2"
    other.mkdir()
    try:
        p = subprocess.Popen([str(DAEMON), "-f", mount.data, str(other)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail("second mount of a live data folder hangs")
        assert p.returncode != 0
        assert "already" in err.lower(), "unclear message: %r" % err
        assert len(err.strip().splitlines()) <= 3, err
        assert not is_mounted(other)
    finally:
        if is_mounted(other):
            force_unmount(str(other), "fuse")
    # The first mount is unharmed.
    assert read(mount.mnt + "/t") == b"kept\n"
    append(mount.mnt + "/t", b"more\n")
    assert read(mount.mnt + "/t") == b"kept\nmore\n"


def daemons_serving(mnt):
    """pids of processes whose command line names mnt."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if str(mnt).encode() in args:
            found.append(int(pid))
    return found


def test_daemonizes_without_f(tmp_path, scratch, mount_factory):
    data = tmp_path / "bgdata"
    mnt = Path(scratch) / "bgmnt"
    data.mkdir()
    mnt.mkdir()
    try:
        r = run([DAEMON, data, mnt], check=False, timeout=30)
        assert r.returncode == 0, r.stderr
        assert is_mounted(mnt), "daemon returned but nothing is mounted"
        sh("echo background >> %s/t" % mnt)
        run([FUSERMOUNT, "-u", mnt])
        assert wait_for(lambda: not is_mounted(mnt), 10)
        assert wait_for(lambda: not daemons_serving(mnt), 20), \
            "background daemon still running after unmount"
    finally:
        if is_mounted(mnt):
            force_unmount(str(mnt), "fuse")
    # The background daemon let go of its data folder: it mounts again.
    m = mount_factory(data=data)
    assert read(m.mnt + "/t") == b"background\n"


@pytest.mark.mount_options("threads")
def test_threads_option_serves_concurrent_writers(mount):
    # The full 8-writer check runs in test_topics; this one proves the
    # multithreaded loop is correct too.
    path = mount.mnt + "/t"
    code = ("import os,sys\n"
            "k=int(sys.argv[2]); fd=os.open(sys.argv[1], os.O_WRONLY|os.O_APPEND|os.O_CREAT, 0o644)\n"
            "for i in range(2000): os.write(fd, b'w%d %06d\\n' % (k, i))\n")
    procs = [subprocess.Popen(["/usr/bin/python3", "-c", code, path, str(k)])
             for k in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    lines = read(path).split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == 8000
    for k in range(4):
        mine = [l for l in lines if l.startswith(b"w%d " % k)]
        assert mine == [b"w%d %06d" % (k, i) for i in range(2000)]
