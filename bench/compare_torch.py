#!/usr/bin/env python3
"""Runs PyTorch and nninit on the same work, back to back on this machine, and prints ratios.

Usage: python3 bench/compare_torch.py [--quick] [--rounds N] [--only TEXT] [--models] [--disk]
       [--dir DIR] [--python VENV_PYTHON]

PyTorch comes from the given interpreter (default: the running one) and must be torch 2.15 with
transformers 5.x; nninit is target/release/nninit (built first with `cargo build --release`).
Single ops: best of N in-memory runs, elements per second. Whole models (--models): initialize
GPT-2-small and TinyLlama-1.1B and write safetensors, f32 and bf16; wall time and peak RSS of a
fresh process each. --disk: TinyLlama-1.1B f32 written by nninit against `dd` writing the same
number of bytes to the same directory (--dir, e.g. /dev/shm), with nninit's peak RSS.

Every comparison alternates PyTorch (or dd) and nninit runs for --rounds rounds and prints
medians, so that load from other processes on the machine hits both sides alike; the spread
(min-max over the rounds) is printed too.
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
    ("orthogonal_()", [4096, 4096]),
    ("sparse_(0.9)", [500, 500]),
]

TORCH_OP = r"""
import json, sys, time, ast, torch
call, shape, dtype, repeat = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
tree = ast.parse(call, mode="eval").body
fn = getattr(torch.nn.init, tree.func.id)
args = [ast.literal_eval(a) for a in tree.args]
kwargs = {k.arg: ast.literal_eval(k.value) for k in tree.keywords}
t = torch.empty(shape, dtype={"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16, "f16": torch.float16}[dtype])
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


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def spread(xs):
    return f"{min(xs):.3g}-{max(xs):.3g}"


def dtypes_of(call):
    if "orthogonal" in call:
        return ["f32", "f64"]
    if "sparse" in call:
        return ["f32"]
    if call.startswith("uniform_"):
        return ["f32", "bf16", "f16"]
    return ["f32", "bf16"]


def single_ops(a, repeat):
    print(f"{'op':44} {'dtype':5} {'torch M/s':>10} {'nninit torch':>13} {'nninit philox':>14} {'ratio torch':>12} "
          f"{'ratio philox':>13}  seconds torch / nninit torch (min-max)")
    for call, shape in OPS:
        if a.only and a.only not in f"{call} {'x'.join(map(str, shape))}":
            continue
        for dtype in dtypes_of(call):
            if "orthogonal" in call and dtype == "f64" and shape[0] > 2048:
                continue
            times = {"pt": [], "torch": [], "philox": []}
            for _ in range(a.rounds):
                t = json.loads(run([a.python, "-c", TORCH_OP, call, json.dumps(shape), dtype, repeat]))
                times["pt"].append(t["seconds"])
                for rng in ("torch", "philox"):
                    r = json.loads(run([NNINIT, "bench", "--shape", ",".join(map(str, shape)), "--init", call,
                                        "--dtype", dtype, "--rng", rng, "--repeat", repeat]))
                    times[rng].append(r["seconds"])
            n = 1
            for d in shape:
                n *= d
            pt, nt, np_ = (median(times[k]) for k in ("pt", "torch", "philox"))
            print(f"{call + ' ' + 'x'.join(map(str, shape)):44} {dtype:5} {n / pt / 1e6:10.1f} "
                  f"{n / nt / 1e6:13.1f} {n / np_ / 1e6:14.1f} {pt / nt:11.2f}x {pt / np_:12.2f}x  "
                  f"{spread(times['pt'])} / {spread(times['torch'])}", flush=True)


def models(a):
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


def disk(a):
    """TinyLlama f32 by nninit (both streams) against dd writing as many bytes, alternated."""
    print(f"\n{'TinyLlama f32 to ' + (a.dir or tempfile.gettempdir()):40} {'median s':>9} {'min-max':>12} {'/ dd':>6} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        cfg_path = os.path.join(d, "tinyllama.json")
        with open(cfg_path, "w") as f:
            json.dump(dict(TINYLLAMA, model_type="llama"), f)
        out = os.path.join(d, "out.safetensors")
        _, _, _ = peak(a.python, [NNINIT, "init", "--config", cfg_path, "--rng", "philox", "-o", out])
        size = os.path.getsize(out)
        os.remove(out)
        # dd writes whole 4 MiB blocks: the same bytes, rounded up to a block.
        dd = ["dd", "if=/dev/zero", f"of={out}", "bs=4M", f"count={-(-size // (4 << 20))}"]
        times = {"dd": [], "torch": [], "philox": []}
        rss = {"torch": [], "philox": []}
        for _ in range(a.rounds):
            for kind in ("dd", "torch", "philox"):
                cmd = dd if kind == "dd" else [NNINIT, "init", "--config", cfg_path, "--rng", kind, "-o", out]
                _, w, r = peak(a.python, cmd)
                os.remove(out)
                times[kind].append(w)
                if kind != "dd":
                    rss[kind].append(r)
        base = median(times["dd"])
        for kind in ("dd", "torch", "philox"):
            label = f"dd ({size / 1e9:.2f} GB)" if kind == "dd" else f"nninit --rng {kind}"
            m = f"{max(rss[kind]):9.0f}" if kind in rss else ""
            print(f"{label:40} {median(times[kind]):9.2f} {spread(times[kind]):>12} {median(times[kind]) / base:5.2f}x {m}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable, help="interpreter with torch 2.15")
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--rounds", type=int, default=5, help="alternated rounds; medians are printed")
    ap.add_argument("--only", default=None, help="only the single ops whose 'call shape' contains this")
    ap.add_argument("--no-ops", action="store_true", help="skip the single ops")
    ap.add_argument("--models", action="store_true", help="also the whole-model runs")
    ap.add_argument("--disk", action="store_true", help="also TinyLlama f32 against dd to --dir")
    ap.add_argument("--dir", default=None, help="where the whole-model runs write (default: the temp dir; /dev/shm takes the disk out)")
    a = ap.parse_args()
    repeat = "2" if a.quick else "5"
    if not os.path.exists(NNINIT):
        raise SystemExit("build first: cargo build --release")
    if not a.no_ops:
        single_ops(a, repeat)
    if a.models:
        models(a)
    if a.disk:
        disk(a)


if __name__ == "__main__":
    main()
