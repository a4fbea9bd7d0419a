"""Kafka record batches against a real client's codec (kafka-python 2.0.2,
Debian's python3-kafka, with python3-snappy, python3-lz4 and
python3-zstandard): the batches streamfs serves (tests/unit/kbatch_tool,
the library of fs/kafka/records.h) pass its CRC check and give back every
record, and the batches it builds decode in streamfs to what it was given,
for every codec and for records large enough to need several compressed
blocks (xerial snappy's 32 KiB, lz4's 64 KiB); the batches librdkafka
(kcat -P) writes decode too, and kcat -C prints what streamfs serves."""
import errno
import shutil
import socket
import struct
import subprocess
import threading

import pytest

from util import BUILD

kafka_records = pytest.importorskip("kafka.record.default_records")
pytest.importorskip("snappy")
pytest.importorskip("lz4")
pytest.importorskip("zstandard")

TOOL = BUILD / "tests" / "kbatch_tool"
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
T0 = 1700000000000


def records(big):
    """(timestamp, key, value, headers) tuples: null and empty keys and
    values, headers with a null value, out-of-order timestamps."""
    out = [
        (T0, b"k1", b"hello", [("h", b"v"), ("n", None)]),
        (T0 + 5, None, b"world", []),
        (T0 - 1, b"", None, []),
        (T0 + 2, b"k", b"", [("", b"")]),
    ]
    n = 200 if big else 3
    for i in range(n):
        value = (b"streamfs %d " % i) * (i % 50 + 1)
        if big and i % 40 == 0:
            value = bytes(range(256)) * 300      # 75 KiB, hardly compresses
        out.append((T0 + i, b"key%d" % i if i % 2 else None, value,
                    [("i", b"%d" % i)] if i % 3 == 0 else []))
    return out


def header_bytes(headers):
    """The raw header bytes after the count, as the batch carries them."""
    def varint(v):
        v = (v << 1) ^ (v >> 63)
        b = bytearray()
        while v >= 0x80:
            b.append((v & 0x7f) | 0x80)
            v >>= 7
        b.append(v)
        return bytes(b)

    out = b""
    for k, v in headers:
        k = k.encode()
        out += varint(len(k)) + k
        out += varint(-1) if v is None else varint(len(v)) + v
    return out


def field(b):
    return "-" if b is None else (b.hex() or "=")


def unfield(s):
    return None if s == "-" else b"" if s == "=" else bytes.fromhex(s)


def tool(args, data):
    r = subprocess.run([str(TOOL)] + args, input=data, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout[:200]
    return r.stdout


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
@pytest.mark.parametrize("codec", sorted(CODECS), ids=CODECS.values())
def test_served_batch_decodes_in_kafka_python(codec, big):
    recs = records(big)
    lines = ""
    for ts, k, v, h in recs:
        hb = "%s:%d" % (header_bytes(h).hex(), len(h)) if h else "-"
        lines += "%d %s %s %s\n" % (ts, field(k), field(v), hb)
    batch = tool(["encode", str(codec), "1000"], lines.encode())

    b = kafka_records.DefaultRecordBatch(batch)
    assert b.validate_crc()
    assert b.compression_type == codec
    assert b.base_offset == 1000
    got = list(b)
    assert len(got) == len(recs)
    for i, (r, (ts, k, v, h)) in enumerate(zip(got, recs)):
        assert r.offset == 1000 + i
        assert r.timestamp == ts
        assert r.key == k
        assert r.value == v
        assert r.headers == h
    if big and codec:
        plain = len(tool(["encode", "0", "1000"], lines.encode()))
        assert len(batch) < plain


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
@pytest.mark.parametrize("codec", sorted(CODECS), ids=CODECS.values())
def test_kafka_python_batch_decodes(codec, big):
    recs = records(big)
    builder = kafka_records.DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=False,
        producer_id=-1, producer_epoch=-1, base_sequence=-1,
        batch_size=1 << 24)
    for i, (ts, k, v, h) in enumerate(recs):
        assert builder.append(i, timestamp=ts, key=k, value=v, headers=h)
    batch = bytes(builder.build())
    # two batches back to back, as a record set
    out = tool(["decode"], batch + batch).decode().splitlines()

    heads = [line for line in out if line.startswith("batch ")]
    # kafka-python sends a batch plain when compressing would not shrink it
    want_codec = codec if batch[22] & 7 else 0
    assert heads == ["batch 0 %d %d" % (want_codec, len(recs))] * 2
    rows = [line.split() for line in out if not line.startswith("batch ")]
    assert len(rows) == 2 * len(recs)
    for row, (ts, k, v, h) in zip(rows, recs + recs):
        assert int(row[0]) == ts
        assert unfield(row[1]) == k
        assert unfield(row[2]) == v
        if h:
            raw, count = row[3].split(":")
            assert bytes.fromhex(raw) == header_bytes(h)
            assert int(count) == len(h)
        else:
            assert row[3] == "-"
    if big and codec:
        assert want_codec == codec


# ------------------------------------------------- librdkafka's batches

class FakeBroker:
    """Just enough of a Kafka broker for `kcat -P` to send one produce
    request (ApiVersions 3, Metadata 1, Produce 7): it keeps each produce
    request's record set and acknowledges it; and for `kcat -C` to fetch
    (ListOffsets 1, Fetch 4): it serves batch, holding count records from
    offset 0.  Not streamfs: it only catches what librdkafka writes and
    shows it what streamfs would serve."""

    def __init__(self, apis, batch=None, count=0):
        self.apis = apis
        self.batch, self.count = batch, count    # served to fetches
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.record_sets = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def session(self, conn):
        with conn:
            while True:
                head = self.recv(conn, 4)
                if not head:
                    return
                frame = self.recv(conn, struct.unpack(">i", head)[0])
                if frame is None:
                    return
                out = self.answer(frame)
                conn.sendall(struct.pack(">i", len(out)) + out)

    @staticmethod
    def recv(conn, n):
        data = b""
        while len(data) < n:
            got = conn.recv(n - len(data))
            if not got:
                return None
            data += got
        return data

    def answer(self, frame):
        key, version, corr = struct.unpack(">hhi", frame[:8])
        n = struct.unpack(">h", frame[8:10])[0]
        body = frame[10 + max(n, 0):]
        if key == 18:                   # ApiVersions v3: flexible body
            apis = self.apis
            out = struct.pack(">ih", corr, 0) + bytes([len(apis) + 1])
            for a in apis:
                out += struct.pack(">hhh", *a) + b"\0"
            return out + struct.pack(">i", 0) + b"\0"
        if key == 3:                    # Metadata v0/v1
            count = struct.unpack(">i", body[:4])[0]
            names, at = [], 4
            for _ in range(max(count, 0)):
                ln = struct.unpack(">h", body[at:at + 2])[0]
                names.append(body[at + 2:at + 2 + ln])
                at += 2 + ln
            out = struct.pack(">ii", corr, 1) + struct.pack(">i", 0)
            out += self.string(b"127.0.0.1") + struct.pack(">i", self.port)
            if version >= 1:
                out += struct.pack(">h", -1)            # rack
                out += struct.pack(">i", 0)             # controller
            out += struct.pack(">i", len(names))
            for name in names:
                out += struct.pack(">h", 0) + self.string(name)
                if version >= 1:
                    out += b"\0"                        # is_internal
                out += struct.pack(">ihii", 1, 0, 0, 0)  # partition 0, leader 0
                out += struct.pack(">ii", 1, 0) + struct.pack(">ii", 1, 0)
            return out
        if key == 0:                    # Produce v0..v7
            at = 0
            if version >= 3:                            # transactional id
                ln = struct.unpack(">h", body[at:at + 2])[0]
                at += 2 + max(ln, 0)
            at += 2 + 4                                 # acks, timeout
            out = struct.pack(">i", corr)
            topics = struct.unpack(">i", body[at:at + 4])[0]
            at += 4
            out += struct.pack(">i", topics)
            for _ in range(topics):
                ln = struct.unpack(">h", body[at:at + 2])[0]
                name = body[at + 2:at + 2 + ln]
                at += 2 + ln
                parts = struct.unpack(">i", body[at:at + 4])[0]
                at += 4
                out += self.string(name) + struct.pack(">i", parts)
                for _ in range(parts):
                    part, size = struct.unpack(">ii", body[at:at + 8])
                    at += 8
                    self.record_sets.append(body[at:at + size])
                    at += size
                    out += struct.pack(">ihq", part, 0, 0)
                    if version >= 2:
                        out += struct.pack(">q", -1)    # log append time
                    if version >= 5:
                        out += struct.pack(">q", 0)
            return out + (struct.pack(">i", 0) if version >= 1 else b"")
        if key == 2:                    # ListOffsets v1: -2 is 0, -1 count
            at = 4
            topics = struct.unpack(">i", body[at:at + 4])[0]
            at += 4
            out = struct.pack(">ii", corr, topics)
            for _ in range(topics):
                ln = struct.unpack(">h", body[at:at + 2])[0]
                name = body[at + 2:at + 2 + ln]
                at += 2 + ln
                parts = struct.unpack(">i", body[at:at + 4])[0]
                at += 4
                out += self.string(name) + struct.pack(">i", parts)
                for _ in range(parts):
                    part, ts = struct.unpack(">iq", body[at:at + 12])
                    at += 12
                    off = 0 if ts == -2 else self.count
                    out += struct.pack(">ihqq", part, 0, -1, off)
            return out
        if key == 1:                    # Fetch v4
            at = 4 + 4 + 4 + 4 + 1
            topics = struct.unpack(">i", body[at:at + 4])[0]
            at += 4
            out = struct.pack(">iii", corr, 0, topics)
            for _ in range(topics):
                ln = struct.unpack(">h", body[at:at + 2])[0]
                name = body[at + 2:at + 2 + ln]
                at += 2 + ln
                parts = struct.unpack(">i", body[at:at + 4])[0]
                at += 4
                out += self.string(name) + struct.pack(">i", parts)
                for _ in range(parts):
                    part, off, _ = struct.unpack(">iqi", body[at:at + 16])
                    at += 16
                    data = self.batch if off < self.count else b""
                    out += struct.pack(">ihqqi", part, 0, self.count,
                                       self.count, 0)
                    out += struct.pack(">i", len(data)) + data
            return out
        raise AssertionError("unexpected request %d v%d" % (key, version))

    @staticmethod
    def string(s):
        return struct.pack(">h", len(s)) + s

    def close(self):
        self.sock.close()


KCAT_LINES = ["k%d:%s" % (i, "line %d of the kcat test " % i * (i + 1))
              for i in range(50)]
KCAT_LINES[7] = "k7:"                   # an empty value


def kcat_produce(apis, codec, args):
    """The record sets kcat -P sends for KCAT_LINES to a FakeBroker that
    advertises apis."""
    if not shutil.which("kcat"):
        pytest.skip("no kcat")
    broker = FakeBroker(apis)
    try:
        r = subprocess.run(
            ["kcat", "-P", "-b", "127.0.0.1:%d" % broker.port, "-t",
             "plant.temp", "-p", "0", "-K", ":", "-z", codec,
             "-X", "linger.ms=1000", "-X", "batch.num.messages=1000",
             "-X", "message.timeout.ms=10000"] + args,
            input="\n".join(KCAT_LINES) + "\n", capture_output=True,
            text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        broker.close()
    assert broker.record_sets
    return broker.record_sets


def test_librdkafka_old_message_set_refused():
    """Told of Produce 0-2 only, librdkafka writes a magic 0/1 message
    set: refused as an unsupported version, not as corrupt."""
    for rs in kcat_produce([(0, 0, 2), (3, 0, 1), (18, 0, 3)], "none", []):
        assert rs[16] in (0, 1)
        r = subprocess.run([str(TOOL), "decode"], input=rs,
                           capture_output=True, timeout=60)
        assert r.stdout == b"error -%d\n" % errno.EPROTONOSUPPORT


@pytest.mark.parametrize("codec", sorted(CODECS), ids=CODECS.values())
def test_librdkafka_batch_decodes(codec):
    """kcat -P (librdkafka) sends its batch to a stand-in broker; streamfs
    decodes it to the lines kcat read, with their keys and headers."""
    # librdkafka writes RecordBatch v2 when Produce 3 and Fetch 4 are
    # there, lz4 only with FindCoordinator, zstd with Produce 7, Fetch 10
    rs = kcat_produce([(0, 0, 7), (1, 0, 11), (3, 0, 1), (10, 0, 2),
                       (18, 0, 3)],
                      CODECS[codec], ["-H", "site=north"])
    rows, codecs = [], set()
    for rs in rs:
        if codec == 2:                  # librdkafka's snappy: xerial or raw
            framed = rs[61:69] == b"\x82SNAPPY\x00"
            print("librdkafka snappy framing:", "xerial" if framed else "raw")
        out = tool(["decode"], rs).decode().splitlines()
        codecs |= {int(x.split()[2]) for x in out if x.startswith("batch ")}
        rows += [x.split() for x in out if not x.startswith("batch ")]
    assert codecs == {codec}
    assert len(rows) == len(KCAT_LINES)
    hdr = header_bytes([("site", b"north")])
    for row, line in zip(rows, KCAT_LINES):
        k, v = line.split(":", 1)
        assert unfield(row[1]) == k.encode()
        assert unfield(row[2]) == v.encode()
        assert row[3] == "%s:1" % hdr.hex()


@pytest.mark.parametrize("codec", sorted(CODECS), ids=CODECS.values())
def test_served_batch_consumed_by_librdkafka(codec):
    """kcat -C (librdkafka) fetches a batch streamfs built, in each codec,
    from a stand-in broker and prints every key, value and header."""
    if not shutil.which("kcat"):
        pytest.skip("no kcat")
    hdr = header_bytes([("site", b"north")]).hex() + ":1"
    lines = ""
    for i, line in enumerate(KCAT_LINES):
        k, v = line.split(":", 1)
        lines += "%d %s %s %s\n" % (T0 + i, field(k.encode()),
                                     field(v.encode()), hdr)
    batch = tool(["encode", str(codec), "0"], lines.encode())
    # librdkafka reads RecordBatch v2 only from a broker that takes it too
    broker = FakeBroker([(0, 0, 7), (1, 4, 4), (2, 1, 1), (3, 0, 1),
                         (10, 0, 2), (18, 0, 3)], batch, len(KCAT_LINES))
    try:
        r = subprocess.run(
            ["kcat", "-C", "-b", "127.0.0.1:%d" % broker.port, "-t",
             "plant.temp", "-p", "0", "-o", "beginning", "-e",
             "-f", "%o|%k|%s|%h|%T\\n"],
            capture_output=True, text=True, timeout=30)
    finally:
        broker.close()
    assert r.returncode == 0, r.stderr
    want = ["%d|%s|site=north|%d" % (i, line.replace(":", "|", 1), T0 + i)
            for i, line in enumerate(KCAT_LINES)]
    assert r.stdout.splitlines() == want
