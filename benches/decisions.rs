//! How fast field decisions are: asking Cedar about every field of a 10-field transaction
//! (`decide_fresh`, the cache-miss path) against the mask cache (`decide` on a key already
//! decided). Run with `cargo bench --bench decisions`.

use std::hint::black_box;
use std::time::Instant;

use consentgate::policy;
use policy::{ConsentView, FieldMask, PolicyEngine, RecordKind};

/// Fresh decisions cost tens of microseconds: enough iterations for a stable figure.
const FRESH_ITERATIONS: u32 = 3_000;
/// Cached decisions cost tens of nanoseconds.
const CACHED_ITERATIONS: u32 = 3_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::load(None)?;
    let fields = engine.catalog().fields(RecordKind::Transaction).to_vec();
    let purposes = vec!["fraud_alert".to_string()];
    let consent = ConsentView {
        id: "0190b8a2-7c1e-7b4d-9a51-3f0c2d6e8a10",
        version: 3,
        fields: &fields,
        purposes: &purposes,
    };
    let decide_fresh = || {
        engine.decide_fresh(
            black_box("messenger"),
            black_box("bank-a"),
            black_box(RecordKind::Transaction),
            black_box("fraud_alert"),
            black_box(&consent),
        )
    };
    let decide_cached = || {
        engine.decide(
            black_box("messenger"),
            black_box("bank-a"),
            black_box(RecordKind::Transaction),
            black_box("fraud_alert"),
            black_box(&consent),
        )
    };

    let released = decide_cached();
    if released != decide_fresh() || released.released.count_ones() != 10 {
        return Err("the benchmark record should release its 10 fields on both paths".into());
    }
    println!(
        "{} fields, policy version {}",
        fields.len(),
        engine.version()
    );
    measure("fresh (Cedar)", FRESH_ITERATIONS, decide_fresh);
    measure("cached (mask cache hit)", CACHED_ITERATIONS, decide_cached);
    Ok(())
}

/// Runs `decide` `iterations` times, after a tenth of that to warm up, and prints the rate.
fn measure(label: &str, iterations: u32, decide: impl Fn() -> FieldMask) {
    for _ in 0..iterations / 10 {
        black_box(decide());
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(decide());
    }
    let elapsed = start.elapsed();
    let nanos_per_decision = elapsed.as_nanos() as f64 / f64::from(iterations);
    println!(
        "{label:<24} {iterations:>9} decisions in {elapsed:>10.2?}: {nanos_per_decision:>9.0} ns/decision, {:>11.0} decisions/s",
        1e9 / nanos_per_decision
    );
}
