"""Fixtures for the raw-socket integration tests (helpers live in harness.py,
the TLS client and its certificates in tlsclient.py).

Run against any server binary:

    NATS_SERVER_BIN=/usr/sbin/nats-server python3 -m pytest -q tests/

Without NATS_SERVER_BIN the suite uses <repo>/target/release/rnats-server.

A test marked ``against_go`` runs against the Go servers too, each
assertion once per server:

    @pytest.mark.against_go
    def test_x(oracle, launch):
        label, binary = oracle  # "under-test", "go2.9" or "go2.10+"
        srv = launch(binary, conf="max_payload: 1024\n")

``-m against_go`` runs only those, ``-m "not against_go"`` all others.
"""

import functools
import os
import shutil

import pytest

from harness import (ORACLES, SERVER_BIN, Client, ClusterNode, NatsServer, free_port, go_binary_or_skip,
                     oracle_binary)
from tlsclient import client_certs


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
def launch(tmp_path):
    """Factory: ``launch(binary, *args, conf=None, monitor=False, port=None,
    nofile=None)`` -> running NatsServer of ``binary`` (the server under test,
    or a Go one from ``oracle``).

    ``conf``: configuration text, written to ``srv.conf_path`` and passed
    with ``-c`` before ``args``; ``monitor``: a monitoring port (``-m``, then
    ``srv.http_port``); ``nofile``: RLIMIT_NOFILE of the server process.
    Every server started through it is stopped at the end of the test.
    """
    started = []

    def _launch(binary, *args, conf=None, monitor=False, port=None, nofile=None):
        n = len(started)
        head = []
        conf_path = http_port = None
        if conf is not None:
            conf_path = tmp_path / ("s%d.conf" % n)
            conf_path.write_text(conf)
            head += ["-c", str(conf_path)]
        if monitor:
            http_port = free_port()
            head += ["-m", str(http_port)]
        srv = NatsServer(tmp_path / ("s%d.log" % n), head + list(args), port=port, binary=binary,
                         nofile=nofile)
        srv.conf_path, srv.http_port = conf_path, http_port
        started.append(srv)
        return srv.start()

    yield _launch
    for srv in started:
        srv.stop()


@pytest.fixture
def start_server(server_bin, launch):
    """Factory: ``start_server(*extra_args, port=None, nofile=None, ...)`` ->
    running NatsServer of the server under test: ``launch`` without the
    binary."""
    return functools.partial(launch, server_bin)


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


# ---------------------------------------------------------------------------
# Go servers
# ---------------------------------------------------------------------------

AGAINST_GO = (
    "against_go(*labels): runs against Go nats-server binaries too (a Go series not installed "
    "here is skipped). A test using the `oracle` fixture runs once per server of "
    "harness.ORACLES (under-test, go2.9, go2.10+), or of `labels` when given, so that each "
    "assertion is known to be Go's behaviour; tests with Go nodes in a cluster (go29_bin, "
    "go_new_bin, go_bin) carry it too")


def pytest_configure(config):
    config.addinivalue_line("markers", AGAINST_GO)


def pytest_generate_tests(metafunc):
    if "oracle" not in metafunc.fixturenames:
        return
    mark = metafunc.definition.get_closest_marker("against_go")
    if mark is None:
        raise pytest.UsageError("%s uses the oracle fixture: mark it @pytest.mark.against_go"
                                % metafunc.definition.nodeid)
    labels = list(mark.args) or list(ORACLES)
    unknown = [label for label in labels if label not in ORACLES]
    if unknown:
        raise pytest.UsageError("%s: against_go labels %r are not in %r"
                                % (metafunc.definition.nodeid, unknown, ORACLES))
    metafunc.parametrize("oracle", labels, indirect=True)


@pytest.fixture
def oracle(request):
    """(label, binary) of one server a test marked ``against_go`` runs
    against; skipped when that Go series is not installed here."""
    return request.param, oracle_binary(request.param)


@pytest.fixture(scope="session")
def go29_bin():
    return go_binary_or_skip("2.9")


@pytest.fixture(scope="session")
def go_new_bin():
    return go_binary_or_skip("2.10+")


@pytest.fixture(params=["2.9", "2.10+"])
def go_bin(request):
    """The Go binary of each series in turn (skipped when not installed)."""
    return go_binary_or_skip(request.param)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """The certificates of the client TLS suites (tlsclient.client_certs);
    ``certs(name)`` is a file's path."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make certificates")
    return client_certs(tmp_path_factory.mktemp("certs"))


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
