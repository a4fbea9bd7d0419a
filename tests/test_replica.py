"""Replication between mounts over TLS on loopback: links made and managed
through the attributes user.streamfs.replica.* of a stream and with
`streamctl replica`; a link pushes every topic with its bytes, offsets,
arrival times and Kafka keys; a topic is appended to only at its home
(EROFS elsewhere); restarts and kill -9 resume with nothing lost or
doubled; multi-master pairs and a ring of three converge; bad
certificates and peers without the copy permission are refused with one
clear line; a replica with a short ttl does not get expired data back.

Every wait is a bounded poll for the state the test expects (CONVERGE
seconds at most): no pass or fail depends on how long anything took."""
import errno
import os
import re
import shutil
import socket
import sys

import pytest

from certs import PKI, leave_mid_handshake
from util import BUILD, PFX, append, errno_of, info, read, run, sh, wait_for

sys.path.insert(0, os.path.dirname(__file__))
import faults                          # noqa: E402
import kafka_wire as kw                 # noqa: E402

STREAMCTL = BUILD / "tools" / "streamctl"
CONVERGE = 60           # the bound of every wait for replicas to agree
# The daemon's replication lines start "replication: " (the listener
# and incoming connections) or "replication link N: " (a link); the
# patterns take "replica: " and "replica: link N: " too.
SIDE = r"replica(?:tion)?: "
LINK = r"replica(?:tion)?:? link \d+: "

# What a daemon may log about a link or a connection that dropped while
# a test took it away (a peer restarted, killed or unmounted first at the
# end of the test).
DROPPED = r"replica(?:tion)?:?( link \d+:)? .*(broke|cannot connect|" \
          r"connection|did not answer|was silent|ended the)"

# The line an append to a topic homed elsewhere leaves in the log.
EROFS_LINE = r"write refused \(EROFS\): its home is replica [0-9a-f]{16}"

allow_other = pytest.mark.mount_options("allow_other")


# ---------------------------------------------------------------- set-up

@pytest.fixture
def pki(tmp_path):
    """A CA and one certificate (CN=root, naming 127.0.0.1) that every
    replica uses as its server and its client certificate."""
    d = tmp_path / "pki"
    d.mkdir()
    p = PKI(d)
    p.root = p.issue("/CN=root", server=True)
    return p


def tls_options(pki, cert=None, ca=None):
    cert, key = cert or pki.root
    return ["tls_cert=" + cert, "tls_key=" + key, "tls_ca=" + (ca or pki.ca)]


def replica(mount_factory, pki, cert=None, extra=(), expect=(), ca=None,
            data=None, env=None):
    """A mount listening for replication on a free loopback port
    (m.port); its stream plant exists."""
    port = kw.free_port()
    m = mount_factory(["replica_listen=127.0.0.1:%d" % port] +
                      tls_options(pki, cert, ca) + list(extra),
                      expect=list(expect) + [DROPPED], data=data, env=env)
    m.port = port
    os.makedirs(os.path.join(m.mnt, "plant"), exist_ok=True)
    return m


def source(mount_factory, pki):
    """A mount with the tls_ options and no listener (a source needs
    none); m.port is a port nothing listens on; its stream plant
    exists."""
    m = mount_factory(tls_options(pki))
    m.port = kw.free_port()
    m.expect_log(DROPPED)
    os.mkdir(os.path.join(m.mnt, "plant"))
    return m


def ctl(*args, check=True):
    return run([STREAMCTL] + [str(a) for a in args], check=check)


def target(m, stream="plant"):
    return "127.0.0.1:%d/%s" % (m.port, stream)


def link(src, dst, to="plant", stream="plant"):
    """streamctl replica add SRC/stream -> DST/to: the new link's id."""
    r = ctl("replica", "add", os.path.join(src.mnt, stream),
            target(dst, to))
    assert re.fullmatch(r"\d+\n", r.stdout), r.stdout
    return int(r.stdout)


LINE = re.compile(r'^(\d+) (\S+) (\w+) msgs_behind=(\d+) '
                  r'secs_behind=([\d.]+) last_error="((?:[^"\\]|\\.)*)"$')


def links(m, stream="plant"):
    """The listing user.streamfs.replica.list of a stream, as dicts."""
    text = os.getxattr(os.path.join(m.mnt, stream),
                       PFX + "replica.list").decode()
    out = []
    for line in text.splitlines():
        mt = LINE.match(line)
        assert mt, "malformed replica.list line %r" % line
        out.append({"id": int(mt.group(1)), "target": mt.group(2),
                    "state": mt.group(3), "msgs_behind": int(mt.group(4)),
                    "secs_behind": float(mt.group(5)),
                    "last_error": mt.group(6)})
    return out


def topics(m, stream="plant"):
    """{name: (bytes, info)} of the stream's topics."""
    d = os.path.join(m.mnt, stream)
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        try:
            if os.getxattr(p, PFX + "kind") != b"topic":
                continue
        except OSError:
            continue
        out[name] = (read(p), info(p))
    return out


def agree(*ms, stream="plant"):
    """Every replica holds the same topics, byte for byte, with the same
    offsets and times; wait for it (bounded)."""
    def same():
        first = topics(ms[0], stream)
        return all(topics(m, stream) == first for m in ms[1:]) and first
    return wait_for(same, timeout=CONVERGE, interval=0.1)


def info_text(m, path):
    """streamctl info of a topic, its mount's path taken out."""
    r = ctl("info", os.path.join(m.mnt, path))
    return r.stdout.replace(m.mnt, "MNT")


def lines(n, tag):
    return b"".join(b"%s %d\n" % (tag.encode(), i) for i in range(n))


def append_lines(path, n, tag, start=0):
    for i in range(start, start + n):
        append(path, b"%s %d\n" % (tag.encode(), i))


def copied_topic(a, b, n=10):
    """Topic plant/t with n messages at A, copied to B over a link made
    already: its paths at A and at B."""
    ta = os.path.join(a.mnt, "plant", "t")
    tb = os.path.join(b.mnt, "plant", "t")
    append_lines(ta, n, "a")
    assert agree(a, b)
    return ta, tb


# ---------------------------------------------------------------- control

def test_links_added_listed_paused_resumed_removed(mount_factory, pki):
    a = source(mount_factory, pki)
    a.expect_log(DROPPED)
    plant = os.path.join(a.mnt, "plant")
    assert links(a) == []
    one = link(a, a, "other")       # nothing listens to check: a source
    two = ctl("replica", "add", plant, "localhost:1/x/y").stdout.strip()
    ls = links(a)
    assert [(l["id"], l["target"]) for l in ls] == [
        (one, target(a, "other")), (int(two), "localhost:1/x/y")]
    assert {l["state"] for l in ls} <= {"connecting", "error", "up"}
    # pause and resume by id, by target; the same again changes nothing
    os.setxattr(plant, PFX + "replica.pause", str(one).encode())
    os.setxattr(plant, PFX + "replica.pause", str(one).encode())
    assert links(a)[0]["state"] == "paused"
    assert links(a)[1]["state"] != "paused"
    ctl("replica", "resume", plant, target(a, "other"))
    assert links(a)[0]["state"] != "paused"
    ctl("replica", "pause", plant, two)
    assert links(a)[1]["state"] == "paused"
    ctl("replica", "remove", plant, two)
    assert [l["id"] for l in links(a)] == [one]
    assert wait_for(lambda: re.search(r"replica: link %s: ends: it was "
                                      r"removed" % two, a.log_text()))
    os.setxattr(plant, PFX + "replica.remove", target(a, "other").encode())
    assert links(a) == []
    # ids are not reused
    assert link(a, a, "other") > int(two)
    # an IPv6 peer, a path of several names
    for t in ("[::1]:9093/a/b", "localhost:65535/x.y/z"):
        os.setxattr(plant, PFX + "replica.add", t.encode())
        assert links(a)[-1]["target"] == t
        os.setxattr(plant, PFX + "replica.remove", t.encode() + b"\n")
    assert [l["target"] for l in links(a)] == [target(a, "other")]
    # the system stream is nobody's to replicate from here
    sysdir = os.path.join(a.mnt, ".streamfs")
    assert errno_of(os.setxattr, sysdir, PFX + "replica.add",
                    target(a).encode()) == errno.EPERM


BAD_TARGETS = ["", "host", "host/x", ":1/x", "host:/x", "host:0/x",
               "host:65536/x", "host:123456/x", "host:1x/x", "host:1/",
               "host:1//x", "host:1/x/", "host:1/./x", "host:1/x/..",
               "ho st:1/x", "host:1/x y\n\n", "[::1/x", "host:-1/x",
               "host:1/" + "n" * 256, "h" * 300 + ":1/x"]


def test_bad_link_values_change_nothing(mount_factory, pki):
    a = source(mount_factory, pki)
    a.expect_log(DROPPED)
    plant = os.path.join(a.mnt, "plant")
    one = link(a, a, "other")

    def held():     # the links, not their state, which moves on its own
        return [(l["id"], l["target"]) for l in links(a)]
    before = held()
    got = {v: errno_of(os.setxattr, plant, PFX + "replica.add", v.encode())
           for v in BAD_TARGETS}
    assert got == {v: errno.EINVAL for v in BAD_TARGETS}
    for name in ("replica.remove", "replica.pause", "replica.resume"):
        for v in ("", "x", "-1", "1.0", "99999999999999999999999",
                  "host:1/"):
            with pytest.raises(OSError) as e:
                os.setxattr(plant, PFX + name, v.encode())
            assert e.value.errno == errno.EINVAL, (name, v)
        for v in (str(one + 100), "127.0.0.1:1/nowhere"):
            with pytest.raises(OSError) as e:
                os.setxattr(plant, PFX + name, v.encode())
            assert e.value.errno == errno.ENOENT, (name, v)
    with pytest.raises(OSError) as e:       # the same link again
        os.setxattr(plant, PFX + "replica.add", target(a, "other").encode())
    assert e.value.errno == errno.EEXIST
    for name, err in (("replica.list", errno.EPERM),
                      ("replica.other", errno.EINVAL)):
        with pytest.raises(OSError) as e:
            os.setxattr(plant, PFX + name, b"1")
        assert e.value.errno == err, name
    # a link of another stream is not this stream's
    os.mkdir(os.path.join(a.mnt, "other"))
    with pytest.raises(OSError) as e:
        os.setxattr(os.path.join(a.mnt, "other"), PFX + "replica.remove",
                    str(one).encode())
    assert e.value.errno == errno.ENOENT
    # on a topic or blob: not a stream
    append(os.path.join(plant, "t"), b"x\n")
    with pytest.raises(OSError) as e:
        os.setxattr(os.path.join(plant, "t"), PFX + "replica.add",
                    target(a, "other").encode())
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        os.getxattr(os.path.join(plant, "t"), PFX + "replica.list")
    assert e.value.errno == errno.ENODATA
    assert held() == before
    assert links(a, "other") == []
    # one newline at the end is taken, as for policies
    os.setxattr(plant, PFX + "replica.pause", b"%d\n" % one)
    assert links(a)[0]["state"] == "paused"


def test_add_needs_the_tls_options(mount_factory):
    m = mount_factory()
    os.mkdir(os.path.join(m.mnt, "plant"))
    with pytest.raises(OSError) as e:
        os.setxattr(os.path.join(m.mnt, "plant"), PFX + "replica.add",
                    b"127.0.0.1:9/plant")
    assert e.value.errno == errno.EOPNOTSUPP
    assert links(m) == []


@allow_other
def test_links_need_admin(mount_factory, pki, other_user):
    a = mount_factory(tls_options(pki) + ["allow_other"])
    a.port = kw.free_port()
    a.expect_log(DROPPED)
    os.mkdir(os.path.join(a.mnt, "plant"))
    os.chmod(a.mnt, 0o777)
    plant = os.path.join(a.mnt, "plant")
    os.chmod(plant, 0o777)
    one = link(a, a, "other")
    for name, val in (("replica.add", "127.0.0.1:1/x"),
                      ("replica.pause", str(one)),
                      ("replica.resume", str(one)),
                      ("replica.remove", str(one))):
        assert other_user.call("os.setxattr(%r, %r, %r)" % (
            plant, PFX + name, val.encode())) == "EACCES", name
    assert other_user.call("os.getxattr(%r, %r)" % (
        plant, PFX + "replica.list")) == "EACCES"
    r = other_user.run([STREAMCTL, "replica", "add", plant, "h:1/x"])
    assert r.returncode == 1
    assert "permission denied" in r.stderr and r.stderr.count("\n") == 1
    assert [l["id"] for l in links(a)] == [one]
    assert links(a)[0]["state"] != "paused"
    # the stream's admin ACE grants it
    os.setxattr(plant, PFX + "ace.admin", b"u:nobody")
    assert other_user.call("os.setxattr(%r, %r, b'%d')" % (
        plant, PFX + "replica.pause", one)) == "OK"
    assert links(a)[0]["state"] == "paused"


def test_streamctl_replica_usage(mount_factory, pki):
    a = source(mount_factory, pki)
    plant = os.path.join(a.mnt, "plant")
    r = ctl("replica", "--help")
    assert "streamctl replica add STREAM HOST:PORT/PATH" in r.stdout
    for args in ([], ["frob", plant], ["add", plant], ["list"],
                 ["pause", plant], ["add", plant, "h:1/x", "more"],
                 ["list", plant, "more"]):
        r = ctl("replica", *args, check=False)
        assert r.returncode == 2, args
        assert r.stderr.count("\n") == 1, r.stderr
    r = ctl("replica", "add", plant, "nohost", check=False)
    assert r.returncode == 1
    assert "not a link target: 'nohost'" in r.stderr
    r = ctl("replica", "remove", plant, "7", check=False)
    assert r.returncode == 1 and "no link '7'" in r.stderr
    r = ctl("replica", "list", "/proc", check=False)
    assert r.returncode == 1 and "not on a streamfs mount" in r.stderr
    assert ctl("replica", "list", plant).stdout == ""
    assert links(a) == []


def test_links_survive_a_restart(mount_factory, pki):
    a = source(mount_factory, pki)
    a.expect_log(DROPPED)
    one = link(a, a, "other")
    two = link(a, a, "third")
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), two)
    a.restart()
    ls = links(a)
    assert [(l["id"], l["target"]) for l in ls] == [
        (one, target(a, "other")), (two, target(a, "third"))]
    assert ls[0]["state"] != "paused" and ls[1]["state"] == "paused"
    # deleting the stream deletes its links
    os.rmdir(os.path.join(a.mnt, "plant"))
    os.mkdir(os.path.join(a.mnt, "plant"))
    assert links(a) == []


# ---------------------------------------------------------------- one way

def test_a_to_b_identical(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    pa = os.path.join(a.mnt, "plant")
    sh("echo before >> %s/t1" % pa)
    lid = link(a, b)
    sh("echo after >> %s/t1; echo second >> %s/t2" % (pa, pa))
    append_lines(os.path.join(pa, "t2"), 50, "m")
    assert agree(a, b)
    for t in ("t1", "t2"):
        sh("cmp %s/%s %s/plant/%s" % (pa, t, b.mnt, t))
        assert info_text(a, "plant/" + t) == info_text(b, "plant/" + t)
        # the same records, with the same arrival times
        assert os.getxattr(os.path.join(pa, t), PFX + "index.0") == \
            os.getxattr(os.path.join(b.mnt, "plant", t), PFX + "index.0")
    assert read(os.path.join(pa, "t1")) == b"before\nafter\n"
    ls = wait_for(lambda: [l for l in links(a) if l["state"] == "up" and
                           l["msgs_behind"] == 0], timeout=CONVERGE)
    assert ls and ls[0]["id"] == lid and ls[0]["last_error"] == ""
    # A topic is appended to at its home only.
    with pytest.raises(OSError) as e:
        append(os.path.join(b.mnt, "plant", "t1"), b"not here\n")
    assert e.value.errno == errno.EROFS
    b.expect_log(EROFS_LINE)
    assert os.getxattr(os.path.join(b.mnt, "plant", "t1"),
                       PFX + "home") == \
        os.getxattr(a.mnt, PFX + "replica_id")
    # new appends keep coming
    sh("echo later >> %s/t1" % pa)
    assert agree(a, b)
    assert read(os.path.join(b.mnt, "plant", "t1")).endswith(b"later\n")


def test_kafka_keys_and_times_replicate(mount_factory, pki):
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    ka, kb = kw.free_port(), kw.free_port()
    a = replica(mount_factory, pki, extra=["kafka=127.0.0.1:%d" % ka])
    b = replica(mount_factory, pki, extra=["kafka=127.0.0.1:%d" % kb])
    ctl("create-topic", os.path.join(a.mnt, "plant", "k"))
    link(a, b)
    run(["kcat", "-P", "-b", "127.0.0.1:%d" % ka, "-t", "plant.k", "-K:"],
        input="key1:value one\nkey2:value two\n")
    assert wait_for(lambda: info(os.path.join(a.mnt, "plant", "k"))[
        "messages"] == 2, timeout=CONVERGE)
    assert agree(a, b)
    fmt = ["-f", "%k=%s@%T\n", "-o", "beginning", "-e", "-q"]
    ra = run(["kcat", "-C", "-b", "127.0.0.1:%d" % ka, "-t", "plant.k"] +
             fmt, timeout=60)
    rb = run(["kcat", "-C", "-b", "127.0.0.1:%d" % kb, "-t", "plant.k"] +
             fmt, timeout=60)
    assert rb.stdout == ra.stdout
    assert [l.split("@")[0] for l in rb.stdout.splitlines()] == [
        "key1=value one", "key2=value two"]


# ---------------------------------------------------------------- drops

def test_restart_and_kill_resume_without_loss_or_doubles(mount_factory,
                                                         pki):
    a = replica(mount_factory, pki, expect=[DROPPED])
    b = replica(mount_factory, pki, expect=[DROPPED])
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 100, "one")
    link(a, b)
    assert agree(a, b)
    # B goes away while A appends; it comes back and catches up.
    b.unmount()
    append_lines(t, 100, "two")
    b.start()
    assert agree(a, b)
    # B is killed while A appends, and restarted.
    append_lines(t, 50, "kill")
    b.kill9()
    append_lines(t, 50, "kill", 50)
    b.start()
    assert agree(a, b)
    # A is killed mid-stream and restarted.
    append_lines(t, 50, "three")
    a.kill9()
    a.start()
    append_lines(t, 50, "four")
    assert agree(a, b)
    want = (lines(100, "one") + lines(100, "two") + lines(100, "kill") +
            lines(50, "three") + lines(50, "four"))
    assert read(os.path.join(b.mnt, "plant", "t")) == want
    assert info(os.path.join(b.mnt, "plant", "t"))["messages"] == 400


def test_power_cut_at_the_home_leaves_no_copy_ahead_of_it(mount_factory,
                                                          pki, tmp_path):
    """Under durability=os an append is durable only once something
    syncs it.  A link sends only records durable at the home, so a power
    cut there cannot take records a copy already holds: the home would
    append other records at their offsets, which the copy would skip as
    held, and the two would differ from there on.  A's data folder runs
    under the fault shim's journal, which makes the cut lose exactly
    what was not synced."""
    data = tmp_path / "data-home"
    env = faults.fault_env(data, None, log=tmp_path / "home.faultlog",
                           journal=tmp_path / "home.journal")
    a = replica(mount_factory, pki, data=data, env=env,
                expect=[DROPPED, r"recover"])
    b = replica(mount_factory, pki, expect=[DROPPED])
    ta = os.path.join(a.mnt, "plant", "t")
    tb = os.path.join(b.mnt, "plant", "t")
    link(a, b)
    append_lines(ta, 1, "before")
    fd = os.open(ta, os.O_RDONLY)
    os.fsync(fd)                # the topic and its first line
    os.close(fd)
    append_lines(ta, 99, "before", 1)
    assert agree(a, b)
    a.power_cut()
    a.start()
    assert read(ta) == lines(100, "before")
    append_lines(ta, 20, "after")
    assert agree(a, b)
    assert read(tb) == lines(100, "before") + lines(20, "after")


def test_power_cut_at_the_copy_resumes_where_it_is_durable(mount_factory,
                                                           pki, tmp_path):
    """The receiver acknowledges records only once they are durable, so
    after a power cut there (its data folder cut back to what was
    synced) the link resends exactly what the cut took: nothing lost,
    nothing doubled."""
    data = tmp_path / "data-copy"
    env = faults.fault_env(data, None, log=tmp_path / "copy.faultlog",
                           journal=tmp_path / "copy.journal")
    a = replica(mount_factory, pki, expect=[DROPPED])
    b = replica(mount_factory, pki, data=data, env=env,
                expect=[DROPPED, r"recover"])
    link(a, b)
    ta, tb = copied_topic(a, b, 50)
    for rnd in range(3):
        append_lines(ta, 50, "cut%d" % rnd)
        b.power_cut()
        append_lines(ta, 10, "down%d" % rnd)
        b.start()
        assert agree(a, b)
    want = lines(50, "a") + b"".join(lines(50, "cut%d" % r) +
                                     lines(10, "down%d" % r)
                                     for r in range(3))
    assert read(tb) == want
    assert info(tb)["messages"] == 230


def test_copy_ahead_of_its_home_is_said_and_left_alone(mount_factory, pki,
                                                      tmp_path):
    """A home whose data folder is put back from an older copy holds less
    than its copies.  The link says so instead of sending the home's new
    records, which would take offsets the copy holds other records at."""
    data = tmp_path / "data-home"
    a = replica(mount_factory, pki, data=data,
                expect=[DROPPED, LINK + "topic /plant/t: the copy at .* "
                        "past its end here"])
    b = replica(mount_factory, pki, expect=[DROPPED])
    link(a, b)
    ta, tb = copied_topic(a, b, 10)
    a.unmount()
    shutil.copytree(data, tmp_path / "backup")
    a.start()
    append_lines(ta, 10, "a", 10)
    assert agree(a, b)
    a.unmount()
    shutil.rmtree(data)
    shutil.copytree(tmp_path / "backup", data)
    a.start()
    append_lines(ta, 15, "new")
    assert wait_for(lambda: "past its end here" in links(a)[0]["last_error"],
                    timeout=CONVERGE), links(a)
    assert "topic /plant/t: the copy at 127.0.0.1:%d/plant ends at byte 90" \
        % b.port in links(a)[0]["last_error"]
    assert read(tb) == lines(20, "a")


def test_paused_link_holds_then_catches_up(mount_factory, pki):
    a = replica(mount_factory, pki, expect=[DROPPED])
    b = replica(mount_factory, pki, expect=[DROPPED])
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 10, "x")
    lid = link(a, b)
    assert agree(a, b)
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), lid)
    assert wait_for(lambda: links(a)[0]["state"] == "paused")
    append_lines(t, 10, "y")
    assert info(os.path.join(b.mnt, "plant", "t"))["messages"] == 10
    a.restart()             # the pause is kept
    assert links(a)[0]["state"] == "paused"
    append_lines(t, 10, "z")
    assert info(os.path.join(b.mnt, "plant", "t"))["messages"] == 10
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), lid)
    assert agree(a, b)
    assert info(os.path.join(b.mnt, "plant", "t"))["messages"] == 30


FED = r"stream /plant receives another stream of replica [0-9a-f]{16} " \
      r"and holds its topics"


def test_second_stream_of_a_replica_into_one_stream_refused(mount_factory,
                                                            pki):
    """A stream takes one stream of each replica: A's second stream linked
    into B's plant is refused (both sides say why) and B's copies of the
    first stay; renaming A's first stream does not make it another one;
    once B holds none of A's topics the other stream may come in."""
    a = replica(mount_factory, pki, expect=[FED])
    b = replica(mount_factory, pki, expect=[FED])
    append_lines(os.path.join(a.mnt, "plant", "t"), 5, "x")
    os.mkdir(os.path.join(a.mnt, "other"))
    append_lines(os.path.join(a.mnt, "other", "u"), 3, "y")
    one = link(a, b)
    assert agree(a, b)
    two = link(a, b, stream="other")
    assert wait_for(lambda: re.search(FED + r".*\(code 8\)",
                                      links(a, "other")[0]["last_error"]),
                    timeout=CONVERGE), links(a, "other")
    assert wait_for(lambda: re.search(r"replica: refused 127\.0\.0\.1:\d+: "
                                      r"replica [0-9a-f]{16}: " + FED,
                                      b.log_text()), timeout=CONVERGE)
    assert sorted(os.listdir(os.path.join(b.mnt, "plant"))) == ["t"]
    assert read(os.path.join(b.mnt, "plant", "t")) == \
        read(os.path.join(a.mnt, "plant", "t"))
    # The same stream under a new name is still the one B receives.
    os.rename(os.path.join(a.mnt, "plant"), os.path.join(a.mnt, "crops"))
    ctl("replica", "pause", os.path.join(a.mnt, "crops"), one)
    ctl("replica", "resume", os.path.join(a.mnt, "crops"), one)
    append_lines(os.path.join(a.mnt, "crops", "t"), 5, "z", start=5)
    assert wait_for(lambda: info(os.path.join(b.mnt, "plant", "t"))[
        "messages"] == 10, timeout=CONVERGE)
    # Without A's topics at B, the other stream is taken.
    ctl("replica", "remove", os.path.join(a.mnt, "crops"), one)
    os.unlink(os.path.join(b.mnt, "plant", "t"))
    ctl("replica", "pause", os.path.join(a.mnt, "other"), two)
    ctl("replica", "resume", os.path.join(a.mnt, "other"), two)
    assert wait_for(lambda: os.listdir(os.path.join(b.mnt, "plant")) ==
                    ["u"], timeout=CONVERGE)
    assert read(os.path.join(b.mnt, "plant", "u")) == \
        read(os.path.join(a.mnt, "other", "u"))


def test_topic_deletion_replicates(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    append_lines(os.path.join(a.mnt, "plant", "gone"), 3, "g")
    append_lines(os.path.join(a.mnt, "plant", "kept"), 3, "k")
    link(a, b)
    assert agree(a, b)
    os.unlink(os.path.join(a.mnt, "plant", "gone"))
    assert agree(a, b)
    assert sorted(os.listdir(os.path.join(b.mnt, "plant"))) == ["kept"]


# ---------------------------------------------------------------- graphs

def test_multi_master_pair(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    link(a, b)
    link(b, a)
    append_lines(os.path.join(a.mnt, "plant", "from_a"), 20, "a")
    append_lines(os.path.join(b.mnt, "plant", "from_b"), 20, "b")
    assert agree(a, b)
    assert set(topics(a)) == {"from_a", "from_b"}
    # each topic is written at its home only
    for m, t in ((a, "from_b"), (b, "from_a")):
        with pytest.raises(OSError) as e:
            append(os.path.join(m.mnt, "plant", t), b"no\n")
        assert e.value.errno == errno.EROFS
        m.expect_log(EROFS_LINE)
    append_lines(os.path.join(a.mnt, "plant", "from_a"), 5, "a", 20)
    append_lines(os.path.join(b.mnt, "plant", "from_b"), 5, "b", 20)
    assert agree(a, b)
    assert read(os.path.join(a.mnt, "plant", "from_b")) == lines(25, "b")


def test_ring_of_three(mount_factory, pki):
    ms = [replica(mount_factory, pki) for _ in range(3)]
    for i in range(3):
        link(ms[i], ms[(i + 1) % 3])
    for i, m in enumerate(ms):
        append_lines(os.path.join(m.mnt, "plant", "t%d" % i), 30, "r%d" % i)
    assert agree(*ms)
    assert set(topics(ms[0])) == {"t0", "t1", "t2"}
    for i, m in enumerate(ms):
        assert read(os.path.join(m.mnt, "plant", "t%d" % ((i + 1) % 3))) \
            == lines(30, "r%d" % ((i + 1) % 3))


def test_full_mesh_of_three(mount_factory, pki):
    """A link each way between each pair: every record reaches each
    replica on two paths and is stored once."""
    ms = [replica(mount_factory, pki) for _ in range(3)]
    for i in range(3):
        for j in range(3):
            if i != j:
                link(ms[i], ms[j])
    for i, m in enumerate(ms):
        append_lines(os.path.join(m.mnt, "plant", "t%d" % i), 30, "m%d" % i)
    assert agree(*ms)
    for m in ms:
        for i in range(3):
            p = os.path.join(m.mnt, "plant", "t%d" % i)
            assert read(p) == lines(30, "m%d" % i)
            assert info(p)["messages"] == 30


# ---------------------------------------------------------------- refusals

def refused_link(a, b, pattern_a, pattern_b):
    """A's link to B gets a last error matching pattern_a, each daemon's
    log a line matching its pattern, and B nothing."""
    lid = link(a, b)
    ls = wait_for(lambda: [l for l in links(a)
                           if l["id"] == lid and l["last_error"]],
                  timeout=CONVERGE)
    assert ls, links(a)
    assert re.search(pattern_a, ls[0]["last_error"]), ls
    for m, pattern in ((a, pattern_a), (b, pattern_b)):
        assert wait_for(lambda: re.search(pattern, m.log_text()),
                        timeout=CONVERGE), (pattern, m.log_tail())
    assert topics(b) == {}
    return ls[0]


def other_ca_cert(tmp_path):
    d = tmp_path / "other"
    d.mkdir()
    return PKI(d, "other").issue("/CN=root", server=True)


@pytest.mark.parametrize("kind", ["expired", "other_ca", "no_user"])
def test_bad_client_certificate_refused(mount_factory, pki, tmp_path, kind):
    """A presents a certificate B's CA does not vouch for, or one that
    names no user: B refuses the handshake with one line per attempt,
    and A's link says it failed."""
    if kind == "expired":
        cert = pki.issue("/CN=root", days=-1, server=True)
        reason = "certificate: certificate has expired"
    elif kind == "other_ca":
        cert = other_ca_cert(tmp_path)
        reason = "certificate: unable to get local issuer certificate"
    else:
        cert = pki.issue("/CN=no-one-r3", server=True)
        reason = "certificate subject CN=no-one-r3: no user named no-one-r3"
    b_line = SIDE + r"(refused a TLS connection from 127\.0\.0\.1:\d+: |" \
        r"TLS handshake from 127\.0\.0\.1:\d+ failed: )" + reason
    # Under TLS 1.3 a client's handshake ends before the server has
    # checked its certificate: A may learn of the refusal only as a peer
    # that closed before its answer.
    a_line = r"TLS handshake with 127\.0\.0\.1:\d+ failed|" \
             r"127\.0\.0\.1:\d+ did not answer HELLO|" \
             r"sending to 127\.0\.0\.1:\d+ failed: the connection broke"
    b = replica(mount_factory, pki, expect=[b_line])
    a = replica(mount_factory, pki, cert=cert, expect=[a_line])
    append(os.path.join(a.mnt, "plant", "t"), b"x\n")
    refused_link(a, b, a_line, b_line)
    assert wait_for(lambda: links(a)[0]["state"] in ("error", "connecting"))


def test_peer_leaving_mid_handshake_is_not_a_refusal(mount_factory, pki):
    """A peer killed or giving up in its handshake is news, not a refused
    certificate: an info line (no warning; the fixture fails on one)."""
    b = replica(mount_factory, pki)
    socket.create_connection(("127.0.0.1", b.port)).close()
    leave_mid_handshake(b.port, pki.ca)
    assert wait_for(lambda: len(re.findall(
        r"info: replica: 127\.0\.0\.1:\d+ closed its connection during "
        r"the TLS handshake", b.log_text())) == 2, timeout=10), b.log_tail()
    assert "refused" not in b.log_text()


def test_unknown_server_certificate_refused(mount_factory, pki, tmp_path):
    """A does not take a peer whose certificate its CA did not sign."""
    a_line = r"TLS handshake with 127\.0\.0\.1:\d+ failed: certificate: " \
             r"unable to get local issuer certificate"
    b_line = SIDE + r"(refused a TLS connection from 127\.0\.0\.1:\d+: |" \
        r"TLS handshake from 127\.0\.0\.1:\d+ failed)"
    b = replica(mount_factory, pki, cert=other_ca_cert(tmp_path),
                expect=[b_line])
    a = replica(mount_factory, pki, expect=[a_line])
    append(os.path.join(a.mnt, "plant", "t"), b"x\n")
    refused_link(a, b, a_line, b_line)


NO_COPY = r"user nobody \(the certificate of 127\.0\.0\.1:\d+\) may not " \
          r"copy stream /plant"


def test_peer_without_copy_refused_by_the_source(mount_factory, pki):
    """B's certificate names nobody, who has no copy on A's plant: A sends
    nothing, and both sides say why."""
    b = replica(mount_factory, pki,
                cert=pki.issue("/CN=nobody", server=True),
                expect=[SIDE + r".*copy"])
    a = replica(mount_factory, pki, expect=[NO_COPY])
    os.setxattr(os.path.join(a.mnt, "plant"), PFX + "ace.copy", b"u:root")
    append(os.path.join(a.mnt, "plant", "t"), b"secret\n")
    refused_link(a, b, NO_COPY, SIDE + r".*copy")


def test_peer_without_copy_refused_by_the_receiver(mount_factory, pki):
    """A's certificate names nobody, who has no copy on B's plant: B
    takes nothing, says why in one line, and A's link says so too."""
    b = replica(mount_factory, pki, expect=[NO_COPY])
    a = replica(mount_factory, pki,
                cert=pki.issue("/CN=nobody", server=True),
                expect=[LINK + r".*copy"])
    os.setxattr(os.path.join(b.mnt, "plant"), PFX + "ace.copy", b"u:root")
    append(os.path.join(a.mnt, "plant", "t"), b"secret\n")
    refused_link(a, b, r"copy", SIDE + r"refused 127\.0\.0\.1:\d+: "
                 r"replica [0-9a-f]{16}: " + NO_COPY)


# ---------------------------------------------------------------- retention

def test_short_ttl_replica_gets_no_expired_data_back(mount_factory, pki):
    a = replica(mount_factory, pki, expect=[DROPPED])
    b = replica(mount_factory, pki, expect=[DROPPED])
    os.setxattr(os.path.join(b.mnt, "plant"), PFX + "ttl", b"1")
    t = os.path.join(a.mnt, "plant", "t")
    tb = os.path.join(b.mnt, "plant", "t")
    append_lines(t, 20, "old")
    link(a, b)
    assert wait_for(lambda: os.path.exists(tb) and
                    info(tb)["size"] == info(t)["size"], timeout=CONVERGE)
    # B expires what it has (its ttl); A keeps it all.
    assert wait_for(lambda: info(tb)["messages"] == 0, timeout=CONVERGE)
    size = info(t)["size"]
    append_lines(t, 5, "new")
    assert wait_for(lambda: info(tb)["size"] == info(t)["size"],
                    timeout=CONVERGE)
    # B reconnects (a restart): the expired head is not sent again.
    b.restart()
    append_lines(t, 1, "last")
    assert wait_for(lambda: info(tb)["size"] == info(t)["size"],
                    timeout=CONVERGE)
    assert info(tb)["first_offset"] >= size
    assert info(t)["first_offset"] == 0 and info(t)["messages"] == 26


def test_lagging_beyond_the_sources_retention_is_said(mount_factory, pki):
    """B's link is paused while A's ttl expires what B never got: on
    resume B's copy continues at A's first live byte (what it held
    expires with the skip, and everything before reads as zeros, as an
    expired head does), and the link's last error names the topic and
    the lost range.  Nothing is invented."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    plant = os.path.join(a.mnt, "plant")
    t, tb = os.path.join(plant, "t"), os.path.join(b.mnt, "plant", "t")
    append_lines(t, 5, "early")
    lid = link(a, b)
    assert agree(a, b)
    ctl("replica", "pause", plant, lid)
    append_lines(t, 5, "middle")
    os.setxattr(plant, PFX + "ttl", b"1")
    assert wait_for(lambda: info(t)["messages"] == 0, timeout=CONVERGE)
    os.setxattr(plant, PFX + "ttl", b"0")
    append_lines(t, 3, "late")
    ctl("replica", "resume", plant, lid)
    assert wait_for(lambda: os.path.exists(tb) and
                    info(tb)["size"] == info(t)["size"], timeout=CONVERGE)
    # B's live bytes are one range: what it held live expires with the
    # skip, and the lost bytes read as zeros
    early, middle = lines(5, "early"), lines(5, "middle")
    assert read(tb) == bytes(len(early + middle)) + lines(3, "late")
    assert info(tb)["first_offset"] == len(early + middle)
    assert info(tb)["first_message"] == 10
    assert read(t)[-len(lines(3, "late")):] == lines(3, "late")
    err = links(a)[0]["last_error"]
    assert re.search(r"topic /plant/t: messages 5 to 9 \(bytes %d to %d\) "
                     r"expired here" % (len(early), len(early + middle)),
                     err), err
    a.expect_log(LINK + r"topic /plant/t: messages 5 to 9")
    assert os.getxattr(tb, PFX + "index.0") == os.getxattr(t, PFX + "index.0")
