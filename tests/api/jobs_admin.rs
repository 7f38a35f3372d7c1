//! CSV jobs through the admin API on upstream's paths: creating one from an upload (every refusal in upstream's
//! words and shapes, scheduling, a retried request), one job with its statistics, the list with its filters and
//! paging, a job's notifications, cancelling a scheduled job and a letter job, and the scheduled-jobs summary.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use notify_app::bulk::admin::{LETTERS_ALREADY_SENT, LETTERS_STILL_PROCESSING, NOT_A_LETTER_JOB};
use notify_core::jobs::{JobMetadata, csv_upload_key};
use notify_core::messages::Message;
use notify_core::model::{KeyType, LimitName};
use notify_tests::{TestApp, TestService, redact};
use serde_json::{Value, json};
use uuid::Uuid;

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn user(app: &TestApp) -> Uuid {
    let email = format!("{}@example.gov.uk", Uuid::new_v4());
    let r = app
        .admin(
            "POST",
            "/user",
            Some(json!({"name": "Test User", "email_address": email, "mobile_number": "07700900111"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()["data"]["id"].as_str().unwrap().parse().unwrap()
}

/// Stores a CSV upload with the metadata the admin app writes; its id.
async fn upload(app: &TestApp, service_id: Uuid, metadata: JobMetadata) -> Uuid {
    let id = Uuid::new_v4();
    upload_as(app, service_id, id, &metadata.to_map()).await;
    id
}

async fn upload_as(app: &TestApp, service_id: Uuid, id: Uuid, map: &BTreeMap<String, String>) {
    app.state
        .files
        .put_with_metadata(
            &csv_upload_key(service_id, id),
            b"phone number,name\n07700900001,Ada\n".to_vec(),
            "text/csv",
            map,
        )
        .await
        .unwrap();
}

fn valid(template: Uuid, count: u32) -> JobMetadata {
    JobMetadata {
        template_id: Some(template),
        notification_count: Some(count),
        valid: true,
        original_file_name: Some("thisisatest.csv".into()),
        sender_id: None,
    }
}

async fn post_job(app: &TestApp, service_id: Uuid, body: Value) -> (u16, Value) {
    let r = app
        .admin("POST", &format!("/service/{service_id}/job"), Some(body))
        .await;
    (r.status.as_u16(), r.json())
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.admin("GET", path, None).await;
    (r.status.as_u16(), r.json())
}

async fn post(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.admin("POST", path, None).await;
    (r.status.as_u16(), r.json())
}

/// A job created through the API from a fresh valid upload of `template`; its id.
async fn job(app: &TestApp, s: &TestService, template: Uuid, created_by: Uuid) -> Uuid {
    let upload = upload(app, s.service.id, valid(template, 3)).await;
    let (status, body) = post_job(
        app,
        s.service.id,
        json!({"id": upload, "created_by": created_by}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    upload
}

fn process_jobs(app: &TestApp) -> Vec<Uuid> {
    app.queue
        .take_all(&app.state.config.queues.jobs)
        .into_iter()
        .map(|m| match m {
            Message::ProcessJob { v: 1, job_id } => job_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Makes sent notifications rows of the job, in the given statuses (row numbers in order).
async fn attach(app: &TestApp, job_id: Uuid, notifications: &[(Uuid, &str)]) {
    let db = sql(app).await;
    for (row, (id, status)) in notifications.iter().enumerate() {
        db.execute(
            "UPDATE notifications SET job_id = $1, job_row_number = $2, notification_status = $3 WHERE id = $4",
            &[&job_id, &(row as i32), status, id],
        )
        .await
        .unwrap();
    }
}

async fn set_job(app: &TestApp, job_id: Uuid, set: &str) {
    sql(app)
        .await
        .execute(&format!("UPDATE jobs SET {set} WHERE id = $1"), &[&job_id])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_job_is_created_pending_and_queued_once_even_when_the_request_is_retried() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let upload = upload(&app, s.service.id, valid(s.sms_template, 1)).await;
    let body = json!({"id": upload, "created_by": created_by});

    let (status, created) = post_job(&app, s.service.id, body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    assert_eq!(data["id"], json!(upload));
    assert_eq!(data["statistics"], json!([]));
    assert_eq!(data["job_status"], "pending");
    assert_eq!(data["scheduled_for"], Value::Null);
    assert_eq!(data["template"], json!(s.sms_template));
    assert_eq!(data["original_file_name"], "thisisatest.csv");
    assert_eq!(data["notification_count"], 1);
    assert_eq!(data["created_by"]["name"], "Test User");
    insta::assert_json_snapshot!("job_created", redact(&created));
    assert_eq!(process_jobs(&app), vec![upload]);

    let (status, again) = post_job(&app, s.service.id, body).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["data"]["id"], json!(upload));
    let count: i64 = sql(&app)
        .await
        .query_one("SELECT count(*) FROM jobs WHERE id = $1", &[&upload])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    // Queued again, which the worker's atomic claim makes a no-op: a retry after a lost queue send still runs.
    assert_eq!(process_jobs(&app), vec![upload]);
    let upload_key: String = sql(&app)
        .await
        .query_one("SELECT upload_key FROM jobs WHERE id = $1", &[&upload])
        .await
        .unwrap()
        .get(0);
    assert_eq!(upload_key, csv_upload_key(s.service.id, upload));
}

#[tokio::test]
async fn a_job_scheduled_up_to_seven_days_ahead_waits_unqueued() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let at = (Utc::now() + Duration::days(2))
        .duration_trunc(Duration::minutes(1))
        .unwrap();
    let upload = upload(&app, s.service.id, valid(s.sms_template, 1)).await;
    let (status, body) = post_job(
        &app,
        s.service.id,
        json!({"id": upload, "created_by": created_by, "scheduled_for": at.format("%Y-%m-%dT%H:%M:%S").to_string()}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["job_status"], "scheduled");
    assert_eq!(
        body["data"]["scheduled_for"],
        at.format("%Y-%m-%dT%H:%M:%S.000000Z").to_string()
    );
    assert!(process_jobs(&app).is_empty());

    for (when, message) in [
        (
            Utc::now() - Duration::minutes(1),
            "Date cannot be in the past",
        ),
        (
            Utc::now() + Duration::days(7) + Duration::minutes(5),
            "Date cannot be more than 7 days in the future",
        ),
    ] {
        let upload = self::upload(&app, s.service.id, valid(s.sms_template, 1)).await;
        let (status, body) = post_job(
            &app,
            s.service.id,
            json!({"id": upload, "created_by": created_by, "scheduled_for": when.to_rfc3339()}),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"result": "error", "message": {"scheduled_for": [message]}})
        );
    }
    let (status, body) = post_job(
        &app,
        s.service.id,
        json!({"id": upload, "created_by": created_by, "scheduled_for": "next week"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        json!({"scheduled_for": ["Not a valid datetime."]})
    );
}

#[tokio::test]
async fn a_job_is_refused_in_upstreams_words() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let trial = app.service(true).await;
    let created_by = user(&app).await;
    let sid = s.service.id;
    let error = |message: Value| json!({"result": "error", "message": message});

    // No id: upstream's schema error.
    let (status, body) = post_job(&app, sid, json!({"created_by": created_by})).await;
    assert_eq!(
        (status, body),
        (
            400,
            error(json!({"id": ["Missing data for required field."]}))
        )
    );

    // No upload there.
    let (status, body) = post_job(
        &app,
        sid,
        json!({"id": Uuid::new_v4(), "created_by": created_by}),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, error(json!("File is not valid, can't create job")))
    );

    // The upload was not checked valid.
    let mut invalid = valid(s.sms_template, 1);
    invalid.valid = false;
    let upload = self::upload(&app, sid, invalid).await;
    let (status, body) = post_job(&app, sid, json!({"id": upload, "created_by": created_by})).await;
    assert_eq!(
        (status, body),
        (400, error(json!("File is not valid, can't create job")))
    );

    // Metadata without a file name or a count.
    let mut map = valid(s.sms_template, 1).to_map();
    map.remove("original_file_name");
    map.remove("notification_count");
    let upload = Uuid::new_v4();
    upload_as(&app, sid, upload, &map).await;
    let (status, body) = post_job(&app, sid, json!({"id": upload, "created_by": created_by})).await;
    assert_eq!(
        (status, body),
        (
            400,
            error(json!({
                "original_file_name": ["Missing data for required field."],
                "notification_count": ["Missing data for required field."],
            }))
        )
    );

    // No creator.
    let upload = self::upload(&app, sid, valid(s.sms_template, 1)).await;
    let (status, body) = post_job(&app, sid, json!({"id": upload})).await;
    assert_eq!(
        (status, body),
        (
            400,
            error(json!({"created_by": ["Missing data for required field."]}))
        )
    );

    // Another service's template.
    let upload = self::upload(&app, sid, valid(trial.sms_template, 1)).await;
    let (status, body) = post_job(&app, sid, json!({"id": upload, "created_by": created_by})).await;
    assert_eq!((status, body), (404, error(json!("No result found"))));

    // Letters from a service in trial mode.
    let upload = self::upload(&app, trial.service.id, valid(trial.letter_template, 1)).await;
    let (status, body) = post_job(
        &app,
        trial.service.id,
        json!({"id": upload, "created_by": created_by}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            403,
            error(json!(
                "Create letter job is not allowed for service in trial mode "
            ))
        )
    );

    // An archived template.
    let db = sql(&app).await;
    db.execute(
        "UPDATE templates SET archived = true WHERE id = $1",
        &[&s.email_template],
    )
    .await
    .unwrap();
    let upload = self::upload(&app, sid, valid(s.email_template, 1)).await;
    let (status, body) = post_job(&app, sid, json!({"id": upload, "created_by": created_by})).await;
    assert_eq!(
        (status, body),
        (
            400,
            error(json!({"template": ["Template has been deleted"]}))
        )
    );

    // An inactive service, before anything else is looked at.
    db.execute("UPDATE services SET active = false WHERE id = $1", &[&sid])
        .await
        .unwrap();
    let (status, body) = post_job(&app, sid, json!({})).await;
    assert_eq!(
        (status, body),
        (
            403,
            error(json!("Create job is not allowed: service is inactive "))
        )
    );

    // An unknown service.
    let (status, body) = post_job(&app, Uuid::new_v4(), json!({})).await;
    assert_eq!((status, body), (404, error(json!("No result found"))));

    assert!(process_jobs(&app).is_empty());
    let jobs: i64 = db
        .query_one("SELECT count(*) FROM jobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn one_job_with_its_statistics() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let job_id = job(&app, &s, s.sms_template, created_by).await;
    let sid = s.service.id;

    let (status, body) = get(&app, &format!("/service/{sid}/job/{job_id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["statistics"], json!([]));

    let mut sent = Vec::new();
    for status in ["created", "sending", "sending", "delivered"] {
        sent.push((
            app.send_sms(&s.live_key, s.sms_template, "07700900123", None)
                .await,
            status,
        ));
    }
    attach(&app, job_id, &sent).await;
    let (status, body) = get(&app, &format!("/service/{sid}/job/{job_id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["statistics"],
        json!([
            {"status": "created", "count": 1},
            {"status": "delivered", "count": 1},
            {"status": "sending", "count": 2},
        ])
    );
    insta::assert_json_snapshot!("job_get", redact(&body));

    let (status, body) = get(
        &app,
        &format!("/service/{sid}/job/{job_id}/notification_count"),
    )
    .await;
    assert_eq!((status, body), (200, json!({"count": 4})));

    for path in [
        format!("/service/{sid}/job/{}", Uuid::new_v4()),
        format!("/service/{}/job/{job_id}", Uuid::new_v4()),
        format!("/service/{sid}/job/{}/notification_count", Uuid::new_v4()),
        format!("/service/{sid}/job/not-a-uuid"),
    ] {
        let (status, body) = get(&app, &path).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"result": "error", "message": "No result found"})
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_list_pages_and_filters_as_upstream() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let sid = s.service.id;
    let mut jobs = Vec::new();
    for _ in 0..5 {
        jobs.push(job(&app, &s, s.sms_template, created_by).await);
    }
    // Upstream's one-off and test-message jobs are never listed.
    set_job(&app, jobs[4], "original_file_name = 'Report'").await;
    set_job(
        &app,
        jobs[0],
        "job_status = 'finished', processing_started = now()",
    )
    .await;
    set_job(
        &app,
        jobs[1],
        "job_status = 'in progress', processing_started = now() - interval '1 minute'",
    )
    .await;
    set_job(&app, jobs[3], "created_at = now() - interval '10 days'").await;
    let sent = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    attach(&app, jobs[0], &[(sent, "delivered")]).await;

    let (status, body) = get(&app, &format!("/service/{sid}/job")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 4);
    assert_eq!(body["page_size"], 50);
    assert_eq!(body["links"], json!({}));
    let ids: Vec<Value> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].clone())
        .collect();
    // Not started first (newest first), then by processing_started, newest first.
    assert_eq!(
        ids,
        vec![
            json!(jobs[2]),
            json!(jobs[3]),
            json!(jobs[0]),
            json!(jobs[1])
        ]
    );
    let started = &body["data"][2];
    assert_eq!(
        started["statistics"],
        json!([{"status": "delivered", "count": 1}])
    );
    insta::assert_json_snapshot!("job_list_item", redact(started));

    let (_, body) = get(&app, &format!("/service/{sid}/job?page_size=2")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["total"], 4);
    assert_eq!(
        body["links"],
        json!({
            "next": format!("/service/{sid}/job?page_size=2&page=2"),
            "last": format!("/service/{sid}/job?page_size=2&page=2"),
        })
    );
    let (_, body) = get(&app, &format!("/service/{sid}/job?page_size=1&page=2")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["links"],
        json!({
            "prev": format!("/service/{sid}/job?page_size=1&page=1"),
            "next": format!("/service/{sid}/job?page_size=1&page=3"),
            "last": format!("/service/{sid}/job?page_size=1&page=4"),
        })
    );

    let (_, body) = get(
        &app,
        &format!("/service/{sid}/job?statuses=finished,%20in%20progress"),
    )
    .await;
    assert_eq!(body["total"], 2);
    let (_, body) = get(&app, &format!("/service/{sid}/job?statuses=")).await;
    assert_eq!(body["total"], 4);
    let (_, body) = get(&app, &format!("/service/{sid}/job?limit_days=7")).await;
    assert_eq!(body["total"], 3);
    let (status, body) = get(&app, &format!("/service/{sid}/job?limit_days=week")).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"result": "error", "message": {"limit_days": ["week is not an integer"]}})
        )
    );
    let (_, body) = get(&app, &format!("/service/{}/job", Uuid::new_v4())).await;
    assert_eq!(body["total"], 0);
}

#[tokio::test]
async fn a_jobs_notifications_in_row_order_a_page_at_a_time() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let sid = s.service.id;
    let job_id = job(&app, &s, s.sms_template, created_by).await;
    let mut sent = Vec::new();
    for status in ["delivered", "created", "delivered"] {
        sent.push((
            app.send_sms(&s.live_key, s.sms_template, "07700900123", None)
                .await,
            status,
        ));
    }
    attach(&app, job_id, &sent).await;

    let path = format!("/service/{sid}/job/{job_id}/notifications");
    let (status, body) = get(&app, &format!("{path}?page_size=2")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 3);
    assert_eq!(body["page_size"], 2);
    let rows: Vec<Value> = body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["job_row_number"].clone())
        .collect();
    assert_eq!(rows, vec![json!(0), json!(1)]);
    assert_eq!(
        body["links"],
        json!({"next": format!("{path}?page_size=2&page=2"), "last": format!("{path}?page_size=2&page=2")})
    );
    let first = &body["notifications"][0];
    assert_eq!(first["id"], json!(sent[0].0));
    assert_eq!(first["job"]["id"], json!(job_id));
    assert_eq!(first["job"]["original_file_name"], "thisisatest.csv");
    assert_eq!(first["template"]["id"], json!(s.sms_template));
    insta::assert_json_snapshot!(
        "job_notifications",
        redact(&json!({
            "keys": first.as_object().unwrap().keys().collect::<Vec<_>>(),
            "page_size": body["page_size"],
            "total": body["total"],
        }))
    );

    let (_, body) = get(&app, &format!("{path}?status=delivered")).await;
    assert_eq!(body["total"], 2);
    let (_, body) = get(&app, &format!("{path}?status=created&status=delivered")).await;
    assert_eq!(body["total"], 3);
    let (_, body) = get(
        &app,
        &format!("/service/{sid}/job/{}/notifications", Uuid::new_v4()),
    )
    .await;
    assert_eq!(body["total"], 0);
    let (status, _) = get(&app, &format!("{path}?page=0")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn only_a_scheduled_job_can_be_cancelled() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let sid = s.service.id;
    let upload = upload(&app, sid, valid(s.sms_template, 1)).await;
    let at = Utc::now() + Duration::hours(3);
    let (status, _) = post_job(
        &app,
        sid,
        json!({"id": upload, "created_by": created_by, "scheduled_for": at.to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 201);

    let (status, body) = post(&app, &format!("/service/{sid}/job/{upload}/cancel")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["id"], json!(upload));
    assert_eq!(body["data"]["job_status"], "cancelled");

    // Cancelled already, and a job that is not scheduled: not found, nothing changed.
    let (status, _) = post(&app, &format!("/service/{sid}/job/{upload}/cancel")).await;
    assert_eq!(status, 404);
    let pending = job(&app, &s, s.sms_template, created_by).await;
    let (status, body) = post(&app, &format!("/service/{sid}/job/{pending}/cancel")).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"result": "error", "message": "No result found"})
        )
    );
    let (_, body) = get(&app, &format!("/service/{sid}/job/{pending}")).await;
    assert_eq!(body["data"]["job_status"], "pending");
}

async fn send_letter(app: &TestApp, s: &TestService) -> Uuid {
    let body = json!({
        "template_id": s.letter_template,
        "personalisation": {"address_line_1": "Ms A Person", "address_line_2": "1 High Street",
                            "address_line_3": "SW1A 1AA", "thing": "letter"},
    });
    let r = app
        .call("POST", "/v2/notifications/letter", &s.live_key, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_letter_job_is_cancelled_before_it_prints_in_upstreams_words() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let created_by = user(&app).await;
    let sid = s.service.id;
    let cancel = |job: Uuid| format!("/service/{sid}/job/{job}/cancel-letter-job");

    // Not a letter job.
    let sms_job = job(&app, &s, s.sms_template, created_by).await;
    let (status, body) = post(&app, &cancel(sms_job)).await;
    assert_eq!((status, body), (400, json!({"message": NOT_A_LETTER_JOB})));

    // Still being processed.
    let letter_job = job(&app, &s, s.letter_template, created_by).await;
    let (status, body) = post(&app, &cancel(letter_job)).await;
    assert_eq!(
        (status, body),
        (400, json!({"message": LETTERS_STILL_PROCESSING}))
    );
    assert_eq!(
        LETTERS_STILL_PROCESSING,
        "We are still processing these letters, please try again in 5 minutes."
    );

    // All created: every letter and the job cancelled, the daily count given back.
    let letters = [send_letter(&app, &s).await, send_letter(&app, &s).await];
    attach(
        &app,
        letter_job,
        &[(letters[0], "created"), (letters[1], "created")],
    )
    .await;
    set_job(
        &app,
        letter_job,
        "job_status = 'finished all notifications created'",
    )
    .await;
    let counted = app
        .state
        .limiter
        .daily_count(sid, LimitName::Letter, KeyType::Normal, app.state.now())
        .await;
    let (status, body) = post(&app, &cancel(letter_job)).await;
    assert_eq!((status, body), (200, json!(2)));
    let db = sql(&app).await;
    for id in letters {
        let row = db
            .query_one(
                "SELECT notification_status, billable_units FROM notifications WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "cancelled");
        assert_eq!(row.get::<_, i32>(1), 0);
    }
    let (_, body) = get(&app, &format!("/service/{sid}/job/{letter_job}")).await;
    assert_eq!(body["data"]["job_status"], "cancelled");
    if counted >= 2 {
        assert_eq!(
            app.state
                .limiter
                .daily_count(sid, LimitName::Letter, KeyType::Normal, app.state.now())
                .await,
            counted - 2
        );
    }
    // Cancelled already: no longer "finished all notifications created".
    let (status, body) = post(&app, &cancel(letter_job)).await;
    assert_eq!(
        (status, body),
        (400, json!({"message": LETTERS_STILL_PROCESSING}))
    );

    // A letter gone on to print.
    let sent_job = job(&app, &s, s.letter_template, created_by).await;
    let letters = [send_letter(&app, &s).await, send_letter(&app, &s).await];
    attach(
        &app,
        sent_job,
        &[(letters[0], "created"), (letters[1], "sending")],
    )
    .await;
    set_job(
        &app,
        sent_job,
        "job_status = 'finished all notifications created'",
    )
    .await;
    let (status, body) = post(&app, &cancel(sent_job)).await;
    assert_eq!(
        (status, body),
        (400, json!({"message": LETTERS_ALREADY_SENT}))
    );
    assert_eq!(
        LETTERS_ALREADY_SENT,
        "It’s too late to cancel sending, these letters have already been sent."
    );
    let status: String = db
        .query_one(
            "SELECT notification_status FROM notifications WHERE id = $1",
            &[&letters[0]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "created");

    // Past its print run (created two days ago): too late even though every letter is created.
    let old_job = job(&app, &s, s.letter_template, created_by).await;
    let letter = send_letter(&app, &s).await;
    attach(&app, old_job, &[(letter, "created")]).await;
    set_job(
        &app,
        old_job,
        "job_status = 'finished all notifications created', created_at = now() - interval '2 days'",
    )
    .await;
    let (status, body) = post(&app, &cancel(old_job)).await;
    assert_eq!(
        (status, body),
        (400, json!({"message": LETTERS_ALREADY_SENT}))
    );

    let (status, body) = post(&app, &cancel(Uuid::new_v4())).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"result": "error", "message": "No result found"})
        )
    );
}

#[tokio::test]
async fn scheduled_job_stats_count_the_services_scheduled_jobs() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let other = app.service(false).await;
    let created_by = user(&app).await;
    let path = |sid: Uuid| format!("/service/{sid}/job/scheduled-job-stats");
    let (status, body) = get(&app, &path(s.service.id)).await;
    assert_eq!(
        (status, body),
        (200, json!({"count": 0, "soonest_scheduled_for": null}))
    );

    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let schedule = |s: &TestService, at: DateTime<Utc>| {
        let (app, sid, template) = (&app, s.service.id, s.sms_template);
        async move {
            let upload = upload(app, sid, valid(template, 1)).await;
            let (status, body) = post_job(
                app,
                sid,
                json!({"id": upload, "created_by": created_by, "scheduled_for": at.to_rfc3339()}),
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
    };
    schedule(&s, hour + Duration::hours(5)).await;
    schedule(&s, hour + Duration::hours(3)).await;
    schedule(&other, hour + Duration::hours(2)).await;
    // A job that is not scheduled is not counted.
    job(&app, &s, s.sms_template, created_by).await;

    let (status, body) = get(&app, &path(s.service.id)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "count": 2,
            "soonest_scheduled_for": (hour + Duration::hours(3)).format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        })
    );
}
