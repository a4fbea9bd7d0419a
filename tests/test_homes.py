"""Topic homes: every data folder has a replica id (the read-only
attribute user.streamfs.replica_id of the mount root), every topic a home
(user.streamfs.home, the id of the replica it was made at), and only the
home appends to a topic.  A topic homed at another replica, as
replication makes them, refuses every append -- a write through the
mount, a held partial line, a restored record, a Kafka produce -- with
EROFS (Kafka: POLICY_VIOLATION) and a log line naming the home, and
nothing of it is stored.  tests/unit/set_home gives a topic of an
unmounted data folder another home, as the replication receiver does."""
import errno
import fcntl
import os
import shutil
import struct
import subprocess
import sys

import pytest

from util import BUILD, PFX, append, assert_errno, read, run

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402

SET_HOME = BUILD / "tests" / "set_home"
OTHER = "00c0ffee12345678"
IOC_RESTORE = 0x40000000 | (32 << 16) | (ord("S") << 8) | 1
REFUSED = r"refused \(EROFS\): its home is replica " + OTHER


def getx(path, name):
    return os.getxattr(path, PFX + name).decode()


def rehome(m, stream, topic, home=OTHER):
    """Unmount m, give stream/topic the home `home`, mount it again."""
    assert m.unmount() == 0
    run([SET_HOME, m.data, stream, topic, home])
    m.start()


def test_replica_id_on_root(mount_factory):
    a, b = mount_factory(), mount_factory()
    ida = getx(a.mnt, "replica_id")
    assert len(ida) == 16 and int(ida, 16) != 0
    assert ida == ida.lower()
    assert getx(b.mnt, "replica_id") != ida
    a.restart()
    assert getx(a.mnt, "replica_id") == ida
    # Read-only, and only the root has one.
    assert_errno(errno.EPERM, os.setxattr, a.mnt, PFX + "replica_id", b"1")
    assert_errno(errno.EPERM, os.removexattr, a.mnt, PFX + "replica_id")
    assert getx(a.mnt, "replica_id") == ida
    os.mkdir(a.mnt + "/plant")
    append(a.mnt + "/plant/t", b"x\n")
    assert_errno(errno.ENODATA, os.getxattr, a.mnt + "/plant",
                 PFX + "replica_id")
    assert_errno(errno.ENODATA, os.getxattr, a.mnt + "/plant/t",
                 PFX + "replica_id")
    assert PFX + "replica_id" not in os.listxattr(a.mnt)
    # getfattr, as a user reads it.
    out = run(["getfattr", "--only-values", "-n", PFX + "replica_id",
               a.mnt]).stdout
    assert out == ida


def test_local_topic_is_homed_here(mount):
    os.mkdir(mount.mnt + "/plant")
    t = mount.mnt + "/plant/temp"
    append(t, b"a\n")
    assert getx(t, "home") == getx(mount.mnt, "replica_id")
    assert_errno(errno.EPERM, os.setxattr, t, PFX + "home", OTHER.encode())
    assert_errno(errno.EPERM, os.removexattr, t, PFX + "home")
    assert getx(t, "home") == getx(mount.mnt, "replica_id")
    assert PFX + "home" not in os.listxattr(t)
    assert_errno(errno.ENODATA, os.getxattr, mount.mnt + "/plant",
                 PFX + "home")
    # A blob has no home.
    with open(mount.mnt + "/plant/blob", "wb") as f:
        f.write(b"bytes")
    assert_errno(errno.ENODATA, os.getxattr, mount.mnt + "/plant/blob",
                 PFX + "home")


def test_append_refused_away_from_home(mount):
    mount.expect_log(REFUSED)
    os.mkdir(mount.mnt + "/plant")
    t = mount.mnt + "/plant/temp"
    append(t, b"a\n")
    append(mount.mnt + "/plant/other", b"o\n")
    rehome(mount, "plant", "temp")
    assert getx(t, "home") == OTHER
    assert getx(mount.mnt + "/plant/other", "home") == \
        getx(mount.mnt, "replica_id")
    fd = os.open(t, os.O_WRONLY | os.O_APPEND)
    try:
        assert_errno(errno.EROFS, os.write, fd, b"b\n")
        # A partial line is not held either (it could never be stored).
        assert_errno(errno.EROFS, os.write, fd, b"partial")
        # Nor a restored record, refused when it is announced.
        info = dict(line.split("=") for line in
                    getx(t, "info").splitlines())
        rec = struct.pack("<QQqII", int(info["size"]),
                          int(info["messages"]), int(info["last_time"]),
                          2, 1)
        assert_errno(errno.EROFS, fcntl.ioctl, fd, IOC_RESTORE, rec)
    finally:
        os.close(fd)
    # coreutils' echo names the error (dash's builtin says "I/O error"
    # for any).
    r = subprocess.run(["sh", "-c", "/bin/echo b >> '%s'" % t],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert read(t) == b"a\n"
    # The other topic of the stream, and a new one, are homed here.
    append(mount.mnt + "/plant/other", b"p\n")
    append(mount.mnt + "/plant/new", b"n\n")
    assert read(mount.mnt + "/plant/other") == b"o\np\n"
    assert getx(mount.mnt + "/plant/new", "home") == \
        getx(mount.mnt, "replica_id")
    # The refusal is in the log, naming the topic's home; a writer
    # retrying does not flood it.
    lines = [l for l in mount.log_text().splitlines()
             if "refused (EROFS)" in l]
    assert lines and all(OTHER in l for l in lines)
    assert len(lines) <= 3
    # Reads go on, and the home stays over a restart.
    mount.restart()
    assert read(t) == b"a\n" and getx(t, "home") == OTHER
    assert_errno(errno.EROFS, append, t, b"c\n")


def test_kafka_produce_refused_away_from_home(mount_factory):
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    port = kw.free_port()
    m = mount_factory(["kafka=127.0.0.1:%d" % port])
    m.expect_log(REFUSED)
    os.mkdir(m.mnt + "/plant")
    append(m.mnt + "/plant/temp", b"seed\n")
    rehome(m, "plant", "temp")
    r = subprocess.run(["kcat", "-b", "127.0.0.1:%d" % port, "-P", "-t",
                        "plant.temp", "-X", "message.timeout.ms=5000"],
                       input=b"nope\n", capture_output=True, timeout=60)
    assert r.returncode != 0 or b"olicy" in r.stderr, r.stderr
    assert b"olicy violation" in r.stderr or b"POLICY" in r.stderr, r.stderr
    assert read(m.mnt + "/plant/temp") == b"seed\n"
    assert any("Kafka produce refused (EROFS)" in l
               for l in m.log_text().splitlines())


@pytest.mark.mount_options("allow_other")
def test_reading_home_needs_describe(mount, other_user):
    """A topic's home is part of its description: consume or produce of
    the topic (here its mode bits); the root's id needs its read bit."""
    os.chmod(mount.mnt, 0o755)
    os.mkdir(mount.mnt + "/plant", 0o755)
    t = mount.mnt + "/plant/temp"
    append(t, b"a\n")
    os.chmod(t, 0o644)
    home = getx(t, "home")
    prog = "print(os.getxattr(%r, %r).decode(), end='')"
    assert other_user.run([sys.executable, "-c", "import os;" +
                           prog % (t, PFX + "home")]).stdout == home
    os.chmod(t, 0o600)
    assert other_user.call("os.getxattr(%r, %r)" % (t, PFX + "home")) \
        == "EACCES"
    assert other_user.call("os.getxattr(%r, %r)" % (mount.mnt,
                                                    PFX + "replica_id")) \
        == "OK"
    os.chmod(mount.mnt, 0o711)
    assert other_user.call("os.getxattr(%r, %r)" % (mount.mnt,
                                                    PFX + "replica_id")) \
        == "EACCES"
    # Nobody may set them, the owner neither.
    os.chmod(mount.mnt, 0o777)
    os.chmod(t, 0o666)
    assert other_user.call("os.setxattr(%r, %r, b'1')" % (t, PFX + "home")) \
        == "EPERM"
    assert getx(t, "home") == home
