//! Issue 14's housekeeping jobs (run-scheduled-jobs, check-job-status, update-status-of-fully-processed-jobs,
//! send-scheduled-notifications), scheduled single sends and `GET /v2/notifications?include_jobs=true`.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use notify_app::AppState;
use notify_app::bulk::scheduled_sends;
use notify_app::jobs::{self, Job};
use notify_core::messages::Message;
use notify_core::model::JobStatus;
use notify_db::{Db, NewJob};
use notify_tests::{TestApp, TestService};

use crate::messages;

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A job of the service's SMS template, as the admin API would create it.
async fn job(
    app: &TestApp,
    s: &TestService,
    status: JobStatus,
    scheduled_for: Option<DateTime<Utc>>,
    notification_count: i32,
) -> Uuid {
    let version: i32 = sql(app)
        .await
        .query_one(
            "SELECT version FROM templates WHERE id = $1",
            &[&s.sms_template],
        )
        .await
        .unwrap()
        .get(0);
    let id = Uuid::new_v4();
    app.state
        .db
        .insert_job(&NewJob {
            id,
            service_id: s.service.id,
            template_id: s.sms_template,
            template_version: version,
            original_file_name: "people.csv".into(),
            notification_count,
            status,
            scheduled_for,
            created_by_id: None,
            api_key_id: None,
            sender_id: None,
            upload_key: format!("service-{}-notify/{id}.csv", s.service.id),
        })
        .await
        .unwrap();
    id
}

async fn status(app: &TestApp, service_id: Uuid, job_id: Uuid) -> JobStatus {
    app.state
        .db
        .get_job(service_id, job_id)
        .await
        .unwrap()
        .unwrap()
        .status
}

fn process_jobs(messages: &[Message]) -> Vec<Uuid> {
    messages
        .iter()
        .map(|m| match m {
            Message::ProcessJob { job_id, .. } => *job_id,
            other => panic!("not a ProcessJob: {other:?}"),
        })
        .collect()
}

/// The same database and queue as `app`, through a pool of its own: a second scheduler.
fn second_scheduler(app: &TestApp) -> AppState {
    let db = Db::connect(&app.database_url, 4, "notify-test-second").unwrap();
    AppState::new((*app.state.config).clone(), db, app.queue.clone())
}

const BUDGET: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_schedulers_racing_release_each_due_job_once() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let now = Utc::now();
    let mut due = BTreeSet::new();
    for _ in 0..40 {
        due.insert(
            job(
                &app,
                &s,
                JobStatus::Scheduled,
                Some(now - chrono::Duration::minutes(1)),
                1,
            )
            .await,
        );
    }
    let later = job(
        &app,
        &s,
        JobStatus::Scheduled,
        Some(now + chrono::Duration::hours(1)),
        1,
    )
    .await;
    let other = second_scheduler(&app);
    let (a, b) = tokio::join!(
        jobs::run(&app.state, Job::RunScheduledJobs, BUDGET),
        jobs::run(&other, Job::RunScheduledJobs, BUDGET),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a["queued"].as_u64().unwrap() + b["queued"].as_u64().unwrap(),
        40,
        "{a} {b}"
    );
    let queued = process_jobs(&app.queue.take_all(&app.state.config.queues.jobs));
    assert_eq!(queued.len(), 40, "each job queued exactly once");
    assert_eq!(queued.iter().copied().collect::<BTreeSet<_>>(), due);
    for id in &due {
        assert_eq!(status(&app, s.service.id, *id).await, JobStatus::Pending);
    }
    assert_eq!(
        status(&app, s.service.id, later).await,
        JobStatus::Scheduled
    );
    // Nothing is due any more: a further run queues nothing.
    jobs::run(&app.state, Job::RunScheduledJobs, BUDGET)
        .await
        .unwrap();
    assert!(app.queue.take_all(&app.state.config.queues.jobs).is_empty());
}

#[tokio::test]
async fn check_job_status_errors_and_requeues_stuck_jobs_only() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let db = sql(&app).await;
    let stuck = job(&app, &s, JobStatus::InProgress, None, 10).await;
    let working = job(&app, &s, JobStatus::InProgress, None, 10).await;
    let never_taken = job(&app, &s, JobStatus::Pending, None, 10).await;
    let fresh = job(&app, &s, JobStatus::Pending, None, 10).await;
    db.execute(
        "UPDATE jobs SET processing_started = now() - interval '2 hours', \
           processing_heartbeat = now() - interval '31 minutes' WHERE id = $1",
        &[&stuck],
    )
    .await
    .unwrap();
    // Started long ago but still beating: a big job, not a stuck one.
    db.execute(
        "UPDATE jobs SET processing_started = now() - interval '2 hours', \
           processing_heartbeat = now() - interval '1 minute' WHERE id = $1",
        &[&working],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE jobs SET created_at = now() - interval '31 minutes' WHERE id = $1",
        &[&never_taken],
    )
    .await
    .unwrap();
    let other = second_scheduler(&app);
    let (a, b) = tokio::join!(
        jobs::run(&app.state, Job::CheckJobStatus, BUDGET),
        jobs::run(&other, Job::CheckJobStatus, BUDGET),
    );
    a.unwrap();
    b.unwrap();
    let queued = process_jobs(&app.queue.take_all(&app.state.config.queues.jobs));
    assert_eq!(
        queued.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([stuck, never_taken])
    );
    assert_eq!(queued.len(), 2, "each stuck job queued once");
    assert_eq!(status(&app, s.service.id, stuck).await, JobStatus::Error);
    assert_eq!(
        status(&app, s.service.id, never_taken).await,
        JobStatus::Error
    );
    assert_eq!(
        status(&app, s.service.id, working).await,
        JobStatus::InProgress
    );
    assert_eq!(status(&app, s.service.id, fresh).await, JobStatus::Pending);
}

/// Sends `n` texts and makes them rows 0.. of `job_id`.
async fn job_rows(app: &TestApp, s: &TestService, job_id: Uuid, n: i32) {
    let db = sql(app).await;
    for row in 0..n {
        let id = app
            .send_sms(&s.live_key, s.sms_template, "07700900123", None)
            .await;
        db.execute(
            "UPDATE notifications SET job_id = $1, job_row_number = $2 WHERE id = $3",
            &[&job_id, &row, &id],
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn finished_jobs_with_every_notification_become_finished_all_notifications_created() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let db = sql(&app).await;
    let complete = job(&app, &s, JobStatus::Finished, None, 2).await;
    let short = job(&app, &s, JobStatus::Finished, None, 3).await;
    let just_now = job(&app, &s, JobStatus::Finished, None, 1).await;
    job_rows(&app, &s, complete, 2).await;
    job_rows(&app, &s, short, 2).await;
    job_rows(&app, &s, just_now, 1).await;
    db.execute(
        "UPDATE jobs SET processing_finished = now() - interval '2 minutes' WHERE id IN ($1, $2)",
        &[&complete, &short],
    )
    .await
    .unwrap();
    // Upstream waits a minute after processing finished before counting.
    db.execute(
        "UPDATE jobs SET processing_finished = now() WHERE id = $1",
        &[&just_now],
    )
    .await
    .unwrap();
    let report = jobs::run(&app.state, Job::UpdateStatusOfFullyProcessedJobs, BUDGET)
        .await
        .unwrap();
    assert_eq!(report["finished_all_notifications_created"], 1);
    assert_eq!(
        status(&app, s.service.id, complete).await,
        JobStatus::FinishedAllNotificationsCreated
    );
    assert_eq!(status(&app, s.service.id, short).await, JobStatus::Finished);
    assert_eq!(
        status(&app, s.service.id, just_now).await,
        JobStatus::Finished
    );
}

async fn post(app: &TestApp, key: &str, channel: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .call(
            "POST",
            &format!("/v2/notifications/{channel}"),
            key,
            Some(body),
        )
        .await;
    (r.status, r.json())
}

async fn scheduled_row(app: &TestApp, id: Uuid) -> Option<(DateTime<Utc>, bool)> {
    sql(app)
        .await
        .query_opt(
            "SELECT scheduled_for, pending FROM scheduled_notifications WHERE notification_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_scheduled_send_is_stored_not_queued_and_released_at_its_time() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let when = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let (code, body) = post(
        &app,
        &s.live_key,
        "sms",
        json!({"phone_number": "07700900123", "template_id": s.sms_template,
               "personalisation": {"name": "x"}, "scheduled_for": when}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let id = id_of(&body);
    let scheduled_for: DateTime<Utc> = chrono::SubsecRound::trunc_subsecs(
        DateTime::parse_from_rfc3339(&when).unwrap().to_utc(),
        6,
    );
    assert_eq!(
        body["scheduled_for"],
        notify_core::time::format(scheduled_for)
    );
    assert!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .is_empty(),
        "not queued at acceptance"
    );
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status.as_str(), "created");
    assert_eq!(scheduled_row(&app, id).await, Some((scheduled_for, true)));
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(got["scheduled_for"], body["scheduled_for"]);
    // The replay job leaves a scheduled send waiting for its time alone.
    let replayable = app
        .state
        .db
        .created_for_replay(Duration::ZERO, None, 100)
        .await
        .unwrap();
    assert!(replayable.iter().all(|(n, ..)| *n != id));
    // Not before its time ...
    jobs::run(&app.state, Job::SendScheduledNotifications, BUDGET)
        .await
        .unwrap();
    assert!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .is_empty()
    );
    // ... and at it, once, even with two schedulers.
    let release_at = scheduled_for + chrono::Duration::seconds(30);
    let other = second_scheduler(&app);
    let (a, b) = tokio::join!(
        scheduled_sends::release_due(&app.state, release_at, || true),
        scheduled_sends::release_due(&other, release_at, || true),
    );
    assert_eq!(
        a.unwrap()["released"].as_u64().unwrap() + b.unwrap()["released"].as_u64().unwrap(),
        1
    );
    assert_eq!(
        app.queue.take_all(&app.state.config.queues.deliver_sms),
        [Message::deliver(id)]
    );
    assert_eq!(scheduled_row(&app, id).await, Some((scheduled_for, false)));
    scheduled_sends::release_due(&app.state, release_at, || true)
        .await
        .unwrap();
    assert!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .is_empty()
    );
    // An email too; a time without an offset is UTC; far-future times are refused, so this one is in range.
    let (code, body) = post(
        &app,
        &s.live_key,
        "email",
        json!({"email_address": "someone@example.com", "template_id": s.email_template,
               "personalisation": {"name": "x", "items": "y"},
               "scheduled_for": (Utc::now() + chrono::Duration::hours(95)).format("%Y-%m-%dT%H:%M:%S").to_string()}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert!(body["scheduled_for"].is_string());
    assert!(scheduled_row(&app, id_of(&body)).await.unwrap().1);
    assert!(
        app.queue
            .take_all(&app.state.config.queues.deliver_email)
            .is_empty()
    );
}

#[tokio::test]
async fn scheduled_for_is_at_most_96_hours_ahead_in_gc_notifys_words() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let send = |when: String| {
        let (app, s) = (&app, &s);
        async move {
            post(
                app,
                &s.live_key,
                "sms",
                json!({"phone_number": "07700900123", "template_id": s.sms_template,
                       "personalisation": {"name": "x"}, "scheduled_for": when}),
            )
            .await
        }
    };
    let (code, body) = send((Utc::now() + chrono::Duration::hours(97)).to_rfc3339()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        messages(&body),
        ["scheduled_for datetime can only be up to 96 hours in the future"]
    );
    let (code, body) = send("2001-01-01T10:00:00Z".into()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        messages(&body),
        ["scheduled_for datetime cannot be in the past"]
    );
    let (code, body) = send((Utc::now() + chrono::Duration::hours(95)).to_rfc3339()).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    // A test key's scheduled send is stored and released like any other (the worker then fakes its delivery).
    let (code, body) = post(
        &app,
        &s.test_key,
        "sms",
        json!({"phone_number": "07700900123", "template_id": s.sms_template,
               "personalisation": {"name": "x"},
               "scheduled_for": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert!(scheduled_row(&app, id_of(&body)).await.unwrap().1);
    // A simulated recipient is answered as any send and nothing is stored, scheduled or not.
    let (code, body) = post(
        &app,
        &s.live_key,
        "sms",
        json!({"phone_number": "07700900000", "template_id": s.sms_template,
               "personalisation": {"name": "x"},
               "scheduled_for": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert!(body["scheduled_for"].is_string());
    assert_eq!(scheduled_row(&app, id_of(&body)).await, None);
}

async fn cancel(app: &TestApp, service_id: Uuid, id: Uuid) -> (u16, Value) {
    let r = app
        .admin(
            "POST",
            &format!("/service/{service_id}/notifications/{id}/cancel"),
            None,
        )
        .await;
    (r.status.as_u16(), r.json())
}

#[tokio::test]
async fn a_pending_scheduled_send_can_be_cancelled_and_a_released_one_cannot() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let in_an_hour = Utc::now() + chrono::Duration::hours(1);
    let schedule = |minutes: i64| {
        let (app, s) = (&app, &s);
        async move {
            let (code, body) = post(
                app,
                &s.live_key,
                "sms",
                json!({"phone_number": "07700900123", "template_id": s.sms_template,
                       "personalisation": {"name": "x"},
                       "scheduled_for": (in_an_hour + chrono::Duration::minutes(minutes)).to_rfc3339()}),
            )
            .await;
            assert_eq!(code, StatusCode::CREATED, "{body}");
            id_of(&body)
        }
    };
    schedule(0).await;
    let released = schedule(1).await;
    scheduled_sends::release_due(
        &app.state,
        in_an_hour + chrono::Duration::minutes(1),
        || true,
    )
    .await
    .unwrap();
    let deliveries = app.queue.take_all(&app.state.config.queues.deliver_sms);
    assert_eq!(deliveries.len(), 2);
    let cancelled = schedule(30).await;

    let (code, body) = cancel(&app, s.service.id, cancelled).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(scheduled_row(&app, cancelled).await.unwrap().1, false);
    // Never released.
    scheduled_sends::release_due(&app.state, in_an_hour + chrono::Duration::hours(2), || true)
        .await
        .unwrap();
    assert!(
        app.queue
            .take_all(&app.state.config.queues.deliver_sms)
            .is_empty()
    );
    assert_eq!(
        cancel(&app, s.service.id, cancelled).await,
        (
            400,
            json!({"result": "error", "message": "This notification has already been cancelled."})
        )
    );
    let (code, body) = cancel(&app, s.service.id, released).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("It’s too late to cancel this notification. It was scheduled for "),
        "{body}"
    );
    // An unscheduled text is refused as upstream refuses it.
    let plain = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    assert_eq!(
        cancel(&app, s.service.id, plain).await,
        (
            400,
            json!({"result": "error", "message": "Notification cannot be cancelled - only letters can be cancelled"})
        )
    );
}

#[tokio::test]
async fn job_notifications_are_listed_only_with_include_jobs() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let one_off = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let job_id = job(&app, &s, JobStatus::Finished, None, 2).await;
    job_rows(&app, &s, job_id, 2).await;
    let listed = |query: &'static str| {
        let (app, s) = (&app, &s);
        async move {
            let r = app
                .call(
                    "GET",
                    &format!("/v2/notifications{query}"),
                    &s.live_key,
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
            r.json()["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().parse::<Uuid>().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("").await, [one_off]);
    let all = listed("?include_jobs=true").await;
    assert_eq!(all.len(), 3);
    assert!(all.contains(&one_off));
}
