#!/usr/bin/env bash
# Fuzzes rusque-core's decode paths with cargo fuzz (libFuzzer), each target
# for a bounded time, one process at the lowest CPU priority.
#
#   scripts/fuzz.sh [seconds per target = 120] [target ...]
#   npm run fuzz -- 300 resize_jpeg
#
# Targets: metadata resize_jpeg resize_png resize_webp resize_gif resize_avif resize_animated_gif
# resize_animated_webp resize_options resque_payload
# (fuzz/fuzz_targets/); a dictionary in fuzz/dict/<target>.dict is used when present.
# Seeds: regenerated each run into fuzz/seeds/<target>/ from the fixtures
# (fixtures/images, or $RUSQUE_FIXTURES) by scripts/fuzz-seeds.js.
# The growing corpus stays in fuzz/corpus/<target>/, crashes land in
# fuzz/artifacts/<target>/, libFuzzer's logs in fuzz/logs/, and a summary
# (executions, cov, ft per target) in fuzz/logs/summary.txt.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and -Z flags: a nightly
# toolchain if one is installed, otherwise stable with RUSTC_BOOTSTRAP=1.
# With clang-14 (Debian: clang-14) the C decoders (libjpeg-turbo, libwebp) are
# built with ASan and coverage too; without it only Rust code is guided.
# Extra libFuzzer flags: FUZZ_ARGS="-only_ascii=0 ...".
set -euo pipefail

# All in one function: bash then reads the whole file before running any of it,
# so editing the script during a long run cannot change that run.
main() {
  root="$(cd "$(dirname "$0")/.." && pwd)"
  fuzz="$root/fuzz"
  seconds="${1:-120}"
  shift || true
  local targets=("$@")
  [ ${#targets[@]} -gt 0 ] || targets=(metadata resize_jpeg resize_png resize_webp resize_gif resize_avif resize_animated_gif resize_animated_webp resize_options resize_steps resize_composite resque_payload)

  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
  fi
  toolchain=()
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
  else
    export RUSTC_BOOTSTRAP=1
  fi
  for cc in clang-14 clang; do
    if command -v "$cc" >/dev/null; then
      export CC="$cc"
      export CFLAGS="-g -fsanitize=address -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp"
      break
    fi
  done
  [ -n "${CC:-}" ] || echo "fuzz.sh: no clang; libjpeg-turbo and libwebp run without coverage or ASan" >&2

  # Two cores shared with builds and benchmarks: build and fuzz at nice 19, one process.
  export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
  cd "$fuzz"
  # One build of every target; `fuzz run` below then finds them up to date.
  nice -n 19 cargo "${toolchain[@]}" fuzz build --debug-assertions

  node "$root/scripts/fuzz-seeds.js" "$fuzz/seeds"

  mkdir -p "$fuzz/logs"
  summary="$fuzz/logs/summary.txt"
  {
    echo "rusque fuzz run $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per target, $(nproc) cores, CC=${CC:-none}"
    printf '%-12s %10s %8s %8s %8s %8s %s\n' target seconds execs exec/s cov ft result
  } > "$summary"

  status=0
  for t in "${targets[@]}"; do
    mkdir -p "$fuzz/corpus/$t" "$fuzz/artifacts/$t" "$fuzz/logs/$t"
    log="$fuzz/logs/$t.log"
    dict=()
    [ -f "$fuzz/dict/$t.dict" ] && dict=(-dict="$fuzz/dict/$t.dict")
    started=$(date +%s)
    set +e
    # -jobs=1 -workers=1 runs one child that writes fuzz-0.log in the cwd.
    (cd "$fuzz/logs/$t" && rm -f fuzz-*.log && nice -n 19 cargo "${toolchain[@]}" fuzz run --debug-assertions "$t" \
      "$fuzz/corpus/$t" "$fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
      -artifact_prefix="$fuzz/artifacts/$t/" -print_final_stats=1 "${dict[@]}" ${FUZZ_ARGS:-} >/dev/null 2>&1)
    rc=$?
    set -e
    cat "$fuzz/logs/$t"/fuzz-*.log > "$log" 2>/dev/null || true
    elapsed=$(( $(date +%s) - started ))
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
    [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    result=ok
    if grep -qE '==ERROR|panicked|deadly signal|Test unit written to [^ ]*/(crash|oom|timeout|leak)-' "$log"; then
      result="CRASH: $(grep -oE "Test unit written to [^ ]+" "$log" | head -1 | sed 's/Test unit written to //')"
      status=1
    elif grep -qE 'Test unit written to [^ ]*/slow-unit-' "$log"; then
      # Slower than -report_slow_units (10 s) once: on a loaded machine often a
      # stall rather than the input; run the target on the file alone to tell.
      result="SLOW: $(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')"
    elif [ "$rc" -ne 0 ]; then
      result="exit $rc"
      status=1
    fi
    printf '%-12s %10s %8s %8s %8s %8s %s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result" | tee -a "$summary"
  done
  echo "summary: $summary"
  exit $status
}

main "$@"
