"""streamctl stats against a real mount: the figures of each topic are
exactly what was appended, the rate column sees appends made during the
interval and nothing else, groups are listed largest lag first, -n bounds
the rows and says how many were left out, a stream covers its substreams
and the root the whole mount, -f prints one table per interval, and the
error contract."""
import os
import subprocess
import threading
import time

import pytest

from util import BUILD, PFX, run

STREAMCTL = BUILD / "tools" / "streamctl"


def stats(*args, check=True, **kw):
    return run([STREAMCTL, "stats"] + [str(a) for a in args], check=check,
               **kw)


def rows(text):
    """The topic rows: name -> dict of the columns."""
    lines = text.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("TOPIC"))
    cols = lines[head].split()
    out = {}
    for l in lines[head + 1:]:
        if not l.strip() or l.startswith("("):
            break
        f = l.split()
        out[f[0]] = dict(zip(cols[1:], f[1:]))
    return out


def groups(text):
    lines = text.splitlines()
    if not any(l.startswith("GROUP") for l in lines):
        return []
    head = next(i for i, l in enumerate(lines) if l.startswith("GROUP"))
    return [tuple(l.split()) for l in lines[head + 1:]
            if l.strip() and not l.startswith("(")]


def make(mount, name="s"):
    d = os.path.join(mount.mnt, name)
    os.mkdir(d)
    return d


def append(path, lines):
    with open(path, "ab") as f:
        for l in lines:
            f.write(l)
            f.flush()


def test_help():
    h = stats("--help").stdout
    assert h.startswith("Usage: streamctl stats")
    for word in ("-f", "-i", "-n", "per second", "substreams", "lag"):
        assert word in h, word


def test_figures_are_what_was_appended(mount):
    d = make(mount)
    append(d + "/a", [b"x" * 9 + b"\n"] * 7)          # 7 messages, 70 bytes
    append(d + "/b", [b"yy\n"])
    os.setxattr(d + "/a", PFX + "cursor.g1", b"30")   # 3 messages in
    os.setxattr(d + "/b", PFX + "cursor.g2", b"0")
    out = stats("-i", "0.2", d).stdout
    r = rows(out)
    assert set(r) == {"a", "b"}, out
    assert r["a"] == {"MESSAGES": "7", "FIRST": "0", "LAST": "6",
                      "SIZE": "70", "MSG/S": "0.0", "BYTES/S": "0.0",
                      "GROUPS": "1"}, out
    assert r["b"]["MESSAGES"] == "1" and r["b"]["SIZE"] == "3", out
    assert "topics 2  messages 8  bytes 73" in out, out
    # Largest lag first: g1 is 4 messages (40 bytes) behind, g2 one (3).
    assert groups(out) == [("g1", "a", "4", "40"), ("g2", "b", "1", "3")]


def test_rate_counts_appends_during_the_interval(mount):
    d = make(mount)
    append(d + "/busy", [b"0\n"])
    append(d + "/idle", [b"0\n"])
    stop = threading.Event()

    def writer():
        with open(d + "/busy", "ab", buffering=0) as f:
            while not stop.is_set():
                f.write(b"m\n")
                time.sleep(0.002)
    t = threading.Thread(target=writer)
    t.start()
    try:
        out = stats("-i", "0.5", d).stdout
    finally:
        stop.set()
        t.join()
    r = rows(out)
    assert float(r["busy"]["MSG/S"]) > 10, out
    assert float(r["busy"]["BYTES/S"]) == pytest.approx(
        2 * float(r["busy"]["MSG/S"]), rel=0.01), out
    assert r["idle"]["MSG/S"] == "0.0", out
    # Busiest first.
    assert out.index("\nbusy ") < out.index("\nidle "), out


def test_top_bounds_the_rows(mount):
    d = make(mount)
    for i in range(5):
        append("%s/t%d" % (d, i), [b"z\n"] * (i + 1))
    out = stats("-i", "0.1", "-n", "2", d).stdout
    r = rows(out)
    # Idle topics: largest first.
    assert list(r) == ["t4", "t3"], out
    assert "(3 more topics)" in out, out
    assert len(rows(stats("-i", "0.1", "-n", "0", d).stdout)) == 5


def test_substreams_and_the_whole_mount(mount):
    d = make(mount)
    os.mkdir(d + "/sub")
    append(d + "/t", [b"1\n"])
    append(d + "/sub/u", [b"22\n"])
    os.mkdir(mount.mnt + "/other")
    append(mount.mnt + "/other/v", [b"333\n"])
    assert set(rows(stats("-i", "0.1", d).stdout)) == {"t", "sub/u"}
    everything = rows(stats("-i", "0.1", mount.mnt).stdout)
    assert {"s/t", "s/sub/u", "other/v"} <= set(everything), everything
    # A topic PATH: that topic alone, under its own name.
    only = rows(stats("-i", "0.1", d + "/sub/u").stdout)
    assert list(only) == [d + "/sub/u"]
    # The default PATH is the current directory.
    r = subprocess.run([str(STREAMCTL), "stats", "-i", "0.1"],
                       cwd=d + "/sub", capture_output=True, text=True,
                       check=True, timeout=60)
    assert set(rows(r.stdout)) == {"u"}


def test_blobs_are_not_topics(mount):
    d = make(mount)
    append(d + "/t", [b"1\n"])
    with open(d + "/blob", "wb") as f:
        f.write(b"b" * 100)
    assert set(rows(stats("-i", "0.1", d).stdout)) == {"t"}


def test_follow_prints_a_table_every_interval(mount):
    d = make(mount)
    append(d + "/t", [b"1\n"])
    p = subprocess.Popen([str(STREAMCTL), "stats", "-f", "-i", "0.2", d],
                         stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.3)
    finally:
        p.terminate()
        out, _ = p.communicate(timeout=10)
    tables = out.count("\nTOPIC ")
    assert 3 <= tables <= 7, out


@pytest.mark.mount_options("allow_other")
def test_unreadable_substream_is_left_out(mount, other_user):
    d = make(mount)
    os.chmod(d, 0o755)
    os.mkdir(d + "/secret", 0o700)
    append(d + "/secret/x", [b"1\n"])
    append(d + "/t", [b"1\n"])
    os.chmod(d + "/t", 0o644)
    r = other_user.run([STREAMCTL, "stats", "-i", "0.1", d])
    assert r.returncode == 0, r.stderr
    assert set(rows(r.stdout)) == {"t"}, r.stdout
    assert "(1 substreams not readable, left out)" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["-i", "0"], "invalid interval"),
    (["-i", "abc"], "invalid interval"),
    (["-i", "4000"], "invalid interval"),
    (["-n", "-1"], "invalid count"),
    (["-x"], "stats"),
    (["a", "b"], "more than one PATH"),
])
def test_bad_usage_exits_2(args, msg):
    r = stats(*args, check=False)
    assert r.returncode == 2, r
    assert msg in r.stderr and r.stderr.count("\n") <= 2, r.stderr


def test_errors_exit_1(mount, tmp_path):
    r = stats(tmp_path, check=False)
    assert r.returncode == 1 and "not on a streamfs mount" in r.stderr, r
    r = stats(mount.mnt + "/missing", check=False)
    assert r.returncode == 1 and "No such file" in r.stderr, r
