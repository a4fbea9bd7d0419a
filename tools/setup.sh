#!/bin/bash
# setup.sh - install what streamfs needs, build it, then mount it or test it.
#
#   tools/setup.sh mount [-o OPT]... [[DATADIR] MOUNTPOINT]
#                    mount DATADIR at MOUNTPOINT (default /mnt/streamfs) with
#                    the streamfs options OPT (e.g. -o allow_other)
#   tools/setup.sh test
#                    run the C unit tests and the pytest suites
#
# The test command also fuzzes the ACE parser and the Kafka record batch
# decoder for STREAMFS_FUZZ_SECONDS each (default 60).  Only packages that
# are missing are installed (apt-get, Debian 12); the build goes to build/
# (STREAMFS_BUILD overrides).  The data folder is DATADIR if given, else
# $STREAMFS_DATA, else ${XDG_DATA_HOME:-$HOME/.local/share}/streamfs.  A
# mount point left behind by a killed daemon is detached first.
# Every streamfs mount the tests make is unmounted on exit, also on failure.
set -euo pipefail
ulimit -c 0

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STREAMFS_BUILD:-$REPO/build}
PACKAGES=(build-essential meson ninja-build pkg-config libfuse3-dev fuse3
          libleveldb-dev libssl-dev zlib1g-dev libsnappy-dev liblz4-dev
          libzstd-dev python3-pytest python3-xattr attr
          redis-server python3-docutils util-linux strace rsync tar
          clang libclang-rt-14-dev logrotate)
# Only the test command needs these: promtool checks the metrics' Prometheus
# text, and a node exporter serves it (tests/test_metrics.py); kcat,
# kafka-python and confluent-kafka are the Kafka clients of
# tests/test_kafka.py and tests/test_kafka_produce.py, and kafka-python's
# codecs check record batches (tests/test_kafka_records.py); the openssl
# command makes the certificates of tests/test_kafka_tls.py and
# tests/test_replica.py, iproute2 the network namespaces of its remote
# client and of tests/test_replica_netns.py, and nftables drops one
# direction of the latter's link.
TEST_PACKAGES=(prometheus prometheus-node-exporter kcat python3-kafka
               python3-confluent-kafka python3-snappy python3-lz4
               python3-zstandard openssl iproute2 nftables)

# kafkajs, the Node.js client of tests/test_kafka_kafkajs.py, comes from the
# npm registry into the build ($BUILD/node_modules, never globally), and only
# when it is missing there, so a second run needs no network.  node and npm
# are Debian's when none is on PATH.
KAFKAJS_VERSION=2.2.4

say() { printf 'setup.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	cat <<EOF
usage: tools/setup.sh mount [-o OPT]... [[DATADIR] MOUNTPOINT]
                            install, build and mount streamfs (default
                            /mnt/streamfs; -o as for streamfs, e.g.
                            -o allow_other)
       tools/setup.sh test  install, build and run all tests
EOF
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

# install_missing PACKAGE...: apt-get install those that are missing.
install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}

build() {
	if [ -f "$BUILD/build.ninja" ]; then
		:
	elif [ -d "$BUILD/meson-private" ]; then
		meson setup --wipe "$BUILD" "$REPO"     # an earlier setup failed
	else
		meson setup "$BUILD" "$REPO"
	fi
	meson compile -C "$BUILD"
}

check_fuse() {
	[ -e /dev/fuse ] || as_root modprobe fuse 2>/dev/null || true
	[ -e /dev/fuse ] || die "/dev/fuse is missing: this machine (or container) has no FUSE"
}

# Mount points below $1 (deepest first) as "mountpoint fstype" lines.
mounts_under() {
	awk -v top="$1/" 'index($2, top) == 1 { print $2, $3 }' /proc/mounts |
		awk '{ print length($1), $0 }' | sort -rn | cut -d' ' -f2-
}

unmount_under() {
	local mnt type
	mounts_under "$1" | while read -r mnt type; do
		say "unmounting $mnt ($type)"
		case $type in
		fuse*) fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" ;;
		*) umount -l "$mnt" ;;
		esac
	done
}

# ------------------------------------------------------------------- mount

cmd_mount() {
	local opts=() pos=() o
	while [ $# -gt 0 ]; do
		case $1 in
		-o) [ $# -ge 2 ] || { usage >&2; exit 2; }; opts+=(-o "$2"); shift 2 ;;
		-o?*) opts+=(-o "${1#-o}"); shift ;;
		--) shift; pos+=("$@"); break ;;
		-*) usage >&2; exit 2 ;;
		*) pos+=("$1"); shift ;;
		esac
	done
	[ ${#pos[@]} -le 2 ] || { usage >&2; exit 2; }
	local home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
	local data=${STREAMFS_DATA:-${XDG_DATA_HOME:-$home/.local/share}/streamfs}
	local mnt=/mnt/streamfs daemon=$BUILD/fs/streamfs i src
	[ ${#pos[@]} -eq 2 ] && data=${pos[0]}
	[ ${#pos[@]} -ge 1 ] && mnt=${pos[${#pos[@]}-1]}
	case $data in /*) ;; *) data=$PWD/$data ;; esac

	for o in "${opts[@]}"; do
		case $o in *allow_other*)
			[ "$(id -u)" -eq 0 ] || grep -qs '^[[:space:]]*user_allow_other' /etc/fuse.conf ||
				die "-o allow_other needs the line user_allow_other in /etc/fuse.conf (or root)" ;;
		esac
	done

	install_missing "${PACKAGES[@]}"
	build
	check_fuse
	# A killed daemon leaves a dead mount: every access fails with ENOTCONN
	# (stat -f: statfs always reaches the daemon, stat may be cached).
	case $(LC_ALL=C stat -f "$mnt" 2>&1 >/dev/null) in *"not connected"*)
		say "$mnt was left mounted by a daemon that died; detaching it"
		fusermount3 -u -z "$mnt" 2>/dev/null || as_root umount -l "$mnt" ||
			die "cannot detach the dead mount $mnt; run: fusermount3 -u -z $mnt"
	esac
	if [ ! -d "$mnt" ]; then
		# fusermount3 wants a non-root user to own the mount point.
		mkdir -p "$mnt" 2>/dev/null ||
			{ as_root mkdir -p "$mnt" && as_root chown "$(id -u):$(id -g)" "$mnt"; }
	fi
	mnt=$(cd "$mnt" && pwd -P)

	if mountpoint -q "$mnt"; then
		src=$(awk -v m="$mnt" '$2 == m && $3 == "fuse.streamfs" { s = $1 } END { print s }' /proc/mounts)
		[ -n "$src" ] || die "$mnt is already a mount point of something else"
		if [ -d "$data" ] && [ "$src" = "$(cd "$data" && pwd -P)" ]; then
			say "streamfs is already mounted at $mnt; unmount it with: fusermount3 -u $mnt"
			return 0
		fi
		die "$mnt is already a streamfs mount of $src; unmount it first: fusermount3 -u $mnt"
	fi

	# If the mount does not come up, take down whatever half-started.
	trap "mountpoint -q $(printf %q "$mnt") && fusermount3 -u -z $(printf %q "$mnt")" EXIT
	"$daemon" "${opts[@]}" "$data" "$mnt" || die "streamfs failed to mount $mnt (exit $?)"
	for i in $(seq 100); do
		mountpoint -q "$mnt" && break
		sleep 0.1
	done
	mountpoint -q "$mnt" || die "streamfs did not mount $mnt"
	sleep 0.2
	stat "$mnt" >/dev/null || die "streamfs mounted $mnt but does not answer"
	trap - EXIT
	data=$(cd "$data" && pwd -P)

	cat <<EOF
streamfs is mounted at $mnt${opts[*]:+ (${opts[*]})}
  data folder: $data
  try:         mkdir $mnt/plant && echo hello >> $mnt/plant/temp && tail $mnt/plant/temp
  unmount:     fusermount3 -u $mnt
EOF
}

# ------------------------------------------------------------------- test

# install_kafkajs: node and npm (apt-get when missing), then kafkajs into
# $BUILD/node_modules when it is not there at the pinned version.  A failure
# is reported, not fatal: the kafkajs tests then fail and say why.
install_kafkajs() {
	local have
	command -v node >/dev/null || command -v nodejs >/dev/null ||
		install_missing nodejs
	command -v npm >/dev/null || install_missing npm
	have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' \
		"$BUILD/node_modules/kafkajs/package.json" 2>/dev/null || true)
	[ "$have" = "$KAFKAJS_VERSION" ] && return 0
	say "installing kafkajs@$KAFKAJS_VERSION into $BUILD/node_modules"
	npm install --prefix "$BUILD" --no-audit --no-fund --no-save \
		"kafkajs@$KAFKAJS_VERSION" ||
		say "could not install kafkajs: tests/test_kafka_kafkajs.py will fail"
}

cmd_test() {
	local tmp rc=0 prc=0

	install_missing "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"
	build
	install_kafkajs
	check_fuse

	# Every temporary file and mount of the tests lives below $tmp, so the
	# trap can find and unmount all of them whatever happens.
	tmp=$(mktemp -d /tmp/streamfs-setup.XXXXXX)
	chmod 755 "$tmp"
	trap "cleanup_test $(printf %q "$tmp")" EXIT
	trap on_signal INT TERM

	in_background meson test -C "$BUILD" --print-errorlogs || rc=$?
	[ "$rc" -eq 0 ] || say "C unit tests failed (exit $rc)"

	# Short fuzz runs (ASan, UBSan, leaks): the ACE parser, the Kafka
	# record batch decoder (every codec), the Kafka name mapping, the
	# Kafka listener's request decoding.
	for t in ace kafka kafka_names kafka_requests; do
		FUZZ_OUT=$BUILD/fuzz in_background "$REPO/tools/fuzz.sh" "$t" \
			"${STREAMFS_FUZZ_SECONDS:-60}" || { say "$t fuzz run failed"; rc=1; }
	done

	cd "$REPO"
	TMPDIR=$tmp STREAMFS_BUILD=$BUILD \
		in_background /usr/bin/python3 -m pytest -v tests/ || prc=$?
	case $prc in
	0) ;;
	5) say "pytest collected no tests"; rc=1 ;;
	*) say "pytest failed (exit $prc)"; rc=1 ;;
	esac
	[ "$rc" -eq 0 ] && say "all tests passed"
	return "$rc"
}

# Run a command as a child we can stop: bash runs a trap only after a
# foreground command ends, but interrupts `wait` at once.
child=
in_background() {
	local rc=0
	"$@" &
	child=$!
	wait "$child" || rc=$?
	child=
	return "$rc"
}

on_signal() {
	say "interrupted; stopping the tests and unmounting"
	[ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
	[ -z "$child" ] || wait "$child" 2>/dev/null || true
	exit 130
}

cleanup_test() {
	local tmp=$1
	unmount_under "$tmp"
	sleep 0.2
	if [ -n "$(mounts_under "$tmp")" ]; then
		say "mounts remain below $tmp; leaving it in place"
	else
		rm -rf --one-file-system "$tmp"
	fi
}

# ------------------------------------------------------------------- main

case ${1:-} in
mount) shift; cmd_mount "$@" ;;
test) shift; [ $# -eq 0 ] || { usage >&2; exit 2; }; cmd_test ;;
-h|--help) usage ;;
*) usage >&2; exit 2 ;;
esac
