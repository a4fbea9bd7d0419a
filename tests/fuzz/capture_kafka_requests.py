"""Seed tests/fuzz/corpus_kafka_requests from real clients: a tiny proxy
between Kafka clients and a streamfs listener that writes every request
frame it passes on (size field included) into OUTDIR, one file each, named
API-vVERSION-N.  The broker's address in Metadata and FindCoordinator
answers is rewritten to the proxy's, so clients come back through it.

Usage: python3 capture_kafka_requests.py LISTEN_PORT BROKER_PORT OUTDIR
(runs until killed)."""
import os
import socket
import struct
import sys
import threading

names = {0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata",
         8: "offset_commit", 9: "offset_fetch", 10: "find_coordinator",
         11: "join_group", 12: "heartbeat", 13: "leave_group",
         14: "sync_group", 18: "api_versions"}
count = [0]
lock = threading.Lock()


def frames(sock):
    buf = b""
    while True:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
            n = 4 + struct.unpack(">i", buf[:4])[0]
            yield buf[:n]
            buf = buf[n:]
        try:
            d = sock.recv(1 << 16)
        except OSError:
            return
        if not d:
            return
        buf += d


def skip_string(f, at):
    n = struct.unpack(">h", f[at:at + 2])[0]
    return at + 2 + max(n, 0)


def rewrite(f, key, version, port):
    """Put port where the answer names the broker (host kept)."""
    f = bytearray(f)
    at = 8
    if key == 3:
        if version >= 3:
            at += 4
        nb = struct.unpack(">i", f[at:at + 4])[0]
        at += 4
        for _ in range(nb):
            at = skip_string(f, at + 4)
            f[at:at + 4] = struct.pack(">i", port)
            at += 4
            if version >= 1:
                at = skip_string(f, at)
    elif key == 10:
        if version >= 1:
            at = skip_string(f, at + 6)
        else:
            at += 2
        at = skip_string(f, at + 4)
        f[at:at + 4] = struct.pack(">i", port)
    return bytes(f)


def serve(client, broker_port, out, port):
    up = socket.create_connection(("127.0.0.1", broker_port))
    asked = {}

    def down():
        for f in frames(up):
            corr = struct.unpack(">i", f[4:8])[0]
            key, version = asked.pop(corr, (-1, 0))
            if key in (3, 10):
                f = rewrite(f, key, version, port)
            client.sendall(f)
        client.close()
    threading.Thread(target=down, daemon=True).start()
    for f in frames(client):
        key, version, corr = struct.unpack(">hhi", f[4:12])
        asked[corr] = (key, version)
        with lock:
            count[0] += 1
            n = count[0]
        name = "%s-v%d-%d" % (names.get(key, str(key)), version, n)
        with open(os.path.join(out, name), "wb") as o:
            o.write(f)
        up.sendall(f)
    up.close()


def main():
    port, broker_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.makedirs(out, exist_ok=True)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, broker_port, out, port),
                         daemon=True).start()


if __name__ == "__main__":
    main()
