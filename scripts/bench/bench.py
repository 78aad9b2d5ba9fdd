#!/usr/bin/env python3
"""Side-by-side benchmark of rnats-server against the Go nats-server.

Both servers run on this machine, on 127.0.0.1 with free ports, and are
measured in alternating pairs (ours, Go, ours, Go, ...) for a number of
rounds; every measurement starts a fresh server. The load comes from
scripts/bench/loadgen (built on first use). Results are medians over the rounds.

Per scenario it reports delivered messages per second, server CPU time per
message (utime+stime of the server process(es) from /proc/PID/stat, divided
by messages delivered, or published for `pub`), the CPU used by the load
generator, and the ratio ours/Go. It also measures idle RSS, RSS per idle
connection and startup time.

Environment:
  RNATS_BIN    our server   (default: <repo>/target/release/rnats-server)
  GO_NATS_BIN  Go server    (default: /usr/sbin/nats-server;
                             install with `apt-get install nats-server`)
  LOADGEN_BIN  load generator (default: scripts/bench/loadgen/target/release/loadgen)
  RNATS_STATIC_BIN  the static musl build, measured for the resource rows
               only (default: <repo>/target/x86_64-unknown-linux-musl/release/
               rnats-server, from scripts/build-static.sh; skipped if absent)

Scale and TLS scenarios (not in the default run; see scripts/bench/README.md):
subjects100k, subjects1m, conns10k, idle10k, churn (group `scale`) and
tls16, tls1k, tlsstorm, storm (group `tls`), each with metrics of its own in
a second table.

Example:
  python3 scripts/bench/bench.py                      # defaults, a few minutes
  python3 scripts/bench/bench.py --scenarios scale --no-resources
  python3 scripts/bench/bench.py --scenarios tls --no-resources
  python3 scripts/bench/bench.py --rounds 5 --msgs 4000000 --out bench.md
  python3 scripts/bench/bench.py --chain5 --scenarios pub,pubsub,fanout,queue,reqrep,routed,leafup,leafdown,wsfanout,jspub,jspull,scale,tls \
      --msgs 10000000 --out docs/benchmarks.md     # regenerates docs/benchmarks.md
  RNATS_BIN=/usr/sbin/nats-server python3 scripts/bench/bench.py   # Go vs Go
"""

import argparse
import datetime
import glob
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"

# Every process this script starts, by pid, so that it can be stopped on exit.
STARTED = {}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Process helpers


def stop_proc(p, grace=5.0):
    """Stops one process that this script started (by its pid)."""
    if p is None:
        return
    STARTED.pop(p.pid, None)
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    except ProcessLookupError:
        pass


def stop_all_started():
    for p in list(STARTED.values()):
        stop_proc(p, grace=2.0)


def on_signal(signum, _frame):
    stop_all_started()
    sys.exit(128 + signum)


def proc_cpu(pid):
    """utime+stime of a process in seconds (all threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def proc_cpu_fine(pid):
    """On-CPU time of a process in seconds with nanosecond resolution: the
    sum of its threads' /proc/PID/task/TID/schedstat (threads that already
    exited are not counted; see Window). None when unavailable."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return None
    return total / 1e9


def proc_rss_kib(pid, field="VmRSS:"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def free_ports(n):
    """Returns n distinct free TCP ports on the loopback address."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def system_cpu():
    """Machine-wide CPU seconds spent in user and kernel code of processes
    (user+nice+system from /proc/stat; interrupt time excluded)."""
    try:
        with open("/proc/stat") as f:
            v = f.readline().split()
    except OSError:
        return None
    return (int(v[1]) + int(v[2]) + int(v[3])) / CLK_TCK


def port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def version_of(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True,
                             text=True, timeout=5)
        text = (out.stdout + out.stderr).strip().splitlines()
        return text[0].strip() if text else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "model": model,
        "kernel": platform.release(),
    }


# ---------------------------------------------------------------------------
# Servers


class StartError(Exception):
    pass


class Server:
    def __init__(self, binary, logdir, tag, cluster_port=None, routes=None, extra=None):
        self.binary = binary
        self.extra = list(extra or [])
        self.logdir = logdir
        self.tag = tag
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.port = None
        self.proc = None
        self.logpath = None
        self.startup_s = None

    def args(self):
        a = [self.binary, "-a", HOST, "-p", str(self.port)]
        if self.cluster_port is not None:
            a += ["-cluster", f"nats://{HOST}:{self.cluster_port}"]
        if self.routes:
            a += ["-routes", ",".join(f"nats://{HOST}:{p}" for p in self.routes)]
        return a + self.extra

    def start(self, port, timeout=10.0):
        self.port = port
        self.logpath = os.path.join(self.logdir, f"{self.tag}-{port}.log")
        logf = open(self.logpath, "wb")
        t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)
        except OSError as e:
            raise StartError(f"cannot run {self.binary}: {e}")
        finally:
            logf.close()
        STARTED[self.proc.pid] = self.proc
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise StartError(f"exited with code {self.proc.returncode}: "
                                 f"{self.log_tail()}")
            if port_open(port):
                self.startup_s = time.perf_counter() - t0
                return self
            if time.perf_counter() > deadline:
                self.stop()
                raise StartError(f"port {port} not accepting after {timeout}s")
            time.sleep(0.0005)

    def log_tail(self, n=3):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def rss_kib(self):
        return proc_rss_kib(self.proc.pid)

    def stop(self):
        stop_proc(self.proc)


def start_servers(binary, logdir, tag, count, extra=None):
    """Starts `count` servers; with count > 1 they form a cluster where
    server i routes to server i-1 (a chain). `extra`: more arguments."""
    for attempt in range(3):
        ports = free_ports(2 * count)
        client_ports, cluster_ports = ports[:count], ports[count:]
        servers = []
        try:
            for i in range(count):
                s = Server(binary, logdir, f"{tag}{i}",
                           cluster_port=cluster_ports[i] if count > 1 else None,
                           routes=[cluster_ports[i - 1]] if i > 0 else None,
                           extra=extra)
                servers.append(s)
                s.start(client_ports[i])
            return servers
        except StartError as e:
            for s in servers:
                s.stop()
            # Retry only when a port may have been taken in between.
            if attempt == 2 or "in use" not in str(e).lower():
                raise
    raise StartError("unreachable")


# ---------------------------------------------------------------------------
# Load generator


def ensure_loadgen():
    if os.environ.get("LOADGEN_BIN"):
        return os.environ["LOADGEN_BIN"]
    path = os.path.join(HERE, "loadgen", "target", "release", "loadgen")
    # Always through cargo: a load generator left from older sources would
    # lack the newer scenarios (a no-op when it is up to date).
    log(f"building load generator ({path}) ...")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                    os.path.join(HERE, "loadgen", "Cargo.toml")],
                   check=True)
    return path


def parse_kv(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def run_loadgen(lg, args, timeout):
    """Runs the load generator once; returns (result dict, its CPU seconds)."""
    c0 = children_cpu()
    t0 = time.perf_counter()
    p = subprocess.Popen([lg] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED[p.pid] = p
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_proc(p)
        return {"ok": "0", "error": "loadgen_killed_after_timeout"}, None
    STARTED.pop(p.pid, None)
    lg_cpu = children_cpu() - c0
    wall = time.perf_counter() - t0
    lines = [l for l in out.splitlines() if l.startswith("scenario=")]
    if not lines:
        return {"ok": "0", "error": (err.strip() or f"exit {p.returncode}")[:200]}, lg_cpu
    res = parse_kv(lines[-1])
    res["wall_s"] = wall
    return res, lg_cpu


# ---------------------------------------------------------------------------
# Measurements


def start_leaf_pair(binary, logdir, tag):
    """A hub with a leaf port and a leaf server dialing it, both `binary`;
    returns [hub, leaf]."""
    for attempt in range(3):
        leaf_port = free_ports(1)[0]
        hub_conf = os.path.join(logdir, f"{tag}hub.conf")
        leaf_conf = os.path.join(logdir, f"{tag}leaf.conf")
        with open(hub_conf, "w") as f:
            f.write(f'server_name: hub\nleafnodes {{ listen: "{HOST}:{leaf_port}" }}\n')
        with open(leaf_conf, "w") as f:
            f.write(f'server_name: edge\nleafnodes {{ remotes: [ {{ url: "nats-leaf://{HOST}:{leaf_port}" }} ] }}\n')
        servers = []
        try:
            for name, conf in (("hub", hub_conf), ("leaf", leaf_conf)):
                s = Server(binary, logdir, f"{tag}{name}", extra=["-c", conf])
                servers.append(s)
                s.start(free_ports(1)[0])
            return servers
        except StartError as e:
            for s in servers:
                s.stop()
            if attempt == 2 or "in use" not in str(e).lower():
                raise
    raise StartError("unreachable")


def start_ws_server(binary, logdir, tag):
    """One server with a WebSocket listener (no TLS); returns (server, ws port)."""
    for attempt in range(3):
        ws_port = free_ports(1)[0]
        conf = os.path.join(logdir, f"{tag}ws.conf")
        with open(conf, "w") as f:
            f.write(f'websocket {{ listen: "{HOST}:{ws_port}", no_tls: true }}\n')
        s = Server(binary, logdir, f"{tag}ws", extra=["-c", conf])
        try:
            return s.start(free_ports(1)[0]), ws_port
        except StartError as e:
            s.stop()
            if attempt == 2 or "in use" not in str(e).lower():
                raise
    raise StartError("unreachable")


# Scenarios over a hub and its leaf: messages published on the first
# server listed and received on the second ("leafup": leaf to hub).
LEAF_SCENARIOS = {"leafup": (1, 0), "leafdown": (0, 1)}

# JetStream on a file stream in a fresh store directory: "jspub" publishes
# with a PubAck for each message; "jspull" fetches a stream filled before
# the timed run with a durable pull consumer, acking each message.
JS_SCENARIOS = ("jspub", "jspull")


def measure_scenario(kind, binary, scen, count, opts, lg, logdir):
    """One run of one scenario against a fresh server (or cluster)."""
    nservers = {"routed": 2, "chain5": 5, "leafup": 2, "leafdown": 2}.get(scen, 1)
    servers = []
    try:
        ws_port = None
        try:
            if scen in LEAF_SCENARIOS:
                servers = start_leaf_pair(binary, logdir, f"{kind}-{scen}-")
            elif scen == "wsfanout":
                server, ws_port = start_ws_server(binary, logdir, f"{kind}-{scen}-")
                servers = [server]
            elif scen in JS_SCENARIOS:
                store = tempfile.mkdtemp(prefix=f"{kind}-{scen}-", dir=logdir)
                servers = start_servers(binary, logdir, f"{kind}-{scen}-", 1, extra=["-js", "-sd", store])
            else:
                servers = start_servers(binary, logdir, f"{kind}-{scen}-", nservers)
        except StartError as e:
            return {"ok": False, "unavailable": nservers > 1,
                    "error": f"server start failed: {e}"}
        src, dst = LEAF_SCENARIOS.get(scen, (0, nservers - 1))
        lg_scen = "routed" if nservers > 1 else ("fanout" if scen == "wsfanout" else scen)
        args = [lg_scen, "--host", HOST, "--port", str(servers[src].port),
                "--msgs", str(count), "--size", str(opts.size),
                "--timeout", str(opts.timeout)]
        if ws_port is not None:
            # Five subscribers over WebSocket, the publisher over TCP.
            args += ["--ws-port", str(ws_port)]
        if scen == "reqrep" and opts.reqrep_spin:
            args += ["--spin", "1"]
        if nservers > 1:
            args += ["--port2", str(servers[dst].port)]
            # Quick check that the cluster (or leaf link) forms at all
            # before the real run.
            wait = opts.route_wait * (nservers - 1)
            pre_args = ["routed", "--host", HOST, "--port", str(servers[src].port),
                        "--port2", str(servers[dst].port), "--msgs", "1",
                        "--timeout", str(wait)]
            pre, _ = run_loadgen(lg, pre_args, wait + 15)
            if pre.get("ok") != "1":
                return {"ok": False, "unavailable": True,
                        "error": "cluster not formed: " + pre.get("error", "?")}
        if scen == "jspull":
            fill, _ = run_loadgen(lg, ["jsfill", "--host", HOST, "--port", str(servers[0].port),
                                       "--msgs", str(count), "--size", str(opts.size),
                                       "--timeout", str(opts.timeout)], opts.timeout + 30)
            if fill.get("ok") != "1":
                return {"ok": False, "unavailable": False, "error": "filling the stream: " + fill.get("error", "?")}
        # A process timed in its first few hundred milliseconds is placed
        # differently by the scheduler (a one-in-flight reqrep then costs
        # ours ~40% more and Go ~15% less than later on): every server, of
        # both kinds, idles --warm seconds before the timed run.
        time.sleep(opts.warm)
        cpu0 = sum((s.cpu() or 0.0) for s in servers)
        sys0 = system_cpu()
        res, lg_cpu = run_loadgen(lg, args, opts.timeout + 30)
        sys1 = system_cpu()
        cpu1 = sum((s.cpu() or 0.0) for s in servers)
        dead = [s.tag for s in servers if not s.alive()]
        if res.get("ok") != "1" or dead:
            err = res.get("error", "")
            if dead:
                err += f" server died: {servers[0].log_tail()}"
            return {"ok": False, "unavailable": False, "error": err}
        published = int(res["published"])
        delivered = int(res["delivered"])
        elapsed = float(res["elapsed_s"])
        denom = published if scen in ("pub", "jspub") else delivered
        srv_cpu = cpu1 - cpu0
        r = {
            "ok": True,
            "elapsed_s": elapsed,
            "published": published,
            "delivered": delivered,
            "rate": denom / elapsed,
            "srv_cpu_s": srv_cpu,
            "srv_us_per_msg": srv_cpu / max(denom, 1) * 1e6,
            "lg_cpu_s": lg_cpu,
            "lg_us_per_msg": (lg_cpu or 0.0) / max(denom, 1) * 1e6,
            "srv_cores": srv_cpu / elapsed,
            "lg_cores": (lg_cpu or 0.0) / elapsed,
            "lg_share": (lg_cpu or 0.0) / max((lg_cpu or 0.0) + srv_cpu, 1e-9),
        }
        if sys0 is not None and sys1 is not None and lg_cpu is not None:
            # CPU used by other processes on the machine during the run: a
            # measure of background noise (1.0 = one core busy elsewhere).
            r["other_cores"] = max(0.0, (sys1 - sys0) - srv_cpu - lg_cpu) / res["wall_s"]
        for k in ("p50_us", "p90_us", "p99_us", "mean_us"):
            if k in res:
                r[k] = float(res[k])
        return r
    finally:
        for s in servers:
            s.stop()


def wait_quiet(limit, max_wait, sample=0.25):
    """Waits (at most max_wait seconds) until other processes use no more
    than `limit` cores; returns the last load seen."""
    deadline = time.monotonic() + max_wait
    while True:
        a = system_cpu()
        time.sleep(sample)
        b = system_cpu()
        load = (b - a) / sample if a is not None and b is not None else 0.0
        if load <= limit or time.monotonic() >= deadline:
            return load
        time.sleep(0.5)


def measure_noise_checked(kind, binary, scen, count, opts, lg, logdir, rnd):
    """measure_scenario, repeated (a bounded number of times) while other
    processes on the machine used more CPU than --noise-limit during the
    run; keeps the quietest run."""
    best = None
    for attempt in range(1 + max(0, opts.retries)):
        wait_quiet(opts.noise_limit, opts.quiet_wait)
        r = measure_scenario(kind, binary, scen, count, opts, lg, logdir)
        r["attempts"] = attempt + 1
        if not r.get("ok"):
            return r if best is None else best
        if best is None or r.get("other_cores", 0.0) < best.get("other_cores", 0.0):
            best = r
            best["attempts"] = attempt + 1
        if r.get("other_cores", 0.0) <= opts.noise_limit:
            break
        log(f"[round {rnd}] {scen:7s} {kind:4s} noisy run (other processes used "
            f"{r['other_cores']:.2f} cores), "
            + ("repeating" if attempt < opts.retries else "keeping the quietest"))
    best["noisy"] = best.get("other_cores", 0.0) > opts.noise_limit
    return best


def client_info_ports(port, timeout=0.5):
    """Client ports listed in the connect_urls of a server's INFO."""
    with socket.create_connection((HOST, port), timeout=timeout) as c:
        line = b""
        while not line.endswith(b"\r\n") and len(line) < 65536:
            chunk = c.recv(4096)
            if not chunk:
                break
            line += chunk
    info = json.loads(line[5:].strip() or b"{}")
    return {int(u.rsplit(":", 1)[1]) for u in info.get("connect_urls", [])}


def measure_mesh5(binary, logdir, tag, timeout=20.0):
    """Seconds from starting the first of five chained servers (each routes
    to the previous one) until every server advertises all five client
    URLs, i.e. the full mesh has formed. None if it did not within timeout."""
    t0 = time.perf_counter()
    try:
        servers = start_servers(binary, logdir, tag, 5)
    except StartError:
        return None
    try:
        want = {s.port for s in servers}
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            try:
                if all(want <= client_info_ports(s.port) for s in servers):
                    return time.perf_counter() - t0
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        return None
    finally:
        for s in servers:
            s.stop()


def measure_resources(kind, binary, opts, lg, logdir):
    """Startup times, idle RSS, RSS per idle connection and the time a
    five-server chain takes to become a full mesh."""
    out = {"startup_s": [], "ok": True}
    out["mesh5_s"] = measure_mesh5(binary, logdir, f"{kind}-mesh-")
    for i in range(opts.startup_samples):
        try:
            [s] = start_servers(binary, logdir, f"{kind}-start-", 1)
        except StartError as e:
            return {"ok": False, "error": f"server start failed: {e}"}
        try:
            out["startup_s"].append(s.startup_s)
            if i > 0:
                continue
            time.sleep(opts.settle)
            out["rss_idle_kib"] = s.rss_kib()
            n = opts.idle_conns
            if n <= 0:
                continue
            p = subprocess.Popen(
                [lg, "idle", "--host", HOST, "--port", str(s.port),
                 "--conns", str(n), "--hold", str(opts.timeout),
                 "--timeout", str(opts.timeout)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            STARTED[p.pid] = p
            try:
                line = read_line_with_timeout(p, opts.timeout + 5)
                kv = parse_kv(line or "")
                if kv.get("scenario") != "idle_ready":
                    rest = ""
                    try:
                        rest, errtxt = p.communicate(timeout=5)
                        rest = (rest + errtxt).strip()
                    except subprocess.TimeoutExpired:
                        pass
                    out["idle_error"] = (line or rest or "no output")[:200]
                else:
                    time.sleep(opts.settle)
                    rss = s.rss_kib()
                    out["rss_conns_kib"] = rss
                    out["rss_per_conn_kib"] = (rss - out["rss_idle_kib"]) / n
                    out["idle_connect_s"] = float(kv.get("connect_s", "nan"))
                    try:
                        p.stdin.write("done\n")
                        p.stdin.flush()
                    except OSError:
                        pass
                    try:
                        p.communicate(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                stop_proc(p)
        finally:
            s.stop()
    # The times above include Python's own process spawning; the load
    # generator spawns the server directly and polls its port every 50 µs.
    port = free_ports(1)[0]
    try:
        res = subprocess.run([lg, "startup", "--bin", binary, "--host", HOST, "--port", str(port),
                              "--msgs", str(max(1, opts.startup_samples * 4)), "--timeout", "10"],
                             capture_output=True, text=True, timeout=120)
        kv = parse_kv(res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "")
        if kv.get("ok") == "1":
            out["startup_s"] = [float(kv["startup_ms_median"]) / 1000.0]
    except (subprocess.TimeoutExpired, OSError, KeyError, ValueError):
        pass
    return out


def read_line_with_timeout(p, timeout):
    """Reads one stdout line of a child, giving up after `timeout` seconds."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        if sel.select(timeout):
            return p.stdout.readline()
        return None
    finally:
        sel.close()


# ---------------------------------------------------------------------------
# Scale and TLS scenarios (selected with --scenarios; not in the default run)
#
# Each runs against a fresh server per kind and reports a few metrics of its
# own (see NEW_SCENARIOS). The measured phases are bounded in time
# (--scale-duration seconds of publishing), not in message count.


class PhaseError(Exception):
    pass


class Phased:
    """A load generator run with `--pause 1`: it stops at each phase line
    until told to go on, so server CPU and RSS can be read in between."""

    def __init__(self, lg, args, logdir):
        errf = open(os.path.join(logdir, "loadgen-stderr.log"), "ab")
        try:
            self.p = subprocess.Popen([lg] + args + ["--pause", "1"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=errf, text=True)
        finally:
            errf.close()
        STARTED[self.p.pid] = self.p

    def phase(self, name, timeout):
        line = read_line_with_timeout(self.p, timeout)
        kv = parse_kv(line or "")
        if kv.get("scenario") != "phase" or kv.get("phase") != name:
            why = kv.get("error") or (line or "").strip() or f"nothing within {timeout:.0f} s"
            raise PhaseError(f"loadgen, waiting for phase {name}: {why[:200]}")
        return kv

    def go(self):
        try:
            self.p.stdin.write("go\n")
            self.p.stdin.flush()
        except OSError:
            pass

    def cpu(self):
        return proc_cpu(self.p.pid) or 0.0

    def finish(self, timeout):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_proc(self.p)
            raise PhaseError("loadgen killed after timeout")
        STARTED.pop(self.p.pid, None)
        lines = [l for l in out.splitlines() if l.startswith("scenario=")]
        res = parse_kv(lines[-1]) if lines else {"error": f"exit {self.p.returncode}"}
        if res.get("ok") != "1":
            raise PhaseError("loadgen: " + res.get("error", "?")[:200])
        return res

    def stop(self):
        stop_proc(self.p)


class Window:
    """Server CPU and the machine's other load over one measured phase.
    Server CPU comes from the threads' schedstat (ns resolution) unless that
    falls short of utime+stime (10 ms ticks) by more than two ticks, which
    would mean a thread exited during the phase."""

    def __init__(self, servers):
        self.servers = servers
        self.cpu0 = sum((s.cpu() or 0.0) for s in servers)
        fine = [proc_cpu_fine(s.proc.pid) for s in servers]
        self.fine0 = None if None in fine else sum(fine)
        self.sys0 = system_cpu()
        self.t0 = time.perf_counter()

    def close(self, lg_cpu):
        cpu1 = sum((s.cpu() or 0.0) for s in self.servers)
        fine = [proc_cpu_fine(s.proc.pid) for s in self.servers]
        sys1 = system_cpu()
        wall = time.perf_counter() - self.t0
        srv = cpu1 - self.cpu0
        if self.fine0 is not None and None not in fine:
            fine_srv = sum(fine) - self.fine0
            if fine_srv >= srv - 2.0 / CLK_TCK:
                srv = fine_srv
        other = None
        if self.sys0 is not None and sys1 is not None and lg_cpu is not None:
            other = max(0.0, (sys1 - self.sys0) - srv - lg_cpu) / max(wall, 1e-9)
        return srv, other


def make_certs(d):
    """A throwaway CA and a server certificate for 127.0.0.1 (P-256)."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True,
                       timeout=60)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench-ca")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=bench-server")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return {k: os.path.join(d, k + ".pem") for k in ("ca", "server", "server-key")}


def tls_server_args(ctx):
    c = ctx["certs"]
    return ["--tls", "--tlscert", c["server"], "--tlskey", c["server-key"]]


def lg_base(port, opts):
    return ["--host", HOST, "--port", str(port), "--timeout", str(opts.timeout)]


def server_dead(servers):
    dead = [s for s in servers if not s.alive()]
    if dead:
        s = dead[0]
        return (f"server died (exit {s.proc.returncode}): {s.log_tail()} "
                f"[cmd: {' '.join(s.args())}]")
    return None


def run_pair(lg, port, opts, ctx, servers, size=None, extra=()):
    """One timed 1 to 1 pub/sub run (`loadgen pair`); server CPU around it."""
    args = ["pair"] + lg_base(port, opts) + [
        "--size", str(opts.size if size is None else size),
        "--duration", str(opts.scale_duration)] + list(extra)
    w = Window(servers)
    res, lg_cpu = run_loadgen(lg, args, opts.timeout + 30)
    srv, other = w.close(lg_cpu)
    if res.get("ok") != "1":
        raise PhaseError("loadgen: " + res.get("error", "?"))
    d = int(res["delivered"])
    el = float(res["elapsed_s"])
    return {"rate": d / el, "srv_us_per_msg": srv / max(d, 1) * 1e6, "srv_cores": srv / el,
            "lg_cores": (lg_cpu or 0.0) / el, "other_cores": other, "delivered": d,
            "srv_cpu_s": srv}


def scen_subjects(n):
    def run(ctx, servers, lg, opts):
        [s] = servers
        ph = Phased(lg, ["subjects"] + lg_base(s.port, opts) + [
            "--subjects", str(n), "--wildcards", "1000", "--size", "8",
            "--duration", str(opts.scale_duration)], ctx["logdir"])
        try:
            ph.phase("connected", 30)
            time.sleep(opts.settle)
            rss0, c0 = s.rss_kib(), s.cpu()
            ph.go()
            kv = ph.phase("subscribed", opts.timeout)
            time.sleep(opts.settle)
            rss1, c1 = s.rss_kib(), s.cpu()
            w = Window([s])
            ph.go()
            res = ph.finish(opts.timeout + 30)
        finally:
            ph.stop()
        lg_cpu = float(res.get("lg_cpu_s", 0))
        srv, other = w.close(lg_cpu)
        d, el = int(res["delivered"]), float(res["elapsed_s"])
        nsubs = n + 1000
        return {"rate": d / el, "srv_us_per_msg": srv / max(d, 1) * 1e6,
                "rss_per_sub_b": (rss1 - rss0) * 1024.0 / nsubs,
                "sub_us": (c1 - c0) / nsubs * 1e6,
                "subscribe_s": float(kv.get("subscribe_s", "nan")),
                "rss_mib": rss1 / 1024.0, "srv_cores": srv / el, "lg_cores": lg_cpu / el,
                "other_cores": other}
    return run


def scen_conns(n):
    def run(ctx, servers, lg, opts):
        [s] = servers
        ph = Phased(lg, ["conns"] + lg_base(s.port, opts) + [
            "--conns", str(n), "--size", str(opts.size),
            "--duration", str(opts.scale_duration)], ctx["logdir"])
        try:
            kv = ph.phase("subscribed", opts.timeout)
            time.sleep(opts.settle)
            rss = s.rss_kib()
            w = Window([s])
            ph.go()
            res = ph.finish(opts.timeout + 30)
        finally:
            ph.stop()
        lg_cpu = float(res.get("lg_cpu_s", 0))
        srv, other = w.close(lg_cpu)
        d, el = int(res["delivered"]), float(res["elapsed_s"])
        return {"rate": d / el, "srv_us_per_msg": srv / max(d, 1) * 1e6,
                "connect_s": float(kv.get("connect_s", "nan")), "rss_mib": rss / 1024.0,
                "srv_cores": srv / el, "lg_cores": lg_cpu / el, "other_cores": other}
    return run


def scen_idle(n):
    def run(ctx, servers, lg, opts):
        [s] = servers
        # Warm-up, so the first measured run pays no first-use costs.
        res, _ = run_loadgen(lg, ["pubsub"] + lg_base(s.port, opts) + [
            "--msgs", "200000", "--size", str(opts.size)], opts.timeout + 30)
        if res.get("ok") != "1":
            raise PhaseError("warm-up: " + res.get("error", "?"))
        without = run_pair(lg, s.port, opts, ctx, servers)
        p = subprocess.Popen([lg, "idle"] + lg_base(s.port, opts) + [
            "--conns", str(n), "--hold", str(opts.timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        STARTED[p.pid] = p
        try:
            line = read_line_with_timeout(p, opts.timeout + 5)
            kv = parse_kv(line or "")
            if kv.get("scenario") != "idle_ready":
                raise PhaseError("idle connections: " + (kv.get("error") or line or "no output"))
            time.sleep(opts.settle)
            with_ = run_pair(lg, s.port, opts, ctx, servers)
            rss_idle = s.rss_kib()
            try:
                p.stdin.write("done\n")
                p.stdin.flush()
                p.communicate(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        finally:
            stop_proc(p)
        # The same pair once more after the idle clients left: a control for
        # drift over the server's life (its mean with the first run is the
        # "without" figure).
        time.sleep(1.0)
        after = run_pair(lg, s.port, opts, ctx, servers)
        base = (without["srv_us_per_msg"] + after["srv_us_per_msg"]) / 2
        return {"srv_us_per_msg": base,
                "srv_us_per_msg_before": without["srv_us_per_msg"],
                "srv_us_per_msg_after": after["srv_us_per_msg"],
                "srv_us_per_msg_idle": with_["srv_us_per_msg"],
                "idle_factor": with_["srv_us_per_msg"] / base,
                "rate": (without["rate"] + after["rate"]) / 2, "rate_idle": with_["rate"],
                "connect_s": float(kv.get("connect_s", "nan")),
                "rss_idle_mib": (rss_idle or 0) / 1024.0,
                "other_cores": max(x["other_cores"] or 0.0 for x in (without, with_, after))}
    return run


def measure_churn(ctx, servers, lg, opts):
    [s] = servers
    base = run_pair(lg, s.port, opts, ctx, servers)
    args = ["churn"] + lg_base(s.port, opts) + [
        "--size", str(opts.size), "--duration", str(opts.scale_duration),
        "--rate", str(opts.churn_rate), "--live", "1000"]
    w = Window(servers)
    res, lg_cpu = run_loadgen(lg, args, opts.timeout + 30)
    srv, other = w.close(lg_cpu)
    if res.get("ok") != "1":
        raise PhaseError("loadgen: " + res.get("error", "?"))
    d, el = int(res["delivered"]), float(res["elapsed_s"])
    subs = int(res.get("churn_subs", 0))
    per_msg = srv / max(d, 1) * 1e6
    # Server CPU beyond what the same messages cost without churn, per
    # subscription made and removed again.
    extra = srv - d * base["srv_us_per_msg"] / 1e6
    return {"srv_us_per_msg_base": base["srv_us_per_msg"], "srv_us_per_msg": per_msg,
            "churn_factor": per_msg / base["srv_us_per_msg"],
            "rate_base": base["rate"], "rate": d / el,
            "churn_per_s": float(res.get("churn_per_s", 0)),
            "churn_us": extra / max(subs, 1) * 1e6 if subs else None,
            "rss_mib": (s.rss_kib() or 0) / 1024.0,
            "other_cores": max(base["other_cores"] or 0.0, other or 0.0)}


def scen_pair(size, tls):
    def run(ctx, servers, lg, opts):
        [s] = servers
        return run_pair(lg, s.port, opts, ctx, servers, size=size,
                        extra=["--tls-ca", ctx["certs"]["ca"]] if tls else [])
    return run


def scen_storm(n, tls):
    def run(ctx, servers, lg, opts):
        [s] = servers
        time.sleep(opts.settle)
        rss0 = s.rss_kib()
        args = ["storm"] + lg_base(s.port, opts) + ["--conns", str(n), "--threads",
                                                    str(opts.storm_threads)]
        if tls:
            args += ["--tls-ca", ctx["certs"]["ca"]]
        w = Window([s])
        ph = Phased(lg, args, ctx["logdir"])
        try:
            kv = ph.phase("connected", opts.timeout)
            lg_cpu = ph.cpu()
            srv, other = w.close(lg_cpu)
            time.sleep(opts.settle)
            rss1 = s.rss_kib()
            ph.go()
            ph.finish(60)
        finally:
            ph.stop()
        return {"connect_s": float(kv["connect_s"]), "srv_cpu_ms": srv * 1000.0,
                "srv_us_per_conn": srv / n * 1e6, "lg_cpu_ms": lg_cpu * 1000.0,
                "rss_per_conn_kib": (rss1 - rss0) / n, "other_cores": other}
    return run


def create_streams(port, n, timeout):
    """Creates file streams M0..M<n-1> over one connection, pipelined;
    returns once every answer arrived (each must be a success)."""
    s = socket.create_connection((HOST, port), timeout)
    try:
        s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.jsmem 1\r\n')
        out = []
        for i in range(n):
            body = json.dumps({"name": f"M{i}", "subjects": [f"m{i}.>"], "storage": "file"}).encode()
            out.append(b"PUB $JS.API.STREAM.CREATE.M%d _INBOX.jsmem %d\r\n%s\r\n" % (i, len(body), body))
        s.sendall(b"".join(out))
        buf = b""
        while buf.count(b"stream_create_response") < n:
            chunk = s.recv(1 << 16)
            if not chunk:
                raise ValueError("connection closed while creating streams")
            buf += chunk
        if b'"error"' in buf:
            raise ValueError("a stream create request failed")
    finally:
        s.close()


def scen_jsmem(msgs, streams):
    def run(ctx, servers, lg, opts):
        [s] = servers
        pid = s.proc.pid
        time.sleep(opts.settle)
        anon0 = proc_rss_kib(pid, "RssAnon:")
        w = Window([s])
        fill, lg_cpu = run_loadgen(lg, ["jsfill", "--host", HOST, "--port", str(s.port),
                                        "--msgs", str(msgs), "--size", "16",
                                        "--timeout", str(opts.timeout)], opts.timeout + 30)
        if fill.get("ok") != "1":
            raise ValueError("filling the stream: " + fill.get("error", "?"))
        time.sleep(opts.settle)
        anon1 = proc_rss_kib(pid, "RssAnon:")
        create_streams(s.port, streams, opts.timeout)
        time.sleep(opts.settle)
        anon2 = proc_rss_kib(pid, "RssAnon:")
        _, other = w.close(lg_cpu)
        return {"idle_anon_kib": anon0, "per_msg_b": (anon1 - anon0) * 1024 / msgs,
                "per_stream_kib": (anon2 - anon1) / streams, "other_cores": other}
    return run


# name -> (description, runner, server: False (plain), True (TLS) or "js"
# (JetStream on a fresh store directory), [(key, label, digits), ...])
NEW_SCENARIOS = {
    "subjects100k": (
        "1 subscriber on 100 000 literal subjects `telemetry.dev<i>.temp` + 1 000 "
        "wildcards `cmd.<i>.*`; 8 B messages to random subjects among the literals",
        scen_subjects(100_000), False,
        [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0),
         ("rss_per_sub_b", "RSS growth per subscription (B)", 0),
         ("sub_us", "server CPU µs per SUB", 2), ("subscribe_s", "time to subscribe all (s)", 2)]),
    "subjects1m": (
        "as above with 1 000 000 literal subjects",
        scen_subjects(1_000_000), False,
        [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0),
         ("rss_per_sub_b", "RSS growth per subscription (B)", 0),
         ("sub_us", "server CPU µs per SUB", 2), ("subscribe_s", "time to subscribe all (s)", 2)]),
    "conns10k": (
        "10 000 connections, each subscribed to its own subject; one publisher "
        "addresses them in turn (16 B)",
        scen_conns(10_000), False,
        [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0),
         ("connect_s", "connect + SUB 10 000 clients, one by one (s)", 2),
         ("rss_mib", "RSS with 10 000 subscribed clients (MiB)", 1)]),
    "idle10k": (
        "a busy 1→1 pair (16 B) on one server: before 10 000 idle connections "
        "come, while they are connected, after they closed",
        scen_idle(10_000), False,
        [("srv_us_per_msg_before", "busy pair server CPU µs/msg, before the idle conns", 3),
         ("srv_us_per_msg_idle", "busy pair server CPU µs/msg, with 10 000 idle conns", 3),
         ("srv_us_per_msg_after", "busy pair server CPU µs/msg, after they closed", 3),
         ("idle_factor", "with idle / mean of before and after", 2),
         ("rate", "busy pair msgs/s, no idle conns", 0),
         ("rate_idle", "busy pair msgs/s, 10 000 idle conns", 0)]),
    "churn": (
        "a 1→1 pair (16 B) while a third connection SUBs and UNSUBs `lg.churn.<n>` "
        "(target 100 000/s each, 1 000 alive), after the same pair without churn",
        measure_churn, False,
        [("srv_us_per_msg_base", "server CPU µs/msg, no churn", 3),
         ("srv_us_per_msg", "server CPU µs/msg, with churn (incl. churn work)", 3),
         ("churn_factor", "with churn / without", 2),
         ("rate", "msgs/s with churn", 0),
         ("churn_per_s", "SUB+UNSUB pairs per second achieved", 0),
         ("churn_us", "server CPU µs per SUB+UNSUB beyond the messages' cost", 2)]),
    "tls16": ("1→1 pub/sub over TLS, 16 B payload", scen_pair(16, True), True,
              [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0)]),
    "tls1k": ("1→1 pub/sub over TLS, 1 KiB payload", scen_pair(1024, True), True,
              [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0)]),
    "plain16": ("the same 1→1 timed pair without TLS, 16 B (reference for tls16)",
                scen_pair(16, False), False,
                [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0)]),
    "plain1k": ("the same 1→1 timed pair without TLS, 1 KiB (reference for tls1k)",
                scen_pair(1024, False), False,
                [("srv_us_per_msg", "server CPU µs/msg", 3), ("rate", "msgs/s", 0)]),
    "tlsstorm": (
        "1 000 TLS clients connect at once (4 client threads, full handshakes, no "
        "resumption; TLS 1.3, P-256 certificate) until each got its PONG",
        scen_storm(1000, True), True,
        [("connect_s", "time until all connected (s)", 3),
         ("srv_cpu_ms", "server CPU until then (ms)", 0),
         ("rss_per_conn_kib", "RSS per TLS connection (KiB)", 1)]),
    "storm": (
        "the same storm without TLS (for reference)",
        scen_storm(1000, False), False,
        [("connect_s", "time until all connected (s)", 3),
         ("srv_cpu_ms", "server CPU until then (ms)", 0),
         ("rss_per_conn_kib", "RSS per connection (KiB)", 1)]),
    "jsmem": (
        "JetStream's anonymous memory (RssAnon): idle with JetStream on, growth per "
        "message after 200 000 16 B messages in one file stream (`loadgen jsfill`), "
        "growth per stream after 500 more file streams",
        scen_jsmem(200_000, 500), "js",
        [("idle_anon_kib", "anonymous memory idle, JetStream on (KiB)", 0),
         ("per_msg_b", "per stored message (B)", 0),
         ("per_stream_kib", "per stream (KiB)", 1)]),
}
SCENARIO_GROUPS = {
    "scale": ["subjects100k", "subjects1m", "conns10k", "idle10k", "churn"],
    "tls": ["tls16", "plain16", "tls1k", "plain1k", "tlsstorm", "storm"],
}


def measure_new(kind, binary, scen, opts, lg, ctx):
    """One run of a scale/TLS scenario against a fresh server."""
    _, runner, server, _ = NEW_SCENARIOS[scen]
    if server is True and ctx.get("certs") is None:
        return {"ok": False, "error": ctx.get("certs_error", "no certificates")}
    extra = None
    if server is True:
        extra = tls_server_args(ctx)
    elif server == "js":
        extra = ["-js", "-sd", tempfile.mkdtemp(prefix=f"{kind}-{scen}-", dir=ctx["logdir"])]
    try:
        servers = start_servers(binary, ctx["logdir"], f"{kind}-{scen}-", 1, extra=extra)
    except StartError as e:
        return {"ok": False, "error": f"server start failed: {e}"}
    try:
        try:
            r = runner(ctx, servers, lg, opts)
        except (PhaseError, KeyError, ValueError, ZeroDivisionError) as e:
            dead = server_dead(servers)
            return {"ok": False, "error": (dead + " / " if dead else "") + str(e)}
        dead = server_dead(servers)
        if dead:
            return {"ok": False, "error": dead}
        r["ok"] = True
        return r
    finally:
        for s in servers:
            s.stop()


def measure_new_checked(kind, binary, scen, opts, lg, ctx, rnd):
    """measure_new, repeated while the machine was busy (as for the classic
    scenarios); keeps the quietest run."""
    best = None
    for attempt in range(1 + max(0, opts.retries)):
        wait_quiet(opts.noise_limit, opts.quiet_wait)
        r = measure_new(kind, binary, scen, opts, lg, ctx)
        if not r.get("ok"):
            return r if best is None else best
        if best is None or (r.get("other_cores") or 0.0) < (best.get("other_cores") or 0.0):
            best = r
        if (r.get("other_cores") or 0.0) <= opts.noise_limit:
            break
        log(f"[round {rnd}] {scen} {kind} noisy run (other processes used "
            f"{r['other_cores']:.2f} cores), "
            + ("repeating" if attempt < opts.retries else "keeping the quietest"))
    best["noisy"] = (best.get("other_cores") or 0.0) > opts.noise_limit
    return best


def render_new(results, scenarios, meta):
    L = ["", "| scenario | metric | ours | Go | ratio |", "|---|---|--:|--:|--:|"]
    for scen in scenarios:
        _, _, _, metrics = NEW_SCENARIOS[scen]
        o, g = results[scen]["ours"], results[scen]["go"]
        first = True
        for key, label, digits in metrics:
            cells = []
            for x in (o, g):
                st = x.get("status", "")
                cells.append(fmt_num(x.get(key), digits) if st == "ok" or x.get(key) is not None
                             else st.split(":")[0])
            L.append(f"| {scen if first else ''} | {label} | {cells[0]} | {cells[1]} | "
                     f"{fmt_ratio(o.get(key), g.get(key))} |")
            first = False
        L.append(f"| | other load (cores) | {fmt_num(o.get('other_cores'), 2)} | "
                 f"{fmt_num(g.get('other_cores'), 2)} | |")
    L.append("")
    for scen in scenarios:
        L.append(f"- {scen}: {NEW_SCENARIOS[scen][0]}")
    L.append(f"- {plural(meta['rounds'], 'round')} in alternating pairs (ours, Go), fresh server per "
             f"run, medians; timed phases publish for {meta['scale_duration']} s; RSS growth "
             "per subscription = RSS after the PONG that follows the last SUB minus RSS "
             "before the first SUB, divided by the subscriptions")
    return L


# ---------------------------------------------------------------------------
# Reporting


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def fmt_num(x, digits=0):
    if x is None:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def summarize(runs):
    """Medians of the successful runs, or the reason nothing succeeded."""
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        if not runs:
            return {"status": "not run"}
        r = runs[-1]
        what = "unavailable" if r.get("unavailable") else "failed"
        return {"status": f"{what}: {r.get('error', '?')}"}
    keys = set().union(*(r.keys() for r in ok)) - {"ok"}
    s = {k: med([r.get(k) for r in ok]) for k in keys}
    s["status"] = "ok" if len(ok) == len(runs) else f"{len(runs) - len(ok)} of {len(runs)} runs failed"
    s["n"] = len(ok)
    return s


def render(meta, results, resources, scen_counts, title=None):
    L = []
    L.append(title or f"## rnats-server vs Go nats-server, {meta['date']}")
    L.append("")
    if title is None:  # the --out document lists machine and binaries in its header
        m = meta["machine"]
        L.append(f"- machine: {m['nproc']} CPUs, {m['model']}, Linux {m['kernel']}")
        L.append(f"- ours: `{meta['ours_bin']}` ({meta['ours_version']})")
        L.append(f"- Go: `{meta['go_bin']}` ({meta['go_version']})")
        if meta.get("static_bin"):
            L.append(f"- static musl build (resource rows only): `{meta['static_bin']}`")
    L.append("- startup: spawn to client port accepting, spawned by the load generator, "
             "median")
    L.append(f"- {plural(meta['rounds'], 'round')} in alternating pairs (ours, Go), fresh server for "
             f"every run, idle {meta.get('warm', 0)} s before it is timed, 127.0.0.1; "
             f"payload {meta['size']} B; medians over rounds; "
             f"a run during which other processes used > {meta['noise_limit']} cores "
             f"is repeated up to {plural(meta['retries'], 'time')}")
    L.append("- CPU/msg: server utime+stime per delivered message (per published "
             "message for `pub` and `jspub`, per request for `reqrep`; summed over all "
             "servers for `routed`/`chain5`/`leafup`/`leafdown`; `jspub`: each message "
             "stored in a file stream and acknowledged, `jspull`: fetched by a pull "
             "consumer and acked)")
    L.append("- lg share: load generator CPU / (load generator + server CPU); cores: "
             "CPU seconds / wall seconds; other load: cores used by unrelated "
             "processes during the runs (noise indicator, should be ~0)")
    L.append("")
    if scen_counts:
        L.append("| scenario | msgs | ours msgs/s | Go msgs/s | ratio | ours CPU µs/msg | "
                 "Go CPU µs/msg | ratio | ours srv/lg cores | Go srv/lg cores | "
                 "lg share ours / Go | other load ours / Go |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for scen, count in scen_counts:
        o = results[scen]["ours"]
        g = results[scen]["go"]
        if o.get("status", "").startswith(("unavailable", "failed", "not run")):
            o_rate, o_cpu, o_cores, o_share = o["status"].split(":")[0], "n/a", "n/a", "n/a"
        else:
            o_rate = fmt_num(o.get("rate"))
            o_cpu = fmt_num(o.get("srv_us_per_msg"), 3)
            o_cores = f"{fmt_num(o.get('srv_cores'), 2)} / {fmt_num(o.get('lg_cores'), 2)}"
            o_share = o.get("lg_share")
        if g.get("status", "").startswith(("unavailable", "failed", "not run")):
            g_rate, g_cpu, g_cores, g_share = g["status"].split(":")[0], "n/a", "n/a", "n/a"
        else:
            g_rate = fmt_num(g.get("rate"))
            g_cpu = fmt_num(g.get("srv_us_per_msg"), 3)
            g_cores = f"{fmt_num(g.get('srv_cores'), 2)} / {fmt_num(g.get('lg_cores'), 2)}"
            g_share = g.get("lg_share")
        share = " / ".join(f"{x * 100:.0f}%" if isinstance(x, float) else "n/a"
                           for x in (o_share, g_share))
        other = " / ".join(fmt_num(x.get("other_cores"), 2) for x in (o, g))
        L.append(f"| {scen} | {count:,} | {o_rate} | {g_rate} | "
                 f"{fmt_ratio(o.get('rate'), g.get('rate'))} | {o_cpu} | {g_cpu} | "
                 f"{fmt_ratio(o.get('srv_us_per_msg'), g.get('srv_us_per_msg'))} | "
                 f"{o_cores} | {g_cores} | {share} | {other} |")
    if "reqrep" in results:
        o, g = results["reqrep"]["ours"], results["reqrep"]["go"]
        L.append("")
        L.append("| reqrep latency | ours | Go | ratio |")
        L.append("|---|--:|--:|--:|")
        for k in ("p50_us", "p90_us", "p99_us"):
            L.append(f"| {k[:-3]} (µs) | {fmt_num(o.get(k), 1)} | {fmt_num(g.get(k), 1)} | "
                     f"{fmt_ratio(o.get(k), g.get(k))} |")
    o, g = resources["ours"], resources["go"]
    if o.get("status") != "skipped":
        L.append("")
        L.append("| resources | ours | Go | ratio |")
        L.append("|---|--:|--:|--:|")

        def mib(x):
            return None if x is None else x / 1024.0

        def ms(x):
            return None if x is None else x * 1000.0

        rows = [
            ("RSS idle (MiB)", mib(o.get("rss_idle_kib")), mib(g.get("rss_idle_kib")), 2),
            (f"RSS with {meta['idle_conns']} idle conns (MiB)",
             mib(o.get("rss_conns_kib")), mib(g.get("rss_conns_kib")), 1),
            ("RSS per idle conn (KiB)", o.get("rss_per_conn_kib"),
             g.get("rss_per_conn_kib"), 2),
            ("startup to accepting (ms)", ms(o.get("startup_s")), ms(g.get("startup_s")), 2),
            (f"connect {meta['idle_conns']} clients (ms)", ms(o.get("idle_connect_s")),
             ms(g.get("idle_connect_s")), 0),
            ("5-server chain to full mesh (ms)", ms(o.get("mesh5_s")), ms(g.get("mesh5_s")), 0),
        ]
        st = resources.get("static")
        if st and st.get("status") == "ok":
            rows[1:1] = [("RSS idle, static musl build (MiB)", mib(st.get("rss_idle_kib")),
                          mib(g.get("rss_idle_kib")), 2)]
            rows.append(("startup, static musl build (ms)", ms(st.get("startup_s")),
                         ms(g.get("startup_s")), 2))
        for name, a, b, d in rows:
            L.append(f"| {name} | {fmt_num(a, d)} | {fmt_num(b, d)} | {fmt_ratio(a, b)} |")
    notes = []
    for scen, _ in scen_counts:
        for kind in ("ours", "go"):
            st = results[scen][kind].get("status", "")
            if st != "ok":
                notes.append(f"- {scen} / {'ours' if kind == 'ours' else 'Go'}: {st}")
    for kind in resources:
        st = resources[kind].get("status", "ok")
        if st not in ("ok", "skipped"):
            notes.append(f"- resources / {kind}: {st}")
    noisy = sum(1 for scen, _ in scen_counts for kind in ("ours", "go")
                for r in meta["raw"][scen][kind] if r.get("noisy"))
    if noisy:
        notes.append(f"- {noisy} run(s) stayed above the noise limit after "
                     "repetition (other processes busy)")
    bg = meta.get("other_cores")
    if bg is not None and bg > 0.1:
        notes.append(f"- other processes kept {bg:.2f} cores busy (median) during the "
                     "runs: absolute numbers are less reliable; compare ratios")
    if notes:
        L.append("")
        L.append("Notes:")
        L.extend(notes)
    return "\n".join(L) + "\n"


def summarize_resources(runs):
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return {"status": "failed: " + (runs[-1].get("error", "?") if runs else "not run")}
    s = {"status": "ok"}
    s["startup_s"] = med([x for r in ok for x in r.get("startup_s", [])])
    for k in ("rss_idle_kib", "rss_conns_kib", "rss_per_conn_kib", "idle_connect_s", "mesh5_s"):
        s[k] = med([r.get(k) for r in ok])
    errs = [r["idle_error"] for r in ok if r.get("idle_error")]
    if errs:
        s["status"] = "idle connections failed: " + errs[-1]
    return s


# ---------------------------------------------------------------------------
# The --out document

# Environment variables that choose what runs, with their defaults; the
# reproducing command repeats the ones set to something else.
ENV_VARS = {
    "RNATS_BIN": os.path.join(REPO, "target", "release", "rnats-server"),
    "GO_NATS_BIN": "/usr/sbin/nats-server",
    "RNATS_STATIC_BIN": os.path.join(REPO, "target", "x86_64-unknown-linux-musl", "release",
                                     "rnats-server"),
    "LOADGEN_BIN": os.path.join(HERE, "loadgen", "target", "release", "loadgen"),
}
PATH_OPTIONS = ("--out", "--json")


def repo_rel(path):
    """`path` relative to the repository root when it lies inside it."""
    if not path:
        return path
    a = os.path.abspath(path)
    if a == REPO or a.startswith(REPO + os.sep):
        return os.path.relpath(a, REPO)
    return path


def command_line():
    """The command line of this run, as typed from the repository root."""
    env = [f"{k}={shlex.quote(repo_rel(os.environ[k]))}" for k, default in ENV_VARS.items()
           if os.environ.get(k) and os.path.abspath(os.environ[k]) != os.path.abspath(default)]
    script = sys.argv[0]
    if os.path.abspath(script) == os.path.abspath(__file__):
        script = "scripts/bench/bench.py"
    args, after_path_opt = [], False
    for a in sys.argv[1:]:
        if after_path_opt:
            a = repo_rel(a)
        elif "=" in a and a.split("=", 1)[0] in PATH_OPTIONS:
            k, v = a.split("=", 1)
            a = f"{k}={repo_rel(v)}"
        after_path_opt = a in PATH_OPTIONS
        args.append(shlex.quote(a))
    return " ".join(env + ["python3", script] + args)


def source_state():
    """The repository's commit, and whether tracked files differ from it."""
    def git(*a):
        return subprocess.run(["git", "-C", REPO] + list(a), capture_output=True,
                              text=True, timeout=10).stdout.strip()
    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if not head:
        return None
    return f"`{head}`" + (" with uncommitted changes to tracked files" if dirty else "")


def binary_rows(bins, run_bins):
    """(what, path, version, size in bytes) of each binary run (version and
    size of the copy that ran, see `snapshot_binaries`), then of any other
    release build of rnats-server under target/ (cross builds: size only,
    not run)."""
    rows, seen = [], set()
    for key, what in (("ours", "rnats (ours)"), ("go", "Go nats-server"),
                      ("static", "rnats, static musl build (resource rows)")):
        path = bins.get(key)
        if not path:
            continue
        seen.add(os.path.realpath(path))
        ran = run_bins.get(key, path)
        try:
            size = os.path.getsize(ran)
        except OSError:
            size = None
        version = version_of(ran) if os.access(ran, os.X_OK) else "not found"
        rows.append((what, repo_rel(path), version, size))
    for path in sorted(glob.glob(os.path.join(REPO, "target", "*", "release", "rnats-server"))):
        if os.path.realpath(path) in seen:
            continue
        triple = os.path.basename(os.path.dirname(os.path.dirname(path)))
        rows.append((f"rnats, `{triple}` (size only, not run)", repo_rel(path), "",
                     os.path.getsize(path)))
    return rows


def snapshot_binaries(bins, keys, directory):
    """Copies of our binaries, taken before the first run, so that a build
    finishing while the benchmark runs does not change what is measured.
    Returns the paths to run, by kind."""
    run_bins = dict(bins)
    for key in keys:
        path = bins.get(key)
        if not path or not os.access(path, os.X_OK):
            continue
        d = os.path.join(directory, key)
        os.makedirs(d, exist_ok=True)
        copy = os.path.join(d, os.path.basename(path))
        shutil.copy2(path, copy)
        run_bins[key] = copy
    return run_bins


def render_doc(meta, opts, bins, main_part, new_part, total):
    """The Markdown document --out writes."""
    # The link is relative to where the document lands in this repository
    # (a document written outside it gets the path from the repository root).
    out_dir = os.path.dirname(os.path.abspath(opts.out))
    scripts_readme = os.path.relpath(os.path.join(REPO, "scripts", "bench", "README.md"), out_dir)
    if scripts_readme.startswith(".." + os.sep + ".."):
        scripts_readme = "scripts/bench/README.md"
    L = ["# Benchmarks", "",
         "<!-- Generated by scripts/bench/bench.py --out. Do not edit by hand: run the "
         "command below again. -->", "",
         f"Generated by `scripts/bench/bench.py` on {meta['date']}. rnats-server and the Go "
         "nats-server run on the same machine, one after the other in alternating "
         "pairs, each run against a freshly started server, under the load generator "
         "`scripts/bench/loadgen`. Every ratio is ours / Go: below 1 means less CPU, time or "
         "memory than Go, above 1 (msgs/s) more throughput. What each scenario does and "
         f"how it is measured: [scripts/bench/README.md]({scripts_readme}). CPU per message "
         "is the steadier figure; throughput moves with whatever else the machine runs.",
         ""]
    for note in opts.note:
        L += [note, ""]
    L += ["Reproduce, from the repository root:", "", "```sh", command_line(), "```", ""]
    m = meta["machine"]
    L.append(f"- machine: {m['nproc']} CPUs, {m['model']}, Linux {m['kernel']}")
    if meta.get("source"):
        L.append(f"- repository at commit {meta['source']} when the run started")
    L.append(f"- settings: {plural(meta['rounds'], 'round')}, {opts.msgs:,} messages (pubsub, queue; "
             f"`pub` twice as many, fanout/routed/chain5 half), {opts.requests:,} requests, "
             f"payload {opts.size} B")
    L += ["", "| binary | path | version | size (bytes) |", "|---|---|---|--:|"]
    for what, path, version, size in binary_rows(bins, meta["run_bins"]):
        L.append(f"| {what} | `{path}` | {version} | {fmt_num(size)} |")
    L.append("")
    if main_part:
        L.append(main_part.rstrip("\n"))
        L.append("")
    if new_part:
        L.append("## Scale and TLS")
        L.append(new_part.rstrip("\n"))
        L.append("")
    L.append(total.strip())
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--msgs", type=int, default=5_000_000,
                    help="messages for pubsub/queue; pub uses twice, fanout, "
                         "routed and chain5 half as many")
    ap.add_argument("--requests", type=int, default=20_000,
                    help="sequential requests for reqrep")
    ap.add_argument("--size", type=int, default=16, help="payload bytes")
    ap.add_argument("--scenarios", default="pub,pubsub,fanout,queue,reqrep,routed,leafup,leafdown,wsfanout,jspub,jspull",
                    help="comma separated subset of pub,pubsub,fanout,queue,reqrep,routed,leafup,leafdown,wsfanout,jspub,jspull,"
                         "chain5 and of the scale and TLS scenarios " + ",".join(NEW_SCENARIOS)
                         + "; the groups `scale` and `tls` stand for "
                         + "; ".join(f"{k}: {','.join(v)}" for k, v in SCENARIO_GROUPS.items()))
    ap.add_argument("--scale-duration", type=float, default=3.0,
                    help="seconds of publishing in each timed phase of the scale/TLS scenarios")
    ap.add_argument("--churn-rate", type=int, default=100_000,
                    help="churn: SUB+UNSUB pairs per second the churning client aims at")
    ap.add_argument("--storm-threads", type=int, default=4,
                    help="tlsstorm/storm: client threads connecting at once")
    ap.add_argument("--chain5", action="store_true",
                    help="also run a 5-server cluster (routes chained) with "
                         "publisher on the first and subscriber on the last")
    ap.add_argument("--idle-conns", type=int, default=1000)
    ap.add_argument("--startup-samples", type=int, default=5,
                    help="server starts per round and kind for the startup time")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds one load generator run may take")
    ap.add_argument("--route-wait", type=float, default=10.0,
                    help="seconds to wait for a cluster to carry messages")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds to wait before reading RSS")
    ap.add_argument("--warm", type=float, default=0.5,
                    help="seconds a fresh server idles before a timed run of the "
                         "main table")
    ap.add_argument("--noise-limit", type=float, default=0.25,
                    help="repeat a run when other processes used more than this "
                         "many cores during it")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="seconds to wait at most for other processes to go quiet "
                         "before a run")
    ap.add_argument("--retries", type=int, default=2,
                    help="repetitions of a noisy run at most")
    ap.add_argument("--reqrep-spin", action="store_true",
                    help="requester busy-polls for replies (less wake-up latency, "
                         "one core busy)")
    ap.add_argument("--no-resources", action="store_true",
                    help="skip RSS and startup measurements")
    ap.add_argument("--out", metavar="PATH",
                    help="also write the report as a Markdown document to PATH (e.g. "
                         "docs/benchmarks.md): the tables, the command that reproduces "
                         "them, and the versions and sizes of the binaries")
    ap.add_argument("--note", action="append", default=[],
                    help="a sentence for the header of the --out document (repeatable), "
                         "e.g. why the run used shorter settings")
    ap.add_argument("--json", help="write all raw measurements to this file")
    opts = ap.parse_args()

    ours_bin = os.environ.get("RNATS_BIN") or os.path.join(
        REPO, "target", "release", "rnats-server")
    go_bin = os.environ.get("GO_NATS_BIN") or "/usr/sbin/nats-server"
    if not os.access(go_bin, os.X_OK):
        log(f"Go nats-server not found at {go_bin} "
            "(apt-get install nats-server, or set GO_NATS_BIN)")
        return 2
    static_bin = os.environ.get("RNATS_STATIC_BIN") or os.path.join(
        REPO, "target", "x86_64-unknown-linux-musl", "release", "rnats-server")
    bins = {"ours": ours_bin, "go": go_bin}
    res_kinds = ["ours", "go"]
    if os.access(static_bin, os.X_OK):
        bins["static"] = static_bin
        res_kinds.append("static")
    have_ours = os.access(ours_bin, os.X_OK)
    if not have_ours:
        log(f"our server not found at {ours_bin}; its columns will be n/a "
            "(build it with cargo build --release, or set RNATS_BIN)")

    # Servers and load generators inherit this limit; the 10 000-connection
    # scenarios need a little over 10 000 descriptors per process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 65536:
        try:  # raising the hard limit needs privileges; fine if refused
            resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
            soft, hard = 65536, 65536
        except (ValueError, OSError):
            pass
    want = max(soft, min(hard, 65536)) if hard != resource.RLIM_INFINITY else max(soft, 65536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 10_200 and any(
            x in ("conns10k", "idle10k") for x in opts.scenarios.replace("scale", "conns10k").split(",")):
        log(f"open-file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} is below the "
            "10 200 the 10 000-connection scenarios need; they will fail")

    scenarios = []
    for name in (x.strip() for x in opts.scenarios.split(",") if x.strip()):
        for x in SCENARIO_GROUPS.get(name, [name]):
            if x not in scenarios:
                scenarios.append(x)
    if opts.chain5 and "chain5" not in scenarios:
        scenarios.append("chain5")
    new_scens = [x for x in scenarios if x in NEW_SCENARIOS]
    scenarios = [x for x in scenarios if x not in NEW_SCENARIOS]
    counts = {
        "pub": 2 * opts.msgs, "pubsub": opts.msgs, "queue": opts.msgs,
        "fanout": max(1, opts.msgs // 2), "routed": max(1, opts.msgs // 2),
        "chain5": max(1, opts.msgs // 2), "reqrep": opts.requests,
        "leafup": max(1, opts.msgs // 2), "leafdown": max(1, opts.msgs // 2),
        "wsfanout": max(1, opts.msgs // 2),
        "jspub": max(1, opts.msgs // 20), "jspull": max(1, opts.msgs // 20),
    }
    for s in scenarios:
        if s not in counts:
            log(f"unknown scenario {s}")
            return 2
    scen_counts = [(s, counts[s]) for s in scenarios]

    lg = ensure_loadgen()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    logdir = tempfile.mkdtemp(prefix="rnats-bench-")
    source = source_state()
    run_bins = snapshot_binaries(bins, ("ours", "static"), os.path.join(logdir, "bin"))
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine_info(),
        "source": source, "run_bins": run_bins,
        "ours_bin": ours_bin, "go_bin": go_bin, "static_bin": bins.get("static"),
        "ours_version": version_of(run_bins["ours"]) if have_ours else "not found",
        "go_version": version_of(go_bin),
        "rounds": opts.rounds, "size": opts.size, "idle_conns": opts.idle_conns,
        "noise_limit": opts.noise_limit, "retries": opts.retries, "warm": opts.warm,
        "scale_duration": opts.scale_duration,
    }
    raw = {s: {"ours": [], "go": []} for s in scenarios}
    raw_new = {s: {"ours": [], "go": []} for s in new_scens}
    raw_res = {k: [] for k in res_kinds}
    # A kind that could never run a multi-server scenario (no clustering)
    # skips it in later rounds.
    unavailable = set()
    t_start = time.time()
    ctx = {"logdir": logdir, "certs": None}
    if any(NEW_SCENARIOS[x][2] is True for x in new_scens):
        try:
            ctx["certs"] = make_certs(tempfile.mkdtemp(prefix="certs-", dir=logdir))
        except (OSError, subprocess.SubprocessError) as e:
            ctx["certs_error"] = f"cannot make certificates with openssl: {e}"
            log(ctx["certs_error"])
    try:
        for rnd in range(1, opts.rounds + 1):
            for scen, count in scen_counts:
                for kind in ("ours", "go"):
                    if kind == "ours" and not have_ours:
                        raw[scen][kind].append({"ok": False, "unavailable": True,
                                                "error": "binary not found"})
                        continue
                    if (kind, scen) in unavailable:
                        continue
                    r = measure_noise_checked(kind, run_bins[kind], scen, count, opts, lg,
                                              logdir, rnd)
                    raw[scen][kind].append(r)
                    if r.get("unavailable") and not any(
                            x.get("ok") for x in raw[scen][kind]):
                        unavailable.add((kind, scen))
                    if r.get("ok"):
                        extra = (f" p50={r['p50_us']:.0f}us p99={r['p99_us']:.0f}us"
                                 if "p50_us" in r else "")
                        log(f"[round {rnd}] {scen:7s} {kind:4s} {r['rate']:>12,.0f} msg/s "
                            f"srv {r['srv_us_per_msg']:.3f} us/msg "
                            f"(srv {r['srv_cores']:.2f} cores, lg {r['lg_cores']:.2f} cores, "
                            f"other {r.get('other_cores', float('nan')):.2f} cores)"
                            f"{extra}")
                    else:
                        log(f"[round {rnd}] {scen:7s} {kind:4s} FAILED: {r.get('error')}")
            for scen in new_scens:
                for kind in ("ours", "go"):
                    if kind == "ours" and not have_ours:
                        raw_new[scen][kind].append({"ok": False, "error": "binary not found"})
                        continue
                    r = measure_new_checked(kind, run_bins[kind], scen, opts, lg, ctx, rnd)
                    raw_new[scen][kind].append(r)
                    if r.get("ok"):
                        log(f"[round {rnd}] {scen} {kind}: " + " ".join(
                            f"{k}={fmt_num(r.get(k), d)}" for k, _, d in NEW_SCENARIOS[scen][3])
                            + f" other={fmt_num(r.get('other_cores'), 2)}")
                    else:
                        log(f"[round {rnd}] {scen} {kind} FAILED: {r.get('error')}")
            if not opts.no_resources:
                for kind in res_kinds:
                    if kind == "ours" and not have_ours:
                        raw_res[kind].append({"ok": False, "error": "binary not found"})
                        continue
                    wait_quiet(opts.noise_limit, opts.quiet_wait)
                    r = measure_resources(kind, run_bins[kind], opts, lg, logdir)
                    raw_res[kind].append(r)
                    if r.get("ok"):
                        log(f"[round {rnd}] resources {kind:6s} startup "
                            f"{statistics.median(r['startup_s']) * 1000:.1f} ms, "
                            f"RSS idle {r.get('rss_idle_kib')} KiB, per conn "
                            f"{r.get('rss_per_conn_kib', float('nan')):.2f} KiB"
                            + (f" ({r['idle_error']})" if r.get("idle_error") else ""))
                    else:
                        log(f"[round {rnd}] resources {kind:6s} FAILED: {r.get('error')}")
    finally:
        stop_all_started()

    results = {s: {k: summarize(raw[s][k]) for k in ("ours", "go")} for s in scenarios}
    meta["raw"] = raw
    meta["other_cores"] = med([r.get("other_cores") for s in scenarios
                               for k in ("ours", "go") for r in raw[s][k]])
    resources_ = {k: (summarize_resources(raw_res[k]) if not opts.no_resources
                      else {"status": "skipped"}) for k in res_kinds}
    results_new = {s: {k: summarize(raw_new[s][k]) for k in ("ours", "go")} for s in new_scens}
    new_part = ""
    if new_scens:
        new_part = "\n".join(render_new(results_new, new_scens, meta)) + "\n"
        fails = [f"- {sc} / {'ours' if k == 'ours' else 'Go'}: {results_new[sc][k]['status']}"
                 for sc in new_scens for k in ("ours", "go")
                 if results_new[sc][k].get("status") != "ok"]
        if fails:
            new_part += "\nNotes (scale/TLS):\n" + "\n".join(fails) + "\n"
    total = f"\n(total benchmark time {time.time() - t_start:.0f} s)\n"
    report = render(meta, results, resources_, scen_counts) + new_part + total
    print(report)
    if opts.out:
        main_part = ""
        if scen_counts or not opts.no_resources:
            main_part = render(meta, results, resources_, scen_counts,
                               title="## Messages, latency and footprint")
        doc = render_doc(meta, opts, bins, main_part, new_part, total)
        os.makedirs(os.path.dirname(os.path.abspath(opts.out)), exist_ok=True)
        with open(opts.out, "w") as f:
            f.write(doc)
        log(f"wrote {opts.out}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"meta": {k: v for k, v in meta.items() if k != "raw"}, "runs": raw, "resources": raw_res,
                       "summary": results, "resource_summary": resources_,
                       "runs_new": raw_new, "summary_new": results_new},
                      f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all_started()
