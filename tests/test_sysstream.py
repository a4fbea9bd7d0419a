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
    return [(off, e) for off, e in ev if e.get("event") == "mount"]


# ---------------------------------------------------------------- at mount

def test_made_at_mount(mount):
    """A new store has /.streamfs: a stream owned by the mount owner, mode
    0511, with topics metrics and errors (mode 0400, line framing) and a
    ttl of 7 days as its own policy."""
    d = sysdir(mount)
    st = os.stat(d)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o511
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert sorted(os.listdir(d)) == ["errors", "metrics"]
    for t in ("errors", "metrics"):
        ts = os.stat(d + "/" + t)
        assert stat.S_ISREG(ts.st_mode)
        assert stat.S_IMODE(ts.st_mode) == 0o400
        assert (ts.st_uid, ts.st_gid) == (os.getuid(), os.getgid())
        assert kind(d + "/" + t) == "topic"
    assert os.getxattr(d, PFX + "ttl") == b"604800"
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
    assert isinstance(e["version"], str) and e["time"].endswith("Z")
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
    assert sorted(os.listdir(sysdir(m))) == ["errors", "metrics"]
    assert "it is now /.streamfs.old" in m.log_text()
    # Only once: the next mount finds the system stream.
    m.restart()
    assert os.listdir(m.mnt) == [".streamfs.old"]
    assert m.log_text().count("it is now") == 1
    assert [o for o, _ in mounts_of(events(m))] == [0, 1]
