"""Route-port handshake errors, route credentials, advertise options and
routes to self, checked over raw sockets and with small clusters. Passes
against the Go nats-server too."""

import json
import socket
import time

from harness import HOST, free_ports, http_get_json, parse_info


def route_conn(port, timeout=3.0):
    """A connection to a route port, retried while the server is still
    opening it (its client port may be up first)."""
    deadline = time.monotonic() + 10.0
    while True:
        try:
            return socket.create_connection((HOST, port), timeout=timeout)
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def read_line(s, timeout=3.0):
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        buf += chunk
    return buf


def read_all_until_close(s, timeout=4.0):
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            raise AssertionError("still open; got %r" % out)
        if not chunk:
            return out
        out += chunk


def wait_routes(http_port, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = http_get_json(http_port, "/varz")
        # Distinct peers: Go 2.10+ holds several pooled connections per peer.
        peers = v.get("remotes", v.get("routes"))
        if peers == n:
            return v
        assert time.monotonic() < deadline, "peers=%r, want %d" % (peers, n)
        time.sleep(0.05)


def test_acceptor_sends_info_first(start_server):
    _, cport = free_ports(2)
    start_server("-cluster", "nats://%s:%d" % (HOST, cport), "--cluster_name", "X")
    s = route_conn(cport)
    line = read_line(s)
    assert line.startswith(b"INFO ") and line.endswith(b"\r\n"), line
    info = parse_info(line)
    assert info["cluster"] == "X"
    assert info["port"] == cport
    assert "server_id" in info and info.get("headers") is True
    s.close()


def test_client_on_route_port_is_refused(start_server):
    _, cport = free_ports(2)
    start_server("-cluster", "nats://%s:%d" % (HOST, cport), "--cluster_name", "X")
    s = route_conn(cport)
    read_line(s)
    s.sendall(b'CONNECT {"verbose":false,"lang":"python3","version":"1.0"}\r\n')
    assert read_all_until_close(s).endswith(b"-ERR 'attempted to connect to route port'\r\n")


def test_cluster_name_mismatch_is_rejected(start_server):
    _, cport = free_ports(2)
    start_server("-cluster", "nats://%s:%d" % (HOST, cport), "--cluster_name", "mine")
    s = route_conn(cport)
    read_line(s)
    s.sendall(b'CONNECT {"echo":true,"verbose":false,"pedantic":false,"headers":true,'
              b'"name":"NFAKE","cluster":"theirs"}\r\n')
    got = read_all_until_close(s)
    assert b"-ERR 'Rejecting connection, cluster name \"theirs\" does not match \"mine\"'\r\n" in got, got


def test_route_credentials_required(start_server):
    _, cport = free_ports(2)
    start_server("-cluster", "nats://ruser:rpass@%s:%d" % (HOST, cport), "--cluster_name", "X")
    s = route_conn(cport)
    info = parse_info(read_line(s))
    assert info.get("auth_required") is True
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"name":"NFAKE","cluster":"X",'
              b'"user":"ruser","pass":"wrong"}\r\n')
    assert read_all_until_close(s).endswith(b"-ERR 'Authorization Violation'\r\n")


def test_routes_with_credentials_form_cluster(start_server):
    a_port, a_cport, a_http, b_port, b_cport, b_http = free_ports(6)
    start_server("-cluster", "nats://ruser:rpass@%s:%d" % (HOST, a_cport), "--cluster_name", "X",
                 "-m", str(a_http), port=a_port)
    start_server("-cluster", "nats://ruser:rpass@%s:%d" % (HOST, b_cport), "--cluster_name", "X",
                 "-m", str(b_http), "-routes", "nats://ruser:rpass@%s:%d" % (HOST, a_cport), port=b_port)
    wait_routes(a_http, 1)
    wait_routes(b_http, 1)


def test_wrong_route_credentials_form_no_cluster(start_server):
    a_port, a_cport, a_http, b_port, b_cport = free_ports(5)
    start_server("-cluster", "nats://ruser:rpass@%s:%d" % (HOST, a_cport), "--cluster_name", "X",
                 "-m", str(a_http), port=a_port)
    b = start_server("-cluster", "nats://%s:%d" % (HOST, b_cport), "--cluster_name", "X",
                     "-routes", "nats://ruser:bad@%s:%d" % (HOST, a_cport), port=b_port)
    b.wait_for_log(r"Authorization Violation", timeout=10)
    assert http_get_json(a_http, "/varz")["routes"] == 0


def test_no_advertise_keeps_urls_out_of_client_info(start_server, clients):
    a_port, a_cport, a_http, b_port, b_cport = free_ports(5)
    a = start_server("-cluster", "nats://%s:%d" % (HOST, a_cport), "--cluster_name", "X",
                     "-m", str(a_http), port=a_port)
    b = start_server("-cluster", "nats://%s:%d" % (HOST, b_cport), "--cluster_name", "X",
                     "-routes", "nats://%s:%d" % (HOST, a_cport), "--no_advertise", port=b_port)
    wait_routes(a_http, 1)
    a_urls = clients(a).info.get("connect_urls", [])
    assert "%s:%d" % (HOST, b_port) not in a_urls, a_urls
    b_urls = clients(b).info.get("connect_urls") or []
    assert "%s:%d" % (HOST, a_port) not in b_urls, b_urls


def test_cluster_advertise_in_route_info(start_server):
    _, cport, adv = free_ports(3)
    start_server("-cluster", "nats://%s:%d" % (HOST, cport), "--cluster_name", "X",
                 "--cluster_advertise", "%s:%d" % (HOST, adv))
    s = route_conn(cport)
    info = parse_info(read_line(s))
    assert info["port"] == adv
    assert info.get("ip") == "nats-route://%s:%d/" % (HOST, adv)


def test_route_to_self_is_dropped(start_server):
    port, cport, http = free_ports(3)
    srv = start_server("-cluster", "nats://%s:%d" % (HOST, cport), "--cluster_name", "X", "-m", str(http),
                       "-routes", "nats://%s:%d" % (HOST, cport), "-D", port=port)
    # Wait until the dial happened, then the server must hold no route.
    srv.wait_for_log(r"Trying to connect to route on", timeout=10)
    time.sleep(1.5)
    assert http_get_json(http, "/varz")["routes"] == 0
