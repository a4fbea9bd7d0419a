"""Copying trees with their attributes into a mount (issue 7, point 4):
rsync -aX, cp -a --preserve=all, tar --xattrs (create and extract) and
setfattr --restore succeed, whether the tree comes from a mount or from
ext4 carrying streamfs attributes, and keep every byte and every stored
attribute.  The attributes derived from the data (kind, info) are accepted
and change nothing; what cannot be honoured (a policy change by someone
who is not the stream's admin, "blob" on a topic) is a clear error that
leaves the rest of the copy done.  Topics arrive as blobs of the same
bytes from rsync and cp, as topics from tar (docs/design.md)."""
import os
import shutil

import pytest

from util import PFX, append, getx, kind, read, run, sh

TOOLS = ("rsync", "tar", "setfattr", "getfattr")
POLICIES = ("framing", "max_message", "ttl", "retention_bytes", "durability",
            "autocreate")


@pytest.fixture(autouse=True)
def tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail("missing %s (tools/setup.sh installs them)"
                    % ", ".join(missing))


def make_tree(root):
    """A stream with a line-framed topic, a write-framed substream with a
    binary topic and an ACE, a blob with its own attributes and ACE."""
    os.makedirs(root + "/w")
    os.setxattr(root + "/w", PFX + "framing", b"write")
    os.setxattr(root + "/w", PFX + "ttl", b"1h")
    os.setxattr(root + "/w", PFX + "ace.produce", b"u:0 | g:0")
    append(root + "/lines", b"a\nb\n")
    append(root + "/lines", b"c\n")
    append(root + "/w/bin", b"\x00\n\xff")
    append(root + "/w/bin", b"x\ny")
    with open(root + "/blob", "wb") as f:
        f.write(b"blob\x00bytes\n")
    os.setxattr(root + "/blob", "user.color", b"red")
    os.setxattr(root + "/blob", PFX + "ace.read", b"u:0")


def stored(path):
    """The attributes a copy must carry: everything listed except what is
    derived from the data."""
    return {n: os.getxattr(path, n) for n in os.listxattr(path)
            if n not in (PFX + "kind", PFX + "info")}


def assert_same_tree(src, dst, topics_as):
    """Every file of src is in dst with the same bytes and stored
    attributes; topics became `topics_as` ("blob" or "topic")."""
    for d, dirs, files in os.walk(src):
        rel = os.path.relpath(d, src)
        other = os.path.normpath(os.path.join(dst, rel))
        assert stored(other) == stored(d), rel
        for name in files:
            a, b = os.path.join(d, name), os.path.join(other, name)
            assert read(b) == read(a), b
            assert stored(b) == stored(a), b
            k = kind(a)
            if k is None:           # an ext4 source: what its copy says
                k = os.getxattr(a, PFX + "kind").decode()
            assert kind(b) == (topics_as if k == "topic" else k), b


def ok(cmd):
    """Run cmd; it must exit 0 and say nothing on stderr."""
    r = sh(cmd, check=False)
    assert (r.returncode, r.stderr) == (0, ""), (cmd, r.stderr)
    return r


@pytest.fixture
def src(mount):
    s = mount.mnt + "/src"
    make_tree(s)
    return s


@pytest.fixture
def ext4_src(src, tmp_path):
    """The mount's tree copied to ext4 with every attribute."""
    e = str(tmp_path / "e4")
    ok("cp -a --preserve=all %s %s" % (src, e))
    assert os.getxattr(e + "/lines", PFX + "kind") == b"topic"
    assert b"messages=3" in os.getxattr(e + "/lines", PFX + "info")
    return e


@pytest.fixture(params=["mount", "ext4"])
def tree(request, src):
    return src if request.param == "mount" else \
        request.getfixturevalue("ext4_src")


def test_rsync_into_a_mount(mount, tree):
    dst = mount.mnt + "/dst"
    ok("rsync -aX %s/ %s/" % (tree, dst))
    assert_same_tree(tree, dst, "blob")
    # Again over the copy: every attribute is set once more, still fine.
    ok("rsync -aX %s/ %s/" % (tree, dst))
    assert_same_tree(tree, dst, "blob")


def test_cp_a_into_a_mount(mount, tree):
    dst = mount.mnt + "/dst"
    ok("cp -a --preserve=all %s %s" % (tree, dst))
    assert_same_tree(tree, dst, "blob")
    ok("cp -a --preserve=xattr %s/lines %s/lines2" % (tree, dst))
    assert read(dst + "/lines2") == b"a\nb\nc\n"


def test_tar_xattrs_create_and_extract(mount, tree, tmp_path):
    ball = tmp_path / "t.tar"
    dst = mount.mnt + "/dst"
    os.mkdir(dst)
    ok("tar --xattrs --xattrs-include='*' -cf %s -C %s ." % (ball, tree))
    ok("tar --xattrs --xattrs-include='*' -xf %s -C %s" % (ball, dst))
    # tar sets the attributes of an empty file before writing it: topics
    # are topics again, their bytes appended by tar.
    assert_same_tree(tree, dst, "topic")
    assert getx(dst + "/lines", "info").startswith("messages=3\n")


def test_setfattr_restore(mount, tree, tmp_path):
    dump = tmp_path / "attrs"
    dst = mount.mnt + "/dst"
    ok("cd %s && getfattr -d -m - -R . > %s" % (tree, dump))
    ok("cp -r %s %s" % (tree, dst))        # bytes only
    ok("cd %s && setfattr --restore=%s" % (dst, dump))
    assert_same_tree(tree, dst, "blob")
    # Restoring a mount's own attributes onto it changes nothing.
    ok("cd %s && setfattr --restore=%s" % (dst, dump))
    assert_same_tree(tree, dst, "blob")


def test_a_plain_ext4_tree(mount, tmp_path):
    plain = tmp_path / "plain"
    (plain / "d").mkdir(parents=True)
    (plain / "d" / "f").write_bytes(b"hi\n")
    os.setxattr(plain / "d" / "f", "user.x", b"1")
    dst = mount.mnt + "/dst"
    # rsync removes what the source does not have: kind is the data's.
    ok("rsync -aX %s/ %s/" % (plain, dst))
    assert read(dst + "/d/f") == b"hi\n"
    assert os.getxattr(dst + "/d/f", "user.x") == b"1"
    assert kind(dst + "/d/f") == "blob"


def test_what_cannot_be_honoured_is_a_clear_error(mount, src, tmp_path):
    dst = mount.mnt + "/dst"
    ok("cp -r %s %s" % (src, dst))
    append(dst + "/t", b"x\n")
    dump = tmp_path / "attrs"
    dump.write_text('# file: t\nuser.streamfs.kind="blob"\nuser.note="n"\n'
                    '\n# file: blob\nuser.color="red"\n')
    r = sh("cd %s && setfattr --restore=%s" % (dst, dump), check=False)
    assert (r.returncode, r.stderr) == (
        1, "setfattr: t: Operation not permitted\n")
    # A topic stays a topic; the rest of the restore was done.
    assert kind(dst + "/t") == "topic"
    assert os.getxattr(dst + "/t", "user.note") == b"n"
    assert os.getxattr(dst + "/blob", "user.color") == b"red"


@pytest.mark.mount_options("allow_other")
def test_a_copy_by_someone_who_is_not_admin(mount, src, scratch,
                                            other_user):
    os.chmod(mount.mnt, 0o777)
    e = scratch + "/e4"
    ok("cp -a --preserve=all %s %s" % (src, e))
    ok("chown -R %d:%d %s" % (other_user.uid, other_user.gid, e))
    dst = mount.mnt + "/dst"
    os.mkdir(dst)
    os.chmod(dst, 0o777)                 # root's stream, writable to all
    # The same policies: no change, so no admin needed.
    os.setxattr(e, PFX + "ttl", b"0")
    r = other_user.run(["rsync", "-rX", e + "/", dst + "/"])
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert read(dst + "/w/bin") == b"\x00\n\xffx\ny"
    # A different policy on root's stream: refused, named, the rest done.
    os.setxattr(e, PFX + "ttl", b"60")
    os.setxattr(e + "/blob", "user.color", b"blue")
    r = other_user.run(["rsync", "-rX", e + "/", dst + "/"])
    assert r.returncode == 23, r.stderr
    assert 'failed: Permission denied' in r.stderr
    assert PFX + "ttl" in r.stderr
    assert getx(dst, "ttl") == "0"
    assert os.getxattr(dst + "/blob", "user.color") == b"blue"
    # Substreams the copier made are its own: their policies are set.
    assert getx(dst + "/w", "framing") == "write"
    assert getx(dst + "/w", "ttl") == "3600"
