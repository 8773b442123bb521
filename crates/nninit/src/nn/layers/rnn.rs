//! Recurrent layers and cells (`torch/nn/modules/rnn.py`).
//!
//! | class | signature |
//! |---|---|
//! | `RNN` | `(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False)` |
//! | `LSTM` | `(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0)` |
//! | `GRU` | `(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False)` |
//! | `RNNCell`, `LSTMCell`, `GRUCell` | `(input_size, hidden_size, bias=True, nonlinearity='tanh')` (`nonlinearity` for `RNNCell` only) |
//!
//! Parameters per layer `k` and direction (suffix `_l{k}`, `_l{k}_reverse`), with `G` gates (4
//! LSTM, 3 GRU, 1 RNN): `weight_ih (G*H, input)` (layer 0: `input_size`, later layers: the
//! previous layer's output size times the directions), `weight_hh (G*H, H or proj_size)`,
//! `bias_ih`, `bias_hh (G*H)`, and `weight_hr (proj_size, H)` with `proj_size > 0`. Cells have
//! the same without suffix. Default init: every parameter `U(-1/sqrt(H), 1/sqrt(H))`, in
//! registration order.
//!
//! Errors (PyTorch's): `input_size`, `hidden_size` or `num_layers` zero ("... must be greater
//! than zero"); `proj_size >= hidden_size`; an unknown nonlinearity; more than
//! [`crate::nn::MAX_LAYERS`] layers.

use super::{each, inv_sqrt, param, uniform, Family};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, RnnMode, Role, Slot, MAX_LAYERS};
use crate::pycall::Call;

/// The recurrent family.
pub(crate) struct Rnns;

const RNN: [&str; 8] =
    ["input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout", "bidirectional"];
const LSTM: [&str; 8] =
    ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "proj_size"];
const GRU: [&str; 7] = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional"];
const CELL: [&str; 4] = ["input_size", "hidden_size", "bias", "nonlinearity"];

/// The mode of class `name` (`RNN`, `LSTM`, `GRU`) with `nonlinearity` (RNN only).
fn rnn_mode(name: &str, nonlinearity: &str) -> Option<RnnMode> {
    match (name, nonlinearity) {
        ("LSTM", _) => Some(RnnMode::Lstm),
        ("GRU", _) => Some(RnnMode::Gru),
        ("RNN", "tanh") => Some(RnnMode::RnnTanh),
        ("RNN", "relu") => Some(RnnMode::RnnRelu),
        _ => None,
    }
}

impl Family for Rnns {
    fn classes(&self) -> &'static str {
        "RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        let name = call.name.as_str();
        Some(match name {
            "RNN" | "LSTM" | "GRU" => {
                let params: &[&'static str] = match name {
                    "RNN" => &RNN,
                    "LSTM" => &LSTM,
                    _ => &GRU,
                };
                call.bind("layer", params).and_then(|a| {
                    // PyTorch's RNNBase checks dropout although it changes no parameter.
                    if let Some(crate::pycall::Literal::Num(p)) = a.get("dropout") {
                        if !(0.0..=1.0).contains(p) {
                            return Err(Error::value(format!(
                                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got {p}"
                            )));
                        }
                    }
                    let nonlinearity = a.str("nonlinearity", "tanh")?;
                    let mode = rnn_mode(name, &nonlinearity).ok_or_else(|| {
                        Error::value(format!("Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."))
                    })?;
                    Ok(Layer::Rnn {
                        mode,
                        input_size: a.usize("input_size", None)?,
                        hidden_size: a.usize("hidden_size", None)?,
                        num_layers: a.usize("num_layers", Some(1))?,
                        bias: a.bool("bias", true)?,
                        bidirectional: a.bool("bidirectional", false)?,
                        proj_size: a.usize("proj_size", Some(0))?,
                    })
                })
            }
            "RNNCell" | "LSTMCell" | "GRUCell" => call.bind("layer", &CELL).and_then(|a| {
                let mode = rnn_mode(name.trim_end_matches("Cell"), &a.str("nonlinearity", "tanh")?)
                    .ok_or_else(|| Error::value("Unknown nonlinearity. Select from 'tanh' or 'relu'."))?;
                Ok(Layer::RnnCell {
                    mode,
                    input_size: a.usize("input_size", None)?,
                    hidden_size: a.usize("hidden_size", None)?,
                    bias: a.bool("bias", true)?,
                })
            }),
            _ => return None,
        })
    }

    fn validate(&self, layer: &Layer) -> Result<()> {
        let Layer::Rnn { input_size, hidden_size, num_layers, proj_size, .. } = layer else { return Ok(()) };
        let fail = |m: String| Err(Error::value(m));
        if *input_size == 0 {
            fail("input_size must be greater than zero".into())
        } else if *hidden_size == 0 {
            fail("hidden_size must be greater than zero".into())
        } else if *num_layers == 0 {
            fail("num_layers must be greater than zero".into())
        } else if *num_layers > MAX_LAYERS {
            fail(format!("num_layers={num_layers} is more than nninit builds (at most {MAX_LAYERS})"))
        } else if proj_size >= hidden_size {
            fail("proj_size has to be smaller than hidden_size".into())
        } else {
            Ok(())
        }
    }

    fn slots(&self, layer: &Layer) -> Vec<Slot> {
        match layer {
            Layer::Rnn { mode, input_size, hidden_size, num_layers, bias, bidirectional, proj_size } => {
                let gate = mode.gates() * hidden_size;
                let real_hidden = if *proj_size > 0 { *proj_size } else { *hidden_size };
                let dirs = if *bidirectional { 2 } else { 1 };
                let mut s = Vec::new();
                for layer in 0..*num_layers {
                    for dir in 0..dirs {
                        let sfx = format!("_l{layer}{}", if dir == 1 { "_reverse" } else { "" });
                        let input = if layer == 0 { *input_size } else { real_hidden * dirs };
                        s.push(param(format!("weight_ih{sfx}"), vec![gate, input], Role::Weight));
                        s.push(param(format!("weight_hh{sfx}"), vec![gate, real_hidden], Role::Recurrent));
                        if *bias {
                            s.push(param(format!("bias_ih{sfx}"), vec![gate], Role::Bias));
                            s.push(param(format!("bias_hh{sfx}"), vec![gate], Role::Bias));
                        }
                        if *proj_size > 0 {
                            s.push(param(format!("weight_hr{sfx}"), vec![*proj_size, *hidden_size], Role::Weight));
                        }
                    }
                }
                s
            }
            Layer::RnnCell { mode, input_size, hidden_size, bias } => {
                let gate = mode.gates() * hidden_size;
                let mut s = vec![
                    param("weight_ih", vec![gate, *input_size], Role::Weight),
                    param("weight_hh", vec![gate, *hidden_size], Role::Recurrent),
                ];
                if *bias {
                    s.push(param("bias_ih", vec![gate], Role::Bias));
                    s.push(param("bias_hh", vec![gate], Role::Bias));
                }
                s
            }
            _ => Vec::new(),
        }
    }

    fn reset_inits(&self, layer: &Layer) -> Vec<(String, Init)> {
        match layer {
            Layer::Rnn { hidden_size, .. } | Layer::RnnCell { hidden_size, .. } => {
                each(&self.slots(layer), |_| Some(uniform(inv_sqrt(*hidden_size))))
            }
            _ => Vec::new(),
        }
    }
}
