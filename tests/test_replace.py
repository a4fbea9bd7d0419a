"""Issue 7, point 6: a topic is never replaced or re-timed without a trace.

Renames over an existing topic (mv, sed -i, os.rename) fail with EPERM and
leave the topic as it was; a given modification time on a topic (touch -d,
os.utime, tar -x) is shown until the next append, and survives a remount;
logrotate's copytruncate fails at the truncate, and its create mode works.
"""
import errno
import os
import shutil
import subprocess

import pytest

from util import append, assert_errno, info, kind, read, sh


def topic(mount, name="t", data=b"one\ntwo\n"):
    os.makedirs(mount.mnt + "/s", exist_ok=True)
    p = "%s/s/%s" % (mount.mnt, name)
    append(p, data)
    return p


def assert_intact(p, data=b"one\ntwo\n"):
    assert kind(p) == "topic"
    assert read(p) == data
    assert info(p)["messages"] == data.count(b"\n")


# ---------------------------------------------------------------- renames

def test_mv_over_a_topic_is_refused(mount):
    t = topic(mount)
    s = os.path.dirname(t)
    sh("printf new > %s/new" % s)
    r = sh("mv %s/new %s" % (s, t), check=False)
    assert r.returncode != 0
    assert "Operation not permitted" in r.stderr, r.stderr
    assert_intact(t)
    assert read(s + "/new") == b"new", "the source must stay where it was"


def test_sed_in_place_on_a_topic_is_refused(mount):
    t = topic(mount)
    r = sh("sed -i s/one/ONE/ %s" % t, check=False)
    assert r.returncode != 0
    assert "Operation not permitted" in r.stderr, r.stderr
    assert_intact(t)
    # sed removes its temporary file when the rename fails.
    assert os.listdir(os.path.dirname(t)) == ["t"]


def test_os_rename_over_a_topic_is_refused(mount):
    t = topic(mount)
    s = os.path.dirname(t)
    other = topic(mount, "other", b"other\n")
    sh("printf blob > %s/b" % s)
    os.mkdir(mount.mnt + "/elsewhere")
    far = mount.mnt + "/elsewhere/far"
    append(far, b"far\n")
    assert_errno(errno.EPERM, os.rename, s + "/b", t)
    assert_errno(errno.EPERM, os.rename, other, t)
    assert_errno(errno.EPERM, os.rename, far, t)
    assert_errno(errno.EPERM, os.replace, other, t)
    assert_intact(t)
    assert read(other) == b"other\n" and read(far) == b"far\n"
    assert read(s + "/b") == b"blob"
    # Deleting the topic first is the way to replace it.
    os.unlink(t)
    os.rename(s + "/b", t)
    assert read(t) == b"blob" and kind(t) == "blob"


def test_renames_that_replace_no_topic_still_work(mount):
    t = topic(mount)
    s = os.path.dirname(t)
    os.rename(t, s + "/moved")            # a topic to a free name
    assert_intact(s + "/moved")
    sh("printf old > %s/old && printf new > %s/new" % (s, s))
    os.rename(s + "/moved", s + "/old")   # a topic over a blob
    assert_intact(s + "/old")
    sh("mv %s/new %s/old2 && sed -i s/new/NEW/ %s/old2" % (s, s, s))
    assert read(s + "/old2") == b"NEW"
    os.rename(s + "/old", s + "/old")     # a topic onto itself
    assert_intact(s + "/old")


# ---------------------------------------------------------------- times

def test_touch_with_a_date_on_a_topic_sets_it_until_the_next_append(mount):
    # Never a silent success: the time given is the time shown, older or
    # newer than the last message, until an append replaces it.
    t = topic(mount)
    sh("touch -d '2001-02-03 04:05:06 UTC' %s" % t)
    assert os.stat(t).st_mtime_ns == 981173106 * 10 ** 9
    os.utime(t, ns=(10 ** 18, 3 * 10 ** 18))
    assert os.stat(t).st_mtime_ns == 3 * 10 ** 18
    assert os.stat(t).st_atime_ns == 10 ** 18
    os.utime(t, ns=(10 ** 18, 10 ** 18))
    mount.restart()
    assert os.stat(t).st_mtime_ns == 10 ** 18
    append(t, b"three\n")
    assert os.stat(t).st_mtime_ns == info(t)["last_time"]
    mount.restart()
    assert os.stat(t).st_mtime_ns == info(t)["last_time"]
    assert read(t).endswith(b"three\n")


def test_topic_times_that_are_set_are_reported(mount):
    t = topic(mount)
    last = info(t)["last_time"]
    assert os.stat(t).st_mtime_ns == last
    # A given access time alone is stored and reported.
    sh("touch -a -d '2001-02-03 04:05:06 UTC' %s" % t)
    st = os.stat(t)
    assert st.st_atime_ns == 981173106 * 10 ** 9
    assert st.st_mtime_ns == last
    # "now" is taken: the topic's mtime moves to the present.
    sh("touch %s" % t)
    os.utime(t)
    st = os.stat(t)
    assert st.st_mtime_ns >= last and st.st_atime_ns > 981173106 * 10 ** 9
    # A later append moves it on again.
    append(t, b"three\n")
    assert os.stat(t).st_mtime_ns == info(t)["last_time"] >= st.st_mtime_ns
    # Blobs take any time, as before.
    sh("printf x > %s/s/b" % mount.mnt)
    os.utime(mount.mnt + "/s/b", ns=(10 ** 18, 10 ** 18))
    assert os.stat(mount.mnt + "/s/b").st_mtime_ns == 10 ** 18


# ---------------------------------------------------------------- logrotate

def test_copytruncate_sequence_fails_at_the_truncate(mount):
    t = topic(mount, "app.log")
    copy = os.path.dirname(t) + "/app.log.1"
    # What logrotate's copytruncate does: open, copy, truncate the original.
    fd = os.open(t, os.O_RDWR)
    try:
        with open(copy, "wb") as out:
            out.write(os.pread(fd, 1 << 20, 0))
        assert_errno(errno.EPERM, os.ftruncate, fd, 0)
    finally:
        os.close(fd)
    assert_errno(errno.EPERM, os.truncate, t, 0)
    r = sh("truncate -s 0 %s" % t, check=False)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert_intact(t)
    assert read(copy) == b"one\ntwo\n"


LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"


def logrotate(tmp_path, path, mode):
    conf = tmp_path / ("%s.conf" % mode)
    conf.write_text("%s {\n    %s\n    rotate 3\n}\n" % (path, mode))
    return subprocess.run([LOGROTATE, "-f", "-s", str(tmp_path / "state"),
                           str(conf)], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(not os.access(LOGROTATE, os.X_OK),
                    reason="logrotate is not installed")
def test_logrotate_copytruncate_fails_and_create_works(mount, tmp_path):
    t = topic(mount, "app.log")
    s = os.path.dirname(t)
    r = logrotate(tmp_path, t, "copytruncate")
    assert r.returncode != 0
    assert "truncat" in r.stderr and "Operation not permitted" in r.stderr, \
        r.stderr
    assert_intact(t)
    os.unlink(s + "/app.log.1")           # the copy logrotate made
    r = logrotate(tmp_path, t, "create")
    assert r.returncode == 0, r.stderr
    assert_intact(s + "/app.log.1")
    assert os.stat(t).st_size == 0
    append(t, b"after\n")
    assert kind(t) == "topic" and read(t) == b"after\n"
