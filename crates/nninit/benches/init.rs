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
        for dtype in [DType::F32, DType::BF16] {
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
    for n in [512, 1024, 2048] {
        let init: Init = "orthogonal_()".parse().unwrap();
        let mut t = Tensor::zeros(&[n, n], DType::F32);
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_function(BenchmarkId::new("torch", n), |b| b.iter(|| run(&init, &mut t, "torch")));
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

criterion_group!(benches, elementwise, matrices);
criterion_main!(benches);
