#!/usr/bin/env bash
# Fuzzes every device-protocol decoder with libFuzzer on stable Rust (no
# cargo-fuzz or nightly needed): builds the targets in fuzz/ with
# sanitizer-coverage instrumentation, then runs each for SECONDS (default 60)
# on a corpus kept in target dir. A crash stops with the failing input saved.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(jt808_frame jt808_message watch_frame gb28181_notify)
out="${CARGO_TARGET_DIR:-target}/fuzz"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
# --target keeps the instrumentation off build scripts and proc macros.
CARGO_TARGET_DIR="$out" cargo build --manifest-path fuzz/Cargo.toml --release --bins --target "$triple"
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  echo "== fuzzing $t for ${secs}s"
  status=0
  "$out/$triple/release/$t" "$out/corpus/$t" -max_total_time="$secs" -rss_limit_mb=2048 \
    -artifact_prefix="$out/artifacts/$t/" > "$out/$t.log" 2>&1 || status=$?
  grep -E "DONE|ERROR|SUMMARY|panicked" "$out/$t.log" || true
  if [ "$status" -ne 0 ]; then echo "$t found a crash (exit $status): see $out/artifacts/$t/ and $out/$t.log"; exit 1; fi
done
