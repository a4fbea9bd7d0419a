"""Faults from the layer under the daemon: I/O errors, a full disk, failed
fsyncs and power cuts, injected by the fault shim (faults.py) while the
workload of verify.py runs, then checked after a clean remount (or after
a simulated power cut and a remount).

The first tests check the harness itself; the named cases (a)-(f) each
aim at one way the store must heal; the sweeps try every fault kind at
each of the first calls, then the 16th, 32nd, ... until the fault no
longer fires.  STREAMFS_FAULT_SWEEP=long sweeps densely further and runs a
longer workload.  Each sweep prints one summary line (run pytest -s).
"""
import errno
import os
import re
import time

import pytest

import faults
import verify
from conftest import BAD_LINE
from util import PFX, append, errno_of, info, read, sh

LONG = os.environ.get("STREAMFS_FAULT_SWEEP") == "long"
SWEEP_MAX_N = 1 << 14 if LONG else 512
SWEEP_ROUNDS = 40 if LONG else 14
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
    m = mount_factory(options, data=data, env=env, expect=(".",))
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
    for name, size in (("segments/s/a", 100), ("segments/s/b", 10000),
                       ("segments/s/c", 10000), ("blobs/q/x", 10),
                       ("blobs/y", 10), ("segments/s/d", 100),
                       ("segments/s/e", 10000)):
        (d / name).write_bytes(b"z" * size)
    j = tmp_path / "j"
    j.write_text("\n".join([
        "O segments/s/a 10", "S segments/s/a 40",          # a: 40
        "O segments/s/b 10", "F segments/s/b 9000",        # b: 10, pages
        "W segments/s/b 8200 100", "S segments/s/b 10000",  # 0, 1 lost
        "O segments/s/c 10", "F segments/s/c 9000",        # c: healed
        "W segments/s/c 10 8990", "S segments/s/c 10000",
        "O segments/s/e 5000", "F segments/s/e 9000",      # e: page 1
        "W segments/s/e 9000 100", "S segments/s/e 10000",  # lost at 5000
        "W segments/s/e 5000 10",                          # unsynced
        "C blobs/q/x", "S blobs/q/x 10", "D blobs",        # x: removed
        "C blobs/y", "S blobs/y 10", "D blobs",            # y: kept
        "O segments/s/d 100", "T segments/s/d 30", "K",
        "S segments/s/d 100"]) + "\n")
    faults.power_cut(j, d)
    sizes = {n: (d / n).stat().st_size for n in
             ("segments/s/a", "segments/s/b", "segments/s/c", "blobs/y",
              "segments/s/d", "segments/s/e")}
    assert sizes == {"segments/s/a": 40, "segments/s/b": 10,
                     "segments/s/c": 10000, "blobs/y": 10,
                     "segments/s/d": 30, "segments/s/e": 5000}
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


# ---------------------------------------------------------------- aimed cases

def calls_after(mount_factory, tmp_path, kind, prefix, options=()):
    """Run prefix(mount) on a fresh mount under a tracing shim; the number
    of kind calls it took (from the mount on).  The daemon is
    deterministic enough that the same prefix on another fresh mount
    takes as many, so the next call is number calls_after() + 1."""
    trace = tmp_path / "calibrate.trace"
    log = tmp_path / "calibrate.faultlog"
    data = tmp_path / "data-calibrate"
    m = mount_factory(options, data=data,
                      env=faults.fault_env(data, log=log, trace=trace))
    w = prefix(m)
    n = faults.traced(trace, kind)
    if w is not None:
        w.close()
    assert m.unmount() == 0
    return n


def aimed_mount(mount_factory, tmp_path, kind, prefix, mode="once",
                err="EIO", options=(), journal=False, after=0):
    """A mount on which prefix(mount) has run, whose next kind call (or
    the after-th one past it) is made to fail; returns (mount, prefix's
    result)."""
    n = calls_after(mount_factory, tmp_path, kind, prefix, options) + 1
    m = start_faulty(mount_factory, tmp_path, "aimed",
                     rules="%s:%d:%s:%s" % (kind, n + after, mode, err),
                     options=options, journal=journal)
    return m, prefix(m)


def fired(m):
    inj = faults.injections(m.fault_log)
    assert inj, "the fault did not fire: the calibration is off"
    return inj


def writer_prefix(durability="os", lines=3):
    def prefix(m):
        w = verify.Writer(m.mnt, durability=durability)
        assert w.lines(lines) == [0] * lines
        return w
    return prefix


@pytest.mark.parametrize("trigger", ["append", "fsync"])
def test_a_db_write_eio_while_entries_wait(mount_factory, tmp_path, trigger):
    """(a) One transient EIO on the LevelDB write that takes the waiting
    index entries (made by the 257th waiting append or an fsync); after
    more appends and a clean remount nothing acknowledged is lost and the
    topic reads end to end."""
    m, w = aimed_mount(mount_factory, tmp_path, "db_write", writer_prefix())
    if trigger == "append":
        w.lines(257)            # the 257th append writes the full batch
    else:
        w.fsync()
    fired(m)
    w.lines(20)
    assert w.fsync() == 0 or True   # (c) is about later calls failing
    w.close()
    m2 = remount_clean(mount_factory, m)
    res = verify.check(m2, w.rec)
    print("(a) %s:" % trigger, w.rec.summary(), verify.problems(res))
    assert_clean(res)


def test_a_read_only_store_still_reads_waiting_entries(mount_factory,
                                                       tmp_path):
    """(a) LevelDB cannot write at all from the fsync's flush on: the store
    goes read-only, yet a read serves every acknowledged message, also
    those whose index entries never reached LevelDB; later appends are
    refused (not acknowledged and lost); a clean remount has them all."""
    m, w = aimed_mount(mount_factory, tmp_path, "db_write",
                       writer_prefix(lines=10), mode="always")
    assert w.fsync() != 0
    fired(m)
    want = b"".join(verify.message("t0", i, 40) for i in range(10))
    assert read(m.mnt + "/s/t0") == want
    assert info(m.mnt + "/s/t0")["messages"] == 10
    later = w.lines(3)
    assert all(e in (errno.EROFS, errno.EIO) for e in later), later
    assert read(m.mnt + "/s/t0") == want
    w.close()
    m2 = remount_clean(mount_factory, m)
    assert read(m2.mnt + "/s/t0") == want
    res = verify.check(m2, w.rec)
    assert_clean(res)


@pytest.mark.parametrize("mode", ["once", "always"])
@pytest.mark.parametrize("retry", [False, True])
def test_b_always_db_sync_failure_is_not_resurrected(mount_factory, tmp_path,
                                                     retry, mode):
    """(b) Under durability=always the LevelDB sync of an append fails:
    the first append to a new topic, which must make the topic durable in
    LevelDB too (a later one syncs only its segment, as recovery indexes
    a synced record again).  Once: the store heals (reopens LevelDB) and
    the append succeeds, or it gets EIO.  Always: the store cannot heal
    and the append fails.  Either way, after a remount a failed append is
    not there, a successful one is there once, and the retry of the same
    message makes no second copy."""
    m, w = aimed_mount(mount_factory, tmp_path, "db_sync",
                       writer_prefix("always", lines=0), mode=mode)
    seq = w.seq["t0"]
    if not retry:
        # One attempt only: take the message from the workload's retry.
        w.write_msgs = lambda topic, msgs, _f=w.write_msgs: _single(
            w, topic, msgs)
    w.line()
    fired(m)
    first = w.rec.msgs[("t0", seq)].attempts
    w.close()
    if mode == "always":
        assert first[0] in (errno.EIO, errno.EROFS), \
            "the append did not fail: %s" % first
    else:
        assert first[0] in (0, errno.EIO), first
    m2 = remount_clean(mount_factory, m)
    res = verify.check(m2, w.rec)
    print("(b) %s attempts %s:" % (mode, first), verify.problems(res))
    assert_clean(res)


def _single(w, topic, msgs):
    """write_msgs without the retry."""
    fd = w.fds[topic]
    data = b"".join(b for _, b in msgs)
    for seq, _ in msgs:
        msg = verify.Msg(topic, seq)
        w.rec.msgs[(topic, seq)] = msg
        try:
            os.write(fd, data)
            msg.attempts.append(0)
            msg.durable = True
        except OSError as e:
            msg.attempts.append(e.errno)


def test_g_a_quota_error_reaches_the_writer_as_edquot(mount_factory,
                                                     tmp_path):
    """Errors are what happened underneath, not all EIO."""
    m, w = aimed_mount(mount_factory, tmp_path, "seg_write", writer_prefix(),
                       err="EDQUOT")
    seq = w.seq["t0"]
    w.line()                        # fails, and its retry goes through
    w.close()
    assert w.rec.msgs[("t0", seq)].attempts == [errno.EDQUOT, 0]


def _nothing(m):
    return None


def test_g_leveldb_on_a_full_disk_says_enospc(mount_factory, tmp_path):
    """LevelDB refusing for want of space reaches a mkdir as ENOSPC, and
    the store stays readable."""
    m, _ = aimed_mount(mount_factory, tmp_path, "db_write", _nothing,
                       mode="always", err="ENOSPC")
    e = errno_of(os.mkdir, m.mnt + "/d")
    assert e == errno.ENOSPC, errno_name(e)
    assert os.listdir(m.mnt) == []


def test_g_a_store_that_cannot_write_says_erofs(mount_factory, tmp_path):
    """The call that meets the fault gets EIO; while LevelDB still cannot
    write, the store is read-only and later calls get EROFS."""
    m, _ = aimed_mount(mount_factory, tmp_path, "db_write", _nothing,
                       mode="always")
    first = errno_of(os.mkdir, m.mnt + "/d")
    time.sleep(0.1)                 # past the pause between heal attempts
    later = errno_of(os.mkdir, m.mnt + "/e")
    assert (first, later) == (errno.EIO, errno.EROFS), (
        errno_name(first), errno_name(later))
    assert os.listdir(m.mnt) == []


@pytest.mark.parametrize("kind", ["db_write", "db_sync"])
def test_c_transient_db_fault_does_not_stick(mount_factory, tmp_path, kind):
    """(c) After one failed LevelDB write or sync (the fsync that met it
    may fail), later appends and fsyncs work again, without a remount."""
    m, w = aimed_mount(mount_factory, tmp_path, kind, writer_prefix())
    w.fsync()
    fired(m)
    later = w.lines(10)
    sync = w.fsync()
    w.close()
    assert later == [0] * 10 and sync == 0, \
        "after one %s fault: appends %s, fsync %s" % (
            kind, [errno_name(e) for e in later], errno_name(sync))


def test_d_fsync_after_failed_segment_sync_is_not_trusted(mount_factory,
                                                          tmp_path):
    """(d) An fsync whose segment sync failed dropped the dirty pages
    (Linux marks them clean after a failed write-back); a later fsync that
    succeeds must not count them as durable.  After a power cut every
    message acknowledged before a successful fsync must be there."""
    def prefix(m):
        w = writer_prefix()(m)
        assert w.fsync() == 0
        return w
    m, w = aimed_mount(mount_factory, tmp_path, "seg_sync", prefix,
                       journal=True)
    w.lines(6, size=2000)       # three pages the failed sync drops
    assert w.fsync() == errno.EIO
    fired(m)
    w.lines(5)                  # these dirty the last page only
    synced = w.fsync()
    w.close()
    cut = m.power_cut()
    m.start()
    m.expect_log(RECOVERY_LOG)
    res = verify.check(m, w.rec, cut=True)
    print("(d) second fsync %s; power cut: %s; %s" % (
        errno_name(synced), cut, verify.problems(res)))
    if synced != 0:
        return      # the daemon refused to claim durability: correct
    assert_clean(res)


# ---------------------------------------------------------------- full disk

def fill(path, chunk=65536):
    """Append 64 KiB writes of lines until one fails; returns (bytes
    acknowledged, errno)."""
    done = bytearray()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        i = 0
        while len(done) < (256 << 20):
            data = b"".join(b"fill %08d %s\n" % (i + j, b"f" * 100)
                            for j in range(chunk // 115))
            try:
                n = os.write(fd, data)
            except OSError as e:
                return bytes(done), e.errno
            done += data[:n]
            i += chunk // 115
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    return bytes(done), 0


@pytest.mark.disk_size("48m")
def test_e_full_disk(small_disk, mount_factory):
    """(e) With no reserve the data folder fills up: appends fail with
    ENOSPC (not EIO); unlink, rmdir, rename and reads still work; the
    daemon mounts again on the full disk; appends resume once a blob is
    removed."""
    m = mount_factory(["reserve=0"], data=small_disk / "data")
    m.expect_log(r"space|ENOSPC|full|reserve|leveldb")
    s = m.mnt + "/s"
    os.mkdir(s)
    with open(s + "/filler", "wb") as f:
        f.write(os.urandom(8 << 20))
    append(s + "/old", b"to be renamed\n")
    append(s + "/gone", b"to be removed\n")
    os.mkdir(s + "/empty")
    written, err = fill(s + "/t")
    small_err = 0
    for i in range(100000):     # then single lines until they fail too
        try:
            append(s + "/t", b"small %d\n" % i)
            written += b"small %d\n" % i
        except OSError as e:
            small_err = e.errno
            break
    problems = []
    if err != errno.ENOSPC or small_err != errno.ENOSPC:
        problems.append("appends on a full disk: %s, then %s" % (
            errno_name(err), errno_name(small_err)))

    def attempt(what, fn, *args):
        try:
            fn(*args)
        except OSError as e:
            problems.append("%s on a full disk: %s" % (what,
                                                        errno_name(e.errno)))
    attempt("rename", os.rename, s + "/old", s + "/new")
    attempt("unlink", os.unlink, s + "/gone")
    attempt("rmdir", os.rmdir, s + "/empty")
    r = sh("cat %s/t" % s, check=False, binary=True)
    if r.returncode != 0 or r.stdout != written:
        problems.append("read on a full disk: exit %d, %d of %d bytes" % (
            r.returncode, len(r.stdout), len(written)))
    rc = m.unmount()
    if rc != 0:
        problems.append("daemon exited %s at unmount on a full disk" % rc)
    try:
        m2 = mount_factory(["reserve=0"], data=m.data, expect=(
            r"space|ENOSPC|full|reserve|leveldb|" + RECOVERY_LOG,))
    except pytest.fail.Exception as e:
        problems.append("no mount on a full disk: %s" % str(e)[:300])
        m2 = None
    if m2:
        r = sh("cat %s/s/t" % m2.mnt, check=False, binary=True)
        if r.returncode != 0 or r.stdout != written:
            problems.append("read after remount: exit %d, %d of %d bytes"
                            % (r.returncode, len(r.stdout), len(written)))
        os.unlink(m2.mnt + "/s/filler")
        ok = [False]

        def resumed():
            try:
                append(m2.mnt + "/s/t", b"after\n")
                ok[0] = True
            except OSError:
                pass
            return ok[0]
        from util import wait_for
        if not wait_for(resumed, timeout=3):
            problems.append("appends did not resume after the blob was "
                            "removed")
    assert not problems, "\n".join(problems)


@pytest.mark.disk_size("48m")
def test_f_enospc_does_not_linger(small_disk, mount_factory):
    """(f) Once space is freed the very next append succeeds: the free
    space figure of the full disk must not be reused."""
    m = mount_factory(data=small_disk / "data")
    m.expect_log(r"space|ENOSPC|full|reserve")
    s = m.mnt + "/s"
    os.mkdir(s)
    with open(s + "/filler", "wb") as f:
        f.write(os.urandom(8 << 20))
    written, err = fill(s + "/t")
    assert err == errno.ENOSPC, errno_name(err)
    for i in range(100000):     # single lines take what is left
        try:
            append(s + "/t", b"small %d\n" % i)
        except OSError as e:
            assert e.errno == errno.ENOSPC, errno_name(e.errno)
            break
    os.unlink(s + "/filler")
    try:
        append(s + "/t", b"right after\n")
    except OSError as e:
        pytest.fail("the append right after freeing 8 MiB: %s"
                    % errno_name(e.errno))


# ---------------------------------------------------------------- sweeps

SWEEP_KINDS = ("seg_write", "seg_sync", "db_write", "db_sync", "blob_write",
               "dir_sync")
CUT_KINDS = ("seg_sync", "db_sync", "db_write", "seg_write")
COLUMNS = ("points", "acked", "durable", "lost", "unreadable", "resurrected",
           "duplicates", "torn", "info_mismatch", "blobs_lost",
           "remount_failed", "bad_exit", "hung", "refused")


SWEEP_DENSE = 256 if LONG else 12


def sweep_points():
    """Every N up to SWEEP_DENSE, then doubling: the workload makes few
    calls of some kinds (a few dozen syncs), so every early call counts."""
    n = 1
    while n <= SWEEP_MAX_N:
        yield n
        n = n + 1 if n < SWEEP_DENSE else n * 2


def run_workload(m):
    """The workload on m, with a watchdog: a daemon that hangs is killed
    (the workload then sees ENOTCONN) and reported."""
    import signal
    import threading
    hung = []

    def kill():
        hung.append(True)
        m.proc.send_signal(signal.SIGKILL)
    t = threading.Timer(SWEEP_SECONDS + 60, kill)
    t.start()
    try:
        rec = verify.workload(m.mnt, rounds=SWEEP_ROUNDS,
                              seconds=SWEEP_SECONDS)
    finally:
        t.cancel()
    return rec, bool(hung)


def log_errors(m):
    return [l for l in m.log_text().splitlines()
            if BAD_LINE.search(l) and not l.startswith("###")
            and not re.search(RECOVERY_LOG, l, re.I)]


def add_check(stats, res, notes, label):
    for k in verify.PROBLEMS:
        stats[k] += res[k]
    if verify.problems(res):
        notes.append("%s: %s %s" % (label, verify.problems(res),
                                    res["details"][:3]))


def summary(title, stats, notes):
    print("%s: %s" % (title, ", ".join("%s %d" % (k, stats[k])
                                       for k in COLUMNS)))
    for n in notes[:40]:
        print("  " + n)


@pytest.mark.parametrize("mode", ["once", "always"])
@pytest.mark.parametrize("kind", SWEEP_KINDS)
def test_sweep(mount_factory, tmp_path, kind, mode):
    """A fault of one kind at the N-th call (N = 1, 2, 4, ...) during the
    workload; the daemon exits 0 at unmount, and a clean remount finds
    every acknowledged message once, nothing torn, nothing failed."""
    stats = dict.fromkeys(COLUMNS, 0)
    notes = []
    for n in sweep_points():
        label = "%s:%d:%s" % (kind, n, mode)
        try:
            m = start_faulty(mount_factory, tmp_path, "%s-%d" % (kind, n),
                             rules=label)
        except pytest.fail.Exception:
            # The fault hit the store's opening: the daemon refused to
            # mount, which is fine if the data folder is still sound.
            stats["refused"] += 1
            m, rec = None, verify.Record()
            data = tmp_path / ("data-%s-%d" % (kind, n))
            log = tmp_path / ("%s-%d.faultlog" % (kind, n))
        else:
            rec, hung = run_workload(m)
            data, log = m.data, m.fault_log
            stats["hung"] += hung
            rc = m.unmount()
            if rc != 0:
                stats["bad_exit"] += 1
                notes.append("%s: daemon exited %s: %s" % (
                    label, rc, log_errors(m)[-2:]))
        if not faults.injections(log):
            break
        stats["points"] += 1
        stats["acked"] += rec.summary()["acked"]
        stats["durable"] += rec.summary()["durable"]
        try:
            m2 = mount_factory(data=data, expect=(".",))
        except pytest.fail.Exception as e:
            stats["remount_failed"] += 1
            notes.append("%s: no clean remount: %s" % (
                label, str(e).splitlines()[-1][:200]))
            continue
        res = verify.check(m2, rec)
        add_check(stats, res, notes, label)
        m2.unmount()
    summary("sweep %s %s" % (kind, mode), stats, notes)
    bad = {k: stats[k] for k in COLUMNS[3:] if k != "refused" and stats[k]}
    assert stats["points"] > 0, "the fault never fired"
    assert not bad, "%s\n%s" % (bad, "\n".join(notes[:20]))


@pytest.mark.parametrize("kind", CUT_KINDS)
def test_power_cut_sweep(mount_factory, tmp_path, kind):
    """A power cut at the N-th call of a kind (N = 1, 2, 4, ...); after a
    remount every message acknowledged as durable is there once, nothing
    torn, and the topics read end to end.  (The blobs' own case is
    test_fsynced_blob_survives_power_cut: not counted here.)"""
    stats = dict.fromkeys(COLUMNS, 0)
    notes = []
    for n in sweep_points():
        label = "%s:%d:cut" % (kind, n)
        try:
            m = start_faulty(mount_factory, tmp_path, "%s-%d" % (kind, n),
                             rules=label, journal=True)
        except pytest.fail.Exception:
            stats["refused"] += 1       # cut while mounting
            m = None
        if m is not None:
            rec, hung = run_workload(m)
            stats["hung"] += hung
            if not faults.injections(m.fault_log):
                m.unmount()
                break
            cut = m.power_cut()
        else:
            # The cut came before the mount: replay it all the same.
            data = tmp_path / ("data-%s-%d" % (kind, n))
            faults.power_cut(tmp_path / ("%s-%d.journal" % (kind, n)), data)
            rec = verify.Record()
            m = mount_factory(data=data, expect=(".",))
            m.unmount()         # a Mount to start again below
            cut = []
        stats["points"] += 1
        stats["acked"] += rec.summary()["acked"]
        stats["durable"] += rec.summary()["durable"]
        m.env = {}
        try:
            m.start()
        except pytest.fail.Exception as e:
            stats["remount_failed"] += 1
            notes.append("%s: no remount after the cut (%s): %s" % (
                label, "; ".join(cut), str(e).splitlines()[-1][:200]))
            continue
        res = verify.check(m, rec, cut=True)
        res["blobs_lost"] = 0
        add_check(stats, res, notes, label)
        m.unmount()
    summary("power-cut sweep %s" % kind, stats, notes)
    bad = {k: stats[k] for k in COLUMNS[3:] if k != "refused" and stats[k]}
    assert stats["points"] > 0, "the cut never happened"
    assert not bad, "%s\n%s" % (bad, "\n".join(notes[:20]))
