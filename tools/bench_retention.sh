#!/bin/bash
# tools/bench_retention.sh - what retention costs and what space it keeps;
# a benchmark, not a test (figures only, no pass/fail).
#
#   space   one stream with retention_bytes, one topic that keeps everything
#           (it stays below the cap) and one that expires fast: on-disk
#           segment bytes against live record bytes (payload + 48-byte
#           headers), sampled every half second
#   ttl     one stream with N topics (default 1,000,000), appends by
#           open-append-close to random topics: the rate without a ttl, with
#           a ttl (BENCH_TTL, default 10 s: the run's own messages expire
#           while it goes on), and without again; how long after the ttl is
#           set the million older creation messages are gone; how old the
#           oldest live message is after the ttl run
#
# Usage: tools/bench_retention.sh [space] [ttl]     (default: both; as root)
# Environment: STREAMFS_BUILD (default <repo>/build), BENCH_DIR (default
# /var/tmp/streamfs-bench-retention), BENCH_TOPICS (default 1000000),
# BENCH_APPENDS (default 100000), BENCH_FAST_MB (default 400), BENCH_TTL
# (default 10).
# Every mount made here is unmounted on exit, also on error and Ctrl-C.
# The whole script is one { } block, so bash parses all of it before
# running: editing this file during a run cannot derail the run.
{
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
DIR=${BENCH_DIR:-/var/tmp/streamfs-bench-retention}
TOPICS=${BENCH_TOPICS:-1000000}
APPENDS=${BENCH_APPENDS:-100000}
FAST_MB=${BENCH_FAST_MB:-400}
TTL=${BENCH_TTL:-10}
PY=/usr/bin/python3
PARTS=${*:-space ttl}
MNT=$DIR/mnt
PID=

cleanup() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
	[ -n "$PID" ] && wait "$PID" 2>/dev/null
}
trap cleanup EXIT INT TERM

mount_fresh() {         # mount_fresh [-o OPT]...
	cleanup
	rm -rf "$DIR/data" "$MNT"
	mkdir -p "$DIR" "$MNT"
	"$BUILD/fs/streamfs" -f "$@" "$DIR/data" "$MNT" 2>>"$DIR/streamfs.log" &
	PID=$!
	for _ in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		sleep 0.1
	done
	echo "streamfs did not mount (see $DIR/streamfs.log)" >&2
	exit 1
}

space() {
	mount_fresh -o segment_size=4194304
	mkdir "$MNT/s"
	setfattr -n user.streamfs.retention_bytes -v 32m "$MNT/s"
	"$PY" - "$MNT" "$DIR/data" "$FAST_MB" <<'PYEOF'
import os, sys, threading, time
mnt, data, fast_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = mnt + "/s"
SEG = 4 << 20
def seg_bytes():
    t = 0
    for root, _, files in os.walk(data + "/segments"):
        for f in files:
            try:
                t += os.stat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return t
def live():
    t = 0
    for n in ("keep", "fast"):
        try:
            v = dict(l.split("=") for l in os.getxattr(
                s + "/" + n, "user.streamfs.info").decode().split())
        except OSError:
            continue
        t += int(v["size"]) - int(v["first_offset"]) + 48 * int(v["messages"])
    return t
samples, done = [], False
def sampler():
    while not done:
        samples.append((time.monotonic(), seg_bytes(), live()))
        time.sleep(0.5)
th = threading.Thread(target=sampler)
th.start()
fast = b"f" * 3999 + b"\n"
fk = os.open(s + "/keep", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
ff = os.open(s + "/fast", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
t0 = time.monotonic()
n = fast_mb * 256
for i in range(n):
    os.write(ff, fast)
    if i % 16 == 0:
        os.write(fk, b"keep %08d %s\n" % (i, b"k" * 1985))
os.close(fk)
os.close(ff)
t1 = time.monotonic()
time.sleep(3)
done = True
th.join()
worst = max((b - 2 * SEG) / l for _, b, l in samples if l)
last = samples[-1]
print("space: %d MiB appended in %.1f s (%.0f MiB/s), keeper %.1f MiB"
      % (fast_mb, t1 - t0, fast_mb / (t1 - t0), n / 16 * 2000 / 2**20))
print("  %-40s %10s %10s %8s" % ("sample", "on disk", "live", "ratio"))
for tag, (_, b, l) in (("peak on-disk", max(samples, key=lambda x: x[1])),
                       ("end", last)):
    print("  %-40s %9.1fM %9.1fM %8.2f" % (tag, b / 2**20, l / 2**20, b / l))
print("  worst (on disk - 2 segments) / live over %d samples: %.2f "
      "(target <= 1.5)" % (len(samples), worst))
PYEOF
}

ttl() {
	mount_fresh
	local b=$BUILD/tools/streamfs-bench s=$MNT/s rate0 rate1 rate2
	mkdir "$s"
	echo "ttl: creating $TOPICS topics (one message each)"
	local t0=$(date +%s.%N)
	"$b" topics -n "$TOPICS" "$s" >/dev/null || exit 1
	echo "  created in $(elapsed "$t0") s"
	rate0=$(appends 1)
	# All creation messages expire at once: how long until the last made
	# (the scan takes them in arrival order) is gone.
	local tset=$(date +%s.%N) last=$(printf 't%07d' $((TOPICS - 1)))
	setfattr -n user.streamfs.ttl -v "$TTL" "$s"
	until first_gone "$s/$last"; do sleep 0.02; done
	local gone=$(elapsed "$tset")
	# Steady state: the run's own appends expire TTL seconds after they
	# arrive, while it goes on.
	rate1=$(appends 2)
	local lag=$(oldest_age "$s")
	setfattr -n user.streamfs.ttl -v 0 "$s"
	rate2=$(appends 3)
	printf '  %-48s %12s\n' "open-append-close to random topics" "appends/s"
	printf '  %-48s %12.0f\n' "no ttl" "$rate0" \
		"ttl=${TTL}s (expiring as it goes)" "$rate1" "no ttl again" "$rate2"
	printf '  ratio ttl / mean(no ttl) = %.2f (target >= 0.8)\n' \
		"$(awk -v a="$rate1" -v b="$rate0" -v c="$rate2" 'BEGIN { print a / ((b + c) / 2) }')"
	echo "  all $TOPICS creation messages gone ${gone} s after ttl=${TTL}s was set (they were older)"
	echo "  after the ttl run, the oldest live message of 1000 random topics was ${lag} s old (ttl ${TTL} s)"
	echo "  daemon peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}')"
}

elapsed() {
	awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'
}

# appends SEED: the rate of APPENDS open-append-close to random topics.
appends() {
	"$BUILD/tools/streamfs-bench" random -n "$APPENDS" -t "$TOPICS" -s "$1" "$MNT/s" |
		grep -o 'msgs_per_s=[0-9.]*' | cut -d= -f2
}

first_gone() {
	getfattr --only-values -n user.streamfs.info "$1" 2>/dev/null |
		grep -q '^first_message=[1-9]'
}

# The age in seconds of the oldest live message among 1000 random topics.
oldest_age() {
	"$PY" - "$1" "$TOPICS" <<'PYEOF'
import os, random, sys, time
s, n = sys.argv[1], int(sys.argv[2])
now, oldest = time.time_ns(), 0
for i in random.sample(range(n), min(n, 1000)):
    v = dict(l.split("=") for l in os.getxattr(
        "%s/t%07d" % (s, i), "user.streamfs.info").decode().split())
    if int(v["messages"]):
        oldest = max(oldest, now - int(v["first_time"]))
print("%.2f" % (oldest / 1e9))
PYEOF
}

for p in $PARTS; do
	case $p in
	space) space ;;
	ttl) ttl ;;
	*) echo "unknown part $p (space, ttl)" >&2; exit 2 ;;
	esac
done
exit
}
