//! Target 1: the safetensors reader. Inputs are checkpoints built the way a writer lays them out
//! (8-byte header length, JSON header, data), with hostile values in every field: every dtype
//! and unknown ones, dimensions that are huge, negative or not integers, offsets that are wrong,
//! swapped or overlapping, metadata that is not strings, a header length that lies, and data cut
//! short, then byte-level mutations.

use nninit::io::{load_bytes, Checkpoint, Entry, Overwrite};
use nninit::Tensor;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::harness::{fuzz, mutate_bytes, mutations, Mutation, Target};

static TARGET: Target = Target::new("safetensors");

const DTYPES: &[&str] = &[
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16", "BF16",
    "I32", "U32", "F32", "F64", "I64", "U64", "C64", "F128", "f32", "", "F32 ",
];

const NAMES: &[&str] = &["w", "layer.0.weight", "bias", "", "__metadata__", "a\"b", "\u{fc}ber", "x\0y", "0"];

/// Bits per element of a dtype the format knows.
fn bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "F64" | "I64" | "U64" => 64,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
struct TensorSpec {
    name: String,
    dtype: &'static str,
    shape: Vec<Value>,
    /// 0-6: consecutive offsets; 7: `random`; 8: swapped; 9: overlapping the previous tensor;
    /// 10: offsets that are not a pair of integers.
    offsets: u8,
    random: (u64, u64),
    fill: u8,
}

#[derive(Clone, Debug)]
struct FileSpec {
    tensors: Vec<TensorSpec>,
    metadata: Option<Value>,
    /// 0-6: the true header length; 7: `lie`; 8: off by a little; 9: `u64::MAX`.
    length: u8,
    lie: u64,
    delta: i8,
    padding: u8,
    extra_data: u8,
    mutations: Vec<Mutation>,
}

fn dim() -> impl Strategy<Value = Value> {
    prop_oneof![
        10 => (0u64..6).prop_map(Value::from),
        1 => prop::sample::select(&[1u64 << 32, 1 << 40, 1 << 62, u64::MAX, 1_000_000_000_000_000_000][..]).prop_map(Value::from),
        1 => (-5i64..0).prop_map(Value::from),
        1 => prop_oneof![Just(json!(2.5)), Just(json!(1e300)), Just(json!("3")), Just(Value::Null), Just(json!([2]))],
    ]
}

fn tensor() -> impl Strategy<Value = TensorSpec> {
    let name = prop_oneof![4 => prop::sample::select(NAMES).prop_map(String::from), 1 => "[a-z.0-9]{0,12}"];
    (
        name,
        prop::sample::select(DTYPES),
        prop::collection::vec(dim(), 0..4),
        prop_oneof![12 => Just(0u8), 1 => 7u8..11],
        (0u64..200, 0u64..200),
        any::<u8>(),
    )
        .prop_map(|(name, dtype, shape, offsets, random, fill)| TensorSpec {
            name,
            dtype,
            shape,
            offsets,
            random,
            fill,
        })
}

fn metadata() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some(json!({"format": "pt"}))),
        1 => Just(Some(json!({"format": 1}))),
        1 => Just(Some(json!({"nested": {"a": "b"}}))),
        1 => Just(Some(json!("pt"))),
        1 => Just(Some(Value::Null)),
    ]
}

fn file() -> impl Strategy<Value = FileSpec> {
    (
        prop::collection::vec(tensor(), 0..5),
        metadata(),
        prop_oneof![12 => Just(0u8), 1 => 7u8..10],
        any::<u64>(),
        -3i8..4,
        0u8..9,
        prop_oneof![8 => Just(0u8), 1 => 1u8..5],
        mutations(),
    )
        .prop_map(|(tensors, metadata, length, lie, delta, padding, extra_data, mutations)| FileSpec {
            tensors,
            metadata,
            length,
            lie,
            delta,
            padding,
            extra_data,
            mutations,
        })
}

/// The byte size dtype × shape needs, when the shape is one of small integers.
fn byte_size(t: &TensorSpec) -> Option<u64> {
    let bits = bits(t.dtype)?;
    let elements = t.shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(d.as_u64()?))?;
    elements.checked_mul(bits).map(|b| b.div_ceil(8))
}

/// The file a spec describes. Data is written for tensors of up to 4 KiB; larger claims are
/// left without their bytes (a truncated file).
fn build(spec: &FileSpec) -> Vec<u8> {
    let mut header = Map::new();
    if let Some(m) = &spec.metadata {
        header.insert("__metadata__".into(), m.clone());
    }
    let mut data = Vec::new();
    let mut offset = 0u64;
    let mut previous = 0u64;
    for t in &spec.tensors {
        let size = byte_size(t).unwrap_or(t.random.1);
        let begin = offset;
        let end = begin.saturating_add(size);
        let offsets = match t.offsets {
            7 => json!([t.random.0, t.random.1]),
            8 => json!([end, begin]),
            9 => json!([previous, previous.saturating_add(size)]),
            10 => json!([begin]),
            _ => json!([begin, end]),
        };
        if size <= 4096 {
            data.extend(std::iter::repeat_n(t.fill, size as usize));
        }
        previous = begin;
        offset = end;
        header.insert(t.name.clone(), json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": offsets}));
    }
    data.extend(std::iter::repeat_n(0xA5, spec.extra_data as usize));
    let mut text = serde_json::to_vec(&Value::Object(header)).unwrap_or_default();
    text.extend(std::iter::repeat_n(b' ', spec.padding as usize));
    let length = match spec.length {
        7 => spec.lie,
        8 => (text.len() as u64).wrapping_add_signed(spec.delta as i64),
        9 => u64::MAX,
        _ => text.len() as u64,
    };
    let mut bytes = length.to_le_bytes().to_vec();
    bytes.extend_from_slice(&text);
    bytes.extend_from_slice(&data);
    const TOKENS: &[&[u8]] = &[
        b"{",
        b"}",
        b"\"",
        b",",
        b":",
        b"[",
        b"]",
        b"0",
        b"-1",
        b"18446744073709551616",
        b"1e400",
        b"null",
        b"\"F32\"",
        b"\"dtype\"",
        b"\"shape\"",
        b"\"data_offsets\"",
        b"\xff",
        b"\x00",
        b"\\u0000",
        b"\\ud800",
        b"        ",
    ];
    mutate_bytes(&bytes, &spec.mutations, TOKENS)
}

fn show(spec: &FileSpec) -> String {
    let bytes = build(spec);
    format!("{:?}", String::from_utf8_lossy(&bytes))
}

/// The same tensor, bit for bit (NaN payloads included).
fn same(a: &Tensor, b: &Tensor) -> bool {
    a.shape() == b.shape() && a.safetensors_dtype() == b.safetensors_dtype() && a.bytes() == b.bytes()
}

/// Never panics; an accepted file's tensors have exactly the elements their shapes say; one
/// input in 32 is also opened as a file (memory-mapped), which must agree with the bytes, and
/// written back and read again, which must give the same tensors.
fn property(spec: &FileSpec) {
    let bytes = build(spec);
    let loaded = load_bytes(&bytes);
    if let Ok((tensors, _)) = &loaded {
        for (name, t) in tensors {
            let numel = t.shape().iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            assert_eq!(numel, Some(t.numel()), "tensor `{name}`");
        }
    }
    if spec.lie % 32 == 0 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        match (Checkpoint::open(&path), &loaded) {
            (Ok(ckpt), Ok((tensors, metadata))) => {
                assert_eq!(ckpt.metadata(), metadata);
                assert_eq!(ckpt.tensors().len(), tensors.len());
                for (info, (name, t)) in ckpt.tensors().iter().zip(tensors) {
                    assert_eq!(&info.name, name);
                    assert!(same(&ckpt.tensor(info).unwrap(), t), "tensor `{name}`");
                }
                let entries: Vec<Entry> =
                    tensors.iter().map(|(name, t)| Entry { name: name.clone(), source: t }).collect();
                let meta = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let copy = dir.path().join("copy.safetensors");
                nninit::io::write(&copy, &entries, &meta, Overwrite::Refuse).unwrap();
                let (again, meta_again) = load_bytes(&std::fs::read(&copy).unwrap()).unwrap();
                assert_eq!(again.len(), tensors.len());
                for ((n1, a), (n2, b)) in again.iter().zip(tensors) {
                    assert!(n1 == n2 && same(a, b), "tensor `{n2}` written and read back as `{n1}`");
                }
                assert_eq!(&meta_again, metadata);
            }
            (Err(_), Err(_)) => {}
            (opened, loaded) => panic!(
                "Checkpoint::open and load_bytes disagree: {:?} vs {:?}",
                opened.map(|c| c.tensors().len()),
                loaded.as_ref().map(|(t, _)| t.len())
            ),
        }
    }
}

#[test]
fn safetensors_reader_never_panics() {
    fuzz(&TARGET, file(), show, property);
}
