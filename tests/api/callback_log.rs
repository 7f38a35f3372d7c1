//! The callback log and replay: each attempt the real callback worker makes is logged through the status queue
//! (without the body), listed by `GET /service/{id}/callbacks` with its filters; a replay re-sends the current
//! delivery-status callback of a service's notifications (all, or those whose latest attempt failed) and the
//! callbacks DLQ goes back onto the callbacks queue — in process and on SQS (moto).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use notify_app::callback_log::{Replay, replay, replay_dlq};
use notify_app::status::StatusBody;
use notify_config::Config;
use notify_core::callbacks::{self, Callback, CallbackTarget};
use notify_core::messages::Message;
use notify_core::model::{NotificationStatus, NotificationType};
use notify_outbound::callbacks::CallbackSender;
use notify_queue::{Queue, SqsQueue};
use notify_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Default)]
struct Receiver {
    /// Bodies the receiver answered 200 to.
    delivered: std::sync::Mutex<Vec<String>>,
    flaky_calls: AtomicUsize,
    calls: AtomicUsize,
}

async fn ok(State(r): State<Arc<Receiver>>, body: String) -> StatusCode {
    r.calls.fetch_add(1, Ordering::SeqCst);
    r.delivered.lock().unwrap().push(body);
    StatusCode::OK
}

/// 500 the first time, 200 after.
async fn flaky(State(r): State<Arc<Receiver>>, body: String) -> StatusCode {
    r.calls.fetch_add(1, Ordering::SeqCst);
    if r.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.delivered.lock().unwrap().push(body);
    StatusCode::OK
}

async fn counted(State(r): State<Arc<Receiver>>, status: StatusCode) -> StatusCode {
    r.calls.fetch_add(1, Ordering::SeqCst);
    status
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
        .route("/flaky", post(flaky))
        .route(
            "/gone",
            post(|s: State<Arc<Receiver>>| counted(s, StatusCode::NOT_FOUND)),
        )
        .route(
            "/fail",
            post(|s: State<Arc<Receiver>>| counted(s, StatusCode::INTERNAL_SERVER_ERROR)),
        )
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

fn delivery_callback(
    s: &Setup,
    service_id: Uuid,
    notification_id: Uuid,
    path_and_query: &str,
) -> Callback {
    let data = callbacks::DeliveryStatusData {
        notification_id,
        service_id,
        client_reference: None,
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
        url: format!("{}{path_and_query}", s.base),
        encrypted_token: Some(s.app.state.encryptor.encrypt("the-services-bearer-token")),
        signing_secrets: Vec::new(),
    };
    callbacks::delivery_status(&data, &target)
}

/// Runs the in-process callback worker (the one `notify dev` runs) on `callbacks` until `done` says so.
async fn run_worker(s: &Setup, callbacks: Vec<Callback>, done: impl Fn() -> bool) {
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let config = Arc::new(s.config.callback_worker());
    let worker =
        notify_runtime::workers::spawn_callback_worker(sender, s.app.queue.clone(), config, 10);
    for cb in callbacks {
        let group = cb.service_id.to_string();
        s.app
            .queue
            .send(&s.config.queues.callbacks, &group, &Message::Callback(cb))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "callback worker did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The last attempt's log line goes on the status queue just after its HTTP call.
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.abort();
}

/// The status consumer on what the worker put on the status queue; returns how many messages it took.
async fn consume_status_queue(s: &Setup) -> usize {
    let bodies: Vec<StatusBody> = s
        .app
        .queue
        .take_all(&s.config.queues.status)
        .into_iter()
        .map(StatusBody::Task)
        .collect();
    let dispositions = notify_app::status::dispose(&s.app.state, &bodies).await;
    assert!(
        dispositions
            .iter()
            .all(|d| *d == notify_core::retry::Disposition::Done),
        "{dispositions:?}"
    );
    bodies.len()
}

async fn list(s: &Setup, service_id: Uuid, query: &str) -> Value {
    let r = s
        .app
        .admin(
            "GET",
            &format!("/service/{service_id}/callbacks{query}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    r.json()
}

fn outcomes(page: &Value) -> Vec<(String, Option<u64>, String)> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["notification_id"].as_str().unwrap().to_string(),
                a["status_code"].as_u64(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_attempt_is_logged_without_its_body_and_listed_with_filters() {
    let s = setup(|_| {}).await;
    let service = s.app.service(false).await.service.id;
    let (fine, flaky, gone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let callbacks = vec![
        delivery_callback(&s, service, fine, "/ok?token=secret"),
        delivery_callback(&s, service, flaky, "/flaky"),
        delivery_callback(&s, service, gone, "/gone"),
    ];
    let receiver = s.receiver.clone();
    let started = chrono::Utc::now();
    run_worker(&s, callbacks, || receiver.calls.load(Ordering::SeqCst) >= 4).await;
    assert_eq!(s.receiver.calls.load(Ordering::SeqCst), 4);
    assert!(consume_status_queue(&s).await >= 1);

    let all = list(&s, service, "").await;
    assert_eq!(all["total"], 4);
    let mut seen = outcomes(&all);
    seen.sort();
    let mut expected = vec![
        (fine.to_string(), Some(200), "delivered".to_string()),
        (flaky.to_string(), Some(500), "will-retry".to_string()),
        (flaky.to_string(), Some(200), "delivered".to_string()),
        (gone.to_string(), Some(404), "dropped".to_string()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    // Newest first; the retry is the flaky callback's second attempt.
    let times: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let retried = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["notification_id"] == flaky.to_string() && a["status_code"] == 200)
        .unwrap();
    assert_eq!(retried["attempt"], 2);
    assert_eq!(retried["callback_type"], "delivery_status");
    let first = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["notification_id"] == fine.to_string())
        .unwrap();
    assert_eq!(first["url"], format!("{}/ok", s.base), "no query kept");
    assert_eq!(first["error"], Value::Null);
    assert!(first["duration_ms"].as_u64().unwrap() < 10_000);
    // No body, no token anywhere in the log.
    let text = all.to_string();
    assert!(
        !text.contains("07700900123") && !text.contains("secret"),
        "{text}"
    );

    let failed = list(&s, service, "?status=failed").await;
    let mut failed_codes: Vec<Option<u64>> = outcomes(&failed).into_iter().map(|o| o.1).collect();
    failed_codes.sort();
    assert_eq!(failed_codes, [Some(404), Some(500)]);
    assert_eq!(
        failed["data"][0]["error"]
            .as_str()
            .map(|e| e.starts_with("receiver answered")),
        Some(true)
    );
    let delivered = list(&s, service, "?status=delivered").await;
    assert_eq!(delivered["total"], 2);

    // The window: everything was attempted after `started`, nothing before it.
    let from = (started - chrono::TimeDelta::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let before =
        (started - chrono::TimeDelta::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        list(&s, service, &format!("?from={from}")).await["total"],
        4
    );
    assert_eq!(
        list(&s, service, &format!("?to={before}")).await["total"],
        0
    );
    assert_eq!(
        list(
            &s,
            service,
            &format!("?status=failed&from={from}&to=2999-01-01")
        )
        .await["total"],
        2
    );

    // Paged as the job list is.
    let page = list(&s, service, "?status=failed&page_size=1").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 2);
    assert_eq!(
        page["links"]["next"],
        format!("/service/{service}/callbacks?status=failed&page_size=1&page=2")
    );
    let second = list(&s, service, "?status=failed&page_size=1&page=2").await;
    assert_ne!(second["data"][0]["id"], page["data"][0]["id"]);
    assert!(second["links"].get("next").is_none());

    // Another service sees none of it; bad filters are refused in the admin shape.
    let other = s.app.service(false).await.service.id;
    assert_eq!(list(&s, other, "").await["total"], 0);
    for (query, field) in [("?status=lost", "status"), ("?from=yesterday", "from")] {
        let r = s
            .app
            .admin("GET", &format!("/service/{service}/callbacks{query}"), None)
            .await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.json()["result"], "error");
        assert!(r.json()["message"].get(field).is_some(), "{}", r.json());
    }
    let r = s
        .app
        .admin(
            "GET",
            &format!("/service/{}/callbacks", Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn retries_spent_are_logged_as_dead_lettered() {
    let s = setup(|c| c.callbacks.max_retries = 1).await;
    let service = s.app.service(false).await.service.id;
    let id = Uuid::new_v4();
    let receiver = s.receiver.clone();
    let dlq = s.config.queues.callbacks_dlq.clone();
    let queue = s.app.queue.clone();
    let cb = delivery_callback(&s, service, id, "/fail");
    let sender = CallbackSender::from_config(&s.config.callback_worker()).unwrap();
    let config = Arc::new(s.config.callback_worker());
    let worker = notify_runtime::workers::spawn_callback_worker(sender, queue.clone(), config, 2);
    queue
        .send(&s.config.queues.callbacks, "g", &Message::Callback(cb))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.calls.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.abort();
    consume_status_queue(&s).await;
    let page = list(&s, service, "?status=failed").await;
    let mut seen: Vec<(u64, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (1, "will-retry".to_string()),
            (2, "dead-lettered".to_string())
        ]
    );
    assert_eq!(queue.take_all(&dlq).len(), 1);
}

#[tokio::test]
async fn a_record_that_cannot_be_written_comes_back_and_the_callback_is_not_repeated() {
    let s = setup(|_| {}).await;
    let service = s.app.service(false).await.service.id;
    let receiver = s.receiver.clone();
    run_worker(
        &s,
        vec![delivery_callback(&s, service, Uuid::new_v4(), "/ok")],
        || receiver.calls.load(Ordering::SeqCst) >= 1,
    )
    .await;
    let messages = s.app.queue.take_all(&s.config.queues.status);
    assert_eq!(messages.len(), 1);
    // The database away for the log's write: the message is handed back, the callback was settled already.
    let mut away = TestApp::with_config(|_| {}).await;
    away.use_db(notify_db::Db::connect("postgres://127.0.0.1:1/none", 1, "away").unwrap());
    let bodies = vec![StatusBody::Task(messages[0].clone())];
    let dispositions = notify_app::status::dispose(&away.state, &bodies).await;
    assert!(matches!(
        dispositions[0],
        notify_core::retry::Disposition::RetryAfter(_)
    ));
    assert!(s.app.queue.take_all(&s.config.queues.callbacks).is_empty());
    assert_eq!(s.receiver.calls.load(Ordering::SeqCst), 1);
    // Written when it comes back.
    notify_app::status::dispose(&s.app.state, &bodies).await;
    assert_eq!(list(&s, service, "").await["total"], 1);
}

/// A delivered text of `service`, created `age` ago.
async fn delivered_sms(s: &Setup, key: &str, template: Uuid, age: chrono::TimeDelta) -> Uuid {
    let id = s
        .app
        .send_sms(key, template, "07700900123", Some("ref"))
        .await;
    let (client, connection) = tokio_postgres::connect(&s.app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let at = chrono::Utc::now() - age;
    client
        .execute(
            "UPDATE notifications SET notification_status = 'delivered', created_at = $2, updated_at = $2, \
             sent_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .await
        .unwrap();
    id
}

fn queued_callbacks(s: &Setup) -> Vec<Callback> {
    s.app
        .queue
        .take_all(&s.config.queues.callbacks)
        .into_iter()
        .map(|m| match m {
            Message::Callback(cb) => cb,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn replay_re_sends_the_current_status_of_the_window_or_only_the_failed_ones() {
    let s = setup(|_| {}).await;
    let t = s.app.service(false).await;
    let sid = t.service.id;
    let r = s.app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": format!("{}/ok", s.base), "bearer_token": "the-services-bearer-token", "callback_type": "delivery_status"}))).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let hour = chrono::TimeDelta::hours(1);
    let failed = delivered_sms(&s, &t.live_key, t.sms_template, hour).await;
    let fine = delivered_sms(&s, &t.live_key, t.sms_template, hour).await;
    let never_tried = delivered_sms(&s, &t.live_key, t.sms_template, hour).await;
    let long_ago = delivered_sms(&s, &t.live_key, t.sms_template, hour * 48).await;
    // What the send queued for delivery is not this test's business.
    s.app.queue.take_all(&s.config.queues.deliver_sms);
    // The failed one was last refused (after an earlier success), the fine one last delivered.
    let receiver = s.receiver.clone();
    run_worker(
        &s,
        vec![
            delivery_callback(&s, sid, failed, "/ok"),
            delivery_callback(&s, sid, fine, "/fail"),
        ],
        || receiver.calls.load(Ordering::SeqCst) >= 2,
    )
    .await;
    consume_status_queue(&s).await;
    s.app.queue.take_all(&s.config.queues.callbacks);
    run_worker(
        &s,
        vec![
            delivery_callback(&s, sid, failed, "/gone"),
            delivery_callback(&s, sid, fine, "/ok"),
        ],
        || receiver.calls.load(Ordering::SeqCst) >= 4,
    )
    .await;
    consume_status_queue(&s).await;
    s.app.queue.take_all(&s.config.queues.callbacks);

    let now = chrono::Utc::now();
    let window = Replay {
        service_id: sid,
        from: now - hour * 2,
        to: now,
        only_failed: true,
        per_second: 1000,
    };
    let mut progress = Vec::new();
    let done = replay(&s.app.state, &window, |p| progress.push(*p))
        .await
        .unwrap();
    assert_eq!((done.matched, done.queued, done.failed), (1, 1, 0));
    assert_eq!(progress.last().unwrap().queued, 1);
    let queued = queued_callbacks(&s);
    assert_eq!(queued.len(), 1);
    let cb = &queued[0];
    assert_eq!(cb.subject_id, failed);
    // The service's callback as the outbox relay builds it, with the notification's current status.
    assert_eq!(cb.url, format!("{}/ok", s.base));
    let body: Value = serde_json::from_str(&cb.body).unwrap();
    assert_eq!(body["id"], failed.to_string());
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["reference"], "ref");
    assert_eq!(body["to"], "07700900123");
    assert_eq!(body["notification_type"], "sms");
    assert_eq!(body["template_id"], t.sms_template.to_string());

    // Without --status failed: every notification of the window, the one never tried too; not the old one.
    let all = Replay {
        only_failed: false,
        per_second: 10,
        ..window.clone()
    };
    let started = Instant::now();
    let done = replay(&s.app.state, &all, |_| {}).await.unwrap();
    assert_eq!((done.matched, done.queued), (3, 3));
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "3 at 10 a second take at least 0.2 s: {:?}",
        started.elapsed()
    );
    let mut ids: Vec<Uuid> = queued_callbacks(&s).iter().map(|c| c.subject_id).collect();
    ids.sort();
    let mut expected = vec![failed, fine, never_tried];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(!ids.contains(&long_ago));

    // The replayed callback reaches the receiver through the worker, with its current status.
    let cb = queued[0].clone();
    let before = s.receiver.delivered.lock().unwrap().len();
    run_worker(&s, vec![cb.clone()], || {
        receiver.delivered.lock().unwrap().len() > before
    })
    .await;
    assert_eq!(
        s.receiver.delivered.lock().unwrap().last().unwrap(),
        &cb.body
    );

    // A queue that refuses stops the replay and says so.
    s.app.queue.set_unavailable(true);
    let done = replay(&s.app.state, &all, |_| {}).await.unwrap();
    s.app.queue.set_unavailable(false);
    assert_eq!((done.matched, done.queued, done.failed), (3, 0, 1));
}

#[tokio::test]
async fn the_dlq_goes_back_onto_the_callbacks_queue_in_process() {
    let s = setup(|c| c.callbacks.max_retries = 0).await;
    let service = s.app.service(false).await.service.id;
    let ids = [Uuid::new_v4(), Uuid::new_v4()];
    let receiver = s.receiver.clone();
    let dlq = s.config.queues.callbacks_dlq.clone();
    run_worker(
        &s,
        ids.iter()
            .map(|id| delivery_callback(&s, service, *id, "/fail"))
            .collect(),
        || receiver.calls.load(Ordering::SeqCst) >= 2,
    )
    .await;
    let done = replay_dlq(&s.app.state, 1000, |_| {}).await.unwrap();
    assert_eq!((done.matched, done.queued, done.failed), (2, 2, 0));
    assert!(s.app.queue.take_all(&dlq).is_empty());
    let moved = queued_callbacks(&s);
    let mut moved_ids: Vec<Uuid> = moved.iter().map(|c| c.subject_id).collect();
    moved_ids.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(moved_ids, expected);
    assert!(moved.iter().all(|c| c.last_error.is_none()));
    // Nothing left: a second run moves nothing.
    let again = replay_dlq(&s.app.state, 1000, |_| {}).await.unwrap();
    assert_eq!(again.queued, 0);
}

/// moto, started by the test command (`infra/scripts/test`).
fn moto_url() -> String {
    std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

#[tokio::test]
async fn the_dlq_goes_back_onto_the_callbacks_queue_on_sqs() {
    let client = notify_tests::sqs_client(&moto_url());
    let suffix = Uuid::new_v4().simple().to_string();
    let (callbacks_name, dlq_name) = (
        format!("callbacks-{suffix}"),
        format!("callbacks-dlq-{suffix}"),
    );
    for name in [&callbacks_name, &dlq_name] {
        client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("moto must be running (the test command starts it)");
    }
    let mut s = setup(|c| {
        c.queues.callbacks = callbacks_name.clone();
        c.queues.callbacks_dlq = dlq_name.clone();
    })
    .await;
    let sqs: Arc<SqsQueue> = Arc::new(SqsQueue::new(client.clone()));
    s.app.use_queue(sqs.clone());
    let service = Uuid::new_v4();
    let mut sent = Vec::new();
    for _ in 0..12 {
        let mut cb = delivery_callback(&s, service, Uuid::new_v4(), "/fail");
        cb.last_error = Some("receiver answered 500".into());
        sqs.send(
            &dlq_name,
            &service.to_string(),
            &Message::Callback(cb.clone()),
        )
        .await
        .unwrap();
        sent.push(cb.subject_id);
    }
    // Something that is no callback stays where it is.
    let dlq_url = client
        .get_queue_url()
        .queue_name(&dlq_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    client
        .send_message()
        .queue_url(&dlq_url)
        .message_body("{\"not\": \"a callback\"}")
        .send()
        .await
        .unwrap();

    let done = replay_dlq(&s.app.state, 1000, |_| {}).await.unwrap();
    assert_eq!((done.matched, done.queued, done.failed), (12, 12, 0));
    assert_eq!(done.unreadable, 1);
    let mut moved = Vec::new();
    for _ in 0..10 {
        for taken in sqs
            .take(&callbacks_name, 10, Duration::from_secs(30))
            .await
            .unwrap()
        {
            match taken.message {
                Some(Message::Callback(cb)) => {
                    assert!(cb.last_error.is_none());
                    moved.push(cb.subject_id);
                }
                other => panic!("{other:?}"),
            }
        }
        if moved.len() >= sent.len() {
            break;
        }
    }
    moved.sort();
    sent.sort();
    assert_eq!(moved, sent);
    // The DLQ keeps only what was no callback (hidden for now by the replay's receive).
    let attributes = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| -> u64 {
        attributes.get(&name).unwrap().parse().unwrap()
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        1
    );
}

static BINARY: tokio::sync::OnceCell<std::path::PathBuf> = tokio::sync::OnceCell::const_new();

/// The `notify` binary, built first (a no-op when it is fresh) so the test never runs a stale one. `NOTIFY_BIN`
/// names another.
async fn notify_bin() -> &'static std::path::PathBuf {
    BINARY
        .get_or_init(|| async {
            if let Ok(path) = std::env::var("NOTIFY_BIN") {
                return std::path::PathBuf::from(path);
            }
            let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = tokio::process::Command::new(cargo)
                .current_dir(&root)
                .args(["build", "-q", "-p", "notify-cli", "--bin", "notify"])
                .status()
                .await
                .expect("cargo runs");
            assert!(status.success(), "building the notify binary failed");
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|_| root.join("target"));
            target.join("debug").join("notify")
        })
        .await
}

/// `notify --json callbacks ARGS…` on the test's database, with its queues on moto unless `sqs` is false.
async fn notify_callbacks(s: &Setup, sqs: bool, args: &[&str]) -> std::process::Output {
    use notify_config::ExposeSecret;
    let mut command = tokio::process::Command::new(notify_bin().await);
    command
        .args(["--json", "callbacks"])
        .args(args)
        .env("DATABASE_URL", &s.app.database_url)
        .env("SECRET_KEY", s.config.secret_key.expose_secret())
        .env("CALLBACKS_QUEUE", &s.config.queues.callbacks)
        .env("CALLBACKS_DLQ", &s.config.queues.callbacks_dlq)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-2")
        .env("RUST_LOG", "warn");
    if sqs {
        command.env("SQS_ENDPOINT_URL", moto_url());
    } else {
        command.env_remove("SQS_ENDPOINT_URL");
    }
    command.output().await.expect("notify runs")
}

fn summary(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test]
async fn notify_callbacks_replays_a_window_and_the_dlq_through_sqs() {
    let client = notify_tests::sqs_client(&moto_url());
    let suffix = Uuid::new_v4().simple().to_string();
    let (callbacks_name, dlq_name) = (
        format!("callbacks-{suffix}"),
        format!("callbacks-dlq-{suffix}"),
    );
    for name in [&callbacks_name, &dlq_name] {
        client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("moto must be running (the test command starts it)");
    }
    let s = setup(|c| {
        c.queues.callbacks = callbacks_name.clone();
        c.queues.callbacks_dlq = dlq_name.clone();
    })
    .await;
    let sqs = SqsQueue::new(client.clone());
    let t = s.app.service(false).await;
    let sid = t.service.id;
    let r = s.app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": format!("{}/ok", s.base), "bearer_token": "the-services-bearer-token", "callback_type": "delivery_status"}))).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            delivered_sms(
                &s,
                &t.live_key,
                t.sms_template,
                chrono::TimeDelta::minutes(5),
            )
            .await,
        );
    }
    let from = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    let to = chrono::Utc::now().to_rfc3339();
    let service = sid.to_string();
    let args = [
        "replay",
        "--service",
        &service,
        "--from",
        &from,
        "--to",
        &to,
        "--rate",
        "100",
    ];

    // Without SQS the queue would die with the process: refused, nothing sent.
    let refused = notify_callbacks(&s, false, &args).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("SQS_ENDPOINT_URL"));

    let done = summary(&notify_callbacks(&s, true, &args).await);
    assert_eq!(
        done,
        json!({"matched": 3, "queued": 3, "failed": 0, "unreadable": 0})
    );
    let mut replayed = Vec::new();
    for _ in 0..5 {
        for taken in sqs
            .take(&callbacks_name, 10, Duration::from_secs(60))
            .await
            .unwrap()
        {
            let Some(Message::Callback(cb)) = taken.message else {
                panic!("{}", taken.body)
            };
            assert_eq!(cb.url, format!("{}/ok", s.base));
            replayed.push(cb.subject_id);
        }
        if replayed.len() >= 3 {
            break;
        }
    }
    replayed.sort();
    ids.sort();
    assert_eq!(replayed, ids);

    // --status failed: none of them has a failed attempt logged.
    let mut failed_args = args.to_vec();
    failed_args.extend(["--status", "failed"]);
    let done = summary(&notify_callbacks(&s, true, &failed_args).await);
    assert_eq!(done["matched"], 0);

    // The DLQ, moved back.
    let dead = delivery_callback(&s, sid, ids[0], "/fail");
    sqs.send(&dlq_name, &service, &Message::Callback(dead.clone()))
        .await
        .unwrap();
    let done = summary(&notify_callbacks(&s, true, &["replay-dlq"]).await);
    assert_eq!(
        done,
        json!({"matched": 1, "queued": 1, "failed": 0, "unreadable": 0})
    );
    let moved = sqs
        .take(&callbacks_name, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        matches!(moved.as_slice(), [taken] if matches!(&taken.message, Some(Message::Callback(cb)) if cb.body == dead.body)),
        "{moved:?}"
    );
}
