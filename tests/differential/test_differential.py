"""CI entry of the differential harness: fixed seeds, Go nats-server 2.9.10
(/usr/sbin/nats-server) as the reference, the rnats release binary (or
NATS_SERVER_BIN) as the candidate.  Any difference not in allowlist.toml
fails, with a reproduction per kind of difference.

Sizes can be changed with DIFFTEST_CI_ROUNDS (scenario indices, 1 in 3 a
route scenario; default 750 = 500 client + 250 route), DIFFTEST_CI_LEAF_ROUNDS
(leaf scenarios leaf:0.., default ROUNDS/5 = 150), DIFFTEST_CI_CLUSTERS
(cluster formations, default 3) and DIFFTEST_CI_LEAF_FORMATIONS (leaf
formations, default 2).
"""

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import dt_allow  # noqa: E402
import dt_cluster  # noqa: E402
import dt_run  # noqa: E402
from dt_core import GO_BIN, RNATS_BIN  # noqa: E402
from dt_gen import scenario_kind  # noqa: E402

CI_SEED = "ci-1"
CALIBRATION_SEED = "ci-cal-1"
CI_ROUNDS = int(os.environ.get("DIFFTEST_CI_ROUNDS", "750"))
CI_LEAF_ROUNDS = int(os.environ.get("DIFFTEST_CI_LEAF_ROUNDS", str(CI_ROUNDS // 5)))
CI_CLUSTERS = int(os.environ.get("DIFFTEST_CI_CLUSTERS", "3"))
CI_LEAF_FORMATIONS = int(os.environ.get("DIFFTEST_CI_LEAF_FORMATIONS", "2"))
CALIBRATION_ROUNDS = 90
CALIBRATION_LEAF_ROUNDS = 30
SHRINK_GROUPS = 3
SHRINK_BUDGET = 15.0
SHOW_GROUPS = 8


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


@pytest.fixture(scope="module")
def go_bin():
    if not _executable(GO_BIN):
        pytest.skip("Go nats-server 2.9.10 not found at %s (apt-get install nats-server)" % GO_BIN)
    return GO_BIN


@pytest.fixture(scope="module")
def pair(go_bin):
    if not _executable(RNATS_BIN):
        pytest.skip("server under test not found at %s" % RNATS_BIN)
    p = dt_run.Pair(go_bin, RNATS_BIN)
    yield p
    p.close()


def test_readme_known_differences_match_allowlist():
    assert dt_allow.check_readme() == []


def _report(pair, seed, failing, counts, calibrate=False):
    groups = dt_run.group(failing)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    lines = ["%d of %d scenarios differ (seed %s); %d distinct differences:" % (
        len(failing), counts["client"] + counts["route"] + counts["leaf"], seed, len(groups))]
    for sig, results in ordered:
        lines.append("  %4d x %s   e.g. %s" % (len(results), sig, dt_run.replay_command(
            seed, results[0].scn.index, calibrate)))
    labels = ("go-2.9.10", "go-2.9.10 (again)") if calibrate else ("go-2.9.10", "rnats")
    for n, (sig, results) in enumerate(ordered[:SHOW_GROUPS]):
        res = results[0]
        if n < SHRINK_GROUPS and res.diffs:
            small = dt_run.minimize(pair, res.scn, sig, budget=SHRINK_BUDGET)
            diffs, oa, ob, norm = pair.run(small, dt_run.Timing())
            if any(d.signature == sig for d in diffs):
                res = dt_run.Result(small, diffs, oa, ob, norm)
        lines.append("")
        lines.append("difference: %s" % sig)
        lines.append(dt_run.describe_result(
            res, pair, *labels, replay=dt_run.replay_command(seed, res.scn.index, calibrate)))
    return "\n".join(lines)


def _run_kind(pair, kind, seed=CI_SEED, rounds=CI_ROUNDS, calibrate=False):
    if kind == "leaf":
        indices = ["leaf:%d" % i for i in range(CI_LEAF_ROUNDS)]
    else:
        indices = [i for i in range(rounds) if scenario_kind(i) == kind]
    t0 = time.monotonic()
    failing, counts = dt_run.run_rounds(pair, seed, indices)
    elapsed = time.monotonic() - t0
    if failing:
        pytest.fail(_report(pair, seed, failing, counts, calibrate), pytrace=False)
    return counts, elapsed


def test_client_scenarios(pair, record_property):
    counts, elapsed = _run_kind(pair, "client")
    record_property("measured", "%d client scenarios in %.1f s" % (counts["client"], elapsed))


def test_route_scenarios(pair, record_property):
    counts, elapsed = _run_kind(pair, "route")
    record_property("measured", "%d route scenarios in %.1f s" % (counts["route"], elapsed))


def test_leaf_scenarios(pair, record_property):
    counts, elapsed = _run_kind(pair, "leaf")
    record_property("measured", "%d leaf scenarios in %.1f s" % (counts["leaf"], elapsed))


def test_calibration_go_against_go(go_bin):
    """The harness itself: Go against Go must show nothing."""
    p = dt_run.Pair(go_bin, go_bin)
    try:
        indices = list(range(CALIBRATION_ROUNDS)) + [
            "leaf:%d" % i for i in range(CALIBRATION_LEAF_ROUNDS)]
        failing, counts = dt_run.run_rounds(p, CALIBRATION_SEED, indices)
        if failing:
            pytest.fail(_report(p, CALIBRATION_SEED, failing, counts, calibrate=True),
                        pytrace=False)
    finally:
        p.close()


def test_cluster_formations(pair, record_property):
    t0 = time.monotonic()
    bad = []
    for n in range(CI_CLUSTERS):
        res = dt_cluster.run_formation(CI_SEED, n, pair.ref, pair.cand, pair.workdir)
        if not res.ok:
            bad.append(dt_cluster.describe(res))
    record_property("measured", "%d cluster formations in %.1f s" % (
        CI_CLUSTERS, time.monotonic() - t0))
    if bad:
        pytest.fail("\n\n".join(bad), pytrace=False)


def test_leaf_formations(pair, record_property):
    t0 = time.monotonic()
    bad = []
    for n in range(CI_LEAF_FORMATIONS):
        res = dt_cluster.run_leaf_formation(CI_SEED, n, pair.ref, pair.cand, pair.workdir)
        if not res.ok:
            bad.append(dt_cluster.describe_leaf(res))
    record_property("measured", "%d leaf formations in %.1f s" % (
        CI_LEAF_FORMATIONS, time.monotonic() - t0))
    if bad:
        pytest.fail("\n\n".join(bad), pytrace=False)
