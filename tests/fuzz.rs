//! Fuzzing of every parser that reads user files, as bounded property tests.
//!
//! Each target feeds a parser's public entry point two kinds of inputs: records built by a
//! structured generator (valid-ish lines with random fields: huge, negative, non-numeric
//! coordinates; random line widths; random index numbers) and byte mutations of a valid seed
//! file from `tests/fixtures` (bit flips, interesting integers, truncation, insertion, deletion,
//! splicing). Every call must return `Ok` or `Err` — never panic, abort, or allocate without
//! bound. Where a generator knows the right answer (a valid FASTA, a valid BED), the result is
//! checked too.
//!
//! Cases are deterministic: case `i` of target `t` uses an RNG seeded from (`t`, `i`,
//! `S2F_FUZZ_SEED`). A panicking case is reported with its target, case number and payload,
//! and its input files are kept under `target/fuzz-failures/<target>-<case>/`.
//!
//! The default case counts keep the whole file well under a minute in a debug build. Run more
//! locally with `S2F_FUZZ_CASES=20000 cargo test --release --test fuzz -- --nocapture` (the
//! count applies to every target; `S2F_FUZZ_SEED` changes the seed; `S2F_FUZZ_VERBOSE=1` prints
//! every rejection).
//!
//! Any single allocation above [`ALLOC_CAP`] counts as unbounded: the allocator below prints
//! the running case and refuses it, which aborts the test binary.

mod fuzz {
    pub mod arrays;
    pub mod genome;
    pub mod models;
}

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The RNG every generator uses.
pub type Rand = ChaCha8Rng;

/// Largest single allocation a parser may make on these small inputs (fixtures are < 2 MB).
pub const ALLOC_CAP: usize = 1 << 30;

struct Capped;

thread_local! {
    static LABEL: RefCell<[u8; 120]> = const { RefCell::new([0; 120]) };
    static LABEL_LEN: Cell<usize> = const { Cell::new(0) };
}

fn report_oversize(size: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\nfuzz: unbounded allocation of ");
    let _ = err.write_all(&digits[i..]);
    let _ = err.write_all(b" bytes refused while running ");
    let _ = LABEL.try_with(|l| {
        let len = LABEL_LEN.try_with(Cell::get).unwrap_or(0);
        if let Ok(l) = l.try_borrow() {
            let _ = err.write_all(&l[..len]);
        }
    });
    let _ = err.write_all(b" (its input files are in that folder)\n");
}

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_CAP {
            report_oversize(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOC_CAP {
            report_oversize(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOC_CAP {
            report_oversize(new_size);
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Capped = Capped;

thread_local! {
    /// True while a fuzz case runs on this thread: its panics are reported by [`run`], not by
    /// the default hook.
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic on this thread happened (`file:line:col`).
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut at =
                info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
            if at.starts_with("/rustc/") && IN_CASE.with(Cell::get) {
                // A panic inside the standard library (an overflowing `product`, a slice
                // index): name the first caller outside it.
                let bt = std::backtrace::Backtrace::force_capture().to_string();
                let std_frame = |f: &str| {
                    let f = f.trim_start_matches('<');
                    ["std::", "core::", "alloc::", "__rustc", "rust_", "fuzz::", "backtrace"]
                        .iter()
                        .any(|p| f.starts_with(p))
                };
                if let Some(caller) = bt
                    .lines()
                    .filter_map(|l| l.trim().split_once(": ").filter(|(n, _)| n.parse::<u32>().is_ok()).map(|(_, f)| f))
                    .find(|f| !std_frame(f))
                {
                    at = format!("{caller} (via {at})");
                }
            }
            PANIC_AT.with(|p| *p.borrow_mut() = at);
            if !IN_CASE.with(Cell::get) {
                default(info);
            }
        }));
    });
}

fn set_label(s: &str) {
    LABEL.with(|l| {
        let mut l = l.borrow_mut();
        let n = s.len().min(l.len());
        l[..n].copy_from_slice(&s.as_bytes()[..n]);
        LABEL_LEN.with(|c| c.set(n));
    });
}

/// Cases to run: `S2F_FUZZ_CASES` when set, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("S2F_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn base_seed() -> u64 {
    std::env::var("S2F_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2f00)
}

/// Path of a file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Bytes of a fixture file.
pub fn fixture_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

fn failures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures")
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    if let Ok(rd) = std::fs::read_dir(from) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                copy_dir(&p, &to.join(e.file_name()));
            } else {
                let _ = std::fs::copy(&p, to.join(e.file_name()));
            }
        }
    }
}

/// What a run of one target saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Cases run.
    pub cases: usize,
    /// Cases the parser accepted.
    pub ok: usize,
    /// Cases the parser rejected with an error.
    pub err: usize,
}

/// Runs `cases` cases of target `name`. Each case gets its own seeded RNG and an empty folder to
/// write its input files into; `body` generates the input, calls the library and returns
/// `Ok(())` or the library's error. A panic anywhere fails the test, naming the case and keeping
/// its files. Errors must have a non-empty message.
pub fn run<F>(name: &str, cases: usize, mut body: F) -> Tally
where
    F: FnMut(&mut Rand, &Path) -> s2f::Result<()>,
{
    install_panic_hook();
    let root = tempfile::tempdir().expect("tempdir");
    let mut tally = Tally::default();
    let seed = base_seed();
    for case in 0..cases {
        let dir = root.path().join(format!("c{case}"));
        std::fs::create_dir_all(&dir).expect("case dir");
        let label = format!("fuzz target {name} case {case} (S2F_FUZZ_SEED={seed}) in {}", dir.display());
        set_label(&label);
        let mut rng = Rand::seed_from_u64(seed ^ hash(name) ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        IN_CASE.with(|c| c.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| body(&mut rng, &dir)));
        IN_CASE.with(|c| c.set(false));
        match result {
            Ok(Ok(())) => tally.ok += 1,
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(!msg.trim().is_empty(), "{label}: error with an empty message ({e:?})");
                if std::env::var_os("S2F_FUZZ_VERBOSE").is_some() {
                    println!("{name} case {case}: {msg}");
                }
                tally.err += 1;
            }
            Err(payload) => {
                let what = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic payload)".into());
                let at = PANIC_AT.with(|p| p.borrow().clone());
                let keep = failures_dir().join(format!("{name}-{case}"));
                copy_dir(&dir, &keep);
                panic!("{label} PANICKED at {at}: {what}\ninput files kept in {}", keep.display());
            }
        }
        tally.cases += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    set_label("");
    println!("fuzz {name}: {} cases, {} accepted, {} rejected", tally.cases, tally.ok, tally.err);
    tally
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Integers that break parsers: zero, one, signed and unsigned limits, powers of two.
pub const INTERESTING: &[i128] = &[
    0,
    1,
    -1,
    2,
    7,
    8,
    255,
    256,
    65535,
    65536,
    i32::MAX as i128,
    i32::MIN as i128,
    u32::MAX as i128,
    1 << 32,
    1 << 40,
    1 << 53,
    i64::MAX as i128,
    i64::MIN as i128,
    u64::MAX as i128,
    (u64::MAX as i128) + 1,
    (i64::MAX as i128) / 2 + 1,
];

/// A number as text for a structured generator: small, interesting, negative, huge, or junk.
pub fn number_text(rng: &mut Rand, typical: u64) -> String {
    match rng.random_range(0..10) {
        0..=4 => rng.random_range(0..=typical.max(1)).to_string(),
        5 | 6 => INTERESTING[rng.random_range(0..INTERESTING.len())].to_string(),
        7 => format!("-{}", rng.random_range(0..1000)),
        8 => ["", "x", "1e3", "0x10", "+5", " 7", "1.5", "NaN", "٣", "99999999999999999999999"]
            [rng.random_range(0..10)]
        .to_string(),
        _ => rng.random::<u64>().to_string(),
    }
}

/// Applies 1–6 random mutations to `seed`. `hot` are byte ranges mutations favour (e.g. a
/// binary file's metadata); `donors` give material for splicing.
pub fn mutate(rng: &mut Rand, seed: &[u8], hot: &[std::ops::Range<usize>], donors: &[&[u8]]) -> Vec<u8> {
    let hot_total: usize = hot.iter().map(|r| r.len()).sum();
    let mut d = seed.to_vec();
    let n = 1 + rng.random_range(0..6usize).min(rng.random_range(0..6usize));
    for _ in 0..n {
        let pos = |rng: &mut Rand, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            if hot_total > 0 && rng.random_bool(0.7) {
                // A position in the hot ranges, uniformly over their bytes.
                let mut k = rng.random_range(0..hot_total);
                for r in hot {
                    if k < r.len() {
                        return (r.start + k).min(len - 1);
                    }
                    k -= r.len();
                }
            }
            rng.random_range(0..len)
        };
        match rng.random_range(0..10) {
            0 | 1 if !d.is_empty() => {
                let p = pos(rng, d.len());
                d[p] ^= 1 << rng.random_range(0..8);
            }
            2 if !d.is_empty() => {
                let p = pos(rng, d.len());
                d[p] = [0, 1, 0x7f, 0x80, 0xff, b'\n', b'\t', b'>', b'-', b'9', b' ', b'"'][rng.random_range(0..12)];
            }
            3 if d.len() >= 8 => {
                let p = pos(rng, d.len() - 7);
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())] as u64;
                let w = [1usize, 2, 4, 8][rng.random_range(0..4)];
                let bytes = if rng.random_bool(0.8) { v.to_le_bytes() } else { v.to_be_bytes() };
                d[p..p + w].copy_from_slice(&bytes[..w]);
            }
            4 => {
                let p = pos(rng, d.len() + 1).min(d.len());
                d.truncate(p);
            }
            5 => {
                let p = pos(rng, d.len() + 1).min(d.len());
                let k = rng.random_range(1..=16);
                let ins: Vec<u8> = (0..k).map(|_| rng.random()).collect();
                d.splice(p..p, ins);
            }
            6 if !d.is_empty() => {
                let p = pos(rng, d.len());
                let k = rng.random_range(1..=64usize).min(d.len() - p);
                d.drain(p..p + k);
            }
            7 if !d.is_empty() => {
                // Duplicate a chunk elsewhere in the file.
                let a = rng.random_range(0..d.len());
                let k = rng.random_range(1..=256usize).min(d.len() - a);
                let chunk = d[a..a + k].to_vec();
                let p = pos(rng, d.len() + 1).min(d.len());
                d.splice(p..p, chunk);
            }
            8 if !donors.is_empty() => {
                // Splice: our head, a donor's tail.
                let donor = donors[rng.random_range(0..donors.len())];
                let p = pos(rng, d.len() + 1).min(d.len());
                let q = rng.random_range(0..=donor.len());
                d.truncate(p);
                d.extend_from_slice(&donor[q..]);
            }
            _ => {
                // Replace a run of ASCII digits with an interesting number (text formats).
                if let Some(start) =
                    (0..8).map(|_| pos(rng, d.len().max(1))).find(|&p| d.get(p).is_some_and(u8::is_ascii_digit))
                {
                    let mut end = start;
                    while end < d.len() && d[end].is_ascii_digit() {
                        end += 1;
                    }
                    let mut start = start;
                    while start > 0 && d[start - 1].is_ascii_digit() {
                        start -= 1;
                    }
                    let v = INTERESTING[rng.random_range(0..INTERESTING.len())].to_string();
                    d.splice(start..end, v.into_bytes());
                } else if !d.is_empty() {
                    let p = pos(rng, d.len());
                    d[p] = rng.random();
                }
            }
        }
    }
    d
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    p
}

#[test]
fn mutator_changes_input_and_is_deterministic() {
    let seed = b"chr1\t10\t20\n".to_vec();
    let a = mutate(&mut Rand::seed_from_u64(1), &seed, &[], &[]);
    let b = mutate(&mut Rand::seed_from_u64(1), &seed, &[], &[]);
    assert_eq!(a, b);
    let changed = (0..50).filter(|&s| mutate(&mut Rand::seed_from_u64(s), &seed, &[], &[]) != seed).count();
    assert!(changed >= 45, "only {changed}/50 mutations changed the input");
}
