#!/usr/bin/env bash
# Fuzzes the readers of user input (crates/nninit/tests/fuzz): the safetensors reader, init calls
# (`--init` and plan rules), `--arch` constructors, plan TOML and Hugging Face config.json.
# Each target runs CASES generated inputs (default 1,000,000) in release mode and prints its
# input count, inputs/s and slowest input.
#
#   tools/fuzz.sh [CASES] [TARGET...]
#
# TARGET is a test name or part of one: safetensors, init_calls, rule_inits, arch, plans,
# hf_configs (default: all). FUZZ_THREADS=2 runs two targets at a time (default 1).
# FUZZ_OVERFLOW_CHECKS=1 also turns on integer-overflow checks in nninit (a separate build under
# target/fuzz). PROPTEST_RNG_SEED=N repeats a run; without it each run draws new inputs. A
# failure prints the smallest failing input: add it to tests/fuzz/regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors init_calls rule_inits arch plans hf_configs)
fi
export PROPTEST_CASES=$cases
flags=(--release -p nninit --test fuzz)
if [ "${FUZZ_OVERFLOW_CHECKS:-0}" = 1 ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/fuzz}
  flags+=(--config 'profile.release.package.nninit.overflow-checks=true')
fi
cargo test "${flags[@]}" --no-run
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
if ! cargo test "${flags[@]}" -- --nocapture --test-threads="${FUZZ_THREADS:-1}" "${targets[@]}" >"$log" 2>&1; then
  grep -v '^ \+[0-9]\+: \|^ \+at ' "$log" | tail -60
  echo "fuzz.sh: FAILED (see the minimal failing input above)" >&2
  exit 1
fi
grep '^fuzz ' "$log"
echo "fuzz.sh: ${#targets[@]} target(s) x $cases inputs in $(( $(date +%s) - start )) s"
