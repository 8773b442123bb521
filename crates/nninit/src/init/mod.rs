//! The schemes: every `torch.nn.init` function, the variance-scaling core they share, fans and
//! gains, and [`Init`], an initializer as a value.

mod draw;
mod fan;
mod functions;
mod scheme;
mod variance;

pub use draw::Draw;
pub use fan::{calculate_correct_fan, calculate_gain, fan_in_and_fan_out, FanMode, Nonlinearity};
pub use functions::{
    constant_, dirac_, eye_, kaiming_normal_, kaiming_uniform_, lecun_normal_, lecun_uniform_, normal_, ones_,
    orthogonal_, sparse_, trunc_normal_, uniform_, xavier_normal_, xavier_uniform_, zeros_,
};
pub use scheme::Init;
pub use variance::{Distribution, Fan, VarianceScaling};
