//! Cooperative cancellation (`nninit::cancel`): a long rejection sampler stops within a round
//! of the request. Alone in its test binary, as the flag is process-wide.

use nninit::init::trunc_normal_;
use nninit::rng::Philox;
use nninit::tensor::{DType, Tensor};
use nninit::Error;

/// Uniform proposals accepted at about 5.4 % on [3, 8.5] (just above the tail sampler's
/// threshold): about 340 rounds over 4 M values, many seconds of work; a request a moment after
/// the start ends it at the next round with `Error::Cancelled`.
#[test]
fn a_request_stops_a_long_rejection_sampler() {
    let mut t = Tensor::zeros(&[4_000_000], DType::F32);
    let started = std::time::Instant::now();
    let requester = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        nninit::cancel::request();
        std::time::Instant::now()
    });
    let result = trunc_normal_(t.view_mut().unwrap(), 0.0, 1.0, 3.0, 8.5, &mut Philox::new(0, "w"));
    let stopped = std::time::Instant::now();
    let requested = requester.join().unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?} after {:?}", started.elapsed());
    assert!(
        stopped.duration_since(requested).as_secs_f64() < 1.0,
        "stopped {:?} after the request",
        stopped - requested
    );
    nninit::cancel::reset();
    // Reset, the same call runs again (a small one, to completion).
    let mut small = Tensor::zeros(&[1000], DType::F32);
    trunc_normal_(small.view_mut().unwrap(), 0.0, 1.0, 3.0, 8.5, &mut Philox::new(0, "w")).unwrap();
}
