"""pytest harness for streamfs.

Every test that asks for the `mount` fixture gets a fresh streamfs: a new
data folder (outside the mount, so the daemon never touches its own mount
point) and a new mount point, served by `streamfs -f` started from
$STREAMFS_BUILD (default <repo>/build).  $STREAMFS_PREFIX runs the daemon
under another program, e.g. STREAMFS_PREFIX="valgrind -q --error-exitcode=99".

At teardown the mount is unmounted with fusermount3, the daemon must exit
with status 0, and its log must hold no error or warning line (or other
line mentioning an error or a warning) that the test did not declare with
mount.expect_log(REGEX).

Extra environment for the daemon (the fault shim, tests/faults.py) is
given as mount_factory(env={...}) or set as Mount.env before start();
Mount.power_cut() kills such a daemon and makes its data folder look as
a power cut would have left it.

Mount options come from a marker:  @pytest.mark.mount_options("allow_other")
or from indirect parametrisation: parametrize("mount", [["threads"]], ...).
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from pathlib import Path

import pytest

from util import (DAEMON, FUSERMOUNT, OTHER_GID, OTHER_UID, PYTHON,
                  force_unmount, is_mounted, mounts, mounts_under)

PREFIX = shlex.split(os.environ.get("STREAMFS_PREFIX", ""))
# valgrind and sanitizer builds are slow to start.
MOUNT_TIMEOUT = 60 if PREFIX else 20
BASE_PREFIX = "streamfs-tests-"
# A log line is a problem if its level is error or warning; a line without
# a time and level (another program's, such as a sanitizer's) if it says
# error or warning; and a valgrind report (==PID== ...).  An info line is
# never one, whatever the names in it (a path may hold "error").
BAD_LINE = re.compile(r"^(?!\d{4}-\d\d-\d\dT[\d:.]+Z info: ).*(error|warning)"
                      r"|^==\d+==", re.IGNORECASE)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mount_options(*opts): -o options for the mount fixture")
    config.addinivalue_line(
        "markers", "disk_size(size): tmpfs size for small_disk (32m)")


# ---------------------------------------------------------------- stale mounts

def _stale_mounts():
    """Mounts left by an aborted run: everything below a session directory
    (BASE_PREFIX + pid) of the temporary directory whose pytest process is
    gone.  Mounts of a test session still running beside us are left alone,
    and so is anything outside those directories."""
    tmp = os.path.realpath(tempfile.gettempdir()).rstrip("/") + "/"
    owner = re.compile(re.escape(tmp + BASE_PREFIX) + r"(\d+)-[^/]+/")
    found = []
    for source, mnt, fstype in mounts():
        mt = owner.match(mnt)
        if not mt or os.path.exists("/proc/" + mt.group(1)):
            continue
        if fstype.startswith("fuse") or fstype == "tmpfs":
            found.append((mnt, fstype))
    found.sort(key=lambda x: -len(x[0]))
    return found


def pytest_sessionstart(session):
    for mnt, fstype in _stale_mounts():
        print("streamfs tests: unmounting stale %s mount %s" % (fstype, mnt))
        force_unmount(mnt, fstype)


_base = None


def base_dir():
    """A world-searchable directory for this session's mount points, so that
    a second user can reach them (pytest's own tmp_path is mode 0700)."""
    global _base
    if _base is None:
        _base = tempfile.mkdtemp(prefix="%s%d-" % (BASE_PREFIX, os.getpid()))
        os.chmod(_base, 0o755)
    return _base


def pytest_sessionfinish(session, exitstatus):
    if _base is None:
        return
    for mnt, fstype in mounts_under(_base):
        force_unmount(mnt, fstype)
    if not mounts_under(_base):
        shutil.rmtree(_base, ignore_errors=True)


# ---------------------------------------------------------------- the mount

class Mount:
    """One streamfs daemon serving `data` at `mnt`."""

    def __init__(self, data, mnt, options=(), log_path=None, env=None):
        self.data = str(data)
        self.env = dict(env or {})    # extra environment for the daemon
        self.mnt = str(mnt)
        self.options = list(options)
        self.log_path = str(log_path or os.path.join(
            os.path.dirname(self.data), "streamfs.log"))
        self.expected = []
        self.proc = None
        self.problems = []        # things teardown must report
        self.log_from = 0         # log offset where the current daemon began

    # -- life cycle

    def argv(self):
        opts = []
        for o in self.options:
            opts += ["-o", o]
        return PREFIX + [str(DAEMON), "-f"] + opts + [self.data, self.mnt]

    def start(self, stale=False):
        """Start the daemon; with stale, on a dead mount it must clear."""
        if not os.access(str(DAEMON), os.X_OK):
            pytest.fail("no daemon at %s (build first, or set STREAMFS_BUILD)"
                        % DAEMON)
        os.makedirs(self.data, exist_ok=True)
        if not stale:
            os.makedirs(self.mnt, exist_ok=True)
        assert stale or not is_mounted(self.mnt), \
            "%s is already a mount" % self.mnt
        with open(self.log_path, "ab") as log:
            self.log_from = log.tell()
            log.write(("### %s\n" % " ".join(self.argv())).encode())
            log.flush()
            env = dict(os.environ, **self.env) if self.env else None
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env)
        self._wait_mounted(stale)

    def _answers(self):
        try:
            os.statvfs(self.mnt)
        except OSError:
            return False
        return True

    def _wait_mounted(self, stale=False):
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not is_mounted(self.mnt) or (stale and not self._answers()):
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None
                pytest.fail("streamfs exited with %d before mounting:\n%s"
                            % (rc, self.log_tail()))
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                force_unmount(self.mnt, "fuse")
                pytest.fail("streamfs did not mount %s within %d s:\n%s"
                            % (self.mnt, MOUNT_TIMEOUT, self.log_tail()))
            time.sleep(0.02)
        # The daemon may die right after the mount appears: look again, and
        # make sure the file system answers.
        time.sleep(0.1)
        if self.proc.poll() is not None:
            rc, self.proc = self.proc.returncode, None
            force_unmount(self.mnt, "fuse")
            pytest.fail("streamfs exited with %d just after mounting:\n%s"
                        % (rc, self.log_tail()))
        os.stat(self.mnt)
        assert os.path.ismount(self.mnt)

    def unmount(self):
        """Unmount cleanly and return the daemon's exit status.  A mount that
        stays busy is detached lazily and reported as a problem."""
        for _ in range(50):
            r = subprocess.run([FUSERMOUNT, "-u", self.mnt],
                               capture_output=True, text=True)
            if r.returncode == 0 or not is_mounted(self.mnt):
                break
            time.sleep(0.1)
        else:
            self.problems.append("mount stayed busy: %s" % r.stderr.strip())
            subprocess.run([FUSERMOUNT, "-u", "-z", self.mnt],
                           capture_output=True)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.problems.append("daemon did not exit within 60 s of unmount")
            rc = None
        self.proc = None
        return rc

    def restart(self):
        """Unmount cleanly (the daemon must exit 0) and mount the same data
        folder again."""
        rc = self.unmount()
        assert rc == 0, "streamfs exited with %s at unmount:\n%s" % (
            rc, self.log_tail())
        self.start()

    def kill9(self, detach=True):
        """Kill the daemon with SIGKILL and detach the dead mount; the data
        folder stays as the crash left it.  Call start() to recover.  With
        detach=False the dead mount stays (every access to it fails with
        ENOTCONN) and the caller must clear it (finish() does)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        if not detach:
            return
        subprocess.run([FUSERMOUNT, "-u", "-z", self.mnt], capture_output=True)
        for _ in range(100):
            if not is_mounted(self.mnt):
                break
            time.sleep(0.05)
        assert not is_mounted(self.mnt)

    def power_cut(self):
        """Kill the daemon (it may have killed itself already, a shim cut)
        and detach the mount like kill9(); if it ran with a fault journal,
        cut the data folder back to what would have been on disk.  Returns
        the list of what was cut.  Call start() to recover."""
        import faults
        self.kill9()
        journal = self.env.get("STREAMFS_FAULT_JOURNAL")
        if not journal:
            return []
        return faults.power_cut(journal, self.data)

    def finish(self):
        """Teardown: unmount, then check exit status and log."""
        if self.proc is not None:
            rc = self.unmount()
            if rc != 0:
                self.problems.append("streamfs exited with status %s" % rc)
        if is_mounted(self.mnt):
            force_unmount(self.mnt, "fuse")
            self.problems.append("mount point still mounted after unmount")
        bad = self.unexpected_log_lines()
        if bad:
            self.problems.append("unexpected daemon log lines:\n  "
                                 + "\n  ".join(bad))
        if self.problems:
            pytest.fail("\n".join(self.problems) + "\n--- daemon log:\n"
                        + self.log_tail(), pytrace=False)

    # -- the daemon's log

    def expect_log(self, *patterns):
        """Declare log lines (regular expressions, searched) that may mention
        an error or warning without failing the test."""
        self.expected += [re.compile(p, re.IGNORECASE) for p in patterns]

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def unexpected_log_lines(self):
        bad = []
        for line in self.log_text().splitlines():
            if line.startswith("### "):
                continue
            if BAD_LINE.search(line) and not any(
                    p.search(line) for p in self.expected):
                bad.append(line)
        return bad


def _sanitize(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


@pytest.fixture
def scratch(request):
    """A fresh world-searchable directory below this session's directory,
    for mount points and other mounts (so an aborted run's leftovers can be
    found and cleaned by the next one)."""
    d = tempfile.mkdtemp(prefix=_sanitize(request.node.name) + "-",
                         dir=base_dir())
    os.chmod(d, 0o755)
    return d


@pytest.fixture
def small_disk(request, scratch):
    """A small tmpfs (32 MiB, or @pytest.mark.disk_size("48m")) for a data
    folder.  Ask for it before mount_factory, so that it is unmounted after
    the daemon."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    marker = request.node.get_closest_marker("disk_size")
    size = marker.args[0] if marker else "32m"
    d = Path(scratch) / "small"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs",
                        str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)
        if os.path.ismount(str(d)):
            subprocess.run(["umount", "-l", str(d)], check=False)


@pytest.fixture
def mount_factory(request, tmp_path):
    """make(options=(), data=None, env=None, expect=()) -> a started Mount;
    all are torn down and checked at the end of the test.  data overrides
    the data folder, env adds variables to the daemon's environment, and
    expect declares log lines before the daemon starts (for a daemon that
    may refuse to mount)."""
    made = []
    counter = [0]

    def make(options=(), data=None, env=None, expect=()):
        counter[0] += 1
        top = tempfile.mkdtemp(prefix=_sanitize(request.node.name) + "-",
                               dir=base_dir())
        os.chmod(top, 0o755)
        mnt = os.path.join(top, "mnt")
        os.mkdir(mnt)
        if data is None:
            data = tmp_path / ("data%d" % counter[0])
        m = Mount(data, mnt, options,
                  log_path=tmp_path / ("streamfs%d.log" % counter[0]),
                  env=env)
        m.expect_log(*expect)
        made.append(m)
        m.start()
        return m

    yield make
    failures = []
    for m in made:
        try:
            m.finish()
        except BaseException as e:   # report every mount, not only the first
            failures.append(str(e))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def mount(request, mount_factory):
    """A fresh streamfs mount: .mnt, .data, .proc, .restart(), .kill9(),
    .expect_log(regex)."""
    options = []
    marker = request.node.get_closest_marker("mount_options")
    if marker:
        options += list(marker.args)
    if hasattr(request, "param"):
        options += list(request.param)
    return mount_factory(options)


# ---------------------------------------------------------------- other user

class OtherUser:
    """Runs commands as uid/gid 65534 with no supplementary groups."""

    uid = OTHER_UID
    gid = OTHER_GID

    def argv(self, argv):
        return ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid),
                "--clear-groups"] + [str(a) for a in argv]

    def run(self, argv, check=False, timeout=60):
        return subprocess.run(self.argv(argv), capture_output=True, text=True,
                              timeout=timeout)

    def sh(self, cmd, timeout=60):
        return self.run(["sh", "-c", cmd], timeout=timeout)

    def call(self, code):
        """Run Python statements as the other user; returns "OK" or the
        errno name of the OSError they raised."""
        prog = ("import errno, os, sys\n"
                "try:\n" + "".join("    %s\n" % l for l in code.splitlines())
                + "except OSError as e:\n"
                "    print(errno.errorcode.get(e.errno, e.errno)); sys.exit()\n"
                "print('OK')\n")
        r = self.run([PYTHON, "-c", prog])
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


@pytest.fixture
def other_user():
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return OtherUser()
