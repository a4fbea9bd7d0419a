"""Idempotent producers and the refusal of transactions on the Kafka
listener: InitProducerId hands out ids that are never handed out again
(restarts included); a batch sent again (a retry after a lost answer) is
stored once and answered with its first base offset, also after a
kill -9 between the two and after a crash that took the LevelDB write
with the producer's state (recovery puts it back from the record); a gap in the sequence numbers, an old epoch, an
unknown producer and more than one batch are refused and change nothing;
a transactional id or batch is refused; a new topic at a deleted one's
path knows none of its producers.
Real clients: kcat and confluent-kafka with enable.idempotence."""
import os
import shutil
import struct
import subprocess
import sys

import pytest

from util import append, read

sys.path.insert(0, os.path.dirname(__file__))
import faults                           # noqa: E402
import kafka_wire as kw                 # noqa: E402
from kafka_util import SEED, seeded_mount  # noqa: E402

TOPIC = "plant.temp"

ERR_OUT_OF_ORDER = 45
ERR_INVALID_EPOCH = 47
ERR_TXN_AUTH = 53
ERR_UNKNOWN_PRODUCER = 59
ERR_INVALID_RECORD = 87


@pytest.fixture
def km(mount_factory):
    return seeded_mount(mount_factory)


# ------------------------------------------------------------ the wire

def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff


def varint(v):
    z = (v << 1) ^ (v >> 63)
    out = b""
    while True:
        if z < 0x80:
            return out + bytes([z])
        out += bytes([(z & 0x7f) | 0x80])
        z >>= 7


def batch(values, pid=-1, epoch=-1, seq=-1, attributes=0, gzip=False):
    """One RecordBatch v2 of values (bytes), CreateTime; uncompressed, or
    with gzip its records gzipped (codec 1)."""
    ts = 1700000000000
    recs = b""
    for i, v in enumerate(values):
        body = (b"\0" + varint(0) + varint(i) + varint(-1) +
                varint(len(v)) + v + varint(0))
        recs += varint(len(body)) + body
    if gzip:
        import gzip as gz
        recs = gz.compress(recs)
        attributes |= 1
    after_crc = struct.pack(">hiqqqhii", attributes, len(values) - 1, ts, ts,
                            pid, epoch, seq, len(values)) + recs
    head = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc))
    rest = head + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def init_producer_id(c, txn=None):
    """(error, producer id, epoch) of InitProducerId v1."""
    r = c.request(22, 1, kw.string(txn) + struct.pack(">i", 60000))
    r.i32()                                     # throttle_time_ms
    return r.i16(), r.i64(), r.i16()


def produce(c, records, txn=None, topic=TOPIC):
    """(error, base offset) of Produce v3 for partition 0."""
    body = (kw.string(txn) + struct.pack(">hi", -1, 10000) +
            struct.pack(">i", 1) + kw.string(topic) + struct.pack(">i", 1) +
            struct.pack(">ii", 0, len(records)) + records)
    r = c.request(0, 3, body)
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    assert r.i32() == 0
    err, base = r.i16(), r.i64()
    r.i64()                                     # log_append_time
    return err, base


def fetch_batches(c, offset, topic=TOPIC):
    """[(producer id, epoch, base sequence, attributes, count)] of the
    batches Fetch v4 serves from offset."""
    body = (struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0) +
            struct.pack(">i", 1) + kw.string(topic) + struct.pack(">i", 1) +
            struct.pack(">iqi", 0, offset, 1 << 20))
    r = c.request(1, 4, body)
    r.i32()                                     # throttle_time_ms
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    assert r.i32() == 0
    assert r.i16() == 0
    r.i64(), r.i64()                            # high watermark, LSO
    n = r.i32()                                 # aborted transactions
    assert n <= 0
    data = r.take(r.i32())
    out = []
    while len(data) >= 61:
        length = struct.unpack(">i", data[8:12])[0]
        attrs, = struct.unpack(">h", data[21:23])
        pid, epoch, seq, count = struct.unpack(">qhii", data[43:61])
        out.append((pid, epoch, seq, attrs, count))
        data = data[12 + length:]
    return out


def lines(km):
    return read(km.topic).splitlines()


# ------------------------------------------------------------ the tests

def test_producer_ids_are_new_after_a_restart(km):
    c = kw.Conn(km.port)
    e1, p1, ep1 = init_producer_id(c)
    e2, p2, ep2 = init_producer_id(c)
    assert (e1, e2, ep1, ep2) == (0, 0, 0, 0)
    assert p1 >= 0 and p2 > p1
    c.close()
    km.kill9()
    km.start()
    c = kw.Conn(km.port)
    e3, p3, _ = init_producer_id(c)
    assert e3 == 0 and p3 > p2
    c.close()


def test_a_retried_batch_is_stored_once(km):
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    b = batch([b"a", b"b"], pid, epoch, 0)
    assert produce(c, b) == (0, 1)
    assert produce(c, b) == (0, 1)              # the retry: same answer
    assert lines(km) == [b"seed", b"a", b"b"]
    assert produce(c, batch([b"c"], pid, epoch, 2)) == (0, 3)
    # Any of the last five batches is still known, not only the newest.
    assert produce(c, b) == (0, 1)
    assert lines(km) == [b"seed", b"a", b"b", b"c"]
    # Fetch serves the stored messages as a batch of no producer.
    got = fetch_batches(c, 1)
    assert got and all(g[0] == -1 and g[3] & 0x30 == 0 for g in got)
    c.close()


def test_only_the_five_most_recent_batches_are_known(km):
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    first = batch([b"v0"], pid, epoch, 0)
    assert produce(c, first) == (0, 1)
    for s in range(1, 6):
        assert produce(c, batch([b"v%d" % s], pid, epoch, s)) == (0, 1 + s)
    # Six batches later the first is forgotten: it is out of order now.
    assert produce(c, first)[0] == ERR_OUT_OF_ORDER
    assert produce(c, batch([b"v1"], pid, epoch, 1)) == (0, 2)
    assert len(lines(km)) == 7
    c.close()


def test_a_gap_in_sequence_numbers_is_refused(km):
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    assert produce(c, batch([b"a", b"b"], pid, epoch, 0)) == (0, 1)
    before = read(km.topic)
    assert produce(c, batch([b"x"], pid, epoch, 5))[0] == ERR_OUT_OF_ORDER
    # Overlapping a stored batch without being one is out of order too.
    assert produce(c, batch([b"y", b"z"], pid, epoch, 1))[0] == \
        ERR_OUT_OF_ORDER
    assert read(km.topic) == before
    assert produce(c, batch([b"c"], pid, epoch, 2)) == (0, 3)
    c.close()


def test_an_old_epoch_is_refused(km):
    c = kw.Conn(km.port)
    _, pid, _ = init_producer_id(c)
    assert produce(c, batch([b"a"], pid, 0, 0)) == (0, 1)
    assert produce(c, batch([b"b"], pid, 1, 0)) == (0, 2)   # new epoch
    before = read(km.topic)
    assert produce(c, batch([b"c"], pid, 0, 1))[0] == ERR_INVALID_EPOCH
    # A new epoch starts at sequence 0.
    assert produce(c, batch([b"d"], pid, 2, 3))[0] == ERR_OUT_OF_ORDER
    assert read(km.topic) == before
    c.close()


def test_an_unknown_producer_must_start_at_zero(km):
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    assert produce(c, batch([b"a"], pid, epoch, 7))[0] == \
        ERR_UNKNOWN_PRODUCER
    assert lines(km) == [b"seed"]
    c.close()


def test_an_idempotent_request_holds_one_batch(km):
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    two = batch([b"a"], pid, epoch, 0) + batch([b"b"], pid, epoch, 1)
    assert produce(c, two)[0] == ERR_INVALID_RECORD
    assert lines(km) == [b"seed"]
    c.close()


@pytest.mark.parametrize("durability", ["os", "always"])
def test_a_retry_after_kill9_is_stored_once(km, durability):
    os.setxattr(os.path.dirname(km.topic), "user.streamfs.durability",
                durability.encode())
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    b = batch([b"a", b"b"], pid, epoch, 0)
    assert produce(c, b) == (0, 1)
    c.close()
    km.kill9()
    km.start()
    c = kw.Conn(km.port)
    assert produce(c, b) == (0, 1)
    assert lines(km) == [b"seed", b"a", b"b"]
    assert produce(c, batch([b"c"], pid, epoch, 2)) == (0, 3)
    c.close()
    # ...and after a clean restart too.
    km.restart()
    c = kw.Conn(km.port)
    assert produce(c, batch([b"c"], pid, epoch, 2)) == (0, 3)
    assert lines(km) == [b"seed", b"a", b"b", b"c"]
    c.close()


def crash_run(mount_factory, data, env):
    """Mount data (kafka on a new port, no metrics, env), make the topic,
    get a producer id and send one batch: (mount, port, batch, answer or
    None when the daemon died before answering)."""
    port = kw.free_port()
    m = mount_factory(["kafka=127.0.0.1:%d" % port, "nometrics"], data=data,
                      env=env, expect=(".",))
    os.mkdir(os.path.join(m.mnt, "plant"))
    append(os.path.join(m.mnt, "plant", "temp"), SEED)
    c = kw.Conn(port)
    _, pid, epoch = init_producer_id(c)
    b = batch([b"a", b"b"], pid, epoch, 0)
    try:
        got = produce(c, b)
    except (EOFError, ConnectionError):
        got = None
    c.close()
    return m, port, b, got


def test_state_rebuilt_when_a_crash_took_its_write(mount_factory, tmp_path):
    """The daemon dies after the batch's record reached its segment and
    before the LevelDB write with its index entry and producer state:
    recovery indexes the record again and puts the state back from the
    record's tag, so the retry is still stored once."""
    # A run under the shim's trace finds the LevelDB write that follows
    # the produce's segment write (the same calls in the same order in
    # every run: the steps are the same and nothing else writes).
    trace = tmp_path / "trace"
    data = tmp_path / "probe"
    m, _, _, got = crash_run(mount_factory, data,
                             faults.fault_env(data, trace=trace))
    assert got == (0, 1)
    calls = open(trace).read().splitlines()
    m.unmount()
    seg = max(i for i, c in enumerate(calls) if c.startswith("seg_write"))
    n = next(c for c in calls[seg:] if c.startswith("db_write")).split("#")[1]
    # The same again, killed (SIGKILL) right before that write.
    data = tmp_path / "data"
    log = tmp_path / "faultlog"
    m, _, b, got = crash_run(mount_factory, data, faults.fault_env(
        data, "db_write:%s:cut" % n, log=log))
    assert got is None
    assert "inject db_write #%s cut" % n in open(log).read()
    m.kill9()
    port = kw.free_port()
    m = mount_factory(["kafka=127.0.0.1:%d" % port], data=data)
    m.expect_log("recover")
    topic = os.path.join(m.mnt, "plant", "temp")
    assert read(topic) == SEED + b"a\nb\n"     # the record survived
    c = kw.Conn(port)
    assert produce(c, b) == (0, 1)
    assert read(topic) == SEED + b"a\nb\n"
    c.close()


def test_a_new_topic_knows_no_producer(km):
    c = kw.Conn(km.port)
    _, pid, epoch = init_producer_id(c)
    b = batch([b"a"], pid, epoch, 0)
    assert produce(c, b) == (0, 1)
    os.unlink(km.topic)
    append(km.topic, SEED)
    # The new topic knows nothing of the producer: the batch is new there.
    assert produce(c, batch([b"b"], pid, epoch, 1))[0] == \
        ERR_UNKNOWN_PRODUCER
    assert produce(c, b) == (0, 1)
    assert lines(km) == [b"seed", b"a"]
    c.close()


def test_transactions_are_refused(km):
    c = kw.Conn(km.port)
    _, p1, _ = init_producer_id(c)
    err, pid, epoch = init_producer_id(c, "txn-1")
    assert (err, pid, epoch) == (ERR_TXN_AUTH, -1, -1)
    # The refusal handed out no id.
    _, p2, _ = init_producer_id(c)
    assert p2 == p1 + 1
    # A transactional produce request, and a transactional batch.
    assert produce(c, batch([b"a"]), txn="txn-1")[0] == ERR_TXN_AUTH
    assert produce(c, batch([b"b"], p2, 0, 0, attributes=0x10))[0] == \
        ERR_TXN_AUTH
    assert lines(km) == [b"seed"]
    # Nothing of the producer's state moved: its sequence 0 is new.
    assert produce(c, batch([b"c"], p2, 0, 0)) == (0, 1)
    c.close()


# ------------------------------------------------------------ real clients

def test_kcat_idempotent_producer(km):
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    subprocess.run(["kcat", "-b", km.broker, "-P", "-t", TOPIC,
                    "-X", "enable.idempotence=true"],
                   input=b"one\ntwo\nthree\n", check=True, timeout=60,
                   capture_output=True)
    assert lines(km) == [b"seed", b"one", b"two", b"three"]
    c = kw.Conn(km.port)
    got = fetch_batches(c, 1)
    assert sum(g[4] for g in got) == 3
    c.close()


def test_confluent_kafka_idempotent_producer(km):
    ck = pytest.importorskip("confluent_kafka")
    p = ck.Producer({"bootstrap.servers": km.broker,
                     "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for i in range(100):
        p.produce(TOPIC, b"m%d" % i,
                  on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0
    assert errors == []
    assert lines(km) == [b"seed"] + [b"m%d" % i for i in range(100)]


def test_confluent_kafka_transactions_are_refused(km):
    ck = pytest.importorskip("confluent_kafka")
    p = ck.Producer({"bootstrap.servers": km.broker,
                     "transactional.id": "txn-1"})
    with pytest.raises(ck.KafkaException) as e:
        p.init_transactions(20)
    assert e.value.args[0].code() == \
        ck.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert lines(km) == [b"seed"]
