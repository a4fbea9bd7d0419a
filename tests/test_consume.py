"""streamctl consume against a real mount: a group sees each message once
over runs in a row, a run whose output fails commits nothing and the next
prints it all again (at-least-once), -f commits as it goes, streams and
groups keep cursors of their own, and the error contract."""
import os
import subprocess

import pytest

from util import BUILD, PFX, info, run, wait_for
from test_tail import Follower, stream, writes

STREAMCTL = BUILD / "tools" / "streamctl"


def consume(*args, check=True, **kw):
    return run([STREAMCTL, "consume"] + [str(a) for a in args], check=check,
               **kw)


def out(*args):
    return consume(*args).stdout


def cursor(path, group):
    try:
        return int(os.getxattr(path, PFX + "cursor." + group))
    except OSError:
        return None


@pytest.fixture
def follower():
    made = []

    def start(*args):
        f = Follower(*args, cmd=("consume",))
        made.append(f)
        return f
    yield start
    for f in made:
        f.stop()


def test_help():
    h = out("--help")
    assert h.startswith("Usage: streamctl consume")
    for word in ("-g", "-f", "-c", "--format", "-J", "at-least-once"):
        assert word in h, word


def test_runs_in_a_row_print_each_message_once(mount):
    p = stream(mount) + "/t"
    writes(p, b"m0\nm1\n", b"m2")
    assert cursor(p, "g") is None
    assert out("-g", "g", p) == "m0\nm1\nm2\n"
    assert cursor(p, "g") == info(p)["size"]
    assert out("-g", "g", p) == ""
    writes(p, b"m3\n", b"m4\n")
    assert out("-g", "g", p) == "m3\nm4\n"
    assert out("-g", "g", p) == ""
    # Another group has a cursor of its own.
    assert out("-g", "other", p) == "m0\nm1\nm2\nm3\nm4\n"


def test_count_commits_what_it_printed(mount):
    p = stream(mount) + "/t"
    writes(p, b"a\nb\nc\nd\n")
    assert out("-g", "g", "-c", 3, p) == "a\nb\nc\n"
    assert cursor(p, "g") == 6           # right after "c\n", inside a record
    assert out("-g", "g", "--format", "%o %s\\n", p) == "3 d\n"


def test_failed_output_commits_nothing(mount):
    """At-least-once: output that could not be written is not committed,
    so the next run prints the same messages again."""
    p = stream(mount) + "/t"
    writes(p, b"x\ny\n")
    assert out("-g", "g", "-c", 1, p) == "x\n"
    r = subprocess.run("%s consume -g g %s > /dev/full" % (STREAMCTL, p),
                       shell=True, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == "streamctl: standard output: No space left on " \
        "device\n"
    assert cursor(p, "g") == 2
    assert out("-g", "g", p) == "y\n"


def test_killed_run_prints_again(mount):
    """A run killed while it writes its output (more than a pipe holds, to
    a reader that stopped reading) has committed nothing: the next run
    prints everything again."""
    p = stream(mount) + "/t"
    body = b"".join(b"%08d\n" % i for i in range(100000))     # 900 KB
    writes(p, body)
    proc = subprocess.Popen([str(STREAMCTL), "consume", "-g", "g", p],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.read(9) == b"00000000\n"   # it is writing
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert cursor(p, "g") is None
    assert consume("-g", "g", p, binary=True).stdout == body
    assert cursor(p, "g") == len(body)
    assert out("-g", "g", p) == ""


def test_follow_commits_as_it_goes(mount, follower):
    s = stream(mount)
    p = s + "/t"
    writes(p, b"f0\n")
    f = follower("-g", "g", "-f", p)
    assert f.lines(1) == ["f0"]
    assert wait_for(lambda: cursor(p, "g") == 3, timeout=20)
    writes(p, b"f1\nf2\n")
    assert f.lines(2) == ["f1", "f2"]
    assert wait_for(lambda: cursor(p, "g") == 9, timeout=20)
    assert f.stop() == ""
    # What it committed is not printed again; what came since is.
    writes(p, b"f3\n")
    assert out("-g", "g", p) == "f3\n"


def test_stream_keeps_a_cursor_per_topic(mount, follower):
    s = stream(mount)
    writes(s + "/a", b"a0\n")
    writes(s + "/b", b"b0\nb1\n")
    assert out("-g", "g", "--format", "%t %s\\n", s) == \
        "%s/a a0\n%s/b b0\n%s/b b1\n" % (s, s, s)
    assert (cursor(s + "/a", "g"), cursor(s + "/b", "g")) == (3, 6)
    writes(s + "/b", b"b2\n")
    assert out("-g", "g", s) == "b2\n"
    # Following the stream: a new topic, read from its first message.
    f = follower("-g", "g", "-f", "--format", "%t %s\\n", s)
    writes(s + "/c", b"c0\n")
    assert f.lines(1) == ["%s/c c0" % s]
    assert wait_for(lambda: cursor(s + "/c", "g") == 3, timeout=20)
    assert f.stop() == ""
    assert out("-g", "g", s) == ""


def test_bad_command_lines(mount):
    p = stream(mount) + "/t"
    writes(p, b"x\n")

    def usage_error(r, words):
        assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stderr)
        assert r.stderr.startswith("streamctl: consume: "), r.stderr
        assert words in r.stderr and len(r.stderr.splitlines()) == 1
    usage_error(consume(p, check=False), "no GROUP given")
    usage_error(consume("-g", "g", check=False), "no PATH given")
    for bad in ("", ".", "..", "a/b", "a b", "x" * 201, "é"):
        usage_error(consume("-g", bad, p, check=False), "bad GROUP")
    usage_error(consume("-g", "g", "-c", 0, p, check=False), "bad COUNT")
    usage_error(consume("-g", "g", "--format", "%s", "-J", p, check=False),
                "--format and -J")
    usage_error(consume("-g", "g", "--format", "%z", p, check=False),
                "unknown field")
    usage_error(consume("-g", "g", "-o", 1, p, check=False),
                "unknown option '-o'")
    assert cursor(p, "g") is None                 # nothing was touched


def test_missing_path(mount):
    s = stream(mount)
    writes(s + "/t", b"x\n")
    r = consume("-g", "g", s + "/nope", s + "/t", check=False)
    assert r.returncode == 1
    assert r.stdout == "x\n"
    assert r.stderr == "streamctl: %s/nope: No such file or directory\n" % s
    assert cursor(s + "/t", "g") == 2
