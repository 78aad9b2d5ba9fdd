"""Limits, timers and authorization set from a configuration file, and the
config command-line options (-c, -config, --config, -t). Each test passes
against the Go nats-server as well."""

import os
import signal
import subprocess
import time

import pytest

from harness import free_port, pub, msg, http_get_json


def write(tmp_path, text, name="server.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_config_flags_and_flag_override(start_server, clients, tmp_path):
    port = free_port()
    conf = write(tmp_path, "listen: 127.0.0.1:%d\nserver_name: from_file\nmax_payload: 2KB\n" % port)
    for flag in ("-c", "-config", "--config"):
        srv = start_server(flag, conf, port=port)
        info = clients(srv).info
        assert info["server_name"] == "from_file"
        assert info["max_payload"] == 2048
        srv.stop()
    # A flag given on the command line beats the file.
    srv = start_server("-c", conf, "-n", "from_flag", port=port)
    assert clients(srv).info["server_name"] == "from_flag"


def test_test_config_option(server_bin, tmp_path):
    good = write(tmp_path, "port: 4222\ncluster { listen: 127.0.0.1:4248 }\n", "good.conf")
    r = subprocess.run([server_bin, "-t", "-c", good], capture_output=True, timeout=10)
    assert r.returncode == 0, r
    assert b"is valid" in r.stderr
    bad = write(tmp_path, "port: 4222\nfoo: 1\n", "bad.conf")
    r = subprocess.run([server_bin, "-t", "-c", bad], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b'unknown field "foo"' in r.stderr
    r = subprocess.run([server_bin, "-c", bad], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b'bad.conf:2:1: unknown field "foo"' in r.stderr
    r = subprocess.run([server_bin, "-t"], capture_output=True, timeout=10)
    assert r.returncode == 1


def test_max_connections(start_server, clients, tmp_path):
    srv = start_server("-c", write(tmp_path, "max_connections: 1\n"))
    # The readiness probe of the harness may still hold the only slot for a
    # moment: retry until one client is in.
    deadline = time.monotonic() + 5
    while True:
        first = clients(srv)
        try:
            first.connect()
            first.ping()
            break
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    second = clients(srv)
    assert second.read_until_closed(timeout=3) == b"-ERR 'maximum connections exceeded'\r\n"
    first.ping()


def test_max_subscriptions(start_server, clients, tmp_path):
    srv = start_server("-c", write(tmp_path, "max_subscriptions: 2\n"))
    c = clients(srv)
    c.connect()
    c.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n")
    c.expect(b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
    # The connection stays usable and the first two subscriptions work.
    c.send(pub("b", "x") + b"PING\r\n")
    c.expect(msg("b", 2, "x") + b"PONG\r\n")


def test_max_payload_from_file(start_server, clients, tmp_path):
    srv = start_server("-c", write(tmp_path, "max_payload: 100\n"))
    c = clients(srv)
    assert c.info["max_payload"] == 100
    c.connect()
    c.send(b"PUB foo 101\r\n")
    assert c.read_until_closed(timeout=3) == b"-ERR 'Maximum Payload Violation'\r\n"


def test_stale_connection(start_server, clients, tmp_path):
    srv = start_server("-c", write(tmp_path, 'ping_interval: "100ms"\nping_max: 1\n'))
    c = clients(srv)
    c.connect()
    data = c.read_until_closed(timeout=8)
    assert data.startswith(b"PING\r\n"), data
    assert data.endswith(b"-ERR 'Stale Connection'\r\n"), data


def test_ping_interval_keeps_answering_client_alive(start_server, clients, tmp_path):
    srv = start_server("-c", write(tmp_path, 'ping_interval: "200ms"\nping_max: 1\n'))
    c = clients(srv)
    c.connect()
    deadline = time.monotonic() + 3.5
    pings = 0
    while time.monotonic() < deadline:
        op = c.poll_op(0.5)
        if op is not None and op.kind == "PING":
            pings += 1
            c.send(b"PONG\r\n")
    assert pings >= 1
    c.ping()


def test_authorization_users_block(start_server, clients, tmp_path):
    conf = write(tmp_path, "authorization {\n  users = [\n    {user: alice, password: s3cret}\n    {user: bob, password: pw2}\n  ]\n}\n")
    srv = start_server("-c", conf)
    ok = clients(srv)
    assert ok.info.get("auth_required") is True
    ok.connect(user="bob", **{"pass": "pw2"})
    ok.ping()
    bad = clients(srv)
    bad.connect(user="alice", **{"pass": "nope"})
    assert bad.read_until_closed(timeout=3) == b"-ERR 'Authorization Violation'\r\n"


def test_authorization_token_variable(start_server, clients, tmp_path):
    conf = write(tmp_path, 'TOKEN: "secret"\nauthorization {\n    token: $TOKEN\n}\n')
    srv = start_server("-c", conf)
    c = clients(srv)
    c.connect(auth_token="secret")
    c.ping()


def test_no_auth_user(start_server, clients, tmp_path):
    conf = write(tmp_path, "authorization { users = [ {user: a, password: b} ] }\nno_auth_user: a\n")
    srv = start_server("-c", conf)
    c = clients(srv)
    assert not c.info.get("auth_required")
    c.connect()
    c.ping()


def test_include_and_http_from_file(start_server, clients, tmp_path):
    http = free_port()
    write(tmp_path, 'authorization: { token: "f0oBar" }\n', "auth.conf")
    conf = write(tmp_path, "http: %d\ninclude ./auth.conf\n" % http)
    srv = start_server("-c", conf)
    c = clients(srv)
    assert c.info.get("auth_required") is True
    c.connect(auth_token="f0oBar")
    c.ping()
    varz = http_get_json(http, "/varz")
    assert varz["http_port"] == http


def test_cluster_block(start_server, clients, tmp_path):
    cport = free_port()
    conf = write(tmp_path, "cluster {\n  name: blockname\n  host: 127.0.0.1\n  port: %d\n}\n" % cport)
    srv = start_server("-c", conf)
    info = clients(srv).info
    assert info.get("cluster") == "blockname"


def test_write_deadline_cuts_stalled_reader(start_server, clients, tmp_path):
    srv = start_server("-c", write(tmp_path, 'write_deadline: "1s"\n'))
    stalled = clients(srv, rcvbuf=4096)
    stalled.connect()
    stalled.send(b"SUB big 1\r\n")
    stalled.ping()
    bystander = clients(srv)
    bystander.connect()
    bystander.send(b"SUB small 1\r\n")
    bystander.ping()
    pubc = clients(srv)
    pubc.connect()
    payload = b"x" * 65536
    # About 8 MB: far below max_pending, so only the deadline can cut it.
    for _ in range(128):
        pubc.send(b"PUB big 65536\r\n" + payload + b"\r\n")
    pubc.flush(timeout=10)
    # Nothing read for more than the deadline: the server drops it.
    time.sleep(3)
    nbytes, _, _ = stalled.drain_until_closed(timeout=10, max_bytes=64 << 20)
    assert nbytes < 8 << 20, nbytes
    # The bystander is unaffected.
    pubc.send(pub("small", "ok"))
    pubc.flush()
    ops = [op for op in bystander.flush() if op.kind == "MSG"]
    assert [(op.args[0], op.payload) for op in ops] == [("small", b"ok")]


def test_bcrypt_passwords(start_server, clients, tmp_path):
    conf = write(tmp_path, "authorization {\n  users = [\n"
                           "    {user: alice, password: $2a$04$CdKb2XGQDKXDgmLvP68ZweY7euG1DVdLCWzWE5F78.b9wRS2eYDx.}\n"
                           "    {user: bob, password: \"$2b$06$abcdefghijklmnopqrstuuz8xj/nVThapxtPFOApmjtA.h6Lh4hTq\"}\n"
                           "  ]\n}\n")
    srv = start_server("-c", conf)
    for user, password in (("alice", "password"), ("bob", "T0pS3cr3t")):
        c = clients(srv)
        c.connect(user=user, **{"pass": password})
        c.ping()
    bad = clients(srv)
    bad.connect(user="alice", **{"pass": "$2a$04$CdKb2XGQDKXDgmLvP68ZweY7euG1DVdLCWzWE5F78.b9wRS2eYDx."})
    assert bad.read_until_closed(timeout=3) == b"-ERR 'Authorization Violation'\r\n"
