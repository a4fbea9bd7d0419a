"""Faults from the layer under the daemon: I/O errors, a full disk, failed
fsyncs and power cuts, injected by the fault shim (faults.py) while the
workload of verify.py runs, then checked after a clean remount (or after
a simulated power cut and a remount).

The first tests check the harness itself; the named cases (a)-(f) each
aim at one way the store must heal; the sweeps try every fault kind at
the 1st, 2nd, 4th, 8th, ... call.  STREAMFS_FAULT_SWEEP=long sweeps
further and runs a longer workload.
"""
import errno
import os
import re
import time

import pytest

import faults
import verify
from conftest import BAD_LINE
from util import PFX, append, info, read, sh

LONG = os.environ.get("STREAMFS_FAULT_SWEEP") == "long"
SWEEP_MAX_N = 1 << 12 if LONG else 32
SWEEP_ROUNDS = 30 if LONG else 10
SWEEP_SECONDS = 30.0 if LONG else 8.0
RECOVERY_LOG = r"recover"


# ---------------------------------------------------------------- helpers

def start_faulty(mount_factory, tmp_path, name, rules=None, options=(),
                 data=None, journal=False):
    """A mount whose daemon runs under the shim; .fault_log is its log.
    The daemon may log errors about the faults: they are declared."""
    log = tmp_path / (name + ".faultlog")
    jpath = tmp_path / (name + ".journal") if journal else None
    data = data or tmp_path / ("data-" + name)
    env = faults.fault_env(data, rules, log=log, journal=jpath)
    m = mount_factory(options, data=data, env=env)
    m.expect_log(".")
    m.fault_log = log
    return m


def remount_clean(mount_factory, m, options=()):
    """Unmount m (the daemon must exit 0) and mount its data folder again
    without faults."""
    rc = m.unmount()
    assert rc == 0, "faulty daemon exited with %s:\n%s" % (rc, m.log_tail())
    m2 = mount_factory(options, data=m.data)
    m2.expect_log(RECOVERY_LOG)
    return m2


def append_fd(fd, data):
    n = os.write(fd, data)
    assert n == len(data)


def errno_name(e):
    return errno.errorcode.get(e, str(e))


def assert_clean(res, ignore=()):
    bad = {k: v for k, v in verify.problems(res).items() if k not in ignore}
    assert not bad, "%s\n  %s" % (bad, "\n  ".join(res["details"][:30]))


# ---------------------------------------------------------------- the harness

def test_shim_counts_and_injects(mount_factory, tmp_path):
    m = start_faulty(mount_factory, tmp_path, "n", rules="seg_sync:1")
    os.mkdir(m.mnt + "/s")
    fd = os.open(m.mnt + "/s/t", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    append_fd(fd, b"one\n")
    with pytest.raises(OSError) as e:
        os.fsync(fd)
    assert e.value.errno == errno.EIO
    append_fd(fd, b"two\n")
    os.fsync(fd)
    os.close(fd)
    assert faults.injections(m.fault_log) == [("seg_sync", 1, "EIO")]
    assert m.unmount() == 0
    c = faults.counts(m.fault_log)
    assert c.get("seg_sync", 0) >= 2 and c.get("seg_write", 0) >= 2, c
    assert c.get("db_write", 0) >= 1 and c.get("dir_sync", 0) >= 1, c


def test_workload_without_faults_is_clean(mount_factory, tmp_path):
    m = start_faulty(mount_factory, tmp_path, "n")
    rec = verify.workload(m.mnt, rounds=12)
    s = rec.summary()
    assert not s["errors"] and s["acked"] == s["messages"] > 100, s
    assert s["durable"] > 0
    m2 = remount_clean(mount_factory, m)
    res = verify.check(m2, rec)
    assert_clean(res)
    assert res["read"] == s["acked"] + 0 and res["topics"] == 4


def test_power_cut_without_faults_keeps_durable(mount_factory, tmp_path):
    m = start_faulty(mount_factory, tmp_path, "n", journal=True)
    rec = verify.workload(m.mnt, rounds=12)
    assert not rec.errors, rec.summary()
    m.power_cut()
    m.start()
    res = verify.check(m, rec, cut=True)
    print("power cut, no fault:", {k: v for k, v in res.items()
                                   if k != "details"})
    # The blob's own case is test_fsynced_blob_survives_power_cut.
    assert_clean(res, ignore=("blobs_lost",))
    m.expect_log(RECOVERY_LOG)


def test_power_cut_under_always_loses_nothing(mount_factory, tmp_path):
    m = start_faulty(mount_factory, tmp_path, "n", journal=True)
    os.mkdir(m.mnt + "/s")
    sh("setfattr -n %sdurability -v always %s/s" % (PFX, m.mnt))
    lines = [b"line %d\n" % i for i in range(200)]
    fd = os.open(m.mnt + "/s/t", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for line in lines:
        append_fd(fd, line)
    m.power_cut()
    m.start()
    m.expect_log(RECOVERY_LOG)
    assert read(m.mnt + "/s/t") == b"".join(lines)
    assert info(m.mnt + "/s/t")["messages"] == len(lines)


def test_power_cut_under_os_loses_unsynced(mount_factory, tmp_path):
    """The harness really cuts: under durability=os appends after the last
    fsync are gone after a power cut, those before it are kept."""
    m = start_faulty(mount_factory, tmp_path, "n", journal=True)
    os.mkdir(m.mnt + "/s")
    fd = os.open(m.mnt + "/s/t", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    append_fd(fd, b"synced\n")
    os.fsync(fd)
    for i in range(50):
        append_fd(fd, b"unsynced %d\n" % i)
    cut = m.power_cut()
    assert any(c.startswith("cut segments/") for c in cut), cut
    m.start()
    m.expect_log(RECOVERY_LOG)
    assert read(m.mnt + "/s/t") == b"synced\n"


def test_power_cut_replay_rules(tmp_path):
    """The journal model on a hand-made journal."""
    d = tmp_path / "d"
    (d / "segments" / "s").mkdir(parents=True)
    (d / "blobs" / "q").mkdir(parents=True)
    for name, size in (("segments/s/a", 100), ("segments/s/b", 100),
                       ("segments/s/c", 100), ("blobs/q/x", 10),
                       ("blobs/y", 10), ("segments/s/d", 100)):
        (d / name).write_bytes(b"z" * size)
    j = tmp_path / "j"
    j.write_text("\n".join([
        "O segments/s/a 10", "S segments/s/a 40",          # a: 40
        "O segments/s/b 10", "F segments/s/b 60",          # b: 10, despite
        "W segments/s/b 10 20", "S segments/s/b 100",      # partial rewrite
        "O segments/s/c 10", "F segments/s/c 60",          # c: healed
        "W segments/s/c 10 50", "S segments/s/c 100",
        "C blobs/q/x", "S blobs/q/x 10", "D blobs",        # x: removed
        "C blobs/y", "S blobs/y 10", "D blobs",            # y: kept
        "O segments/s/d 100", "T segments/s/d 30", "K",
        "S segments/s/d 100"]) + "\n")
    faults.power_cut(j, d)
    sizes = {n: (d / n).stat().st_size for n in
             ("segments/s/a", "segments/s/b", "segments/s/c", "blobs/y",
              "segments/s/d")}
    assert sizes == {"segments/s/a": 40, "segments/s/b": 10,
                     "segments/s/c": 100, "blobs/y": 10,
                     "segments/s/d": 30}
    assert not (d / "blobs/q/x").exists()


def test_fsynced_blob_survives_power_cut(mount_factory, tmp_path):
    """A blob whose fsync returned must be there after a power cut: its
    file's name must be durable too, not only its bytes."""
    m = start_faulty(mount_factory, tmp_path, "n", journal=True)
    data = os.urandom(10000)
    fd = os.open(m.mnt + "/b", os.O_WRONLY | os.O_CREAT, 0o644)
    append_fd(fd, data)
    os.fsync(fd)
    os.close(fd)
    cut = m.power_cut()
    m.start()
    m.expect_log(RECOVERY_LOG)
    assert read(m.mnt + "/b") == data, cut
