"""replica_bench.py - the writer and the follower of tools/bench_replica.sh.

  append PATH N             append N 100-byte messages (one write each);
                            prints "rate=MSGS_PER_S"
  paced PATH RATE SECONDS   append 100-byte messages at RATE a second for
                            SECONDS; each starts with the CLOCK_REALTIME
                            ns it was written at; prints "sent=N"
  follow PATH N             wait for PATH, read N messages as they come
                            after what it held (poll(2) on the topic),
                            and print the lag of
                            each (now - the time it holds) as
                            "p50_ms=... p99_ms=... max_ms=... n=N"
  count PATH N              wait until PATH's user.streamfs.info says N
                            messages; prints "secs=S" from the start
"""
import os
import select
import sys
import time

SIZE = 100


def message(i):
    head = b"%d " % time.time_ns()
    return head + b"x" * (SIZE - 1 - len(head)) + b"\n"


def append(path, n):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    msg = b"m" * (SIZE - 1) + b"\n"
    t0 = time.monotonic()
    for _ in range(n):
        os.write(fd, msg)
    dt = time.monotonic() - t0
    os.close(fd)
    print("rate=%.0f" % (n / dt))


def paced(path, rate, secs):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    n = int(rate * secs)
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        os.write(fd, message(i))
    os.close(fd)
    print("sent=%d" % n)


def wait_path(path):
    for _ in range(6000):
        if os.path.exists(path):
            return
        time.sleep(0.01)
    sys.exit("replica_bench: %s never appeared" % path)


def follow(path, n):
    wait_path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)    # what came before is no lag of ours
    p = select.poll()
    p.register(fd, select.POLLIN)
    lags, buf = [], b""
    while len(lags) < n:
        data = os.read(fd, 1 << 20)
        if not data:
            if not p.poll(10000):
                break
            continue
        now = time.time_ns()
        buf += data
        *done, buf = buf.split(b"\n")
        for line in done:
            lags.append((now - int(line.split(b" ", 1)[0])) / 1e6)
    lags.sort()
    if not lags:
        sys.exit("replica_bench: nothing arrived at %s" % path)

    def q(f):
        return lags[min(len(lags) - 1, int(f * len(lags)))]
    print("p50_ms=%.2f p99_ms=%.2f max_ms=%.2f n=%d" % (
        q(0.5), q(0.99), lags[-1], len(lags)))


def count(path, n):
    t0 = time.monotonic()
    wait_path(path)
    while True:
        info = os.getxattr(path, "user.streamfs.info").decode()
        got = int(info.split("messages=", 1)[1].split("\n", 1)[0])
        if got >= n:
            break
        time.sleep(0.005)
    print("secs=%.3f" % (time.monotonic() - t0))


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "append":
        append(path, int(sys.argv[3]))
    elif cmd == "paced":
        paced(path, float(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "follow":
        follow(path, int(sys.argv[3]))
    elif cmd == "count":
        count(path, int(sys.argv[3]))
    else:
        sys.exit(__doc__)


main()
