"""Consumer groups: a topic's committed cursors user.streamfs.cursor.GROUP
(read, commit, delete) and the listing user.streamfs.groups, through the
mount (docs/design.md, "Consumer groups"), with real other users; and
streamctl groups / streamctl group delete."""
import datetime
import errno
import fcntl
import os
import struct
import time

import pytest

import faults
from util import BUILD, PFX, append, assert_errno, run, sh

CUR = PFX + "cursor."
# _IOW('S', 1, struct sf_restore): 32 bytes in (fs/sf_ioctl.h).
IOC_RESTORE = 0x40000000 | (32 << 16) | (ord("S") << 8) | 1
allow_other = pytest.mark.mount_options("allow_other")

# Two records: "a\n" "bb\n" (one append, two lines), then "ccc\n".
# Boundaries: 0 (msg 0), 2 (1), 5 (2), 9 (3, the end).
DATA = [b"a\nbb\n", b"ccc\n"]


def topic(mnt, name="s/t", data=DATA):
    path = "%s/%s" % (mnt, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for d in data:
        append(path, d)
    return path


def get(path, group):
    return int(os.getxattr(path, CUR + group))


def commit(path, group, value, flags=0):
    if isinstance(value, int):
        value = str(value).encode()
    os.setxattr(path, CUR + group, value, flags)


def groups(path):
    """user.streamfs.groups as [(group, off, msg, ns)]."""
    text = os.getxattr(path, PFX + "groups").decode()
    out = []
    for line in text.splitlines():
        g, off, msg, ns = line.split(" ")
        out.append((g, int(off), int(msg), int(ns)))
    return out


# ---------------------------------------------------------------- the value

def test_no_cursor_before_commit(mount):
    p = topic(mount.mnt)
    assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")
    r = run(["getfattr", "-n", CUR + "g", p], check=False)
    assert r.returncode != 0 and "No such attribute" in r.stderr, r.stderr
    assert os.getxattr(p, PFX + "groups") == b""
    assert_errno(errno.ENODATA, os.removexattr, p, CUR + "g")


def test_commit_then_read(mount):
    p = topic(mount.mnt)
    for off, msg in ((0, 0), (2, 1), (5, 2), (9, 3)):
        commit(p, "g", off)
        assert get(p, "g") == off
        assert [x[:3] for x in groups(p)] == [("g", off, msg)]
    # With the programs people use.
    sh("setfattr -n %sg -v 5 %s" % (CUR, p))
    r = sh("getfattr --only-values -n %sg %s" % (CUR, p))
    assert r.stdout == "5"
    # Each group has its own cursor.
    commit(p, "other", 2)
    assert get(p, "g") == 5 and get(p, "other") == 2
    assert [x[:3] for x in groups(p)] == [("g", 5, 2), ("other", 2, 1)]


def test_commit_time_is_now(mount):
    p = topic(mount.mnt)
    before = time.time_ns()
    commit(p, "g", 2)
    after = time.time_ns()
    (_, _, _, ns), = groups(p)
    assert before <= ns <= after


@pytest.mark.parametrize("value", [
    b"1",           # inside the line "a", in a record of two lines
    b"3",           # inside the line "bb", in a record of two lines
    b"6",           # inside the one message of the record "ccc\n"
    b"10",          # past the end
    b"18446744073709551615",
    b"99999999999999999999999",     # beyond 64 bits
    b"x", b"-1", b"", b" 2", b"2 ", b"2\n", b"+2", b"0x2", b"2.0",
])
def test_bad_offset_changes_nothing(mount, value):
    p = topic(mount.mnt)
    commit(p, "g", 2)
    before = groups(p)
    assert_errno(errno.EINVAL, os.setxattr, p, CUR + "g", value)
    assert get(p, "g") == 2
    assert groups(p) == before
    # A group without a cursor does not get one.
    assert_errno(errno.EINVAL, os.setxattr, p, CUR + "new", value)
    assert_errno(errno.ENODATA, os.getxattr, p, CUR + "new")


def test_boundaries_of_one_message_with_newlines(mount):
    """framing=write: a write is one message, newlines and all."""
    os.mkdir(mount.mnt + "/w")
    os.setxattr(mount.mnt + "/w", PFX + "framing", b"write")
    p = topic(mount.mnt, "w/t", [b"x\ny\n", b"z"])
    assert_errno(errno.EINVAL, os.setxattr, p, CUR + "g", b"2")
    commit(p, "g", 4)
    assert groups(p)[0][:3] == ("g", 4, 1)
    commit(p, "g", 5)
    assert groups(p)[0][:3] == ("g", 5, 2)


def test_commit_end_and_empty_topic(mount):
    os.mkdir(mount.mnt + "/s")
    p = mount.mnt + "/s/t"
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
    os.setxattr(p, PFX + "kind", b"topic")     # an empty topic
    commit(p, "g", 0)                  # the end of an empty topic
    assert get(p, "g") == 0
    assert_errno(errno.EINVAL, os.setxattr, p, CUR + "g", b"1")
    append(p, b"one\n")
    assert get(p, "g") == 0
    commit(p, "g", 4)                  # the new end
    assert groups(p)[0][:3] == ("g", 4, 1)


def test_not_a_topic(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    with open(m + "/s/blob", "wb") as f:
        f.write(b"a\n")
    open(m + "/s/none", "wb").close()
    for p in (m + "/s", m + "/s/blob", m + "/s/none"):
        assert_errno(errno.EINVAL, os.setxattr, p, CUR + "g", b"0")
        assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")
        assert_errno(errno.ENODATA, os.removexattr, p, CUR + "g")
        assert_errno(errno.ENODATA, os.getxattr, p, PFX + "groups")
    assert open(m + "/s/blob", "rb").read() == b"a\n"
    # The same names on a topic beside them work.
    p = topic(m)
    commit(p, "g", 0)
    assert get(p, "g") == 0 and groups(p)[0][:2] == ("g", 0)


@pytest.mark.parametrize("name", [
    "", ".", "..", "a b", "a/b", "a:b", "a*", "tab\t", "caf\u00e9", "a=b",
    "n" * 201,
])
def test_bad_group_names(mount, name):
    p = topic(mount.mnt)
    n = CUR + name
    assert_errno(errno.EINVAL, os.setxattr, p, n, b"0")
    assert_errno(errno.EINVAL, os.getxattr, p, n)
    assert_errno(errno.EINVAL, os.removexattr, p, n)
    assert groups(p) == []


def test_good_group_names(mount):
    p = topic(mount.mnt)
    names = ["a", "Z.9_-", "..x", "-", "n" * 200]
    for n in names:
        commit(p, n, 2)
        assert get(p, n) == 2
    assert sorted(g for g, *_ in groups(p)) == sorted(names)


def test_delete(mount):
    p = topic(mount.mnt)
    commit(p, "g", 2)
    commit(p, "h", 5)
    sh("setfattr -x %sg %s" % (CUR, p))
    assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")
    assert_errno(errno.ENODATA, os.removexattr, p, CUR + "g")
    assert [x[:2] for x in groups(p)] == [("h", 5)]
    commit(p, "g", 9)                   # a new start
    assert get(p, "g") == 9


def test_create_and_replace_flags(mount):
    p = topic(mount.mnt)
    assert_errno(errno.ENODATA, os.setxattr, p, CUR + "g", b"2",
                 os.XATTR_REPLACE)
    assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")
    commit(p, "g", 2, os.XATTR_CREATE)
    assert_errno(errno.EEXIST, os.setxattr, p, CUR + "g", b"5",
                 os.XATTR_CREATE)
    assert get(p, "g") == 2
    commit(p, "g", 5, os.XATTR_REPLACE)
    assert get(p, "g") == 5


def test_groups_is_read_only_and_not_listed(mount):
    p = topic(mount.mnt)
    commit(p, "g", 2)
    assert_errno(errno.EPERM, os.setxattr, p, PFX + "groups", b"g 0 0 0\n")
    assert_errno(errno.ENODATA, os.removexattr, p, PFX + "groups")
    names = os.listxattr(p)
    assert not [n for n in names if n.startswith(CUR) or
                n == PFX + "groups"], names
    assert [x[:2] for x in groups(p)] == [("g", 2)]


def restored_topic(mnt, name, off, msg, data):
    """A topic whose first record starts at byte off, message msg (as
    after expiry), made with SF_IOC_RESTORE (tests/test_restore.py)."""
    path = "%s/%s" % (mnt, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    os.setxattr(path, PFX + "kind", b"topic")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.ioctl(fd, IOC_RESTORE, struct.pack(
            "<QQqII", off, msg, time.time_ns() - 10**9, len(data),
            data.count(b"\n") or 1))
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def test_groups_listing_bound(mount):
    """The listing holds what fits in 64 KiB: with 200-byte names, a
    19-digit byte offset and 20-digit message offset (262 bytes a line),
    250 groups; one more answers E2BIG, and each cursor still reads."""
    off, msg = 10**18, 10**19
    p = restored_topic(mount.mnt, "s/t", off, msg, b"x\n")
    names = ["%03d" % i + "n" * 197 for i in range(251)]
    for n in names[:250]:
        commit(p, n, off)
    listed = os.getxattr(p, PFX + "groups")
    assert len(listed) == 250 * 262 <= 65536
    assert groups(p)[0][:3] == (names[0], off, msg)
    commit(p, names[250], off)
    assert_errno(errno.E2BIG, os.getxattr, p, PFX + "groups")
    assert get(p, names[250]) == off
    os.removexattr(p, CUR + names[0])
    assert len(groups(p)) == 250


def test_commit_below_first_live_byte(mount):
    """A topic whose first live byte is 100: offsets before it are no
    boundaries it has."""
    p = restored_topic(mount.mnt, "s/t", 100, 7, b"a\nb\n")
    for bad in (b"0", b"99", b"101", b"105"):
        assert_errno(errno.EINVAL, os.setxattr, p, CUR + "g", bad)
    for good, m in ((100, 7), (102, 8), (104, 9)):
        commit(p, "g", good)
        assert groups(p)[0][:3] == ("g", good, m)


# ---------------------------------------------------------------- lifetime

def test_survives_remount_kill9_and_rename(mount):
    p = topic(mount.mnt)
    commit(p, "g", 5)
    before = groups(p)
    mount.restart()
    assert groups(p) == before
    commit(p, "g", 9)
    before = groups(p)
    mount.kill9()
    mount.start()
    mount.expect_log(r"recover")
    assert groups(p) == before
    os.rename(p, mount.mnt + "/s/renamed")
    assert groups(mount.mnt + "/s/renamed") == before
    os.mkdir(mount.mnt + "/other")
    os.rename(mount.mnt + "/s/renamed", mount.mnt + "/other/t")
    assert get(mount.mnt + "/other/t", "g") == 9


def test_removed_with_topic(mount):
    p = topic(mount.mnt)
    commit(p, "g", 5)
    os.unlink(p)
    topic(mount.mnt)
    assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")
    assert groups(p) == []
    mount.restart()
    assert groups(p) == []


def test_removed_with_topic_unlinked_while_open(mount):
    p = topic(mount.mnt)
    commit(p, "g", 5)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.unlink(p)
        assert os.getxattr(fd, CUR + "g") == b"5"    # still the topic's
        topic(mount.mnt)
        assert groups(p) == []
    finally:
        os.close(fd)
    mount.restart()
    assert groups(p) == []


def test_durability_always_survives_power_cut(mount_factory, tmp_path):
    """Under always a commit is synced before it returns; under os it is
    not (the control: the power cut really loses it)."""
    for dur, kept in (("always", True), ("os", False)):
        data = tmp_path / ("data-" + dur)
        env = faults.fault_env(data, None, log=tmp_path / (dur + ".log"),
                               journal=tmp_path / (dur + ".journal"))
        m = mount_factory(data=data, env=env, expect=(".",))
        os.mkdir(m.mnt + "/s")
        os.setxattr(m.mnt + "/s", PFX + "durability", dur.encode())
        p = topic(m.mnt)
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)                   # the topic itself is durable
        os.close(fd)
        commit(p, "g", 5)
        m.power_cut()
        m.start()
        if kept:
            assert get(p, "g") == 5, dur
        else:
            assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")


# ---------------------------------------------------------------- permissions

def prepare_shared(mount, mode):
    p = topic(mount.mnt)
    os.chmod(mount.mnt + "/s", 0o755)
    os.chmod(p, mode)
    commit(p, "g", 2)
    return p


@allow_other
@pytest.mark.parametrize("mode,ace,allowed", [
    (0o644, None, True),                 # r of the topic
    (0o640, None, False),
    (0o600, None, False),
    (0o600, "u:65534", True),            # the stream's consume ACE
    (0o644, "!u:65534", False),          # denies despite the mode bits
    (0o644, "u:0", False),
])
def test_consume_permission(mount, other_user, mode, ace, allowed):
    p = prepare_shared(mount, mode)
    if ace:
        os.setxattr(mount.mnt + "/s", PFX + "ace.consume", ace.encode())
    before = groups(p)
    want = "OK" if allowed else "EACCES"
    assert other_user.call("os.getxattr(%r, %r)" % (p, CUR + "g")) == want
    assert other_user.call("os.getxattr(%r, %r)" % (p, PFX + "groups")) \
        == want
    assert other_user.call("os.setxattr(%r, %r, b'5')" % (p, CUR + "g")) \
        == want
    assert get(p, "g") == (5 if allowed else 2)
    if not allowed:
        assert groups(p) == before
    assert other_user.call("os.removexattr(%r, %r)" % (p, CUR + "g")) \
        == want
    if allowed:
        assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")
    else:
        assert groups(p) == before
    r = other_user.run(["getfattr", "-n", CUR + "h", p])
    assert ("No such attribute" if allowed else "Permission denied") \
        in r.stderr, r.stderr


@allow_other
def test_producer_is_not_a_consumer(mount, other_user):
    p = prepare_shared(mount, 0o600)
    os.setxattr(mount.mnt + "/s", PFX + "ace.produce", b"u:65534")
    assert other_user.call("os.getxattr(%r, %r)" % (p, PFX + "info")) == "OK"
    assert other_user.call("os.getxattr(%r, %r)" % (p, CUR + "g")) == \
        "EACCES"
    assert other_user.call("os.setxattr(%r, %r, b'5')" % (p, CUR + "g")) \
        == "EACCES"
    assert get(p, "g") == 2


@allow_other
@pytest.mark.parametrize("how", ["ace", "owner"])
def test_admin_may_delete_but_not_read_or_commit(mount, other_user, how):
    p = prepare_shared(mount, 0o600)
    if how == "ace":
        os.setxattr(mount.mnt + "/s", PFX + "ace.admin", b"u:65534")
    else:
        os.chown(mount.mnt + "/s", 65534, 65534)   # admin falls back to owner
    assert other_user.call("os.getxattr(%r, %r)" % (p, CUR + "g")) == \
        "EACCES"
    assert other_user.call("os.setxattr(%r, %r, b'5')" % (p, CUR + "g")) \
        == "EACCES"
    assert get(p, "g") == 2
    assert other_user.call("os.removexattr(%r, %r)" % (p, CUR + "g")) == "OK"
    assert_errno(errno.ENODATA, os.getxattr, p, CUR + "g")


# ---------------------------------------------------------------- streamctl

STREAMCTL = BUILD / "tools" / "streamctl"


def ctl(*args, check=True, user=None):
    argv = [STREAMCTL] + list(args)
    r = user.run(argv) if user else run(argv, check=False)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def table(out):
    """streamctl groups' rows as dicts by heading, and its other lines."""
    lines = out.splitlines()
    rows, notes, head = [], [], None
    for line in lines:
        if line.startswith("TOPIC "):
            head = line.split()
        elif head and len(line.split()) == len(head) and \
                not line.endswith("no consumer groups"):
            rows.append(dict(zip(head, line.split())))
        else:
            notes.append(line)
    return rows, notes


def test_streamctl_groups_topic_and_stream(mount):
    m = mount.mnt
    t = topic(m)                               # 3 messages, 9 bytes
    u = topic(m, "s/u", [b"one\n"])
    topic(m, "s/empty", [b"x\n"])
    with open(m + "/s/blob", "wb") as f:
        f.write(b"blob\n")
    os.mkdir(m + "/s/sub")
    topic(m, "s/sub/deep", [b"d\n"])
    commit(m + "/s/sub/deep", "g", 0)         # substreams are not listed
    commit(t, "etl", 2)
    commit(t, "audit", 9)
    commit(u, "etl", 0)
    r = ctl("groups", t)
    rows, notes = table(r.stdout)
    assert notes == []
    assert [(x["GROUP"], x["OFFSET"], x["MESSAGE"], x["LAG_MESSAGES"],
             x["LAG_BYTES"]) for x in rows] == [
        ("audit", "9", "3", "0", "0"), ("etl", "2", "1", "2", "7")]
    assert all(x["TOPIC"] == t for x in rows)
    (_, _, _, ns), = [g for g in groups(t) if g[0] == "etl"]
    when = datetime.datetime.fromtimestamp(ns // 10**9,
                                           datetime.timezone.utc)
    assert rows[1]["COMMITTED"] == when.strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (ns // 10**6 % 1000)
    # The lag grows with appends.
    append(t, b"dddd\n")
    rows, _ = table(ctl("groups", t).stdout)
    assert [(x["LAG_MESSAGES"], x["LAG_BYTES"]) for x in rows] == [
        ("1", "5"), ("3", "12")]
    # A stream: each of its topics, in name order; not its substreams.
    rows, notes = table(ctl("groups", m + "/s").stdout)
    assert [(x["TOPIC"], x["GROUP"]) for x in rows] == [
        (t, "audit"), (t, "etl"), (u, "etl")]
    assert notes == []
    assert rows[2]["LAG_MESSAGES"] == "1" and rows[2]["LAG_BYTES"] == "4"


def test_streamctl_groups_none(mount):
    m = mount.mnt
    t = topic(m)
    os.mkdir(m + "/empty")
    r = ctl("groups", t, m + "/empty", m + "/s")
    assert r.stdout == ("%s: no consumer groups\n" % t +
                        "%s/empty: no consumer groups\n" % m +
                        "%s/s: no consumer groups\n" % m)


def test_streamctl_groups_errors(mount):
    m = mount.mnt
    t = topic(m)
    commit(t, "g", 2)
    with open(m + "/s/blob", "wb") as f:
        f.write(b"blob\n")
    r = ctl("groups", m + "/s/blob", m + "/nope", t, check=False)
    assert r.returncode == 1
    assert "%s/s/blob: not a topic or stream" % m in r.stderr
    assert "%s/nope: No such file or directory" % m in r.stderr
    rows, _ = table(r.stdout)                  # the others are listed
    assert [x["GROUP"] for x in rows] == ["g"]
    r = ctl("groups", check=False)
    assert r.returncode == 2 and "no PATH given" in r.stderr
    assert "Usage: streamctl groups PATH..." in ctl("groups", "--help").stdout


@allow_other
def test_streamctl_groups_needs_consume(mount, other_user):
    t = prepare_shared(mount, 0o600)
    r = ctl("groups", t, check=False, user=other_user)
    assert r.returncode == 1 and "Permission denied" in r.stderr, r.stderr
    # A producer may read the topic's kind and info, not its groups.
    os.setxattr(mount.mnt + "/s", PFX + "ace.produce", b"u:65534")
    r = ctl("groups", t, check=False, user=other_user)
    assert r.returncode == 1
    assert "cannot read consumer groups: Permission denied" in r.stderr
    r = ctl("groups", mount.mnt + "/s", check=False, user=other_user)
    assert r.returncode == 1
    assert "cannot read consumer groups: Permission denied" in r.stderr
    assert "no consumer groups" not in r.stdout
    os.setxattr(mount.mnt + "/s", PFX + "ace.consume", b"u:65534")
    r = ctl("groups", t, user=other_user)
    assert [x["GROUP"] for x in table(r.stdout)[0]] == ["g"]


def test_streamctl_group_delete(mount):
    m = mount.mnt
    t = topic(m)
    u = topic(m, "s/u", [b"one\n"])
    v = topic(m, "s/v", [b"two\n"])
    commit(t, "etl", 2)
    commit(t, "keep", 2)
    commit(u, "etl", 4)
    ctl("group", "delete", "etl", t)
    assert [g[0] for g in groups(t)] == ["keep"]
    assert get(u, "etl") == 4
    # A topic without the group: an error, the other paths still done.
    commit(t, "etl", 2)
    r = ctl("group", "delete", "etl", v, t, check=False)
    assert r.returncode == 1
    assert r.stderr == "streamctl: %s: no consumer group 'etl'\n" % v
    assert_errno(errno.ENODATA, os.getxattr, t, CUR + "etl")
    # A stream: every topic of it that has the group.
    commit(t, "etl", 2)
    ctl("group", "delete", "etl", m + "/s")
    for p in (t, u, v):
        assert_errno(errno.ENODATA, os.getxattr, p, CUR + "etl")
    assert get(t, "keep") == 2
    r = ctl("group", "delete", "etl", m + "/s", check=False)
    assert r.returncode == 1
    assert "no topic of this stream has consumer group 'etl'" in r.stderr


@pytest.mark.parametrize("args,msg", [
    ([], "no action given"),
    (["remove", "g", "X"], "unknown action 'remove'"),
    (["delete"], "no GROUP given"),
    (["delete", "g"], "no PATH given"),
    (["delete", "a b", "X"], "not a group name: 'a b'"),
    (["delete", "..", "X"], "not a group name: '..'"),
    (["delete", "n" * 201, "X"], "not a group name"),
    (["delete", "a/b", "X"], "not a group name"),
])
def test_streamctl_group_usage(mount, args, msg):
    t = topic(mount.mnt)
    commit(t, "g", 2)
    args = [t if a == "X" else a for a in args]
    r = ctl("group", *args, check=False)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr and "(see 'streamctl group --help')" in r.stderr
    assert get(t, "g") == 2


def test_streamctl_group_help():
    r = run([STREAMCTL, "group", "--help"])
    assert r.stdout.startswith("Usage: streamctl group delete GROUP PATH...")
    r = run([STREAMCTL, "help", "group"])
    assert r.stdout.startswith("Usage: streamctl group delete GROUP PATH...")
    r = run([STREAMCTL, "--help"])
    assert "groups " in r.stdout and "group " in r.stdout
