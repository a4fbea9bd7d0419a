"""Issue 10, the system stream /.streamfs (docs/design.md, "The system
stream"): made at mount with its topics metrics and errors and a ttl of 7
days, kept across remounts with its message offsets going on, one mount
event in errors per mount, read-only to everyone, readable by root and the
mount owner only, and its generated files (status)."""
import json
import os
import stat
import subprocess
import time

import pytest

from util import (BUILD, DAEMON, FUSERMOUNT, OTHER_GID, OTHER_UID, PFX, PYTHON,
                  force_unmount, info, is_mounted, kind, run, wait_for)

SYS = "/.streamfs"
STREAMCTL = BUILD / "tools" / "streamctl"
OLD_STORE = BUILD / "tests" / "old_store"


def sysdir(m):
    return m.mnt + SYS


def events(m):
    """The messages of /.streamfs/errors as (message offset, object)."""
    out = run([STREAMCTL, "tail", "--format", "%o %s\\n",
               sysdir(m) + "/errors"]).stdout
    res = []
    for line in out.splitlines():
        off, _, text = line.partition(" ")
        res.append((int(off), json.loads(text)))
    return res


def mounts_of(ev):
    return [(off, e) for off, e in ev if e.get("type") == "mount"]


# ---------------------------------------------------------------- at mount

def test_made_at_mount(mount):
    """A new store has /.streamfs: a stream owned by the mount owner, mode
    0555, with topics metrics and errors (mode 0400, line framing) and a
    ttl of 7 days as its own policy."""
    d = sysdir(mount)
    st = os.stat(d)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o555
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert sorted(os.listdir(d)) == ["errors", "metrics", "metrics.prom",
                                     "status"]
    for t in ("errors", "metrics"):
        ts = os.stat(d + "/" + t)
        assert stat.S_ISREG(ts.st_mode)
        assert stat.S_IMODE(ts.st_mode) == 0o400
        assert (ts.st_uid, ts.st_gid) == (os.getuid(), os.getgid())
        assert kind(d + "/" + t) == "topic"
    assert os.getxattr(d, PFX + "ttl") == b"604800"
    assert os.getxattr(d, PFX + "retention_bytes") == b"268435456"
    assert os.getxattr(d, PFX + "framing") == b"line"
    assert os.getxattr(d, PFX + "durability") == b"os"


def test_not_listed_at_the_root(mount):
    """The root's listing leaves /.streamfs out (as ZFS's .zfs), so tools
    that walk a whole mount do not copy it; it is reached by name."""
    assert os.listdir(mount.mnt) == []
    os.mkdir(mount.mnt + "/s")
    assert os.listdir(mount.mnt) == ["s"]
    assert run(["find", mount.mnt, "-mindepth", "1"]).stdout.split() == [
        mount.mnt + "/s"]
    assert os.path.isdir(sysdir(mount))
    # Not counted among the root's subdirectories either (find's leaf
    # optimisation trusts st_nlink).
    assert os.stat(mount.mnt).st_nlink == 3


def test_mount_event_offsets_go_on_across_mounts(mount):
    """Each mount appends one mount event to errors; after a clean remount
    and after kill -9 the topic keeps its messages and the next event gets
    the next message offset."""
    first = mounts_of(events(mount))
    assert [off for off, _ in first] == [0]
    e = first[0][1]
    assert e["pid"] == mount.proc.pid
    assert e["datadir"] == os.path.realpath(mount.data)
    assert isinstance(e["version"], str) and e["ts"].endswith("Z")
    mount.restart()
    second = mounts_of(events(mount))
    assert [off for off, _ in second] == [0, 1]
    assert second[1][1]["pid"] == mount.proc.pid != e["pid"]
    mount.kill9()
    mount.start()
    mount.expect_log(r"recover")
    third = mounts_of(events(mount))
    assert [off for off, _ in third] == [0, 1, 2]
    i = info(sysdir(mount) + "/errors")
    assert (i["first_message"], i["messages"]) == (0, 3)


def test_ttl_is_a_real_policy(mount):
    """The retention thread applies the system stream's ttl: set to 1 s (by
    root), the mount event expires; offsets stay where they were."""
    d = sysdir(mount)
    before = info(d + "/errors")
    assert before["messages"] == 1
    os.setxattr(d, PFX + "ttl", b"1")
    assert wait_for(lambda: info(d + "/errors")["messages"] == 0,
                    timeout=30)
    after = info(d + "/errors")
    assert after["size"] == before["size"]
    assert after["first_message"] == 1


def test_a_users_old_streamfs_moves_aside(mount_factory, tmp_path):
    """A store older than the system stream may hold a user's /.streamfs:
    it is renamed to /.streamfs.old with everything in it, one line says
    so, and the system stream takes the name."""
    data = tmp_path / "old"
    run([OLD_STORE, data])
    m = mount_factory(data=data)
    assert os.listdir(m.mnt) == [".streamfs.old"]
    assert open(m.mnt + "/.streamfs.old/log", "rb").read() == b"old\n"
    assert kind(m.mnt + "/.streamfs.old/log") == "topic"
    assert sorted(os.listdir(sysdir(m))) == ["errors", "metrics",
                                             "metrics.prom", "status"]
    assert "it is now /.streamfs.old" in m.log_text()
    # Only once: the next mount finds the system stream.
    m.restart()
    assert os.listdir(m.mnt) == [".streamfs.old"]
    assert m.log_text().count("it is now") == 1
    assert [o for o, _ in mounts_of(events(m))] == [0, 1]


# ---------------------------------------------------------------- read-only

def snapshot(m):
    """What a refused operation must leave as it was: the names in and
    around /.streamfs, the attributes and records of its topics."""
    d = sysdir(m)
    snap = {"root": sorted(os.listdir(m.mnt)), "sys": sorted(os.listdir(d)),
            "dir": (os.stat(d).st_mode, os.stat(d).st_uid,
                    os.stat(d).st_mtime_ns),
            "xattrs": {n: os.getxattr(d, n) for n in os.listxattr(d)}}
    for t in ("errors", "metrics"):
        st = os.stat(d + "/" + t)
        snap[t] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                   st.st_mtime_ns, open(d + "/" + t, "rb").read(),
                   sorted(os.listxattr(d + "/" + t)))
        if t == "metrics":
            # The daemon appends a line of its figures every second.
            snap[t] = snap[t][:3] + snap[t][6:]
        else:
            # A refusal is reported there as a denial: all else stays.
            kept = [l for l in snap[t][5].splitlines()
                    if json.loads(l)["type"] not in ("denied", "suppressed")]
            snap[t] = snap[t][:3] + (kept,) + snap[t][6:]
    return snap


def refusals(mnt):
    """(label, python statements) of every change to /.streamfs that must
    fail with EPERM, for root and every other user alike.  A blob `b`, a
    stream `s` and a symlink target exist outside it."""
    d = mnt + SYS
    e = d + "/errors"
    ops = [
        ("append", "os.open(%r, os.O_WRONLY | os.O_APPEND)" % e),
        ("write", "os.open(%r, os.O_WRONLY)" % e),
        ("read-write", "os.open(%r, os.O_RDWR)" % e),
        ("O_TRUNC", "os.open(%r, os.O_RDONLY | os.O_TRUNC)" % e),
        ("truncate", "os.truncate(%r, 0)" % e),
        ("create", "os.open(%r, os.O_WRONLY | os.O_CREAT, 0o644)"
         % (d + "/new")),
        ("create-append", "os.open(%r, os.O_WRONLY | os.O_APPEND | "
         "os.O_CREAT, 0o644)" % (d + "/new")),
        ("mknod", "os.mknod(%r, 0o100644)" % (d + "/new")),
        ("mkdir", "os.mkdir(%r)" % (d + "/new")),
        ("symlink", "os.symlink('x', %r)" % (d + "/new")),
        ("link in", "os.link(%r, %r)" % (mnt + "/s/b", d + "/new")),
        ("link out", "os.link(%r, %r)" % (e, mnt + "/s/new")),
        ("rename in", "os.rename(%r, %r)" % (mnt + "/s/b", d + "/new")),
        ("rename out", "os.rename(%r, %r)" % (e, mnt + "/s/new")),
        ("rename inside", "os.rename(%r, %r)" % (e, d + "/new")),
        ("rename it", "os.rename(%r, %r)" % (d, mnt + "/new")),
        ("rename onto it", "os.rename(%r, %r)" % (mnt + "/s", d)),
        ("rm", "os.unlink(%r)" % e),
        ("rmdir", "os.rmdir(%r)" % d),
        ("chmod", "os.chmod(%r, 0o777)" % d),
        ("chmod topic", "os.chmod(%r, 0o644)" % e),
        ("chown", "os.chown(%r, 0, 0)" % d),
        ("chown topic", "os.chown(%r, 0, 0)" % e),
        ("utime", "os.utime(%r, (1, 1))" % d),
        ("utime now", "os.utime(%r)" % e),
        ("framing", "os.setxattr(%r, %r, b'write')" % (d, PFX + "framing")),
        ("max_message", "os.setxattr(%r, %r, b'1k')"
         % (d, PFX + "max_message")),
        ("durability", "os.setxattr(%r, %r, b'always')"
         % (d, PFX + "durability")),
        ("durability reset", "os.removexattr(%r, %r)"
         % (d, PFX + "durability")),
        ("ace produce", "os.setxattr(%r, %r, b'p')"
         % (d, PFX + "ace.produce")),
        ("ace admin", "os.setxattr(%r, %r, b'p')" % (d, PFX + "ace.admin")),
        ("user attr", "os.setxattr(%r, 'user.note', b'x')" % d),
        ("user attr topic", "os.setxattr(%r, 'user.note', b'x')" % e),
        ("remove mark", "os.removexattr(%r, %r)" % (d, PFX + "system")),
        ("kind", "os.setxattr(%r, %r, b'topic')" % (e, PFX + "kind")),
        ("ttl on a topic", "os.setxattr(%r, %r, b'1')" % (e, PFX + "ttl")),
    ]
    # The generated file: only open for reading, read, stat and close.
    v = d + "/status"
    ops += [
        ("status append", "os.open(%r, os.O_WRONLY | os.O_APPEND)" % v),
        ("status write", "os.open(%r, os.O_RDWR)" % v),
        ("status O_TRUNC", "os.open(%r, os.O_RDONLY | os.O_TRUNC)" % v),
        ("status truncate", "os.truncate(%r, 0)" % v),
        ("status rm", "os.unlink(%r)" % v),
        ("status rename", "os.rename(%r, %r)" % (v, d + "/new")),
        ("status rename out", "os.rename(%r, %r)" % (v, mnt + "/s/new")),
        ("status link", "os.link(%r, %r)" % (v, mnt + "/s/new")),
        ("status chmod", "os.chmod(%r, 0o644)" % v),
        ("status chown", "os.chown(%r, 0, 0)" % v),
        ("status utime", "os.utime(%r)" % v),
        ("status attr", "os.setxattr(%r, 'user.note', b'x')" % v),
        ("status kind", "os.setxattr(%r, %r, b'blob')" % (v, PFX + "kind")),
        ("status attr rm", "os.removexattr(%r, 'user.note')" % v),
    ]
    return ops


NOT_ROOT = [("ttl", "os.setxattr(%r, %r, b'1d')"),
            ("ttl reset", "os.removexattr(%r, %r)"),
            ("retention_bytes", "os.setxattr(%r, %r, b'1g')"),
            ("ace consume", "os.setxattr(%r, %r, b'p')")]
NOT_ROOT_ATTRS = ("ttl", "ttl", "retention_bytes", "ace.consume")


def errno_name_of(code):
    """Run python statements here; "OK" or the errno name they raised."""
    try:
        exec(code, {"os": os})
    except OSError as e:
        return __import__("errno").errorcode.get(e.errno, str(e.errno))
    return "OK"


def prepare(m):
    os.mkdir(m.mnt + "/s")
    open(m.mnt + "/s/b", "wb").write(b"blob")


def test_root_may_change_nothing_but_ttl(mount):
    """Every change to /.streamfs by root fails with EPERM and changes
    nothing (the kernel checks nothing: the daemon refuses each)."""
    prepare(mount)
    before = snapshot(mount)
    wrong = []
    for label, code in refusals(mount.mnt):
        got = errno_name_of(code)
        if got != "EPERM":
            wrong.append("%s: %s" % (label, got))
    assert not wrong, wrong
    assert snapshot(mount) == before
    # A shell's append and rm -rf fail as well.
    r = run(["sh", "-c", "echo x >> %s/errors" % sysdir(mount)], check=False)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    r = run(["rm", "-rf", sysdir(mount)], check=False)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert snapshot(mount) == before


def test_nobody_may_write_it(mount):
    """access(W_OK) says EPERM, as for an immutable file, also to root."""
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    for p in (sysdir(mount), sysdir(mount) + "/errors"):
        assert libc.access(p.encode(), os.W_OK) == -1
        assert ctypes.get_errno() == 1, os.strerror(ctypes.get_errno())
        assert libc.access(p.encode(), os.R_OK) == 0


def test_root_may_bound_it(mount):
    """Root may set and remove ttl and retention_bytes (real policies the
    retention thread applies) and the consume expression."""
    d = sysdir(mount)
    os.setxattr(d, PFX + "retention_bytes", b"1g")
    assert os.getxattr(d, PFX + "retention_bytes") == b"1073741824"
    os.setxattr(d, PFX + "ttl", b"2d")
    assert os.getxattr(d, PFX + "ttl") == b"172800"
    run([STREAMCTL, "policy", d, "ttl=3d"])
    assert os.getxattr(d, PFX + "ttl") == b"259200"
    os.removexattr(d, PFX + "ttl")
    assert os.getxattr(d, PFX + "ttl") == b"0"
    os.setxattr(d, PFX + "ttl", b"7d")
    mount.restart()
    assert os.getxattr(d, PFX + "ttl") == b"604800"
    assert os.getxattr(d, PFX + "retention_bytes") == b"1073741824"


@pytest.mark.mount_options("allow_other")
def test_another_user_may_neither_change_nor_read_it(mount, other_user):
    """Another uid gets EPERM for every change (ttl included), and may not
    read the topics (EACCES); their names and the policies are no secret."""
    prepare(mount)
    os.chmod(mount.mnt + "/s", 0o777)
    os.chmod(mount.mnt + "/s/b", 0o666)
    before = snapshot(mount)
    d = sysdir(mount)
    ops = refusals(mount.mnt) + [
        (label, code % (d, PFX + a))
        for (label, code), a in zip(NOT_ROOT, NOT_ROOT_ATTRS)]
    wrong = []
    for label, code in ops:
        got = other_user.call(code)
        if got != "EPERM":
            wrong.append("%s: %s" % (label, got))
    assert not wrong, wrong
    assert snapshot(mount) == before
    for code in ("open(%r, 'rb').read()" % (d + "/errors"),
                 "open(%r, 'rb').read()" % (d + "/metrics"),
                 "os.getxattr(%r, %r)" % (d + "/errors", PFX + "info")):
        assert other_user.call(code) == "EACCES", code
    r = other_user.run([STREAMCTL, "tail", d + "/errors"])
    assert r.returncode != 0 and r.stdout == ""


@pytest.mark.mount_options("allow_other")
def test_root_may_let_others_read(mount, other_user):
    """The consume expression, which root may set with streamfs-ace, lets
    another user read the topics."""
    d = sysdir(mount)
    run([BUILD / "tools" / "streamfs-ace", "consume=u:%d" % OTHER_UID, d])
    r = other_user.run([STREAMCTL, "tail", "--format", "%o %s\\n",
                        d + "/errors"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.split(" ", 1)[1])["type"] == "mount"
    run([BUILD / "tools" / "streamfs-ace", "--remove", "consume", d])
    assert other_user.call("open(%r).read()" % (d + "/errors")) == "EACCES"


def test_consumer_groups_work(mount):
    """A consumer group's cursor is the readers' own: streamctl consume
    reads errors and commits, as on any topic."""
    e = sysdir(mount) + "/errors"
    out = run([STREAMCTL, "consume", "-g", "watch", e]).stdout
    assert json.loads(out.splitlines()[0])["type"] == "mount"
    assert int(os.getxattr(e, PFX + "cursor.watch")) == os.stat(e).st_size
    assert run([STREAMCTL, "consume", "-g", "watch", e]).stdout == ""


# ---------------------------------------------------------------- the owner

def test_the_mount_owner_reads_it(scratch, other_user):
    """A user's own mount: /.streamfs is that user's, who reads it (and may
    not write it); without allow_other nobody else reaches the mount."""
    top = scratch
    data, mnt = os.path.join(top, "data"), os.path.join(top, "mnt")
    for p in (data, mnt):
        os.mkdir(p)
        os.chown(p, OTHER_UID, OTHER_GID)
    log = open(os.path.join(top, "log"), "wb")
    argv = other_user.argv([DAEMON, "-f", data, mnt])
    if not os.stat("/dev/fuse").st_mode & 0o006:
        # A /dev/fuse closed to users (it is 0666 on most systems, and
        # fusermount3 opens it as the user): the daemon opens it and
        # mounts by itself, with the capabilities for that alone.  It is
        # still the user's mount (user_id= is the daemon's uid).
        caps = "+dac_override,+sys_admin"
        argv[1:1] = ["--inh-caps", caps, "--ambient-caps", caps]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log)
    try:
        assert wait_for(lambda: is_mounted(mnt) or proc.poll() is not None,
                        timeout=20)
        assert proc.poll() is None, open(log.name).read()
        d = mnt + SYS
        code = ("st = os.stat(%r)\n"
                "assert (st.st_uid, st.st_gid) == (%d, %d), st\n"
                "assert sorted(os.listdir(%r)) == ['errors', 'metrics', "
                "'metrics.prom', 'status']\n"
                "import json\n"
                "e = json.loads(open(%r).read())\n"
                "assert e['type'] == 'mount' and e['uid'] == %d, e\n"
                % (d, OTHER_UID, OTHER_GID, d, d + "/errors", OTHER_UID))
        assert other_user.call(code) == "OK"
        assert other_user.call("os.open(%r, os.O_WRONLY | os.O_APPEND)"
                               % (d + "/errors")) == "EPERM"
        assert other_user.call("os.setxattr(%r, %r, b'1')"
                               % (d, PFX + "ttl")) == "EPERM"
    finally:
        subprocess.run([FUSERMOUNT, "-u", mnt], capture_output=True)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if is_mounted(mnt):
            force_unmount(mnt, "fuse")
        log.close()
    assert rc == 0, open(log.name).read()


# ---------------------------------------------------------------- status

def status(m):
    return json.loads(open(sysdir(m) + "/status").read())


def test_status_says_what_runs(mount):
    """/.streamfs/status: one JSON object, made when it is opened."""
    s = status(mount)
    version = [l.split()[1] for l in run([DAEMON, "--version"]).stdout
               .splitlines() if l.startswith("streamfs ")][0]
    assert s["version"] == version
    assert s["datadir"] == os.path.realpath(mount.data)
    assert s["pid"] == mount.proc.pid
    assert s["mount_owner"] == os.getuid()
    assert s["mounted"].endswith("Z")
    assert s["mounted"] == mounts_of(events(mount))[-1][1]["ts"]
    assert isinstance(s["uptime_s"], int) and s["uptime_s"] >= 0
    # The streams that hold messages (/.streamfs itself: its mount event),
    # and the inodes df -i counts.
    assert s["streams_with_data"] == 1
    assert s["inodes"] == 4
    os.mkdir(mount.mnt + "/s")
    with open(mount.mnt + "/s/t", "ab") as f:
        f.write(b"x\n")
    s = status(mount)
    assert (s["streams_with_data"], s["inodes"]) == (2, 6)
    mount.restart()
    assert status(mount)["pid"] == mount.proc.pid


def test_status_works_with_common_tools(mount, tmp_path):
    """cat, cp, shutil (sendfile), wc and stat see the whole file; stat by
    name shows the size of the last open's snapshot, fstat its own."""
    v = sysdir(mount) + "/status"
    text = run(["cat", v]).stdout
    assert json.loads(text)["pid"] == mount.proc.pid
    run(["cp", v, tmp_path / "cp"])
    assert json.loads((tmp_path / "cp").read_text())["pid"] == mount.proc.pid
    import shutil
    shutil.copyfile(v, tmp_path / "shutil")
    assert json.loads((tmp_path / "shutil").read_text())["version"]
    n = int(run(["wc", "-c", v]).stdout.split()[0])
    assert n == len(open(v, "rb").read())
    assert os.stat(v).st_size == n
    with open(v, "rb") as f:
        assert os.fstat(f.fileno()).st_size == len(f.read())
    assert run(["find", sysdir(mount), "-name", "status"]).stdout.split() \
        == [v]
    st = os.stat(v)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o400
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert os.listxattr(v) == []
    e = None
    try:
        os.getxattr(v, PFX + "kind")
    except OSError as ex:
        e = ex.errno
    assert e == __import__("errno").ENODATA


def test_each_open_reads_its_own_snapshot(mount):
    """A descriptor reads the generation its open made, whole, in pieces
    or at any offset, whatever later opens make."""
    v = sysdir(mount) + "/status"
    fd1 = os.open(v, os.O_RDONLY)
    try:
        head = os.read(fd1, 10)
        os.mkdir(mount.mnt + "/s")
        with open(mount.mnt + "/s/t", "ab") as f:
            f.write(b"x\n")
        fd2 = os.open(v, os.O_RDONLY)
        try:
            rest = b""
            while True:
                b = os.read(fd1, 7)
                if not b:
                    break
                rest += b
            first = json.loads(head + rest)
            second = json.loads(os.read(fd2, 1 << 16))
            assert (first["inodes"], second["inodes"]) == (4, 6)
            assert os.pread(fd1, 5, 2) == (head + rest)[2:7]
            assert os.pread(fd1, 5, len(head + rest)) == b""
            assert os.fstat(fd1).st_size == len(head + rest)
            assert os.lseek(fd1, 0, os.SEEK_DATA) == 0
            assert os.lseek(fd1, 3, os.SEEK_HOLE) == len(head + rest)
            import select
            p = select.poll()
            p.register(fd1, select.POLLIN)
            assert p.poll(0) == [(fd1, select.POLLIN)]
        finally:
            os.close(fd2)
    finally:
        os.close(fd1)


@pytest.mark.mount_options("allow_other")
def test_status_is_read_as_the_stream_says(mount, other_user):
    """status answers to the stream's consume: the mount owner and root by
    default, others once root's expression lets them."""
    v = sysdir(mount) + "/status"
    assert other_user.call("open(%r).read()" % v) == "EACCES"
    assert other_user.call("os.stat(%r)" % v) == "OK"
    run([BUILD / "tools" / "streamfs-ace", "consume=u:%d" % OTHER_UID,
         sysdir(mount)])
    r = other_user.run(["cat", v])
    assert r.returncode == 0 and json.loads(r.stdout)["pid"] == \
        mount.proc.pid
