//! The callback outbox: a callback is committed with the change that makes it due, so a callbacks-queue outage
//! or a crash between the commit and the send delays it, never loses it, and it arrives once.

use std::collections::BTreeMap;

use notify_app::jobs;
use notify_app::jobs::Job;
use notify_app::status::StatusBody;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_tests::{TestApp, TestService};
use serde_json::{Value, json};
use uuid::Uuid;

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A service with delivery-status and inbound-SMS callbacks and an inbound number.
async fn service_with_callbacks(app: &TestApp) -> TestService {
    let s = app.service(false).await;
    let sid = s.service.id;
    for callback_type in ["delivery_status", "inbound_sms", "complaint"] {
        let r = app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": "https://callbacks.example.gov.uk/notify", "bearer_token": "a-long-enough-token", "callback_type": callback_type}))).await;
        assert_eq!(r.status, 201, "{}", r.json());
    }
    app.assign_inbound_number(sid, "07700900888").await;
    s
}

/// Texts sent and handed to a provider: `sending` with reference `ref-<id>`.
async fn sending(
    app: &TestApp,
    s: &TestService,
    db: &tokio_postgres::Client,
    n: usize,
) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            app.send_sms(&s.live_key, s.sms_template, "07700900123", None)
                .await,
        );
    }
    db.execute(
        "UPDATE notifications SET notification_status = 'sending', reference = 'ref-' || id WHERE id = ANY($1)",
        &[&ids],
    )
    .await
    .unwrap();
    ids
}

fn delivered(id: Uuid) -> StatusBody {
    StatusBody::Task(Message::Receipt {
        v: 1,
        provider: "mmg".into(),
        reference: format!("ref-{id}"),
        status: NotificationStatus::Delivered,
        at: chrono::Utc::now(),
    })
}

/// Callbacks on the queue, taken off it, counted per subject; with their bodies.
fn queued(app: &TestApp) -> (BTreeMap<Uuid, usize>, Vec<Value>) {
    let mut counts = BTreeMap::new();
    let mut bodies = Vec::new();
    for m in app.queue.take_all(&app.state.config.queues.callbacks) {
        let Message::Callback(cb) = m else {
            panic!("not a callback: {m:?}")
        };
        *counts.entry(cb.subject_id).or_default() += 1;
        bodies.push(serde_json::from_str(&cb.body).unwrap());
    }
    (counts, bodies)
}

async fn relay(app: &TestApp) -> Value {
    jobs::run(&app.state, Job::RelayCallbackOutbox, jobs::TIME_BUDGET)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_callbacks_queue_outage_delays_every_callback_and_loses_none() {
    let app = TestApp::new().await;
    let db = sql(&app).await;
    let s = service_with_callbacks(&app).await;
    let texts = sending(&app, &s, &db, 3).await;
    let stale = sending(&app, &s, &db, 1).await[0];
    db.execute(
        "UPDATE notifications SET created_at = now() - interval '73 hours' WHERE id = $1",
        &[&stale],
    )
    .await
    .unwrap();

    app.queue.set_unavailable(true);
    let bodies: Vec<StatusBody> = texts.iter().map(|id| delivered(*id)).collect();
    let retry = notify_app::status::handle_batch(&app.state, &bodies)
        .await
        .unwrap();
    assert!(
        retry.is_empty(),
        "receipts applied although the queue is down"
    );
    let r = app
        .request("POST", "/inbound/sms/mmg", None, Some(br#"{"MSISDN":"447700900123","Number":"447700900888","Message":"Yes+please%21","ID":"mmg-1","DateRecieved":"2026-11-27+10%3A00%3A00"}"#))
        .await;
    assert_eq!(
        r.status, 200,
        "the text is stored although the queue is down"
    );
    let timed_out = jobs::run(
        &app.state,
        Job::TimeoutSendingNotifications,
        jobs::TIME_BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(
        timed_out,
        json!({"timed_out": 1, "callbacks_due": 1, "callbacks_queued": 0})
    );
    // The sweeper runs during the outage too: it keeps everything.
    assert_eq!(relay(&app).await["queued"], 0);
    assert_eq!(app.state.db.outbox_len().await.unwrap(), 5);
    assert!(queued(&app).0.is_empty());
    // What waits in the outbox carries no personal data.
    let stored: String = db
        .query_one(
            "SELECT coalesce(string_agg(o::text, ' '), '') FROM callback_outbox o",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains("07700900123") && !stored.contains("447700900123"));
    assert!(!stored.contains("please"));

    app.queue.set_unavailable(false);
    assert_eq!(
        relay(&app).await,
        json!({"queued": 5, "kept": 0, "dropped": 0})
    );
    assert_eq!(relay(&app).await["queued"], 0, "nothing sent twice");
    assert_eq!(app.state.db.outbox_len().await.unwrap(), 0);
    let (counts, bodies) = queued(&app);
    let inbound: Uuid = db
        .query_one("SELECT id FROM inbound_sms", &[])
        .await
        .unwrap()
        .get(0);
    let mut expected: BTreeMap<Uuid, usize> = texts
        .iter()
        .chain([&stale, &inbound])
        .map(|id| (*id, 1))
        .collect();
    assert_eq!(
        counts,
        std::mem::take(&mut expected),
        "each callback exactly once"
    );
    let status_of = |id: Uuid| {
        bodies
            .iter()
            .find(|b| b["id"] == id.to_string())
            .map(|b| b["status"].clone())
    };
    assert_eq!(status_of(texts[0]), Some(json!("delivered")));
    assert_eq!(status_of(stale), Some(json!("temporary-failure")));
    let text = bodies
        .iter()
        .find(|b| b["id"] == inbound.to_string())
        .unwrap();
    assert_eq!(text["message"], "Yes please!");
    assert_eq!(text["source_number"], "447700900123");
    let receipt = bodies
        .iter()
        .find(|b| b["id"] == texts[1].to_string())
        .unwrap();
    assert_eq!(receipt["to"], "07700900123");
}

#[tokio::test]
async fn a_crash_between_the_commit_and_the_relay_is_recovered_by_the_sweeper() {
    let app = TestApp::new().await;
    let db = sql(&app).await;
    let s = service_with_callbacks(&app).await;
    let id = sending(&app, &s, &db, 1).await[0];
    // The receipt's statement commits, and the worker dies before its fast path relays anything.
    let (applied, _) = app
        .state
        .db
        .apply_receipts(&[(format!("ref-{id}"), NotificationStatus::Delivered)])
        .await
        .unwrap();
    assert!(applied[0].outbox_id.is_some());
    assert!(queued(&app).0.is_empty());

    assert_eq!(relay(&app).await["queued"], 1);
    let (counts, bodies) = queued(&app);
    assert_eq!(counts, BTreeMap::from([(id, 1)]));
    assert_eq!(bodies[0]["status"], "delivered");
    assert_eq!(relay(&app).await["queued"], 0);
}

#[tokio::test]
async fn the_fast_path_queues_at_once_and_leaves_the_outbox_empty() {
    let app = TestApp::new().await;
    let db = sql(&app).await;
    let s = service_with_callbacks(&app).await;
    let ids = sending(&app, &s, &db, 2).await;
    let bodies: Vec<StatusBody> = ids.iter().map(|id| delivered(*id)).collect();
    notify_app::status::handle_batch(&app.state, &bodies)
        .await
        .unwrap();
    let (counts, _) = queued(&app);
    assert_eq!(counts, ids.iter().map(|id| (*id, 1)).collect());
    assert_eq!(app.state.db.outbox_len().await.unwrap(), 0);
}
