#!/bin/bash
# tools/bench_kafka.sh - Kafka clients against streamfs's Kafka listener,
# side by side with librdkafka's mock cluster (a reference broker, run as
# a process of its own: tools/bench/kafka-mock.c) and Redis Streams;
# figures only, no pass/fail.  100-byte messages, with librdkafka
# (tools/bench/kafka-bench.c):
#   produce   N messages, acks=all, librdkafka's default batching
#   consume   the topic from its first offset to its end
#   latency   produce-to-consume, linger.ms=0, acks=all, at a steady rate;
#             librdkafka's consumer defaults (fetch.wait.max.ms 500), so a
#             broker that answers a waiting fetch only at its deadline
#             shows it
# Redis: redis-benchmark XADD pipelined (-P 64), one client.
# The mock cluster keeps only the last ~5 MB of a partition, so its
# consume figure covers what it kept.
# Usage: tools/bench_kafka.sh [N]         (default 1000000; as root)
# Environment: STREAMFS_BUILD (default <repo>/build), BENCH_DIR (default
# /var/tmp/streamfs-bench-kafka).  Every mount and process started here
# is stopped on exit.
{
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
DIR=${BENCH_DIR:-/var/tmp/streamfs-bench-kafka}
N=${1:-1000000}
LAT_N=10000 LAT_RATE=2000
MNT=$DIR/mnt
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT"
	exec 9>&- 2>/dev/null
}
trap cleanup EXIT INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
free_port() {
	local p
	for p in $(seq 19092 19192); do
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
}
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

[ -f /usr/include/librdkafka/rdkafka_mock.h ] ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q librdkafka-dev >&2
rm -rf "$DIR"
mkdir -p "$DIR/bin" "$MNT"
for t in kafka-bench kafka-mock; do
	cc -O2 -Wall -o "$DIR/bin/$t" "$REPO/tools/bench/$t.c" -lrdkafka ||
		{ echo "bench_kafka.sh: cannot build $t" >&2; exit 1; }
done
KB=$DIR/bin/kafka-bench

# streamfs
PORT=$(free_port)
"$BUILD/fs/streamfs" -f -o kafka=127.0.0.1:$PORT "$DIR/data" "$MNT" \
	2> "$DIR/streamfs.log" &
PIDS+=($!)
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
mkdir "$MNT/bench"
"$BUILD/tools/streamctl" create-topic "$MNT/bench/t" "$MNT/bench/lat" > /dev/null
S=127.0.0.1:$PORT
log "streamfs $($BUILD/fs/streamfs -V | head -1), Kafka listener $S"
s_prod=$($KB produce $S bench.t $N 2>>"$DIR/client.log")
s_cons=$($KB consume $S bench.t $N 2>>"$DIR/client.log")
s_lat=$($KB latency $S bench.lat $LAT_N $LAT_RATE 2>>"$DIR/client.log")
log "streamfs: $s_prod / $s_cons / $s_lat"
kill "${PIDS[0]}" 2>/dev/null; fusermount3 -u "$MNT"; PIDS=()

# librdkafka's mock cluster
coproc MOCK { "$DIR/bin/kafka-mock" bench.t; }
PIDS+=($MOCK_PID)
read -r M <&"${MOCK[0]}"
log "librdkafka $(pkg-config --modversion rdkafka 2>/dev/null) mock cluster $M"
m_prod=$($KB produce $M bench.t $N 2>>"$DIR/client.log")
m_cons=$($KB consume $M bench.t $N 2>>"$DIR/client.log")
m_lat=$($KB latency $M bench.t $LAT_N $LAT_RATE 2>>"$DIR/client.log")
log "mock: $m_prod / $m_cons / $m_lat"
kill "$MOCK_PID" 2>/dev/null; PIDS=()

# Redis Streams
r_xadd=""
if command -v redis-server > /dev/null; then
	RP=$(free_port)
	redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no \
		--daemonize no --logfile "$DIR/redis.log" &
	PIDS+=($!)
	for _ in $(seq 100); do redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
	r_xadd=$(redis-benchmark -p "$RP" -c 1 -P 64 -n "$N" --csv XADD bench '*' v \
		"$(printf '%097d' 0)" 2>/dev/null | tail -n 1 | cut -d, -f2 | tr -d '"')
	log "redis XADD -P 64: $r_xadd/s"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "-" }'; }
sp=$(field "$s_prod" msgs_per_s) sc=$(field "$s_cons" msgs_per_s)
mp=$(field "$m_prod" msgs_per_s) mc=$(field "$m_cons" msgs_per_s)
echo
printf '# Kafka clients, %s messages of 100 bytes, %s\n\n' "$N" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| measure | streamfs | mock cluster | redis XADD -P 64 | target |\n|---|--:|--:|--:|---|\n'
printf '| produce, acks=all, msgs/s | %s | %s | %s | >= 2x redis: %s; >= mock: %s |\n' \
	"$sp" "$mp" "${r_xadd:--}" "$(ratio "$sp" "${r_xadd:-0}")" "$(ratio "$sp" "$mp")"
printf '| consume to the end, msgs/s | %s (%s msgs) | %s (%s msgs kept) | | >= 1000000 |\n' \
	"$sc" "$(field "$s_cons" msgs)" "$mc" "$(field "$m_cons" msgs)"
lat() { printf 'p50 %s, p99 %s, p99.9 %s us' "$(field "$1" p50_us)" "$(field "$1" p99_us)" "$(field "$1" p999_us)"; }
printf '| produce-to-consume latency, linger.ms=0, %s msgs at %s/s | %s | %s | | p99 < 5000 us |\n' \
	"$LAT_N" "$LAT_RATE" "$(lat "$s_lat")" "$(lat "$m_lat")"
exit
}
