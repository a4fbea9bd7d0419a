#!/bin/bash
# tools/bench_replica_scan.sh - what a replication link costs its source
# daemon with many topics in its stream, before and after links looked
# again by generation (docs/design.md, "Looking again, by generation");
# figures only, no pass/fail.  For each build: two mounts on loopback, A
# (the source) and B (-o replica_listen), certificates made here by
# openssl; stream bench of A gets N topics of one line each and a link to
# B/bench, copied whole; then the source daemon's CPU time (utime+stime of
# /proc/PID/stat) is taken over SECS seconds idle, and over SECS seconds
# of a steady 100 appends a second to one topic; and the same without
# a link (the current build), which is what the appends cost on their
# own.  The build before is
# the parent of the commit that brought the generations, built in a
# temporary git worktree.
# Usage: tools/bench_replica_scan.sh [N [SECS]]   (default 2000 10; as root)
# Environment: STREAMFS_BUILD (default <repo>/build), BENCH_DIR (default
# /var/tmp/streamfs-bench-replica-scan), BEFORE (a commit; default as
# above).  Every mount, process and worktree made here is removed on exit.
{
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
AFTER_BUILD=${STREAMFS_BUILD:-$REPO/build}
DIR=${BENCH_DIR:-/var/tmp/streamfs-bench-replica-scan}
N=${1:-2000}
SECS=${2:-10}
PY=/usr/bin/python3
HZ=$(getconf CLK_TCK)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for m in a b; do
		mountpoint -q "$DIR/$m" 2>/dev/null && fusermount3 -u "$DIR/$m"
	done
	[ -d "$DIR/before" ] && git -C "$REPO" worktree remove --force "$DIR/before"
}
trap cleanup EXIT INT TERM
. "$REPO/tools/bench/replica_lib.sh"
unmount_all() {
	for m in a b; do fusermount3 -u "$DIR/$m"; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
	rm -rf "$DIR/data-a" "$DIR/data-b"
}
cpu_ms() {      # cpu_ms PID: its utime+stime so far, in ms
	awk -v hz="$HZ" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat"
}
# One build's two figures, "IDLE_MS APPEND_MS", in RES; nolink: no link.
measure() {     # measure BUILD [nolink]
	local build=$1 port a c0 c1 c2
	port=$(free_port 19400)
	mount_one "$build" a
	a=$MPID
	mount_one "$build" b -o "replica_listen=127.0.0.1:$port"
	mkdir "$DIR/a/bench" "$DIR/b/bench"
	$PY - "$DIR/a/bench" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "t%d" % i), "ab") as f:
        f.write(b"first\n")
EOF
	if [ "${2:-}" != nolink ]; then
		"$build/tools/streamctl" replica add "$DIR/a/bench" "127.0.0.1:$port/bench" > /dev/null
		for _ in $(seq 600); do
			[ "$(ls "$DIR/b/bench" | wc -l)" -ge "$N" ] && break
			sleep 0.2
		done
	fi
	sleep 3         # the looks that follow the start are over
	c0=$(cpu_ms "$a")
	sleep "$SECS"
	c1=$(cpu_ms "$a")
	$PY - "$DIR/a/bench/t0" "$SECS" <<'EOF'
import os, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
end = time.monotonic() + secs
i = 0
while time.monotonic() < end:
    os.write(fd, b"message %d\n" % i)
    i += 1
    time.sleep(0.01)
os.close(fd)
EOF
	c2=$(cpu_ms "$a")
	unmount_all
	RES="$((c1 - c0)) $((c2 - c1))"
}

BEFORE=${BEFORE:-$(git -C "$REPO" log --format=%H -1 -S'replica_names_changed' -- fs/replica/replica.c)~1}
rm -rf "$DIR"
mkdir -p "$DIR"
log "building $BEFORE in a worktree"
git -C "$REPO" worktree add --detach "$DIR/before" "$BEFORE" > /dev/null 2>&1 || exit 1
(cd "$DIR/before" && meson setup build > /dev/null && meson compile -C build > /dev/null) || exit 1
certs
log "before: $N topics, $SECS s idle, $SECS s of 100 appends/s"
measure "$DIR/before/build"
read -r bi ba <<< "$RES"
log "after"
measure "$AFTER_BUILD"
read -r ai aa <<< "$RES"
log "no link"
measure "$AFTER_BUILD" nolink
read -r ni na <<< "$RES"

echo
printf '# A link with %s topics, source daemon CPU over %s s, %s\n\n' "$N" "$SECS" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| build | idle, CPU ms | 100 appends/s to one topic, CPU ms |\n|---|--:|--:|\n'
printf '| before (%s) | %s | %s |\n' "$(git -C "$REPO" rev-parse --short "$BEFORE")" "$bi" "$ba"
printf '| after (%s) | %s | %s |\n' "$(git -C "$REPO" rev-parse --short HEAD)" "$ai" "$aa"
printf '| no link (%s) | %s | %s |\n' "$(git -C "$REPO" rev-parse --short HEAD)" "$ni" "$na"
exit
}
