#!/bin/bash
# tools/bench_replica.sh - replication over TLS on loopback, side by side
# with the local append rate of the same messages; figures only, no
# pass/fail.  Two mounts, A (the source) and B (-o replica_listen), with
# certificates made here by openssl; 100-byte messages, one write() each
# (tools/bench/replica_bench.py):
#   local        N appends to a topic of a stream of A without a link
#   replication  N appends to a topic of A's stream bench first, then the
#                link A/bench -> B/bench is added: from the add to B
#                holding all N (the link's catch-up rate)
#   lag          a steady load of half the local rate for SECS seconds on
#                A; a follower on B (poll(2)) takes each message's lag
#                from the time it carries (one clock: the same host), and
#                a follower on A the same without replication, to tell
#                the link's share from the append's and the machine's
# Targets: replication >= 0.8x local; lag p99 < 50 ms.
# Usage: tools/bench_replica.sh [N [SECS]]   (default 200000 5; as root)
# Environment: STREAMFS_BUILD (default <repo>/build), BENCH_DIR (default
# /var/tmp/streamfs-bench-replica).  Every mount and process started here
# is stopped on exit.
{
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
DIR=${BENCH_DIR:-/var/tmp/streamfs-bench-replica}
N=${1:-200000}
SECS=${2:-5}
PY=/usr/bin/python3
RB="$PY $REPO/tools/bench/replica_bench.py"
CTL=$BUILD/tools/streamctl
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for m in a b; do
		mountpoint -q "$DIR/$m" 2>/dev/null && fusermount3 -u "$DIR/$m"
	done
}
trap cleanup EXIT INT TERM
. "$REPO/tools/bench/replica_lib.sh"
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

rm -rf "$DIR"
mkdir -p "$DIR"
certs
PORT=$(free_port 19300)
mount_one "$BUILD" a
mount_one "$BUILD" b -o "replica_listen=127.0.0.1:$PORT"
mkdir "$DIR/a/solo" "$DIR/a/bench" "$DIR/b/bench"
log "$("$BUILD/fs/streamfs" -V 2>&1 | grep ^streamfs), B listens on 127.0.0.1:$PORT"

local=$($RB append "$DIR/a/solo/t" "$N")
log "local: $local"
$RB append "$DIR/a/bench/t" "$N" > /dev/null
"$CTL" replica add "$DIR/a/bench" "127.0.0.1:$PORT/bench" > /dev/null
repl=$($RB count "$DIR/b/bench/t" "$N")
log "replication of $N: $repl"
rate=$(field "$local" rate)
half=$((rate / 2))
# The lag topic exists at B before the load starts: the time the link
# takes to find a new topic (its names are looked at every 0.2 s at most)
# is not the lag of a steady load.  The followers start at its end.
$RB append "$DIR/a/bench/lat" 1 > /dev/null
$RB count "$DIR/b/bench/lat" 1 > /dev/null
$RB follow "$DIR/b/bench/lat" $((half * SECS)) > "$DIR/follow.out" &
FOLLOW=$!
$RB follow "$DIR/a/bench/lat" $((half * SECS)) > "$DIR/follow-local.out" &
FOLLOW_LOCAL=$!
sleep 0.5                       # both followers at the end, waiting
sent=$($RB paced "$DIR/a/bench/lat" "$half" "$SECS")
wait $FOLLOW $FOLLOW_LOCAL
lag=$(cat "$DIR/follow.out")
llag=$(cat "$DIR/follow-local.out")
log "lag at $half/s: on B $lag, on A $llag ($sent)"
"$CTL" replica list "$DIR/a/bench" >&2

rr=$(awk -v n="$N" -v s="$(field "$repl" secs)" 'BEGIN { printf "%.0f", n / s }')
ratio=$(awk -v a="$rr" -v b="$rate" 'BEGIN { printf "%.2fx", a / b }')
echo
printf '# Replication over TLS on loopback, %s messages of 100 bytes, %s\n\n' "$N" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| measure | figure | target |\n|---|--:|---|\n'
printf '| local appends, msgs/s | %s | |\n' "$rate"
printf '| replication (catch-up of %s), msgs/s | %s (%s of local) | >= 0.80x |\n' "$N" "$rr" "$ratio"
printf '| lag at %s msgs/s for %s s, follower on B: p50 / p99 / max, ms | %s / %s / %s (%s msgs) | p99 < 50 |\n' \
	"$half" "$SECS" "$(field "$lag" p50_ms)" "$(field "$lag" p99_ms)" "$(field "$lag" max_ms)" "$(field "$lag" n)"
printf '| the same, follower on A (no replication), ms | %s / %s / %s (%s msgs) | |\n' \
	"$(field "$llag" p50_ms)" "$(field "$llag" p99_ms)" "$(field "$llag" max_ms)" "$(field "$llag" n)"
exit
}
