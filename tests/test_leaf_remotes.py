"""Leaf remotes beyond a plain URL: how a leaf proves who it is, TLS, the
subjects it keeps off the link, and failing over inside a hub cluster.

Checked, with the leaf being the server under test and (as the control)
Go, and the hub Go or the server under test:
* a `.creds` remote joins a Go hub in operator mode (`resolver: MEMORY`,
  JWTs made here) bound to the user's account; traffic flows with that
  account's clients on the hub; a user of an account the hub does not know
  never connects and the hub logs an authentication error while the leaf
  keeps trying;
* an `nkey` remote joins a hub whose leaf authorization names that key;
* TLS: a leaf port with `tls {}` and a remote with `tls { ca_file }`;
  a remote trusting another CA never connects;
* `deny_exports` / `deny_imports` keep subjects off the link both ways;
* a hub cluster announces its leaf URLs: a leaf configured with one hub
  moves to the other when its hub dies.
"""

import base64
import os
import shutil

import pytest

from harness import Client, assert_exactly_once, collect_msgs, free_port, open_client, pub, round_trip, sync_interest
from leafnet import HOST, exchange, net, wait_for, wait_leafnodes  # noqa: F401  (net is a fixture)
from natsjwt import Key, Operator, creds_text
from tlsclient import client_certs

pytestmark = pytest.mark.against_go

LEAFS = ("under-test", "2.10+")


def jwt_client(node, user_key, user_jwt):
    """A client of ``node`` logged in with a user JWT, signing the nonce."""
    c = Client(node.port, timeout=5.0)
    sig = base64.urlsafe_b64encode(user_key.sign(c.info["nonce"].encode())).rstrip(b"=").decode()
    c.connect(verbose=False, pedantic=False, headers=True, jwt=user_jwt, sig=sig)
    c.ping(timeout=5.0)
    return c


def one_way(sub, publisher, subject, what):
    """``sub`` gets exactly the messages ``publisher`` sends on ``subject``."""
    sub.send("SUB %s 1\r\n" % subject)
    sync_interest(sub, [publisher])
    payloads = ["m%d-%s" % (i, os.urandom(3).hex()) for i in range(5)]
    publisher.send(b"".join(pub(subject, x) for x in payloads))
    round_trip(publisher)
    got = collect_msgs(sub, 5, timeout=10.0)
    assert_exactly_once([op.payload for op in got], payloads, what)


@pytest.mark.parametrize("hub", ["2.9", "2.10+"])
@pytest.mark.parametrize("leaf", LEAFS)
def test_creds_leaf_joins_an_operator_mode_hub(net, tmp_path, hub, leaf):
    op = Operator()
    acc = op.account("EDGE")
    user, user_jwt = op.user("EDGE", "edge-box")
    creds = tmp_path / "edge.creds"
    creds.write_text(creds_text(user_jwt, user))
    h = net("hub", hub, listen=True, extra=op.config())
    lf = net("leaf", leaf, remotes=[h.remote(extra=', credentials: "%s"' % creds)])
    wait_leafnodes({h: 1, lf: 1})
    assert [x["account"] for x in h.leafs()] == [acc.public]
    client_key, client_jwt = op.user("EDGE", "hub-client")
    for direction in ("up", "down"):
        hub_client = jwt_client(h, client_key, client_jwt)
        leaf_client = open_client(lf)
        try:
            if direction == "up":
                one_way(hub_client, leaf_client, "creds.up", "leaf -> hub account EDGE")
            else:
                one_way(leaf_client, hub_client, "creds.down", "hub account EDGE -> leaf")
        finally:
            hub_client.close()
            leaf_client.close()


@pytest.mark.parametrize("leaf", LEAFS)
def test_creds_of_an_unknown_account_never_connect(net, tmp_path, leaf):
    op, stranger = Operator(), Operator()
    user, user_jwt = stranger.user("ELSEWHERE", "intruder")
    creds = tmp_path / "bad.creds"
    creds.write_text(creds_text(user_jwt, user))
    op.account("EDGE")
    h = net("hub", "2.10+", listen=True, extra=op.config())
    lf = net("leaf", leaf, remotes=[h.remote(extra=', credentials: "%s"' % creds)])
    # The hub refuses each attempt; the leaf keeps trying.
    wait_for(lambda: h.log_text().count("authentication error") >= 2 or
             h.log_text().count("Authorization Violation") >= 2,
             "two refused attempts", [h, lf])
    assert h.varz().get("leafnodes") == 0 and lf.varz().get("leafnodes") == 0


def test_nkey_remote_joins_a_hub_that_names_its_key(net):
    """`authorization { nkey }` on the leaf port is Go 2.10.8+ (the hub);
    the remote under test signs the nonce with its seed."""
    k = Key("U")
    h = net("hub", "2.10+", listen=True, leaf_auth='nkey: "%s"' % k.public)
    lf = net("leaf", "under-test", remotes=[h.remote(extra=', nkey: "%s"' % k.seed.decode())])
    wait_leafnodes({h: 1, lf: 1})
    exchange(lf, h, "nk.up")
    exchange(h, lf, "nk.down")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make certificates")
    return client_certs(tmp_path_factory.mktemp("leafcerts"))


def leaf_tls_block(pki):
    return 'tls { cert_file: "%s", key_file: "%s", timeout: 3 }' % (pki("server.pem"), pki("server-key.pem"))


@pytest.mark.parametrize("hub,leaf", [("under-test", "2.9"), ("under-test", "2.10+"), ("under-test", "under-test"),
                                      ("2.9", "under-test"), ("2.10+", "under-test")],
                         ids=lambda x: x)
def test_tls_leaf(net, pki, hub, leaf):
    h = net("hub", hub, listen=True, leaf_extra=leaf_tls_block(pki))
    remote = h.remote(scheme="tls", extra=', tls { ca_file: "%s" }' % pki("ca.pem"))
    lf = net("leaf", leaf, remotes=[remote])
    wait_leafnodes({h: 1, lf: 1})
    exchange(lf, h, "tls.up")
    exchange(h, lf, "tls.down")
    # The leaf port speaks TLS right after its INFO.
    raw = Client(h.leaf_port, timeout=5.0)
    try:
        assert raw.info.get("tls_required") is True, raw.info
    finally:
        raw.close()


@pytest.mark.parametrize("hub", ["under-test", "2.10+"])
def test_tls_leaf_trusting_another_ca_never_connects(net, pki, hub):
    h = net("hub", hub, listen=True, leaf_extra=leaf_tls_block(pki))
    remote = h.remote(scheme="tls", extra=', tls { ca_file: "%s" }' % pki("otherca.pem"))
    lf = net("leaf", "under-test", remotes=[remote])
    wait_for(lambda: lf.log_text().count("TLS") >= 2, "two failed TLS attempts logged", [h, lf])
    assert h.varz().get("leafnodes") == 0 and lf.varz().get("leafnodes") == 0


@pytest.mark.parametrize("hub", ["under-test", "2.9", "2.10+"])
@pytest.mark.parametrize("leaf", LEAFS)
def test_deny_lists_keep_subjects_off_the_link(net, hub, leaf):
    h = net("hub", hub, listen=True)
    deny = ', deny_exports: ["secret.out.>"], deny_imports: ["secret.in.>"]'
    lf = net("leaf", leaf, remotes=[h.remote(extra=deny)])
    wait_leafnodes({h: 1, lf: 1})
    # Denied subjects: a subscriber on the far side gets nothing, while the
    # open subject sent after each denied message arrives (so the denied
    # one had its chance).
    for src, dst, denied, open_subject in ((lf, h, "secret.out.x", "open.out"), (h, lf, "secret.in.x", "open.in")):
        s = open_client(dst)
        p = open_client(src)
        try:
            s.send("SUB %s 1\r\nSUB %s 2\r\n" % (denied, open_subject))
            sync_interest(s, [p])
            p.send(pub(denied, "no") + pub(open_subject, "yes"))
            round_trip(p)
            got = collect_msgs(s, 1, timeout=10.0)
            assert [(op.args[0], op.payload) for op in got] == [(open_subject, b"yes")], [o.raw for o in got]
        finally:
            s.close()
            p.close()


@pytest.mark.parametrize("hub", ["2.9", "2.10+", "under-test"])
@pytest.mark.parametrize("leaf", LEAFS)
def test_leaf_fails_over_to_the_other_hub_of_the_cluster(net, hub, leaf):
    c1, c2 = free_port(), free_port()
    cluster = 'cluster { name: HUB, listen: "%s:%%d", routes: ["nats-route://%s:%d", "nats-route://%s:%d"] }' % (
        HOST, HOST, c1, HOST, c2)
    h1 = net("h1", hub, listen=True, extra=cluster % c1)
    h2 = net("h2", "2.10+" if hub == "under-test" else hub, listen=True, extra=cluster % c2)
    wait_for(lambda: h1.varz().get("routes", 0) >= 1 and h2.varz().get("routes", 0) >= 1, "hub routes", [h1, h2])
    lf = net("leaf", leaf, remotes=[h1.remote()])
    wait_leafnodes({h1: 1, lf: 1})
    h1.stop()
    wait_leafnodes({h2: 1, lf: 1}, timeout=15.0)
    exchange(lf, h2, "fo.up")
    exchange(h2, lf, "fo.down")


@pytest.mark.parametrize("hub", ["under-test", "2.9", "2.10+"])
@pytest.mark.parametrize("leaf", LEAFS)
@pytest.mark.parametrize("no_masking", [False, True], ids=["masked", "no-masking"])
def test_leaf_over_websocket(net, hub, leaf, no_masking):
    """A remote with a ws:// URL dials the hub's websocket port (the upgrade
    on /leafnode, then the leaf protocol inside frames); the hub counts it
    as a leaf, not a client."""
    ws_port = free_port()
    h = net("hub", hub, listen=True, extra='websocket { listen: "%s:%d", no_tls: true }' % (HOST, ws_port))
    extra = ", ws_no_masking: true" if no_masking else ""
    lf = net("leaf", leaf, remotes=['{ url: "ws://%s:%d"%s }' % (HOST, ws_port, extra)])
    wait_leafnodes({h: 1, lf: 1})
    exchange(lf, h, "ws.up")
    exchange(h, lf, "ws.down")
    if hub != "2.9":  # 2.9.10's /leafz has no is_spoke
        assert h.leafs()[0]["is_spoke"] is False


@pytest.mark.parametrize("hub", ["2.10+", "under-test"])
@pytest.mark.parametrize("leaf", LEAFS)
def test_websocket_leaf_fails_over_to_the_other_hub_of_the_cluster(net, hub, leaf):
    """A remote with one ws:// URL, to a hub cluster whose servers have
    WebSocket ports: the hub's INFO lists the other servers' WebSocket URLs
    (ws_connect_urls), and when its hub goes, the leaf dials one of those."""
    c1, c2, w1, w2 = free_port(), free_port(), free_port(), free_port()
    cluster = ('cluster { name: HUB, listen: "%s:%%d", routes: ["nats-route://%s:%d", "nats-route://%s:%d"] }\n'
               'websocket { listen: "%s:%%d", no_tls: true }' % (HOST, HOST, c1, HOST, c2, HOST))
    h1 = net("h1", hub, listen=True, extra=cluster % (c1, w1))
    h2 = net("h2", "2.10+" if hub == "under-test" else hub, listen=True, extra=cluster % (c2, w2))
    wait_for(lambda: h1.varz().get("routes", 0) >= 1 and h2.varz().get("routes", 0) >= 1, "hub routes", [h1, h2])
    wait_for(lambda: "%s:%d" % (HOST, w2) in (h1.varz().get("ws_connect_urls") or []), "ws urls gossiped", [h1, h2])
    lf = net("leaf", leaf, remotes=['{ url: "ws://%s:%d" }' % (HOST, w1)])
    wait_leafnodes({h1: 1, lf: 1})
    h1.stop()
    wait_leafnodes({h2: 1, lf: 1}, timeout=15.0)
    exchange(lf, h2, "wsfo.up")
    exchange(h2, lf, "wsfo.down")
