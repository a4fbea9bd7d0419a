"""Retention: ttl and retention_bytes expire messages, through the mount,
within about a second; the disk space is freed (segments deleted, mostly
dead segments compacted), expired messages never come back (remount,
kill -9, power cut), and live offsets never change."""
import os
import time

import faults
import pytest

from util import PFX, info, read, sh, wait_for

SEG = 1 << 20                   # segment_size for the space tests


def setp(path, name, value):
    os.setxattr(path, PFX + name, str(value).encode())


def lines(n, start=0, width=0):
    pad = b"x" * width
    return [b"line %d %s\n" % (i, pad) for i in range(start, start + n)]


def append_lines(path, ls):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for l in ls:
            assert os.write(fd, l) == len(l)
    finally:
        os.close(fd)


def segment_bytes(m):
    total = 0
    for root, _, files in os.walk(os.path.join(m.data, "segments")):
        for f in files:
            total += os.stat(os.path.join(root, f)).st_size
    return total


def expired_all(path):
    i = info(path)
    return i["messages"] == 0 and i["first_offset"] == i["size"]


# ---------------------------------------------------------------- ttl

def test_ttl_expires_within_a_second_and_keeps_offsets(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "ttl", "2s")
    ls = lines(200)
    append_lines(s + "/t", ls)
    size = len(b"".join(ls))
    assert info(s + "/t")["messages"] == 200
    t0 = time.monotonic()
    assert wait_for(lambda: expired_all(s + "/t"), timeout=6)
    # Expiry came after the ttl, not before it.
    assert time.monotonic() - t0 > 1.5
    i = info(s + "/t")
    assert i["size"] == size and i["first_message"] == 200
    assert i["last_time"] > 0 and i["first_time"] == 0
    # The expired head reads as zeros; the size stays.
    assert read(s + "/t") == b"\0" * size
    assert os.stat(s + "/t").st_blocks == 0
    # A new message continues the offsets.
    append_lines(s + "/t", [b"new\n"])
    i = info(s + "/t")
    assert (i["first_message"], i["first_offset"], i["messages"]) == \
        (200, size, 1)
    with open(s + "/t", "rb") as f:
        f.seek(size)
        assert f.read() == b"new\n"
    # Nothing comes back after a remount.
    mount.restart()
    i = info(s + "/t")
    assert (i["first_message"], i["first_offset"], i["messages"]) == \
        (200, size, 1)
    assert read(s + "/t")[:size] == b"\0" * size


def test_ttl_expires_only_what_is_old(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "ttl", "3")
    old = lines(50)
    append_lines(s + "/t", old)
    time.sleep(2)
    new = lines(50, start=50)
    append_lines(s + "/t", new)
    cut = len(b"".join(old))
    assert wait_for(lambda: info(s + "/t")["first_message"] == 50, timeout=6)
    i = info(s + "/t")
    assert i["first_offset"] == cut and i["messages"] == 50
    data = read(s + "/t")
    assert data[:cut] == b"\0" * cut and data[cut:] == b"".join(new)
    # SEEK_DATA finds the first live byte, SEEK_HOLE the hole before it.
    fd = os.open(s + "/t", os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == cut
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 0
        assert os.lseek(fd, cut, os.SEEK_HOLE) == len(data)
    finally:
        os.close(fd)


def test_policy_change_applies_at_once(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    append_lines(s + "/t", lines(100))
    time.sleep(2.2)
    assert info(s + "/t")["messages"] == 100    # no ttl: nothing goes
    setp(s, "ttl", "2")                  # what is now too old goes at once
    assert wait_for(lambda: expired_all(s + "/t"), timeout=1.5)
    append_lines(s + "/t", lines(10, start=100))
    setp(s, "ttl", "0")                  # 0 stops expiry
    time.sleep(3)
    assert info(s + "/t")["messages"] == 10
    setp(s, "retention_bytes", "50")     # a cap applies to what is there
    assert wait_for(lambda: info(s + "/t")["messages"] < 10, timeout=2)
    i = info(s + "/t")
    assert i["size"] - i["first_offset"] <= 50


def test_ttl_lengthened_does_not_bring_back(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "ttl", "1")
    append_lines(s + "/t", lines(20))
    assert wait_for(lambda: expired_all(s + "/t"), timeout=4)
    setp(s, "ttl", "1d")
    time.sleep(0.5)
    assert expired_all(s + "/t")
    mount.restart()
    assert expired_all(s + "/t")


# ---------------------------------------------------------------- size cap

def test_retention_bytes_keeps_the_newest(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "retention_bytes", "1k")
    ls = lines(200)
    append_lines(s + "/t", ls)
    whole = b"".join(ls)
    assert wait_for(lambda: info(s + "/t")["size"] -
                    info(s + "/t")["first_offset"] <= 1024, timeout=3)
    i = info(s + "/t")
    live = i["size"] - i["first_offset"]
    assert 1024 - 20 < live <= 1024     # whole messages, as many as fit
    assert i["size"] == len(whole) and i["first_message"] + i["messages"] \
        == 200
    data = read(s + "/t")
    # Live bytes are where they always were.
    assert data[i["first_offset"]:] == whole[i["first_offset"]:]
    assert data[:i["first_offset"]] == b"\0" * i["first_offset"]
    assert os.stat(s + "/t").st_blocks * 512 < 4096 + live


def test_ttl_and_cap_together(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "ttl", "2")
    setp(s, "retention_bytes", "300")
    append_lines(s + "/a", lines(100))      # the cap cuts it first
    append_lines(s + "/b", lines(3))        # below the cap: ttl only
    assert wait_for(lambda: info(s + "/a")["size"] -
                    info(s + "/a")["first_offset"] <= 300, timeout=2)
    assert info(s + "/b")["messages"] == 3
    assert wait_for(lambda: expired_all(s + "/a") and expired_all(s + "/b"),
                    timeout=5)


def test_seek_into_expired_part(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "retention_bytes", "100")
    append_lines(s + "/t", lines(50))
    assert wait_for(lambda: info(s + "/t")["first_message"] > 0, timeout=3)
    first = info(s + "/t")["first_message"]
    with pytest.raises(OSError) as e:
        os.getxattr(s + "/t", PFX + "seek.message.0")
    assert e.value.errno == __import__("errno").ENOMSG
    off = int(os.getxattr(s + "/t", PFX + "seek.message.%d" % first))
    assert off == info(s + "/t")["first_offset"]


# ---------------------------------------------------------------- space

@pytest.mark.mount_options("segment_size=%d" % SEG)
def test_expired_segments_are_deleted(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "retention_bytes", "64k")
    chunk = b"".join(lines(1000, width=100))    # about 110 KiB a write
    fd = os.open(s + "/t", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for _ in range(100):                        # about 11 MiB
        os.write(fd, chunk)
    os.close(fd)
    assert wait_for(lambda: segment_bytes(mount) <= 3 * SEG, timeout=10), \
        segment_bytes(mount)


@pytest.mark.mount_options("segment_size=%d" % SEG)
def test_mixed_retention_space_is_bounded(mount):
    """One topic keeps everything (it stays below the cap), another expires
    fast: the segments they share are compacted, and the on-disk bytes stay
    below 1.5 x the live record bytes + 2 segments throughout."""
    s = mount.mnt + "/s"
    os.mkdir(s)
    cap = 4 << 20
    setp(s, "retention_bytes", str(cap))
    keep = []
    fast = b"f" * 4000 + b"\n"
    fk = os.open(s + "/keep", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    ff = os.open(s + "/fast", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    worst = 0.0
    for i in range(10000):                  # fast: about 40 MiB
        os.write(ff, fast)
        if i % 8 == 0:
            l = b"keep %06d %s\n" % (i, b"k" * 2000)
            keep.append(l)
            os.write(fk, l)
        if i % 200 == 199:
            time.sleep(0.05)
            live = sum(info(s + "/" + n)["size"] -
                       info(s + "/" + n)["first_offset"]
                       for n in ("keep", "fast"))
            records = live + 48 * (len(keep) + cap // len(fast) + 1)
            worst = max(worst, (segment_bytes(mount) - 2 * SEG) / records)
    os.close(fk)
    os.close(ff)
    assert sum(len(k) for k in keep) < cap
    print("worst on-disk / live record bytes (less 2 segments): %.2f" % worst)
    assert worst <= 1.5
    assert read(s + "/keep") == b"".join(keep)
    # Compaction ran: the keeper's first records no longer lie in the
    # stream's first segment, which is gone.  (Other streams, such as
    # /.streamfs, keep theirs.)
    seg_dir = os.path.join(mount.data, "segments",
                           "%016x" % os.stat(s).st_ino)
    assert "0000000000000001" not in os.listdir(seg_dir)
    mount.restart()
    assert read(s + "/keep") == b"".join(keep)


# ---------------------------------------------------------------- crashes

@pytest.mark.mount_options("segment_size=%d" % SEG)
def test_kill9_during_expiry_and_compaction(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    setp(s, "retention_bytes", "128k")
    keep = []
    seen_start = {}
    for rnd in range(4):
        ff = os.open(s + "/fast", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        fk = os.open(s + "/keep", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        for i in range(800):
            os.write(ff, b"%d %s\n" % (i, b"f" * 3000))
            if i % 40 == 0:
                l = b"r%d k%04d %s\n" % (rnd, i, b"k" * 500)
                keep.append(l)
                os.write(fk, l)
        os.close(ff)
        os.close(fk)
        # Kill while the retention thread is at work.
        time.sleep(0.02 * rnd)
        before = info(s + "/fast")["first_offset"]
        mount.kill9()
        mount.start()
        mount.expect_log(r"recovery")
        i = info(s + "/fast")
        assert i["first_offset"] >= before          # nothing came back
        assert read(s + "/keep") == b"".join(keep)  # nothing lost, once
        data = read(s + "/fast")
        live = data[i["first_offset"]:]
        assert live.count(b"\n") == i["messages"]
        seen_start[rnd] = i["first_offset"]
    assert wait_for(lambda: info(s + "/fast")["size"] -
                    info(s + "/fast")["first_offset"] <= 128 << 10, timeout=5)


def test_power_cut_after_expiry_keeps_it_expired(mount_factory, tmp_path):
    """The appends are made durable (fsync), then the cap expires most of
    them; a power cut right after must not bring them back."""
    data = tmp_path / "data-cut"
    env = faults.fault_env(data, None, log=tmp_path / "cut.faultlog",
                           journal=tmp_path / "cut.journal")
    m = mount_factory((), data=data, env=env, expect=(".",))
    s = m.mnt + "/s"
    os.mkdir(s)
    fd = os.open(s + "/t", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for l in lines(100):
        os.write(fd, l)
    os.fsync(fd)
    os.close(fd)
    setp(s, "retention_bytes", "200")
    assert wait_for(lambda: info(s + "/t")["first_message"] > 70, timeout=3)
    before = info(s + "/t")
    m.power_cut()
    m.env = {}
    m.start()
    m.expect_log(r"recovery")
    after = info(s + "/t")
    assert after["first_offset"] >= before["first_offset"]
    assert after["first_message"] >= before["first_message"]
    assert after["size"] == before["size"]


def test_cursor_in_expired_head_reads_first_live(mount):
    s = mount.mnt + "/s"
    os.mkdir(s)
    append_lines(s + "/t", lines(50))
    os.setxattr(s + "/t", PFX + "cursor.g", b"0")
    setp(s, "retention_bytes", "100")
    assert wait_for(lambda: info(s + "/t")["first_message"] > 0, timeout=3)
    first = info(s + "/t")["first_offset"]
    assert int(os.getxattr(s + "/t", PFX + "cursor.g")) == first
    # A commit into the expired head is refused and changes nothing.
    with pytest.raises(OSError):
        os.setxattr(s + "/t", PFX + "cursor.g", b"0")
    assert int(os.getxattr(s + "/t", PFX + "cursor.g")) == first


def _mixed_then_cap(m, cap):
    """A stream of 1 MiB segments where a keeper topic's records are spread
    over every segment among a fast topic's; then a cap that expires most
    of the fast topic, so its segments are compacted."""
    s = m.mnt + "/s"
    os.mkdir(s)
    keep = []
    fk = os.open(s + "/keep", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    ff = os.open(s + "/fast", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for i in range(1800):                   # about 7 MiB
        os.write(ff, b"%05d %s\n" % (i, b"f" * 3994))
        if i % 16 == 0:
            l = b"keep %06d %s\n" % (i, b"k" * 2000)
            keep.append(l)
            os.write(fk, l)
    os.fsync(fk)            # durable: a power cut may only take what
    os.fsync(ff)            # retention does after this
    os.close(fk)
    os.close(ff)
    if cap:
        assert len(b"".join(keep)) < cap    # the keeper keeps everything
        setp(s, "retention_bytes", str(cap))
    return s, keep


def _calls_before_cap(mount_factory, tmp_path):
    """How many syncs of each kind the mount and _mixed_then_cap make before
    the cap is set: a dry run under the shim's trace."""
    data, trace = tmp_path / "dry", tmp_path / "trace"
    env = faults.fault_env(data, None, trace=trace)
    m = mount_factory(["segment_size=%d" % SEG], data=data, env=env,
                      expect=(".",))
    _mixed_then_cap(m, None)
    counts = {}
    for line in open(trace):
        kind = line.split()[0]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@pytest.mark.parametrize("kind,nth,cut", [
    ("seg_sync", 1, False),     # copies written, the index not yet
    ("seg_sync", 2, False),     # one step indexed, the next not yet
    ("db_sync", 1, False),      # at the first expiry's synced write
    ("db_sync", 3, False),      # at a later synced write
    ("seg_sync", 1, True),      # the same moments as power cuts
    ("seg_sync", 2, True),
    ("db_sync", 3, True),
])
def test_crash_during_compaction(mount_factory, tmp_path, kind, nth, cut):
    """The daemon dies (kill, or a power cut) at a chosen moment of
    expiry and compaction: nothing live is lost or doubled, nothing
    expired comes back, and compaction finishes after the remount."""
    n = _calls_before_cap(mount_factory, tmp_path).get(kind, 0) + nth
    rule = "%s:%d:cut" % (kind, n)
    data = tmp_path / "data"
    log = tmp_path / "faultlog"
    env = faults.fault_env(data, rule, log=log,
                           journal=tmp_path / "journal" if cut else None)
    m = mount_factory(["segment_size=%d" % SEG], data=data, env=env,
                      expect=(".",))
    cap = 256 << 10
    s, keep = _mixed_then_cap(m, cap)
    # The shim kills the daemon at the aimed call.
    assert wait_for(lambda: m.proc.poll() is not None, timeout=10), \
        "the aimed call never came"
    assert "cut" in open(log).read()
    m.power_cut() if cut else m.kill9()
    m.env = {}
    m.start()
    m.expect_log(r"recovery")
    assert read(s + "/keep") == b"".join(keep)
    i = info(s + "/fast")
    data_ = read(s + "/fast")
    assert data_[:i["first_offset"]] == b"\0" * i["first_offset"]
    live = data_[i["first_offset"]:]
    assert live.count(b"\n") == i["messages"]
    assert i["first_message"] + i["messages"] == 1800
    # Compaction goes on to the end after the remount.
    assert wait_for(lambda: segment_bytes(m) <= 1.5 * (
        len(b"".join(keep)) + cap + 48 * 600) + 2 * SEG, timeout=15), \
        segment_bytes(m)
    assert read(s + "/keep") == b"".join(keep)
    assert info(s + "/fast")["size"] - info(s + "/fast")["first_offset"] \
        <= cap
    before = info(s + "/fast")["first_offset"]
    m.restart()
    assert read(s + "/keep") == b"".join(keep)
    assert info(s + "/fast")["first_offset"] == before
