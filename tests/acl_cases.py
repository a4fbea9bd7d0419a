"""The permission matrix of issue 3: test users, a model of the access rules (docs/design.md, "Access control"), the
operations, and a runner that tries one cell as a real user.

A cell is (operation, mode variant, ACE, identity).  For each cell the test
builds a fresh pair of streams as root - S (the one under test) and F (a free
stream, mode 0777, no ACE) inside a private container directory - takes a
snapshot of everything below the container, runs the operation as the
identity in its own process (setpriv + python3), and takes a snapshot again.
The expected outcome comes from the model below: the expression, evaluated
for the identity's uid, gid and supplementary groups, or the mode bits when
the permission has no expression.  An allowed cell must succeed and have
exactly its effect; a denied one must fail with EACCES and leave the
snapshot unchanged.
"""
import grp
import os
import pwd
import re
import stat
import subprocess
import time

PY = "/usr/bin/python3"
PFX = "user.streamfs."
ACE = PFX + "ace."
CURSOR = PFX + "cursor."
STREAM_PERMS = ("admin", "produce", "consume", "topic", "copy")
BLOB_PERMS = ("read", "write")

# ---------------------------------------------------------------- accounts

# Groups first: sfs_nobody never has a member, sfs_staff is only ever bob's
# primary group, sfs_sensors only ever alice's supplementary group.
GROUPS = ("sfs_sensors", "sfs_analysts", "sfs_staff", "sfs_nobody",
          "sfs_alice", "sfs_guest", "sfs_carol")
# user -> (primary group, supplementary groups in /etc/group)
USERS = {
    "sfs_alice": ("sfs_alice", ("sfs_sensors",)),
    "sfs_bob": ("sfs_staff", ("sfs_analysts",)),
    "sfs_guest": ("sfs_guest", ("sfs_analysts",)),
    "sfs_carol": ("sfs_analysts", ()),
}


def _tool(argv):
    """Run useradd & co., retrying while another process holds the
    account files' lock (exit 10 from the shadow tools)."""
    for _ in range(50):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 10:
            return r
        time.sleep(0.1)
    return r


def ensure_accounts():
    """Create the test groups and users if missing; add missing
    memberships.  Never removes anything (other suites may share the
    names).  Returns a list of problems (empty when all is well)."""
    problems = []
    for g in GROUPS:
        try:
            grp.getgrnam(g)
        except KeyError:
            r = _tool(["groupadd", "-f", g])
            if r.returncode != 0:
                problems.append("groupadd %s: %s" % (g, r.stderr.strip()))
    for user, (primary, supp) in USERS.items():
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            argv = ["useradd", "-M", "-N", "-d", "/nonexistent", "-s",
                    "/usr/sbin/nologin", "-g", primary]
            if supp:
                argv += ["-G", ",".join(supp)]
            r = _tool(argv + [user])
            if r.returncode not in (0, 9):      # 9: exists (a race)
                problems.append("useradd %s: %s" % (user, r.stderr.strip()))
            continue
        if pw.pw_gid != grp.getgrnam(primary).gr_gid:
            problems.append("%s exists with primary gid %d, not %s"
                            % (user, pw.pw_gid, primary))
        for g in supp:
            if user not in grp.getgrnam(g).gr_mem:
                r = _tool(["usermod", "-a", "-G", g, user])
                if r.returncode != 0:
                    problems.append("usermod -a -G %s %s: %s"
                                    % (g, user, r.stderr.strip()))
    return problems


def uid(name):
    return pwd.getpwnam(name).pw_uid


def gid(name):
    return grp.getgrnam(name).gr_gid


class Ident:
    """One way of running a process: uid, primary gid and the exact list of
    supplementary groups the kernel will hold for it."""

    def __init__(self, label, user, primary, groups=None, init=False):
        self.label = label
        self.user = user
        self.uid = uid(user)
        self.gid = gid(primary)
        if init:
            # --init-groups: whatever the group database says (initgroups
            # puts the primary gid in the list too).
            self.groups = tuple(sorted(set(os.getgrouplist(user,
                                                           self.gid))))
            self.groups_arg = ["--init-groups"]
        elif groups:
            self.groups = tuple(g if isinstance(g, int) else gid(g)
                                for g in groups)
            self.groups_arg = ["--groups", ",".join(str(g)
                                                    for g in self.groups)]
        else:
            self.groups = ()
            self.groups_arg = ["--clear-groups"]
        self.all_groups = {self.gid} | set(self.groups)

    def argv(self, argv):
        return (["setpriv", "--reuid", str(self.uid), "--regid",
                 str(self.gid)] + self.groups_arg + [str(a) for a in argv])

    def __repr__(self):
        return self.label


def identities():
    """The identities of the matrix (accounts must exist)."""
    return [
        Ident("root", "root", "root"),
        # alice reaches sfs_sensors only as a supplementary group...
        Ident("alice", "sfs_alice", "sfs_alice", groups=["sfs_sensors"]),
        # ...and without it the same uid must lose what the group gave.
        Ident("alice-nogroups", "sfs_alice", "sfs_alice"),
        # bob: primary sfs_staff, sfs_analysts from /etc/group.
        Ident("bob", "sfs_bob", "sfs_staff", init=True),
        # guest: in sfs_analysts only as a supplementary group.
        Ident("guest", "sfs_guest", "sfs_guest", groups=["sfs_analysts"]),
        # carol: sfs_analysts as her primary gid, nothing else.
        Ident("carol", "sfs_carol", "sfs_analysts"),
    ]


# ---------------------------------------------------------------- expressions

def expressions():
    """(label, text) of the expressions the matrix sets."""
    return [
        ("user", "u:sfs_alice"),
        ("uid", "u:%d" % uid("sfs_bob")),
        ("gid-primary", "g:sfs_staff"),
        ("group-supplementary", "g:sfs_sensors"),
        ("and-not", "g:sfs_analysts & !u:sfs_guest"),
        ("not-group", "!g:sfs_analysts"),
        ("mixed", "(u:sfs_alice | g:sfs_staff) & !g:sfs_sensors"),
        ("public", "p"),
        ("nobody", "g:sfs_nobody"),
    ]


_TOKEN = re.compile(r"\s*(?:([ugp])(?::([A-Za-z0-9._@$-]+))?|([!&|()]))")


def evaluate(text, ident):
    """Evaluate an expression for ident, independently of the daemon:
    '!' binds tightest, then '&', then '|'."""
    toks = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m and m.end() > pos, "model cannot parse %r" % text
        pos = m.end()
        if m.group(3):
            toks.append(m.group(3))
        elif m.group(1) == "p":
            toks.append(("p", None))
        else:
            toks.append((m.group(1), m.group(2)))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    i = [0]

    def peek():
        return toks[i[0]] if i[0] < len(toks) else None

    def take():
        i[0] += 1
        return toks[i[0] - 1]

    def primary():
        t = take()
        if t == "(":
            v = expr()
            assert take() == ")"
            return v
        if t == "!":
            return not primary()
        kind, name = t
        if kind == "p":
            return True
        if kind == "u":
            return ident.uid == (int(name) if name.isdigit() else uid(name))
        return (int(name) if name.isdigit() else gid(name)) in \
            ident.all_groups

    def conj():
        v = primary()
        while peek() == "&":
            take()
            v = primary() and v
        return v

    def expr():
        v = conj()
        while peek() == "|":
            take()
            v = conj() or v
        return v

    v = expr()
    assert peek() is None, "model: trailing tokens in %r" % text
    return v


# ------------------------------------------------------------ mode variants

R, W, X = 4, 2, 1


class Variant:
    """Owners and modes of the stream under test and of its files."""

    def __init__(self, label, dmode, duser, dgroup, fmode, fuser, fgroup):
        self.label = label
        self.dir = (dmode, uid(duser), gid(dgroup))
        self.file = (fmode, uid(fuser), gid(fgroup))


def variants():
    return {
        # Mode bits allow everything: whatever is denied, the ACE denied.
        "open": Variant("open", 0o777, "root", "root",
                        0o666, "root", "root"),
        # Mode bits allow nothing but lookups: whatever is allowed, the
        # ACE allowed.
        "closed": Variant("closed", 0o755, "root", "root",
                          0o600, "root", "root"),
        # Fallback shapes: owner, group (primary or supplementary), others
        # (where group membership takes rights away), no read on the dir.
        "owner": Variant("owner", 0o750, "sfs_alice", "sfs_sensors",
                         0o640, "sfs_alice", "sfs_sensors"),
        "group": Variant("group", 0o775, "root", "sfs_analysts",
                         0o664, "root", "sfs_analysts"),
        "other": Variant("other", 0o757, "root", "sfs_sensors",
                         0o606, "root", "sfs_sensors"),
        "blind": Variant("blind", 0o733, "root", "root",
                         0o666, "root", "root"),
    }


def mode_allows(ident, spec, want):
    """POSIX mode bits (owner class, else group class, else others)."""
    if ident.uid == 0:
        return True
    mode, ouid, ogid = spec
    if ident.uid == ouid:
        bits = (mode >> 6) & 7
    elif ogid in ident.all_groups:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return bits & want == want


class Model:
    """The access rules for one cell: aces maps a permission to its expression."""

    def __init__(self, variant, aces, ident):
        self.v = variant
        self.aces = aces
        self.i = ident

    def _perm(self, perm, fallback):
        if self.i.uid == 0:
            return True
        if perm in self.aces:
            return evaluate(self.aces[perm], self.i)
        return fallback()

    def dir(self, want):
        return mode_allows(self.i, self.v.dir, want)

    def produce(self, spec=None):
        return self._perm("produce", lambda: mode_allows(
            self.i, spec or self.v.file, W))

    def consume(self):
        return self._perm("consume",
                          lambda: mode_allows(self.i, self.v.file, R))

    def topic(self):
        return self._perm("topic", lambda: self.dir(W | X))

    def admin(self):
        return self._perm("admin", lambda: self.i.uid == self.v.dir[1])

    def read(self):
        return self._perm("read", lambda: mode_allows(self.i, self.v.file, R))

    def write(self):
        return self._perm("write",
                          lambda: mode_allows(self.i, self.v.file, W))


# ---------------------------------------------------------------- operations

class Op:
    """An operation: the Python body run as the user (c is the container
    directory; return bytes to report data), the permissions it needs, the
    model's decision, and the effect an allowed run must have."""

    def __init__(self, name, perms, body, allowed, effect, no_cross=()):
        self.name = name
        self.perms = perms
        self.body = body
        self.allowed = allowed
        self.effect = effect
        # Permissions whose bearing on the operation the contract leaves
        # open: the matrix sets no expression of theirs for it.
        self.no_cross = no_cross


def _same(before, after, data, ident):
    return None if before == after else "snapshot changed"


def _expect(cond, what):
    return None if cond else what


def _eff_append(b, a, data, ident):
    return _expect(a["S/t"]["data"] == b["S/t"]["data"] + b"x\n",
                   "topic is %r" % a["S/t"]["data"])


def _eff_read(b, a, data, ident):
    return (_expect(data == b"m0\n", "read %r" % data)
            or _same(b, a, data, ident))


def _eff_create(b, a, data, ident):
    n = a.get("S/n")
    return (_expect(n is not None, "S/n missing")
            or _expect(n["data"] == b"n0\n", "S/n holds %r" % n["data"])
            or _expect(n["xattrs"].get(PFX + "kind") == b"topic",
                       "S/n kind %r" % n["xattrs"].get(PFX + "kind"))
            or _expect(n["uid"] == ident.uid, "S/n owned by %d" % n["uid"]))


def _eff_become(b, a, data, ident):
    e = a["S/e"]
    return (_expect(e["data"] == b"e0\n", "S/e holds %r" % e["data"])
            or _expect(e["xattrs"].get(PFX + "kind") == b"topic",
                       "S/e kind %r" % e["xattrs"].get(PFX + "kind")))


def _eff_kind(b, a, data, ident):
    e = a["S/e"]
    return (_expect(e["data"] == b"", "S/e holds %r" % e["data"])
            or _expect(e["xattrs"].get(PFX + "kind") == b"topic",
                       "S/e kind %r" % e["xattrs"].get(PFX + "kind")))


def _eff_delete(b, a, data, ident):
    return _expect("S/t" not in a, "S/t still there")


def _moved(src, dst):
    def check(b, a, data, ident):
        return (_expect(src not in a, "%s still there" % src)
                or _expect(dst in a, "%s missing" % dst)
                or _expect(a[dst]["data"] == b[src]["data"],
                           "%s holds %r" % (dst, a[dst]["data"]))
                or _expect(a[dst]["xattrs"].get(PFX + "kind") == b"topic",
                           "%s lost its kind" % dst))
    return check


def _eff_xattr(name, value):
    def check(b, a, data, ident):
        got = a["S"]["xattrs"].get(name)
        return _expect(got == value, "%s is %r, not %r" % (name, got, value))
    return check


def _eff_blob(content):
    def check(b, a, data, ident):
        return _expect(a["S/b"]["data"] == content,
                       "blob holds %r" % a["S/b"]["data"])
    return check


def _eff_first_write(b, a, data, ident):
    e = a["S/e"]
    return (_expect(e["data"] == b"w0\n", "S/e holds %r" % e["data"])
            or _expect(e["xattrs"].get(PFX + "kind") == b"blob",
                       "S/e kind %r" % e["xattrs"].get(PFX + "kind")))


def _eff_blob_read(b, a, data, ident):
    return (_expect(data == b"blob0\n", "read %r" % data)
            or _same(b, a, data, ident))


def _eff_list(b, a, data, ident):
    names = sorted(k[2:] for k in b if k.startswith("S/"))
    return (_expect(data == "\n".join(names).encode(), "listed %r" % data)
            or _same(b, a, data, ident))


def _eff_cursor_read(b, a, data, ident):
    return (_expect(data == b"0", "read cursor %r" % data)
            or _same(b, a, data, ident))


def _eff_cursor(prefix):
    def check(b, a, data, ident):
        got = a["S/t"]["groups"]
        return _expect(got.startswith(prefix) if prefix else got == b"",
                       "groups of S/t: %r" % got)
    return check


_READ = ("fd = os.open(c + %r, %s)\n"
         "try:\n    return os.read(fd, 4096)\nfinally:\n    os.close(fd)")
_WRITE = ("fd = os.open(c + %r, %s)\n"
          "try:\n    %s\nfinally:\n    os.close(fd)")

OPS = [
    Op("append", ("produce",),
       _WRITE % ("/S/t", "os.O_WRONLY | os.O_APPEND", "os.write(fd, b'x\\n')"),
       lambda m: m.dir(X) and m.produce(), _eff_append),
    Op("read", ("consume",), _READ % ("/S/t", "os.O_RDONLY"),
       lambda m: m.dir(X) and m.consume(), _eff_read),
    Op("read-rdwr", ("consume", "produce"), _READ % ("/S/t", "os.O_RDWR"),
       lambda m: m.dir(X) and m.consume() and m.produce(), _eff_read),
    # A new file made by the caller: the produce fallback is its own w bit.
    Op("create-topic", ("topic", "produce"),
       _WRITE % ("/S/n", "os.O_WRONLY | os.O_CREAT | os.O_EXCL | "
                 "os.O_APPEND, 0o644", "os.write(fd, b'n0\\n')"),
       lambda m: m.dir(X) and m.topic() and m.produce((0o644, m.i.uid,
                                                        m.i.gid)),
       _eff_create),
    Op("first-append", ("topic", "produce"),
       _WRITE % ("/S/e", "os.O_WRONLY | os.O_APPEND",
                 "os.write(fd, b'e0\\n')"),
       lambda m: m.dir(X) and m.topic() and m.produce(), _eff_become),
    # The admin tool's explicit create: an attribute write on the empty
    # file (its w bit), making a topic (the stream's topic permission).
    Op("set-kind-topic", ("topic",),
       "os.setxattr(c + '/S/e', %r, b'topic')" % (PFX + "kind"),
       lambda m: m.dir(X) and m.topic() and mode_allows(m.i, m.v.file, W),
       _eff_kind, no_cross=("produce",)),
    Op("delete-topic", ("topic",), "os.unlink(c + '/S/t')",
       lambda m: m.dir(X) and m.topic(), _eff_delete),
    Op("rename-topic", ("topic",), "os.rename(c + '/S/t', c + '/S/t2')",
       lambda m: m.dir(X) and m.topic(), _moved("S/t", "S/t2")),
    Op("rename-out", ("topic",), "os.rename(c + '/S/t', c + '/F/t')",
       lambda m: m.dir(X) and m.topic(), _moved("S/t", "F/t")),
    Op("rename-in", ("topic",), "os.rename(c + '/F/ft', c + '/S/ft')",
       lambda m: m.dir(X) and m.topic(), _moved("F/ft", "S/ft")),
    Op("set-policy", ("admin",),
       "os.setxattr(c + '/S', %r, b'write')" % (PFX + "framing"),
       lambda m: m.admin(), _eff_xattr(PFX + "framing", b"write")),
    Op("set-ace", ("admin",),
       "os.setxattr(c + '/S', %r, b'p')" % (ACE + "produce"),
       # Setting the expression already held is a no-op anyone may do.
       lambda m: m.admin() or m.aces.get("produce") == "p",
       _eff_xattr(ACE + "produce", b"p")),
    Op("remove-ace", ("admin",),
       "os.removexattr(c + '/S', %r)" % (ACE + "copy"),
       lambda m: m.admin(), _eff_xattr(ACE + "copy", None)),
    Op("blob-read", ("read",), _READ % ("/S/b", "os.O_RDONLY"),
       lambda m: m.dir(X) and m.read(), _eff_blob_read),
    Op("blob-write", ("write",),
       _WRITE % ("/S/b", "os.O_WRONLY", "os.pwrite(fd, b'XY', 0)"),
       lambda m: m.dir(X) and m.write(), _eff_blob(b"XYob0\n")),
    Op("blob-truncate", ("write",), "os.truncate(c + '/S/b', 2)",
       lambda m: m.dir(X) and m.write(), _eff_blob(b"bl")),
    # The empty file e carries the blob expressions too: its first write
    # without O_APPEND makes it a blob.
    Op("blob-first-write", ("write",),
       _WRITE % ("/S/e", "os.O_WRONLY", "os.write(fd, b'w0\\n')"),
       lambda m: m.dir(X) and m.write(), _eff_first_write),
        # Consumer group cursors: the consumers' own state (consume); a
    # group's cursor may also be deleted by the stream's admin.
    Op("read-cursor", ("consume",),
       "return os.getxattr(c + '/S/t', %r)" % (CURSOR + "g"),
       lambda m: m.dir(X) and m.consume(), _eff_cursor_read),
    Op("commit-cursor", ("consume",),
       "os.setxattr(c + '/S/t', %r, b'3')" % (CURSOR + "g"),
       lambda m: m.dir(X) and m.consume(), _eff_cursor(b"g 3 1 ")),
    Op("delete-cursor", ("consume", "admin"),
       "os.removexattr(c + '/S/t', %r)" % (CURSOR + "g"),
       lambda m: m.dir(X) and (m.consume() or m.admin()), _eff_cursor(b"")),
    # Listings follow the directory's mode bits only, whatever the ACEs.
    Op("list", (), "return '\\n'.join(sorted(os.listdir(c + '/S'))).encode()",
       lambda m: m.dir(R), _eff_list),
]
OPS_BY_NAME = {o.name: o for o in OPS}


def program(body):
    """A python3 -c program: run body once for each argument c; print one
    line for each: OK (and the returned bytes in hex) or the errno name of
    the OSError it raised."""
    return ("import errno, os, sys\n"
            "def op(c):\n" + "".join("    %s\n" % l for l in body.splitlines())
            + "for c in sys.argv[1:]:\n"
            "    try:\n"
            "        out = op(c)\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode.get(e.errno, e.errno),\n"
            "              flush=True)\n"
            "        continue\n"
            "    print('OK', out.hex() if isinstance(out, bytes) else '',\n"
            "          flush=True)\n")


def run_batch(ident, body, dirs, timeout=120):
    """Run an operation body as ident once for each directory, in one
    process: a list of ("OK", data) or (ERRNAME, None), one per dir."""
    r = subprocess.run(ident.argv([PY, "-S", "-c", program(body)] +
                                  list(dirs)),
                       capture_output=True, text=True, timeout=timeout,
                       cwd="/", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    res = []
    for line in r.stdout.splitlines():
        out = line.split()
        if out and out[0] == "OK":
            res.append(("OK", bytes.fromhex(out[1]) if len(out) > 1
                        else b""))
        elif out:
            res.append((out[0], None))
    crash = ("CRASH(%d): %s" % (r.returncode, r.stderr.strip()[-300:]), None)
    return res[:len(dirs)] + [crash] * (len(dirs) - len(res))


def run_as(ident, body, c, timeout=60):
    """Run an operation body as ident with c: ("OK", data) or
    (ERRNAME, None)."""
    return run_batch(ident, body, [c], timeout)[0]


# ---------------------------------------------------------------- fixtures

def build_cell(container, variant, aces):
    """As root: container/S (the stream under test) with topic t, blob b,
    empty file e, and container/F (free stream) with topic ft.  aces maps
    permissions to expressions: stream ones go on S, blob ones on S/b."""
    c = container
    os.mkdir(c, 0o755)
    os.mkdir(c + "/F", 0o777)
    os.chmod(c + "/F", 0o777)
    os.mkdir(c + "/S", 0o700)
    _append(c + "/F/ft", b"f0\n")
    os.chmod(c + "/F/ft", 0o666)
    _append(c + "/S/t", b"m0\n")
    os.setxattr(c + "/S/t", CURSOR + "g", b"0")     # for the cursor ops
    fd = os.open(c + "/S/b", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"blob0\n")
    os.close(fd)
    os.close(os.open(c + "/S/e", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # A stream ACE that no operation needs, for remove-ace to remove.
    os.setxattr(c + "/S", ACE + "copy", b"u:sfs_carol")
    fmode, fuid, fgid = variant.file
    for f in ("t", "b", "e"):
        os.chown(c + "/S/" + f, fuid, fgid)
        os.chmod(c + "/S/" + f, fmode)
    for perm, text in aces.items():
        for target in ((c + "/S/b", c + "/S/e") if perm in BLOB_PERMS
                       else (c + "/S",)):
            os.setxattr(target, ACE + perm, text.encode())
    dmode, duid, dgid = variant.dir
    os.chown(c + "/S", duid, dgid)
    os.chmod(c + "/S", dmode)


def _append(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def snapshot(top):
    """Everything a denied operation must not change, below top (as root):
    names, types, owners, modes, link counts, sizes, mtime/ctime, contents,
    symlink targets and every user.* attribute with its value."""
    snap = {}

    def entry(path, rel):
        st = os.lstat(path)
        e = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
             "nlink": st.st_nlink, "size": st.st_size,
             "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns}
        if stat.S_ISLNK(st.st_mode):
            e["target"] = os.readlink(path)
        else:
            e["xattrs"] = {n: os.getxattr(path, n)
                           for n in sorted(os.listxattr(path))}
        if e.get("xattrs", {}).get(PFX + "kind") == b"topic":
            # Consumer group cursors are not listed: their listing.
            e["groups"] = os.getxattr(path, PFX + "groups")
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                e["data"] = f.read()
        snap[rel] = e
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                entry(path + "/" + name, (rel + "/" if rel else "") + name)

    entry(top, "")
    return snap


def diff(before, after):
    """A short description of how two snapshots differ."""
    out = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            out.append("%s removed" % (k or "."))
        elif k not in before:
            out.append("%s appeared" % (k or "."))
        elif before[k] != after[k]:
            fields = [f for f in set(before[k]) | set(after[k])
                      if before[k].get(f) != after[k].get(f)]
            out.append("%s: %s" % (k or ".", ", ".join(
                ("%s changed" % f) if f in ("mtime", "ctime") else
                "%s %r -> %r" % (f, before[k].get(f), after[k].get(f))
                for f in sorted(fields))))
    return "; ".join(out)


class Tally:
    """Counts of the matrix across the module, for the summary line."""
    cells = 0
    allowed = 0
    denied = 0
    failed = 0

    @classmethod
    def line(cls):
        return ("ACE matrix: %d cells, %d allowed, %d denied, %d wrong"
                % (cls.cells, cls.allowed, cls.denied, cls.failed))


def try_cells(dirs, op, cells, ident):
    """Build, run and check cells (variant, aces) of op for one identity;
    the operation runs once per cell, all in one process as ident, each in
    its own new container (dirs, one per cell).  Returns a list of
    (expected_ok, problem or None), one per cell."""
    before = []
    for c, (variant, aces) in zip(dirs, cells):
        build_cell(c, variant, aces)
        before.append(snapshot(c))
    results = run_batch(ident, op.body, dirs)
    out = []
    for c, (variant, aces), b, (got, data) in zip(dirs, cells, before,
                                                    results):
        after = snapshot(c)
        want = op.allowed(Model(variant, aces, ident))
        problem = None
        if want:
            if got != "OK":
                problem = "expected success, got %s" % got
            else:
                problem = op.effect(b, after, data, ident)
                if problem:
                    problem = "succeeded but " + problem
        else:
            if got != "EACCES":
                problem = "expected EACCES, got %s" % got
            if b != after:
                problem = ((problem + "; ") if problem else "") + \
                    "side effect: " + diff(b, after)
        out.append((want, problem))
    return out


def describe(op, variant, aces, ident):
    ace = ",".join("%s=%s" % kv for kv in sorted(aces.items())) or "no ACE"
    return "%-13s mode=%-6s %-45s as %s" % (op.name, variant.label, ace,
                                            ident.label)


def run_argv(ident, argv, timeout=60):
    """Run a program as ident; the CompletedProcess (text)."""
    return subprocess.run(ident.argv(argv), capture_output=True, text=True,
                          timeout=timeout, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def kind_of(path):
    try:
        return os.getxattr(path, PFX + "kind").decode()
    except OSError:
        return None
