"""Kafka consumer groups on the listener (-o kafka=ADDR:PORT): kafka-python
KafkaConsumer(group_id=...) and kcat -G join, sync, heartbeat, commit and
resume; a group's committed Kafka offset is the topic's cursor
user.streamfs.cursor.GROUP (getfattr sees a Kafka commit, a Kafka
consumer resumes from a setfattr); two consumers of a group split two
topics and take them back when one leaves or stops heartbeating; bad
requests (by raw frames) get their error codes; another uid cannot commit
to a topic it may not consume."""
import os
import signal
import struct
import subprocess
import sys
import threading

import pytest

from util import PYTHON, append, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from test_kafka import kafka_mount, kafka_python, need  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

FIND_COORDINATOR, JOIN, HEARTBEAT, LEAVE, SYNC = 10, 11, 12, 13, 14
OFFSET_COMMIT, OFFSET_FETCH = 8, 9


@pytest.fixture
def km(mount_factory):
    return kafka_mount(mount_factory)


def cursor(mnt, topic, group):
    try:
        return os.getxattr(os.path.join(mnt, topic),
                           "user.streamfs.cursor." + group).decode()
    except OSError:
        return None


def consumer(km, group, *topics, **kw_):
    kafka = kafka_python()
    args = dict(bootstrap_servers="127.0.0.1:%d" % km.port, group_id=group,
                auto_offset_reset="earliest", enable_auto_commit=False,
                consumer_timeout_ms=20000, api_version_auto_timeout_ms=20000)
    args.update(kw_)
    return kafka.KafkaConsumer(*topics, **args)


def take(c, n):
    """The values of the next n messages c gets."""
    out = []
    for msg in c:
        out.append(msg.value)
        if len(out) == n:
            break
    return out


# ---------------------------------------------------------------- offsets

def test_kafka_python_commit_is_the_cursor(km):
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"1\n22\n333\n")
    c = consumer(km, "g1", "plant.temp")
    assert take(c, 2) == [b"1", b"22"]
    c.commit()
    c.close()
    # Message offset 2 starts at byte 5.
    assert cursor(km.mnt, "plant/temp", "g1") == "5"
    c = consumer(km, "g1", "plant.temp")
    assert take(c, 1) == [b"333"]
    c.commit()
    kafka = kafka_python()
    assert c.committed(kafka.TopicPartition("plant.temp", 0)) == 3
    c.close()
    assert cursor(km.mnt, "plant/temp", "g1") == "9"


def test_setfattr_cursor_resumes_kafka_consumer(km):
    os.mkdir(os.path.join(km.mnt, "plant"))
    t = os.path.join(km.mnt, "plant", "temp")
    append(t, b"a\nbb\nccc\n")
    os.setxattr(t, "user.streamfs.cursor.g2", b"2")
    kafka = kafka_python()
    c = consumer(km, "g2", "plant.temp")
    assert c.committed(kafka.TopicPartition("plant.temp", 0)) == 1
    assert take(c, 2) == [b"bb", b"ccc"]
    c.close()


def test_kcat_group_commits_and_resumes(km):
    need("kcat")
    os.mkdir(os.path.join(km.mnt, "plant"))
    t = os.path.join(km.mnt, "plant", "temp")
    append(t, b"x\ny\n")
    argv = ["kcat", "-b", "127.0.0.1:%d" % km.port, "-G", "kg",
            "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%s\\n",
            "plant.temp"]
    r = subprocess.run(argv, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x\ny\n"
    assert cursor(km.mnt, "plant/temp", "kg") == "4"
    append(t, b"z\n")
    r = subprocess.run(argv, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"z\n"
    assert cursor(km.mnt, "plant/temp", "kg") == "6"


# ---------------------------------------------------------------- rebalance

class Member(threading.Thread):
    """A KafkaConsumer of group polling on a thread of its own (a join
    blocks its poll until the group's round is over, so two consumers
    cannot share one thread); .topics is what it holds now."""

    def __init__(self, km, group, *topics, **kw_):
        super().__init__(daemon=True)
        from kafka.coordinator.assignors.roundrobin import (
            RoundRobinPartitionAssignor)
        # Round robin: range would give both one-partition topics to
        # the same member.
        self.c = consumer(km, group, *topics, heartbeat_interval_ms=200,
                          partition_assignment_strategy=[
                              RoundRobinPartitionAssignor], **kw_)
        self.topics = set()
        self.halt = threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            self.c.poll(timeout_ms=100)
            self.topics = {tp.topic for tp in self.c.assignment()}
        self.c.close()                  # LeaveGroup

    def stop(self):
        self.halt.set()
        self.join(60)


def test_two_consumers_split_and_rebalance(km):
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"1\n")
    append(os.path.join(km.mnt, "plant", "hum"), b"2\n")
    both = {"plant.temp", "plant.hum"}
    a = Member(km, "split", *both)
    try:
        assert wait_for(lambda: a.topics == both, timeout=60)
        b = Member(km, "split", *both)
        try:
            assert wait_for(lambda: len(a.topics) == 1 and
                            len(b.topics) == 1 and
                            a.topics | b.topics == both, timeout=60)
        finally:
            b.stop()
        assert wait_for(lambda: a.topics == both, timeout=60)
    finally:
        a.stop()


PEER = r"""
import sys, kafka
from kafka.coordinator.assignors.roundrobin import (
    RoundRobinPartitionAssignor)
c = kafka.KafkaConsumer("plant.temp", "plant.hum",
                        bootstrap_servers="127.0.0.1:" + sys.argv[1],
                        group_id="lost", session_timeout_ms=2000,
                        heartbeat_interval_ms=200,
                        partition_assignment_strategy=[
                            RoundRobinPartitionAssignor],
                        enable_auto_commit=False)
while True:
    c.poll(timeout_ms=100)
    print(len(c.assignment()), flush=True)
"""


def test_member_that_stops_heartbeating_is_dropped(km):
    kafka_python()
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"1\n")
    append(os.path.join(km.mnt, "plant", "hum"), b"2\n")
    both = {"plant.temp", "plant.hum"}
    a = Member(km, "lost", *both)
    p = None
    try:
        assert wait_for(lambda: a.topics == both, timeout=60)
        p = subprocess.Popen([PYTHON, "-c", PEER, str(km.port)],
                             stdout=subprocess.PIPE)
        # The peer holds one topic once the group has rebalanced.
        for line in p.stdout:
            if line.strip() == b"1" and len(a.topics) == 1:
                break
        else:
            pytest.fail("the peer never got a topic")
        os.kill(p.pid, signal.SIGSTOP)  # no more heartbeats, no leave
        assert wait_for(lambda: a.topics == both, timeout=60)
    finally:
        if p:
            p.kill()
            p.wait()
        a.stop()


# ---------------------------------------------------------------- wire

S = kw.string


def join(conn, group, member="", session=10000, version=1,
         protos=(("range", b"m"),)):
    body = S(group) + struct.pack(">i", session)
    if version >= 1:
        body += struct.pack(">i", session)
    body += S(member) + S("consumer") + struct.pack(">i", len(protos))
    for name, meta in protos:
        body += S(name) + struct.pack(">i", len(meta)) + meta
    r = conn.request(JOIN, version, body)
    if version >= 2:
        r.i32()
    err, gen, proto, leader, me = (r.i16(), r.i32(), r.string(),
                                   r.string(), r.string())
    members = [(r.string(), r.take(r.i32())) for _ in range(r.i32())]
    return err, gen, proto, leader, me, members


def heartbeat(conn, group, gen, member):
    r = conn.request(HEARTBEAT, 0, S(group) + struct.pack(">i", gen) +
                     S(member))
    return r.i16()


def commit(conn, group, topic, offset, partition=0, gen=-1, member=""):
    body = (S(group) + struct.pack(">i", gen) + S(member) +
            struct.pack(">q", -1) + struct.pack(">i", 1) + S(topic) +
            struct.pack(">iiq", 1, partition, offset) + S(None))
    r = conn.request(OFFSET_COMMIT, 2, body)
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == partition
    return r.i16()


def fetch(conn, group, topic, partition=0):
    body = S(group) + struct.pack(">i", 1) + S(topic) + struct.pack(
        ">ii", 1, partition)
    r = conn.request(OFFSET_FETCH, 1, body)
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == partition
    off = r.i64()
    r.string()
    return r.i16(), off


def test_find_coordinator_is_this_broker(km):
    c = kw.Conn(km.port)
    r = c.request(FIND_COORDINATOR, 1, S("g") + b"\0")
    assert r.i32() == 0                 # throttle
    assert r.i16() == 0
    r.string()
    assert (r.i32(), r.string(), r.i32()) == (0, "127.0.0.1", km.port)
    r = c.request(FIND_COORDINATOR, 1, S("t") + b"\1")   # transactions
    r.i32()
    assert r.i16() == 53                # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    err, apis = kw.api_versions(c.request(18, 0))
    for key, rng in ((8, (2, 7)), (9, (1, 5)), (10, (0, 2)), (11, (0, 5)),
                     (12, (0, 3)), (13, (0, 2)), (14, (0, 3))):
        assert apis[key] == rng


def test_join_sync_heartbeat_leave_by_wire(km):
    c = kw.Conn(km.port)
    err, gen, proto, leader, me, members = join(c, "w")
    assert err == 0 and gen == 1 and proto == "range" and leader == me
    assert members == [(me, b"m")]
    r = c.request(SYNC, 0, S("w") + struct.pack(">i", gen) + S(me) +
                  struct.pack(">i", 1) + S(me) + struct.pack(">i", 3) +
                  b"abc")
    assert r.i16() == 0 and r.take(r.i32()) == b"abc"
    assert heartbeat(c, "w", gen, me) == 0
    assert heartbeat(c, "w", gen + 1, me) == 22        # ILLEGAL_GENERATION
    assert heartbeat(c, "w", gen, "nobody") == 25      # UNKNOWN_MEMBER_ID
    # A member whose protocols share nothing with the group's.
    assert join(c, "w", protos=(("other", b""),))[0] == 23
    assert join(c, "w", session=10)[0] == 26    # INVALID_SESSION_TIMEOUT
    assert join(c, "bad group")[0] == 24        # INVALID_GROUP_ID
    assert join(c, "w", member="nobody")[0] == 25
    r = c.request(LEAVE, 0, S("w") + S(me))
    assert r.i16() == 0
    assert heartbeat(c, "w", gen, me) == 25


def test_offset_commit_errors_change_nothing(km):
    os.mkdir(os.path.join(km.mnt, "s"))
    t = os.path.join(km.mnt, "s", "t")
    append(t, b"a\nb\n")
    c = kw.Conn(km.port)
    assert fetch(c, "g", "s.t") == (0, -1)      # nothing committed
    assert commit(c, "g", "s.t", 1) == 0
    assert cursor(km.mnt, "s/t", "g") == "2"
    assert fetch(c, "g", "s.t") == (0, 1)
    assert commit(c, "g", "s.t", -5) == 1       # OFFSET_OUT_OF_RANGE
    assert commit(c, "g", "s.t", 0, partition=1) == 3
    assert commit(c, "g", "s.nope", 0) == 3
    assert commit(c, "bad/group", "s.t", 0) == 24
    assert commit(c, "g", "s.t", 0, gen=4, member="x") == 25
    assert cursor(km.mnt, "s/t", "g") == "2"
    assert commit(c, "g", "s.t", 2) == 0        # the end
    assert cursor(km.mnt, "s/t", "g") == "4"
    assert commit(c, "g", "s.t", 1) == 0
    assert commit(c, "g", "s.t", 50) == 0       # past it: the end too
    assert cursor(km.mnt, "s/t", "g") == "4"
    assert fetch(c, "g", "s.t") == (0, 2)
    # A member of the group commits with its generation, others not.
    err, gen, _, _, me, _ = join(c, "g")
    c.request(SYNC, 0, S("g") + struct.pack(">i", gen) + S(me) +
              struct.pack(">i", 0))
    assert commit(c, "g", "s.t", 0) == 25
    assert commit(c, "g", "s.t", 0, gen=gen + 1, member=me) == 22
    assert commit(c, "g", "s.t", 0, gen=gen, member=me) == 0
    assert cursor(km.mnt, "s/t", "g") == "0"


OTHER = r"""
import struct, sys
sys.path.insert(0, sys.argv[2])
import kafka_wire as kw
from test_kafka_groups import commit, fetch
c = kw.Conn(int(sys.argv[1]))
print(commit(c, "g", sys.argv[3], 0), *fetch(c, "g", sys.argv[3]))
"""


def test_other_user_may_not_commit(km, other_user):
    for s, mode in (("pub", 0o666), ("priv", 0o600)):
        os.mkdir(os.path.join(km.mnt, s))
        append(os.path.join(km.mnt, s, "t"), b"x\ny\n")
        os.chmod(os.path.join(km.mnt, s, "t"), mode)
        os.setxattr(os.path.join(km.mnt, s, "t"),
                    "user.streamfs.cursor.g", b"2")

    def as_other(topic):
        r = other_user.run([PYTHON, "-c", OTHER, str(km.port), HERE, topic])
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert as_other("priv.t") == ["29", "29", "-1"]
    assert cursor(km.mnt, "priv/t", "g") == "2"
    assert as_other("pub.t") == ["0", "0", "0"]
    assert cursor(km.mnt, "pub/t", "g") == "0"


def test_truncated_group_requests_close_the_connection(km):
    whole = {
        FIND_COORDINATOR: (1, S("g") + b"\0"),
        JOIN: (1, S("g") + struct.pack(">ii", 10000, 10000) + S("") +
               S("consumer") + struct.pack(">i", 1) + S("range") +
               struct.pack(">i", 1) + b"m"),
        SYNC: (0, S("g") + struct.pack(">i", 1) + S("m") +
               struct.pack(">i", 0)),
        HEARTBEAT: (0, S("g") + struct.pack(">i", 1) + S("m")),
        LEAVE: (0, S("g") + S("m")),
        OFFSET_COMMIT: (2, S("g") + struct.pack(">i", -1) + S("") +
                        struct.pack(">qi", -1, 1) + S("t") +
                        struct.pack(">iiq", 1, 0, 0) + S(None)),
        OFFSET_FETCH: (1, S("g") + struct.pack(">i", 1) + S("t") +
                       struct.pack(">ii", 1, 0)),
    }
    for key, (version, body) in whole.items():
        c = kw.Conn(km.port, timeout=5)
        c.send(kw.frame(kw.header(key, version, 1) + body[:-1]))
        assert c.closed(), key
        # The whole request is answered, on a new connection.
        c = kw.Conn(km.port, timeout=5)
        c.request(key, version, body)
        c.close()


def test_truncated_commit_commits_nothing(km):
    os.mkdir(os.path.join(km.mnt, "s"))
    append(os.path.join(km.mnt, "s", "t"), b"a\nb\n")
    body = (S("g") + struct.pack(">i", -1) + S("") +
            struct.pack(">qi", -1, 1) + S("s.t") + struct.pack(">i", 2) +
            struct.pack(">iq", 0, 1) + S(None) +
            struct.pack(">iq", 0, 2) + S(None))
    c = kw.Conn(km.port, timeout=5)
    c.send(kw.frame(kw.header(OFFSET_COMMIT, 2, 1) + body[:-1]))
    assert c.closed()
    assert cursor(km.mnt, "s/t", "g") is None
    c = kw.Conn(km.port, timeout=5)
    c.request(OFFSET_COMMIT, 2, body)
    assert cursor(km.mnt, "s/t", "g") == "4"


# ---------------------------------------------------------------- static

def join5(conn, group, instance, member="", meta=b"m"):
    body = (S(group) + struct.pack(">ii", 10000, 10000) + S(member) +
            S(instance) + S("consumer") + struct.pack(">i", 1) +
            S("range") + struct.pack(">i", len(meta)) + meta)
    r = conn.request(JOIN, 5, body)
    r.i32()
    err, gen, proto, leader, me = (r.i16(), r.i32(), r.string(),
                                   r.string(), r.string())
    members = [(r.string(), r.string(), r.take(r.i32()))
               for _ in range(r.i32())]
    return err, gen, leader, me, members


def sync3(conn, group, gen, member, instance, assign=()):
    body = S(group) + struct.pack(">i", gen) + S(member) + S(instance)
    body += struct.pack(">i", len(assign))
    for who, a in assign:
        body += S(who) + struct.pack(">i", len(a)) + a
    r = conn.request(SYNC, 3, body)
    r.i32()
    err = r.i16()
    return err, r.take(r.i32())


def heartbeat3(conn, group, gen, member, instance):
    r = conn.request(HEARTBEAT, 3, S(group) + struct.pack(">i", gen) +
                     S(member) + S(instance))
    r.i32()
    return r.i16()


def test_static_member_rejoins_without_a_rebalance(km):
    a, b, b2 = kw.Conn(km.port), kw.Conn(km.port, timeout=30), \
        kw.Conn(km.port)
    err, gen, leader, ida, _ = join5(a, "st", "ia")
    assert err == 0 and gen == 1 and leader == ida
    assert sync3(a, "st", gen, ida, "ia", [(ida, b"A")]) == (0, b"A")
    # b joins: a new round, which a's rejoin completes.
    out = {}
    t = threading.Thread(target=lambda: out.update(b=join5(b, "st", "ib")))
    t.start()
    assert wait_for(lambda: heartbeat3(a, "st", gen, ida, "ia") == 27,
                    timeout=20)         # REBALANCE_IN_PROGRESS
    err, gen, leader, _, members = join5(a, "st", "ia", member=ida)
    t.join(30)
    idb = out["b"][3]
    assert err == 0 and gen == 2 and leader == ida and len(members) == 2
    assert {m[1] for m in members} == {"ia", "ib"}
    t = threading.Thread(target=lambda: out.update(
        sb=sync3(b, "st", gen, idb, "ib")))
    t.start()
    assert sync3(a, "st", gen, ida, "ia",
                 [(ida, b"A"), (idb, b"B")]) == (0, b"A")
    t.join(30)
    assert out["sb"] == (0, b"B")
    # b restarts: its new incarnation names only its instance id.  It
    # takes b's place at once, same generation and assignment; the old
    # member id is fenced, and a sees no rebalance.
    err, gen2, leader, idb2, members = join5(b2, "st", "ib")
    assert (err, gen2, leader, members) == (0, gen, ida, [])
    assert idb2 != idb
    assert sync3(b2, "st", gen, idb2, "ib") == (0, b"B")
    assert heartbeat3(b, "st", gen, idb, "ib") == 82   # FENCED_INSTANCE_ID
    assert heartbeat3(a, "st", gen, ida, "ia") == 0
    assert heartbeat3(b2, "st", gen, idb2, "ib") == 0
    # A member that changed its protocols makes a new round.
    t = threading.Thread(target=lambda: out.update(
        b3=join5(b2, "st", "ib", meta=b"other")))
    t.start()
    assert wait_for(lambda: heartbeat3(a, "st", gen, ida, "ia") == 27,
                    timeout=20)
    join5(a, "st", "ia", member=ida)
    t.join(30)
    assert out["b3"][0] == 0 and out["b3"][1] == gen + 1


STATIC = r"""
import sys, time, confluent_kafka as ck
port, inst, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
got = []
def on_assign(c, parts):
    got.append(1)
    print("assign", sorted(p.topic for p in parts), flush=True)
def on_revoke(c, parts):
    print("revoke", sorted(p.topic for p in parts), flush=True)
c = ck.Consumer({"bootstrap.servers": "127.0.0.1:" + port,
                 "group.id": "static", "group.instance.id": inst,
                 "session.timeout.ms": 30000,
                 "partition.assignment.strategy": "roundrobin",
                 "enable.auto.commit": False})
c.subscribe(["plant.temp", "plant.hum"], on_assign=on_assign,
            on_revoke=on_revoke)
while not got:
    c.poll(0.1)
end = time.time() + secs
while time.time() < end:
    c.poll(0.1)
c.close()
print("closed", flush=True)
"""


def test_confluent_static_member_restart_keeps_the_group(km):
    pytest.importorskip("confluent_kafka")
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"1\n")
    append(os.path.join(km.mnt, "plant", "hum"), b"2\n")

    def start(inst, secs):
        return subprocess.Popen([PYTHON, "-c", STATIC, str(km.port), inst,
                                 str(secs)], stdout=subprocess.PIPE,
                                text=True)
    a = start("a", 60)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(a.stdout))
    reader.start()
    assert wait_for(lambda: lines, timeout=60)
    b = start("b", 1)           # closes once it is assigned: no leave
    try:
        assert wait_for(lambda: any(l.startswith("assign [") and
                                    l.count("plant") == 1
                                    for l in lines), timeout=60)
        b.wait(60)
        seen = len(lines)
        b = start("b", 5)       # b's new incarnation takes its place
        out, _ = b.communicate(timeout=60)
        assert "assign ['plant." in out
        # a saw no round: nothing revoked, nothing newly assigned.
        assert lines[seen:] == []
    finally:
        for p in (a, b):
            p.kill()
            p.wait()
        reader.join(10)
