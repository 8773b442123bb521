#!/usr/bin/env python3
"""Runs PyTorch and nninit on the same work, back to back on this machine, and prints ratios.

Usage: python3 bench/compare_torch.py [--quick] [--models] [--python VENV_PYTHON]

PyTorch comes from the given interpreter (default: the running one) and must be torch 2.15 with
transformers 5.x; nninit is target/release/nninit (built first with `cargo build --release`).
Single ops: best of N in-memory runs, elements per second. Whole models (--models): initialize
GPT-2-small and TinyLlama-1.1B and write safetensors, f32 and bf16; wall time and peak RSS of a
fresh process each.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NNINIT = os.path.join(ROOT, "target", "release", "nninit")

OPS = [
    ("uniform_()", [4096, 4096]),
    ("normal_()", [4096, 4096]),
    ("trunc_normal_(std=0.02)", [4096, 4096]),
    ("kaiming_uniform_(nonlinearity='relu')", [4096, 4096]),
    ("orthogonal_()", [512, 512]),
    ("orthogonal_()", [1024, 1024]),
    ("orthogonal_()", [2048, 2048]),
    ("sparse_(0.9)", [500, 500]),
]

TORCH_OP = r"""
import json, sys, time, ast, torch
call, shape, dtype, repeat = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
tree = ast.parse(call, mode="eval").body
fn = getattr(torch.nn.init, tree.func.id)
args = [ast.literal_eval(a) for a in tree.args]
kwargs = {k.arg: ast.literal_eval(k.value) for k in tree.keywords}
t = torch.empty(shape, dtype={"f32": torch.float32, "bf16": torch.bfloat16}[dtype])
best = float("inf")
for _ in range(repeat):
    torch.manual_seed(0)
    s = time.perf_counter(); fn(t, *args, **kwargs); best = min(best, time.perf_counter() - s)
print(json.dumps({"seconds": best, "elements_per_second": t.numel() / best, "threads": torch.get_num_threads()}))
"""

TORCH_MODEL = r"""
import json, sys, time, torch, transformers
from safetensors.torch import save_file
kind, dtype, out = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.loads(sys.argv[4])
torch.manual_seed(0)
s = time.perf_counter()
if dtype == "bf16":
    torch.set_default_dtype(torch.bfloat16)
cls = {"gpt2": transformers.GPT2LMHeadModel, "llama": transformers.LlamaForCausalLM}[kind]
conf = {"gpt2": transformers.GPT2Config, "llama": transformers.LlamaConfig}[kind](**cfg)
m = cls(conf)
built = time.perf_counter() - s
sd = {k: v.contiguous() for k, v in m.state_dict().items() if k != "lm_head.weight" or not conf.tie_word_embeddings}
save_file(sd, out)
print(json.dumps({"build": built, "total": time.perf_counter() - s}))
"""

PEAK = "import resource, subprocess, sys, time; s = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True); print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else '', '|', time.perf_counter() - s, '|', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, '|', r.returncode, r.stderr.strip()[-300:])"

GPT2_SMALL = {"vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024}
TINYLLAMA = {"vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
             "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
             "tie_word_embeddings": False}


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]


def peak(python, cmd):
    """(last stdout line, wall seconds, peak RSS MiB) of a fresh process."""
    line = subprocess.run([python, "-c", PEAK, *cmd], capture_output=True, text=True, check=True).stdout.strip()
    out, wall, rss, status = [p.strip() for p in line.split("|", 3)]
    if not status.startswith("0"):
        raise SystemExit(f"failed: {' '.join(cmd)}: {status}")
    return out, float(wall), float(rss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable, help="interpreter with torch 2.15")
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--models", action="store_true", help="also the whole-model runs")
    ap.add_argument("--dir", default=None, help="where the whole-model runs write (default: the temp dir; /dev/shm takes the disk out)")
    a = ap.parse_args()
    repeat = "2" if a.quick else "5"
    if not os.path.exists(NNINIT):
        raise SystemExit("build first: cargo build --release")
    print(f"{'op':44} {'dtype':5} {'torch M/s':>10} {'nninit torch':>13} {'nninit philox':>14} {'ratio torch':>12} {'ratio philox':>13}")
    for call, shape in OPS:
        for dtype in (["f32", "bf16"] if "orthogonal" not in call and "sparse" not in call else ["f32"]):
            t = json.loads(run([a.python, "-c", TORCH_OP, call, json.dumps(shape), dtype, repeat]))
            r = {}
            for rng in ("torch", "philox"):
                r[rng] = json.loads(run([NNINIT, "bench", "--shape", ",".join(map(str, shape)), "--init", call,
                                         "--dtype", dtype, "--rng", rng, "--repeat", repeat]))
            tp = t["elements_per_second"] / 1e6
            print(f"{call + ' ' + 'x'.join(map(str, shape)):44} {dtype:5} {tp:10.1f} "
                  f"{r['torch']['elements_per_second'] / 1e6:13.1f} {r['philox']['elements_per_second'] / 1e6:14.1f} "
                  f"{t['seconds'] / r['torch']['seconds']:11.2f}x {t['seconds'] / r['philox']['seconds']:12.2f}x")
    if not a.models:
        return
    print(f"\n{'model':12} {'dtype':5} {'torch s':>8} {'torch MiB':>10} {'nninit s':>9} {'nninit MiB':>11} {'philox s':>9} {'philox MiB':>11} {'speed-up':>9}")
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        for name, kind, cfg in (("gpt2-small", "gpt2", GPT2_SMALL), ("tinyllama", "llama", TINYLLAMA)):
            cfg_path = os.path.join(d, f"{name}.json")
            with open(cfg_path, "w") as f:
                json.dump(dict(cfg, model_type=kind), f)
            for dtype in ("f32", "bf16"):
                # Each output is deleted before the next run, so no run pays for another's file
                # (on tmpfs, a replaced file holds its memory until the rename).
                out = os.path.join(d, "out.safetensors")
                _, tw, trss = peak(a.python, [a.python, "-c", TORCH_MODEL, kind, dtype, out, json.dumps(cfg)])
                os.remove(out)
                res = {}
                for rng in ("torch", "philox"):
                    _, w, rss = peak(a.python, [NNINIT, "init", "--config", cfg_path, "--dtype", dtype, "--rng", rng,
                                                "-o", out])
                    os.remove(out)
                    res[rng] = (w, rss)
                print(f"{name:12} {dtype:5} {tw:8.2f} {trss:10.0f} {res['torch'][0]:9.2f} {res['torch'][1]:11.0f} "
                      f"{res['philox'][0]:9.2f} {res['philox'][1]:11.0f} {tw / res['torch'][0]:8.2f}x")


if __name__ == "__main__":
    main()
