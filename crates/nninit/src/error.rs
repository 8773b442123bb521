//! The library's one error type.
//!
//! Every variant names the offending parameter, value, path or shape, so a caller can print one
//! clear line. Messages follow PyTorch's wording where PyTorch has one, so users can search for them.

use std::path::PathBuf;

/// Errors returned by nninit.
///
/// `Debug` prints the same one-line message as `Display`, so `fn main() -> nninit::Result<()>`
/// reports errors readably:
///
/// ```
/// let err = "kaiming_normal_(nonlinearity='gelu')".parse::<nninit::init::Init>().unwrap_err();
/// assert_eq!(format!("{err:?}"), "Unsupported nonlinearity gelu");
/// ```
#[derive(thiserror::Error)]
pub enum Error {
    /// An argument had a value the function does not accept (PyTorch's `ValueError`/`RuntimeError`).
    /// `message` follows PyTorch's text, e.g. "Fan in and fan out can not be computed for tensor
    /// with fewer than 2 dimensions".
    #[error("{message}")]
    Value {
        /// PyTorch-compatible description of what is wrong.
        message: String,
    },

    /// A dtype that the operation does not support (e.g. `orthogonal_` on f16, or an integer tensor).
    #[error("{op} not implemented for '{dtype}'")]
    DType {
        /// The operation, in PyTorch's spelling.
        op: &'static str,
        /// The dtype that was given.
        dtype: String,
    },

    /// An operation needs the values of a tensor that has none yet: a model's tensors hold
    /// values only after [`crate::nn::Model::materialize`].
    #[error("needs values: {0}")]
    NeedsValues(String),

    /// An init applied by a whole-model rule failed; names the parameter path and its shape.
    #[error("{path} (shape {shape:?}): {source}")]
    AtParameter {
        /// Dotted `state_dict` name, e.g. `layer.0.bias`.
        path: String,
        /// The parameter's shape.
        shape: Vec<usize>,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },

    /// An init string, plan file or preset could not be parsed.
    #[error("cannot parse {what} `{input}`: {reason}")]
    Parse {
        /// What was being parsed ("init", "plan", "glob", ...).
        what: &'static str,
        /// The input (or the part of it that failed).
        input: String,
        /// Why it failed.
        reason: String,
    },

    /// A checkpoint that breaks the safetensors format rules.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),

    /// An unknown architecture, preset or layer name.
    #[error("unknown {what} `{name}` (known: {known})")]
    Unknown {
        /// What kind of name ("arch", "preset", "layer type", ...).
        what: &'static str,
        /// The name given.
        name: String,
        /// The accepted names.
        known: String,
    },

    /// Not enough free space to write a file: found before anything is written (the file
    /// system's free bytes, `statvfs`'s `f_bavail · f_frsize`), or when the space could not be
    /// reserved.
    #[error(
        "not enough free space to write {}: it needs {needed} bytes ({}), {} has {available} bytes ({}) available",
        .path.display(), human_bytes(*.needed), .dir.display(), human_bytes(*.available)
    )]
    NoSpace {
        /// The file to write.
        path: PathBuf,
        /// The directory it goes to (the file system that is full).
        dir: PathBuf,
        /// Bytes the file needs.
        needed: u64,
        /// Bytes available to this user.
        available: u64,
    },

    /// Work refused before it starts because its expected amount exceeds a fixed bound: PyTorch's
    /// `trunc_normal_` sampler (kept bit-exact on the torch stream) far in a tail, where it would
    /// need billions of proposals. `message` names the call, the acceptance rate, the expected
    /// work and what to use instead, e.g. "trunc_normal_(mean=0, std=1, a=6, b=10000) on the
    /// torch stream: PyTorch's sampler accepts 1.62e-5 of its proposals on this interval, an
    /// expected 6.0e9 proposals in 6.0e5 rounds for 10000 values (beyond nninit's bound of 1.1e9
    /// proposals, 32768 per round included); use --rng philox (an exact tail sampler) or a
    /// narrower interval".
    #[error("{message}")]
    TooMuchWork {
        /// The description.
        message: String,
    },

    /// The work was stopped by [`crate::cancel::request`] (the command line's Ctrl-C).
    #[error("interrupted")]
    Cancelled,

    /// An I/O error with the file it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// A [`Error::Value`] with the given message.
    pub fn value(message: impl Into<String>) -> Self {
        Error::Value { message: message.into() }
    }

    /// Wraps `self` with the parameter path and shape it happened at.
    pub fn at(self, path: &str, shape: &[usize]) -> Self {
        Error::AtParameter { path: path.to_string(), shape: shape.to_vec(), source: Box::new(self) }
    }

    /// A [`Error::Parse`].
    /// A long input is shortened (its start and end kept), so the message stays one readable
    /// line.
    pub fn parse(what: &'static str, input: impl Into<String>, reason: impl Into<String>) -> Self {
        let mut input: String = input.into();
        const KEEP: usize = 120;
        if input.chars().count() > 2 * KEEP {
            let head: String = input.chars().take(KEEP).collect();
            let tail: String = input.chars().rev().take(KEEP / 2).collect::<Vec<_>>().into_iter().rev().collect();
            input = format!("{head} ... {tail}");
        }
        let mut reason: String = reason.into();
        if reason.chars().count() > 4 * KEEP {
            reason = reason.chars().take(4 * KEEP).collect::<String>() + " ...";
        }
        Error::Parse { what, input, reason }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// `n` bytes in decimal units (`1.5 GB`).
fn human_bytes(n: u64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
