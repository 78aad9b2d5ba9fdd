#!/usr/bin/env python3
"""The comparison step of the client-library suites: a library's own tests
ran against the Go server (the oracle) and the server under test; this
reads both results and either picks the tests to run once more or prints
them side by side.

    compare_suites.py FLAVOR retry|table WORK KNOWN RETRY_MAX
    compare_suites.py nats.py retry|table WORK KNOWN RETRY_MAX ORACLE_BIN SERVER_BIN SUITE=PREFIX...

FLAVOR names the suite and the shape of its results in WORK:
  async-nats  (client_suites.sh)  LABEL.results: `test outcome seconds`
  nats.py     (js_suites.sh)      LABEL.SUITE.report: pytest phases, tab-separated
  nats.js     (natsjs_suites.sh)  LABEL.results: `test<TAB>outcome<TAB>seconds[<TAB>why]`
with LABEL oracle, server, or retry (the second run of the tests that
failed only against the server under test).

`retry` writes the tests that passed against the oracle and not against the
server under test, and are not in KNOWN (none when there are more than
RETRY_MAX), to WORK/retry.ids (nats.py: WORK/retry.SUITE.ids, without the
suite's node prefix) and prints how many. `table` prints every test's two
outcomes and exits 1 when a test passed against the oracle and failed
against the server under test without a KNOWN entry (a test that passed on
its second run counts as flaky, not as a regression); 2 when nothing ran or
nothing passed against the oracle.
"""

import glob
import os
import sys


def read_known(path):
    """KNOWN: `test # reason` lines, `#` comments."""
    known = {}
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            node, _, reason = line.partition(" # ")
            known[node.strip()] = reason.strip()
    return known


def count(outcomes, order):
    c = {}
    for v in outcomes:
        c[v] = c.get(v, 0) + 1
    return ", ".join("%d %s" % (c[k], k) for k in order if c.get(k))


class Flavor:
    """How one suite's results are read and shown; outcomes are strings."""

    script = ""
    ok = "ok"
    # What the server under test may show for a test and still pass.
    passing = ("ok", "flaky")
    failing = ("FAILED", "TIMEOUT")
    order = ["ok", "flaky", "FAILED", "TIMEOUT", "ignored"]
    not_retried = ()

    def __init__(self, work):
        self.work = work
        self.why = {}

    def load(self, label):
        return {}

    def write_retry(self, oracle, server, known, retry_max):
        bad = [n for n, v in oracle.items()
               if v == self.ok and server.get(n) != self.ok and server.get(n) not in self.not_retried
               and n not in known]
        ids = bad if len(bad) <= retry_max else []
        with open(os.path.join(self.work, "retry.ids"), "w") as f:
            f.writelines(i + "\n" for i in ids)
        print(len(ids))

    def table(self, names, oracle, server, diffs):
        w = max(len(n) for n in names)
        print("%-*s  %-8s  %s" % (w, self.title, "Go", "server under test"))
        marks = {"flaky": "   (failed, then passed on a second run)",
                 "regression": "   <-- fails only against the server under test",
                 "other": "   (differs)"}
        tags = {n: (tag, why) for n, _, _, tag, why in diffs}
        for n in names:
            tag, why = tags.get(n, ("", ""))
            mark = "   <-- known: " + why if tag == "known" else marks.get(tag, "")
            print("%-*s  %-8s  %s%s" % (w, n, oracle.get(n, "-"), server.get(n, "-"), mark))

    def totals(self, label, results):
        return count(results.values(), self.order)

    def summary(self, oracle, server):
        print()
        print("oracle (Go):       %s" % self.totals("oracle", oracle))
        print("server under test: %s" % self.totals("server", server))

    def last_line(self, server):
        passed = sum(1 for v in server.values() if v in self.passing)
        failed = sum(1 for v in server.values() if v in self.failing)
        return "%d passed, %d failed, %d ignored" % (passed, failed, len(server) - passed - failed)


class AsyncNats(Flavor):
    script = "client_suites"
    title = "async-nats test"
    JS = ("jetstream_tests::", "kv_tests::", "object_store::")

    def load(self, label):
        out = {}
        self.secs = getattr(self, "secs", {})
        secs = self.secs.setdefault(label, {})
        p = os.path.join(self.work, label + ".results")
        if os.path.exists(p):
            for line in open(p):
                parts = line.split()
                if len(parts) == 3:
                    out[parts[0]], secs[parts[0]] = parts[1], int(parts[2])
        return out

    def totals(self, label, results):
        secs = self.secs.get(label, {})
        base = sum(t for n, t in secs.items() if not n.startswith(self.JS))
        js = sum(t for n, t in secs.items() if n.startswith(self.JS))
        counts = count(results.values(), self.order)
        if not any(n.startswith(self.JS) for n in results):
            return "%s (%d s)" % (counts, base)
        return "%s (%d s: TLS/NKey/WebSocket %d s, JetStream/KV/object store %d s)" % (counts, base + js, base, js)


class NatsPy(Flavor):
    script = "js_suites"
    title = "nats.py test"
    ok = "passed"
    passing = ("passed", "flaky")
    failing = ("failed", "error", "not run")
    order = ["passed", "flaky", "failed", "error", "skipped", "xfail", "not run"]

    def __init__(self, work, bins=(), prefixes=None):
        super().__init__(work)
        self.bins = bins
        self.prefixes = prefixes or {}

    def load(self, label, suite=None):
        """node id -> passed | failed | error | skipped | xfail | not run"""
        seen, out = {}, {}
        for path in sorted(glob.glob(os.path.join(self.work, "%s.%s.report" % (label, suite or "*")))):
            for line in open(path):
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2:
                    seen.setdefault(parts[0], [])
                elif len(parts) == 3:
                    seen.setdefault(parts[0], []).append((parts[1], parts[2]))
        for node, reports in seen.items():
            v = "not run"
            for when, outcome in reports:
                if outcome == "failed":
                    v = "failed" if when == "call" else "error"
                    break
                if outcome in ("skipped", "xfail"):
                    v = outcome
                elif when == "call" and outcome == "passed" and v == "not run":
                    v = "passed"
            out[node] = v
        return out

    def write_retry(self, oracle, server, known, retry_max):
        # Per suite: each suite runs its own retry.
        for suite, prefix in self.prefixes.items():
            o, s = self.load("oracle", suite), self.load("server", suite)
            bad = [n for n in o if o[n] == "passed" and s.get(n) in ("failed", "error", "not run", None)]
            ids = [n[len(prefix):] for n in bad] if len(bad) <= retry_max else []
            with open(os.path.join(self.work, "retry.%s.ids" % suite), "w") as f:
                f.writelines(i + "\n" for i in ids)
            print(len(ids))

    def table(self, names, oracle, server, diffs):
        print()
        super().table(names, oracle, server, diffs)

    def times(self, label):
        p = os.path.join(self.work, label + ".times")
        return sum(int(line.split()[1]) for line in open(p)) if os.path.exists(p) else 0

    def summary(self, oracle, server):
        print()
        for label, res, name in (("oracle", oracle, "oracle           "), ("server", server, "server under test")):
            print("%s %s: %s (%d s)" % (name, self.bins[label == "server"], count(res.values(), self.order)
                                         or "no test", self.times(label)))
        print()

    def last_line(self, server):
        passed = sum(1 for v in server.values() if v in self.passing)
        failed = sum(1 for v in server.values() if v in self.failing)
        skipped = sum(1 for v in server.values() if v in ("skipped", "xfail"))
        return "%d passed, %d failed, %d skipped" % (passed, failed, skipped)


class NatsJs(Flavor):
    script = "natsjs_suites"
    order = ["ok", "flaky", "gated", "FAILED", "TIMEOUT", "ignored"]
    not_retried = ("gated",)

    def load(self, label):
        out = {}
        p = os.path.join(self.work, label + ".results")
        if os.path.exists(p):
            for line in open(p):
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3:
                    out[parts[0]] = parts[1]
                    if label != "retry":
                        self.why.setdefault(label, {})[parts[0]] = parts[3] if len(parts) > 3 else ""
        return out

    def table(self, names, oracle, server, diffs):
        print("%-8s %-8s %s" % ("Go", "server", "nats.js test"))
        for n in names:
            print("%-8s %-8s %s" % (oracle.get(n, "-"), server.get(n, "-"), n))

    def summary(self, oracle, server):
        names = set(oracle) | set(server)
        print()
        print("per file (Go | server under test):")
        for f in sorted({n.split("::", 1)[0] for n in names}):
            def of_file(r):
                return [v for n, v in r.items() if n.startswith(f + "::")]
            print("  %-45s %s | %s" % (f, count(of_file(oracle), self.order), count(of_file(server), self.order)))
        print("oracle (Go):       %s" % count(oracle.values(), self.order))
        print("server under test: %s" % count(server.values(), self.order))

    def detail(self, n, tag, known):
        why = known.get(n) if tag == "known" else self.why.get("server", {}).get(n, "")
        return ("   " + why) if why else ""

    def after_diffs(self, names, oracle, server):
        both = [n for n in names if oracle.get(n) in self.failing and server.get(n) in self.failing]
        if both:
            print("tests failing against both:")
            for n in both:
                print("  %s   Go: %s" % (n, self.why.get("oracle", {}).get(n, "")))

    def last_line(self, server):
        return super().last_line(server).replace("ignored", "ignored or gated")


def main(argv):
    flavor, mode, work, known_path, retry_max = argv[1:6]
    rest = argv[6:]
    if flavor == "async-nats":
        f = AsyncNats(work)
    elif flavor == "nats.py":
        f = NatsPy(work, tuple(rest[:2]), dict(a.split("=", 1) for a in rest[2:]))
    elif flavor == "nats.js":
        f = NatsJs(work)
    else:
        print("compare_suites.py: unknown flavor %r" % flavor, file=sys.stderr)
        return 2
    name = f.script + ".sh"
    known = read_known(known_path)
    oracle, server = f.load("oracle"), f.load("server")
    if isinstance(f, NatsJs):
        # Only the files run against the server under test (the oracle's
        # results may be from an earlier, larger run: SUITE_SKIP_ORACLE).
        ran = {n.split("::", 1)[0] for n in server}
        oracle = {n: v for n, v in oracle.items() if n.split("::", 1)[0] in ran}
    if mode == "retry":
        f.write_retry(oracle, server, known, int(retry_max))
        return 0
    for n, v in f.load("retry").items():
        if v == f.ok and server.get(n) != f.ok:
            server[n] = "flaky"
            f.why.get("server", {}).pop(n, None)
    names = sorted(set(oracle) | set(server))
    if not oracle and isinstance(f, NatsPy):
        print("%s: no test was collected against the oracle; see %s/oracle.log" % (name, work))
        return 2
    if not names:
        print("%s: no test ran" % name)
        return 2
    if not any(v == f.ok for v in oracle.values()):
        print("%s: no test passed against the oracle; see %s/oracle.log" % (name, work))
        return 2
    diffs = []
    for n in names:
        o, s = oracle.get(n, "-"), server.get(n, "-")
        tag = ""
        if o == f.ok and s == "flaky":
            tag = "flaky"
        elif o == f.ok and s not in f.passing:
            tag = "known" if n in known else "regression"
        elif o != s:
            tag = "other"
        if tag:
            diffs.append((n, o, s, tag, known.get(n, "")))
    f.table(names, oracle, server, diffs)
    f.summary(oracle, server)
    if diffs:
        print("tests whose outcome differs (Go -> server under test):")
        for n, o, s, tag, _ in diffs:
            extra = f.detail(n, tag, known) if isinstance(f, NatsJs) else ""
            print("  %-10s %s: %s -> %s%s" % (tag, n, o, s, extra))
    elif isinstance(f, NatsPy):
        print("no test's outcome differs")
    if isinstance(f, NatsJs):
        f.after_diffs(names, oracle, server)
    stale = sorted(n for n in known if n in oracle and not (oracle[n] == f.ok and server.get(n) not in f.passing))
    if stale:
        print("%s.known entries that did not fail in this run (stale, if this server is rnats):" % f.script)
        for n in stale:
            print("  " + n)
    print("%s: %s" % (f.script.replace("_", "-"), f.last_line(server)))
    return 1 if any(d[3] == "regression" for d in diffs) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
