//! A database outage in the middle of a batch's provider call: every notification still reaches its final
//! status and its callback, nothing is sent twice, and the API answers 503 with `Retry-After` meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::StatusCode;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_outbound::providers::{
    Accepted, EmailProvider, ProviderError, Providers, SimulatedProvider, SmsMessage, SmsProvider,
};
use notify_queue::Queue;
use notify_runtime::workers;
use notify_runtime::workers::WorkerSettings;
use notify_tests::{DatabaseProxy, TestApp};
use serde_json::json;
use uuid::Uuid;

/// A provider that takes each text, then holds its answer until the test lets it go; its receipt goes on the
/// status queue at once, before the send can be recorded.
struct HeldProvider {
    calls: AtomicUsize,
    released: tokio::sync::watch::Receiver<bool>,
    queue: Arc<notify_queue::InProcessQueue>,
    status_queue: String,
}

#[async_trait]
impl SmsProvider for HeldProvider {
    fn name(&self) -> &str {
        "held"
    }
    fn supports_international(&self) -> bool {
        true
    }
    async fn send_sms(&self, _message: &SmsMessage) -> Result<Accepted, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let reference = Uuid::new_v4().to_string();
        let receipt = Message::Receipt {
            v: 1,
            provider: "held".into(),
            reference: reference.clone(),
            status: NotificationStatus::Delivered,
            at: chrono::Utc::now(),
        };
        self.queue
            .send(&self.status_queue, "held", &receipt)
            .await
            .unwrap();
        let mut released = self.released.clone();
        released.wait_for(|r| *r).await.unwrap();
        Ok(Accepted {
            reference,
            status: NotificationStatus::Sending,
        })
    }
}

async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: timed out");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_during_the_provider_call_strands_no_notification() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/callback-api"),
            Some(json!({"url": "https://callbacks.example.gov.uk/notify", "bearer_token": "a-long-enough-token", "callback_type": "delivery_status"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(
            app.send_sms(&s.live_key, s.sms_template, "07700900123", None)
                .await,
        );
    }

    // The workers reach the database only through the proxy; the test reads it directly.
    let proxy = DatabaseProxy::start().await;
    let db = notify_db::Db::connect_short_lived(
        &proxy.url_for(&app.database_url),
        4,
        "notify-test-outage",
    )
    .unwrap();
    let config = (*app.state.config).clone();
    let state = notify_app::AppState::new(config.clone(), db, app.queue.clone());
    let (release, released) = tokio::sync::watch::channel(false);
    let provider = Arc::new(HeldProvider {
        calls: AtomicUsize::new(0),
        released,
        queue: app.queue.clone(),
        status_queue: config.queues.status.clone(),
    });
    let providers = Providers::new(
        vec![provider.clone()],
        Vec::<Arc<dyn EmailProvider>>::new(),
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    );
    let settings = WorkerSettings {
        deliver_queues: vec![config.queues.deliver_sms.clone()],
        status_queue: config.queues.status.clone(),
        delivery_concurrency: 10,
        status_batch_size: 10,
        batching_window: Duration::from_millis(200),
    };
    let workers = workers::spawn_in_process(state, providers, app.queue.clone(), settings);

    eventually(
        "every text handed to the provider",
        Duration::from_secs(30),
        || async { provider.calls.load(Ordering::SeqCst) == ids.len() },
    )
    .await;
    // The database goes away while the provider holds every answer, for longer than the record step's own tries.
    proxy.cut();
    release.send(true).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (observer, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // Nothing could be recorded meanwhile: each outcome waits on its delivery message.
    let unrecorded: i64 = observer
        .query_one(
            "SELECT count(*) FROM notifications WHERE id = ANY($1) AND notification_status = 'sending' \
             AND reference IS NULL",
            &[&ids],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unrecorded, ids.len() as i64);
    proxy.restore();
    let final_rows = || async {
        observer
            .query(
                "SELECT id, notification_status, reference, sent_by FROM notifications WHERE id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
    };
    eventually("every text delivered", Duration::from_secs(120), || async {
        final_rows()
            .await
            .iter()
            .all(|r| r.get::<_, String>("notification_status") == "delivered")
    })
    .await;
    for row in final_rows().await {
        assert!(row.get::<_, Option<String>>("reference").is_some());
        assert_eq!(
            row.get::<_, Option<String>>("sent_by").as_deref(),
            Some("held")
        );
    }
    // Recorded from the kept outcome, never sent again.
    assert_eq!(provider.calls.load(Ordering::SeqCst), ids.len());

    // One delivery-status callback per text, saying delivered.
    let mut called_back: Vec<Uuid> = Vec::new();
    eventually("every callback queued", Duration::from_secs(30), || {
        called_back.extend(
            app.queue
                .take_all(&config.queues.callbacks)
                .into_iter()
                .map(|m| match m {
                    Message::Callback(c) => {
                        let body: serde_json::Value = serde_json::from_str(&c.body).unwrap();
                        assert_eq!(body["status"], "delivered", "{body}");
                        c.subject_id
                    }
                    other => panic!("not a callback: {other:?}"),
                }),
        );
        let done = called_back.len() >= ids.len();
        async move { done }
    })
    .await;
    called_back.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(called_back, expected);
    for worker in workers {
        worker.abort();
    }
}

#[tokio::test]
async fn the_api_answers_503_with_retry_after_while_the_database_is_away() {
    let mut app = TestApp::new().await;
    let s = app.service(false).await;
    let proxy = DatabaseProxy::start().await;
    app.use_db(
        notify_db::Db::connect(
            &proxy.url_for(&app.database_url),
            2,
            "notify-test-api-outage",
        )
        .unwrap(),
    );
    let send = json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}});
    let r = app
        .call(
            "POST",
            "/v2/notifications/sms",
            &s.live_key,
            Some(send.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());

    proxy.cut();
    for (method, path, body) in [
        ("GET", "/v2/notifications", None),
        ("POST", "/v2/notifications/sms", Some(send.clone())),
    ] {
        let r = app.call(method, path, &s.live_key, body).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("5")
        );
        assert_eq!(
            r.json(),
            json!({"status_code": 503, "errors": [{"error": "ServiceUnavailableError", "message": "Service temporarily unavailable, try again later"}]})
        );
    }
    let r = app
        .admin("GET", &format!("/service/{}", s.service.id), None)
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "admin API");
    assert_eq!(
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_eq!(
        r.json(),
        json!({"result": "error", "message": "Service temporarily unavailable, try again later"})
    );

    proxy.restore();
    let r = app
        .call("GET", "/v2/notifications", &s.live_key, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

/// A kept outcome is recorded over the claimed row without a provider call: a send as sent, a retry as
/// `created` again with a plain message to send it, a failure as `technical-failure`.
#[tokio::test]
async fn a_kept_outcome_is_recorded_never_sent_again() {
    use notify_app::workers::Attempt;
    use notify_core::delivery::SendOutcome;
    use notify_core::delivery::SentRecord;
    use notify_core::messages::Unrecorded;
    use notify_core::retry::Disposition;
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = app
            .send_sms(&s.live_key, s.sms_template, "07700900123", None)
            .await;
        assert!(app.state.db.claim_for_delivery(id).await.unwrap().is_some());
        ids.push(id);
    }
    let (_release, released) = tokio::sync::watch::channel(true);
    let provider = Arc::new(HeldProvider {
        calls: AtomicUsize::new(0),
        released,
        queue: app.queue.clone(),
        status_queue: "status".into(),
    });
    let providers = Providers::new(
        vec![provider.clone()],
        Vec::<Arc<dyn EmailProvider>>::new(),
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    );
    let sent = SendOutcome::Sent(SentRecord {
        provider: "held".into(),
        reference: "kept-ref".into(),
        billable_units: 1,
        status: NotificationStatus::Sending,
        sent_at: chrono::Utc::now(),
    });
    let kept = |id, outcome| {
        (
            Message::Deliver {
                v: 1,
                notification_id: id,
                unrecorded: Some(Unrecorded {
                    outcome,
                    failures: 2,
                }),
            },
            Attempt { number: 1, max: 48 },
        )
    };
    let messages = [
        kept(ids[0], sent),
        kept(ids[1], SendOutcome::Retry),
        kept(ids[2], SendOutcome::Failed),
    ];
    let again = notify_app::workers::handle_deliveries(
        &app.state,
        &providers,
        &messages,
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        again,
        [
            Disposition::Done,
            Disposition::Replace {
                message: Message::deliver(ids[1]),
                after: Duration::ZERO
            },
            Disposition::Done
        ]
    );
    assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
    for (id, expected) in ids.iter().zip([
        NotificationStatus::Sending,
        NotificationStatus::Created,
        NotificationStatus::TechnicalFailure,
    ]) {
        assert_eq!(app.stored(s.service.id, *id).await.status, expected);
    }
    let by_reference = app.state.db.reference_known("kept-ref").await.unwrap();
    assert!(by_reference);

    // With the database away the outcome stays on a new message, a little later each time.
    let dead =
        notify_db::Db::connect_short_lived("postgres://postgres@127.0.0.1:1/none", 1, "t").unwrap();
    let away = notify_app::AppState::new((*app.state.config).clone(), dead, app.queue.clone());
    let messages = [kept(ids[1], SendOutcome::Retry)];
    let again = notify_app::workers::handle_deliveries(
        &away,
        &providers,
        &messages,
        Duration::from_secs(300),
    )
    .await;
    let Disposition::Replace {
        message: Message::Deliver { unrecorded, .. },
        after: delay,
    } = &again[0]
    else {
        panic!("{again:?}");
    };
    assert_eq!(unrecorded.as_ref().unwrap().failures, 3);
    assert_eq!(*delay, Duration::from_secs(40));
}
