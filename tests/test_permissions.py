"""Per-user publish/subscribe permissions from the configuration file.
Passes against the Go nats-server too."""

from harness import msg, pub

CONF = """
authorization {
  users = [
    { user: alice, password: pa, permissions: {
        publish: ["a.>", "b"]
        subscribe: { allow: ["a.>", "_INBOX.>", "jobs g1", "wide.>"], deny: ["a.secret", "wide.hidden"] } } }
    { user: bob, password: pb }
    { user: carol, password: pc, permissions: { publish: { deny: "forbidden" } } }
  ]
}
"""


def login(clients, srv, user, password):
    c = clients(srv)
    c.connect(user=user, **{"pass": password})
    c.ping()
    return c


def start(start_server, tmp_path):
    p = tmp_path / "perms.conf"
    p.write_text(CONF)
    return start_server("-c", str(p))


def test_publish_permission_violation_keeps_connection(start_server, clients, tmp_path):
    srv = start(start_server, tmp_path)
    bob = login(clients, srv, "bob", "pb")
    bob.send(b"SUB > 1\r\nPING\r\n")
    bob.expect(b"PONG\r\n")
    alice = login(clients, srv, "alice", "pa")
    alice.send(pub("c.x", "no") + b"PING\r\n")
    alice.expect(b"-ERR 'Permissions Violation for Publish to \"c.x\"'\r\nPONG\r\n")
    alice.send(pub("a.x", "yes") + pub("b", "yes") + b"PING\r\n")
    alice.expect(b"PONG\r\n")
    bob.expect(msg("a.x", 1, "yes") + msg("b", 1, "yes"))
    bob.ping()
    carol = login(clients, srv, "carol", "pc")
    carol.send(pub("forbidden", "x") + pub("other", "ok") + b"PING\r\n")
    carol.expect(b"-ERR 'Permissions Violation for Publish to \"forbidden\"'\r\nPONG\r\n")
    bob.expect(msg("other", 1, "ok"))


def test_subscribe_permission_violation(start_server, clients, tmp_path):
    srv = start(start_server, tmp_path)
    alice = login(clients, srv, "alice", "pa")
    alice.send(b"SUB c.x 1\r\nPING\r\n")
    alice.expect(b"-ERR 'Permissions Violation for Subscription to \"c.x\"'\r\nPONG\r\n")
    alice.send(b"SUB jobs g2 2\r\nPING\r\n")
    alice.expect(b"-ERR 'Permissions Violation for Subscription to \"jobs\" using queue \"g2\"'\r\nPONG\r\n")
    alice.send(b"SUB a.secret 3\r\nPING\r\n")
    alice.expect(b"-ERR 'Permissions Violation for Subscription to \"a.secret\"'\r\nPONG\r\n")
    alice.send(b"SUB jobs g1 4\r\nSUB a.* 5\r\nPING\r\n")
    alice.expect(b"PONG\r\n")


def test_wildcard_subscriber_never_gets_denied_subjects(start_server, clients, tmp_path):
    srv = start(start_server, tmp_path)
    alice = login(clients, srv, "alice", "pa")
    alice.send(b"SUB wide.> 1\r\nPING\r\n")
    alice.expect(b"PONG\r\n")
    bob = login(clients, srv, "bob", "pb")
    bob.send(pub("wide.hidden", "secret") + pub("wide.open", "fine") + b"PING\r\n")
    bob.expect(b"PONG\r\n")
    alice.expect(msg("wide.open", 1, "fine"))
    alice.ping()
