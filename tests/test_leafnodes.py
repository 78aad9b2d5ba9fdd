"""Leaf nodes, soliciting side: the server under test joins a hub as a leaf
node (`leafnodes { remotes }`), the hub being Go 2.9 or Go 2.10+ (and, to
show the tests themselves hold, a Go leaf of the same hub runs them too).

Checked: messages both ways (literal and wildcard interest, headers,
request/reply across the leaf), interest that changes after the
connection is up, queue groups with members on both sides (each message
exactly once, the local member preferred, the far side as fallback), the
leaf reconnecting after the hub restarts, the account a remote binds, and
the hub's /leafz and our /varz counting the connection.
"""

import os
import time

import pytest

from harness import (
    HOST,
    SERVER_BIN,
    NatsServer,
    assert_exactly_once,
    collect_msgs,
    free_port,
    go_binary_or_skip,
    hpub,
    http_get_json,
    open_client,
    pub,
    round_trip,
    sync_interest,
)

HUBS = ["2.9", "2.10+"]
LEAVES = ["under-test", "go"]


class Pair:
    """A hub with a leaf port and one leaf server dialing it."""

    def __init__(self, tmp_path, hub_series, leaf_kind, leaf_extra="", hub_extra="", remote_extra="", userinfo=""):
        self.tmp = tmp_path
        self.hub_bin = go_binary_or_skip(hub_series)
        self.leaf_bin = SERVER_BIN if leaf_kind == "under-test" else self.hub_bin
        self.leaf_port = free_port()
        self.hub_http = free_port()
        self.leaf_http = free_port()
        self.hub_conf = tmp_path / "hub.conf"
        self.hub_conf.write_text(
            "server_name: hub\nhttp: \"%s:%d\"\nleafnodes { listen: \"%s:%d\" }\n%s"
            % (HOST, self.hub_http, HOST, self.leaf_port, hub_extra))
        self.leaf_conf = tmp_path / "leaf.conf"
        self.leaf_conf.write_text(
            "server_name: edge\nhttp: \"%s:%d\"\n%s\nleafnodes { remotes: [ { url: \"nats-leaf://%s%s:%d\" %s } ] }\n"
            % (HOST, self.leaf_http, leaf_extra, userinfo, HOST, self.leaf_port, remote_extra))
        self.hub = NatsServer(tmp_path / "hub.log", ["-c", str(self.hub_conf)], binary=self.hub_bin).start()
        self.leaf = NatsServer(tmp_path / "leaf.log", ["-c", str(self.leaf_conf)], binary=self.leaf_bin).start()
        self.wait_connected()

    def leafz(self):
        return http_get_json(self.hub_http, "/leafz").get("leafs") or []

    def wait_connected(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if len(self.leafz()) == 1 and http_get_json(self.leaf_http, "/varz").get("leafnodes") == 1:
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError("leaf not connected within %.0f s\n--- hub\n%s\n--- leaf\n%s" % (
                    timeout, self.hub.log_text()[-3000:], self.leaf.log_text()[-3000:]))
            time.sleep(0.05)

    def stop(self):
        self.leaf.stop()
        self.hub.stop()


@pytest.fixture
def pair_factory(tmp_path):
    made = []

    def make(hub, leaf, cls=Pair, **kw):
        p = cls(tmp_path, hub, leaf, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


params = pytest.mark.parametrize("hub,leaf", [(h, l) for h in HUBS for l in LEAVES],
                                 ids=["hub%s-leaf-%s" % (h, l) for h in HUBS for l in LEAVES])


def exchange(src, dst, subject, sub_subject=None, count=5):
    """A subscriber on ``dst`` gets exactly the ``count`` messages published
    on ``src``."""
    s = open_client(dst)
    p = open_client(src)
    try:
        s.send("SUB %s 1\r\n" % (sub_subject or subject))
        sync_interest(s, [p])
        payloads = ["m%d-%s" % (i, os.urandom(3).hex()) for i in range(count)]
        p.send(b"".join(pub(subject, x) for x in payloads))
        round_trip(p)
        got = collect_msgs(s, count, timeout=5.0)
        assert_exactly_once([op.payload for op in got], payloads, "%s -> %s" % (src.port, dst.port))
        assert all(op.args[0] == subject for op in got)
    finally:
        s.close()
        p.close()


@pytest.mark.against_go
@params
def test_messages_both_ways(pair_factory, hub, leaf):
    pr = pair_factory(hub, leaf)
    exchange(pr.leaf, pr.hub, "up.a")
    exchange(pr.hub, pr.leaf, "down.a")
    exchange(pr.leaf, pr.hub, "up.wild.x", "up.wild.*")
    exchange(pr.hub, pr.leaf, "down.deep.x.y", "down.>")


@pytest.mark.against_go
@params
def test_headers_and_request_reply_across(pair_factory, hub, leaf):
    pr = pair_factory(hub, leaf)
    for responder_node, requester_node in ((pr.hub, pr.leaf), (pr.leaf, pr.hub)):
        resp = open_client(responder_node)
        req = open_client(requester_node)
        try:
            resp.send("SUB svc.echo 1\r\n")
            sync_interest(resp, [req])
            inbox = "_INBOX.%s" % os.urandom(4).hex()
            req.send("SUB %s 2\r\n" % inbox)
            sync_interest(req, [resp], sid=9998)
            req.send(hpub("svc.echo", "NATS/1.0\r\nK: v\r\n\r\n", "ping", reply=inbox))
            op = collect_msgs(resp, 1, timeout=5.0, settle=0.1)[0]
            assert op.kind == "HMSG" and op.args[0] == "svc.echo" and op.args[2] == inbox, op.raw
            assert b"K: v" in op.raw and op.payload == b"ping", op.raw
            resp.send(pub(inbox, "pong"))
            got = collect_msgs(req, 1, timeout=5.0, settle=0.1)
            assert [o.payload for o in got] == [b"pong"], [o.raw for o in got]
        finally:
            resp.close()
            req.close()


@pytest.mark.against_go
@params
def test_interest_changes_after_connect(pair_factory, hub, leaf):
    pr = pair_factory(hub, leaf)
    s = open_client(pr.hub)
    p = open_client(pr.leaf)
    try:
        s.send("SUB late.x 5\r\n")
        sync_interest(s, [p])
        p.send(pub("late.x", "one"))
        round_trip(p)
        assert [o.payload for o in collect_msgs(s, 1, timeout=5.0)] == [b"one"]
        s.send("UNSUB 5\r\n")
        # Once the hub forwarded the LS-, nothing more crosses: probe with a
        # fresh subscription that must see the later message but not this one.
        s.send("SUB late.y 6\r\n")
        sync_interest(s, [p], sid=9997)
        p.send(pub("late.x", "two") + pub("late.y", "marker"))
        got = collect_msgs(s, 1, timeout=5.0)
        assert [o.payload for o in got] == [b"marker"], [o.raw for o in got]
    finally:
        s.close()
        p.close()


@pytest.mark.against_go
@params
def test_queue_groups_across_the_leaf(pair_factory, hub, leaf):
    """Members of group g on both sides: a publisher's own side takes every
    message; with its member gone, the other side takes them, once each."""
    pr = pair_factory(hub, leaf)
    hm = open_client(pr.hub)
    lm = open_client(pr.leaf)
    hp = open_client(pr.hub)
    lp = open_client(pr.leaf)
    try:
        hm.send("SUB work g 1\r\n")
        lm.send("SUB work g 1\r\n")
        sync_interest(hm, [hp, lp])
        sync_interest(lm, [hp, lp])
        for publisher, local, remote, tag in ((hp, hm, lm, "h"), (lp, lm, hm, "l")):
            payloads = ["%s%d" % (tag, i) for i in range(10)]
            publisher.send(b"".join(pub("work", x) for x in payloads))
            round_trip(publisher)
            got_local = collect_msgs(local, 10, timeout=5.0)
            got_remote = collect_msgs(remote, None, timeout=0.3, settle=0.3)
            assert_exactly_once([o.payload for o in got_local], payloads, "local member, publisher %s" % tag)
            assert got_remote == [], [o.raw for o in got_remote]
        # The hub's member leaves: the leaf's member is the only one left.
        hm.send("UNSUB 1\r\n")
        round_trip(hm)
        payloads = ["x%d" % i for i in range(10)]
        deadline = time.monotonic() + 10
        got = []
        while time.monotonic() < deadline and not got:
            hp.send(pub("work", "probe"))
            round_trip(hp)
            got = [o for o in collect_msgs(lm, 1, timeout=0.3, settle=0.1)]
        assert got, "the leaf's member never got the hub's messages"
        hp.send(b"".join(pub("work", x) for x in payloads))
        round_trip(hp)
        got = [o.payload for o in collect_msgs(lm, 10, timeout=5.0) if o.payload != b"probe"]
        assert_exactly_once(got, payloads, "leaf member as the only one")
    finally:
        for c in (hm, lm, hp, lp):
            c.close()


@pytest.mark.against_go
@params
def test_leaf_reconnects_after_the_hub_restarts(pair_factory, hub, leaf):
    pr = pair_factory(hub, leaf)
    s = open_client(pr.leaf)
    s.send("SUB after.restart 1\r\n")
    round_trip(s)
    pr.hub.stop()
    pr.hub = NatsServer(pr.tmp / "hub2.log", ["-c", str(pr.hub_conf)], binary=pr.hub_bin,
                        port=pr.hub.requested_port).start()
    try:
        pr.wait_connected(timeout=15.0)
        p = open_client(pr.hub)
        try:
            sync_interest(s, [p], sid=9996)
            p.send(pub("after.restart", "back"))
            round_trip(p)
            assert [o.payload for o in collect_msgs(s, 1, timeout=5.0)] == [b"back"]
        finally:
            p.close()
    finally:
        s.close()


@pytest.mark.against_go
@params
def test_remote_binds_a_local_account(pair_factory, hub, leaf):
    """The hub binds the leaf's user to its account A; the remote binds the
    leaf's account L: L and A exchange messages, the leaf's account M and
    the hub's account B see none of them."""
    pr = pair_factory(
        hub, leaf,
        hub_extra="accounts { A: { users: [ {user: lu, password: lp}, {user: ua, password: pa} ] }, "
                  "B: { users: [ {user: ub, password: pb} ] } }\n",
        leaf_extra="accounts { L: { users: [ {user: u1, password: p1} ] }, "
                   "M: { users: [ {user: u2, password: p2} ] } }",
        remote_extra=", account: L", userinfo="lu:lp@")
    assert [lf.get("account") for lf in pr.leafz()] == ["A"], pr.leafz()
    a = open_client(pr.hub, user="ua", **{"pass": "pa"})
    b = open_client(pr.hub, user="ub", **{"pass": "pb"})
    lcl = open_client(pr.leaf, user="u1", **{"pass": "p1"})
    m = open_client(pr.leaf, user="u2", **{"pass": "p2"})
    try:
        for c in (a, b, lcl, m):
            c.send("SUB acct.> 1\r\n")
        sync_interest(a, [lcl])
        sync_interest(lcl, [a], sid=9995)
        lcl.send(pub("acct.up", "from-L"))
        a.send(pub("acct.down", "from-A"))
        round_trip(lcl)
        round_trip(a)
        got_a = [o.payload for o in collect_msgs(a, 2, timeout=5.0)]
        assert sorted(got_a) == [b"from-A", b"from-L"], got_a
        got_l = [o.payload for o in collect_msgs(lcl, 2, timeout=5.0)]
        assert sorted(got_l) == [b"from-A", b"from-L"], got_l
        for other in (b, m):
            assert collect_msgs(other, None, timeout=0.3, settle=0.3) == []
    finally:
        for c in (a, b, lcl, m):
            c.close()


def test_unsupported_remote_settings_refuse_to_start(tmp_path):
    conf = tmp_path / "l.conf"
    conf.write_text('leafnodes { remotes: [ { url: "ws://127.0.0.1:7422", ws_compression: true } ] }\n')
    import subprocess
    r = subprocess.run([SERVER_BIN, "-c", str(conf)], capture_output=True, timeout=10, text=True)
    if "rnats" not in subprocess.run([SERVER_BIN, "--version"], capture_output=True, text=True).stdout:
        pytest.skip("Go supports ws_compression")
    assert r.returncode == 1 and 'remote "ws_compression" is not supported by this server yet' in r.stdout + r.stderr, r


@pytest.mark.against_go
@params
def test_leaf_side_monitoring(pair_factory, hub, leaf):
    """On the leaf: /leafz lists the connection to the hub (name, spoke,
    account, the hub's interest with subs=1) and /varz its remote."""
    pr = pair_factory(hub, leaf)
    s = open_client(pr.hub)
    p = open_client(pr.leaf)
    try:
        s.send("SUB mon.subject 1\r\n")
        sync_interest(s, [p])
        p.send(pub("mon.subject", "x"))
        round_trip(p)
        collect_msgs(s, 1, timeout=5.0)
        lz = http_get_json(pr.leaf_http, "/leafz?subs=1")
        assert lz["leafnodes"] == 1 and len(lz["leafs"]) == 1, lz
        entry = lz["leafs"][0]
        # Go 2.9.10 has neither name nor is_spoke (2.9.15+ and rnats do).
        assert entry.get("name", "hub") == "hub" and entry.get("is_spoke", True) is True, entry
        assert entry["account"] == "$G", entry
        assert entry["port"] == pr.leaf_port and entry["out_msgs"] >= 1, entry
        assert "mon.subject" in entry["subscriptions_list"], entry
        assert entry["subscriptions"] == len(entry["subscriptions_list"]), entry
        v = http_get_json(pr.leaf_http, "/varz")
        assert v["leafnodes"] == 1
        assert [r["urls"] for r in v["leaf"]["remotes"]] == [["%s:%d" % (HOST, pr.leaf_port)]], v["leaf"]
    finally:
        s.close()
        p.close()


@pytest.mark.against_go
@pytest.mark.parametrize("hub_series", ["2.9"])
@pytest.mark.parametrize("leaf", LEAVES)
def test_loop_through_a_hub_cluster_is_detected(tmp_path, hub_series, leaf):
    """A leaf with one remote to each of two clustered hubs, same account:
    the second connection into the same hub cluster (or its loop-detection
    subject coming back) is a loop, reported with Go's error. As a Go 2.9
    leaf does; a Go 2.10+ leaf keeps both connections (see
    docs/compatibility.md)."""
    hub_bin = go_binary_or_skip(hub_series)
    leaf_bin = SERVER_BIN if leaf == "under-test" else hub_bin
    lports, cports = [free_port(), free_port()], [free_port(), free_port()]
    hubs = []
    try:
        for i in range(2):
            conf = tmp_path / ("hub%d.conf" % i)
            conf.write_text(
                "server_name: hub%d\nleafnodes { listen: \"%s:%d\" }\n"
                "cluster { name: HUBS, listen: \"%s:%d\", routes: [\"nats-route://%s:%d\"] }\n"
                % (i, HOST, lports[i], HOST, cports[i], HOST, cports[1 - i]))
            hubs.append(NatsServer(tmp_path / ("hub%d.log" % i), ["-c", str(conf)], binary=hub_bin).start())
        conf = tmp_path / "leaf.conf"
        conf.write_text(
            "server_name: edge\nleafnodes { remotes: [ { url: \"nats-leaf://%s:%d\" }, "
            "{ url: \"nats-leaf://%s:%d\" } ] }\n" % (HOST, lports[0], HOST, lports[1]))
        lf = NatsServer(tmp_path / "leaf.log", ["-c", str(conf)], binary=leaf_bin).start()
        try:
            lf.wait_for_log(r"Loop detected for leafnode account=\"\$G\". Delaying attempt to reconnect for 30s",
                            timeout=15.0)
        finally:
            lf.stop()
    finally:
        for h in hubs:
            h.stop()


@pytest.mark.against_go
@pytest.mark.parametrize("hub", HUBS)
@pytest.mark.parametrize("leaf", LEAVES)
def test_reload_that_changes_a_remote_setting_is_refused(pair_factory, hub, leaf):
    """A reload that changes a setting of a remote that stays (here `hub`)
    is refused as a whole, by Go 2.9 and 2.10+ alike: the error is logged
    and the connection to the hub stays."""
    import signal
    pr = pair_factory(hub, leaf)
    text = pr.leaf_conf.read_text()
    pr.leaf_conf.write_text(text.replace(" } ] }", ", hub: true } ] }"))
    assert pr.leaf_conf.read_text() != text
    pr.leaf.proc.send_signal(signal.SIGHUP)
    pr.leaf.wait_for_log(r"config reload not supported for LeafNode", timeout=5.0)
    pr.wait_connected(timeout=2.0)
    exchange(pr.leaf, pr.hub, "after.reload")


@pytest.mark.against_go
@pytest.mark.parametrize("leaf", ["under-test", "go"])
def test_reload_removes_and_adds_remotes(tmp_path, leaf):
    """A reload whose remotes differ (Go 2.11+ reloads them): a remote
    that is gone is closed and not dialed again, with Go's log line; a new
    one is dialed; messages flow through the new hub."""
    import signal
    go = go_binary_or_skip("2.10+")
    leaf_bin = SERVER_BIN if leaf == "under-test" else go
    hubs, lports, https = [], [free_port(), free_port()], [free_port(), free_port()]
    for i in range(2):
        conf = tmp_path / ("hub%d.conf" % i)
        conf.write_text("server_name: hub%d\nhttp: \"%s:%d\"\nleafnodes { listen: \"%s:%d\" }\n"
                        % (i, HOST, https[i], HOST, lports[i]))
        hubs.append(NatsServer(tmp_path / ("hub%d.log" % i), ["-c", str(conf)], binary=go).start())
    leaf_http = free_port()
    conf = tmp_path / "leaf.conf"

    def write(i):
        conf.write_text("server_name: edge\nhttp: \"%s:%d\"\nleafnodes { reconnect: 1, remotes: [ "
                        "{ url: \"nats-leaf://%s:%d\" } ] }\n" % (HOST, leaf_http, HOST, lports[i]))

    def leafs(i):
        return len(http_get_json(https[i], "/leafz").get("leafs") or [])

    def wait(cond, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    write(0)
    lf = NatsServer(tmp_path / "leaf.log", ["-c", str(conf)], binary=leaf_bin).start()
    try:
        wait(lambda: leafs(0) == 1, "leaf never reached hub0")
        write(1)
        lf.proc.send_signal(signal.SIGHUP)
        lf.wait_for_log(r"Reloaded: LeafNode Remote urls=\[\"nats-leaf://%s:%d\"\], account=\"\$G\" removed"
                        % (HOST.replace(".", r"\."), lports[0]), timeout=5.0)
        wait(lambda: leafs(1) == 1, "leaf never reached hub1 after the reload")
        wait(lambda: leafs(0) == 0, "the removed remote's connection stayed")
        assert "config reload not supported" not in lf.log_text()
        exchange(lf, hubs[1], "through.new.remote")
        exchange(hubs[1], lf, "back.through.new.remote")
        # The removed remote is not dialed again: three reconnect delays
        # later hub0 still has no leaf.
        seen = lf.log_text().count("Leafnode connection created")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert leafs(0) == 0, "the removed remote was dialed again"
            time.sleep(0.1)
        assert lf.log_text().count("Leafnode connection created") == seen
    finally:
        lf.stop()
        for h in hubs:
            h.stop()


def test_remote_url_without_port_takes_7422(tmp_path):
    """A remote URL without a port is the hub's port 7422 (Go's default):
    the file loads and /varz lists host:7422."""
    conf = tmp_path / "l.conf"
    http = free_port()
    conf.write_text('http: "%s:%d"\nleafnodes { remotes: [ { url: "nats-leaf://127.0.0.1" } ] }\n' % (HOST, http))
    srv = NatsServer(tmp_path / "l.log", ["-c", str(conf)]).start()
    try:
        v = http_get_json(http, "/varz")
        assert [r["urls"] for r in v["leaf"]["remotes"]] == [["127.0.0.1:7422"]], v["leaf"]
    finally:
        srv.stop()


def _domain_api(js, suffix, body=None, timeout=5.0):
    """A JetStream API call through the domain ``edge``; the decoded reply."""
    import json
    m = js.request_ok("$JS.edge.API." + suffix, b"" if body is None else json.dumps(body).encode(),
                      timeout=timeout)
    assert m.status is None, "status reply to %s: %r" % (suffix, m.hdr)
    return json.loads(m.data)


@pytest.mark.against_go
@params
def test_hub_reaches_the_edge_jetstream_through_its_domain(pair_factory, tmp_path, hub, leaf):
    """An edge box with JetStream in domain ``edge`` stores what is published
    on it; a client of the hub manages and reads its streams as
    ``$JS.edge.API``, messages published at the hub on the stream's subjects
    are stored on the edge, and the plain ``$JS.API`` does not cross the
    leaf connection (the hub's client gets no responders)."""
    import json

    from jsclient import JsClient, wait_for

    p = pair_factory(hub, leaf, leaf_extra='jetstream { store_dir: "%s", domain: edge }' % (tmp_path / "js"))
    edge = JsClient(p.leaf.port)
    hubc = JsClient(p.hub.port)
    try:
        edge.add_stream("R", subjects=["r.>"])
        for i in range(3):
            assert edge.publish_ok("r.x", b"m%d" % i)["seq"] == i + 1
        info = wait_for(lambda: _domain_api(hubc, "STREAM.INFO.R").get("state"), what="stream info via the domain")
        assert (info["messages"], info["last_seq"]) == (3, 3), info
        assert _domain_api(hubc, "INFO").get("domain") == "edge"
        # Stored on the edge when published at the hub, once the edge's
        # interest in r.> has reached the hub.
        wait_for(lambda: hubc.request("r.hub", b"from-hub", timeout=0.5) is not None,
                 what="a PubAck for a publish at the hub")
        assert _domain_api(hubc, "STREAM.INFO.R")["state"]["messages"] == 4
        created = _domain_api(hubc, "CONSUMER.CREATE.R.D", {
            "stream_name": "R", "config": {"durable_name": "D", "ack_policy": "explicit"}})
        assert created.get("name") == "D", created
        reply = hubc.new_inbox() + ".pull"
        sid = hubc.sub(reply)
        hubc.flush()
        hubc.send_pub("$JS.edge.API.CONSUMER.MSG.NEXT.R.D", json.dumps({"batch": 4, "expires": 3_000_000_000}),
                      reply)
        got = [m for m in hubc.msgs(sid, count=4, timeout=5.0) if m.status is None]
        assert [(m.subject, m.data) for m in got] == [
            ("r.x", b"m0"), ("r.x", b"m1"), ("r.x", b"m2"), ("r.hub", b"from-hub")], got
        assert all(m.reply.startswith("$JS.ACK.R.D.1.") for m in got), [m.reply for m in got]
        for m in got:
            assert hubc.request(m.reply, b"+ACK") is not None, "no reply to the ack of %s" % m.reply
        ci = _domain_api(hubc, "CONSUMER.INFO.R.D")
        assert (ci["ack_floor"]["stream_seq"], ci["num_ack_pending"]) == (4, 0), ci
        # The plain API stays on each side of the link.
        m = hubc.request_ok("$JS.API.INFO", b"")
        assert m.status == 503, m
    finally:
        edge.close()
        hubc.close()


CLUSTER_MIXES = [("under-test", "under-test"), ("2.10+", "under-test"), ("under-test", "2.10+"),
                 ("2.9", "under-test"), ("2.10+", "2.10+")]


@pytest.mark.against_go
@pytest.mark.parametrize("leaves", ["under-test", "2.10+"])
@pytest.mark.parametrize("h1,h2", CLUSTER_MIXES, ids=["%s+%s" % m for m in CLUSTER_MIXES])
def test_leaf_cluster_on_a_hub_cluster_gets_each_message_once(tmp_path, h1, h2, leaves):
    """A leaf cluster (LA, LB, cluster EDGE) whose members dial different
    servers of a hub cluster (LA -> H1, LB -> H2): interest and messages
    from EDGE carry their origin over the hub's route (LS+/LMSG), so
    nothing comes back into EDGE through the other member's link. Each
    message reaches each subscriber exactly once: LA to LB, LA to H2, H2
    to LA, H1 to LB."""
    bins = {k: (SERVER_BIN if k == "under-test" else go_binary_or_skip(k)) for k in (h1, h2, leaves)}
    hc, hl, hh = [free_port(), free_port()], [free_port(), free_port()], [free_port(), free_port()]
    lc, lh = [free_port(), free_port()], [free_port(), free_port()]
    servers = []

    def start(name, kind, conf_text):
        conf = tmp_path / (name + ".conf")
        conf.write_text(conf_text)
        s = NatsServer(tmp_path / (name + ".log"), ["-c", str(conf)], binary=bins[kind]).start()
        servers.append(s)
        return s

    def wait(cond, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if cond():
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, what + "\n" + "\n".join(
                "--- %s\n%s" % (s.log_path, s.log_text()[-1500:]) for s in servers)
            time.sleep(0.05)

    try:
        hubs = [start("h%d" % i, kind, 'server_name: h%d\nhttp: "%s:%d"\nleafnodes { listen: "%s:%d" }\n'
                      'cluster { name: HUB, listen: "%s:%d", routes: ["nats-route://%s:%d"] }\n'
                      % (i, HOST, hh[i], HOST, hl[i], HOST, hc[i], HOST, hc[1 - i]))
                for i, kind in enumerate((h1, h2))]
        edges = [start("l%d" % i, leaves, 'server_name: l%d\nhttp: "%s:%d"\n'
                       'cluster { name: EDGE, listen: "%s:%d", routes: ["nats-route://%s:%d"] }\n'
                       'leafnodes { remotes: [ { url: "nats-leaf://%s:%d" } ] }\n'
                       % (i, HOST, lh[i], HOST, lc[i], HOST, lc[1 - i], HOST, hl[i]))
                 for i in range(2)]
        for port in hh + lh:
            wait(lambda: len(http_get_json(port, "/routez").get("routes") or []) >= 1, "routes not up")
        for port in hh:
            wait(lambda: len(http_get_json(port, "/leafz").get("leafs") or []) == 1, "leaf not connected")

        def once(src, dst, subject):
            s = open_client(dst)
            p = open_client(src)
            try:
                s.send("SUB %s 1\r\n" % subject)
                sync_interest(s, [p])
                payloads = ["m%d-%s" % (i, os.urandom(3).hex()) for i in range(10)]
                p.send(b"".join(pub(subject, x) for x in payloads))
                round_trip(p)
                got = collect_msgs(s, len(payloads), timeout=5.0, settle=0.5)
                assert_exactly_once([op.payload for op in got], payloads, "%s -> %s" % (src.log_path, dst.log_path))
            finally:
                s.close()
                p.close()

        la, lb = edges
        once(la, lb, "edge.east")
        once(la, hubs[1], "edge.up")
        once(hubs[1], la, "hub.down")
        once(hubs[0], lb, "hub.across")
    finally:
        for s in reversed(servers):
            s.stop()


@pytest.mark.against_go
@pytest.mark.parametrize("hub", ["2.10+", "under-test"])
def test_leaf_interest_outlives_plain_interest_of_the_same_subject(tmp_path, hub):
    """A hub server H1 (Go 2.10+ or rnats) with a leaf node of cluster
    EDGE, routed to rnats H2: a client of H1 and the leaf subscribe to the
    same subject, then the client leaves. H1 withdraws its plain interest
    (RS-) but keeps the leaf's (LS+ naming EDGE): a publisher on H2 still
    reaches the leaf's subscriber."""
    bins = {"h1": SERVER_BIN if hub == "under-test" else go_binary_or_skip(hub), "h2": SERVER_BIN,
            "leaf": go_binary_or_skip("2.10+")}
    hc, hh, ll = [free_port(), free_port()], [free_port(), free_port()], free_port()
    servers = []

    def start(name, text):
        conf = tmp_path / (name + ".conf")
        conf.write_text(text)
        s = NatsServer(tmp_path / (name + ".log"), ["-c", str(conf)], binary=bins[name]).start()
        servers.append(s)
        return s

    def wait(cond, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    try:
        h1 = start("h1", 'server_name: h1\nhttp: "%s:%d"\nleafnodes { listen: "%s:%d" }\n'
                   'cluster { name: HUB, listen: "%s:%d", routes: ["nats-route://%s:%d"] }\n'
                   % (HOST, hh[0], HOST, ll, HOST, hc[0], HOST, hc[1]))
        h2 = start("h2", 'server_name: h2\nhttp: "%s:%d"\n'
                   'cluster { name: HUB, listen: "%s:%d", routes: ["nats-route://%s:%d"] }\n'
                   % (HOST, hh[1], HOST, hc[1], HOST, hc[0]))
        leaf = start("leaf", 'server_name: l\ncluster { name: EDGE, listen: "%s:-1" }\n'
                     'leafnodes { remotes: [ { url: "nats-leaf://%s:%d" } ] }\n' % (HOST, HOST, ll))
        wait(lambda: len(http_get_json(hh[0], "/leafz").get("leafs") or []) == 1, "leaf not connected")
        wait(lambda: len(http_get_json(hh[1], "/routez").get("routes") or []) >= 1, "routes not up")
        ls = open_client(leaf)
        cs = open_client(h1)
        p = open_client(h2)
        try:
            ls.send("SUB both.here 1\r\n")
            cs.send("SUB both.here 1\r\n")
            sync_interest(ls, [p])
            sync_interest(cs, [p])
            cs.send("UNSUB 1\r\n")
            round_trip(cs)
            # H2 hears of the UNSUB: a probe of the client's no longer
            # arrives anywhere once a later SUB of it has reached H2.
            sync_interest(cs, [p], sid=9998)
            payloads = ["m%d-%s" % (i, os.urandom(3).hex()) for i in range(5)]
            p.send(b"".join(pub("both.here", x) for x in payloads))
            round_trip(p)
            got = collect_msgs(ls, len(payloads), timeout=5.0)
            assert_exactly_once([op.payload for op in got], payloads, "h2 -> leaf after the client left")
        finally:
            for c in (ls, cs, p):
                c.close()
    finally:
        for s in reversed(servers):
            s.stop()
