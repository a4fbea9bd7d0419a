"""Helpers the Kafka client suites share (tests/test_kafka_kafkajs.py,
tests/test_kafka_clients.py): a mount with a Kafka listener and one seeded
topic, two-topic streams for the group tests, a topic whose stream's ACEs
deny the other uid, and the arrival times of a topic's messages."""
import os
import shutil

import pytest

from util import OTHER_UID, PFX, append, info

import kafka_wire as kw

SEED = b"seed\n"


def seeded_mount(mount_factory, extra=()):
    """A mount with -o kafka on a free port; plant/temp holds SEED (message
    0).  .broker is the address to give a client, .topic the file."""
    port = kw.free_port()
    m = mount_factory(["kafka=127.0.0.1:%d" % port] + list(extra))
    m.port = port
    m.broker = "127.0.0.1:%d" % port
    os.mkdir(os.path.join(m.mnt, "plant"))
    m.topic = os.path.join(m.mnt, "plant", "temp")
    append(m.topic, SEED)
    return m


def need(prog):
    if shutil.which(prog) is None:
        pytest.skip("%s is not installed" % prog)


def second_topic(m):
    """plant/hum, beside plant/temp, so that a group of two has one each."""
    hum = os.path.join(m.mnt, "plant", "hum")
    append(hum, b"h0\n")
    return hum


def deny_other_uid(m):
    """Mode bits let everyone in; the stream's ACEs let only root produce
    and consume, so the other uid is denied by the ACEs alone."""
    d = os.path.join(m.mnt, "plant")
    os.chmod(m.mnt, 0o755)
    os.chmod(d, 0o777)
    os.chmod(m.topic, 0o666)
    os.setxattr(d, PFX + "ace.produce", b"u:0")
    os.setxattr(d, PFX + "ace.consume", b"u:0")
    return OTHER_UID


def two_times(m):
    """Append a, then b in a later millisecond; return (offset of b, the ms
    b arrived in).  A lookup by that time must find b, not a."""
    import time
    append(m.topic, b"a\n")
    a_ms = info(m.topic)["last_time"] // 10**6
    while time.time_ns() // 10**6 <= a_ms:
        time.sleep(0.001)
    append(m.topic, b"b\n")
    i = info(m.topic)
    assert i["last_time"] // 10**6 > a_ms
    return i["last_message"], i["last_time"] // 10**6


def expire_head(m, n=20):
    """Append messages 1..n ("message NN") and let retention drop all but
    the last few; returns the log start (the first live message)."""
    import subprocess
    from util import BUILD, info, wait_for
    for i in range(1, n + 1):
        append(m.topic, b"message %02d\n" % i)
    subprocess.run([str(BUILD / "tools" / "streamctl"), "policy",
                    os.path.dirname(m.topic), "retention_bytes=50"],
                   check=True, capture_output=True)
    assert wait_for(lambda: info(m.topic)["first_message"] > 1, timeout=30)
    return info(m.topic)["first_message"]
