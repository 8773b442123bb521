//! Tensor-parallel plans: each rank's slices equal transformers 5.24's (golden from
//! `tools/golden/gen_tp.py`), the ranks' files put together by their recorded slices equal the
//! unsharded checkpoint on both streams, in memory and streamed, and bad plans are refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nninit::job::{self, InitJob, Outcome, Source};
use nninit::rng::Stream;
use nninit::shard::Shard;
use nninit::tp::TpPlan;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(format!("{name}.config.json"))
}

fn job(config: &str, rng: Stream, shard: Option<Shard>) -> InitJob {
    let source = Source::Config(data(config));
    InitJob { source, preset: None, plan: None, seed: 3, dtype: None, rng, shard, unmatched: Default::default() }
}

fn config(name: &str) -> serde_json::Value {
    job::read_config(&data(name)).unwrap()
}

/// The outcome of rank `rank` of `world` under the config's own plan.
fn rank(name: &str, rng: Stream, rank: usize, world: usize, in_memory: bool) -> nninit::Result<Outcome> {
    let j = job(name, rng, Some(Shard { rank, world, dim: 0 }));
    let outcome = if in_memory { job::run_in_memory(&j)? } else { job::run(&j)? };
    let c = config(name);
    outcome.tensor_parallel(&TpPlan::for_config(&c, "config.json")?, Some((&c, "config.json")))
}

/// Each written tensor's bytes, with the file's metadata.
fn written(o: &Outcome) -> (Vec<(String, Vec<usize>, Vec<u8>)>, HashMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    o.save(&path, nninit::io::Overwrite::Refuse, Default::default()).unwrap();
    let (tensors, meta) = nninit::io::load_bytes(&std::fs::read(&path).unwrap()).unwrap();
    (tensors.into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.bytes().to_vec())).collect(), meta)
}

/// The slices of every rank for world sizes 1 and 2 are transformers' (`apply_tensor_parallelism`
/// on a fake process group): same tensors split, same dimension, offsets and local shapes; a
/// model whose key/value heads do not divide by the world size (Gemma, 1 head, world 2) is
/// refused naming `num_key_value_heads`.
#[test]
fn slices_match_transformers() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden/tp_slices.json")).expect("tp_slices.json");
    for (name, model) in golden["models"].as_object().unwrap() {
        // The built-in plan is transformers' base_model_tp_plan.
        let builtin = nninit::tp::base_model_tp_plan(model["model_type"].as_str().unwrap()).unwrap();
        let want = model["base_model_tp_plan"].as_object().unwrap();
        assert_eq!(builtin.len(), want.len(), "{name}");
        for (k, s) in builtin {
            assert_eq!(want[k], s, "{name} {k}");
        }
        for (world, ranks) in model["worlds"].as_object().unwrap() {
            let world: usize = world.parse().unwrap();
            let c = config(name);
            let kv = c.get("num_key_value_heads").or(c.get("num_attention_heads")).and_then(|v| v.as_u64()).unwrap();
            for (r, want) in ranks.as_array().unwrap().iter().enumerate() {
                let got = rank(name, Stream::Torch, r, world, false);
                if kv % world as u64 != 0 {
                    let err = got.err().expect("heads not divisible").to_string();
                    assert!(err.contains("num_key_value_heads"), "{name}: {err}");
                    continue;
                }
                let got = got.unwrap();
                let tp = got.tp.as_ref().unwrap();
                let (files, _) = written(&got);
                assert_eq!(files.len(), want.as_object().unwrap().len(), "{name}");
                for (tensor, shape, _) in &files {
                    let w = &want[tensor];
                    assert_eq!(shape, &serde_json::from_value::<Vec<usize>>(w["local_shape"].clone()).unwrap());
                    let offsets: Vec<usize> = serde_json::from_value(w["offsets"].clone()).unwrap();
                    let split = w["placements"][0].as_str().unwrap().starts_with("S(");
                    match tp.slices.get(tensor) {
                        Some(s) => {
                            assert!(split, "{name} {tensor}");
                            assert_eq!(s.offsets(), offsets, "{name} {tensor} {r}/{world}");
                            assert_eq!(w["style"].as_str().unwrap(), s.style, "{name} {tensor}");
                            assert_eq!(w["placements"][0].as_str().unwrap(), format!("S({})", s.shard.dim));
                        }
                        None => assert!(!split || world == 1 && offsets.iter().all(|&o| o == 0), "{name} {tensor}"),
                    }
                }
            }
        }
    }
}

/// Puts the ranks' files together by their `nninit.slices` metadata.
fn assemble(ranks: &[(Vec<(String, Vec<usize>, Vec<u8>)>, HashMap<String, String>)]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, (name, shape, bytes)) in ranks[0].0.iter().enumerate() {
        let slices: serde_json::Value = serde_json::from_str(&ranks[0].1["nninit.slices"]).unwrap();
        let Some(entry) = slices.get(name) else {
            // Kept whole: every rank holds the same bytes.
            for (files, _) in ranks {
                assert_eq!(&files[i].2, bytes, "{name}");
            }
            out.push((name.clone(), bytes.clone()));
            continue;
        };
        let full: Vec<usize> = serde_json::from_value(entry["shape"].clone()).unwrap();
        let elem = bytes.len() / shape.iter().product::<usize>();
        let mut whole = vec![0u8; full.iter().product::<usize>() * elem];
        for (files, meta) in ranks {
            let (n, local, b) = &files[i];
            assert_eq!(n, name);
            let slices: serde_json::Value = serde_json::from_str(&meta["nninit.slices"]).unwrap();
            let offsets: Vec<usize> = serde_json::from_value(slices[name]["offsets"].clone()).unwrap();
            // Copy the slice element by element to its place in the whole tensor.
            for k in 0..local.iter().product::<usize>() {
                let (mut rem, mut at) = (k, 0);
                for d in 0..local.len() {
                    let inner: usize = local[d + 1..].iter().product();
                    let full_inner: usize = full[d + 1..].iter().product();
                    at += (rem / inner + offsets[d]) * full_inner;
                    rem %= inner;
                }
                whole[at * elem..(at + 1) * elem].copy_from_slice(&b[k * elem..(k + 1) * elem]);
            }
        }
        out.push((name.clone(), whole));
    }
    out
}

/// For Llama (grouped-query attention: 4 heads, 2 key/value heads) and Qwen2 (q/k/v biases, tied
/// embeddings), both streams, in memory and streamed, world sizes 1 and 2: each rank's file put
/// together by its recorded slices equals the unsharded checkpoint byte for byte; column-wise
/// weights and biases are split, row-wise weights by columns.
#[test]
fn ranks_put_together_equal_the_unsharded_checkpoint() {
    for name in ["llama-tiny", "qwen2-tiny"] {
        for rng in [Stream::Torch, Stream::Philox] {
            let full: Vec<(String, Vec<u8>)> = {
                let (files, _) = written(&job::run(&job(name, rng, None)).unwrap());
                files.into_iter().map(|(n, _, b)| (n, b)).collect()
            };
            for in_memory in [false, true] {
                for world in [1, 2] {
                    let ranks: Vec<_> =
                        (0..world).map(|r| written(&rank(name, rng, r, world, in_memory).unwrap())).collect();
                    let meta = &ranks[0].1;
                    assert_eq!(meta["nninit.shard"], format!("0/{world} tp"));
                    let slices: serde_json::Value = serde_json::from_str(&meta["nninit.slices"]).unwrap();
                    let q = &slices["model.layers.0.self_attn.q_proj.weight"];
                    assert_eq!(
                        (q["style"].as_str(), q["shape"].clone()),
                        (Some("colwise"), serde_json::json!([32, 32]))
                    );
                    assert_eq!(slices["model.layers.1.mlp.down_proj.weight"]["style"], "rowwise");
                    if name == "qwen2-tiny" {
                        assert_eq!(slices["model.layers.0.self_attn.k_proj.bias"]["shape"], serde_json::json!([16]));
                    }
                    if world == 2 {
                        let o = &ranks[1].0.iter().find(|t| t.0 == "model.layers.0.self_attn.o_proj.weight").unwrap();
                        assert_eq!(o.1, [32, 16], "row-wise: columns");
                        let k = &ranks[1].0.iter().find(|t| t.0 == "model.layers.0.self_attn.k_proj.weight").unwrap();
                        assert_eq!(k.1, [8, 32], "column-wise: rows (one key/value head of 8)");
                    }
                    assert_eq!(assemble(&ranks), full, "{name} {rng:?} world {world} in memory {in_memory}");
                }
            }
        }
    }
}

/// Bad plans: one clear message naming the file, key, tensor or config key.
#[test]
fn bad_plans_are_refused() {
    let run = |plan: &str, shard: Shard| {
        let p = TpPlan::parse_toml(plan, "tp.toml")?;
        job::run(&job("llama-tiny", Stream::Torch, Some(shard)))?
            .tensor_parallel(&p, Some((&config("llama-tiny"), "config.json")))
    };
    let two = Shard { rank: 0, world: 2, dim: 0 };
    let err = |plan: &str, shard: Shard| run(plan, shard).err().expect(plan).to_string();
    let e = err("[tp_plan]\n\"layers.*.self_attn.qq_proj\" = \"colwise\"\n", two);
    assert!(e.contains("tp.toml: tp_plan key `layers.*.self_attn.qq_proj` names no tensor"), "{e}");
    let e = err("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"sideways\"\n", two);
    assert!(e.contains("unknown tensor-parallel style `sideways`; known styles: colwise"), "{e}");
    let e = err("[tp_plan]\n\"layers.*.self_attn.k_proj\" = \"colwise\"\n", Shard { rank: 0, world: 4, dim: 0 });
    assert!(e.contains("num_key_value_heads = 2 does not divide by the world size 4"), "{e}");
    let e = err("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"colwise\"\n", Shard { rank: 0, world: 3, dim: 0 });
    assert!(
        e.contains("tensor `model.layers.0.mlp.up_proj.weight` [64, 32]")
            && e.contains("does not divide by the world size 3"),
        "{e}"
    );
    let e = err("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"colwise\"\n", Shard { rank: 0, world: 2, dim: 1 });
    assert!(e.contains("--shard-dim 1 conflicts with --tp-plan"), "{e}");
    let e = err("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"colwise\"\n\"layers.*.mlp.*\" = \"rowwise\"\n", two);
    assert!(e.contains("is named by tp_plan keys"), "{e}");
    let e = err("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"packed_colwise\"\n", two);
    assert!(e.contains("strided"), "{e}");
    let e = err("[plan]\n", two);
    assert!(e.contains("tp.toml: no [tp_plan] table"), "{e}");
    // Without a rank: refused.
    let p = TpPlan::parse_toml("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"colwise\"\n", "tp.toml").unwrap();
    let e = job::run(&job("llama-tiny", Stream::Torch, None)).unwrap().tensor_parallel(&p, None).err().unwrap();
    assert!(e.to_string().contains("--shard RANK/WORLD"), "{e}");
    // A key naming the parameter wins over one naming its module; untouched tensors are reported.
    let o =
        run("[tp_plan]\n\"layers.*.mlp.up_proj\" = \"colwise\"\n\"layers.*.mlp.up_proj.weight\" = \"rowwise\"\n", two);
    let o = o.unwrap();
    assert_eq!(o.tp.as_ref().unwrap().slices["model.layers.0.mlp.up_proj.weight"].shard.dim, 1);
    assert!(o.warnings.iter().any(|w| w.contains("named by no key are kept whole")), "{:?}", o.warnings);
}
