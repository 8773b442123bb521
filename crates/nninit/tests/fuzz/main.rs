//! Hostile input, fuzzed: structure-aware property tests of the five readers of user input —
//! the safetensors reader, the init-call parser, `--arch` constructors, plan TOML and Hugging
//! Face `config.json`. Each property: no panic, no hang, no absurd allocation; accepted inputs
//! are checked further (round trips, addressable shapes, small models materialize).
//!
//! `cargo test --release -p nninit --test fuzz` runs a few thousand inputs per target;
//! `tools/fuzz.sh` runs a million. Inputs that once failed are plain tests in [`regressions`].

mod arch;
mod harness;
mod hf_config;
mod init_call;
mod model;
mod plan;
mod regressions;
mod safetensors;
