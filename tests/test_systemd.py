"""scripts/deploy/rnats.service and scripts/deploy/rnats.conf: the unit passes
``systemd-analyze verify`` (and its offline security review), the sample
configuration is valid, and the commands and signals the unit uses work on
the real binary: started with the unit's ExecStart (paths moved under the
test's tmp dir), reloaded with its exact ExecReload, stopped with its
KillSignal (lame duck mode) well within TimeoutStopSec. The server runs with
no_new_privs and, where the kernel has it, PR_SET_MDWE (what
MemoryDenyWriteExecute= enforces); under strace, every system call it makes
is one the unit's SystemCallFilter= allows.

rnats only: the unit runs rnats-server."""

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from harness import (HOST, REPO_ROOT, SERVER_IS_RNATS, Client, NatsServer, ServerError, free_ports, http_get_json,
                     parse_info)

pytestmark = pytest.mark.skipif(not SERVER_IS_RNATS, reason="the unit and its sample configuration are rnats'")

UNIT = os.path.join(REPO_ROOT, "scripts", "deploy", "rnats.service")
CONF = os.path.join(REPO_ROOT, "scripts", "deploy", "rnats.conf")
UNIT_BIN = "/usr/local/bin/rnats-server"
UNIT_CONF = "/etc/rnats/rnats.conf"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze not installed (Debian package systemd)")


def unit_settings():
    """[Service] key -> list of values, in file order."""
    out, section = {}, None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            k, _, v = line.partition("=")
            if section == "[Service]":
                out.setdefault(k, []).append(v)
    return out


def go_seconds(text):
    """'30s', '2m', '1m30s', '60' -> seconds."""
    if re.fullmatch(r"\d+", text):
        return int(text)
    total = 0.0
    for n, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|min|m|h)", text):
        total += float(n) * {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}[unit]
    return total


def conf_value(key):
    m = re.search(r'^%s:\s*"?([^"\n]+)"?' % key, open(CONF).read(), re.M)
    return m.group(1) if m else None


def installed_unit(tmp_path):
    """The unit with its binary at a temporary path (a copy of the binary
    under test), as systemd-analyze needs ExecStart to exist."""
    bindir = tmp_path / "usr-local-bin"
    bindir.mkdir(exist_ok=True)
    binary = bindir / "rnats-server"
    shutil.copy2(os.environ.get("NATS_SERVER_BIN") or os.path.join(REPO_ROOT, "target", "release", "rnats-server"),
                 binary)
    unit = tmp_path / "rnats.service"
    unit.write_text(open(UNIT).read().replace(UNIT_BIN, str(binary)))
    return unit


def analyze(*args):
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_unit_verifies(tmp_path):
    unit = installed_unit(tmp_path)
    r = analyze("verify", str(unit))
    complaints = [ln for ln in (r.stdout + r.stderr).splitlines() if "rnats" in ln]
    assert r.returncode == 0 and not complaints, r.stdout + r.stderr
    # The check has teeth: a misspelt key and a missing binary are reported.
    bad = tmp_path / "bad.service"
    bad.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem=")
                   .replace("ExecReload=%s" % (tmp_path / "usr-local-bin"), "ExecReload=/nonexistent"))
    r = analyze("verify", str(bad))
    out = r.stdout + r.stderr
    assert "ProtectSytem" in out and "/nonexistent" in out and r.returncode != 0, out


@needs_analyze
def test_unit_security_exposure(tmp_path):
    unit = installed_unit(tmp_path)
    r = analyze("security", "--offline=yes", "--no-pager", "--threshold=20", str(unit))
    if "--offline" in r.stderr and "unrecognized" in r.stderr:
        pytest.skip("systemd-analyze security --offline needs systemd 250+")
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
    assert m and r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert float(m.group(1)) <= 2.0, m.group(0)


def test_unit_settings_are_consistent():
    s = unit_settings()
    argv = shlex.split(s["ExecStart"][0])
    assert argv[:3] == [UNIT_BIN, "-c", UNIT_CONF]
    runtime = "/run/%s/" % s["RuntimeDirectory"][0]
    pid_file = argv[argv.index("-P") + 1]
    assert pid_file.startswith(runtime)
    assert shlex.split(s["ExecReload"][0]) == [UNIT_BIN, "--signal", "reload=%s" % pid_file]
    assert s["KillSignal"] == ["SIGUSR2"]
    # A lame duck takes up to lame_duck_duration; systemd must wait longer.
    assert go_seconds(s["TimeoutStopSec"][0]) > go_seconds(conf_value("lame_duck_duration"))
    for key, value in [("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
                       ("CapabilityBoundingSet", ""), ("MemoryDenyWriteExecute", "yes"),
                       ("LockPersonality", "yes"), ("RestrictNamespaces", "yes")]:
        assert s.get(key) == [value], key
    assert "@system-service" in s["SystemCallFilter"]
    assert set(s["RestrictAddressFamilies"][0].split()) <= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}


def test_sample_config_is_valid(server_bin):
    r = subprocess.run([server_bin, "-c", CONF, "-t"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "is valid" in r.stdout + r.stderr, r


# ---------------------------------------------------------------------------
# The unit's commands on the real binary
# ---------------------------------------------------------------------------

PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def _sandbox():
    """In the child before exec: no_new_privs (NoNewPrivileges=) and, where
    the kernel has it, MDWE (MemoryDenyWriteExecute=)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        os._exit(121)
    libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0)


class UnitServer(NatsServer):
    """rnats-server started with the unit's ExecStart, its paths moved to
    ``paths`` (old -> new), optionally behind a command prefix (strace)."""

    def __init__(self, log_path, binary, paths, client_port, prefix=()):
        super().__init__(log_path, port=client_port, binary=binary)
        self.paths = paths
        self.prefix = list(prefix)

    def unit_command(self, key):
        line = unit_settings()[key][0]
        for old, new in self.paths.items():
            line = line.replace(old, new)
        return shlex.split(line)

    @property
    def args(self):
        return self.prefix + self.unit_command("ExecStart")

    def launch(self):
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=self._log_file, preexec_fn=_sandbox)
        return self


def service_lifecycle(tmp_path, server_bin, prefix=()):
    """Start as the unit does, with a route peer, a client and a page load;
    reload with ExecReload; stop with KillSignal. Returns the log text."""
    client_port, http_port, cluster_port, peer_cluster = free_ports(4)
    run_dir = tmp_path / "run-rnats"
    run_dir.mkdir()
    conf_path = tmp_path / "etc-rnats.conf"
    conf = open(CONF).read()
    conf = conf.replace("0.0.0.0:4222", "%s:%d" % (HOST, client_port))
    conf = conf.replace("127.0.0.1:8222", "%s:%d" % (HOST, http_port))
    conf = conf.replace("0.0.0.0:6222", "%s:%d" % (HOST, cluster_port))
    # The commented-out routes, switched on and pointed at the peer.
    conf = re.sub(r"  # routes: \[\n  #   nats://box2:6222\n  #   nats://box3:6222\n  # \]",
                  "  routes: [\n    nats://%s:%d\n  ]" % (HOST, peer_cluster), conf)
    assert "routes: [\n    nats://" in conf, "sample config's routes example changed"
    # A short grace period keeps the test short; the schedule is the same.
    conf = conf.replace('lame_duck_grace_period: "10s"', 'lame_duck_grace_period: "1s"')
    conf_path.write_text(conf)
    paths = {UNIT_BIN: server_bin, UNIT_CONF: str(conf_path), "/run/rnats": str(run_dir)}
    settings = unit_settings()

    peer = NatsServer(tmp_path / "peer.log", ["-n", "peer", "-cluster", "nats://%s:%d" % (HOST, peer_cluster),
                                              "--cluster_name", "mesh"], binary=server_bin).start()
    srv = UnitServer(tmp_path / "service.log", server_bin, paths, client_port, prefix)
    pid = None
    try:
        srv.start()
        pid_file = run_dir / "rnats.pid"
        deadline = time.monotonic() + 5
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(pid_file.read_text().strip())
        if not prefix:
            assert pid == srv.pid
            assert re.search(r"^NoNewPrivs:\s*1$", open("/proc/%d/status" % pid).read(), re.M)
        os.kill(pid, 0)
        deadline = time.monotonic() + 10
        while http_get_json(http_port, "/routez")["num_routes"] < 1:
            assert time.monotonic() < deadline, "the route to the peer never came up:\n" + srv.log_text()
            time.sleep(0.05)
        page = http_get_json(http_port, "/routez")
        assert [r["remote_name"] for r in page["routes"]] == ["peer"]
        c = Client(client_port, timeout=5.0)
        try:
            c.connect(protocol=1)
            c.ping()
            index = http_get_json_text(http_port, "/")
            assert ">peer</text>" in index

            # systemctl reload: the unit's exact ExecReload.
            conf_path.write_text(conf.replace("max_payload: 1MB", "max_payload: 2MB"))
            r = subprocess.run(srv.unit_command("ExecReload"), capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, r
            srv.wait_for_log(r"Reloaded: max_payload", timeout=5)
            srv.wait_for_log(r"Reloaded server configuration", timeout=5)
            c2 = Client(client_port, timeout=5.0)
            assert c2.info["max_payload"] == 2 * 1024 * 1024
            c2.close()

            # systemctl stop: KillSignal to the main process (KillMode=mixed).
            sig = getattr(signal, settings["KillSignal"][0])
            t0 = time.monotonic()
            os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while True:
                line = c.read_line(timeout=max(0.1, deadline - time.monotonic()))
                if line.startswith(b"INFO ") and parse_info(line).get("ldm") is True:
                    break
                assert line.startswith((b"PING", b"INFO ")), line
                assert time.monotonic() < deadline, "no INFO with ldm:true"
            c.read_until_closed(timeout=10)
        finally:
            c.close()
        status = srv.proc.wait(timeout=go_seconds(settings["TimeoutStopSec"][0]))
        took = time.monotonic() - t0
        assert status == 0, srv.log_text()
        assert 0.9 <= took < go_seconds(settings["TimeoutStopSec"][0])
        log = srv.log_text()
        for want in ("Entering lame duck mode", "Closing existing clients", "Server Exiting"):
            assert want in log, log
        return log
    finally:
        srv.stop()
        if prefix and pid is not None:
            # strace detaches when stopped; stop the server it started too.
            _stop_pid(pid)
        peer.stop()


def _stop_pid(pid, timeout=5.0):
    """SIGTERM, then SIGKILL, the (non-child) process ``pid`` if it is
    still running."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def http_get_json_text(port, path):
    import http.client
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_reload_and_lame_duck_stop_as_the_unit_does(tmp_path, server_bin):
    service_lifecycle(tmp_path, server_bin)


def test_signal_ldm_with_the_pid_file(tmp_path, server_bin):
    """`rnats-server --signal ldm=<pid file>` (what the unit's KillSignal
    does, by hand): with no clients the server exits at once."""
    client_port, http_port = free_ports(2)
    pid_file = tmp_path / "rnats.pid"
    srv = NatsServer(tmp_path / "ldm.log", ["-P", str(pid_file), "-m", str(http_port)], port=client_port,
                     binary=server_bin).start()
    try:
        # The start-up probe's connection must be gone, or it counts as a
        # client still to be closed after the grace period.
        deadline = time.monotonic() + 5
        while http_get_json(http_port, "/varz")["connections"] != 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = subprocess.run([server_bin, "--signal", "ldm=%s" % pid_file], capture_output=True, timeout=10)
        assert r.returncode == 0, r
        assert srv.proc.wait(timeout=5) == 0
        assert "Entering lame duck mode" in srv.log_text()
    finally:
        srv.stop()


def _syscall_groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True,
                         timeout=60).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.strip()
            groups[cur] = []
        elif line.startswith("    ") and cur:
            item = line.strip()
            if item and not item.startswith("#"):
                groups[cur].append(item)
        elif line.strip():
            cur = None

    def expand(name, depth=0):
        assert depth < 10
        names = set()
        for item in groups.get(name, ()):
            names |= expand(item, depth + 1) if item.startswith("@") else {item}
        return names
    return expand


@needs_analyze
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_system_calls_pass_the_unit_filter(tmp_path, server_bin):
    trace = tmp_path / "strace.txt"
    try:
        service_lifecycle(tmp_path, server_bin, prefix=["strace", "-f", "-qq", "-o", str(trace)])
    except ServerError as e:
        if "ptrace" in str(e) or "Operation not permitted" in str(e):
            pytest.skip("strace cannot trace here: %s" % e)
        raise
    used = set()
    for line in trace.read_text().splitlines():
        m = re.match(r"^\d+\s+([a-z0-9_]+)\(", line)
        if m:
            used.add(m.group(1))
    used.discard("execve")  # strace's own exec of the server, allowed anyway
    assert {"epoll_wait", "accept4", "sendto"} & used, sorted(used)
    expand = _syscall_groups()
    allowed, denied = set(), set()
    for entry in unit_settings()["SystemCallFilter"]:
        inverted = entry.startswith("~")
        names = set()
        for item in entry.lstrip("~").split():
            names |= expand(item) if item.startswith("@") else {item}
        (denied if inverted else allowed).update(names)
    assert allowed, "no allow list resolved"
    assert not (used - (allowed - denied)), "system calls the unit's filter refuses: %s" % sorted(
        used - (allowed - denied))
