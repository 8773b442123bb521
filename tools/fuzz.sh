#!/usr/bin/env bash
# Fuzzes the readers of user input (crates/nninit/tests/fuzz): the safetensors reader, init calls
# (`--init` and plan rules), `--arch` constructors, plan TOML and Hugging Face config.json.
# Each target runs CASES generated inputs (default 1,000,000), one target after another, in
# release mode with integer-overflow checks on; each prints its inputs and inputs/s.
#
#   tools/fuzz.sh [CASES] [TARGET...]
#
# TARGET is a test name or part of one: safetensors, init_calls, rule_inits, arch, plans,
# hf_configs (default: all). PROPTEST_RNG_SEED=N repeats a run; without it each run draws new
# inputs. A failure prints the smallest failing input (add it to tests/fuzz/regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors init_calls rule_inits arch plans hf_configs)
fi
export PROPTEST_CASES=$cases
# Overflow checks for nninit only (dependencies keep their release build).
flags=(--release -p nninit --test fuzz --config 'profile.release.package.nninit.overflow-checks=true')
cargo test "${flags[@]}" --no-run
start=$(date +%s)
for t in "${targets[@]}"; do
  cargo test -q "${flags[@]}" -- --nocapture --test-threads=1 "$t" 2>&1 | grep -E '^fuzz |panicked|FAILED|failed|error' || {
    echo "fuzz.sh: target $t failed" >&2
    exit 1
  }
done
echo "fuzz.sh: ${#targets[@]} target(s) x $cases inputs in $(( $(date +%s) - start )) s"
