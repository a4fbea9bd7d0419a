#!/bin/sh
# fuzz.sh - build one of the project's libFuzzer targets with ASan and UBSan
# and run it for a while; the test command runs each for the default 60
# seconds.
#
# Usage: tools/fuzz.sh TARGET [SECONDS]
#   ace          the ACE parser and evaluator (acl/ace_*.c)
#   kafka        the Kafka record batch decoder, every codec
#                (fs/kafka/records.c, compress.c, codec.c, fs/buf.c)
#   kafka_names  the Kafka topic name mapping both ways, and the
#                protocol's readers (fs/kafka/names.c, codec.c)
#   kafka_requests  the listener's request decoding: bytes as a client
#                sends them, cut into frames, each header read and each
#                body walked for its API key and version
#                (fs/kafka/frame.c, shapes.c, apis.c, codec.c)
#
# Builds tests/fuzz/fuzz_TARGET.c with its sources (no FUSE, no meson
# needed) into $FUZZ_OUT (default build/fuzz), runs it on a working corpus
# there seeded from tests/fuzz/corpus_TARGET when it exists (never written),
# and prints the number of executions.  A crash, leak or undefined
# behaviour stops the run with a non-zero status and leaves the input in
# $FUZZ_OUT/crash-*.  Installs clang and its fuzzer runtime with apt-get
# when they are missing.
set -eu

target=${1:-}
secs=${2:-60}
case $secs in
'' | *[!0-9]*) echo "usage: $0 ace|kafka|kafka_names|kafka_requests [SECONDS]" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-$top/build/fuzz}
cc=${CC_FUZZ:-clang}
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
k=$top/fs/kafka

# What each target is built from, and its limits: the longest input and
# the seconds one input may take before it counts as a hang.
case $target in
ace)
	srcs="$top/acl/ace_parse.c $top/acl/ace_eval.c $top/acl/ace_names.c"
	incs="-I$top/acl" libs=""
	max_len=4200 timeout=5 ;;     # a little over ACE_MAX_LEN
kafka)
	srcs="$k/records.c $k/compress.c $k/codec.c $top/fs/buf.c $top/store/crc32c.c"
	incs="-I$k -I$top/fs -I$top/store" libs="-lz -lsnappy -llz4 -lzstd"
	max_len=65536 timeout=10 ;;   # compressed input may inflate to 64 MiB
kafka_names)
	srcs="$k/names.c $k/codec.c $top/fs/buf.c"
	incs="-I$k -I$top/fs" libs=""
	max_len=1024 timeout=5 ;;
kafka_requests)
	# The handlers need the daemon (FUSE, the store, fs.lock), so the
	# decoding that reaches them is kept apart from them instead: the
	# listener cuts frames and reads headers with frame.c and walks
	# every body with shapes.c before any handler runs, and a body that
	# does not parse closes the connection.  Those are pure, so they are
	# fuzzed as they run, with no store, mount or network; the handlers
	# then read bodies known to be whole, with the same bounded readers.
	srcs="$k/frame.c $k/shapes.c $k/apis.c $k/codec.c $top/fs/buf.c"
	incs="-I$k -I$top/fs" libs=""
	max_len=65536 timeout=5 ;;
*)
	echo "usage: $0 ace|kafka|kafka_names|kafka_requests [SECONDS]" >&2; exit 2 ;;
esac
name=fuzz-$target

# Whether $cc can build a libFuzzer target at all.
can_fuzz() {
	command -v "$cc" >/dev/null 2>&1 || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' >"$out/probe.c"
	# shellcheck disable=SC2086 # $flags is a list of flags
	"$cc" $flags "$out/probe.c" -o "$out/probe" >/dev/null 2>&1
}

install_clang() {
	echo "$name: installing clang and libclang-rt-14-dev" >&2
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q clang libclang-rt-14-dev
}

mkdir -p "$out/corpus_$target"
if ! can_fuzz; then
	install_clang
	can_fuzz || { echo "$name: $cc cannot build fuzz targets" >&2; exit 1; }
fi

# shellcheck disable=SC2086 # lists of flags and files
"$cc" -std=c11 -g -O1 -D_GNU_SOURCE $flags $incs $srcs \
	"$top/tests/fuzz/fuzz_$target.c" $libs -o "$out/fuzz_$target"

seeds=$top/tests/fuzz/corpus_$target
[ -d "$seeds" ] || seeds=
dict=$top/tests/fuzz/$target.dict
[ -f "$dict" ] && dict="-dict=$dict" || dict=
status=0
# shellcheck disable=SC2086 # $dict and $seeds are empty or one word
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
"$out/fuzz_$target" -max_total_time="$secs" -max_len=$max_len \
	-timeout=$timeout -print_final_stats=1 $dict \
	-artifact_prefix="$out/" "$out/corpus_$target" $seeds \
	>"$out/fuzz_$target.log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz_$target.log")
if [ "$status" -ne 0 ]; then
	tail -n 60 "$out/fuzz_$target.log" >&2
	echo "$name: FAILED (status $status) after ${execs:-?} executions;" \
		"log in $out/fuzz_$target.log" >&2
	exit 1
fi
corpus=$(find "$out/corpus_$target" -type f | wc -l)
echo "$name: ${execs:-?} executions in ${secs} s, no crash, no leak" \
	"(working corpus: $corpus inputs)"
