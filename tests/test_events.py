"""Issue 10, point 2: /.streamfs/errors holds one JSON line per exceptional
event: a record that fails its checksum, an error or a full disk
underneath (through the fault shim, tests/faults.py), a LevelDB fault and
its healing, what recovery did, and denied operations, which are
rate-limited with a count of what was suppressed.

The errors stream is read after a clean unmount and a new mount: the
daemon writes every queued event before it exits, so the counts below are
exact, with no waiting."""
import errno
import json
import os

import pytest

import faults
from util import append, errno_of, read

ERRORS = "/.streamfs/errors"


def events(m, type_=None):
    """The errors stream's lines, parsed, of one type or all."""
    with open(m.mnt + ERRORS, "rb") as f:
        lines = f.read().decode().splitlines()
    # The mount's own line (sysstream.c) has a schema of its own.
    out = [e for e in map(json.loads, lines) if e.get("type") != "mount"]
    for e in out:
        assert set(e) >= {"ts", "type"}, e
    return [e for e in out if type_ is None or e["type"] == type_]


def flushed(mount_factory, m, options=()):
    """Unmount m cleanly (every event written) and mount its data folder
    again, without a fault shim."""
    assert m.unmount() == 0, m.log_tail()
    return mount_factory(list(options), data=m.data)


def files_holding(top, needle):
    found = []
    for dirpath, _, names in os.walk(top):
        for name in names:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                if needle in f.read():
                    found.append(p)
    return found


# ---------------------------------------------------------------- checksums

def test_checksum_failure_gives_one_line_saying_where(mount_factory):
    m = mount_factory()
    m.expect_log(r"damaged record")
    os.mkdir(m.mnt + "/s")
    p = m.mnt + "/s/t"
    first, marker = b"alpha\n", b"MARKER-corrupt-me\n"
    append(p, first)
    append(p, marker)
    ino = os.stat(p).st_ino
    m.restart()                 # everything synced and indexed
    holders = files_holding(os.path.join(m.data, "segments"), marker)
    assert len(holders) == 1, holders
    with open(holders[0], "r+b") as f:
        at = f.read().index(marker) + len(b"MARKER-")
        f.seek(at)
        f.write(b"C")
    fd = os.open(p, os.O_RDONLY)
    try:
        assert errno_of(os.pread, fd, 100, len(first)) == errno.EIO
    finally:
        os.close(fd)
    m2 = flushed(mount_factory, m)
    got = events(m2, "checksum")
    assert len(got) == 1, got
    e = got[0]
    assert e["what"] == "read" and e["errno"] == "EIO"
    assert e["topic"] == ino and e["topic_offset"] == len(first)
    rel = os.path.relpath(holders[0], m.data)
    assert e["file"] == rel, (e, rel)
    # The record starts at its header, 48 bytes before its payload.
    assert e["offset"] == at - len(b"MARKER-") - 48
    assert "not served" in e["action"]
    assert e["stream"] == os.stat(m2.mnt + "/s").st_ino


# ---------------------------------------------------------------- faults

def faulty(mount_factory, tmp_path, rule):
    data = tmp_path / "data-faulty"
    env = faults.fault_env(data, rule, log=tmp_path / "faultlog")
    return mount_factory(data=data, env=env, expect=(".",))


@pytest.mark.parametrize("err,type_", [("EIO", "io_error"),
                                       ("ENOSPC", "enospc")])
def test_failed_segment_write_gives_one_line(mount_factory, tmp_path, err,
                                             type_):
    m = faulty(mount_factory, tmp_path, "seg_write:3:once:" + err)
    os.mkdir(m.mnt + "/s")
    failed = []
    for i in range(30):
        try:
            append(m.mnt + "/s/t", b"line %d\n" % i)
        except OSError as e:
            failed.append(e.errno)
    assert faults.injections(tmp_path / "faultlog") == [
        ("seg_write", 3, err)]
    assert failed in ([], [getattr(errno, err)]), failed
    m2 = flushed(mount_factory, m)
    got = events(m2, type_)
    assert len(got) == 1, events(m2)
    e = got[0]
    assert e["what"] == "segment write" and e["errno"] == err, e
    assert e["file"].startswith("segments/") and "offset" in e
    assert e["action"] == "the append is refused"
    other = "enospc" if type_ == "io_error" else "io_error"
    assert events(m2, other) == []


def test_failed_segment_sync_gives_one_line(mount_factory, tmp_path):
    m = faulty(mount_factory, tmp_path, "seg_sync:1:once:EIO")
    os.mkdir(m.mnt + "/s")
    fd = os.open(m.mnt + "/s/t", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"one\n")
        results = [errno_of(os.fsync, fd), errno_of(os.fsync, fd)]
    finally:
        os.close(fd)
    assert faults.injections(tmp_path / "faultlog") == [
        ("seg_sync", 1, "EIO")]
    m2 = flushed(mount_factory, m)
    got = events(m2, "io_error")
    assert len(got) == 1, events(m2)
    assert got[0]["what"] == "segment sync" and got[0]["errno"] == "EIO"
    assert results[0] in (0, errno.EIO), results
    assert read(m2.mnt + "/s/t") == b"one\n"


def first_db_write_of_mkdir(mount_factory, tmp_path):
    """The number of the LevelDB write a first mkdir makes on a fresh
    mount (the daemon makes as many before it every time), found under a
    tracing shim."""
    data, trace = tmp_path / "data-calibrate", tmp_path / "trace"
    m = mount_factory(data=data, env=faults.fault_env(data, trace=trace))
    before = faults.traced(trace, "db_write")
    os.mkdir(m.mnt + "/d0")
    assert faults.traced(trace, "db_write") > before
    assert m.unmount() == 0
    return before + 1


def test_leveldb_fault_and_its_healing_give_a_line_each(mount_factory,
                                                        tmp_path):
    n = first_db_write_of_mkdir(mount_factory, tmp_path)
    m = faulty(mount_factory, tmp_path, "db_write:%d:once:EIO" % n)
    e = errno_of(os.mkdir, m.mnt + "/d0")
    assert faults.injections(tmp_path / "faultlog") == [
        ("db_write", n, "EIO")]
    assert e == 0, "a transient fault is healed: %s" % e
    m2 = flushed(mount_factory, m)
    bad = events(m2, "leveldb")
    assert len(bad) == 1, events(m2)
    assert bad[0]["errno"] == "EIO" and bad[0]["what"] == "write"
    assert "detail" in bad[0]
    healed = events(m2, "healed")
    assert len(healed) == 1 and healed[0]["what"] == "reopen", events(m2)
    assert healed[0]["errno"] == "EIO" and healed[0]["action"] == "healed"


# ---------------------------------------------------------------- recovery

def test_recovery_at_mount_is_written_once_the_stream_exists(mount_factory):
    m = mount_factory()
    m.expect_log(r"recover")
    os.mkdir(m.mnt + "/s")
    for i in range(7):
        append(m.mnt + "/s/t", b"line %d\n" % i)
    stream = os.stat(m.mnt + "/s").st_ino
    m.kill9()
    m.start()
    m2 = flushed(mount_factory, m)
    got = [e for e in events(m2, "recovery") if e["stream"] == stream]
    assert len(got) == 1, events(m2)
    e = got[0]
    assert e["what"] == "active segment" and e["reindexed"] == 7, e
    assert e["cut"] == 0 and e["dropped"] == 0 and e["good"] > 0


# ---------------------------------------------------------------- denials

def test_denied_operation_gives_one_line(mount_factory, other_user):
    m = mount_factory(["allow_other"])
    os.mkdir(m.mnt + "/s")
    p = m.mnt + "/s/t"
    append(p, b"secret\n")
    os.chmod(p, 0o600)
    ino = os.stat(p).st_ino
    assert other_user.call("os.open(%r, os.O_RDONLY)" % p) == "EACCES"
    m2 = flushed(mount_factory, m, ["allow_other"])
    got = events(m2, "denied")
    assert len(got) == 1, got
    e = got[0]
    assert e["uid"] == other_user.uid and e["op"] == "open", e
    assert e["perm"] == "consume" and e["ino"] == ino, e
    assert e["errno"] == "EACCES" and e["pid"] > 0


def test_a_change_to_the_system_stream_is_a_denial(mount_factory):
    """Root too is refused any change to /.streamfs (EPERM): each refusal
    is reported as a denial of the permission "system"."""
    m = mount_factory()
    sysdir = m.mnt + "/.streamfs"
    ino = os.stat(sysdir + "/errors").st_ino
    assert errno_of(os.open, sysdir + "/errors", os.O_WRONLY) == errno.EPERM
    assert errno_of(os.mkdir, sysdir + "/x") == errno.EPERM
    m2 = flushed(mount_factory, m)
    got = events(m2, "denied")
    assert [(e["op"], e["perm"], e["uid"], e["errno"]) for e in got] == \
        [("open", "system", 0, "EPERM"), ("mkdir", "system", 0, "EPERM")], got
    assert got[0]["ino"] == ino, got


def test_a_burst_of_denials_is_rate_limited_and_counted(mount_factory,
                                                        other_user):
    m = mount_factory(["allow_other"])
    os.mkdir(m.mnt + "/s", 0o700)
    d = m.mnt + "/s"
    n = 1000
    code = ("import os\n"
            "for i in range(%d):\n"
            "    try:\n"
            "        os.mkdir(%r + '/x')\n"
            "    except PermissionError:\n"
            "        pass\n" % (n, d))
    r = other_user.run(["/usr/bin/python3", "-c", code])
    assert r.returncode == 0, r.stderr
    m2 = flushed(mount_factory, m, ["allow_other"])
    lines = [e for e in events(m2, "denied") if e["uid"] == other_user.uid]
    ops = {e["op"] for e in lines}
    assert ops == {"lookup"}, ops       # /s is not searchable: the walk
    sup = [e for e in events(m2, "suppressed") if e["of"] == "denied"]
    assert sup and all(e["uid"] == other_user.uid and e["op"] == "lookup"
                       for e in sup), sup
    suppressed = sum(e["count"] for e in sup)
    print("denied lines %d, suppressed %d" % (len(lines), suppressed))
    assert len(lines) + suppressed == n, (len(lines), suppressed)
    assert len(lines) <= n // 4, len(lines)
