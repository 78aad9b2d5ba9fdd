"""Configuration reload (SIGHUP and --signal reload=PIDFILE) and the other
--signal commands. Passes against the Go nats-server too."""

import signal
import subprocess
import time

from harness import msg, pub

BEFORE = """
authorization {
  users = [
    { user: alice, password: pa, permissions: { publish: "a.>", subscribe: ["a.>", "b.>"] } }
    { user: bob, password: pb }
  ]
}
"""

AFTER = """
debug: true
authorization {
  users = [
    { user: alice, password: pa, permissions: { publish: "b.>", subscribe: "b.>" } }
    { user: bob, password: pb }
  ]
}
"""


def login(clients, srv, user, password):
    c = clients(srv)
    c.connect(user=user, **{"pass": password})
    c.ping()
    return c


def wait_reloaded(srv, n=1, timeout=5):
    deadline = time.monotonic() + timeout
    while srv.log_text().count("Reloaded server configuration") < n:
        assert time.monotonic() < deadline, srv.log_text()[-2000:]
        time.sleep(0.05)


def test_reload_changes_permissions_while_connected(start_server, clients, tmp_path):
    conf = tmp_path / "reload.conf"
    conf.write_text(BEFORE)
    srv = start_server("-c", str(conf))
    alice = login(clients, srv, "alice", "pa")
    alice.send(b"SUB a.x 1\r\nSUB b.x 2\r\nPING\r\n")
    alice.expect(b"PONG\r\n")
    bob = login(clients, srv, "bob", "pb")
    bob.send(b"SUB > 9\r\nPING\r\n")
    bob.expect(b"PONG\r\n")
    alice.send(pub("b.y", "no") + b"PING\r\n")
    alice.expect(b"-ERR 'Permissions Violation for Publish to \"b.y\"'\r\nPONG\r\n")

    conf.write_text(AFTER)
    srv.proc.send_signal(signal.SIGHUP)
    wait_reloaded(srv)
    # The subscription to a.x is no longer allowed and was removed.
    ops = alice.flush()
    errs = [op.args[0] for op in ops if op.kind == "-ERR"]
    assert any("Permissions Violation for Subscription to \"a.x\"" in e for e in errs), ops
    alice.send(pub("b.y", "yes") + pub("a.z", "no"))
    ops = alice.flush()
    assert any(op.kind == "-ERR" and "Publish to \"a.z\"" in op.args[0] for op in ops), ops
    bob.send(pub("a.x", "gone") + pub("b.x", "kept"))
    bob.flush()
    got = [op for op in alice.flush() if op.kind == "MSG"]
    assert [(op.args[0], op.payload) for op in got] == [("b.x", b"kept")]
    # debug: true took effect.
    login(clients, srv, "bob", "pb")
    srv.wait_for_log(r"\[DBG\] .* - Client connection created")


def test_signal_reload_with_pid_file(start_server, server_bin, clients, tmp_path):
    conf = tmp_path / "reload.conf"
    conf.write_text("debug: false\n")
    pid_file = tmp_path / "s.pid"
    srv = start_server("-c", str(conf), "-P", str(pid_file))
    conf.write_text("debug: true\n")
    r = subprocess.run([server_bin, "--signal", "reload=%s" % pid_file], capture_output=True, timeout=10)
    assert r.returncode == 0, r
    wait_reloaded(srv)


def test_signal_quit_with_pid(start_server, server_bin):
    srv = start_server()
    r = subprocess.run([server_bin, "--signal", "quit=%d" % srv.pid], capture_output=True, timeout=10)
    assert r.returncode == 0, r
    assert srv.proc.wait(timeout=10) == 0


def test_signal_errors(server_bin):
    r = subprocess.run([server_bin, "--signal", "bogus=1"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b'unknown signal "bogus"' in r.stderr, r
    r = subprocess.run([server_bin, "--signal", "reload=abc"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"invalid pid" in r.stderr, r


def test_reload_without_config_file_is_refused(start_server):
    srv = start_server()
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"can only reload config when a file is provided using -c or --config")
    assert srv.is_running()


def test_reload_of_fixed_option_fails_and_keeps_running(start_server, clients, tmp_path):
    conf = tmp_path / "fixed.conf"
    conf.write_text("server_name: one\n")
    srv = start_server("-c", str(conf))
    conf.write_text("server_name: two\n")
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_log(r"\[ERR\] Failed to reload server configuration")
    assert clients(srv).info["server_name"] == "one"
