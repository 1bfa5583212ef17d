//! What finding a consent's undelivered events costs as the backlog spans more seconds.
//!
//! The outbox's by-consent index is keyed by `(epoch, consent_id)`, the epoch being an
//! event's `created_at` in whole seconds (`docs/delivery.md`, "How the events of a consent
//! are found"). A revocation lists the epochs that hold undelivered events (one index seek
//! each) and looks the consent up in each. This bench fills a temporary SQLite file with a
//! backlog of 100,000 pending events of 1,000 consents spread over 1, 60, 600 and 3,600
//! seconds, then times, for 20 consents in turn, what a revocation does in the outbox:
//! `LiveEpochs::read` and `cancel_undelivered` (about 100 events each), each in a
//! transaction of its own.
//!
//! Run with `cargo bench --bench revocation` (release profile).

use std::error::Error;
use std::time::{Duration, Instant};

use consentgate::db::{DbConnection, DbError, Target, migrate, writer_settings};
use consentgate::delivery::outbox::{self, LiveEpochs, NewEvent};
use diesel::Connection as _;

/// Events in the backlog.
const EVENTS: usize = 100_000;
/// Consents they were released under.
const CONSENTS: usize = 1_000;
/// Consents revoked per scenario (each timed).
const REVOKED: usize = 20;
/// Seconds the backlog spans, per scenario.
const SPANS: [i64; 4] = [1, 60, 600, 3_600];

fn main() -> Result<(), Box<dyn Error>> {
    println!(
        "backlog of {EVENTS} pending events of {CONSENTS} consents; {REVOKED} revocations timed per span"
    );
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>14}",
        "span s", "live epochs", "list p50 ms", "cancel p50 ms", "cancel max ms"
    );
    for span in SPANS {
        let dir = tempfile::tempdir()?;
        let target = Target::parse(&format!(
            "sqlite://{}",
            dir.path().join("revocation.db").display()
        ))?;
        migrate(&target)?;
        let mut conn = target.connect()?;
        writer_settings(&mut conn)?;
        fill(&mut conn, span)?;

        let mut listing = Vec::new();
        let mut cancelling = Vec::new();
        let mut epochs_seen = 0;
        for consent in 0..REVOKED {
            let consent_id = consent_id(consent * (CONSENTS / REVOKED));
            conn.transaction::<_, DbError, _>(|conn| {
                let started = Instant::now();
                let epochs = LiveEpochs::read(conn)?;
                listing.push(started.elapsed());
                epochs_seen = epochs.len();
                let cancelled = outbox::cancel_undelivered(conn, &epochs, &consent_id, i64::MAX)?;
                cancelling.push(started.elapsed());
                assert_eq!(cancelled.len(), EVENTS / CONSENTS, "every event found");
                Ok(())
            })?;
        }
        println!(
            "{span:>8} {epochs_seen:>12} {:>14.3} {:>14.3} {:>14.3}",
            millis(median(&mut listing)),
            millis(median(&mut cancelling)),
            millis(cancelling.iter().copied().max().unwrap_or_default()),
        );
    }
    Ok(())
}

/// Queues the backlog: event `i` under consent `i % CONSENTS`, made in second
/// `i % span` of the span.
fn fill(conn: &mut DbConnection, span: i64) -> Result<(), DbError> {
    let base: i64 = 1_800_000_000_000_000;
    let events: Vec<NewEvent> = (0..EVENTS)
        .map(|i| {
            let created_at = base + (i as i64 % span) * 1_000_000;
            NewEvent {
                event_id: format!("{created_at:020}-{i:08}"),
                recipient_id: "messenger".to_string(),
                event_type: "transaction.released",
                consent_id: consent_id(i % CONSENTS),
                user_id: format!("u-{}", i % CONSENTS),
                bank_id: "bank-a".to_string(),
                purpose: Some("fraud_alert".to_string()),
                created_at,
                data: r#"{"amount_minor":1299,"currency":"USD"}"#.to_string(),
                status: outbox::PENDING,
                attempts: 0,
                next_attempt_at: created_at,
                audit_index: Some(i as i64),
                epoch: outbox::epoch_of(created_at),
            }
        })
        .collect();
    for chunk in events.chunks(10_000) {
        conn.transaction::<_, DbError, _>(|conn| outbox::queue(conn, chunk))?;
    }
    Ok(())
}

fn consent_id(n: usize) -> String {
    format!("consent-{n:05}")
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
