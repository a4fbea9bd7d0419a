#!/bin/bash
# tools/bench_follow.sh — how fast a follower sees new messages, and how fast
# streamctl tail reads a large topic; a measurement, not a test.
#
# Latency: a writer appends one 100-byte message every 0.5 ms and takes the
# time right after each append returns; the follower prints the messages and
# the time each line arrives is taken (tools/bench/follow-bench.c). Side by
# side, in rounds (each round runs every system once, starting with another):
#   streamctl tail -f   streamfs topic, `streamctl tail -f -o end`
#   poll() in-process   the same topic followed inside the measuring program
#                       (poll, then read: no second process, no pipe)
#   native tail -f      GNU tail -f on a file of $BASE (ext4 here), which
#                       follows with inotify
#   redis XREAD BLOCK   XADD to a Redis stream on 127.0.0.1, a follower
#                       process in XREAD BLOCK (redis-server, no persistence)
#   GNU tail -f on streamfs, fewer messages: it polls a FUSE file once a second
# Figures: p50, p99, p99.9 and max in microseconds, all rounds pooled; and
# p50 and p99 from the start of the append (before write() or XADD).
#
# Throughput: a 1 GiB topic of 100-byte lines made with 64 KiB writes of
# whole lines; `cat` of it and `streamctl tail -e --format '%s\n'` of it
# (and with %o, which cannot copy lines as they are), to /dev/null, warm
# page cache, median of the rounds.
#
# Usage: tools/bench_follow.sh [--quick]
# Environment:
#   STREAMFS_BUILD       meson build dir (default <repo>/build; compiled here)
#   STREAMFS_BENCH_DIR   where data goes (default /var/tmp/streamfs-bench-follow)
#   FOLLOW_N             messages per latency run (default 10000; quick 2000)
#   FOLLOW_ROUNDS        rounds (default 3; quick 1)
#   FOLLOW_REDIS_PORT    port for redis-server (default 16380)
#   FOLLOW_SKIP          space-separated parts to skip: latency throughput
#                        redis gnutail
# Every mount and process started here is unmounted or stopped at the end,
# on error and on Ctrl-C.
{
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
BASE=${STREAMFS_BENCH_DIR:-/var/tmp/streamfs-bench-follow}
PORT=${FOLLOW_REDIS_PORT:-16380}
QUICK=0

for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h|--help) sed -n '2,/^{$/{/^{$/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "bench_follow.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
	esac
done
if [ $QUICK = 1 ]; then
	N=${FOLLOW_N:-2000} ROUNDS=${FOLLOW_ROUNDS:-1} BIG=256m
else
	N=${FOLLOW_N:-10000} ROUNDS=${FOLLOW_ROUNDS:-3} BIG=1g
fi
SKIP=" ${FOLLOW_SKIP:-} "
INTERVAL_US=500

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
skipped() { [[ $SKIP == *" $1 "* ]]; }

MNT=$BASE/mnt
DATA=$BASE/data
RAW=$BASE/raw
FSPID=""
REDISPID=""

cleanup() {
	trap '' INT TERM
	if [ -n "$REDISPID" ]; then
		kill "$REDISPID" 2>/dev/null
		wait "$REDISPID" 2>/dev/null
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "$FSPID" ]; then
		for _ in $(seq 100); do kill -0 "$FSPID" 2>/dev/null || break; sleep 0.1; done
		kill "$FSPID" 2>/dev/null
		wait "$FSPID" 2>/dev/null
	fi
	rm -rf --one-file-system "$DATA" "$BASE/native" "$RAW"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

if mountpoint -q "$MNT" 2>/dev/null; then
	log "unmounting a leftover mount at $MNT"
	fusermount3 -uz "$MNT"
fi
if [ ! -x "$BUILD/fs/streamfs" ]; then
	meson setup "$BUILD" "$REPO" > /dev/null || exit 1
fi
meson compile -C "$BUILD" > /dev/null || { log "build failed"; exit 1; }
CTL=$BUILD/tools/streamctl
FB=$BUILD/tools/follow-bench
SB=$BUILD/tools/streamfs-bench

rm -rf --one-file-system "$DATA" "$BASE/native" "$RAW"
mkdir -p "$MNT" "$DATA" "$BASE/native" "$RAW"
"$BUILD/fs/streamfs" -f "$DATA" "$MNT" >> "$BASE/streamfs.log" 2>&1 &
FSPID=$!
for _ in $(seq 200); do mountpoint -q "$MNT" && break; sleep 0.05; done
mountpoint -q "$MNT" || { log "streamfs did not mount (see $BASE/streamfs.log)"; exit 1; }
mkdir -p "$MNT/bench"

if ! skipped redis; then
	if command -v redis-server > /dev/null; then
		redis-server --port "$PORT" --bind 127.0.0.1 --save '' \
			--appendonly no --daemonize no --logfile "$BASE/redis.log" &
		REDISPID=$!
		for _ in $(seq 100); do
			redis-cli -p "$PORT" ping > /dev/null 2>&1 && break
			sleep 0.05
		done
	else
		log "redis-server not installed: skipping Redis"
		SKIP="$SKIP redis "
	fi
fi

echo "streamfs $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------
SYSTEMS=(streamctl poll native)
skipped redis || SYSTEMS+=(redis)
declare -A LABEL=([streamctl]="streamctl tail -f (streamfs)"
	[poll]="poll() in-process (streamfs)" [native]="GNU tail -f, inotify (native)"
	[redis]="Redis XADD / XREAD BLOCK" [gnutail]="GNU tail -f (streamfs)")

run_one() {
	local sys=$1 round=$2 f
	export FOLLOW_BENCH_RAW=$RAW/$sys
	case $sys in
	streamctl)
		f=$MNT/bench/lat-$round
		"$CTL" create-topic "$f"
		"$FB" file "$f" "$N" $INTERVAL_US -- "$CTL" tail -f -o end "$f" ;;
	poll)
		"$FB" poll "$MNT/bench/poll-$round" "$N" $INTERVAL_US ;;
	native)
		f=$BASE/native/lat-$round
		: > "$f"
		"$FB" file "$f" "$N" $INTERVAL_US -- tail -f -n0 "$f" ;;
	redis)
		redis-cli -p "$PORT" del bench > /dev/null
		"$FB" redis "$PORT" "$N" $INTERVAL_US -- "$FB" redis-follow "$PORT" ;;
	gnutail)
		f=$MNT/bench/gnutail
		"$CTL" create-topic "$f"
		"$FB" file "$f" 400 5000 -- tail -f -n0 "$f" ;;
	esac
}

if ! skipped latency; then
	for ((r = 0; r < ROUNDS; r++)); do
		n=${#SYSTEMS[@]}
		for ((i = 0; i < n; i++)); do
			sys=${SYSTEMS[(i + r) % n]}
			log "round $((r + 1)): $sys"
			run_one "$sys" "$r" > "$RAW/$sys.$r.line" || log "$sys failed"
		done
	done
	skipped gnutail || { log "GNU tail -f on streamfs"; run_one gnutail 0 > /dev/null; SYSTEMS+=(gnutail); }
	echo
	echo "Follower latency, microseconds from the end of an append to the line printed"
	echo "($N messages per round, one every ${INTERVAL_US} us, $ROUNDS rounds pooled):"
	echo
	printf '| %-32s | %8s | %8s | %8s | %8s | %8s | %5s | %9s | %9s |\n' follower count p50 p99 p99.9 max lost "start p50" "start p99"
	printf '|%s|--:|--:|--:|--:|--:|--:|--:|--:|\n' "----------------------------------"
	for sys in "${SYSTEMS[@]}"; do
		[ -s "$RAW/$sys" ] || continue
		line=$("$FB" stats "$RAW/$sys")
		lost=$(cat "$RAW/$sys".*.line 2>/dev/null | sed -n 's/.*lost=\([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}')
		v() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
		printf '| %-32s | %8s | %8s | %8s | %8s | %8s | %5s | %9s | %9s |\n' "${LABEL[$sys]}" \
			"$(v count)" "$(v p50)" "$(v p99)" "$(v p999)" "$(v max)" "${lost:-0}" \
			"$(v start_p50)" "$(v start_p99)"
	done
fi

# ---------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); awk "BEGIN {print $t1 - $t0}"; }
calc() { awk "BEGIN {print $1}"; }

if ! skipped throughput; then
	big=$MNT/bench/big
	log "making a $BIG topic of 100-byte lines"
	"$SB" batch -b "$BIG" "$big" > /dev/null || exit 1
	bytes=$(stat -c %s "$big")
	msgs=$(getfattr --only-values -n user.streamfs.info "$big" | sed -n 's/^messages=//p')
	declare -a T_CAT T_TAIL T_FMT
	for ((r = 0; r < ROUNDS; r++)); do
		log "throughput round $((r + 1))"
		T_CAT+=("$(secs cat "$big")")
		T_TAIL+=("$(secs "$CTL" tail -e --format '%s\n' "$big")")
		T_FMT+=("$(secs "$CTL" tail -e --format '%o %s\n' "$big")")
	done
	c=$(printf '%s\n' "${T_CAT[@]}" | median)
	t=$(printf '%s\n' "${T_TAIL[@]}" | median)
	o=$(printf '%s\n' "${T_FMT[@]}" | median)
	echo
	echo "Reading a $(numfmt --to=iec "$bytes") topic of $msgs 100-byte lines to /dev/null (median of $ROUNDS):"
	echo
	echo "| reader | seconds | MB/s | messages/s | vs cat |"
	echo "|---|--:|--:|--:|--:|"
	for row in "cat|$c" "streamctl tail -e --format '%s\\n'|$t" "streamctl tail -e --format '%o %s\\n'|$o"; do
		name=${row%|*} s=${row##*|}
		printf '| %s | %.2f | %.0f | %.2fM | %.2fx |\n' "$name" "$s" \
			"$(calc "$bytes / $s / 1000000")" \
			"$(calc "$msgs / $s / 1000000")" "$(calc "$c / $s")"
	done
fi
exit 0
}
