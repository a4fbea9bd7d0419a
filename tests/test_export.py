"""streamctl export and import (issue 7, point 5): topics survive a backup
and restore as topics, with the same messages, boundaries, message and
byte offsets and arrival times, and streams with their policies and ACEs;
the export file (docs/format.md, "Export files") is checked whole before
anything is made, and a damaged one is refused with the byte offset of the
damage."""
import os
import struct

import pytest

from util import BUILD, PFX, append, info, read, run

STREAMCTL = BUILD / "tools" / "streamctl"


def ctl(*args, check=True):
    return run([STREAMCTL] + [str(a) for a in args], check=check)


def export(path_list, out):
    with open(out, "wb") as f:
        r = run(["sh", "-c", '"$0" export "$@"', STREAMCTL] +
                [str(p) for p in path_list], check=False, binary=True)
        f.write(r.stdout)
    return r


def records(path):
    out, off = [], 0
    while True:
        text = os.getxattr(path, PFX + "index.%d" % off).decode()
        if not text:
            return out
        for line in text.splitlines():
            out.append(tuple(int(x) for x in line.split()))
        off = out[-1][0] + out[-1][1]


def attrs(path):
    return {n: os.getxattr(path, n) for n in os.listxattr(path)
            if n != PFX + "kind"}


def snapshot(root):
    """Everything an import must reproduce, by relative path."""
    snap = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        snap[rel] = attrs(d)
        for name in files:
            p = os.path.join(d, name)
            if os.getxattr(p, PFX + "kind") == b"topic":
                snap[os.path.normpath(os.path.join(rel, name))] = (
                    records(p), read(p), attrs(p))
    return snap


def items(data):
    """(offset, type, body) of each item of an export file."""
    assert data[:8] == b"SFEXPORT"
    out, at = [], 16
    while at < len(data):
        crc, n, t = struct.unpack_from("<IIB", data, at)
        out.append((at, t, data[at + 9:at + 9 + n]))
        at += 9 + n
    return out


@pytest.fixture
def source(mount):
    s = mount.mnt + "/s"
    os.makedirs(s + "/w")
    os.setxattr(s, PFX + "ttl", b"7d")
    os.setxattr(s, PFX + "durability", b"batch")
    os.setxattr(s, PFX + "ace.consume", b"p")
    os.setxattr(s + "/w", PFX + "framing", b"write")
    os.setxattr(s + "/w", PFX + "max_message", b"4k")
    os.setxattr(s + "/w", PFX + "ace.produce", b"u:0 | g:0")
    os.setxattr(s + "/w", PFX + "ace.admin", b"u:0")
    append(s + "/lines", b"one\ntwo\nthree\n")          # one record
    append(s + "/lines", b"four\n")
    fd = os.open(s + "/lines", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"five\nsix")                          # six: at close
    os.close(fd)
    for msg in (b"\x00\x01\n\n", b"a\nb", b"\xff" * 3000, b"\n"):
        append(s + "/w/bin", msg)
    ctl("create-topic", s + "/w/empty")
    with open(s + "/blob", "wb") as f:
        f.write(b"not exported")
    return s


def test_round_trip(mount, source, tmp_path):
    f1, f2 = tmp_path / "1", tmp_path / "2"
    r = export([source], f1)
    assert r.returncode == 0
    assert r.stderr == b"streamctl: %s/blob: not exported (a blob)\n" \
        % source.encode()
    before = snapshot(source)
    assert "blob" not in before and "w/empty" in before
    ctl("import", f1, mount.mnt + "/r")
    assert snapshot(mount.mnt + "/r") == before
    recs = records(mount.mnt + "/r/lines")
    assert [r[1:4] for r in recs] == [(14, 3, 0), (5, 1, 3), (5, 1, 4),
                                      (3, 1, 5)]
    assert [r[1:4] for r in records(mount.mnt + "/r/w/bin")] == \
        [(4, 1, 0), (3, 1, 1), (3000, 1, 2), (1, 1, 3)]
    i = info(mount.mnt + "/r/lines")
    assert (i["first_time"], i["last_time"]) == (recs[0][4], recs[-1][4])
    assert os.getxattr(mount.mnt + "/r/lines", PFX + "seek.time.%d"
                       % (recs[1][4])) == b"14"
    # The file has nothing of the mount: exporting again gives its bytes.
    assert export([mount.mnt + "/r"], f2).returncode == 0
    assert f2.read_bytes() == f1.read_bytes()
    mount.restart()
    assert snapshot(mount.mnt + "/r") == before


def test_topics_and_several_paths_become_entries(mount, source, tmp_path):
    f = tmp_path / "f"
    assert export([source + "/lines", source + "/w"], f).returncode == 0
    ctl("import", f, mount.mnt + "/r")
    assert sorted(os.listdir(mount.mnt + "/r")) == ["lines", "w"]
    assert records(mount.mnt + "/r/lines") == records(source + "/lines")
    assert attrs(mount.mnt + "/r/w") == attrs(source + "/w")
    assert read(mount.mnt + "/r/w/bin") == read(source + "/w/bin")
    r = export([source + "/lines", mount.mnt + "/r/lines"], f)
    assert r.returncode == 2 and b"two PATHs named 'lines'" in r.stderr


def refused(mount, f, dest):
    r = ctl("import", f, dest, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert not os.path.exists(dest)
    assert [n for n in os.listdir(os.path.dirname(dest))
            if ".import-" in n] == []
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_a_damaged_file_is_refused_with_the_position(mount, source,
                                                     tmp_path):
    f = tmp_path / "f"
    export([source], f)
    data = f.read_bytes()
    dest = mount.mnt + "/r"
    for at, t, body in items(data):
        if t == 3 and b"\xff" * 100 in body:
            big = at
    bad = bytearray(data)
    bad[big + 200] ^= 0x10
    f.write_bytes(bytes(bad))
    assert refused(mount, f, dest) == \
        "streamctl: %s: damaged at byte %d: checksum mismatch" % (f, big)
    # Truncated inside an item, and exactly between two.
    f.write_bytes(data[:big + 500])
    assert refused(mount, f, dest) == "streamctl: %s: truncated at byte " \
        "%d: the item there is incomplete" % (f, big)
    f.write_bytes(data[:big])
    assert refused(mount, f, dest) == "streamctl: %s: truncated at byte " \
        "%d: the end item is missing" % (f, big)
    f.write_bytes(data[:5])
    assert "truncated at byte 0" in refused(mount, f, dest)
    f.write_bytes(b"SFEXPORX" + data[8:])
    assert "damaged at byte 0: not a streamfs export file" in \
        refused(mount, f, dest)
    # A damaged item late in the file: nothing before it was made either.
    last = items(data)[-2][0]
    bad = bytearray(data)
    bad[last + 12] ^= 1
    f.write_bytes(bytes(bad))
    assert "damaged at byte %d" % last in refused(mount, f, dest)


def build(entries):
    """An export file built as docs/format.md says."""
    def crc32c(data, crc=0):
        crc ^= 0xffffffff
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
        return crc ^ 0xffffffff
    head = b"SFEXPORT" + struct.pack("<I", 1)
    out = head + struct.pack("<I", crc32c(head))
    for t, body in entries + [(4, struct.pack("<Q", len(entries)))]:
        rest = struct.pack("<IB", len(body), t) + body
        out += struct.pack("<I", crc32c(rest)) + rest
    return out


def path(p):
    return struct.pack("<H", len(p)) + p


def record(off, msg, ns, nmsgs, data):
    return (3, struct.pack("<QQqI", off, msg, ns, nmsgs) + data)


def test_the_format_as_documented(mount, tmp_path):
    f = tmp_path / "f"
    ns = 1_700_000_000 * 10**9
    # A topic that starts past 0, as after expiry.
    f.write_bytes(build([(2, path(b"t")), record(100, 7, ns, 2, b"a\nb\n"),
                         record(104, 9, ns + 1, 1, b"c")]))
    ctl("import", f, mount.mnt + "/r")
    t = mount.mnt + "/r/t"
    i = info(t)
    assert (i["first_offset"], i["first_message"], i["size"]) == (100, 7, 105)
    assert (i["first_time"], i["last_time"]) == (ns, ns + 1)
    assert records(t) == [(100, 4, 2, 7, ns), (104, 1, 1, 9, ns + 1)]
    # What the format forbids is refused before anything is made.
    for bad, why in [
            ([(2, path(b"t")), record(0, 0, ns, 1, b"a"),
              record(2, 1, ns, 1, b"b")], "does not continue its topic"),
            ([(2, path(b"t")), record(0, 0, ns, 1, b"a"),
              record(1, 1, ns - 1, 1, b"b")], "arrived before"),
            ([(2, path(b"t")), record(0, 0, ns, 2, b"a\nb")], "not lines"),
            ([(2, path(b"d/t"))], "before the stream that holds it"),
            ([(2, path(b"../t"))], "a malformed path"),
            ([(2, path(b"t")), (2, path(b"t"))], "a path given twice"),
            ([record(0, 0, ns, 1, b"a")], "a record outside a topic")]:
        f.write_bytes(build(bad))
        line = refused(mount, f, mount.mnt + "/q")
        assert "damaged at byte " in line and why in line, line


def test_import_into_what_exists_is_refused(mount, source, tmp_path):
    f = tmp_path / "f"
    export([source], f)
    r = ctl("import", f, source + "/w", check=False)
    assert r.returncode == 1
    assert r.stderr == "streamctl: %s/w: already exists (import makes a " \
        "new stream; move topics into another with mv)\n" % source
    assert records(source + "/w/bin")[0][1] == 4

