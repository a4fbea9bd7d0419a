"""Issue 2, point 2: mounting, unmounting, options, one mount per data folder."""
import errno
import os
import signal
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


# ---------------------------------------------------------------- issue 7.7

def dead(path):
    """True if path is a mount whose daemon is gone (ENOTCONN)."""
    try:
        os.statvfs(path)
    except OSError as e:
        return e.errno == errno.ENOTCONN
    return False


def stop_background(mnt):
    """Unmount a background daemon's mount and make sure the daemon is gone
    (it is killed, by pid, if it does not exit)."""
    if is_mounted(mnt):
        subprocess.run([FUSERMOUNT, "-u", str(mnt)], capture_output=True)
    if is_mounted(mnt):
        force_unmount(str(mnt), "fuse")
    if not wait_for(lambda: not daemons_serving(mnt), 20):
        for pid in daemons_serving(mnt):
            os.kill(pid, signal.SIGKILL)
        pytest.fail("background daemon still running after unmount")


def test_stale_mount_of_a_killed_daemon_is_cleared(mount):
    append(mount.mnt + "/t", b"before the crash\n")
    mount.kill9(detach=False)
    try:
        assert is_mounted(mount.mnt) and dead(mount.mnt)
        r = run([DAEMON, mount.data, mount.mnt], check=False, timeout=30)
        assert r.returncode == 0, r.stderr
        # One line about the mount point (recovery may report too).
        lines = [l for l in r.stderr.splitlines() if "recovery:" not in l]
        assert len(lines) == 1 and "died" in lines[0] and \
            mount.mnt in lines[0], r.stderr
        assert not dead(mount.mnt)
        assert len([m for m in mounts() if m[1] == mount.mnt]) == 1, \
            "the dead mount must be gone, not stacked under the new one"
        assert read(mount.mnt + "/t") == b"before the crash\n"
        append(mount.mnt + "/t", b"after\n")
    finally:
        stop_background(mount.mnt)
    assert not is_mounted(mount.mnt)


def test_stale_mount_is_cleared_in_the_foreground_too(mount):
    append(mount.mnt + "/t", b"kept\n")
    mount.kill9(detach=False)
    try:
        assert dead(mount.mnt)
        # Mount.start() on the dead mount point: the daemon clears it.
        mount.start(stale=True)
        assert read(mount.mnt + "/t") == b"kept\n"
        assert "detached it" in mount.log_text()
    finally:
        if mount.proc is None and is_mounted(mount.mnt):
            force_unmount(mount.mnt, "fuse")


def test_mount_over_a_live_mount_is_refused(mount, tmp_path):
    append(mount.mnt + "/t", b"live\n")
    (tmp_path / "other").mkdir()
    try:
        r = run([DAEMON, "-f", tmp_path / "other", mount.mnt], check=False,
                timeout=30)
    finally:
        while len([m for m in mounts() if m[1] == mount.mnt]) > 1:
            force_unmount(mount.mnt, "fuse")        # a stacked mount
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "already a streamfs mount" in lines[0], \
        r.stderr
    assert "fusermount3 -u" in lines[0]
    assert read(mount.mnt + "/t") == b"live\n"
    assert os.listdir(tmp_path / "other") == []


def test_missing_data_folder_is_created_with_a_line(tmp_path, scratch):
    data = tmp_path / "typo" / "data"
    mnt = Path(scratch) / "mnt"
    mnt.mkdir()
    try:
        r = run([DAEMON, data, mnt], check=False, timeout=30)
        assert r.returncode == 0, r.stderr
        lines = r.stderr.strip().splitlines()
        assert lines == ["streamfs: created the data folder %s (it did not "
                         "exist)" % data], r.stderr
        assert is_mounted(mnt) and (data / "db" / "CURRENT").exists()
    finally:
        stop_background(mnt)
    # An existing store, or an existing empty folder, is not announced.
    for d in (data, tmp_path / "empty"):
        d.mkdir(exist_ok=True)
        try:
            r = run([DAEMON, d, mnt], check=False, timeout=30)
            assert r.returncode == 0, r.stderr
            assert r.stderr == "", r.stderr
        finally:
            stop_background(mnt)


def test_folder_that_is_not_a_store_is_refused(tmp_path, scratch):
    mnt = Path(scratch) / "mnt"
    mnt.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine\n")
    (junk / "segments").mkdir()               # one store name is not enough
    try:
        r = run([DAEMON, "-f", junk, mnt], check=False, timeout=30)
    finally:
        if is_mounted(mnt):
            force_unmount(str(mnt), "fuse")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a streamfs data folder" in lines[0], \
        r.stderr
    assert sorted(os.listdir(junk)) == ["notes.txt", "segments"], \
        "a refused folder must be left as it was"
    assert not is_mounted(mnt)


def test_store_layouts_that_are_accepted(tmp_path, scratch, mount_factory):
    # A fresh file system's lost+found, and a first mount cut short (db/
    # without CURRENT), are the start of a store.
    for name, made in (("fresh", ["lost+found"]), ("cut", ["db"])):
        d = tmp_path / name
        d.mkdir()
        for sub in made:
            (d / sub).mkdir()
        m = mount_factory(data=d)
        append(m.mnt + "/t", b"x\n")
        m.restart()
        assert read(m.mnt + "/t") == b"x\n"
    # A store with a stray file beside its own is still a store.
    d = tmp_path / "cut"
    m.unmount()
    (d / "README").write_text("notes\n")
    m.start()
    assert read(m.mnt + "/t") == b"x\n"


def df_inodes(path):
    """(Inodes, IUsed, IFree) as df -i prints them for path."""
    out = run(["df", "-i", path]).stdout.splitlines()
    assert out[0].split()[1:4] == ["Inodes", "IUsed", "IFree"], out
    return tuple(int(x) for x in out[1].split()[1:4])


def test_df_inodes_are_real_figures(mount):
    total, used, free = df_inodes(mount.mnt)
    # The root, and the system stream /.streamfs with its two topics.
    assert used == 4, "a new store holds the root and /.streamfs: %d" % used
    under = os.statvfs(mount.data)
    assert free > 0 and total == used + free
    # Free inodes are the data folder's file system's (others may create
    # files there meanwhile).
    assert abs(free - under.f_favail) < max(1000, under.f_favail // 100), \
        (free, under.f_favail)
    m = mount.mnt
    sh("mkdir %s/s && echo x >> %s/s/t && touch %s/s/e && ln -s t %s/s/l "
       "&& printf b > %s/s/b" % (m, m, m, m, m))
    assert df_inodes(m)[1] == 9
    sh("rm %s/s/t %s/s/e" % (m, m))
    assert df_inodes(m)[1] == 7
    mount.restart()                   # counted again at mount
    total, used, free = df_inodes(m)
    assert used == 7 and total == used + free
