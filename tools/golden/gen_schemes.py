#!/usr/bin/env python3
"""Reference data for nninit's JAX-style, structured and depth-aware schemes.

Writes crates/nninit/tests/golden/schemes.json. Run it with an interpreter that has JAX and
NumPy; pass --torch-python with one that has PyTorch 2.15 for the parts that need PyTorch
(error messages for derived arguments, ZerO, identity). See README.md.

JAX's random streams differ from nninit's, so for JAX the file records what can be compared
exactly -- fans and std/bound, computed by JAX's own code in float64 -- plus sample moments of
large JAX draws. Deterministic schemes are recorded bit for bit.
"""

import argparse
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "nninit", "tests", "golden", "schemes.json")


def hex64(x):
    import struct

    return struct.pack(">d", float(x)).hex()


def hex32(x):
    import struct

    return struct.pack(">f", float(x)).hex()


# ---------------------------------------------------------------------------------------------
# JAX part
# ---------------------------------------------------------------------------------------------

# (nninit init string, JAX call as (function name, kwargs), shape)
JAX_CASES = [
    ("variance_scaling_(1.0, 'fan_in', 'normal')", ("variance_scaling", dict(scale=1.0, mode="fan_in", distribution="normal")), [64, 32]),
    ("variance_scaling_(2.0, 'fan_out', 'uniform')", ("variance_scaling", dict(scale=2.0, mode="fan_out", distribution="uniform")), [64, 32]),
    ("variance_scaling_(0.5, 'fan_avg', 'truncated_normal')", ("variance_scaling", dict(scale=0.5, mode="fan_avg", distribution="truncated_normal")), [3, 3, 16, 32]),
    ("variance_scaling_(1.0, 'fan_in', 'uniform', in_axis=1, out_axis=0)", ("variance_scaling", dict(scale=1.0, mode="fan_in", distribution="uniform", in_axis=1, out_axis=0)), [32, 16, 3, 3]),
    ("variance_scaling_(3.0, 'fan_avg', 'normal', in_axis=(1, 2), out_axis=-1, batch_axis=0)", ("variance_scaling", dict(scale=3.0, mode="fan_avg", distribution="normal", in_axis=(1, 2), out_axis=-1, batch_axis=(0,))), [4, 6, 5, 7]),
    ("variance_scaling_(2.0, 'fan_geo_avg', 'uniform')", ("variance_scaling", dict(scale=2.0, mode="fan_geo_avg", distribution="uniform")), [48, 27]),
    ("variance_scaling_(1.0, 'fan_in', 'truncated_normal', in_axis=-1, out_axis=-2)", ("variance_scaling", dict(scale=1.0, mode="fan_in", distribution="truncated_normal", in_axis=-1, out_axis=-2)), [300, 200]),
    ("glorot_uniform_()", ("glorot_uniform", {}), [200, 300]),
    ("glorot_normal_()", ("glorot_normal", {}), [200, 300]),
    ("glorot_normal_(in_axis=1, out_axis=0)", ("glorot_normal", dict(in_axis=1, out_axis=0)), [64, 32, 5]),
    ("he_uniform_()", ("he_uniform", {}), [3, 3, 8, 64]),
    ("he_normal_()", ("he_normal", {}), [3, 3, 8, 64]),
    ("he_normal_(in_axis=1, out_axis=0)", ("he_normal", dict(in_axis=1, out_axis=0)), [64, 8, 3, 3]),
    ("jax_lecun_uniform_()", ("lecun_uniform", {}), [256, 128]),
    ("jax_lecun_normal_()", ("lecun_normal", {}), [256, 128]),
]

SAMPLE_N = 1 << 18


def jax_part():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jax._src.nn import initializers as jinit

    out = []
    for init, (fn, kwargs), shape in JAX_CASES:
        make = getattr(jax.nn.initializers, fn)
        axes = {k: kwargs.get(k, d) for k, d in (("in_axis", -2), ("out_axis", -1), ("batch_axis", ()))}
        fan_in, fan_out = jinit._compute_fans(tuple(shape), **axes)
        # JAX's own std/bound, in float64: its sampler replaced by ones, the initializer returns
        # exactly the factor it multiplies the samples by.
        real = (jinit.random.normal, jinit.random.uniform, jinit.random.truncated_normal)
        jinit.random.normal = lambda key, shape, dtype, **kw: jnp.ones((1,), dtype)
        jinit.random.uniform = lambda key, shape, dtype, minval=0.0, maxval=1.0, **kw: jnp.ones((1,), dtype)
        jinit.random.truncated_normal = lambda key, lower, upper, shape, dtype, **kw: jnp.ones((1,), dtype)
        try:
            factor = float(make(**kwargs)(jax.random.PRNGKey(0), tuple(shape), jnp.float64)[0])
        finally:
            jinit.random.normal, jinit.random.uniform, jinit.random.truncated_normal = real
        # Moments of a large real draw (float32, JAX's default) of the same family at unit
        # variance (scale 1, fan_in 1): compared with nninit's draws divided by their std.
        key = jax.random.PRNGKey(42)
        dist = kwargs.get("distribution") or {
            "glorot_uniform": "uniform",
            "he_uniform": "uniform",
            "lecun_uniform": "uniform",
        }.get(fn, "truncated_normal")
        vs = jax.nn.initializers.variance_scaling(1.0, "fan_in", dist, in_axis=-2, out_axis=-1)
        unit = np.asarray(vs(key, (1, SAMPLE_N), jnp.float32), dtype=np.float64)  # fan_in = 1
        out.append(
            dict(
                init=init,
                jax=fn,
                kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
                shape=shape,
                fan_in=float(fan_in),
                fan_out=float(fan_out),
                distribution=dist,
                factor=factor,
                factor_bits=hex64(factor),
                unit_sample=dict(n=int(unit.size), mean=float(unit.mean()), std=float(unit.std()),
                                 min=float(unit.min()), max=float(unit.max())),
            )
        )
    # delta_orthogonal: where JAX puts the matrix (its layout [*k, in, out]) and its Gram matrix.
    delta = []
    for shape in ([3, 2, 4], [4, 2, 4], [3, 5, 2, 4], [2, 4, 3, 2, 2]):
        w = np.asarray(jax.nn.initializers.delta_orthogonal(scale=1.5)(jax.random.PRNGKey(1), tuple(shape), jnp.float64))
        spatial = shape[:-2]
        nz = [list(map(int, idx)) for idx in np.argwhere(np.abs(w).sum(axis=(-2, -1)) > 0)]
        centre = w[tuple(nz[0])]
        gram = centre @ centre.T  # [in, in]
        delta.append(dict(jax_shape=shape, nonzero_taps=nz, spatial=spatial,
                          gram_max_error=float(np.abs(gram - 1.5 ** 2 * np.eye(shape[-2])).max())))
    return dict(jax_version=jax.__version__, jax_cases=out, delta_orthogonal=delta)


# ---------------------------------------------------------------------------------------------
# Formulas of the depth- and width-aware schemes, written as their sources compute them
# ---------------------------------------------------------------------------------------------

def formula_part():
    import numpy as np

    cases = []

    def add(init, std=None, gain=None, **extra):
        row = dict(init=init, **extra)
        if std is not None:
            row["std_bits"] = hex64(std)
        if gain is not None:
            row["gain_bits"] = hex64(gain)
        cases.append(row)

    # Megatron-LM scaled_init_method_normal / GPT-2: sigma / sqrt(2 * num_layers).
    for sigma, n in ((0.02, 12), (0.02, 24), (0.006, 96), (1.0, 1)):
        add(f"scaled_normal_({sigma}, {n})", std=sigma / math.sqrt(2.0 * n))
    # GPT-NeoX small_init: sqrt(2 / (5 * dim)); wang_init: 2 / n_layers / sqrt(dim).
    for dim in (512, 768, 4096, 6144):
        add(f"small_init_({dim})", std=math.sqrt(2 / (5 * dim)))
    for n, dim in ((12, 768), (32, 4096), (44, 6144), (1, 1)):
        add(f"wang_init_({n}, {dim})", std=2 / n / math.sqrt(dim))
    # OLMo mitchell: std_factor / sqrt(d), then / sqrt(2 * (layer_id + 1)); cut at +-3 std.
    for d, layer_id, factor in ((4096, None, 1.0), (4096, 0, 1.0), (2048, 15, 1.0), (11008, 31, 0.5)):
        std = factor / math.sqrt(d)
        if layer_id is not None:
            std = std / math.sqrt(2 * (layer_id + 1))
        lid = "None" if layer_id is None else layer_id
        add(f"olmo_mitchell_({d}, {lid}, {factor})", std=std)
    # DeepNet beta (Wang et al. 2022), the xavier_normal_ gain.
    for n, m, stack in ((18, 0, "encoder"), (0, 200, "decoder"), (100, 100, "encoder"), (100, 100, "decoder"), (6, 6, "encoder")):
        if m == 0:
            beta = math.pow(8.0 * n, -0.25)
        elif n == 0:
            beta = math.pow(8.0 * m, -0.25)
        elif stack == "encoder":
            beta = 0.87 * math.pow(math.pow(n, 4) * m, -0.0625)
        else:
            beta = math.pow(12.0 * m, -0.25)
        add(f"deepnorm_({n}, {m}, '{stack}')", gain=beta)
    # Fixup: sqrt(2 / fan_out) * L ** (-1 / (2m - 2)) with fan_out = shape[0] * prod(shape[2:]).
    for shape, L, m, exponent in (([64, 64, 3, 3], 8, 2, -0.5), ([256, 64, 1, 1], 16, 3, -0.25), ([128, 32], 50, 2, -0.5)):
        std = np.sqrt(2 / (shape[0] * np.prod(shape[2:]))) * L ** exponent
        add(f"fixup_({L}, {m})", std=float(std), shape=shape)
    # T-Fixup: encoder 0.67 * N ** (-1/4), decoder (9 * M) ** (-1/4): the xavier_uniform_ gain.
    for n in (6, 12, 200):
        add(f"t_fixup_({n}, 'encoder')", gain=0.67 * n ** (-1.0 / 4.0))
        add(f"t_fixup_({n}, 'decoder')", gain=(9 * n) ** (-(0.25)))
    # muP: hidden std * width_mult ** -0.5, readout std / width_mult, width_mult = fan_in / base.
    for shape, base, std in (([1024, 1024], 256, 0.02), ([4096, 3072], 768, 1.0), ([50257, 1536], 512, 0.02)):
        fan_in = shape[1] * math.prod(shape[2:])
        mult = fan_in / base
        add(f"mup_normal_({base}, {std}, False)", std=std * mult ** -0.5, shape=shape)
        add(f"mup_normal_({base}, {std}, True)", std=std / mult, shape=shape)
    return dict(formula_cases=cases)


# ---------------------------------------------------------------------------------------------
# PyTorch part
# ---------------------------------------------------------------------------------------------

def torch_part():
    import numpy as np
    import torch

    def message(f):
        try:
            f()
            return None
        except Exception as e:  # noqa: BLE001 -- the message text is the data
            return str(e)

    # Errors from derived arguments: what PyTorch says for the bound / std a scheme derives.
    p2 = []

    def case(init, shape, dtype, call):
        p2.append(dict(init=init, shape=shape, dtype=dtype, message=message(call)))

    t = lambda shape, dt=torch.float32: torch.empty(*shape, dtype=dt)
    case("xavier_uniform_(gain=-1)", [4, 4], "f32", lambda: torch.nn.init.xavier_uniform_(t([4, 4]), gain=-1))
    case("xavier_normal_(gain=-1)", [4, 4], "f32", lambda: torch.nn.init.xavier_normal_(t([4, 4]), gain=-1))
    case("xavier_uniform_(gain=-1)", [0, 4], "f32", lambda: torch.nn.init.xavier_uniform_(t([0, 4]), gain=-1))
    case("xavier_uniform_(gain=1e300)", [4, 4], "f32", lambda: torch.nn.init.xavier_uniform_(t([4, 4]), gain=1e300))
    case("xavier_uniform_(gain=1e5)", [4, 4], "f16", lambda: torch.nn.init.xavier_uniform_(t([4, 4], torch.float16), gain=1e5))
    case("xavier_normal_(gain=-3)", [16, 8, 3, 3], "f32", lambda: torch.nn.init.xavier_normal_(t([16, 8, 3, 3]), gain=-3))
    case("kaiming_uniform_(a=-1)", [4, 4], "f32", lambda: torch.nn.init.kaiming_uniform_(t([4, 4]), a=-1))
    case("kaiming_normal_(a=1e200)", [4, 4], "f32", lambda: torch.nn.init.kaiming_normal_(t([4, 4]), a=1e200))
    case("kaiming_uniform_(a=-1)", [0, 4], "f32", lambda: torch.nn.init.kaiming_uniform_(t([0, 4]), a=-1))
    # Schemes PyTorch does not have: its samplers given the derived argument.
    derived = [
        ("scaled_normal_(-0.02, 12)", [4, 4], "normal", -0.02 / math.sqrt(2.0 * 12)),
        ("mup_normal_(16, -1.0)", [8, 64], "normal", -1.0 * (64 / 16) ** -0.5),
        ("olmo_mitchell_(64, None, -1.0)", [4, 4], "normal", -1.0 / math.sqrt(64)),
        ("variance_scaling_(-1.0, 'fan_in', 'normal')", [4, 4], "normal", float("nan")),
        ("variance_scaling_(-1.0, 'fan_in', 'uniform')", [4, 4], "uniform", float("nan")),
        ("deepnorm_(6, 0)", [4, 4], "normal_ok", math.pow(8.0 * 6, -0.25) * math.sqrt(2.0 / 8)),
    ]
    for init, shape, kind, value in derived:
        if kind == "uniform":
            call = lambda v=value: torch.nn.init.uniform_(t(shape), -v, v)
        else:
            call = lambda v=value: torch.nn.init.normal_(t(shape), 0.0, v)
        case(init, shape, "f32", call)
    case("trunc_normal_(std=-1)", [4, 4], "f32", lambda: torch.nn.init.trunc_normal_(t([4, 4]), std=-1.0))

    # ZerO: the reference algorithm (Zhao et al. 2022, Algorithm 1) with PyTorch's eye_ and
    # matmul; the Sylvester-Hadamard matrix built as scipy.linalg.hadamard builds it.
    def hadamard(n):
        h = np.array([[1]], dtype=np.int64)
        while h.shape[0] < n:
            h = np.vstack((np.hstack((h, h)), np.hstack((h, -h))))
        return h

    def zero_init(m, n):
        if m <= n:
            return torch.nn.init.eye_(torch.empty(m, n))
        clog_m = math.ceil(math.log2(m))
        p = 2 ** clog_m
        return (torch.nn.init.eye_(torch.empty(m, p))
                @ (torch.tensor(hadamard(p)).float() / (2 ** (clog_m / 2)))
                @ torch.nn.init.eye_(torch.empty(p, n)))

    zero = []
    for m, n in ((4, 2), (6, 3), (8, 8), (5, 7), (12, 5), (3, 1), (33, 7)):
        w = zero_init(m, n)
        zero.append(dict(shape=[m, n], bits=[hex32(x) for x in w.flatten().tolist()]))

    # identity_: eye_ / dirac_ times gain.
    ident = []
    for shape, gain in (([3, 4], 0.5), ([4, 3], 2.0), ([2, 3, 3], 1.5), ([4, 2, 3, 3], -1.0), ([3, 3, 2, 2, 2], 0.25)):
        w = torch.empty(*shape)
        (torch.nn.init.eye_ if len(shape) == 2 else torch.nn.init.dirac_)(w)
        w.mul_(gain)
        ident.append(dict(shape=shape, gain=gain, bits=[hex32(x) for x in w.flatten().tolist()]))
    return dict(torch_version=torch.__version__, derived_errors=p2, zero_init=zero, identity=ident)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", choices=["all", "torch"], default="all")
    ap.add_argument("--torch-python", help="an interpreter with PyTorch 2.15 (default: this one)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    if args.part == "torch":
        json.dump(torch_part(), sys.stdout)
        return
    data = {}
    data.update(jax_part())
    data.update(formula_part())
    py = args.torch_python or sys.executable
    torch_json = subprocess.run([py, os.path.abspath(__file__), "--part", "torch"], check=True,
                                capture_output=True, text=True).stdout
    data.update(json.loads(torch_json))
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
