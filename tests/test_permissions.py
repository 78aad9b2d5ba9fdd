"""Per-user publish/subscribe permissions from the configuration file.
Passes against the Go nats-server too. allow_responses (replies only, to the
reply subjects of requests received, at most max of them; also across a
route) is checked against the server under test and each Go version."""

import time

import pytest

from harness import Client, ClusterNode, msg, pub, wait_full_mesh

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


# ---------------------------------------------------------------------------
# allow_responses
# ---------------------------------------------------------------------------

RESP_USERS = """authorization { users = [
  { user: req, password: p }
  { user: resp, password: p, permissions: { subscribe: "svc.>", allow_responses: true } }
  { user: resp2, password: p, permissions: { publish: "ok.>", subscribe: "svc.>",
    allow_responses: { max: 2, expires: "1m" } } }
] }
"""


def _user(port, name):
    c = Client(port)
    c.send(b'CONNECT {"verbose":false,"pedantic":false,"user":"%s","pass":"p"}\r\nPING\r\n' % name.encode())
    c.expect(b"PONG\r\n")
    return c


def _violation(subject):
    return ("-ERR 'Permissions Violation for Publish to \"%s\"'\r\n" % subject).encode()


def _request(req, resp, subject, inbox):
    req.send("PUB %s %s 1\r\nq\r\nPING\r\n" % (subject, inbox))
    req.expect(b"PONG\r\n")
    op = resp.read_op(timeout=5)
    assert op.kind == "MSG" and op.args[2] == inbox, op


@pytest.mark.against_go
def test_allow_responses(oracle, launch):
    srv = launch(oracle[1], conf=RESP_USERS)
    req, resp, resp2 = _user(srv.port, "req"), _user(srv.port, "resp"), _user(srv.port, "resp2")
    req.send(b"SUB _INBOX.> 9\r\nPING\r\n")
    req.expect(b"PONG\r\n")
    for c in (resp, resp2):
        c.send(b"SUB svc.a 1\r\nPING\r\n")
        c.expect(b"PONG\r\n")
    # Without a publish list only replies may be published, once (default max 1).
    resp.send(b"PUB other 1\r\nx\r\nPING\r\n")
    resp.expect(_violation("other") + b"PONG\r\n")
    _request(req, resp, "svc.a", "_INBOX.one")
    resp2.read_op(timeout=5)
    resp.send(b"PUB _INBOX.one 1\r\nr\r\nPUB _INBOX.one 1\r\nr\r\nPING\r\n")
    resp.expect(_violation("_INBOX.one") + b"PONG\r\n")
    op = req.read_op(timeout=5)
    assert (op.kind, op.args[0], op.payload) == ("MSG", "_INBOX.one", b"r"), op
    # With a publish list: the list still applies, plus max 2 replies.
    resp2.send(b"PUB ok.1 1\r\nx\r\nPUB no 1\r\nx\r\nPING\r\n")
    resp2.expect(_violation("no") + b"PONG\r\n")
    _request(req, resp2, "svc.a", "_INBOX.two")
    resp.read_op(timeout=5)
    resp2.send(b"PUB _INBOX.two 1\r\nr\r\n" * 3 + b"PING\r\n")
    resp2.expect(_violation("_INBOX.two") + b"PONG\r\n")
    got = [req.read_op(timeout=5) for _ in range(2)]
    assert all(o.args[0] == "_INBOX.two" for o in got), got
    req.ping()
    # A subject never received as a reply stays closed.
    resp.send(b"PUB _INBOX.never 1\r\nr\r\nPING\r\n")
    resp.expect(_violation("_INBOX.never") + b"PONG\r\n")


@pytest.mark.against_go
def test_allow_responses_across_routes(oracle, tmp_path):
    binary = oracle[1]
    conf = tmp_path / "resp.conf"
    conf.write_text(RESP_USERS)
    nodes = []
    try:
        a = ClusterNode(tmp_path / "a.log", binary=binary, cluster_name="R", debug=False,
                        extra_args=["-c", str(conf)])
        nodes.append(a.start())
        b = ClusterNode(tmp_path / "b.log", binary=binary, cluster_name="R", routes=[a], debug=False,
                        extra_args=["-c", str(conf)])
        nodes.append(b.start())
        wait_full_mesh(nodes)
        req, resp = _user(a.port, "req"), _user(b.port, "resp")
        req.send(b"SUB _INBOX.> 9\r\nPING\r\n")
        req.expect(b"PONG\r\n")
        resp.send(b"SUB svc.a 1\r\nPING\r\n")
        resp.expect(b"PONG\r\n")
        # Each delivered request opens the reply once; repeat until both
        # interests have crossed the route and the reply arrives.
        deadline = time.monotonic() + 15
        while True:
            req.send(b"PUB svc.a _INBOX.far 1\r\nq\r\nPING\r\n")
            req.expect(b"PONG\r\n")
            try:
                op = resp.read_op(timeout=0.3)
            except AssertionError:
                op = None
            if op is not None:
                assert op.args[2] == "_INBOX.far", op
                resp.send(b"PUB _INBOX.far 1\r\nr\r\nPING\r\n")
                resp.expect(b"PONG\r\n")
                try:
                    got = req.read_op(timeout=0.3)
                    assert (got.args[0], got.payload) == ("_INBOX.far", b"r"), got
                    break
                except AssertionError as e:
                    if "timed out" not in str(e):
                        raise
            assert time.monotonic() < deadline, "no reply across the route"
    finally:
        for n in nodes:
            n.stop()
