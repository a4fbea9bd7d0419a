"""Issue 2, points 3 and 9: the namespace - streams, names, links, owners,
modes, times, df - checked with real programs and exact errno values."""
import errno
import os
import stat
import time

import pytest

from util import (OTHER_GID, OTHER_UID, PFX, append, assert_errno, getx,
                  info, kind, read, run, sh)

allow_other = pytest.mark.mount_options("allow_other")


# ---------------------------------------------------------------- streams

def test_mkdir_rmdir_and_nested_streams(mount):
    m = mount.mnt
    sh("mkdir %s/plant && mkdir -p %s/plant/a/b/c" % (m, m))
    for d in ("plant", "plant/a", "plant/a/b", "plant/a/b/c"):
        assert stat.S_ISDIR(os.lstat(os.path.join(m, d)).st_mode)
    assert sorted(os.listdir(m + "/plant")) == ["a"]
    assert_errno(errno.EEXIST, os.mkdir, m + "/plant")
    assert_errno(errno.ENOTEMPTY, os.rmdir, m + "/plant/a")
    r = sh("rmdir %s/plant/a" % m, check=False)
    assert r.returncode != 0 and os.path.isdir(m + "/plant/a")
    sh("rmdir %s/plant/a/b/c %s/plant/a/b %s/plant/a" % (m, m, m))
    assert os.listdir(m + "/plant") == []
    # A stream holding only a topic is not empty either.
    sh("echo x >> %s/plant/t" % m)
    assert_errno(errno.ENOTEMPTY, os.rmdir, m + "/plant")
    assert read(m + "/plant/t") == b"x\n"
    sh("rm %s/plant/t && rmdir %s/plant" % (m, m))
    assert os.listdir(m) == []
    assert_errno(errno.ENOENT, os.rmdir, m + "/plant")


def test_directory_link_counts(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    assert os.stat(m + "/s").st_nlink == 2
    os.mkdir(m + "/s/a")
    os.mkdir(m + "/s/b")
    append(m + "/s/t", b"x\n")
    assert os.stat(m + "/s").st_nlink == 4
    os.rmdir(m + "/s/b")
    assert os.stat(m + "/s").st_nlink == 3


def test_new_stream_copies_parent_policies(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    sh("setfattr -n %sframing -v write %s/s" % (PFX, m))
    sh("setfattr -n %smax_message -v 2k %s/s" % (PFX, m))
    os.mkdir(m + "/s/sub")
    assert getx(m + "/s/sub", "framing") == "write"
    assert getx(m + "/s/sub", "max_message") == "2048"
    # Copied at mkdir, not looked up later.
    sh("setfattr -n %sframing -v line %s/s" % (PFX, m))
    assert getx(m + "/s/sub", "framing") == "write"


def test_errors_of_wrong_types(mount):
    m = mount.mnt
    os.mkdir(m + "/d")
    append(m + "/t", b"x\n")
    assert_errno(errno.ENOTDIR, os.rmdir, m + "/t")
    assert_errno(errno.EISDIR, os.unlink, m + "/d")
    assert_errno(errno.ENOENT, os.unlink, m + "/missing")
    assert_errno(errno.ENOTDIR, os.mkdir, m + "/t/sub")
    assert_errno(errno.ENOENT, os.mkdir, m + "/missing/sub")


@allow_other
def test_fifos_sockets_and_devices_are_refused(mount, other_user):
    """Issue 7, point 2: the kernel opens FIFOs, sockets and devices
    without asking the daemon, so none can be made (a 0600 FIFO would be
    open to every user); nothing is left behind."""
    import socket
    m = mount.mnt
    os.chmod(m, 0o777)
    assert_errno(errno.EPERM, os.mkfifo, m + "/fifo", 0o600)
    assert_errno(errno.EPERM, os.mknod, m + "/p", stat.S_IFIFO | 0o600)
    assert_errno(errno.EPERM, os.mknod, m + "/c", stat.S_IFCHR | 0o600,
                 os.makedev(1, 3))
    assert_errno(errno.EPERM, os.mknod, m + "/b", stat.S_IFBLK | 0o600,
                 os.makedev(7, 0))
    # A unix socket path has room for 107 bytes: bind a relative one, or
    # a long test directory would make the check meaningless.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.getcwd()
    try:
        os.chdir(m)
        assert_errno(errno.EPERM, s.bind, "sock")
    finally:
        os.chdir(cwd)
        s.close()
    for cmd in ("mkfifo -m 600 %s/f1", "mknod %s/f2 p"):
        r = sh(cmd % m, check=False)
        assert r.returncode != 0 and "not permitted" in r.stderr, r.stderr
    assert other_user.call("os.mkfifo(%r)" % (m + "/f3")) == "EPERM"
    assert os.listdir(m) == []
    # Regular files still can be made with mknod.
    os.mknod(m + "/reg", stat.S_IFREG | 0o644)
    assert stat.S_ISREG(os.stat(m + "/reg").st_mode)


# ---------------------------------------------------------------- ls -l

def test_ls_l_shows_kinds_sizes_and_times(mount):
    m = mount.mnt
    t0 = time.time()
    os.mkdir(m + "/s")
    sh("echo hello >> %s/s/t && echo world >> %s/s/t" % (m, m))
    sh("head -c 1000 /dev/urandom > %s/s/b" % m)
    t1 = time.time()
    out = sh("ls -l --time-style=+%%s %s/s" % m).stdout
    rows = {}
    for line in out.splitlines()[1:]:          # skip "total N"
        f = line.split()
        rows[f[-1]] = f
    assert sorted(rows) == ["b", "t"]
    for name, size in (("t", 12), ("b", 1000)):
        perms, links, owner, group, sz, when = rows[name][:6]
        assert perms.startswith("-"), rows[name]
        assert int(sz) == size, rows[name]
        assert int(t0) - 2 <= int(when) <= t1 + 2, rows[name]
        assert owner == "root" or int(owner) == os.getuid()
    assert int(sh("stat -c %%s %s/s/t" % m).stdout) == 12
    assert kind(m + "/s/t") == "topic"
    assert kind(m + "/s/b") == "blob"


def test_times_advance(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    append(m + "/s/t", b"one\n")
    topic_m = os.stat(m + "/s/t").st_mtime_ns
    dir_m = os.stat(m + "/s").st_mtime_ns
    time.sleep(1.1)
    append(m + "/s/t", b"two\n")
    assert os.stat(m + "/s/t").st_mtime_ns > topic_m, \
        "an append must move the topic's mtime"
    append(m + "/s/new", b"x\n")
    st = os.stat(m + "/s")
    assert st.st_mtime_ns > dir_m, "creating an entry must move the dir's mtime"
    assert st.st_ctime_ns > dir_m


def test_large_directory_listing_and_rm_rf(mount):
    # rm -rf deletes while it reads the directory: listing positions must
    # survive removals, or entries are skipped and rmdir fails.
    d = mount.mnt + "/big"
    os.mkdir(d)
    sh("cd %s && seq -w 1 3000 | xargs touch && mkdir sub && "
       "for i in 1 2 3; do echo $i >> topic$i; done" % d)
    names = os.listdir(d)
    assert len(names) == 3004 == len(set(names))
    assert sh("ls %s | wc -l" % d).stdout.strip() == "3004"
    assert sh("find %s -type f | wc -l" % d).stdout.strip() == "3003"
    sh("rm -rf %s" % d)
    assert os.listdir(mount.mnt) == []


def test_readdir_agrees_with_stat(mount):
    m = mount.mnt
    sh("mkdir {m}/d && echo t >> {m}/t && echo b > {m}/b && ln -s b {m}/l"
       .format(m=m))
    entries = {e.name: e for e in os.scandir(m)}
    assert sorted(entries) == ["b", "d", "l", "t"]
    for name, e in entries.items():
        st = os.lstat(os.path.join(m, name))
        assert e.inode() == st.st_ino, name
        assert e.is_dir(follow_symlinks=False) == stat.S_ISDIR(st.st_mode)
        assert e.is_symlink() == stat.S_ISLNK(st.st_mode)
        assert e.is_file(follow_symlinks=False) == stat.S_ISREG(st.st_mode)
    assert sorted(sh("ls -a %s" % m).stdout.split()) == \
        [".", "..", "b", "d", "l", "t"]


# ---------------------------------------------------------------- mv

def test_mv_topic_within_and_across_streams_keeps_data_and_offsets(mount):
    m = mount.mnt
    sh("mkdir %s/s1 %s/s2" % (m, m))
    sh("echo aa >> %s/s1/t && echo bbb >> %s/s1/t" % (m, m))
    before = info(m + "/s1/t")
    assert before["messages"] == 2
    sh("mv %s/s1/t %s/s1/u" % (m, m))
    assert sorted(os.listdir(m + "/s1")) == ["u"]
    assert read(m + "/s1/u") == b"aa\nbbb\n"
    assert kind(m + "/s1/u") == "topic"
    sh("mv %s/s1/u %s/s2/moved" % (m, m))
    assert os.listdir(m + "/s1") == []
    p = m + "/s2/moved"
    assert read(p) == b"aa\nbbb\n"
    assert kind(p) == "topic"
    after = info(p)
    for key in ("messages", "first_message", "last_message", "size",
                "first_time", "last_time"):
        assert after[key] == before[key], key
    assert getx(p, "seek.message.1") == "3"
    # It is still a topic: appends continue the same offsets.
    sh("echo c >> %s" % p)
    assert read(p) == b"aa\nbbb\nc\n"
    assert info(p)["messages"] == 3
    assert getx(p, "seek.message.2") == "7"
    assert_errno(errno.EPERM, os.truncate, p, 0)


def test_mv_blob_and_stream(mount):
    m = mount.mnt
    data = os.urandom(70000)
    sh("mkdir %s/s1 %s/s2" % (m, m))
    with open(m + "/s1/b", "wb") as f:
        f.write(data)
    sh("echo x >> %s/s1/t" % m)
    sh("mv %s/s1/b %s/s2/b2" % (m, m))
    assert read(m + "/s2/b2") == data
    assert kind(m + "/s2/b2") == "blob"
    sh("mv %s/s1 %s/renamed" % (m, m))
    assert sorted(os.listdir(m)) == ["renamed", "s2"]
    assert read(m + "/renamed/t") == b"x\n"
    sh("mv %s/renamed %s/s2/" % (m, m))
    assert read(m + "/s2/renamed/t") == b"x\n"
    sh("echo y >> %s/s2/renamed/t" % m)
    assert read(m + "/s2/renamed/t") == b"x\ny\n"


def test_rename_directory_over_directory(mount):
    m = mount.mnt
    sh("mkdir -p %s/a %s/empty %s/full/x" % (m, m, m))
    sh("echo 1 >> %s/a/t" % m)
    assert_errno((errno.ENOTEMPTY, errno.EEXIST), os.rename, m + "/a",
                 m + "/full")
    assert read(m + "/a/t") == b"1\n"
    os.rename(m + "/a", m + "/empty")
    assert sorted(os.listdir(m)) == ["empty", "full"]
    assert read(m + "/empty/t") == b"1\n"


# ---------------------------------------------------------------- rm

def test_rm_topic_and_blob(mount):
    m = mount.mnt
    sh("echo old >> %s/t && echo blob > %s/b" % (m, m))
    sh("rm %s/t %s/b" % (m, m))
    assert os.listdir(m) == []
    assert_errno(errno.ENOENT, os.stat, m + "/t")
    # The name starts afresh.
    sh("echo new >> %s/t" % m)
    assert read(m + "/t") == b"new\n"
    assert info(m + "/t")["messages"] == 1
    assert info(m + "/t")["last_message"] == 0


def test_removed_files_stay_readable_while_open(mount):
    m = mount.mnt
    sh("echo line >> %s/t && printf blobdata > %s/b" % (m, m))
    ft = open(m + "/t", "rb")
    fb = open(m + "/b", "rb")
    try:
        sh("rm %s/t %s/b" % (m, m))
        assert ft.read() == b"line\n"
        assert fb.read() == b"blobdata"
    finally:
        ft.close()
        fb.close()
    assert os.listdir(m) == []


# ---------------------------------------------------------------- links

def test_symlinks(mount):
    m = mount.mnt
    os.mkdir(m + "/s")
    sh("echo hi >> %s/s/t" % m)
    sh("ln -s t %s/s/rel && ln -s ../nowhere %s/s/dangling" % (m, m))
    sh("ln -s %s/s/t %s/abs" % (m, m))
    assert os.readlink(m + "/s/rel") == "t"
    assert sh("readlink %s/s/dangling" % m).stdout == "../nowhere\n"
    st = os.lstat(m + "/s/rel")
    assert stat.S_ISLNK(st.st_mode)
    assert st.st_size == 1
    assert sh("cat %s/s/rel %s/abs" % (m, m)).stdout == "hi\nhi\n"
    assert_errno(errno.ENOENT, os.stat, m + "/s/dangling")
    assert_errno(errno.EEXIST, os.symlink, "x", m + "/s/rel")
    sh("rm %s/s/rel" % m)
    assert read(m + "/s/t") == b"hi\n"
    assert sorted(os.listdir(m + "/s")) == ["dangling", "t"]


def test_hard_links_of_blobs(mount):
    m = mount.mnt
    sh("mkdir %s/s1 %s/s2 && printf abc > %s/s1/b" % (m, m, m))
    sh("ln %s/s1/b %s/s1/b2 && ln %s/s1/b %s/s2/b3" % (m, m, m, m))
    sts = [os.stat(m + p) for p in ("/s1/b", "/s1/b2", "/s2/b3")]
    assert {s.st_ino for s in sts} == {sts[0].st_ino}
    assert all(s.st_nlink == 3 for s in sts)
    with open(m + "/s1/b2", "r+b") as f:
        f.seek(1)
        f.write(b"X")
    assert read(m + "/s2/b3") == b"aXc"
    assert_errno(errno.EEXIST, os.link, m + "/s1/b", m + "/s1/b2")
    sh("rm %s/s1/b" % m)
    assert os.stat(m + "/s1/b2").st_nlink == 2
    sh("rm %s/s1/b2" % m)
    assert os.stat(m + "/s2/b3").st_nlink == 1
    assert read(m + "/s2/b3") == b"aXc"
    assert kind(m + "/s2/b3") == "blob"


# ---------------------------------------------------------------- owners and modes

def shared_dir(m):
    """A world-writable directory (like /tmp, without the sticky bit)."""
    d = m + "/shared"
    os.mkdir(d)
    os.chmod(d, 0o777)
    return d


def test_chmod(mount):
    m = mount.mnt
    sh("echo x >> %s/t && echo y > %s/b && mkdir %s/d" % (m, m, m))
    sh("chmod 640 %s/t && chmod 600 %s/b && chmod 700 %s/d" % (m, m, m))
    assert stat.S_IMODE(os.stat(m + "/t").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(m + "/b").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(m + "/d").st_mode) == 0o700
    assert stat.S_ISREG(os.stat(m + "/t").st_mode)
    assert stat.S_ISDIR(os.stat(m + "/d").st_mode)
    sh("chmod u+s,g+s %s/b" % m)
    assert stat.S_IMODE(os.stat(m + "/b").st_mode) == 0o6600


@allow_other
def test_new_files_belong_to_the_caller(mount, other_user):
    d = shared_dir(mount.mnt)
    r = other_user.sh("echo x >> {d}/t && echo y > {d}/b && mkdir {d}/sub "
                      "&& ln -s t {d}/l && touch {d}/e".format(d=d))
    assert r.returncode == 0, r.stderr
    for name in ("t", "b", "sub", "l", "e"):
        st = os.lstat(os.path.join(d, name))
        assert (st.st_uid, st.st_gid) == (OTHER_UID, OTHER_GID), name
    assert kind(d + "/t") == "topic"
    assert kind(d + "/b") == "blob"
    # And root's new files are root's, not the other user's.
    append(d + "/rootfile", b"r\n")
    st = os.stat(d + "/rootfile")
    assert (st.st_uid, st.st_gid) == (0, 0)


@allow_other
def test_only_owner_or_root_may_chmod(mount, other_user):
    d = shared_dir(mount.mnt)
    append(d + "/rootfile", b"r\n")
    os.chmod(d + "/rootfile", 0o666)
    assert other_user.call("os.chmod(%r, 0o777)" % (d + "/rootfile")) \
        == "EPERM"
    assert stat.S_IMODE(os.stat(d + "/rootfile").st_mode) == 0o666
    r = other_user.sh("echo x >> %s/mine && chmod 600 %s/mine" % (d, d))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(d + "/mine").st_mode) == 0o600
    os.chmod(d + "/mine", 0o640)          # root may
    assert stat.S_IMODE(os.stat(d + "/mine").st_mode) == 0o640


@allow_other
def test_only_root_may_chown_to_another_user(mount, other_user):
    d = shared_dir(mount.mnt)
    sh("echo x >> %s/rootfile && chown 1234:4321 %s/rootfile" % (d, d))
    st = os.stat(d + "/rootfile")
    assert (st.st_uid, st.st_gid) == (1234, 4321)
    r = other_user.sh("echo x >> %s/mine" % d)
    assert r.returncode == 0, r.stderr
    mine = d + "/mine"
    assert other_user.call("os.chown(%r, 0, -1)" % mine) == "EPERM"
    assert other_user.call("os.chown(%r, -1, 0)" % mine) == "EPERM"
    assert other_user.call("os.chown(%r, %d, %d)" % (mine, OTHER_UID,
                                                      OTHER_GID)) == "OK"
    assert other_user.call("os.chown(%r, %d, -1)" % (d + "/rootfile",
                                                      OTHER_UID)) == "EPERM"
    st = os.stat(mine)
    assert (st.st_uid, st.st_gid) == (OTHER_UID, OTHER_GID)
    sh("chown 0:0 %s" % mine)
    st = os.stat(mine)
    assert (st.st_uid, st.st_gid) == (0, 0)


@allow_other
def test_permission_bits_are_enforced(mount, other_user):
    m = mount.mnt
    os.chmod(m, 0o755)
    sh("echo secret > %s/private && chmod 600 %s/private" % (m, m))
    sh("echo x >> %s/topic && chmod 644 %s/topic" % (m, m))
    assert other_user.call("open(%r).read()" % (m + "/private")) == "EACCES"
    assert other_user.call("assert not os.access(%r, os.R_OK)"
                           % (m + "/private")) == "OK"
    assert other_user.call("assert os.access(%r, os.R_OK) and "
                           "not os.access(%r, os.W_OK)"
                           % (m + "/topic", m + "/topic")) == "OK"
    assert other_user.call("open(%r).read()" % (m + "/topic")) == "OK"
    assert other_user.call("os.open(%r, os.O_WRONLY|os.O_APPEND)"
                           % (m + "/topic")) == "EACCES"
    assert other_user.call("os.open(%r, os.O_WRONLY|os.O_CREAT, 0o644)"
                           % (m + "/new")) == "EACCES"
    assert other_user.call("os.mkdir(%r)" % (m + "/newdir")) == "EACCES"
    assert other_user.call("os.unlink(%r)" % (m + "/topic")) == "EACCES"
    assert other_user.call("os.rename(%r, %r)" % (m + "/topic",
                                                  m + "/x")) == "EACCES"
    assert sorted(os.listdir(m)) == ["private", "topic"]
    assert read(m + "/topic") == b"x\n"
    os.mkdir(m + "/closed", 0o700)
    assert other_user.call("os.listdir(%r)" % (m + "/closed")) == "EACCES"
    assert other_user.call("os.stat(%r)" % (m + "/closed/x")) == "EACCES"


@allow_other
def test_sticky_directory(mount, other_user):
    d = mount.mnt + "/tmp"
    os.mkdir(d)
    os.chmod(d, 0o1777)
    append(d + "/rootfile", b"r\n")
    assert other_user.call("os.unlink(%r)" % (d + "/rootfile")) == "EPERM"
    assert os.path.exists(d + "/rootfile")
    r = other_user.sh("echo x >> %s/mine && rm %s/mine" % (d, d))
    assert r.returncode == 0, r.stderr


def test_touch(mount):
    m = mount.mnt
    sh("touch %s/empty" % m)
    st = os.stat(m + "/empty")
    assert st.st_size == 0 and stat.S_ISREG(st.st_mode)
    assert kind(m + "/empty") is None, "a never-written file has no kind"
    sh("printf data > %s/b && touch -d @1000000000 %s/b" % (m, m))
    st = os.stat(m + "/b")
    assert st.st_mtime == 1000000000 and st.st_atime == 1000000000
    sh("touch -m -d @1200000000 %s/b" % m)
    st = os.stat(m + "/b")
    assert st.st_mtime == 1200000000 and st.st_atime == 1000000000
    os.utime(m + "/b", ns=(1300000000123456789, 1400000000987654321))
    st = os.stat(m + "/b")
    assert st.st_atime_ns == 1300000000123456789
    assert st.st_mtime_ns == 1400000000987654321
    before = time.time()
    sh("touch %s/b" % m)
    assert os.stat(m + "/b").st_mtime >= before - 2
    assert read(m + "/b") == b"data"
    sh("mkdir %s/d && touch -d @1000000000 %s/d" % (m, m))
    assert os.stat(m + "/d").st_mtime == 1000000000


@allow_other
def test_touch_permissions(mount, other_user):
    d = shared_dir(mount.mnt)
    sh("printf x > %s/open && chmod 666 %s/open" % (d, d))
    sh("printf x > %s/closed && chmod 644 %s/closed" % (d, d))
    # "now" needs write permission; an explicit time needs ownership.
    assert other_user.run(["touch", d + "/open"]).returncode == 0
    assert other_user.call("os.utime(%r, (1, 1))" % (d + "/open")) == "EPERM"
    assert other_user.call("os.utime(%r)" % (d + "/closed")) == "EACCES"
    assert os.stat(d + "/open").st_mtime != 1


def test_umask_applies_to_new_files_and_directories(mount):
    m = mount.mnt
    sh("cd %s && umask 027 && mkdir d && echo x > b && echo y >> t && "
       "touch e" % m)
    assert stat.S_IMODE(os.stat(m + "/d").st_mode) == 0o750
    for name in ("b", "t", "e"):
        assert stat.S_IMODE(os.stat(m + "/" + name).st_mode) == 0o640, name
    fd = os.open(m + "/exact", os.O_WRONLY | os.O_CREAT, 0o604)
    os.close(fd)
    assert stat.S_IMODE(os.stat(m + "/exact").st_mode) == \
        0o604 & ~current_umask()


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_ctime_follows_metadata_changes(mount):
    m = mount.mnt
    sh("printf x > %s/b && mkdir %s/d" % (m, m))
    for change in ("chmod 600 {m}/b", "chown 1:1 {m}/b", "ln {m}/b {m}/b2",
                   "mv {m}/b2 {m}/d/b3", "setfattr -n user.a -v 1 {m}/b"):
        before = os.stat(m + "/b").st_ctime_ns
        time.sleep(0.02)
        sh(change.format(m=m))
        assert os.stat(m + "/b").st_ctime_ns > before, change


# ---------------------------------------------------------------- df

def test_df_reports_the_data_folders_space(mount):
    out = sh("df -B1 --output=size,avail %s" % mount.mnt).stdout.split()
    size, avail = int(out[2]), int(out[3])
    sv = os.statvfs(mount.data)
    real_size = sv.f_blocks * sv.f_frsize
    real_avail = sv.f_bavail * sv.f_frsize
    assert abs(size - real_size) <= max(1 << 20, real_size // 1000), \
        (size, real_size)
    # Others write to the same disk meanwhile, and the daemon may hold back
    # its reserve: allow some slack, but the numbers must be the disk's.
    slack = max(64 << 20, real_size // 100)
    assert abs(avail - real_avail) <= slack, (avail, real_avail)
    sm = os.statvfs(mount.mnt)
    assert sm.f_namemax == 255


# ---------------------------------------------------------------- names

def test_name_of_255_bytes_works_256_is_too_long(mount):
    m = mount.mnt
    ok = "n" * 255
    long_ = "n" * 256
    sh("echo x >> %s/%s" % (m, ok))
    assert read(m + "/" + ok) == b"x\n"
    os.mkdir(m + "/" + "d" * 255)
    before = sorted(os.listdir(m))
    assert_errno(errno.ENAMETOOLONG, os.open, m + "/" + long_,
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    assert_errno(errno.ENAMETOOLONG, os.mkdir, m + "/" + long_)
    assert_errno(errno.ENAMETOOLONG, os.symlink, "x", m + "/" + long_)
    assert_errno(errno.ENAMETOOLONG, os.rename, m + "/" + ok, m + "/" + long_)
    assert_errno(errno.ENAMETOOLONG, os.link, m + "/" + ok, m + "/" + long_)
    assert_errno(errno.ENAMETOOLONG, os.stat, m + "/" + long_)
    assert run(["sh", "-c", 'echo x >> "$1"', "sh", m + "/" + long_],
               check=False).returncode != 0
    assert sorted(os.listdir(m)) == before
    # Multi-byte characters: 128 two-byte characters are 256 bytes.
    assert_errno(errno.ENAMETOOLONG, os.mkdir, m + "/" + "é" * 128)
    os.mkdir(m + "/" + "é" * 127)
    assert len(os.listdir(m)) == len(before) + 1


def test_name_with_nul_is_refused_and_nothing_created(mount):
    m = mount.mnt
    before = os.listdir(m)
    with pytest.raises(ValueError):
        os.open(m + "/a\0b", os.O_WRONLY | os.O_CREAT, 0o644)
    with pytest.raises(ValueError):
        os.mkdir(m + "/a\0b")
    with pytest.raises(ValueError):
        os.setxattr(m, PFX + "framing\0x", b"line")
    assert os.listdir(m) == before
    assert_errno(errno.ENOENT, os.stat, m + "/a")
