//! The schemes: every `torch.nn.init` function, JAX's variance scaling, structured and
//! depth-aware schemes, fans and gains, and [`Init`], an initializer as a value.
//!
//! [`Init`]'s signature table (in `scheme.rs`) declares every scheme's name and parameters once;
//! [`Init::draw`] is the one place that maps a scheme onto what it draws. The functions below
//! are that value applied (`xavier_uniform_(t, gain, g)` is `Init::XavierUniform { gain }.apply(t, g)`).

mod args;
mod depth;
mod draw;
mod fan;
mod functions;
mod jax;
mod scheme;
mod structured;
mod variance;

pub use args::Stack;
pub use depth::{
    deepnorm_, deepnorm_alpha_beta, fixup_, fixup_scale, mup_normal_, mup_std, olmo_mitchell_, olmo_mitchell_std,
    scaled_normal_, scaled_normal_std, small_init_, small_init_std, t_fixup_, t_fixup_scale, wang_init_, wang_init_std,
};
pub(crate) use draw::Action;
pub use draw::Draw;
pub use fan::{calculate_correct_fan, calculate_gain, fan_in_and_fan_out, FanMode, Nonlinearity};
pub use functions::{
    constant_, dirac_, eye_, kaiming_normal_, kaiming_uniform_, lecun_normal_, lecun_uniform_, normal_, ones_,
    orthogonal_, sparse_, trunc_normal_, uniform_, xavier_normal_, xavier_uniform_, zeros_,
};
pub use jax::{
    glorot_normal_, glorot_uniform_, he_normal_, he_uniform_, jax_lecun_normal_, jax_lecun_uniform_, variance_scaling_,
};
pub use scheme::Init;
pub use structured::{delta_orthogonal_, identity_, zero_init_};
pub use variance::{
    jax_fans, Distribution, Fan, JaxDistribution, JaxVarianceScaling, VarianceMode, VarianceScaling, TRUNCATED_STD,
};
