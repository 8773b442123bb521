#!/usr/bin/env python3
"""Generate crates/nninit/tests/golden/tails.json: PyTorch 2.15's `trunc_normal_` on intervals
where its sampler accepts few proposals (the torch stream must stay bit-exact there as long as
the expected work is below nninit's bound).

    python tools/golden/gen_tails.py

Each case: seed, call arguments, shape, dtype, the values as hex bit patterns, and the generator
position afterwards (the bits of `torch.empty(8).uniform_()` drawn next), so the number of proposals
drawn is checked too. Deterministic: running twice gives a byte-identical file.
"""
import json
import os
import sys

os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "crates", "nninit", "tests", "golden", "tails.json")

CASES = [
    # (seed, mean, std, a, b, shape, dtype)
    (0, 0.0, 1.0, 8.0, 40.0, [200], torch.float32),
    (1, 0.0, 1.0, 3.0, 10.0, [1000], torch.float32),
    (2, 0.0, 0.5, -20.0, -4.0, [64], torch.float32),
    (3, 1.0, 2.0, 15.0, 40.0, [50], torch.float64),
]


def bits(t):
    if t.dtype == torch.float64:
        return [format(v, "016x") for v in t.view(torch.int64).tolist()]
    return [format(v & 0xFFFFFFFF, "08x") for v in t.view(torch.int32).tolist()]


def main():
    out = []
    for seed, mean, std, a, b, shape, dtype in CASES:
        torch.manual_seed(seed)
        t = torch.empty(shape, dtype=dtype)
        torch.nn.init.trunc_normal_(t, mean, std, a, b)
        after = bits(torch.empty(8, dtype=torch.float32).uniform_())
        out.append({
            "seed": seed, "mean": mean, "std": std, "a": a, "b": b, "shape": shape,
            "dtype": "f64" if dtype == torch.float64 else "f32",
            "bits": bits(t.flatten()),
            "uniform_after": after,
        })
        print(seed, a, b, float(t.mean()), file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
