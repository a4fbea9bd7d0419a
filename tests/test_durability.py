"""Durability policies (SPEC §4): os, batch and always.

Whether bytes reached the disk cannot be seen from inside one machine
without pulling the power, so these tests watch what the daemon asks of
the kernel instead: strace counts its fdatasync/fsync calls while a shell
appends lines.  os syncs nothing, always syncs at every append, batch syncs
once for a group of appends.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from util import append, getx, read, sh, wait_for

LINES = 20

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="strace is not installed")


def syncs_during(mount, action):
    """Run action() while strace watches the daemon; return the number of
    fdatasync/fsync calls it made meanwhile."""
    out = os.path.join(mount.data, "..", "strace.out")
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=fdatasync,fsync", "-o", out,
         "-p", str(mount.proc.pid)], stderr=subprocess.DEVNULL)
    try:
        # strace prints nothing until the first call; give it time to attach.
        time.sleep(0.5)
        action()
        time.sleep(0.3)         # a batch commit is due within a few ms
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
    with open(out) as f:
        return len([l for l in f if re.search(r"\b(fdatasync|fsync)\(", l)])


def count_syncs(mount, path, lines):
    """Append `lines` lines, one `echo >>` each; the daemon's sync calls."""
    return syncs_during(mount, lambda: sh(
        "for i in $(seq %d); do echo line$i >> %s; done" % (lines, path)))


def stream(mount, durability):
    s = mount.mnt + "/" + durability
    os.mkdir(s)
    sh("setfattr -n user.streamfs.durability -v %s %s" % (durability, s))
    assert getx(s, "durability") == durability
    append(s + "/t", b"first\n")    # the segment exists before tracing
    return s + "/t"


def expected_content():
    return b"first\n" + b"".join(b"line%d\n" % i for i in range(1, LINES + 1))


def test_os_durability_syncs_nothing(mount):
    t = stream(mount, "os")
    assert count_syncs(mount, t, LINES) == 0
    assert read(t) == expected_content()


def test_always_durability_syncs_every_append(mount):
    t = stream(mount, "always")
    assert count_syncs(mount, t, LINES) >= LINES
    assert read(t) == expected_content()


def test_batch_durability_groups_syncs(mount):
    t = stream(mount, "batch")
    n = count_syncs(mount, t, LINES)
    print("batch: %d sync calls for %d appends" % (n, LINES))
    assert n >= 1
    assert read(t) == expected_content()


def test_batch_and_always_survive_kill9(mount):
    mount.expect_log(r"recover")
    paths = [stream(mount, d) for d in ("batch", "always")]
    for p in paths:
        sh("for i in $(seq %d); do echo line$i >> %s; done" % (LINES, p))
    mount.kill9()
    mount.start()
    for p in paths:
        assert read(p) == expected_content()


def test_fsync_on_a_topic_syncs(mount):
    t = stream(mount, "os")

    def write_and_fsync():
        fd = os.open(t, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"synced\n")
        os.fsync(fd)
        os.close(fd)
    assert syncs_during(mount, write_and_fsync) >= 1
