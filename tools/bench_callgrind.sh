#!/bin/bash
# tools/bench_callgrind.sh - the daemon's own instructions per 100-byte
# message, counted by valgrind's callgrind; a benchmark, not a test (figures
# only, no pass/fail).
#
# Instruction counts do not move with the load of a shared machine, as
# times do. Each daemon runs in the foreground under
# `valgrind --tool=callgrind`, single-threaded, on a fresh mount:
#   streamfs  the build's fs/streamfs -f, default mode, a topic in a stream
#   nometrics the same with -o nometrics: the metrics' cost is the
#             difference (its own table, after the first)
#   pt_ll     libfuse's passthrough_ll -f -s over a plain directory, built
#             here from /usr/share/doc/libfuse3-dev/examples
#   null      libfuse's null example -f -s (high-level API, one file that is
#             its own mount point, writes discarded), built from the same
#             place; pattern (a) only
# and is driven by build/tools/streamfs-bench (tools/bench/streamfs-bench.c):
#   (a) write -n N   one write() per message on one O_APPEND descriptor
#   (b) batch -b N*100  64 KiB writes of whole lines (655 messages each)
#   (c) echo -n N    open(O_APPEND|O_CREAT), one line, close, per message
# A run of the same daemon that only creates the empty file (`write -n 0`:
# mount, create, close, stat, unmount) is subtracted:
#   per message = (instructions with N messages - with 0) / messages
# Only user-space instructions of the daemon's process are counted (all its
# threads); the kernel's side of FUSE and of the disk is not.
#
# Usage: tools/bench_callgrind.sh [--keep]             (as root: mounts)
# Environment:
#   STREAMFS_BUILD  meson build dir (default <repo>/build; set up and
#                   compiled with meson when its streamfs is missing)
#   BENCH_DIR       data folders, programs, callgrind files (default
#                   /var/tmp/streamfs-bench-callgrind); the callgrind files
#                   stay in BENCH_DIR/out for callgrind_annotate
#   BENCH_N         messages per run (default 20000)
#   BENCH_REPS      runs per figure, the lowest is kept (default 3:
#                   streamfs's counts repeat within 0.2 %, but some runs
#                   are 1-4 % higher, as its threads happen to interleave
#                   (malloc's work moves most); the examples' do not move)
# A run takes about 45 s per round (the -o nometrics runs included) at N = 20000 on a 2-CPU machine.
# Installs valgrind and libfuse3-dev with apt-get when they are missing.
# Every mount and process started here is unmounted/stopped on exit, on
# error and on Ctrl-C.

# The whole script is one { } block, so bash parses all of it before
# running: editing this file during a run cannot derail it.
{
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
BASE=${BENCH_DIR:-/var/tmp/streamfs-bench-callgrind}
N=${BENCH_N:-20000}
REPS=${BENCH_REPS:-3}
EXAMPLES=/usr/share/doc/libfuse3-dev/examples
MOUNT_WAIT=600          # seconds a daemon under valgrind may take to mount
EXIT_WAIT=600           # ... and to exit (and write its callgrind file)
KEEP=0

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

for arg in "$@"; do
	case $arg in
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench_callgrind.sh: unknown argument '$arg' (try --help)" >&2
	   exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "bench_callgrind.sh: run as root (it mounts)" >&2
	exit 2
fi
case $N in ''|*[!0-9]*|0) echo "bench_callgrind.sh: BENCH_N must be a positive number" >&2; exit 2 ;; esac
case $REPS in ''|*[!0-9]*|0) echo "bench_callgrind.sh: BENCH_REPS must be a positive number" >&2; exit 2 ;; esac

# ---------------------------------------------------------------------------
# Bookkeeping and clean-up
# ---------------------------------------------------------------------------
BIN=$BASE/bin           # passthrough_ll, null (rebuilt every run)
OUT=$BASE/out           # callgrind files, one per run
LOGDIR=$BASE/logs
RAW=$BASE/last-raw.txt
PIDS=()                 # daemons we started
MOUNTS=()               # mount points we mounted
declare -A TOT          # TOT[system:pattern] = callgrind totals, one a line
declare -A MSGS         # MSGS[system:pattern] = messages of that pattern
declare -A CGFILE       # CGFILE[system:pattern] = the lowest run's callgrind file
declare -A BEST         # BEST[system:pattern] = that run's total

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
WARNINGS=()
warn() { WARNINGS+=("$*"); log "WARNING: $*"; }

cleanup() {
	local m p i
	trap '' INT TERM
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		mountpoint -q "$m" 2>/dev/null &&
			{ fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null; }
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	rm -f "$BASE/pids"
	[ $KEEP = 0 ] && [ -d "$BASE" ] &&
		rm -rf --one-file-system "$BASE"/*-data "$BASE"/*-src "$BASE"/*-mnt
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

forget() {              # forget PID MNT: no longer ours to clean up
	local i
	for i in "${!PIDS[@]}"; do [ "${PIDS[i]}" = "$1" ] && unset 'PIDS[i]'; done
	for i in "${!MOUNTS[@]}"; do [ "${MOUNTS[i]}" = "$2" ] && unset 'MOUNTS[i]'; done
}

# ---------------------------------------------------------------------------
# Set-up: valgrind, the three daemons, the measuring program
# ---------------------------------------------------------------------------
mkdir -p "$BASE" "$BIN" "$OUT" "$LOGDIR"
clean_stale
rm -rf --one-file-system "$BASE"/*-data "$BASE"/*-src "$BASE"/*-mnt
: > "$RAW"
: > "$LOGDIR/build.log"

if ! command -v valgrind > /dev/null || ! command -v callgrind_annotate > /dev/null; then
	log "installing valgrind"
	apt-get install -y valgrind >> "$LOGDIR/build.log" 2>&1 ||
		{ echo "bench_callgrind.sh: cannot install valgrind (see $LOGDIR/build.log)" >&2; exit 1; }
fi
if [ ! -f "$EXAMPLES/passthrough_ll.c" ] || [ ! -f "$EXAMPLES/null.c" ]; then
	log "installing libfuse3-dev for its examples"
	apt-get install -y libfuse3-dev >> "$LOGDIR/build.log" 2>&1
fi

log "streamfs build: $BUILD"
if [ ! -x "$BUILD/fs/streamfs" ] || [ ! -x "$BUILD/tools/streamfs-bench" ]; then
	log "building with meson"
	{ [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$REPO"; } >> "$LOGDIR/build.log" 2>&1 &&
		meson compile -C "$BUILD" >> "$LOGDIR/build.log" 2>&1 ||
		{ echo "bench_callgrind.sh: build failed (see $LOGDIR/build.log)" >&2; exit 1; }
fi
SFS=$BUILD/fs/streamfs
BENCH=$BUILD/tools/streamfs-bench
# Which source and commit the build is made from, and how it is optimized.
SRC=$(sed -n 's/.*"source": *"\([^"]*\)".*/\1/p' "$BUILD/meson-info/meson-info.json" 2>/dev/null | head -n1)
SRC=${SRC:-$REPO}
SRC_REV=$(git -C "$SRC" log -1 --format=%h 2>/dev/null)
[ -n "$SRC_REV" ] && [ -n "$(git -C "$SRC" status --porcelain -- fs store acl 2>/dev/null)" ] &&
	SRC_REV="$SRC_REV+local changes"
SRC_REV=${SRC_REV:-not a git tree}
BUILDTYPE=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
	/usr/bin/python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["buildtype"])' 2>/dev/null)
BUILDTYPE=${BUILDTYPE:-unknown}
log "streamfs: $SFS, built from $SRC ($SRC_REV), buildtype $BUILDTYPE"
case $BUILDTYPE in debugoptimized|release) ;; *)
	warn "the streamfs build is '$BUILDTYPE', not optimized: its counts are not comparable" ;;
esac

# The two libfuse examples, compiled as tools/bench.sh compiles passthrough_ll.
PT="" NUL=""
if cc -O2 $(pkg-config fuse3 --cflags) "$EXAMPLES/passthrough_ll.c" -o "$BIN/passthrough_ll" \
	$(pkg-config fuse3 --libs) >> "$LOGDIR/build.log" 2>&1; then
	PT=$BIN/passthrough_ll
else
	warn "cannot build $EXAMPLES/passthrough_ll.c (see $LOGDIR/build.log)"
fi
if cc -O2 $(pkg-config fuse3 --cflags) "$EXAMPLES/null.c" -o "$BIN/null" \
	$(pkg-config fuse3 --libs) >> "$LOGDIR/build.log" 2>&1; then
	NUL=$BIN/null
else
	warn "cannot build $EXAMPLES/null.c (see $LOGDIR/build.log)"
fi
log "libfuse $(pkg-config --modversion fuse3) examples from $EXAMPLES; $(valgrind --version)"

# ---------------------------------------------------------------------------
# One run: a fresh mount under callgrind, one pattern, unmount, the total
# ---------------------------------------------------------------------------

# field LINE KEY: the value of KEY in a key=value line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# stop_daemon PID MNT: unmounts MNT and waits for the daemon to exit, which
# under callgrind is when it writes its file; kills it if it does not exit.
# Returns 1 unless it exited with status 0 by itself.
stop_daemon() {
	local pid=$1 mnt=$2 i rc
	for ((i = 0; i < 50; i++)); do
		mountpoint -q "$mnt" || break
		fusermount3 -u "$mnt" 2>/dev/null && break
		sleep 0.2
	done
	mountpoint -q "$mnt" && fusermount3 -uz "$mnt" 2>/dev/null
	for ((i = 0; i < EXIT_WAIT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "pid $pid did not exit within $EXIT_WAIT s of the unmount of $mnt: killed"
		kill "$pid" 2>/dev/null; sleep 1; kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid"
	rc=$?
	forget "$pid" "$mnt"
	[ $rc = 0 ] || { warn "pid $pid ($mnt) exited with status $rc"; return 1; }
}

# run_cg SYSTEM PATTERN REP BENCH-ARGS...: mounts SYSTEM under callgrind,
# runs streamfs-bench BENCH-ARGS on the file it serves (the path is added
# last), unmounts and waits for the daemon to exit. Appends the callgrind
# total to TOT[SYSTEM:PATTERN] and the message count to MSGS; returns 1 on
# any failure.
run_cg() {
	local sys=$1 pat=$2 rep=$3 mnt cg path pid i out total dlog
	shift 3
	cg=$OUT/$sys-$pat-$rep.callgrind
	dlog=$LOGDIR/$sys-$pat-$rep.log
	rm -rf --one-file-system "$BASE/$sys-data" "$BASE/$sys-src" "$BASE/$sys-mnt"
	rm -f "$cg"
	local vg=(valgrind --tool=callgrind --callgrind-out-file="$cg")
	mnt=$BASE/$sys-mnt
	case $sys in
	streamfs|nometrics)
		local opts=()
		[ $sys = nometrics ] && opts=(-o nometrics)
		mkdir -p "$BASE/$sys-data" "$mnt"
		"${vg[@]}" "$SFS" -f "${opts[@]}" "$BASE/$sys-data" "$mnt" > "$dlog" 2>&1 &
		path=$mnt/bench/$pat ;;
	pt_ll)
		mkdir -p "$BASE/$sys-src" "$mnt"
		"${vg[@]}" "$PT" -f -s -o source="$BASE/$sys-src" "$mnt" > "$dlog" 2>&1 &
		path=$mnt/$pat ;;
	null)
		: > "$mnt"      # null mounts on a regular file and serves it
		"${vg[@]}" "$NUL" -f -s "$mnt" > "$dlog" 2>&1 &
		path=$mnt ;;
	esac
	pid=$!
	PIDS+=("$pid")
	MOUNTS+=("$mnt")
	for ((i = 0; i < MOUNT_WAIT * 10; i++)); do
		mountpoint -q "$mnt" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# Its name once valgrind has become the tool, for clean_stale.
	echo "$pid $(cat /proc/"$pid"/comm 2>/dev/null)" >> "$BASE/pids"
	if ! mountpoint -q "$mnt"; then
		warn "$sys did not mount within $MOUNT_WAIT s (log $dlog: $(tail -n 2 "$dlog" | tr '\n' ' '))"
		stop_daemon "$pid" "$mnt"
		return 1
	fi
	if { [ $sys = streamfs ] || [ $sys = nometrics ]; } && ! mkdir "$mnt/bench"; then
		warn "$sys: mkdir $mnt/bench (a stream) failed"
		stop_daemon "$pid" "$mnt"
		return 1
	fi
	out=$("$BENCH" "$@" "$path" 2>>"$dlog")
	i=$?
	printf 'system=%s pattern=%s rep=%s %s\n' "$sys" "$pat" "$rep" "${out:-rc=$i}" >> "$RAW"
	if [ $i != 0 ]; then
		warn "$sys $pat: streamfs-bench $* failed (exit $i, log $dlog)"
		stop_daemon "$pid" "$mnt"
		return 1
	fi
	if [ $sys != null ]; then   # null's file is always 4 GiB long
		case $out in *size_mismatch=*)
			warn "$sys $pat: file size $(field "$out" size), expected $(field "$out" size_mismatch)" ;;
		esac
		case $out in *index_mismatch=*)
			warn "$sys $pat: $(field "$out" indexed) messages indexed, expected $(field "$out" index_mismatch)" ;;
		esac
	fi
	stop_daemon "$pid" "$mnt" || return 1
	total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$cg" 2>/dev/null | head -n1)
	[ -n "$total" ] || total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$cg" 2>/dev/null | head -n1)
	if [ -z "$total" ]; then
		warn "$sys $pat: no total in $cg"
		return 1
	fi
	TOT[$sys:$pat]+="$total"$'\n'
	MSGS[$sys:$pat]=$(field "$out" msgs)
	# The functions and libraries are read from the lowest run.
	if [ -z "${BEST[$sys:$pat]:-}" ] || [ "$total" -lt "${BEST[$sys:$pat]}" ]; then
		BEST[$sys:$pat]=$total CGFILE[$sys:$pat]=$cg
	fi
	log "  $sys $pat #$rep: $total instructions, $(field "$out" msgs) messages"
}

lowest() { sort -g | head -n1; }
highest() { sort -g | tail -n1; }

# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------
SYSTEMS=(streamfs nometrics)
[ -n "$PT" ] && SYSTEMS+=(pt_ll)
[ -n "$NUL" ] && SYSTEMS+=(null)
log "N = $N messages, $REPS run(s) per figure; data under $BASE"
SECONDS=0
for ((r = 1; r <= REPS; r++)); do
	for sys in "${SYSTEMS[@]}"; do
		run_cg "$sys" zero "$r" write -n 0
		run_cg "$sys" a "$r" write -n "$N"
		[ $sys = null ] && continue
		run_cg "$sys" b "$r" batch -b $((N * 100))
		run_cg "$sys" c "$r" echo -n "$N"
	done
done
RUN_SECS=$SECONDS

# per_msg SYSTEM PATTERN: (lowest total - lowest zero total) / messages
per_msg() {
	local t z m=${MSGS[$1:$2]:-}
	t=$(printf '%s' "${TOT[$1:$2]:-}" | lowest)
	z=$(printf '%s' "${TOT[$1:zero]:-}" | lowest)
	[ -n "$t" ] && [ -n "$z" ] && [ -n "$m" ] || { echo "-"; return; }
	awk -v t="$t" -v z="$z" -v m="$m" 'BEGIN { printf "%.0f", (t - z) / m }'
}

# spread SYSTEM PATTERN: how much higher than the lowest the highest run
# was, per message
spread() {
	local hi lo m=${MSGS[$1:$2]:-}
	hi=$(printf '%s' "${TOT[$1:$2]:-}" | highest)
	lo=$(printf '%s' "${TOT[$1:$2]:-}" | lowest)
	[ -n "$hi" ] && [ -n "$m" ] || { echo "-"; return; }
	awk -v h="$hi" -v l="$lo" -v m="$m" 'BEGIN { printf "%.0f", (h - l) / m }'
}

# ---------------------------------------------------------------------------
# The table, the targets, and where streamfs (a) spends its instructions
# ---------------------------------------------------------------------------
isnum() { [[ ${1:-} =~ ^[0-9.]+$ ]]; }
ratio() {
	isnum "${1:-}" && isnum "${2:-}" || { echo "-"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a/b; else print "-" }'
}
# verdict KIND SFS PT: "yes" or "no" against the pattern's target (KIND pt:
# at most twice passthrough_ll; 60: at most 60)
verdict() {
	local kind=$1 s=${2:-} p=${3:-}
	isnum "$s" || { echo "-"; return; }
	case $kind in
	pt) isnum "$p" || { echo "-"; return; }
	    awk -v s="$s" -v p="$p" 'BEGIN { print (s <= 2 * p ? "yes" : "no") }' ;;
	60) awk -v s="$s" 'BEGIN { print (s <= 60 ? "yes" : "no") }' ;;
	esac
}

# self_by_fn FILE: "instructions<TAB>function<TAB>where<TAB>object" for
# every function, self cost; where is the source file's name, or the
# library's when the function has no symbol; object is the library's or
# program's file name.
self_by_fn() {
	callgrind_annotate --inclusive=no --auto=no --threshold=100 "$1" 2>/dev/null |
		awk '/file:function/ { on = 1; next }
		     on && /^ *[0-9][0-9,]* +\(/ {
			n = $1; gsub(",", "", n)
			sub(/^ *[0-9][0-9,]* +\([^)]*\) +/, "")
			obj = ""
			if (match($0, / \[[^]]*\]$/)) {
				obj = substr($0, RSTART + 2, RLENGTH - 3)
				$0 = substr($0, 1, RSTART - 1)
			}
			i = index($0, ":")
			file = substr($0, 1, i - 1); fn = substr($0, i + 1)
			sub(/.*\//, "", obj)
			where = file == "???" ? obj : file
			sub(/.*\//, "", where)
			print n "\t" fn "\t" where "\t" (obj == "" ? "?" : obj) }'
}

# by_object SYSTEM PATTERN: "object N, object N, ..." - the instructions per
# message in each library and the program, largest first (this pattern's
# run minus the zero run).
by_object() {
	local sys=$1 pat=$2 m=${MSGS[$1:$2]:-}
	[ -n "${CGFILE[$sys:$pat]:-}" ] && [ -n "${CGFILE[$sys:zero]:-}" ] && [ -n "$m" ] || return
	awk -F'\t' -v m="$m" '
		FNR == NR { zero[$4] += $1; next }
		{ run[$4] += $1 }
		END { for (o in run) if ((d = (run[o] - zero[o]) / m) >= 0.5) {
			sub(/\.so(\.[0-9]+)*$/, "", o)        # libc.so.6 -> libc
			printf "%.0f\t%s\n", d, o } }' \
		<(self_by_fn "${CGFILE[$sys:zero]}") <(self_by_fn "${CGFILE[$sys:$pat]}") |
		sort -t$'\t' -k1,1gr | awk -F'\t' '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }
			END { print "" }'
}

# top_fns SYSTEM PATTERN K: the K functions with the most self instructions
# per message (this pattern's run minus the zero run, function by function),
# as table rows: function, where, per message, share of the difference.
top_fns() {
	local sys=$1 pat=$2 k=$3 m=${MSGS[$1:$2]:-}
	[ -n "${CGFILE[$sys:$pat]:-}" ] && [ -n "${CGFILE[$sys:zero]:-}" ] && [ -n "$m" ] || return
	awk -F'\t' -v m="$m" '
		FNR == NR { zero[$2 "\t" $3] += $1; next }
		{ run[$2 "\t" $3] += $1 }
		END {
			for (f in run) total += run[f]
			for (f in zero) total -= zero[f]
			for (f in run) {
				d = (run[f] - zero[f]) / m
				if (d > 0) printf "%.1f\t%.1f\t%s\n", d, 100 * d * m / total, f
			}
		}' <(self_by_fn "${CGFILE[$sys:zero]}") <(self_by_fn "${CGFILE[$sys:$pat]}") |
		sort -t$'\t' -k1,1gr | head -n "$k" |
		awk -F'\t' '{ f = $3
			if (length(f) > 70) f = substr(f, 1, 67) "..."
			printf "| `%s` | %s | %s | %s%% |\n", f, $4, $1, $2 }'
}

# thread_per_msg SYSTEM PATTERN: the instructions of the metrics thread
# (metrics_main, inclusive) in the lowest run less those in the zero run,
# per message
thread_per_msg() {
	local m=${MSGS[$1:$2]:-} a b
	[ -n "${CGFILE[$1:$2]:-}" ] && [ -n "${CGFILE[$1:zero]:-}" ] && [ -n "$m" ] || { echo "-"; return; }
	a=$(thread_total "${CGFILE[$1:$2]}") b=$(thread_total "${CGFILE[$1:zero]}")
	awk -v a="$a" -v b="$b" -v m="$m" 'BEGIN { printf "%.0f", (a - b) / m }'
}

# own_total FILE: the self instructions of the metrics' code in a callgrind
# file, and those of clock_gettime, as "own clock"
own_total() {
	self_by_fn "$1" | awk -F'\t' '
		$3 ~ /^(metrics\.c|metrics_render\.c|histogram\.[ch]|fs\.h)$/ { o += $1 }
		$3 == "clock_gettime.c" { c += $1 }
		END { printf "%d %d\n", o, c }'
}

# metrics_own PATTERN: per message, the metrics' own instructions in the
# lowest streamfs run less the zero run, plus the clock reads it has more
# than the lowest -o nometrics run (less the same for the zero runs)
metrics_own() {
	local m=${MSGS[streamfs:$1]:-} f
	for f in streamfs:$1 streamfs:zero nometrics:$1 nometrics:zero; do
		[ -n "${CGFILE[$f]:-}" ] || { echo "-"; return; }
	done
	[ -n "$m" ] || { echo "-"; return; }
	awk -v m="$m" 'NR == 1 { so = $1; sc = $2 } NR == 2 { zo = $1; zc = $2 }
		NR == 3 { nc = $2 } NR == 4 { nzc = $2 }
		END { printf "%.0f", ((so - zo) + (sc - nc) - (zc - nzc)) / m }' \
		<(own_total "${CGFILE[streamfs:$1]}"; own_total "${CGFILE[streamfs:zero]}"
		  own_total "${CGFILE[nometrics:$1]}"; own_total "${CGFILE[nometrics:zero]}")
}

thread_total() {
	callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$1" 2>/dev/null |
		awk '/:metrics_main / { n = $1; gsub(",", "", n); print n; found = 1; exit }
		     END { if (!found) print 0 }'
}

table() {
	local row key label kind s p n nl tgt
	printf '# daemon instructions per 100-byte message (callgrind), %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf '# %s; kernel %s; %s; libfuse %s\n' \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
		"$(uname -r)" "$(valgrind --version)" "$(pkg-config --modversion fuse3)"
	printf '# streamfs from %s (%s, %s); N = %s messages; lowest of %s run(s); %s s in all\n\n' \
		"$SRC" "$SRC_REV" "$BUILDTYPE" "$N" "$REPS" "$RUN_SECS"
	printf '| pattern | streamfs topic | passthrough_ll -s | null FUSE fs | streamfs / pt_ll | target | met |\n'
	printf '|---|--:|--:|--:|--:|---|---|\n'
	for row in "a|(a) one write() per message|pt" \
	           "b|(b) 64 KiB writes of whole lines, per message|60" \
	           "c|(c) open-append-close per message (echo >>)|pt"; do
		IFS='|' read -r key label kind <<< "$row"
		s=$(per_msg streamfs $key) p=$(per_msg pt_ll $key) nl=-
		[ $key = a ] && nl=$(per_msg null a)
		case $kind in pt) tgt="<= 2x pt_ll" ;; 60) tgt="<= 60" ;; esac
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$s" "$p" "$nl" \
			"$(ratio "$s" "$p")" "$tgt" "$(verdict $kind "$s" "$p")"
	done
	if [ "$REPS" -gt 1 ]; then
		printf '\nHighest run above the lowest, per message: streamfs (a) %s, (b) %s, (c) %s;' \
			"$(spread streamfs a)" "$(spread streamfs b)" "$(spread streamfs c)"
		printf ' passthrough_ll (a) %s, (c) %s; null (a) %s\n' \
			"$(spread pt_ll a)" "$(spread pt_ll c)" "$(spread null a)"
	fi
	printf '\nThe metrics: streamfs as above against the same build with -o nometrics,\n'
	printf 'per message. The difference of the totals moves by a few hundred from\n'
	printf 'run to run (the retention thread'"'"'s 100 ms ticks write the index as the\n'
	printf 'run'"'"'s pace falls); the instructions of the metrics'"'"' own code do not:\n'
	printf 'metrics.c, histogram.*, metrics_render.c and the hooks fs.h inlines into\n'
	printf 'the handlers, with the clock reads (clock_gettime against -o nometrics).\n'
	printf 'The metrics thread'"'"'s once-a-second work (inclusive) grows with the\n'
	printf 'run'"'"'s length, not with its messages.\n\n'
	printf '| pattern | streamfs | -o nometrics | difference | metrics code | share | metrics thread, all it ran |\n'
	printf '|---|--:|--:|--:|--:|--:|--:|\n'
	for key in a b c; do
		s=$(per_msg streamfs $key) n=$(per_msg nometrics $key) own=$(metrics_own $key)
		printf '| (%s) | %s | %s | %s | %s | %s | %s |\n' $key "$s" "$n" \
			"$(awk -v s="$s" -v n="$n" 'BEGIN { if (s ~ /^[0-9]+$/ && n ~ /^[0-9]+$/) print s - n; else print "-" }')" \
			"$own" \
			"$(awk -v o="$own" -v n="$n" 'BEGIN { if (o ~ /^[0-9]+$/ && n ~ /^[0-9]+$/ && n > 0) printf "%.1f%%", 100 * o / n; else print "-" }')" \
			"$(thread_per_msg streamfs $key)"
	done
	printf '\nPer message, by the library or program the instructions ran in:\n\n'
	for row in "streamfs a" "pt_ll a" "null a" "streamfs b" "streamfs c" "pt_ll c"; do
		set -- $row
		[ -n "${CGFILE[$1:$2]:-}" ] && printf -- '- %s (%s): %s\n' "$1" "$2" "$(by_object $1 $2)"
	done
	printf '\nstreamfs (a): the top 15 functions by self instructions per message\n'
	printf '(the run with N messages minus the run with none, function by function;\n'
	printf 'a hex address is a function its library has no symbol for)\n\n'
	printf '| function | in | per message | share |\n|---|---|--:|--:|\n'
	top_fns streamfs a 15
	if [ ${#WARNINGS[@]} -gt 0 ]; then
		printf '\nProblems seen:\n'
		printf -- '- %s\n' "${WARNINGS[@]}"
	fi
}

echo
table | tee "$BASE/last-table.txt"
log "table saved in $BASE/last-table.txt, raw lines in $RAW, callgrind files in $OUT"
exit 0
}
