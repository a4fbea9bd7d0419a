"""Durability policies: os, batch and always.

Two ways of looking: strace counts the daemon's fdatasync/fsync calls while
appends run (os syncs nothing, always syncs at every append, batch syncs
once for a group of appends), and the fault shim's simulated power cut
(tests/faults.py) shows what would be on disk: every file cut back to what
was synced.  A kill -9 alone proves nothing here, since the page cache
keeps everything a killed process wrote.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import faults
from util import append, getx, read, sh

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


def append_lines(path, n, prefix=b"line"):
    """n appends of one line each through one descriptor, back to back."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for i in range(1, n + 1):
            os.write(fd, b"%s%d\n" % (prefix, i))
    finally:
        os.close(fd)


def test_batch_durability_groups_syncs(mount):
    # Appends back to back take far less than the 5 ms a group gathers
    # for, so syncs must be far fewer than appends (always makes one per
    # append at least).
    t = stream(mount, "batch")
    n = syncs_during(mount, lambda: append_lines(t, 200))
    print("batch: %d sync calls for 200 appends" % n)
    assert 1 <= n <= 50
    assert read(t) == b"first\n" + b"".join(b"line%d\n" % i
                                           for i in range(1, 201))


def journaled_mount(mount_factory, tmp_path):
    data = tmp_path / "data-cut"
    env = faults.fault_env(data, None, log=tmp_path / "cut.faultlog",
                           journal=tmp_path / "cut.journal")
    m = mount_factory(data=data, env=env)
    m.expect_log(r"recover")
    return m


@pytest.mark.parametrize("durability", ["batch", "always"])
def test_acknowledged_appends_survive_a_power_cut(mount_factory, tmp_path,
                                                  durability):
    # A kill -9 keeps the page cache; the power cut keeps only what was
    # synced.  batch promises durability within a few milliseconds: give
    # it 200.  (Under durability=os the same test loses the lines.)
    m = journaled_mount(mount_factory, tmp_path)
    t = stream(m, durability)
    append_lines(t, LINES)
    if durability == "batch":
        time.sleep(0.2)
    cut = m.power_cut()
    m.start()
    assert read(t) == expected_content(), cut


def test_os_durability_loses_unsynced_appends_in_a_power_cut(mount_factory,
                                                           tmp_path):
    # The counter-check of the test above: the cut does take away what was
    # not synced, so that test could fail.
    m = journaled_mount(mount_factory, tmp_path)
    t = stream(m, "os")
    fd = os.open(t, os.O_RDONLY)
    os.fsync(fd)                # the stream, the topic and "first"
    os.close(fd)
    append_lines(t, LINES)
    time.sleep(0.2)
    m.power_cut()
    m.start()
    assert read(t) == b"first\n"


def test_fsync_on_a_topic_syncs(mount):
    t = stream(mount, "os")

    def write_and_fsync():
        fd = os.open(t, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"synced\n")
        os.fsync(fd)
        os.close(fd)
    assert syncs_during(mount, write_and_fsync) >= 1
