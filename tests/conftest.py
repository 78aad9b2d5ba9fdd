"""Fixtures for the raw-socket integration tests (helpers live in harness.py).

Run against any server binary:

    NATS_SERVER_BIN=/usr/sbin/nats-server python3 -m pytest -q tests/

Without NATS_SERVER_BIN the suite uses <repo>/target/release/rnats-server.
"""

import os

import pytest

from harness import SERVER_BIN, Client, NatsServer


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
    """Factory: ``start_server(*extra_args, port=None)`` -> running NatsServer.

    Every server started through it is stopped at the end of the test.
    """
    started = []

    def _start(*extra_args, port=None):
        log = tmp_path / ("server-%d.log" % len(started))
        srv = NatsServer(log, extra_args, port=port, binary=server_bin)
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
