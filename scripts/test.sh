#!/usr/bin/env bash
# Runs every test: the protocol crate's and the server's unit tests, the
# raw-socket integration suite against the release binary, and the nats-py
# interop script.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --quiet
cargo build --release --quiet
export NATS_SERVER_BIN="${NATS_SERVER_BIN:-$PWD/target/release/rnats-server}"
python3 -m pytest -q tests/
python3 scripts/interop_nats_py.py
python3 scripts/seed_example.py
