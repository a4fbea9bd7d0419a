"""Moving a topic's home to another replica: `streamctl replica home` (the
topic's user.streamfs.replica.home) at a replica that has a link to the
topic's home; the old home hands it over and refuses appends from then
on, the new one takes it once its copy has caught up, and offsets never
diverge.  Bad requests (not a topic, a bad value, no link to the home,
no admin permission) are refused and change nothing.

Every wait is a bounded poll (test_replica.CONVERGE): no pass or fail
depends on how long anything took."""
import errno
import os
import struct

from test_replica import (CONVERGE, EROFS_LINE, STREAMCTL, agree,  # noqa
                          allow_other, append_lines, copied_topic, ctl,
                          info_text, link, lines, pki, replica)
from test_replica_wire import Peer, error_of, listener, s16
from util import PFX, append, errno_of, read, sh, wait_for


def home_of(m, path):
    return os.getxattr(os.path.join(m.mnt, path), PFX + "home")


def rid(m):
    return os.getxattr(m.mnt, PFX + "replica_id")


def refused_append(m, path):
    try:
        append(os.path.join(m.mnt, path), b"no\n")
    except OSError as e:
        return e.errno
    return 0


def pair(mount_factory, pki):
    """A and B linked both ways; topic plant/t made at A with 10 lines,
    copied to B."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    link(a, b)
    link(b, a)
    append_lines(os.path.join(a.mnt, "plant", "t"), 10, "a")
    assert agree(a, b)
    return a, b


def test_home_moves_to_the_replica_that_asks(mount_factory, pki):
    a, b = pair(mount_factory, pki)
    assert refused_append(b, "plant/t") == errno.EROFS
    b.expect_log(EROFS_LINE)
    tb = os.path.join(b.mnt, "plant", "t")
    # a second request while the first goes on is the same request
    os.setxattr(tb, PFX + "replica.home", b"1")
    os.setxattr(tb, PFX + "replica.home", b"1\n")
    r = ctl("replica", "home", tb)
    assert r.stdout == "%s: homed here\n" % tb
    assert os.getxattr(tb, PFX + "replica.home") == b"here"
    assert home_of(b, "plant/t") == rid(b)
    # A handed it over before B took it: A says B, and refuses appends
    assert home_of(a, "plant/t") == rid(b)
    assert refused_append(a, "plant/t") == errno.EROFS
    a.expect_log(EROFS_LINE)
    # B appends, and A gets it at the same offsets
    append_lines(tb, 5, "b")
    assert agree(a, b)
    assert read(tb) == lines(10, "a") + lines(5, "b")
    sh("cmp %s/plant/t %s" % (a.mnt, tb))
    assert info_text(a, "plant/t") == info_text(b, "plant/t")
    assert os.getxattr(os.path.join(a.mnt, "plant", "t"),
                       PFX + "index.0") == os.getxattr(tb, PFX + "index.0")
    # asked again where it is homed: nothing to do
    os.setxattr(tb, PFX + "replica.home", b"1")
    assert ctl("replica", "home", tb).stdout == "%s: homed here\n" % tb


def test_home_taken_after_appends_at_the_old_home(mount_factory, pki):
    """Records the old home took just before the hand-over reach the new
    home before it appends: its appends continue the old home's."""
    a, b = pair(mount_factory, pki)
    ta = os.path.join(a.mnt, "plant", "t")
    tb = os.path.join(b.mnt, "plant", "t")
    append_lines(ta, 200, "x")
    ctl("replica", "home", tb)
    append(tb, b"after\n")
    assert read(tb) == lines(10, "a") + lines(200, "x") + b"after\n"
    assert agree(a, b)
    a.expect_log(EROFS_LINE)


def test_home_needs_a_link_to_the_home(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    link(a, b)                      # B has no link to A
    append_lines(os.path.join(a.mnt, "plant", "t"), 3, "a")
    assert agree(a, b)
    tb = os.path.join(b.mnt, "plant", "t")
    assert errno_of(os.setxattr, tb, PFX + "replica.home",
                    b"1") == errno.ENOTCONN
    r = ctl("replica", "home", tb, check=False)
    assert r.returncode == 1
    assert "no replication link of its stream reaches the topic's home" \
        in r.stderr and r.stderr.count("\n") == 1
    assert os.getxattr(tb, PFX + "replica.home") == b"none"
    assert home_of(b, "plant/t") == rid(a)
    assert refused_append(b, "plant/t") == errno.EROFS
    b.expect_log(EROFS_LINE)


def test_home_bad_values_change_nothing(mount_factory, pki):
    a, b = pair(mount_factory, pki)
    tb = os.path.join(b.mnt, "plant", "t")
    plant = os.path.join(b.mnt, "plant")
    for path, val in ((plant, b"1"), (tb, b"0"), (tb, b"yes"), (tb, b""),
                      (tb, b"11")):
        assert errno_of(os.setxattr, path, PFX + "replica.home",
                        val) == errno.EINVAL, (path, val)
    r = ctl("replica", "home", plant, check=False)
    assert r.returncode == 1 and "not a topic" in r.stderr
    assert os.getxattr(tb, PFX + "replica.home") == b"none"
    assert home_of(b, "plant/t") == rid(a)
    assert home_of(a, "plant/t") == rid(a)
    # at its home already: nothing to do
    ta = os.path.join(a.mnt, "plant", "t")
    os.setxattr(ta, PFX + "replica.home", b"1")
    assert ctl("replica", "home", ta).stdout == "%s: homed here\n" % ta
    append(ta, b"still\n")
    assert agree(a, b)
    assert refused_append(b, "plant/t") == errno.EROFS
    b.expect_log(EROFS_LINE)


@allow_other
def test_home_needs_admin(mount_factory, pki, other_user):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki, extra=["allow_other"])
    link(a, b)
    link(b, a)
    append_lines(os.path.join(a.mnt, "plant", "t"), 3, "a")
    assert agree(a, b)
    os.chmod(b.mnt, 0o777)
    os.chmod(os.path.join(b.mnt, "plant"), 0o777)
    tb = os.path.join(b.mnt, "plant", "t")
    assert other_user.call("os.setxattr(%r, %r, b'1')" % (
        tb, PFX + "replica.home")) == "EACCES"
    r = other_user.run([STREAMCTL, "replica", "home", tb])
    assert r.returncode == 1
    assert "permission denied" in r.stderr and r.stderr.count("\n") == 1
    assert os.getxattr(tb, PFX + "replica.home") == b"none"
    assert home_of(b, "plant/t") == rid(a)
    assert home_of(a, "plant/t") == rid(a)


def test_home_waits_for_the_records_the_old_home_still_sends(
        mount_factory, pki):
    """The old home's link to the new one is paused while the hand-over
    is made: the new home takes the topic only once that link, resumed,
    has brought the records appended before the hand-over."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    ab = link(a, b)
    link(b, a)
    ta, tb = copied_topic(a, b, 3)
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), ab)
    append_lines(ta, 4, "late")
    os.setxattr(tb, PFX + "replica.home", b"1")
    # A hands it over at once; B waits for the records it lacks
    assert wait_for(lambda: home_of(a, "plant/t") == rid(b),
                    timeout=CONVERGE)
    assert os.getxattr(tb, PFX + "replica.home").startswith(
        b"catching up to byte ")
    assert refused_append(b, "plant/t") == errno.EROFS
    assert refused_append(a, "plant/t") == errno.EROFS
    for m in (a, b):
        m.expect_log(EROFS_LINE)
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), ab)
    assert ctl("replica", "home", tb).stdout == "%s: homed here\n" % tb
    append(tb, b"b\n")
    assert read(tb) == lines(3, "a") + lines(4, "late") + b"b\n"
    assert agree(a, b)


def test_the_old_home_refuses_a_peer_without_admin(mount_factory, pki):
    """B's certificate names nobody, who may copy A's plant but not
    admin it: A keeps the topic, both logs say so, and streamctl prints
    A's reason.  Granting admin lets a second request through."""
    a = replica(mount_factory, pki, expect=[r"hand-over refused"])
    b = replica(mount_factory, pki,
                cert=pki.issue("/CN=nobody", server=True),
                expect=[r"refused to hand it over"])
    plant = os.path.join(a.mnt, "plant")
    os.setxattr(plant, PFX + "ace.copy", b"u:nobody")
    link(a, b)
    link(b, a)
    ta, tb = copied_topic(a, b, 3)
    r = ctl("replica", "home", tb, check=False)
    assert r.returncode == 1
    assert "its home refused to hand it over: user nobody may not take " \
        "topics of stream /plant (copy and admin are needed)" in r.stderr
    assert r.stderr.count("\n") == 1
    assert os.getxattr(tb, PFX + "replica.home").startswith(b"refused: ")
    assert home_of(a, "plant/t") == rid(a)
    assert home_of(b, "plant/t") == rid(a)
    append(ta, b"still a\n")
    assert agree(a, b)
    os.setxattr(plant, PFX + "ace.admin", b"u:nobody")
    assert ctl("replica", "home", tb).stdout == "%s: homed here\n" % tb
    append(tb, b"b\n")
    assert agree(a, b)
    assert read(ta) == lines(3, "a") + b"still a\nb\n"


HANDOVER, HANDED, ERROR = 14, 15, 3


def handover(p, name):
    """HANDOVER of name: (status, end, next message, name, reason)."""
    p.send(HANDOVER, s16(name))
    t, w = p.frame()
    assert t == HANDED, (t, w)
    status, end, nxt, n = struct.unpack(">BQQH", w[:19])
    rest = w[19 + n:]
    k, = struct.unpack(">H", rest[:2])
    assert rest[2 + k:] == b""
    return status, end, nxt, w[19:19 + n].decode(), rest[2:2 + k].decode()


def test_handover_frames(mount_factory, pki):
    """The old home's side by hand: a topic homed there is handed to the
    peer with its end, and refuses appends from then on; asked again, the
    same answer; a missing name, a topic homed at a third replica and a
    malformed name are refused."""
    b = listener(mount_factory, pki,
                 expect=[r"hand-over refused",
                         r"sent a malformed frame \(a HANDOVER that does "
                         r"not decode\)", EROFS_LINE])
    os.mkdir(b.mnt + "/plant")
    t = b.mnt + "/plant/t"
    append_lines(t, 4, "b")
    p = Peer(b.port, pki, pki.root)
    assert p.hello("plant")[0] == 2
    assert handover(p, "t") == (0, 16, 4, "t", "")
    assert os.getxattr(t, PFX + "home") == b"%016x" % p.id
    assert refused_append(b, "plant/t") == errno.EROFS
    assert handover(p, "t") == (0, 16, 4, "t", "")
    assert handover(p, "x")[0] == 2
    assert p.topic(1, "u", 0x777)[0] == 0       # homed at a third replica
    st = handover(p, "u")
    assert st[0] == 3 and "homed at replica 0000000000000777" in st[4]
    assert os.getxattr(b.mnt + "/plant/u", PFX + "home") == b"%016x" % 0x777
    p.send(HANDOVER, s16("a/b"))
    ft, w = p.frame()
    assert ft == ERROR and error_of(w)[0] == 1
    assert p.closed()
    assert read(t) == lines(4, "b")


def test_a_restart_resumes_the_hand_over(mount_factory, pki):
    """B restarts after A handed the topic over and before B took it:
    B still knows the end A said, shows it, and takes the home by itself
    once A's link brings the records it lacks.  Asking again meanwhile
    is the same hand-over."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    ab = link(a, b)
    link(b, a)
    ta, tb = copied_topic(a, b, 3)
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), ab)
    append_lines(ta, 2, "late")
    os.setxattr(tb, PFX + "replica.home", b"1")
    want = b"catching up to byte %d" % len(lines(3, "a") + lines(2, "late"))
    assert wait_for(lambda: os.getxattr(tb, PFX + "replica.home") == want,
                    timeout=CONVERGE)
    b.restart()
    assert os.getxattr(tb, PFX + "replica.home") == want
    assert refused_append(a, "plant/t") == errno.EROFS
    assert refused_append(b, "plant/t") == errno.EROFS
    for m in (a, b):
        m.expect_log(EROFS_LINE)
    os.setxattr(tb, PFX + "replica.home", b"1")     # harmless
    assert os.getxattr(tb, PFX + "replica.home") == want
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), ab)
    assert wait_for(lambda: os.getxattr(tb, PFX + "replica.home") ==
                    b"here", timeout=CONVERGE)
    assert home_of(b, "plant/t") == rid(b)
    append(tb, b"b\n")
    assert agree(a, b)
    assert read(ta) == lines(3, "a") + lines(2, "late") + b"b\n"
    # done: nothing is resumed at the next start
    b.restart()
    assert os.getxattr(tb, PFX + "replica.home") == b"here"
    append(tb, b"c\n")
    assert agree(a, b)


def test_a_kill_before_the_answer_resumes_the_request(mount_factory, pki):
    """B is killed (-9) after asking and before A answered (B's link to A
    paused): started again, B still asks, and once the link is resumed
    the hand-over ends by itself."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    link(a, b)
    ba = link(b, a)
    ta, tb = copied_topic(a, b, 3)
    ctl("replica", "pause", os.path.join(b.mnt, "plant"), ba)
    os.setxattr(tb, PFX + "replica.home", b"1")
    asking = b"asking " + rid(a)
    assert os.getxattr(tb, PFX + "replica.home") == asking
    b.kill9()
    b.start()
    assert os.getxattr(tb, PFX + "replica.home") == asking
    assert home_of(a, "plant/t") == rid(a)
    append(ta, b"still a\n")
    assert agree(a, b)
    ctl("replica", "resume", os.path.join(b.mnt, "plant"), ba)
    assert wait_for(lambda: os.getxattr(tb, PFX + "replica.home") ==
                    b"here", timeout=CONVERGE)
    assert home_of(a, "plant/t") == rid(b)
    append(tb, b"b\n")
    assert agree(a, b)
    assert read(ta) == lines(3, "a") + b"still a\nb\n"


def test_asking_again_after_a_restart_is_harmless(mount_factory, pki):
    """B restarts mid-way and the user asks again (as before hand-overs
    were kept): the same hand-over, which ends as usual."""
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    ab = link(a, b)
    link(b, a)
    ta, tb = copied_topic(a, b, 3)
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), ab)
    append_lines(ta, 2, "late")
    os.setxattr(tb, PFX + "replica.home", b"1")
    assert wait_for(lambda: home_of(a, "plant/t") == rid(b),
                    timeout=CONVERGE)
    b.restart()
    assert os.getxattr(tb, PFX + "replica.home") != b"none"
    assert refused_append(a, "plant/t") == errno.EROFS
    assert refused_append(b, "plant/t") == errno.EROFS
    for m in (a, b):
        m.expect_log(EROFS_LINE)
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), ab)
    assert ctl("replica", "home", tb).stdout == "%s: homed here\n" % tb
    append(tb, b"b\n")
    assert agree(a, b)
    assert read(ta) == lines(3, "a") + lines(2, "late") + b"b\n"
