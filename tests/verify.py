"""A workload that knows what streamfs acknowledged, and a verifier that
checks a later mount against it (for the fault tests, test_faults.py).

workload() runs in the test's process on a mount: it makes streams with
durability and framing policies, appends unique messages to several topics
through O_APPEND descriptors (small ones and 64 KiB writes, which in a
line-framed stream hold many messages), fsyncs some topics, writes and
fsyncs a blob, and makes and removes a few names.  Every message is a line

    b"<topic> <seq> <len> <payload>\\n"

whose payload follows from its topic, seq and len, so a torn or mixed line
is recognised.  For every message the Record keeps the outcome of each
attempt (0 or the errno): a failed append is retried once with the same
message, so a duplicate shows; a message is acked when an attempt returned
in full, and durable when it was acked before a successful fsync of its
topic or under durability=always.  The workload goes on after errors and
stops after a bounded number of rounds or seconds, after too many errors
in a row, or when the daemon is gone (ENOTCONN, ECONNABORTED).

check() reads every topic of a Record on a (re)mounted file system with
cat and returns counts of what is wrong; the tests want each PROBLEMS
count to be zero.
"""
import errno
import os
import re
import subprocess
import time

from util import PFX

# The daemon is gone: the outcome of the call in flight is unknown.
GONE = (errno.ENOTCONN, errno.ECONNABORTED)
PROBLEMS = ("lost", "unreadable", "resurrected", "duplicates", "torn",
            "info_mismatch", "blobs_lost")

STREAMS = (("s_os", "os", "line"), ("s_batch", "batch", "write"),
           ("s_always", "always", "line"))
TOPICS = (("t0", "s_os"), ("t1", "s_os"), ("t2", "s_batch"),
          ("t3", "s_always"))
LINE = re.compile(rb"^(t\d+) (\d{6}) (\d{5}) (.*)$", re.DOTALL)
ALPHABET = bytes(range(ord("a"), ord("z") + 1)) * 2600  # > 64 KiB


def payload(seq, n):
    return ALPHABET[seq % 26:seq % 26 + n]


def message(topic, seq, n):
    return b"%s %06d %05d %s\n" % (topic.encode(), seq, n, payload(seq, n))


class Msg:
    __slots__ = ("topic", "seq", "attempts", "durable")

    def __init__(self, topic, seq):
        self.topic = topic
        self.seq = seq
        self.attempts = []      # 0 or errno of each write that held it
        self.durable = False

    @property
    def acked(self):
        return 0 in self.attempts

    @property
    def failed(self):
        """Every attempt failed with a definite error."""
        return bool(self.attempts) and all(
            a not in GONE and a != 0 for a in self.attempts)


class Record:
    def __init__(self):
        self.msgs = {}          # (topic, seq) -> Msg
        self.topics = {}        # topic -> [path, other possible path]
        self.policy = {}        # topic -> (durability, framing)
        self.blobs = {}         # name -> {"paths", "data", "acked", ...}
        self.errors = {}        # errno name -> count
        self.dead = False
        self.rounds = 0

    def error(self, e):
        name = errno.errorcode.get(e, str(e))
        self.errors[name] = self.errors.get(name, 0) + 1
        if e in GONE:
            self.dead = True

    def summary(self):
        m = self.msgs.values()
        return {"messages": len(self.msgs),
                "acked": sum(x.acked for x in m),
                "durable": sum(x.durable for x in m),
                "failed": sum(x.failed for x in m),
                "rounds": self.rounds, "errors": dict(self.errors),
                "dead": self.dead}


class _Run:
    """One workload run: the open descriptors and the Record."""

    def __init__(self, mnt, rec):
        self.mnt = mnt
        self.rec = rec
        self.fds = {}
        self.seq = {t: 0 for t, _ in TOPICS}
        self.fails = 0

    def abs(self, rel):
        return os.path.join(self.mnt, rel)

    def call(self, fn, *args):
        """fn(*args), or None after recording its error."""
        try:
            r = fn(*args)
            self.fails = 0
            return r if r is not None else True
        except OSError as e:
            self.rec.error(e.errno)
            self.fails += 1
            return None

    def setup(self):
        for name, durability, framing in STREAMS:
            d = os.path.join(self.mnt, name)
            if self.call(os.mkdir, d) is None:
                continue
            for attr, value in (("durability", durability),
                                ("framing", framing)):
                r = subprocess.run(["setfattr", "-n", PFX + attr, "-v",
                                    value, d], capture_output=True)
                if r.returncode != 0:
                    self.rec.error(errno.EIO)
        policy = {n: (d, f) for n, d, f in STREAMS}
        for topic, stream in TOPICS:
            rel = stream + "/" + topic
            self.rec.topics[topic] = [rel]
            self.rec.policy[topic] = policy[stream]
            fd = self.call(os.open, self.abs(rel), os.O_WRONLY | os.O_APPEND |
                           os.O_CREAT, 0o644)
            if fd is not None:
                self.fds[topic] = fd

    def write_msgs(self, topic, msgs):
        """One write() holding msgs (a list of (seq, bytes)); the bytes
        are retried once when the write fails."""
        fd = self.fds.get(topic)
        if fd is None:
            return
        data = b"".join(b for _, b in msgs)
        objs = []
        for seq, _ in msgs:
            m = Msg(topic, seq)
            self.rec.msgs[(topic, seq)] = m
            objs.append(m)
        for attempt in range(2):
            try:
                n = os.write(fd, data)
                res = 0 if n == len(data) else errno.EIO
                if res:
                    self.rec.error(res)     # a short append: not acked
                self.fails = 0
            except OSError as e:
                res = e.errno
                self.rec.error(res)
                self.fails += 1
            for m in objs:
                m.attempts.append(res)
            if res == 0 or res in GONE:
                break
        if res == 0 and self.rec.policy[topic][0] == "always":
            for m in objs:
                m.durable = True

    def append(self, topic, rnd):
        framing = self.rec.policy[topic][1]
        seq = self.seq[topic]
        if rnd % 9 == 4 and framing == "line":
            msgs = []
            while sum(len(b) for _, b in msgs) < 65536 - 1100:
                msgs.append((seq, message(topic, seq, 1000)))
                seq += 1
        elif rnd % 9 == 4:
            msgs = [(seq, message(topic, seq, 65536 - 20))]
            seq += 1
        else:
            msgs = [(seq, message(topic, seq, 10 + (seq * 37) % 300))]
            seq += 1
        self.seq[topic] = seq
        self.write_msgs(topic, msgs)

    def fsync(self, topic):
        fd = self.fds.get(topic)
        if fd is None or self.call(os.fsync, fd) is None:
            return
        for m in self.rec.msgs.values():
            if m.topic == topic and m.acked:
                m.durable = True

    def blob(self):
        """A blob written and fsynced, later renamed."""
        data = payload(7, 20000)
        b = {"paths": ["s_os/blob1"], "data": data, "acked": False,
             "synced": False}
        self.rec.blobs["blob1"] = b
        fd = self.call(os.open, self.abs("s_os/blob1"), os.O_WRONLY | os.O_CREAT, 0o644)
        if fd is None:
            return
        n = self.call(os.write, fd, data)
        b["acked"] = n == len(data)
        if b["acked"] and self.call(os.fsync, fd) is not None:
            b["synced"] = True
        self.call(os.close, fd)

    def names(self, rnd):
        """mkdir, rename and unlink of files, now and then."""
        s = os.path.join(self.mnt, "s_os")
        if rnd == 2:
            self.call(os.mkdir, os.path.join(s, "sub"))
        elif rnd == 5:
            old = self.rec.topics["t1"][0]
            new = old + "r"
            r = self.call(os.rename, self.abs(old), self.abs(new))
            # After an error either name may hold the topic.
            self.rec.topics["t1"] = [new] if r else [old, new]
        elif rnd == 6 and "blob1" in self.rec.blobs:
            b = self.rec.blobs["blob1"]
            new = "s_os/blob2"
            r = self.call(os.rename, self.abs(b["paths"][0]), self.abs(new))
            b["paths"] = [new] if r else b["paths"] + [new]
        elif rnd == 8:
            tmp = os.path.join(s, "scratch")
            fd = self.call(os.open, tmp, os.O_WRONLY | os.O_APPEND |
                           os.O_CREAT, 0o644)
            if fd is not None:
                self.call(os.write, fd, b"scratch\n")
                self.call(os.close, fd)
            self.call(os.unlink, tmp)
            self.call(os.rmdir, os.path.join(s, "sub"))

    def close(self):
        fds, self.fds = self.fds, {}
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError as e:
                self.rec.error(e.errno)


def workload(mnt, rounds=20, seconds=20.0, max_fails=30):
    """Run the workload on the mount at mnt; returns its Record."""
    rec = Record()
    run = _Run(str(mnt), rec)
    deadline = time.monotonic() + seconds
    try:
        run.setup()
        for rnd in range(rounds):
            if rec.dead or run.fails >= max_fails or \
                    time.monotonic() > deadline:
                break
            rec.rounds = rnd + 1
            for topic, _ in TOPICS:
                if rec.dead:
                    break
                run.append(topic, rnd)
            if rec.dead:
                break
            if rnd % 5 == 2:
                run.fsync("t0")
            if rnd % 7 == 3:
                run.fsync("t2")
            if rnd == 3:
                run.blob()
            run.names(rnd)
    finally:
        run.close()
    return rec


# ---------------------------------------------------------------- checking

def _read_topic(paths):
    """(path, bytes) of the first path that exists; bytes None if cat
    failed; (None, None) if none exists."""
    for p in paths:
        if os.path.lexists(p):
            r = subprocess.run(["cat", p], capture_output=True, timeout=120)
            return p, (r.stdout if r.returncode == 0 else None), r.stderr
    return None, None, b""


def _parse(data, topic, found, res, details):
    """Count the messages in data; returns the number of lines."""
    lines = data.split(b"\n")
    tail = lines.pop()
    if tail:
        res["torn"] += 1
        details.append("%s: torn tail %r" % (topic, tail[:60]))
        lines.append(tail)
    for line in lines:
        mt = LINE.match(line)
        if not mt or mt.group(1).decode() != topic:
            res["torn"] += 1
            details.append("%s: torn line %r" % (topic, line[:60]))
            continue
        seq, n = int(mt.group(2)), int(mt.group(3))
        if mt.group(4) != payload(seq, n):
            res["torn"] += 1
            details.append("%s: damaged message %d" % (topic, seq))
            continue
        found[(topic, seq)] = found.get((topic, seq), 0) + 1
    return len(lines)


def _check_blobs(mnt, record, cut, res, details):
    for name, b in record.blobs.items():
        want = b["synced"] if cut else b["acked"]
        if not want:
            continue
        got = None
        for p in b["paths"]:
            try:
                with open(os.path.join(mnt, p), "rb") as f:
                    got = f.read()
                break
            except OSError:
                continue
        if got != b["data"]:
            res["blobs_lost"] += 1
            details.append("blob %s: %s" % (name, "missing" if got is None
                                            else "%d bytes differ" % len(got)))


def check(mnt, record, cut=False):
    """Verify a mount (the file system at mnt, or a Mount) against a
    Record.  With cut (after a power cut) only durable messages must be
    there.  Returns a dict of counts and a "details" list."""
    mnt = getattr(mnt, "mnt", mnt)
    res = {k: 0 for k in PROBLEMS}
    res.update(topics=0, read=0)
    details = []
    found = {}
    unreadable = set()
    for topic, paths in record.topics.items():
        paths = [os.path.join(mnt, p) for p in paths]
        path, data, err = _read_topic(paths)
        if path is None:
            continue
        res["topics"] += 1
        if data is None:
            res["unreadable"] += 1
            unreadable.add(topic)
            details.append("%s: cat failed: %s" % (
                topic, err.decode(errors="replace").strip()))
            continue
        nlines = _parse(data, topic, found, res, details)
        res["read"] += nlines
        try:
            text = os.getxattr(path, PFX + "info").decode()
            n = int(re.search(r"^messages=(\d+)", text, re.M).group(1))
        except OSError as e:
            # A file whose first append failed has no kind yet (and so
            # no info): fine while it is empty.
            n = 0 if e.errno == errno.ENODATA and not data else None
            if n is None:
                details.append("%s: no info: %s" % (topic, e))
        except AttributeError as e:
            n = None
            details.append("%s: no info: %s" % (topic, e))
        if n != nlines:
            res["info_mismatch"] += 1
            details.append("%s: info says %s messages, read %d" % (
                topic, n, nlines))
    for key, m in record.msgs.items():
        n = found.get(key, 0)
        if n > 1:
            res["duplicates"] += 1
            details.append("%s %06d: %d copies (attempts %s)" % (
                key[0], key[1], n, m.attempts))
        if n and m.failed:
            res["resurrected"] += 1
            details.append("%s %06d: present, but every write failed (%s)"
                           % (key[0], key[1], m.attempts))
        must = m.durable if cut else m.acked
        if must and not n and key[0] not in unreadable:
            res["lost"] += 1
            if res["lost"] <= 20:
                details.append("%s %06d: lost (attempts %s%s)" % (
                    key[0], key[1], m.attempts,
                    ", durable" if m.durable else ""))
    for key in found:
        if key not in record.msgs:
            res["torn"] += 1
            details.append("%s %06d: never written" % key)
    _check_blobs(mnt, record, cut, res, details)
    res["details"] = details
    return res


def problems(res):
    """The non-zero problem counts of a check() result."""
    return {k: res[k] for k in PROBLEMS if res[k]}


# ---------------------------------------------------------------- aimed tests

class Writer(_Run):
    """One topic on one stream, for a test that aims at a single call:
    .line() appends one message (retried once if it fails, as in the
    workload), .big() one 64 KiB write of many lines, .fsync() syncs;
    .rec is the Record to check()."""

    def __init__(self, mnt, stream="s", topic="t0", durability="os",
                 framing="line"):
        super().__init__(str(mnt), Record())
        d = os.path.join(self.mnt, stream)
        if not os.path.isdir(d):
            os.mkdir(d)
        os.setxattr(d, PFX + "durability", durability.encode())
        os.setxattr(d, PFX + "framing", framing.encode())
        self.topic = topic
        self.seq[topic] = 0
        self.rec.topics[topic] = [stream + "/" + topic]
        self.rec.policy[topic] = (durability, framing)
        self.fds[topic] = os.open(os.path.join(d, topic), os.O_WRONLY |
                                  os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, size=40):
        """Append one message; returns the errno of its last attempt."""
        seq = self.seq[self.topic]
        self.seq[self.topic] += 1
        self.write_msgs(self.topic, [(seq, message(self.topic, seq, size))])
        return self.rec.msgs[(self.topic, seq)].attempts[-1]

    def lines(self, n, size=40):
        return [self.line(size) for _ in range(n)]

    def fsync(self):
        """Returns 0 or the errno."""
        try:
            os.fsync(self.fds[self.topic])
        except OSError as e:
            self.rec.error(e.errno)
            return e.errno
        for m in self.rec.msgs.values():
            if m.acked:
                m.durable = True
        return 0
