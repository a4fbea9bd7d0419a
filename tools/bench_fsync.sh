#!/bin/bash
# tools/bench_fsync.sh - durable appends, each writer waiting for its data
# to be on disk as Kafka's acks=all producer does: write() then fsync() of
# a 100-byte line, each writer its own file; 1 and 8 writers, on a native
# directory of the data disk and on a streamfs topic of one stream, side
# by side.  Then the latency of 4 KiB reads of one topic while another
# topic of its stream is appended to as fast as one writer can, under
# durability=os and durability=always (tools/bench/always_reader.py).
# Figures only.
# Usage: tools/bench_fsync.sh [SECONDS]   (default 5 per figure; as root)
# Environment: STREAMFS_BUILD (default <repo>/build), BENCH_DIR (default
# /var/tmp/streamfs-bench-fsync).  The mount is unmounted on exit.
{
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
DIR=${BENCH_DIR:-/var/tmp/streamfs-bench-fsync}
SECS=${1:-5}
MNT=$DIR/mnt
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT"
}
trap cleanup EXIT INT TERM
rm -rf "$DIR"
mkdir -p "$DIR/native" "$MNT"
"$BUILD/fs/streamfs" -f "$DIR/data" "$MNT" 2>"$DIR/streamfs.log" &
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
mkdir "$MNT/s"
W=$REPO/tools/bench/fsync_writers.py
declare -A N S
while read -r w v; do N[$w]=$v; done < <(/usr/bin/python3 "$W" "$DIR/native" "$SECS")
while read -r w v; do S[$w]=$v; done < <(/usr/bin/python3 "$W" "$MNT/s" "$SECS")
printf '%-10s %14s %14s %8s %s\n' writers "native/s" "streamfs/s" ratio target
printf '%-10s %14s %14s %8.2f %s\n' 1 "${N[1]}" "${S[1]}" \
	"$(awk -v a="${S[1]}" -v b="${N[1]}" 'BEGIN { print a / b }')" ">= 0.8"
printf '%-10s %14s %14s %8.2f %s\n' 8 "${N[8]}" "${S[8]}" \
	"$(awk -v a="${S[8]}" -v b="${N[8]}" 'BEGIN { print a / b }')" ">= 1.0"
echo
printf '%-22s %8s %8s %8s %10s %s\n' "reader beside writer" "p50 us" "p99 us" \
	"p99.9 us" "appends/s" target
for dur in os always; do
	mkdir "$MNT/r_$dur"
	setfattr -n user.streamfs.durability -v $dur "$MNT/r_$dur"
	out=$(/usr/bin/python3 "$REPO/tools/bench/always_reader.py" "$MNT/r_$dur" "$SECS")
	f() { printf '%s\n' "$out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	printf '%-22s %8s %8s %8s %10s %s\n' "durability=$dur" "$(f p50_us)" \
		"$(f p99_us)" "$(f p999_us)" "$(f appends_per_s)" \
		"$([ $dur = always ] && echo 'p99 < 1000')"
done
exit
}
