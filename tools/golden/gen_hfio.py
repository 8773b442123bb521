"""Golden data for model folders (`nninit init --save-pretrained`, `--from`).

For each case, transformers 5.24 writes its own folder (`torch.manual_seed(s); Model(config)`,
then `save_pretrained(dir, max_shard_size=...)`): its layout (files, index, the tensors of each
shard, each shard's metadata) is recorded, so the CLI tests check nninit's layout without
PyTorch. With `--nninit PATH` (the built binary), nninit's folder for the same case is also
loaded with `AutoModel*.from_pretrained` (no missing, unexpected or mismatched keys) and compared
with transformers' model bit for bit, and `--from` is checked against `from_pretrained` of a base
model's folder; the outcome is recorded.

    python tools/golden/gen_hfio.py --nninit target/release/nninit \
        > crates/nninit-cli/tests/golden/hfio.json
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import AutoConfig

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "nninit", "tests", "data")

CASES = [
    # name, config file, seed, max_shard_size
    ("llama-one", "llama-tiny.config.json", 3, "50GB"),
    ("llama-shards", "llama-tiny.config.json", 3, "20KB"),
    ("gpt2-shards", "gpt2-tiny.config.json", 4, "10KB"),
    ("bert-shards", "bert-tiny.config.json", 5, "15KB"),
]


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def layout(folder):
    files = sorted(f for f in os.listdir(folder) if f != "generation_config.json")
    shards = {}
    for f in files:
        if f.endswith(".safetensors"):
            h = header(os.path.join(folder, f))
            meta = h.pop("__metadata__", {})
            shards[f] = {"tensors": sorted(h), "format": meta.get("format")}
    index = None
    if "model.safetensors.index.json" in files:
        with open(os.path.join(folder, "model.safetensors.index.json")) as f:
            index = json.load(f)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return {"files": files, "shards": shards, "index": index, "dtype": config.get("dtype")}


def model_class(config):
    return getattr(transformers, config.architectures[0]) if config.architectures else None


def build(config_file, seed):
    with open(os.path.join(DATA, config_file)) as f:
        d = json.load(f)
    config = AutoConfig.for_model(**d)
    cls = {"bert": transformers.BertModel, "gpt2": transformers.GPT2LMHeadModel, "llama": transformers.LlamaForCausalLM}[
        config.model_type
    ]
    torch.manual_seed(seed)
    return cls, config, cls(config)


def same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys():
        return f"keys differ: {sorted(set(sa) ^ set(sb))[:5]}"
    bad = [k for k in sa if not (sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]))]
    return "bit-identical" if not bad else f"differ: {bad[:5]}"


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def grown_cases(nninit, tmp):
    """--from a base with a smaller vocabulary (60 of 100 rows) against `torch.manual_seed(s);
    m = LlamaForCausalLM.from_pretrained(base); m.resize_token_embeddings(100, mean_resizing=...)`."""
    out = []
    head_config = os.path.join(DATA, "llama-tiny.config.json")
    with open(head_config) as f:
        d = json.load(f)
    small = AutoConfig.for_model(**dict(d, vocab_size=60))
    torch.manual_seed(1)
    base = transformers.LlamaForCausalLM(small)
    base_dir = os.path.join(tmp, "grown-base")
    base.save_pretrained(base_dir)
    for name, mean_resizing, seed in [("llama-grown-plan", False, 8), ("llama-grown-mean", True, 9)]:
        torch.manual_seed(seed)
        ref = transformers.LlamaForCausalLM.from_pretrained(base_dir)
        ref.resize_token_embeddings(100, mean_resizing=mean_resizing)
        torch.manual_seed(seed)
        again = transformers.LlamaForCausalLM.from_pretrained(base_dir)
        again.resize_token_embeddings(100, mean_resizing=mean_resizing)
        nn_dir = os.path.join(tmp, name)
        cmd = [nninit, "init", "--config", head_config, "--seed", str(seed), "--from", base_dir, "--save-pretrained", nn_dir]
        run(cmd + ([] if mean_resizing else ["--no-mean-resizing"]))
        loaded = transformers.LlamaForCausalLM.from_pretrained(nn_dir)
        case = {"name": name, "seed": seed, "mean_resizing": mean_resizing,
                "deterministic": same(ref, again) == "bit-identical", "values": same(loaded, ref)}
        sa, sb = loaded.state_dict(), ref.state_dict()
        case["max_abs_difference"] = max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)
        out.append(case)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nninit")
    args = ap.parse_args()
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "cases": [], "from": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config_file, seed, mss in CASES:
            cls, config, model = build(config_file, seed)
            hf_dir = os.path.join(tmp, name + "-hf")
            model.save_pretrained(hf_dir, max_shard_size=mss)
            case = {"name": name, "config": config_file, "seed": seed, "max_shard_size": mss, "layout": layout(hf_dir)}
            if args.nninit:
                nn_dir = os.path.join(tmp, name + "-nninit")
                run([args.nninit, "init", "--config", os.path.join(DATA, config_file), "--seed", str(seed),
                     "--save-pretrained", nn_dir, "--max-shard-size", mss])
                case["nninit_layout_equal"] = layout(nn_dir) == case["layout"]
                loaded, info = cls.from_pretrained(nn_dir, output_loading_info=True)
                case["loading_info"] = {k: sorted(map(str, v)) for k, v in info.items()}
                case["values"] = same(loaded, model)
            out["cases"].append(case)
        if args.nninit:
            # --from: a base model's folder (sharded), a model with a head initialized from it.
            for name, base_cls, head_config, seed in [
                ("llama-head", transformers.LlamaModel, "llama-tiny.config.json", 6),
                ("gpt2-head", transformers.GPT2Model, "gpt2-tiny.config.json", 7),
            ]:
                with open(os.path.join(DATA, head_config)) as f:
                    config = AutoConfig.for_model(**json.load(f))
                torch.manual_seed(1)
                base = base_cls(config)
                base_dir = os.path.join(tmp, name + "-base")
                base.save_pretrained(base_dir, max_shard_size="20KB")
                cls = transformers.LlamaForCausalLM if config.model_type == "llama" else transformers.GPT2LMHeadModel
                torch.manual_seed(seed)
                ref = cls.from_pretrained(base_dir)
                # Whether from_pretrained's initialization of the missing weights is deterministic.
                torch.manual_seed(seed)
                again = cls.from_pretrained(base_dir)
                nn_dir = os.path.join(tmp, name + "-nninit")
                run([args.nninit, "init", "--config", os.path.join(DATA, head_config), "--seed", str(seed),
                     "--from", base_dir, "--save-pretrained", nn_dir])
                loaded = cls.from_pretrained(nn_dir)
                missing = sorted(set(ref.state_dict()) - {("model." if config.model_type == "llama" else "transformer.") + k for k in base.state_dict()})
                out["from"].append({
                    "name": name,
                    "seed": seed,
                    "initialized": missing,
                    "from_pretrained_deterministic": same(ref, again) == "bit-identical",
                    "values": same(loaded, ref),
                })
        if args.nninit:
            out["grown"] = grown_cases(args.nninit, tmp)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
