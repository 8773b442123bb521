//! The command line reproduces PyTorch's whole models: `nninit init --arch NAME --preset torch
//! --seed S` (NAME a built-in model or a `torch.nn` constructor call) and `nninit init --config config.json --seed S` write the `state_dict` that
//! `torch.manual_seed(S)` + construction gives (recorded in nninit's golden data).

use std::process::Command;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The recorded case `id`, from the whole-model or the single-layer golden file.
fn golden_case(id: &str) -> serde_json::Value {
    ["models.json", "modules.json"]
        .iter()
        .find_map(|file| {
            let path = format!("{}/../nninit/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
            let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            g["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned()
        })
        .unwrap_or_else(|| panic!("no golden case {id}"))
}

fn check(id: &str, args: &[&str]) {
    let case = golden_case(id);
    let dir = tempfile::tempdir().unwrap();
    let seed = case["seed"].as_u64().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_nninit"))
        .arg("init")
        .args(args)
        .args(["--seed", &seed, "-o", "m.safetensors"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{id}: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(dir.path().join("m.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let tied = meta.metadata().as_ref().and_then(|m| m.get("nninit.tied").cloned()).unwrap_or_default();
    let mut compared = 0;
    for t in case["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if let Some(source) = t["tied_to"].as_str() {
            assert!(tied.contains(&format!("{name}={source}")), "{id}: tie {name}={source} not recorded in {tied:?}");
            continue;
        }
        let view = st.tensor(name).unwrap_or_else(|_| panic!("{id}: {name} missing"));
        assert_eq!(sha256_hex(view.data()), t["sha256"].as_str().unwrap(), "{id}: {name}");
        compared += 1;
    }
    assert_eq!(compared, st.len(), "{id}: extra tensors in the file");
}

#[test]
fn torchvision_resnet18_through_the_cli() {
    check("resnet18_s7", &["--arch", "resnet18", "--preset", "torch"]);
}

#[test]
fn hugging_face_configs_through_the_cli() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../nninit/tests/data/");
    check("all_minilm_l6_v2_s0", &["--config", &format!("{data}all-minilm-l6-v2.config.json")]);
    check("gpt2_tiny_s0", &["--config", &format!("{data}gpt2-tiny.config.json")]);
}

#[test]
fn torch_nn_constructors_through_the_cli() {
    for (id, ctor) in [
        ("lstm_8_16_num_layers_2_bidirectional_true_s0", "nn.LSTM(8,16,num_layers=2,bidirectional=True)"),
        ("gru_5_7_num_layers_2_bidirectional_true_s0", "nn.GRU(5,7,num_layers=2,bidirectional=True)"),
        ("multiheadattention_16_4_add_bias_kv_true_s0", "nn.MultiheadAttention(16,4,add_bias_kv=True)"),
        ("transformerencoderlayer_16_4_dim_feedforward_32_s0", "nn.TransformerEncoderLayer(16,4,dim_feedforward=32)"),
        (
            "transformer_d_model_16_nhead_2_num_encoder_layers_1_num_decoder_layers_1_dim_feedforward_32_s0",
            "nn.Transformer(d_model=16,nhead=2,num_encoder_layers=1,num_decoder_layers=1,dim_feedforward=32)",
        ),
    ] {
        check(id, &["--arch", ctor]);
    }
}
