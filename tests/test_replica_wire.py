"""The replication listener (-o replica_listen) and links, on the wire:
a Python source speaks docs/replication.md to a mount's listener (records
stored with their own offsets and times, sent twice stored once, a gap
answered with the receiver's end, malformed frames closing the
connection, a peer without `copy` refused), and a link from one mount to
another catches up (cmp clean, the same info) and resumes after restarts
and kill -9, a peer that lagged beyond the source's retention continues
at its first live record, and consumer cursors follow their topic.
Certificates are made with the openssl command line (tests/certs.py)."""
import os
import random
import re
import socket
import ssl
import struct
import sys

import pytest

from certs import PKI
from util import append, info, read, run, wait_for

sys.path.insert(0, os.path.dirname(__file__))
from kafka_wire import free_port        # noqa: E402

(HELLO, WELCOME, ERROR, TOPIC, POSITION, RECORDS, ACK, DELETE, PING, PONG,
 SKIP, CURSOR, HOLDS) = range(1, 14)


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    p = PKI(d)
    # One certificate serves a daemon as listener and as link source: no
    # extended key usage, so it is good for both ends.
    p.root = p.issue("/CN=root", server=True)
    p.nobody = p.issue("/CN=nobody", server=True)
    return p


def listener(mount_factory, pki, cert=None, expect=()):
    port = free_port()
    c, k = cert or pki.root
    m = mount_factory(["replica_listen=127.0.0.1:%d" % port,
                       "tls_cert=" + c, "tls_key=" + k, "tls_ca=" + pki.ca],
                      expect=expect)
    m.port = port
    return m


# ---------------------------------------------------------------- the wire

def s16(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


class Peer:
    """A source speaking the protocol by hand."""

    def __init__(self, port, pki, cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        ctx.load_cert_chain(*cert)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.id = random.getrandbits(63) | 1

    def send(self, ftype, payload=b""):
        self.s.sendall(struct.pack(">IB", len(payload) + 1, ftype) + payload)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def frame(self):
        n, = struct.unpack(">I", self.recv_exact(4))
        body = self.recv_exact(n)
        return body[0], body[1:]

    def closed(self):
        """The other side closes (after an ERROR frame, maybe)."""
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def hello(self, dest, src="plant", version=2, source=1):
        """WELCOME (and the names of HOLDS in self.holds, their births
        in self.births) or ERROR."""
        self.send(HELLO, b"SFRP" + struct.pack(">HQ", version, self.id) +
                  s16(dest) + s16(src) + struct.pack(">Q", source))
        t, w = self.frame()
        if t == WELCOME:
            h, p = self.frame()
            assert h == HOLDS, (h, p)
            n, = struct.unpack(">I", p[:4])
            self.holds, self.births, p = [], [], p[4:]
            for _ in range(n):
                k, = struct.unpack(">H", p[:2])
                self.holds.append(p[2:2 + k].decode())
                self.births.append(struct.unpack(">Qq", p[2 + k:18 + k]))
                p = p[18 + k:]
            assert p == b""
        return t, w

    def topic(self, tid, name, home, end=0, next_msg=0, birth=None,
              why=False, former=""):
        """POSITION's status, end, next and start (and reason, with
        why); birth (replica id, ns) is (home, 1) unless given; former:
        the name it had before a rename."""
        born = birth or (home, 1)
        self.send(TOPIC, struct.pack(">IQIIIQqQQQQ", tid, home, 0o644, 0, 0,
                                     born[0], born[1], 0, 0, end, next_msg)
                  + s16(name) + s16(former))
        t, p = self.frame()
        assert t == POSITION, (t, p)
        tid2, status, end, nxt, start = struct.unpack(">IBQQQ", p[:29])
        assert tid2 == tid
        n, = struct.unpack(">H", p[29:31])
        reason = p[31:31 + n].decode()
        return (status, end, nxt, start) + ((reason,) if why else ())

    def records(self, tid, recs):
        """recs: (off, msg, ns, nmsgs, payload); -> (status, end, next)."""
        body = struct.pack(">II", tid, len(recs))
        for off, msg, ns, nmsgs, data in recs:
            body += struct.pack(">QQqIII", off, msg, ns, nmsgs, len(data),
                                0) + data
        self.send(RECORDS, body)
        t, p = self.frame()
        assert t == ACK, (t, p)
        tid2, status, end, nxt = struct.unpack(">IBQQ", p)
        assert tid2 == tid
        return status, end, nxt


def error_of(payload):
    code, n = struct.unpack(">HH", payload[:4])
    return code, payload[4:4 + n].decode()


NS = 1_700_000_000_000_000_000


def test_records_are_stored_once_with_their_offsets_and_times(
        mount_factory, pki):
    b = listener(mount_factory, pki)
    os.mkdir(b.mnt + "/plant")
    p = Peer(b.port, pki, pki.root)
    t, w = p.hello("plant")
    assert t == WELCOME, error_of(w)
    assert p.topic(1, "temp", p.id) == (0, 0, 0, 0)
    recs = [(0, 0, NS, 1, b"a1\n"), (3, 1, NS + 5, 2, b"b2\nc3\n")]
    assert p.records(1, recs) == (0, 9, 3)
    # The same again (a resend after a lost ACK): stored once.
    assert p.records(1, recs) == (0, 9, 3)
    # A new connection of the same origin hears which topics it holds.
    q = Peer(b.port, pki, pki.root)
    q.id = p.id
    assert q.hello("plant")[0] == WELCOME and q.holds == ["temp"]
    # Past the end: a gap, nothing stored, the end said.
    assert p.records(1, [(20, 9, NS + 9, 1, b"x\n")]) == (1, 9, 3)
    topic = b.mnt + "/plant/temp"
    assert read(topic) == b"a1\nb2\nc3\n"
    i = info(topic)
    assert (i["size"], i["messages"], i["first_message"], i["last_message"],
            i["first_time"], i["last_time"]) == (9, 3, 0, 2, NS, NS + 5), i
    # Homed at the sender: an append here is refused.
    assert os.getxattr(topic, "user.streamfs.home").decode().strip() == \
        "%016x" % p.id
    with pytest.raises(OSError) as e:
        append(topic, b"local\n")
    assert e.value.errno == 30
    b.expect_log(r"write refused \(EROFS\): its home is replica %016x" % p.id)


def test_a_malformed_frame_closes_the_connection(mount_factory, pki):
    b = listener(mount_factory, pki,
                 expect=[r"replica: 127\.0\.0\.1:\d+ sent a frame of "
                         r"(0|83886081) bytes \(1 to 83886080\): closing",
                         r"replica: 127\.0\.0\.1:\d+ sent a malformed "
                         r"frame \((expected HELLO|a TOPIC that does not "
                         r"decode|RECORDS that do not decode|RECORDS of a "
                         r"topic never accepted|the record at byte 2 "
                         r"\(message 1\) does not fit topic /plant/t|an "
                         r"unexpected frame type)\): closing"])
    os.mkdir(b.mnt + "/plant")
    p = Peer(b.port, pki, pki.root)
    p.s.sendall(struct.pack(">I", 0))
    assert p.closed()
    p = Peer(b.port, pki, pki.root)
    p.send(HELLO, b"XXXX" + struct.pack(">HQ", 1, 7) + s16("plant") +
           s16("x"))
    t, w = p.frame()
    assert t == ERROR and error_of(w)[0] == 1
    assert p.closed()
    p = Peer(b.port, pki, pki.root)
    assert p.hello("plant", source=0)[0] == ERROR      # no source stream
    assert p.closed()
    p = Peer(b.port, pki, pki.root)
    assert p.hello("plant")[0] == WELCOME
    p.send(TOPIC, b"\0\0\0\1")          # cut short
    t, w = p.frame()
    assert t == ERROR and error_of(w)[0] == 1
    assert p.closed()
    # A length past the bound: closed before the body is read.
    p = Peer(b.port, pki, pki.root)
    p.s.sendall(struct.pack(">I", 80 * 2**20 + 1))
    assert p.closed()
    # Frames that break their rules, after a good start: each closes the
    # connection, and nothing of them is stored.
    bad = [(TOPIC, "a TOPIC that does not decode",
            struct.pack(">IQIIIQqQQQQ", 2, 5, 0o644, 0, 0, 5, 1, 0, 0, 0, 0)
            + s16("a/b") + s16("")),
           (TOPIC, "a TOPIC that does not decode",      # a birth of 0
            struct.pack(">IQIIIQqQQQQ", 2, 5, 0o644, 0, 0, 0, 1, 0, 0, 0, 0)
            + s16("u") + s16("")),
           (TOPIC, "a TOPIC that does not decode",      # a bad former name
            struct.pack(">IQIIIQqQQQQ", 2, 5, 0o644, 0, 0, 5, 1, 0, 0, 0, 0)
            + s16("u") + s16("..")),
           (RECORDS, "RECORDS that do not decode",
            struct.pack(">II", 1, 0)),
           (RECORDS, "RECORDS of a topic never accepted",
            struct.pack(">II", 9, 1) +
            struct.pack(">QQqIII", 0, 0, NS, 1, 2, 0) + b"x\n"),
           (RECORDS, "RECORDS that do not decode",
            struct.pack(">II", 1, 1) +
            struct.pack(">QQqIII", 0, 0, NS, 1, 200, 0) + b"x\n"),
           (RECORDS, "does not fit topic /plant/t",
            struct.pack(">II", 1, 2) +
            struct.pack(">QQqIII", 0, 0, NS, 1, 2, 0) + b"x\n" +
            struct.pack(">QQqIII", 2, 1, NS - 1, 1, 2, 0) + b"y\n"),
           (ACK, "an unexpected frame type", b"")]
    for ftype, what, body in bad:
        p = Peer(b.port, pki, pki.root)
        p.id = 0x5eed                   # one origin for topic t
        assert p.hello("plant")[0] == WELCOME
        assert p.topic(1, "t", p.id)[0] == 0
        p.send(ftype, body)
        t, w = p.frame()
        assert t == ERROR and error_of(w)[0] == 1, (what, t, w)
        assert what in error_of(w)[1], (what, error_of(w))
        assert p.closed(), what
    # The record that fitted before the bad one is kept; nothing else.
    assert read(b.mnt + "/plant/t") == b"x\n"
    # The listener still serves.
    p = Peer(b.port, pki, pki.root)
    assert p.hello("plant")[0] == WELCOME


def test_a_peer_without_copy_is_refused(mount_factory, pki):
    b = listener(mount_factory, pki,
                 expect=[r"replica: refused 127\.0\.0\.1:\d+: replica "
                         r"[0-9a-f]{16}: user nobody \(the certificate of "
                         r"127\.0\.0\.1:\d+\) may not copy stream /plant"])
    os.mkdir(b.mnt + "/plant")
    p = Peer(b.port, pki, pki.nobody)
    t, w = p.hello("plant")
    assert t == ERROR
    code, msg = error_of(w)
    assert code == 3 and "user nobody" in msg and "copy" in msg, msg
    assert p.closed()
    # With copy granted to nobody, the same peer is welcome.
    run([str(os.path.join(os.path.dirname(__file__), "..", "build", "tools",
                          "streamfs-ace")), "copy=u:nobody", b.mnt + "/plant"])
    p = Peer(b.port, pki, pki.nobody)
    assert p.hello("plant")[0] == WELCOME
    assert not os.path.exists(b.mnt + "/plant/temp")


def test_a_missing_stream_is_refused(mount_factory, pki):
    b = listener(mount_factory, pki,
                 expect=[r"replica: refused 127\.0\.0\.1:\d+: replica "
                         r"[0-9a-f]{16} has no stream /nowhere"])
    p = Peer(b.port, pki, pki.root)
    t, w = p.hello("nowhere")
    assert t == ERROR and error_of(w)[0] == 4


# ---------------------------------------------------------------- links

def source(mount_factory, pki, expect=()):
    c, k = pki.root
    return mount_factory(["tls_cert=" + c, "tls_key=" + k, "tls_ca=" + pki.ca],
                         expect=expect)


def links(m, stream="plant"):
    return os.getxattr(m.mnt + "/" + stream,
                       "user.streamfs.replica.list").decode()


def same(a, b):
    """b's copy of topic a is byte-identical, with the same info."""
    try:
        return read(a) == read(b) and info(a) == info(b)
    except OSError:
        return False


# A link that breaks says so once per new reason, on the source's log.
LINK_LINES = [r"replica: link \d+: (cannot connect to|the connection "
              r"to|sending to) 127\.0\.0\.1:\d+"]


def test_a_link_catches_up_and_resumes_after_restarts(mount_factory, pki):
    b = listener(mount_factory, pki)
    a = source(mount_factory, pki, expect=LINK_LINES)
    os.mkdir(a.mnt + "/plant")
    os.mkdir(b.mnt + "/plant")
    for i in range(50):
        append(a.mnt + "/plant/temp", b"reading %d\n" % i)
    append(a.mnt + "/plant/pump", b"on\n")
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.add",
                b"127.0.0.1:%d/plant" % b.port)
    for t in ("temp", "pump"):
        assert wait_for(lambda: same(a.mnt + "/plant/" + t,
                                     b.mnt + "/plant/" + t), timeout=20), t
    assert wait_for(lambda: re.search(r" up msgs_behind=0 ", links(a)),
                    timeout=10), links(a)
    # New appends follow.
    append(a.mnt + "/plant/temp", b"later\n")
    assert wait_for(lambda: same(a.mnt + "/plant/temp",
                                 b.mnt + "/plant/temp"), timeout=20)
    # The receiver restarted, appends meanwhile: caught up, nothing doubled.
    b.unmount()
    for i in range(20):
        append(a.mnt + "/plant/temp", b"while b was down %d\n" % i)
    b.start()
    assert wait_for(lambda: same(a.mnt + "/plant/temp",
                                 b.mnt + "/plant/temp"), timeout=30)
    # The source killed and restarted: the link is kept and resumes.
    a.kill9()
    a.start()
    append(a.mnt + "/plant/temp", b"after the kill\n")
    assert wait_for(lambda: same(a.mnt + "/plant/temp",
                                 b.mnt + "/plant/temp"), timeout=30)
    # The receiver killed: what it acknowledged is there after recovery,
    # and the rest comes again.
    b.kill9()
    append(a.mnt + "/plant/temp", b"while b was dead\n")
    b.start()
    assert wait_for(lambda: same(a.mnt + "/plant/temp",
                                 b.mnt + "/plant/temp"), timeout=30)
    assert read(b.mnt + "/plant/temp").count(b"reading 7\n") == 1
    # Paused, then resumed: it catches up again.
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.pause", b"1")
    assert wait_for(lambda: " paused " in links(a), timeout=10), links(a)
    append(a.mnt + "/plant/temp", b"while paused\n")
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.resume", b"1")
    assert wait_for(lambda: same(a.mnt + "/plant/temp",
                                 b.mnt + "/plant/temp"), timeout=30)
    b.expect_log(r"replica: 127\.0\.0\.1:\d+ .*(broke|silent|ended)")


def test_a_peer_that_lagged_beyond_retention_continues_at_the_start(
        mount_factory, pki):
    b = listener(mount_factory, pki)
    a = source(mount_factory, pki,
               expect=[r"replica: link \d+: topic /plant/temp: messages 0 "
                       r"to 9 \(bytes 0 to 110\) expired here before they "
                       r"reached 127\.0\.0\.1:\d+/plant"])
    os.mkdir(a.mnt + "/plant")
    os.mkdir(b.mnt + "/plant")
    t = a.mnt + "/plant/temp"
    for i in range(10):
        append(t, b"expiring %d\n" % i)
    os.setxattr(a.mnt + "/plant", "user.streamfs.ttl", b"1")
    assert wait_for(lambda: info(t)["messages"] == 0, timeout=30)
    os.setxattr(a.mnt + "/plant", "user.streamfs.ttl", b"0")
    append(t, b"kept\n")
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.add",
                b"127.0.0.1:%d/plant" % b.port)
    assert wait_for(lambda: same(t, b.mnt + "/plant/temp"), timeout=20)
    i = info(b.mnt + "/plant/temp")
    assert (i["first_offset"], i["first_message"], i["messages"]) == \
        (110, 10, 1), i
    assert read(b.mnt + "/plant/temp") == b"\0" * 110 + b"kept\n"
    assert wait_for(lambda: "expired here" in links(a), timeout=10)


def test_cursors_follow_their_topic(mount_factory, pki):
    """A group that commits on A resumes on B at the same offset, and a
    later commit on B goes back to A (a link each way)."""
    a = listener(mount_factory, pki, expect=LINK_LINES)
    b = listener(mount_factory, pki, expect=LINK_LINES)
    for m in (a, b):
        os.mkdir(m.mnt + "/plant")
    t = a.mnt + "/plant/temp"
    for i in range(5):
        append(t, b"m%d\n" % i)
    os.setxattr(t, "user.streamfs.cursor.etl", b"6")
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.add",
                b"127.0.0.1:%d/plant" % b.port)
    os.setxattr(b.mnt + "/plant", "user.streamfs.replica.add",
                b"127.0.0.1:%d/plant" % a.port)
    tb = b.mnt + "/plant/temp"

    def cursor(path):
        try:
            return os.getxattr(path, "user.streamfs.cursor.etl").decode()
        except OSError:
            return None
    assert wait_for(lambda: cursor(tb) == "6", timeout=20), cursor(tb)
    # The consumer moves to B and commits there: A hears of it.
    os.setxattr(tb, "user.streamfs.cursor.etl", b"12")
    assert wait_for(lambda: cursor(t) == "12", timeout=20), cursor(t)
    # And back on A.
    os.setxattr(t, "user.streamfs.cursor.etl", b"15")
    assert wait_for(lambda: cursor(tb) == "15", timeout=20), cursor(tb)
    assert cursor(t) == "15"


# ---------------------------------------------------------------- options

def start_daemon(tmp_path, opts):
    """The daemon run in the foreground with opts: the finished process
    (it must fail before it mounts)."""
    from util import BUILD
    import subprocess
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    argv = [str(BUILD / "fs" / "streamfs"), "-f"]
    for o in opts:
        argv += ["-o", o]
    return subprocess.run(argv + [str(tmp_path / "data"), str(mnt)],
                          capture_output=True, text=True, timeout=30)


def test_replica_listen_errors_fail_the_mount(mount_factory, tmp_path, pki):
    busy = listener(mount_factory, pki)
    c, k = pki.root
    tls = ["tls_cert=" + c, "tls_key=" + k, "tls_ca=" + pki.ca]
    cases = [
        (["replica_listen=127.0.0.1:%d" % free_port()],
         r"replica_listen needs tls_cert=FILE, tls_key=FILE and "
         r"tls_ca=FILE"),
        (["replica_listen=127.0.0.1"] + tls,
         r"invalid replica_listen=127\.0\.0\.1 \(ADDR:PORT"),
        (["replica_listen=127.0.0.1:0"] + tls,
         r"invalid replica_listen=127\.0\.0\.1:0 \(ADDR:PORT"),
        (["replica_listen=[::1:5"] + tls,
         r"invalid replica_listen=\[::1:5 \(ADDR:PORT"),
        (["replica_listen=127.0.0.1:%d" % busy.port] + tls,
         r"replica_listen=127\.0\.0\.1:%d: Address already in use"
         % busy.port),
        (["replica_listen=no.such.host.invalid:9"] + tls,
         r"replica_listen=no\.such\.host\.invalid:9: "),
    ]
    for opts, want in cases:
        r = start_daemon(tmp_path, opts)
        assert r.returncode != 0, opts
        errs = [l for l in r.stderr.splitlines() if " error: " in l]
        assert len(errs) == 1 and re.search(want, errs[0]), (opts, r.stderr)


def test_a_removal_made_while_the_source_was_down_reaches_the_peer(
        mount_factory, pki):
    b = listener(mount_factory, pki)
    a = source(mount_factory, pki, expect=LINK_LINES)
    os.mkdir(a.mnt + "/plant")
    os.mkdir(b.mnt + "/plant")
    for name in ("gone", "kept"):
        append(a.mnt + "/plant/" + name, b"x\n")
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.add",
                b"127.0.0.1:%d/plant" % b.port)
    for name in ("gone", "kept"):
        assert wait_for(lambda: same(a.mnt + "/plant/" + name,
                                     b.mnt + "/plant/" + name), timeout=20)
    # Removed while the link's thread was not there to see it: restarted
    # without its link (paused), removed, then resumed after a restart.
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.pause", b"1")
    a.restart()
    os.unlink(a.mnt + "/plant/gone")
    a.restart()
    os.setxattr(a.mnt + "/plant", "user.streamfs.replica.resume", b"1")
    assert wait_for(lambda: sorted(os.listdir(b.mnt + "/plant")) ==
                    ["kept"], timeout=20), os.listdir(b.mnt + "/plant")
