#!/usr/bin/env bash
# Coverage-guided fuzzing of every file loader with cargo fuzz (libFuzzer, nightly Rust).
# Targets and seed corpora live in fuzz/ (fuzz/corpus/<target>, committed); what a run
# discovers goes to fuzz/corpus-run/<target> (ignored), crashes to fuzz/artifacts/<target>.
#
#   bash scripts/fuzz.sh                      every target, 60 s each, one process per core
#   bash scripts/fuzz.sh --secs 600 vector_index
#   bash scripts/fuzz.sh --runs 10000000      stop each target after that many executions
#   bash scripts/fuzz.sh --ci                 the short deterministic run CI makes (seed 1)
#   FUZZ_BIN=dir bash scripts/fuzz.sh ...     run targets built elsewhere (no toolchain needed)
#
# Needs `cargo +nightly` and cargo-fuzz (`cargo install cargo-fuzz --locked`); --ci installs
# cargo-fuzz when it is missing and skips, saying so, when there is no nightly toolchain.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

secs=60 runs="" ci=0 jobs="${FUZZ_JOBS:-$(nproc)}" targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --secs) secs="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --ci) ci=1; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(vector_index multi_vector text_index filter)

if [ -n "${FUZZ_BIN:-}" ]; then
  bin="$(cd "$root" && cd "$FUZZ_BIN" && pwd)"
else
  if ! cargo +nightly --version >/dev/null 2>&1; then
    if [ "$ci" = 1 ]; then echo "fuzz: no nightly toolchain here, skipped"; exit 0; fi
    echo "fuzz: needs a nightly toolchain (cargo +nightly)" >&2; exit 1
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "$ci" = 1 ]; then cargo install cargo-fuzz --locked --quiet; else
      echo "fuzz: needs cargo-fuzz (cargo install cargo-fuzz --locked)" >&2; exit 1; fi
  fi

  # No sanitizer: the crates' unsafe code is SIMD loads over checked lengths and the mappings;
  # without ASan an execution is several times faster. Debug assertions catch overflows.
  cargo +nightly fuzz build -O --debug-assertions --sanitizer none
  bin="target/x86_64-unknown-linux-gnu/release"
  [ -d "$bin" ] || bin=$(dirname "$(find target -name vector_index -type f -perm -u+x | head -1)")
fi

status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus-run/$t" "artifacts/$t"
  if [ "$ci" = 1 ]; then
    # One process, fixed seed and run count: the same executions on every CI run.
    args=(-seed=1 -runs=20000)
    work=1
  else
    args=(-max_total_time="$secs")
    [ -n "$runs" ] && args+=(-runs=$(( (runs + jobs - 1) / jobs )))
    work="$jobs"
  fi
  start=$(date +%s)
  log="artifacts/$t/run.log"
  if [ "$work" -gt 1 ]; then
    # -fork keeps going after a crash is found in one child (and reports it); counts add up.
    "$bin/$t" "corpus-run/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
      -jobs="$work" -workers="$work" "${args[@]}" >"$log" 2>&1 || status=1
    execs=$(cat fuzz-*.log 2>/dev/null | grep -h "stat::number_of_executed_units" | awk '{s+=$2} END {print s+0}')
    cat fuzz-*.log >>"$log" 2>/dev/null || true
    rm -f fuzz-*.log
  else
    "$bin/$t" "corpus-run/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
      "${args[@]}" >"$log" 2>&1 || status=1
    execs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{s+=$2} END {print s+0}')
  fi
  crashes=$(find "artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
  echo "fuzz $t: $execs executions in $(( $(date +%s) - start )) s, $crashes crash/oom/timeout inputs (log: fuzz/$log)"
  [ "$crashes" = 0 ] || status=1
done
exit $status
