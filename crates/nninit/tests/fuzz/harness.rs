//! The fuzzing harness: how many cases to run, the guards that turn a hang or an absurd
//! allocation into a failure that names the input, and the mutations shared by the targets.
//!
//! * Cases: `PROPTEST_CASES` (default [`DEFAULT_CASES`], a seconds-long run for `cargo test`);
//!   the seed is fixed unless `PROPTEST_CASES` or `PROPTEST_RNG_SEED` is given, so the short run
//!   is the same on every machine.
//! * Panics are caught by proptest, which shrinks the input and reports the smallest one.
//! * A case running longer than [`HANG`] is a hang: the watchdog prints the input and aborts.
//! * An allocation over [`ALLOC_LIMIT`] is refused (the library must refuse absurd sizes before
//!   allocating); the input is printed, and an infallible allocation then aborts the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// Cases per target in `cargo test` (a few seconds in release mode).
pub const DEFAULT_CASES: u32 = 3000;

/// A case that runs this long is a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// The largest single allocation a case may make: every input is small, every model materialized
/// by a property is capped far below this, so a larger request is a size that was not refused.
pub const ALLOC_LIMIT: usize = 1 << 30;

/// One fuzz target: its name and the input of the case now running.
pub struct Target {
    name: &'static str,
    current: Mutex<Option<(Instant, String)>>,
}

impl Target {
    pub const fn new(name: &'static str) -> Self {
        Target { name, current: Mutex::new(None) }
    }

    fn begin(&self, input: String) {
        if let Ok(mut c) = self.current.lock() {
            *c = Some((Instant::now(), input));
        }
    }

    fn end(&self) {
        if let Ok(mut c) = self.current.lock() {
            *c = None;
        }
    }
}

thread_local! {
    /// The target whose case runs on this thread, for the allocation guard's message.
    static RUNNING: Cell<Option<&'static Target>> = const { Cell::new(None) };
}

struct Guard;

impl Guard {
    fn refuse(size: usize) {
        let input = RUNNING.with(|r| r.get()).and_then(|t| {
            let c = t.current.try_lock().ok()?;
            c.as_ref().map(|(_, input)| (t.name, input.clone()))
        });
        match input {
            Some((name, input)) => eprintln!("fuzz {name}: refused an allocation of {size} bytes; input: {input}"),
            None => eprintln!("fuzz: refused an allocation of {size} bytes"),
        }
    }
}

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_LIMIT {
            Guard::refuse(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_LIMIT {
            Guard::refuse(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOC_LIMIT {
            Guard::refuse(new_size);
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

/// The targets being fuzzed, watched by one thread for cases that run longer than [`HANG`].
static WATCHED: Mutex<Vec<&'static Target>> = Mutex::new(Vec::new());

fn watch(target: &'static Target) {
    static WATCHDOG: OnceLock<()> = OnceLock::new();
    if let Ok(mut w) = WATCHED.lock() {
        w.push(target);
    }
    WATCHDOG.get_or_init(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            let targets = WATCHED.lock().map(|w| w.clone()).unwrap_or_default();
            for t in targets {
                let hung = t.current.lock().ok().and_then(|c| {
                    c.as_ref().filter(|(start, _)| start.elapsed() > HANG).map(|(_, input)| input.clone())
                });
                if let Some(input) = hung {
                    eprintln!("fuzz {}: a case ran longer than {HANG:?} (a hang); input: {input}", t.name);
                    std::process::abort();
                }
            }
        });
    });
}

/// Cases to run: `PROPTEST_CASES`, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(DEFAULT_CASES)
}

fn config() -> Config {
    let mut config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let chosen = ["PROPTEST_CASES", "PROPTEST_RNG_SEED"].iter().any(|v| std::env::var_os(v).is_some());
    if !chosen {
        config.rng_seed = RngSeed::Fixed(0x6e6e_696e_6974);
    }
    config
}

/// Runs `property` on [`cases`] inputs from `strategy`; `show` renders an input for the
/// hang and allocation guards. Prints the throughput; panics with proptest's minimal failing
/// input (a panic inside `property` is a failure).
pub fn fuzz<S>(target: &'static Target, strategy: S, show: fn(&S::Value) -> String, property: fn(&S::Value))
where
    S: Strategy,
{
    watch(target);
    RUNNING.with(|r| r.set(Some(target)));
    let config = config();
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let start = Instant::now();
    let slowest = Mutex::new((Duration::ZERO, String::new()));
    let done = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&strategy, |input| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n % PROGRESS == 0 {
            eprintln!("fuzz {}: {n} inputs in {:.0} s", target.name, start.elapsed().as_secs_f64());
        }
        target.begin(show(&input));
        let case = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(&input)));
        let took = case.elapsed();
        target.end();
        if let Ok(mut s) = slowest.lock() {
            if took > s.0 {
                *s = (took, show(&input));
            }
        }
        outcome.map_err(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            TestCaseError::fail(format!("panicked: {msg}"))
        })
    });
    let secs = start.elapsed().as_secs_f64();
    RUNNING.with(|r| r.set(None));
    if let Err(e) = result {
        panic!("fuzz {}: {e}", target.name);
    }
    let (took, input) = slowest.into_inner().unwrap_or_default();
    eprintln!(
        "fuzz {}: {cases} inputs in {secs:.1} s ({:.0} inputs/s); slowest {:.1} ms: {input}",
        target.name,
        cases as f64 / secs,
        took.as_secs_f64() * 1e3
    );
}

/// A long run reports progress every this many inputs.
const PROGRESS: u64 = 100_000;

/// Numbers as a user might write them, and as an attacker would: small integers most often,
/// then the edges of every numeric type, NaN, infinities, exponents, and malformed numbers.
pub fn number_text() -> impl Strategy<Value = String> {
    const EDGES: &[&str] = &[
        "0",
        "-0",
        "1",
        "-1",
        "2",
        "3",
        "0.5",
        "-0.5",
        "0.0",
        "1e308",
        "1e309",
        "-1e309",
        "1e-320",
        "2.5",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "math.inf",
        "math.pi",
        "9007199254740992",
        "9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "4294967296",
        "1099511627776",
        "1099511627777",
        "100000",
        "100001",
        "1e18",
        "1_000",
        "1e",
        ".",
        "-",
        "+5",
        "1.2.3",
        "0x10",
        "1e+5",
        "--1",
        "- 1",
        "1__0",
        "_1",
        "sqrt(2)",
        "sqrt(-1)",
        "math.sqrt(1e308)",
        "1e-7",
    ];
    prop_oneof![
        6 => (0u32..9).prop_map(|n| n.to_string()),
        3 => prop::sample::select(EDGES).prop_map(String::from),
        1 => (0u32..5000).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|x| format!("{x:?}")),
        1 => (-400i32..400).prop_map(|e| format!("1e{e}")),
    ]
}

/// One edit of an input: what to do, where, and what to put there.
#[derive(Clone, Debug)]
pub struct Mutation {
    kind: u8,
    at: Index,
    len: Index,
    token: Index,
    byte: u8,
}

/// 0 to 3 mutations: half of the inputs stay as generated (valid inputs reach deep code), the
/// rest are truncated, cut, spliced with tokens of the input's language, duplicated or flipped.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = (0u8..6, any::<Index>(), any::<Index>(), any::<Index>(), any::<u8>())
        .prop_map(|(kind, at, len, token, byte)| Mutation { kind, at, len, token, byte });
    prop_oneof![1 => Just(Vec::new()), 1 => prop::collection::vec(one, 1..4)]
}

/// `text` with `mutations` applied, on characters (the result stays UTF-8); inserted tokens come
/// from `tokens`.
pub fn mutate_text(text: &str, mutations: &[Mutation], tokens: &[&str]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let token: Vec<char> = tokens[m.token.index(tokens.len())].chars().collect();
        let byte = char::from(m.byte);
        edit(&mut chars, m, &token, byte);
    }
    chars.into_iter().collect()
}

/// `bytes` with `mutations` applied; inserted tokens come from `tokens`.
pub fn mutate_bytes(bytes: &[u8], mutations: &[Mutation], tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in mutations {
        let token = tokens[m.token.index(tokens.len())].to_vec();
        edit(&mut out, m, &token, m.byte);
    }
    out
}

fn edit<T: Clone>(v: &mut Vec<T>, m: &Mutation, token: &[T], flip: T) {
    let n = v.len();
    let at = m.at.index(n + 1);
    let end = (at + 1 + m.len.index(16)).min(n);
    match m.kind {
        0 => v.truncate(at),
        1 if at < end => {
            v.drain(at..end);
        }
        2 => {
            v.splice(at..at, token.iter().cloned());
        }
        3 if at < n => {
            v.splice(at..at + 1, token.iter().cloned());
        }
        4 if at < end => {
            let copy: Vec<T> = v[at..end].to_vec();
            v.splice(end..end, copy);
        }
        5 if at < n => v[at] = flip,
        _ => {}
    }
}
