"""Lame duck mode (SIGUSR2 and --signal ldm): clients are told with an
INFO carrying ldm:true, no new client is accepted, the existing ones are
closed after the grace period, then the server exits. Passes against the Go
nats-server too."""

import signal
import socket
import subprocess
import time

from harness import HOST, parse_info


CONF = 'lame_duck_duration: "30s"\nlame_duck_grace_period: "1s"\n'


def test_lame_duck_mode(start_server, clients, tmp_path):
    conf = tmp_path / "ldm.conf"
    conf.write_text(CONF)
    srv = start_server("-c", str(conf))
    watchers = []
    for _ in range(2):
        c = clients(srv, timeout=5.0)
        c.connect(protocol=1)
        c.ping()
        watchers.append(c)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGUSR2)
    for c in watchers:
        line = c.read_line(timeout=5)
        assert line.startswith(b"INFO "), line
        assert parse_info(line).get("ldm") is True
    # No new clients.
    deadline = time.monotonic() + 3
    refused = False
    while time.monotonic() < deadline and not refused:
        try:
            socket.create_connection((HOST, srv.port), timeout=0.5).close()
            time.sleep(0.05)
        except OSError:
            refused = True
    assert refused
    # Closed after the grace period, then the server exits on its own.
    for c in watchers:
        c.read_until_closed(timeout=8)
    assert time.monotonic() - t0 >= 0.9
    assert srv.proc.wait(timeout=10) == 0
    srv.wait_for_log(r"Entering lame duck mode")


def test_lame_duck_without_clients_exits_at_once(start_server, server_bin, tmp_path):
    conf = tmp_path / "ldm.conf"
    conf.write_text(CONF)
    srv = start_server("-c", str(conf))
    r = subprocess.run([server_bin, "--signal", "ldm=%d" % srv.pid], capture_output=True, timeout=10)
    assert r.returncode == 0, r
    assert srv.proc.wait(timeout=10) == 0


def test_lame_duck_duration_minimum(server_bin, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('lame_duck_duration: "10s"\n')
    r = subprocess.run([server_bin, "-c", str(conf)], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b"minimum is 30 seconds" in r.stderr
