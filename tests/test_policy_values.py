"""The numbers of ttl, max_message and retention_bytes: every suffix the
documentation lists (read from it, as tests/test_docs.py does) is taken in
either case and shown in canonical form (plain seconds or bytes), bad
values are refused with EINVAL and change nothing, and streamctl policy
accepts exactly what the daemon accepts."""
import errno
import os

import pytest

from test_docs import documented
from util import BUILD, PFX, assert_errno, getx, run

STREAMCTL = BUILD / "tools" / "streamctl"
U64_MAX = 2**64 - 1
# What each documented letter means (docs/design.md, "Attributes").
SIZE_MUL = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
TIME_MUL = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_MESSAGE_LIMIT = 64 << 20
KEEP = {"max_message": "4096", "ttl": "77", "retention_bytes": "12345"}


def stream(mount):
    d = mount.mnt + "/s"
    os.mkdir(d)
    for name, v in KEEP.items():
        os.setxattr(d, PFX + name, v.encode())
    return d


def ctl_sets(d, name, value):
    """streamctl policy D NAME=VALUE: its exit status (2: it refused the
    value itself, nothing was sent)."""
    return run([STREAMCTL, "policy", d, "%s=%s" % (name, value)],
               check=False).returncode


def suffixes():
    size, secs = documented()["design.md"]
    assert size == set(SIZE_MUL) and secs == set(TIME_MUL), (size, secs)
    return size, secs


def test_every_documented_suffix_is_taken_in_canonical_form(mount):
    d = stream(mount)
    size, secs = suffixes()
    cases = [("ttl", c, TIME_MUL[c]) for c in sorted(secs)] + \
        [("retention_bytes", c, SIZE_MUL[c]) for c in sorted(size)] + \
        [("max_message", c, SIZE_MUL[c]) for c in sorted(size)]
    for name, c, mul in cases:
        for letter in (c, c.upper()):
            value = "3" + letter
            if name == "max_message" and 3 * mul > MAX_MESSAGE_LIMIT:
                assert_errno(errno.EINVAL, os.setxattr, d, PFX + name,
                             value.encode())
                assert ctl_sets(d, name, value) == 2
                continue
            os.setxattr(d, PFX + name, value.encode())
            assert getx(d, name) == str(3 * mul), (name, value)
            os.setxattr(d, PFX + name, b"1")
            assert ctl_sets(d, name, value) == 0, (name, value)
            assert getx(d, name) == str(3 * mul), (name, value)
    for name, value, shown in [
            ("ttl", "0", "0"), ("ttl", "45", "45"), ("ttl", "0w", "0"),
            ("ttl", "007", "7"), ("ttl", "0" * 30 + "5m", "300"),
            ("ttl", "5\n", "5"),            # one newline, as echo leaves
            ("ttl", str(U64_MAX), str(U64_MAX)),
            ("ttl", "%dw" % (U64_MAX // TIME_MUL["w"]),
             str(U64_MAX // TIME_MUL["w"] * TIME_MUL["w"])),
            ("retention_bytes", "0", "0"),
            ("retention_bytes", str(U64_MAX), str(U64_MAX)),
            ("retention_bytes", "%dT" % (U64_MAX >> 40),
             str((U64_MAX >> 40) << 40)),
            ("max_message", "64m", str(MAX_MESSAGE_LIMIT)),
            ("max_message", "65536K", str(MAX_MESSAGE_LIMIT)),
            ("max_message", "1", "1")]:
        os.setxattr(d, PFX + name, value.encode())
        assert getx(d, name) == shown, (name, value)


BAD = ["", " ", "k", "s", "1kk", "1 k", " 1", "1 ", "+1", "-1", "1.5",
       "0x10", "1e3", "1k\n\n", "1\n2", "1\0", "1ki", "k1", "\u00b5"]


@pytest.mark.parametrize("name,extra", [
    ("ttl", ["1k", "1y", "1ms", str(U64_MAX + 1), "1" + "0" * 20,
             "%dw" % (U64_MAX // TIME_MUL["w"] + 1),
             "%dd" % (U64_MAX // TIME_MUL["d"] + 1)]),
    ("retention_bytes", ["1s", "1b", "1p", str(U64_MAX + 1),
                         "%dt" % ((U64_MAX >> 40) + 1),
                         "%dk" % ((U64_MAX >> 10) + 1)]),
    ("max_message", ["0", "0k", "1h", str(MAX_MESSAGE_LIMIT + 1), "1g",
                     "1t", "65m", str(U64_MAX + 1)]),
])
def test_bad_numbers_are_einval_and_change_nothing(mount, name, extra):
    d = stream(mount)
    for value in BAD + extra:
        assert_errno(errno.EINVAL, os.setxattr, d, PFX + name,
                     value.encode())
        assert getx(d, name) == KEEP[name], "%r changed it" % value
        if "\0" not in value:
            assert ctl_sets(d, name, value) == 2, value
            assert getx(d, name) == KEEP[name], "%r changed it" % value


@pytest.mark.parametrize("value", [
    str(U64_MAX), str(U64_MAX + 1), "0" * 24 + "1", "0" * 40 + "1k",
    "%dk" % (U64_MAX >> 10), "%dk" % ((U64_MAX >> 10) + 1),
    "%dw" % (U64_MAX // TIME_MUL["w"]), "%dM" % (U64_MAX >> 20), "3W",
])
def test_streamctl_takes_what_the_daemon_takes(mount, value):
    """At the edges (64 bits, long runs of leading zeros) streamctl's own
    check agrees with the daemon's: it never passes on a value the daemon
    then refuses (exit 1), nor refuses one the daemon takes."""
    d = stream(mount)
    for name in ("ttl", "retention_bytes"):
        try:
            os.setxattr(d, PFX + name, value.encode())
            daemon_ok = True
        except OSError as e:
            assert e.errno == errno.EINVAL
            daemon_ok = False
        os.setxattr(d, PFX + name, KEEP[name].encode())
        status = ctl_sets(d, name, value)
        assert status in (0, 2), (name, value, status)
        assert (status == 0) == daemon_ok, (name, value, daemon_ok)
