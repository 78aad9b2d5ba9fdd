#!/usr/bin/env bash
# Builds a fully static rnats-server for small boxes and minimal containers.
#
#   scripts/build-static.sh                    x86-64 musl (the default)
#   scripts/build-static.sh --target TRIPLE    another target
#   scripts/build-static.sh --minimal          without TLS (--no-default-features)
#
# TLS (the default "tls" cargo feature) uses ring, which compiles C and
# assembly for the target: x86-64 musl uses the host gcc; the ARM targets
# need a C compiler for ARM (aarch64-linux-gnu-gcc / arm-linux-gnueabihf-gcc,
# or clang); without one the script says so and --minimal builds the
# server without TLS.
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
features=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minimal)
      features=(--no-default-features)
      shift
      ;;
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
# ring's C compiler for the target (cc-rs reads CC_<target>).
if [ ${#features[@]} -eq 0 ]; then
  var="CC_${target//-/_}"
  if [ -z "${!var:-}" ]; then
    cc=""
    case "$target" in
      x86_64-unknown-linux-musl) for c in x86_64-linux-musl-gcc musl-gcc gcc; do command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }; done ;;
      aarch64-unknown-linux-musl) for c in aarch64-linux-musl-gcc aarch64-linux-gnu-gcc; do command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }; done ;;
      armv7-unknown-linux-musleabihf) for c in arm-linux-musleabihf-gcc arm-linux-gnueabihf-gcc; do command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }; done ;;
      armv7-unknown-linux-gnueabihf) cc=arm-linux-gnueabihf-gcc ;;
    esac
    if [ -z "$cc" ] && command -v clang >/dev/null 2>&1; then
      cc=clang
      export "CFLAGS_${target//-/_}=--target=$target"
    fi
    if [ -z "$cc" ]; then
      echo "build-static.sh: TLS (ring) needs a C compiler for $target: install one" \
        "(apt-get install gcc-aarch64-linux-gnu / gcc-arm-linux-gnueabihf, or clang)," \
        "set $var, or build without TLS with --minimal" >&2
      exit 3
    fi
    export "$var=$cc"
  fi
fi
cargo build --release --target "$target" "${features[@]}"
bin="target/$target/release/rnats-server"
ls -l "$bin"
file "$bin" 2>/dev/null || true
