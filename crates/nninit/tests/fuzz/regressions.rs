//! Inputs the fuzzer found failing, minimized, each with what it must now give.

use nninit::init::Init;
use nninit::io::load_bytes;
use nninit::tensor::{Data, Tensor};
use nninit::{DType, Generator};

/// A safetensors file of one tensor with this header and `data_len` bytes of data.
fn checkpoint(header: &str, data_len: usize) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, data_len));
    bytes
}

/// Sub-byte dtypes are packed and padded to a whole byte: a 0-d `F4` tensor is 1 byte, `[3]` is
/// 2. The header check accepted these files, then decoding them failed ("shape [] needs 1
/// elements, data has 2").
#[test]
fn sub_byte_dtypes_with_an_odd_element_count_load() {
    for (shape, bytes) in [("[]", 1), ("[3]", 2), ("[2, 3]", 3)] {
        let header = format!(r#"{{"w":{{"dtype":"F4","shape":{shape},"data_offsets":[0,{bytes}]}}}}"#);
        let (tensors, _) = load_bytes(&checkpoint(&header, bytes)).unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(tensors[0].1.bytes().len(), bytes, "{header}");
    }
    let header = r#"{"w":{"dtype":"F6_E2M3","shape":[5],"data_offsets":[0,4]}}"#;
    assert_eq!(load_bytes(&checkpoint(header, 4)).unwrap().0[0].1.numel(), 5);
    let err = Tensor::new(&[3], Data::Other { dtype: safetensors::Dtype::F4, bytes: vec![0; 1] }).unwrap_err();
    assert_eq!(err.to_string(), "shape [3] of F4 needs 2 bytes, data has 1");
    let err = Tensor::new(&[1 << 40, 1 << 40], Data::Other { dtype: safetensors::Dtype::U8, bytes: vec![] });
    assert_eq!(err.unwrap_err().to_string(), "shape [1099511627776, 1099511627776] is too large");
}

/// `trunc_normal_(mean=5e18)` (bounds -2, 2) in f16: PyTorch's opmath rounds `x - mean` to f16,
/// which overflows, so every proposal has log-acceptance -inf and the loop ran until a uniform
/// drew exactly 0 (seconds for 12 elements; longer tensors, practically forever). Now refused
/// before drawing; the other dtypes can tell the interval's values apart and draw as before.
#[test]
fn trunc_normal_far_outside_its_bounds_is_refused_where_nothing_can_be_accepted() {
    let init: Init = "trunc_normal_(5014817648354058318)".parse().unwrap();
    let draw = |dtype| init.apply(Tensor::zeros(&[4, 3], dtype).view_mut()?, &mut Generator::manual_seed(0));
    let err = draw(DType::F16).unwrap_err().to_string();
    assert_eq!(
        err,
        "trunc_normal_: [a, b] = [-2, 2] lies too far in the tail of N(mean=5.01482e+18, std=1) to sample in \
         f16: no value of the interval is accepted (log-acceptance -inf at best)"
    );
    for dtype in [DType::F32, DType::F64, DType::BF16] {
        assert!(draw(dtype).is_ok(), "{dtype}");
    }
    let mut t = Tensor::zeros(&[4, 3], DType::F64);
    nninit::init::trunc_normal_(t.view_mut().unwrap(), 0.0, 1.0, 30.0, 31.0, &mut Generator::manual_seed(0)).unwrap();
    assert!(t.to_f64_vec().iter().all(|x| (30.0..=31.0).contains(x)));
}

/// `nn.RNN(5, 7, 46850)` as a `norm=` argument: the layer's default init looked up each of its
/// 187,400 parameters by a linear search of the module's slots (quadratic: minutes, a hang to
/// the user). Now one lookup table per module.
#[test]
fn a_recurrent_layer_of_many_layers_is_built_in_linear_time() {
    let src = "nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8), 2, nn.RNN(5, 7, 46850))";
    let model = nninit::arch::from_torch_ctor(src, DType::F32).unwrap();
    let names: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 2 * 12 + 4 * 46850);
    assert_eq!(names.last().unwrap(), "norm.bias_hh_l46849");
}
