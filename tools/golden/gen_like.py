#!/usr/bin/env python3
"""Reference values for `nninit init --like` on checkpoints of other libraries' layouts.

    python tools/golden/gen_like.py

Writes crates/nninit-cli/tests/data/like_reference.json (deterministic):

* `gpt2_conv1d`: transformers' `Conv1D(nf, nx)` weights drawn after `torch.manual_seed(0)`, in
  the order `--like` constructs them for the test checkpoint of crates/nninit-cli/tests/like.rs
  (its tensors sorted by name: h.0.attn.c_attn, h.0.attn.c_proj, h.0.mlp.c_fc, h.0.mlp.c_proj),
  and each bias (zeros).
* `padding_idx`: the `padding_idx` transformers gives each embedding table of a RoBERTa and a
  BERT model built from a small config with `pad_token_id = 1` (RoBERTa) or 0 (BERT).

Only torch and transformers are needed (no network). ATEN_CPU_CAPABILITY=avx2 is set before
torch is imported, as for gen_golden.py.
"""
import json
import os
import pathlib

os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import torch  # noqa: E402
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel  # noqa: E402
from transformers.pytorch_utils import Conv1D  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/nninit-cli/tests/data/like_reference.json"

# (module path, nf, nx): GPT-2 block with n_embd 4, inner 16.
CONV1D = [("h.0.attn.c_attn", 12, 4), ("h.0.attn.c_proj", 4, 4), ("h.0.mlp.c_fc", 16, 4), ("h.0.mlp.c_proj", 4, 16)]


def gpt2_conv1d():
    torch.manual_seed(0)
    out = {}
    for path, nf, nx in CONV1D:
        m = Conv1D(nf, nx)
        out[f"{path}.weight"] = {"shape": list(m.weight.shape), "values": m.weight.detach().flatten().tolist()}
        out[f"{path}.bias"] = {"shape": list(m.bias.shape), "values": m.bias.detach().flatten().tolist()}
    return out


def padding_idx():
    small = dict(vocab_size=8, hidden_size=4, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                 max_position_embeddings=10, type_vocab_size=1)
    out = {}
    for name, model in [("roberta", RobertaModel(RobertaConfig(pad_token_id=1, **small))),
                        ("bert", BertModel(BertConfig(pad_token_id=0, **small)))]:
        e = model.embeddings
        out[name] = {t: getattr(e, t).padding_idx for t in ["word_embeddings", "position_embeddings"]}
    return out


def main():
    data = {"torch": torch.__version__, "gpt2_conv1d": gpt2_conv1d(), "padding_idx": padding_idx()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
