"""The TLS Kafka listener (-o kafka_tls=ADDR:PORT with tls_cert, tls_key,
tls_ca and tls_usermap): a CA, the daemon's and clients' certificates are
made with the openssl command line in a temporary folder; kcat and a raw
Python TLS client reach the listener; the caller is the user the client
certificate's CN (or the user map) names; certificates that are expired,
from another CA, missing or naming no user are refused with one log line;
a stalled handshake holds no one up; bad options fail the mount with one
line."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

import pytest

from certs import PKI, leave_mid_handshake
from util import BUILD, append, run, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import kafka_wire as kw                 # noqa: E402
from test_kafka import netns            # noqa: E402,F401 (a fixture)

REFUSED = r"kafka: refused a TLS connection from 127\.0\.0\.1 port \d+: "


def logged(m, pattern):
    """The daemon's log gets a line matching pattern (the refusal's line
    may follow the alert the client saw)."""
    return wait_for(lambda: re.search(pattern, m.log_text()), timeout=10)


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    p = PKI(d)
    p.server = p.issue("/CN=localhost", server=True)
    return p


def tls_options(pki, port, extra=()):
    cert, key = pki.server
    return ["kafka_tls=127.0.0.1:%d" % port, "tls_cert=" + cert,
            "tls_key=" + key, "tls_ca=" + pki.ca] + list(extra)


def tls_mount(mount_factory, pki, extra=(), expect=()):
    port = kw.free_port()
    m = mount_factory(tls_options(pki, port, extra), expect=expect)
    m.port = port
    return m


def need_kcat():
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")


def kcat(m, pki, client, *args, check=True, input=None):
    cert, key = client
    return run(["kcat", "-b", "127.0.0.1:%d" % m.port,
                "-X", "security.protocol=ssl",
                "-X", "ssl.ca.location=" + pki.ca,
                "-X", "ssl.certificate.location=" + cert,
                "-X", "ssl.key.location=" + key,
                "-m", "10"] + list(args), check=check, input=input,
               timeout=60)


def topics(m, pki, client):
    r = kcat(m, pki, client, "-L", "-J")
    return {t["topic"] for t in json.loads(r.stdout)["topics"]}


class TlsConn(kw.Conn):
    """kafka_wire's client over TLS with a client certificate (or none)."""

    def __init__(self, port, pki, client=None, timeout=10,
                 host="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        if host != "127.0.0.1":
            ctx.check_hostname = False  # the certificate names 127.0.0.1
        if client:
            ctx.load_cert_chain(*client)
        raw = socket.create_connection((host, port), timeout=timeout)
        self.s = ctx.wrap_socket(raw, server_hostname=host)
        self.corr = 0


def refused(port, pki, client):
    """True when a TLS client with this certificate cannot get an answer:
    the handshake fails, or the connection closes before the response."""
    try:
        c = TlsConn(port, pki, client)
        c.request(18, 0)
    except (ssl.SSLError, EOFError, ConnectionResetError,
            BrokenPipeError):
        return True
    return False


def alert_of(port, pki, client):
    """The TLS alert a client with this certificate gets (the handshake
    of TLS 1.3 ends for the client before the daemon checks its
    certificate: the alert comes with the first read).  The client sends
    nothing first: bytes the daemon never reads could turn its close into
    a reset that overtakes the alert."""
    c = TlsConn(port, pki, client)
    with pytest.raises(ssl.SSLError) as e:
        c.s.recv(1)
    return str(e.value)


def make_topics(mnt):
    os.chmod(mnt, 0o755)
    for s, mode in (("pub", 0o644), ("priv", 0o600)):
        os.mkdir(os.path.join(mnt, s))
        append(os.path.join(mnt, s, "t"), b"x\n")
        os.chmod(os.path.join(mnt, s, "t"), mode)


# ---------------------------------------------------------------- clients

def test_kcat_lists_topics_over_tls(mount_factory, pki):
    need_kcat()
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    assert {"pub.t", "priv.t"} <= topics(m, pki, pki.issue("/CN=root"))


def test_plain_kafka_listener_beside_tls(mount_factory, pki):
    """kafka= and kafka_tls= together, and kafka_tls= twice; a TLS
    client on the plain port is closed."""
    port, port2, plain = kw.free_port(), kw.free_port(), kw.free_port()
    m = mount_factory(tls_options(pki, port, [
        "kafka=127.0.0.1:%d" % plain, "kafka_tls=127.0.0.1:%d" % port2]))
    make_topics(m.mnt)
    assert "pub.t" in kw.metadata(kw.Conn(plain), None)
    root = pki.issue("/CN=root")
    for p in (port, port2):
        c = TlsConn(p, pki, root)
        assert {"pub.t", "priv.t"} <= set(kw.metadata(c, None))
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        TlsConn(plain, pki, root)


def test_tls_listener_on_ipv6(mount_factory, pki):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    port = kw.free_port()
    cert, key = pki.server
    m = mount_factory(["kafka_tls=[::1]:%d" % port, "tls_cert=" + cert,
                       "tls_key=" + key, "tls_ca=" + pki.ca],
                      expect=[r"kafka: refused a TLS connection from ::1 "
                              r"port \d+: certificate subject CN=no-one-k5"])
    make_topics(m.mnt)
    c = TlsConn(port, pki, pki.issue("/CN=nobody"), host="::1")
    md = kw.metadata(c, None)
    assert "pub.t" in md and "priv.t" not in md
    # The refusal's line names the IPv6 peer.
    bad = TlsConn(port, pki, pki.issue("/CN=no-one-k5"), host="::1")
    with pytest.raises((EOFError, ConnectionResetError, ssl.SSLError)):
        bad.request(18, 0)
    assert logged(m, r"kafka: refused a TLS connection from ::1 port \d+: "
                  r"certificate subject CN=no-one-k5: no user named "
                  r"no-one-k5")


def test_remote_tls_client_is_its_certificates_user(mount_factory, pki,
                                                    netns):
    """A plain listener refuses a peer of another host; a TLS one serves
    it as the user its certificate names."""
    need_kcat()
    run_there, here, there = netns
    port = kw.free_port()
    cert, key = pki.issue("/CN=streamfs", server=True, ip=here)
    m = mount_factory(["kafka_tls=%s:%d" % (here, port), "tls_cert=" + cert,
                       "tls_key=" + key, "tls_ca=" + pki.ca])
    make_topics(m.mnt)
    ccert, ckey = pki.issue("/CN=nobody")
    r = run_there(["kcat", "-b", "%s:%d" % (here, port), "-X",
                   "security.protocol=ssl", "-X",
                   "ssl.ca.location=" + pki.ca, "-X",
                   "ssl.certificate.location=" + ccert, "-X",
                   "ssl.key.location=" + ckey, "-m", "10", "-L", "-J"])
    assert r.returncode == 0, r.stderr
    seen = {t["topic"] for t in json.loads(r.stdout)["topics"]}
    assert "pub.t" in seen and "priv.t" not in seen


def test_cn_names_the_user(mount_factory, pki):
    """CN=nobody is uid 65534: it sees pub.t, not the 0600 priv.t."""
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    c = TlsConn(m.port, pki, pki.issue("/CN=nobody/O=plant"))
    md = kw.metadata(c, None)
    assert "pub.t" in md and "priv.t" not in md
    assert kw.metadata(c, ["priv.t"]) == {"priv.t": 29}
    assert kw.list_offsets(c, "priv.t", -1)[0] == 29
    root = TlsConn(m.port, pki, pki.issue("/CN=root"))
    assert kw.metadata(root, ["priv.t"]) == {"priv.t": 0}


def test_kcat_as_nobody(mount_factory, pki):
    need_kcat()
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    seen = topics(m, pki, pki.issue("/CN=nobody"))
    assert "pub.t" in seen and "priv.t" not in seen


def test_usermap_maps_subject_and_cn(mount_factory, pki, tmp_path):
    umap = tmp_path / "users"
    umap.write_text("# subject or CN, then the user\n\n"
                    "CN=alice,O=plant   nobody\n"
                    "  bob  65534\n"
                    "carol root\n"
                    "CN=Dan Smith,OU=Plant Ops   nobody\r\n")
    m = tls_mount(mount_factory, pki, ["tls_usermap=%s" % umap],
                  expect=[REFUSED])
    make_topics(m.mnt)
    for subj in ("/O=plant/CN=alice", "/CN=bob"):
        md = kw.metadata(TlsConn(m.port, pki, pki.issue(subj)), None)
        assert "pub.t" in md and "priv.t" not in md, subj
    md = kw.metadata(TlsConn(m.port, pki, pki.issue("/CN=carol")), None)
    assert "priv.t" in md
    # A subject with blanks (and a line ending in CR LF).
    md = kw.metadata(TlsConn(m.port, pki,
                             pki.issue("/OU=Plant Ops/CN=Dan Smith")), None)
    assert "pub.t" in md and "priv.t" not in md
    # Not in the map: the CN names the user; alice in another O is not
    # in the map, and there is no user alice.
    md = kw.metadata(TlsConn(m.port, pki, pki.issue("/CN=nobody")), None)
    assert "pub.t" in md and "priv.t" not in md
    assert refused(m.port, pki, pki.issue("/O=other/CN=alice"))
    m.expect_log(REFUSED + r"certificate subject CN=alice,O=other: no "
                 r"user named alice$")
    assert logged(m, REFUSED + "certificate subject CN=alice,O=other: no "
                  "user named alice")


def test_kcat_produces_and_consumes_over_tls(mount_factory, pki):
    need_kcat()
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    root = pki.issue("/CN=root")
    kcat(m, pki, root, "-P", "-t", "pub.t", input="hello\nworld\n")
    with open(os.path.join(m.mnt, "pub", "t"), "rb") as f:
        assert f.read() == b"x\nhello\nworld\n"
    append(os.path.join(m.mnt, "pub", "t"), b"tail\n")
    r = kcat(m, pki, root, "-C", "-t", "pub.t", "-o", "beginning", "-e")
    assert r.stdout.split("\n")[:-1] == ["x", "hello", "world", "tail"]


def test_nobody_over_tls_may_not_produce_to_a_private_topic(mount_factory,
                                                            pki):
    """The certificate's user is the one the produce is checked for: a
    0600 topic of root's takes nothing from CN=nobody, and kcat -C of it
    fails, while pub.t (0644) may be read."""
    need_kcat()
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    nobody = pki.issue("/CN=nobody")
    r = kcat(m, pki, nobody, "-P", "-t", "priv.t", check=False,
             input="no\n")
    assert r.returncode != 0 or "authoriz" in r.stderr.lower(), r.stderr
    with open(os.path.join(m.mnt, "priv", "t"), "rb") as f:
        assert f.read() == b"x\n"
    r = kcat(m, pki, nobody, "-C", "-t", "priv.t", "-o", "beginning", "-e",
             check=False)
    assert r.returncode != 0 and "x" not in r.stdout.split("\n")
    r = kcat(m, pki, nobody, "-C", "-t", "pub.t", "-o", "beginning", "-e")
    assert r.stdout == "x\n"


def test_kafka_python_over_tls(mount_factory, pki):
    """kafka-python produces with a key and a header and reads it back,
    and reads a line appended through the mount, over TLS."""
    try:
        import kafka
    except ImportError:
        pytest.skip("kafka-python (python3-kafka) is not installed")
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    cert, key = pki.issue("/CN=root")
    tls = dict(bootstrap_servers="127.0.0.1:%d" % m.port,
               security_protocol="SSL", ssl_cafile=pki.ca,
               ssl_certfile=cert, ssl_keyfile=key)
    p = kafka.KafkaProducer(**tls)
    p.send("pub.t", b"v1", key=b"k1", headers=[("h", b"1")]).get(30)
    p.close()
    append(os.path.join(m.mnt, "pub", "t"), b"file\n")
    c = kafka.KafkaConsumer(consumer_timeout_ms=5000, **tls)
    tp = kafka.TopicPartition("pub.t", 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for rec in c:
        got.append((rec.key, rec.value, list(rec.headers)))
        if len(got) == 3:
            break
    c.close()
    assert got == [(None, b"x", []), (b"k1", b"v1", [("h", b"1")]),
                   (None, b"file", [])]


# ---------------------------------------------------------------- refusals

def test_unknown_user_is_refused(mount_factory, pki):
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    # The handshake fails: the client is told (a handshake_failure alert),
    # not just disconnected.
    assert "alert handshake failure" in alert_of(
        m.port, pki, pki.issue("/CN=no-such-user-k5"))
    assert logged(m, REFUSED + "certificate subject CN=no-such-user-k5: no "
                     "user named no-such-user-k5")
    # A certificate without a CN names no one.
    assert refused(m.port, pki, pki.issue("/O=plant"))
    assert logged(m, REFUSED + "certificate subject O=plant has no single "
                     "CN")
    # The listener still serves.
    assert not refused(m.port, pki, pki.issue("/CN=root"))


def test_expired_certificate_is_refused(mount_factory, pki):
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    assert refused(m.port, pki, pki.issue("/CN=root", days=-1))
    assert logged(m, REFUSED + "certificate: certificate has expired"), \
        m.log_tail()


def test_other_ca_is_refused(mount_factory, pki, tmp_path):
    d = tmp_path / "other"
    d.mkdir()
    other = PKI(d, "other")
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    assert refused(m.port, pki, other.issue("/CN=root"))
    assert logged(m, REFUSED + "certificate: unable to get local "
                  "issuer"), m.log_tail()


def test_no_client_certificate_is_refused(mount_factory, pki):
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    assert refused(m.port, pki, None)
    assert logged(m, REFUSED + "peer did not return a "
                  "certificate"), m.log_tail()


def test_kcat_with_another_ca_is_refused(mount_factory, pki, tmp_path):
    need_kcat()
    d = tmp_path / "other"
    d.mkdir()
    other = PKI(d, "other")
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    r = kcat(m, pki, other.issue("/CN=root"), "-L", check=False)
    assert r.returncode != 0
    assert logged(m, REFUSED + "certificate: ")


def test_plain_kafka_bytes_on_tls_port_are_refused(mount_factory, pki):
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    c = kw.Conn(m.port)
    c.send(kw.frame(kw.header(18, 0, 1)))
    assert c.closed()
    assert logged(m, REFUSED + "(wrong version number|http request|"
                     "unknown protocol|record layer failure)"), m.log_tail()


def test_stalled_handshake_holds_no_one_up(mount_factory, pki):
    """A client that connects and sends half a ClientHello, and one that
    sends nothing, do not stop another client's handshake and requests."""
    m = tls_mount(mount_factory, pki, expect=[REFUSED])
    silent = socket.create_connection(("127.0.0.1", m.port))
    half = socket.create_connection(("127.0.0.1", m.port))
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    c = TlsConn(m.port, pki, pki.issue("/CN=root"))
    assert c.request(18, 0).i16() == 0
    silent.close()
    half.close()


def test_client_leaving_mid_handshake_is_not_a_refusal(mount_factory, pki):
    """librdkafka drops a bootstrap connection it no longer needs, at
    times in its handshake: the daemon says so as news (no warning; the
    fixture fails on one), and serves the next client."""
    m = tls_mount(mount_factory, pki)
    socket.create_connection(("127.0.0.1", m.port)).close()
    leave_mid_handshake(m.port, pki.ca)
    assert wait_for(lambda: len(re.findall(
        r"info: kafka: 127\.0\.0\.1 port \d+ closed its connection "
        r"during the TLS handshake", m.log_text())) == 2, timeout=10), \
        m.log_tail()
    c = TlsConn(m.port, pki, pki.issue("/CN=root"))
    assert c.request(18, 0).i16() == 0
    assert "refused" not in m.log_text()


def test_stalled_handshakes_make_room_for_new_ones(mount_factory, pki):
    """Past 512 handshakes under way the oldest goes: 520 clients stalled
    in their ClientHello do not keep a new client out, and the first of
    them is closed."""
    m = tls_mount(mount_factory, pki,
                  expect=[REFUSED, r"kafka: 512 TLS handshakes under way: "
                          r"closing the oldest"])
    stalled = []
    for _ in range(520):
        s = socket.create_connection(("127.0.0.1", m.port), timeout=30)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        stalled.append(s)
    c = TlsConn(m.port, pki, pki.issue("/CN=root"))
    assert c.request(18, 0).i16() == 0
    assert stalled[0].recv(1) == b""
    assert logged(m, "kafka: 512 TLS handshakes under way: closing the "
                  "oldest")
    for s in stalled:
        s.close()


def test_many_requests_over_one_tls_connection(mount_factory, pki):
    """Requests sent back to back in one write (several TLS records, more
    than one read) are all answered in order."""
    m = tls_mount(mount_factory, pki)
    make_topics(m.mnt)
    c = TlsConn(m.port, pki, pki.issue("/CN=root"))
    body = kw.struct.pack(">i", -1)
    n = 200
    c.send(b"".join(kw.frame(kw.header(3, 1, i) + body)
                    for i in range(1, n + 1)))
    for i in range(1, n + 1):
        corr, _ = c.response()
        assert corr == i


# ---------------------------------------------------------------- options

def start(tmp_path, opts):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    argv = [str(BUILD / "fs" / "streamfs"), "-f"]
    for o in opts:
        argv += ["-o", o]
    return subprocess.run(argv + [str(tmp_path / "data"), str(mnt)],
                          capture_output=True, text=True, timeout=30)


def errors(r):
    return [line for line in r.stderr.splitlines() if " error: " in line]


def test_option_errors(tmp_path, pki):
    cert, key = pki.server
    port = kw.free_port()
    tls = "kafka_tls=127.0.0.1:%d" % port
    os.chmod(tmp_path, 0o755)
    unreadable = tmp_path / "unreadable.key"
    shutil.copy(key, unreadable)
    os.chmod(unreadable, 0)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other_key = pki.issue("/CN=x")[1]
    cases = [
        ([tls], r"kafka_tls needs tls_cert=FILE, tls_key=FILE and "
                r"tls_ca=FILE"),
        ([tls, "tls_cert=" + cert, "tls_ca=" + pki.ca],
         r"TLS needs tls_cert, tls_key and tls_ca: tls_key= is missing"),
        ([tls, "tls_cert=" + cert, "tls_key=" + str(tmp_path / "none"),
          "tls_ca=" + pki.ca],
         r"tls_key=\S+/none: No such file or directory"),
        ([tls, "tls_cert=" + str(garbage), "tls_key=" + key,
          "tls_ca=" + pki.ca], r"tls_cert=\S+garbage.pem: "),
        ([tls, "tls_cert=" + cert, "tls_key=" + other_key,
          "tls_ca=" + pki.ca], r"tls_key=\S+: not the key of tls_cert="),
        ([tls, "tls_cert=" + cert, "tls_key=" + key,
          "tls_ca=" + str(garbage)],
         r"tls_ca=\S+garbage.pem: no PEM certificate in it"),
        (["kafka_tls=127.0.0.1", "tls_cert=" + cert, "tls_key=" + key,
          "tls_ca=" + pki.ca], r"invalid kafka_tls=127.0.0.1 \(ADDR:PORT"),
    ]
    umap = tmp_path / "umap"
    umap.write_text("alice root\nbob no-such-user-k5\n")
    cases.append((tls_options(pki, port, ["tls_usermap=%s" % umap]),
                  r"tls_usermap=\S+ line 2: no such user"))
    umap2 = tmp_path / "umap2"
    umap2.write_text("lonely\n")
    cases.append((tls_options(pki, port, ["tls_usermap=%s" % umap2]),
                  r"tls_usermap=\S+ line 1: a line is NAME USER"))
    cases.append((tls_options(pki, port,
                              ["tls_usermap=%s" % (tmp_path / "nomap")]),
                  r"tls_usermap=\S+nomap: No such file or directory"))
    for opts, want in cases:
        r = start(tmp_path, opts)
        assert r.returncode != 0, opts
        errs = errors(r)
        assert len(errs) == 1 and re.search(want, errs[0]), (opts, r.stderr)
        assert "unknown option" not in r.stderr


def test_unreadable_key_as_other_user(pki, other_user):
    """The daemon run by a user who cannot read the key says so."""
    top = tempfile.mkdtemp(prefix="streamfs-tls-")
    try:
        os.chmod(top, 0o755)
        cert, key = (shutil.copy(f, top) for f in pki.server)
        ca = shutil.copy(pki.ca, top)
        os.chmod(key, 0o600)
        mnt, data = os.path.join(top, "mnt"), os.path.join(top, "data")
        for d in (mnt, data):
            os.mkdir(d)
            os.chown(d, other_user.uid, other_user.gid)
        opts = ["kafka_tls=127.0.0.1:%d" % kw.free_port(), "tls_cert=" + cert,
                "tls_key=" + key, "tls_ca=" + ca]
        r = other_user.run([str(BUILD / "fs" / "streamfs"), "-f", "-o",
                            ",".join(opts), data, mnt], timeout=30)
    finally:
        shutil.rmtree(top)
    assert r.returncode != 0
    errs = errors(r)
    assert len(errs) == 1 and re.search(
        r"tls_key=\S+: Permission denied", errs[0]), r.stderr
