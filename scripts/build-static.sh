#!/usr/bin/env bash
# Builds a fully static rnats-server with musl for small boxes and minimal
# containers: target/x86_64-unknown-linux-musl/release/rnats-server.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add x86_64-unknown-linux-musl >/dev/null
cargo build --release --target x86_64-unknown-linux-musl
bin=target/x86_64-unknown-linux-musl/release/rnats-server
ls -l "$bin"
file "$bin" 2>/dev/null || true
