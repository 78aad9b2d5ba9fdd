"""Cluster formations: the clustering page's three-server example with Go and
rnats mixed, and leaf formations (hubs and leaf servers, further down).

Formation N of seed S: a seed server listens on a cluster port, two others
get ``-routes`` to it, nobody gets ``--cluster_name`` (so names are
generated and must settle on one).  Which binary sits in which position comes
from a seeded shuffle of all mixes (all-Go only in calibration mode); the
start order and the delays between starts (0 to 1.2 s) are seeded too.

Pass: within the deadline every node reports two routes in /routez (to the
two others) for 1.5 s and still after the traffic check, a message published
on any node reaches a subscriber on every node exactly once, and a queue
group spread over the three nodes gets each message exactly once.  (The names
the nodes report in /varz need not agree: Go 2.9.10 itself can end up with a
full mesh whose members show different generated names.)
"""

import collections
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import time
import http.client

from dt_core import HOST

MESH_TIMEOUT = 25.0
STABLE = 1.5


# Ports handed out recently: the kernel may offer a port again as soon as
# the probing socket is closed, and the three nodes of a formation take
# their ports before any of them binds.
_recent_ports = collections.deque(maxlen=256)


def free_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
            p = s.getsockname()[1]
            if p not in _recent_ports:
                ports.append(p)
                _recent_ports.append(p)
        return ports
    finally:
        for s in socks:
            s.close()


def http_json(port, path, timeout=1.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise OSError("GET %s: %d" % (path, resp.status))
        return json.loads(body)
    finally:
        conn.close()


class Node:
    def __init__(self, label, binary, workdir, routes_to=None):
        self.label = label
        self.binary = binary
        self.port, self.cport, self.mport = free_ports(3)
        self.routes_to = routes_to
        self.log_path = os.path.join(workdir, "cluster-%s.log" % label)
        self.proc = None

    def args(self):
        a = [self.binary, "-a", HOST, "-p", str(self.port), "-m", str(self.mport),
             "-cluster", "nats://%s:%d" % (HOST, self.cport)]
        if self.routes_to:
            a += ["-routes", "nats://%s:%d" % (HOST, self.routes_to.cport)]
        return a

    def start(self):
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        finally:
            log.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        return lines[-n:]


class Client:
    def __init__(self, port):
        deadline = time.monotonic() + 5
        while True:
            try:
                self.s = socket.create_connection((HOST, port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.buf = b""
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')

    def send(self, data):
        self.s.sendall(data)

    def read_msgs(self, until, want=None):
        """MSG payloads by sid until ``until`` (monotonic) or ``want(msgs)``."""
        msgs = []
        while time.monotonic() < until:
            while True:
                nl = self.buf.find(b"\r\n")
                if nl < 0:
                    break
                line = self.buf[:nl]
                parts = line.split(b" ")
                if parts[0] == b"MSG":
                    size = int(parts[-1])
                    if len(self.buf) < nl + 2 + size + 2:
                        break
                    msgs.append((parts[2].decode(), self.buf[nl + 2:nl + 2 + size].decode()))
                    self.buf = self.buf[nl + 2 + size + 2:]
                else:
                    if parts[0] == b"PING":
                        self.s.sendall(b"PONG\r\n")
                    self.buf = self.buf[nl + 2:]
            if want is not None and want(msgs):
                return msgs
            self.s.settimeout(max(0.001, min(0.05, until - time.monotonic())))
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            self.buf += data
        return msgs

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class FormationResult:
    def __init__(self, seed, index, kinds):
        self.seed = seed
        self.index = index
        self.kinds = kinds
        self.problems = []
        self.mesh_seconds = None
        self.elapsed = 0.0
        self.logs = {}
        self.routez = {}
        self.names = {}

    @property
    def ok(self):
        return not self.problems


def combos(seed, calibrate):
    if calibrate:
        return [("go", "go", "go")]
    mixes = [c for c in itertools.product(("go", "rnats"), repeat=3) if c != ("go", "go", "go")]
    random.Random("%s:clusters" % seed).shuffle(mixes)
    return mixes


def mesh_problems(nodes):
    problems = []
    ids = {}
    for n in nodes:
        try:
            ids[n.label] = http_json(n.mport, "/varz")["server_id"]
        except (OSError, ValueError, KeyError) as e:
            problems.append("%s: /varz: %s" % (n.label, e))
    for n in nodes:
        try:
            rz = http_json(n.mport, "/routez")
        except (OSError, ValueError) as e:
            problems.append("%s: /routez: %s" % (n.label, e))
            continue
        remotes = sorted(r.get("remote_id", "?") for r in rz.get("routes") or [])
        want = sorted(v for k, v in ids.items() if k != n.label)
        if rz.get("num_routes") != 2 or remotes != want:
            problems.append("%s: num_routes=%s remotes=%s" % (
                n.label, rz.get("num_routes"), [r[:8] for r in remotes]))
    return problems


def run_formation(seed, index, go_bin, rnats_bin, workdir, calibrate=False):
    mixes = combos(seed, calibrate)
    kinds = mixes[index % len(mixes)]
    rng = random.Random("%s:cluster:%d" % (seed, index))
    res = FormationResult(seed, index, kinds)
    binaries = {"go": go_bin, "rnats": rnats_bin}
    t0 = time.monotonic()
    seed_node = Node("A-seed-%s" % kinds[0], binaries[kinds[0]], workdir)
    nodes = [seed_node,
             Node("B-%s" % kinds[1], binaries[kinds[1]], workdir, routes_to=seed_node),
             Node("C-%s" % kinds[2], binaries[kinds[2]], workdir, routes_to=seed_node)]
    clients = []
    try:
        order = list(nodes)
        if rng.random() < 0.5:
            rng.shuffle(order)
        for n in order:
            n.start()
            time.sleep(rng.choice([0, 0, 0.05, 0.2, 0.6, 1.2]))
        deadline = time.monotonic() + MESH_TIMEOUT
        problems = ["not checked"]
        while time.monotonic() < deadline:
            problems = mesh_problems(nodes)
            if not problems:
                stable_end = time.monotonic() + STABLE
                while time.monotonic() < stable_end and not problems:
                    time.sleep(0.1)
                    problems = mesh_problems(nodes)
                if not problems:
                    break
            time.sleep(0.1)
        if problems:
            res.problems += ["no full mesh within %.0f s:" % MESH_TIMEOUT] + problems
            return res
        res.mesh_seconds = time.monotonic() - t0
        res.problems += check_traffic(nodes, clients)
        # The mesh must still be whole after the traffic (a flapping mesh can
        # look complete for a moment).
        late = mesh_problems(nodes)
        if late:
            res.problems += ["mesh broke up after forming:"] + late
        return res
    except (OSError, ValueError) as e:
        res.problems.append("error: %s" % e)
        return res
    finally:
        for c in clients:
            c.close()
        for n in nodes:
            try:
                res.routez[n.label] = http_json(n.mport, "/routez")
                res.names[n.label] = (http_json(n.mport, "/varz").get("cluster") or {}).get("name")
            except (OSError, ValueError):
                pass
        for n in nodes:
            n.stop()
            res.logs[n.label] = n.log_tail()
        res.elapsed = time.monotonic() - t0


def check_traffic(nodes, clients, count=20):
    problems = []
    subs = [Client(n.port) for n in nodes]
    pubs = [Client(n.port) for n in nodes]
    clients += subs + pubs
    for s in subs:
        s.send(b"SUB mesh.all 1\r\nSUB mesh.q grp 2\r\nSUB mesh.sync 3\r\nPING\r\n")
    # Interest travels asynchronously: publish probes until every subscriber
    # has heard from every publisher.
    seen = [set() for _ in subs]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(len(x) == len(pubs) for x in seen):
        for j, p in enumerate(pubs):
            p.send(b"PUB mesh.sync 1\r\n%d\r\n" % j)
        for i, s in enumerate(subs):
            for sid, body in s.read_msgs(time.monotonic() + 0.05):
                if sid == "3":
                    seen[i].add(body)
    if not all(len(x) == len(pubs) for x in seen):
        return ["interest did not propagate: subscriber i heard from %s" % [sorted(x) for x in seen]]
    for j, p in enumerate(pubs):
        p.send(b"".join(b"PUB mesh.all 6\r\n%d-%04d\r\nPUB mesh.q 6\r\n%d-%04d\r\n" % (j, k, j, k)
                        for k in range(count)))
    want_all = ["%d-%04d" % (j, k) for j in range(len(pubs)) for k in range(count)]
    total_q = []
    for i, s in enumerate(subs):
        msgs = s.read_msgs(time.monotonic() + 3.0,
                           want=lambda m: sum(1 for x in m if x[0] == "1") >= len(want_all))
        msgs += s.read_msgs(time.monotonic() + 0.3)
        got = [b for sid, b in msgs if sid == "1"]
        total_q += [b for sid, b in msgs if sid == "2"]
        if sorted(got) != sorted(want_all):
            problems.append("subscriber on %s got %d of %d messages (missing %s, extra %s)" % (
                nodes[i].label, len(got), len(want_all),
                sorted(set(want_all) - set(got))[:5], len(got) - len(set(got))))
        for j in range(len(pubs)):
            seq = [b for b in got if b.startswith("%d-" % j)]
            if seq != sorted(seq):
                problems.append("subscriber on %s: messages of publisher %d out of order" % (
                    nodes[i].label, j))
    if sorted(total_q) != sorted(want_all):
        problems.append("queue group over %d nodes got %d deliveries for %d messages "
                        "(duplicates %d)" % (len(nodes), len(total_q), len(want_all),
                                             len(total_q) - len(set(total_q))))
    return problems


def summary_line(res):
    return "cluster formation %d (seed %s): A=%s (seed) B=%s C=%s: %s%s" % (
        res.index, res.seed, res.kinds[0], res.kinds[1], res.kinds[2],
        "ok" if res.ok else "FAILED",
        (" (mesh after %.1f s)" % res.mesh_seconds) if res.mesh_seconds else "")


def describe(res):
    out = [summary_line(res),
           "replay: scripts/difftest.sh --replay %s cluster:%d" % (res.seed, res.index)]
    out += ["  " + p for p in res.problems]
    for label, rz in res.routez.items():
        out.append("  %s (cluster name %s) /routez: num_routes=%s remotes=%s" % (
            label, res.names.get(label), rz.get("num_routes"),
            [(r.get("remote_id", "?")[:8], r.get("did_solicit")) for r in rz.get("routes") or []]))
    for label, lines in res.logs.items():
        out.append("  --- %s log tail:" % label)
        out += ["    " + x for x in lines]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Leaf formations
# ---------------------------------------------------------------------------
#
# Leaf formation N of seed S (``--replay S leafmesh:N``): a hub H1 with a
# leaf port, sometimes a route peer H2 of it (also with a leaf port), and one
# or two leaf servers dialing H1 (the second one H2 when there is one);
# sometimes the leaf port wants a user and the remotes carry it in their
# URL.  Which binary sits in which position, the shape and the start order
# come from the seed (all Go in calibration mode; at least one rnats
# otherwise).
#
# Pass: every hub reports in /leafz the leafs that dial it and every leaf one
# link (and H1/H2 their route in /routez) for 1.5 s and still after the
# traffic check; a message published on any server reaches a subscriber on
# every server exactly once, in order, and a queue group with a member on
# every server gets each message exactly once.

LEAF_SHAPES = [
    # (hub peer?, leafs: which hub each dials); formation N has shape N % 4.
    (True, ["H1", "H2"]),
    (False, ["H1", "H1"]),
    (True, ["H1"]),
    (False, ["H1"]),
]
HUB_CLUSTER_NAME = "HUBC"


class ConfNode(Node):
    """A node started from a configuration file."""

    def __init__(self, label, binary, workdir, role):
        super().__init__(label, binary, workdir)
        self.role = role
        self.lport = free_ports(1)[0]
        self.workdir = workdir
        self.conf = {}

    def write_conf(self, leaf_user, hubs, routes_to=None):
        lines = ["server_name: %s" % self.label.split("-")[0],
                 "listen: %s:%d" % (HOST, self.port),
                 "http: %s:%d" % (HOST, self.mport)]
        if self.role == "hub":
            if hubs.get("peered"):
                lines.append("cluster {\n  name: %s\n  listen: %s:%d%s\n}" % (
                    HUB_CLUSTER_NAME, HOST, self.cport,
                    ("\n  routes: [\"nats://%s:%d\"]" % (HOST, routes_to.cport))
                    if routes_to else ""))
            auth = ("\n  authorization { user: lu, password: lp }" if leaf_user else "")
            lines.append("leafnodes {\n  listen: \"%s:%d\"%s\n}" % (HOST, self.lport, auth))
        else:
            hub = hubs[self.dials]
            cred = "lu:lp@" if leaf_user else ""
            lines.append("leafnodes {\n  remotes: [ { url: \"nats-leaf://%s%s:%d\" } ]\n}" % (
                cred, HOST, hub.lport))
        path = os.path.join(self.workdir, "leafmesh-%s.conf" % self.label)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.conf_path = path

    def args(self):
        return [self.binary, "-c", self.conf_path]


def leaf_formation_plan(seed, index, calibrate):
    rng = random.Random("%s:leafmesh:%d" % (seed, index))
    peered, dials = LEAF_SHAPES[index % len(LEAF_SHAPES)]
    roles = ["H1"] + (["H2"] if peered else []) + ["L%d" % (i + 1) for i in range(len(dials))]
    if calibrate:
        kinds = ["go"] * len(roles)
    else:
        kinds = [rng.choice(["go", "rnats"]) for _ in roles]
        if "rnats" not in kinds:
            kinds[rng.randrange(len(kinds))] = "rnats"
    leaf_user = rng.random() < 0.4
    delays = [rng.choice([0, 0, 0.05, 0.3, 0.8]) for _ in roles]
    order = list(range(len(roles)))
    if rng.random() < 0.5:
        rng.shuffle(order)
    return peered, dials, roles, kinds, leaf_user, delays, order


class LeafFormationResult(FormationResult):
    def __init__(self, seed, index, roles, kinds, dials, leaf_user):
        super().__init__(seed, index, kinds)
        self.roles = roles
        self.dials = dials
        self.leaf_user = leaf_user
        self.leafz = {}


def leaf_problems(nodes, want):
    """Problems with the leaf links (and the hub route) as /leafz and
    /routez show them; ``want``: label -> number of leaf links."""
    problems = []
    for n in nodes:
        try:
            lz = http_json(n.mport, "/leafz")
        except (OSError, ValueError) as e:
            problems.append("%s: /leafz: %s" % (n.label, e))
            continue
        got = lz.get("leafnodes")
        listed = len(lz.get("leafs") or [])
        if got != want[n.label] or listed != want[n.label]:
            problems.append("%s: /leafz leafnodes=%s (%d listed), want %d" % (
                n.label, got, listed, want[n.label]))
    hubs = [n for n in nodes if n.role == "hub"]
    if len(hubs) == 2:
        problems += mesh_problems_n(hubs, 1)
    return problems


def mesh_problems_n(nodes, nroutes):
    problems = []
    for n in nodes:
        try:
            rz = http_json(n.mport, "/routez")
        except (OSError, ValueError) as e:
            problems.append("%s: /routez: %s" % (n.label, e))
            continue
        if rz.get("num_routes") != nroutes:
            problems.append("%s: num_routes=%s, want %d" % (n.label, rz.get("num_routes"),
                                                             nroutes))
    return problems


def run_leaf_formation(seed, index, go_bin, rnats_bin, workdir, calibrate=False):
    peered, dials, roles, kinds, leaf_user, delays, order = leaf_formation_plan(
        seed, index, calibrate)
    res = LeafFormationResult(seed, index, roles, kinds, dials, leaf_user)
    binaries = {"go": go_bin, "rnats": rnats_bin}
    t0 = time.monotonic()
    nodes = []
    for role, kind in zip(roles, kinds):
        n = ConfNode("%s-%s" % (role, kind), binaries[kind], workdir,
                     "hub" if role.startswith("H") else "leaf")
        nodes.append(n)
    hubs = {"peered": peered}
    for n in nodes:
        if n.role == "hub":
            hubs[n.label.split("-")[0]] = n
    for n, role in zip(nodes, roles):
        if n.role == "leaf":
            n.dials = dials[int(role[1:]) - 1]
    for n in nodes:
        n.write_conf(leaf_user, hubs, routes_to=hubs["H1"] if n.label.startswith("H2") else None)
    want = {n.label: 0 for n in nodes}
    for n in nodes:
        if n.role == "leaf":
            want[n.label] = 1
            want[hubs[n.dials].label] += 1
    clients = []
    try:
        for i in order:
            nodes[i].start()
            time.sleep(delays[i])
        deadline = time.monotonic() + MESH_TIMEOUT
        problems = ["not checked"]
        while time.monotonic() < deadline:
            problems = leaf_problems(nodes, want)
            if not problems:
                stable_end = time.monotonic() + STABLE
                while time.monotonic() < stable_end and not problems:
                    time.sleep(0.1)
                    problems = leaf_problems(nodes, want)
                if not problems:
                    break
            time.sleep(0.1)
        if problems:
            res.problems += ["leaf links not up within %.0f s:" % MESH_TIMEOUT] + problems
            return res
        res.mesh_seconds = time.monotonic() - t0
        res.problems += check_traffic(nodes, clients)
        late = leaf_problems(nodes, want)
        if late:
            res.problems += ["leaf links changed after forming:"] + late
        return res
    except (OSError, ValueError) as e:
        res.problems.append("error: %s" % e)
        return res
    finally:
        for c in clients:
            c.close()
        for n in nodes:
            try:
                res.leafz[n.label] = http_json(n.mport, "/leafz")
            except (OSError, ValueError):
                pass
        for n in nodes:
            n.stop()
            res.logs[n.label] = n.log_tail()
        res.elapsed = time.monotonic() - t0


def leaf_summary_line(res):
    parts = []
    for role, kind in zip(res.roles, res.kinds):
        if role.startswith("L"):
            parts.append("%s=%s->%s" % (role, kind, res.dials[int(role[1:]) - 1]))
        else:
            parts.append("%s=%s" % (role, kind))
    return "leaf formation %d (seed %s): %s%s: %s%s" % (
        res.index, res.seed, " ".join(parts), " (leaf user)" if res.leaf_user else "",
        "ok" if res.ok else "FAILED",
        (" (links after %.1f s)" % res.mesh_seconds) if res.mesh_seconds else "")


def describe_leaf(res):
    out = [leaf_summary_line(res),
           "replay: scripts/difftest.sh --replay %s leafmesh:%d" % (res.seed, res.index)]
    out += ["  " + p for p in res.problems]
    for label, lz in res.leafz.items():
        out.append("  %s /leafz: leafnodes=%s %s" % (
            label, lz.get("leafnodes"),
            [(x.get("name"), x.get("account"), x.get("subscriptions"))
             for x in lz.get("leafs") or []]))
    for label, lines in res.logs.items():
        out.append("  --- %s log tail:" % label)
        out += ["    " + x for x in lines]
    return "\n".join(out)
