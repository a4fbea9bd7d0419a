"""streamfs-ace, the chmod of access control expressions, against a real
mount: setting and listing with names, the caret display of malformed
expressions (and that they change nothing on any path), -R over a tree of
streams, topics and blobs, --remove, blob read/write, permissions that do
not fit the object, usage errors, and the error a non-owner without admin
gets.  These run as root; the permission matrix (who may do what once an
expression is set) is test_acl_matrix.py's."""
import errno
import grp
import os
import pwd
import re

import pytest

from util import BUILD, OTHER_UID, PFX, append, assert_errno, kind, run

ACE = BUILD / "tools" / "streamfs-ace"
ACE_PFX = PFX + "ace."
STREAM_PERMS = ["admin", "produce", "consume", "topic", "copy"]
BLOB_PERMS = ["read", "write"]
allow_other = pytest.mark.mount_options("allow_other")


@pytest.fixture(autouse=True)
def built():
    if not os.access(str(ACE), os.X_OK):
        pytest.fail("no streamfs-ace at %s (build first, or set "
                    "STREAMFS_BUILD)" % ACE)


def ace(*args, check=True):
    return run([ACE] + [str(a) for a in args], check=check)


def uid(name):
    return pwd.getpwnam(name).pw_uid


def gid(name):
    return grp.getgrnam(name).gr_gid


def stored(path):
    """{perm: stored text} of every user.streamfs.ace.* attribute that
    listxattr shows, each read back with getxattr."""
    out = {}
    for name in os.listxattr(path):
        if name.startswith(ACE_PFX):
            out[name[len(ACE_PFX):]] = os.getxattr(path, name).decode()
    return out


def fails(r, status):
    """r failed with exit status `status`, printed nothing on stdout, and
    said one line "streamfs-ace: ..." on stderr; returns that line."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("streamfs-ace: "), lines[0]
    return lines[0]


def caret(r):
    """A malformed-list error: exit 2, three lines on stderr (message,
    the argument or a window of it, a caret).  Returns (message, shown
    text without its indent, column of the caret in that text)."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 3, r.stderr
    assert lines[0].startswith("streamfs-ace: "), lines[0]
    assert lines[1].startswith("    "), lines[1]
    assert lines[2].strip() == "^", lines[2]
    return lines[0], lines[1][4:], lines[2].index("^") - 4


def stream(mount, name):
    p = os.path.join(mount.mnt, name)
    os.makedirs(p)
    return p


def blob(path, data=b"blob\n"):
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- help

def test_help_and_version():
    r = ace("--help")
    assert r.stdout.startswith("Usage: streamfs-ace")
    assert r.stderr == ""
    for word in STREAM_PERMS + BLOB_PERMS + ["-R", "--remove"]:
        assert word in r.stdout, word
    assert ace("-h").stdout == r.stdout
    assert re.match(r"^streamfs-ace \S+\n$", ace("--version").stdout)


def test_usage_errors_exit_2(mount):
    s = stream(mount, "s")
    line = fails(ace(check=False), 2)
    assert "no PATH" in line
    line = fails(ace("produce=p", check=False), 2)
    assert "no PATH" in line
    line = fails(ace("-x", s, check=False), 2)
    assert "'-x'" in line
    line = fails(ace("--remove", check=False), 2)
    assert "--remove" in line
    line = fails(ace("--remove", "produce", "consume=p", s, check=False), 2)
    assert "consume=p" in line
    line = fails(ace("--remove", "prodce", s, check=False), 2)
    assert "unknown permission 'prodce'" in line
    line = fails(ace("--remove", "produce,", s, check=False), 2)
    assert "position 9" in line
    # A permission without '=' is not taken for a missing file.
    line = fails(ace("produce", s, check=False), 2)
    assert "produce=EXPRESSION" in line
    assert stored(s) == {}


# ---------------------------------------------------------------- set, list

def test_set_and_list_round_trip_with_names(mount):
    s = stream(mount, "plant")
    r = ace("produce=u:daemon|g:users,consume=g:adm & !u:nobody,"
            "admin=u:root", s)
    assert r.stdout == "" and r.stderr == ""
    # The daemon holds the canonical numeric text the tool sent ...
    assert stored(s) == {
        "produce": "u:%d | g:%d" % (uid("daemon"), gid("users")),
        "consume": "g:%d & !u:%d" % (gid("adm"), uid("nobody")),
        "admin": "u:0",
    }
    # ... getfattr shows it like any attribute ...
    r = run(["getfattr", "-d", "-m", "user.streamfs", s])
    assert 'user.streamfs.ace.admin="u:0"' in r.stdout
    # ... and listing turns ids back into names, in the fixed order.
    expected = ("admin: u:root\n"
                "produce: u:daemon | g:users\n"
                "consume: g:adm & !u:nobody\n")
    assert ace(s).stdout == expected
    assert ace("-n", s).stdout == (
        "admin: u:0\nproduce: u:%d | g:%d\nconsume: g:%d & !u:%d\n"
        % (uid("daemon"), gid("users"), gid("adm"), uid("nobody")))
    # Kept across a remount.
    mount.restart()
    assert ace(s).stdout == expected


def test_list_order_headers_and_empty_paths(mount):
    s = stream(mount, "s")
    quiet = stream(mount, "quiet")
    # Given in reverse order; listed in the fixed one.
    ace("copy=p,topic=u:0,consume=g:0,produce=u:1,admin=u:root", s)
    assert [l.split(":")[0] for l in ace(s).stdout.splitlines()] \
        == STREAM_PERMS
    # A path without expressions prints nothing, alone or among others.
    assert ace(quiet).stdout == ""
    r = ace(quiet, s)
    assert r.stdout == s + ":\n" + ace(s).stdout
    b = blob(os.path.join(s, "b"))
    ace("write=u:root", b)
    assert ace(s, quiet, b).stdout == (
        s + ":\n" + ace(s).stdout + "\n" + b + ":\nwrite: u:root\n")


def test_set_replaces_only_the_permissions_given(mount):
    s = stream(mount, "s")
    ace("produce=u:root,consume=u:root", s)
    ace("produce = g:users | p", s)     # spaces around names are fine
    assert stored(s) == {"produce": "g:%d | p" % gid("users"),
                         "consume": "u:0"}


def test_numbers_are_taken_as_they_are(mount):
    s = stream(mount, "s")
    ace("consume=u:4000000 | g:4000001", s)
    assert ace(s).stdout == "consume: u:4000000 | g:4000001\n"


def test_mkdir_copies_the_parent_expressions(mount):
    s = stream(mount, "s")
    ace("produce=g:users,admin=u:root", s)
    sub = stream(mount, "s/sub")
    assert ace(sub).stdout == ace(s).stdout


# ---------------------------------------------------------------- malformed

LONG = "produce=" + "p|" * 2100 + "p"          # 4201-byte expression

MALFORMED = [
    # (list, reason, 1-based position of the error in the list)
    ("produce=(u:root | g:adm", "unclosed '('", 9),
    ("produce=u:root) | p", "unexpected ')'", 15),
    ("produce=p | u:", "empty term 'u:'", 13),
    ("consume=u:no_such_user_here", "unknown user 'no_such_user_here'", 9),
    ("consume=g:no_such_group_here", "unknown group 'no_such_group_here'",
     9),
    ("produce=u:root &", "trailing operator '&'", 16),
    ("produce=g:adm & !", "trailing operator '!'", 17),
    ("produce=u:root g:adm", "missing operator", 16),
    # The second item is wrong: positions count from the list's start and
    # the first item is not applied either.
    ("produce=p,consume=u:root |", "trailing operator '|'", 26),
    ("produce=p,prodce=p", "unknown permission 'prodce'", 11),
    ("produce=p,produce=u:root", "given twice", 11),
    ("produce=", "empty expression", 9),
    (LONG, "over the limit of 4096", 4105),
]


@pytest.mark.parametrize("arg,reason,pos", MALFORMED,
                         ids=[m[1] for m in MALFORMED])
def test_malformed_list_points_at_the_error_and_changes_nothing(
        mount, arg, reason, pos):
    a = stream(mount, "a")
    b = stream(mount, "b")
    ace("consume=u:root,admin=u:root", a, b)
    before = (stored(a), stored(b))

    message, shown, col = caret(ace(arg, a, b, check=False))
    assert reason in message
    assert "(at position %d)" % pos in message
    if len(arg) <= 72:
        assert message.startswith("streamfs-ace: %s: " % arg)
        assert shown == arg
        assert col == pos - 1
    else:
        # A window of a long argument, cut with "..." on either side;
        # the caret still stands under the byte at pos.
        assert shown.startswith("...") and shown.endswith("...")
        assert len(shown) <= 72 + 6
        assert shown[col] == arg[pos - 1]
    # Nothing changed, on either path.
    assert (stored(a), stored(b)) == before
    r = run(["getfattr", "--absolute-names", "-d", "-m", ACE_PFX, a, b])
    assert r.stdout.count("ace.consume=\"u:0\"") == 2
    assert "produce" not in r.stdout


def test_stored_form_over_the_limit_is_refused(mount):
    """4095 bytes as typed, but "p | p | ..." (8189 bytes) as stored: the
    daemon could not parse it back, so the tool refuses it."""
    s = stream(mount, "s")
    line = fails(ace("consume=" + "|".join(["p"] * 2048), s, check=False),
                 2)
    assert "consume is 8189 bytes" in line
    assert "over the limit of 4096" in line
    assert stored(s) == {}


def test_unprintable_bytes_keep_the_caret_in_place(mount):
    s = stream(mount, "s")
    message, shown, col = caret(ace("produce=u:root |\t\x01 p", s,
                                    check=False))
    assert "(at position 18)" in message
    assert shown == "produce=u:root |?? p"
    assert col == 17
    assert stored(s) == {}


# ---------------------------------------------------------------- objects

def test_blob_read_and_write(mount):
    s = stream(mount, "s")
    b = blob(os.path.join(s, "video"))
    fresh = os.path.join(s, "fresh")
    open(fresh, "w").close()                # no kind yet: takes blob perms
    assert kind(fresh) is None
    ace("read=u:daemon | g:users,write=u:root", b, fresh)
    for p in (b, fresh):
        assert stored(p) == {
            "read": "u:%d | g:%d" % (uid("daemon"), gid("users")),
            "write": "u:0"}
        assert ace(p).stdout == "read: u:daemon | g:users\nwrite: u:root\n"
    assert open(b, "rb").read() == b"blob\n"   # data untouched


def test_permission_that_does_not_fit_the_object(mount):
    s = stream(mount, "s")
    b = blob(os.path.join(s, "b"))
    t = os.path.join(s, "t")
    append(t, b"m\n")
    line = fails(ace("read=p", s, check=False), 1)
    assert line == ("streamfs-ace: %s: not a blob for read (a stream has "
                    "admin, produce, consume, topic, copy)" % s)
    line = fails(ace("produce=p", b, check=False), 1)
    assert line.startswith("streamfs-ace: %s: not a stream for produce"
                           % b)
    line = fails(ace("produce=p", t, check=False), 1)
    assert line.startswith("streamfs-ace: %s: not a stream for produce"
                           % t)
    line = fails(ace("read=p", t, check=False), 1)
    assert line.startswith("streamfs-ace: %s: not a blob for read" % t)
    # A mixed list without -R fits neither; one unfit path among several
    # stops the command before any path is changed.
    fails(ace("produce=p,read=p", s, check=False), 1)
    fails(ace("produce=p", s, b, check=False), 1)
    fails(ace("--remove", "read", s, check=False), 1)
    assert stored(s) == stored(b) == stored(t) == {}
    # A topic lists nothing: its stream's expressions govern it.
    assert ace(t).stdout == ""


def test_daemon_refuses_unfit_attributes(mount):
    """The same rule through the raw attributes: the tool's check agrees
    with the daemon's."""
    s = stream(mount, "s")
    b = blob(os.path.join(s, "b"))
    t = os.path.join(s, "t")
    append(t, b"m\n")
    assert_errno(errno.EINVAL, os.setxattr, s, ACE_PFX + "read", b"p")
    assert_errno(errno.EINVAL, os.setxattr, b, ACE_PFX + "produce", b"p")
    assert_errno(errno.EINVAL, os.setxattr, t, ACE_PFX + "produce", b"p")
    assert_errno(errno.EINVAL, os.setxattr, s, ACE_PFX + "produce",
                 b"(u:root")
    assert_errno(errno.ENODATA, os.getxattr, s, ACE_PFX + "produce")
    assert stored(s) == stored(b) == stored(t) == {}


def test_daemon_refuses_a_stored_form_over_the_limit(mount):
    s = stream(mount, "s")
    typed = "|".join(["p"] * 2048).encode()         # 4095 bytes
    assert_errno(errno.EINVAL, os.setxattr, s, ACE_PFX + "consume", typed)
    assert stored(s) == {}


def test_expressions_of_a_file_that_becomes_a_topic(mount):
    s = stream(mount, "s")
    f = os.path.join(s, "f")
    open(f, "w").close()
    ace("read=u:root", f)
    try:
        append(f, b"m\n")                  # the first append: a topic
    except OSError:
        return                              # refusing it is fine as well
    assert kind(f) == "topic"
    # What listxattr shows, getxattr must answer.
    for name in os.listxattr(f):
        os.getxattr(f, name)


def test_missing_path_or_other_file_system_changes_nothing(mount, tmp_path):
    s = stream(mount, "s")
    gone = os.path.join(mount.mnt, "gone")
    line = fails(ace("produce=p", s, gone, check=False), 1)
    assert line.startswith("streamfs-ace: %s: " % gone)
    assert stored(s) == {}
    line = fails(ace("produce=p", tmp_path, check=False), 1)
    assert line == "streamfs-ace: %s: not on a streamfs mount" % tmp_path
    line = fails(ace(tmp_path, check=False), 1)
    assert line == "streamfs-ace: %s: not on a streamfs mount" % tmp_path


# ---------------------------------------------------------------- remove

def test_remove(mount):
    s = stream(mount, "s")
    b = blob(os.path.join(s, "b"))
    ace("produce=p,consume=u:root,admin=u:root", s)
    ace("read=p,write=u:root", b)
    r = ace("--remove", "produce, admin", s)
    assert r.stdout == "" and r.stderr == ""
    assert stored(s) == {"consume": "u:0"}
    assert_errno(errno.ENODATA, os.getxattr, s, ACE_PFX + "produce")
    # Removing what is not set is not an error; --remove may repeat.
    ace("--remove", "produce", "--remove", "consume", s)
    assert stored(s) == {}
    assert ace(s).stdout == ""
    ace("--remove", "write", b)
    assert stored(b) == {"read": "p"}


# ---------------------------------------------------------------- -R

def make_tree(mount):
    """s/ (stream) with a topic t, a blob b, a file never written, a
    symlink to a stream outside, and s/sub/deeper/ with a blob."""
    s = stream(mount, "s")
    outside = stream(mount, "outside")
    append(os.path.join(s, "t"), b"m\n")
    blob(os.path.join(s, "b"))
    open(os.path.join(s, "new"), "w").close()
    os.symlink(outside, os.path.join(s, "link"))
    stream(mount, "s/sub/deeper")
    blob(os.path.join(s, "sub", "b2"))
    streams = [s, s + "/sub", s + "/sub/deeper"]
    blobs = [s + "/b", s + "/new", s + "/sub/b2"]
    return s, outside, streams, blobs


def test_recursive_set_list_remove(mount):
    s, outside, streams, blobs = make_tree(mount)
    ace("-R", "produce=g:users,read=u:daemon", s)
    for p in streams:
        assert stored(p) == {"produce": "g:%d" % gid("users")}, p
    for p in blobs:
        assert stored(p) == {"read": "u:%d" % uid("daemon")}, p
    assert stored(s + "/t") == {}           # topics are passed over
    assert stored(outside) == {}            # the symlink is not followed

    # Listing: one record per object that has expressions, sorted by name
    # within each stream, streams before what is in them.
    r = ace("-R", s)
    order = [l[:-1] for l in r.stdout.splitlines() if l.endswith(":")]
    assert order == [s, s + "/b", s + "/new", s + "/sub", s + "/sub/b2",
                     s + "/sub/deeper"]
    assert (s + "/sub:\nproduce: g:users\n\n") in r.stdout
    assert (s + "/sub/b2:\nread: u:daemon\n") in r.stdout

    # Only stream permissions: blobs are left alone (and vice versa).
    ace("-R", "admin=u:root", s)
    assert all(stored(p).get("admin") == "u:0" for p in streams)
    assert all("admin" not in stored(p) for p in blobs)

    ace("-R", "--remove", "produce,read,admin", s)
    for p in streams + blobs:
        assert stored(p) == {}, p
    assert ace("-R", s).stdout == ""


def test_recursive_on_a_blob_is_the_blob(mount):
    s = stream(mount, "s")
    b = blob(os.path.join(s, "b"))
    ace("-R", "write=u:root", b)
    assert stored(b) == {"write": "u:0"}
    fails(ace("-R", "produce=p", b, check=False), 1)


# ---------------------------------------------------------------- other user

@allow_other
def test_non_owner_without_admin_gets_a_clear_error(mount, other_user):
    s = stream(mount, "s")
    b = blob(os.path.join(s, "b"))
    ace("consume=u:root", s)
    r = other_user.run([ACE, "produce=p", s])
    assert fails(r, 1) == "streamfs-ace: %s: permission denied (needs " \
                          "admin)" % s
    r = other_user.run([ACE, "--remove", "consume", s])
    assert fails(r, 1) == "streamfs-ace: %s: permission denied (needs " \
                          "admin)" % s
    r = other_user.run([ACE, "read=p", b])
    assert fails(r, 1) == "streamfs-ace: %s: permission denied (needs to " \
                          "own the blob)" % b
    assert stored(s) == {"consume": "u:0"}
    assert stored(b) == {}
    # Listing needs only read permission.
    r = other_user.run([ACE, s])
    assert (r.returncode, r.stdout) == (0, "consume: u:root\n"), r.stderr

    # Given admin by expression, the other user may change the stream; its
    # own admin is set last, so a list that hands admin away still applies
    # every other permission first.
    ace("admin=u:%d" % OTHER_UID, s)
    r = other_user.run([ACE, "admin=u:root,produce=g:users", s])
    assert (r.returncode, r.stderr) == (0, "")
    assert stored(s) == {"consume": "u:0", "produce": "g:%d" % gid("users"),
                         "admin": "u:0"}
    r = other_user.run([ACE, "produce=p", s])
    assert "permission denied (needs admin)" in fails(r, 1)


@allow_other
def test_a_refused_path_does_not_stop_the_others(mount, other_user):
    mine = stream(mount, "mine")
    theirs = stream(mount, "theirs")
    ace("admin=u:%d" % OTHER_UID, mine)
    r = other_user.run([ACE, "consume=p,produce=p", theirs, mine])
    assert fails(r, 1) == "streamfs-ace: %s: permission denied (needs " \
                          "admin)" % theirs
    assert stored(theirs) == {}
    assert stored(mine) == {"admin": "u:%d" % OTHER_UID, "consume": "p",
                            "produce": "p"}


# ---------------------------------------------------------------- metadata

@allow_other
def test_a_producer_may_describe_its_topic(mount, other_user):
    """Issue 7, point 3: produce (or consume) lets a caller read a topic's
    kind and info, and streamctl info; seek answers need consume; a caller
    with neither gets EACCES."""
    ctl = str(BUILD / "tools" / "streamctl")
    s = stream(mount, "s")
    os.chmod(s, 0o755)
    t = os.path.join(s, "t")
    append(t, b"one\ntwo\n")
    os.chmod(t, 0o600)              # no fallback for the other user
    ace("produce=u:%d" % OTHER_UID, s)
    get = "os.getxattr(%r, %r)"
    assert other_user.call(get % (t, PFX + "kind")) == "OK"
    assert other_user.call(get % (t, PFX + "info")) == "OK"
    r = other_user.run(["getfattr", "--only-values", "-n", PFX + "info", t])
    assert r.returncode == 0 and "messages=2" in r.stdout, r.stderr
    r = other_user.run([ctl, "info", t])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^messages:\s+2$", r.stdout, re.M), r.stdout
    # Seek answers reveal offsets of data: consume only.
    assert other_user.call(get % (t, PFX + "seek.message.1")) == "EACCES"
    # Reading still needs consume.
    assert other_user.call("open(%r).read()" % t) == "EACCES"

    # Consume alone suffices too, seek included.
    ace("--remove", "produce", s)
    ace("consume=u:%d" % OTHER_UID, s)
    assert other_user.call(get % (t, PFX + "info")) == "OK"
    assert other_user.call(get % (t, PFX + "seek.message.1")) == "OK"

    # Neither: refused, by the tool too.
    ace("consume=u:root,produce=u:root", s)
    for name in ("kind", "info", "seek.message.1"):
        assert other_user.call(get % (t, PFX + name)) == "EACCES", name
    r = other_user.run([ctl, "info", t])
    assert r.returncode != 0 and "ermission denied" in r.stderr, r.stderr
