"""The listener's request decoding against the requests real clients
sent (the fuzz seeds in tests/fuzz/corpus_kafka_requests, captured from
kcat, kafka-python, confluent-kafka and kafkajs): each is answered, and
the same request with its body one byte short closes the connection and
leaves the listener serving."""
import os
import struct
import sys

import pytest

from util import append

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from test_kafka import km               # noqa: E402,F401

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "fuzz", "corpus_kafka_requests")


def frames(data):
    while data:
        n = 4 + struct.unpack(">i", data[:4])[0]
        yield data[:n]
        data = data[n:]


def seeds():
    out = []
    for name in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, name), "rb") as f:
            out.append((name, list(frames(f.read()))))
    return out


@pytest.fixture
def topic(km):
    os.mkdir(os.path.join(km.mnt, "plant"))
    append(os.path.join(km.mnt, "plant", "temp"), b"hi\n")
    return km


def test_real_requests_are_answered(topic):
    for name, fs in seeds():
        c = kw.Conn(topic.port, timeout=60)
        for f in fs:
            corr = struct.unpack(">i", f[8:12])[0]
            c.send(f)
            got, _ = c.response()
            assert got == corr, name
        c.close()


def test_real_requests_one_byte_short_close(topic):
    for name, fs in seeds():
        f = fs[0]
        short = struct.pack(">i", len(f) - 5) + f[4:-1]
        c = kw.Conn(topic.port, timeout=60)
        c.send(short)
        assert c.closed(), name
    assert kw.api_versions(kw.Conn(topic.port).request(18, 0))[0] == 0
