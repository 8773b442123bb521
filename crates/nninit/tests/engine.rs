//! The counter-based stream and the parallel engine: results independent of thread count,
//! order, sharding and the rest of the model; distributions right.

use nninit::init::Init;
use nninit::job::{self, InitJob, Source};
use nninit::rng::Philox;
use nninit::rng::Stream;
use nninit::shard::Shard;
use nninit::stats::Stats;
use nninit::tensor::{DType, Tensor};
use nninit::Generator;
use sha2::Digest;

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

const SCHEMES: [&str; 8] = [
    "uniform_(-0.5, 0.5)",
    "normal_(0.1, 0.02)",
    "trunc_normal_(std=0.02)",
    "trunc_normal_(0, 1, 2, 3)",
    "xavier_uniform_()",
    "kaiming_normal_(mode='fan_out', nonlinearity='relu')",
    "lecun_normal_()",
    "constant_(0.25)",
];

fn philox_tensor(init: &str, shape: &[usize], dtype: DType, seed: u64) -> Tensor {
    let mut t = Tensor::zeros(shape, dtype);
    init.parse::<Init>().unwrap().apply(t.view_mut().unwrap(), &mut Philox::new(seed, "w")).unwrap();
    t
}

#[test]
fn same_bits_for_any_thread_count() {
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::F16] {
        for init in SCHEMES {
            let shape = [300, 701];
            let want = in_pool(1, || philox_tensor(init, &shape, dtype, 3));
            for threads in [2, 4, 8] {
                assert_eq!(
                    in_pool(threads, || philox_tensor(init, &shape, dtype, 3)),
                    want,
                    "{init} {dtype} x{threads}"
                );
            }
        }
        // orthogonal_ (a QR, not elementwise) too, in f32 and f64 (it refuses 16-bit types).
        if matches!(dtype, DType::F32 | DType::F64) {
            let ortho = |threads| in_pool(threads, || philox_tensor("orthogonal_()", &[300, 37], dtype, 1));
            assert_eq!(ortho(2), ortho(1), "orthogonal_ {dtype} x2");
            // Large enough for the QR to run its blocked, parallel code (wide: transposed).
            for shape in [[700, 600], [520, 900]] {
                let big = |threads| in_pool(threads, || philox_tensor("orthogonal_()", &shape, dtype, 1));
                let want = big(1);
                for threads in [2, 3, 8] {
                    assert!(big(threads) == want, "orthogonal_ {shape:?} {dtype} x{threads}");
                }
            }
        }
        // The PyTorch stream too.
        let torch = |threads| {
            in_pool(threads, || {
                let mut t = Tensor::zeros(&[1000, 333], dtype);
                let mut g = Generator::manual_seed(0);
                "normal_()".parse::<Init>().unwrap().apply(t.view_mut().unwrap(), &mut g).unwrap();
                t
            })
        };
        let want = torch(1);
        for threads in [2, 4, 8] {
            assert_eq!(torch(threads), want, "torch normal_ {dtype} x{threads}");
        }
    }
}

#[test]
fn any_range_equals_the_same_range_of_the_whole_tensor() {
    let shape = [37, 53];
    let n = 37 * 53;
    for init in SCHEMES {
        for dtype in [DType::F32, DType::F64, DType::BF16] {
            let whole = philox_tensor(init, &shape, dtype, 9);
            let width = dtype.size();
            // 8 uneven pieces, concatenated.
            let cuts = [0, 1, 17, 250, 999, 1000, 1500, n - 3, n];
            let mut bytes = Vec::new();
            for w in cuts.windows(2) {
                let mut part = Tensor::zeros(&[w[1] - w[0]], dtype);
                let init: Init = init.parse().unwrap();
                init.apply_range(&shape, w[0], part.view_mut().unwrap().into_data(), 9, "w").unwrap();
                bytes.extend_from_slice(part.bytes());
            }
            assert_eq!(bytes.len(), n * width);
            assert_eq!(bytes, whole.bytes(), "{init} {dtype}");
        }
    }
    let ortho: Init = "orthogonal_()".parse().unwrap();
    let mut part = Tensor::zeros(&[4], DType::F32);
    let err = ortho.apply_range(&[4, 4], 0, part.view_mut().unwrap().into_data(), 0, "w").unwrap_err();
    assert!(err.to_string().contains("not elementwise"));
}

fn run(rng: Stream, shard: Option<Shard>, dims: &[usize]) -> job::Outcome {
    let source = Source::Arch { name: "mlp".into(), dims: dims.to_vec() };
    let unmatched = Default::default();
    job::run(&InitJob { source, preset: None, plan: None, seed: 5, dtype: None, rng, shard, unmatched }).unwrap()
}

fn written(o: &job::Outcome) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    o.save(&path, nninit::io::Overwrite::Refuse, Default::default()).unwrap();
    let (tensors, _) = nninit::io::load_bytes(&std::fs::read(&path).unwrap()).unwrap();
    tensors.into_iter().map(|(n, t)| (n, t.bytes().to_vec())).collect()
}

#[test]
fn eight_shards_concatenated_equal_the_unsharded_checkpoint() {
    for rng in [Stream::Philox, Stream::Torch] {
        let full = written(&run(rng, None, &[64, 48, 10]));
        let shards: Vec<_> =
            (0..8).map(|r| written(&run(rng, Some(Shard { rank: r, world: 8, dim: 0 }), &[64, 48, 10]))).collect();
        for (i, (name, bytes)) in full.iter().enumerate() {
            let joined: Vec<u8> = shards.iter().flat_map(|s| s[i].1.clone()).collect();
            assert_eq!(&shards[0][i].0, name);
            assert_eq!(&joined, bytes, "{rng:?} {name}");
        }
    }
    let t = Tensor::from_f32(&[2, 3], vec![0., 1., 2., 3., 4., 5.]).unwrap();
    let s = Shard::parse("1/3", 1).unwrap().slice(&t).unwrap();
    assert_eq!((s.shape(), s.to_f64_vec()), (&[2usize, 1][..], vec![1.0, 4.0]));
    for bad in ["3/3", "1", "a/2", "0/0"] {
        assert!(Shard::parse(bad, 0).is_err(), "{bad}");
    }
}

#[test]
fn philox_values_do_not_depend_on_the_rest_of_the_model() {
    let small = written(&run(Stream::Philox, None, &[64, 48, 10]));
    let big = written(&run(Stream::Philox, None, &[64, 48, 10, 7]));
    let find = |v: &[(String, Vec<u8>)], n: &str| v.iter().find(|(m, _)| m == n).unwrap().1.clone();
    for name in ["layer.0.weight", "layer.2.weight"] {
        assert_eq!(find(&small, name), find(&big, name), "{name}");
    }
    let torch_small = written(&run(Stream::Torch, None, &[64, 48, 10]));
    assert_ne!(find(&small, "layer.0.weight"), find(&torch_small, "layer.0.weight"));
}

fn moments(t: &Tensor) -> (f64, f64, f64) {
    let v = t.to_f64_vec();
    let s = Stats::of(v.iter().copied());
    let k = v.iter().map(|x| ((x - s.mean) / s.std).powi(4)).sum::<f64>() / v.len() as f64;
    (s.mean, s.std, k)
}

#[test]
fn philox_distributions() {
    let n = [1000, 1000];
    let (m, s, _) = moments(&philox_tensor("uniform_(-1, 1)", &n, DType::F32, 1));
    assert!(m.abs() < 0.004 && (s - 1.0 / 3f64.sqrt()).abs() < 0.002, "uniform {m} {s}");
    for dtype in [DType::F32, DType::F64] {
        let (m, s, k) = moments(&philox_tensor("normal_(1.0, 2.0)", &n, dtype, 2));
        assert!(
            (m - 1.0).abs() < 0.008 && (s - 2.0).abs() < 0.006 && (k - 3.0).abs() < 0.03,
            "normal {dtype} {m} {s} {k}"
        );
    }
    // Truncated normal: strictly inside the bounds, also after rounding to bf16; small std keeps
    // the normal's shape (kurtosis 3); the default window gives the truncated std 0.8796.
    for dtype in [DType::F32, DType::BF16] {
        let t = philox_tensor("trunc_normal_(0, 1, -2, 2)", &n, dtype, 3);
        let v = t.to_f64_vec();
        assert!(v.iter().all(|&x| -2.0 < x && x < 2.0), "{dtype}: a value at or past a bound");
        let (_, s, _) = moments(&t);
        assert!((s - 0.8796).abs() < 0.004, "{dtype} {s}");
    }
    let (_, s, k) = moments(&philox_tensor("trunc_normal_(std=0.02)", &n, DType::F32, 4));
    assert!((s - 0.02).abs() < 0.0002 && (k - 3.0).abs() < 0.03, "small std {s} {k}");
    let v = philox_tensor("trunc_normal_(0, 1, 2, 3)", &n, DType::F32, 5).to_f64_vec();
    assert!(v.iter().all(|&x| 2.0 < x && x < 3.0));
}

/// What `nninit init` streams from a model on the meta device is byte-identical to writing the
/// same model held in memory, for both streams, shards along dims 0 and 1, thread counts 1 and
/// 2, a dtype narrowed on output, a tied model and a plan whose gate rule needs values (built in
/// memory, the fallback).
#[test]
fn streamed_checkpoints_equal_in_memory_ones() {
    let data = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let gate_plan: nninit::plan::Plan = toml::from_str(
        "[[rule]]\nlayer = \"LSTM\"\nname = \"*weight_hh*\"\ninit = \"orthogonal_()\"\n\
         [[rule]]\nlayer = \"LSTM\"\nname = \"*bias*\"\ngate = \"forget\"\ninit = \"ones_()\"\n",
    )
    .unwrap();
    let sources: Vec<(Source, Option<nninit::plan::Plan>, Option<DType>)> = vec![
        (Source::Arch { name: "mlp".into(), dims: vec![300, 70, 10] }, None, None),
        (Source::Arch { name: "resnet18".into(), dims: vec![] }, None, Some(DType::BF16)),
        (Source::Config(format!("{data}/gpt2-tiny.config.json").into()), None, None),
        (Source::Config(format!("{data}/bert-tiny.config.json").into()), None, Some(DType::F16)),
        (Source::Arch { name: "nn.LSTM(8, 16, num_layers=2)".into(), dims: vec![] }, Some(gate_plan), None),
        (
            Source::Arch { name: "nn.TransformerEncoderLayer(16, 2, dim_feedforward=32)".into(), dims: vec![] },
            None,
            None,
        ),
        (Source::Arch { name: "nn.Transformer(16, 2, 2, 1, 24)".into(), dims: vec![] }, None, None),
    ];
    let shards = [None, Some(Shard { rank: 3, world: 8, dim: 0 }), Some(Shard { rank: 1, world: 3, dim: 1 })];
    for (source, plan, dtype) in sources {
        for rng in [Stream::Torch, Stream::Philox] {
            for shard in shards {
                let (from, plan, unmatched) = (source.clone(), plan.clone(), Default::default());
                let job = InitJob { source: from, preset: None, plan, seed: 11, dtype, rng, shard, unmatched };
                let materialized = job::run_in_memory(&job).unwrap();
                if shard.is_none() {
                    let mut oracle = job::run(&job).unwrap().model;
                    replay_literally(&mut oracle, rng, job.seed);
                    for (name, id) in oracle.state_dict() {
                        let (want, got) = (oracle.tensor(id), materialized.model.tensor(id));
                        assert_eq!(want, got, "{source:?} {rng:?} {name}: literal replay");
                    }
                }
                let in_memory = written(&materialized);
                for threads in [1, 2] {
                    let outcome = in_pool(threads, || job::run(&job).unwrap());
                    assert!(!outcome.model.is_materialized(), "{source:?}");
                    let streamed = in_pool(threads, || written(&outcome));
                    assert_eq!(streamed.len(), in_memory.len());
                    for (s, m) in streamed.iter().zip(&in_memory) {
                        assert_eq!(s, m, "{source:?} {rng:?} {shard:?} x{threads}: {}", s.0);
                    }
                }
            }
        }
    }
}

/// The recorded events replayed the plain way, as the definition of a model's values: every
/// event in order, whole tensors, no skipped draws, no chunks, no threads. PyTorch's stream: one
/// generator for all events (a copy takes the source's current values). Counter-based stream:
/// each `state_dict` tensor's last whole init keyed by its first name (a copy's by its source's:
/// the source's name, or for a source outside the `state_dict` the name of its copy with the
/// lowest id), each ranged init after it keyed by `name@first_element`.
fn replay_literally(model: &mut nninit::nn::Model, stream: Stream, seed: u64) {
    use nninit::nn::{Fill, TensorId};
    let events = model.events().to_vec();
    let fresh = |m: &nninit::nn::Model, id: TensorId| {
        let t = m.tensor(id);
        Tensor::zeros(t.shape(), t.dtype().unwrap())
    };
    let apply_rows =
        |whole: &mut Tensor, rows: &std::ops::Range<usize>, init: &Init, g: &mut dyn FnMut(&mut Tensor)| {
            let width: usize = whole.shape()[1..].iter().product();
            let mut shape = whole.shape().to_vec();
            shape[0] = rows.len();
            let mut part = Tensor::zeros(&shape, whole.dtype().unwrap());
            g(&mut part);
            let _ = init;
            whole.write_at(rows.start * width, &part).unwrap();
        };
    let mut values: std::collections::HashMap<TensorId, Tensor> = Default::default();
    match stream {
        Stream::Torch => {
            let mut g = Generator::manual_seed(seed);
            for e in &events {
                let mut v = values.remove(&e.tensor).unwrap_or_else(|| fresh(model, e.tensor));
                match (&e.fill, &e.rows) {
                    (Fill::Init(init), None) => init.apply(v.view_mut().unwrap(), &mut g).unwrap(),
                    (Fill::Init(init), Some(rows)) => {
                        apply_rows(&mut v, rows, init, &mut |p| init.apply(p.view_mut().unwrap(), &mut g).unwrap())
                    }
                    (Fill::CopyOf(source), _) => {
                        v = values.get(source).cloned().unwrap_or_else(|| fresh(model, *source))
                    }
                    (Fill::Keep, _) => v = model.tensor(e.tensor).clone(),
                }
                values.insert(e.tensor, v);
            }
        }
        Stream::Philox => {
            // Each tensor's first state_dict name; a tensor outside the state_dict that others
            // copy is keyed by the name of its copy with the lowest id.
            let mut names: std::collections::BTreeMap<TensorId, String> = Default::default();
            for (name, id) in model.state_dict() {
                names.entry(id).or_insert(name);
            }
            // The chain of a tensor's value: (tensor, its events up to here) back to an init.
            let chain = |id: TensorId| {
                let (mut t, mut upto, mut links) = (id, events.len(), Vec::new());
                loop {
                    let mine: Vec<usize> = (0..upto).filter(|&i| events[i].tensor == t).collect();
                    let w = mine.iter().rposition(|&i| events[i].rows.is_none());
                    links.push((t, mine.clone(), w));
                    match w.map(|w| &events[mine[w]].fill) {
                        Some(Fill::CopyOf(s)) => (t, upto) = (*s, mine[w.unwrap()]),
                        _ => return links,
                    }
                }
            };
            let mut keys = names.clone();
            for id in names.keys() {
                for (t, _, _) in chain(*id) {
                    keys.entry(t).or_insert_with(|| names[id].clone());
                }
            }
            for id in names.keys() {
                if !events.iter().any(|e| e.tensor == *id) {
                    continue;
                }
                let links = chain(*id);
                let mut v = fresh(model, *id);
                let (root, mine, w) = links.last().unwrap();
                if let Some(Fill::Init(init)) = w.map(|w| &events[mine[w]].fill) {
                    init.apply(v.view_mut().unwrap(), &mut Philox::new(seed, &keys[root])).unwrap();
                }
                // Ranged events after each link's whole one, the source's first.
                for (t, mine, w) in links.iter().rev() {
                    for &i in &mine[w.map_or(0, |w| w + 1)..] {
                        let e = &events[i];
                        let (Fill::Init(init), Some(rows)) = (&e.fill, &e.rows) else { panic!("ranged copy") };
                        let width: usize = v.shape()[1..].iter().product();
                        let key = format!("{}@{}", keys[t], rows.start * width);
                        apply_rows(&mut v, rows, init, &mut |p| {
                            init.apply(p.view_mut().unwrap(), &mut Philox::new(seed, &key)).unwrap()
                        });
                    }
                }
                values.insert(*id, v);
            }
        }
    }
    for (id, v) in values {
        *model.tensor_mut(id) = v;
    }
}

/// The counter-based stream is part of the checkpoint format: the same (seed, name, init, shape,
/// dtype) gives the same bytes in every version. These digests pin it (for the schemes whose
/// arithmetic is nninit's own: f64 normals call the platform's `ln`/`sin`, `orthogonal_` a QR).
#[test]
fn philox_stream_is_pinned() {
    let mut got = Vec::new();
    for (init, dtype) in [
        ("uniform_(-1, 1)", DType::F32),
        ("normal_(0, 0.02)", DType::F32),
        ("normal_(0, 0.02)", DType::BF16),
        ("trunc_normal_(std=0.02)", DType::F32),
        ("kaiming_uniform_(a=2.23606797749979)", DType::F16),
        ("sparse_(0.5)", DType::F32),
    ] {
        let t = philox_tensor(init, &[37, 53], dtype, 2024);
        let digest: String = sha2::Sha256::digest(t.bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        got.push(format!("{init} {dtype} {digest}"));
    }
    let want: Vec<&str> = PINNED.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(got, want, "\n{}", got.join("\n"));
}

const PINNED: &str = "
    uniform_(-1, 1) f32 f425cd185487b3d8
    normal_(0, 0.02) f32 f09856a72934c4a2
    normal_(0, 0.02) bf16 08f4c4bb7a373268
    trunc_normal_(std=0.02) f32 f09856a72934c4a2
    kaiming_uniform_(a=2.23606797749979) f16 b74b0e347119916e
    sparse_(0.5) f32 bb12a6612acbc1d2
";

/// Deep copies hold their source's values on both streams (`nn.TransformerEncoder`'s layers are
/// `copy.deepcopy`s of one layer; `Model::copy_tensor` likewise), in memory and streamed.
#[test]
fn copies_equal_their_source_on_both_streams() {
    let ctor = "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3)";
    for rng in [Stream::Torch, Stream::Philox] {
        let source = Source::Arch { name: ctor.into(), dims: vec![] };
        let job = InitJob {
            source,
            preset: None,
            plan: None,
            seed: 4,
            dtype: None,
            rng,
            shard: None,
            unmatched: Default::default(),
        };
        for outcome in [job::run_in_memory(&job).unwrap(), job::run(&job).unwrap()] {
            let files = written(&outcome);
            let layer = |i: usize| -> Vec<(String, Vec<u8>)> {
                let prefix = format!("layers.{i}.");
                files.iter().filter_map(|(n, b)| Some((n.strip_prefix(&prefix)?.to_string(), b.clone()))).collect()
            };
            assert_eq!(layer(0).len(), 12);
            assert_eq!(layer(0), layer(1), "{rng:?}");
            assert_eq!(layer(0), layer(2), "{rng:?}");
        }
    }
    let mut m = nninit::nn::Model::new(DType::F32);
    let a = m.add(nninit::nn::Layer::linear(4, 4)).unwrap();
    let b = m.add(nninit::nn::Layer::linear(4, 4)).unwrap();
    let root = m.sequential(&[a, b]);
    m.set_root(root).unwrap();
    let sd = m.state_dict();
    m.copy_tensor(sd[2].1, sd[0].1).unwrap();
    for rng in [Stream::Torch, Stream::Philox] {
        let mut x = m.clone();
        x.materialize(rng, 0).unwrap();
        assert_eq!(x.tensor(sd[2].1), x.tensor(sd[0].1), "{rng:?}");
        assert_ne!(x.tensor(sd[3].1), x.tensor(sd[1].1), "{rng:?}");
    }
}

/// Every rank of a normal-initialized model (only its slice generated on PyTorch's stream, the
/// rest skipped), along dim 0 and dim 1 and for a world that does not divide the sizes, put
/// back together equals the unsharded checkpoint, on both streams.
#[test]
fn shards_of_hf_models_put_together_equal_the_unsharded_checkpoint() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for config in ["llama-tiny", "gpt2-tiny"] {
        let source = Source::Config(data.join(format!("{config}.config.json")));
        let run = |rng, shard| {
            let job = InitJob {
                source: source.clone(),
                preset: None,
                plan: None,
                seed: 9,
                dtype: None,
                rng,
                shard,
                unmatched: Default::default(),
            };
            job::run(&job).unwrap()
        };
        let shapes: Vec<(String, Vec<usize>)> = {
            let o = run(Stream::Torch, None);
            o.model.state_dict().iter().map(|(n, id)| (n.clone(), o.model.tensor(*id).shape().to_vec())).collect()
        };
        for rng in [Stream::Torch, Stream::Philox] {
            let full = written(&run(rng, None));
            for dim in [0, 1] {
                let world = 3;
                let parts: Vec<_> =
                    (0..world).map(|rank| written(&run(rng, Some(Shard { rank, world, dim })))).collect();
                for (name, bytes) in &full {
                    let shape = &shapes.iter().find(|(n, _)| n == name).unwrap().1;
                    // Rows of the dimensions before `dim`, each the ranks' pieces in rank order.
                    let piece = |part: &Vec<(String, Vec<u8>)>| part.iter().find(|(n, _)| n == name).unwrap().1.clone();
                    if shape.len() <= dim {
                        // Kept whole by every rank.
                        assert!(parts.iter().all(|p| &piece(p) == bytes), "{config} {rng:?} dim {dim} {name}");
                        continue;
                    }
                    let outer: usize = shape.iter().take(dim).product();
                    let mut joined = Vec::new();
                    for o in 0..outer {
                        for part in &parts {
                            let piece = piece(part);
                            let len = piece.len() / outer;
                            joined.extend_from_slice(&piece[o * len..(o + 1) * len]);
                        }
                    }
                    assert!(&joined == bytes, "{config} {rng:?} dim {dim} {name}");
                }
            }
        }
    }
}
