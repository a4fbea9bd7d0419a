"""Issue 7, point 1: search permission on every directory of a path holds
for every caller on every path walk, also for names the kernel has
cached: names another user looked up, and names cached before a chmod,
chown or rename.  The daemon does not mount with default_permissions, so
the kernel checks nothing itself; these tests run a second, real user
(setpriv) against an allow_other mount, with root as the user who warms
the kernel's caches."""
import os
import subprocess
import time

import pytest

from util import PYTHON, append, read, sh

allow_other = pytest.mark.mount_options("allow_other")

# What the other user tries on a path, each in its own call.
REACH = {
    "stat": "os.stat(p)",
    "lstat": "os.lstat(p)",
    "open": "os.close(os.open(p, os.O_RDONLY))",
    "access": "assert os.access(p, os.F_OK) or "
              "os.stat(p)",
    "cat": "open(p, 'rb').read()",
    "getxattr": "os.listxattr(p)",
    "chdir": "os.chdir(p)",
}


def reach(user, paths, ops=REACH):
    """Try every op on every path as user, in one process: {(op, path):
    "OK" or the errno name}."""
    prog = ("import errno, os, sys\n"
            "ops = %r\n"
            "for p in sys.argv[1:]:\n"
            "    for name, code in ops.items():\n"
            "        try:\n"
            "            exec(code)\n"
            "            print(name, p, 'OK')\n"
            "        except OSError as e:\n"
            "            print(name, p, errno.errorcode.get(e.errno))\n"
            "        except AssertionError:\n"
            "            print(name, p, 'FALSE')\n" % (ops,))
    r = user.run([PYTHON, "-S", "-c", prog] + list(paths))
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        op, p, res = line.split(" ")
        out[(op, p)] = res
    return out


def denied(user, paths, ops=REACH):
    """Every op on every path must fail with EACCES; returns the cells
    that did not, for the assertion message."""
    got = reach(user, paths, ops)
    return {k: v for k, v in got.items() if v != "EACCES"}


def closes(user, paths, ops=REACH):
    """After a chmod or rename: the daemon invalidates the kernel's cached
    names from its notify thread once the call has returned, so a walk
    racing that return may still pass.  Wait (5 s at most, against a
    timeout of a day) until every op is refused, then check it stays so;
    returns the cells that were never, or not always, refused."""
    deadline = time.monotonic() + 5
    while denied(user, paths, ops) and time.monotonic() < deadline:
        time.sleep(0.01)
    bad = {}
    for _ in range(3):
        bad.update(denied(user, paths, ops))
    return bad


def allowed(user, paths, ops=REACH):
    """No op on any path may fail with EACCES (a directory may still give
    EISDIR, a file ENOTDIR); returns the cells that did."""
    got = reach(user, paths, ops)
    return {k: v for k, v in got.items() if v == "EACCES"}


def warm(paths):
    """As root: look every path up, read it, so the kernel caches it."""
    for p in paths:
        os.stat(p)
        if os.path.isfile(p):
            read(p)


def tree(top, mode):
    """top (mode) holding topic f, blob b and sub/g; returns the paths."""
    os.mkdir(top)
    append(top + "/f", b"secret\n")
    with open(top + "/b", "wb") as f:
        f.write(b"blob\n")
    os.mkdir(top + "/sub", 0o755)
    append(top + "/sub/g", b"deeper\n")
    for p in ("/f", "/b", "/sub/g"):
        os.chmod(top + p, 0o644)
    os.chmod(top, mode)
    return [top + "/f", top + "/b", top + "/sub", top + "/sub/g"]


@allow_other
@pytest.mark.parametrize("mode", [0o700, 0o750, 0o754, 0o070, 0o707])
def test_cached_by_root_stays_closed(mount, other_user, mode):
    """Root looks names up under a directory the other user may not
    search; the other user is refused every time, also while root keeps
    the names cached.  0o070/0o707: the other user is the group class or
    the owner's bits leave it out, so o+x alone must not decide."""
    d = mount.mnt + "/d"
    paths = tree(d, mode)
    if mode in (0o070, 0o707):
        # The other user owns d (0o070: owner has no x) or is in its
        # group (0o707: group has no x).
        os.chown(d, other_user.uid if mode == 0o070 else 0,
                 other_user.gid if mode == 0o707 else 0)
    for _ in range(5):
        warm([d] + paths)
        assert denied(other_user, paths) == {}
    r = other_user.sh("ls %s/sub; cat %s/f" % (d, d))
    assert r.returncode != 0
    assert r.stderr.count("Permission denied") == 2, r.stderr


@allow_other
def test_chmod_closes_cached_names(mount, other_user):
    d = mount.mnt + "/d"
    paths = tree(d, 0o755)
    assert allowed(other_user, paths) == {}
    warm(paths)
    os.chmod(d, 0o754)          # o-x: the names are still cached
    assert closes(other_user, paths) == {}
    # Giving search back opens the names again.
    os.chmod(d, 0o755)
    assert allowed(other_user, paths) == {}


@allow_other
def test_chmod_closes_every_name_of_a_large_directory(mount, other_user):
    """The daemon walks a directory's names in steps of 1,024; names of
    every step are closed, the last ones too."""
    d = mount.mnt + "/big"
    os.mkdir(d, 0o755)
    names = ["n%05d" % i for i in range(2600)]
    for n in names:
        os.close(os.open(d + "/" + n, os.O_WRONLY | os.O_CREAT, 0o644))
    sample = [d + "/" + n for n in names[::97] + names[-3:]]
    assert allowed(other_user, sample, {"stat": "os.stat(p)"}) == {}
    warm([d + "/" + n for n in names])
    os.chmod(d, 0o700)
    assert closes(other_user, sample, {"stat": "os.stat(p)"}) == {}


@allow_other
def test_chmod_of_the_root_closes_cached_names(mount, other_user):
    m = mount.mnt
    append(m + "/f", b"x\n")
    os.mkdir(m + "/s", 0o755)
    append(m + "/s/t", b"y\n")
    os.chmod(m + "/f", 0o644)
    os.chmod(m + "/s/t", 0o644)
    paths = [m + "/f", m + "/s", m + "/s/t"]
    assert allowed(other_user, paths) == {}
    os.chmod(m, 0o750)
    try:
        assert closes(other_user, paths) == {}
    finally:
        os.chmod(m, 0o755)
    assert allowed(other_user, paths) == {}


@allow_other
def test_chown_closes_cached_names(mount, other_user):
    """A directory without o+x, owned by the other user: after a chown to
    someone else its names are closed to the other user at once."""
    d = mount.mnt + "/d"
    paths = tree(d, 0o750)
    os.chown(d, other_user.uid, other_user.gid)
    assert allowed(other_user, paths) == {}
    warm(paths)
    os.chown(d, 12345, 12345)
    assert denied(other_user, paths) == {}
    os.chown(d, 12345, other_user.gid)      # the group class may search
    assert allowed(other_user, paths) == {}


@allow_other
def test_rename_into_a_closed_directory(mount, other_user):
    """A name cached under an open directory and renamed into a closed one
    is closed under its new name."""
    m = mount.mnt
    os.mkdir(m + "/open", 0o755)
    os.mkdir(m + "/closed", 0o700)
    append(m + "/open/f", b"x\n")
    os.chmod(m + "/open/f", 0o644)
    os.mkdir(m + "/open/dir", 0o755)
    assert allowed(other_user, [m + "/open/f", m + "/open/dir"]) == {}
    os.rename(m + "/open/f", m + "/closed/f")
    os.rename(m + "/open/dir", m + "/closed/dir")
    assert closes(other_user, [m + "/closed/f", m + "/closed/dir"]) == {}


@allow_other
def test_links_and_symlinks(mount, other_user):
    """A hard link in an open directory reaches the file; its name in the
    closed directory does not, nor does a symlink through it."""
    m = mount.mnt
    os.mkdir(m + "/closed", 0o700)
    os.mkdir(m + "/open", 0o755)
    with open(m + "/closed/b", "wb") as f:
        f.write(b"blob\n")
    os.chmod(m + "/closed/b", 0o644)
    os.link(m + "/closed/b", m + "/open/b")
    os.symlink(m + "/closed/b", m + "/open/abs")
    os.symlink("../closed/b", m + "/open/rel")
    warm([m + "/closed/b", m + "/open/b", m + "/open/abs", m + "/open/rel"])
    assert allowed(other_user, [m + "/open/b"]) == {}
    assert denied(other_user, [m + "/closed/b"]) == {}
    # lstat of a symlink needs no search below it; following it does.
    follow = {k: v for k, v in REACH.items() if k != "lstat"}
    assert denied(other_user, [m + "/open/abs", m + "/open/rel"],
                  follow) == {}
    assert other_user.call("os.lstat(%r)" % (m + "/open/abs")) == "OK"


@allow_other
def test_cwd_kept_across_chmod(mount, other_user):
    """A process keeps a working directory that stops being searchable
    (POSIX allows it), but every name it looks up below it is checked
    again, as on a local filesystem."""
    d = mount.mnt + "/d"
    tree(d, 0o755)
    prog = ("import errno, os, sys\n"
            "os.chdir(%r)\n"
            "def t(f):\n"
            "    try:\n"
            "        f(); return 'OK'\n"
            "    except OSError as e:\n"
            "        return errno.errorcode.get(e.errno)\n"
            "print(t(lambda: open('f').read()), flush=True)\n"
            "sys.stdin.readline()\n"
            "import time\n"
            "end = time.monotonic() + 5\n"
            "def cached():\n"
            "    return 'OK' in (t(lambda: os.stat('f')),\n"
            "                    t(lambda: os.stat('sub')))\n"
            "while cached() and time.monotonic() < end:\n"
            "    time.sleep(0.001)\n"
            "print(t(lambda: os.stat('f')), t(lambda: open('f').read()),\n"
            "      t(lambda: os.listdir('sub')), t(lambda: os.stat('.')),\n"
            "      os.getcwd() == %r, flush=True)\n" % (d, d))
    p = subprocess.Popen(other_user.argv([PYTHON, "-S", "-c", prog]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().split() == ["OK"]
        os.chmod(d, 0o754)
        p.stdin.write("\n")
        p.stdin.flush()
        line = p.stdout.readline().split()
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert line == ["EACCES", "EACCES", "EACCES", "OK", "True"], line


@allow_other
def test_world_searchable_names_stay_cached(mount):
    """In a directory every caller may search, names keep the long entry
    timeout: walking cached names again sends the daemon (almost) nothing
    (the files are blobs: a topic's attributes are never cached).
    Each request costs the daemon one read() of /dev/fuse, so its read
    count bounds the requests; an expired attribute may add a getattr or
    two, a lookup per walk would add 40."""
    d = mount.mnt + "/d"
    tree(d, 0o755)
    with open(d + "/sub/c", "wb") as f:
        f.write(b"blob\n")
    os.stat(d + "/b")
    os.stat(d + "/sub/c")
    before = daemon_reads(mount)
    for _ in range(20):
        os.stat(d + "/b")
        os.stat(d + "/sub/c")
    assert daemon_reads(mount) - before < 10


def daemon_reads(mount):
    with open("/proc/%d/io" % mount.proc.pid) as f:
        for line in f:
            if line.startswith("syscr:"):
                return int(line.split()[1])
    pytest.skip("no read count in /proc/PID/io")
