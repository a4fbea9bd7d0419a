"""A small Kafka wire client for tests/test_kafka.py: frames requests by
hand (so tests can also send malformed ones) and parses the few responses
the tests look at.  Also run as a program by another user (setpriv):
`python3 kafka_wire.py PORT metadata NAME...` prints one line per topic,
"NAME ERROR" (topics missing are made if they may be), and `... offsets
NAME` the ListOffsets error and offset."""
import socket
import struct
import sys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def string(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def header(api_key, version, corr, client_id="test", flexible=False):
    h = struct.pack(">hhi", api_key, version, corr) + string(client_id)
    return h + (b"\0" if flexible else b"")


def frame(body):
    return struct.pack(">i", len(body)) + body


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        assert self.p + n <= len(self.d), "short response"
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        v = shift = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return v

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def left(self):
        return len(self.d) - self.p


class Conn:
    def __init__(self, port, timeout=10, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.corr = 0

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            b = self.s.recv(n - len(out))
            if not b:
                raise EOFError("closed after %d of %d bytes" % (len(out), n))
            out += b
        return out

    def response(self):
        """(correlation id, the rest) of the next response."""
        n = struct.unpack(">i", self.recv_exact(4))[0]
        body = self.recv_exact(n)
        return struct.unpack(">i", body[:4])[0], body[4:]

    def closed(self):
        """True if the daemon closed the connection (after any bytes)."""
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def request(self, api_key, version, body=b"", flexible=False):
        self.corr += 1
        self.send(frame(header(api_key, version, self.corr,
                               flexible=flexible) + body))
        corr, rest = self.response()
        assert corr == self.corr, (corr, self.corr)
        return Reader(rest)


def api_versions(r, flexible=False):
    """{api_key: (min, max)} and the error code of a v0-3 response."""
    err = r.i16()
    n = r.uvarint() - 1 if flexible else r.i32()
    apis = {}
    for _ in range(n):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        if flexible:
            r.uvarint()
        apis[k] = (lo, hi)
    return err, apis


def metadata(conn, names, version=1, create=True):
    """{topic name: error code} from Metadata v0 to v4 (names None: all;
    create: v4's allow_auto_topic_creation)."""
    if names is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(names)) + b"".join(
            string(n) for n in names)
    if version >= 4:
        body += b"\1" if create else b"\0"
    r = conn.request(3, version, body)
    if version >= 3:
        r.i32()                                 # throttle_time_ms
    for _ in range(r.i32()):                    # brokers
        r.i32(), r.string(), r.i32()
        if version >= 1:
            r.string()                          # rack
    if version >= 2:
        r.string()                              # cluster_id
    if version >= 1:
        r.i32()                                 # controller
    out = {}
    for _ in range(r.i32()):
        err, name = r.i16(), r.string()
        if version >= 1:
            r.i8()                              # is_internal
        for _ in range(r.i32()):
            r.i16(), r.i32(), r.i32()
            r.take(4 * r.i32())
            r.take(4 * r.i32())
        out[name] = err
    return out


def list_offsets(conn, name, ts, partition=0, version=1):
    """(error, offset) of ListOffsets v1 for one partition."""
    body = struct.pack(">ii", -1, 1) + string(name) + struct.pack(
        ">iiq", 1, partition, ts)
    r = conn.request(2, version, body)
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()
    err = r.i16()
    r.i64()
    return err, r.i64()


if __name__ == "__main__":
    c = Conn(int(sys.argv[1]))
    if sys.argv[2] == "metadata":
        names = sys.argv[3:] or None
        for name, err in sorted(metadata(c, names).items()):
            print(name, err)
    elif sys.argv[2] == "offsets":
        print(*list_offsets(c, sys.argv[3], -1))
