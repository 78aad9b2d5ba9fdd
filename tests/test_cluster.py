"""Clusters made only of the server under test: mesh formation through a seed
and through a chain, one-hop forwarding with exact delivery counts, interest
changes after the mesh formed, queue groups, request/reply and headers across
servers, nodes dying and coming back, client discovery through async INFO and
two servers dialing each other at the same time. Queue groups split evenly
over three servers, also for messages that arrive over a route: checked
against the server under test and each Go version (marked against_go).

Every server listens on 127.0.0.1 with free ports; mesh state is read from
/varz ("routes"/"remotes" and "connect_urls").  Like the other suites this one
runs against the Go server too (NATS_SERVER_BIN=/path/to/nats-server).
"""

import os
import re
import time

import pytest

from harness import (
    ClusterNode,
    check_bulk_in_order,
    check_headers,
    check_interest_changes,
    check_pubsub_all_pairs,
    check_queue_group,
    check_queue_members_leave,
    check_request_reply,
    check_subscribed_before_join,
    collect_from,
    free_ports,
    open_client,
    pub,
    round_trip,
    subscribe_before_join,
    sync_interest,
    wait_connect_urls,
    wait_full_mesh,
)

REGISTER_RE = re.compile(r'Registering remote route "([^"]+)"')


def registered_ids(node):
    return {m.group(1) for m in map(REGISTER_RE.search, node.log_lines()) if m}


def assert_no_error_lines(nodes, allowed=()):
    for n in nodes:
        errs = n.error_lines(allowed)
        assert not errs, "unexpected error lines from %s:\n%s" % (n.label, "\n".join(errs))


def seed_and_joiners(cluster, joiners=2):
    seed = cluster.node(name="seed")
    others = [cluster.node(routes=[seed], name="j%d" % (i + 1)) for i in range(joiners)]
    return [seed] + others


# ---------------------------------------------------------------------------
# Mesh formation
# ---------------------------------------------------------------------------

def test_three_servers_on_one_seed_form_full_mesh(cluster):
    nodes = seed_and_joiners(cluster)
    wait_full_mesh(nodes, stable=0.5)
    ids = {n.label: n.varz()["server_id"] for n in nodes}
    for n in nodes:
        others = {v for k, v in ids.items() if k != n.label}
        assert registered_ids(n) == others, (n.label, registered_ids(n), others)
    check_pubsub_all_pairs(nodes)
    assert_no_error_lines(nodes)


def test_chain_of_five_forms_full_mesh(cluster):
    nodes = [cluster.node(name="c0")]
    for i in range(1, 5):
        nodes.append(cluster.node(routes=[nodes[-1]], name="c%d" % i))
    wait_full_mesh(nodes, stable=0.5)
    check_pubsub_all_pairs(nodes, count=5)
    assert_no_error_lines(nodes)


def test_every_node_configured_with_all_routes_including_itself(cluster):
    ports = free_ports(9)
    urls = ["nats://127.0.0.1:%d" % ports[3 * i + 1] for i in range(3)]
    nodes = [cluster.node(routes=urls, name="n%d" % i, port=ports[3 * i],
                          cluster_port=ports[3 * i + 1], http_port=ports[3 * i + 2],
                          start=False)
             for i in range(3)]
    for n in nodes:
        n.launch()
    for n in nodes:
        n.wait_ready()
    # Routes to self are dropped and the configured duplicates settle on one
    # route per pair, also after the one-second redials.
    wait_full_mesh(nodes, stable=1.5)
    check_pubsub_all_pairs(nodes, count=5)
    assert_no_error_lines(nodes, allowed=[r"Error trying to connect to route"])


# ---------------------------------------------------------------------------
# Traffic over a formed mesh
# ---------------------------------------------------------------------------

@pytest.fixture
def mesh3(cluster):
    nodes = seed_and_joiners(cluster)
    wait_full_mesh(nodes)
    return nodes


def test_subscriber_gets_exactly_one_copy_from_every_server(mesh3):
    check_pubsub_all_pairs(mesh3, count=25)


def test_interest_added_and_removed_after_mesh(mesh3):
    for sub_node in mesh3:
        check_interest_changes(mesh3, sub_node)


def test_queue_group_spread_over_three_servers(mesh3):
    check_queue_group(mesh3, count=30, extra_member_node=mesh3[1])


def test_queue_group_without_member_on_publishing_server(mesh3):
    check_queue_group(mesh3, count=30, member_nodes=mesh3[1:])


def test_queue_members_leaving(mesh3):
    check_queue_members_leave(mesh3, leaving_node=mesh3[1], staying_node=mesh3[2])


@pytest.mark.against_go
def test_queue_distribution_across_routes(oracle, tmp_path):
    binary = oracle[1]
    nodes = []
    try:
        seed = ClusterNode(tmp_path / "a.log", binary=binary, cluster_name="Q", debug=False)
        nodes.append(seed.start())
        for name in "bc":
            n = ClusterNode(tmp_path / (name + ".log"), binary=binary, cluster_name="Q",
                            routes=[seed], debug=False)
            nodes.append(n.start())
        wait_full_mesh(nodes)
        subject = "dist.%s" % os.urandom(4).hex()
        members = [open_client(n) for n in nodes for _ in range(2)]
        pubc = open_client(nodes[0])
        for m in members:
            m.send("SUB %s grp 1\r\n" % subject)
            sync_interest(m, [pubc])
        total = 6000
        for start in range(0, total, 500):
            pubc.send(b"".join(pub(subject, b"%d" % i) for i in range(start, start + 500)))
            round_trip(pubc)
        got = collect_from(members, total, timeout=30)
        counts = [len(ops) for ops in got]
        assert sum(counts) == total, counts
        share = total / len(members)
        # Binomial spread is about 29 here; a biased pick is off by hundreds.
        assert all(abs(c - share) < 150 for c in counts), counts
    finally:
        for n in nodes:
            n.stop()


def test_interest_existing_before_join_is_sent_on_route_registration(cluster):
    seed = cluster.node(name="seed")
    on_seed = subscribe_before_join(seed)
    j1 = cluster.node(routes=[seed], name="j1")
    wait_full_mesh([seed, j1])
    on_j1 = subscribe_before_join(j1)
    # j2 meets j1 only through the seed's gossip.
    j2 = cluster.node(routes=[seed], name="j2")
    wait_full_mesh([seed, j1, j2])
    check_subscribed_before_join(on_seed, [j1, j2])
    check_subscribed_before_join(on_j1, [seed, j2])


def test_request_reply_across_servers(mesh3):
    a, _, c = mesh3
    check_request_reply(a, c)
    check_request_reply(c, a)
    check_request_reply(a, c, queue="responders")


def test_bulk_and_large_messages_keep_order_across_route(mesh3):
    a, b, _ = mesh3
    check_bulk_in_order(a, b, count=5000, size=100, big=900 * 1024)
    check_bulk_in_order(b, a, count=2000, size=1000)


def test_headers_across_servers(mesh3):
    a, b, _ = mesh3
    check_headers(a, b)
    check_headers(b, a)


def test_no_error_lines_after_traffic(mesh3):
    check_pubsub_all_pairs(mesh3, count=3)
    check_queue_group(mesh3, count=5)
    assert_no_error_lines(mesh3)


# ---------------------------------------------------------------------------
# Failures and restarts
# ---------------------------------------------------------------------------

def test_killed_node_restarts_and_rejoins(cluster):
    seed, j1, j2 = seed_and_joiners(cluster)
    wait_full_mesh([seed, j1, j2])

    j2.kill()
    wait_full_mesh([seed, j1])
    check_pubsub_all_pairs([seed, j1], count=5)

    j2b = cluster.restart(j2)
    wait_full_mesh([seed, j1, j2b], stable=0.5)
    check_pubsub_all_pairs([seed, j1, j2b], count=5)


def test_seed_killed_then_restarted(cluster):
    seed, j1, j2 = seed_and_joiners(cluster)
    wait_full_mesh([seed, j1, j2])

    seed.kill()
    wait_full_mesh([j1, j2])
    check_pubsub_all_pairs([j1, j2], count=5)
    check_queue_group([j1, j2], count=10)

    seed2 = cluster.restart(seed)
    wait_full_mesh([seed2, j1, j2], stable=0.5)
    check_pubsub_all_pairs([seed2, j1, j2], count=5)


# ---------------------------------------------------------------------------
# Client discovery
# ---------------------------------------------------------------------------

def test_client_discovers_servers_through_async_info(cluster, clients):
    seed = cluster.node(name="seed")
    watcher = clients(seed, timeout=5.0)
    watcher.connect(protocol=1, verbose=False, pedantic=False)
    watcher.ping()

    j1 = cluster.node(routes=[seed], name="j1")
    wait_connect_urls(watcher, [seed.client_url, j1.client_url])
    j2 = cluster.node(routes=[seed], name="j2")
    wait_connect_urls(watcher, [seed.client_url, j1.client_url, j2.client_url])
    wait_full_mesh([seed, j1, j2])

    # A new client's first INFO already lists everyone, its own server first.
    for node in (seed, j1, j2):
        c = clients(node)
        urls = c.info.get("connect_urls")
        others = [n.client_url for n in (seed, j1, j2) if n is not node]
        assert urls and urls[0] == node.client_url and sorted(urls[1:]) == sorted(others), (
            node.label, urls)

    j2.kill()
    wait_connect_urls(watcher, [seed.client_url, j1.client_url])
    # A client connecting now only hears about the live servers.
    urls = clients(seed).info.get("connect_urls")
    assert urls == [seed.client_url, j1.client_url], urls
    round_trip(watcher)


def test_connect_urls_keep_own_url_after_last_peer_leaves(cluster, clients):
    seed = cluster.node(name="seed")
    # Before any peer was ever seen there is no connect_urls at all.
    assert clients(seed).info.get("connect_urls") is None
    watcher = clients(seed, timeout=5.0)
    watcher.connect(protocol=1, verbose=False, pedantic=False)
    watcher.ping()
    j1 = cluster.node(routes=[seed], name="j1")
    wait_connect_urls(watcher, [seed.client_url, j1.client_url])
    wait_full_mesh([seed, j1])

    j1.stop()
    wait_connect_urls(watcher, [seed.client_url], timeout=3.0)
    assert clients(seed).info.get("connect_urls") == [seed.client_url]
    assert seed.varz().get("connect_urls") == [seed.client_url]


def test_protocol_zero_client_gets_no_async_info(cluster, clients):
    seed = cluster.node(name="seed")
    quiet = clients(seed, timeout=5.0)
    quiet.connect(verbose=False, pedantic=False)
    quiet.ping()
    j1 = cluster.node(routes=[seed], name="j1")
    wait_full_mesh([seed, j1])
    deadline = time.monotonic() + 0.5
    while True:
        op = quiet.poll_op(deadline - time.monotonic())
        if op is None:
            break
        assert op.kind == "PING", "protocol 0 client got %r" % (op.raw,)
        quiet.send(b"PONG\r\n")
    round_trip(quiet)
    assert quiet.stash == []


# ---------------------------------------------------------------------------
# Duplicate routes
# ---------------------------------------------------------------------------

def test_two_servers_dialing_each_other_keep_one_route(cluster):
    pairs = []
    for k in range(3):
        ports = free_ports(6)
        x = cluster.node(routes=["nats://127.0.0.1:%d" % ports[4]], name="x%d" % k,
                         port=ports[0], cluster_port=ports[1], http_port=ports[2],
                         start=False)
        y = cluster.node(routes=[x], name="y%d" % k, port=ports[3], cluster_port=ports[4],
                         http_port=ports[5], start=False)
        pairs.append((x, y))
    for x, y in pairs:
        x.launch()
        y.launch()
    for x, y in pairs:
        x.wait_ready()
        y.wait_ready()
    for x, y in pairs:
        wait_full_mesh([x, y], stable=0)
    # A side that lost its duplicate may redial about a second later: the
    # single route must still be the only one after that.
    time.sleep(2.0)
    for x, y in pairs:
        wait_full_mesh([x, y], timeout=0.1, stable=0.5)
    for x, y in pairs:
        check_pubsub_all_pairs([x, y], count=5)
        # The first dial may find the peer not listening yet.
        assert_no_error_lines([x, y], allowed=[r"Error trying to connect to route"])
