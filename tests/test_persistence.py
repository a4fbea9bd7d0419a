"""Issue 2, point 8: everything survives unmount/remount and kill -9."""
import errno
import os
import re
import signal
import stat
import subprocess
import time

import pytest

from util import PYTHON, append, getx, info, kind, read, sh, wait_for

# The next mount after a crash may say what it recovered.
RECOVERY_LOG = r"recover|torn|trunc|partial|incomplete|discard|checksum|crc|unclean|replay"


def snapshot(top):
    """Everything a user can see below top: names, types, modes, owners,
    sizes, blob times, contents, link targets and attributes."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            e = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                 "nlink": st.st_nlink}
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            else:
                e["xattrs"] = {a: os.getxattr(p, a)
                               for a in sorted(os.listxattr(p))}
            if stat.S_ISREG(st.st_mode):
                e["size"] = st.st_size
                e["data"] = read(p)
                e["kind"] = kind(p)
                if e["kind"] == "topic":
                    e["info"] = info(p)
                else:
                    e["mtime"] = st.st_mtime_ns
            snap[rel] = e
    return snap


def populate(m):
    sh("mkdir -p {m}/plant/sub {m}/media && "
       "echo '{{\"t\":21.5}}' >> {m}/plant/temp && "
       "echo '{{\"t\":22.0}}' >> {m}/plant/temp && "
       "head -c 300000 /dev/urandom > {m}/media/clip.bin && "
       "touch -d @1500000000 {m}/media/clip.bin && "
       "ln -s ../plant/temp {m}/media/link && "
       "ln {m}/media/clip.bin {m}/plant/hard && "
       "chmod 640 {m}/plant/temp && chmod 750 {m}/plant/sub && "
       "chown 1234:4321 {m}/media/clip.bin && "
       "touch {m}/plant/empty && "
       "setfattr -n user.color -v blue {m}/plant/temp && "
       "setfattr -n user.streamfs.framing -v write {m}/plant/sub && "
       "setfattr -n user.streamfs.max_message -v 4k {m}/plant/sub && "
       "setfattr -n user.streamfs.ttl -v 7d {m}/plant && "
       "setfattr -n user.streamfs.durability -v always {m}/media".format(m=m))
    with open(m + "/plant/sub/w", "ab") as f:
        f.write(b"one write\nstill one message")
    with open(m + "/media/sparse", "wb") as f:
        f.seek(5 << 20)
        f.write(b"end")


def test_remount_keeps_everything(mount):
    m = mount.mnt
    populate(m)
    before = snapshot(m)
    assert before["plant/sub/w"]["info"]["messages"] == 1
    assert before["plant/temp"]["xattrs"]["user.color"] == b"blue"
    mount.restart()
    after = snapshot(m)
    assert sorted(after) == sorted(before)
    for rel in before:
        assert after[rel] == before[rel], rel
    # Policies still work, and topics continue their offsets.
    assert getx(m + "/plant/sub", "framing") == "write"
    assert getx(m + "/plant/sub", "max_message") == "4096"
    assert getx(m + "/plant", "ttl") == "604800"
    sh("echo '{\"t\":23.1}' >> %s/plant/temp" % m)
    i = info(m + "/plant/temp")
    assert i["messages"] == 3 and i["last_message"] == 2
    assert getx(m + "/plant/temp", "seek.message.2") == \
        str(before["plant/temp"]["size"])
    # New inodes do not collide with old ones.
    sh("echo fresh >> %s/plant/new" % m)
    inos = [os.lstat(os.path.join(dp, n)).st_ino
            for dp, ds, fs in os.walk(m) for n in ds + fs
            if n not in ("hard", "clip.bin")]
    assert len(inos) == len(set(inos))
    assert read(m + "/plant/temp").endswith(b'{"t":23.1}\n')


def test_remount_twice_and_rmdir_persists(mount):
    m = mount.mnt
    sh("mkdir %s/a %s/b && echo x >> %s/a/t" % (m, m, m))
    mount.restart()
    sh("rm %s/a/t && rmdir %s/a && mv %s/b %s/c" % (m, m, m, m))
    mount.restart()
    assert os.listdir(m) == ["c"]
    mount.restart()
    assert os.listdir(m) == ["c"]


CRASH_WRITER = r"""
import os, sys
path, k, every, record = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
i = 0
try:
    while True:
        os.write(fd, b"w%d %07d %s\n" % (k, i, b"p" * (i % 37)))
        i += 1
        if i % every == 0:
            os.fsync(fd)
            # Only now is the count durable: record it outside the mount.
            with open(record, "w") as r:
                r.write(str(i))
                r.flush()
                os.fsync(r.fileno())
except OSError:
    pass                                  # the daemon died under us
"""

LINE = re.compile(rb"w(\d) (\d{7}) (p*)\Z")


def check_after_crash(path, ids, records, tail=b""):
    """Every message of the topic intact, the messages of each writer in ids
    a gap-free prefix at least as long as what its fsync returned for;
    tail was appended after the crash.  Returns messages per writer."""
    whole = read(path)
    assert os.stat(path).st_size == len(whole)
    assert whole.endswith(tail)
    data = whole[:len(whole) - len(tail)]
    lines = data.split(b"\n")
    assert lines[-1] == b"", "the topic ends in a partial message: %r" % \
        lines[-1][-80:]
    seen = {k: [] for k in ids}
    for line in lines[:-1]:
        mt = LINE.match(line)
        assert mt, "torn message %r" % line[:100]
        k, i = int(mt.group(1)), int(mt.group(2))
        assert len(mt.group(3)) == i % 37, "damaged message %r" % line
        assert k in seen, "message of an unknown writer %r" % line
        seen[k].append(i)
    for k in ids:
        durable = int(records[k].read_text()) if records[k].exists() else 0
        got = seen[k]
        assert got == list(range(len(got))), \
            "writer %d: lost or reordered messages" % k
        assert len(got) >= durable, \
            "writer %d: fsync returned for %d messages, %d survived" % (
                k, durable, len(got))
    assert info(path)["messages"] == len(lines) - 1 + tail.count(b"\n")
    return {k: len(v) for k, v in seen.items()}


def test_kill9_during_appends_loses_nothing_fsynced(mount, tmp_path):
    """Two crash rounds; in each, four writers append to two topics of one
    stream (so they share segments) and fsync every few dozen lines."""
    mount.expect_log(RECOVERY_LOG)
    m = mount.mnt
    os.mkdir(m + "/s")
    topics = [m + "/s/t0", m + "/s/t1"]
    records = {}
    for rnd in range(2):
        ids = range(4 * rnd, 4 * rnd + 4)
        for k in ids:
            records[k] = tmp_path / ("durable%d" % k)
        procs = [subprocess.Popen([PYTHON, "-c", CRASH_WRITER, topics[k % 2],
                                   str(k), str(50 + 13 * (k % 4)),
                                   str(records[k])],
                                  stderr=subprocess.DEVNULL)
                 for k in ids]
        try:
            # Let them get going, then crash the daemon in the middle.
            assert wait_for(lambda: all(records[k].exists() for k in ids),
                            60), "writers made no progress"
            time.sleep(0.5 + rnd)
            mount.kill9()
        finally:
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
        mount.start()
        for t, path in enumerate(topics):
            mine = [k for k in records if k % 2 == t]
            counts = check_after_crash(path, mine, records)
            print("round %d, %s: messages per writer %s"
                  % (rnd, os.path.basename(path), counts))
    # The topic still takes appends, at the right offsets.
    path = topics[0]
    size = os.stat(path).st_size
    n = info(path)["messages"]
    append(path, b"after crash\n")
    assert getx(path, "seek.message.%d" % n) == str(size)
    assert read(path)[size:] == b"after crash\n"
    # And a clean remount agrees.
    mount.restart()
    check_after_crash(path, [k for k in records if k % 2 == 0], records,
                      tail=b"after crash\n")
    check_after_crash(topics[1], [k for k in records if k % 2 == 1], records)


def test_kill9_keeps_namespace_blobs_and_policies(mount):
    mount.expect_log(RECOVERY_LOG)
    m = mount.mnt
    populate(m)
    fd = os.open(m + "/media/clip.bin", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    before = snapshot(m)
    mount.kill9()
    mount.start()
    after = snapshot(m)
    assert sorted(after) == sorted(before)
    for rel in before:
        assert after[rel] == before[rel], rel


def test_held_partial_line_never_shows_as_torn_after_kill9(mount):
    mount.expect_log(RECOVERY_LOG)
    p = mount.mnt + "/t"
    append(p, b"whole\n")
    held = subprocess.Popen(
        [PYTHON, "-c", "import os,sys,time\n"
         "fd=os.open(sys.argv[1], os.O_WRONLY|os.O_APPEND)\n"
         "os.write(fd, b'half a li'); print('ok', flush=True); time.sleep(60)",
         p], stdout=subprocess.PIPE)
    try:
        assert held.stdout.readline() == b"ok\n"
        mount.kill9()
    finally:
        held.kill()
        held.wait()
        held.stdout.close()
    mount.start()
    # The held piece was never a message; what was acknowledged is there.
    assert read(p) == b"whole\n"
    assert info(p)["messages"] == 1


def test_kill9_twice_in_a_row(mount):
    mount.expect_log(RECOVERY_LOG)
    p = mount.mnt + "/t"
    append(p, b"a\nb\n")
    mount.kill9()
    mount.start()
    mount.kill9()
    mount.start()
    assert read(p) == b"a\nb\n"
    append(p, b"c\n")
    assert read(p) == b"a\nb\nc\n"
    assert info(p)["messages"] == 3
    assert kind(p) == "topic"


def files_holding(top, needle):
    """Files below top whose bytes contain needle."""
    found = []
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                if needle in f.read():
                    found.append(p)
    return found


def read_until_error(path):
    """Read a file front to back; returns (bytes read, errno or 0)."""
    got = bytearray()
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError as e:
                return bytes(got), e.errno
            if not chunk:
                return bytes(got), 0
            got += chunk
    finally:
        os.close(fd)


def test_damaged_record_is_detected_never_served(mount):
    mount.expect_log(RECOVERY_LOG + r"|damage|corrupt|mismatch|bad record|EIO")
    p = mount.mnt + "/t"
    first, marker, last = b"alpha\n", b"MARKER-corrupt-me\n", b"omega\n"
    for rec in (first, marker, last):
        append(p, rec)                  # one record each
    assert mount.unmount() == 0
    # Message bytes live in segment files, once, never in LevelDB.
    holders = files_holding(mount.data, marker)
    assert len(holders) == 1, holders
    with open(holders[0], "r+b") as f:
        data = f.read()
        at = data.index(marker) + len(b"MARKER-")
        f.seek(at)
        f.write(b"C")
    mount.start()
    got, err = read_until_error(p)
    assert b"MARKER-Corrupt" not in got, "damaged bytes were served"
    assert err in (0, errno.EIO)
    assert sh("cat %s" % p, check=False, binary=True).returncode != 0
    fd = os.open(p, os.O_RDONLY)
    try:
        # The records around the damaged one are intact and readable.
        assert os.pread(fd, len(first), 0) == first
        assert os.pread(fd, len(last), len(first) + len(marker)) == last
        try:
            piece = os.pread(fd, len(marker), len(first))
        except OSError as e:
            assert e.errno == errno.EIO
        else:
            pytest.fail("damaged record served as %r" % piece)
    finally:
        os.close(fd)


def test_torn_segment_tail_is_cut_and_index_follows(mount):
    """A power cut can leave the index ahead of the segment: the next mount
    must serve only whole records, and appends continue from there."""
    mount.expect_log(RECOVERY_LOG + r"|damage|corrupt|mismatch|index")
    p = mount.mnt + "/t"
    recs = [b"one\n", b"two two\n", b"three three three\n"]
    for rec in recs:
        append(p, rec)
    assert mount.unmount() == 0
    holders = files_holding(mount.data, recs[2])
    assert len(holders) == 1, holders
    seg = holders[0]
    size = os.path.getsize(seg)
    with open(seg, "rb") as f:
        assert f.read().endswith(recs[2]), "the last record ends the segment"
    os.truncate(seg, size - 5)          # tear the last record
    mount.start()
    assert read(p) == recs[0] + recs[1]
    i = info(p)
    assert (i["messages"], i["size"]) == (2, len(recs[0] + recs[1]))
    append(p, b"four\n")
    assert read(p) == recs[0] + recs[1] + b"four\n"
    assert getx(p, "seek.message.2") == str(len(recs[0] + recs[1]))
    mount.restart()
    assert read(p) == recs[0] + recs[1] + b"four\n"
