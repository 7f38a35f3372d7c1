//! Service callbacks against a real HTTPS receiver (a throwaway CA given through `CALLBACK_CA_BUNDLE`): Notify's
//! headers and body, the retry and drop rules, dead-lettering with the last error, concurrency, and the address
//! guard. The callback worker has no database: the receiver checks that in `pg_stat_activity` too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use notify_config::Config;
use notify_core::callbacks;
use notify_core::callbacks::{Callback, CallbackTarget};
use notify_core::messages::Message;
use notify_core::model::{NotificationStatus, NotificationType};
use notify_outbound::callbacks::{Attempted, CallbackSender};
use notify_queue::{InProcessQueue, Queue};
use notify_tests::TestApp;
use serde_json::json;
use uuid::Uuid;

#[derive(Default)]
struct Receiver {
    calls: std::sync::Mutex<Vec<(String, HeaderMap, String)>>,
    failures: AtomicUsize,
    connections_seen: std::sync::Mutex<Vec<i64>>,
    observer: tokio::sync::OnceCell<tokio_postgres::Client>,
}

async fn ok(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> StatusCode {
    if let Some(observer) = r.observer.get() {
        let open = notify_tests::connections_held(observer, "notify-callback%").await;
        r.connections_seen.lock().unwrap().push(open);
    }
    r.calls.lock().unwrap().push(("ok".into(), headers, body));
    StatusCode::OK
}

async fn fail(State(r): State<Arc<Receiver>>) -> StatusCode {
    r.failures.fetch_add(1, Ordering::SeqCst);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn hang() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(30)).await;
    StatusCode::OK
}

async fn to_metadata() -> (StatusCode, [(&'static str, &'static str); 1]) {
    (
        StatusCode::FOUND,
        [("location", "https://169.254.169.254/latest/meta-data/")],
    )
}

struct Setup {
    app: TestApp,
    base: String,
    receiver: Arc<Receiver>,
    config: Config,
}

async fn setup(change: impl FnOnce(&mut Config)) -> Setup {
    let receiver = Arc::new(Receiver::default());
    let router = axum::Router::new()
        .route("/ok", post(ok))
        .route("/fail", post(fail))
        .route("/busy", post(|| async { StatusCode::TOO_MANY_REQUESTS }))
        .route("/gone", post(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/moved",
            post(|| async { (StatusCode::PERMANENT_REDIRECT, [("location", "/ok")]) }),
        )
        .route("/hang", post(hang))
        .route("/to-metadata", post(to_metadata))
        .route("/", get(|| async { "receiver" }))
        .with_state(receiver.clone());
    let (base, ca_file) = notify_tests::https_server(router).await;
    let app = TestApp::with_config(|c| {
        c.callbacks.allow_private_hosts = vec!["127.0.0.1".into()];
        c.callbacks.ca_bundle = Some(ca_file);
        c.callbacks.retry_delay = Duration::from_millis(50);
        change(c);
    })
    .await;
    let config = (*app.state.config).clone();
    Setup {
        app,
        base,
        receiver,
        config,
    }
}

/// As [`setup`], with the receiver counting the callback worker's connections in `pg_stat_activity` on each call.
async fn setup_watching_connections() -> Setup {
    let s = setup(|_| {}).await;
    let (observer, connection) =
        tokio_postgres::connect(&s.app.database_url, tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let _ = s.receiver.observer.set(observer);
    s
}

fn callback(app: &TestApp, url: &str, service_id: Uuid) -> Callback {
    let data = callbacks::DeliveryStatusData {
        notification_id: Uuid::new_v4(),
        service_id,
        client_reference: Some("client-ref".into()),
        to: "07700900123".into(),
        status: NotificationStatus::Delivered,
        created_at: chrono::Utc::now(),
        completed_at: Some(chrono::Utc::now()),
        sent_at: Some(chrono::Utc::now()),
        notification_type: NotificationType::Sms,
        template_id: Uuid::new_v4(),
        template_version: 1,
    };
    let target = CallbackTarget {
        url: url.into(),
        encrypted_token: Some(app.state.encryptor.encrypt("the-services-bearer-token")),
        signing_secrets: Vec::new(),
    };
    callbacks::delivery_status(&data, &target)
}

#[tokio::test]
async fn callbacks_carry_notifys_headers_and_body_and_never_a_database_connection() {
    let s = setup_watching_connections().await;
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let cb = callback(&s.app, &format!("{}/ok", s.base), Uuid::new_v4());
    assert_eq!(sender.attempt(&cb).await, Attempted::Delivered(200));
    // A redirect to another https path on an allowed host is followed, as Notify's `requests` does.
    let moved = callback(&s.app, &format!("{}/moved", s.base), Uuid::new_v4());
    assert_eq!(sender.attempt(&moved).await, Attempted::Delivered(200));
    let calls = s.receiver.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let (_, headers, body) = &calls[0];
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["authorization"], "Bearer the-services-bearer-token");
    assert_eq!(body, &cb.body);
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["reference"], "client-ref");
    assert_eq!(body["status"], "delivered");
    assert_eq!(*s.receiver.connections_seen.lock().unwrap(), [0, 0]);
}

/// The inbound-text callback end to end: a provider's text arrives at the API, the callback it makes due is taken
/// off the callbacks queue and made by the worker, and while the receiver handles it the worker has no connection.
#[tokio::test]
async fn inbound_text_callbacks_never_hold_a_database_connection_either() {
    let s = setup_watching_connections().await;
    let service = s.app.service(false).await;
    let sid = service.service.id;
    s.app.assign_inbound_number(sid, "07700900888").await;
    let r = s.app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": format!("{}/ok", s.base), "bearer_token": "the-inbound-bearer-token", "callback_type": "inbound_sms"}))).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let r = s
        .app
        .request("POST", "/inbound/sms/mmg", None, Some(br#"{"MSISDN":"447700900123","Number":"447700900888","Message":"Yes+please%21","ID":"mmg-cb","DateRecieved":"2026-11-27+10%3A00%3A00"}"#))
        .await;
    assert_eq!(r.status, 200);

    let due: Vec<Callback> = s
        .app
        .queue
        .take_all(&s.config.queues.callbacks)
        .into_iter()
        .filter_map(|m| match m {
            Message::Callback(cb) => Some(cb),
            _ => None,
        })
        .collect();
    assert_eq!(due.len(), 1, "one inbound-text callback queued");
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    assert_eq!(sender.attempt(&due[0]).await, Attempted::Delivered(200));
    let calls = s.receiver.calls.lock().unwrap().clone();
    let (_, headers, body) = &calls[0];
    assert_eq!(headers["authorization"], "Bearer the-inbound-bearer-token");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["source_number"], "447700900123");
    assert_eq!(body["message"], "Yes please!");
    assert_eq!(*s.receiver.connections_seen.lock().unwrap(), [0]);
}

#[tokio::test]
async fn retried_or_dropped_as_notify_does() {
    let s = setup(|_| {}).await;
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let service = Uuid::new_v4();
    let attempt = |path: &str| {
        let cb = callback(&s.app, &format!("{}{path}", s.base), service);
        let sender = sender.clone();
        async move { sender.attempt(&cb).await }
    };
    assert!(matches!(attempt("/fail").await, Attempted::Retry(r) if r.contains("500")));
    assert!(matches!(attempt("/busy").await, Attempted::Retry(r) if r.contains("429")));
    assert!(matches!(attempt("/gone").await, Attempted::Dropped(r) if r.contains("404")));
    // Nothing listening: a connection error, retried.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = callback(&s.app, &format!("https://127.0.0.1:{port}/x"), service);
    assert!(matches!(
        sender.attempt(&refused).await,
        Attempted::Retry(_)
    ));
    // Hanging past the 5 s timeout: retried, after 5 s and not much more.
    let started = Instant::now();
    assert!(matches!(attempt("/hang").await, Attempted::Retry(r) if r.contains("in time")));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(7),
        "{waited:?}"
    );
}

#[tokio::test]
async fn private_and_metadata_addresses_are_refused_unless_allow_listed() {
    let s = setup(|c| c.callbacks.allow_private_hosts = vec![]).await;
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let service = Uuid::new_v4();
    for url in [
        format!("{}/ok", s.base),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        format!(
            "https://localhost:{}/ok",
            s.base.rsplit(':').next().unwrap()
        ),
        "http://example.com/not-https".to_string(),
    ] {
        let cb = callback(&s.app, &url, service);
        assert!(
            matches!(sender.attempt(&cb).await, Attempted::Dropped(_)),
            "{url} was not refused"
        );
    }
    assert!(
        s.receiver.calls.lock().unwrap().is_empty(),
        "nothing reached the receiver"
    );

    // Allow-listed 127.0.0.1, but a redirect to the metadata address is still refused.
    let s = setup(|_| {}).await;
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let cb = callback(&s.app, &format!("{}/to-metadata", s.base), service);
    assert!(matches!(sender.attempt(&cb).await, Attempted::Dropped(r) if r.contains("redirect")));
}

#[tokio::test]
async fn five_retries_then_the_dead_letter_queue_with_the_last_error() {
    let s = setup(|_| {}).await;
    let queue = Arc::new(InProcessQueue::default());
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let config = Arc::new(s.config.callback_worker());
    let worker =
        notify_runtime::workers::spawn_callback_worker(sender, queue.clone(), config.clone(), 10);
    let cb = callback(&s.app, &format!("{}/fail", s.base), Uuid::new_v4());
    queue
        .send(
            &config.queues.callbacks,
            "s",
            &Message::Callback(cb.clone()),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let dead = queue.take_all(&config.queues.callbacks_dlq);
        if !dead.is_empty() || Instant::now() > deadline {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    worker.abort();
    assert_eq!(
        s.receiver.failures.load(Ordering::SeqCst),
        6,
        "1 attempt + 5 retries"
    );
    match dead.as_slice() {
        [Message::Callback(dead)] => {
            assert_eq!(dead.last_error.as_deref(), Some("receiver answered 500"));
            assert_eq!(dead.body, cb.body);
        }
        other => panic!("{other:?}"),
    }
    assert!(queue.take_all(&config.queues.callbacks).is_empty());
}

#[tokio::test]
async fn a_hanging_receiver_delays_nobody_else() {
    let s = setup(|_| {}).await;
    let queue = Arc::new(InProcessQueue::default());
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let config = Arc::new(s.config.callback_worker());
    let worker =
        notify_runtime::workers::spawn_callback_worker(sender, queue.clone(), config.clone(), 100);
    for _ in 0..5 {
        let hanging = callback(&s.app, &format!("{}/hang", s.base), Uuid::new_v4());
        queue
            .send(
                &config.queues.callbacks,
                "slow",
                &Message::Callback(hanging),
            )
            .await
            .unwrap();
    }
    let started = Instant::now();
    for _ in 0..20 {
        let fine = callback(&s.app, &format!("{}/ok", s.base), Uuid::new_v4());
        queue
            .send(&config.queues.callbacks, "fine", &Message::Callback(fine))
            .await
            .unwrap();
    }
    while s.receiver.calls.lock().unwrap().len() < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "callbacks held up by a hanging receiver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
}

#[tokio::test]
async fn the_lambda_handler_reports_only_what_must_come_back() {
    let s = setup(|_| {}).await;
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let queue = InProcessQueue::default();
    let service = Uuid::new_v4();
    let record = |id: &str, cb: &Callback, receives: u32| {
        json!({"messageId": id, "receiptHandle": format!("h-{id}"),
            "body": serde_json::to_string(&Message::Callback(cb.clone())).unwrap(),
            "attributes": {"ApproximateReceiveCount": receives.to_string()}, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:service-callbacks",
            "awsRegion": "eu-west-2"})
    };
    let ok = callback(&s.app, &format!("{}/ok", s.base), service);
    let failing = callback(&s.app, &format!("{}/fail", s.base), service);
    let gone = callback(&s.app, &format!("{}/gone", s.base), service);
    let event = serde_json::from_value(json!({"Records": [
        record("ok", &ok, 1),
        record("retry", &failing, 2),
        record("last", &failing, 6),
        record("gone", &gone, 1),
        {"messageId": "junk", "body": "{}", "attributes": {}, "messageAttributes": {}},
    ]}))
    .unwrap();
    let response = notify_outbound::callbacks::callback_batch(
        &sender,
        &queue,
        &s.config.callback_worker(),
        &notify_tests::sqs_client("http://127.0.0.1:1"),
        event,
    )
    .await;
    assert_eq!(notify_tests::failed_items(&response), ["retry", "junk"]);
    let dead = queue.take_all(&s.config.queues.callbacks_dlq);
    assert_eq!(dead.len(), 1, "the sixth failure is dead-lettered");
}

#[tokio::test]
async fn a_callback_token_under_another_key_drops_only_that_callback() {
    let s = setup_watching_connections().await;
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let mut foreign = callback(&s.app, &format!("{}/ok", s.base), Uuid::new_v4());
    foreign.encrypted_token =
        Some(notify_core::crypto::Encryptor::new("another-key").encrypt("token"));
    assert!(
        matches!(sender.attempt(&foreign).await, Attempted::Dropped(r) if r.contains("bearer token unreadable"))
    );
    let readable = callback(&s.app, &format!("{}/ok", s.base), Uuid::new_v4());
    assert_eq!(sender.attempt(&readable).await, Attempted::Delivered(200));
    assert_eq!(s.receiver.calls.lock().unwrap().len(), 1);
}
