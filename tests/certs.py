"""Certificates for the tests of the daemon's TLS front ends (the Kafka
listener's kafka_tls, replication's replica_listen): a CA and the
certificates it signs, made with the openssl command line in a folder of
the test's own."""
import os
import socket
import ssl

from util import run


class PKI:
    """A CA and the certificates it signs, as PEM files in a folder."""

    def __init__(self, top, name="ca"):
        self.dir = str(top)
        self.name = name
        self.ca = self.path(name + ".pem")
        self._key(name)
        run(["openssl", "req", "-x509", "-new", "-key",
             self.path(name + ".key"), "-out", self.ca, "-days", "2",
             "-subj", "/CN=streamfs test %s" % name])
        self.n = 0

    def path(self, f):
        return os.path.join(self.dir, f)

    def _key(self, base):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-out", self.path(base + ".key")])

    def issue(self, subject, days=2, server=False, ip="127.0.0.1"):
        """(cert, key) paths of a certificate for subject ("/CN=x/O=y");
        a server's names ip and localhost."""
        self.n += 1
        base = "%s-%d" % (self.name, self.n)
        self._key(base)
        csr, cert = self.path(base + ".csr"), self.path(base + ".pem")
        run(["openssl", "req", "-new", "-key", self.path(base + ".key"),
             "-out", csr, "-subj", subject])
        ext = self.path(base + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:%s,DNS:localhost\n" % ip
                    if server else "extendedKeyUsage=clientAuth\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
             self.path(self.name + ".key"), "-CAcreateserial", "-out", cert,
             "-days", str(days), "-extfile", ext])
        return cert, self.path(base + ".key")


def leave_mid_handshake(port, ca):
    """Connect to a TLS listener on loopback, send a ClientHello, take the
    server's first flight, and close without a word: what a client that
    gives up (or a peer killed mid-way) does."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(out.read())
        assert s.recv(65536), "the server sent no first flight"
