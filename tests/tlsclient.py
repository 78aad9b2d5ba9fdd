"""The TLS client of the suites and the throwaway certificates it talks with.

``Certs`` makes a CA and certificates signed by it with openssl in a
directory (``needs_openssl`` skips a module where openssl is missing);
``certs(name)`` is the path of one of its files, as the suites' ``certs``
fixtures pass it around (conftest.py's, made once by ``client_certs``, or a
suite's own). ``TlsClient`` reads INFO in clear, then does the
handshake, as a 2.9-style client does; ``client_ctx``, ``read_line`` and
``closed_within`` work on plain ``ssl`` sockets; ``tls_block`` is the
``tls { ... }`` block of a server configuration.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from harness import HOST, parse_info

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl is needed to make certificates")

# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

NEW_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

# Extensions for a client certificate, and for a server (or route node)
# certificate valid for 127.0.0.1 and localhost.
CLIENT_EXT = "extendedKeyUsage=clientAuth\n"
SERVER_EXT = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
NODE_EXT = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"

# `openssl ca`'s configuration, for certificates with given validity dates;
# the sections "client" and "node" hold the extensions of each kind.
CA_CNF = """[ ca ]
default_ca = ca_default
[ ca_default ]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ client ]
extendedKeyUsage = clientAuth
[ node ]
subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth,clientAuth
"""


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """Certificates in ``directory``, each as NAME.pem and NAME-key.pem
    (valid for two days unless made by ``expired``); calling the object
    with a file name gives its path."""

    def __init__(self, directory):
        self.dir = str(directory)

    def __call__(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name):
        """A self-signed CA with the subject CN=``name``."""
        openssl("req", "-x509", *NEW_EC_KEY, "-keyout", name + "-key.pem", "-out", name + ".pem",
                "-days", "2", "-subj", "/CN=%s" % name, cwd=self.dir)

    def leaf(self, name, ca, ext, subj=None):
        """A certificate signed by the CA ``ca`` with the extension lines
        ``ext``; subject ``subj`` (default CN=``name``)."""
        openssl("req", *NEW_EC_KEY, "-keyout", name + "-key.pem", "-out", name + ".csr",
                "-subj", subj or "/CN=%s" % name, cwd=self.dir)
        with open(self(name + ".ext"), "w") as f:
            f.write(ext)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + "-key.pem",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
                cwd=self.dir)

    def expired(self, name, ca, section):
        """A certificate signed by ``ca`` that was valid for one day in 2020,
        with the extensions of CA_CNF's ``section`` ("client" or "node")."""
        db = self("db")
        if not os.path.isdir(db):
            os.makedirs(db)
            open(os.path.join(db, "index.txt"), "w").close()
            with open(os.path.join(db, "serial"), "w") as f:
                f.write("01\n")
            with open(self("ca.cnf"), "w") as f:
                f.write(CA_CNF)
        openssl("req", *NEW_EC_KEY, "-keyout", name + "-key.pem", "-out", name + ".csr",
                "-subj", "/CN=" + name, cwd=self.dir)
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", ca + ".pem", "-keyfile", ca + "-key.pem",
                "-in", name + ".csr", "-out", name + ".pem", "-startdate", "20200101000000Z",
                "-enddate", "20200102000000Z", "-extensions", section, "-notext", cwd=self.dir)


def client_certs(directory):
    """The certificates of the client TLS suites, in ``directory``: the CAs
    "ca" and "otherca"; from "ca" a server certificate "server" (SAN
    127.0.0.1 and localhost), a client one "client", one per user of the
    verify_and_map checks (subjects as DNs in several orders, e-mail, DNS and
    URI SANs) and "expired" (valid for a day in 2020); "stranger", a client
    certificate from "otherca"."""
    c = Certs(directory)
    c.ca("ca")
    c.ca("otherca")
    c.leaf("server", "ca", SERVER_EXT)
    c.leaf("client", "ca", CLIENT_EXT)
    c.leaf("stranger", "otherca", CLIENT_EXT)
    c.leaf("alice", "ca", CLIENT_EXT, subj="/C=US/O=Acme/CN=alice")
    c.leaf("bob", "ca", "subjectAltName=email:bob@example.org\n" + CLIENT_EXT)
    c.leaf("carol", "ca", "subjectAltName=DNS:carol.example.org\n" + CLIENT_EXT)
    c.leaf("dave", "ca", CLIENT_EXT, subj="/DC=org/DC=example/CN=dave")
    c.leaf("eve", "ca", CLIENT_EXT, subj="/O=Acme/CN=eve")
    c.leaf("frank", "ca", CLIENT_EXT, subj="/DC=org/CN=frank/emailAddress=frank@example.org")
    c.leaf("grace", "ca", "subjectAltName=URI:spiffe://example.org/grace\n" + CLIENT_EXT)
    c.leaf("henry", "ca", CLIENT_EXT)
    c.leaf("mallory", "ca", CLIENT_EXT)
    c.expired("expired", "ca", "client")
    return c


def tls_block(certs, cert="server", **extra):
    """``tls { ... }`` with ``cert``'s certificate and key, then ``extra``
    (values as JSON: ca_file, verify, timeout, handshake_first, ...)."""
    lines = ["cert_file: %s" % json.dumps(certs(cert + ".pem")),
             "key_file: %s" % json.dumps(certs(cert + "-key.pem"))]
    for k, v in extra.items():
        lines.append("%s: %s" % (k, json.dumps(v)))
    return "tls {\n  %s\n}\n" % "\n  ".join(lines)


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------

def client_ctx(certs, cert=None):
    """A client context trusting ``certs``' CA "ca", presenting ``cert``."""
    ctx = ssl.create_default_context(cafile=certs("ca.pem"))
    if cert:
        ctx.load_cert_chain(certs(cert + ".pem"), certs(cert + "-key.pem"))
    return ctx


def read_line(sock, timeout=3.0):
    """One line (up to CRLF) read byte by byte, so that nothing after it is
    consumed (a handshake may follow)."""
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\r\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError("closed before a line: %r" % buf)
        buf += b
    return buf


def closed_within(sock, timeout):
    """True when the server closes ``sock`` (EOF or reset) within
    ``timeout``; bytes it sends first (an alert) are read and dropped."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not sock.recv(4096):
                return True
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


class TlsClient:
    """INFO in clear (``info``), then the handshake, as a 2.9-style client
    does; ``sock`` is the TLS socket."""

    def __init__(self, port, ctx, timeout=3.0):
        raw = socket.create_connection((HOST, port), timeout=timeout)
        self.info = parse_info(read_line(raw, timeout).decode())
        self.sock = ctx.wrap_socket(raw, server_hostname=HOST)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, want, timeout=3.0):
        """What arrives up to and including the first ``want``; the rest
        stays buffered."""
        deadline = time.monotonic() + timeout
        while want not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("wanted %r, got %r" % (want, self.buf))
            b = self.sock.recv(65536)
            if not b:
                raise ConnectionError("closed; got %r" % self.buf)
            self.buf += b
        i = self.buf.index(want) + len(want)
        got, self.buf = self.buf[:i], self.buf[i:]
        return got

    def expect(self, want, timeout=3.0):
        """Skips to after ``want``."""
        self.read_until(want, timeout)

    def read_line(self, timeout=3.0):
        return self.read_until(b"\r\n", timeout)

    def before_pong(self, timeout=3.0):
        """Sends PING and returns what arrived before the PONG."""
        self.send(b"PING\r\n")
        return self.read_until(b"PONG\r\n", timeout)[:-len(b"PONG\r\n")]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def check_pubsub(port, ctx, subject="t.a"):
    """CONNECT, SUB, PUB and the message back, on a new TlsClient."""
    c = TlsClient(port, ctx)
    try:
        c.send(b'CONNECT {"verbose":false}\r\nSUB %s 1\r\nPING\r\n' % subject.encode())
        c.expect(b"PONG\r\n")
        c.send(b"PUB %s 5\r\nhello\r\nPING\r\n" % subject.encode())
        c.expect(b"MSG %s 1 5\r\nhello\r\n" % subject.encode())
        c.expect(b"PONG\r\n")
    finally:
        c.close()
