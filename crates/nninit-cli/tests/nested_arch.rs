//! `nninit init --arch` with nested `torch.nn` constructor calls writes the `state_dict` that
//! `torch.manual_seed(S)` and evaluating the same Python expression give (recorded in
//! `nested.json` by `tools/golden/gen_golden.py --only nested`).

use std::process::{Command, Output};

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn golden_case(id: &str) -> serde_json::Value {
    let path = format!("{}/../nninit/tests/golden/nested.json", env!("CARGO_MANIFEST_DIR"));
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    g["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or_else(|| panic!("no case {id}"))
}

fn init(dir: &std::path::Path, arch: &str, seed: u64) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit"))
        .args(["init", "--arch", arch, "--seed", &seed.to_string(), "-o", "m.safetensors"])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs the recorded case's constructor through the binary and compares every tensor's name,
/// shape, dtype and bytes with PyTorch's.
fn check(id: &str) {
    let case = golden_case(id);
    let ctor = case["ctor"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path(), ctor, case["seed"].as_u64().unwrap());
    assert!(out.status.success(), "{id}: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(dir.path().join("m.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let want = case["tensors"].as_array().unwrap();
    for t in want {
        let name = t["name"].as_str().unwrap();
        let view = st.tensor(name).unwrap_or_else(|_| panic!("{id}: {name} missing"));
        let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(view.shape(), shape.as_slice(), "{id}: {name}");
        let dtype = match t["dtype"].as_str().unwrap() {
            "f32" => safetensors::Dtype::F32,
            "f64" => safetensors::Dtype::F64,
            "f16" => safetensors::Dtype::F16,
            "bf16" => safetensors::Dtype::BF16,
            _ => safetensors::Dtype::I64,
        };
        assert_eq!(view.dtype(), dtype, "{id}: {name}");
        assert_eq!(sha256_hex(view.data()), t["sha256"].as_str().unwrap(), "{id}: {name}");
    }
    assert_eq!(st.len(), want.len(), "{id}: extra tensors in the file");
}

#[test]
fn sequential_of_layers_through_the_cli() {
    // nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)): 0.weight, 0.bias, 2.weight, 2.bias
    check("nested0_s0");
    check("nested0_s7");
}

#[test]
fn transformer_stacks_through_the_cli() {
    check("nested1_s7"); // nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3)
    check("nested2_s0"); // ... with norm=nn.LayerNorm(16)
    check("nested3_s7"); // nn.TransformerDecoder(nn.TransformerDecoderLayer(...), 2, nn.LayerNorm(16))
    check("nested_bf161_s3"); // the encoder with dtype=torch.bfloat16
}

#[test]
fn module_lists_through_the_cli() {
    check("nested4_s0"); // nn.ModuleList([nn.Linear, nn.Sequential(nn.Conv2d, nn.BatchNorm2d), nn.LSTM])
}

#[test]
fn bad_nesting_fails_with_one_line_and_no_file() {
    let deep = format!("{}nn.ReLU(){}", "nn.Sequential(".repeat(200), ")".repeat(200));
    for (arch, want) in [
        ("nn.Sequential(nn.Linear(4, 4), nn.Lineer(4, 2))", "unknown layer type `Lineer`"),
        ("nn.Sequential(nn.Linear(4, 4), 3)", "must be a module"),
        ("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2), 2.5)", "`num_layers` must be"),
        (deep.as_str(), "nested more than 64 deep"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = init(dir.path(), arch, 0);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{arch}: accepted");
        assert!(err.contains(want), "{arch}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{arch}: {err}");
        assert!(!dir.path().join("m.safetensors").exists(), "{arch}: wrote a file");
    }
}
