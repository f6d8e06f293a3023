#!/usr/bin/env bash
# Builds the prebuilt `.node` file of one or more release platforms.
#
#   scripts/build-target.sh [PLATFORM...]     default: linux-x64-musl linux-arm64-gnu
#
# Linux platforms (linux-x64-gnu linux-x64-musl linux-arm64-gnu linux-arm64-musl)
# build from any Linux x64 host with zig as C compiler and linker (napi build -x
# → cargo-zigbuild); glibc ones are pinned to glibc 2.17 so they load on old
# distros. Each is then checked from its ELF headers (arch, libc, stripped,
# size) by scripts/check-elf.js. darwin-x64, darwin-arm64 and win32-x64-msvc
# build natively on a macOS or Windows host (the release workflow's runners).
#
# Environment:
#   CARGO_TARGET_DIR   cargo's target dir (default /tmp/rusque-cross), kept apart
#                      from the repo's own so a cross build never waits on, or
#                      evicts, the native build
#   RUSQUE_CROSS_OUT   where the .node files go (default $CARGO_TARGET_DIR/out),
#                      one per platform: $RUSQUE_CROSS_OUT/rusque.<platform>.node
#   RUSQUE_RUNTIME_CHECK=0  skip scripts/check-prebuilt.js (which runs each Linux
#                      binary: natively, under qemu-user, or through musl's
#                      loader); the release workflow's own test jobs run them
#                      on real hardware instead
#
# zig and cargo-zigbuild come from PyPI (ziglang, cargo-zigbuild wheels); the
# Rust targets from rustup. Each is installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/rusque-cross}"
out="${RUSQUE_CROSS_OUT:-$CARGO_TARGET_DIR/out}"
platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux-x64-musl linux-arm64-gnu)

triple_of() {
  case "$1" in
    linux-x64-gnu) echo x86_64-unknown-linux-gnu.2.17 ;;
    linux-x64-musl) echo x86_64-unknown-linux-musl ;;
    linux-arm64-gnu) echo aarch64-unknown-linux-gnu.2.17 ;;
    linux-arm64-musl) echo aarch64-unknown-linux-musl ;;
    darwin-x64) echo x86_64-apple-darwin ;;
    darwin-arm64) echo aarch64-apple-darwin ;;
    win32-x64-msvc) echo x86_64-pc-windows-msvc ;;
    *) echo "build-target.sh: unknown platform '$1'" >&2; return 1 ;;
  esac
}

linux=0
for p in "${platforms[@]}"; do case "$p" in linux-*) linux=1 ;; esac; done

# Tools, installed only if missing. cargo-zigbuild finds zig through
# `python3 -m ziglang` when no `zig` is on PATH.
if [ $linux = 1 ] && ! python3 -c 'import ziglang' 2>/dev/null && ! command -v zig >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore ziglang
fi
if [ $linux = 1 ] && ! cargo help zigbuild >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore cargo-zigbuild
fi
installed_targets="$(rustup target list --installed)"
for p in "${platforms[@]}"; do
  t="$(triple_of "$p")"
  t="${t%%.*}" # drop the glibc version suffix
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t" >/dev/null
done

napi=(node node_modules/@napi-rs/cli/dist/cli.js)
mkdir -p "$out"
built=()
for p in "${platforms[@]}"; do
  t="$(triple_of "$p")"
  dir="$out/.build-$p"
  rm -rf "$dir"
  cross=()
  case "$p" in linux-*) cross=(--cross-compile) ;; esac
  echo "build-target: $p ($t)"
  # --no-js and a throwaway --dts inside the output dir: the repo's binding.js
  # and index.d.ts stay untouched.
  "${napi[@]}" build --platform --release --target "$t" ${cross[@]+"${cross[@]}"} \
    --target-dir "$CARGO_TARGET_DIR" --output-dir "$dir" --no-js --dts binding.d.ts \
    >"$out/build-$p.log" 2>&1 || { tail -40 "$out/build-$p.log" >&2; exit 1; }
  mv "$dir/rusque.$p.node" "$out/rusque.$p.node"
  rm -rf "$dir"
  case "$p" in linux-*) built+=("$out/rusque.$p.node") ;; esac
  ls -l "$out/rusque.$p.node"
done

[ ${#built[@]} -eq 0 ] || node scripts/check-elf.js --expect "${built[@]}"
if [ ${#built[@]} -gt 0 ] && [ "${RUSQUE_RUNTIME_CHECK:-1}" != 0 ]; then
  node scripts/check-prebuilt.js "${built[@]}"
fi
