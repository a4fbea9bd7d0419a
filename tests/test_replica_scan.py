"""A link's work follows what changed, not the clock: appends alone do not
make it look at every topic of its stream again, nor at their cursors
(the link's figures "scans" and "cursor_looks" in the metrics line's
"replicas" entries say how often it looked); a new topic, a rename, a
removal, a chmod, a chown and a cursor commit still reach the peer,
through the generations their changes bump.  The source runs with
replica_rescan=0, so its link never looks on its own (the slow
safety-net look, every 30 s by default, is off): only a change's own
hook can carry it to the peer.

Every wait is a bounded poll: no pass or fail depends on how long
anything took."""
import os
import time

import pytest

from test_metrics import fresh
from test_replica import (CONVERGE, agree, append_lines, link, pki, replica,
                          topics)
from util import PFX, refused_mount, wait_for

assert pki                      # a fixture, used by name


def figures(m, lid):
    """Link lid's entry in a metrics line that counts everything done so
    far."""
    for r in fresh(m.mnt)["replicas"]:
        if r["id"] == lid:
            return r
    raise AssertionError("link %d not in the metrics line" % lid)


def settled(m, lid):
    """The link's figures once two fresh lines in a row agree on them
    (the looks that follow the link's start are over)."""
    prev = figures(m, lid)
    for _ in range(40):
        r = figures(m, lid)
        if (r["scans"], r["cursor_looks"]) == \
                (prev["scans"], prev["cursor_looks"]):
            return r
        prev = r
    raise AssertionError("the link never stopped looking: %r" % r)


def pair(mount_factory, pki, n=20):
    """Mounts a and b, a's stream plant with n topics linked to b's and
    copied whole; the link's id."""
    a = replica(mount_factory, pki, extra=["replica_rescan=0"])
    b = replica(mount_factory, pki)
    for i in range(n):
        append_lines(os.path.join(a.mnt, "plant", "t%d" % i), 2, "x")
    lid = link(a, b)
    assert agree(a, b)
    return a, b, lid


def test_appends_alone_do_not_make_the_link_look_again(mount_factory, pki):
    a, b, lid = pair(mount_factory, pki)
    before = settled(a, lid)
    t = os.path.join(a.mnt, "plant", "t0")
    for i in range(30):
        append_lines(t, 1, "y", start=i)
        # Spread over some seconds, as a steady producer does (a link of
        # before looked again at most every 0.2 s while appends came).
        time.sleep(0.1)
    assert agree(a, b)
    after = figures(a, lid)
    assert after["sent_msgs"] >= before["sent_msgs"] + 30
    assert after["scans"] == before["scans"], (before, after)
    assert after["cursor_looks"] == before["cursor_looks"], (before, after)


def at_b(b, pred):
    return wait_for(lambda: pred(os.path.join(b.mnt, "plant")),
                    timeout=CONVERGE, interval=0.05)


def test_changes_reach_the_peer_promptly(mount_factory, pki):
    a, b, lid = pair(mount_factory, pki, n=5)
    src = os.path.join(a.mnt, "plant")
    before = settled(a, lid)

    # A new topic (made by its first append).
    append_lines(os.path.join(src, "new"), 3, "n")
    assert at_b(b, lambda d: os.path.exists(os.path.join(d, "new")) and
                os.path.getsize(os.path.join(d, "new")) ==
                os.path.getsize(os.path.join(src, "new")))

    # A rename: the copy is renamed, with its records.
    os.rename(os.path.join(src, "t1"), os.path.join(src, "t1b"))
    assert at_b(b, lambda d: os.path.exists(os.path.join(d, "t1b")) and
                not os.path.exists(os.path.join(d, "t1")))

    # A removal.
    os.unlink(os.path.join(src, "t2"))
    assert at_b(b, lambda d: not os.path.exists(os.path.join(d, "t2")))

    # A chmod and a chown at the home: the copy takes them.
    os.chmod(os.path.join(src, "t3"), 0o600)
    os.chown(os.path.join(src, "t3"), 4242, 4343)

    def attrs(d):
        st = os.stat(os.path.join(d, "t3"))
        return (st.st_mode & 0o7777, st.st_uid, st.st_gid)
    assert at_b(b, lambda d: attrs(d) == (0o600, 4242, 4343))
    assert attrs(src) == (0o600, 4242, 4343)

    # A cursor commit (at the end of the topic's records).
    end = os.path.getsize(os.path.join(src, "t4"))
    os.setxattr(os.path.join(src, "t4"), PFX + "cursor.g", b"%d" % end)

    def committed(d):
        try:
            return int(os.getxattr(os.path.join(d, "t4"),
                                   PFX + "cursor.g")) == end
        except OSError:
            return False
    assert at_b(b, committed)

    assert agree(a, b)
    assert set(topics(b)) == {"t0", "t1b", "t3", "t4", "new"}
    after = figures(a, lid)
    assert after["scans"] > before["scans"]
    assert after["cursor_looks"] > before["cursor_looks"]


@pytest.mark.parametrize("value", ["-1", "x", "", "86401", "30s"])
def test_bad_rescan_is_refused(tmp_path, value):
    err = refused_mount(str(tmp_path), "replica_rescan=" + value)
    assert "invalid replica_rescan=%s (seconds, 0 to 86400" % value in err
