"""Fault injection for the streamfs daemon: the Python side of
tests/faults/faultshim.c, an LD_PRELOAD shim built by meson at
$STREAMFS_BUILD/tests/libstreamfs_faultshim.so.

The shim is configured by environment variables, read once when it is
loaded:

  STREAMFS_FAULT_DIR      absolute data folder; only files below it count
  STREAMFS_FAULT          rules KIND:N[:MODE[:ERRNO]], comma-separated
  STREAMFS_FAULT_LOG      file the shim appends its log lines to
  STREAMFS_FAULT_JOURNAL  file the shim appends its power-cut journal to
  STREAMFS_FAULT_TRACE    file that gets `KIND #N` for every counted call
                          (to find the N of a call a test aims at)

KIND is seg_write, seg_sync, db_write, db_sync, blob_write, blob_sync or
dir_sync: a write (write, pwrite, pwritev, writev and their 64/v2 forms) or
a sync (fsync, fdatasync) of a regular file below DIR/segments, DIR/db or
DIR/blobs, or the sync of any directory below DIR.  N counts the calls of
that kind since the shim was loaded (or last armed, below), from 1.  MODE is once (the N-th call
fails; the default), always (the N-th and every later one fail), short
(the N-th write writes half its bytes and returns that count), or cut (at
the N-th call, before making it, the journal gets `K` and the process
SIGKILLs itself).  ERRNO is EIO (default), ENOSPC or EDQUOT.  A failed
call does nothing and returns -1 with that errno.

A test that runs the store in its own process with the shim preloaded
(tests/unit/test_store_faults.c) arms it at run time instead, through
entry points it finds with dlsym (declared in tests/faults/faultshim.h):

  streamfs_fault_arm(dir, rules)  the data folder and the rules (the
                          grammar of STREAMFS_FAULT, "" for none); zeroes
                          the counters, so N counts from the arming, and
                          takes over descriptors already open below dir;
                          rules NULL disarms (counters kept); 0 or -EINVAL
  streamfs_fault_count(kind)      calls of that kind since the arming
  streamfs_fault_fired()          faults injected since the arming

The environment variables work as before and need none of these; the
journal knows nothing of descriptors taken over by an arming.

Log lines: `inject KIND #N ERRNO|short|cut` at each injection (written at
once, so they survive a SIGKILL), and `count KIND N` for every kind seen,
at a normal exit.

Journal lines (paths relative to the data folder, "." for the folder):
  O path size     first open for writing in this run of a file that existed
  C path          a file this run created
  S path size     a successful fsync/fdatasync, with the size before it
  F path size     an injected sync failure: the dirty data is dropped
  W path off len  a write to a file that has had an F
  T path size     ftruncate
  D path          a successful directory fsync
  R old new       rename ("-" for a side outside the data folder)
  U path          unlink
  K               the simulated power cut

power_cut() replays the journal after the daemon is dead.  Its model:
  - what the data folder held when the run began is durable;
  - a file's durable length is its O size, raised or lowered by each later
    S size, lowered by T;
  - an F drops the range [durable length, size at the failure): Linux
    marks its pages clean after a failed write-back, so a later successful
    sync does not bring them back; only a page (4 KiB) that is written
    again (W) before a later successful sync is healed (the write dirties
    the whole page, still in the cache).  The first page of a range left
    unhealed at the end cuts the file (at the range's start if that is
    later);
  - a file created in this run is removed unless its directory had a D
    after the creation;
  - renames and unlinks are durable at once and never undone (a simpler
    rule than POSIX: LevelDB replaces CURRENT by a rename it does not
    sync; ext4 commits renames in order with the next journal
    transaction), and a file that a rename moved counts as not created;
  - directories are never removed, overwrites inside the durable length
    are kept, fallocate is not modelled.
"""
import os
from pathlib import Path

from util import BUILD

SHIM_NAME = "libstreamfs_faultshim.so"
KINDS = ("seg_write", "seg_sync", "db_write", "db_sync", "blob_write",
         "blob_sync", "dir_sync")


def shim_path():
    """The built shim; fails loudly when it is missing."""
    p = BUILD / "tests" / SHIM_NAME
    if not p.exists():
        raise FileNotFoundError("no fault shim at %s (build first, or set "
                                "STREAMFS_BUILD)" % p)
    return p


def fault_env(datadir, rules=None, log=None, journal=None, trace=None):
    """Environment variables for a daemon that runs under the shim.  rules
    is a string or a list of rule strings; log and journal are paths."""
    if isinstance(rules, (list, tuple)):
        rules = ",".join(rules)
    # A sanitizer build wants its runtime first in the library list; the
    # shim comes first here, which is harmless for it.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"LD_PRELOAD": str(shim_path()),
           "ASAN_OPTIONS": (asan + ":" if asan else "")
           + "verify_asan_link_order=0",
           "STREAMFS_FAULT_DIR": os.path.abspath(str(datadir))}
    if rules:
        env["STREAMFS_FAULT"] = rules
    if log:
        env["STREAMFS_FAULT_LOG"] = str(log)
    if journal:
        env["STREAMFS_FAULT_JOURNAL"] = str(journal)
    if trace:
        env["STREAMFS_FAULT_TRACE"] = str(trace)
    return env


def _lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def injections(log):
    """The injected faults in the log: a list of (kind, n, what), what
    being the errno name, "short" or "cut"."""
    out = []
    for line in _lines(log):
        parts = line.split()
        if len(parts) == 4 and parts[0] == "inject":
            out.append((parts[1], int(parts[2].lstrip("#")), parts[3]))
    return out


def traced(trace, kind):
    """How many calls of kind the trace has seen so far."""
    n = 0
    for line in _lines(trace):
        parts = line.split()
        if len(parts) == 2 and parts[0] == kind:
            n = max(n, int(parts[1].lstrip("#")))
    return n


def counts(log):
    """The `count` lines of the log: {kind: calls} (empty after a kill)."""
    out = {}
    for line in _lines(log):
        parts = line.split()
        if len(parts) == 3 and parts[0] == "count":
            out[parts[1]] = out.get(parts[1], 0) + int(parts[2])
    return out


# ---------------------------------------------------------------- power cut

class _File:
    """What the journal says about one file."""

    def __init__(self, durable=None, created=None):
        self.durable = durable      # None: untouched in this run
        self.created = created      # journal line of the creation, or None
        self.drops = []             # [start, end, touched, healed]


PAGE = 4096


def _pages(off, n):
    return set(range(off // PAGE, (off + n - 1) // PAGE + 1)) if n > 0 \
        else set()


def _unhealed(d):
    """Where the dropped range d still cuts the file, or None."""
    left = sorted(_pages(d[0], d[1] - d[0]) - d[3])
    return max(d[0], left[0] * PAGE) if left else None


def _replay(lines):
    files = {}

    def get(p):
        return files.setdefault(p, _File())

    for i, line in enumerate(lines):
        f = line.split(" ")
        op = f[0]
        if op == "K":
            break
        if op == "O":
            st = get(f[1])
            if st.durable is None:
                st.durable = int(f[2])
        elif op == "C":
            files[f[1]] = _File(durable=0, created=i)
        elif op == "S":
            st = get(f[1])
            st.durable = int(f[2])
            for d in st.drops:
                d[3] |= d[2]
                d[2] = set()
            st.drops = [d for d in st.drops if _unhealed(d) is not None]
        elif op == "F":
            st = get(f[1])
            size = int(f[2])
            start = size if st.durable is None else min(st.durable, size)
            if start < size:
                st.drops.append([start, size, set(), set()])
        elif op == "W":
            for d in get(f[1]).drops:
                d[2] |= _pages(int(f[2]), int(f[3]))
        elif op == "T":
            st = get(f[1])
            size = int(f[2])
            st.durable = size if st.durable is None else min(st.durable,
                                                             size)
            for d in st.drops:
                d[1] = min(d[1], size)
            st.drops = [d for d in st.drops if d[0] < d[1]]
        elif op == "D":
            for p, st in files.items():
                if (st.created is not None and st.created < i
                        and os.path.dirname(p) == ("" if f[1] == "."
                                                   else f[1])):
                    st.created = None
        elif op == "R":
            st = files.pop(f[1], None)
            files.pop(f[2], None)
            if st is not None and f[2] != "-":
                st.created = None
                files[f[2]] = st
        elif op == "U":
            files.pop(f[1], None)
    return files


def power_cut(journal, datadir):
    """Make datadir look as a power cut at the journal's end (or its K)
    would have left it.  The daemon must be dead.  Returns (and prints)
    the list of what was cut or removed."""
    datadir = Path(datadir)
    done = []
    for rel, st in sorted(_replay(_lines(journal)).items()):
        path = datadir / rel
        if not path.is_file():
            continue
        if st.created is not None:
            path.unlink()
            done.append("removed %s (created, directory never synced)"
                        % rel)
            continue
        size = path.stat().st_size
        keep = st.durable if st.durable is not None else size
        for d in st.drops:
            at = _unhealed(d)
            if at is not None:
                keep = min(keep, at)
        if keep < size:
            os.truncate(path, keep)
            done.append("cut %s from %d to %d bytes%s" % (
                rel, size, keep, " (data dropped by a failed sync)"
                if st.drops else ""))
    for line in done:
        print("power cut: " + line)
    return done
