#!/usr/bin/env bash
# Builds a fully static rnats-server for small boxes and minimal containers.
#
#   scripts/build-static.sh                    x86-64 musl (the default)
#   scripts/build-static.sh --target TRIPLE    another target
#
# The binary lands in target/TRIPLE/release/rnats-server. Targets:
#
#   x86_64-unknown-linux-musl        x86-64 (default)
#   aarch64-unknown-linux-musl       64-bit ARM: Raspberry Pi 3/4/5 and other
#                                    ARMv8 boards with a 64-bit OS
#   armv7-unknown-linux-musleabihf   32-bit ARMv7 hard-float: Raspberry Pi 2/3/4
#                                    and other ARMv7 boards with a 32-bit OS
#   armv7-unknown-linux-gnueabihf    the same boards, glibc linked statically,
#                                    for where the Rust standard library for
#                                    armv7 musl cannot be installed
#
# The musl targets need nothing but `rustup target add` (run here): it brings
# the target's self-contained musl runtime (crt objects, libc.a), and the ARM
# ones are linked with the toolchain's own rust-lld (.cargo/config.toml), so
# no cross C toolchain is needed. armv7-unknown-linux-gnueabihf is linked by
# Debian's arm-linux-gnueabihf-gcc (`apt-get install gcc-arm-linux-gnueabihf`),
# which brings the static glibc for ARM.
#
# Every target is built with the release profile (fat LTO, one codegen unit,
# panic = "abort", stripped, clap optimised for size) as a static,
# position-dependent executable (.cargo/config.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
while [ $# -gt 0 ]; do
  case "$1" in
    --target)
      [ $# -ge 2 ] || { echo "build-static.sh: --target needs a value" >&2; exit 2; }
      target="$2"
      shift 2
      ;;
    --target=*)
      target="${1#--target=}"
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build-static.sh: unknown argument: $1 (usage: build-static.sh [--target TRIPLE])" >&2
      exit 2
      ;;
  esac
done

case "$target" in
  x86_64-unknown-linux-musl | aarch64-unknown-linux-musl | armv7-unknown-linux-musleabihf) ;;
  armv7-unknown-linux-gnueabihf)
    if ! command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1; then
      echo "build-static.sh: $target is linked by arm-linux-gnueabihf-gcc:" \
        "apt-get install gcc-arm-linux-gnueabihf" >&2
      exit 1
    fi
    ;;
  *)
    echo "build-static.sh: unsupported target $target (x86_64-unknown-linux-musl," \
      "aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf," \
      "armv7-unknown-linux-gnueabihf)" >&2
    exit 2
    ;;
esac

if ! out=$(rustup target add "$target" 2>&1) &&
  ! rustup target list --installed | grep -qx "$target"; then
  echo "build-static.sh: could not install the Rust standard library for $target" \
    "(rustup target add $target):" >&2
  printf '%s\n' "$out" | grep -m 3 -E '^(error|Caused by|  *[0-9]+:)' >&2 || true
  exit 1
fi
cargo build --release --target "$target"
bin="target/$target/release/rnats-server"
ls -l "$bin"
file "$bin" 2>/dev/null || true
