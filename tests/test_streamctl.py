"""streamctl, the admin tool, against a real mount: topic info, stream
policies, explicit topics, seek by message or time, and its error contract
(exit non-zero, one line "streamctl: PATH: what went wrong", nothing
changed)."""
import datetime
import os
import re
import time

import pytest

from util import BUILD, PFX, append, getx, info, kind, read, run, sh

STREAMCTL = BUILD / "tools" / "streamctl"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DEFAULTS = ["framing=line", "max_message=1048576", "ttl=0",
            "retention_bytes=0", "durability=os", "autocreate=yes"]


@pytest.fixture(autouse=True)
def built():
    if not os.access(str(STREAMCTL), os.X_OK):
        pytest.fail("no streamctl at %s (build first, or set STREAMFS_BUILD)"
                    % STREAMCTL)


def ctl(*args, check=True):
    return run([STREAMCTL] + [str(a) for a in args], check=check)


def fails(r, status=None):
    """r failed with exactly one line "streamctl: ..." on stderr and printed
    nothing; returns that line."""
    assert r.returncode != 0, r.stdout
    if status is not None:
        assert r.returncode == status, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("streamctl: "), lines[0]
    return lines[0]


def records(text):
    """`info` output -> list of {key: value} dicts."""
    out = []
    for block in text.strip().split("\n\n"):
        rec = {}
        for line in block.splitlines():
            key, sep, val = line.partition(":")
            assert sep, "malformed line %r" % line
            rec[key] = val.strip()
        out.append(rec)
    return out


def iso_ms(ns):
    t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ns // 10**6 % 1000)


def stream(mount, name="s"):
    p = os.path.join(mount.mnt, name)
    os.makedirs(p, exist_ok=True)
    return p


# ---------------------------------------------------------------- help

def test_help_and_version():
    r = ctl("--help")
    assert r.stdout.startswith("Usage: streamctl")
    for cmd in ("info", "policy", "create-topic", "seek"):
        assert cmd in r.stdout
        assert ctl(cmd, "--help").stdout.startswith("Usage: streamctl " + cmd)
        assert ctl(cmd, "-h").stdout == ctl("help", cmd).stdout
    assert ctl("-h").stdout == r.stdout
    assert re.match(r"^streamctl \S+\n$", ctl("--version").stdout)


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["--bogus"], ["info"], ["info", "-x", "/"],
    ["policy"], ["create-topic"], ["seek", "/"], ["seek", "/", "-m"],
    ["seek", "/", "-m", "1", "-t", "0"], ["seek", "/", "-m", "-1"],
    ["seek", "/", "-t", "2024-02-30T00:00:00Z"], ["seek", "/", "-t", "soon"],
    ["seek", "/", "-t", "2999-01-01"],
])
def test_usage_errors_are_one_line_and_exit_2(args):
    fails(ctl(*args, check=False), status=2)


# ---------------------------------------------------------------- info

def test_info_on_a_topic(mount):
    t = mount.mnt + "/t"
    sh("cd %s && sh -c 'echo a >> t; echo b >> t'" % mount.mnt)
    raw = info(t)
    [rec] = records(ctl("info", t).stdout)
    assert rec["path"] == t
    assert rec["kind"] == "topic"
    assert rec["messages"] == "2"
    assert (rec["first_message"], rec["last_message"]) == ("0", "1")
    assert rec["first_offset"] == "0"
    assert rec["size"] == "4"
    assert ISO_MS.match(rec["first_time"]) and ISO_MS.match(rec["last_time"])
    assert rec["first_time"] == iso_ms(raw["first_time"])
    assert rec["last_time"] == iso_ms(raw["last_time"])
    assert rec["first_time"] <= rec["last_time"]
    now = time.time_ns()
    assert now - 60 * 10**9 < raw["first_time"] <= now


def test_info_on_an_empty_topic_stream_blob_and_several_paths(mount):
    s = stream(mount)
    ctl("create-topic", s + "/empty")
    sh("echo hello > %s/blob" % s)
    out = ctl("info", s + "/empty", s, s + "/blob").stdout
    empty, st, blob = records(out)
    assert empty["kind"] == "topic" and empty["messages"] == "0"
    assert empty["size"] == "0" and empty["first_message"] == "-"
    assert empty["first_time"] == "-"
    assert st == dict(path=s, kind="stream", framing="line",
                      max_message="1048576", ttl="0", retention_bytes="0",
                      durability="os", autocreate="yes")
    assert blob == dict(path=s + "/blob", kind="blob", size="6")


def test_info_reports_each_bad_path_and_goes_on(mount):
    sh("echo a >> %s/t" % mount.mnt)
    r = ctl("info", mount.mnt + "/missing", mount.mnt + "/t", check=False)
    assert r.returncode == 1
    assert r.stderr == "streamctl: %s/missing: No such file or directory\n" \
        % mount.mnt
    assert records(r.stdout)[0]["messages"] == "1"


def test_info_off_streamfs_fails_with_a_clear_line(tmp_path):
    f = tmp_path / "plain"
    f.write_text("a\nb\n")
    for p in (f, tmp_path):
        line = fails(ctl("info", p, check=False), status=1)
        assert line == "streamctl: %s: not on a streamfs mount" % p


# ---------------------------------------------------------------- policy

def test_policy_set_and_list_round_trip(mount):
    s = stream(mount)
    assert ctl("policy", s).stdout.splitlines() == DEFAULTS
    r = ctl("policy", s, "ttl=90s", "framing=write", "max_message=2k",
            "retention_bytes=1m", "durability=batch", "autocreate=no")
    assert r.stdout == "" and r.stderr == ""
    want = ["framing=write", "max_message=2048", "ttl=90",
            "retention_bytes=1048576", "durability=batch", "autocreate=no"]
    assert ctl("policy", s).stdout.splitlines() == want
    assert ctl("policy", s, "ttl", "framing").stdout == "ttl=90\nframing=write\n"
    assert getx(s, "ttl") == "90"
    # The listing is what sets them: feed it back to another stream.
    t = stream(mount, "t")
    ctl("policy", t, *want)
    assert ctl("policy", t).stdout.splitlines() == want
    # A new substream copies its parent's policies.
    os.mkdir(s + "/sub")
    assert ctl("policy", s + "/sub").stdout.splitlines() == want


@pytest.mark.parametrize("arg", [
    "ttl=banana", "ttl=-1", "ttl=", "max_message=0", "max_message=65m",
    "framing=lines", "durability=never", "retention_bytes=1x",
    "autocreate=maybe", "autocreate=Yes",
])
def test_policy_bad_value_changes_nothing(mount, arg):
    s = stream(mount)
    ctl("policy", s, "ttl=60", "max_message=4k")
    before = ctl("policy", s).stdout
    name = arg.split("=")[0]
    # Valid settings before the bad one are not applied either.
    r = ctl("policy", s, "durability=always", "framing=write", arg,
            check=False)
    line = fails(r)
    assert line.startswith("streamctl: %s: invalid value for %s" % (s, name))
    assert ctl("policy", s).stdout == before
    assert getx(s, "ttl") == "60"


def test_policy_errors(mount):
    s = stream(mount)
    sh("echo a >> %s/t" % s)
    line = fails(ctl("policy", s, "colour=blue", check=False), status=2)
    assert "unknown policy 'colour'" in line
    line = fails(ctl("policy", s + "/t", check=False), status=1)
    assert line == "streamctl: %s/t: not a stream (policies belong to " \
        "directories)" % s
    line = fails(ctl("policy", s + "/nope", "ttl=1", check=False), status=1)
    assert line.endswith("No such file or directory")


def test_policy_off_streamfs_touches_nothing(tmp_path):
    line = fails(ctl("policy", tmp_path, "ttl=1", check=False), status=1)
    assert line == "streamctl: %s: not on a streamfs mount" % tmp_path
    assert not [a for a in os.listxattr(tmp_path) if a.startswith(PFX)]


def test_policy_recursive(mount):
    s = stream(mount)
    os.makedirs(s + "/a/b")
    os.mkdir(s + "/c")
    sh("echo x >> %s/a/topic" % s)
    ctl("policy", "-R", s, "durability=always", "ttl=1h")
    for d in ("", "/a", "/a/b", "/c"):
        assert getx(s + d, "durability") == "always", d
        assert getx(s + d, "ttl") == "3600", d
    assert getx(mount.mnt, "durability") == "os"   # the parent is untouched
    out = ctl("policy", "-R", s, "ttl").stdout
    assert out == "".join("%s%s:\nttl=3600\n" % ("\n" if d else "", s + d)
                          for d in ("", "/a", "/a/b", "/c"))


@pytest.mark.mount_options("allow_other")
def test_policy_needs_admin(mount, other_user):
    s = stream(mount)
    os.chmod(mount.mnt, 0o755)
    os.chmod(s, 0o777)
    r = other_user.run([STREAMCTL, "policy", s, "ttl=5"])
    line = fails(r, status=1)
    assert line.startswith("streamctl: %s: cannot set ttl: " % s), line
    assert getx(s, "ttl") == "0"
    # Reading is open to everyone.
    assert other_user.run([STREAMCTL, "policy", s]).stdout.splitlines() == \
        DEFAULTS


# ---------------------------------------------------------------- create-topic

def test_create_topic(mount):
    s = stream(mount)
    ctl("create-topic", s + "/a", s + "/b")
    for name in ("a", "b"):
        assert kind("%s/%s" % (s, name)) == "topic"
        assert os.stat("%s/%s" % (s, name)).st_size == 0
    assert info(s + "/a")["messages"] == 0
    sh("echo one >> %s/a" % s)
    assert info(s + "/a")["messages"] == 1
    # Again: a topic stays what it is.
    ctl("create-topic", s + "/a")
    assert read(s + "/a") == b"one\n"
    # An empty file without a kind becomes a topic.
    open(s + "/new", "w").close()
    assert kind(s + "/new") is None
    ctl("create-topic", s + "/new")
    assert kind(s + "/new") == "topic"


def test_create_topic_refuses_other_kinds(mount):
    s = stream(mount)
    sh("echo data > %s/blob" % s)
    line = fails(ctl("create-topic", s + "/blob", check=False), status=1)
    assert line == "streamctl: %s/blob: already exists as a blob" % s
    assert kind(s + "/blob") == "blob" and read(s + "/blob") == b"data\n"
    line = fails(ctl("create-topic", s, check=False), status=1)
    assert line == "streamctl: %s: already exists as a stream" % s
    line = fails(ctl("create-topic", s + "/no/t", check=False), status=1)
    assert line.endswith("No such file or directory")
    # Names are checked before anything is created.
    r = ctl("create-topic", s + "/ok", s + "/" + "x" * 256, check=False)
    assert "longer than 255 bytes" in fails(r, status=2)
    assert not os.path.exists(s + "/ok")


def test_create_topic_off_streamfs_creates_nothing(tmp_path):
    p = tmp_path / "t"
    line = fails(ctl("create-topic", p, check=False), status=1)
    assert line == "streamctl: %s: not on a streamfs mount" % p
    assert not p.exists()


# ---------------------------------------------------------------- seek

def test_seek_by_message_and_time(mount):
    t = mount.mnt + "/t"
    times = []
    for line in (b"a\n", b"bb\n", b"ccc\n"):
        append(t, line)
        times.append(info(t)["last_time"])
        time.sleep(0.02)
    assert [ctl("seek", t, "--message", n).stdout for n in range(3)] == \
        ["0\n", "2\n", "5\n"]
    assert ctl("seek", t, "-m", "1").stdout == "2\n"
    assert ctl("seek", t, "--message=2").stdout == "5\n"
    line = fails(ctl("seek", t, "--message", 3, check=False), status=1)
    assert line == "streamctl: %s: no message 3 (past the end of the " \
        "topic)" % t
    assert ctl("seek", t, "--time", 0).stdout == "0\n"
    assert ctl("seek", t, "--time", times[1]).stdout == "2\n"
    assert ctl("seek", t, "--time", times[1] + 1).stdout == "5\n"
    assert ctl("seek", t, "-t", iso_ms(times[1])).stdout == "2\n"
    assert ctl("seek", t, "-t", "2200-01-01").stdout == "9\n"
    assert ctl("seek", t, "-t", "1970-01-01T00:00:00Z").stdout == "0\n"
    # An offset is applied: 12:00+02:00 is 10:00Z.
    ns = (times[2] // 10**9 + 1) * 10**9
    local = datetime.datetime.fromtimestamp(
        ns // 10**9, datetime.timezone(datetime.timedelta(hours=2)))
    assert ctl("seek", t, "-t", local.isoformat()).stdout == "9\n"


def test_seek_on_what_is_not_a_topic(mount):
    s = stream(mount)
    sh("echo x > %s/blob" % s)
    open(s + "/none", "w").close()
    for p, why in ((s + "/blob", " (it is a blob)"), (s, " (it is a stream)"),
                   (s + "/none", "")):
        line = fails(ctl("seek", p, "-m", 0, check=False), status=1)
        assert line == "streamctl: %s: not a topic%s" % (p, why)
