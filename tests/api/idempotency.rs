//! `Idempotency-Key` on the POSTs that create (issue 15, draft-ietf-httpapi-idempotency-key-header), through plain
//! HTTP calls: a retry is answered the first response with `Idempotent-Replayed: true` and creates nothing; the key
//! with another body is a 422, while the first is in flight a 409; refusals are not remembered; 50 concurrent
//! identical requests make one notification; keys are the service's own and forgotten after 24 hours.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use notify_app::idempotency::{Claim, ClaimResult};
use notify_app::jobs::{self, Job};
use notify_core::idempotency::{LEASE, RETENTION, fingerprint};
use notify_core::model::ServicePermission;
use notify_db::{IdempotentRequest, KeyCompletion};
use notify_tests::letters::StoreDown;
use notify_tests::precompiled::{ADDRESS, letter};
use notify_tests::{Response, TestApp, TestService, token};

use crate::{error_types, messages};

const SMS: &str = "/v2/notifications/sms";
const BULK: &str = "/v2/notifications/bulk";

async fn post(
    app: &TestApp,
    path: &str,
    key: &str,
    idempotency_key: Option<&str>,
    body: &Value,
) -> Response {
    let auth = format!("Bearer {}", token(key));
    let headers: Vec<(&str, &str)> = idempotency_key
        .map(|k| ("idempotency-key", k))
        .into_iter()
        .collect();
    app.request_with_headers(
        "POST",
        path,
        Some(&auth),
        &headers,
        Some(&serde_json::to_vec(body).unwrap()),
    )
    .await
}

fn sms_body(s: &TestService, number: &str) -> Value {
    json!({"phone_number": number, "template_id": s.sms_template, "personalisation": {"name": "Jo"}})
}

fn replayed(r: &Response) -> bool {
    match r.headers.get("idempotent-replayed") {
        None => false,
        Some(v) => {
            assert_eq!(v, "true");
            true
        }
    }
}

async fn count(app: &TestApp, sql: &str, id: Uuid) -> i64 {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.query_one(sql, &[&id]).await.unwrap().get(0)
}

async fn notifications(app: &TestApp, s: &TestService) -> i64 {
    count(
        app,
        "SELECT count(*) FROM notifications WHERE service_id = $1",
        s.service.id,
    )
    .await
}

/// The service's stored responses (not its claims): on its notifications and in `idempotency_keys`.
async fn keys(app: &TestApp, s: &TestService) -> i64 {
    let sql = "SELECT (SELECT count(*) FROM idempotency_keys WHERE service_id = $1) \
               + (SELECT count(*) FROM notifications WHERE service_id = $1 AND idempotency_key IS NOT NULL)";
    count(app, sql, s.service.id).await
}

/// Nothing of `key` is kept: no response, no claim in the store.
async fn forgotten(app: &TestApp, s: &TestService, key: &str) -> bool {
    keys(app, s).await == 0
        && app
            .state
            .claims
            .held(s.service.id, key, Utc::now())
            .await
            .is_none()
}

fn one_error(r: &Response) -> (u16, String, String) {
    let body = r.json();
    assert_eq!(body["status_code"], r.status.as_u16(), "{body}");
    assert_eq!(messages(&body).len(), 1, "{body}");
    (
        r.status.as_u16(),
        error_types(&body)[0].clone(),
        messages(&body)[0].clone(),
    )
}

fn reused() -> (u16, String, String) {
    (
        422,
        "IdempotencyKeyReusedError".into(),
        "Idempotency-Key is already used: it was sent with a different request in the last 24 hours. A key must \
         not be reused across different requests"
            .into(),
    )
}

fn outstanding() -> (u16, String, String) {
    (
        409,
        "ConflictError".into(),
        "A request is outstanding for this Idempotency-Key: a request with the same key is still being processed. \
         Try again shortly"
            .into(),
    )
}

/// The claim stores each test runs against.
#[derive(Clone, Copy, Debug)]
enum Store {
    /// No `REDIS_URL`: `notify dev`, and a Lambda without Redis.
    InProcess,
    /// Redis, as deployed.
    Redis,
    /// A `REDIS_URL` where nothing answers.
    RedisDown,
}

async fn app(store: Store) -> TestApp {
    let url = match store {
        Store::InProcess => return TestApp::new().await,
        Store::Redis => "redis://127.0.0.1:6379",
        Store::RedisDown => "redis://127.0.0.1:1",
    };
    TestApp::with_config(|c| c.api.redis_url = Some(url.into())).await
}

/// Each test, once with each working claim store (service ids are random, so keys in Redis never collide).
macro_rules! with_each_store {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn in_process() {
                super::$test(super::Store::InProcess).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                super::$test(super::Store::Redis).await
            }
        }
    )*};
}

with_each_store!(
    a_retry_is_answered_the_first_response_and_creates_nothing,
    without_a_key_nothing_changes,
    the_key_with_another_request_is_a_422,
    keys_are_the_services_own,
    a_malformed_key_is_a_400_and_creates_nothing,
    a_refused_request_is_not_remembered,
    a_server_error_is_not_remembered,
    a_request_in_flight_is_a_409_until_its_lease_ends,
    a_request_that_finds_its_key_answered_stores_nothing,
    fifty_concurrent_identical_requests_make_one_notification,
    email_scheduled_and_simulated_sends_replay_too,
    a_bulk_job_is_made_once,
    keys_are_forgotten_after_24_hours_and_purged,
);

fn request(s: &TestService, key: &str, body: &Value) -> IdempotentRequest {
    IdempotentRequest {
        service_id: s.service.id,
        key: key.into(),
        fingerprint: fingerprint(
            "POST /v2/notifications/sms",
            &serde_json::to_vec(body).unwrap(),
            Some(body),
        ),
    }
}

/// A claim on `key` as the server makes one for this body, put in the store directly, its lease begun `age` ago.
async fn claim_directly(
    app: &TestApp,
    s: &TestService,
    key: &str,
    body: &Value,
    age: chrono::TimeDelta,
) -> Claim {
    let now = Utc::now();
    let claim = Claim {
        fingerprint: request(s, key, body).fingerprint,
        claim_id: Uuid::new_v4(),
        lease_until: now - age + chrono::TimeDelta::from_std(LEASE).unwrap(),
    };
    assert_eq!(
        app.state.claims.claim(s.service.id, key, &claim, now).await,
        ClaimResult::Claimed
    );
    claim
}

/// What a store that lost its claims (Redis restarted, an entry evicted, another Lambda) holds for `key`.
async fn lose_claim(app: &TestApp, s: &TestService, key: &str) {
    let held = app
        .state
        .claims
        .held(s.service.id, key, Utc::now())
        .await
        .expect("a claim to lose");
    app.state.claims.release(s.service.id, key, &held).await;
    assert!(
        app.state
            .claims
            .held(s.service.id, key, Utc::now())
            .await
            .is_none()
    );
}

async fn a_retry_is_answered_the_first_response_and_creates_nothing(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let first = post(
        &app,
        SMS,
        &s.live_key,
        Some("8e03978e-40d5-43e8-bc93-6894a57f9324"),
        &body,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.json());
    assert!(!replayed(&first));
    let id = first.json()["id"].as_str().unwrap().to_string();
    // The same key quoted (a Structured Field String, as the draft writes it), and the body re-serialised.
    let reordered = json!({"personalisation": {"name": "Jo"}, "template_id": s.sms_template, "phone_number": "07700900123"});
    for (key, body) in [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", &body),
        ("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"", &reordered),
    ] {
        let again = post(&app, SMS, &s.live_key, Some(key), body).await;
        assert_eq!(again.status, 201);
        assert!(replayed(&again));
        assert_eq!(again.bytes, first.bytes, "the first body, byte for byte");
        assert_eq!(again.headers["content-type"], "application/json");
        assert_eq!(again.json()["id"], id.as_str());
    }
    assert_eq!(notifications(&app, &s).await, 1);
    assert_eq!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .len(),
        1,
        "one delivery queued"
    );
    // Another key is another send.
    let other = post(&app, SMS, &s.live_key, Some("another"), &body).await;
    assert_eq!(other.status, 201);
    assert!(!replayed(&other));
    assert_ne!(other.json()["id"], id.as_str());
    assert_eq!(notifications(&app, &s).await, 2);
}

async fn without_a_key_nothing_changes(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let a = post(&app, SMS, &s.live_key, None, &body).await;
    let b = post(&app, SMS, &s.live_key, None, &body).await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 201));
    assert!(!replayed(&a) && !replayed(&b));
    assert_ne!(a.json()["id"], b.json()["id"]);
    assert_eq!(notifications(&app, &s).await, 2);
    assert_eq!(keys(&app, &s).await, 0);
}

async fn the_key_with_another_request_is_a_422(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let first = post(
        &app,
        SMS,
        &s.live_key,
        Some("k1"),
        &sms_body(&s, "07700900123"),
    )
    .await;
    assert_eq!(first.status, 201);
    let other = post(
        &app,
        SMS,
        &s.live_key,
        Some("k1"),
        &sms_body(&s, "07700900456"),
    )
    .await;
    assert_eq!(one_error(&other), reused());
    // Another channel is another request too.
    let email = json!({"email_address": "jo@example.com", "template_id": s.email_template,
        "personalisation": {"name": "Jo", "items": "x"}});
    let r = post(
        &app,
        "/v2/notifications/email",
        &s.live_key,
        Some("k1"),
        &email,
    )
    .await;
    assert_eq!(one_error(&r), reused());
    assert_eq!(notifications(&app, &s).await, 1);
}

async fn keys_are_the_services_own(store: Store) {
    let app = app(store).await;
    let a = app.service(false).await;
    let b = app.service(false).await;
    let ra = post(
        &app,
        SMS,
        &a.live_key,
        Some("shared"),
        &sms_body(&a, "07700900123"),
    )
    .await;
    let rb = post(
        &app,
        SMS,
        &b.live_key,
        Some("shared"),
        &sms_body(&b, "07700900123"),
    )
    .await;
    assert_eq!((ra.status.as_u16(), rb.status.as_u16()), (201, 201));
    assert!(!replayed(&rb));
    assert_eq!(
        (notifications(&app, &a).await, notifications(&app, &b).await),
        (1, 1)
    );
}

async fn a_malformed_key_is_a_400_and_creates_nothing(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let message = "Idempotency-Key must be a string of 1 to 255 printable ASCII characters, optionally in double quotes";
    for key in ["", "\"\"", "\"unterminated", &"x".repeat(256)] {
        let r = post(&app, SMS, &s.live_key, Some(key), &body).await;
        assert_eq!(
            one_error(&r),
            (400, "BadRequestError".into(), message.into()),
            "{key:?}"
        );
    }
    let longest = "x".repeat(255);
    assert_eq!(
        post(&app, SMS, &s.live_key, Some(&longest), &body)
            .await
            .status,
        201
    );
    let auth = format!("Bearer {}", token(&s.live_key));
    let twice = app
        .request_with_headers(
            "POST",
            SMS,
            Some(&auth),
            &[("idempotency-key", "a"), ("idempotency-key", "b")],
            Some(&serde_json::to_vec(&body).unwrap()),
        )
        .await;
    assert_eq!(
        one_error(&twice),
        (
            400,
            "BadRequestError".into(),
            "Idempotency-Key must be sent once".into()
        )
    );
    // Authentication comes first: no key is looked at for a caller not authenticated.
    let r = app
        .request_with_headers("POST", SMS, None, &[("idempotency-key", "")], Some(b"{}"))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(notifications(&app, &s).await, 1);
}

async fn a_refused_request_is_not_remembered(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    // A validation failure (4xx): the corrected request may use the same key.
    let bad = post(
        &app,
        SMS,
        &s.live_key,
        Some("retry-me"),
        &sms_body(&s, "not a number"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.json());
    assert!(forgotten(&app, &s, "retry-me").await);
    let good = post(
        &app,
        SMS,
        &s.live_key,
        Some("retry-me"),
        &sms_body(&s, "07700900123"),
    )
    .await;
    assert_eq!(good.status, 201, "{}", good.json());
    assert!(!replayed(&good));
    // So is a refusal the same request may not get next time: a trial service's team-only recipient.
    let trial = app.service(true).await;
    let r = post(
        &app,
        SMS,
        &trial.live_key,
        Some("t"),
        &sms_body(&trial, "07700900123"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(forgotten(&app, &trial, "t").await);
}

async fn a_server_error_is_not_remembered(store: Store) {
    let mut app = app(store).await;
    let s = app
        .service_with(
            false,
            Some(vec![ServicePermission::Sms, ServicePermission::Letter]),
        )
        .await;
    let content = base64::engine::general_purpose::STANDARD.encode(letter(&ADDRESS, 1));
    let body = json!({"reference": "precompiled", "content": content});
    let files = app.state.files.clone();
    app.use_files(Arc::new(StoreDown));
    let r = post(
        &app,
        "/v2/notifications/letter",
        &s.live_key,
        Some("letter-1"),
        &body,
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.json());
    assert!(forgotten(&app, &s, "letter-1").await);
    app.use_files(files);
    let first = post(
        &app,
        "/v2/notifications/letter",
        &s.live_key,
        Some("letter-1"),
        &body,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.json());
    assert!(!replayed(&first));
    // The precompiled letter's row, its upload's row and the key: one transaction, replayed after.
    let again = post(
        &app,
        "/v2/notifications/letter",
        &s.live_key,
        Some("letter-1"),
        &body,
    )
    .await;
    assert!(replayed(&again));
    assert_eq!(again.bytes, first.bytes);
    let id: Uuid = first.json()["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM precompiled_letters WHERE notification_id = $1",
            id
        )
        .await,
        1
    );
    assert_eq!(notifications(&app, &s).await, 1);
}

async fn a_request_in_flight_is_a_409_until_its_lease_ends(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    claim_directly(&app, &s, "busy", &body, chrono::TimeDelta::zero()).await;
    let r = post(&app, SMS, &s.live_key, Some("busy"), &body).await;
    assert_eq!(one_error(&r), outstanding());
    assert_eq!(
        r.headers["retry-after"], "5",
        "a 409 says when to try again"
    );
    // Another body while it is in flight: the key is still the other request's.
    let r = post(
        &app,
        SMS,
        &s.live_key,
        Some("busy"),
        &sms_body(&s, "07700900456"),
    )
    .await;
    assert_eq!(one_error(&r), reused());
    assert_eq!(notifications(&app, &s).await, 0);

    // A request that died: once its lease is over, a retry takes the key and sends.
    let stale_body = sms_body(&s, "07700900789");
    let expired = chrono::TimeDelta::from_std(LEASE).unwrap() + chrono::TimeDelta::seconds(1);
    claim_directly(&app, &s, "died", &stale_body, expired).await;
    let r = post(&app, SMS, &s.live_key, Some("died"), &stale_body).await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert!(!replayed(&r));
    assert_eq!(notifications(&app, &s).await, 1);
    // The request that lost the key, if it was only slow, can complete nothing: the key is answered.
    let slow = request(&s, "died", &stale_body);
    let late = KeyCompletion {
        created_at: Utc::now(),
        request: &slow,
        status_code: 201,
        response_body: "{}",
        resource_id: None,
    };
    assert!(!app.state.db.complete_idempotency_key(&late).await.unwrap());
    let again = post(&app, SMS, &s.live_key, Some("died"), &stale_body).await;
    assert!(replayed(&again));
    assert_eq!(again.bytes, r.bytes);
    // One that died with another body never answered anything: after its lease the key is free for this one.
    claim_directly(&app, &s, "died-other", &stale_body, expired).await;
    let r = post(
        &app,
        SMS,
        &s.live_key,
        Some("died-other"),
        &sms_body(&s, "07700900456"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert!(!replayed(&r));
    assert_eq!(notifications(&app, &s).await, 2);
    // And the first claim, within its lease, still holds its key.
    assert_eq!(
        one_error(&post(&app, SMS, &s.live_key, Some("busy"), &body).await),
        outstanding()
    );
}

/// Exactly-once does not rest on the claim store: a request that comes to store its notification and finds the
/// key answered (its claim lost, or taken over while it was slow) stores nothing and is answered from the row.
async fn a_request_that_finds_its_key_answered_stores_nothing(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let first = post(&app, SMS, &s.live_key, Some("k"), &body).await;
    assert_eq!(first.status, 201, "{}", first.json());
    // The store forgets the claim: a repeat runs the pipeline again, and is answered the first response.
    lose_claim(&app, &s, "k").await;
    let again = post(&app, SMS, &s.live_key, Some("k"), &body).await;
    assert_eq!(again.status, 201, "{}", again.json());
    assert!(replayed(&again));
    assert_eq!(again.bytes, first.bytes);
    // Another body: a 422, and its claim is not left behind to misname the key's request.
    lose_claim(&app, &s, "k").await;
    let other = post(
        &app,
        SMS,
        &s.live_key,
        Some("k"),
        &sms_body(&s, "07700900456"),
    )
    .await;
    assert_eq!(one_error(&other), reused());
    assert!(
        app.state
            .claims
            .held(s.service.id, "k", Utc::now())
            .await
            .is_none()
    );
    let third = post(&app, SMS, &s.live_key, Some("k"), &body).await;
    assert!(replayed(&third));
    assert_eq!(third.bytes, first.bytes);
    assert_eq!(notifications(&app, &s).await, 1);
    assert_eq!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .len(),
        1,
        "one delivery queued"
    );

    // Two requests that both believe they hold a key, at the statement itself: the second stores nothing.
    let key = request(&s, "both", &body);
    let new = notify_db::NewNotification {
        id: Uuid::new_v4(),
        to: "07700900123".into(),
        normalised_to: Some("447700900123".into()),
        service_id: s.service.id,
        template_id: s.sms_template,
        template_version: 1,
        api_key_id: None,
        key_type: notify_core::model::KeyType::Normal,
        notification_type: notify_core::model::NotificationType::Sms,
        created_at: Utc::now(),
        status: notify_core::model::NotificationStatus::Created,
        client_reference: None,
        encrypted_personalisation: None,
        international: false,
        phone_prefix: None,
        rate_multiplier: None,
        reply_to_text: None,
        postage: None,
        unsubscribe_link: None,
        billable_units: 0,
        created_by_id: None,
        job_id: None,
        job_row_number: None,
        reference: None,
        callback_url: None,
        document_download_count: None,
    };
    let completion = KeyCompletion {
        created_at: Utc::now(),
        request: &key,
        status_code: 201,
        response_body: "{}",
        resource_id: Some(new.id),
    };
    assert!(
        app.state
            .db
            .insert_notification_completing_key(&new, None, None, Some(&completion))
            .await
            .unwrap()
    );
    for scheduled_for in [None, Some(Utc::now() + chrono::TimeDelta::hours(1))] {
        let second = notify_db::NewNotification {
            id: Uuid::new_v4(),
            ..new.clone()
        };
        let completion = KeyCompletion {
            created_at: Utc::now(),
            request: &key,
            status_code: 201,
            response_body: "{\"second\":true}",
            resource_id: Some(second.id),
        };
        let stored = app
            .state
            .db
            .insert_notification_completing_key(&second, None, scheduled_for, Some(&completion))
            .await
            .unwrap();
        assert!(!stored, "the key was answered first");
    }
    assert_eq!(notifications(&app, &s).await, 2);
    let answer = app
        .state
        .db
        .answered_idempotency_key(s.service.id, "both", Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.response_body, "{}", "the first response is kept");
}

async fn fifty_concurrent_identical_requests_make_one_notification(store: Store) {
    let app = Arc::new(app(store).await);
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..50u64 {
        let (app, key, body) = (app.clone(), s.live_key.clone(), body.clone());
        // Half at once, half spread over the next second: some meet the first in flight, some after it.
        let delay = Duration::from_millis(if i < 25 { 0 } else { (i - 25) * 40 });
        requests.spawn(async move {
            tokio::time::sleep(delay).await;
            post(&app, SMS, &key, Some("same-key"), &body).await
        });
    }
    let answers = requests.join_all().await;
    let created: Vec<&Response> = answers.iter().filter(|r| r.status == 201).collect();
    let conflicts = answers.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        created.len() + conflicts,
        50,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status == 409) {
        assert_eq!(one_error(r), outstanding());
    }
    let first: Vec<&&Response> = created.iter().filter(|r| !replayed(r)).collect();
    assert_eq!(first.len(), 1, "exactly one request made the notification");
    eprintln!(
        "50 concurrent: {} created ({} replayed), {conflicts} in flight (409)",
        created.len(),
        created.len() - 1
    );
    for r in &created {
        assert_eq!(r.bytes, first[0].bytes, "every 201 is the first body");
    }
    assert_eq!(notifications(&app, &s).await, 1);
    // After the first completed, every retry is a replay.
    let after = post(&app, SMS, &s.live_key, Some("same-key"), &body).await;
    assert!(replayed(&after));
    assert_eq!(after.bytes, first[0].bytes);
    assert_eq!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .len(),
        1
    );
}

async fn email_scheduled_and_simulated_sends_replay_too(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let email = json!({"email_address": "jo@example.com", "template_id": s.email_template,
        "personalisation": {"name": "Jo", "items": "x"}});
    let scheduled = json!({"phone_number": "07700900123", "template_id": s.sms_template,
        "personalisation": {"name": "Jo"},
        "scheduled_for": (Utc::now() + chrono::TimeDelta::hours(2)).format("%Y-%m-%dT%H:%M:%S").to_string()});
    // A simulated number: nothing is stored, and the answer (with its id) is still the same on a retry.
    let simulated = sms_body(&s, "07700900000");
    for (key, path, body, stored) in [
        ("email", "/v2/notifications/email", &email, 1),
        ("scheduled", SMS, &scheduled, 1),
        ("simulated", SMS, &simulated, 0),
    ] {
        let before = notifications(&app, &s).await;
        let first = post(&app, path, &s.live_key, Some(key), body).await;
        assert_eq!(first.status, 201, "{key} {}", first.json());
        let again = post(&app, path, &s.live_key, Some(key), body).await;
        assert!(replayed(&again), "{key}");
        assert_eq!(again.bytes, first.bytes, "{key}");
        assert_eq!(notifications(&app, &s).await - before, stored, "{key}");
        if key == "scheduled" {
            let id: Uuid = first.json()["id"].as_str().unwrap().parse().unwrap();
            let sql = "SELECT count(*) FROM scheduled_notifications WHERE notification_id = $1";
            assert_eq!(count(&app, sql, id).await, 1);
        }
    }
}

async fn a_bulk_job_is_made_once(store: Store) {
    let mut app = app(store).await;
    let s = app.service(false).await;
    let body = json!({"name": "people.csv", "template_id": s.sms_template,
        "rows": [["phone number", "name"], ["07700900123", "A"], ["07700900456", "B"]]});
    // The file store away: a 503, not remembered.
    let files = app.state.files.clone();
    app.use_files(Arc::new(StoreDown));
    let r = post(&app, BULK, &s.live_key, Some("job-1"), &body).await;
    assert_eq!(r.status, 503, "{}", r.json());
    assert!(forgotten(&app, &s, "job-1").await);
    app.use_files(files);
    let first = post(&app, BULK, &s.live_key, Some("job-1"), &body).await;
    assert_eq!(first.status, 201, "{}", first.json());
    assert!(!replayed(&first));
    let again = post(&app, BULK, &s.live_key, Some("job-1"), &body).await;
    assert_eq!(again.status, 201);
    assert!(replayed(&again));
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE service_id = $1",
            s.service.id
        )
        .await,
        1
    );
    assert_eq!(
        app.queue.take_all(&app.state.config.queues.jobs).len(),
        1,
        "one ProcessJob"
    );
    let mut other = body.clone();
    other["name"] = "other.csv".into();
    assert_eq!(
        one_error(&post(&app, BULK, &s.live_key, Some("job-1"), &other).await),
        reused()
    );
    // The bulk endpoint's answer without a key is unchanged: the job body, made from the same job.
    let plain = post(&app, BULK, &s.live_key, None, &other).await;
    assert_eq!(plain.status, 201);
    assert_eq!(plain.json()["data"]["original_file_name"], "other.csv");
}

async fn keys_are_forgotten_after_24_hours_and_purged(store: Store) {
    let app = app(store).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let answered_at = |age: chrono::TimeDelta| Utc::now() - age;
    let old = |key: &str| request(&s, key, &body);
    // A key answered 25 hours ago: forgotten, so the same key sends again (and its row is the new answer).
    let yesterday = old("yesterday");
    let completion = KeyCompletion {
        created_at: answered_at(RETENTION + chrono::TimeDelta::hours(1)),
        request: &yesterday,
        status_code: 201,
        response_body: "{\"id\":\"old\"}",
        resource_id: None,
    };
    assert!(
        app.state
            .db
            .complete_idempotency_key(&completion)
            .await
            .unwrap()
    );
    let r = post(&app, SMS, &s.live_key, Some("yesterday"), &body).await;
    assert_eq!(r.status, 201);
    assert!(!replayed(&r));
    assert_ne!(r.bytes, b"{\"id\":\"old\"}");

    // Three old answered keys and one fresh: the job removes the old ones only.
    for key in ["a", "b", "c"] {
        let request = old(key);
        let completion = KeyCompletion {
            created_at: answered_at(RETENTION + chrono::TimeDelta::minutes(5)),
            request: &request,
            status_code: 201,
            response_body: "{}",
            resource_id: None,
        };
        assert!(
            app.state
                .db
                .complete_idempotency_key(&completion)
                .await
                .unwrap()
        );
    }
    // The stale row of "yesterday", its fresh answer on the notification, "a", "b", "c".
    assert_eq!(keys(&app, &s).await, 5);
    let report = purge(&app).await;
    assert_eq!(report, json!({"idempotency_keys_removed": 4}));
    assert_eq!(keys(&app, &s).await, 1);
    let again = post(&app, SMS, &s.live_key, Some("yesterday"), &body).await;
    assert!(replayed(&again), "the fresh key is kept");
    assert_eq!(again.bytes, r.bytes);
    assert_eq!(
        Job::DeleteExpiredIdempotencyKeys.schedule().expression(),
        "rate(60 minutes)"
    );

    // A key kept on a notification past its 24 hours, the purge not yet run: forgotten, so it sends again, and
    // the purge then clears what is left on the old notification.
    let sent = post(&app, SMS, &s.live_key, Some("day-old"), &body).await;
    assert_eq!(sent.status, 201);
    let first_id = sent.json()["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    age_notification(&app, first_id, RETENTION + chrono::TimeDelta::minutes(5)).await;
    // Its claim would have expired with it.
    lose_claim(&app, &s, "day-old").await;
    let before = notifications(&app, &s).await;
    let resent = post(&app, SMS, &s.live_key, Some("day-old"), &body).await;
    assert_eq!(resent.status, 201);
    assert!(!replayed(&resent));
    assert_ne!(resent.json()["id"], sent.json()["id"]);
    assert_eq!(notifications(&app, &s).await, before + 1);
    let again = post(&app, SMS, &s.live_key, Some("day-old"), &body).await;
    assert!(replayed(&again));
    assert_eq!(
        again.bytes, resent.bytes,
        "the new notification is the key's answer now"
    );

    let stale = post(&app, SMS, &s.live_key, Some("stale-on-row"), &body).await;
    let stale_id = stale.json()["id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    age_notification(&app, stale_id, RETENTION + chrono::TimeDelta::minutes(5)).await;
    let report = purge(&app).await;
    assert_eq!(report, json!({"idempotency_keys_removed": 1}));
    let held = "SELECT count(*) FROM notifications WHERE id = $1 AND idempotency_key IS NOT NULL";
    assert_eq!(count(&app, held, stale_id).await, 0);
    assert_eq!(
        count(
            &app,
            held,
            resent.json()["id"].as_str().unwrap().parse().unwrap()
        )
        .await,
        1
    );
}

/// One run of `delete-expired-idempotency-keys`: its report.
async fn purge(app: &TestApp) -> Value {
    jobs::run(
        &app.state,
        Job::DeleteExpiredIdempotencyKeys,
        Duration::from_secs(30),
    )
    .await
    .unwrap()
}

/// Moves a notification's `created_at` back by `age`, as if it had been sent then.
async fn age_notification(app: &TestApp, id: Uuid, age: chrono::TimeDelta) {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let at = Utc::now() - age;
    client
        .execute(
            "UPDATE notifications SET created_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .await
        .unwrap();
}

/// Redis down (or a value in it unreadable): every request goes on without a claim, and the key still makes one
/// notification, by the notifications' unique key index. A repeat of an answered request is answered from Postgres; a
/// concurrent one, with no claim to say it is in flight, runs and is answered the first response (no 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_claim_store_down_a_key_still_makes_one_notification() {
    let app = Arc::new(app(Store::RedisDown).await);
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let first = post(&app, SMS, &s.live_key, Some("k"), &body).await;
    assert_eq!(
        first.status, 201,
        "a claim store outage does not stop sends"
    );
    assert!(!replayed(&first));
    let again = post(&app, SMS, &s.live_key, Some("k"), &body).await;
    assert!(replayed(&again));
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(
        one_error(
            &post(
                &app,
                SMS,
                &s.live_key,
                Some("k"),
                &sms_body(&s, "07700900456")
            )
            .await
        ),
        reused()
    );
    let bad = post(
        &app,
        SMS,
        &s.live_key,
        Some("fix-me"),
        &sms_body(&s, "not a number"),
    )
    .await;
    assert_eq!(bad.status, 400);
    let fixed = post(&app, SMS, &s.live_key, Some("fix-me"), &body).await;
    assert_eq!(fixed.status, 201);
    assert!(!replayed(&fixed));
    assert_eq!(notifications(&app, &s).await, 2);

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, key, body) = (app.clone(), s.live_key.clone(), body.clone());
        requests.spawn(async move { post(&app, SMS, &key, Some("at-once"), &body).await });
    }
    let answers = requests.join_all().await;
    assert!(
        answers.iter().all(|r| r.status == 201),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let made: Vec<&Response> = answers.iter().filter(|r| !replayed(r)).collect();
    assert_eq!(made.len(), 1, "exactly one request made the notification");
    assert!(answers.iter().all(|r| r.bytes == made[0].bytes));
    assert_eq!(notifications(&app, &s).await, 3);
    assert_eq!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .len(),
        3
    );
}

/// In Redis a claim is every process's: a request in flight in one Lambda is a 409 in another.
#[tokio::test]
async fn claims_in_redis_are_seen_by_every_process() {
    let app = app(Store::Redis).await;
    let s = app.service(false).await;
    let body = sms_body(&s, "07700900123");
    let other = notify_app::AppState::new(
        (*app.state.config).clone(),
        app.state.db.clone(),
        app.queue.clone(),
    );
    let now = Utc::now();
    let claim = Claim {
        fingerprint: request(&s, "elsewhere", &body).fingerprint,
        claim_id: Uuid::new_v4(),
        lease_until: now + chrono::TimeDelta::from_std(LEASE).unwrap(),
    };
    assert_eq!(
        other
            .claims
            .claim(s.service.id, "elsewhere", &claim, now)
            .await,
        ClaimResult::Claimed
    );
    let r = post(&app, SMS, &s.live_key, Some("elsewhere"), &body).await;
    assert_eq!(one_error(&r), outstanding());
    // Released there (its request refused): sent here.
    other
        .claims
        .release(s.service.id, "elsewhere", &claim)
        .await;
    let r = post(&app, SMS, &s.live_key, Some("elsewhere"), &body).await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(notifications(&app, &s).await, 1);
}
