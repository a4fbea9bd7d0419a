"""Kafka record batches against a real client's codec (kafka-python 2.0.2,
Debian's python3-kafka, with python3-snappy, python3-lz4 and
python3-zstandard): the batches streamfs serves (tests/unit/kbatch_tool,
the library of fs/kafka/records.h) pass its CRC check and give back every
record, and the batches it builds decode in streamfs to what it was given,
for every codec and for records large enough to need several compressed
blocks (xerial snappy's 32 KiB, lz4's 64 KiB)."""
import subprocess

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
