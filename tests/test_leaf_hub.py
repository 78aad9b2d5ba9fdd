"""Leaf nodes, accepting side: the server is a hub (`leafnodes { listen }`)
that leaf servers dial.  Every topology test runs with the hub being the
server under test, Go 2.9 or Go 2.10+, and the leaf being any of the same
three, so the Go-hub variants show the tests themselves are right.

Checked:
* a leaf connects and messages flow both ways (literal and wildcard
  interest), headers survive, request/reply works in both directions;
* a queue group with members on the hub and the leaf: a hub publisher's
  messages go to the hub member, then, once it left, to the leaf member,
  each message exactly once;
* the hub relays between two leafs, between a leaf and its route peer, and
  along a chain hub <- L1 <- L3;
* leaf authorization: a single user/password (wrong password refused with
  an error logged), and a users list binding each user to its account
  (isolation from the other account, /leafz account);
* the raw handshake on the leaf port: first INFO, -ERR texts for a PING
  before CONNECT, a client CONNECT ("lang") and a missing CONNECT, the reply
  INFO and interest after CONNECT, LS+/LMSG both ways;
* /leafz on the hub (count, account, name, is_spoke, subscriptions);
* a leaf that restarts gets the hub's interest again and traffic resumes.

Every wait is bounded and waits for a condition; ports are picked free and
only the servers started here are stopped.
"""

import json
import re
import time

import pytest

from harness import (
    HOST,
    Client,
    assert_exactly_once,
    check_headers,
    check_pubsub_all_pairs,
    check_request_reply,
    collect_from,
    collect_msgs,
    free_port,
    msg,
    open_client,
    pub,
    round_trip,
    sync_interest,
)

pytestmark = pytest.mark.against_go

from leafnet import (  # noqa: F401  (net is a fixture)
    KINDS,
    Node,
    binary_of,
    by_hub,
    by_hub_and_leaf,
    exchange,
    go_version,
    hub_and_leaf,
    log_tails,
    net,
    wait_for,
    wait_leafnodes,
)


# ---------------------------------------------------------------------------
# A hand-driven leaf connection
# ---------------------------------------------------------------------------

class RawLeaf(Client):
    """A socket on a hub's leaf port (the first INFO is read on open); ops
    are (VERB, rest of line, payload)."""

    def __init__(self, node, timeout=5.0):
        super().__init__(node.leaf_port, timeout=timeout)

    def read_leaf_op(self, timeout):
        line = self.read_line(timeout)
        assert line.endswith(b"\r\n"), "line not CRLF-terminated: %r" % line
        verb, _, rest = line[:-2].decode("utf-8", "replace").partition(" ")
        verb = verb.upper()
        payload = b""
        if verb in ("LMSG", "HMSG"):
            body = self.read_exactly(int(rest.split()[-1]) + 2, timeout)
            assert body.endswith(b"\r\n"), "payload not followed by CRLF: %r" % body
            payload = body[:-2]
        return verb, rest, payload

    def wait_op(self, want, what, timeout=5.0):
        """Read ops until ``want(op)``; PINGs not wanted are answered.  Returns
        (the op, the ops read before it)."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise AssertionError("deadline reached")
                op = self.read_leaf_op(remaining)
            except AssertionError as e:
                raise AssertionError("no %s within %.1f s (%s); read before: %r"
                                     % (what, timeout, e, before))
            if want(op):
                return op, before
            if op[0] == "PING":
                self.send(b"PONG\r\n")
            before.append(op)

    def connect_leaf(self, **opts):
        """CONNECT with exactly ``opts``; returns the hub's reply INFO, which
        must be the first thing it sends back."""
        self.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\n")
        (_, rest, _), before = self.wait_op(lambda op: op[0] == "INFO", "reply INFO")
        assert before == [], "before the reply INFO: %r" % before
        return json.loads(rest)

    def sync(self):
        """PING and wait for the PONG: the hub has processed all sent so far."""
        self.send(b"PING\r\n")
        self.wait_op(lambda op: op[0] == "PONG", "PONG")


# ---------------------------------------------------------------------------
# Traffic between a hub and its leafs
# ---------------------------------------------------------------------------

@by_hub_and_leaf
def test_messages_flow_both_ways(net, hub, leaf):
    """Literal and wildcard subscriptions on both sides; every message
    published on either side reaches each of them exactly once."""
    h, lf = hub_and_leaf(net, hub, leaf)
    check_pubsub_all_pairs([h, lf], count=10)
    exchange(lf, h, "up.deep.x.y", sub_subject="up.>")
    exchange(h, lf, "down.deep.x.y", sub_subject="down.>")


@by_hub_and_leaf
def test_headers_and_request_reply_both_ways(net, hub, leaf):
    h, lf = hub_and_leaf(net, hub, leaf)
    check_headers(lf, h)
    check_headers(h, lf)
    check_request_reply(h, lf)
    check_request_reply(lf, h)


@by_hub_and_leaf
def test_queue_group_prefers_the_hub_member(net, hub, leaf):
    """Group g has a member on the hub and one on the leaf: a hub publisher's
    messages all go to the hub member; after it unsubscribed, all go to the
    leaf member; each message exactly once."""
    h, lf = hub_and_leaf(net, hub, leaf)
    hm, lm, hp = open_client(h), open_client(lf), open_client(h)
    try:
        hm.send("SUB work.q g 1\r\n")
        lm.send("SUB work.q g 1\r\n")
        sync_interest(hm, [hp])
        sync_interest(lm, [hp])

        first = ["first-%d" % i for i in range(20)]
        hp.send(b"".join(pub("work.q", x) for x in first))
        round_trip(hp)
        got_h, got_l = collect_from([hm, lm], [len(first), 0], timeout=10.0)
        assert_exactly_once([op.payload for op in got_h], first, "hub member")
        assert got_l == [], "leaf member got %r" % [op.raw for op in got_l]

        hm.send("UNSUB 1\r\n")
        round_trip(hm)
        second = ["second-%d" % i for i in range(20)]
        hp.send(b"".join(pub("work.q", x) for x in second))
        round_trip(hp)
        got_h, got_l = collect_from([hm, lm], [0, len(second)], timeout=10.0)
        assert got_h == [], "hub member got %r after UNSUB" % [op.raw for op in got_h]
        assert_exactly_once([op.payload for op in got_l], second, "leaf member, the only one left")
    finally:
        for c in (hm, lm, hp):
            c.close()


@by_hub_and_leaf
def test_hub_relays_between_two_leafs(net, hub, leaf):
    """A publisher on one leaf reaches a subscriber on the other, exactly once."""
    h = net("hub", hub, listen=True)
    l1 = net("leaf1", leaf, remotes=[h.remote()])
    l2 = net("leaf2", leaf, remotes=[h.remote()])
    wait_leafnodes({h: 2, l1: 1, l2: 1})
    exchange(l1, l2, "across.leafs", count=10)
    exchange(l2, l1, "across.back", count=10)
    check_pubsub_all_pairs([l1, l2, h], count=5)


def peer_kind(hub):
    """The Go series of the hub's route peer: 2.9 beside a Go 2.9 hub, else 2.10+."""
    v = go_version(binary_of(hub))
    return "2.9" if v is not None and v[:2] == (2, 9) else "2.10+"


@by_hub_and_leaf
def test_hub_forwards_between_leaf_and_route_peer(net, hub, leaf):
    """Hub H1 (the kind under test) has Go route peer H2; the leaf dials H1.
    Traffic between the leaf and H2 goes both ways, exactly once."""
    c1, c2 = free_port(), free_port()

    def cluster(mine, other):
        return ('cluster { name: HUBS, listen: "%s:%d", routes: ["nats-route://%s:%d"] }'
                % (HOST, mine, HOST, other))

    h1 = net("hub1", hub, listen=True, extra=cluster(c1, c2))
    h2 = net("hub2", peer_kind(hub), extra=cluster(c2, c1))
    wait_for(lambda: all(n.varz().get("remotes", n.varz().get("routes")) == 1 for n in (h1, h2)),
             "route between hub1 and hub2", [h1, h2])
    lf = net("leaf", leaf, remotes=[h1.remote()])
    wait_leafnodes({h1: 1, lf: 1, h2: 0})
    exchange(lf, h2, "leaf.to.peer", count=10)
    exchange(h2, lf, "peer.to.leaf", count=10)
    check_pubsub_all_pairs([lf, h1, h2], count=5)


@pytest.mark.parametrize("hub", ["under-test", "2.10+"])
@pytest.mark.parametrize("leaf", ["under-test", "2.10+"])
def test_a_clustered_leaf_with_a_remote_on_each_member(net, hub, leaf):
    """Leaf servers LA and LB form a cluster and each has its own remote to
    the hub: every pair of servers exchanges messages exactly once (no
    copy through the hub and back over the leaf cluster's route)."""
    h = net("hub", hub, listen=True)
    ca, cb = free_port(), free_port()

    def cluster(mine, other):
        return ('cluster { name: EDGE, listen: "%s:%d", routes: ["nats-route://%s:%d"] }'
                % (HOST, mine, HOST, other))

    la = net("la", leaf, remotes=[h.remote()], extra=cluster(ca, cb))
    lb = net("lb", leaf, remotes=[h.remote()], extra=cluster(cb, ca))
    wait_leafnodes({h: 2, la: 1, lb: 1})
    wait_for(lambda: all(n.varz().get("remotes", n.varz().get("routes")) == 1 for n in (la, lb)),
             "route between la and lb", [la, lb])
    check_pubsub_all_pairs([h, la, lb], count=5)


@by_hub_and_leaf
def test_chain_of_leafs_reaches_the_hub(net, hub, leaf):
    """hub <- L1 <- L3: L1 (the leaf kind) listens for leafs and dials the
    hub; L3 (the hub kind) dials L1.  L3 and the hub reach each other."""
    h = net("hub", hub, listen=True)
    l1 = net("leaf1", leaf, listen=True, remotes=[h.remote()])
    l3 = net("leaf3", hub, remotes=[l1.remote()])
    wait_leafnodes({h: 1, l1: 2, l3: 1})
    exchange(l3, h, "chain.up", count=10)
    exchange(h, l3, "chain.down", count=10)
    check_pubsub_all_pairs([l3, l1, h], count=5)


# ---------------------------------------------------------------------------
# Authorization on the leaf port
# ---------------------------------------------------------------------------

# Go logs "[ERR] <addr> - lid:N - authentication error[ - User "lu"]".
AUTH_ERROR = r"\[ERR\] .*(?i:authentication error|authorization violation)"


@by_hub_and_leaf
def test_leaf_user_and_password(net, hub, leaf):
    """With leafnodes { authorization { user, password } }: the right
    credentials connect; a wrong password is refused on every attempt (the
    hub logs it) and, on a raw socket, answered with Authorization Violation."""
    h = net("hub", hub, listen=True, leaf_auth="user: lu, password: lp")
    good = net("good", leaf, remotes=[h.remote("lu:lp@")])
    wait_leafnodes({h: 1, good: 1})

    bad = net("bad", leaf, remotes=[h.remote("lu:wrong@")])
    wait_for(lambda: sum(1 for line in h.log_lines() if re.search(AUTH_ERROR, line)) >= 2,
             "the hub logging two refused attempts", [h, bad], timeout=15.0)
    assert bad.varz().get("leafnodes") == 0, bad.varz().get("leafnodes")
    assert len(h.leafs()) == 1, h.leafs()
    exchange(good, h, "auth.up")
    exchange(h, good, "auth.down")

    r = RawLeaf(h)
    try:
        r.send(b'CONNECT {"user":"lu","pass":"wrong"}\r\n')
        assert r.read_until_closed(timeout=5.0) == b"-ERR 'Authorization Violation'\r\n"
    finally:
        r.close()


@by_hub_and_leaf
def test_leaf_users_bind_accounts(net, hub, leaf):
    """leafnodes { authorization { users } } binds user a to account A: the
    leaf exchanges messages with A's clients and none with B's."""
    accounts = ("accounts { A: { users: [ {user: ca, password: pca} ] }, "
                "B: { users: [ {user: cb, password: pcb} ] } }")
    users = ("users = [ {user: a, password: pa, account: A}, "
             "{user: b, password: pb, account: B} ]")
    h = net("hub", hub, listen=True, leaf_auth=users, extra=accounts)
    lf = net("leaf", leaf, remotes=[h.remote("a:pa@")])
    wait_leafnodes({h: 1, lf: 1})
    assert [e.get("account") for e in h.leafs()] == ["A"], h.leafs()

    in_a = {"user": "ca", "pass": "pca"}
    exchange(lf, h, "acct.up", dst_auth=in_a)
    exchange(h, lf, "acct.down", src_auth=in_a)

    a = open_client(h, **in_a)
    b = open_client(h, user="cb", **{"pass": "pcb"})
    ls = open_client(lf)
    lp = open_client(lf)
    try:
        for c in (a, b, ls):
            c.send("SUB acct.> 1\r\n")
        sync_interest(ls, [a])
        sync_interest(a, [lp])
        round_trip(b)
        # B publishes first: if any of it crossed, it would arrive before A's.
        b.send(pub("acct.x", "from-B"))
        round_trip(b)
        a.send(pub("acct.x", "from-A"))
        round_trip(a)
        lp.send(pub("acct.x", "from-leaf"))
        round_trip(lp)
        got_a, got_b, got_l = collect_from([a, b, ls], [2, 1, 2], timeout=10.0)
        assert sorted(op.payload for op in got_a) == [b"from-A", b"from-leaf"], got_a
        assert [op.payload for op in got_b] == [b"from-B"], got_b
        assert sorted(op.payload for op in got_l) == [b"from-A", b"from-leaf"], got_l
    finally:
        for c in (a, b, ls, lp):
            c.close()


# ---------------------------------------------------------------------------
# The handshake on a raw socket
# ---------------------------------------------------------------------------

@by_hub
def test_first_info_on_the_leaf_port(net, hub):
    h = net("hub", hub, listen=True)
    r = RawLeaf(h)
    try:
        info = r.info
        assert isinstance(info.get("client_id"), int) and info["client_id"] != 0, info
        assert isinstance(info.get("nonce"), str) and info["nonce"], info
        assert info.get("info_on_connect") is True, info
        assert info.get("auth_required") is True, info
        assert "%s:%d" % (HOST, h.leaf_port) in (info.get("leafnode_urls") or []), info
        assert info.get("port") == h.leaf_port, info
    finally:
        r.close()


@by_hub
def test_ping_before_connect_is_refused(net, hub):
    h = net("hub", hub, listen=True)
    r = RawLeaf(h)
    try:
        r.send(b"PING\r\n")
        assert r.read_until_closed(timeout=5.0) == b"-ERR 'Authorization Violation'\r\n"
    finally:
        r.close()


@by_hub
def test_client_connect_on_the_leaf_port_is_refused(net, hub):
    h = net("hub", hub, listen=True)
    r = RawLeaf(h)
    try:
        r.send(b'CONNECT {"lang":"go","verbose":false}\r\n')
        assert r.read_until_closed(timeout=5.0) == \
            b"-ERR 'attempted to connect to leaf node port'\r\n"
    finally:
        r.close()


@by_hub
def test_missing_connect_times_out(net, hub):
    """No CONNECT within the default auth timeout (2 s)."""
    h = net("hub", hub, listen=True)
    r = RawLeaf(h)
    try:
        t0 = time.monotonic()
        data = r.read_until_closed(timeout=6.0)
        elapsed = time.monotonic() - t0
        assert data == b"-ERR 'Authentication Timeout'\r\n", data
        assert 1.0 <= elapsed <= 5.0, elapsed
    finally:
        r.close()


@by_hub
def test_connect_gets_info_and_interest(net, hub):
    """CONNECT {} on a hub without leaf auth: the reply INFO binds $G, then
    the hub's interest follows, including its loop-detection subject."""
    h = net("hub", hub, listen=True)
    r = RawLeaf(h)
    try:
        info = r.connect_leaf()
        assert info.get("connect_info") is True, info
        assert info.get("remote_account") == "$G", info
        assert "nonce" not in info, info
        (verb, rest, _), before = r.wait_op(
            lambda op: op[0] == "LS+" and op[1].startswith("$LDS."), "LS+ $LDS.<id>")
        assert len(rest.split()) == 1, rest
        assert all(op[0] in ("LS+", "PING") for op in before), before
    finally:
        r.close()


@by_hub
def test_raw_leaf_exchanges_lmsg(net, hub):
    """LS+ foo from the leaf, then a hub client's PUB foo -> LMSG foo to the
    leaf; LMSG bar from the leaf -> MSG to a hub client subscribed to bar."""
    h = net("hub", hub, listen=True)
    r = RawLeaf(h)
    c = open_client(h)
    try:
        r.connect_leaf()
        r.send(b"LS+ foo\r\n")
        r.sync()
        c.send(pub("foo", "hi"))
        round_trip(c)
        (verb, rest, payload), _ = r.wait_op(lambda op: op[0] == "LMSG", "LMSG foo")
        assert (rest, payload) == ("foo 2", b"hi"), (verb, rest, payload)

        c.send("SUB bar 1\r\n")
        round_trip(c)
        r.send(b"LMSG bar 2\r\nhi\r\n")
        r.sync()
        got = collect_msgs(c, 1, timeout=5.0)
        assert [op.raw for op in got] == [msg("bar", 1, "hi")], got
    finally:
        r.close()
        c.close()


PERMS_USER = ('authorization { users = [ { user: edge, password: pw, permissions: {'
              ' publish: { allow: ["to.hub.>"] },'
              ' subscribe: { allow: ["from.hub.>"], deny: ["from.hub.secret"] } } },'
              ' { user: local, password: pw } ] }')


@by_hub
def test_leaf_user_permissions(net, hub):
    """A leaf bound to a server user with permissions (no leaf
    authorization block, so the clients' users apply), in the user's
    terms: the reply INFO carries them (`import` what the leaf may
    receive, `export` what it may send); the hub announces only the
    subscriptions the leaf may publish to; messages the user may not
    receive do not reach the leaf; an LS+ for a subject it may not
    receive is a violation that closes the link."""
    h = net("hub", hub, listen=True, extra=PERMS_USER)
    c = Client(h.port, timeout=5.0)
    c.connect(verbose=False, pedantic=False, user="local", **{"pass": "pw"})
    c.ping(timeout=5.0)
    r = RawLeaf(h)
    try:
        c.send("SUB to.hub.x 1\r\nSUB other 2\r\nSUB from.hub.x 3\r\n")
        round_trip(c)
        info = r.connect_leaf(user="edge", **{"pass": "pw"})
        assert info.get("import") == {"allow": ["from.hub.>"], "deny": ["from.hub.secret"]}, info
        assert info.get("export") == {"allow": ["to.hub.>"]}, info
        # The interest comes in one batch after the reply INFO: all of it is
        # there before the PONG.
        r.send(b"PING\r\n")
        _, before = r.wait_op(lambda op: op[0] == "PONG", "PONG")
        announced = {op[1] for op in before if op[0] == "LS+"}
        assert any(a.startswith("$LDS.") for a in announced), announced
        assert "to.hub.x" in announced and not announced & {"other", "from.hub.x"}, announced
        # Allowed and denied subjects for messages to the leaf.
        r.send(b"LS+ from.hub.>\r\n")
        r.sync()
        c.send(pub("from.hub.secret", "no") + pub("from.hub.ok", "yes"))
        round_trip(c)
        (verb, rest, payload), _ = r.wait_op(lambda op: op[0] == "LMSG", "LMSG from.hub.ok")
        assert (rest.split()[0], payload) == ("from.hub.ok", b"yes"), (verb, rest, payload)
        r.send(b"LS+ from.hub.secret\r\n")
        (verb, rest, _), _ = r.wait_op(lambda op: op[0] == "-ERR", "-ERR")
        assert rest == "'Permissions Violation for Subscription to \"from.hub.secret\"'", rest
    finally:
        r.close()
        c.close()


@pytest.mark.parametrize("hub", ["under-test", "2.10+"], ids=["hub-under-test", "hub-2.10+"])
def test_leaf_user_may_publish_only_what_the_user_may(net, hub):
    """A leaf bound to a user with publish permissions: its LMSG on an
    allowed subject reaches a hub client, one on another subject is a
    violation that closes the link (Go 2.11.16+; Go 2.9 delivers it)."""
    h = net("hub", hub, listen=True, extra=PERMS_USER)
    c = Client(h.port, timeout=5.0)
    c.connect(verbose=False, pedantic=False, user="local", **{"pass": "pw"})
    c.ping(timeout=5.0)
    r = RawLeaf(h)
    try:
        c.send("SUB to.hub.y 1\r\nSUB other 2\r\n")
        round_trip(c)
        r.connect_leaf(user="edge", **{"pass": "pw"})
        r.sync()
        r.send(b"LMSG to.hub.y 2\r\nok\r\n")
        r.sync()
        got = collect_msgs(c, 1, timeout=5.0)
        assert [op.raw for op in got] == [msg("to.hub.y", 1, "ok")], got
        r.send(b"LMSG other 2\r\nno\r\n")
        (verb, rest, _), _ = r.wait_op(lambda op: op[0] == "-ERR", "-ERR")
        assert rest == "'Permissions Violation for Publish to \"other\"'", rest
        assert collect_msgs(c, None, timeout=0.3) == []
    finally:
        r.close()
        c.close()


# ---------------------------------------------------------------------------
# Monitoring and restarts
# ---------------------------------------------------------------------------

@by_hub_and_leaf
def test_leafz_lists_the_leaf(net, hub, leaf):
    """/leafz on the hub: one leaf, account $G, its server name, not a spoke,
    message counts, and with ?subs=1 the subjects the leaf subscribed to."""
    h, lf = hub_and_leaf(net, hub, leaf)
    s = open_client(lf)
    p = open_client(h)
    try:
        s.send("SUB leafz.subject 1\r\n")
        sync_interest(s, [p])
        p.send(pub("leafz.subject", "x"))
        round_trip(p)
        assert len(collect_msgs(s, 1, timeout=5.0, settle=0)) == 1

        lz = h.leafz()
        assert lz["leafnodes"] == 1 and len(lz["leafs"]) == 1, lz
        entry = lz["leafs"][0]
        assert "subscriptions_list" not in entry, entry
        assert entry["account"] == "$G", entry
        assert entry["ip"] == HOST and entry["out_msgs"] >= 1, entry
        v = go_version(h.binary)
        if v is None or v >= (2, 9, 15):  # Go 2.9.10 has neither key
            assert entry.get("name") == "leaf", entry
            assert entry.get("is_spoke") is False, entry

        entry = h.leafz("?subs=1")["leafs"][0]
        subs = entry["subscriptions_list"]
        assert "leafz.subject" in subs, entry
        assert entry["subscriptions"] == len(subs), entry
    finally:
        s.close()
        p.close()


@by_hub_and_leaf
def test_leaf_restart_gets_the_hub_interest_again(net, hub, leaf):
    """A hub subscription that existed before the leaf went down reaches the
    restarted leaf (the hub sends its interest again) and traffic resumes."""
    h, lf = hub_and_leaf(net, hub, leaf)
    s = open_client(h)
    try:
        s.send("SUB before.restart 1\r\n")
        round_trip(s)
        exchange(lf, h, "baseline")

        lf.restart(kill=True)
        wait_leafnodes({h: 1, lf: 1}, timeout=15.0)
        assert len(h.leafs()) == 1, h.leafs()

        # The hub's interest reaches the new connection by itself (no new
        # SUB here): probe until one message gets through.
        p = open_client(lf)
        try:
            deadline = time.monotonic() + 10.0
            while not collect_msgs(s, 1, timeout=0.2, settle=0):
                assert time.monotonic() < deadline, "no message from the restarted leaf\n%s" % (
                    log_tails([h, lf]))
                p.send(pub("before.restart", "probe"))
                round_trip(p)
            payloads = ["again-%d" % i for i in range(10)]
            p.send(b"".join(pub("before.restart", x) for x in payloads))
            round_trip(p)
            got = [op.payload for op in collect_msgs(s, len(payloads), timeout=10.0)
                   if op.payload != b"probe"]
            assert_exactly_once(got, payloads, "restarted leaf -> hub")
        finally:
            p.close()
        exchange(h, lf, "after.restart")
    finally:
        s.close()


@by_hub
def test_varz_leaf_section(net, hub):
    """/varz `leaf`: the leaf port, its auth and TLS timeouts, and each
    remote with its account, URLs and deny lists, as Go shows them."""
    h = net("hub", hub, listen=True, leaf_auth="user: a, password: b, timeout: 3")
    lf = net("leaf", hub, remotes=[h.remote(userinfo="a:b@", extra=', deny_imports: ["x.>"], account: "$G"')])
    wait_leafnodes({h: 1, lf: 1})
    leaf = h.varz()["leaf"]
    assert (leaf["host"], leaf["port"], leaf["auth_timeout"], leaf["tls_timeout"]) == \
        ("127.0.0.1", h.leaf_port, 3, 2), leaf
    assert lf.varz()["leaf"]["remotes"] == [
        {"local_account": "$G", "urls": ["127.0.0.1:%d" % h.leaf_port], "deny": {"imports": ["x.>"]}}]


@pytest.mark.parametrize("server,dialer", [("under-test", "2.10+"), ("2.10+", "under-test"),
                                           ("under-test", "under-test")],
                         ids=lambda x: x)
def test_a_remote_that_declares_itself_the_hub(net, server, dialer):
    """`hub: true` on a remote: the dialing server is the hub of the link and
    the server it reaches acts as the spoke (/leafz is_spoke on each side);
    messages flow both ways."""
    s = net("server", server, listen=True)
    d = net("dialer", dialer, remotes=[s.remote(extra=", hub: true")])
    wait_leafnodes({s: 1, d: 1})
    assert s.leafs()[0]["is_spoke"] is True and d.leafs()[0]["is_spoke"] is False, (s.leafs(), d.leafs())
    exchange(d, s, "hub.to.spoke")
    exchange(s, d, "spoke.to.hub")
