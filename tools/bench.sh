#!/bin/bash
# tools/bench.sh — the streamfs benchmark (issue 2, "Benchmark"); not a test.
#
# Measures 100-byte messages on one disk, side by side:
#   native          appends to a plain file on the data folder's filesystem
#   passthrough_ll  libfuse's example (the FUSE ceiling), built here from
#                   /usr/share/doc/libfuse3-dev/examples, single-threaded (-s)
#                   and multithreaded; the better of the two is "pt best"
#   streamfs blob   O_WRONLY|O_CREAT|O_TRUNC, then sequential writes
#   streamfs topic  O_WRONLY|O_CREAT|O_APPEND, default (single-threaded) mode
#                   and with -o threads
#   null            libfuse's null example -s (a FUSE filesystem that
#                   discards every write: the floor), for (a) only
#   topic -o nometrics  streamfs counting nothing, for (a) and (b): what the
#                   metrics cost
#   Redis Streams   XADD through redis-benchmark, when redis-server exists
# Patterns: (a) one write() per message, (b) 64 KiB writes of whole lines,
# (c) open-append one line-close per message, (d) sequential 1 MiB reads of a
# large topic after dropping caches, (e) one stream with a million topics.
# Then two sections of their own, each a script of its own run from here:
#   callgrind  the daemon's instructions per message (tools/bench_callgrind.sh)
#   durable    write()+fsync() writers, 1 and 8 (tools/bench_fsync.sh), and
#              the read latency of a topic beside a durability=always writer
#              (tools/bench/always_reader.py), against durability=os
#
# Usage: tools/bench.sh [--quick] [--keep]      (as root: mounts, drop_caches)
# Environment:
#   STREAMFS_BUILD      meson build dir (default <repo>/build; set up and
#                       compiled with meson when its streamfs is missing)
#   STREAMFS_BENCH_DIR  where the data folders go (default /var/tmp/streamfs-bench)
#   BENCH_REPS          runs per figure, the median is kept (default 3; quick 1)
#   BENCH_SKIP          space-separated parts to skip: a b c d e redis
#                       callgrind durable
# The I/O itself is done by tools/bench/streamfs-bench.c (one line of
# key=value per run; all raw lines are kept in $STREAMFS_BENCH_DIR/last-raw.txt,
# the table in last-table.txt). Every mount and process started here is
# unmounted/stopped on exit, on error and on Ctrl-C.

# The whole script is one { } block, so bash parses all of it before running:
# editing or checking out this file during a run cannot derail the run.
{
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
BASE=${STREAMFS_BENCH_DIR:-/var/tmp/streamfs-bench}
PT_SRC_DIR=/usr/share/doc/libfuse3-dev/examples
QUICK=0
KEEP=0

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "bench.sh: run as root (it mounts and drops the page cache)" >&2
	exit 2
fi

# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------
if [ $QUICK = 1 ]; then
	A_N=50000 B_BYTES=128m C_N=5000 D_BYTES=256m
	E_TOPICS=100000 E_APPENDS=20000 REPS=${BENCH_REPS:-1}
else
	A_N=200000 B_BYTES=1g C_N=20000 D_BYTES=1g
	E_TOPICS=1000000 E_APPENDS=100000 REPS=${BENCH_REPS:-3}
fi
SKIP=" ${BENCH_SKIP:-} "
MSG=$(printf '%099d' 0)   # 99 bytes; redis-benchmark values are 100 with XADD field

# ---------------------------------------------------------------------------
# Bookkeeping and clean-up
# ---------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/streamfs-bench.XXXXXX)
PIDS=()        # processes we started
MOUNTS=()      # mount points we mounted
declare -A V   # V[pattern:system] = figure
LOGDIR=$BASE/logs
RAW=$BASE/last-raw.txt

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
# Warnings go to a file: many are raised inside $(...) subshells.
warn() { printf '%s\n' "$*" >> "$TMP/warnings"; log "WARNING: $*"; }

cleanup() {
	local m p i
	trap '' INT TERM
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		[ -n "$m" ] || continue
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
		fi
	done
	for p in "${PIDS[@]}"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		[ -n "$p" ] || continue
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	rm -f "$BASE/pids"
	rm -rf "$TMP"
	if [ $KEEP = 0 ] && [ -d "$BASE" ]; then
		[ -d "$BASE/plain/e-stream" ] &&
			log "removing the data folders (a million plain files take minutes)"
		rm -rf --one-file-system "$BASE"/plain "$BASE"/*-data "$BASE"/*-mnt "$BASE/redis"
	fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Leftovers of an aborted run: its mounts break the next one.
clean_stale() {
	local m p comm
	while read -r m; do
		case $m in "$BASE"/*)
			log "unmounting leftover $m"
			fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ;;
		esac
	done < <(findmnt -rn -o TARGET 2>/dev/null)
	if [ -f "$BASE/pids" ]; then
		while read -r p comm; do
			[ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$comm" ] && kill "$p" 2>/dev/null
		done < "$BASE/pids"
		rm -f "$BASE/pids"
	fi
}

remember_pid() {
	PIDS+=("$1")
	echo "$1 $(cat /proc/"$1"/comm 2>/dev/null)" >> "$BASE/pids"
}

forget_pid() {
	local i
	for i in "${!PIDS[@]}"; do [ "${PIDS[i]}" = "$1" ] && unset 'PIDS[i]'; done
}

# mount_fs NAME MNT CMD...: start a FUSE daemon in the foreground (its command
# line must include -f), wait for MNT to be mounted, and check it is still
# alive a moment later. Sets MPID to its pid; returns 1 if it did not mount.
MPID=""
mount_fs() {
	local name=$1 mnt=$2 pid i
	shift 2
	MPID=""
	[ -e "$mnt" ] || mkdir -p "$mnt"
	"$@" >> "$LOGDIR/$name.log" 2>&1 &
	pid=$!
	remember_pid "$pid"
	MOUNTS+=("$mnt")
	for i in $(seq 200); do
		mountpoint -q "$mnt" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	sleep 0.2
	if ! mountpoint -q "$mnt" || ! kill -0 "$pid" 2>/dev/null; then
		log "$name: mount failed: $*"
		tail -n 5 "$LOGDIR/$name.log" | sed 's/^/    /' >&2
		umount_fs "$mnt" "$pid"
		return 1
	fi
	MPID=$pid
}

umount_fs() {
	local mnt=$1 pid=$2 i
	for i in $(seq 50); do
		mountpoint -q "$mnt" || break
		fusermount3 -u "$mnt" 2>/dev/null && break
		sleep 0.1
	done
	mountpoint -q "$mnt" && fusermount3 -uz "$mnt" 2>/dev/null
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid still running after unmount of $mnt; killing it"
		kill "$pid" 2>/dev/null; sleep 0.5; kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
}

drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

# ---------------------------------------------------------------------------
# Running the measuring program
# ---------------------------------------------------------------------------

# field LINE KEY: the value of KEY in a key=value line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# bench SYSTEM PATTERN-ARGS...: one run; echoes its output line, or nothing
# (and a warning) on failure. Checks size, kind and index count.
bench_once() {
	local sys=$1 out err rc want_kind=""
	shift
	err=$TMP/err
	out=$(timeout --foreground 3600 "$BENCH" "$@" 2>"$err")
	rc=$?
	printf '%s %s\n' "system=$sys" "${out:-rc=$rc}" >> "$RAW"
	if [ $rc != 0 ]; then
		warn "$sys: '$(basename "$BENCH") $*' failed (exit $rc): $(tail -n 2 "$err" | tr '\n' ' ')"
		return 1
	fi
	case $sys in topic*) want_kind=topic ;; blob*) want_kind=blob ;; esac
	[ $sys = null ] && { printf '%s\n' "$out"; return 0; }  # its file is 4 GiB
	case $out in *size_mismatch=*)
		warn "$sys $1: file size $(field "$out" size), expected $(field "$out" size_mismatch)" ;;
	esac
	if [ -n "$want_kind" ] && [ -n "$(field "$out" size)" ] &&
	   [ "$(field "$out" kind)" != "$want_kind" ]; then
		warn "$sys $1: kind is '$(field "$out" kind)', expected $want_kind"
	fi
	case $out in *index_mismatch=*)
		warn "$sys $1: $(field "$out" indexed) messages indexed, $(field "$out" index_mismatch) expected" ;;
	esac
	printf '%s\n' "$out"
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }

declare -A RUNS   # RUNS[pattern:system] = the figures of each run, one a line
declare -A DIR    # DIR[system] = the directory it is measured in ("" = absent)

# finish KEY SYSTEM UNIT: V[KEY:SYSTEM] = the median of its runs (FAIL when
# any run failed), and the runs in the log.
finish() {
	local key=$1 sys=$2 unit=$3 vals=${RUNS[$1:$2]:-}
	[ "${V[$key:$sys]:-}" = FAIL ] && return
	[ -n "$vals" ] || return
	V[$key:$sys]=$(printf '%s' "$vals" | median)
	log "  $key $sys: ${V[$key:$sys]} ${unit/_per_s//s} (runs: $(printf '%s' "$vals" | tr '\n' ' '))"
}

# one_run KEY SYSTEM UNIT PATTERN-ARGS...: one run; its UNIT joins RUNS.
one_run() {
	local key=$1 sys=$2 unit=$3 out
	shift 3
	if out=$(bench_once "$sys" "$@"); then
		RUNS[$key:$sys]+="$(field "$out" "$unit")"$'\n'
	else
		V[$key:$sys]=FAIL
	fi
}

# rotated R: SYSTEMS starting at position R, so no system always runs first
# (the load of a shared machine drifts; every round measures all systems).
rotated() {
	local n=${#SYSTEMS[@]} i
	for ((i = 0; i < n; i++)); do echo "${SYSTEMS[(i + $1) % n]}"; done
}

# ---------------------------------------------------------------------------
# Set-up: directories, the measuring program, passthrough_ll, streamfs
# ---------------------------------------------------------------------------
mkdir -p "$BASE" "$LOGDIR"
clean_stale
rm -rf --one-file-system "$BASE"/plain "$BASE"/*-data "$BASE"/*-mnt "$BASE/redis"
mkdir -p "$BASE/plain"
: > "$RAW"
: > "$LOGDIR/build.log"
log "data folders under $BASE ($(df -P "$BASE" | awk 'NR==2 {print $1}'), $(findmnt -n -o FSTYPE --target "$BASE"))"
[ $QUICK = 1 ] && log "quick run: sizes reduced, $REPS run(s) per figure"

# streamfs build
SFS=""
log "streamfs build: $BUILD"
if [ ! -x "$BUILD/fs/streamfs" ]; then
	log "no $BUILD/fs/streamfs: building with meson"
	{ [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$REPO"; } >> "$LOGDIR/build.log" 2>&1 &&
	meson compile -C "$BUILD" >> "$LOGDIR/build.log" 2>&1 ||
		warn "streamfs build failed (see $LOGDIR/build.log): $(grep -m1 -E 'ERROR|error:' "$LOGDIR/build.log")"
fi
[ -x "$BUILD/fs/streamfs" ] && SFS=$BUILD/fs/streamfs
# Which source the build was made from, and its commit when it is a git tree.
SRC=$(sed -n 's/.*"source": *"\([^"]*\)".*/\1/p' "$BUILD/meson-info/meson-info.json" 2>/dev/null | head -n1)
SRC=${SRC:-$REPO}
SRC_REV=$(git -C "$SRC" log -1 --format=%h 2>/dev/null)
[ -n "$SRC_REV" ] && [ -n "$(git -C "$SRC" status --porcelain -- fs store acl 2>/dev/null)" ] &&
	SRC_REV="$SRC_REV+local changes"
SRC_REV=${SRC_REV:-not a git tree}
if [ -n "$SFS" ]; then
	log "streamfs: $SFS, built from $SRC ($SRC_REV)"
else
	warn "no streamfs binary: streamfs columns are empty"
fi

# the measuring program: from the build, else compiled here
if [ -x "$BUILD/tools/streamfs-bench" ]; then
	BENCH=$BUILD/tools/streamfs-bench
else
	BENCH=$TMP/streamfs-bench
	cc -O2 -std=c11 -D_GNU_SOURCE -Wall "$REPO/tools/bench/streamfs-bench.c" -o "$BENCH" ||
		{ echo "bench.sh: cannot build tools/bench/streamfs-bench.c" >&2; exit 1; }
fi
log "measuring program: $BENCH"

# passthrough_ll, built from the Debian example (never kept)
PT=""
if [ ! -f "$PT_SRC_DIR/passthrough_ll.c" ]; then
	log "installing libfuse3-dev for passthrough_ll.c"
	apt-get install -y libfuse3-dev >> "$LOGDIR/build.log" 2>&1
fi
if cc -O2 $(pkg-config fuse3 --cflags) "$PT_SRC_DIR/passthrough_ll.c" \
	-o "$TMP/passthrough_ll" $(pkg-config fuse3 --libs) >> "$LOGDIR/build.log" 2>&1; then
	PT=$TMP/passthrough_ll
	log "passthrough_ll: built from $PT_SRC_DIR/passthrough_ll.c (libfuse $(pkg-config --modversion fuse3))"
else
	warn "cannot build passthrough_ll from $PT_SRC_DIR (see $LOGDIR/build.log)"
fi

# null, built from the same examples; it serves one file, its mount point
NUL=""
if cc -O2 $(pkg-config fuse3 --cflags) "$PT_SRC_DIR/null.c" \
	-o "$TMP/null" $(pkg-config fuse3 --libs) >> "$LOGDIR/build.log" 2>&1; then
	NUL=$TMP/null
else
	warn "cannot build null from $PT_SRC_DIR (see $LOGDIR/build.log)"
fi

SYSTEMS=(native pt_s pt_mt null blob topic topic_mt topic_nm)

# ---------------------------------------------------------------------------
# (a)-(d): every system mounted at once, measured round by round
# ---------------------------------------------------------------------------
DIR[native]=$BASE/plain
declare -A MPIDS   # system -> daemon pid
declare -A MNTS    # system -> mount point
if [ -n "$PT" ]; then
	for sys in pt_s pt_mt; do
		flags=""; label=multithreaded
		[ $sys = pt_s ] && { flags=-s; label="-s (single-threaded)"; }
		mnt=$BASE/$sys-mnt
		log "passthrough_ll $label: $mnt (source $BASE/plain)"
		if mount_fs "$sys" "$mnt" "$PT" -f $flags -o source="$BASE/plain" "$mnt"; then
			DIR[$sys]=$mnt MPIDS[$sys]=$MPID MNTS[$sys]=$mnt
		else
			warn "passthrough_ll $label did not mount"
		fi
	done
fi
if [ -n "$NUL" ]; then
	mnt=$BASE/null-mnt
	: > "$mnt"
	log "null -s: $mnt"
	if mount_fs null "$mnt" "$NUL" -f -s "$mnt"; then
		DIR[null]=$mnt MPIDS[null]=$MPID MNTS[null]=$mnt
	else
		warn "null did not mount"
	fi
fi
if [ -n "$SFS" ]; then
	for sys in topic topic_mt topic_nm; do
		opts=(); label=default data=$BASE/sfs-data mnt=$BASE/sfs-mnt
		[ $sys = topic_mt ] && { opts=(-o threads); label="-o threads"
			data=$BASE/sfs-mt-data mnt=$BASE/sfs-mt-mnt; }
		[ $sys = topic_nm ] && { opts=(-o nometrics); label="-o nometrics"
			data=$BASE/sfs-nm-data mnt=$BASE/sfs-nm-mnt; }
		mkdir -p "$data"
		log "streamfs ($label): $mnt (data $data)"
		if ! mount_fs "streamfs-$sys" "$mnt" "$SFS" -f "${opts[@]}" "$data" "$mnt"; then
			warn "streamfs ($label) did not mount: $SFS -f ${opts[*]} $data $mnt (log $LOGDIR/streamfs-$sys.log)"
			continue
		fi
		MPIDS[$sys]=$MPID MNTS[$sys]=$mnt
		if mkdir -p "$mnt/bench"; then
			DIR[$sys]=$mnt/bench
			[ $sys = topic ] && DIR[blob]=$mnt/bench
		else
			warn "streamfs ($label): mkdir $mnt/bench (a stream) failed"
		fi
	done
fi

# args_for KEY SYSTEM: the measuring program's arguments, in ARGS.
args_for() {
	local key=$1 sys=$2 dir=${DIR[$2]} mode=append blob=()
	[ $sys = blob ] && { mode=trunc; blob=(--blob); }
	case $key in
	a) if [ $sys = null ]; then ARGS=(write -n $A_N "$dir")
	   else ARGS=(write -m $mode -n $A_N "$dir/a-$sys"); fi ;;
	b) ARGS=(batch -m $mode -b $B_BYTES "$dir/b-$sys") ;;
	c) ARGS=(echo "${blob[@]}" -n $C_N "$dir/c-$sys") ;;
	d) ARGS=(read "$dir/d-read") ;;
	esac
}

for key in a b c d; do
	case $SKIP in *" $key "*) continue ;; esac
	unit=msgs_per_s
	case $key in b|d) unit=mb_per_s ;; esac
	if [ $key = d ]; then
		log "writing the ${D_BYTES} read file (plain) and topics (64 KiB appends)"
		bench_once native-fill batch -b $D_BYTES "$BASE/plain/d-read" > /dev/null
		for sys in topic topic_mt; do
			[ -n "${DIR[$sys]:-}" ] &&
				{ bench_once $sys-fill batch -b $D_BYTES "${DIR[$sys]}/d-read" > /dev/null ||
				  V[d:$sys]=FAIL; }
		done
	fi
	log "pattern ($key), $REPS round(s)"
	for ((r = 0; r < REPS; r++)); do
		for sys in $(rotated $r); do
			[ -n "${DIR[$sys]:-}" ] || continue
			[ "${V[$key:$sys]:-}" = FAIL ] && continue
			[ $key = d ] && [ $sys = blob ] && continue
			[ $key != a ] && [ $sys = null ] && continue
			case $key in c|d) [ $sys = topic_nm ] && continue ;; esac
			args_for $key $sys
			if [ $key = d ]; then
				drop_caches
			elif [ $sys = null ]; then
				sync
			else
				# Start from clean pages: the previous system's
				# dirty data must not be written back on this
				# one's time.
				rm -f "${ARGS[-1]}"
				sync
			fi
			one_run $key $sys $unit "${ARGS[@]}"
			[ $key = d ] || [ $sys = null ] || rm -f "${ARGS[-1]}"
		done
	done
	for sys in "${SYSTEMS[@]}"; do finish $key $sys $unit; done
done

for sys in pt_s pt_mt null topic topic_mt topic_nm; do
	[ -n "${MPIDS[$sys]:-}" ] || continue
	case $sys in topic*)
		log "streamfs $sys: peak RSS after (a)-(d) $(awk '/VmHWM/ {print $2, $3}' /proc/"${MPIDS[$sys]}"/status 2>/dev/null)" ;;
	esac
	kill -0 "${MPIDS[$sys]}" 2>/dev/null || warn "$sys: the daemon (pid ${MPIDS[$sys]}) had exited before unmount"
	umount_fs "${MNTS[$sys]}" "${MPIDS[$sys]}"
done
rm -f "$BASE/plain/d-read"

# ---------------------------------------------------------------------------
# (e) one stream with many topics (fresh mount, so VmHWM is this part's own)
# ---------------------------------------------------------------------------
E_DONE=0
run_e() {
	local dir=$1 sys=$2 pid=${3:-} out t0 t1
	log "$sys: creating $E_TOPICS topics in $dir"
	mkdir -p "$dir" || { warn "$sys: mkdir $dir failed"; return 1; }
	out=$(bench_once "$sys" topics -n $E_TOPICS "$dir") || { V[e_create:$sys]=FAIL; return 1; }
	V[e_create:$sys]=$(field "$out" msgs_per_s)
	V[e_create_s:$sys]=$(field "$out" secs)
	log "  created in $(field "$out" secs) s ($(field "$out" msgs_per_s)/s)"
	out=$(bench_once "$sys" first sh -c "ls -U1 '$dir' | head -n 1") &&
		V[e_ls:$sys]=$(field "$out" first_s)
	log "  ls -U1 | head -1: $(field "$out" first_s) s (first entry $(field "$out" first_line))"
	out=$(bench_once "$sys" random -n $E_APPENDS -t $E_TOPICS "$dir") &&
		V[e_random:$sys]=$(field "$out" msgs_per_s) || V[e_random:$sys]=FAIL
	out=$(bench_once "$sys" randfd -n $E_APPENDS -t $E_TOPICS -k 1000 "$dir") &&
		V[e_randfd:$sys]=$(field "$out" msgs_per_s) || V[e_randfd:$sys]=FAIL
	out=$(bench_once "$sys" echo -n $E_APPENDS "$dir/one") &&
		V[e_one:$sys]=$(field "$out" msgs_per_s) || V[e_one:$sys]=FAIL
	out=$(bench_once "$sys" write -n $E_APPENDS "$dir/one-fd") &&
		V[e_onefd:$sys]=$(field "$out" msgs_per_s) || V[e_onefd:$sys]=FAIL
	log "  random topics ${V[e_random:$sys]}/s, one topic ${V[e_one:$sys]}/s, 1000 random open fds ${V[e_randfd:$sys]}/s, one open fd ${V[e_onefd:$sys]}/s"
	if [ -n "$pid" ]; then
		V[e_rss:$sys]=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' /proc/"$pid"/status 2>/dev/null)
		log "  daemon peak RSS (VmHWM): ${V[e_rss:$sys]} MiB"
	fi
}

case $SKIP in *" e "*) ;; *)
	run_e "$BASE/plain/e-stream" native
	if [ -n "$SFS" ]; then
		log "streamfs (default) for (e): $BASE/e-mnt (data $BASE/e-data)"
		if mount_fs streamfs-e "$BASE/e-mnt" "$SFS" -f "$BASE/e-data" "$BASE/e-mnt"; then
			pid=$MPID
			SECONDS=0
			run_e "$BASE/e-mnt/many" topic "$pid"
			log "(e) on streamfs took $SECONDS s"
			umount_fs "$BASE/e-mnt" "$pid"
		else
			warn "streamfs did not mount for (e) (log $LOGDIR/streamfs-e.log)"
		fi
	fi ;;
esac

# ---------------------------------------------------------------------------
# Redis Streams
# ---------------------------------------------------------------------------
REDIS_NOTE=""
case $SKIP in *" redis "*) ;; *)
if command -v redis-server > /dev/null && command -v redis-benchmark > /dev/null; then
	port=""
	for p in $(seq 16379 16479); do
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { port=$p; break; }
	done
	mkdir -p "$BASE/redis"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$BASE/redis" --save '' \
		--appendonly yes --appendfsync everysec --daemonize no \
		--logfile "$LOGDIR/redis.log" &
	rpid=$!
	remember_pid "$rpid"
	for i in $(seq 100); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
		sleep 0.05
	done
	log "redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$port (appendonly yes, appendfsync everysec)"
	# rb KEY CLIENTS PIPELINE: XADD of a 100-byte value, median of REPS
	rb() {
		local key=$1 c=$2 p=$3 r n vals="" out
		n=$A_N
		for ((r = 1; r <= REPS; r++)); do
			redis-cli -p "$port" del bench > /dev/null
			out=$(redis-benchmark -p "$port" -c "$c" -P "$p" -n "$n" --csv \
				XADD bench '*' v "x$MSG" 2>>"$LOGDIR/redis.log" | tail -n 1)
			echo "system=redis c=$c P=$p $out" >> "$RAW"
			vals+="$(printf '%s' "$out" | cut -d, -f2 | tr -d '"')"$'\n'
		done
		V[$key:redis]=$(printf '%s' "$vals" | median)
		log "  redis XADD -c $c -P $p: ${V[$key:redis]} msgs/s"
	}
	rb r_c1p1 1 1
	rb r_c50p1 50 1
	rb r_c1p64 1 64
	rb r_c50p64 50 64
	kill "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	forget_pid "$rpid"
else
	REDIS_NOTE="redis-server not installed: Redis Streams not measured"
fi ;;
esac

# ---------------------------------------------------------------------------
# callgrind and durable appends: scripts of their own, their tables kept
# ---------------------------------------------------------------------------
case $SKIP in *" callgrind "*) ;; *)
	log "callgrind: tools/bench_callgrind.sh (log $LOGDIR/callgrind.log)"
	cg_env=(STREAMFS_BUILD="$BUILD" BENCH_DIR="$BASE/callgrind")
	[ $QUICK = 1 ] && cg_env+=(BENCH_N=5000 BENCH_REPS=1)
	env "${cg_env[@]}" "$REPO/tools/bench_callgrind.sh" > "$TMP/callgrind.txt" \
		2> "$LOGDIR/callgrind.log" || warn "tools/bench_callgrind.sh failed (log $LOGDIR/callgrind.log)" ;;
esac
case $SKIP in *" durable "*) ;; *)
	log "durable appends: tools/bench_fsync.sh (log $LOGDIR/fsync.log)"
	STREAMFS_BUILD="$BUILD" BENCH_DIR="$BASE/fsync" \
		"$REPO/tools/bench_fsync.sh" $([ $QUICK = 1 ] && echo 2 || echo 5) \
		> "$TMP/durable.txt" 2> "$LOGDIR/fsync.log" ||
		warn "tools/bench_fsync.sh failed (log $LOGDIR/fsync.log)" ;;
esac

# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
# num VALUE KIND: msgs -> 41.2k / 3.10M ; mb -> 812 ; s -> 1.23 ; empty -> -
num() {
	local v=${1:-} kind=$2
	case $v in "") echo "-"; return ;; FAIL) echo FAIL; return ;; esac
	case $kind in
	msgs) awk -v v="$v" 'BEGIN { if (v >= 1e6) printf "%.2fM", v/1e6;
		else if (v >= 1e3) printf "%.1fk", v/1e3; else printf "%.0f", v }' ;;
	mb) awk -v v="$v" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.1f"), v }' ;;
	s) awk -v v="$v" 'BEGIN { printf (v >= 10 ? "%.1f" : "%.3f"), v }' ;;
	*) echo "$v" ;;
	esac
}
# unit VALUE KIND SUFFIX: num with a suffix, or just "-" / FAIL
unit() {
	isnum "${1:-}" && echo "$(num "$1" "$2")$3" || num "${1:-}" "$2"
}
rate_secs() {
	isnum "${1:-}" && echo "$(num "$1" msgs)/s ($(num "$2" s) s)" || num "${1:-}" msgs
}
isnum() { [[ ${1:-} =~ ^[0-9.eE+-]+$ ]]; }
best() {
	local a=${1:-} b=${2:-}
	isnum "$a" || { echo "$b"; return; }
	isnum "$b" || { echo "$a"; return; }
	awk -v a="$a" -v b="$b" 'BEGIN { print (a > b ? a : b) }'
}
ratio() {
	isnum "${1:-}" && isnum "${2:-}" || { echo "-"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a/b; else print "-" }'
}

table() {
	local row key kind label target ptb cells s redis
	printf '# streamfs benchmark, %s, %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" \
		"$([ $QUICK = 1 ] && echo 'quick run' || echo 'full run')"
	printf '# %s; %s CPUs; kernel %s; data on %s (%s)\n' \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
		"$(nproc)" "$(uname -r)" "$BASE" "$(findmnt -n -o FSTYPE --target "$BASE")"
	printf '# streamfs from %s (%s); median of %s run(s); messages are 100 bytes\n' \
		"$SRC" "$SRC_REV" "$REPS"
	printf '# sizes: a=%s msgs, b=%s, c=%s msgs, d=%s, e=%s topics / %s appends\n\n' \
		"$A_N" "$B_BYTES" "$C_N" "$D_BYTES" "$E_TOPICS" "$E_APPENDS"
	printf '| pattern | unit | native | pt_ll -s | pt_ll mt | null | blob | topic | topic -o threads | topic -o nometrics | redis XADD | topic / pt best | threads / pt best | topic / null | target |\n'
	printf '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n'
	for row in "a|msgs|msgs/s|(a) write() per message|>= 0.9x null|r_c1p1" \
	           "b|mb|MB/s|(b) 64 KiB writes of lines|>= 1.0x pt best|r_c1p64" \
	           "c|msgs|msgs/s|(c) open-append-close (echo >>)|>= 1.0x pt best|" \
	           "d|mb|MB/s|(d) read 1 MiB, cold cache|>= 1.0x pt best|"; do
		IFS='|' read -r key kind unit label target redis <<< "$row"
		ptb=$(best "${V[$key:pt_s]:-}" "${V[$key:pt_mt]:-}")
		cells=""
		for s in "${SYSTEMS[@]}"; do
			cells+=" $(num "${V[$key:$s]:-}" $kind) |"
		done
		if [ -n "$redis" ] && isnum "${V[$redis:redis]:-}"; then
			# (b): pipelined XADD, as MB/s of 100-byte payloads
			if [ $kind = mb ]; then
				cells+=" $(num "$(awk -v v="${V[$redis:redis]}" 'BEGIN {print v*100/1e6}')" mb) |"
			else
				cells+=" $(num "${V[$redis:redis]}" msgs) |"
			fi
		else
			cells+=" - |"
		fi
		printf '| %s | %s |%s %s | %s | %s | %s |\n' "$label" "$unit" "$cells" \
			"$(ratio "${V[$key:topic]:-}" "$ptb")" \
			"$(ratio "${V[$key:topic_mt]:-}" "$ptb")" \
			"$(ratio "${V[$key:topic]:-}" "${V[$key:null]:-}")" "$target"
	done
	printf '\nWhat the metrics cost: topic / topic -o nometrics, (a) %s, (b) %s (target >= 0.98x)\n' \
		"$(ratio "${V[a:topic]:-}" "${V[a:topic_nm]:-}")" \
		"$(ratio "${V[b:topic]:-}" "${V[b:topic_nm]:-}")"
	printf '\n(e) one stream with %s topics (streamfs default mode; native = a plain directory)\n\n' "$E_TOPICS"
	printf '| measure | native | topic | target |\n|---|--:|--:|---|\n'
	printf '| create topics (open O_CREAT\\|O_APPEND, 1 line, close) | %s | %s | |\n' \
		"$(rate_secs "${V[e_create:native]:-}" "${V[e_create_s:native]:-}")" \
		"$(rate_secs "${V[e_create:topic]:-}" "${V[e_create_s:topic]:-}")"
	printf '| append to random topics (open-append-close) | %s | %s | >= 0.8x one topic: %s |\n' \
		"$(unit "${V[e_random:native]:-}" msgs /s)" "$(unit "${V[e_random:topic]:-}" msgs /s)" \
		"$(ratio "${V[e_random:topic]:-}" "${V[e_one:topic]:-}")"
	printf '| append to one topic (open-append-close) | %s | %s | |\n' \
		"$(unit "${V[e_one:native]:-}" msgs /s)" "$(unit "${V[e_one:topic]:-}" msgs /s)"
	printf '| append to 1000 random topics (write() per message on open fds) | %s | %s | vs one open fd: %s |\n' \
		"$(unit "${V[e_randfd:native]:-}" msgs /s)" "$(unit "${V[e_randfd:topic]:-}" msgs /s)" \
		"$(ratio "${V[e_randfd:topic]:-}" "${V[e_onefd:topic]:-}")"
	printf '| append to one topic (write() per message, open fd) | %s | %s | |\n' \
		"$(unit "${V[e_onefd:native]:-}" msgs /s)" "$(unit "${V[e_onefd:topic]:-}" msgs /s)"
	printf '| `ls -U1 DIR \\| head -1`: first entry after | %s | %s | |\n' \
		"$(unit "${V[e_ls:native]:-}" s ' s')" "$(unit "${V[e_ls:topic]:-}" s ' s')"
	printf '| daemon peak RSS (VmHWM) | | %s | <= 256 MiB |\n' "$(unit "${V[e_rss:topic]:-}" raw ' MiB')"
	if isnum "${V[r_c1p1:redis]:-}"; then
		printf '\nRedis Streams XADD, 100-byte value, appendonly yes / appendfsync everysec (msgs/s):\n'
		printf '  1 client: %s; 50 clients: %s; 1 client -P 64: %s; 50 clients -P 64: %s\n' \
			"$(num "${V[r_c1p1:redis]}" msgs)" "$(num "${V[r_c50p1:redis]:-}" msgs)" \
			"$(num "${V[r_c1p64:redis]:-}" msgs)" "$(num "${V[r_c50p64:redis]:-}" msgs)"
	fi
	[ -n "$REDIS_NOTE" ] && printf '\n%s\n' "$REDIS_NOTE"
	if [ -s "$TMP/callgrind.txt" ]; then
		printf '\n## callgrind (tools/bench_callgrind.sh)\n'
		cat "$TMP/callgrind.txt"
	fi
	if [ -s "$TMP/durable.txt" ]; then
		printf '\n## durable appends (tools/bench_fsync.sh)\n\n'
		cat "$TMP/durable.txt"
	fi
	if [ -s "$TMP/warnings" ]; then
		printf '\nProblems seen:\n'
		sed 's/^/- /' "$TMP/warnings"
	fi
}

echo
table | tee "$BASE/last-table.txt"
log "table saved in $BASE/last-table.txt, raw figures in $RAW"
exit 0
}
