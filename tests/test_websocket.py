"""WebSocket clients (`websocket {}`), against the server under test and
both Go series (the Go variants show the tests are right).

Checked: the upgrade (101 and its accept key, the first frame is INFO with
the WebSocket port) and its refusals (method, key, version, Upgrade
header); masked frames required; NATS ops split across frames and several
in one frame, with a control frame between fragments; 200 KB messages both
ways between a WebSocket and a TCP client; ping/pong and close echo;
`same_origin` and `allowed_origins`; `websocket { authorization }` applying
to WebSocket clients only; /varz `websocket` and /connz `type`; nats-py
and the nats.ws client (node) over `ws://`. Every wait is bounded.
"""

import asyncio
import os
import shutil
import subprocess
import zlib

import pytest

from harness import (
    HOST,
    REPO_ROOT,
    SERVER_BIN,
    NatsServer,
    free_port,
    go_binary_or_skip,
    http_get_json,
    open_client,
    pub,
    round_trip,
)
from wsclient import WsClient

pytestmark = pytest.mark.against_go

KINDS = ("under-test", "2.9", "2.10+")


class WsServer(NatsServer):
    def __init__(self, tmp, kind, ws_extra="", extra=""):
        self.ws_port = free_port()
        self.http_port = free_port()
        conf = tmp / "ws.conf"
        conf.write_text('http: "%s:%d"\n%s\nwebsocket {\n  listen: "%s:%d"\n  no_tls: true\n  %s\n}\n'
                        % (HOST, self.http_port, extra, HOST, self.ws_port, ws_extra))
        binary = SERVER_BIN if kind == "under-test" else go_binary_or_skip(kind)
        super().__init__(tmp / "ws.log", ["-c", str(conf)], binary=binary)


@pytest.fixture
def ws_server(tmp_path):
    started = []

    def make(kind, **kw):
        s = WsServer(tmp_path, kind, **kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


by_kind = pytest.mark.parametrize("kind", KINDS)


@by_kind
def test_upgrade_then_info_in_the_first_frame(ws_server, kind):
    s = ws_server(kind)
    c = WsClient(s.ws_port)
    try:
        assert c.status == 101 and c.accept_ok(), (c.status, c.headers)
        assert c.headers.get("upgrade", "").lower() == "websocket"
        info = c.info()
        # Go 2.9 names its client port; newer servers the WebSocket port.
        assert info["port"] == (s.port if kind == "2.9" else s.ws_port) and info["client_id"] > 0, info
        assert "connect_urls" not in info
    finally:
        c.close()


@by_kind
@pytest.mark.parametrize("bad,status", [
    ({"method": "POST"}, 405),
    ({"headers": {"Sec-WebSocket-Key": None}}, 400),
    ({"version": "12"}, 400),
    ({"headers": {"Upgrade": None}}, 400),
    ({"headers": {"Connection": "keep-alive"}}, 400),
])
def test_refused_upgrades(ws_server, kind, bad, status):
    s = ws_server(kind)
    c = WsClient(s.ws_port, **bad)
    try:
        assert c.status == status, (c.status, c.headers, c.body)
    finally:
        c.close()


@by_kind
@pytest.mark.parametrize("first", ["version", "post-with-body"])
def test_a_refused_upgrade_keeps_the_connection_for_another_request(ws_server, kind, first):
    """After refusing an HTTP/1.1 request, the connection stays open (HTTP
    keep-alive, as Go's HTTP server keeps it; a small body is read and
    dropped): a second, valid upgrade on it gets its 101 and the INFO."""
    from wsclient import upgrade_request
    s = ws_server(kind)
    if first == "version":
        c = WsClient(s.ws_port, version="12")
        assert c.status == 400, (c.status, c.headers)
    else:
        # The body comes with the head: Go answers once it has it.
        c = WsClient(s.ws_port, method="POST", headers={"Content-Length": "5"}, body=b"hello")
        assert c.status == 405, (c.status, c.headers)
    try:
        req, c.key = upgrade_request(s.ws_port)
        c.sock.sendall(req)
        head = c._read_until(b"\r\n\r\n", 5.0)
        assert head.startswith(b"HTTP/1.1 101 "), head
        c.headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                c.headers[k.strip().lower()] = v.strip()
        assert c.accept_ok(), c.headers
        assert c.info()["client_id"] > 0
    finally:
        c.close()


@by_kind
def test_an_unmasked_client_frame_ends_the_connection(ws_server, kind):
    s = ws_server(kind)
    c = WsClient(s.ws_port)
    try:
        c.info()
        c.send_frame(b"PING\r\n", mask=False)
        assert c.closed_within(3.0)
    finally:
        c.close()


@by_kind
def test_ops_across_frames_and_a_ping_between_fragments(ws_server, kind):
    s = ws_server(kind)
    c = WsClient(s.ws_port)
    try:
        c.info()
        c.nats('CONNECT {"verbose":false}\r\n')
        c.send_frame(b"SUB foo 1\r\nPUB foo 5\r\nhe", opcode=2, fin=False)
        c.send_frame(b"llo\r\nPI", opcode=0, fin=False)
        c.send_frame(b"hello-ping", opcode=9)
        c.send_frame(b"NG\r\n", opcode=0, fin=True)
        data, control = c.read_stream_until(b"PONG\r\n")
        assert (10, b"hello-ping") in control, control
        assert data == b"MSG foo 1 5\r\nhello\r\nPONG\r\n", data
    finally:
        c.close()


@by_kind
def test_close_is_echoed(ws_server, kind):
    s = ws_server(kind)
    c = WsClient(s.ws_port)
    try:
        c.info()
        c.send_frame(b"\x03\xe8bye", opcode=8)
        while True:
            _, _, opcode, payload = c.recv_frame()
            if opcode == 8:
                assert payload == b"\x03\xe8bye", payload
                break
    finally:
        c.close()


@by_kind
def test_large_messages_between_websocket_and_tcp_clients(ws_server, kind):
    s = ws_server(kind)
    w = WsClient(s.ws_port)
    t = open_client(s)
    try:
        w.info()
        w.nats('CONNECT {"verbose":false}\r\nSUB to.ws 1\r\nPING\r\n')
        w.read_stream_until(b"PONG\r\n")
        t.send("SUB to.tcp 2\r\n")
        round_trip(t)
        big = os.urandom(100_000).hex().encode()  # 200 000 bytes
        t.send(pub("to.ws", big))
        head_line = b"MSG to.ws 1 %d\r\n" % len(big)
        data = b""
        while len(data) < len(head_line) + len(big) + 2:
            data += w.recv_frame(10.0)[3]
        head = b"MSG to.ws 1 %d\r\n" % len(big)
        assert data.startswith(head) and data[len(head):len(head) + len(big)] == big
        w.nats(b"PUB to.tcp %d\r\n" % len(big) + big + b"\r\n")
        op = t.read_op(10.0)
        assert op.kind == "MSG" and op.payload == big
    finally:
        w.close()
        t.close()


@by_kind
def test_same_origin(ws_server, kind):
    s = ws_server(kind, ws_extra="same_origin: true")
    good = WsClient(s.ws_port, headers={"Origin": "http://%s:%d" % (HOST, s.ws_port)})
    bad = WsClient(s.ws_port, headers={"Origin": "http://%s:%d" % (HOST, s.ws_port + 1)})
    absent = WsClient(s.ws_port)
    try:
        assert (good.status, bad.status, absent.status) == (101, 403, 101)
    finally:
        for c in (good, bad, absent):
            c.close()


@by_kind
def test_allowed_origins(ws_server, kind):
    s = ws_server(kind, ws_extra='allowed_origins: ["http://good.example:8080"]')
    good = WsClient(s.ws_port, headers={"Origin": "http://good.example:8080"})
    bad = WsClient(s.ws_port, headers={"Origin": "http://evil.example:8080"})
    try:
        assert (good.status, bad.status) == (101, 403)
    finally:
        good.close()
        bad.close()


@by_kind
def test_websocket_authorization_applies_to_websocket_clients(ws_server, kind):
    s = ws_server(kind, ws_extra="authorization { user: wu, password: wp }")
    anon = WsClient(s.ws_port)
    user = WsClient(s.ws_port)
    try:
        assert anon.info().get("auth_required") is True
        anon.nats('CONNECT {"verbose":false}\r\nPING\r\n')
        data, _ = anon.read_stream_until(b"\r\n")
        assert data.startswith(b"-ERR 'Authorization Violation'"), data
        user.info()
        user.nats('CONNECT {"verbose":false,"user":"wu","pass":"wp"}\r\nPING\r\n')
        data, _ = user.read_stream_until(b"\r\n")
        assert data == b"PONG\r\n", data
        # A TCP client of the same server needs no credentials.
        open_client(s).close()
    finally:
        anon.close()
        user.close()


@by_kind
def test_varz_and_connz(ws_server, kind):
    s = ws_server(kind, ws_extra='same_origin: true\n  handshake_timeout: "3s"')
    w = WsClient(s.ws_port, headers={"Origin": "http://%s:%d" % (HOST, s.ws_port)})
    try:
        w.info()
        w.nats('CONNECT {"verbose":false,"name":"browser"}\r\nPING\r\n')
        w.read_stream_until(b"PONG\r\n")
        ws = http_get_json(s.http_port, "/varz")["websocket"]
        assert (ws["host"], ws["port"], ws.get("no_tls"), ws.get("same_origin"), ws.get("handshake_timeout")) == \
            (HOST, s.ws_port, True, True, 3_000_000_000), ws
        conns = http_get_json(s.http_port, "/connz")["connections"]
        mine = [c for c in conns if c.get("name") == "browser"]
        assert len(mine) == 1 and mine[0]["type"] == "websocket", conns
    finally:
        w.close()


@by_kind
def test_nats_py_over_websocket(ws_server, kind):
    pytest.importorskip("aiohttp")
    import nats
    s = ws_server(kind)

    async def run():
        ws = await nats.connect("ws://%s:%d" % (HOST, s.ws_port))
        tcp = await nats.connect("nats://%s:%d" % (HOST, s.port))
        try:
            got = asyncio.get_running_loop().create_future()

            async def on_msg(m):
                if not got.done():
                    got.set_result(m.data)

            await ws.subscribe("from.tcp", cb=on_msg)
            await ws.flush()

            async def echo(m):
                await m.respond(b"echo:" + m.data)

            await tcp.subscribe("svc", cb=echo)
            await tcp.flush()
            await tcp.publish("from.tcp", b"x" * 70000)
            data = await asyncio.wait_for(got, 5)
            assert data == b"x" * 70000
            r = await ws.request("svc", b"hi", timeout=5)
            assert r.data == b"echo:hi"
        finally:
            await ws.close()
            await tcp.close()

    asyncio.run(run())


# The nats.ws client and the WebSocket it runs on in node, pinned.
NATSWS_PACKAGES = ("nats.ws@1.30.3", "ws@8.23.1")
NATSWS_SCRIPT = os.path.join(REPO_ROOT, "tests", "interop", "natsws_client.cjs")


def natsws_modules():
    """node_modules with the pinned nats.ws, installed from the npm
    registry into target/npm-natsws on first use."""
    prefix = os.path.join(REPO_ROOT, "target", "npm-natsws")
    modules = os.path.join(prefix, "node_modules")
    if not os.path.exists(os.path.join(modules, "nats.ws", "package.json")):
        os.makedirs(prefix, exist_ok=True)
        r = subprocess.run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
                            *NATSWS_PACKAGES], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "npm install %s failed:\n%s" % (" ".join(NATSWS_PACKAGES), r.stderr[-2000:])
    return modules


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="node and npm are not installed (Debian: apt-get install -y nodejs npm)")
@by_kind
@pytest.mark.parametrize("compression", ["off", "on"])
def test_nats_ws_client(ws_server, kind, compression):
    """The nats.ws client library over `ws://` (its `ws` WebSocket offers
    permessage-deflate, taken when the server has compression on):
    subscriptions, request and reply with headers, a 200 KB message, a
    queue group, no responders, drain."""
    modules = natsws_modules()
    s = ws_server(kind, ws_extra="compression: true" if compression == "on" else "")
    env = dict(os.environ, NODE_PATH=modules)
    r = subprocess.run(["node", NATSWS_SCRIPT, "ws://%s:%d" % (HOST, s.ws_port)], capture_output=True,
                       text=True, timeout=60, env=env)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and not any(line.startswith("not ok") for line in lines), r.stdout + r.stderr
    assert sum(line.startswith("ok - ") for line in lines) == 7, r.stdout


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    z = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert z.endswith(b"\x00\x00\xff\xff")
    return z[:-4]


def inflate(z):
    return zlib.decompressobj(-15).decompress(z + b"\x00\x00\xff\xff")


@by_kind
def test_compression_negotiated_and_used(ws_server, kind):
    s = ws_server(kind, ws_extra="compression: true")
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    c = WsClient(s.ws_port, headers=offer)
    plain = WsClient(s.ws_port)
    try:
        ext = c.headers.get("sec-websocket-extensions", "")
        assert ext == "permessage-deflate; server_no_context_takeover; client_no_context_takeover", c.headers
        assert "sec-websocket-extensions" not in plain.headers
        _, _, _, first = c.recv_frame()
        info = inflate(first) if not first.startswith(b"INFO") else first
        assert info.startswith(b"INFO "), info[:40]
        body = b"compressible " * 100
        ops = b'CONNECT {"verbose":false}\r\nSUB big 1\r\nPUB big %d\r\n%s\r\nPING\r\n' % (len(body), body)
        c.send_frame(deflate(ops), rsv1=True)
        got, compressed = b"", False
        while b"PONG\r\n" not in got:
            fin, rsv1, opcode, payload = c.recv_frame()
            if rsv1:
                compressed = True
                while not fin:
                    fin, _, _, more = c.recv_frame()
                    payload += more
                payload = inflate(payload)
            got += payload
        assert compressed and got == b"MSG big 1 %d\r\n%s\r\nPONG\r\n" % (len(body), body), got[:80]
    finally:
        c.close()
        plain.close()


MIXES = [("under-test", "under-test"), ("under-test", "2.9"), ("2.10+", "under-test"), ("2.9", "2.9"),
         ("2.10+", "2.10+")]


@pytest.mark.parametrize("first,second", MIXES, ids=["%s+%s" % m for m in MIXES])
def test_websocket_urls_of_the_cluster(tmp_path, first, second):
    """Two clustered servers with WebSocket listeners gossip them: a
    WebSocket client's INFO lists both servers' WebSocket URLs as
    `connect_urls` (a client connected before the second server came hears
    of it in an async INFO), /varz lists them as `ws_connect_urls`, and TCP
    clients never see them. Alone, a server sends none."""
    import json
    import time
    cports = [free_port(), free_port()]
    servers, ws_ports, http_ports = [], [free_port(), free_port()], [free_port(), free_port()]

    def start(i, kind):
        conf = tmp_path / ("s%d.conf" % i)
        conf.write_text('server_name: s%d\nhttp: "%s:%d"\nwebsocket { listen: "%s:%d", no_tls: true }\n'
                        'cluster { name: C, listen: "%s:%d", routes: ["nats-route://%s:%d"] }\n'
                        % (i, HOST, http_ports[i], HOST, ws_ports[i], HOST, cports[i], HOST, cports[1 - i]))
        binary = SERVER_BIN if kind == "under-test" else go_binary_or_skip(kind)
        s = NatsServer(tmp_path / ("s%d.log" % i), ["-c", str(conf)], binary=binary).start()
        servers.append(s)
        return s

    urls = sorted("%s:%d" % (HOST, p) for p in ws_ports)
    try:
        start(0, first)
        early = WsClient(ws_ports[0])
        try:
            assert "connect_urls" not in early.info()
            early.nats('CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
            early.read_stream_until(b"PONG\r\n")
            start(1, second)
            data, _ = early.read_stream_until(b"connect_urls", timeout=10.0)
            if b"\r\n" not in data[data.index(b"INFO "):]:
                data += early.read_stream_until(b"\r\n")[0]
            line = data[data.index(b"INFO "):]
            info = json.loads(line[5:line.index(b"\r\n")])
            assert sorted(info.get("connect_urls", [])) == urls, info
            assert info["port"] in (ws_ports[0], servers[0].port), info
        finally:
            early.close()
        for i in range(2):
            deadline = time.monotonic() + 10
            while sorted(http_get_json(http_ports[i], "/varz").get("ws_connect_urls", [])) != urls:
                assert time.monotonic() < deadline, http_get_json(http_ports[i], "/varz")
                time.sleep(0.05)
            w = WsClient(ws_ports[i])
            try:
                assert sorted(w.info().get("connect_urls", [])) == urls
            finally:
                w.close()
            c = open_client(servers[i])
            try:
                assert not set(c.info.get("connect_urls", [])) & set(urls), c.info
            finally:
                c.close()
    finally:
        for s in servers:
            s.stop()
