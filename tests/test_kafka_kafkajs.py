"""kafkajs 2.2.4 (npm, installed by tools/setup.sh test into the build's
node_modules) against the Kafka listener, through the small client
tests/kafkajs/client.js: produce (plain and gzip, the only codec kafkajs
has without plugins), consume from the beginning, the end, an offset and
a time, commit and resume in a group, data both ways between the client
and the mount, two members of one group splitting two topics and
rebalancing, and the ACEs of a stream denying another uid.  kafkajs is
required: without node or kafkajs these tests fail."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from util import BUILD, OTHER_GID, OTHER_UID, append, getx, read, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from kafka_util import (SEED, deny_other_uid, expire_head,  # noqa: E402
                        second_topic, seeded_mount, two_times)
from test_kafka_tls import pki, tls_options  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "kafkajs", "client.js")
MODULES = str(BUILD / "node_modules")


def km_checks():
    """node's path; kafkajs must be there (it is required)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (tools/setup.sh test installs it)")
    if not os.path.isdir(os.path.join(MODULES, "kafkajs")):
        pytest.fail("kafkajs is not in %s (tools/setup.sh test installs it)"
                    % MODULES)
    return node


@pytest.fixture
def km(mount_factory):
    node = km_checks()
    m = seeded_mount(mount_factory)
    m.node = node
    return m


def js_argv(km, *args, uid=None):
    argv = ["env", "NODE_PATH=" + MODULES, "KAFKAJS_NO_PARTITIONER_WARNING=1",
            km.node, CLIENT, km.broker] + [str(a) for a in args]
    if uid is not None:
        argv = ["setpriv", "--reuid", str(uid), "--regid", str(OTHER_GID),
                "--clear-groups"] + argv
    return argv


def js(km, *args, input=b"", uid=None, check=True, env=None):
    """Run client.js; its JSON lines as a list (with check, it must exit 0)."""
    r = subprocess.run(js_argv(km, *args, uid=uid), input=input,
                       capture_output=True, timeout=90,
                       env=dict(os.environ, **env) if env else None)
    if check:
        assert r.returncode == 0, (r.stdout, r.stderr)
    return r, [json.loads(l) for l in r.stdout.decode().splitlines()
               if l.startswith(("{", "["))]


def cursor(km, group):
    try:
        return getx(km.topic, "cursor." + group)
    except OSError:
        return None


def values(out):
    return [o["value"] for o in out if "value" in o]


def offsets(out):
    return [o["offset"] for o in out if "value" in o]


# ---------------------------------------------------------------- produce

def test_produce_in_file_with_offsets(km):
    r, out = js(km, "produce", "plant.temp", input=b"one\ntwo\n")
    assert out[0][0]["errorCode"] == 0 and out[0][0]["baseOffset"] == "1"
    assert read(km.topic) == SEED + b"one\ntwo\n"
    r, out = js(km, "produce", "plant.temp", input=b"three\n")
    assert out[0][0]["baseOffset"] == "3"


def test_key_headers_timestamp_round_trip(km):
    msg = {"key": "k1", "value": "v1", "headers": {"h": "x"},
           "timestamp": "1600000000000"}
    js(km, "produce", "plant.temp", input=json.dumps(msg).encode() + b"\n")
    append(km.topic, b"mnt\n")
    r, out = js(km, "consume", "plant.temp", "beginning", 3)
    got = [o for o in out if "value" in o]
    assert [o["value"] for o in got] == ["seed", "v1", "mnt"]
    assert (got[1]["key"], got[1]["headers"], got[1]["timestamp"]) == \
        ("k1", {"h": "x"}, 1600000000000)
    assert got[0]["key"] is None and got[2]["key"] is None
    assert got[2]["headers"] == {}
    assert read(km.topic) == SEED + b"v1\nmnt\n"


def test_gzip_batch(km):
    lines = b"".join(b"gz %d\n" % i for i in range(100))
    js(km, "produce", "plant.temp", "gzip", input=lines)
    assert read(km.topic) == SEED + lines
    r, out = js(km, "consume", "plant.temp", "1", 100)
    assert values(out) == ["gz %d" % i for i in range(100)]
    assert offsets(out) == list(range(1, 101))


# ---------------------------------------------------------------- consume

def test_consume_from_beginning_offset_and_time(km):
    append(km.topic, b"m1\nm2\nm3\n")
    r, out = js(km, "consume", "plant.temp", "beginning", 4)
    assert values(out) == ["seed", "m1", "m2", "m3"]
    r, out = js(km, "consume", "plant.temp", "2", 2)
    assert out[0] == {"start": 2} and values(out) == ["m2", "m3"]
    b_offset, b_ms = two_times(km)
    r, out = js(km, "offsets", "plant.temp", b_ms)
    assert out[0] == [{"partition": 0, "offset": str(b_offset)}]
    r, out = js(km, "consume", "plant.temp", "time:%d" % b_ms, 1)
    assert out[0] == {"start": b_offset} and values(out) == ["b"]
    # A time after the last message: the end.
    r, out = js(km, "offsets", "plant.temp", b_ms + 1)
    assert out[0] == [{"partition": 0, "offset": str(b_offset + 1)}]


def test_consume_from_end_sees_mount_append(km):
    append(km.topic, b"old\n")
    p = subprocess.Popen(js_argv(km, "consume", "plant.temp", "end", 1),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert json.loads(p.stdout.readline()) == {"start": 2}
        append(km.topic, b"new\n")
        o, e = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, e
    got = [json.loads(l) for l in o.decode().splitlines()]
    assert [(g["offset"], g["value"]) for g in got] == [(2, "new")]


def test_offsets_follow_the_topic(km):
    append(km.topic, b"x\ny\n")
    r, out = js(km, "offsets", "plant.temp")
    assert out[0] == [{"partition": 0, "offset": "3", "high": "3",
                       "low": "0"}]


# ---------------------------------------------------------------- groups

def test_group_commits_the_cursor_and_resumes(km):
    append(km.topic, b"1\n22\n333\n")
    r, out = js(km, "group", "jg", 2, "plant.temp")
    assert values(out) == ["seed", "1"]
    # The committed offset 2 is the byte offset of "22".
    assert getx(km.topic, "cursor.jg") == "7"
    r, out = js(km, "group", "jg", 2, "plant.temp")
    assert values(out) == ["22", "333"]
    assert getx(km.topic, "cursor.jg") == "14"
    # A cursor set through the mount moves the group on.
    os.setxattr(km.topic, "user.streamfs.cursor.jg", b"5")
    r, out = js(km, "group", "jg", 1, "plant.temp")
    assert values(out) == ["1"]


class Member:
    """client.js member: a kafkajs consumer of a group that prints every
    assignment it gets and leaves the group when its stdin closes."""

    def __init__(self, km, group, *topics):
        self.p = subprocess.Popen(js_argv(km, "member", group, *topics),
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def next(self):
        line = self.p.stdout.readline()
        assert line, self.p.stderr.read()
        return json.loads(line)

    def leave(self):
        self.p.stdin.close()
        assert self.next() == {"left": True}
        assert self.p.wait(60) == 0

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def test_two_members_split_and_rebalance(km):
    second_topic(km)
    both = ["plant.hum", "plant.temp"]
    a = Member(km, "split", *both)
    b = None
    try:
        assert a.next() == {"assigned": both}
        b = Member(km, "split", *both)
        got_b = b.next()["assigned"]
        got_a = a.next()["assigned"]
        assert len(got_a) == 1 and len(got_b) == 1
        assert sorted(got_a + got_b) == both
        b.leave()
        assert a.next() == {"assigned": both}
        a.leave()
    finally:
        a.kill()
        if b:
            b.kill()


# ---------------------------------------------------------------- access

def test_ace_denies_other_uid(km, other_user):
    uid = deny_other_uid(km)
    r, out = js(km, "produce", "plant.temp", input=b"intruder\n", uid=uid,
                check=False)
    assert r.returncode == 1
    assert b"TOPIC_AUTHORIZATION_FAILED" in r.stdout
    assert read(km.topic) == SEED
    r, out = js(km, "consume", "plant.temp", "beginning", 1, uid=uid,
                check=False)
    assert r.returncode == 1
    assert b"TOPIC_AUTHORIZATION_FAILED" in r.stdout
    # root, whom the ACEs name, still may.
    js(km, "produce", "plant.temp", input=b"root\n")
    assert read(km.topic) == SEED + b"root\n"


def test_offset_below_log_start_resets(km):
    start = expire_head(km)
    # Offset 0 is gone.  kafkajs's seek commits it (autoCommit), and a
    # commit below the log start is the log start: it goes on from there.
    r, out = js(km, "consume", "plant.temp", "0", 1)
    assert out[0] == {"start": 0}
    assert offsets(out) == [start]
    assert values(out) == ["message %02d" % start]


def test_seek_past_the_end_waits_at_the_end(km):
    # kafkajs's seek commits the offset; past the end, as against a Kafka
    # broker, the consumer goes on at the end and gets what comes next.
    p = subprocess.Popen(js_argv(km, "consume", "plant.temp", "50", 1),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert json.loads(p.stdout.readline()) == {"start": 50}
        assert wait_for(lambda: cursor(km, "kafkajs-%d" % p.pid) ==
                        str(len(SEED)), timeout=30)
        append(km.topic, b"late\n")
        o, e = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, (o, e)
    got = [json.loads(l) for l in o.decode().splitlines()]
    assert [(g["offset"], g["value"]) for g in got] == [(1, "late")]


def test_produce_and_consume_over_tls(mount_factory, pki):
    node = km_checks()
    port = kw.free_port()
    m = mount_factory(tls_options(pki, port))
    m.node, m.broker = node, "localhost:%d" % port
    os.mkdir(os.path.join(m.mnt, "plant"))
    m.topic = os.path.join(m.mnt, "plant", "temp")
    append(m.topic, SEED)
    cert, key = pki.issue("/CN=root")
    env = {"KAFKAJS_CA": pki.ca, "KAFKAJS_CERT": cert, "KAFKAJS_KEY": key}
    js(m, "produce", "plant.temp", input=b"over tls\n", env=env)
    assert read(m.topic) == SEED + b"over tls\n"
    r, out = js(m, "consume", "plant.temp", "beginning", 2, env=env)
    assert values(out) == ["seed", "over tls"]
