"""confluent-kafka (Debian's python3-confluent-kafka 1.7.0, librdkafka
inside) against the Kafka listener as fully as kcat and kafka-python:
produce, consume from the beginning, the end, an offset and a time, commit
and resume in a group, data both ways between the client and the mount,
two consumers of one group splitting two topics and rebalancing, every
codec (gzip, snappy, lz4, zstd), TLS with a client certificate and a
stream's ACEs denying another uid.
Then what the other suites leave out for kcat and kafka-python: kcat by
time, in a group of two that rebalances and under a denying ACE,
kafka-python's codecs and its ACE denial."""
import json
import os
import select
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from util import OTHER_GID, PYTHON, append, getx, read, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from kafka_util import (SEED, deny_other_uid, expire_head,  # noqa: E402
                        need, second_topic, seeded_mount, two_times)
from test_kafka_tls import pki, tls_options  # noqa: E402,F401

CODECS = ["gzip", "snappy", "lz4", "zstd"]


@pytest.fixture
def km(mount_factory):
    return seeded_mount(mount_factory)


def ck():
    return pytest.importorskip("confluent_kafka")


def producer(km, **conf):
    c = {"bootstrap.servers": km.broker}
    c.update(conf)
    return ck().Producer(c)


def produce(km, vals, **conf):
    """Produce vals to plant.temp; the delivery reports' (error, offset)."""
    p = producer(km, **conf)
    reports = []
    for v in vals:
        p.produce("plant.temp", value=v,
                  on_delivery=lambda e, m: reports.append(
                      (e.code() if e else None, m.offset())))
    assert p.flush(30) == 0
    return reports


def consumer(km, group="cg", **conf):
    c = {"bootstrap.servers": km.broker, "group.id": group,
         "auto.offset.reset": "earliest", "enable.auto.commit": False,
         "fetch.wait.max.ms": 100}
    c.update(conf)
    return ck().Consumer(c)


def take(c, n, idle=60):
    """(offset, value) of the next n messages c polls (giving up after
    idle empty polls)."""
    got = []
    while idle > 0:
        m = c.poll(0.5)
        if m is None:
            idle -= 1
            continue
        assert m.error() is None, m.error()
        got.append((m.offset(), m.value()))
        if len(got) == n:
            break
    return got


def assigned(c, offset):
    k = ck()
    c.assign([k.TopicPartition("plant.temp", 0, offset)])
    return c


# ---------------------------------------------------------------- confluent

def test_confluent_produce_into_the_file(km):
    assert produce(km, [b"p1", b"p2"]) == [(None, 1), (None, 2)]
    assert read(km.topic) == SEED + b"p1\np2\n"
    append(km.topic, b"mnt\n")
    c = assigned(consumer(km), ck().OFFSET_BEGINNING)
    try:
        assert take(c, 4) == [(0, b"seed"), (1, b"p1"), (2, b"p2"),
                              (3, b"mnt")]
    finally:
        c.close()


def test_confluent_consume_from_offset_and_time(km):
    append(km.topic, b"m1\nm2\nm3\n")
    c = assigned(consumer(km), 2)
    try:
        assert take(c, 2) == [(2, b"m2"), (3, b"m3")]
    finally:
        c.close()
    b_offset, b_ms = two_times(km)
    k = ck()
    c = consumer(km)
    try:
        got = c.offsets_for_times([k.TopicPartition("plant.temp", 0, b_ms)],
                                  timeout=20)
        assert got[0].offset == b_offset and got[0].error is None
        got = c.offsets_for_times(
            [k.TopicPartition("plant.temp", 0, b_ms + 1)], timeout=20)
        assert got[0].offset == -1               # no message so late
        c.assign(got[:0] + [k.TopicPartition("plant.temp", 0, b_offset)])
        assert take(c, 1) == [(b_offset, b"b")]
    finally:
        c.close()


def test_confluent_consume_from_end(km):
    append(km.topic, b"old\n")
    state = {}

    def stats(js):
        p = json.loads(js)["topics"].get("plant.temp", {})
        state.update(p.get("partitions", {}).get("0", {}))
    c = assigned(consumer(km, stats_cb=stats,
                          **{"statistics.interval.ms": 100}),
                 ck().OFFSET_END)
    try:
        # librdkafka's statistics tell when the end has been looked up
        # and the fetcher waits there.
        early = []

        def waiting_at_end():
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                early.append(m.value())
            return (state.get("fetch_state"), state.get("next_offset")) == \
                ("active", 2)
        assert wait_for(waiting_at_end, timeout=30)
        assert early == []
        append(km.topic, b"new\n")
        assert take(c, 1) == [(2, b"new")]
    finally:
        c.close()


def test_confluent_watermarks(km):
    append(km.topic, b"x\n")
    c = consumer(km)
    try:
        assert c.get_watermark_offsets(ck().TopicPartition("plant.temp", 0),
                                       timeout=20) == (0, 2)
    finally:
        c.close()


def test_confluent_group_commit_is_the_cursor(km):
    append(km.topic, b"1\n22\n333\n")
    c = consumer(km, "cg1")
    c.subscribe(["plant.temp"])
    try:
        assert take(c, 2) == [(0, b"seed"), (1, b"1")]
        c.commit(asynchronous=False)
    finally:
        c.close()
    assert getx(km.topic, "cursor.cg1") == "7"     # message 2 at byte 7
    c = consumer(km, "cg1")
    c.subscribe(["plant.temp"])
    try:
        assert take(c, 2) == [(2, b"22"), (3, b"333")]
        c.commit(asynchronous=False)
        k = ck()
        got = c.committed([k.TopicPartition("plant.temp", 0)], timeout=20)
        assert got[0].offset == 4
    finally:
        c.close()
    assert getx(km.topic, "cursor.cg1") == "14"
    # And back: a cursor set through the mount is where the group resumes.
    os.setxattr(km.topic, "user.streamfs.cursor.cg1", b"5")
    c = consumer(km, "cg1")
    c.subscribe(["plant.temp"])
    try:
        assert take(c, 1) == [(1, b"1")]
    finally:
        c.close()


def test_confluent_two_consumers_split_and_rebalance(km):
    second_topic(km)
    both = {"plant.temp", "plant.hum"}
    held = {}

    def member(name):
        c = consumer(km, "split", **{
            "partition.assignment.strategy": "roundrobin",
            "heartbeat.interval.ms": 200, "session.timeout.ms": 6000})

        def on_assign(cons, parts):
            held[name] = {p.topic for p in parts}

        def on_revoke(cons, parts):
            held[name] = set()
        c.subscribe(sorted(both), on_assign=on_assign, on_revoke=on_revoke)
        return c

    a = member("a")
    b = None
    try:
        assert wait_for(lambda: (a.poll(0.05), held.get("a"))[1] == both,
                        timeout=60)
        b = member("b")

        def split():
            a.poll(0.05)
            b.poll(0.05)
            return (len(held.get("a", ())) == 1 and
                    len(held.get("b", ())) == 1 and
                    held["a"] | held["b"] == both)
        assert wait_for(split, timeout=60)
        b.close()                               # LeaveGroup
        b = None
        assert wait_for(lambda: (a.poll(0.05), held.get("a"))[1] == both,
                        timeout=60)
    finally:
        a.close()
        if b:
            b.close()


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_compression(km, codec):
    vals = [b"%s %d" % (codec.encode(), i) for i in range(200)]
    reports = produce(km, vals, **{"compression.type": codec,
                                   "linger.ms": 50})
    assert reports == [(None, i) for i in range(1, 201)]
    assert read(km.topic) == SEED + b"".join(v + b"\n" for v in vals)
    c = assigned(consumer(km), 1)
    try:
        assert take(c, 200) == list(zip(range(1, 201), vals))
    finally:
        c.close()


def test_confluent_offset_below_log_start_resets(km):
    start = expire_head(km)
    c = assigned(consumer(km), 0)               # offset 0 is gone
    try:
        assert take(c, 1) == [(start, b"message %02d" % start)]
    finally:
        c.close()


def test_confluent_over_tls(mount_factory, pki):
    port = kw.free_port()
    m = mount_factory(tls_options(pki, port))
    m.broker = "localhost:%d" % port
    cert, key = pki.issue("/CN=root")
    tls = {"security.protocol": "ssl", "ssl.ca.location": pki.ca,
           "ssl.certificate.location": cert, "ssl.key.location": key}
    os.mkdir(os.path.join(m.mnt, "plant"))
    m.topic = os.path.join(m.mnt, "plant", "temp")
    append(m.topic, SEED)
    assert produce(m, [b"over tls"], **tls) == [(None, 1)]
    assert read(m.topic) == SEED + b"over tls\n"
    c = assigned(consumer(m, **tls), 0)
    try:
        assert take(c, 2) == [(0, b"seed"), (1, b"over tls")]
    finally:
        c.close()


DENIED = textwrap.dedent("""
    import sys, confluent_kafka as ck
    broker = sys.argv[1]
    p = ck.Producer({"bootstrap.servers": broker,
                     "message.send.max.retries": 0})
    errs = []
    p.produce("plant.temp", b"intruder",
              on_delivery=lambda e, m: errs.append(e and e.name()))
    p.flush(30)
    print("produce", errs[0])
    # Subscribed: librdkafka hands a consumer the topic's error (an
    # assigned partition of a denied topic just stays without a leader).
    c = ck.Consumer({"bootstrap.servers": broker, "group.id": "x",
                     "enable.auto.commit": False})
    c.subscribe(["plant.temp"])
    for _ in range(40):
        m = c.poll(0.5)
        if m is not None:
            print("consume", m.error().name() if m.error() else m.value())
            break
    c.close()
    """)


def test_confluent_ace_denies_other_uid(km, other_user):
    ck()
    uid = deny_other_uid(km)
    r = subprocess.run(["setpriv", "--reuid", str(uid), "--regid",
                        str(OTHER_GID), "--clear-groups", PYTHON, "-c",
                        DENIED, km.broker],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "produce TOPIC_AUTHORIZATION_FAILED",
        "consume TOPIC_AUTHORIZATION_FAILED"]
    assert read(km.topic) == SEED


# ---------------------------------------------------------------- kcat gaps

def kcat(km, *args, pre=(), input=None):
    need("kcat")
    return subprocess.run(list(pre) + ["kcat", "-b", km.broker] + list(args),
                          input=input, capture_output=True, timeout=60)


def test_kcat_consumes_from_a_time(km):
    b_offset, b_ms = two_times(km)
    r = kcat(km, "-C", "-t", "plant.temp", "-o", "s@%d" % b_ms, "-e", "-q",
             "-f", "%o:%s\\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"%d:b\n" % b_offset


def test_kcat_ace_denies_other_uid(km, other_user):
    uid = deny_other_uid(km)
    pre = ["setpriv", "--reuid", str(uid), "--regid", str(OTHER_GID),
           "--clear-groups"]
    r = kcat(km, "-P", "-t", "plant.temp", pre=pre, input=b"intruder\n")
    assert r.returncode != 0
    assert b"authorization failed" in r.stderr.lower()
    r = kcat(km, "-C", "-t", "plant.temp", "-o", "beginning", "-e", "-q",
             pre=pre)
    assert r.stdout == b""
    assert b"authorization failed" in r.stderr.lower()
    assert read(km.topic) == SEED


def test_kcat_consumes_from_the_end(km):
    need("kcat")
    append(km.topic, b"old\n")
    p = subprocess.Popen(["kcat", "-b", km.broker, "-C", "-t", "plant.temp",
                          "-o", "end", "-c", "1", "-f", "%o:%s\\n"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # kcat says when it is at the end (librdkafka's partition EOF).
        line = p.stderr.readline()
        assert b"Reached end of topic plant.temp [0] at offset 2" in line
        append(km.topic, b"new\n")
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert out == b"2:new\n"


class KcatMember:
    """kcat -G: a balanced consumer of group; .assigned() waits for its
    next "assigned:" report and gives the topics in it."""

    def __init__(self, km, group, *topics):
        need("kcat")
        self.p = subprocess.Popen(
            ["kcat", "-b", km.broker, "-G", group, "-o", "beginning",
             "-X", "partition.assignment.strategy=roundrobin",
             "-X", "heartbeat.interval.ms=200"] + list(topics),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def assigned(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.p.stderr], [], [], 1)
            if not ready:
                continue
            line = self.p.stderr.readline().decode()
            assert line, "kcat ended"
            if "assigned:" in line:
                return sorted(t.split()[0] for t in
                              line.split("assigned:")[1].split(",")
                              if t.strip())
        pytest.fail("no assignment within %ds" % timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()                  # kcat leaves the group
        self.p.wait(60)


def test_kcat_two_members_split_and_rebalance(km):
    second_topic(km)
    both = ["plant.hum", "plant.temp"]
    a = KcatMember(km, "ksplit", *both)
    b = None
    try:
        assert a.assigned() == both
        b = KcatMember(km, "ksplit", *both)
        got_b = b.assigned()
        got_a = a.assigned()
        assert len(got_a) == 1 and sorted(got_a + got_b) == both
        b.stop()
        assert a.assigned() == both
    finally:
        a.stop()
        if b:
            b.stop()


# ---------------------------------------------------------------- kafka-python gaps

def kafka_python():
    return pytest.importorskip("kafka")


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_compression(km, codec):
    kafka = kafka_python()
    vals = [b"%s %d" % (codec.encode(), i) for i in range(100)]
    p = kafka.KafkaProducer(bootstrap_servers=km.broker,
                            compression_type=codec, linger_ms=50)
    futs = [p.send("plant.temp", v) for v in vals]
    p.flush(30)
    assert [f.get(30).offset for f in futs] == list(range(1, 101))
    p.close()
    assert read(km.topic) == SEED + b"".join(v + b"\n" for v in vals)
    c = kafka.KafkaConsumer(bootstrap_servers=km.broker)
    tp = kafka.TopicPartition("plant.temp", 0)
    c.assign([tp])
    c.seek(tp, 1)
    got = []
    for _ in range(30):
        for msgs in c.poll(timeout_ms=500).values():
            got += [(m.offset, m.value) for m in msgs]
        if len(got) >= 100:
            break
    c.close()
    assert got == list(zip(range(1, 101), vals))


KP_DENIED = textwrap.dedent("""
    import sys, kafka, kafka_wire as kw
    from kafka.errors import KafkaTimeoutError
    # The listener's answer to the other uid: TOPIC_AUTHORIZATION_FAILED.
    c = kw.Conn(int(sys.argv[1].split(":")[1]))
    r = kw.metadata(c, ["plant.temp"], version=1, create=False)
    print("metadata", r)
    # kafka-python 2.0.2 takes a one-topic Metadata error for a failed
    # update and retries until max_block_ms: a timeout, nothing sent.
    p = kafka.KafkaProducer(bootstrap_servers=sys.argv[1], retries=0,
                            max_block_ms=3000)
    try:
        p.send("plant.temp", b"intruder").get(30)
        print("produce ok")
    except KafkaTimeoutError:
        print("produce timed out")
    p.close()
    """)


def test_kafka_python_ace_denies_other_uid(km, other_user):
    kafka_python()
    uid = deny_other_uid(km)
    r = subprocess.run(["setpriv", "--reuid", str(uid), "--regid",
                        str(OTHER_GID), "--clear-groups", "env",
                        "PYTHONPATH=" + os.path.dirname(__file__), PYTHON,
                        "-c", KP_DENIED, km.broker],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == "produce timed out"
    assert lines[0] == "metadata {'plant.temp': 29}"   # TOPIC_AUTHORIZATION_FAILED
    assert read(km.topic) == SEED


def test_kafka_python_consumes_from_a_time(km):
    kafka = kafka_python()
    b_offset, b_ms = two_times(km)
    c = kafka.KafkaConsumer(bootstrap_servers=km.broker)
    tp = kafka.TopicPartition("plant.temp", 0)
    try:
        c.assign([tp])
        at = c.offsets_for_times({tp: b_ms})[tp]
        assert (at.offset, at.timestamp) == (b_offset, b_ms)
        c.seek(tp, at.offset)
        got = []
        for _ in range(30):
            for msgs in c.poll(timeout_ms=500).values():
                got += [(m.offset, m.value) for m in msgs]
            if got:
                break
    finally:
        c.close()
    assert got == [(b_offset, b"b")]


# ---------------------------------------------------------------- static members

def join_static(conn, group, instance, rebalance=300000):
    """JoinGroup v5 of a new member of instance: (error, leader, me,
    [(member, instance)] the leader is told of)."""
    S = kw.string
    body = (S(group) + struct.pack(">ii", 30000, rebalance) + S("") +
            S(instance) + S("consumer") + struct.pack(">i", 1) +
            S("range") + struct.pack(">i", 1) + b"m")
    r = conn.request(11, 5, body)
    r.i32()                                     # throttle
    err, _, _, leader, me = (r.i16(), r.i32(), r.string(), r.string(),
                             r.string())
    members = []
    for _ in range(r.i32()):
        members.append((r.string(), r.string()))
        r.take(r.i32())
    return err, leader, me, members


def test_static_member_restart_replaces_the_old_one(km):
    # librdkafka's static members (group.instance.id) send no LeaveGroup
    # on close; the restarted one must not wait for the old one's
    # session (here 30 s) or rebalance (300 s) timeout.
    c1 = kw.Conn(km.port)
    err, leader, a, members = join_static(c1, "st", "inst-1")
    assert err == 0 and leader == a and members == [(a, "inst-1")]
    c2 = kw.Conn(km.port)
    err, leader, b, members = join_static(c2, "st", "inst-1")
    assert err == 0 and b != a
    assert leader == b and members == [(b, "inst-1")]
    # The old member is gone.
    r = c1.request(12, 0, kw.string("st") + struct.pack(">i", 1) +
                   kw.string(a))
    assert r.i16() == 25                        # UNKNOWN_MEMBER_ID
    c1.close()
    c2.close()
