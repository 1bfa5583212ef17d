//! Webhook delivery to a real HTTP receiver on loopback: signatures checked with an
//! independent implementation (the `standardwebhooks` crate), exactly the released members,
//! retries with the same `webhook-id`, restarts, revocation, dead-lettering, and the audit
//! record of every attempt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use consentgate::delivery::CONCURRENCY;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{
    Options, TestApp, WEBHOOK_SECRET, balance, problem, spawn_app_with, transaction, transactions,
};
use crate::stored_log::{stored_of_kind, stored_records};

/// How long any wait may last before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Back-off short enough for tests; `max_attempts` high enough not to dead-letter.
const FAST_RETRIES: &str =
    "[delivery]\nmax_attempts = 1000\ninitial_backoff = \"50ms\"\nmax_backoff = \"200ms\"\n";
/// Retries 2 s apart.
const RETRIES_2S_APART: &str = "[delivery]\ninitial_backoff = \"2s\"\nmax_backoff = \"2s\"\n";
/// After a failure, the next attempt a minute later: no worker looks at the event again
/// during a test.
const RETRY_A_MINUTE_LATER: &str = "[delivery]\ninitial_backoff = \"60s\"\nmax_backoff = \"60s\"\n";

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
    json: Value,
    at: Instant,
}

/// Decides the answer to a request: its body and how many requests with the same
/// `webhook-id` came before; returns the status and a delay before answering.
type Answer = Arc<dyn Fn(&Value, usize) -> (u16, Duration) + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    requests: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

/// A webhook receiver on 127.0.0.1 that records every request and answers as scripted.
struct Receiver {
    url: String,
    state: ReceiverState,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Answers 204 until told otherwise.
    fn start() -> Self {
        let state = ReceiverState {
            requests: Arc::new(Mutex::new(Vec::new())),
            answer: Arc::new(Mutex::new(Arc::new(|_: &Value, _: usize| {
                (204, Duration::ZERO)
            }))),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks/consentgate",
            listener.local_addr().unwrap().port()
        );
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, state, handle }
    }

    fn answer_with(
        &self,
        answer: impl Fn(&Value, usize) -> (u16, Duration) + Send + Sync + 'static,
    ) {
        *self.state.answer.lock().unwrap() = Arc::new(answer);
    }

    fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    fn requests_for(&self, event_id: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.id == event_id)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = header("webhook-id");
    let (status, delay) = {
        let mut requests = state.requests.lock().unwrap();
        let earlier = requests.iter().filter(|r| r.id == id).count();
        let answer = Arc::clone(&state.answer.lock().unwrap());
        requests.push(Received {
            id,
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            content_type: header("content-type"),
            body: body.to_vec(),
            json: json.clone(),
            at: Instant::now(),
        });
        answer(&json, earlier)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Verifies a request with the `standardwebhooks` crate (not the gateway's code).
fn verify(secret: &str, request: &Received) -> Result<(), standardwebhooks::WebhookError> {
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", request.id.parse().unwrap());
    headers.insert("webhook-timestamp", request.timestamp.parse().unwrap());
    headers.insert("webhook-signature", request.signature.parse().unwrap());
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &headers)
}

/// Checks a received body against the published `schema/webhook-event.schema.json`.
fn assert_matches_published_schema(body: &Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/webhook-event.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "{body}");
}

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn app_for(receiver: &Receiver, delivery_toml: &str) -> TestApp {
    spawn_app_with(Options {
        webhook_url: Some(receiver.url.clone()),
        extra_toml: delivery_toml.to_string(),
        ..Options::default()
    })
    .await
}

/// Pushes one transaction of `user` as bank A and returns the event ids of its releases.
async fn push(app: &TestApp, txn_id: &str, user: &str) -> Vec<String> {
    let response = app
        .push_transactions(
            &app.pki.bank_a,
            &json!({"transactions": [transaction(txn_id, user)]}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    body["results"][0]["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// Pushes `n` transactions of `user` (ids `{prefix}-0`, `{prefix}-1` …) as bank A in one
/// batch.
async fn push_many(app: &TestApp, prefix: &str, user: &str, n: usize) {
    let response = app
        .push_transactions(&app.pki.bank_a, &transactions(prefix, user, n))
        .await;
    assert_eq!(response.status().as_u16(), 202);
}

/// Grants u-1 [`TestApp::grant_amount_for_fraud_alert`] and pushes t-1 of u-1: the event
/// id of its one release.
async fn release_one(app: &TestApp) -> String {
    app.grant_amount_for_fraud_alert("u-1").await;
    let events = push(app, "t-1", "u-1").await;
    assert_eq!(events.len(), 1, "one release expected: {events:?}");
    events[0].clone()
}

/// The audit records that name `event_id`, in index order.
fn audit_of(app: &TestApp, event_id: &str) -> Vec<Value> {
    stored_records(&mut app.database.connect())
        .into_iter()
        .map(|(index, text)| {
            let record: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(record["index"], index);
            record
        })
        .filter(|record| record["event_id"] == event_id)
        .collect()
}

fn kinds(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

#[derive(diesel::QueryableByName)]
struct OutboxRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    data: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    next_attempt_at: i64,
}

/// The outbox row of `event_id`, if it has one (a delivered event's row is deleted).
fn outbox_row(app: &TestApp, event_id: &str) -> Option<OutboxRow> {
    let mut conn = app.database.connect();
    let mut rows: Vec<OutboxRow> = diesel::sql_query(format!(
        "SELECT status, attempts, data, next_attempt_at FROM outbox_events WHERE event_id = '{event_id}'"
    ))
    .load(&mut conn)
    .unwrap();
    assert!(rows.len() <= 1, "one outbox row for {event_id}");
    rows.pop()
}

/// The outbox row of an event that is not delivered.
fn outbox(app: &TestApp, event_id: &str) -> OutboxRow {
    outbox_row(app, event_id).expect("the event is not delivered: it has an outbox row")
}

/// Waits until `event_id` is delivered: its row is gone with a `delivery.succeeded` record.
async fn delivered(app: &TestApp, event_id: &str) {
    eventually(&format!("{event_id} delivered"), || {
        outbox_row(app, event_id).is_none().then_some(())
    })
    .await;
    assert!(
        kinds(&audit_of(app, event_id)).contains(&"delivery.succeeded".to_string()),
        "{event_id}: row gone without a delivery.succeeded record"
    );
}

/// Waits until no release waits for delivery, then checks that `n` transaction releases
/// were delivered, each with its `delivery.succeeded` record. It polls the outbox (a
/// delivered event's row is deleted in the transaction that writes its record), not the
/// audit log, which every poll would have to decompress whole.
async fn releases_delivered(app: &TestApp, n: usize) {
    eventually(&format!("{n} releases delivered"), || {
        let waiting = app.count_sql(
            "SELECT COUNT(*) AS n FROM outbox_events \
             WHERE event_type <> 'consent.revoked' AND status IN ('pending', 'sending')",
        );
        (waiting == 0).then_some(())
    })
    .await;
    let delivered = stored_of_kind(&mut app.database.connect(), "delivery.succeeded")
        .into_iter()
        .filter(|record| record["detail"]["type"] == "transaction.released")
        .count();
    assert_eq!(delivered, n, "transaction releases delivered");
}

#[tokio::test]
async fn a_release_is_delivered_signed_with_exactly_the_released_members() {
    let receiver = Receiver::start();
    let app = app_for(&receiver, "").await;
    let consent = app
        .grant(
            "u-1",
            "bank-a",
            &["fraud_alert"],
            &[
                "transaction.amount_minor",
                "transaction.merchant_name",
                "transaction.card_last4",
            ],
        )
        .await;
    let events = push(&app, "t-1", "u-1").await;
    let [event_id] = events.as_slice() else {
        panic!("one release expected: {events:?}")
    };
    delivered(&app, event_id).await;

    let requests = receiver.requests_for(event_id);
    assert_eq!(requests.len(), 1, "delivered once");
    let request = &requests[0];
    verify(WEBHOOK_SECRET, request).expect("the signature verifies with standardwebhooks");
    assert!(
        verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", request).is_err(),
        "another secret must not verify"
    );
    assert_eq!(request.content_type, "application/json");
    let sent_at: i64 = request.timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);

    let body = &request.json;
    let release = audit_of(&app, event_id)
        .into_iter()
        .find(|r| r["kind"] == "release")
        .unwrap();
    assert_eq!(
        body,
        &json!({
            "event_id": event_id,
            "type": "transaction.released",
            "created_at": body["created_at"],
            "recipient": "messenger",
            "user_id": "u-1",
            "bank": "bank-a",
            "consent_id": consent["id"],
            "purpose": "fraud_alert",
            "data": {"amount_minor": 1299, "merchant_name": "Blue Bottle Coffee", "card_last4": "4242"},
            "usage": {"purpose": "fraud_alert",
                      "prohibited_uses": ["advertising", "ad_targeting", "ad_measurement", "marketing",
                                          "profiling", "cross_selling", "data_sale"]},
            "audit": {"index": release["index"]},
        })
    );
    chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).unwrap();
    assert_matches_published_schema(body);

    // Nothing but the audit records is kept once delivered.
    assert!(outbox_row(&app, event_id).is_none());
    let records = audit_of(&app, event_id);
    assert_eq!(kinds(&records), ["release", "delivery.succeeded"]);
    assert_eq!(
        records[1]["detail"],
        json!({"attempt": 1, "type": "transaction.released", "http_status": 204})
    );
    assert_eq!(records[1]["consent_id"], consent["id"]);
    assert_eq!(records[1]["purpose"], "fraud_alert");
}

#[tokio::test]
async fn during_a_secret_rotation_the_signature_verifies_with_either_secret() {
    let receiver = Receiver::start();
    let new_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let app = spawn_app_with(Options {
        webhook_url: Some(receiver.url.clone()),
        signing_secret_toml: Some(format!("[\"{WEBHOOK_SECRET}\", \"{new_secret}\"]")),
        ..Options::default()
    })
    .await;
    let event_id = &release_one(&app).await;
    delivered(&app, event_id).await;
    let request = &receiver.requests_for(event_id)[0];
    let signatures: Vec<&str> = request.signature.split(' ').collect();
    assert_eq!(signatures.len(), 2, "{}", request.signature);
    assert!(signatures.iter().all(|s| s.starts_with("v1,")));
    verify(WEBHOOK_SECRET, request).expect("the old secret verifies");
    verify(new_secret, request).expect("the new secret verifies");
}

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_gets_the_same_webhook_id_again() {
    let receiver = Receiver::start();
    receiver.answer_with(|_, earlier| {
        if earlier < 2 {
            (500, Duration::ZERO)
        } else {
            (200, Duration::ZERO)
        }
    });
    let app = app_for(&receiver, FAST_RETRIES).await;
    let event_id = &release_one(&app).await;
    delivered(&app, event_id).await;

    let requests = receiver.requests_for(event_id);
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(&request.id, event_id);
        assert_eq!(
            request.body, requests[0].body,
            "every attempt sends the same body"
        );
        verify(WEBHOOK_SECRET, request).unwrap();
    }
    // Back-off: at least half the nominal delay (equal jitter) between attempts.
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(25));
    assert!(requests[2].at - requests[1].at >= Duration::from_millis(50));

    let records = audit_of(&app, event_id);
    assert_eq!(
        kinds(&records),
        [
            "release",
            "delivery.failed",
            "delivery.failed",
            "delivery.succeeded"
        ]
    );
    let details: Vec<&Value> = records[1..].iter().map(|r| &r["detail"]).collect();
    assert_eq!(
        details,
        [
            &json!({"attempt": 1, "type": "transaction.released", "http_status": 500}),
            &json!({"attempt": 2, "type": "transaction.released", "http_status": 500}),
            &json!({"attempt": 3, "type": "transaction.released", "http_status": 200}),
        ]
    );
    assert!(
        outbox_row(&app, event_id).is_none(),
        "delivered on the third attempt"
    );
}

#[tokio::test]
async fn undelivered_events_are_delivered_after_a_restart() {
    let receiver = Receiver::start();
    receiver.answer_with(|_, _| (503, Duration::ZERO));
    let mut app = app_for(&receiver, FAST_RETRIES).await;
    let event_id = &release_one(&app).await;
    eventually("a failed attempt", || {
        kinds(&audit_of(&app, event_id))
            .contains(&"delivery.failed".to_string())
            .then_some(())
    })
    .await;

    app.stop_gateway().await;
    let row = outbox(&app, event_id);
    assert_eq!(row.status, "pending", "stopping left the event waiting");
    assert!(row.attempts >= 1);
    assert_ne!(row.data, "{}", "the payload is kept until delivered");
    receiver.answer_with(|_, _| (204, Duration::ZERO));

    app.start_gateway();
    delivered(&app, event_id).await;
    let requests = receiver.requests_for(event_id);
    assert!(requests.len() >= 2);
    assert!(requests.iter().all(|r| r.body == requests[0].body));
    verify(WEBHOOK_SECRET, requests.last().unwrap()).unwrap();
    let records = audit_of(&app, event_id);
    assert_eq!(records.last().unwrap()["kind"], "delivery.succeeded");
    assert_eq!(
        records.last().unwrap()["detail"]["attempt"],
        json!(requests.len())
    );
}

#[tokio::test]
async fn revocation_cancels_undelivered_events_and_sends_consent_revoked() {
    let receiver = Receiver::start();
    // Releases about u-1 fail; everything else is accepted.
    answer_releases(&receiver, &["u-1"], 500, Duration::ZERO);
    // Retries 1-2 s apart, so no attempt is under way when the revocation commits.
    let app = app_for(&receiver, RETRIES_2S_APART).await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let consent_id = consent["id"].as_str().unwrap();
    let mut cancelled = push(&app, "t-1", "u-1").await;
    cancelled.extend(push(&app, "t-2", "u-1").await);
    assert_eq!(cancelled.len(), 2);
    first_attempts_failed(&app, &cancelled).await;

    assert_eq!(app.revoke("u-1", consent_id).await.status().as_u16(), 200);
    let seen_before_revocation = receiver.requests().len();

    for event_id in &cancelled {
        let row = outbox(&app, event_id);
        assert_eq!(
            (row.status.as_str(), row.data.as_str()),
            ("cancelled", "{}")
        );
        let records = audit_of(&app, event_id);
        let last = records.last().unwrap();
        assert_eq!(last["kind"], "delivery.cancelled");
        assert_eq!(last["detail"]["reason"], "consent_revoked");
    }

    // The recipient is told to delete what it received under the consent.
    let notice = revoked_notice(&receiver).await;
    verify(WEBHOOK_SECRET, &notice).unwrap();
    assert_matches_published_schema(&notice.json);
    chrono::DateTime::parse_from_rfc3339(notice.json["created_at"].as_str().unwrap()).unwrap();
    let revoked_record = {
        let rows: Vec<Value> = stored_of_kind(&mut app.database.connect(), "consent.revoked")
            .into_iter()
            .filter(|record| record["consent_id"] == consent_id)
            .collect();
        assert_eq!(rows.len(), 1);
        rows[0]["index"].as_i64().unwrap()
    };
    assert_eq!(
        notice.json,
        json!({
            "event_id": notice.id,
            "type": "consent.revoked",
            "created_at": notice.json["created_at"],
            "recipient": "messenger",
            "user_id": "u-1",
            "bank": "bank-a",
            "consent_id": consent_id,
            "purpose": null,
            "data": {},
            "usage": {"purpose": null,
                      "prohibited_uses": ["advertising", "ad_targeting", "ad_measurement", "marketing",
                                          "profiling", "cross_selling", "data_sale"]},
            "audit": {"index": revoked_record},
        })
    );

    // The cancelled events' next attempts were due by now; an event made after that goes
    // out after them in claim order, so once it has arrived, they would have too.
    let due = cancelled
        .iter()
        .map(|id| outbox(&app, id).next_attempt_at)
        .max()
        .unwrap();
    eventually("the cancelled events' retry time", || {
        (chrono::Utc::now().timestamp_micros() > due).then_some(())
    })
    .await;
    app.grant_amount_for_fraud_alert("u-2").await;
    let barrier = push(&app, "t-3", "u-2").await;
    delivered(&app, &barrier[0]).await;

    let after: Vec<Received> = receiver.requests()[seen_before_revocation..].to_vec();
    for request in &after {
        assert!(
            !cancelled.contains(&request.id),
            "a cancelled event arrived after the revocation returned"
        );
    }
    for event_id in &cancelled {
        assert_eq!(outbox(&app, event_id).status, "cancelled");
    }
}

/// Waits until each of `events` has had a failed attempt (and so is `pending` again,
/// waiting for its next one).
async fn first_attempts_failed(app: &TestApp, events: &[String]) {
    for event_id in events {
        eventually("a first failed attempt", || {
            (outbox(app, event_id).attempts >= 1).then_some(())
        })
        .await;
    }
}

/// Waits for the `consent.revoked` notice to reach `receiver`.
async fn revoked_notice(receiver: &Receiver) -> Received {
    eventually("the consent.revoked notice", || {
        receiver
            .requests()
            .into_iter()
            .find(|r| r.json["type"] == "consent.revoked")
    })
    .await
}

/// Sleeps into the next whole second of the wall clock.
async fn next_second() {
    let into = chrono::Utc::now().timestamp_subsec_micros();
    tokio::time::sleep(Duration::from_micros(u64::from(1_000_000 - into) + 20_000)).await;
}

#[tokio::test]
async fn a_revocation_cancels_undelivered_events_made_in_different_seconds() {
    // The outbox looks events up by consent within each second that holds undelivered
    // events (its by-consent index is keyed by epoch first): the events of one consent made
    // in three different seconds must all be found, and a second holding only another
    // consent's event is searched without touching it.
    let receiver = Receiver::start();
    answer_releases(&receiver, &["u-1", "u-3"], 500, Duration::ZERO);
    let app = app_for(&receiver, RETRY_A_MINUTE_LATER).await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let consent_id = consent["id"].as_str().unwrap();
    app.grant_amount_for_fraud_alert("u-3").await;
    let mut events = Vec::new();
    events.extend(push(&app, "t-0", "u-1").await);
    next_second().await;
    let other = push(&app, "x-0", "u-3").await;
    next_second().await;
    events.extend(push(&app, "t-1", "u-1").await);
    next_second().await;
    events.extend(push(&app, "t-2", "u-1").await);
    assert_eq!((events.len(), other.len()), (3, 1));
    first_attempts_failed(&app, &events).await;
    first_attempts_failed(&app, &other).await;
    let ids = |events: &[String]| {
        events
            .iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(
        app.count_sql(&format!(
            "SELECT COUNT(DISTINCT epoch) AS n FROM outbox_events WHERE event_id IN ({})",
            ids(&events)
        )),
        3,
        "the events are in three epochs"
    );

    assert_eq!(app.revoke("u-1", consent_id).await.status().as_u16(), 200);

    for event_id in &events {
        assert_eq!(outbox(&app, event_id).status, "cancelled", "{event_id}");
        let records = audit_of(&app, event_id);
        assert_eq!(records.last().unwrap()["kind"], "delivery.cancelled");
    }
    // Finished rows leave the epochs a lookup searches; the other consent's event waits on.
    assert_eq!(
        app.count_sql(&format!(
            "SELECT COUNT(*) AS n FROM outbox_events WHERE event_id IN ({}) AND epoch IS NOT NULL",
            ids(&events)
        )),
        0
    );
    assert_eq!(outbox(&app, &other[0]).status, "pending");
    assert_eq!(
        app.count_sql(&format!(
            "SELECT COUNT(*) AS n FROM outbox_events WHERE event_id = '{}' AND epoch IS NOT NULL",
            other[0]
        )),
        1
    );
    let notice = revoked_notice(&receiver).await;
    assert_eq!(notice.json["consent_id"], consent_id);
}

#[tokio::test]
async fn a_revocation_during_an_attempt_answers_after_that_attempt_ended() {
    let receiver = Receiver::start();
    // The release is answered slowly; the notice at once.
    answer_releases(&receiver, &[], 204, Duration::from_millis(1500));
    let app = app_for(&receiver, "").await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let consent_id = consent["id"].as_str().unwrap();
    let events = push(&app, "t-1", "u-1").await;
    let event_id = &events[0];
    eventually("the attempt to reach the receiver", || {
        (!receiver.requests_for(event_id).is_empty()).then_some(())
    })
    .await;

    assert_eq!(app.revoke("u-1", consent_id).await.status().as_u16(), 200);
    // When DELETE answers, the attempt that was under way has ended and is on record.
    let records = audit_of(&app, event_id);
    assert_eq!(
        kinds(&records),
        ["release", "delivery.cancelled", "delivery.succeeded"]
    );
    assert_eq!(records[2]["detail"]["cancelled_during_attempt"], true);
    assert_eq!(outbox(&app, event_id).status, "cancelled");

    let notice = revoked_notice(&receiver).await;
    assert_eq!(notice.json["consent_id"], consent_id);
    assert_eq!(receiver.requests_for(event_id).len(), 1);
}

#[tokio::test]
async fn events_claimed_ahead_and_not_yet_sent_are_not_sent_after_a_revocation() {
    let receiver = Receiver::start();
    let app = app_for(&receiver, "").await;
    // Fast answers first, so the worker learns a fast pace and claims far ahead.
    app.grant_amount_for_fraud_alert("u-2").await;
    push_many(&app, "w", "u-2", 40).await;
    releases_delivered(&app, 40).await;

    // Now every release is answered slowly: CONCURRENCY are in flight, the rest wait claimed.
    answer_releases(&receiver, &[], 204, Duration::from_millis(1500));
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let consent_id = consent["id"].as_str().unwrap();
    push_many(&app, "t", "u-1", 200).await;
    let of_u1 = |receiver: &Receiver| {
        receiver
            .requests()
            .into_iter()
            .filter(|r| r.json["user_id"] == "u-1" && r.json["type"] == "transaction.released")
            .count()
    };
    eventually("attempts under way", || {
        (of_u1(&receiver) > 0).then_some(())
    })
    .await;
    let claimed_ahead = app.count_sql(&format!(
        "SELECT COUNT(*) AS n FROM outbox_events WHERE consent_id = '{consent_id}' AND status = 'sending'"
    ));
    assert!(
        claimed_ahead > CONCURRENCY as i64,
        "more claimed than in flight: {claimed_ahead}"
    );

    assert_eq!(app.revoke("u-1", consent_id).await.status().as_u16(), 200);
    let sent_by_then = of_u1(&receiver);
    assert!(
        sent_by_then <= CONCURRENCY,
        "only attempts under way were sent: {sent_by_then}"
    );
    // Nothing more leaves under the revoked consent; the notice does.
    revoked_notice(&receiver).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(of_u1(&receiver), sent_by_then);
    assert_eq!(
        app.count_sql(&format!(
            "SELECT COUNT(*) AS n FROM outbox_events WHERE consent_id = '{consent_id}' \
             AND event_type = 'transaction.released' AND (status <> 'cancelled' OR claim_token IS NOT NULL)"
        )),
        0,
        "every event of the consent is cancelled and no claim on it is left"
    );
    let cancelled = stored_of_kind(&mut app.database.connect(), "delivery.cancelled")
        .into_iter()
        .filter(|r| r["consent_id"] == consent_id)
        .count();
    assert_eq!(cancelled, 200, "each event's cancellation is audited");
}

#[tokio::test]
async fn an_event_is_dead_lettered_after_the_configured_attempts() {
    let receiver = Receiver::start();
    receiver.answer_with(|_, _| (500, Duration::ZERO));
    let app = app_for(
        &receiver,
        "[delivery]\nmax_attempts = 3\ninitial_backoff = \"50ms\"\nmax_backoff = \"200ms\"\n",
    )
    .await;
    let event_id = &release_one(&app).await;
    eventually("dead-lettering", || {
        (outbox(&app, event_id).status == "dead_lettered").then_some(())
    })
    .await;

    assert_eq!(receiver.requests_for(event_id).len(), 3);
    let row = outbox(&app, event_id);
    assert_eq!((row.attempts, row.data.as_str()), (3, "{}"));
    let records = audit_of(&app, event_id);
    assert_eq!(
        kinds(&records),
        [
            "release",
            "delivery.failed",
            "delivery.failed",
            "delivery.failed",
            "delivery.dead_lettered"
        ]
    );
    for (n, record) in records[1..4].iter().enumerate() {
        assert_eq!(
            record["detail"],
            json!({"attempt": n + 1, "type": "transaction.released", "http_status": 500})
        );
    }
    let last_failed = records[3]["index"].as_i64().unwrap();
    assert_eq!(records[4]["index"].as_i64().unwrap(), last_failed + 1);
    assert_eq!(
        records[4]["detail"],
        json!({"attempts": 3, "type": "transaction.released"})
    );
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_failed_attempt() {
    let receiver = Receiver::start();
    receiver.answer_with(|_, earlier| {
        if earlier == 0 {
            (204, Duration::from_secs(3))
        } else {
            (204, Duration::ZERO)
        }
    });
    let app = app_for(
        &receiver,
        "[delivery]\ntimeout = \"300ms\"\ninitial_backoff = \"50ms\"\nmax_backoff = \"200ms\"\n",
    )
    .await;
    let event_id = &release_one(&app).await;
    delivered(&app, event_id).await;
    let records = audit_of(&app, event_id);
    assert_eq!(
        kinds(&records),
        ["release", "delivery.failed", "delivery.succeeded"]
    );
    assert_eq!(
        records[1]["detail"],
        json!({"attempt": 1, "type": "transaction.released", "error": "timeout"})
    );
}

#[tokio::test]
async fn a_claim_left_by_a_crashed_node_expires_and_the_event_is_delivered() {
    let receiver = Receiver::start();
    receiver.answer_with(|_, _| (503, Duration::ZERO));
    let mut app = app_for(&receiver, FAST_RETRIES).await;
    let event_id = &release_one(&app).await;
    eventually("a failed attempt", || {
        (outbox(&app, event_id).attempts >= 1).then_some(())
    })
    .await;
    app.stop_gateway().await;
    // As a node that died while sending would leave it: claimed, lease running.
    let lease_end = chrono::Utc::now().timestamp_micros() + 1_000_000;
    app.execute_sql(&format!(
        "UPDATE outbox_events SET status = 'sending', claim_token = 'crashed-node', \
         next_attempt_at = {lease_end} WHERE event_id = '{event_id}'"
    ));
    receiver.answer_with(|_, _| (204, Duration::ZERO));
    app.start_gateway();
    delivered(&app, event_id).await;
    let records = audit_of(&app, event_id);
    assert_eq!(records.last().unwrap()["kind"], "delivery.succeeded");
}

#[tokio::test]
async fn two_gateways_on_one_database_send_each_event_once() {
    let receiver = Receiver::start();
    // Slow enough answers that both nodes have claims in flight at once.
    receiver.answer_with(|_, _| (204, Duration::from_millis(20)));
    let app = app_for(&receiver, "").await;
    let mut second = app.spawn_second_node();

    app.grant_amount_for_fraud_alert("u-1").await;
    push_many(&app, "t", "u-1", 120).await;
    releases_delivered(&app, 120).await;

    let requests = receiver.requests();
    let mut ids: Vec<&str> = requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 120, "no event was sent twice");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 120);
    assert_eq!(
        stored_of_kind(&mut app.database.connect(), "delivery.succeeded").len(),
        120
    );
    second.stop().await;
}

#[tokio::test]
async fn more_events_than_one_claim_holds_are_each_delivered_once_and_audited() {
    let receiver = Receiver::start();
    let app = app_for(&receiver, "").await;
    app.grant_amount_for_fraud_alert("u-1").await;
    // More than a first round of attempts (CONCURRENCY), so the worker claims again while earlier
    // events are still being sent and recorded.
    push_many(&app, "t", "u-1", 600).await;
    releases_delivered(&app, 600).await;
    assert_eq!(
        app.count_sql(
            "SELECT COUNT(*) AS n FROM outbox_events WHERE event_type = 'transaction.released'"
        ),
        0,
        "no delivered event keeps its row"
    );

    let mut ids: Vec<String> = receiver.requests().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 600, "no event was sent twice");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 600);
    let mut audited: Vec<String> =
        stored_of_kind(&mut app.database.connect(), "delivery.succeeded")
            .into_iter()
            .map(|record| record["event_id"].as_str().unwrap().to_string())
            .collect();
    audited.sort_unstable();
    assert_eq!(audited, ids, "one delivery.succeeded record per event sent");
}

/// Waits until `event_id` is cancelled and checks what is left of it: no payload, no
/// `delivery.succeeded`, one `delivery.cancelled` for the consent's expiry.
async fn cancelled_for_expiry(app: &TestApp, event_id: &str) {
    let row = eventually(&format!("{event_id} cancelled"), || {
        outbox_row(app, event_id).filter(|row| row.status == "cancelled")
    })
    .await;
    assert_eq!(
        row.data, "{}",
        "the payload of a cancelled event is deleted"
    );
    let records = audit_of(app, event_id);
    let kinds = kinds(&records);
    assert!(
        !kinds.contains(&"delivery.succeeded".to_string()),
        "{kinds:?}"
    );
    let cancellations: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "delivery.cancelled")
        .map(|r| &r["detail"])
        .collect();
    assert_eq!(
        cancellations,
        [&json!({"type": "transaction.released", "reason": "consent_expired"})]
    );
}

/// Makes `receiver` answer the release events about `users` (about anyone when empty) with
/// `status` after `delay`, and everything else 204 at once.
fn answer_releases(
    receiver: &Receiver,
    users: &'static [&'static str],
    status: u16,
    delay: Duration,
) {
    receiver.answer_with(move |body, _| {
        let about = |user: &&str| body["user_id"] == *user;
        if body["type"] == "transaction.released" && (users.is_empty() || users.iter().any(about)) {
            (status, delay)
        } else {
            (204, Duration::ZERO)
        }
    });
}

/// Makes `receiver` answer 500 until the returned switch is set, and 204 from then on.
fn failing_until_accepting(receiver: &Receiver) -> Arc<AtomicBool> {
    let accepting = Arc::new(AtomicBool::new(false));
    let accepts = Arc::clone(&accepting);
    receiver.answer_with(move |_, _| {
        if accepts.load(Ordering::SeqCst) {
            (204, Duration::ZERO)
        } else {
            (500, Duration::ZERO)
        }
    });
    accepting
}

#[tokio::test]
async fn a_release_whose_consent_expires_before_its_delivery_is_cancelled_not_sent() {
    let receiver = Receiver::start();
    let accepting = failing_until_accepting(&receiver);
    let app = app_for(&receiver, FAST_RETRIES).await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let event_id = &push(&app, "t-1", "u-1").await[0];
    eventually("a failed attempt", || {
        (!receiver.requests_for(event_id).is_empty()).then_some(())
    })
    .await;

    app.expire_consent(consent["id"].as_str().unwrap());
    // An attempt checked before the expiry may still be on its way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The receiver now accepts: a retry (50-200 ms apart) that went out would be delivered,
    // long before the expiry job (every 5 s) could cancel the event.
    accepting.store(true, Ordering::SeqCst);

    // Cancelled by the give-back or by the expiry job, whichever comes first (with retries
    // 50-200 ms apart, almost always the give-back); either writes the expiry first.
    cancelled_for_expiry(&app, event_id).await;
    let consent_id = consent["id"].as_str().unwrap();
    let expired: Vec<Value> = stored_of_kind(&mut app.database.connect(), "consent.expired")
        .into_iter()
        .filter(|record| record["consent_id"] == consent_id)
        .collect();
    assert_eq!(expired.len(), 1, "one consent.expired record: {expired:?}");
    assert_eq!(expired[0]["detail"]["cancelled_events"], 1);
    let cancellation = audit_of(&app, event_id)
        .into_iter()
        .find(|r| r["kind"] == "delivery.cancelled")
        .unwrap();
    assert!(expired[0]["index"].as_u64().unwrap() < cancellation["index"].as_u64().unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answered: Vec<u16> = audit_of(&app, event_id)
        .iter()
        .filter_map(|r| r["detail"]["http_status"].as_u64())
        .map(|s| u16::try_from(s).unwrap())
        .collect();
    assert!(
        answered.iter().all(|s| *s == 500),
        "every attempt went out before the expiry: {answered:?}"
    );
}

#[tokio::test]
async fn the_expiry_job_cancels_the_undelivered_events_of_an_expired_consent() {
    let receiver = Receiver::start();
    receiver.answer_with(|_, _| (500, Duration::ZERO));
    // After its first failure the event waits a minute: no worker looks at it again.
    let app = app_for(&receiver, RETRY_A_MINUTE_LATER).await;
    let consent = app.grant_amount_for_fraud_alert("u-1").await;
    let consent_id = consent["id"].as_str().unwrap();
    let event_id = &push(&app, "t-1", "u-1").await[0];
    eventually("a failed attempt", || {
        (outbox(&app, event_id).attempts == 1).then_some(())
    })
    .await;

    app.expire_consent(consent_id);

    cancelled_for_expiry(&app, event_id).await;
    assert_eq!(receiver.requests_for(event_id).len(), 1);
    let expiries: Vec<Value> = stored_of_kind(&mut app.database.connect(), "consent.expired");
    assert_eq!(expiries.len(), 1);
    assert_eq!(expiries[0]["consent_id"], consent_id);
    assert_eq!(expiries[0]["detail"]["cancelled_events"], 1);
    // The access log says so too.
    let log = app.get_json_as("u-1", "/v1/me/access-log").await;
    let item = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "release" && i["event_id"] == event_id.as_str())
        .unwrap();
    assert_eq!(item["delivery"], "cancelled");
}

/// The value of metric `name` (a line `name value`) in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.api_get("/metrics", None).await.text().await.unwrap();
    consentgate::loadgen::delivery_progress::metric_value(&text, name)
        .expect("the metric is in /metrics")
}

#[tokio::test]
async fn ingest_is_refused_while_the_delivery_backlog_is_at_its_bound_and_stores_nothing() {
    let receiver = Receiver::start();
    let accepting = failing_until_accepting(&receiver);
    let app = app_for(&receiver, &format!("{FAST_RETRIES}max_backlog = 2\n")).await;
    app.grant_amount_for_fraud_alert("u-1").await;
    push_many(&app, "t", "u-1", 2).await;

    // The backlog is counted once a second: within a few, ingest is refused. A try
    // accepted before the count caught up only adds to the backlog.
    let started = Instant::now();
    let mut tries = 0;
    let (refused, refused_txn) = loop {
        tries += 1;
        let txn = format!("late-{tries}");
        let response = app
            .push_transactions(
                &app.pki.bank_a,
                &json!({"transactions": [transaction(&txn, "u-1")]}),
            )
            .await;
        if response.status().as_u16() == 503 {
            break (response, txn);
        }
        assert_eq!(response.status().as_u16(), 202);
        assert!(started.elapsed() < DEADLINE, "ingest never refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let waiting = 2 + tries - 1;
    assert_eq!(
        refused.headers()["retry-after"].to_str().unwrap(),
        consentgate::delivery::backlog::RETRY_AFTER_SECS.to_string()
    );
    problem(refused, 503, "not_ready").await;
    let balances = app
        .push_balances(
            &app.pki.bank_a,
            &json!({"balances": [balance("acct-1", "u-1")]}),
        )
        .await;
    problem(balances, 503, "not_ready").await;
    assert_eq!(
        metric(&app, "consentgate_delivery_backlog").await,
        2,
        "counting stops at the bound"
    );
    assert!(metric(&app, "consentgate_ingest_refused_backlog_total").await >= 2);

    // Once delivery catches up, the same batch is accepted as new: the refusal stored nothing.
    accepting.store(true, Ordering::SeqCst);
    releases_delivered(&app, waiting).await;
    let accepted = loop {
        let response = app
            .push_transactions(
                &app.pki.bank_a,
                &json!({"transactions": [transaction(&refused_txn, "u-1")]}),
            )
            .await;
        if response.status().as_u16() == 202 {
            break response;
        }
        problem(response, 503, "not_ready").await;
        assert!(started.elapsed() < 2 * DEADLINE, "ingest never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "accepted", "{body}");
}
