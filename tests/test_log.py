"""Issue 10, point 5: the daemon's log.  Every line has a time (UTC, ISO
8601 with milliseconds) and a level; a detached daemon writes its lines to
DATADIR/streamfs.log from before the store opens (so what recovery did is
there), or to syslog with -o syslog; the start line names the version, the
data folder, the mount point, the options and what recovery did; a start
that fails says why on the terminal it was started from."""
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from test_mount import daemons_serving, stop_background
from util import DAEMON, append, is_mounted, read, run

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                   r"(error|warning|info): \S")
START = re.compile(r"streamfs (\d+\.\d+\.\d+) started: pid (\d+), data "
                   r"folder (\S+), mount point (\S+), options (\S+); "
                   r"recovery: (.*)$")


def version():
    return re.search(r"^streamfs (\S+)$", run([DAEMON, "--version"]).stdout,
                     re.M).group(1)


def log_lines(data):
    return (Path(data) / "streamfs.log").read_text().splitlines()


def start_lines(lines):
    return [m for m in (START.search(l) for l in lines) if m]


def crashed_store(mount_factory, records=10):
    """A data folder whose daemon was killed after `records` appends that
    never reached the index: the next mount indexes them again."""
    m = mount_factory()
    m.expect_log(r"recover")
    os.mkdir(m.mnt + "/s")
    for i in range(records):
        append(m.mnt + "/s/t", b"line %d\n" % i)
    m.kill9()
    return m


def test_detached_daemon_logs_recovery_and_start_line_to_datadir(
        mount_factory, scratch):
    m = crashed_store(mount_factory)
    mnt = Path(scratch) / "bg"
    mnt.mkdir()
    try:
        r = run([DAEMON, "-o", "threads", m.data, mnt], check=False,
                timeout=30)
        assert r.returncode == 0, r.stderr
        # Recovery and the start line went to the log, not the terminal.
        assert r.stderr == "", r.stderr
        assert read(mnt / "s" / "t") == b"".join(
            b"line %d\n" % i for i in range(10))
    finally:
        stop_background(mnt)
    lines = log_lines(m.data)
    bad = [l for l in lines if not STAMP.match(l)]
    assert not bad, "lines without time and level: %s" % bad
    started = start_lines(lines)
    assert len(started) == 1, lines
    st = started[0]
    assert st.group(1) == version()
    assert st.group(3) == os.path.realpath(m.data)
    assert st.group(4) == os.path.realpath(mnt)
    assert st.group(5) == "threads"
    # The start line sums recovery's lines.  How many of the 10 appends
    # recovery had to index again depends on whether anything wrote the
    # index batch before the kill (a busy machine can let it).
    again = sum(int(n) for l in lines if "recovery: stream" in l
                for n in re.findall(r"(\d+) records indexed again", l))
    assert 0 < again <= 10, lines
    assert "%d records indexed again" % again in st.group(6), st.group(6)
    assert " info: " in [l for l in lines if START.search(l)][0]
    # Recovery's own line comes first, in the same file.
    rec = [i for i, l in enumerate(lines) if "recovery: stream" in l]
    start = [i for i, l in enumerate(lines) if START.search(l)][0]
    assert rec and rec[0] < start, lines


def test_detached_start_that_fails_says_why_on_the_terminal(mount, scratch):
    """A second daemon on a data folder in use fails after it has opened
    the log: the terminal gets the reason, the log gets it too."""
    other = Path(scratch) / "second"
    other.mkdir()
    r = run([DAEMON, mount.data, other], check=False, timeout=30)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamfs: error: ") \
        and "already mounted" in lines[0], r.stderr
    assert not is_mounted(other)
    logged = [l for l in log_lines(mount.data) if "already mounted" in l]
    assert len(logged) == 1 and STAMP.match(logged[0]) and \
        " error: " in logged[0], logged


def test_libfuse_refusal_after_detaching_is_one_line_on_the_terminal(
        tmp_path, scratch):
    """libfuse refuses an option only when the session is made (after the
    fork): its message, which it writes in pieces, is one line on the
    terminal and one in the log."""
    data, mnt = tmp_path / "data", Path(scratch) / "m"
    mnt.mkdir()
    r = run([DAEMON, "-o", "no_such_option", data, mnt], check=False,
            timeout=30)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == ("streamfs: error: fuse: unknown option(s): "
                         "`-o no_such_option'"), r.stderr
    assert not is_mounted(mnt)
    logged = [l for l in log_lines(data) if "no_such_option" in l]
    assert len(logged) == 1 and STAMP.match(logged[0]), logged


def test_foreground_lines_have_time_and_level(mount_factory):
    m = crashed_store(mount_factory, records=3)
    m.start()
    assert read(m.mnt + "/s/t") == b"line 0\nline 1\nline 2\n"
    lines = [l for l in m.log_text()[m.log_from:].splitlines()
             if not l.startswith("### ")]
    bad = [l for l in lines if not STAMP.match(l)]
    assert not bad, "lines without time and level: %s" % bad
    started = start_lines(lines)
    assert len(started) == 1, lines
    assert started[0].group(5) == "(none)"
    assert "3 records indexed again" in started[0].group(6)


def test_clean_start_says_there_was_nothing_to_recover(mount):
    started = start_lines(mount.log_text().splitlines())
    assert len(started) == 1
    assert started[0].group(6) == "nothing to recover"


# ---------------------------------------------------------------- syslog

SYSLOG_SCRIPT = r"""
set -e
for d in fuse null zero random urandom; do
    touch "$DEV/$d"
    mount --bind "/dev/$d" "$DEV/$d"
done
touch "$DEV/log"
mount --bind "$SOCK" "$DEV/log"
mount --rbind "$DEV" /dev
touch "$OUT/ns"
"$DAEMON" -o syslog "$DATA" "$MNT"
echo hello >> "$MNT/t"
cat "$MNT/t" > "$OUT/read"
"$DAEMON" -o syslog "$DATA" "$MNT2" 2> "$OUT/second" || echo $? > "$OUT/rc"
fusermount3 -u "$MNT"
"""


def receive_all(sock):
    got = []
    sock.settimeout(0.5)
    try:
        while True:
            got.append(sock.recv(65536).decode("utf-8", "replace"))
    except socket.timeout:
        pass
    return got


def test_syslog_option_sends_lines_to_syslog(tmp_path, scratch):
    """The daemon runs in a mount namespace of its own whose /dev/log is a
    socket of this test's: its lines arrive there (facility daemon, levels
    mapped), none go to DATADIR/streamfs.log, and a failed start still
    says why on the terminal."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private /dev/log")
    sock_path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    dev, out = tmp_path / "dev", tmp_path / "out"
    dev.mkdir()
    out.mkdir()
    data = tmp_path / "data"
    mnt, mnt2 = Path(scratch) / "m", Path(scratch) / "m2"
    mnt.mkdir()
    mnt2.mkdir()
    env = dict(os.environ, DEV=str(dev), SOCK=str(sock_path), OUT=str(out),
               DAEMON=str(DAEMON), DATA=str(data), MNT=str(mnt),
               MNT2=str(mnt2))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh",
                        "-c", SYSLOG_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=60)
    try:
        if not (out / "ns").exists():
            pytest.skip("cannot make a private /dev/log here: %s"
                        % r.stderr.strip())
        assert r.returncode == 0, r.stderr
        assert (out / "read").read_text() == "hello\n"
        got = receive_all(sock)
    finally:
        sock.close()
        assert wait_gone(mnt)
    # <30>: facility daemon (3), info (6); <27>: daemon, error (3).
    started = [g for g in got if START.search(g)]
    assert len(started) == 1 and started[0].startswith("<30>"), got
    assert re.search(r"streamfs\[\d+\]: ", started[0]), started[0]
    refused = [g for g in got if "already mounted" in g]
    assert len(refused) == 1 and refused[0].startswith("<27>"), got
    # The second daemon's terminal heard why it failed.
    assert (out / "rc").read_text().strip() == "1"
    second = (out / "second").read_text().strip().splitlines()
    assert len(second) == 1 and "already mounted" in second[0], second
    assert not (data / "streamfs.log").exists() or \
        (data / "streamfs.log").read_text() == ""


def wait_gone(mnt):
    from util import wait_for
    return wait_for(lambda: not daemons_serving(mnt), 20)
