"""The Kafka admin APIs on the listener (-o kafka=ADDR:PORT): kafka-python's
KafkaAdminClient and confluent-kafka's AdminClient create topics (a file
in the mount, its stream made as mkdir -p would make it), delete them (the
file is gone), describe a topic's configs (its stream's policies under
Kafka's names) and the broker's, and list and describe the consumer
groups; bad partitions, replication factors and configs are refused with
nothing made; another uid is refused where the mount would refuse it,
and nothing changes; kcat -L still lists."""
import json
import os
import struct
import subprocess
import sys
import threading

import pytest

from util import PYTHON, append, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from test_kafka import kafka_mount, kafka_python, need  # noqa: E402


@pytest.fixture
def km(mount_factory):
    return kafka_mount(mount_factory)


def admin(km):
    kafka = kafka_python()
    return kafka.KafkaAdminClient(
        bootstrap_servers="127.0.0.1:%d" % km.port,
        api_version_auto_timeout_ms=20000, request_timeout_ms=20000)


def confluent():
    try:
        import confluent_kafka.admin as ca
    except ImportError:
        pytest.skip("confluent-kafka (python3-confluent-kafka) is not "
                    "installed")
    return ca


def confluent_admin(km):
    ca = confluent()
    return ca.AdminClient({"bootstrap.servers": "127.0.0.1:%d" % km.port})


def kcat_topics(km):
    need("kcat")
    r = subprocess.run(["kcat", "-b", "127.0.0.1:%d" % km.port, "-L", "-J",
                        "-m", "10"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return {t["topic"] for t in json.loads(r.stdout)["topics"]}


def errors_of(resp):
    """{topic: error code} of a CreateTopics or DeleteTopics response."""
    rows = getattr(resp, "topic_errors", None) or resp.topic_error_codes
    return {row[0]: row[1] for row in rows}


# ---------------------------------------------------------------- kafka-python

def test_kafka_python_creates_and_deletes(km):
    kafka = kafka_python()
    from kafka.admin import NewTopic
    a = admin(km)
    os.mkdir(os.path.join(km.mnt, "plant"))
    a.create_topics([NewTopic("plant.temp", 1, 1)])
    t = os.path.join(km.mnt, "plant", "temp")
    assert os.path.isfile(t)
    assert os.stat(t).st_mode & 0o777 == 0o644
    assert os.getxattr(t, "user.streamfs.kind") == b"topic"
    # A missing stream is made as mkdir -p would make it.
    a.create_topics([NewTopic("new.deep.t", 1, 1)])
    assert os.path.isfile(os.path.join(km.mnt, "new", "deep", "t"))
    assert os.stat(os.path.join(km.mnt, "new")).st_mode & 0o777 == 0o755
    assert {"plant.temp", "new.deep.t"} <= kcat_topics(km)
    with pytest.raises(kafka.errors.TopicAlreadyExistsError):
        a.create_topics([NewTopic("plant.temp", 1, 1)])
    a.delete_topics(["plant.temp", "new.deep.t"])
    assert not os.path.exists(t)
    assert not os.path.exists(os.path.join(km.mnt, "new", "deep", "t"))
    assert "plant.temp" not in kcat_topics(km)
    with pytest.raises(kafka.errors.UnknownTopicOrPartitionError):
        a.delete_topics(["plant.temp"])
    a.close()


def test_mount_never_shows_an_old_name_after_the_answer(km):
    """Each answer of CreateTopics or DeleteTopics comes after the kernel's
    cached name was dropped: a stat right after it sees the change."""
    from kafka.admin import NewTopic
    a = admin(km)
    os.mkdir(os.path.join(km.mnt, "s"))
    t = os.path.join(km.mnt, "s", "t")
    stale = []
    for i in range(150):
        a.create_topics([NewTopic("s.t", 1, 1)])
        if not os.path.exists(t):
            stale.append(("create", i))
        a.delete_topics(["s.t"])
        if os.path.exists(t):
            stale.append(("delete", i))
    a.close()
    assert stale == []


def test_validate_only_makes_nothing(km):
    from kafka.admin import NewTopic
    a = admin(km)
    a.create_topics([NewTopic("v.t", 1, 1)], validate_only=True)
    assert not os.path.exists(os.path.join(km.mnt, "v"))
    a.close()


@pytest.mark.parametrize("partitions,replication,configs,error", [
    (3, 1, {}, "InvalidPartitionsError"),
    (0, 1, {}, "InvalidPartitionsError"),
    (1, 3, {}, "InvalidReplicationFactorError"),
    (1, 1, {"retention.ms": "1000"}, "InvalidConfigurationError"),
    (1, 1, {"compression.type": "gzip"}, "InvalidConfigurationError"),
])
def test_bad_create_makes_nothing(km, partitions, replication, configs,
                                  error):
    kafka = kafka_python()
    from kafka.admin import NewTopic
    a = admin(km)
    with pytest.raises(getattr(kafka.errors, error)):
        a.create_topics([NewTopic("s.t", partitions, replication,
                                  topic_configs=configs)])
    assert not os.path.exists(os.path.join(km.mnt, "s"))
    a.close()


def test_configs_the_topic_has_anyway(km):
    """A config equal to the stream's policy is taken; another one would
    change every topic of the stream and is refused."""
    kafka = kafka_python()
    from kafka.admin import NewTopic
    os.mkdir(os.path.join(km.mnt, "s"))
    os.setxattr(os.path.join(km.mnt, "s"), "user.streamfs.ttl", b"60")
    a = admin(km)
    with pytest.raises(kafka.errors.InvalidConfigurationError):
        a.create_topics([NewTopic("s.t", 1, 1, topic_configs={
            "retention.ms": "-1"})])
    assert not os.path.exists(os.path.join(km.mnt, "s", "t"))
    a.create_topics([NewTopic("s.t", 1, 1, topic_configs={
        "retention.ms": "60000", "cleanup.policy": "delete"})])
    assert os.path.isfile(os.path.join(km.mnt, "s", "t"))
    a.close()


def test_kafka_python_describe_configs(km):
    from kafka.admin import ConfigResource, ConfigResourceType
    os.mkdir(os.path.join(km.mnt, "s"))
    os.setxattr(os.path.join(km.mnt, "s"), "user.streamfs.ttl", b"2h")
    os.setxattr(os.path.join(km.mnt, "s"), "user.streamfs.max_message",
                b"4k")
    append(os.path.join(km.mnt, "s", "t"), b"x\n")
    a = admin(km)
    resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                              "s.t")])
    (err, msg, rtype, name, configs), = resp[0].resources
    assert (err, rtype, name) == (0, 2, "s.t")
    got = {c[0]: c[1] for c in configs}
    assert got == {"retention.ms": "7200000", "retention.bytes": "-1",
                   "max.message.bytes": "4096", "cleanup.policy": "delete",
                   "message.timestamp.type": "CreateTime"}
    resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                              "s.missing")])
    assert resp[0].resources[0][0] == 3
    resp = a.describe_configs([ConfigResource(ConfigResourceType.BROKER,
                                              "0")])
    (err, msg, rtype, name, configs), = resp[0].resources
    assert err == 0
    assert {c[0]: c[1] for c in configs}["num.partitions"] == "1"
    a.close()


def kafka_python_member(km, group, topic, stop):
    kafka = kafka_python()
    c = kafka.KafkaConsumer(topic, bootstrap_servers="127.0.0.1:%d" % km.port,
                            group_id=group, auto_offset_reset="earliest",
                            api_version_auto_timeout_ms=20000,
                            client_id="member-client")
    while not stop.is_set():
        c.poll(timeout_ms=100)
    c.close()


def test_kafka_python_lists_and_describes_groups(km):
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"x\n")
    stop = threading.Event()
    th = threading.Thread(target=kafka_python_member,
                          args=(km, "g1", "plant.temp", stop))
    th.start()
    try:
        a = admin(km)
        assert wait_for(lambda: ("g1", "consumer") in
                        a.list_consumer_groups(), timeout=30)

        def stable():
            g, = a.describe_consumer_groups(["g1"])
            return g.state == "Stable" and g
        g = wait_for(stable, timeout=30)
        assert g.protocol_type == "consumer" and g.protocol == "range"
        m, = g.members
        assert m.client_id == "member-client"
        assert m.member_metadata.subscription == ["plant.temp"]
        assert m.member_assignment.assignment == [("plant.temp", [0])]
        g, = a.describe_consumer_groups(["nobody"])
        assert g.state == "Dead" and g.members == []
        a.close()
    finally:
        stop.set()
        th.join()


# ---------------------------------------------------------------- confluent

def test_confluent_admin(km):
    ca = confluent()
    a = confluent_admin(km)
    os.mkdir(os.path.join(km.mnt, "plant"))
    fs = a.create_topics([ca.NewTopic("plant.c1", 1, 1)])
    fs["plant.c1"].result(timeout=30)
    assert os.path.isfile(os.path.join(km.mnt, "plant", "c1"))
    fs = a.create_topics([ca.NewTopic("plant.c2", 2, 1)])
    with pytest.raises(Exception) as e:
        fs["plant.c2"].result(timeout=30)
    assert "INVALID_PARTITIONS" in str(e.value)
    assert not os.path.exists(os.path.join(km.mnt, "plant", "c2"))
    res = ca.ConfigResource("topic", "plant.c1")
    configs = a.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == "-1"
    assert configs["max.message.bytes"].value == str(1 << 20)
    assert configs["cleanup.policy"].value == "delete"
    fs = a.delete_topics(["plant.c1"])
    fs["plant.c1"].result(timeout=30)
    assert not os.path.exists(os.path.join(km.mnt, "plant", "c1"))
    assert a.list_groups(timeout=30) == []


def test_confluent_list_groups(km):
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"x\n")
    stop = threading.Event()
    th = threading.Thread(target=kafka_python_member,
                          args=(km, "cg", "plant.temp", stop))
    th.start()
    try:
        a = confluent_admin(km)

        def listed():
            gs = a.list_groups(timeout=30)
            return [g for g in gs if g.id == "cg" and g.state == "Stable"]
        g, = wait_for(listed, timeout=30)
        assert g.protocol_type == "consumer" and len(g.members) == 1
    finally:
        stop.set()
        th.join()


# ---------------------------------------------------------------- access

OTHER = """
import sys
import kafka
from kafka.admin import NewTopic
a = kafka.KafkaAdminClient(bootstrap_servers="127.0.0.1:%d",
                           api_version_auto_timeout_ms=20000)
try:
    if sys.argv[1] == "create":
        a.create_topics([NewTopic(sys.argv[2], 1, 1)])
    else:
        a.delete_topics([sys.argv[2]])
    print("OK")
except kafka.errors.KafkaError as e:
    print(type(e).__name__)
"""


def test_other_user_refused(km, other_user):
    kafka_python()
    mnt = km.mnt
    os.chmod(mnt, 0o755)
    os.mkdir(os.path.join(mnt, "pub"), 0o755)
    append(os.path.join(mnt, "pub", "t"), b"x\n")

    def as_other(*args):
        r = other_user.run([PYTHON, "-c", OTHER % km.port] + list(args))
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    # pub is not the other uid's to write in: no topic, no stream, no rm.
    assert as_other("create", "pub.new") == "TopicAuthorizationFailedError"
    assert not os.path.exists(os.path.join(mnt, "pub", "new"))
    assert as_other("create", "newstream.t") == \
        "TopicAuthorizationFailedError"
    assert not os.path.exists(os.path.join(mnt, "newstream"))
    assert as_other("delete", "pub.t") == "TopicAuthorizationFailedError"
    assert os.path.isfile(os.path.join(mnt, "pub", "t"))
    # Where it may, it does, as through the mount.
    os.chmod(os.path.join(mnt, "pub"), 0o777)
    assert as_other("create", "pub.new") == "OK"
    assert os.stat(os.path.join(mnt, "pub", "new")).st_uid == other_user.uid
    # The sticky bit keeps another's topic.
    os.chmod(os.path.join(mnt, "pub"), 0o1777)
    assert as_other("delete", "pub.t") == "TopicAuthorizationFailedError"
    assert os.path.isfile(os.path.join(mnt, "pub", "t"))
    assert as_other("delete", "pub.new") == "OK"
    assert not os.path.exists(os.path.join(mnt, "pub", "new"))


# ---------------------------------------------------------------- raw frames

CREATE, DELETE, DESCRIBE_CONFIGS = 19, 20, 32
LIST_GROUPS, DESCRIBE_GROUPS = 16, 15


def test_advertised_versions(km):
    err, apis = kw.api_versions(kw.Conn(km.port).request(18, 2))
    assert err == 0
    assert apis[CREATE] == (0, 4) and apis[DELETE] == (0, 3)
    assert apis[DESCRIBE_CONFIGS] == (0, 3)
    assert apis[LIST_GROUPS] == (0, 2) and apis[DESCRIBE_GROUPS] == (0, 4)


def create_body(topics, validate=None):
    """topics: (name, partitions, replication, assignments, configs)."""
    b = struct.pack(">i", len(topics))
    for name, parts, repl, assign, configs in topics:
        b += kw.string(name) + struct.pack(">ih", parts, repl)
        b += struct.pack(">i", len(assign))
        for p, brokers in assign:
            b += struct.pack(">ii", p, len(brokers))
            b += b"".join(struct.pack(">i", x) for x in brokers)
        b += struct.pack(">i", len(configs))
        for k, v in configs:
            b += kw.string(k) + kw.string(v)
    b += struct.pack(">i", 5000)
    if validate is not None:
        b += struct.pack(">b", validate)
    return b


def create_answer(r, v):
    if v >= 2:
        assert r.i32() == 0
    out = {}
    for _ in range(r.i32()):
        name, err = r.string(), r.i16()
        msg = r.string() if v >= 1 else None
        out[name] = (err, msg)
    assert r.left() == 0
    return out


@pytest.mark.parametrize("v", [0, 1, 4])
def test_create_topics_by_frame(km, v):
    c = kw.Conn(km.port)
    os.mkdir(os.path.join(km.mnt, "s"))
    topics = [("s.ok", -1, -1, [], []),
              ("s.assigned", -1, -1, [(0, [0])], []),
              ("s.twice", 1, 1, [], []), ("s.twice", 1, 1, [], []),
              ("s.far", -1, -1, [(0, [1])], []),
              ("bad..name", 1, 1, [], []),
              ("s.conf", 1, 1, [], [("retention.bytes", "10")])]
    got = create_answer(c.request(CREATE, v, create_body(
        topics, validate=0 if v >= 1 else None)), v)
    assert {k: e for k, (e, _) in got.items()} == {
        "s.ok": 0, "s.assigned": 0, "s.twice": 42, "s.far": 39,
        "bad..name": 17, "s.conf": 40}
    if v >= 1:
        assert got["s.ok"][1] is None
        assert "retention.bytes" in got["s.conf"][1]
    assert sorted(os.listdir(os.path.join(km.mnt, "s"))) == [
        "assigned", "ok"]
    # An existing name, a topic or any other file, is taken.
    open(os.path.join(km.mnt, "s", "plain"), "w").close()
    got = create_answer(c.request(CREATE, v, create_body(
        [("s.ok", 1, 1, [], []), ("s.plain", 1, 1, [], [])],
        validate=0 if v >= 1 else None)), v)
    assert {k: e for k, (e, _) in got.items()} == {"s.ok": 36,
                                                    "s.plain": 36}
    # The system stream is never changed.
    got = create_answer(c.request(CREATE, v, create_body(
        [("_2estreamfs.mine", 1, 1, [], [])],
        validate=0 if v >= 1 else None)), v)
    assert got["_2estreamfs.mine"][0] == 29


def delete_answer(r, v):
    if v >= 1:
        assert r.i32() == 0
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        out[name] = r.i16()
    assert r.left() == 0
    return out


@pytest.mark.parametrize("v", [0, 3])
def test_delete_topics_by_frame(km, v):
    c = kw.Conn(km.port)
    os.mkdir(os.path.join(km.mnt, "s"))
    append(os.path.join(km.mnt, "s", "t"), b"x\n")
    with open(os.path.join(km.mnt, "s", "blob"), "wb") as f:
        f.write(b"zz")
        f.seek(0)
        f.write(b"y")
    names = ["s.t", "s.gone", "s.blob", "s", "_2estreamfs.errors", "a..b"]
    body = struct.pack(">i", len(names)) + b"".join(
        kw.string(n) for n in names) + struct.pack(">i", 5000)
    assert delete_answer(c.request(DELETE, v, body), v) == {
        "s.t": 0, "s.gone": 3, "s.blob": 3, "s": 3,
        "_2estreamfs.errors": 29, "a..b": 3}
    assert os.listdir(os.path.join(km.mnt, "s")) == ["blob"]
    assert os.path.exists(os.path.join(km.mnt, ".streamfs", "errors"))


def describe_configs(c, v, resources, names=None):
    b = struct.pack(">i", len(resources))
    for rtype, rname in resources:
        b += struct.pack(">b", rtype) + kw.string(rname)
        if names is None:
            b += struct.pack(">i", -1)
        else:
            b += struct.pack(">i", len(names)) + b"".join(
                kw.string(n) for n in names)
    if v >= 1:
        b += b"\0"                      # include_synonyms
    if v >= 3:
        b += b"\1"                      # include_documentation
    r = c.request(DESCRIBE_CONFIGS, v, b)
    assert r.i32() == 0
    out = []
    for _ in range(r.i32()):
        err, msg, rtype, rname = r.i16(), r.string(), r.i8(), r.string()
        configs = {}
        for _ in range(r.i32()):
            name, value, ro = r.string(), r.string(), r.i8()
            d = {"value": value, "read_only": ro}
            if v == 0:
                d["default"] = r.i8()
            else:
                d["source"] = r.i8()
            assert r.i8() == 0          # is_sensitive
            if v >= 1:
                assert r.i32() == 0     # synonyms
            if v >= 3:
                d["type"], d["doc"] = r.i8(), r.string()
            configs[name] = d
        out.append((err, msg, rtype, rname, configs))
    assert r.left() == 0
    return out


@pytest.mark.parametrize("v", [0, 1, 3])
def test_describe_configs_by_frame(km, v):
    c = kw.Conn(km.port)
    os.mkdir(os.path.join(km.mnt, "s"))
    os.setxattr(os.path.join(km.mnt, "s"), "user.streamfs.retention_bytes",
                b"1m")
    append(os.path.join(km.mnt, "s", "t"), b"x\n")
    (err, msg, rtype, name, configs), = describe_configs(
        c, v, [(2, "s.t")])
    assert (err, msg, rtype, name) == (0, None, 2, "s.t")
    rb, ms = configs["retention.bytes"], configs["retention.ms"]
    assert rb["value"] == str(1 << 20) and ms["value"] == "-1"
    if v == 0:
        assert (rb["default"], ms["default"]) == (0, 1)
    else:
        assert (rb["source"], ms["source"]) == (1, 5)
    if v >= 3:
        assert rb["type"] == 5 and "retention_bytes" in rb["doc"]
    assert all(d["read_only"] == 1 for d in configs.values())
    # Only the names asked for; a name streamfs has not is left out.
    (_, _, _, _, configs), = describe_configs(
        c, v, [(2, "s.t")], names=["retention.ms", "segment.bytes"])
    assert list(configs) == ["retention.ms"]
    res = describe_configs(c, v, [(2, "s.none"), (4, "0"), (4, "7"),
                                  (3, "g")])
    assert [x[0] for x in res] == [3, 0, 42, 42]
    assert res[1][4]["broker.id"]["value"] == "0"
    assert res[0][4] == {} and res[2][4] == {}


def test_describe_configs_denied(km, other_user):
    os.chmod(km.mnt, 0o755)
    os.mkdir(os.path.join(km.mnt, "s"))
    append(os.path.join(km.mnt, "s", "t"), b"x\n")
    os.chmod(os.path.join(km.mnt, "s", "t"), 0o600)
    prog = ("import sys; sys.path.insert(0, %r)\n"
            "import kafka_wire as kw, struct\n"
            "c = kw.Conn(%d)\n"
            "b = struct.pack('>ib', 1, 2) + kw.string('s.t') + "
            "struct.pack('>ib', -1, 0)\n"
            "r = c.request(32, 1, b); r.i32(); r.i32()\n"
            "print(r.i16())\n" % (os.path.dirname(__file__), km.port))
    r = other_user.run([PYTHON, "-c", prog])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "29"


@pytest.mark.parametrize("v", [0, 2])
def test_list_and_describe_groups_by_frame(km, v):
    c = kw.Conn(km.port)
    r = c.request(LIST_GROUPS, v)
    if v >= 1:
        assert r.i32() == 0
    assert (r.i16(), r.i32(), r.left()) == (0, 0, 0)
    # JoinGroup v0 of a member with no id: a group of one.
    join = (kw.string("jg") + struct.pack(">i", 10000) + kw.string("") +
            kw.string("consumer") + struct.pack(">i", 1) +
            kw.string("range") + struct.pack(">i", 3) + b"abc")
    r = c.request(11, 0, join)
    assert r.i16() == 0
    r = c.request(LIST_GROUPS, v)
    if v >= 1:
        r.i32()
    assert (r.i16(), r.i32(), r.string(), r.string()) == (
        0, 1, "jg", "consumer")
    for dv in (0, 4):
        b = struct.pack(">i", 3) + kw.string("jg") + kw.string("none") + \
            kw.string("bad/id")
        if dv >= 3:
            b += b"\0"
        r = c.request(DESCRIBE_GROUPS, dv, b)
        if dv >= 1:
            assert r.i32() == 0
        assert r.i32() == 3
        assert (r.i16(), r.string(), r.string(), r.string(),
                r.string()) == (0, "jg", "CompletingRebalance", "consumer",
                                "range")
        assert r.i32() == 1
        assert r.string().startswith("test-")
        if dv >= 4:
            assert r.string() is None   # group_instance_id
        assert (r.string(), r.string()) == ("test", "")
        assert r.take(r.i32()) == b"abc"
        assert r.i32() == 0             # no assignment yet
        if dv >= 3:
            r.i32()
        assert (r.i16(), r.string(), r.string(), r.string(), r.string(),
                r.i32()) == (0, "none", "Dead", "", "", 0)
        if dv >= 3:
            r.i32()
        assert (r.i16(), r.string(), r.string(), r.string(), r.string(),
                r.i32()) == (24, "bad/id", "Dead", "", "", 0)
        if dv >= 3:
            r.i32()
        assert r.left() == 0


def test_refused_topic_takes_its_new_stream_back(km, other_user):
    """The other uid may make directories in open/, but the new stream
    inherits open/'s topic ACE, which lets only root make topics: the
    directories made for the topic are removed again."""
    kafka_python()
    os.chmod(km.mnt, 0o755)
    os.mkdir(os.path.join(km.mnt, "open"), 0o777)
    os.chmod(os.path.join(km.mnt, "open"), 0o777)
    os.setxattr(os.path.join(km.mnt, "open"), "user.streamfs.ace.topic",
                b"u:0")
    r = other_user.run([PYTHON, "-c", OTHER % km.port, "create",
                        "open.a.b.t"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "TopicAuthorizationFailedError"
    assert os.listdir(os.path.join(km.mnt, "open")) == []

    # The denial is reported to the errors stream, as the mount's are.
    def reported():
        with open(os.path.join(km.mnt, ".streamfs", "errors")) as f:
            return [e for e in map(json.loads, f)
                    if e.get("type") == "denied" and
                    e.get("op") == "kafka create_topics"]
    e, = wait_for(reported, timeout=10)
    assert e["uid"] == other_user.uid and e["perm"] == "topic"


@pytest.mark.parametrize("api,body", [
    (CREATE, create_body([("t%d" % i, 1, 1, [], []) for i in range(4097)],
                         validate=1)),
    (DELETE, struct.pack(">i", 4097) + kw.string("t") * 4097 +
     struct.pack(">i", 0)),
    (DESCRIBE_CONFIGS, struct.pack(">i", 4097) +
     (struct.pack(">b", 4) + kw.string("0") + struct.pack(">i", -1)) * 4097
     + b"\0"),
    # A count the frame cannot hold, and a truncated topic.
    (CREATE, struct.pack(">i", 1 << 20) + b"\0" * 64),
    (CREATE, struct.pack(">i", 1) + kw.string("t") + b"\0\0"),
], ids=["create-4097", "delete-4097", "configs-4097", "create-count",
        "create-short"])
def test_oversized_or_short_admin_request_closes(km, api, body):
    c = kw.Conn(km.port)
    c.send(kw.frame(kw.header(api, 1, 1) + body))
    assert c.closed()
    # Nothing was made, and the listener still answers.
    assert kw.api_versions(kw.Conn(km.port).request(18, 0))[0] == 0
    assert not [n for n in os.listdir(km.mnt) if n.startswith("t")]
