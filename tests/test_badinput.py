"""Issue 2, point 9: bad input gets a clear error and loses nothing -
unknown and malformed attributes, and a full disk."""
import errno
import os

import pytest

from util import (PFX, append, assert_errno, getx, info, read, run, sh,
                  wait_for)

POLICIES = {"framing": "line", "max_message": "1048576", "ttl": "0",
            "retention_bytes": "0", "durability": "os", "autocreate": "yes"}


def test_default_policies_are_listed(mount):
    out = sh("getfattr -d -m user.streamfs %s" % mount.mnt).stdout
    got = {}
    for line in out.splitlines():
        if line.startswith(PFX):
            k, _, v = line[len(PFX):].partition("=")
            got[k] = v.strip('"')
    assert got == POLICIES


def test_unknown_streamfs_attribute(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    append(m + "/s/t", b"x\n")
    for p in (m + "/s", m + "/s/t", m):
        assert_errno(errno.EINVAL, os.setxattr, p, PFX + "foo", b"1")
        assert_errno(errno.ENODATA, os.getxattr, p, PFX + "foo")
        assert PFX + "foo" not in os.listxattr(p)
        r = run(["setfattr", "-n", PFX + "foo", "-v", "1", p], check=False)
        assert r.returncode != 0 and "Invalid argument" in r.stderr
        r = run(["getfattr", "-n", PFX + "foo", p], check=False)
        assert r.returncode != 0 and "No such attribute" in r.stderr
    assert read(m + "/s/t") == b"x\n"


@pytest.mark.parametrize("name,bad", [
    ("framing", ["bogus", "", "LINE", "write2"]),
    ("max_message", ["0", "abc", "-1", "65m", "1.5k", "1kk", "", "1t"]),
    ("ttl", ["5x", "-1", "", "d", "1.5h"]),
    ("retention_bytes", ["-1", "lots", "1q"]),
    ("durability", ["sometimes", "", "OS"]),
    ("autocreate", ["true", "", "YES", "1", "no2"]),
])
def test_bad_policy_value_is_einval_and_keeps_old_value(mount, name, bad):
    d = mount.mnt + "/s"
    os.mkdir(d)
    good = {"framing": ("write", "write"), "max_message": ("2k", "2048"),
            "ttl": ("90s", "90"), "retention_bytes": ("1m", "1048576"),
            "durability": ("batch", "batch"),
            "autocreate": ("no", "no")}[name]
    sh("setfattr -n %s%s -v %s %s" % (PFX, name, good[0], d))
    assert getx(d, name) == good[1]
    for value in bad:
        assert_errno(errno.EINVAL, os.setxattr, d, PFX + name, value.encode())
        assert getx(d, name) == good[1], "value %r changed it" % value


def test_policy_values_accepted(mount):
    d = mount.mnt
    for name, value, shown in [("max_message", "64m", str(64 << 20)),
                               ("max_message", "1", "1"),
                               ("max_message", "3g", None),
                               ("ttl", "2h", "7200"), ("ttl", "3m", "180"),
                               ("ttl", "0", "0"), ("ttl", "45", "45"),
                               ("retention_bytes", "0", "0"),
                               ("retention_bytes", "5g", str(5 << 30)),
                               ("durability", "always", "always"),
                               ("framing", "write", "write"),
                               ("autocreate", "no", "no"),
                               ("autocreate", "yes\n", "yes")]:
        if shown is None:       # above the 64 MiB limit
            assert_errno(errno.EINVAL, os.setxattr, d, PFX + name,
                         value.encode())
            continue
        os.setxattr(d, PFX + name, value.encode())
        assert getx(d, name) == shown, (name, value)


def test_policy_attribute_on_a_file(mount):
    p = mount.mnt + "/t"
    append(p, b"x\n")
    for name in POLICIES:
        assert_errno(errno.EINVAL, os.setxattr, p, PFX + name, b"1")
        assert_errno(errno.ENODATA, os.getxattr, p, PFX + name)
    assert read(p) == b"x\n"


def test_ordinary_user_attributes(mount):
    p = mount.mnt + "/b"
    sh("echo data > %s" % p)
    sh("setfattr -n user.color -v blue %s" % p)
    assert os.getxattr(p, "user.color") == b"blue"
    big = os.urandom(65536)
    os.setxattr(p, "user.big", big)
    assert os.getxattr(p, "user.big") == big
    assert {"user.color", "user.big"} <= set(os.listxattr(p))
    os.removexattr(p, "user.color")
    assert_errno(errno.ENODATA, os.getxattr, p, "user.color")
    assert_errno(errno.ENODATA, os.removexattr, p, "user.color")
    os.setxattr(p, "user.x", b"1", os.XATTR_CREATE)
    assert_errno(errno.EEXIST, os.setxattr, p, "user.x", b"2",
                 os.XATTR_CREATE)
    assert_errno(errno.ENODATA, os.setxattr, p, "user.y", b"2",
                 os.XATTR_REPLACE)
    assert os.getxattr(p, "user.x") == b"1"
    assert read(p) == b"data\n"


def test_reading_the_info_of_a_non_topic(mount):
    m = mount.mnt
    sh("echo b > %s/b && mkdir %s/d" % (m, m))
    for p in (m + "/b", m + "/d"):
        assert_errno((errno.ENODATA, errno.EINVAL), os.getxattr, p,
                     PFX + "info")


# ---------------------------------------------------------------- full disk

def fill_until_enospc(path, limit=64 << 20):
    """Append 50 KiB writes of lines until one fails; returns (bytes
    written, the errno that stopped it or None)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    done = 0
    try:
        while done < limit:
            chunk = b"".join(b"m %08d %s\n" % (done + j, b"y" * 90)
                             for j in range(512))
            try:
                os.write(fd, chunk)
            except OSError as e:
                return done, e.errno
            done += len(chunk)
    finally:
        os.close(fd)
    return done, None


def free_bytes(path):
    sv = os.statvfs(path)
    return sv.f_bavail * sv.f_frsize


@pytest.mark.parametrize("reserve_mib", [12])
def test_reserve_keeps_that_much_free(small_disk, mount_factory, reserve_mib):
    # With the default reserve (4 MiB) the appends would go on until about
    # 4 MiB are left: stopping with about reserve_mib left shows the option
    # acts.
    mnt = mount_factory(["reserve=%d" % (reserve_mib << 20)],
                        data=small_disk / "data")
    mnt.expect_log(r"space|ENOSPC|full|reserve")
    done, err = fill_until_enospc(mnt.mnt + "/t")
    assert err == errno.ENOSPC, errno.errorcode.get(err, err)
    left = free_bytes(str(small_disk))
    print("reserve %d MiB: %d bytes appended, %d left" % (reserve_mib, done,
                                                          left))
    assert (reserve_mib - 1) << 20 <= left <= (reserve_mib + 2) << 20
    assert read(mnt.mnt + "/t")[:done] == read(mnt.mnt + "/t")
    assert os.path.getsize(mnt.mnt + "/t") == done


def test_full_disk_gives_enospc_and_keeps_earlier_messages(small_disk,
                                                           mount_factory):
    # small_disk comes first so that it is unmounted after the daemon.
    mnt = mount_factory(data=small_disk / "data")
    mnt.expect_log(r"space|ENOSPC|full|reserve")
    m = mnt.mnt
    os.mkdir(m + "/s")
    # A blob to delete later, so that room can come back.
    with open(m + "/s/filler", "wb") as f:
        f.write(os.urandom(8 << 20))
    p = m + "/s/t"
    written = bytearray()
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    err = None
    try:
        i = 0
        while len(written) < (64 << 20):
            chunk = b"".join(b"message %08d %s\n" % (i + j, b"z" * 100)
                             for j in range(500))
            try:
                n = os.write(fd, chunk)
            except OSError as e:
                err = e.errno
                break
            assert n == len(chunk), "a short append %d of %d" % (n, len(chunk))
            written += chunk
            i += 500
    finally:
        os.close(fd)
    assert err == errno.ENOSPC, "expected ENOSPC, got %s" % (
        errno.errorcode.get(err) if err else "no error at all")
    assert len(written) > 8 << 20, "ENOSPC long before the disk was full"
    assert read(p) == bytes(written)
    assert info(p)["messages"] == written.count(b"\n")
    # Blobs hit the limit too, with ENOSPC, not some other error.
    r = sh("head -c 16M /dev/zero > %s/s/more" % m, check=False)
    assert r.returncode != 0 and "No space left" in r.stderr
    sh("rm -f %s/s/more" % m)
    # Free space again: appends work and the old messages are intact.
    sh("rm %s/s/filler" % m)

    def can_append():
        try:
            append(p, b"after\n")
            return True
        except OSError as e:
            assert e.errno == errno.ENOSPC
            return False
    assert wait_for(can_append, 10, 0.2), "appends fail after freeing space"
    assert read(p) == bytes(written) + b"after\n"
    mnt.restart()
    assert read(p) == bytes(written) + b"after\n"
