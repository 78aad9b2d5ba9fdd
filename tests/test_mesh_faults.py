"""Cluster faults across hosts: five servers (a sixth joins later), each in
a network namespace of its own joined by a bridge (tests/netlab.py), with
`ping_interval: 250ms` and one explicit route to h1 (the seed; h1 has none).

Faults: a host's link flapping, a partition healed, route latency (a delay
proxy on every route connection) with a flap on top, the seed lost and
restarted, and a sixth server joining through a non-seed. After each fault:

* an exact mesh within a bound: counted from each server's own sockets, one
  route connection per pair of servers (Go 2.10+ pairs use a pool of
  connections, so there it is the pool's size);
* every publisher reaching every subscriber exactly once;
* resident memory bounded over the repeated rounds.

Each scenario runs for the server under test alone, for Go 2.9 and Go 2.10+
alone, and for three mixes that put each kind in the seed's place and in the
faulty host's place.
"""

import os
import select
import time

import pytest

import netlab
from harness import SERVER_BIN, Client, assert_exactly_once, go_server_binary, pub

pytestmark = pytest.mark.skipif(not netlab.available(), reason="needs root, ip and network namespaces")

# Server kinds: R the server under test, G Go 2.9, N Go 2.10+.
LAYOUTS = {
    "rnats": "RRRRRR",
    "go2.9": "GGGGGG",
    "go2.10+": "NNNNNN",
    "mixed-R-seed": "RGNRGN",
    "mixed-G-seed": "GNRGRR",
    "mixed-N-seed": "NRGRNG",
}
# Connections per pair of Go 2.10+ servers: a pool of 3 plus one for the
# system account; 1 for any pair with another server.
POOLED = 4
FLAP_HEAL = 2.0
HEAL = 5.0
STABLE = 1.0


def binary_for(kind):
    if kind == "R":
        return SERVER_BIN
    path = go_server_binary("2.9" if kind == "G" else "2.10+")
    if path is None:
        pytest.skip("no Go nats-server %s here" % ("2.9" if kind == "G" else "2.10+"))
    return path


def config(n, proxied, route_to):
    routes = "" if n == 1 else 'routes: ["nats-route://%s:%d"]' % (netlab.addr(route_to), netlab.ROUTE_PORT)
    advertise = 'advertise: "%s:%d"' % (netlab.addr(n), netlab.PROXY_PORT) if proxied else ""
    return """
server_name: "h%d"
listen: "0.0.0.0:%d"
http: "127.0.0.1:%d"
ping_interval: "250ms"
cluster {
  name: "lab"
  listen: "0.0.0.0:%d"
  %s
  %s
}
""" % (n, netlab.CLIENT_PORT, netlab.HTTP_PORT, netlab.ROUTE_PORT, advertise, routes)


class Mesh:
    def __init__(self, lab, layout, tmp_path, proxied=False, delay=0.0):
        self.lab, self.layout, self.tmp = lab, layout, tmp_path
        self.proxied = proxied
        self.delay = delay
        self.procs = {}
        self.proxies = {}
        self.starts = {}

    def start(self, n, route_to=1):
        if self.proxied and n not in self.proxies:
            self.proxies[n] = netlab.DelayProxy(self.lab, n, self.delay)
        self.starts[n] = self.starts.get(n, 0) + 1
        log = str(self.tmp / ("h%d-%d.log" % (n, self.starts[n])))
        self.procs[n] = self.lab.start(n, binary_for(self.layout[n - 1]), config(n, self.proxied, route_to), log)
        self.wait_listening(n)

    def wait_listening(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.procs[n].poll() is not None:
                raise AssertionError("h%d exited at start:\n%s" % (n, self.log_tail(n)))
            try:
                self.lab.connect(n, netlab.ROUTE_PORT, 0.5).close()
                self.lab.connect(n, netlab.CLIENT_PORT, 0.5).close()
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise AssertionError("h%d is not listening after %.0f s" % (n, timeout))
                time.sleep(0.02)

    def kill(self, n):
        self.lab.stop(self.procs.pop(n), netlab.signal.SIGKILL)

    def log_tail(self, n, lines=30):
        path = self.tmp / ("h%d-%d.log" % (n, self.starts.get(n, 1)))
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def expected(self, a, b):
        return POOLED if self.layout[a - 1] == self.layout[b - 1] == "N" else 1

    def route_counts(self, n):
        """{peer host: route connections} from h``n``'s own sockets."""
        counts = {}
        proxy = self.proxies.get(n)
        for (lip, lport), (rip, rport) in netlab.established(self.procs[n].pid):
            if lport == netlab.ROUTE_PORT:
                if rip == "127.0.0.1" and proxy is not None:
                    rip = proxy.origin.get(rport, rip)
            elif rport not in (netlab.ROUTE_PORT, netlab.PROXY_PORT):
                continue
            if not rip.startswith("198.18.0."):
                counts.setdefault(rip, 0)
                counts[rip] += 1
                continue
            peer = int(rip.rsplit(".", 1)[1])
            counts[peer] = counts.get(peer, 0) + 1
        return counts

    def problems(self):
        members = sorted(self.procs)
        out = []
        for n in members:
            if self.procs[n].poll() is not None:
                out.append("h%d exited" % n)
                continue
            got = self.route_counts(n)
            want = {m: self.expected(n, m) for m in members if m != n}
            if got != want:
                out.append("h%d route sockets %s, want %s" % (n, got, want))
        return out

    def wait_exact(self, bound, what):
        """Seconds until the mesh is exact (and stays so for STABLE)."""
        start = time.monotonic()
        deadline = start + bound
        while True:
            problems = self.problems()
            if not problems:
                healed = time.monotonic() - start
                end = time.monotonic() + STABLE
                while time.monotonic() < end and not problems:
                    time.sleep(0.05)
                    problems = self.problems()
                if not problems:
                    return healed
            if time.monotonic() >= deadline:
                tails = "\n".join("--- h%d (%s)\n%s" % (n, self.layout[n - 1], self.log_tail(n))
                                  for n in sorted(self.procs))
                raise AssertionError("%s: no exact mesh within %.1f s:\n  %s\n%s" % (
                    what, bound, "\n  ".join(problems), tails))
            time.sleep(0.02)

    def client(self, n):
        with self.lab.inside(n):
            c = Client(netlab.CLIENT_PORT, host="127.0.0.1", timeout=5.0)
        c.connect(verbose=False, pedantic=False, headers=True)
        c.ping(timeout=5.0)
        return c

    def check_delivery(self, tag, timeout=10.0):
        """Every member publishes once; every member's subscriber gets each
        message exactly once.

        With a 250 ms ping interval a client that is not read for a moment is
        dropped as stale, so every client is read (and its PINGs answered) on
        each pass: first probes until each subscriber has heard from every
        publisher (interest has spread), then one message per publisher."""
        members = sorted(self.procs)
        subject = "lab.%s.%s" % (tag, os.urandom(4).hex())
        subs = [self.client(n) for n in members]
        pubs = [self.client(n) for n in members]
        everyone = subs + pubs
        got = [[] for _ in subs]
        heard = [set() for _ in subs]

        def pump(wait):
            readable, _, _ = select.select([c.sock for c in everyone if not c.buf], [], [], wait)
            for c in everyone:
                if c.sock not in readable and not c.buf:
                    continue
                while True:
                    op = c.poll_op(0.0)
                    if op is None:
                        break
                    if op.kind == "PING":
                        c.send(b"PONG\r\n")
                    elif op.kind == "-ERR":
                        raise AssertionError("%s: -ERR %r" % (tag, op.raw))
                    elif op.kind == "MSG" and c in subs:
                        k = subs.index(c)
                        if op.args[0].endswith(".probe"):
                            heard[k].add(op.payload)
                        else:
                            got[k].append(op.payload)

        try:
            for s in subs:
                s.send("SUB %s.* 1\r\nPING\r\n" % subject)
            deadline = time.monotonic() + timeout
            want = {("h%d" % n).encode() for n in members}
            while not all(h >= want for h in heard):
                if time.monotonic() >= deadline:
                    raise AssertionError("%s: interest did not spread within %.0f s: %s" % (
                        tag, timeout, {"h%d" % n: sorted(h) for n, h in zip(members, heard)}))
                for n, p in zip(members, pubs):
                    p.send(pub("%s.probe" % subject, "h%d" % n))
                end = time.monotonic() + 0.15
                while time.monotonic() < end:
                    pump(0.05)
            expected = ["from-h%d" % n for n in members]
            for n, p in zip(members, pubs):
                p.send(pub("%s.h%d" % (subject, n), "from-h%d" % n))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not all(len(g) >= len(members) for g in got):
                pump(0.05)
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                pump(0.05)
            for n, g in zip(members, got):
                assert_exactly_once(g, expected, "%s: subscriber on h%d" % (tag, n))
        finally:
            for c in everyone:
                c.close()

    def rss(self):
        return {n: netlab.rss_kib(p.pid) for n, p in self.procs.items()}


@pytest.fixture
def lab():
    lab = netlab.Lab(6)
    yield lab
    lab.close()


def form(lab, layout, tmp_path, hosts=5, **kw):
    mesh = Mesh(lab, layout, tmp_path, **kw)
    for n in range(1, hosts + 1):
        mesh.start(n)
    mesh.wait_exact(20.0, "formation")
    mesh.check_delivery("formed")
    return mesh


def assert_rss_bounded(series, what):
    """Resident memory after the last round within 25 % (or 4 MiB) of the
    first round's."""
    first, last = series[0], series[-1]
    for n in first:
        if first[n] is None or last.get(n) is None:
            continue
        limit = max(first[n] * 1.25, first[n] + 4096)
        assert last[n] <= limit, "%s: h%d RSS %d KiB after the first round, %d KiB after the last: %s" % (
            what, n, first[n], last[n], [r.get(n) for r in series])


def flap(lab, mesh, host, rounds, record_property, bound=FLAP_HEAL):
    rss = []
    heals = []
    for r in range(rounds):
        for _ in range(5):
            lab.link_down(host)
            time.sleep(1.0)
            lab.link_up(host)
            time.sleep(1.0)
        # Measured from the last link up.
        heals.append(mesh.wait_exact(bound - 1.0, "flap round %d" % r) + 1.0)
        mesh.check_delivery("flap%d" % r)
        rss.append(mesh.rss())
    record_property("heal_seconds", ["%.2f" % h for h in heals])
    assert_rss_bounded(rss, "link flaps")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_link_flaps(lab, tmp_path, layout, record_property):
    """h3's link goes down and up five times a second apart, in two rounds:
    the mesh is exact within 2 s of the last up."""
    mesh = form(lab, LAYOUTS[layout], tmp_path)
    flap(lab, mesh, 3, 2, record_property)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_partition_and_heal(lab, tmp_path, layout, record_property):
    """{h1, h2} and {h3, h4, h5} cannot reach each other for 3 s (long enough
    for every route across to go stale); each side stays a mesh of its own and
    delivers, and the whole mesh is back within 5 s of the heal."""
    mesh = form(lab, LAYOUTS[layout], tmp_path)
    rss = []
    for r in range(2):
        lab.partition([3, 4, 5])
        time.sleep(3.0)
        lab.heal()
        record_property("heal_seconds_%d" % r, "%.2f" % mesh.wait_exact(HEAL, "partition round %d" % r))
        mesh.check_delivery("partition%d" % r)
        rss.append(mesh.rss())
    assert_rss_bounded(rss, "partitions")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_latency_then_flap(lab, tmp_path, layout, record_property):
    """Every route connection crosses a proxy adding 60 ms each way (RTT 120
    ms, half the ping interval): the mesh forms exactly and delivers, and
    heals from h3's link flapping."""
    mesh = form(lab, LAYOUTS[layout], tmp_path, proxied=True, delay=0.06)
    flap(lab, mesh, 3, 1, record_property, bound=FLAP_HEAL + 1.0)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_seed_lost_and_back(lab, tmp_path, layout, record_property):
    """h1 (the only server the others name) is killed: h2..h5 stay a mesh
    and deliver; h1 restarted, the mesh of five is back."""
    mesh = form(lab, LAYOUTS[layout], tmp_path)
    rss = []
    for r in range(2):
        mesh.kill(1)
        mesh.wait_exact(HEAL, "seed lost, round %d" % r)
        mesh.check_delivery("seedless%d" % r)
        mesh.start(1)
        record_property("rejoin_seconds_%d" % r, "%.2f" % mesh.wait_exact(HEAL, "seed back, round %d" % r))
        mesh.check_delivery("seedback%d" % r)
        rss.append(mesh.rss())
    assert_rss_bounded(rss, "seed restarts")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_join_through_non_seed(lab, tmp_path, layout, record_property):
    """h6, configured with a route to h3 only, joins: a mesh of six."""
    mesh = form(lab, LAYOUTS[layout], tmp_path)
    mesh.start(6, route_to=3)
    record_property("join_seconds", "%.2f" % mesh.wait_exact(HEAL, "join through h3"))
    mesh.check_delivery("joined")
