#!/usr/bin/env python3
"""Tensor-parallel slices as transformers 5.24 cuts them, for `--tp-plan`'s tests.

    python tools/golden/gen_tp.py

Writes crates/nninit/tests/golden/tp_slices.json: for each small causal-LM config of
crates/nninit/tests/data, the config class's `base_model_tp_plan`, the model's full `tp_plan`
(the base plan under the base model's prefix, the input embeddings and the head), and for world
sizes 1 and 2 and every rank, each parameter's style, placement, local shape and global offset.

The slices come from transformers' own code: the model is built on the meta device,
`apply_tensor_parallelism` (transformers.distributed.tensor_parallel) wraps each parameter in a
DTensor on a one-dimensional device mesh, and `compute_local_shape_and_global_offset` (PyTorch)
gives the rank's slice. The process group is PyTorch's `fake` backend, so one process plays any
rank of any world size and nothing is communicated. Tied parameters appear once, under their
first name (as `named_parameters()` lists them before any slicing). Deterministic: running twice
gives a byte-identical file.
"""
import json
import os

import torch
import torch.distributed as dist
import transformers
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset
from torch.testing._internal.distributed.fake_pg import FakeStore
from transformers.distributed.tensor_parallel import apply_tensor_parallelism

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "crates", "nninit", "tests", "data")
OUT = os.path.join(ROOT, "crates", "nninit", "tests", "golden", "tp_slices.json")
CONFIGS = ["llama-tiny", "qwen2-tiny", "qwen3-tiny", "mistral-tiny", "gemma-tiny", "phi3-tiny", "gpt-neox-tiny"]
WORLDS = [1, 2]


def build(name):
    config = transformers.AutoConfig.from_pretrained(os.path.join(DATA, f"{name}.config.json"))
    with torch.device("meta"):
        return config, transformers.AutoModelForCausalLM.from_config(config)


def slices(name, rank, world):
    """Each parameter's style and slice on `rank` of `world`."""
    dist.init_process_group("fake", rank=rank, world_size=world, store=FakeStore())
    try:
        mesh = init_device_mesh("cpu", (world,))
        _, model = build(name)
        params = [n for n, _ in model.named_parameters()]
        plan = model._expand_parallel_plan(model.tp_plan)
        # A tied parameter is listed once (under its first name): rules for the other name are dropped.
        known = set(params) | {n for n, _ in model.named_modules()}
        apply_tensor_parallelism(model, mesh, {k: v for k, v in plan.items() if k in known})
        current = dict(model.named_parameters(remove_duplicate=False))
        out = {}
        for n in params:
            p = current[n]
            entry = {"style": plan.get(n), "shape": list(p.shape)}
            if isinstance(p, DTensor):
                shape, offset = compute_local_shape_and_global_offset(p.shape, mesh, p.placements)
                entry["placements"] = [str(x) for x in p.placements]
                entry["local_shape"], entry["offsets"] = list(shape), list(offset)
            else:
                entry["placements"] = ["Replicate()"]
                entry["local_shape"], entry["offsets"] = list(p.shape), [0] * p.dim()
            out[n] = entry
        return out
    finally:
        dist.destroy_process_group()


def main():
    result = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0], "models": {}}
    for name in CONFIGS:
        config, model = build(name)
        result["models"][name] = {
            "model_type": config.model_type,
            "base_model_prefix": model.base_model_prefix,
            "base_model_tp_plan": type(config).base_model_tp_plan,
            "tp_plan": model.tp_plan,
            "worlds": {str(w): [slices(name, r, w) for r in range(w)] for w in WORLDS},
        }
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
