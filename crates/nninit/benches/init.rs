//! Throughput of the init schemes per engine and dtype (elements per second).
//! `cargo bench -p nninit` (`-- <filter>` to pick, e.g. `-- normal_`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nninit::init::Init;
use nninit::rng::Philox;
use nninit::sample::Engine;
use nninit::tensor::{DType, Tensor};
use nninit::Generator;

fn run(init: &Init, t: &mut Tensor, engine: &str) {
    let view = t.view_mut().unwrap();
    match engine {
        "torch" => init.apply(view, &mut Generator::manual_seed(0)),
        _ => init.apply(view, &mut Philox::new(0, "w")),
    }
    .unwrap()
}

fn elementwise(c: &mut Criterion) {
    let shape = [4096, 4096];
    let n = (shape[0] * shape[1]) as u64;
    for name in ["uniform_()", "normal_()", "trunc_normal_(std=0.02)", "kaiming_uniform_(nonlinearity='relu')"] {
        let init: Init = name.parse().unwrap();
        let mut group = c.benchmark_group(init.name());
        group.throughput(Throughput::Elements(n)).sample_size(10);
        let dtypes: &[DType] =
            if name == "uniform_()" { &[DType::F32, DType::BF16, DType::F16] } else { &[DType::F32, DType::BF16] };
        for &dtype in dtypes {
            let mut t = Tensor::zeros(&shape, dtype);
            for engine in ["torch", "philox"] {
                group.bench_function(BenchmarkId::new(engine, dtype), |b| b.iter(|| run(&init, &mut t, engine)));
            }
        }
        group.finish();
    }
}

fn matrices(c: &mut Criterion) {
    let mut group = c.benchmark_group("orthogonal_");
    group.sample_size(10);
    let init: Init = "orthogonal_()".parse().unwrap();
    for (n, dtype) in
        [(512, DType::F32), (1024, DType::F32), (2048, DType::F32), (4096, DType::F32), (1024, DType::F64)]
    {
        let mut t = Tensor::zeros(&[n, n], dtype);
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_function(BenchmarkId::new(format!("torch/{dtype}"), n), |b| b.iter(|| run(&init, &mut t, "torch")));
    }
    group.finish();
    let mut group = c.benchmark_group("sparse_");
    group.sample_size(10);
    let init: Init = "sparse_(0.9)".parse().unwrap();
    let mut t = Tensor::zeros(&[500, 500], DType::F32);
    group.throughput(Throughput::Elements(250_000));
    for engine in ["torch", "philox"] {
        group.bench_function(BenchmarkId::new(engine, "500x500"), |b| b.iter(|| run(&init, &mut t, engine)));
    }
    group.finish();
    let _ = <Generator as Engine>::randperm;
}

/// A whole checkpoint: an MLP of 4096-wide layers (67 M parameters, 268 MB of f32) built and
/// written to safetensors in the temp dir (`TMPDIR=/dev/shm` takes the disk out), report
/// statistics included.
fn checkpoint(c: &mut Criterion) {
    use nninit::io::Overwrite;
    use nninit::rng::Stream;
    let model = nninit::arch::mlp(&[4096, 4096, 4096, 4096, 4096, 4096], DType::F32).unwrap();
    let path = std::env::temp_dir().join(format!("nninit-bench-{}.safetensors", std::process::id()));
    let mut group = c.benchmark_group("save");
    group.sample_size(10).throughput(Throughput::Bytes(5 * 4097 * 4096 * 4));
    for (name, stream) in [("torch", Stream::Torch), ("philox", Stream::Philox)] {
        group.bench_function(BenchmarkId::new(name, "mlp-4096x5-f32"), |b| {
            b.iter(|| model.save(&path, stream, 0, Overwrite::Replace).unwrap())
        });
    }
    // TinyLlama-1.1B's widths, one layer and a smaller vocabulary (77 M parameters, 308 MB of
    // f32): `normal_(0, 0.02)` everywhere, the whole-model `nninit init --rng philox` path.
    let config = serde_json::json!({
        "model_type": "llama", "vocab_size": 8000, "hidden_size": 2048, "intermediate_size": 5632,
        "num_hidden_layers": 1, "num_attention_heads": 32, "num_key_value_heads": 4,
        "initializer_range": 0.02, "tie_word_embeddings": false,
    });
    let llama = nninit::arch::hf::from_config(&config, DType::F32).unwrap();
    let numel: usize = llama.state_dict().iter().map(|(_, id)| llama.tensor(*id).numel()).sum();
    group.throughput(Throughput::Bytes(4 * numel as u64));
    group.bench_function(BenchmarkId::new("philox", "tinyllama-1-layer-f32"), |b| {
        b.iter(|| llama.save(&path, Stream::Philox, 0, Overwrite::Replace).unwrap())
    });
    group.finish();
    std::fs::remove_file(&path).ok();
}

criterion_group!(benches, elementwise, matrices, checkpoint);
criterion_main!(benches);
