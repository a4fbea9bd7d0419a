"""Issue 2, point 1: the README's two commands and CI agree.

Running the commands themselves is what CI does (.ci/run); here we check that
the pieces fit: the README opens with the two commands, .ci/run runs exactly
the second one, and the scripts are valid bash.
"""
import errno
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from util import (BUILD, DAEMON, FUSERMOUNT, REPO, force_unmount, is_mounted,
                  mounts, mounts_under, run, wait_for)


def readme_commands():
    text = (REPO / "README.md").read_text()
    block = re.search(r"```\n(.*?)```", text, re.S)
    assert block, "README.md has no command block"
    assert text.index("```") < text.index("## "), \
        "the commands must come before the first section"
    cmds = [l.split("#")[0].strip() for l in block.group(1).splitlines()]
    return [c for c in cmds if c]


def test_readme_opens_with_mount_and_test_commands():
    assert readme_commands() == ["tools/setup.sh mount",
                                 "tools/setup.sh test"]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    steps = [l.strip() for l in ci.splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    steps = [s for s in steps if not s.startswith("cd ")]
    assert steps == ["exec " + readme_commands()[1]], steps


def test_scripts_are_valid_bash():
    for script in ("tools/setup.sh", ".ci/run"):
        path = REPO / script
        assert path.stat().st_mode & 0o111, "%s is not executable" % script
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr


def test_setup_rejects_unknown_command():
    r = subprocess.run([str(REPO / "tools" / "setup.sh"), "frobnicate"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "usage" in r.stderr


# ---------------------------------------------------------------- issue 7.8

SETUP = REPO / "tools" / "setup.sh"


def setup_packages():
    text = SETUP.read_text()
    body = re.search(r"PACKAGES=\((.*?)\)", text, re.S).group(1)
    return body.split()


def missing_packages():
    missing = []
    for p in setup_packages():
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                           capture_output=True, text=True)
        if r.stdout != "install ok installed":
            missing.append(p)
    return missing


def run_setup_mount(*args, env=None):
    e = dict(os.environ, STREAMFS_BUILD=str(BUILD), **(env or {}))
    return subprocess.run([str(SETUP), "mount"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=300,
                          env=e, cwd=str(REPO))


@pytest.fixture
def setup_mount(scratch):
    """Runs `tools/setup.sh mount ...`; every mount below scratch is taken
    down at the end, and the daemons serving them must be gone."""
    if missing_packages():
        pytest.skip("setup.sh would install %s" % " ".join(missing_packages()))
    if not os.access(str(DAEMON), os.X_OK):
        pytest.fail("no daemon at %s" % DAEMON)
    yield run_setup_mount
    for mnt, fstype, _ in mounts_under(scratch):
        subprocess.run([FUSERMOUNT, "-u", mnt], capture_output=True)
        if is_mounted(mnt):
            force_unmount(mnt, fstype)
    assert not mounts_under(scratch)
    assert wait_for(lambda: not serving(scratch), 20), \
        "a daemon outlived its mount"


def statvfs_errno(path):
    try:
        os.statvfs(str(path))
        return 0
    except OSError as e:
        return e.errno


def serving(top):
    """pids of streamfs daemons whose command line names a path below top."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"streamfs") and any(
                a.startswith(str(top).encode() + b"/") for a in args):
            found.append(int(pid))
    return found


def entry(mnt):
    found = [m for m in mounts() if m[1] == str(mnt)]
    assert len(found) == 1, found
    return found[0]


def test_setup_mount_with_options_data_folder_and_mount_point(
        setup_mount, scratch, other_user):
    data, mnt = Path(scratch) / "data", Path(scratch) / "mnt"
    r = setup_mount("-o", "allow_other", data, mnt)
    assert r.returncode == 0, r.stderr
    assert "streamfs is mounted at %s" % mnt in r.stdout
    assert "created the data folder %s" % data in r.stderr
    source, _, fstype = entry(mnt)
    assert fstype == "fuse.streamfs" and source == str(data)
    with open("/proc/mounts") as f:
        line = [l for l in f if l.split()[1] == str(mnt)][0]
    assert "allow_other" in line.split()[3]
    run(["sh", "-c", "echo hello >> %s/t" % mnt])
    os.chmod(str(mnt / "t"), 0o644)
    r = other_user.run(["cat", mnt / "t"])
    assert r.returncode == 0 and r.stdout == "hello\n", r.stderr
    # Again with the same folder: already mounted, nothing changes.
    r = setup_mount("-o", "allow_other", data, mnt)
    assert r.returncode == 0 and "already mounted" in r.stderr, r.stderr
    # With another folder: refused, in one line.
    r = setup_mount(Path(scratch) / "other", mnt)
    assert r.returncode != 0
    assert "already a streamfs mount" in r.stderr.strip().splitlines()[-1]
    assert entry(mnt)[0] == str(data)


def test_setup_mount_one_argument_form(setup_mount, scratch):
    data, mnt = Path(scratch) / "envdata", Path(scratch) / "m1"
    r = setup_mount(mnt, env={"STREAMFS_DATA": str(data)})
    assert r.returncode == 0, r.stderr
    assert entry(mnt)[0] == str(data)
    run(["sh", "-c", "echo one >> %s/t && cat %s/t" % (mnt, mnt)])


def test_setup_mount_clears_a_killed_daemons_mount(setup_mount, scratch):
    data, mnt = Path(scratch) / "data", Path(scratch) / "mnt"
    r = setup_mount(data, mnt)
    assert r.returncode == 0, r.stderr
    run(["sh", "-c", "echo kept >> %s/t" % mnt])
    for pid in serving(scratch):
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not serving(scratch), 10)
    # A request in flight while the daemon dies gets ECONNABORTED (the
    # daemon's threads take a moment to exit); after it, ENOTCONN.
    assert wait_for(lambda: statvfs_errno(mnt) != errno.ECONNABORTED, 5)
    assert statvfs_errno(mnt) == errno.ENOTCONN
    r = setup_mount(data, mnt)
    assert r.returncode == 0, r.stderr
    assert "died" in r.stderr
    assert (mnt / "t").read_bytes() == b"kept\n"


def test_setup_mount_rejects_bad_arguments(setup_mount, scratch):
    # Paths below scratch, so that a script that took them anyway would
    # mount only where the fixture cleans up.
    s = Path(scratch)
    for args in (["-x", s / "m"], [s / "a", s / "b", s / "c"], ["-o"]):
        r = setup_mount(*args, env={"STREAMFS_DATA": str(s / "d")})
        assert r.returncode == 2 and "usage" in r.stderr, (args, r.stderr)
