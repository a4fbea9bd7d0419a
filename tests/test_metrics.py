"""Issue 10, the metrics: once a second the daemon appends one JSON line
of its figures to /.streamfs/metrics, and /.streamfs/metrics.prom has them
in the Prometheus text format (docs/design.md, "Metrics").

The tests read the figures through the mount and check that they move by
exactly what the test did, that promtool accepts the Prometheus text, and
that a real prometheus-node-exporter serves it.  A test waits for the
first line taken after what it did (each line has the time it was taken);
the waits are deadlines, not measurements.
"""
import json
import os
import re
import select
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from util import DAEMON, PFX, refused_mount, run, wait_for

PROMTOOL = shutil.which("promtool")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")
WAIT = 30               # seconds a line (one a second) may take to come


def metrics_path(mnt):
    return os.path.join(mnt, ".streamfs", "metrics")


def lines(mnt):
    with open(metrics_path(mnt), "rb") as f:
        data = f.read()
    return [json.loads(l) for l in data.split(b"\n") if l]


def line_after(mnt, t0):
    """The first line of figures taken after t0 (time.time_ns())."""
    found = wait_for(lambda: [l for l in lines(mnt) if l["ts_ns"] > t0],
                     WAIT, 0.1)
    assert found, "no metrics line taken after %d within %d s" % (t0, WAIT)
    return found[0]


def fresh(mnt):
    """A line that counts everything done so far."""
    return line_after(mnt, time.time_ns())


def stream_of(line, ino):
    for s in line["streams"]["top"]:
        if s["ino"] == ino:
            return s
    return {"appends": 0, "messages_in": 0, "bytes_in": 0, "reads": 0,
            "bytes_out": 0}


def op(line, name):
    return line["ops"].get(name, {"count": 0})


def errors(line, name, ename):
    return op(line, name).get("errors", {}).get(ename, 0)


def moved(before, after, keys):
    return {k: after[k] - before[k] for k in keys}


def append(path, chunks):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for c in chunks:
            assert os.write(fd, c) == len(c)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- counts

def test_a_line_a_second_with_its_time_and_interval(mount):
    first = fresh(mount.mnt)
    second = line_after(mount.mnt, first["ts_ns"])
    assert second["ts_ns"] > first["ts_ns"]
    assert second["ts"].endswith("Z") and second["ts"] > first["ts"]
    assert second["start_ns"] == first["start_ns"] <= first["ts_ns"]
    # Each line covers what happened since the one before it.
    assert second["interval_ns"] > 0
    for key in ("ops", "totals", "streams", "group_commit", "retention",
                "recovery", "leveldb", "gauges", "lag"):
        assert key in second, key
    assert second["gauges"]["rss_bytes"] > 0
    assert second["gauges"]["inodes_in_memory"] >= 1


def test_followers_see_each_new_line(mount):
    """tail -f of the metrics topic, as the daemon appends to it: GNU tail
    (which polls a FUSE file) and streamctl tail -f (woken by poll) both
    print lines that came after they started, each a whole JSON object."""
    from test_tail import Follower
    path = metrics_path(mount.mnt)
    for argv in (["tail", "-n", "0", "-f", path], None):
        if argv:
            p = subprocess.Popen(argv, stdout=subprocess.PIPE)
            buf, deadline = b"", time.monotonic() + WAIT
            try:
                while b"\n" not in buf and time.monotonic() < deadline:
                    r, _, _ = select.select([p.stdout], [], [], 0.5)
                    if r:
                        buf += os.read(p.stdout.fileno(), 65536)
            finally:
                p.kill()
                p.wait()
                p.stdout.close()
            assert b"\n" in buf, "tail -f printed no line in %d s" % WAIT
            got = [buf.split(b"\n")[0].decode()]
        else:
            f = Follower("-o", "end", path)
            try:
                got = f.lines(2, timeout=WAIT)
            finally:
                f.stop()
        for l in got:
            assert json.loads(l)["ts_ns"] > 0, l


def test_appends_and_reads_move_their_stream_exactly(mount):
    d = os.path.join(mount.mnt, "plant")
    os.mkdir(d)
    ino = os.stat(d).st_ino
    before = fresh(mount.mnt)
    chunks = [b"reading %d\n" % i for i in range(5)] + [b"a\nbb\nccc\n"]
    append(os.path.join(d, "temp"), chunks)
    size = sum(len(c) for c in chunks)
    fd = os.open(os.path.join(d, "temp"), os.O_RDONLY)
    try:
        assert len(os.pread(fd, size + 100, 0)) == size
    finally:
        os.close(fd)
    after = fresh(mount.mnt)
    keys = ("appends", "messages_in", "bytes_in", "reads", "bytes_out")
    assert moved(stream_of(before, ino), stream_of(after, ino), keys) == {
        "appends": 6, "messages_in": 8, "bytes_in": size, "reads": 1,
        "bytes_out": size}
    s = stream_of(after, ino)
    assert s.get("path") == "/plant"
    # The totals count every stream: at least what this test did.
    for k, v in moved(before["totals"], after["totals"], keys).items():
        assert v >= {"appends": 6, "messages_in": 8, "bytes_in": size,
                     "reads": 1, "bytes_out": size}[k], k
    assert op(after, "write")["count"] - op(before, "write")["count"] >= 6


def test_failed_operations_are_counted_by_errno(mount):
    d = os.path.join(mount.mnt, "s")
    os.mkdir(d)
    append(os.path.join(d, "t"), [b"x\n"])
    before = fresh(mount.mnt)
    r = run(["rmdir", d], check=False)
    assert r.returncode != 0 and "not empty" in r.stderr
    r = run(["setfattr", "-n", PFX + "framing", "-v", "bogus", d],
            check=False)
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    after = fresh(mount.mnt)
    assert errors(after, "rmdir", "ENOTEMPTY") - \
        errors(before, "rmdir", "ENOTEMPTY") == 1
    assert op(after, "rmdir")["count"] - op(before, "rmdir")["count"] == 1
    assert errors(after, "setxattr", "EINVAL") - \
        errors(before, "setxattr", "EINVAL") == 1
    # The policy is unchanged, and the refusals changed nothing else.
    assert os.getxattr(d, PFX + "framing") == b"line"


def test_fsync_is_counted_with_its_latency(mount):
    d = os.path.join(mount.mnt, "s")
    os.mkdir(d)
    path = os.path.join(d, "t")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"one\n")
        before = fresh(mount.mnt)
        os.fsync(fd)
        after = fresh(mount.mnt)
    finally:
        os.close(fd)
    f0, f1 = op(before, "fsync"), op(after, "fsync")
    assert f1["count"] - f0["count"] == 1
    assert "errors" not in f1
    # Answered by the sync thread: one fsync more in its figures.
    g0, g1 = before["group_commit"], after["group_commit"]
    assert g1["fsyncs"] - g0["fsyncs"] == 1
    assert g1["syncs"] > g0["syncs"]
    # Its latency is in the line of the interval it was answered in.
    answered = [l for l in lines(mount.mnt)
                if before["ts_ns"] < l["ts_ns"] <= after["ts_ns"]]
    assert sum(op(l, "fsync").get("interval_count", 0)
               for l in answered) == 1
    assert any(op(l, "fsync").get("p99_ns", 0) > 0 for l in answered)


def test_consumer_lag_of_a_cursor_in_use(mount):
    d = os.path.join(mount.mnt, "s")
    os.mkdir(d)
    t = os.path.join(d, "t")
    append(t, [b"m%02d\n" % i for i in range(10)])
    ino = os.stat(t).st_ino
    os.setxattr(t, PFX + "cursor.etl", b"12")        # before message 3
    line = fresh(mount.mnt)
    lag = [l for l in line["lag"]["top"]
           if l["group"] == "etl" and l["ino"] == ino]
    assert lag == [{"group": "etl", "ino": ino, "topic": "/s/t",
                    "messages": 7, "bytes": 28}]
    append(t, [b"m10\n", b"m11\n"])
    line = fresh(mount.mnt)
    lag = [l for l in line["lag"]["top"] if l["ino"] == ino]
    assert (lag[0]["messages"], lag[0]["bytes"]) == (9, 36)
    # Deleting the cursor stops following it.
    os.removexattr(t, PFX + "cursor.etl")
    line = fresh(mount.mnt)
    assert not [l for l in line["lag"]["top"] if l["ino"] == ino]


@pytest.mark.mount_options("metrics_top=2")
def test_top_n_streams_and_how_many_were_left_out(mount):
    inos = {}
    # The later a stream's appends and the more of them, the more active
    # it is: d < c < b < a whatever the seconds' boundaries.
    for name, n in (("d", 1), ("c", 2), ("b", 5), ("a", 10)):
        p = os.path.join(mount.mnt, name)
        os.mkdir(p)
        inos[name] = os.stat(p).st_ino
        append(os.path.join(p, "t"), [b"x\n"] * n)
    line = fresh(mount.mnt)
    top = line["streams"]["top"]
    assert [s["ino"] for s in top] == [inos["a"], inos["b"]]
    assert [s["appends"] for s in top] == [10, 5]
    tracked = line["streams"]["tracked"]
    assert tracked >= 4
    assert line["streams"]["left_out"] == tracked - 2


# ---------------------------------------------------------------- Prometheus

def prom_text(mnt):
    with open(os.path.join(mnt, ".streamfs", "metrics.prom")) as f:
        return f.read()


def prom_value(text, name, **labels):
    """The value of the sample name{labels} (labels in any order)."""
    for line in text.splitlines():
        m = re.match(r"([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def busy_mount(mnt):
    """Streams with awkward names, appends, a failure, a cursor: every
    kind of sample the text can hold."""
    names = [b"plant", b'we"ird\\na\nme', b"caf\xc3\xa9", b"bad\xff"]
    for n in names:
        p = os.path.join(os.fsencode(mnt), n)
        os.mkdir(p)
        append(os.path.join(p, b"t"), [b"a\n", b"b\n"])
    os.setxattr(os.path.join(mnt, "plant", "t"), PFX + "cursor.etl", b"2")
    run(["rmdir", os.path.join(mnt, "plant")], check=False)
    fd = os.open(os.path.join(mnt, "plant", "t"), os.O_WRONLY | os.O_APPEND)
    os.fsync(fd)
    os.close(fd)
    return os.stat(os.path.join(mnt, "plant")).st_ino


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package "
                    "prometheus) is not installed; tools/setup.sh installs it")
def test_promtool_accepts_the_prometheus_text(mount):
    ino = busy_mount(mount.mnt)
    fresh(mount.mnt)            # the .prom is the last line's figures
    text = prom_text(mount.mnt)
    assert prom_value(text, "streamfs_stream_appends_total",
                      stream="/plant", ino=str(ino)) == 2
    assert prom_value(text, "streamfs_fuse_errors_total", op="rmdir",
                      errno="ENOTEMPTY") == 1
    assert prom_value(text, "streamfs_consumer_lag_messages", group="etl",
                      topic="/plant/t") == 1
    # The awkward names are escaped, or replaced where not UTF-8.
    assert 'stream="/we\\"ird\\\\na\\nme"' in text
    assert 'stream="/caf\u00e9"' in text
    assert 'stream="/bad\ufffd"' in text
    with open(os.path.join(mount.mnt, ".streamfs", "metrics.prom"),
              "rb") as f:
        r = subprocess.run([PROMTOOL, "check", "metrics"], stdin=f,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip(), \
        "promtool: %s%s" % (r.stdout, r.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode("utf-8", "replace")
    except OSError:
        return None


@pytest.mark.skipif(NODE_EXPORTER is None, reason="prometheus-node-exporter "
                    "is not installed; tools/setup.sh installs it")
def test_node_exporter_serves_the_figures(mount, tmp_path):
    ino = busy_mount(mount.mnt)
    port = free_port()
    log = open(tmp_path / "node_exporter.log", "wb")
    proc = subprocess.Popen(
        [NODE_EXPORTER, "--collector.disable-defaults",
         "--collector.textfile",
         "--collector.textfile.directory=" + os.path.join(mount.mnt,
                                                          ".streamfs"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        url = "http://127.0.0.1:%d/metrics" % port

        def served():
            body = scrape(url)
            v = body and prom_value(body, "streamfs_stream_appends_total",
                                    stream="/plant", ino=str(ino))
            return body if v == 2 else None
        body = wait_for(served, WAIT, 0.2)
        assert body, "node_exporter did not serve streamfs's figures:\n%s" \
            % (tmp_path / "node_exporter.log").read_text()
        assert prom_value(body, "node_textfile_scrape_error") == 0
        assert prom_value(body, "streamfs_fuse_requests_total",
                          op="fsync") >= 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ---------------------------------------------------------------- options

def threads_named(pid, name):
    found = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() == name:
                    found.append(tid)
        except FileNotFoundError:
            pass
    return found


def test_metrics_thread_runs_by_default(mount):
    assert threads_named(mount.proc.pid, "sf-metrics")
    assert os.path.exists(os.path.join(mount.mnt, ".streamfs",
                                       "metrics.prom"))


@pytest.mark.mount_options("nometrics")
def test_nometrics_counts_and_writes_nothing(mount):
    d = os.path.join(mount.mnt, "s")
    os.mkdir(d)
    append(os.path.join(d, "t"), [b"x\n"] * 3)
    assert not threads_named(mount.proc.pid, "sf-metrics")
    with pytest.raises(FileNotFoundError):
        open(os.path.join(mount.mnt, ".streamfs", "metrics.prom"))
    assert os.path.getsize(metrics_path(mount.mnt)) == 0
    mount.restart()
    assert os.path.getsize(metrics_path(mount.mnt)) == 0


@pytest.mark.parametrize("value", ["0", "1001", "x", "", "-1", "20k"])
def test_bad_metrics_top_is_refused(scratch, value):
    err = refused_mount(scratch, "metrics_top=" + value)
    assert "invalid metrics_top=%s (1 to 1000)" % value in err


def test_help_lists_the_metrics_options():
    out = run([DAEMON, "--help"]).stdout
    assert "-o nometrics" in out and "-o metrics_top=N" in out
