"""The Kafka listener (-o kafka=ADDR:PORT) against real clients: kcat and
kafka-python see the topics made through the mount under their mapped
names, and ListOffsets gives the message offsets streamctl gives; a raw
socket client sends what no client would (malformed frames, sizes over
the limit, unknown APIs, a stalled half frame, many connections); another
uid sees only the topics it may read."""
import json
import re
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from util import (BUILD, OTHER_UID, PYTHON, append, info, read,
                  refused_mount, run)

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STREAMCTL = str(BUILD / "tools" / "streamctl")


def kafka_mount(mount_factory, extra=()):
    port = kw.free_port()
    m = mount_factory(["kafka=127.0.0.1:%d" % port] + list(extra))
    m.port = port
    return m


@pytest.fixture
def km(mount_factory):
    return kafka_mount(mount_factory)


def need(prog):
    if shutil.which(prog) is None:
        pytest.skip("%s is not installed" % prog)


def kafka_python():
    try:
        import kafka                    # noqa: F401
    except ImportError:
        pytest.skip("kafka-python (python3-kafka) is not installed")
    import kafka
    return kafka


def make_topics(mnt):
    os.mkdir(os.path.join(mnt, "plant"))
    append(os.path.join(mnt, "plant", "temp"), b"1\n2\n")
    os.mkdir(os.path.join(mnt, "a.b"))
    append(os.path.join(mnt, "a.b", "c_1"), b"x\n")
    os.mkdir(os.path.join(mnt, "x y"))
    append(os.path.join(mnt, "x y", "t_ab"), b"x\n")
    # A blob and an empty file are no topics.
    with open(os.path.join(mnt, "plant", "blob"), "wb") as f:
        f.write(b"zz")
        f.seek(0)
        f.write(b"y")
    open(os.path.join(mnt, "plant", "empty"), "wb").close()


MAPPED = {"plant.temp", "a_2eb.c_1", "x_20y.t_5fab"}


# ---------------------------------------------------------------- clients

def test_kcat_lists_topics(km):
    need("kcat")
    make_topics(km.mnt)
    r = run(["kcat", "-b", "127.0.0.1:%d" % km.port, "-L", "-J",
             "-m", "10"])
    md = json.loads(r.stdout)
    names = {t["topic"] for t in md["topics"]}
    assert MAPPED <= names
    assert not any("blob" in n or "empty" in n for n in names)
    assert md["brokers"] == [{"id": 0, "name": "127.0.0.1:%d" % km.port}]
    for t in md["topics"]:
        assert [p["partition"] for p in t["partitions"]] == [0]
        p = t["partitions"][0]
        assert p["leader"] == 0 and p["replicas"] == [{"id": 0}]
        assert p["isrs"] == [{"id": 0}]
    # One topic asked for, by its name and by MapR's.
    r = run(["kcat", "-b", "127.0.0.1:%d" % km.port, "-L", "-J",
             "-t", "plant.temp", "-m", "10"])
    assert [t["topic"] for t in json.loads(r.stdout)["topics"]] == \
        ["plant.temp"]


def test_kafka_python_metadata(km):
    kafka = kafka_python()
    from kafka.admin import KafkaAdminClient
    make_topics(km.mnt)
    boot = "127.0.0.1:%d" % km.port
    c = kafka.KafkaConsumer(bootstrap_servers=boot)
    try:
        assert MAPPED <= c.topics()
        assert c.partitions_for_topic("plant.temp") == {0}
        assert c.partitions_for_topic("no.such") is None
    finally:
        c.close()
    a = KafkaAdminClient(bootstrap_servers=boot)
    try:
        assert MAPPED <= set(a.list_topics())
        cl = a.describe_cluster()
        assert cl["cluster_id"] == "streamfs"
        assert cl["controller_id"] == 0
        assert cl["brokers"] == [{"node_id": 0, "host": "127.0.0.1",
                                  "port": km.port, "rack": None}]
    finally:
        a.close()


def test_kafka_python_offsets(km):
    kafka = kafka_python()
    topic = os.path.join(km.mnt, "plant", "temp")
    os.mkdir(os.path.dirname(topic))
    append(topic, b"a\nb\n")
    time.sleep(0.01)                    # so that c arrives in a later ms
    append(topic, b"c\n")
    i = info(topic)
    assert i["first_time"] // 10**6 < i["last_time"] // 10**6
    r = run([STREAMCTL, "info", topic])
    assert "first_message:   0" in r.stdout
    assert "last_message:    2" in r.stdout
    c = kafka.KafkaConsumer(bootstrap_servers="127.0.0.1:%d" % km.port)
    tp = kafka.TopicPartition("plant.temp", 0)
    try:
        assert c.end_offsets([tp]) == {tp: i["last_message"] + 1}
        assert c.beginning_offsets([tp]) == {tp: i["first_message"]}
        first_ms, last_ms = i["first_time"] // 10**6, i["last_time"] // 10**6
        got = c.offsets_for_times({tp: 0})[tp]
        assert (got.offset, got.timestamp) == (0, first_ms)
        got = c.offsets_for_times({tp: last_ms})[tp]
        assert (got.offset, got.timestamp) == (2, last_ms)
        assert c.offsets_for_times({tp: last_ms + 1})[tp] is None
    finally:
        c.close()


def test_list_offsets_errors(km):
    make_topics(km.mnt)
    c = kw.Conn(km.port)
    assert kw.list_offsets(c, "plant.temp", -1) == (0, 2)
    assert kw.list_offsets(c, "plant.temp", -2) == (0, 0)
    assert kw.list_offsets(c, "/plant:temp", -1) == (0, 2)
    assert kw.list_offsets(c, "plant.temp", -1, partition=1) == (3, -1)
    assert kw.list_offsets(c, "plant.none", -1) == (3, -1)
    assert kw.list_offsets(c, "plant.blob", -1) == (3, -1)
    assert kw.list_offsets(c, "bad name", -1) == (3, -1)
    assert kw.list_offsets(c, "plant.temp", -3) == (42, -1)


def test_metadata_asked_for(km):
    make_topics(km.mnt)
    c = kw.Conn(km.port)
    got = kw.metadata(c, ["plant.temp", "/plant:temp", "bad name",
                          "a.b.c_1", "plant.blob"], version=4, create=False)
    assert got == {"plant.temp": 0, "/plant:temp": 0, "bad name": 17,
                   "a.b.c_1": 3, "plant.blob": 3}
    assert kw.metadata(c, []) == {}             # v1: an empty list is none
    assert MAPPED <= set(kw.metadata(c, None))
    assert MAPPED <= set(kw.metadata(c, [], version=0))   # v0: all


def test_metadata_creates(km):
    make_topics(km.mnt)
    plant = os.path.join(km.mnt, "plant")
    c = kw.Conn(km.port)
    # v4 with allow_auto_topic_creation false: nothing is made.
    assert kw.metadata(c, ["plant.new"], version=4, create=False) == {
        "plant.new": 3}
    assert not os.path.exists(os.path.join(plant, "new"))
    # Allowed (v4 asking, v1 always): made in its stream, a topic at once.
    assert kw.metadata(c, ["plant.new"], version=4) == {"plant.new": 0}
    assert kw.metadata(c, ["/plant:new2"], version=1) == {"/plant:new2": 0}
    for name in ("new", "new2"):
        path = os.path.join(plant, name)
        assert os.stat(path).st_mode & 0o7777 == 0o644
        assert os.getxattr(path, "user.streamfs.kind") == b"topic"
        assert info(path)["messages"] == 0
    assert {"plant.new", "plant.new2"} <= set(kw.metadata(c, None))
    assert kw.list_offsets(c, "plant.new", -1) == (0, 0)
    # No stream is made, nor a topic over a blob or in the system stream.
    assert kw.metadata(c, ["nostream.x", "plant.blob", "plant.empty",
                           "_2estreamfs.new"]) == {
        "nostream.x": 3, "plant.blob": 3, "plant.empty": 3,
        "_2estreamfs.new": 29}
    assert not os.path.exists(os.path.join(km.mnt, "nostream"))
    assert not os.path.exists(os.path.join(km.mnt, ".streamfs", "new"))


# ---------------------------------------------------------------- the wire

def test_api_versions(km):
    c = kw.Conn(km.port)
    for v in (0, 1, 2):
        err, apis = kw.api_versions(c.request(18, v))
        assert err == 0
        assert apis[18] == (0, 3) and apis[3] == (0, 8) and apis[2] == (1, 5)
    # v3: a flexible body (client software name and version) and a
    # flexible response, under a response header without tagged fields.
    body = b"\x05kcat\x061.0.0\x00"
    r = c.request(18, 3, body, flexible=True)
    err, apis = kw.api_versions(r, flexible=True)
    assert err == 0 and apis[18] == (0, 3)
    assert r.i32() == 0 and r.uvarint() == 0 and r.left() == 0
    # A version not served: UNSUPPORTED_VERSION and the table, as v0.
    err, apis = kw.api_versions(c.request(18, 9, flexible=True))
    assert err == 35 and apis[18] == (0, 3)
    # The connection goes on.
    assert kw.api_versions(c.request(18, 0))[0] == 0


def closes(port, data):
    c = kw.Conn(port, timeout=10)
    c.send(data)
    return c.closed()


def test_bad_frames_close(km):
    port = km.port
    # Sizes: too small for a header, negative, over the 64 MiB limit (the
    # body never comes).
    assert closes(port, struct.pack(">i", 4) + b"\0" * 4)
    assert closes(port, struct.pack(">i", -1))
    assert closes(port, struct.pack(">i", (64 << 20) + 1))
    # An unknown API key, a version not served, a client id past the end.
    assert closes(port, kw.frame(kw.header(999, 0, 1)))
    assert closes(port, kw.frame(kw.header(-1, 0, 1)))
    assert closes(port, kw.frame(kw.header(3, 99, 1)))
    assert closes(port, kw.frame(struct.pack(">hhih", 18, 0, 1, 50) + b"ab"))
    # A Metadata body that stops short.
    assert closes(port, kw.frame(kw.header(3, 1, 1) + b"\0\0\0\5\0\3ab"))
    # Bad input changed nothing: the listener still answers.
    assert kw.api_versions(kw.Conn(port).request(18, 0))[0] == 0


def test_frame_at_the_limit(km):
    # 64 MiB exactly is a frame (ApiVersions v0 reads no body), served.
    c = kw.Conn(km.port, timeout=60)
    head = kw.header(18, 0, 11)
    c.send(struct.pack(">i", 64 << 20) + head)
    chunk = b"\0" * (1 << 20)
    left = (64 << 20) - len(head)
    while left:
        n = min(left, len(chunk))
        c.send(chunk[:n])
        left -= n
    assert c.response()[0] == 11
    assert kw.api_versions(c.request(18, 0))[0] == 0


def test_pipelined_in_order(km):
    c = kw.Conn(km.port)
    c.send(b"".join(kw.frame(kw.header(18, v, 100 + i))
                    for i, v in enumerate((0, 1, 2, 0))))
    assert [c.response()[0] for _ in range(4)] == [100, 101, 102, 103]


def test_stalled_half_frame(km):
    stalled = kw.Conn(km.port)
    stalled.send(struct.pack(">i", 1000) + b"\0\x12\0\0")
    other = kw.Conn(km.port)
    assert kw.api_versions(other.request(18, 0))[0] == 0
    # The stalled one still waits for its frame: send the rest, and it is
    # served.
    rest = kw.header(18, 0, 7)[4:]
    stalled.send(rest + b"\0" * (1000 - 4 - len(rest)))
    assert stalled.response()[0] == 7


def test_many_connections(km):
    conns = [kw.Conn(km.port) for _ in range(300)]
    for c in conns:
        c.send(kw.frame(kw.header(18, 0, 5)))
    for c in conns:
        assert c.response()[0] == 5
    for c in conns:
        c.close()


def test_connection_cap(km):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 + 200
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip("the open-file limit (%d) is below %d" % (hard, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    km.expect_log(r"kafka: 4096 connections: closing new ones")
    conns = []
    try:
        for i in range(4096):
            conns.append(kw.Conn(km.port))
            conns[-1].send(kw.frame(kw.header(18, 0, i)))
        for i, c in enumerate(conns):
            assert c.response()[0] == i
        # The next is closed at once; with one gone, a new one is served.
        extra = kw.Conn(km.port)
        extra.send(kw.frame(kw.header(18, 0, 1)))
        assert extra.closed()
        conns.pop().close()
        for _ in range(100):
            c = kw.Conn(km.port)
            try:
                c.send(kw.frame(kw.header(18, 0, 2)))
                if c.response()[0] == 2:
                    break
            except (EOFError, ConnectionResetError):
                time.sleep(0.05)        # the close is not seen yet
            finally:
                c.close()
        else:
            pytest.fail("no connection served after one was closed")
    finally:
        for c in conns:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---------------------------------------------------------------- options

def test_two_listeners(mount_factory):
    p1, p2 = kw.free_port(), kw.free_port()
    opts = ["kafka=127.0.0.1:%d" % p1, "kafka=127.0.0.1:%d" % p2]
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        p3 = kw.free_port()
        opts.append("kafka=[::1]:%d" % p3)
    except OSError:
        p3 = None
    m = mount_factory(opts)
    os.mkdir(os.path.join(m.mnt, "s"))
    append(os.path.join(m.mnt, "s", "t"), b"x\n")
    for p in (p1, p2):
        c = kw.Conn(p)
        assert "s.t" in kw.metadata(c, None)
    if p3:
        c = socket.create_connection(("::1", p3), timeout=10)
        c.sendall(kw.frame(kw.header(18, 0, 3)))
        assert c.recv(8)[4:8] == struct.pack(">i", 3)


def test_wildcard_listener_advertises_the_address_reached(mount_factory):
    port = kw.free_port()
    m = mount_factory(["kafka=0.0.0.0:%d" % port])
    c = kw.Conn(port)
    r = c.request(3, 1, struct.pack(">i", 0))
    assert r.i32() == 1
    assert (r.i32(), r.string(), r.i32()) == (0, "127.0.0.1", port)


@pytest.mark.parametrize("spec", ["127.0.0.1", "127.0.0.1:0",
                                  "127.0.0.1:70000", "[::1:9092",
                                  "no.such.host.invalid:9092", ":9092"])
def test_bad_kafka_option(tmp_path, spec):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([str(BUILD / "fs" / "streamfs"), "-f", "-o",
                        "kafka=" + spec, str(tmp_path / "data"), str(mnt)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "unknown option" not in r.stderr
    assert re.search(r"error: (invalid )?kafka=%s[ :]" % re.escape(spec),
                     r.stderr), r.stderr


def test_port_in_use(mount_factory, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        r = subprocess.run([str(BUILD / "fs" / "streamfs"), "-f", "-o",
                            "kafka=127.0.0.1:%d" % port,
                            str(tmp_path / "data"), str(mnt)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "cannot listen on 127.0.0.1 port %d" % port in r.stderr


# ---------------------------------------------------------------- access

def test_other_user_sees_its_topics(km, other_user):
    mnt = km.mnt
    os.chmod(mnt, 0o755)
    for s, mode in (("pub", 0o644), ("priv", 0o600)):
        os.mkdir(os.path.join(mnt, s))
        append(os.path.join(mnt, s, "t"), b"x\n")
        os.chmod(os.path.join(mnt, s, "t"), mode)
    os.mkdir(os.path.join(mnt, "closed"), 0o700)
    append(os.path.join(mnt, "closed", "t"), b"x\n")
    os.chmod(os.path.join(mnt, "closed", "t"), 0o644)
    wire = os.path.join(HERE, "kafka_wire.py")

    def as_other(*args):
        r = other_user.run([PYTHON, wire, str(km.port)] + list(args))
        assert r.returncode == 0, r.stderr
        return r.stdout.split("\n")[:-1]

    # Root sees all three; the other uid only pub.t (and the system
    # stream's topics, which every user may read).
    assert {"pub.t", "priv.t", "closed.t"} <= set(
        kw.metadata(kw.Conn(km.port), None))
    seen = {line.split()[0] for line in as_other("metadata")}
    assert "pub.t" in seen
    assert not {"priv.t", "closed.t"} & seen
    assert as_other("metadata", "pub.t", "priv.t", "closed.t") == [
        "closed.t 29", "priv.t 29", "pub.t 0"]
    assert as_other("offsets", "pub.t") == ["0 1"]
    assert as_other("offsets", "priv.t") == ["29 -1"]
    assert as_other("offsets", "closed.t") == ["29 -1"]
    # Making a topic takes the stream's topic permission.
    os.chmod(os.path.join(mnt, "pub"), 0o755)
    assert as_other("metadata", "pub.new") == ["pub.new 29"]
    assert not os.path.exists(os.path.join(mnt, "pub", "new"))
    os.chmod(os.path.join(mnt, "pub"), 0o777)
    assert as_other("metadata", "pub.new") == ["pub.new 0"]
    assert os.stat(os.path.join(mnt, "pub", "new")).st_uid == other_user.uid
    if shutil.which("kcat"):
        r = other_user.run(["kcat", "-b", "127.0.0.1:%d" % km.port, "-L",
                            "-J", "-m", "10"])
        names = {t["topic"] for t in json.loads(r.stdout)["topics"]}
        assert "pub.t" in names and "priv.t" not in names


# ---------------------------------------------------------------- peers

@pytest.fixture
def netns():
    """Another network namespace joined to this one by a veth pair:
    (run argv in it, this side's address, its address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip(8) for a network namespace")
    tag = "%x" % (os.getpid() & 0xffffff)
    ns, here, there = "sfk-" + tag, "sfka" + tag, "sfkb" + tag
    net = "10.213.%d" % (os.getpid() % 250)
    steps = [["ip", "netns", "add", ns],
             ["ip", "link", "add", here, "type", "veth", "peer", "name",
              there],
             ["ip", "link", "set", there, "netns", ns],
             ["ip", "addr", "add", net + ".1/30", "dev", here],
             ["ip", "link", "set", here, "up"],
             ["ip", "netns", "exec", ns, "ip", "addr", "add", net + ".2/30",
              "dev", there],
             ["ip", "netns", "exec", ns, "ip", "link", "set", there, "up"]]
    try:
        for s in steps:
            r = subprocess.run(s, capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip("cannot set up a network namespace: %s"
                            % r.stderr.strip())
        yield (lambda argv: subprocess.run(
            ["ip", "netns", "exec", ns] + [str(a) for a in argv],
            capture_output=True, text=True, timeout=60)), net + ".1", \
            net + ".2"
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_remote_peer_acts_as_the_remote_user(mount_factory, netns):
    """With -o kafka_remote_user=USER a client on another host, which has
    no identity here, acts as USER: it sees and may do what USER may."""
    run_there, here, there = netns
    port = kw.free_port()
    m = mount_factory(["kafka=%s:%d" % (here, port),
                       "kafka_remote_user=%d" % OTHER_UID])
    for stream, mode in (("open", 0o755), ("closed", 0o700)):
        os.mkdir(os.path.join(m.mnt, stream))
        os.chmod(os.path.join(m.mnt, stream), mode)
        append(os.path.join(m.mnt, stream, "t"), b"x\n")
    prog = ("import sys\n"
            "sys.path.insert(0, %r)\n"
            "import kafka_wire as kw\n"
            "from test_kafka_idempotence import batch, produce\n"
            "c = kw.Conn(%d, host=%r)\n"
            "print(sorted(kw.metadata(c, None)))\n"
            "print(kw.metadata(c, ['open.t', 'closed.t'], create=False))\n"
            "print(produce(c, batch([b'y']), topic='open.t')[0])\n"
            % (HERE, port, here))
    r = run_there([PYTHON, "-c", prog])
    assert r.returncode == 0, r.stderr
    listed, named, produced = r.stdout.splitlines()
    assert listed == "['open.t']"               # closed/ is not searchable
    assert named == "{'open.t': 0, 'closed.t': 29}"
    assert produced == "29"                     # 0644: no write for others
    assert read(os.path.join(m.mnt, "open", "t")) == b"x\n"


@pytest.mark.parametrize("value", ["", "no-such-user-here", "-1"])
def test_bad_remote_user_is_refused(tmp_path, value):
    err = refused_mount(str(tmp_path), "kafka_remote_user=" + value)
    assert "invalid kafka_remote_user=%s (no such user" % value in err


def test_remote_user_needs_a_plain_listener(tmp_path):
    err = refused_mount(str(tmp_path), "kafka_remote_user=%d" % OTHER_UID)
    assert "kafka_remote_user needs a kafka=ADDR:PORT listener" in err


def test_remote_peer_refused(mount_factory, netns):
    run_there, here, there = netns
    port = kw.free_port()
    m = mount_factory(["kafka=%s:%d" % (here, port)])
    m.expect_log(r"kafka: refused a connection from %s port \d+: not a "
                 r"process of this host" % re.escape(there))
    os.mkdir(os.path.join(m.mnt, "s"))
    append(os.path.join(m.mnt, "s", "t"), b"x\n")
    # From this host, on the same (not loopback) address: served, and the
    # broker advertised is that address.
    s = socket.create_connection((here, port), timeout=10)
    s.sendall(kw.frame(kw.header(18, 0, 9)))
    assert s.recv(8)[4:8] == struct.pack(">i", 9)
    s.close()
    # From the other namespace: the same bytes get a closed connection.
    prog = ("import socket, struct\n"
            "s = socket.create_connection(('%s', %d), timeout=10)\n"
            "try:\n"
            "    s.sendall(struct.pack('>ihhih', 10, 18, 0, 9, 0))\n"
            "    print(repr(s.recv(100)))\n"
            "except ConnectionResetError:\n"  # closed with the bytes unread
            "    print(repr(b''))\n" % (here, port))
    r = run_there([PYTHON, "-c", prog])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "b''"
    log = m.log_text()
    assert re.search(r"refused a connection from %s port" % re.escape(there),
                     log)
