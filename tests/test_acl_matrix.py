"""Issue 3, tests: the permission matrix against an allow_other mount, run
by real users (setpriv), and attempts to get around a denial.

The matrix is permission x expression x operation x identity x mode
variant; acl_cases.py has the users, the model of SPEC §5 that decides
each cell, the operations and the snapshot that proves a denied cell
changed nothing.  Every test prints its cells on failure, one line each
with what was expected and what happened.
"""
import concurrent.futures
import os
import shutil

import pytest

import acl_cases as ac
from acl_cases import ACE, PFX, Tally

allow_other = pytest.mark.mount_options("allow_other")
WORKERS = 4


@pytest.fixture(scope="session")
def acl_users():
    """The test accounts (created if missing) and the identities that run
    as them.  Checks that each identity's process really has the uid, gid
    and groups the model assumes."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create users and switch to them")
    for tool in ("setpriv", "useradd", "groupadd", "usermod"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)
    problems = ac.ensure_accounts()
    if problems:
        pytest.fail("cannot set up the test accounts:\n" + "\n".join(problems))
    idents = ac.identities()
    for i in idents:
        ok, data = ac.run_as(i, "return repr((os.getuid(), os.getgid(), "
                             "sorted(os.getgroups()))).encode()", "/")
        assert ok == "OK", "cannot run as %s: %s" % (i, ok)
        got = data.decode()
        want = repr((i.uid, i.gid, sorted(i.groups)))
        assert got == want, "%s runs as %s, the model assumes %s" % (
            i, got, want)
    return idents


@pytest.fixture(scope="module", autouse=True)
def _matrix_summary(request):
    """Print the size of the matrix when the module is done."""
    yield
    if not Tally.cells:
        return
    pm = request.config.pluginmanager
    tr = pm.get_plugin("terminalreporter")
    capman = pm.get_plugin("capturemanager")
    if tr is None or capman is None:
        print(Tally.line())
        return
    with capman.global_and_fixture_disabled():
        tr.write_line("")
        tr.write_line(Tally.line())


# ---------------------------------------------------------------- the matrix

def cells_for(op, idents):
    """(variant, aces, ident) of every cell of one operation."""
    V = ac.variants()
    exprs = ac.expressions()
    out = []
    # Each permission the operation needs, under every expression, where
    # the mode bits would allow everything (open) and nothing (closed).
    for perm in op.perms:
        for vname in ("open", "closed"):
            for _, text in exprs:
                out += [(V[vname], {perm: text}, i) for i in idents]
    # No ACE at all: the mode bits decide.
    for v in V.values():
        out += [(v, {}, i) for i in idents]
    # An expression on a permission the operation does not need changes
    # nothing: "p" grants nothing where mode bits deny, an expression
    # matching nobody denies nothing where they allow.
    strict = V["owner"] if op.name == "list" else V["closed"]
    others = [p for p in ac.STREAM_PERMS if p not in op.perms]
    if op.name.startswith("blob"):
        others += [p for p in ac.BLOB_PERMS if p not in op.perms]
    for perm in others:
        out += [(strict, {perm: "p"}, i) for i in idents if i.uid != 0]
        out += [(V["open"], {perm: "g:sfs_nobody"}, i)
                for i in idents if i.uid != 0]
    return out


@allow_other
@pytest.mark.parametrize("opname", [o.name for o in ac.OPS])
def test_matrix(mount, acl_users, opname):
    op = ac.OPS_BY_NAME[opname]
    cells = cells_for(op, acl_users)
    base = "%s/%s" % (mount.mnt, opname)
    os.mkdir(base, 0o755)

    def one(n):
        v, aces, ident = cells[n]
        return ac.try_cell(base, n, op, v, aces, ident)

    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(one, range(len(cells))))
    wrong = []
    for (v, aces, ident), (want, problem) in zip(cells, results):
        Tally.cells += 1
        if want:
            Tally.allowed += 1
        else:
            Tally.denied += 1
        if problem:
            Tally.failed += 1
            wrong.append("%s: %s" % (ac.describe(op, v, aces, ident),
                                     problem))
    # The matrix must exercise both outcomes of this operation.
    assert any(w for w, _ in results) and not all(w for w, _ in results)
    assert not wrong, "%d of %d cells wrong:\n%s" % (
        len(wrong), len(cells), "\n".join(wrong[:60]))
