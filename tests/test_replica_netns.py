"""Replication across a network that fails: two daemons, each in a network
namespace of its own (ip netns; started with nsenter --net, so their FUSE
mounts are in this mount namespace and the test reads both), joined by a
veth pair, with a link each way (multi-master: a topic homed on each
side).  Both sides append all the time while the test takes the veth
down and up again, drops one direction with nftables, and kills one
daemon with kill -9 and starts it again; after each heal
every acknowledged message is on both replicas, once, in order, byte for
byte, with the same offsets and times.

No pass or fail depends on a time: a cut lasts until each appender has
added a number of messages, and convergence is a bounded poll.  The
namespaces, the veth pair, the nftables table and the mounts are removed
whatever happens.

A second test does the same for a ring of three (a -> b -> c -> a, so
each topic reaches the third replica through the second), on a bridge in
a namespace of its own: one node's cable at a time flaps every 1 to 5
seconds while all three append, clients in the namespaces present bad
certificates to every daemon, and nodes are killed with kill -9."""
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from certs import PKI
from conftest import Mount, base_dir
from test_replica import CONVERGE, DROPPED, STREAMCTL, links, topics
from util import PFX, append, info, read, run, wait_for

# Long cuts (each direction's links give up and come back), per kind;
# STREAMFS_REPLICA_ROUNDS=10 for the long version.
ROUNDS = int(os.environ.get("STREAMFS_REPLICA_ROUNDS", "1"))
PORT = 9411
PER_CUT = 40            # messages each side appends while a cut lasts


class NsMount(Mount):
    """A streamfs daemon whose network is namespace ns's."""

    def __init__(self, ns, addr, *args, **kw):
        super().__init__(*args, **kw)
        self.ns = ns
        self.addr = addr
        self.port = PORT

    def argv(self):
        return ["nsenter", "--net=/run/netns/" + self.ns] + super().argv()


def ip(*args, check=True):
    r = subprocess.run(["ip"] + [str(a) for a in args], capture_output=True,
                       text=True)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(map(str, args)),
                                          r.stderr.strip()))
    return r


def in_ns(ns, argv):
    r = subprocess.run(["ip", "netns", "exec", ns] + [str(a) for a in argv],
                       capture_output=True, text=True)
    assert r.returncode == 0, (argv, r.stderr)
    return r


class Net:
    """Two namespaces a and b joined by veth va (in a) - vb (in b)."""

    def __init__(self):
        tag = "%x" % (os.getpid() & 0xffffff)
        self.ns = {"a": "sfra-" + tag, "b": "sfrb-" + tag}
        self.dev = {"a": "sfrva" + tag, "b": "sfrvb" + tag}
        net = "10.214.%d" % (os.getpid() % 250)
        self.addr = {"a": net + ".1", "b": net + ".2"}

    @staticmethod
    def drop_stale():
        """Namespaces of a run that was killed before its clean-up (its
        pid, in the name, is gone): they would hold a veth name and an
        address range for good."""
        names = subprocess.run(["ip", "netns", "list"], capture_output=True,
                               text=True).stdout.split()
        for n in names:
            m = re.fullmatch(r"sfr[abh0-9]-([0-9a-f]+)", n)
            if m and not os.path.exists("/proc/%d" % int(m.group(1), 16)):
                ip("netns", "del", n, check=False)

    def up(self):
        self.drop_stale()
        for s in "ab":
            ip("netns", "add", self.ns[s])
        ip("link", "add", self.dev["a"], "netns", self.ns["a"], "type",
           "veth", "peer", "name", self.dev["b"], "netns", self.ns["b"])
        for s in "ab":
            ip("-n", self.ns[s], "addr", "add", self.addr[s] + "/30", "dev",
               self.dev[s])
            ip("-n", self.ns[s], "link", "set", self.dev[s], "up")
            ip("-n", self.ns[s], "link", "set", "lo", "up")

    def down(self):
        for s in "ab":
            ip("netns", "del", self.ns[s], check=False)

    def set_link(self, up):
        ip("-n", self.ns["a"], "link", "set", self.dev["a"],
           "up" if up else "down")

    def drop_a_to_b(self):
        """b's input drops what comes from a: one direction only."""
        in_ns(self.ns["b"], ["nft", "add", "table", "inet", "sfr"])
        in_ns(self.ns["b"], ["nft", "add", "chain", "inet", "sfr", "in",
                             "{ type filter hook input priority 0 ; }"])
        in_ns(self.ns["b"], ["nft", "add", "rule", "inet", "sfr", "in",
                             "ip", "saddr", self.addr["a"], "drop"])

    def heal_drop(self):
        in_ns(self.ns["b"], ["nft", "delete", "table", "inet", "sfr"])


def daemons(net, nodes, tmp_path, expect=()):
    """Bring net up, start a daemon in each (namespace, address, tag) of
    nodes, listening for replication on its address, with a stream
    plant, and yield (the mounts, the CA); then stop them all and take
    net down, whatever happened."""
    if os.geteuid() != 0 or not shutil.which("ip") or \
            not shutil.which("nsenter"):
        pytest.skip("needs root, ip(8) and nsenter(1)")
    made = []
    failures = []
    try:
        try:
            net.up()
        except RuntimeError as e:
            pytest.skip("cannot set up network namespaces: %s" % e)
        d = tmp_path / "pki"
        d.mkdir()
        pki = PKI(d)
        for ns, addr, tag in nodes:
            cert, key = pki.issue("/CN=root", server=True, ip=addr)
            top = tempfile.mkdtemp(prefix="netns-%s-" % tag, dir=base_dir())
            os.chmod(top, 0o755)
            mnt = os.path.join(top, "mnt")
            os.mkdir(mnt)
            m = NsMount(ns, addr, tmp_path / ("data-%s" % tag), mnt,
                        ["replica_listen=%s:%d" % (addr, PORT),
                         "tls_cert=" + cert, "tls_key=" + key,
                         "tls_ca=" + pki.ca],
                        log_path=tmp_path / ("streamfs-%s.log" % tag))
            for pattern in (DROPPED,) + tuple(expect):
                m.expect_log(pattern)
            made.append(m)
            m.start()
            os.mkdir(os.path.join(m.mnt, "plant"))
        yield made, pki
    finally:
        for m in made:
            try:
                m.finish()
            except BaseException as e:  # report every mount, clean up all
                failures.append(str(e))
        net.down()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def pair(tmp_path):
    """(net, a, b): a daemon in each namespace, listening for
    replication on its veth address, with a stream plant."""
    net = Net()
    for (a, b), _ in daemons(net, [(net.ns[s], net.addr[s], s)
                                   for s in "ab"], tmp_path):
        yield net, a, b


def link(src, dst):
    run([STREAMCTL, "replica", "add", os.path.join(src.mnt, "plant"),
         "%s:%d/plant" % (dst.addr, dst.port)])


class Appender(threading.Thread):
    """Appends "TAG N\\n" to a topic, N = 0, 1, ..., until stopped; n is
    how many appends returned (acknowledged)."""

    def __init__(self, path, tag):
        super().__init__(daemon=True)
        self.path, self.tag = path, tag.encode()
        self.n = 0
        self.error = None
        self.halt = threading.Event()

    def run(self):
        try:
            while not self.halt.is_set():
                append(self.path, b"%s %d\n" % (self.tag, self.n))
                self.n += 1
        except OSError as e:
            self.error = e

    def more(self, k):
        """Wait (bounded) until k more appends have returned."""
        want = self.n + k
        return wait_for(lambda: self.n >= want or self.error,
                        timeout=CONVERGE)

    def stop(self):
        self.halt.set()
        self.join(timeout=CONVERGE)
        assert not self.is_alive()
        assert self.error is None, self.error

    def want(self):
        """What the topic must hold: every acknowledged append, once, in
        order (kept between calls: it only grows)."""
        have = getattr(self, "_want", [])
        have.extend(b"%s %d\n" % (self.tag, i)
                    for i in range(len(have), self.n))
        self._want = have
        return b"".join(have)


# How long each convergence took after its heal, for the report the test
# prints (pytest -s shows it); no pass or fail depends on it.
TIMES = []


def converge(a, b, writers, what="start"):
    """Both replicas hold every acknowledged message once, in order, and
    agree byte for byte and in offsets and times."""
    t0 = time.monotonic()

    def done():
        ta, tb = topics(a), topics(b)
        return ta == tb and all(
            name in ta and ta[name][0] == w.want()
            for name, w in writers.items())
    assert wait_for(done, timeout=CONVERGE * 2, interval=0.2), (
        {n: (len(v[0]), v[1]) for n, v in topics(a).items()},
        {n: (len(v[0]), v[1]) for n, v in topics(b).items()},
        {n: w.n for n, w in writers.items()})
    TIMES.append((what, time.monotonic() - t0))
    for name, w in writers.items():
        assert info(os.path.join(a.mnt, "plant", name))["messages"] == w.n


def appenders(a, b, start=None):
    writers = start or {}
    for m, name in ((a, "from_a"), (b, "from_b")):
        old = writers.get(name)
        w = Appender(os.path.join(m.mnt, "plant", name), name)
        if old:
            w.n = old.n
            w._want = getattr(old, "_want", [])
        writers[name] = w
        w.start()
    return writers


def stop_all(writers):
    for w in writers.values():
        w.stop()


def link_states(m):
    return [l["state"] for l in links(m)]


def cut(net, writers, how, a, b, noticed):
    """Cut (how: "down" the veth, or "drop" a's packets to b) while both
    sides append PER_CUT messages more; with noticed, until both links
    have seen it too (they leave state up: a bounded wait); then heal,
    stop appending and wait for both sides to agree."""
    if how == "down":
        net.set_link(False)
    else:
        net.drop_a_to_b()
    try:
        for w in writers.values():
            assert w.more(PER_CUT)
        if noticed:
            assert wait_for(lambda: "up" not in link_states(a) + link_states(b),
                            timeout=CONVERGE), (links(a), links(b))
    finally:
        if how == "down":
            net.set_link(True)
        else:
            net.heal_drop()
    stop_all(writers)
    converge(a, b, writers, "%s%s" % (how, " (noticed)" if noticed else ""))


def kill_b(writers, a, b):
    """b is killed with kill -9 (its own appender stopped first, so every
    append it made was answered) while a appends; then it starts again
    and both sides converge."""
    writers["from_b"].stop()
    b.kill9()
    assert writers["from_a"].more(PER_CUT)
    b.start()
    stop_all(writers)
    converge(a, b, writers, "kill -9")


def test_cuts_and_one_way_drops_converge(pair):
    """Short cuts (TCP carries on when they heal), cuts long enough for
    both links to give their connection up and connect again, and a
    receiver killed with kill -9 and restarted."""
    net, a, b = pair
    TIMES.clear()
    if not shutil.which("nft"):
        pytest.skip("nft (nftables) is not installed")
    link(a, b)
    link(b, a)
    writers = appenders(a, b)
    for w in writers.values():
        assert w.more(10)
    stop_all(writers)
    converge(a, b, writers)
    plan = [("down", False), ("drop", False)] + \
        [("down", True), ("drop", True)] * ROUNDS
    for how, noticed in plan + [("kill", None)] * ROUNDS:
        writers = appenders(a, b, writers)
        if how == "kill":
            kill_b(writers, a, b)
        else:
            cut(net, writers, how, a, b, noticed)
    print("\nreplication over a failing network: %d messages from a, %d "
          "from b, 0 lost, 0 doubled; convergence after each heal:" % (
              writers["from_a"].n, writers["from_b"].n))
    for what, secs in TIMES:
        print("  %-16s %.2f s" % (what, secs))
    assert read(os.path.join(b.mnt, "plant", "from_a")) == \
        writers["from_a"].want()
    assert os.getxattr(os.path.join(a.mnt, "plant", "from_b"),
                       PFX + "home") == os.getxattr(b.mnt,
                                                    PFX + "replica_id")


# ---------------------------------------------------------------- a ring

class Hub:
    """Namespaces sfr0-TAG, sfr1-TAG, ... each joined by a veth pair to a
    bridge in namespace sfrh-TAG: a node's cable is its veth."""

    def __init__(self, n):
        tag = "%x" % (os.getpid() & 0xffffff)
        self.hub = "sfrh-" + tag
        self.ns = ["sfr%d-%s" % (i, tag) for i in range(n)]
        self.dev = ["sfrv%d%s" % (i, tag) for i in range(n)]
        self.port = ["sfrw%d%s" % (i, tag) for i in range(n)]
        self.addr = ["10.215.%d.%d" % (os.getpid() % 250, i + 1)
                     for i in range(n)]

    def up(self):
        Net.drop_stale()
        ip("netns", "add", self.hub)
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            ip("netns", "add", ns)
            ip("link", "add", self.dev[i], "netns", ns, "type", "veth",
               "peer", "name", self.port[i], "netns", self.hub)
            ip("-n", self.hub, "link", "set", self.port[i], "master", "br0")
            ip("-n", self.hub, "link", "set", self.port[i], "up")
            ip("-n", ns, "addr", "add", self.addr[i] + "/24", "dev",
               self.dev[i])
            ip("-n", ns, "link", "set", self.dev[i], "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def down(self):
        for ns in self.ns + [self.hub]:
            ip("netns", "del", ns, check=False)

    def cable(self, i, up):
        ip("-n", self.ns[i], "link", "set", self.dev[i],
           "up" if up else "down")


# One line per refused certificate at the daemon that refused it.
BAD_CERT = r"replica: refused a TLS connection from 10\.215\.\d+\.\d+:\d+: "


@pytest.fixture
def ring(tmp_path):
    """(hub, [m0, m1, m2], pki): a daemon in each node's namespace,
    listening for replication on its address, with a stream plant."""
    hub = Hub(3)
    nodes = [(ns, hub.addr[i], str(i)) for i, ns in enumerate(hub.ns)]
    for ms, pki in daemons(hub, nodes, tmp_path, expect=[BAD_CERT]):
        yield hub, ms, pki


def converge_all(ms, writers, what):
    """Every replica holds every acknowledged message once, in order, and
    all agree byte for byte and in offsets and times."""
    t0 = time.monotonic()

    def done():
        ts = [topics(m) for m in ms]
        return all(t == ts[0] for t in ts) and all(
            name in ts[0] and ts[0][name][0] == w.want()
            for name, w in writers.items())
    assert wait_for(done, timeout=CONVERGE * 2, interval=0.2), (
        [{n: (len(v[0]), v[1]) for n, v in topics(m).items()} for m in ms],
        {n: w.n for n, w in writers.items()})
    TIMES.append((what, time.monotonic() - t0))


def ring_appenders(ms, old):
    writers = {}
    for i, m in enumerate(ms):
        name = "from_%d" % i
        w = Appender(os.path.join(m.mnt, "plant", name), name)
        if name in old:
            w.n = old[name].n
            w._want = getattr(old[name], "_want", [])
        writers[name] = w
        w.start()
    return writers


# A client in a node's namespace that presents a certificate and waits
# for the daemon's answer (an alert; under TLS 1.3 it comes with the
# first read).  Prints what it got.
BAD_CLIENT = """
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(sys.argv[3])
ctx.load_cert_chain(sys.argv[4], sys.argv[5])
ctx.check_hostname = False
raw = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
try:
    s = ctx.wrap_socket(raw)
    got = s.recv(1)
    print("answered" if got else "closed")
except (ssl.SSLError, ConnectionResetError) as e:
    print("refused:", e)
"""


def present_bad_certificates(hub, ms, pki, tmp_path):
    """From each node's namespace, the next node's daemon is offered an
    expired certificate and one from another CA: each refuses both, with
    a line naming why."""
    (tmp_path / "other").mkdir()
    other = PKI(tmp_path / "other", "other")
    bad = [(pki.issue("/CN=root", days=-1, server=True),
            "certificate: certificate has expired"),
           (other.issue("/CN=root", server=True),
            "certificate: unable to get local issuer certificate")]
    for i, ns in enumerate(hub.ns):
        j = (i + 1) % len(ms)
        for (cert, key), why in bad:
            r = in_ns(ns, ["/usr/bin/python3", "-c", BAD_CLIENT,
                           hub.addr[j], PORT, pki.ca, cert, key])
            assert r.stdout.startswith("refused"), r.stdout
            assert wait_for(lambda: re.search(
                BAD_CERT.replace(r"10\.215\.\d+\.\d+",
                                 re.escape(hub.addr[i])) + re.escape(why),
                ms[j].log_text()), timeout=10), ms[j].log_tail()


class Flapper(threading.Thread):
    """Flaps the nodes' cables, one at a time: a random node's cable goes
    down, comes back up 1 to 5 s later, and the next flap follows 1 to 5 s
    after that, until `count` flaps are done."""

    def __init__(self, hub, count, rng):
        super().__init__(daemon=True)
        self.hub, self.count, self.rng = hub, count, rng
        self.done = 0
        self.error = None

    def run(self):
        try:
            for _ in range(self.count):
                i = self.rng.randrange(len(self.hub.ns))
                self.hub.cable(i, False)
                try:
                    time.sleep(self.rng.uniform(1, 5))
                finally:
                    self.hub.cable(i, True)
                self.done += 1
                time.sleep(self.rng.uniform(1, 5))
        except BaseException as e:
            self.error = e


def test_ring_of_three_converges_through_flaps_bad_certificates_and_kills(
        ring, tmp_path):
    """a -> b -> c -> a, all three appending: cables flapping every 1-5 s,
    bad certificates offered to every daemon, and a node killed with
    kill -9 and restarted; after each heal every acknowledged message is
    on all three, once, byte for byte, with the same offsets."""
    hub, ms, pki = ring
    TIMES.clear()
    for i, m in enumerate(ms):
        link(m, ms[(i + 1) % len(ms)])
    rng = random.Random(os.getpid())
    writers = ring_appenders(ms, {})
    for w in writers.values():
        assert w.more(10)
    stop_all(writers)
    converge_all(ms, writers, "start")
    flaps = 0
    for r in range(ROUNDS):
        writers = ring_appenders(ms, writers)
        f = Flapper(hub, 3, rng)
        f.start()
        f.join(timeout=CONVERGE * 2)
        assert not f.is_alive() and f.error is None, f.error
        flaps += f.done
        stop_all(writers)
        converge_all(ms, writers, "3 flaps")
        if r == 0:
            present_bad_certificates(hub, ms, pki, tmp_path)
        writers = ring_appenders(ms, writers)
        k = rng.randrange(len(ms))
        writers["from_%d" % k].stop()
        ms[k].kill9()
        for name, w in writers.items():
            if name != "from_%d" % k:
                assert w.more(PER_CUT)
        ms[k].start()
        stop_all(writers)
        converge_all(ms, writers, "kill -9 of %d" % k)
    print("\na ring of three over flapping cables: %s messages, %d flaps, "
          "%d kills, 0 lost, 0 doubled; convergence after each heal:" % (
              "+".join(str(w.n) for w in writers.values()), flaps, ROUNDS))
    for what, secs in TIMES:
        print("  %-16s %.2f s" % (what, secs))
