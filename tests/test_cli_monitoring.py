"""Command line, log output (format, -D debug lines, -V trace lines) and the
HTTP monitoring port (/varz, /healthz).
"""

import datetime
import http.client
import json
import re
import subprocess
import time

import pytest

from harness import HOST, LOG_LINE_RE, free_port, msg, port_accepts, pub

VERSION_RE = re.compile(r"^nats-server: v(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?)\n$")


def message_lines(srv, level=None):
    """Log lines of ``srv`` as (level, message) pairs."""
    out = []
    for line in srv.log_lines():
        m = LOG_LINE_RE.match(line)
        if m and (level is None or m.group("level") == level):
            out.append((m.group("level"), m.group("msg")))
    return out


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-v", "--version", "-version"])
def test_version_flag(server_bin, flag):
    r = subprocess.run([server_bin, flag], capture_output=True, timeout=10)
    assert r.returncode == 0, r
    assert VERSION_RE.match(r.stdout.decode()), r.stdout


def test_version_matches_info(server_bin, start_server, clients):
    r = subprocess.run([server_bin, "--version"], capture_output=True, timeout=10)
    version = VERSION_RE.match(r.stdout.decode()).group(1)
    srv = start_server()
    # Build metadata (after "+") is not part of the version that clients compare.
    assert clients(srv).info["version"] == version.split("+")[0]


def test_random_port_is_logged_and_followed_by_ready(start_server, clients):
    srv = start_server(port=-1)
    srv.wait_for_log(r"\[INF\] Server is ready")
    lines = [m for _, m in message_lines(srv)]
    listen = [i for i, m in enumerate(lines)
              if m == "Listening for client connections on 127.0.0.1:%d" % srv.port]
    assert len(listen) == 1, srv.log_text()
    assert srv.port > 0
    assert lines[listen[0] + 1] == "Server is ready", srv.log_text()
    c = clients(srv)
    assert c.info["port"] == srv.port
    c.ping()


def test_fixed_port_is_logged(start_server):
    srv = start_server()
    srv.wait_for_log(r"\[INF\] Listening for client connections on 127\.0\.0\.1:%d$" % srv.port)
    srv.wait_for_log(r"\[INF\] Server is ready$")


# ---------------------------------------------------------------------------
# Log format
# ---------------------------------------------------------------------------

def test_log_lines_have_pid_timestamp_and_level(start_server, clients):
    srv = start_server()
    srv.wait_for_log(r"Server is ready")
    lines = srv.log_lines()
    assert lines, "no log output"
    now = datetime.datetime.now()
    for line in lines:
        m = LOG_LINE_RE.match(line)
        assert m, "bad log line %r" % line
        assert int(m.group("pid")) == srv.pid
        stamp = datetime.datetime.strptime(
            m.group("date") + " " + m.group("time"), "%Y/%m/%d %H:%M:%S.%f")
        assert abs((now - stamp).total_seconds()) < 120, line
    msgs = [m for _, m in message_lines(srv, "INF")]
    assert msgs[0] == "Starting nats-server"
    version = clients(srv).info["version"]
    assert any(re.fullmatch(r"\s+Version:\s+%s" % re.escape(version), m) for m in msgs), msgs


def test_default_log_has_no_debug_or_trace_lines(start_server, clients):
    srv = start_server()
    c = clients(srv)
    c.connect()
    c.send(b"SUB q.foo 1\r\n")
    c.ping()
    c.close()
    srv.wait_for_log(r"Server is ready")
    levels = {lvl for lvl, _ in message_lines(srv)}
    assert levels <= {"INF", "WRN"}, srv.log_text()


def _prefix(client):
    return r"127\.0\.0\.1:%d - cid:%d - " % (client.local_port, client.info["client_id"])


def test_debug_logs_client_connection_lifecycle(start_server, clients):
    srv = start_server("-D")
    c = clients(srv)
    c.connect()
    c.ping()
    p = _prefix(c)
    srv.wait_for_log(r"\[DBG\] " + p + r"Client connection created$")
    c.close()
    srv.wait_for_log(r"\[DBG\] " + p + r"Client connection closed: Client Closed$")
    assert not [1 for lvl, _ in message_lines(srv) if lvl == "TRC"]


def test_debug_prefix_includes_client_name_after_connect(start_server, clients):
    srv = start_server("-D")
    c = clients(srv)
    c.connect(name="dbg", lang="python", version="1.2.3")
    c.ping()
    p = _prefix(c)
    c.close()
    srv.wait_for_log(r"\[DBG\] " + p + r'"v1\.2\.3:python:dbg" - Client connection closed: Client Closed$')


def test_trace_lines_for_client_ops(start_server, clients):
    srv = start_server("-V")
    c = clients(srv)
    c.send(b'CONNECT {"verbose":false}\r\nSUB tr.foo  1\r\n'
           + pub("tr.foo", "hello") + b"PING\r\n")
    c.expect(msg("tr.foo", 1, "hello") + b"PONG\r\n")
    p = r"\[TRC\] " + _prefix(c)
    for pattern in [
        r'<<- \[CONNECT \{"verbose":false\}\]$',
        r"<<- \[SUB tr\.foo  1\]$",
        r"<<- \[PUB tr\.foo 5\]$",
        r'<<- MSG_PAYLOAD: \["hello"\]$',
        r"->> \[MSG tr\.foo 1 5\]$",
        r"<<- \[PING\]$",
        r"->> \[PONG\]$",
    ]:
        srv.wait_for_log(p + pattern)
    assert not [1 for lvl, _ in message_lines(srv) if lvl == "DBG"]


def test_trace_payload_is_quoted(start_server, clients):
    srv = start_server("-V")
    c = clients(srv)
    c.connect()
    c.send(b'SUB tq.foo 1\r\nPUB tq.foo r.x 7\r\na"b\\\r\nc\r\n' b"PING\r\n")
    c.expect(b'MSG tq.foo 1 r.x 7\r\na"b\\\r\nc\r\nPONG\r\n')
    p = r"\[TRC\] " + _prefix(c)
    srv.wait_for_log(p + re.escape('<<- MSG_PAYLOAD: ["a\\"b\\\\\\r\\nc"]') + "$")
    srv.wait_for_log(p + re.escape("->> [MSG tq.foo 1 r.x 7]") + "$")


def test_trace_redacts_password(start_server, clients):
    srv = start_server("-V", "--user", "alice", "--pass", "pw")
    c = clients(srv)
    c.send(b'CONNECT {"verbose":false,"user":"alice","pass":"pw"}\r\nPING\r\n')
    c.expect(b"PONG\r\n")
    srv.wait_for_log(r"\[TRC\] " + _prefix(c)
                     + re.escape('<<- [CONNECT {"verbose":false,"user":"alice","pass":"[REDACTED]"}]')
                     + "$")
    assert '"pw"' not in srv.log_text()


def test_debug_and_trace_together(start_server, clients):
    srv = start_server("-DV")
    c = clients(srv)
    c.connect()
    c.ping()
    p = _prefix(c)
    srv.wait_for_log(r"\[DBG\] " + p + r"Client connection created$")
    srv.wait_for_log(r"\[TRC\] " + p + r"<<- \[PING\]$")
    srv.wait_for_log(r"\[TRC\] " + p + r"->> \[PONG\]$")


def test_trace_of_err_sent_to_client(start_server, clients):
    srv = start_server("-V")
    c = clients(srv)
    c.connect()
    c.send(b"SUB bad..subject 1\r\n")
    c.expect(b"-ERR 'Invalid Subject'\r\n")
    srv.wait_for_log(r"\[TRC\] " + _prefix(c) + r"->> \[-ERR Invalid Subject\]$")


# ---------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------

def http_get(port, path, timeout=2.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def monitored(start_server):
    mport = free_port()
    srv = start_server("-m", str(mport))
    deadline = time.monotonic() + 10.0
    while not port_accepts(mport):
        assert time.monotonic() < deadline, "monitoring port never opened"
        time.sleep(0.02)
    srv.monitor_port = mport
    return srv


def test_monitor_port_is_logged(monitored):
    monitored.wait_for_log(r"\[INF\] Starting http monitor on 127\.0\.0\.1:%d$"
                           % monitored.monitor_port)


def test_varz(monitored, clients):
    a = clients(monitored)
    b = clients(monitored)
    a.connect()
    b.connect()
    a.send(b"SUB vz.foo 1\r\n")
    a.ping()
    b.send(pub("vz.foo", "hello") * 3)
    b.ping()
    a.expect(msg("vz.foo", 1, "hello") * 3)

    # The start-up probe connection may still be closing; poll briefly.
    deadline = time.monotonic() + 2.0
    while True:
        status, headers, body = http_get(monitored.monitor_port, "/varz")
        assert status == 200
        assert headers["content-type"] == "application/json"
        varz = json.loads(body)
        if varz["connections"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    info = a.info
    assert varz["server_id"] == info["server_id"]
    assert varz["server_name"] == info["server_name"]
    assert varz["version"] == info["version"]
    assert varz["proto"] == 1
    assert varz["host"] == "127.0.0.1"
    assert varz["port"] == monitored.port
    assert varz["http_port"] == monitored.monitor_port
    assert varz["max_payload"] == 1048576
    assert varz["max_control_line"] == 4096
    assert varz["max_pending"] == 67108864
    assert varz["max_connections"] == 65536
    assert varz["ping_interval"] == 120000000000
    assert varz["ping_max"] == 2
    assert varz["connections"] == 2
    assert varz["total_connections"] >= 2
    assert varz["in_msgs"] >= 3 and varz["in_bytes"] >= 15
    assert varz["out_msgs"] >= 3 and varz["out_bytes"] >= 15
    assert varz["slow_consumers"] == 0
    assert isinstance(varz["uptime"], str)
    assert isinstance(varz["start"], str) and isinstance(varz["now"], str)


def test_varz_counts_connections(monitored, clients):
    def connections():
        return json.loads(http_get(monitored.monitor_port, "/varz")[2])["connections"]

    extra = [clients(monitored) for _ in range(3)]
    for c in extra:
        c.connect()
        c.ping()
    deadline = time.monotonic() + 2.0
    while connections() != 3:
        assert time.monotonic() < deadline, "connections never reached 3"
        time.sleep(0.05)
    for c in extra:
        c.close()
    deadline = time.monotonic() + 2.0
    while connections() != 0:
        assert time.monotonic() < deadline, "connections never dropped to 0"
        time.sleep(0.05)


def test_healthz(monitored):
    status, headers, body = http_get(monitored.monitor_port, "/healthz")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == b'{"status":"ok"}'


def test_unknown_monitoring_path_is_404(monitored):
    status, _, _ = http_get(monitored.monitor_port, "/nonexistent")
    assert status == 404
