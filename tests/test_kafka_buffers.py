"""The Kafka listener's response buffers: a connection reuses the buffer
of its last response for the next one, and the memory those kept buffers
hold is bounded however many connections made large fetches, so the
daemon's RSS stays small with many connections open."""
import os
import struct
import sys

from util import append

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from test_kafka import km               # noqa: E402,F401

MSG = b"m" * 99 + b"\n"
CONNS = 150
PART_MAX = 3 << 20                      # each answer: about 3 MiB


def fetch_body(name, offset, pmax):
    """Fetch v4 of partition 0 of one topic, not waiting."""
    return (struct.pack(">iiiib", -1, 0, 1, pmax, 0) +
            struct.pack(">i", 1) + kw.string(name) +
            struct.pack(">iiqi", 1, 0, offset, pmax))


def records_size(r):
    """The record bytes of a one-partition Fetch v4 answer (no error)."""
    r.i32()                                     # throttle
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()
    assert r.i16() == 0
    r.i64()
    r.i64()
    r.take(16 * max(r.i32(), 0))
    return r.i32()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def big_fetch(c):
    return records_size(c.request(1, 4, fetch_body("big.t", 0, PART_MAX)))


def test_many_connections_after_large_fetches_stay_small(km):
    os.mkdir(os.path.join(km.mnt, "big"))
    path = os.path.join(km.mnt, "big", "t")
    for _ in range(40):
        append(path, MSG * 1000)              # 4 MB in all
    first = kw.Conn(km.port, timeout=60)
    assert big_fetch(first) > PART_MAX * 9 // 10
    # The same connection again: its answer is built in the kept buffer.
    assert big_fetch(first) > PART_MAX * 9 // 10
    base = rss_kib(km.proc.pid)
    conns = [first]
    for _ in range(CONNS):
        c = kw.Conn(km.port, timeout=60)
        assert big_fetch(c) > PART_MAX * 9 // 10
        conns.append(c)
    # Every connection stays open.  Kept, each one's buffer would take
    # 4 MiB (600 MiB in all); the bound on kept buffers is 64 MiB.
    grown = rss_kib(km.proc.pid) - base
    assert grown < 200 * 1024, "RSS grew by %d KiB" % grown
    for c in conns:
        assert kw.api_versions(c.request(18, 0))[0] == 0
        c.close()
