"""A reader beside a durable writer: one process appends 100-byte lines to
topic w of stream DIR (whose durability the caller has set), as fast as
it can; another reads 4 KiB at random offsets of topic r, which the
writer never touches, and times each read.  Prints one line:
"reads=N p50_us=.. p99_us=.. p999_us=.. appends_per_s=.."
(figures only; the topics are made here)."""
import multiprocessing as mp
import os
import random
import sys
import time


def writer(path, stop, q):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    line = b"w" * 99 + b"\n"
    n = 0
    t0 = time.monotonic()
    while not stop.is_set():
        os.write(fd, line)
        n += 1
    q.put(n / (time.monotonic() - t0))
    os.close(fd)


def main():
    d, secs = sys.argv[1], float(sys.argv[2])
    r = os.path.join(d, "r")
    with open(r, "ab") as f:
        for _ in range(4096):
            f.write(b"r" * 255 + b"\n")
    size = os.path.getsize(r)
    stop, q = mp.Event(), mp.Queue()
    w = mp.Process(target=writer, args=(os.path.join(d, "w"), stop, q))
    w.start()
    time.sleep(0.2)
    fd = os.open(r, os.O_RDONLY)
    lat = []
    rnd = random.Random(1)
    end = time.perf_counter() + secs
    while True:
        off = rnd.randrange(0, size - 4096)
        t0 = time.perf_counter_ns()
        os.pread(fd, 4096, off)
        t1 = time.perf_counter_ns()
        lat.append(t1 - t0)
        if t1 / 1e9 > end:
            break
    os.close(fd)
    stop.set()
    rate = q.get()
    w.join()
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000

    print("reads=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f appends_per_s=%.0f"
          % (len(lat), pct(0.5), pct(0.99), pct(0.999), rate))


if __name__ == "__main__":
    main()
