"""GET /metrics: the Prometheus text format under prometheus-nats-exporter's
names (gnatsd_varz_*, gnatsd_connz_*, gnatsd_routez_*) plus rnats_* extras.

Checks the exposition with ``promtool check metrics``, compares every value
with /varz, /connz and /routez after real traffic, and lets a real Prometheus
server scrape a three-node cluster. promtool and prometheus come from
Debian's ``prometheus`` package (scripts/test.sh installs it); when they are
missing and cannot be installed, the tests that need them skip.

/metrics is rnats's own endpoint: the module skips for other servers.
"""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse

import pytest

from harness import (HOST, SERVER_IS_RNATS, Client, free_port, http_get, http_get_json, msg, open_client, pub, round_trip,
                     wait_full_mesh)

pytestmark = pytest.mark.skipif(not SERVER_IS_RNATS, reason="/metrics is an rnats endpoint")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# promtool's lint findings on names that are fixed by prometheus-nats-exporter
# (its connz counters lack "_total", its connz "total" gauge has it).
EXPORTER_NAME_LINTS = {
    'gnatsd_connz_in_bytes counter metrics should have "_total" suffix',
    'gnatsd_connz_out_bytes counter metrics should have "_total" suffix',
    'gnatsd_connz_in_msgs counter metrics should have "_total" suffix',
    'gnatsd_connz_out_msgs counter metrics should have "_total" suffix',
    'gnatsd_connz_total non-counter metrics should not have "_total" suffix',
    'gnatsd_leafz_conn_nodes_total non-counter metrics should not have "_total" suffix',
    'gnatsd_leafz_conn_subscriptions_total non-counter metrics should not have "_total" suffix',
}

# /varz numbers that change between two requests.
VOLATILE_VARZ = {"mem", "cpu"}


# ---------------------------------------------------------------------------
# Reading the text format
# ---------------------------------------------------------------------------

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
UNESCAPE = {"n": "\n", '"': '"', "\\": "\\"}


def _labels(text):
    out, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        assert m, "bad labels at %d: %r" % (pos, text)
        out[m.group(1)] = re.sub(r"\\(.)", lambda e: UNESCAPE[e.group(1)], m.group(2))
        pos = m.end()
    return out


def parse_exposition(text):
    """name -> {"type", "help", "samples": [(labels, value)]}; asserts that
    each family has one HELP and one TYPE line before its samples and that
    its samples are not split."""
    families, order = {}, []
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            key = "help" if kind == "HELP" else "type"
            assert fam[key] is None, "second %s line for %s" % (kind, name)
            assert not fam["samples"], "%s line after samples of %s" % (kind, name)
            fam[key] = rest
            if not order or order[-1] != name:
                assert name not in order, "family %s split" % name
                order.append(name)
            continue
        m = SAMPLE_RE.match(line)
        assert m, "bad sample line %r" % line
        name = m.group(1)
        assert order and order[-1] == name, "sample of %s outside its family" % name
        families[name]["samples"].append((_labels(m.group(2) or ""), float(m.group(3))))
    for name, fam in families.items():
        assert fam["type"] in ("gauge", "counter", "untyped"), (name, fam["type"])
        assert fam["help"], name
    return families


def value(families, name, **labels):
    """The value of the sample of ``name`` labelled exactly ``labels``."""
    assert name in families, "no family %s" % name
    hits = [v for ls, v in families[name]["samples"] if ls == labels]
    assert len(hits) == 1, "%s%r: %d samples" % (name, labels, len(hits))
    return hits[0]


def value_where(families, name, **labels):
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    assert name in families, "no family %s" % name
    hits = [v for ls, v in families[name]["samples"] if all(ls.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, "%s%r: %d samples" % (name, labels, len(hits))
    return hits[0]


def get_metrics(port, query=""):
    status, ctype, body = http_get(port, "/metrics" + query)
    assert status == 200, (status, body[:300])
    assert ctype == CONTENT_TYPE
    text = body.decode("utf-8")
    return text, parse_exposition(text)


def epoch_ms(rfc3339):
    """Go's RFC 3339 text (``...T16:20:15.4875099Z``) as epoch milliseconds,
    truncated as Go's UnixMilli does."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", rfc3339)
    assert m, rfc3339
    secs = int(time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) - time.timezone)
    frac = (m.group(2) or "")[:3].ljust(3, "0")
    return secs * 1000 + int(frac)


# ---------------------------------------------------------------------------
# promtool and prometheus (Debian's "prometheus" package)
# ---------------------------------------------------------------------------

def _stop_packaged_service():
    """The package's service must not keep running where a system manager
    started it on install (containers with policy-rc.d start nothing)."""
    if shutil.which("systemctl"):
        r = subprocess.run(["systemctl", "is-active", "--quiet", "prometheus"], capture_output=True, timeout=30)
        if r.returncode == 0:
            subprocess.run(["systemctl", "stop", "prometheus"], capture_output=True, timeout=60)
            subprocess.run(["systemctl", "disable", "prometheus"], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def prometheus_tools():
    """Paths of promtool and prometheus, installing Debian's package once when
    they are missing and we may (root, apt-get, RNATS_NO_INSTALL unset)."""
    tools = {t: shutil.which(t) for t in ("promtool", "prometheus")}
    if not all(tools.values()):
        may_install = (os.environ.get("RNATS_NO_INSTALL") != "1" and os.geteuid() == 0
                       and shutil.which("apt-get"))
        if not may_install:
            pytest.skip("promtool/prometheus not found and not installable here (needs root and apt-get, "
                        "RNATS_NO_INSTALL unset): apt-get install prometheus")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
                           env=env, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as e:
            pytest.skip("installing Debian's prometheus package failed: %s" % e)
        _stop_packaged_service()
        tools = {t: shutil.which(t) for t in ("promtool", "prometheus")}
        if not all(tools.values()):
            pytest.skip("Debian's prometheus package could not be installed (no promtool/prometheus)")
    return tools


def promtool_check(promtool, text):
    """``promtool check metrics``: no parse error, and no lint finding other
    than those on the exporter's own names."""
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    findings = [ln.strip() for ln in out.splitlines() if ln.strip()]
    unexpected = [f for f in findings if f not in EXPORTER_NAME_LINTS]
    # Exit status 3: lint findings only; 1: the text could not be parsed.
    assert r.returncode in (0, 3) and not unexpected, "promtool exit %d:\n%s" % (r.returncode, out)
    return findings


# ---------------------------------------------------------------------------
# Fixtures and traffic
# ---------------------------------------------------------------------------

@pytest.fixture
def monitored(start_server):
    http = free_port()
    return start_server("-m", str(http)), http


WEIRD_NAME = 'we"ird\\name\nwith ü'


def pubsub_traffic(srv, clients, count):
    """A subscriber (two subscriptions, one matching) and a publisher sending
    ``count`` five-byte messages; returns once the subscriber has them all."""
    sub = clients(srv)
    sub.connect(name=WEIRD_NAME, lang="python", version="1.2.3")
    sub.send(b"SUB m.* 1\r\nSUB other 2\r\n")
    sub.ping()
    p = clients(srv)
    p.connect(name="publisher")
    p.send(b"".join(pub("m.x", "hello") for _ in range(count)))
    p.ping()
    sub.expect(msg("m.x", 1, "hello") * count, timeout=10)
    sub.ping()
    return sub, p


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_format_content_type_and_promtool(monitored, clients, prometheus_tools):
    srv, http = monitored
    pubsub_traffic(srv, clients, 3)
    for query in ("", "?connz_detailed=true"):
        text, fams = get_metrics(http, query)
        findings = promtool_check(prometheus_tools["promtool"], text)
        assert findings, "promtool saw none of the exporter's names"
    # The label value with a quote, a backslash, a line feed and non-ASCII
    # text comes back intact.
    names = [ls["name"] for ls, _ in fams["gnatsd_connz_in_msgs"]["samples"] if "cid" in ls]
    assert WEIRD_NAME in names and "publisher" in names
    assert '\\"ird\\\\name\\nwith ü' in text


def test_values_agree_with_varz_and_connz(monitored, clients):
    srv, http = monitored
    count = 25
    pubsub_traffic(srv, clients, count)
    v = http_get_json(http, "/varz")
    z = http_get_json(http, "/connz")
    _, m = get_metrics(http, "?connz_detailed=1")
    sid = v["server_id"]

    # Every number of /varz, under the exporter's flattened name.
    for key, x in v.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)) or key in VOLATILE_VARZ:
            continue
        assert value(m, "gnatsd_varz_" + key, server_id=sid) == x, key
    for key in VOLATILE_VARZ:
        assert m["gnatsd_varz_" + key]["type"] == "gauge"
        assert value(m, "gnatsd_varz_" + key, server_id=sid) >= 0
    assert value(m, "gnatsd_varz_mem", server_id=sid) > 0
    assert (v["in_msgs"], v["out_msgs"], v["in_bytes"], v["out_bytes"]) == (count, count, 5 * count, 5 * count)
    assert (v["connections"], v["subscriptions"]) == (2, 2)
    assert all(fam["type"] == "gauge" for name, fam in m.items() if name.startswith("gnatsd_varz_"))
    # Strings the exporter keeps, and times as epoch milliseconds.
    for key in ("server_id", "server_name", "version"):
        assert value(m, "gnatsd_varz_" + key, server_id=sid, value=v[key]) == 1
    assert value(m, "gnatsd_varz_start", server_id=sid) == epoch_ms(v["start"])
    assert value(m, "gnatsd_varz_config_load_time", server_id=sid) == epoch_ms(v["config_load_time"])
    assert "gnatsd_varz_now" not in m and "gnatsd_varz_host" not in m
    # http_req_stats per path, the /metrics request itself included.
    assert value(m, "gnatsd_varz_http_req_stats_varz", server_id=sid) == 1
    assert value(m, "gnatsd_varz_http_req_stats_connz", server_id=sid) == 1
    assert value(m, "gnatsd_varz_http_req_stats_metrics", server_id=sid) == 1
    assert http_get_json(http, "/varz")["http_req_stats"]["/metrics"] == 1

    # /connz: the page and the sums over its connections, then each one.
    for key in ("num_connections", "total", "offset", "limit"):
        assert value(m, "gnatsd_connz_" + key, server_id=sid) == z[key], key
    assert (z["num_connections"], z["total"], z["offset"], z["limit"]) == (2, 2, 0, 1024)
    sums = {"pending_bytes": "gauge", "subscriptions": "gauge", "in_msgs": "counter", "out_msgs": "counter",
            "in_bytes": "counter", "out_bytes": "counter"}
    for key, kind in sums.items():
        name = "gnatsd_connz_" + key
        assert m[name]["type"] == kind, key
        total = [x for ls, x in m[name]["samples"] if ls == {"server_id": sid}]
        assert total == [sum(c[key] for c in z["connections"])], key
    assert value(m, "gnatsd_connz_in_msgs", server_id=sid) == count
    for c in z["connections"]:
        cid = str(c["cid"])
        for key in sums:
            assert value_where(m, "gnatsd_connz_" + key, server_id=sid, cid=cid) == c[key], (cid, key)
        [labels] = [ls for ls, _ in m["gnatsd_connz_in_msgs"]["samples"] if ls.get("cid") == cid]
        assert labels["kind"] == c["kind"] and labels["type"] == c["type"]
        assert labels["ip"] == c["ip"] and labels["port"] == str(c["port"])
        for key in ("name", "lang", "version"):
            assert labels[key] == c.get(key, ""), key
        assert set(labels) == {"server_id", "cid", "kind", "type", "ip", "port", "name", "name_tag", "account",
                               "account_id", "lang", "version", "tls_version", "tls_cipher_suite"}
        assert value_where(m, "gnatsd_connz_start", cid=cid) == epoch_ms(c["start"])
        assert m["gnatsd_connz_start"]["type"] == "untyped" and m["gnatsd_connz_idle"]["type"] == "gauge"
    # Without connz_detailed there are only the per-server sums.
    _, plain = get_metrics(http)
    assert all(set(ls) == {"server_id"} for ls, _ in plain["gnatsd_connz_in_msgs"]["samples"])
    assert "gnatsd_connz_start" not in plain
    assert sum(x for _, x in plain["rnats_slow_consumers_total"]["samples"]) == 0


def test_bad_query_value_and_request_count(monitored):
    srv, http = monitored
    status, _, body = http_get(http, "/metrics?connz_detailed=maybe")
    assert status == 400 and body.startswith(b"Error decoding boolean for 'connz_detailed'")
    _, m = get_metrics(http)
    sid = http_get_json(http, "/varz")["server_id"]
    assert value(m, "gnatsd_varz_http_req_stats_metrics", server_id=sid) == 2


def test_slow_consumers_by_kind(start_server, tmp_path):
    http = free_port()
    conf = tmp_path / "small.conf"
    conf.write_text("max_pending: 65536\nmax_payload: 65536\n")
    srv = start_server("-c", str(conf), "-m", str(http))
    slow = Client(srv.port, timeout=5.0, rcvbuf=4096)
    p = Client(srv.port, timeout=5.0)
    try:
        slow.connect()
        slow.send(b"SUB flood 1\r\n")
        slow.ping()
        p.connect()
        chunk = pub("flood", "x" * 60000) * 16
        deadline = time.monotonic() + 30
        sent = 0
        while http_get_json(http, "/varz")["slow_consumers"] < 1:
            assert time.monotonic() < deadline and sent < 256 << 20, "no slow consumer after %d bytes" % sent
            p.send(chunk)
            round_trip(p)
            sent += len(chunk)
    finally:
        slow.close()
        p.close()
    v = http_get_json(http, "/varz")
    _, m = get_metrics(http)
    sid = v["server_id"]
    assert m["rnats_slow_consumers_total"]["type"] == "counter"
    assert value(m, "rnats_slow_consumers_total", server_id=sid, kind="client") == 1
    assert value(m, "rnats_slow_consumers_total", server_id=sid, kind="route") == 0
    assert value(m, "rnats_slow_consumers_total", server_id=sid, kind="http") == 0
    assert value(m, "gnatsd_varz_slow_consumers", server_id=sid) == v["slow_consumers"] == 1


def _wait(what, check, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.1)


def three_nodes(cluster):
    a = cluster.node(name="m-a")
    b = cluster.node(routes=[a], name="m-b")
    c = cluster.node(routes=[a], name="m-c")
    nodes = [a, b, c]
    wait_full_mesh(nodes)
    return nodes


def test_route_metrics_agree_with_routez(cluster, prometheus_tools):
    nodes = three_nodes(cluster)
    a, b, _ = nodes
    ids = {n.name: n.varz()["server_id"] for n in nodes}
    sub = Client(b.port, timeout=5.0)
    p = Client(a.port, timeout=5.0)
    try:
        sub.connect()
        sub.send(b"SUB routed 1\r\n")
        sub.ping()
        # The interest has reached a once a's route from b lists it.
        _wait("interest on a", lambda: any(r["remote_id"] == ids["m-b"] and r["subscriptions"] >= 1
                                           for r in http_get_json(a.http_port, "/routez")["routes"]), 10)
        count = 40
        p.connect()
        p.send(b"".join(pub("routed", "r%02d" % i) for i in range(count)))
        p.ping()
        sub.expect(b"".join(msg("routed", 1, "r%02d" % i) for i in range(count)), timeout=10)
        # The clients stay: closing the subscriber would change the routes'
        # interest between reading /routez and /metrics.
        for n in nodes:
            check_routes(n, ids, count, a, b, cluster.name, prometheus_tools["promtool"])
    finally:
        sub.close()
        p.close()


def check_routes(n, ids, count, a, b, cluster_name, promtool):
    """/metrics of node ``n`` against its /routez after ``count`` messages
    went from ``a`` to a subscriber on ``b``."""
    rz = http_get_json(n.http_port, "/routez")
    text, m = get_metrics(n.http_port)
    promtool_check(promtool, text)
    sid = ids[n.name]
    assert value(m, "gnatsd_routez_num_routes", server_id=sid) == rz["num_routes"] == 2
    assert value(m, "gnatsd_varz_routes", server_id=sid) == 2
    assert value(m, "gnatsd_varz_cluster_name", server_id=sid, value=cluster_name) == 1
    fields = {"rnats_route_pending_bytes": ("pending_size", "gauge"),
              "rnats_route_subscriptions": ("subscriptions", "gauge"),
              "rnats_route_in_msgs_total": ("in_msgs", "counter"),
              "rnats_route_out_msgs_total": ("out_msgs", "counter"),
              "rnats_route_in_bytes_total": ("in_bytes", "counter"),
              "rnats_route_out_bytes_total": ("out_bytes", "counter")}
    for name, (key, kind) in fields.items():
        assert m[name]["type"] == kind
        assert len(m[name]["samples"]) == 2, name
        for r in rz["routes"]:
            got = value(m, name, server_id=sid, rid=str(r["rid"]), remote_id=r["remote_id"],
                        remote_name=r["remote_name"])
            assert got == r[key], (n.name, name, r)
    routes = {r["remote_name"]: r for r in rz["routes"]}
    if n is a:
        assert routes["m-b"]["out_msgs"] == count and routes["m-b"]["out_bytes"] == 3 * count
        assert routes["m-c"]["out_msgs"] == 0
    if n is b:
        assert routes["m-a"]["in_msgs"] == count


class Prometheus:
    """A Prometheus server of our own: config, data and log in ``workdir``,
    HTTP on a free loopback port; stopped by its pid."""

    def __init__(self, binary, workdir, targets):
        self.port = free_port()
        self.workdir = workdir
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: rnats\n"
            "    metrics_path: /metrics\n"
            "    static_configs:\n"
            "      - targets: [%s]\n" % ", ".join("'%s:%d'" % (HOST, t) for t in targets))
        self.log_path = workdir / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--config.file=%s" % config, "--storage.tsdb.path=%s" % (workdir / "data"),
             "--web.listen-address=%s:%d" % (HOST, self.port), "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log_tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-3000:].decode("utf-8", "replace")

    def ready(self):
        assert self.proc.poll() is None, "prometheus exited %s:\n%s" % (self.proc.returncode, self.log_tail())
        try:
            return http_get(self.port, "/-/ready")[0] == 200
        except OSError:
            return False

    def query(self, promql):
        """Instant vector result: [(labels, float value)]."""
        status, _, body = http_get(self.port, "/api/v1/query?query=" + urllib.parse.quote(promql))
        assert status == 200, (status, body[:300])
        data = json.loads(body)
        assert data["status"] == "success", data
        return [(r["metric"], float(r["value"][1])) for r in data["data"]["result"]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def test_prometheus_scrapes_a_cluster(cluster, tmp_path, prometheus_tools):
    nodes = three_nodes(cluster)
    ids = {n.varz()["server_id"]: n for n in nodes}
    work = tmp_path / "prometheus"
    work.mkdir()
    prom = Prometheus(prometheus_tools["prometheus"], work, [n.http_port for n in nodes])
    try:
        _wait("prometheus ready", prom.ready, 60)

        def all_up():
            up = prom.query('up{job="rnats"}')
            return len(up) == 3 and all(x == 1 for _, x in up)
        _wait("3 targets up:\n" + prom.log_tail(), all_up, 30)

        def routes_of_all():
            res = prom.query("gnatsd_routez_num_routes")
            got = {ls.get("server_id"): x for ls, x in res}
            return got if set(got) == set(ids) and all(x == 2 for x in got.values()) else None
        got = _wait("gnatsd_routez_num_routes of 2 from each server", routes_of_all, 30)
        assert got == {sid: 2 for sid in ids}

        # Messages published on one server with no subscriber anywhere stay
        # there: its in_msgs counts exactly them.
        [sid_a] = [sid for sid, n in ids.items() if n is nodes[0]]
        [(_, before)] = prom.query('gnatsd_varz_in_msgs{server_id="%s"}' % sid_a)
        assert before == 0
        count = 57
        p = Client(nodes[0].port, timeout=5.0)
        try:
            p.connect()
            p.send(b"".join(pub("nobody.listens", "x") for _ in range(count)))
            p.ping()
        finally:
            p.close()

        def in_msgs():
            res = prom.query('gnatsd_varz_in_msgs{server_id="%s"}' % sid_a)
            return res if res and res[0][1] == count else None
        [(labels, _)] = _wait("gnatsd_varz_in_msgs == %d in Prometheus" % count, in_msgs, 30)
        assert labels["job"] == "rnats" and labels["instance"] == "%s:%d" % (HOST, nodes[0].http_port)
        # The cluster's totals as PromQL sees them.
        [(_, total)] = prom.query("sum(gnatsd_varz_in_msgs)")
        assert total == count
        per_route = prom.query("rnats_route_out_msgs_total")
        assert len(per_route) == 6 and {ls["server_id"] for ls, _ in per_route} == set(ids)
    finally:
        prom.stop()


def test_leaf_links_under_the_exporter_leafz_names(tmp_path):
    """A hub with a Go leaf: gnatsd_leafz_* as the exporter's -leafz makes
    them from /leafz (count, info, traffic, interest), for both ends, and
    the mesh page draws the leaf link."""
    from leafnet import Node, wait_leafnodes
    hub = Node(tmp_path, "hub", "under-test", listen=True).start()
    try:
        leaf = Node(tmp_path, "edge", "2.10+", remotes=[hub.remote()]).start()
        try:
            wait_leafnodes({hub: 1, leaf: 1})
            c = open_client(hub)
            c.send("SUB from.leaf 1\r\n")
            c.ping()
            _, fams = get_metrics(hub.http_port)
            row = hub.leafs()[0]
            assert value_where(fams, "gnatsd_leafz_conn_nodes_total") == 1
            labels = {"account": "$G", "ip": row["ip"], "port": str(row["port"]), "name": "edge"}

            def one(family):
                hits = [v for ls, v in fams[family]["samples"] if all(ls.get(k) == x for k, x in labels.items())]
                assert len(hits) == 1, (family, fams[family]["samples"])
                return hits[0]

            assert one("gnatsd_leafz_info") == 1
            assert one("gnatsd_leafz_conn_in_msgs") == row["in_msgs"]
            assert one("gnatsd_leafz_conn_subscriptions_total") >= 1
            assert fams["gnatsd_leafz_conn_rtt"]["type"] == "gauge"
            status, _, page = http_get(hub.http_port, "/")
            assert status == 200 and b'data-kind="leaf"' in page and b"leaf node of ours" in page
            c.close()
        finally:
            leaf.stop()
    finally:
        hub.stop()
