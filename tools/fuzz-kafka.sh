#!/bin/sh
# fuzz-kafka.sh - build the libFuzzer target of the Kafka record batch
# decoder with ASan and UBSan and run it for a while; CI runs it for the
# default 60 seconds.
#
# Usage: tools/fuzz-kafka.sh [SECONDS]
#
# Builds tests/fuzz/fuzz_kafka.c with fs/kafka/{records,compress,codec}.c
# and store/crc32c.c (no FUSE, no meson needed; zlib, snappy, lz4 and zstd
# from their -dev packages) into $FUZZ_OUT (default build/fuzz), runs it on
# a working corpus there seeded from tests/fuzz/corpus_kafka (which it
# never writes: batches kafka-python wrote, one per codec), and prints the
# number of executions.  A crash, leak or undefined behaviour stops the run
# with a non-zero status and leaves the input in $FUZZ_OUT/crash-*.
# Installs clang and its fuzzer runtime with apt-get when they are missing.
set -eu

secs=${1:-60}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-$top/build/fuzz}
cc=${CC_FUZZ:-clang}
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

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
	echo "fuzz-kafka: installing clang and libclang-rt-14-dev" >&2
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q clang libclang-rt-14-dev
}

mkdir -p "$out/corpus_kafka"
if ! can_fuzz; then
	install_clang
	can_fuzz || { echo "fuzz-kafka: $cc cannot build fuzz targets" >&2; exit 1; }
fi

k=$top/fs/kafka
# shellcheck disable=SC2086
"$cc" -std=c11 -g -O1 -D_GNU_SOURCE $flags -I"$k" -I"$top/store" \
	"$k/records.c" "$k/compress.c" "$k/codec.c" "$top/store/crc32c.c" \
	"$top/tests/fuzz/fuzz_kafka.c" -lz -lsnappy -llz4 -lzstd \
	-o "$out/fuzz_kafka"

# Inputs up to 64 KiB (a compressed one may still inflate to the 64 MiB
# bound); a 10 s timeout per input turns a hang into a failure.
status=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
"$out/fuzz_kafka" -max_total_time="$secs" -max_len=65536 -timeout=10 \
	-print_final_stats=1 -dict="$top/tests/fuzz/kafka.dict" \
	-artifact_prefix="$out/" \
	"$out/corpus_kafka" "$top/tests/fuzz/corpus_kafka" \
	>"$out/fuzz_kafka.log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz_kafka.log")
if [ "$status" -ne 0 ]; then
	tail -n 60 "$out/fuzz_kafka.log" >&2
	echo "fuzz-kafka: FAILED (status $status) after ${execs:-?} executions;" \
		"log in $out/fuzz_kafka.log" >&2
	exit 1
fi
corpus=$(find "$out/corpus_kafka" -type f | wc -l)
echo "fuzz-kafka: ${execs:-?} executions in ${secs} s, no crash, no leak" \
	"(working corpus: $corpus inputs)"
