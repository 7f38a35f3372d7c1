//! The delivery pipeline in-process: claim → provider (plain values, no DB connection) → record; receipts through
//! the status queue; duplicates send once; test keys reach their simulated outcomes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use notify_app::delivery::Outcome;
use notify_app::status::StatusBody;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_outbound::providers::{
    Accepted, EmailProvider, ProviderError, Providers, SimulatedProvider, SmsMessage, SmsProvider,
};
use notify_runtime::workers;
use notify_runtime::workers::WorkerSettings;
use notify_tests::TestApp;
use serde_json::json;
use uuid::Uuid;

const WORKER_APP_NAME: &str = "notify-test-worker";

/// A provider that counts its calls and, while handling each one, counts the worker's open database
/// connections from another connection.
struct CountingProvider {
    calls: AtomicUsize,
    connections_seen: std::sync::Mutex<Vec<i64>>,
    observer: tokio_postgres::Client,
    fail_with: Option<ProviderError>,
}

#[async_trait]
impl SmsProvider for CountingProvider {
    fn name(&self) -> &str {
        "counting"
    }
    fn supports_international(&self) -> bool {
        true
    }
    async fn send_sms(&self, _message: &SmsMessage) -> Result<Accepted, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let open = notify_tests::connections_held(&self.observer, WORKER_APP_NAME).await;
        self.connections_seen.lock().unwrap().push(open);
        match &self.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(Accepted {
                reference: Uuid::new_v4().to_string(),
                status: NotificationStatus::Sending,
            }),
        }
    }
}

async fn observer(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The worker's own state: short-lived connections under its own application name.
fn worker_state(app: &TestApp) -> notify_app::AppState {
    let db = notify_db::Db::connect_short_lived(&app.database_url, 4, WORKER_APP_NAME).unwrap();
    notify_app::AppState::new((*app.state.config).clone(), db, app.queue.clone())
}

fn providers(app: &TestApp, sms: Vec<Arc<dyn SmsProvider>>) -> Providers {
    Providers::new(
        sms,
        Vec::<Arc<dyn EmailProvider>>::new(),
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    )
}

/// The status worker's batch, returning the messages it wants back later.
async fn apply(state: &notify_app::AppState, messages: &[Message]) -> Vec<Message> {
    let bodies: Vec<StatusBody> = messages.iter().cloned().map(StatusBody::Task).collect();
    notify_app::status::handle_batch(state, &bodies)
        .await
        .unwrap()
        .into_iter()
        .map(|i| messages[i].clone())
        .collect()
}

#[tokio::test]
async fn no_connection_is_open_during_the_provider_call_and_duplicates_send_once() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let id = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let provider = Arc::new(CountingProvider {
        calls: AtomicUsize::new(0),
        connections_seen: Default::default(),
        observer: observer(&app).await,
        fail_with: None,
    });
    let state = worker_state(&app);
    let providers = providers(&app, vec![provider.clone()]);
    let outcome = notify_app::delivery::deliver(&state, &providers, id)
        .await
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Sent { ref provider, .. } if provider == "counting"),
        "{outcome:?}"
    );
    // The same message again, as SQS may deliver it.
    assert_eq!(
        notify_app::delivery::deliver(&state, &providers, id)
            .await
            .unwrap(),
        Outcome::AlreadyHandled
    );
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        1,
        "exactly one provider call"
    );
    assert_eq!(
        *provider.connections_seen.lock().unwrap(),
        [0],
        "no worker connection open during the send"
    );

    let n = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(n["status"], "sending");
    assert_eq!(
        n["cost_details"]["billable_sms_fragments"], 1,
        "prefix included: 'Test service …: Hello x'"
    );
    assert!(n["sent_at"].is_string());
}

#[tokio::test]
async fn failover_then_retry_then_permanent_failure() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let state = worker_state(&app);
    let failing = |e: ProviderError, client| {
        Arc::new(CountingProvider {
            calls: AtomicUsize::new(0),
            connections_seen: Default::default(),
            observer: client,
            fail_with: Some(e),
        })
    };
    let down = failing(ProviderError::Retryable("500".into()), observer(&app).await);
    let up = failing(
        ProviderError::Retryable("unused".into()),
        observer(&app).await,
    );
    let up = Arc::new(CountingProvider {
        fail_with: None,
        ..Arc::try_unwrap(up).ok().unwrap()
    });

    let id = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let outcome =
        notify_app::delivery::deliver(&state, &providers(&app, vec![down.clone(), up.clone()]), id)
            .await
            .unwrap();
    assert!(matches!(outcome, Outcome::Sent { ref provider, .. } if provider == "counting"));
    assert_eq!(
        (
            down.calls.load(Ordering::SeqCst),
            up.calls.load(Ordering::SeqCst)
        ),
        (1, 1),
        "failed over to the second"
    );

    let id = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let both_down = providers(&app, vec![down.clone()]);
    assert!(matches!(
        notify_app::delivery::deliver(&state, &both_down, id)
            .await
            .unwrap(),
        Outcome::Retry(_)
    ));
    let n = app.stored(s.service.id, id).await;
    assert_eq!(
        n.status,
        NotificationStatus::Created,
        "back to created for the retry"
    );

    let rejecting = failing(
        ProviderError::Permanent("rejected recipient".into()),
        observer(&app).await,
    );
    assert!(matches!(
        notify_app::delivery::deliver(&state, &providers(&app, vec![rejecting]), id)
            .await
            .unwrap(),
        Outcome::Failed(_)
    ));
    let n = app.stored(s.service.id, id).await;
    assert_eq!(n.status, NotificationStatus::TechnicalFailure);
}

#[tokio::test]
async fn test_keys_reach_their_simulated_outcomes_through_the_status_queue() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let cases = [
        ("07700900003", "temporary-failure"),
        ("07700900002", "permanent-failure"),
        ("07700900456", "delivered"),
    ];
    let mut ids = Vec::new();
    for (number, expected) in cases {
        ids.push((
            app.send_sms(&s.test_key, s.sms_template, number, None)
                .await,
            expected,
        ));
    }
    let r = app
        .call("POST", "/v2/notifications/email", &s.test_key, Some(json!({"email_address": "perm-fail@simulator.notify", "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}})))
        .await;
    ids.push((
        r.json()["id"].as_str().unwrap().parse().unwrap(),
        "permanent-failure",
    ));

    let state = worker_state(&app);
    let settings = WorkerSettings {
        deliver_queues: vec!["deliver-sms".into(), "deliver-email".into()],
        status_queue: "status".into(),
        delivery_concurrency: 10,
        status_batch_size: 100,
        batching_window: std::time::Duration::from_millis(200),
    };
    let handles =
        workers::spawn_in_process(state, providers(&app, vec![]), app.queue.clone(), settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for (id, expected) in ids {
        loop {
            let n = app
                .call("GET", &format!("/v2/notifications/{id}"), &s.test_key, None)
                .await
                .json();
            if n["status"] == expected {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} stuck at {}",
                n["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for h in handles {
        h.abort();
    }
}

#[tokio::test]
async fn receipts_only_move_forward_and_wait_for_their_reference() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let state = worker_state(&app);
    let receipt_at = |reference: &str, status, at| Message::Receipt {
        v: 1,
        provider: "simulated".into(),
        reference: reference.into(),
        status,
        at,
    };
    let receipt = |reference: &str, status| receipt_at(reference, status, chrono::Utc::now());
    // Before the reference is recorded: kept for a retry.
    let early = apply(&state, &[receipt("ref-1", NotificationStatus::Delivered)]).await;
    assert_eq!(early.len(), 1);
    // Still waiting hours later (a send's record step outlasts a database outage), dropped after the window.
    let hours_old = receipt_at(
        "ref-0",
        NotificationStatus::Delivered,
        chrono::Utc::now() - chrono::Duration::hours(6),
    );
    assert_eq!(apply(&state, &[hours_old]).await.len(), 1);
    let stale = receipt_at(
        "ref-0",
        NotificationStatus::Delivered,
        chrono::Utc::now()
            - notify_core::retry::RECEIPT_RETRY_WINDOW
            - chrono::Duration::minutes(1),
    );
    assert!(
        apply(&state, &[stale]).await.is_empty(),
        "dropped after the retry window"
    );

    let id = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    app.state.db.claim_for_delivery(id).await.unwrap().unwrap();
    let sent = notify_core::delivery::SentRecord {
        provider: "simulated".into(),
        reference: "ref-1".into(),
        billable_units: 1,
        status: NotificationStatus::Sending,
        sent_at: chrono::Utc::now(),
    };
    app.state.db.record_sent(id, &sent).await.unwrap();
    assert!(apply(&state, &early).await.is_empty(), "applied on retry");
    let late = [
        receipt("ref-1", NotificationStatus::Pending),
        receipt("ref-1", NotificationStatus::PermanentFailure),
    ];
    apply(&state, &late).await;
    let n = app.stored(s.service.id, id).await;
    assert_eq!(
        n.status,
        NotificationStatus::Delivered,
        "a final status is never overwritten"
    );
}

#[tokio::test]
async fn international_texts_are_sent_not_sending() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let provider = Arc::new(CountingProvider {
        calls: AtomicUsize::new(0),
        connections_seen: Default::default(),
        observer: observer(&app).await,
        fail_with: None,
    });
    let providers = providers(&app, vec![provider.clone()]);
    let state = worker_state(&app);
    let international = app
        .send_sms(&s.live_key, s.sms_template, "+1 202 555 0104", None)
        .await;
    let uk = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    for id in [international, uk] {
        notify_app::delivery::deliver(&state, &providers, id)
            .await
            .unwrap();
    }
    assert_eq!(
        app.stored(s.service.id, international).await.status,
        NotificationStatus::Sent
    );
    assert_eq!(
        app.stored(s.service.id, uk).await.status,
        NotificationStatus::Sending
    );
}
