//! The scheduled jobs, run as `notify run-job` and the scheduler run them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use notify_app::jobs;
use notify_app::jobs::Job;
use notify_core::messages::Message;
use notify_queue::SqsQueue;
use notify_tests::TestApp;
use serde_json::json;
use uuid::Uuid;

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn a_send_made_while_the_queue_was_down_is_replayed_and_sent_once() {
    let mut p = crate::pipeline::pipeline_with(|c| c.delivery.replay_after = Duration::ZERO).await;
    let s = p.app.service(false).await;
    let working = p.app.state.queue.clone();
    // SQS unreachable while the API accepts the send.
    p.app
        .use_queue(Arc::new(SqsQueue::new(notify_tests::sqs_client(
            "http://127.0.0.1:1",
        ))));
    let id = p
        .send(&s.live_key, "/v2/notifications/sms", json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}}))
        .await;
    assert_eq!(
        p.app.stored(s.service.id, id).await.status,
        notify_core::model::NotificationStatus::Created
    );
    p.app.use_queue(working);
    // Twice, as overlapping runs might: the claim-if-created rule sends it once.
    for _ in 0..2 {
        let report = jobs::run(
            &p.app.state,
            Job::ReplayCreatedNotifications,
            jobs::TIME_BUDGET,
        )
        .await
        .unwrap();
        assert_eq!(report["replayed"], 1, "{report}");
    }
    p.wait_for_status(&s.live_key, id, "delivered").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        p.aws_sms.calls.load(Ordering::SeqCst),
        1,
        "exactly one provider call"
    );
}

#[tokio::test]
async fn past_retention_notifications_leave_every_get_and_keep_history_without_personal_data() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let db = sql(&app).await;
    let live = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let test = app
        .send_sms(&s.test_key, s.sms_template, "07700900123", None)
        .await;
    let fresh = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    db.execute(
        "UPDATE notifications SET created_at = now() - interval '9 days' WHERE id = ANY($1)",
        &[&vec![live, test]],
    )
    .await
    .unwrap();
    let report = jobs::run(
        &app.state,
        Job::DeleteNotificationsOlderThanRetention,
        jobs::TIME_BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(report["notifications_removed"], 2, "{report}");
    for id in [live, test] {
        let r = app
            .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
            .await;
        assert_eq!(r.status, 404);
    }
    let listed = app
        .call("GET", "/v2/notifications", &s.live_key, None)
        .await
        .json();
    let ids: Vec<&str> = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [fresh.to_string()]);
    let history: Vec<Uuid> = db
        .query("SELECT id FROM notification_history", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(history, [live], "test-key notifications leave no history");
    let columns: Vec<String> = db
        .query("SELECT column_name::text FROM information_schema.columns WHERE table_name = 'notification_history'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for pii in [
        "to",
        "normalised_to",
        "personalisation",
        "reply_to_text",
        "unsubscribe_link",
    ] {
        assert!(!columns.contains(&pii.to_string()), "history keeps {pii}");
    }

    // A service keeping texts for 10 days keeps a 9-day-old one.
    let r = app
        .admin(
            "POST",
            &format!("/service/{}/data-retention", s.service.id),
            Some(json!({"notification_type": "sms", "days_of_retention": 10})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    db.execute(
        "UPDATE notifications SET created_at = now() - interval '9 days' WHERE id = $1",
        &[&fresh],
    )
    .await
    .unwrap();
    let report = jobs::run(
        &app.state,
        Job::DeleteNotificationsOlderThanRetention,
        jobs::TIME_BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(report["notifications_removed"], 0, "{report}");
}

#[tokio::test]
async fn sends_still_sending_after_72_hours_time_out_with_their_callbacks() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let r = app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": "https://callbacks.example.gov.uk/x", "bearer_token": "a-long-enough-token", "callback_type": "delivery_status"}))).await;
    assert_eq!(r.status, 201);
    let db = sql(&app).await;
    let old = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let recent = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    db.execute(
        "UPDATE notifications SET notification_status = 'sending' WHERE id = ANY($1)",
        &[&vec![old, recent]],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE notifications SET created_at = now() - interval '73 hours' WHERE id = $1",
        &[&old],
    )
    .await
    .unwrap();
    let report = jobs::run(
        &app.state,
        Job::TimeoutSendingNotifications,
        jobs::TIME_BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(
        report,
        json!({"timed_out": 1, "callbacks_due": 1, "callbacks_queued": 1})
    );
    use notify_core::model::NotificationStatus::*;
    assert_eq!(app.stored(sid, old).await.status, TemporaryFailure);
    assert_eq!(app.stored(sid, recent).await.status, Sending);
    match app.queue.take_all("service-callbacks").as_slice() {
        [Message::Callback(cb)] => {
            let body: serde_json::Value = serde_json::from_str(&cb.body).unwrap();
            assert_eq!(
                (body["id"].as_str(), body["status"].as_str()),
                (Some(old.to_string().as_str()), Some("temporary-failure"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn provider_weights_tend_back_to_rest_ten_points_at_a_time() {
    let app = TestApp::new().await;
    let db = sql(&app).await;
    db.batch_execute(
        "UPDATE provider_details SET priority = 21 WHERE identifier = 'mmg'; \
                      UPDATE provider_details SET priority = 79 WHERE identifier = 'firetext';",
    )
    .await
    .unwrap();
    let weights = || async {
        db.query("SELECT identifier, priority FROM provider_details WHERE identifier IN ('mmg', 'firetext') ORDER BY identifier", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1)))
            .collect::<Vec<_>>()
    };
    jobs::run(
        &app.state,
        Job::TendProvidersBackToMiddle,
        jobs::TIME_BUDGET,
    )
    .await
    .unwrap();
    assert_eq!(
        weights().await,
        [("firetext".into(), 69), ("mmg".into(), 31)]
    );
    for _ in 0..5 {
        jobs::run(
            &app.state,
            Job::TendProvidersBackToMiddle,
            jobs::TIME_BUDGET,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        weights().await,
        [("firetext".into(), 49), ("mmg".into(), 51)],
        "rests at Notify's 51/49"
    );
    let queue_untouched = app.queue.take_all("deliver-sms");
    assert!(queue_untouched.is_empty());
}

#[tokio::test]
async fn nightly_facts_feed_statistics_and_the_usage_summary() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let delivered = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let failed = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let test_key = app
        .send_sms(&s.test_key, s.sms_template, "07700900123", None)
        .await;
    let r = app
        .call("POST", "/v2/notifications/email", &s.live_key, Some(json!({"email_address": "a@example.com", "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}})))
        .await;
    let email: Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
    db.batch_execute(&format!(
        "UPDATE notifications SET created_at = now() - interval '1 day', sent_by = 'firetext' \
             WHERE service_id = '{sid}'; \
         UPDATE notifications SET notification_status = 'delivered', billable_units = 2 WHERE id IN ('{delivered}', '{test_key}'); \
         UPDATE notifications SET notification_status = 'permanent-failure', billable_units = 1 WHERE id = '{failed}'; \
         UPDATE notifications SET notification_status = 'delivered', sent_by = 'ses' WHERE id = '{email}';"
    ))
    .await
    .unwrap();
    let today = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    // Twice: rebuilding is idempotent.
    for _ in 0..2 {
        for job in [
            Job::CreateNightlyNotificationStatus,
            Job::CreateNightlyBilling,
        ] {
            jobs::run(&app.state, job, jobs::TIME_BUDGET).await.unwrap();
        }
    }
    let stats = app
        .admin(
            "GET",
            &format!("/service/{sid}/statistics?limit_days=7"),
            None,
        )
        .await;
    assert_eq!(stats.status, 200);
    assert_eq!(
        stats.json()["data"],
        json!({"sms": {"requested": 3, "delivered": 1, "failed": 1},
               "email": {"requested": 1, "delivered": 1, "failed": 0},
               "letter": {"requested": 0, "delivered": 0, "failed": 0}}),
        "yesterday from the facts, today ({today}) live, test keys left out"
    );
    let year = db
        .query_one(
            "SELECT extract(year FROM (now() AT TIME ZONE 'Europe/London')::date - 1)::int",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i32>(0);
    let usage = app
        .admin(
            "GET",
            &format!("/service/{sid}/billing/yearly-usage-summary?year={year}"),
            None,
        )
        .await
        .json();
    let sms = usage
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["notification_type"] == "sms")
        .unwrap();
    assert_eq!(
        (
            sms["notifications_sent"].as_i64(),
            sms["chargeable_units"].as_i64()
        ),
        (Some(2), Some(3))
    );
    let rate = sms["rate"].as_f64().unwrap();
    assert!(
        rate > 0.0 && (sms["cost"].as_f64().unwrap() - 3.0 * rate).abs() < 1e-9,
        "{sms}"
    );
    assert_eq!(
        app.admin(
            "GET",
            &format!("/service/{sid}/statistics?limit_days=0"),
            None
        )
        .await
        .status,
        400
    );
}
