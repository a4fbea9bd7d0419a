"""Durable appends as an acks=all producer makes them: each writer appends
a 100-byte line to its own file and fsyncs it, again and again; prints
the appends per second of 1 and of 8 writers in DIR (figures only)."""
import multiprocessing as mp
import os
import sys
import time


def writer(path, secs, q):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    line = b"x" * 99 + b"\n"
    n = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        os.write(fd, line)
        os.fsync(fd)
        n += 1
    os.close(fd)
    q.put(n)


def run(d, writers, secs):
    q = mp.Queue()
    ps = [mp.Process(target=writer, args=("%s/w%d-%d" % (d, writers, i),
                                          secs, q))
          for i in range(writers)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return sum(q.get() for _ in ps) / secs


if __name__ == "__main__":
    d, secs = sys.argv[1], float(sys.argv[2])
    for w in (1, 8):
        print("%d %.0f" % (w, run(d, w, secs)))
