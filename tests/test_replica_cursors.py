"""Removing a consumer group's cursor replicates: a removal at the source
(setfattr -x user.streamfs.cursor.GROUP, streamctl group delete) reaches
every replica by the rule commits follow (the later one wins, by commit
time); a commit made after the removal survives it; a removal made while
the link is down arrives once it is back, also after the source
restarted; a group removed is absent at the replica from the listings,
streamctl groups and Kafka's OffsetFetch.

Every wait is a bounded poll (test_replica.CONVERGE): no pass or fail
depends on how long anything took."""
import errno
import os
import struct

import kafka_wire as kw
from test_replica import (CONVERGE, copied_topic, ctl, link,  # noqa
                          pki, replica)
from util import PFX, errno_of, sh, wait_for

CUR = PFX + "cursor."
OFFSET_FETCH = 9


def cursor(path, group):
    """The committed byte offset of group, or None."""
    try:
        return int(os.getxattr(path, CUR + group))
    except OSError as e:
        assert e.errno == errno.ENODATA, e
        return None


def groups(path):
    """The groups user.streamfs.groups lists."""
    text = os.getxattr(path, PFX + "groups").decode()
    return [line.split(" ")[0] for line in text.splitlines()]


def offset_fetch(port, group, topic):
    """Kafka OffsetFetch (v1) of group on partition 0 of topic: (error,
    offset), -1 when the group has none."""
    c = kw.Conn(port)
    try:
        body = (kw.string(group) + struct.pack(">i", 1) + kw.string(topic) +
                struct.pack(">ii", 1, 0))
        r = c.request(OFFSET_FETCH, 1, body)
        assert r.i32() == 1 and r.string() == topic and r.i32() == 1
        assert r.i32() == 0
        off = r.i64()
        r.string()
        return r.i16(), off
    finally:
        c.close()


def dump(path):
    """getfattr -d of every attribute, the file's name left out."""
    out = sh("getfattr -d -m - %s" % path).stdout
    return "".join(ln for ln in out.splitlines(True)
                   if not ln.startswith("# file:"))


def ctl_groups(path):
    """The groups streamctl groups prints for a topic (the GROUP column of
    its rows)."""
    head, rows = None, []
    for line in ctl("groups", path).stdout.splitlines():
        if line.startswith("TOPIC "):
            head = line.split()
        elif head and len(line.split()) == len(head):
            rows.append(dict(zip(head, line.split()))["GROUP"])
    return rows


def commit(path, group, off):
    os.setxattr(path, CUR + group, str(off).encode())


def settled(path, want):
    """Wait until the groups of path are want ({group: offset})."""
    return wait_for(lambda: {g: cursor(path, g) for g in groups(path)} ==
                    want, timeout=CONVERGE)


def test_a_removal_reaches_the_replica(mount_factory, pki):
    a = replica(mount_factory, pki)
    kport = kw.free_port()
    b = replica(mount_factory, pki, extra=["kafka=127.0.0.1:%d" % kport])
    link(a, b)
    ta, tb = copied_topic(a, b)
    commit(ta, "etl", 20)
    commit(ta, "keep", 8)
    commit(ta, "tool", 32)
    assert settled(tb, {"etl": 20, "keep": 8, "tool": 32})
    assert offset_fetch(kport, "etl", "plant.t") == (0, 5)
    os.removexattr(ta, CUR + "etl")
    ctl("group", "delete", "tool", ta)
    assert settled(tb, {"keep": 8})
    assert errno_of(os.getxattr, tb, CUR + "etl") == errno.ENODATA
    assert "etl" not in dump(tb)
    assert ctl_groups(tb) == ["keep"]
    assert offset_fetch(kport, "etl", "plant.t") == (0, -1)
    assert offset_fetch(kport, "keep", "plant.t") == (0, 2)
    # the group commits again at the source: it comes back
    commit(ta, "etl", 36)
    assert settled(tb, {"etl": 36, "keep": 8})
    assert offset_fetch(kport, "etl", "plant.t") == (0, 9)


def test_a_commit_after_the_removal_survives_it(mount_factory, pki):
    """Both links paused: B commits "old" before A removes it, and "etl"
    after A removed it.  Resumed, "old" is gone everywhere and "etl" is
    B's commit everywhere; the removal of "zz", sent after the others,
    says when B has heard them all."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    ab = link(a, b)
    ba = link(b, a)
    ta, tb = copied_topic(a, b)
    for g in ("etl", "old", "zz"):
        commit(ta, g, 20)
    assert settled(tb, {"etl": 20, "old": 20, "zz": 20})
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), ab)
    ctl("replica", "pause", os.path.join(b.mnt, "plant"), ba)
    commit(tb, "old", 28)
    for g in ("etl", "old", "zz"):
        os.removexattr(ta, CUR + g)
    commit(tb, "etl", 36)
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), ab)
    assert wait_for(lambda: cursor(tb, "zz") is None, timeout=CONVERGE)
    assert cursor(tb, "etl") == 36
    assert cursor(tb, "old") is None
    ctl("replica", "resume", os.path.join(b.mnt, "plant"), ba)
    assert settled(ta, {"etl": 36})
    assert settled(tb, {"etl": 36})


def test_a_removal_while_the_link_is_down_arrives_later(mount_factory, pki):
    """B is down while A removes a group, and A restarts before B is
    back: the removal reaches B on the next connection."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    link(a, b)
    ta, tb = copied_topic(a, b)
    commit(ta, "etl", 20)
    commit(ta, "keep", 8)
    assert settled(tb, {"etl": 20, "keep": 8})
    assert b.unmount() == 0
    os.removexattr(ta, CUR + "etl")
    a.restart()
    assert groups(ta) == ["keep"]
    b.start()
    assert settled(tb, {"keep": 8})
    assert ctl_groups(tb) == ["keep"]
