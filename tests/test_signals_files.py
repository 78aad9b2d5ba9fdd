"""Graceful stop on SIGINT/SIGTERM, the -P pid file, the -l log file and
its reopening on SIGUSR1. Passes against the Go nats-server too."""

import os
import signal
import time

import pytest

from harness import SERVER_IS_RNATS, msg, pub


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_gracefully(start_server, clients, sig):
    srv = start_server()
    c = clients(srv)
    c.connect()
    c.ping()
    srv.proc.send_signal(sig)
    rc = srv.proc.wait(timeout=10)
    # Go 2.9 exits with status 1 after a SIGTERM shutdown; later Go and rnats exit 0.
    assert rc == 0 or (sig == signal.SIGTERM and not SERVER_IS_RNATS and rc == 1), rc
    # The client sees the connection end (no hang).
    c.read_until_closed(timeout=5)
    srv.wait_for_log(r"\[INF\] Server Exiting\.\.")


def test_pid_file(start_server, tmp_path):
    pid_file = tmp_path / "server.pid"
    srv = start_server("-P", str(pid_file))
    assert int(pid_file.read_text().strip()) == srv.pid


def test_log_file_and_reopen(start_server, clients, tmp_path):
    log_file = tmp_path / "nats.log"
    srv = start_server("-l", str(log_file), "-D")
    c = clients(srv)
    c.connect()
    c.ping()
    deadline = time.monotonic() + 5
    while "Client connection created" not in log_file.read_text():
        assert time.monotonic() < deadline, log_file.read_text()
        time.sleep(0.05)
    rotated = tmp_path / "nats.log.1"
    os.rename(log_file, rotated)
    srv.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not (log_file.exists() and "File log re-opened" in log_file.read_text()):
        assert time.monotonic() < deadline, "log file was not reopened"
        time.sleep(0.05)
    # The server keeps working and keeps logging to the new file.
    c.send(b"SUB x 1\r\n" + pub("x", "hi") + b"PING\r\n")
    c.expect(msg("x", 1, "hi") + b"PONG\r\n")
