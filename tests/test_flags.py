"""Every flag of the Go server's `nats-server --help` (2.9): the server under
test starts with it, exits at once with status 0 (help, version), or refuses
it with a one-line error and exit status 1 -- never a signal or a panic.
The ports file (`--ports_file_dir`) is checked against Go's as well."""

import json
import os
import signal
import subprocess
import time

import pytest

from harness import HOST, SERVER_BIN, SERVER_IS_RNATS, NatsServer, free_ports, port_accepts

# (argv after the binary, expected outcome): "runs", "exit0", "refused", or
# "fails" (exit status 1 after logging a fatal error, as Go does).
# {dir} is a temporary directory, {port} a free port.
FLAG_TABLE = [
    (["-a", HOST], "runs"), (["--addr", HOST], "runs"), (["--net", HOST], "runs"),
    (["-n", "srv1"], "runs"), (["--name", "srv1"], "runs"), (["--server_name", "srv1"], "runs"),
    (["-P", "{dir}/pid"], "runs"), (["--pid", "{dir}/pid"], "runs"),
    (["-m", "{port}"], "runs"), (["--http_port", "{port}"], "runs"),
    (["-c", "{dir}/empty.conf"], "runs"), (["--config", "{dir}/empty.conf"], "runs"),
    (["-t", "-c", "{dir}/empty.conf"], "exit0"),
    (["--client_advertise", "example.org:4222"], "runs"),
    (["--ports_file_dir", "{dir}"], "runs"),
    (["-l", "{dir}/log"], "runs"), (["--log", "{dir}/log"], "runs"),
    (["-T"], "runs"), (["--logtime=false"], "runs"), (["-T=false"], "runs"),
    (["-s"], "runs"), (["--syslog"], "runs"),
    (["-r", "udp://localhost:514"], "runs"), (["--remote_syslog", "udp://localhost:514"], "runs"),
    (["-D"], "runs"), (["--debug"], "runs"), (["-V"], "runs"), (["--trace"], "runs"),
    (["-VV"], "runs"), (["-DV"], "runs"), (["-DVV"], "runs"),
    (["--log_size_limit", "1000000"], "runs"), (["--max_traced_msg_len", "100"], "runs"),
    (["-sd", "{dir}"], "runs"), (["--store_dir", "{dir}"], "runs"),
    (["-js", "-sd", "{dir}"], "runs"), (["--jetstream", "--store_dir", "{dir}"], "runs"),
    (["--user", "u", "--pass", "p"], "runs"), (["--auth", "tok"], "runs"),
    (["--tls"], "refused"), (["--tlscert", "{dir}/cert.pem"], "refused"),
    (["--tlskey", "{dir}/key.pem"], "refused"), (["--tlsverify"], "refused"),
    (["--tlscacert", "{dir}/ca.pem"], "refused"), (["--tls=false"], "runs"),
    # https monitoring needs the tls {} certificate: Go's fatal error.
    (["-ms", "{port}"], "fails"), (["--https_port", "{port}"], "fails"),
    (["--cluster", "nats://127.0.0.1:{port}"], "runs"),
    (["--cluster_listen", "nats://127.0.0.1:{port}"], "runs"),
    (["--cluster", "nats://127.0.0.1:{port}", "--routes", "nats://127.0.0.1:1"], "runs"),
    (["--cluster", "nats://127.0.0.1:{port}", "--cluster_name", "X"], "runs"),
    (["--cluster", "nats://127.0.0.1:{port}", "--no_advertise"], "runs"),
    (["--cluster", "nats://127.0.0.1:{port}", "--no_advertise=true"], "runs"),
    (["--cluster", "nats://127.0.0.1:{port}", "--cluster_advertise", "example.org:6222"], "runs"),
    (["--cluster", "nats://127.0.0.1:{port}", "--connect_retries", "3"], "runs"),
    (["--profile", "{port}"], "runs"),
    (["-h"], "exit0"), (["--help"], "exit0"), (["-v"], "exit0"), (["--version"], "exit0"),
    (["--help_tls"], "exit0"),
    (["--sl", "bogus"], "refused"), (["--signal", "bogus"], "refused"),
]


def _expand(args, tmp_path):
    port = str(free_ports(1)[0])
    return [a.replace("{dir}", str(tmp_path)).replace("{port}", port) for a in args]


def _run(binary, args, tmp_path):
    """Start binary with args on a free client port: ('runs', log) when it
    accepts clients, else ('exit', returncode, output)."""
    (tmp_path / "empty.conf").write_text("# nothing\n")
    cport = free_ports(1)[0]
    proc = subprocess.Popen([binary, "-p", str(cport)] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return "exit", proc.returncode, proc.stdout.read().decode("utf-8", "replace")
            if port_accepts(cport):
                return "runs", None, ""
            time.sleep(0.02)
        return "hung", None, ""
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.mark.parametrize("args,expected", FLAG_TABLE, ids=[" ".join(a) for a, _ in FLAG_TABLE])
def test_every_go_flag(args, expected, tmp_path):
    if not SERVER_IS_RNATS and expected == "refused":
        pytest.skip("refused only by rnats (not implemented there)")
    if not SERVER_IS_RNATS and args[0] in ("-s", "--syslog") and not os.path.exists("/dev/log"):
        pytest.skip("Go's server needs a syslog daemon for this flag")
    state, rc, out = _run(SERVER_BIN, _expand(args, tmp_path), tmp_path)
    assert "panicked" not in out and (rc is None or rc >= 0), out
    if expected == "runs":
        assert state == "runs", (rc, out)
    elif expected == "exit0":
        assert (state, rc) == ("exit", 0), (state, rc, out)
    elif expected == "fails":
        assert (state, rc) == ("exit", 1), (state, rc, out)
        assert "[FTL]" in out, out
    else:
        assert (state, rc) == ("exit", 1), (state, rc, out)
        lines = [l for l in out.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("nats-server: "), out


def _ports_file(binary, tmp_path, extra):
    d = tmp_path / ("pf-%d" % len(os.listdir(tmp_path)))
    d.mkdir()
    srv = NatsServer(tmp_path / (d.name + ".log"), ["--ports_file_dir", str(d)] + extra,
                     port=-1, binary=binary)
    srv.start()
    try:
        deadline = time.monotonic() + 5
        while not os.listdir(d) and time.monotonic() < deadline:
            time.sleep(0.02)
        names = os.listdir(d)
        assert names == ["%s_%d.ports" % (os.path.basename(binary), srv.pid)], names
        with open(d / names[0]) as f:
            data = json.load(f)
    finally:
        srv.stop()
    assert os.listdir(d) == [], "the ports file is removed at shutdown"
    return srv, data


@pytest.mark.against_go
def test_ports_file(oracle, tmp_path):
    binary = oracle[1]
    srv, data = _ports_file(binary, tmp_path, ["-m", "-1", "-cluster", "nats://127.0.0.1:-1"])
    assert sorted(data) == ["cluster", "monitoring", "nats"], data
    assert data["nats"] == ["nats://%s:%d" % (HOST, srv.port)]
    for key, scheme in (("monitoring", "http"), ("cluster", "nats")):
        (url,) = data[key]
        assert url.startswith("%s://%s:" % (scheme, HOST)) and int(url.rsplit(":", 1)[1]) > 0, data
    _, only = _ports_file(binary, tmp_path, [])
    assert list(only) == ["nats"]
