"""Produce and Fetch through the Kafka listener, against real clients
(kcat, kafka-python, confluent-kafka) and a raw socket client: what a
Kafka client produces is in the file and in `streamctl tail`, what the
mount appends is fetched; keys, headers and CreateTimes come back
identical; every compression codec; fetch from an offset and from the
end with a wait; OFFSET_OUT_OF_RANGE after retention; another uid is
denied."""
import os
import select
import struct
import subprocess
import sys
import threading

import pytest

from util import BUILD, PFX, append, getx, read, run, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from kafka_util import SEED, need, seeded_mount  # noqa: E402
from test_kafka_idempotence import batch, produce  # noqa: E402

STREAMCTL = str(BUILD / "tools" / "streamctl")


@pytest.fixture
def km(mount_factory):
    return seeded_mount(mount_factory)


def kafka_python():
    try:
        import kafka
    except ImportError:
        pytest.skip("kafka-python (python3-kafka) is not installed")
    return kafka


def kcat(km, *args, input=None, check=True):
    need("kcat")
    return subprocess.run(["kcat", "-b", km.broker] + list(args),
                          input=input, capture_output=True, timeout=60,
                          check=check)


def consume_all(km, *args):
    return kcat(km, "-C", "-t", "plant.temp", "-e", "-q", *args).stdout


# ---------------------------------------------------------------- wire

def string(s):
    return kw.string(s)


def fetch_body(name, offset, max_wait=0, min_bytes=1, pmax=1 << 20):
    """A Fetch v4 request for partition 0 of one topic."""
    return (struct.pack(">iiiib", -1, max_wait, min_bytes, 1 << 20, 0) +
            struct.pack(">i", 1) + string(name) +
            struct.pack(">iiqi", 1, 0, offset, pmax))


def fetch_response(r):
    """(error, high watermark, records bytes) of a one-partition Fetch v4
    response."""
    r.i32()                                     # throttle
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()
    err, hw = r.i16(), r.i64()
    r.i64()                                     # last stable offset
    n = r.i32()                                 # aborted transactions
    r.take(16 * max(n, 0))
    size = r.i32()
    return err, hw, r.take(size) if size > 0 else b""


def fetch(km, offset, **kw_):
    c = kw.Conn(km.port)
    try:
        return fetch_response(c.request(1, 4, fetch_body("plant.temp",
                                                         offset, **kw_)))
    finally:
        c.close()


# ---------------------------------------------------------------- produce

def test_kcat_lines_in_file_and_tail(km):
    kcat(km, "-P", "-t", "plant.temp", input=b"one\ntwo\nthree\n")
    assert read(km.topic) == SEED + b"one\ntwo\nthree\n"
    r = run([STREAMCTL, "tail", "-o", "1", km.topic])
    assert r.stdout == "one\ntwo\nthree\n"
    # A value with its own newline is one line, not two.
    kcat(km, "-P", "-t", "plant.temp", "-D", "|", input=b"four\n|five")
    assert read(km.topic) == SEED + b"one\ntwo\nthree\nfour\nfive\n"


def test_kafka_append_wakes_tail_follower(km):
    p = subprocess.Popen([STREAMCTL, "tail", "-f", "-c", "2", km.topic],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == SEED
        kcat(km, "-P", "-t", "plant.temp", input=b"second\n")
        # The follower waits in poll(): it must be woken, not time out.
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready, "the follower was not woken"
        assert p.stdout.readline() == b"second\n"
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_mount_append_fetched(km):
    subprocess.run("echo hi >> %s" % km.topic, shell=True, check=True)
    assert consume_all(km, "-o", "beginning") == SEED + b"hi\n"
    # Messages from the mount: null key, no headers.
    out = consume_all(km, "-o", "1", "-f", "%K|%k|%h|%s\n")
    assert out == b"-1|||hi\n"


def test_kcat_keys_and_headers(km):
    kcat(km, "-P", "-t", "plant.temp", "-K:", "-H", "h1=x", "-H", "h2=",
         input=b"k1:v1\nk2:v2\n")
    out = consume_all(km, "-o", "1", "-f", "%k %h %s\n")
    assert out == b"k1 h1=x,h2= v1\nk2 h1=x,h2= v2\n"
    assert read(km.topic) == SEED + b"v1\nv2\n"


def test_keys_survive_kill9_and_restart(km):
    kcat(km, "-P", "-t", "plant.temp", "-K:", "-H", "h=1",
         input=b"k1:v1\nk2:v2\n")
    km.kill9()
    km.start()                      # recovery indexes the records again
    assert read(km.topic) == SEED + b"v1\nv2\n"
    out = consume_all(km, "-o", "1", "-f", "%k %h %s\n")
    assert out == b"k1 h=1 v1\nk2 h=1 v2\n"
    km.restart()
    assert consume_all(km, "-o", "1", "-f", "%k %h %s\n") == out


def test_kafka_python_key_headers_create_time(km):
    kafka = kafka_python()
    p = kafka.KafkaProducer(bootstrap_servers=km.broker)
    hdrs = [("bin", b"\x00\x01\xff\n"), ("empty", b""), ("bin", b"again")]
    p.send("plant.temp", b"v1", key=b"\x00key\n", headers=hdrs,
           timestamp_ms=1234567890123).get(timeout=30)
    p.send("plant.temp", b"v2", key=None).get(timeout=30)
    p.close()
    append(km.topic, b"mnt\n")
    c = kafka.KafkaConsumer("plant.temp", bootstrap_servers=km.broker,
                            auto_offset_reset="earliest",
                            consumer_timeout_ms=10000)
    got = []
    for m in c:
        if m.offset:
            got.append(m)
        if len(got) == 3:
            break
    c.close()
    assert [m.offset for m in got] == [1, 2, 3]
    assert [m.value for m in got] == [b"v1", b"v2", b"mnt"]
    assert got[0].key == b"\x00key\n"
    assert got[0].headers == hdrs
    assert got[0].timestamp == 1234567890123
    assert got[0].timestamp_type == 0           # CreateTime
    assert got[1].key is None and got[2].key is None
    assert got[2].headers == []
    assert read(km.topic) == SEED + b"v1\nv2\nmnt\n"


def test_null_value_comes_back_null(km):
    kafka = kafka_python()
    p = kafka.KafkaProducer(bootstrap_servers=km.broker)
    p.send("plant.temp", None, key=b"gone").get(timeout=30)
    p.send("plant.temp", b"", key=b"empty").get(timeout=30)
    p.close()
    km.restart()                # the mark is stored, not remembered
    c = kafka.KafkaConsumer("plant.temp", bootstrap_servers=km.broker,
                            auto_offset_reset="earliest",
                            consumer_timeout_ms=10000)
    got = [m for _, m in zip(range(3), c)][1:]
    c.close()
    assert [(m.key, m.value) for m in got] == [(b"gone", None),
                                               (b"empty", b"")]
    # File readers see an empty line for each.
    assert read(km.topic) == SEED + b"\n\n"


def test_confluent_kafka_round_trip(km):
    ck = pytest.importorskip("confluent_kafka")
    p = ck.Producer({"bootstrap.servers": km.broker})
    p.produce("plant.temp", value=b"cv", key=b"ck",
              headers=[("h", b"1")], timestamp=1600000000000)
    assert p.flush(30) == 0
    c = ck.Consumer({"bootstrap.servers": km.broker, "group.id": "g",
                     "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})
    c.assign([ck.TopicPartition("plant.temp", 0, 1)])
    m = None
    for _ in range(20):
        m = c.poll(1.0)
        if m is not None and not m.error():
            break
    c.close()
    assert m is not None and m.error() is None
    assert (m.key(), m.value(), m.headers()) == (b"ck", b"cv", [("h", b"1")])
    assert m.timestamp() == (ck.TIMESTAMP_CREATE_TIME, 1600000000000)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches(km, codec):
    lines = b"".join(b"%s line %d\n" % (codec.encode(), i)
                     for i in range(200))
    kcat(km, "-P", "-t", "plant.temp", "-z", codec, input=lines)
    assert read(km.topic) == SEED + lines
    assert consume_all(km, "-o", "1") == lines


def test_newline_inside_value_refused(km):
    r = kcat(km, "-P", "-t", "plant.temp", "-D", "|", input=b"a\nb|",
             check=False)
    assert r.returncode != 0
    assert b"failed to validate record" in r.stderr   # INVALID_RECORD
    assert read(km.topic) == SEED


def test_write_framing_one_message_per_value(km):
    d = os.path.join(km.mnt, "plant")
    os.setxattr(d, "user.streamfs.framing", b"write")
    kcat(km, "-P", "-t", "plant.temp", "-D", "|", input=b"a\nb|c")
    assert read(km.topic) == SEED + b"a\nbc"
    assert consume_all(km, "-o", "1", "-f", "%o:%s|") == b"1:a\nb|2:c|"


def test_produce_old_versions_unsupported(km):
    c = kw.Conn(km.port)
    # Produce v2 (a magic 1 message set would follow): acks, timeout,
    # one topic with one partition.
    body = struct.pack(">hi", 1, 1000) + struct.pack(">i", 1) + \
        string("plant.temp") + struct.pack(">iii", 1, 0, 0)
    r = c.request(0, 2, body)
    assert r.i32() == 1 and r.string() == "plant.temp" and r.i32() == 1
    assert r.i32() == 0
    assert r.i16() == 35                        # UNSUPPORTED_VERSION
    c.close()
    assert read(km.topic) == SEED


def test_plain_and_compressed_batches_in_one_request(km):
    """A record set whose batches come plain, then gzipped, then plain:
    every message stored once, in order (the listener keeps plain
    batches' messages in the request and copies them out when a
    compressed one follows)."""
    c = kw.Conn(km.port)
    records = (batch([b"p1", b"p2"]) + batch([b"g1", b"g2"], gzip=True) +
               batch([b"p3"]))
    assert produce(c, records) == (0, 1)
    assert read(km.topic) == SEED + b"p1\np2\ng1\ng2\np3\n"
    got = kcat(km, "-C", "-t", "plant.temp", "-o", "1", "-e", "-q",
               "-f", "%k:%s\n").stdout
    assert got == b":p1\n:p2\n:g1\n:g2\n:p3\n"


def test_produce_makes_a_missing_topic(km):
    """A Produce for a topic no Metadata request asked for makes it, as
    MapR does and as `echo >>` would; never its stream."""
    c = kw.Conn(km.port)
    assert produce(c, batch([b"first"]), topic="plant.made") == (0, 0)
    path = os.path.join(km.mnt, "plant", "made")
    assert read(path) == b"first\n"
    assert getx(path, "kind") == "topic"
    assert produce(c, batch([b"x"]), topic="nostream.t")[0] == 3
    assert not os.path.exists(os.path.join(km.mnt, "nostream"))


def test_autocreate_no_keeps_clients_from_making_topics(km):
    """With the stream's autocreate policy at no, neither Metadata nor
    Produce makes a missing topic (UNKNOWN_TOPIC_OR_PARTITION, as a
    Kafka broker with auto.create.topics.enable=false answers); topics
    that exist take produce as before, the mount still makes topics, a
    new stream copies the policy, and yes lets clients make them again."""
    plant = os.path.join(km.mnt, "plant")
    os.setxattr(plant, PFX + "autocreate", b"no")
    os.mkdir(os.path.join(plant, "sub"))
    assert getx(os.path.join(plant, "sub"), "autocreate") == "no"
    c = kw.Conn(km.port)
    assert kw.metadata(c, ["plant.new"], version=4) == {"plant.new": 3}
    assert kw.metadata(c, ["plant.new"], version=1) == {"plant.new": 3}
    assert produce(c, batch([b"x"]), topic="plant.new")[0] == 3
    assert sorted(os.listdir(plant)) == ["sub", "temp"]
    assert produce(c, batch([b"y"]), topic="plant.temp") == (0, 1)
    append(os.path.join(plant, "byhand"), b"z\n")
    assert getx(os.path.join(plant, "byhand"), "kind") == "topic"
    os.setxattr(plant, PFX + "autocreate", b"yes")
    assert kw.metadata(c, ["plant.new"], version=4) == {"plant.new": 0}
    assert produce(c, batch([b"w"]), topic="plant.new2") == (0, 0)
    assert read(km.topic) == SEED + b"y\n"


# ---------------------------------------------------------------- fetch

def test_fetch_from_offset(km):
    append(km.topic, b"m1\nm2\nm3\n")
    append(km.topic, b"m4\n")
    assert consume_all(km, "-o", "3") == b"m3\nm4\n"
    assert consume_all(km, "-o", "2", "-c", "1") == b"m2\n"
    err, hw, recs = fetch(km, 5)
    assert (err, hw, recs) == (0, 5, b"")
    assert fetch(km, 6)[0] == 1                 # OFFSET_OUT_OF_RANGE


def test_fetch_max_bytes_gives_one_message_at_least(km):
    append(km.topic, b"x" * 1000 + b"\n")
    append(km.topic, b"y" * 1000 + b"\n")
    err, hw, recs = fetch(km, 1, pmax=10)
    assert err == 0 and hw == 3
    assert b"x" * 1000 in recs and b"y" not in recs


def test_fetch_waits_for_append(km):
    c = kw.Conn(km.port, timeout=40)
    c.corr += 1
    # Parked up to a minute for data at the end.
    c.send(kw.frame(kw.header(1, 4, c.corr) +
                    fetch_body("plant.temp", 1, max_wait=60000)))
    # Another request on another connection is answered meanwhile.
    assert fetch(km, 0)[0] == 0
    append(km.topic, b"late\n")
    corr, rest = c.response()
    c.close()
    assert corr == c.corr
    err, hw, recs = fetch_response(kw.Reader(rest))
    assert err == 0 and hw == 2
    assert b"late" in recs and b"seed" not in recs


def test_kafka_python_consumer_from_end(km):
    kafka = kafka_python()
    c = kafka.KafkaConsumer(bootstrap_servers=km.broker,
                            fetch_max_wait_ms=30000,
                            request_timeout_ms=40000)
    tp = kafka.TopicPartition("plant.temp", 0)
    c.assign([tp])
    c.seek_to_end(tp)
    assert c.position(tp) == 1
    t = threading.Timer(1.0, append, (km.topic, b"after\n"))
    t.start()
    got = []
    for _ in range(30):
        for msgs in c.poll(timeout_ms=1000).values():
            got += [m.value for m in msgs]
        if got:
            break
    t.join()
    c.close()
    assert got == [b"after"]


def test_offset_out_of_range_after_retention(km):
    for i in range(1, 21):
        append(km.topic, b"message %02d\n" % i)
    run([STREAMCTL, "policy", os.path.join(km.mnt, "plant"),
         "retention_bytes=50"])
    assert wait_for(lambda: fetch(km, 0)[0] == 1, timeout=30)
    err, hw, recs = fetch(km, 20)
    assert err == 0 and hw == 21 and b"message 20" in recs
    # librdkafka's auto.offset.reset takes over from the range error.
    out = consume_all(km, "-o", "0", "-X", "auto.offset.reset=earliest")
    assert out.endswith(b"message 20\n") and b"message 01" not in out


# ---------------------------------------------------------------- access

@pytest.fixture
def other_user_kcat():
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    need("setpriv")
    need("kcat")
    return ["setpriv", "--reuid", "65534", "--regid", "65534",
            "--clear-groups", "kcat"]


def test_other_uid_denied(km, other_user_kcat):
    os.chmod(km.mnt, 0o755)
    os.chmod(os.path.join(km.mnt, "plant"), 0o755)
    os.chmod(km.topic, 0o644)                   # others may consume only
    base = other_user_kcat + ["-b", km.broker]
    r = subprocess.run(base + ["-P", "-t", "plant.temp"], input=b"intruder\n",
                       capture_output=True, timeout=60)
    assert r.returncode != 0
    assert b"authorization failed" in r.stderr.lower()
    assert read(km.topic) == SEED
    r = subprocess.run(base + ["-C", "-t", "plant.temp", "-o", "beginning",
                               "-e", "-q"], capture_output=True, timeout=60)
    assert r.stdout == SEED
    os.chmod(km.topic, 0o600)
    r = subprocess.run(base + ["-C", "-t", "plant.temp", "-o", "beginning",
                               "-e", "-q"], capture_output=True, timeout=60)
    assert r.stdout == b""
    assert b"authorization failed" in r.stderr.lower()
