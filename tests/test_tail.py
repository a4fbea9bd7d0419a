"""streamctl tail against a real mount: every start form (beginning, end,
N, -N, @TIME, -DURATION), -c, -e, each --format field and escape, -J
with text and binary payloads, write framing printed exactly, several
paths and streams, -f following appends and topics made later, expired
starts, and the error contract (exit 2 for a bad command line, 1 for a
path that cannot be read)."""
import base64
import datetime
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import time

import pytest

from util import BUILD, PFX, append, info, read, run, wait_for

STREAMCTL = BUILD / "tools" / "streamctl"
# _IOW('S', 1, struct sf_restore), as in test_restore.py.
IOC_RESTORE = 0x40000000 | (32 << 16) | (ord("S") << 8) | 1


@pytest.fixture(autouse=True)
def built():
    if not os.access(str(STREAMCTL), os.X_OK):
        pytest.fail("no streamctl at %s (build first, or set STREAMFS_BUILD)"
                    % STREAMCTL)


def tail(*args, check=True, binary=False):
    return run([STREAMCTL, "tail"] + [str(a) for a in args], check=check,
               binary=binary)


def out(*args):
    return tail(*args).stdout


def usage_error(r, words):
    """r failed as a bad command line: status 2, nothing printed, one line
    naming the problem."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamctl: tail: "), \
        r.stderr
    assert words in lines[0], lines[0]
    assert "--help" in lines[0]


def records(path, off=0):
    text = os.getxattr(path, PFX + "index.%d" % off).decode()
    return [tuple(int(x) for x in line.split()) for line in text.splitlines()]


def stream(mount, name="s", framing=None):
    p = os.path.join(mount.mnt, name)
    os.makedirs(p, exist_ok=True)
    if framing:
        os.setxattr(p, PFX + "framing", framing.encode())
    return p


def writes(path, *chunks):
    """Each chunk in one write() on one O_APPEND descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for c in chunks:
            assert os.write(fd, c) == len(c)
    finally:
        os.close(fd)


def new_topic(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    os.setxattr(path, PFX + "kind", b"topic")


def restore(path, recs):
    """Append records (off, msg, ns, data, nmsgs) with their own offsets
    and arrival times (the stream's admin only: the tests run as root)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for off, msg, ns, data, nmsgs in recs:
            fcntl.ioctl(fd, IOC_RESTORE, struct.pack(
                "<QQqII", off, msg, ns, len(data), nmsgs))
            os.write(fd, data)
    finally:
        os.close(fd)


def iso(ns, offset_hours=0):
    """ns since the epoch as ISO-8601 with nine digits of fraction."""
    tz = datetime.timezone(datetime.timedelta(hours=offset_hours))
    t = datetime.datetime.fromtimestamp(ns // 10**9, tz)
    zone = "Z" if not offset_hours else t.strftime("%z")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d" % (ns % 10**9) + zone


@pytest.fixture
def lines(mount):
    """A topic of five messages in four records: two lines in one write,
    a line, a partial line (appended at close), a line."""
    p = stream(mount) + "/t"
    writes(p, b"a\nbb\n", b"ccc\n", b"partial")
    writes(p, b"dd\n")
    return p


# ---------------------------------------------------------------- help

def test_help():
    r = run([STREAMCTL, "--help"])
    assert "  tail " in r.stdout and "  consume " in r.stdout
    h = out("--help")
    assert h.startswith("Usage: streamctl tail")
    for word in ("beginning", "end", "-N", "@TIME", "-DURATION", "%o", "%b",
                 "%T", "%t", "%s", "%S", "-J", "-c", "-e", "-f"):
        assert word in h, word
    assert out("-h") == h == run([STREAMCTL, "help", "tail"]).stdout


# ---------------------------------------------------------------- output

def test_default_output_is_one_line_per_message(lines):
    assert out(lines) == "a\nbb\nccc\npartial\ndd\n"
    assert out("-e", lines) == out(lines)


def test_format_fields(lines):
    recs = records(lines)
    fmt = "%o|%b|%T|%t|%S|%s|%%\\t\\\\\\n"
    got = out("--format", fmt, lines).split("\n")[:-1]
    ms = [r[4] // 10**6 for r in recs]
    want = ["0|0|%d|%s|1|a|%%\t\\" % (ms[0], lines),
            "1|2|%d|%s|2|bb|%%\t\\" % (ms[0], lines),
            "2|5|%d|%s|3|ccc|%%\t\\" % (ms[1], lines),
            "3|9|%d|%s|7|partial|%%\t\\" % (ms[2], lines),
            "4|16|%d|%s|2|dd|%%\t\\" % (ms[3], lines)]
    assert got == want
    # No newline unless the format has one; text as it is around fields.
    assert out("--format", "<%s>", lines) == "<a><bb><ccc><partial><dd>"


def test_json_text_and_binary(mount):
    s = stream(mount, "w", framing="write")
    p = s + "/t"
    text = "héllo \"wörld\"\n\t\\".encode()
    binary = b"\x00\xff\xfe\nbin"
    writes(p, text, binary)
    recs = records(p)
    got = [json.loads(l) for l in out("-J", p).splitlines()]
    assert got == [
        {"topic": p, "offset": 0, "byte_offset": 0,
         "timestamp": recs[0][4] // 10**6, "size": len(text),
         "encoding": "utf8", "payload": text.decode()},
        {"topic": p, "offset": 1, "byte_offset": len(text),
         "timestamp": recs[1][4] // 10**6, "size": len(binary),
         "encoding": "base64",
         "payload": base64.b64encode(binary).decode()}]
    # Line framing: the payload is the line without its newline.
    q = stream(mount) + "/l"
    writes(q, b"x\n\xc3\x28\n")        # a line, and one that is not UTF-8
    got = [json.loads(l) for l in out("--json", q).splitlines()]
    assert [(j["encoding"], j["payload"], j["size"]) for j in got] == [
        ("utf8", "x", 1), ("base64", base64.b64encode(b"\xc3\x28").decode(),
                           2)]


def test_write_framing_prints_each_write_exactly(mount):
    p = stream(mount, "w", framing="write") + "/t"
    msgs = [b"one\ntwo\n", b"\x00\x01\n\n\xff", b"", b"\n", b"plain"]
    writes(p, *[m for m in msgs if m])
    msgs = [m for m in msgs if m]      # an empty write appends nothing
    raw = tail("--format", "%S:%s", p, binary=True).stdout
    got = []
    while raw:
        size, _, rest = raw.partition(b":")
        got.append(rest[:int(size)])
        raw = rest[int(size):]
    assert got == msgs
    # Default output: each message followed by a newline.
    assert tail(p, binary=True).stdout == b"".join(m + b"\n" for m in msgs)


def test_large_topic_reads_as_cat_does(mount):
    """Several MiB in records of many lines, a line split over two writes
    and partial lines: the default output is the topic's bytes with a
    newline after each partial line, and -c stops in the middle of a
    record."""
    p = stream(mount) + "/big"
    body = b"".join(b"%09d %s\n" % (i, b"x" * (i % 200)) for i in range(60000))
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for i in range(0, len(body), 65000):
            os.write(fd, body[i:i + 65000])
    finally:
        os.close(fd)
    writes(p, b"tail-partial")
    writes(p, b"last\n")
    r = tail(p, binary=True)
    assert r.stdout == body + b"tail-partial\nlast\n"
    r = tail("-c", 40000, p, binary=True)
    assert r.stdout == b"".join(body.splitlines(True)[:40000])
    r = tail("--format", "%o %s\\n", "-o", 59998, p, binary=True)
    assert r.stdout.splitlines() == [
        b"59998 " + body.splitlines()[59998],
        b"59999 " + body.splitlines()[59999],
        b"60000 tail-partial", b"60001 last"]


# ---------------------------------------------------------------- -o

def test_start_forms(lines):
    assert out("-o", "beginning", lines) == "a\nbb\nccc\npartial\ndd\n"
    assert out("-o", "end", lines) == ""
    assert out("-o", 0, lines) == "a\nbb\nccc\npartial\ndd\n"
    assert out("-o", 1, lines) == "bb\nccc\npartial\ndd\n"   # inside a record
    assert out("-o", 3, lines) == "partial\ndd\n"
    assert out("-o", 5, lines) == ""                          # the end
    assert out("-o", -2, lines) == "partial\ndd\n"
    assert out("-o", -4, lines) == "bb\nccc\npartial\ndd\n"
    assert out("-o", -99, lines) == "a\nbb\nccc\npartial\ndd\n"
    assert out("--offset", "-0", lines) == ""


def test_start_past_the_end_fails(lines):
    r = tail("-o", 6, lines, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert "message 6 does not exist yet" in r.stderr
    assert "next message will be 5" in r.stderr


@pytest.fixture
def dated(mount):
    """A topic restored with arrival times 3 h, 2 h and 30 min ago, then a
    live append: starts by time and age need no sleeping."""
    p = stream(mount) + "/d"
    new_topic(p)
    now = time.time_ns()
    times = [now - 3 * 3600 * 10**9, now - 2 * 3600 * 10**9,
             now - 1800 * 10**9]
    restore(p, [(0, 0, times[0], b"old\n", 1), (4, 1, times[1], b"mid\n", 1),
                (8, 2, times[2], b"new\n", 1)])
    append(p, b"live\n")
    assert [r[4] for r in records(p)][:3] == times
    return p, times


def test_start_at_time(dated):
    p, times = dated
    assert out("-o", "@" + iso(times[1]), p) == "mid\nnew\nlive\n"
    assert out("-o", "@" + iso(times[1] + 1), p) == "new\nlive\n"
    assert out("-o", "@" + iso(times[1], offset_hours=2), p) == \
        "mid\nnew\nlive\n"
    # Epoch seconds, with or without a fraction.
    sec = "%d.%09d" % divmod(times[2], 10**9)
    assert out("-o", "@" + sec, p) == "new\nlive\n"
    assert out("-o", "@%d" % (times[0] // 10**9), p) == "old\nmid\nnew\nlive\n"
    assert out("-o", "@%d" % (time.time() + 3600), p) == ""


def test_start_by_age(dated):
    p, _ = dated
    assert out("-o", "-10m", p) == "live\n"
    assert out("-o", "-5400s", p) == "new\nlive\n"
    assert out("-o", "-150m", p) == "mid\nnew\nlive\n"
    assert out("-o", "-4h", p) == "old\nmid\nnew\nlive\n"
    assert out("-o", "-1d", p) == out("-o", "-1w", p) == \
        "old\nmid\nnew\nlive\n"


def test_expired_start_names_the_first_live_message(mount):
    """A topic restored from message 10 at byte 1000 has lost what came
    before it, as after expiry."""
    p = stream(mount) + "/x"
    new_topic(p)
    restore(p, [(1000, 10, time.time_ns() - 10**9, b"ten\neleven\n", 2)])
    r = tail("-o", 5, p, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("streamctl: %s: message 5 has expired; the first "
                        "live message is 10, at byte 1000\n" % p)
    assert out("--format", "%o %b %s\\n", p) == "10 1000 ten\n11 1004 eleven\n"
    assert out("-o", 11, p) == "eleven\n"
    assert out("-o", -5, p) == "ten\neleven\n"


# ---------------------------------------------------------------- -c, paths

def test_count_over_all_paths(mount):
    s = stream(mount)
    writes(s + "/a", b"a1\na2\na3\n")
    writes(s + "/b", b"b1\nb2\n")
    assert out("-c", 2, s + "/a", s + "/b") == "a1\na2\n"
    assert out("-c", 4, s + "/a", s + "/b") == "a1\na2\na3\nb1\n"
    assert out("--count", 99, s + "/b", s + "/a") == "b1\nb2\na1\na2\na3\n"
    assert out("-c", 1, "-o", -1, s + "/a") == "a3\n"


def test_stream_path_means_each_topic(mount):
    s = stream(mount)
    writes(s + "/b", b"b1\n")
    writes(s + "/a", b"a1\na2\n")
    with open(s + "/blob", "wb") as f:           # not a topic: skipped
        f.write(b"blob\n")
    os.close(os.open(s + "/empty", os.O_CREAT | os.O_WRONLY, 0o644))
    os.mkdir(s + "/sub")                          # a substream: not read
    writes(s + "/sub/c", b"c1\n")
    got = out("--format", "%t %s\\n", s)
    assert got == "%s/a a1\n%s/a a2\n%s/b b1\n" % (s, s, s)
    assert out("--format", "%t\\n", "-c", 1, s + "/") == s + "/a\n"


def test_missing_and_wrong_paths(mount):
    s = stream(mount)
    writes(s + "/t", b"x\n")
    with open(s + "/blob", "wb") as f:
        f.write(b"blob\n")
    r = tail(s + "/nope", s + "/t", s + "/blob", check=False)
    assert r.returncode == 1
    assert r.stdout == "x\n"                      # the others are read
    assert r.stderr.splitlines() == [
        "streamctl: %s/nope: No such file or directory" % s,
        "streamctl: %s/blob: not a topic" % s]
    r = tail("/tmp", check=False)
    assert r.returncode == 1 and "not on a streamfs mount" in r.stderr


def test_bad_command_lines(lines):
    usage_error(tail(check=False), "no PATH given")
    usage_error(tail("-x", lines, check=False), "unknown option '-x'")
    usage_error(tail("--nope", lines, check=False), "unknown option '--nope'")
    usage_error(tail(lines, "-o", check=False), "needs a value")
    for bad in ("start", "1x", "-", "--5", "-5x", "@", "@yesterday",
                "@2024-13-01", "-3q", "@1.2.3", ""):
        usage_error(tail("-o", bad, lines, check=False), "bad START")
    for bad in ("0", "-1", "x", "1k", ""):
        usage_error(tail("-c", bad, lines, check=False), "bad COUNT")
    usage_error(tail("--format", "%q", lines, check=False),
                "unknown field '%q'")
    usage_error(tail("--format", "a\\x", lines, check=False),
                "unknown escape '\\x'")
    usage_error(tail("--format", "%", lines, check=False), "unknown field")
    usage_error(tail("--format", "%s", "-J", lines, check=False),
                "--format and -J")
    usage_error(tail("-f", "-e", lines, check=False), "-e (stop at the end)")
    r = subprocess.run([str(STREAMCTL), "tail", lines], capture_output=True,
                       text=True, env=dict(os.environ, STREAMCTL_RESCAN="soon"))
    usage_error(r, "bad STREAMCTL_RESCAN 'soon'")


# ---------------------------------------------------------------- -f

class Follower:
    """streamctl tail -f ... as a child process whose output is read as it
    comes (with a timeout, never a fixed sleep)."""

    def __init__(self, *args, cmd=("tail", "-f"), env=None):
        self.proc = subprocess.Popen(
            [str(STREAMCTL)] + list(cmd) + [str(a) for a in args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, **(env or {})))
        self.buf = b""

    def lines(self, n, timeout=20):
        """The next n lines; fails if they do not come within timeout."""
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            assert left > 0, "only %r after %d s" % (self.buf, timeout)
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, "tail -f exited: %r" % self.proc.stderr.read()
                self.buf += chunk
        got = self.buf.split(b"\n")
        self.buf = b"\n".join(got[n:])
        return [l.decode() for l in got[:n]]

    def stop(self):
        """Kill it (if it still runs); what it said on stderr."""
        if self.proc.stderr.closed:
            return ""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        err = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


@pytest.fixture
def follower():
    made = []

    def start(*args, **kw):
        f = Follower(*args, **kw)
        made.append(f)
        return f
    yield start
    for f in made:
        f.stop()


def test_follow_two_topics(mount, follower):
    s = stream(mount)
    writes(s + "/a", b"a0\n")
    writes(s + "/b", b"b0\n")
    f = follower("--format", "%t %o %s\\n", s + "/a", s + "/b")
    assert f.lines(2) == ["%s/a 0 a0" % s, "%s/b 0 b0" % s]
    writes(s + "/b", b"b1\n")
    assert f.lines(1) == ["%s/b 1 b1" % s]
    writes(s + "/a", b"a1\na2\n")
    assert f.lines(2) == ["%s/a 1 a1" % s, "%s/a 2 a2" % s]
    writes(s + "/a", b"part")                    # appended at close
    assert f.lines(1) == ["%s/a 3 part" % s]
    assert f.proc.poll() is None
    assert f.stop() == ""


def test_follow_from_the_end(mount, follower):
    p = stream(mount) + "/t"
    writes(p, b"old\n")
    f = follower("-o", "end", p)
    # Until the follower has started, an append may fall before its end:
    # append until one is printed, then the next must follow it.
    n = 0
    got = []
    while not got:
        writes(p, b"probe %d\n" % n)
        n += 1
        r, _, _ = select.select([f.proc.stdout], [], [], 0.2)
        if r:
            got = f.lines(1)
    assert got[0].startswith("probe ") and "old" not in got[0]
    first = int(got[0].split()[1])
    rest = f.lines(n - 1 - first) if n - 1 > first else []
    assert rest == ["probe %d" % i for i in range(first + 1, n)]
    writes(p, b"after\n")
    assert f.lines(1) == ["after"]


def test_follow_a_stream_sees_new_topics(mount, follower):
    s = stream(mount)
    writes(s + "/a", b"a0\n")
    # No rescans: only inotify can find them.
    f = follower("--format", "%t %s\\n", s, env={"STREAMCTL_RESCAN": "0"})
    assert f.lines(1) == ["%s/a a0" % s]
    # A new topic by echo >> (created, then written).
    run(["sh", "-c", "echo n0 >> %s/new; echo n1 >> %s/new" % (s, s)])
    assert f.lines(2) == ["%s/new n0" % s, "%s/new n1" % s]
    # A file without a kind for a while, then written through O_APPEND.
    fd = os.open(s + "/later", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        writes(s + "/a", b"a1\n")
        assert f.lines(1) == ["%s/a a1" % s]
        os.write(fd, b"l0\n")
        assert f.lines(1) == ["%s/later l0" % s]
    finally:
        os.close(fd)
    # One made empty by streamctl create-topic, then appended to.
    run([STREAMCTL, "create-topic", s + "/made"])
    writes(s + "/made", b"m0\n")
    assert f.lines(1) == ["%s/made m0" % s]
    # One moved in from another stream, with what it holds.
    other = stream(mount, "other")
    writes(other + "/moved", b"v0\n")
    os.rename(other + "/moved", s + "/moved")
    assert f.lines(1) == ["%s/moved v0" % s]
    writes(s + "/moved", b"v1\n")
    assert f.lines(1) == ["%s/moved v1" % s]
    # Blobs stay out.
    with open(s + "/blob", "wb") as b:
        b.write(b"blob\n")
    writes(s + "/a", b"a2\n")
    assert f.lines(1) == ["%s/a a2" % s]
    assert f.stop() == ""


def test_follow_count_stops(mount, follower):
    p = stream(mount) + "/t"
    writes(p, b"x0\n")
    f = follower("-c", 3, p)
    assert f.lines(1) == ["x0"]
    writes(p, b"x1\nx2\nx3\n")
    assert f.lines(2) == ["x1", "x2"]
    assert f.proc.wait(timeout=20) == 0
    assert f.proc.stdout.read() == b""


def test_follower_told_of_messages_that_expired_unread(mount, follower):
    """A follower stopped while its topic's head expires past what it had
    read says how many messages it missed, and goes on with the live
    ones."""
    s = stream(mount)
    os.setxattr(s, PFX + "retention_bytes", b"1k")
    p = s + "/t"
    writes(p, b"first\n")
    f = follower("--format", "%o %s\\n", p)
    assert f.lines(1) == ["0 first"]
    f.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(1, 101):
            writes(p, b"%05d %s\n" % (i, b"y" * 40))
        assert wait_for(lambda: info(p)["first_message"] > 1, timeout=20)
    finally:
        f.proc.send_signal(signal.SIGCONT)
    first = info(p)["first_message"]
    got = f.lines(101 - first)
    assert got == ["%d %05d %s" % (i, i, "y" * 40) for i in range(first, 101)]
    err = f.stop()
    assert err == "streamctl: %s: %d messages expired before they were " \
        "read\n" % (p, first - 1)


def test_all_expired(mount):
    s = stream(mount)
    os.setxattr(s, PFX + "retention_bytes", b"1")
    p = s + "/t"
    writes(p, b"gone\n")
    assert wait_for(lambda: info(p)["messages"] == 0, timeout=20)
    r = tail("-o", 0, p, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("streamctl: %s: message 0 has expired; no message is "
                        "live (the next will be message 1, at byte 5)\n" % p)
    assert out(p) == out("-o", -3, p) == out("-o", "@0", p) == ""
