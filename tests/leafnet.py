"""Leaf node topologies for the leaf tests: servers of any kind (the one
under test, Go 2.9, Go 2.10+) with a `leafnodes` block, a fixture that
starts them and stops them at the end, and bounded waits on their state."""

import os
import re
import subprocess
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
    http_get_json,
    open_client,
    pub,
    round_trip,
    sync_interest,
)

# "under-test" is NATS_SERVER_BIN (rnats unless set otherwise); the others
# are Go series as go_binary_or_skip knows them.
KINDS = ("under-test", "2.9", "2.10+")

by_hub = pytest.mark.parametrize("hub", KINDS, ids=["hub-%s" % k for k in KINDS])
by_hub_and_leaf = pytest.mark.parametrize(
    "hub,leaf", [(h, l) for h in KINDS for l in KINDS],
    ids=["hub-%s-leaf-%s" % (h, l) for h in KINDS for l in KINDS])


def binary_of(kind):
    return SERVER_BIN if kind == "under-test" else go_binary_or_skip(kind)


_VERSIONS = {}


def go_version(binary):
    """(major, minor, patch) of a Go nats-server binary, None for rnats."""
    if binary not in _VERSIONS:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        m = re.search(r"v(\d+)\.(\d+)\.(\d+)(\S*)", out)
        _VERSIONS[binary] = None if (not m or "rnats" in m.group(4)) else \
            tuple(int(x) for x in m.groups()[:3])
    return _VERSIONS[binary]


# ---------------------------------------------------------------------------
# Servers of a topology
# ---------------------------------------------------------------------------

class Node(NatsServer):
    """A server with a name, a monitoring port and a config file holding its
    `leafnodes` block: a listen port when ``listen``, leaf ``authorization``
    (the text inside the braces), ``remotes`` (entries from ``remote()``) and
    ``leaf_extra`` (more lines of the block); ``extra``: top-level lines."""

    def __init__(self, tmp, name, kind, listen=False, leaf_auth="", remotes=(), extra="", leaf_extra=""):
        self.name, self.kind = name, kind
        self.http_port = free_port()
        self.leaf_port = free_port() if listen else None
        leaf = []
        if listen:
            leaf.append('listen: "%s:%d"' % (HOST, self.leaf_port))
        if leaf_auth:
            leaf.append("authorization { %s }" % leaf_auth)
        if remotes:
            leaf.append("remotes: [ %s ]" % ", ".join(remotes))
        if leaf_extra:
            leaf.append(leaf_extra)
        text = 'server_name: %s\nhttp: "%s:%d"\n%s\n' % (name, HOST, self.http_port, extra)
        if leaf:
            text += "leafnodes {\n  %s\n}\n" % "\n  ".join(leaf)
        self.conf_path = tmp / ("%s.conf" % name)
        self.conf_path.write_text(text)
        self.log_index = 0
        self.tmp = tmp
        super().__init__(tmp / ("%s.log" % name), ["-c", str(self.conf_path)],
                         binary=binary_of(kind))

    @property
    def label(self):
        return "%s (%s)" % (self.name, self.kind)

    def remote(self, userinfo="", extra="", scheme="nats-leaf"):
        """A `remotes` entry that dials this node's leaf port."""
        return '{ url: "%s://%s%s:%d"%s }' % (scheme, userinfo, HOST, self.leaf_port, extra)

    def restart(self, kill=False):
        """Stop (or SIGKILL) and start again on the same ports, logging to a new file."""
        self.kill() if kill else self.stop()
        self.log_index += 1
        self.log_path = str(self.tmp / ("%s.%d.log" % (self.name, self.log_index)))
        return self.start()

    def varz(self):
        return http_get_json(self.http_port, "/varz")

    def leafz(self, query=""):
        return http_get_json(self.http_port, "/leafz" + query)

    def leafs(self, query=""):
        # Go 2.9.10 answers "leafs": null when there are none.
        return self.leafz(query).get("leafs") or []


@pytest.fixture
def net(tmp_path):
    """Factory: ``net(name, kind, **Node kwargs)`` -> a started Node; all are
    stopped (leafs first) at the end of the test."""
    nodes = []

    def make(name, kind, **kw):
        node = Node(tmp_path, name, kind, **kw)
        nodes.append(node)
        return node.start()

    yield make
    for node in reversed(nodes):
        node.stop()


def log_tails(nodes, n=30):
    out = []
    for node in nodes:
        out.append("--- %s, %s:" % (node.label, node.log_path))
        out.extend(node.log_lines()[-n:])
    return "\n".join(out)


def wait_for(cond, what, nodes, timeout=10.0):
    """Poll ``cond()`` until true; fail with the nodes' log tails after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            if cond():
                return
        except (OSError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %.0f s (last error: %s)\n%s"
                                 % (what, timeout, last, log_tails(nodes)))
        time.sleep(0.05)


def wait_leafnodes(counts, timeout=10.0):
    """Wait until each node's /varz counts the given number of leaf connections."""
    nodes = list(counts)
    wait_for(lambda: all(n.varz().get("leafnodes") == c for n, c in counts.items()),
             "leaf connections %s" % ", ".join("%s=%d" % (n.name, c) for n, c in counts.items()),
             nodes, timeout)


def hub_and_leaf(net, hub, leaf, **hub_kw):
    h = net("hub", hub, listen=True, **hub_kw)
    lf = net("leaf", leaf, remotes=[h.remote()])
    wait_leafnodes({h: 1, lf: 1})
    return h, lf


def exchange(src, dst, subject, count=5, sub_subject=None, src_auth=None, dst_auth=None):
    """A subscriber on ``dst`` gets exactly the ``count`` messages a client of
    ``src`` publishes (``*_auth``: CONNECT options of those clients)."""
    s = open_client(dst, **(dst_auth or {}))
    p = open_client(src, **(src_auth or {}))
    try:
        s.send("SUB %s 1\r\n" % (sub_subject or subject))
        sync_interest(s, [p])
        payloads = ["%s-%d-%s" % (src.name, i, os.urandom(3).hex()) for i in range(count)]
        p.send(b"".join(pub(subject, x) for x in payloads))
        round_trip(p)
        got = collect_msgs(s, count, timeout=10.0)
        assert_exactly_once([op.payload for op in got], payloads,
                            "%s -> %s on %s" % (src.label, dst.label, subject))
        assert all(op.args[0] == subject for op in got), [op.raw for op in got]
    finally:
        s.close()
        p.close()
