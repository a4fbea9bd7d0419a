"""Helpers shared by the streamfs test suites.

The suites drive a real mount with real programs (sh, cat, dd, tail, cp,
getfattr, ...) through these small wrappers, and use Python's os calls only
where an exact errno has to be checked.
"""
import ctypes
import ctypes.util
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("STREAMFS_BUILD", str(REPO / "build")))
DAEMON = BUILD / "fs" / "streamfs"
PYTHON = sys.executable
FUSERMOUNT = "fusermount3"

# The identity used for tests that need a second, unprivileged user.
OTHER_UID = 65534
OTHER_GID = 65534

PFX = "user.streamfs."


# ---------------------------------------------------------------- processes

def sh(cmd, check=True, timeout=120, input=None, binary=False):
    """Run a shell command line; return the CompletedProcess (text unless
    binary).  With check, a non-zero exit fails the test with its stderr."""
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=timeout,
                       input=input, text=not binary)
    if check and r.returncode != 0:
        pytest.fail("command failed (exit %d): %s\nstdout: %s\nstderr: %s"
                    % (r.returncode, cmd, r.stdout, r.stderr))
    return r


def run(argv, check=True, timeout=120, input=None, binary=False):
    """Like sh() for an argument vector."""
    r = subprocess.run([str(a) for a in argv], capture_output=True,
                       timeout=timeout, input=input, text=not binary)
    if check and r.returncode != 0:
        pytest.fail("command failed (exit %d): %s\nstdout: %s\nstderr: %s"
                    % (r.returncode, argv, r.stdout, r.stderr))
    return r


def errno_of(fn, *args, **kw):
    """Call fn; return 0 if it succeeded, else the OSError's errno.  A
    descriptor that os.open returned by mistake is closed again."""
    try:
        res = fn(*args, **kw)
    except OSError as e:
        return e.errno
    if fn is os.open:
        os.close(res)
    return 0


def ename(n):
    """errno number -> its name, for readable assertion messages."""
    return errno.errorcode.get(n, str(n)) if n else "success"


def assert_errno(expected, fn, *args, **kw):
    """fn(*args) must fail with one of the expected errno values."""
    if isinstance(expected, int):
        expected = (expected,)
    got = errno_of(fn, *args, **kw)
    assert got in expected, "%s%r: expected %s, got %s" % (
        getattr(fn, "__name__", fn), args,
        "/".join(ename(e) for e in expected), ename(got))


# ---------------------------------------------------------------- files

def read(path):
    with open(path, "rb") as f:
        return f.read()


def append(path, data):
    """Append bytes through one O_APPEND handle, one write() call."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        n = os.write(fd, data)
        assert n == len(data), "short append: %d of %d" % (n, len(data))
    finally:
        os.close(fd)


def write_all(fd, data):
    """write() until everything is taken, as cat or a shell would."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def kind(path):
    """user.streamfs.kind as getfattr prints it, or None when absent."""
    r = run(["getfattr", "--only-values", "-n", PFX + "kind", path],
            check=False)
    if r.returncode != 0:
        assert "No such attribute" in r.stderr, r.stderr
        return None
    return r.stdout


def getx(path, name):
    """One streamfs attribute (name without the prefix) as text."""
    return os.getxattr(path, PFX + name).decode()


def info(path):
    """user.streamfs.info of a topic as a dict of integers."""
    text = os.getxattr(path, PFX + "info").decode()
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, val = line.partition("=")
        assert sep, "malformed info line %r in %r" % (line, text)
        out[key.strip()] = int(val.strip())
    return out


def wait_for(pred, timeout=5.0, interval=0.02):
    """Poll pred() until it is true or timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------- syscalls

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                            ctypes.c_long]


def fallocate(fd, mode, offset, length):
    """The raw fallocate(2) call (no glibc emulation); raises OSError."""
    if _libc.fallocate(fd, mode, offset, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


# ---------------------------------------------------------------- mounts

def _unescape(field):
    """Undo the octal escapes of /proc/mounts (space, tab, newline, \\)."""
    out, i = [], 0
    while i < len(field):
        esc = field[i + 1:i + 4]
        if field[i] == "\\" and len(esc) == 3 and esc.isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts():
    """(source, mountpoint, fstype) of every mount, from /proc/mounts."""
    res = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                res.append((_unescape(parts[0]), _unescape(parts[1]),
                            parts[2]))
    return res


def is_streamfs(source, fstype):
    return fstype == "fuse.streamfs" or (
        fstype.startswith("fuse") and "streamfs" in source)


def is_mounted(path):
    """True if path is a mount point (without touching the file system,
    which may be hung)."""
    path = os.path.realpath(path)
    return any(m == path for _, m, _ in mounts())


def refused_mount(top, option):
    """Start the daemon with -o option on a fresh data folder and mount
    point below top; it must refuse to mount, mount nothing and make no
    data folder.  Its stderr."""
    data, mnt = os.path.join(top, "data"), os.path.join(top, "mnt")
    os.mkdir(mnt)
    r = subprocess.run([str(DAEMON), "-f", "-o", option, data, mnt],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stderr
    assert not is_mounted(mnt)
    assert not os.path.exists(data), "a refused mount made its data folder"
    return r.stderr


def mounts_under(top):
    """Mount points below top, deepest first, with their type."""
    top = os.path.realpath(top).rstrip("/") + "/"
    found = [(m, t, s) for s, m, t in mounts() if m.startswith(top)]
    found.sort(key=lambda x: -len(x[0]))
    return found


def force_unmount(path, fstype):
    """Detach a mount without waiting for its users (lazy)."""
    if fstype.startswith("fuse"):
        subprocess.run([FUSERMOUNT, "-u", "-z", path], capture_output=True)
    if is_mounted(path):
        subprocess.run(["umount", "-l", path], capture_output=True)
