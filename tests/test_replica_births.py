"""Topics' births in replication: the replica a topic was first made at
and when, set once, copied by every replica, kept through renames and
chmod (user.streamfs.birth shows it).  A topic deleted and made again at
its home while a peer was down replaces the peer's old copy; an older
birth from a stale replica is refused and changes nothing; two topics
made under one name at two replicas at once both survive, the later one
renamed NAME~ID at its home, with one link each way and with one link;
a rename at the home reaches the peer as a rename, its records not sent
again; chmod at the home changes nothing of the topic's identity.

Every wait is a bounded poll for the state the test expects (CONVERGE
seconds at most): no pass or fail depends on how long anything took."""
import os
import re
import struct
import subprocess
import sys

import pytest

from test_replica import (CONVERGE, DROPPED, agree, append_lines, ctl, link,
                          links, lines, pki, replica, topics)
from test_replica_metrics import newest_link
from test_replica_wire import (ACK, ERROR, NS, RECORDS, WELCOME, Peer,
                               error_of, listener)
from util import PFX, append, info, read, wait_for

sys.path.insert(0, os.path.dirname(__file__))

assert pki                      # a fixture, used by name

RENAMED = r"replica: topic /plant/t renamed to t~[0-9a-f]{16}: "


def birth(m, name, stream="plant"):
    """user.streamfs.birth of a topic: (replica id, ns)."""
    v = os.getxattr(os.path.join(m.mnt, stream, name), PFX + "birth")
    rid, ns = v.decode().split()
    return int(rid, 16), int(ns)


def replica_id(m):
    return int(os.getxattr(m.mnt, PFX + "replica_id"), 16)


def names(m, stream="plant"):
    return sorted(topics(m, stream))


def cmp(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def same_topic(a, b, name, stream="plant"):
    pa = os.path.join(a.mnt, stream, name)
    pb = os.path.join(b.mnt, stream, name)
    return os.path.exists(pb) and cmp(pa, pb) and info(pa) == info(pb)


def sent(m, lid):
    r = newest_link(m, lid)
    return r["sent_msgs"] if r else None


# ---------------------------------------------------------------- births

def test_birth_is_set_once_and_copied(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 3, "x")
    born = birth(a, "t")
    assert born[0] == replica_id(a) and born[1] > 0
    link(a, b)
    assert agree(a, b)
    assert birth(b, "t") == born
    with pytest.raises(OSError) as e:
        os.setxattr(t, PFX + "birth", b"1 2")
    assert e.value.errno == 1           # EPERM
    os.rename(t, t + "2")
    assert birth(a, "t2") == born


def test_version_1_is_not_served(mount_factory, pki):
    b = listener(mount_factory, pki,
                 expect=[r"replica: refused 127\.0\.0\.1:\d+: protocol "
                         r"version 1 is not served \(only 2\)"])
    os.mkdir(b.mnt + "/plant")
    p = Peer(b.port, pki, pki.root)
    t, w = p.hello("plant", version=1)
    assert t == ERROR and error_of(w) == (
        2, "protocol version 1 is not served (only 2)")


# ---------------------------------------------------------------- (1)

def recreate(a, tag):
    """Delete a's plant/t and make it again with other records."""
    t = os.path.join(a.mnt, "plant", "t")
    os.unlink(t)
    append_lines(t, 4, tag)


def test_recreated_while_the_receiver_was_down(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 20, "old")
    link(a, b)
    assert agree(a, b)
    old = birth(b, "t")
    b.unmount()                         # its daemon is down
    recreate(a, "new")
    assert birth(a, "t")[1] > old[1]
    a.restart()         # the link's thread forgets what it had sent
    b.start()
    assert wait_for(lambda: same_topic(a, b, "t"), timeout=CONVERGE,
                    interval=0.1)
    assert read(os.path.join(b.mnt, "plant", "t")) == lines(4, "new")
    assert birth(b, "t") == birth(a, "t")
    assert names(b) == ["t"]
    assert links(a)[0]["state"] == "up"


def test_recreated_while_the_link_was_paused(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 3, "old")           # the new one will be longer
    lid = link(a, b)
    assert agree(a, b)
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), lid)
    assert wait_for(lambda: links(a)[0]["state"] == "paused",
                    timeout=CONVERGE)
    recreate(a, "new")
    append_lines(t, 10, "more")
    a.restart()
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), lid)
    assert wait_for(lambda: same_topic(a, b, "t"), timeout=CONVERGE,
                    interval=0.1)
    assert read(os.path.join(b.mnt, "plant", "t")) == \
        lines(4, "new") + lines(10, "more")
    assert names(b) == ["t"]


def test_an_older_birth_from_a_stale_replica_is_refused(mount_factory, pki):
    b = listener(mount_factory, pki,
                 expect=[r"replica: 127\.0\.0\.1:\d+: topic /plant/t here "
                         r"is a later one of that name \(born at replica "
                         r"0*5eed at 0\.000000200\) than the one sent "
                         r"\(born at replica 0*5eed at 0\.000000100\), "
                         r"which its home has removed", DROPPED])
    os.mkdir(b.mnt + "/plant")
    home = Peer(b.port, pki, pki.root)
    home.id = 0x5eed
    assert home.hello("plant")[0] == WELCOME
    assert home.topic(1, "t", home.id, birth=(home.id, 200))[0] == 0
    home.send(RECORDS, struct.pack(">II", 1, 1) +
              struct.pack(">QQqIII", 0, 0, NS, 1, 4, 0) + b"new\n")
    assert home.frame()[0] == ACK
    t = os.path.join(b.mnt, "plant", "t")
    before = (read(t), info(t), os.stat(t).st_ino, birth(b, "t"))
    # A third replica that still holds the topic made before (born 100)
    # at the same home.
    stale = Peer(b.port, pki, pki.root)
    assert stale.hello("plant")[0] == WELCOME
    st, end, nxt, start, why = stale.topic(1, "t", home.id, end=9,
                                           next_msg=2,
                                           birth=(home.id, 100), why=True)
    assert st == 2 and "later one of that name" in why, why
    assert (read(t), info(t), os.stat(t).st_ino, birth(b, "t")) == before
    assert before[3] == (0x5eed, 200)
    # The same birth again is the same topic.
    assert stale.topic(2, "t", home.id, birth=(home.id, 200))[:2] == (0, 4)


# ---------------------------------------------------------------- (2)

def made_at_once(a, b):
    """a and b both make plant/t with records, a first: a's is the
    earlier birth."""
    append_lines(os.path.join(a.mnt, "plant", "t"), 10, "a")
    append_lines(os.path.join(b.mnt, "plant", "t"), 7, "b")
    assert birth(a, "t")[1] < birth(b, "t")[1]
    return "t~%016x" % replica_id(b)


def test_made_at_once_on_both_sides_with_two_links(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki, expect=[RENAMED])
    loser = made_at_once(a, b)
    fd = os.open(os.path.join(b.mnt, "plant", "t"), os.O_WRONLY | os.O_APPEND)
    link(a, b)
    link(b, a)
    assert wait_for(lambda: names(a) == names(b) == ["t", loser] and
                    agree(a, b), timeout=CONVERGE, interval=0.1)
    for m in (a, b):
        assert read(os.path.join(m.mnt, "plant", "t")) == lines(10, "a")
        assert read(os.path.join(m.mnt, "plant", loser)) == lines(7, "b")
    assert re.search(RENAMED + ".*earlier topic of that name",
                     b.log_text())
    assert not re.search(r"renamed to", a.log_text())
    # The fd open on b's topic writes on into the renamed one; a new
    # open of t at b is a's topic, homed at a.
    os.write(fd, b"b 7\n")
    os.close(fd)
    with pytest.raises(OSError) as e:
        append(os.path.join(b.mnt, "plant", "t"), b"no\n")
    assert e.value.errno == 30          # EROFS
    b.expect_log(r"write refused \(EROFS\)")
    assert wait_for(lambda: agree(a, b) and
                    read(os.path.join(a.mnt, "plant", loser)) ==
                    lines(8, "b"), timeout=CONVERGE, interval=0.1)
    assert birth(a, loser) == birth(b, loser)
    assert birth(a, "t") == birth(b, "t")
    assert [l["last_error"] for l in links(a) + links(b)] == ["", ""]


@pytest.mark.parametrize("first", ["source", "receiver"])
def test_made_at_once_with_one_link(mount_factory, pki, first):
    """The receiver renames its own when it made the later one; else it
    answers that the name is taken, and the source renames its own and
    sends it under the new name."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    early, late = (a, b) if first == "source" else (b, a)
    loser = made_at_once(early, late)
    link(a, b)                          # a -> b only
    at_a = ["t"] if first == "source" else [loser]
    assert wait_for(lambda: names(b) == ["t", loser] and names(a) == at_a
                    and same_topic(a, b, at_a[0]), timeout=CONVERGE,
                    interval=0.1)
    assert read(os.path.join(b.mnt, "plant", "t")) == lines(10, "a")
    assert read(os.path.join(b.mnt, "plant", loser)) == lines(7, "b")
    assert re.search(RENAMED + ".*earlier topic of that name",
                     late.log_text())
    assert not re.search("renamed to", early.log_text())
    assert links(a)[0]["last_error"] == ""


def test_made_at_once_in_a_ring_of_three(mount_factory, pki):
    ms = [replica(mount_factory, pki) for _ in range(3)]
    for m in ms:
        m.expect_log(RENAMED)
    loser = made_at_once(ms[0], ms[1])
    append_lines(os.path.join(ms[2].mnt, "plant", "c"), 5, "c")
    for i in range(3):
        link(ms[i], ms[(i + 1) % 3])
    assert wait_for(lambda: all(names(m) == ["c", "t", loser] for m in ms)
                    and agree(*ms), timeout=CONVERGE, interval=0.1)
    for m in ms:
        assert read(os.path.join(m.mnt, "plant", "t")) == lines(10, "a")
        assert read(os.path.join(m.mnt, "plant", loser)) == lines(7, "b")


# ---------------------------------------------------------------- (3)

def test_a_rename_at_the_home_is_a_rename_there(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 200, "r")
    lid = link(a, b)
    assert agree(a, b)
    setcur = os.path.join(b.mnt, "plant", "t")
    os.setxattr(setcur, PFX + "cursor.etl", b"%d" % len(lines(50, "r")))
    copy = os.stat(setcur).st_ino
    assert wait_for(lambda: sent(a, lid) == 200, timeout=CONVERGE,
                    interval=0.2)
    os.rename(t, os.path.join(a.mnt, "plant", "u"))
    append_lines(os.path.join(a.mnt, "plant", "u"), 1, "after", 0)
    assert wait_for(lambda: names(b) == ["u"] and agree(a, b),
                    timeout=CONVERGE, interval=0.1)
    u = os.path.join(b.mnt, "plant", "u")
    assert os.stat(u).st_ino == copy    # the same copy, renamed
    assert os.getxattr(u, PFX + "cursor.etl") == \
        b"%d" % len(lines(50, "r"))
    assert re.search(r"replica: topic /plant/t renamed to u, as at its "
                     r"home", b.log_text())
    # Only the record appended after the rename was sent.
    assert wait_for(lambda: sent(a, lid) == 201, timeout=CONVERGE,
                    interval=0.2)
    assert sent(a, lid) == 201


def test_a_rename_while_the_link_was_paused(mount_factory, pki):
    """The DELETE a restart's HOLDS would send for the old name does not
    remove the copy before the new name's TOPIC renames it."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 100, "r")
    lid = link(a, b)
    assert agree(a, b)
    copy = os.stat(os.path.join(b.mnt, "plant", "t")).st_ino
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), lid)
    assert wait_for(lambda: links(a)[0]["state"] == "paused",
                    timeout=CONVERGE)
    os.rename(t, os.path.join(a.mnt, "plant", "u"))
    a.restart()
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), lid)
    assert wait_for(lambda: names(b) == ["u"] and agree(a, b),
                    timeout=CONVERGE, interval=0.1)
    assert os.stat(os.path.join(b.mnt, "plant", "u")).st_ino == copy
    assert not re.search(r"topic /plant/t removed", b.log_text())


# ---------------------------------------------------------------- chmod

def test_chmod_at_the_home_keeps_the_topic(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 30, "c")
    born = birth(a, "t")
    lid = link(a, b)
    assert agree(a, b)
    copy = os.stat(os.path.join(b.mnt, "plant", "t")).st_ino
    os.chmod(t, 0o600)
    os.setxattr(t, "user.note", b"x")   # a ctime change too
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), lid)
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), lid)
    append_lines(t, 5, "d")
    assert wait_for(lambda: same_topic(a, b, "t"), timeout=CONVERGE,
                    interval=0.1)
    assert birth(a, "t") == born == birth(b, "t")
    assert os.stat(os.path.join(b.mnt, "plant", "t")).st_ino == copy
    assert wait_for(lambda: sent(a, lid) == 35, timeout=CONVERGE,
                    interval=0.2)
    assert "refused" not in links(a)[0]["last_error"]
