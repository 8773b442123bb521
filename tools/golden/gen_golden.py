#!/usr/bin/env python3
"""Generate the golden test data for the `nninit` crate from reference PyTorch.

Run from anywhere (paths are resolved relative to this file):

    python tools/golden/gen_golden.py                      # everything
    python tools/golden/gen_golden.py --only tensors rng   # a subset
    python tools/golden/gen_golden.py --capability default # only tensors_default.json

Outputs (all deterministic; running twice gives byte-identical files):

    crates/nninit/tests/golden/tensors_avx2.json     single-tensor init calls, AVX2 kernels
    crates/nninit/tests/golden/tensors_default.json  same cases, ATEN_CPU_CAPABILITY=default
    crates/nninit/tests/golden/modules.json          default construction of torch.nn layers
    crates/nninit/tests/golden/models.json           torchvision / transformers whole models
    crates/nninit/tests/golden/rng.json              raw MT19937 outputs, rng-state digests, randperm
    crates/nninit/tests/golden/nested.json           torch.nn constructor calls nested in one another
    crates/nninit/tests/golden/models_hf.json        more transformers families and heads
    crates/nninit/tests/golden/models_torchvision.json  more torchvision models (digests, module trees)
    crates/nninit/tests/data/*-tiny.config.json     small HF configs (written here)

`crates/nninit/tests/data/all-minilm-l6-v2.config.json` is an input (committed, copied from the
sentence-transformers/all-MiniLM-L6-v2 config; see README.md). Nothing here touches the network.

ATEN_CPU_CAPABILITY must be set before torch is imported, so the capability is chosen from the
command line first; the DEFAULT-capability tensor file is produced by re-executing this script in
a subprocess with `--capability default`.
"""
import argparse
import os
import sys

_CAPABILITIES = ("avx2", "default", "avx512")


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--capability", choices=_CAPABILITIES, default=None,
                   help="run torch with this ATEN_CPU_CAPABILITY and write only tensors_<capability>.json "
                        "(default: run avx2 for every file and a 'default' subprocess for tensors_default.json)")
    p.add_argument("--only", nargs="+", choices=("tensors", "modules", "models", "models_hf", "models_torchvision", "rng", "nested"), default=None,
                   help="restrict the (avx2) run to these outputs")
    p.add_argument("--golden-dir", default=None,
                   help="write golden JSON files here instead of crates/nninit/tests/golden (for comparisons)")
    return p.parse_args(argv)


_ARGS = _parse_args()
# Must happen before `import torch`.
os.environ["ATEN_CPU_CAPABILITY"] = _ARGS.capability or "avx2"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import ast  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN_DIR = os.path.abspath(_ARGS.golden_dir) if _ARGS.golden_dir else os.path.join(REPO, "crates", "nninit", "tests", "golden")
DATA_DIR = os.path.join(REPO, "crates", "nninit", "tests", "data")

EXPECTED_TORCH = "2.15.0"
CAPABILITY = os.environ["ATEN_CPU_CAPABILITY"]
TORCH_VERSION = torch.__version__

# ----------------------------------------------------------------------------------------------
# Tensor encoding helpers
# ----------------------------------------------------------------------------------------------
DTYPES = {
    "f32": torch.float32,
    "f64": torch.float64,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
}
_DTYPE_NAMES = {
    torch.float32: "f32", torch.float64: "f64", torch.float16: "f16", torch.bfloat16: "bf16",
    torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8",
    torch.uint8: "u8", torch.bool: "bool",
}
_UINT_BY_SIZE = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}
BITS_MAX_NUMEL = 64
HEAD_LEN = 8


def dtype_name(dt):
    return _DTYPE_NAMES[dt]


def raw_bytes(t):
    """Raw little-endian bytes of the tensor in row-major (C-contiguous) order."""
    t = t.detach().cpu().contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    assert sys.byteorder == "little"
    return t.view(torch.uint8).numpy().tobytes()


def hex_bits(t, limit=None):
    """Raw bits of the first `limit` elements (all if None), lowercase hex, zero padded."""
    t = t.detach().cpu().contiguous().reshape(-1)
    if limit is not None:
        t = t[:limit]
    size = t.element_size()
    words = np.frombuffer(raw_bytes(t), dtype=_UINT_BY_SIZE[size])
    width = 2 * size
    return [format(int(w), "0%dx" % width) for w in words]


def describe(t, with_bits=True):
    d = {
        "sha256": hashlib.sha256(raw_bytes(t)).hexdigest(),
        "head": hex_bits(t, HEAD_LEN),
    }
    if with_bits and t.numel() <= BITS_MAX_NUMEL:
        d["bits"] = hex_bits(t)
    return d


def rng_state_sha256():
    return hashlib.sha256(bytes(torch.get_rng_state().numpy())).hexdigest()


def error_string(e):
    return "%s: %s" % (type(e).__name__, e)


# ----------------------------------------------------------------------------------------------
# Deterministic, compact-but-readable JSON writer: containers holding only scalars are written on
# one line, everything else is indented.
# ----------------------------------------------------------------------------------------------
def _is_flat(v):
    if isinstance(v, dict):
        return all(not isinstance(x, (dict, list)) or (isinstance(x, list) and _is_flat(x)) for x in v.values())
    if isinstance(v, list):
        return all(not isinstance(x, (dict, list)) for x in v)
    return True


def _dump(v, indent, out):
    pad = " " * indent
    if isinstance(v, dict) and not _is_flat(v):
        items = list(v.items())
        out.append("{\n")
        for i, (k, x) in enumerate(items):
            out.append(pad + "  " + json.dumps(k) + ": ")
            _dump(x, indent + 2, out)
            out.append(",\n" if i + 1 < len(items) else "\n")
        out.append(pad + "}")
    elif isinstance(v, list) and not _is_flat(v):
        out.append("[\n")
        for i, x in enumerate(v):
            out.append(pad + "  ")
            _dump(x, indent + 2, out)
            out.append(",\n" if i + 1 < len(v) else "\n")
        out.append(pad + "]")
    else:
        out.append(json.dumps(v, ensure_ascii=True, allow_nan=False))


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out = []
    _dump(obj, 0, out)
    out.append("\n")
    text = "".join(out)
    assert json.loads(text) == obj
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (os.path.relpath(path, REPO), len(text.encode())), file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# Init-call strings
# ----------------------------------------------------------------------------------------------
def parse_call(s):
    """`name(arg, ..., kw=lit, ...)` -> (name, args, kwargs); all arguments must be literals."""
    node = ast.parse(s, mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError("not a simple call: %r" % s)
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return node.func.id, args, kwargs


SQRT5 = "2.23606797749979"  # repr(math.sqrt(5)); parses back to exactly math.sqrt(5)
assert float(SQRT5) == math.sqrt(5)


def run_call(call, shape, dtype):
    name, args, kwargs = parse_call(call)
    fn = getattr(torch.nn.init, name)
    t = torch.empty(shape, dtype=DTYPES[dtype])
    # Fill with NaN so that an element an init function failed to write can never look valid
    # (and never makes the output depend on uninitialised memory). Touches no RNG.
    t.fill_(float("nan"))
    rec = {"call": call, "shape": list(shape), "dtype": dtype}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(t, *args, **kwargs)
    except Exception as e:  # recorded, the case continues with the generator state as left
        rec["error"] = error_string(e)
        return rec
    if t.numel():
        assert not torch.isnan(t).any().item(), "%s on %s left unwritten elements" % (call, shape)
    rec.update(describe(t))  # sha256, head, and bits when numel <= 64
    return rec


# ----------------------------------------------------------------------------------------------
# tensors_<capability>.json
# ----------------------------------------------------------------------------------------------
SEEDS = [0, 1, 42, 2**32 + 5, 2**64 - 1, 5, 7, 123456789]
DT_ALL = ["f32", "f64", "f16", "bf16"]


class SeedCycle:
    def __init__(self):
        self.i = 0

    def __call__(self):
        s = SEEDS[self.i % len(SEEDS)]
        self.i += 1
        return s


def tensor_case_specs():
    """List of (id, seed, [(call, shape, dtype), ...])."""
    cases = []
    ids = set()

    def add(cid, seed, calls):
        assert cid not in ids, cid
        ids.add(cid)
        cases.append((cid, seed, calls))

    # --- spec §12 test vectors (seed 0) -------------------------------------------------------
    add("spec_rand4_f32", 0, [("uniform_()", [4], "f32")])
    add("spec_rand2_f64", 0, [("uniform_()", [2], "f64")])
    add("spec_randn4_f32", 0, [("normal_()", [4], "f32")])
    add("spec_randn16_f32", 0, [("normal_()", [16], "f32")])
    add("spec_randn17_f32", 0, [("normal_()", [17], "f32")])
    add("spec_randn16_f64", 0, [("normal_()", [16], "f64")])

    # --- raw uniform_ streams -----------------------------------------------------------------
    sc = SeedCycle()
    for dt in DT_ALL:
        for n in (4, 1000):
            add("uniform_%s_n%d" % (dt, n), sc(), [("uniform_()", [n], dt)])
    for dt in ("f16", "bf16"):  # enough draws to hit the "value == to -> from" rule
        add("uniform_%s_n4096" % dt, sc(), [("uniform_()", [4096], dt)])
    for dt in DT_ALL:
        add("uniform_ranges_%s" % dt, sc(), [
            ("uniform_(-0.5, 0.5)", [37], dt),
            ("uniform_(-3.0, 2.5)", [37], dt),
            ("uniform_(2.0, 2.0)", [37], dt),
            ("uniform_(0.001, 0.002)", [37], dt),
            ("uniform_(-100.0, 100.0)", [37], dt),
            ("uniform_(a=-1.0, b=3)", [2, 3], dt),
            ("uniform_(1.0, 0.0)", [5], dt),
            ("uniform_(0.0, 1.0)", [37], dt),
        ])

    # --- raw normal_ streams ------------------------------------------------------------------
    sc = SeedCycle()
    for dt in DT_ALL:
        for n in (1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 1000, 4099):
            add("normal_%s_n%d" % (dt, n), sc(), [
                ("normal_()", [n], dt),
                ("normal_(0.5, 0.02)", [n], dt),
                ("normal_(-3.0, 2.5)", [n], dt),
            ])
    for dt in DT_ALL:
        add("normal_std0_%s" % dt, sc(), [
            ("normal_(1.5, 0.0)", [5], dt),
            ("normal_(1.5, 0.0)", [40], dt),
            ("normal_()", [3], dt),
            ("normal_(mean=-2.0, std=0)", [4, 4], dt),
        ])
    for dt in ("f32", "f64"):
        add("normal_shapes_%s" % dt, sc(), [
            ("normal_()", [], dt),
            ("normal_()", [4, 4], dt),
            ("normal_()", [3, 5], dt),
            ("normal_()", [2, 3, 4], dt),
            ("normal_()", [0], dt),
            ("normal_()", [1, 1, 1], dt),
        ])

    # --- seeds that differ only in the high 32 bits ----------------------------------------------
    seq_hi = [("uniform_()", [1000], "f32"), ("normal_()", [17], "f32"), ("normal_()", [3], "f64"),
              ("uniform_()", [3], "f64"), ("normal_()", [1], "bf16")]
    add("seed_5", 5, seq_hi)
    add("seed_2p32_plus_5", 2**32 + 5, seq_hi)
    add("seed_2p64_minus_1", 2**64 - 1, seq_hi)
    add("seed_2p32_minus_1", 2**32 - 1, seq_hi)
    add("seed_2p63", 2**63, seq_hi)

    # --- every init function over ranks 0..5, every dtype ---------------------------------------
    shapes = [[], [7], [5, 3], [3, 5], [16, 8], [64, 3, 3, 3], [8, 4, 3, 3], [2, 3, 4, 5, 6],
              [0, 3], [3, 0], [0, 0], [0]]
    sweep = [
        ("ku", "kaiming_uniform_()"),
        ("ku_sqrt5", "kaiming_uniform_(a=%s)" % SQRT5),
        ("ku_fanout_relu", "kaiming_uniform_(mode='fan_out', nonlinearity='relu')"),
        ("ku_leaky02_fanout", "kaiming_uniform_(a=0.2, mode='fan_out', nonlinearity='leaky_relu')"),
        ("kn", "kaiming_normal_()"),
        ("kn_fanout_relu", "kaiming_normal_(mode='fan_out', nonlinearity='relu')"),
        ("kn_leaky02", "kaiming_normal_(a=0.2)"),
        ("kn_tanh", "kaiming_normal_(nonlinearity='tanh')"),
        ("xu", "xavier_uniform_()"),
        ("xu_gain2", "xavier_uniform_(gain=2.0)"),
        ("xn", "xavier_normal_()"),
        ("xn_gain2", "xavier_normal_(gain=2.0)"),
        ("uniform", "uniform_(-0.5, 0.5)"),
        ("normal", "normal_(0.0, 0.02)"),
        ("trunc", "trunc_normal_(std=0.02)"),
        ("constant", "constant_(0.3)"),
        ("ones", "ones_()"),
        ("zeros", "zeros_()"),
        ("eye", "eye_()"),
        ("dirac", "dirac_()"),
        ("orthogonal", "orthogonal_()"),
        ("sparse", "sparse_(0.25, std=0.01)"),
    ]
    sc = SeedCycle()
    for tag, call in sweep:
        for dt in DT_ALL:
            add("sweep_%s_%s" % (tag, dt), sc(), [(call, s, dt) for s in shapes])

    # --- calculate_gain: every nonlinearity x mode, kaiming_uniform_/normal_ ------------------
    nonlins = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    for fn in ("kaiming_uniform_", "kaiming_normal_"):
        for mode in ("fan_in", "fan_out"):
            calls = []
            for nl in nonlins:
                calls.append(("%s(mode='%s', nonlinearity='%s')" % (fn, mode, nl), [5, 3], "f32"))
                calls.append(("%s(mode='%s', nonlinearity='%s')" % (fn, mode, nl), [8, 4, 3, 3], "f32"))
            calls.append(("%s(%s, '%s', 'leaky_relu')" % (fn, SQRT5, mode), [6, 2, 2], "f32"))
            calls.append(("%s(a=1, mode='%s')" % (fn, mode.upper()), [6, 2, 2], "f32"))
            add("gains_%s%s" % (fn, mode), sc(), calls)

    # --- trunc_normal_: both branches ------------------------------------------------------------
    trunc = [
        ("default", "trunc_normal_()"),  # p > 0.3
        ("std002_ab2", "trunc_normal_(std=0.02, a=-2.0, b=2.0)"),  # p > 0.3 (p ~ 1)
        ("std002_ab004", "trunc_normal_(std=0.02, a=-0.04, b=0.04)"),  # p > 0.3, rejections
        ("mean05", "trunc_normal_(mean=0.5, std=1.0)"),  # p > 0.3
        ("ab05", "trunc_normal_(mean=0.0, std=1.0, a=-0.5, b=0.5)"),  # p = 0.383 > 0.3
        ("a0b08", "trunc_normal_(mean=0.0, std=1.0, a=0.0, b=0.8)"),  # p = 0.288 <= 0.3
        ("a2b3", "trunc_normal_(mean=0.0, std=1.0, a=2.0, b=3.0)"),  # p <= 0.3
        ("am5bm15", "trunc_normal_(mean=0.0, std=1.0, a=-5.0, b=-1.5)"),  # p <= 0.3
        ("narrow", "trunc_normal_(mean=0.0, std=1.0, a=0.1, b=0.2)"),  # p <= 0.3
        ("far", "trunc_normal_(mean=5.0, std=1.0, a=-1.0, b=1.0)"),  # p <= 0.3, warning
    ]
    sizes = [5, 16, 1000, 10000]
    for tag, call in trunc:
        for dt in ("f32", "f64", "bf16", "f16"):
            if dt == "f16" and tag not in ("default", "std002_ab004", "a2b3", "narrow"):
                continue
            add("trunc_%s_%s" % (tag, dt), sc(), [(call, [n], dt) for n in sizes])

    # --- sparse_ -------------------------------------------------------------------------------
    for shape in ([10, 5], [50, 20]):
        for sp in ("0.25", "0.9", "0.0", "1.0"):
            add("sparse_%dx%d_%s_f32" % (shape[0], shape[1], sp.replace(".", "")), sc(),
                [("sparse_(%s, std=0.01)" % sp, shape, "f32")])
    for dt in ("f64", "bf16", "f16"):
        add("sparse_10x5_default_std_%s" % dt, sc(), [("sparse_(0.25)", [10, 5], dt)])
    add("sparse_then_normal", sc(), [("sparse_(sparsity=0.5, std=1.0)", [7, 3], "f32"), ("normal_()", [3], "f32")])

    # --- orthogonal_ -----------------------------------------------------------------------------
    for shape in ([3, 5], [5, 3], [3, 4], [8, 4, 3, 3], [64, 64], [4, 16]):
        for dt in ("f32", "f64"):
            add("orthogonal_%s_%s" % ("x".join(map(str, shape)), dt), sc(), [
                ("orthogonal_()", shape, dt),
                ("orthogonal_(gain=2.0)", shape, dt),
                ("normal_()", [1], "f32"),
            ])
    for dt in ("f16", "bf16"):
        add("orthogonal_error_%s" % dt, sc(), [("orthogonal_()", [5, 3], dt), ("orthogonal_()", [8, 8], dt),
                                               ("normal_()", [3], "f32")])

    # --- non-random fills --------------------------------------------------------------------
    for dt in DT_ALL:
        add("fixed_%s" % dt, sc(), [
            ("dirac_(groups=3)", [24, 3, 5, 5], dt),
            ("dirac_()", [6, 6, 4], dt),
            ("dirac_()", [4, 2, 3, 3, 3], dt),
            ("dirac_(groups=2)", [4, 2, 3, 3, 3], dt),
            ("dirac_(2)", [6, 2, 3], dt),
            ("eye_()", [3, 5], dt),
            ("eye_()", [5, 3], dt),
            ("eye_()", [4, 4], dt),
            ("constant_(0.3)", [3, 5], dt),
            ("constant_(-2.5)", [2, 2], dt),
            ("constant_(val=1e-05)", [3], dt),
            ("constant_(7)", [], dt),
            ("ones_()", [3, 5], dt),
            ("zeros_()", [3, 5], dt),
            ("normal_()", [1], dt),
        ])

    # --- errors: the error call, then a draw showing whether RNG was consumed ------------------
    errors = [
        ("dirac_2d", "dirac_()", [3, 3], "f32"),
        ("dirac_groups", "dirac_(groups=4)", [6, 6, 4], "f32"),
        ("xavier_1d", "xavier_uniform_()", [64], "f32"),
        ("xavier_normal_0d", "xavier_normal_()", [], "f32"),
        ("xavier_zero_fans", "xavier_uniform_()", [0, 0], "f32"),
        ("xavier_zero_numel", "xavier_uniform_()", [0, 4], "f32"),
        ("kaiming_1d", "kaiming_uniform_()", [7], "f32"),
        ("kaiming_1d_zero", "kaiming_normal_()", [0], "f32"),
        ("kaiming_gelu", "kaiming_uniform_(nonlinearity='gelu')", [4, 4], "f32"),
        ("kaiming_normal_gelu", "kaiming_normal_(nonlinearity='gelu')", [4, 4], "f32"),
        ("kaiming_fan_avg", "kaiming_uniform_(mode='fan_avg')", [4, 4], "f32"),
        ("kaiming_normal_fan_avg", "kaiming_normal_(mode='fan_avg')", [4, 4], "f32"),
        ("kaiming_leaky_str", "kaiming_uniform_(a='x')", [4, 4], "f32"),
        ("orthogonal_1d", "orthogonal_()", [5], "f32"),
        ("orthogonal_bf16", "orthogonal_()", [5, 3], "bf16"),
        ("sparse_3d", "sparse_(0.5)", [2, 3, 4], "f32"),
        ("eye_3d", "eye_()", [2, 3, 4], "f32"),
        ("normal_neg_std", "normal_(0.0, -1.0)", [5], "f32"),
        ("uniform_reversed", "uniform_(1.0, 0.0)", [5], "f32"),
        ("uniform_f16_oob", "uniform_(-100000.0, 100000.0)", [5], "f16"),
        ("uniform_f32_range_overflow", "uniform_(-3e+38, 3e+38)", [5], "f32"),
        ("trunc_std0", "trunc_normal_(std=0.0)", [5], "f32"),
    ]
    for tag, call, shape, dt in errors:
        add("error_%s" % tag, sc(), [(call, shape, dt), ("normal_()", [3], "f32")])

    # --- generator state carried across calls ----------------------------------------------------
    add("seq_bm_cache_3_2", sc(), [("normal_()", [3], "f32"), ("normal_()", [2], "f32")])
    add("seq_bm_3_32_1", sc(), [("normal_()", [3], "f32"), ("normal_()", [32], "f32"), ("normal_()", [1], "f32")])
    add("seq_uniform_kaiming", sc(), [("uniform_()", [5], "f32"), ("kaiming_uniform_()", [16, 8], "f32")])
    add("seq_dtypes", sc(), [
        ("normal_()", [3], "f32"), ("normal_()", [1], "f64"), ("normal_()", [5], "bf16"),
        ("uniform_()", [7], "f16"), ("normal_()", [20], "f64"), ("normal_()", [2], "f16"),
        ("normal_()", [17], "bf16"), ("uniform_()", [3], "f64"), ("normal_(1.0, 3.0)", [1], "f32"),
    ])
    add("seq_cache_mean_std", sc(), [("normal_()", [1], "f32"), ("normal_(10.0, 0.5)", [1], "f32"),
                                     ("normal_(-1.0, 2.0)", [1], "f64"), ("normal_(0.0, 0.001)", [1], "bf16")])
    add("seq_cache_skips_block", sc(), [("normal_()", [1], "f32"), ("normal_()", [16], "bf16"),
                                        ("normal_()", [1], "f32"), ("normal_()", [1], "f32")])
    add("seq_block_boundaries", sc(), [("normal_()", [n], "f32") for n in (15, 16, 17, 31, 32, 33, 15)])
    add("seq_linear_like", sc(), [
        ("kaiming_uniform_(a=%s)" % SQRT5, [32, 64], "f32"), ("uniform_(-0.125, 0.125)", [32], "f32"),
        ("kaiming_uniform_(a=%s)" % SQRT5, [10, 32], "f32"),
        ("uniform_(-0.17677669529663687, 0.17677669529663687)", [10], "f32"),
    ])
    add("seq_trunc_cache", sc(), [("trunc_normal_(std=0.02)", [5], "f32"), ("normal_()", [1], "f32"),
                                  ("trunc_normal_(std=0.02)", [3], "f64"), ("normal_()", [1], "f32")])
    add("seq_xavier_small", sc(), [("xavier_normal_()", [3, 5], "f64"), ("xavier_normal_()", [5, 3], "f32"),
                                   ("xavier_uniform_()", [2, 2], "bf16"), ("xavier_normal_()", [1, 1], "f16")])
    add("seq_error_midway", sc(), [("normal_()", [3], "f32"), ("xavier_uniform_()", [4], "f32"),
                                   ("normal_()", [1], "f32"), ("kaiming_uniform_()", [0, 5], "f32"),
                                   ("uniform_()", [2], "f32")])
    add("seq_embedding_like", sc(), [("normal_()", [10, 3], "f32"), ("normal_()", [4, 4], "f32"),
                                     ("normal_()", [3, 2], "f32"), ("normal_()", [5, 3], "bf16")])
    add("seq_many_small", sc(), [("normal_()", [1], dt) for dt in DT_ALL * 3])
    return cases


def gen_tensors():
    cases = []
    for cid, seed, calls in tensor_case_specs():
        torch.manual_seed(seed)
        recs = [run_call(call, shape, dt) for call, shape, dt in calls]
        cases.append({"id": cid, "seed": seed, "calls": recs, "rng_state_sha256": rng_state_sha256()})
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "cases": cases}


def self_check_tensors(doc):
    by_id = {c["id"]: c for c in doc["cases"]}
    assert by_id["spec_rand4_f32"]["calls"][0]["bits"] == ["3efe1558", "3f44aa2f", "3db533a8", "3e073300"]
    assert by_id["spec_rand2_f64"]["calls"][0]["bits"] == ["3fef0aac97c4aa2f", "3fe6a675d821ccc0"]
    assert by_id["spec_randn4_f32"]["calls"][0]["bits"] == ["3fc53f5c", "be963c50", "c00b7149", "3f1184b6"]
    if CAPABILITY == "avx2":
        assert by_id["spec_randn16_f32"]["calls"][0]["bits"][:4] == ["bf901b85", "bf93808a", "be804bd6", "bede255d"]
        assert by_id["spec_randn17_f32"]["calls"][0]["bits"][-2:] == ["bf57fb33", "3f6e8c30"]
    assert by_id["spec_randn16_f64"]["calls"][0]["bits"][:2] == ["c0027bb92e9262dc", "bfd7e35794939460"]
    # seeds differing only in the high 32 bits give identical streams
    a, b = by_id["seed_5"]["calls"], by_id["seed_2p32_plus_5"]["calls"]
    assert a == b


# ----------------------------------------------------------------------------------------------
# modules.json
# ----------------------------------------------------------------------------------------------
MODULE_CTORS = [
    "nn.Linear(3,2)",
    "nn.Linear(64,32)",
    "nn.Linear(0,5)",
    "nn.Linear(5,3,bias=False)",
    "nn.Bilinear(4,5,3)",
    "nn.Conv1d(2,2,1)",
    "nn.Conv2d(16,32,3)",
    "nn.Conv2d(4,4,3,groups=4)",
    "nn.Conv2d(3,8,(3,5),stride=2,padding=1,bias=False)",
    "nn.Conv3d(2,4,(1,2,3))",
    "nn.ConvTranspose1d(4,6,3)",
    "nn.ConvTranspose2d(16,8,3)",
    "nn.ConvTranspose2d(16,8,3,groups=2)",
    "nn.ConvTranspose3d(2,2,2)",
    "nn.BatchNorm1d(8)",
    "nn.BatchNorm2d(64)",
    "nn.BatchNorm3d(4)",
    "nn.BatchNorm2d(4,affine=False)",
    "nn.InstanceNorm2d(4,affine=True)",
    "nn.LayerNorm(64)",
    "nn.LayerNorm([4,5])",
    "nn.LayerNorm(8,bias=False)",
    "nn.GroupNorm(4,64)",
    "nn.RMSNorm(8)",
    "nn.Embedding(10,3,padding_idx=0)",
    "nn.Embedding(4,4)",
    "nn.Embedding(10,3,padding_idx=-1)",
    "nn.Embedding(3,2)",
    "nn.EmbeddingBag(10,3,padding_idx=2)",
    "nn.RNN(4,6,num_layers=3)",
    "nn.RNN(4,6,nonlinearity='relu',bias=False)",
    "nn.LSTM(8,16)",
    "nn.LSTM(8,16,num_layers=2,bidirectional=True)",
    "nn.LSTM(8,16,proj_size=4)",
    "nn.LSTM(8,16,num_layers=2,proj_size=4,bidirectional=True)",
    "nn.GRU(5,7,bias=False)",
    "nn.GRU(5,7,num_layers=2,bidirectional=True)",
    "nn.RNNCell(3,4)",
    "nn.LSTMCell(3,4)",
    "nn.GRUCell(3,4)",
    "nn.MultiheadAttention(8,2)",
    "nn.MultiheadAttention(8,2,bias=False)",
    "nn.MultiheadAttention(8,2,kdim=5,vdim=6)",
    "nn.MultiheadAttention(16,4,add_bias_kv=True)",
    "nn.MultiheadAttention(32,4,add_bias_kv=True)",
    "nn.TransformerEncoderLayer(16,4,dim_feedforward=32)",
    "nn.TransformerEncoderLayer(16,4,dim_feedforward=32,norm_first=True,batch_first=True)",
    "nn.TransformerDecoderLayer(16,4,dim_feedforward=32)",
    "nn.Transformer(d_model=16,nhead=2,num_encoder_layers=1,num_decoder_layers=1,dim_feedforward=32)",
]
MODULE_DTYPE_CTORS = [
    ("f64", "nn.Linear(3,2,dtype=torch.float64)"),
    ("bf16", "nn.Linear(3,2,dtype=torch.bfloat16)"),
    ("f16", "nn.Linear(3,2,dtype=torch.float16)"),
    ("f64", "nn.Linear(64,32,dtype=torch.float64)"),
    ("bf16", "nn.Linear(64,32,dtype=torch.bfloat16)"),
    ("f64", "nn.Conv2d(16,32,3,dtype=torch.float64)"),
    ("bf16", "nn.Conv2d(16,32,3,dtype=torch.bfloat16)"),
    ("f16", "nn.Conv2d(4,4,3,groups=4,dtype=torch.float16)"),
    ("f64", "nn.Embedding(10,3,padding_idx=0,dtype=torch.float64)"),
    ("bf16", "nn.Embedding(10,3,padding_idx=0,dtype=torch.bfloat16)"),
    ("f16", "nn.Embedding(4,4,dtype=torch.float16)"),
    ("f64", "nn.LSTM(8,16,dtype=torch.float64)"),
    ("bf16", "nn.LSTM(8,16,dtype=torch.bfloat16)"),
    ("f16", "nn.LSTM(8,16,num_layers=2,bidirectional=True,dtype=torch.float16)"),
    ("f64", "nn.MultiheadAttention(16,4,add_bias_kv=True,dtype=torch.float64)"),
]


def _slug(ctor):
    s = ctor.replace("nn.", "").replace("dtype=torch.", "")
    out = []
    for ch in s:
        out.append(ch.lower() if ch.isalnum() else ("_m" if ch == "-" else "_"))
    slug = "".join(out)
    while "__" in slug:
        slug = slug.replace("__", "_")
    return slug.strip("_")


def module_tensors(m, with_bits=True):
    sd = m.state_dict()
    out = []
    first_by_ptr = {}
    for name, t in sd.items():
        rec = {"name": name, "dtype": dtype_name(t.dtype), "shape": list(t.shape)}
        rec.update(describe(t, with_bits=with_bits))
        if t.numel() > 0:
            key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype)
            if key in first_by_ptr:
                rec["tied_to"] = first_by_ptr[key]
            else:
                first_by_ptr[key] = name
        out.append(rec)
    return out


class SeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def seed_init_fn(mod):
    if isinstance(mod, nn.Linear):
        nn.init.xavier_normal_(mod.weight)
        if mod.bias is not None:
            nn.init.zeros_(mod.bias)
    elif isinstance(mod, nn.Conv2d):
        nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        if mod.bias is not None:
            nn.init.zeros_(mod.bias)
    elif isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.ones_(mod.weight)
        nn.init.zeros_(mod.bias)


SEED_MLP_DESC = ("class M(nn.Module): self.layer = nn.Sequential(nn.Linear(784,256), nn.ReLU(), "
                 "nn.Linear(256,128), nn.ReLU(), nn.Linear(128,10))")
SEED_APPLY_DESC = (SEED_MLP_DESC + "; then m.apply(fn) with fn: Linear -> xavier_normal_(weight), zeros_(bias); "
                   "Conv2d -> kaiming_normal_(weight, mode='fan_out', nonlinearity='relu'), zeros_(bias); "
                   "BatchNorm2d/GroupNorm -> ones_(weight), zeros_(bias)")


def construct(ctor, seed, dt):
    """`torch.manual_seed(seed)`, then the module `ctor` (a `torch.nn` expression) evaluated with
    warnings ignored: the module and its `module_tensors`, whose float dtypes must all be `dt`."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = eval(ctor, {"nn": nn, "torch": torch})  # noqa: S307 - trusted, literal constructor strings
    tensors = module_tensors(m)
    assert all(t["dtype"] == dt for t in tensors if t["dtype"] in DTYPES), (ctor, dt)
    return m, tensors


def gen_modules():
    cases = []
    specs = []
    for ctor in MODULE_CTORS:
        for seed in (0, 42):
            specs.append(("%s_s%d" % (_slug(ctor), seed), seed, ctor, "f32"))
    for dt, ctor in MODULE_DTYPE_CTORS:
        specs.append(("%s_s0" % _slug(ctor), 0, ctor, dt))
    ids = set()
    for cid, seed, ctor, dt in specs:
        assert cid not in ids, cid
        ids.add(cid)
        _, tensors = construct(ctor, seed, dt)
        cases.append({"id": cid, "seed": seed, "ctor": ctor, "dtype": dt, "tensors": tensors,
                      "rng_state_sha256": rng_state_sha256()})

    for cid, apply in (("seed_mlp_default", False), ("seed_mlp_apply", True)):
        torch.manual_seed(0)
        m = SeedNet()
        if apply:
            m.apply(seed_init_fn)
        cases.append({"id": cid, "seed": 0, "ctor": SEED_APPLY_DESC if apply else SEED_MLP_DESC, "dtype": "f32",
                      "tensors": module_tensors(m), "rng_state_sha256": rng_state_sha256()})
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "cases": cases}


def self_check_modules(doc):
    by_id = {c["id"]: c for c in doc["cases"]}
    lin = {t["name"]: t for t in by_id["linear_3_2_s0"]["tensors"]}
    assert lin["weight"]["bits"] == ["bb8da3e8", "3e9e9313", "bef34b7e", "bed98bc9", "be63b4b1", "3e1e8953"]
    assert lin["bias"]["bits"] == ["bc3b6b40", "3eea617a"]
    # spec §12: manual_seed(42); Embedding(4,4,padding_idx=0).weight[1]
    torch.manual_seed(42)
    w = nn.Embedding(4, 4, padding_idx=0).weight
    assert hex_bits(w[1]) == ["3f2dacd5", "bf9e0591", "bd306786", "bfcd65ba"]


# ----------------------------------------------------------------------------------------------
# models.json
# ----------------------------------------------------------------------------------------------
HF_TINY_CONFIGS = {
    "bert-tiny.config.json": ("BertConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=4, intermediate_size=64,
                                                 max_position_embeddings=64, type_vocab_size=2)),
    "gpt2-tiny.config.json": ("GPT2Config", dict(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    "llama-tiny.config.json": ("LlamaConfig", dict(vocab_size=100, hidden_size=32, intermediate_size=64,
                                                   num_hidden_layers=2, num_attention_heads=4,
                                                   num_key_value_heads=2, max_position_embeddings=64)),
}
MINILM_CONFIG = "all-minilm-l6-v2.config.json"


def write_hf_configs():
    import transformers
    for fname, (cls, kwargs) in HF_TINY_CONFIGS.items():
        cfg = getattr(transformers, cls)(**kwargs)
        path = os.path.join(DATA_DIR, fname)
        os.makedirs(DATA_DIR, exist_ok=True)
        cfg.to_json_file(path)
        print("wrote %s" % os.path.relpath(path, REPO), file=sys.stderr)
    if not os.path.exists(os.path.join(DATA_DIR, MINILM_CONFIG)):
        raise SystemExit("missing %s (see tools/golden/README.md for where it comes from)"
                         % os.path.join(DATA_DIR, MINILM_CONFIG))


def gen_models():
    import torchvision
    import transformers

    write_hf_configs()
    specs = []
    for name, seeds in (("resnet18", (0, 7)), ("resnet50", (0,)), ("vgg11_bn", (0,)), ("mobilenet_v2", (0,))):
        for s in seeds:
            specs.append(("%s_s%d" % (name, s), s, "torchvision.models.%s()" % name, None))
    hf = [
        ("bert_tiny", "BertModel", "BertConfig", "bert-tiny.config.json", (0, 3)),
        ("gpt2_tiny", "GPT2LMHeadModel", "GPT2Config", "gpt2-tiny.config.json", (0,)),
        ("llama_tiny", "LlamaForCausalLM", "LlamaConfig", "llama-tiny.config.json", (0,)),
        ("all_minilm_l6_v2", "BertModel", "BertConfig", MINILM_CONFIG, (0,)),
    ]
    for tag, model_cls, cfg_cls, cfg_file, seeds in hf:
        for s in seeds:
            ctor = "transformers.%s(transformers.%s.from_json_file('%s'))" % (model_cls, cfg_cls, cfg_file)
            specs.append(("%s_s%d" % (tag, s), s, ctor, cfg_file))

    cases = []
    for cid, seed, ctor, cfg_file in specs:
        if cfg_file is not None:
            model_cls, rest = ctor[len("transformers."):].split("(", 1)
            cfg_cls = rest[len("transformers."):].split(".", 1)[0]
            cfg = getattr(transformers, cfg_cls).from_json_file(os.path.join(DATA_DIR, cfg_file))
            torch.manual_seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = getattr(transformers, model_cls)(cfg)
        else:
            torch.manual_seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = eval(ctor, {"torchvision": torchvision})  # noqa: S307
        rng = rng_state_sha256()
        case = {"id": cid, "seed": seed, "ctor": ctor}
        if cfg_file is not None:
            case["config"] = cfg_file
        case["tensors"] = module_tensors(m, with_bits=False)
        case["rng_state_sha256"] = rng
        cases.append(case)
        del m
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "torchvision": _version("torchvision"),
            "transformers": _version("transformers"), "cases": cases}


# ----------------------------------------------------------------------------------------------
# models_hf.json: more transformers families (each a small config) and classification heads
# ----------------------------------------------------------------------------------------------
_DEC = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64)
_ENC = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, type_vocab_size=2)
# (tag, model class, config class, config file, seeds, config keyword arguments)
HF_MORE = [
    ("qwen2_tiny", "Qwen2ForCausalLM", "Qwen2Config", "qwen2-tiny.config.json", (0, 5),
     dict(_DEC, tie_word_embeddings=True)),
    ("mistral_tiny", "MistralForCausalLM", "MistralConfig", "mistral-tiny.config.json", (0,), dict(_DEC, head_dim=16)),
    ("qwen3_tiny", "Qwen3ForCausalLM", "Qwen3Config", "qwen3-tiny.config.json", (0,),
     dict(_DEC, head_dim=16, attention_bias=True)),
    ("gemma_tiny", "GemmaForCausalLM", "GemmaConfig", "gemma-tiny.config.json", (0,),
     dict(_DEC, num_key_value_heads=1, head_dim=16)),
    ("phi3_tiny", "Phi3ForCausalLM", "Phi3Config", "phi3-tiny.config.json", (0,), dict(_DEC, pad_token_id=99)),
    ("gpt_neox_tiny", "GPTNeoXForCausalLM", "GPTNeoXConfig", "gpt-neox-tiny.config.json", (0,),
     {k: v for k, v in _DEC.items() if k != "num_key_value_heads"}),
    ("roberta_tiny", "RobertaModel", "RobertaConfig", "roberta-tiny.config.json", (0,),
     dict(_ENC, max_position_embeddings=66, type_vocab_size=1)),
    ("roberta_cls_tiny", "RobertaForSequenceClassification", "RobertaConfig", "roberta-cls-tiny.config.json", (0,),
     dict(_ENC, max_position_embeddings=66, type_vocab_size=1, num_labels=3,
          architectures=["RobertaForSequenceClassification"])),
    ("bert_cls_tiny", "BertForSequenceClassification", "BertConfig", "bert-cls-tiny.config.json", (0,),
     dict(_ENC, num_labels=3, architectures=["BertForSequenceClassification"])),
    ("llama_cls_tiny", "LlamaForSequenceClassification", "LlamaConfig", "llama-cls-tiny.config.json", (0,),
     dict(_DEC, num_labels=3, pad_token_id=0, architectures=["LlamaForSequenceClassification"])),
    ("vit_tiny", "ViTModel", "ViTConfig", "vit-tiny.config.json", (0,),
     dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=32,
          patch_size=8)),
    ("vit_cls_tiny", "ViTForImageClassification", "ViTConfig", "vit-cls-tiny.config.json", (0,),
     dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, image_size=[32, 24],
          patch_size=8, num_channels=1, num_labels=3, architectures=["ViTForImageClassification"])),
    ("t5_tiny", "T5ForConditionalGeneration", "T5Config", "t5-tiny.config.json", (0,),
     dict(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=1, num_heads=4,
          relative_attention_num_buckets=8)),
    ("t5_gated_tiny", "T5ForConditionalGeneration", "T5Config", "t5-gated-tiny.config.json", (0,),
     dict(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, relative_attention_num_buckets=8,
          feed_forward_proj="gated-gelu", initializer_factor=0.5)),
]
HF_MORE += [
    ("t5_model_tiny", "T5Model", "T5Config", "t5-model-tiny.config.json", (0,),
     dict(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, relative_attention_num_buckets=8,
          architectures=["T5Model"])),
    ("t5_encoder_tiny", "T5EncoderModel", "T5Config", "t5-encoder-tiny.config.json", (0,),
     dict(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
          architectures=["T5EncoderModel"])),
]
# Fields written into a config file after `to_json_file`, as released checkpoints have them (T5 v1.1
# configs say `"tie_word_embeddings": false`, which T5Config 5.x reads as "do not scale decoder
# outputs" while still tying the embeddings).
HF_JSON_OVERRIDES = {"t5-gated-tiny.config.json": {"tie_word_embeddings": False}}


def gen_models_hf():
    import transformers
    cases = []
    for tag, model_cls, cfg_cls, cfg_file, seeds, kwargs in HF_MORE:
        path = os.path.join(DATA_DIR, cfg_file)
        getattr(transformers, cfg_cls)(**kwargs).to_json_file(path)
        if cfg_file in HF_JSON_OVERRIDES:
            with open(path) as f:
                fields = json.load(f)
            fields.update(HF_JSON_OVERRIDES[cfg_file])
            with open(path, "w") as f:
                f.write(json.dumps(fields, indent=2, sort_keys=True) + "\n")
        print("wrote %s" % os.path.relpath(path, REPO), file=sys.stderr)
        cfg = getattr(transformers, cfg_cls).from_json_file(path)
        for s in seeds:
            torch.manual_seed(s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = getattr(transformers, model_cls)(cfg)
            rng = rng_state_sha256()
            ctor = "transformers.%s(transformers.%s.from_json_file('%s'))" % (model_cls, cfg_cls, cfg_file)
            cases.append({"id": "%s_s%d" % (tag, s), "seed": s, "ctor": ctor, "config": cfg_file,
                          "tree": module_tree_digest(m), "tensors": module_tensors(m, with_bits=False),
                          "rng_state_sha256": rng})
            del m
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "transformers": _version("transformers"),
            "cases": cases}


# ----------------------------------------------------------------------------------------------
# models_torchvision.json: more torchvision classification models (fixed sizes, so only digests)
# ----------------------------------------------------------------------------------------------
TORCHVISION_MORE = [("vit_b_16", (0,)), ("convnext_tiny", (0,)), ("efficientnet_b0", (0, 4)),
                    ("mobilenet_v3_large", (0,)), ("densenet121", (0,))]


def module_tree_digest(m):
    """`[count, sha256]` of `"\\n".join(f"{path} {class}")` over `module_classes(m)`."""
    lines = ["%s %s" % (p, c) for p, c in module_classes(m)]
    return [len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()]


def gen_models_torchvision():
    import torchvision
    cases = []
    for name, seeds in TORCHVISION_MORE:
        for s in seeds:
            torch.manual_seed(s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = getattr(torchvision.models, name)()
            rng = rng_state_sha256()
            cases.append({"id": "%s_s%d" % (name, s), "seed": s, "ctor": "torchvision.models.%s()" % name,
                          "tree": module_tree_digest(m), "tensors": module_tensors(m, with_bits=False),
                          "rng_state_sha256": rng})
            del m
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "torchvision": _version("torchvision"),
            "cases": cases}


def _version(mod):
    return __import__(mod).__version__


# ----------------------------------------------------------------------------------------------
# rng.json
# ----------------------------------------------------------------------------------------------
_MT_N, _MT_M = 624, 397


def _mt_twist(st):
    st = list(st)
    for i in range(_MT_N):
        y = (st[i] & 0x80000000) | (st[(i + 1) % _MT_N] & 0x7FFFFFFF)
        st[i] = st[(i + _MT_M) % _MT_N] ^ (y >> 1) ^ (0x9908B0DF if st[(i + 1) % _MT_N] & 1 else 0)
    return st


def _mt_temper(y):
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & 0xFFFFFFFF


def _parse_rng_state(b):
    """CPUGeneratorImplState layout (spec §1.3)."""
    seed = int.from_bytes(b[0:8], "little")
    left = int.from_bytes(b[8:12], "little", signed=True)
    seeded = int.from_bytes(b[12:16], "little", signed=True)
    nxt = int.from_bytes(b[16:24], "little")
    state = np.frombuffer(b[24:24 + 8 * _MT_N], dtype="<u8")
    return seed, left, seeded, nxt, [int(x) for x in state]


def first_u32(seed, n=16):
    """First n MT19937 outputs after manual_seed(seed), emulated from torch.get_rng_state() and
    cross-checked against torch's own draws."""
    torch.manual_seed(seed)
    b = bytes(torch.get_rng_state().numpy())
    s0, left, seeded, nxt, st = _parse_rng_state(b)
    assert s0 == seed and left == 1 and nxt == 0 and seeded == 1, (s0, left, seeded, nxt)
    # state is init_genrand(low 32 bits of seed)
    exp = [seed & 0xFFFFFFFF]
    for j in range(1, _MT_N):
        exp.append((1812433253 * (exp[-1] ^ (exp[-1] >> 30)) + j) & 0xFFFFFFFF)
    assert st == exp
    tw = _mt_twist(st)
    outs = [_mt_temper(tw[i]) for i in range(n)]
    # cross-check 1: f32 uniforms are (u32 & 0xffffff) * 2^-24
    torch.manual_seed(seed)
    r = torch.rand(n, dtype=torch.float32).numpy().astype(np.float64)
    assert [int(x) for x in (r * 2.0**24)] == [o & 0xFFFFFF for o in outs]
    # cross-check 2: the full 32-bit twisted state words equal torch's after one draw
    _, left2, _, nxt2, st2 = _parse_rng_state(bytes(torch.get_rng_state().numpy()))
    assert st2 == tw and left2 == _MT_N - n + 1 and nxt2 == n, (left2, nxt2)
    # cross-check 3: f64 uniforms use random64 = (first << 32) | second, low 53 bits
    torch.manual_seed(seed)
    r64 = torch.rand(n // 2, dtype=torch.float64).numpy()
    for i in range(n // 2):
        v = ((outs[2 * i] << 32) | outs[2 * i + 1]) & ((1 << 53) - 1)
        assert r64[i] == v * 2.0**-53
    return outs


def gen_rng():
    seeds = []
    for seed in (0, 1, 42, 5, 2**32 + 5, 2**32 - 1, 2**63, 2**64 - 1):
        torch.manual_seed(seed)
        sha = rng_state_sha256()
        outs = first_u32(seed)
        seeds.append({"seed": seed, "u32": [format(o, "08x") for o in outs], "state_sha256_after_seed": sha})
    assert seeds[0]["u32"][:4] == ["8c7f0aac", "97c4aa2f", "b716a675", "d821ccc0"]
    assert seeds[3]["u32"] == seeds[4]["u32"]
    perms = []
    for seed in (0, 42):
        for n in (0, 1, 2, 5, 10, 100):
            torch.manual_seed(seed)
            p = torch.randperm(n)
            assert p.dtype == torch.int64
            perms.append({"seed": seed, "n": n, "perm": [int(x) for x in p], "rng_state_sha256": rng_state_sha256()})
    assert perms[3]["perm"] == [4, 0, 1, 3, 2]
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "seeds": seeds, "randperm": perms}


# ----------------------------------------------------------------------------------------------
# nested.json
# ----------------------------------------------------------------------------------------------
# Constructor calls with constructor calls as arguments, evaluated as Python does (arguments
# first, left to right). `TransformerEncoder`/`TransformerDecoder` deep-copy their layer (no draws)
# and do not register it.
NESTED_CTORS = [
    "nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))",
    "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3)",
    "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 2, norm=nn.LayerNorm(16))",
    "nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, dim_feedforward=32), 2, nn.LayerNorm(16))",
    "nn.ModuleList([nn.Linear(3, 5), nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)), nn.LSTM(4, 6)])",
    "nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Sequential(nn.Linear(4, 8), nn.GELU()), nn.LayerNorm(8))",
    "nn.TransformerEncoder(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), 2)",
    "nn.Sequential(nn.MultiheadAttention(8, 2), nn.ModuleList(), nn.Sequential(), nn.Dropout(0.1))",
    # Keyword arguments are evaluated in the order written: `norm` (which draws) before the layer.
    "nn.TransformerEncoder(norm=nn.Linear(16, 16), encoder_layer=nn.TransformerEncoderLayer(16, 2, 32), num_layers=2)",
]
NESTED_DTYPE_CTORS = [
    ("f64", "nn.Sequential(nn.Linear(4, 4, dtype=torch.float64), nn.ReLU(), nn.Linear(4, 2, dtype=torch.float64))"),
    ("bf16", "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dtype=torch.bfloat16), 3)"),
    ("f16", "nn.ModuleList([nn.Linear(3, 5, dtype=torch.float16), nn.LSTM(4, 6, dtype=torch.float16)])"),
]


# Subclasses that only change `forward`, written as the `torch.nn` class they extend (nninit
# builds them as that layer, so plans and `_init_weights` treat them as it).
_BASE_CLASS = {"NonDynamicallyQuantizableLinear": "Linear", "GemmaTextScaledWordEmbedding": "Embedding"}


def module_classes(m):
    """`[path, class]` for every module in `named_modules()` order (PyTorch's
    `NonDynamicallyQuantizableLinear` written `Linear`, Gemma's `GemmaTextScaledWordEmbedding`
    written `Embedding`)."""
    out = []
    for path, mod in m.named_modules():
        cls = type(mod).__name__
        out.append([path, _BASE_CLASS.get(cls, cls)])
    return out


def gen_nested():
    specs = []
    for i, ctor in enumerate(NESTED_CTORS):
        for seed in (0, 7):
            specs.append(("nested%d_s%d" % (i, seed), seed, ctor, "f32"))
    for i, (dt, ctor) in enumerate(NESTED_DTYPE_CTORS):
        specs.append(("nested_%s%d_s3" % (dt, i), 3, ctor, dt))
    cases = []
    for cid, seed, ctor, dt in specs:
        m, tensors = construct(ctor, seed, dt)
        cases.append({"id": cid, "seed": seed, "ctor": ctor, "dtype": dt, "modules": module_classes(m),
                      "tensors": tensors, "rng_state_sha256": rng_state_sha256()})
    return {"torch": TORCH_VERSION, "capability": CAPABILITY, "cases": cases}


def self_check_nested(doc):
    by_id = {c["id"]: c for c in doc["cases"]}
    seq = [t["name"] for t in by_id["nested0_s0"]["tensors"]]
    assert seq == ["0.weight", "0.bias", "2.weight", "2.bias"], seq
    enc = [t["name"] for t in by_id["nested1_s0"]["tensors"]]
    assert enc[0] == "layers.0.self_attn.in_proj_weight", enc[0]
    # The three layers are copies of one: equal bytes.
    first = {t["name"][len("layers.0."):]: t["sha256"] for t in by_id["nested1_s0"]["tensors"]
             if t["name"].startswith("layers.0.")}
    third = {t["name"][len("layers.2."):]: t["sha256"] for t in by_id["nested1_s0"]["tensors"]
             if t["name"].startswith("layers.2.")}
    assert first == third
    # The same draws as building the layer alone: deep copies draw nothing.
    torch.manual_seed(0)
    nn.TransformerEncoderLayer(16, 2, 32)
    assert rng_state_sha256() == by_id["nested1_s0"]["rng_state_sha256"]


# ----------------------------------------------------------------------------------------------
def main():
    if not TORCH_VERSION.startswith(EXPECTED_TORCH):
        raise SystemExit("expected torch %s, found %s" % (EXPECTED_TORCH, TORCH_VERSION))
    cap = torch.backends.cpu.get_cpu_capability()
    if cap != CAPABILITY.upper():
        raise SystemExit("ATEN_CPU_CAPABILITY=%s but torch reports %s (CPU without AVX2?)" % (CAPABILITY, cap))
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)

    if _ARGS.capability is not None:
        doc = gen_tensors()
        self_check_tensors(doc)
        write_json(os.path.join(GOLDEN_DIR, "tensors_%s.json" % CAPABILITY), doc)
        return

    only = set(_ARGS.only or ("tensors", "modules", "models", "models_hf", "models_torchvision", "rng", "nested"))
    if "tensors" in only:
        doc = gen_tensors()
        self_check_tensors(doc)
        write_json(os.path.join(GOLDEN_DIR, "tensors_avx2.json"), doc)
        cmd = [sys.executable, os.path.abspath(__file__), "--capability", "default"]
        if _ARGS.golden_dir:
            cmd += ["--golden-dir", GOLDEN_DIR]
        env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
        subprocess.run(cmd, env=env, check=True)
    if "rng" in only:
        write_json(os.path.join(GOLDEN_DIR, "rng.json"), gen_rng())
    if "modules" in only:
        doc = gen_modules()
        self_check_modules(doc)
        write_json(os.path.join(GOLDEN_DIR, "modules.json"), doc)
    if "models" in only:
        write_json(os.path.join(GOLDEN_DIR, "models.json"), gen_models())
    if "models_hf" in only:
        write_json(os.path.join(GOLDEN_DIR, "models_hf.json"), gen_models_hf())
    if "models_torchvision" in only:
        write_json(os.path.join(GOLDEN_DIR, "models_torchvision.json"), gen_models_torchvision())
    if "nested" in only:
        doc = gen_nested()
        self_check_nested(doc)
        write_json(os.path.join(GOLDEN_DIR, "nested.json"), doc)


if __name__ == "__main__":
    main()
