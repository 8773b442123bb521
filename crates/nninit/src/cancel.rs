//! Cooperative cancellation: a process-wide flag that long loops (rejection rounds, tail
//! samplers, the chunk loops of the checkpoint writer) check, returning [`Error::Cancelled`]
//! promptly once it is set — for a signal handler (the command line's Ctrl-C) or a caller's
//! watchdog thread.
//!
//! ```
//! nninit::cancel::request();
//! assert!(nninit::cancel::requested());
//! nninit::cancel::reset();
//! assert!(!nninit::cancel::requested());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every running nninit computation to stop with [`Error::Cancelled`] (async-signal-safe:
/// one atomic store).
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Clears a request, so that later work runs again.
pub fn reset() {
    REQUESTED.store(false, Ordering::Relaxed);
}

/// Whether [`request`] was called (and not [`reset`] since).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// `Err(Error::Cancelled)` once [`request`] was called.
#[inline]
pub(crate) fn check() -> Result<()> {
    if requested() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}
