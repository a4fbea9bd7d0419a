# tools/bench/replica_lib.sh - what the replication benchmarks share,
# sourced by tools/bench_replica.sh and tools/bench_replica_scan.sh: two
# mounts a and b under $DIR with certificates of one CA made here.  The
# sourcing script sets DIR and PIDS=() and stops every pid in PIDS on
# exit.

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

free_port() {   # free_port FROM: the first loopback port from FROM on
	local p
	for p in $(seq "$1" $(($1 + 100))); do
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
}

pem() {         # pem NAME: a key and a certificate CN=root signed by ca
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
		-out "$DIR/$1.key" 2>/dev/null
	openssl req -new -key "$DIR/$1.key" -subj /CN=root -out "$DIR/$1.csr"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$DIR/$1.ext"
	openssl x509 -req -in "$DIR/$1.csr" -CA "$DIR/ca.pem" \
		-CAkey "$DIR/ca.key" -CAcreateserial -days 2 \
		-extfile "$DIR/$1.ext" -out "$DIR/$1.pem" 2>/dev/null
}

certs() {       # the CA, and the certificates of a and b
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
		-out "$DIR/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$DIR/ca.key" -out "$DIR/ca.pem" -days 2 \
		-subj "/CN=bench ca"
	pem a
	pem b
}

mount_one() {   # mount_one BUILD NAME [OPTIONS]: the daemon's pid in MPID
	local build=$1 name=$2
	shift 2
	mkdir -p "$DIR/$name"
	"$build/fs/streamfs" -f -o "tls_cert=$DIR/$name.pem,tls_key=$DIR/$name.key,tls_ca=$DIR/ca.pem" \
		"$@" "$DIR/data-$name" "$DIR/$name" 2> "$DIR/streamfs-$name.log" &
	MPID=$!
	PIDS+=($MPID)
	for _ in $(seq 100); do mountpoint -q "$DIR/$name" && return; sleep 0.1; done
	echo "$(basename "$0"): $name did not mount" >&2
	exit 1
}
