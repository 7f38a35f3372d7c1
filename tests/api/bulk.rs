//! `POST /v2/notifications/bulk`, GC Notify's public bulk endpoint, through plain HTTP calls: every message of
//! GC Notify's `post_bulk` (and its tests in `tests/app/v2/notifications/test_post_notifications.py`), both forms of
//! the file, scheduling, the sender, and the job it creates (its CSV and metadata in the file store, its
//! `ProcessJob` on the jobs queue).

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use notify_app::admin::{self, CreateTemplate};
use notify_core::jobs::{JobMetadata, MAX_ROWS, csv_upload_key};
use notify_core::messages::Message;
use notify_core::model::{NotificationType, Postage, ServicePermission};
use notify_tests::{Response, TestApp, TestService};

use crate::{error_types, messages};

const BULK: &str = "/v2/notifications/bulk";

async fn bulk(app: &TestApp, key: &str, body: Value) -> Response {
    app.call("POST", BULK, key, Some(body)).await
}

/// The one error of a refused request: its status, type and message.
async fn refused(app: &TestApp, key: &str, body: Value) -> (u16, String, String) {
    let r = bulk(app, key, body).await;
    let json = r.json();
    assert_eq!(messages(&json).len(), 1, "{json}");
    (
        r.status.as_u16(),
        error_types(&json)[0].clone(),
        messages(&json)[0].clone(),
    )
}

fn bad_request(message: &str) -> (u16, String, String) {
    (400, "BadRequestError".into(), message.into())
}

fn validation(message: &str) -> (u16, String, String) {
    (400, "ValidationError".into(), message.into())
}

/// Python's `csv.writer` of the rows, as GC Notify's tests make their `csv` (`rows_to_csv`).
fn rows_to_csv(rows: &[Vec<&str>]) -> String {
    rows.iter()
        .map(|row| row.join(","))
        .map(|line| line + "\r\n")
        .collect()
}

/// Both ways of giving the same file.
fn with_file(mut body: Value, rows: &[Vec<&str>], as_csv: bool) -> Value {
    if as_csv {
        body["csv"] = rows_to_csv(rows).into();
    } else {
        body["rows"] = json!(rows);
    }
    body
}

async fn template(app: &TestApp, s: &TestService, t: NotificationType, content: &str) -> Uuid {
    admin::create_template(
        &app.state,
        CreateTemplate {
            service_id: s.service.id,
            name: "bulk".into(),
            template_type: t,
            content: content.into(),
            subject: (t != NotificationType::Sms).then(|| "Subject".to_string()),
            postage: Some(Postage::Second),
            created_by: None,
            letter_contact_id: None,
            has_unsubscribe_link: false,
        },
    )
    .await
    .unwrap()
    .id
}

async fn update_service(app: &TestApp, s: &TestService, body: Value) {
    let r = app
        .admin("POST", &format!("/service/{}", s.service.id), Some(body))
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
}

#[tokio::test]
async fn the_body_is_checked_as_gc_notify_checks_it() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let key = &s.live_key;
    let t = s.email_template;
    let base = json!({"name": "job_name", "template_id": t});
    for args in [
        json!({}),
        json!({"rows": [1, 2], "csv": "foo"}),
        json!({"csv": ""}),
    ] {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(args.as_object().unwrap().clone());
        assert_eq!(
            refused(&app, key, body).await,
            bad_request("You should specify either rows or csv")
        );
    }
    assert_eq!(
        refused(&app, key, json!({"template_id": t, "csv": "foo"})).await,
        validation("name is a required property")
    );
    assert_eq!(
        refused(
            &app,
            key,
            json!({"name": "n", "template_id": "nope", "csv": "foo"})
        )
        .await,
        validation("template_id is not a valid UUID")
    );
    assert_eq!(
        refused(&app, key, json!({"name": "n", "template_id": t, "rows": [["email address"], ["bob@example.com"]], "reply_to_id": "foo"})).await,
        validation("reply_to_id is not a valid UUID")
    );
    assert_eq!(
        refused(
            &app,
            key,
            json!({"name": "n", "template_id": t, "rows": [["email address"]]})
        )
        .await,
        validation("rows [[email address]] is too short")
    );
    assert_eq!(
        refused(
            &app,
            key,
            json!({"name": "n", "template_id": t, "csv": "a", "colour": "red"})
        )
        .await,
        validation("Additional properties are not allowed (colour was unexpected)")
    );
    let all = bulk(&app, key, json!({"template_id": 1, "name": 2, "csv": 3})).await;
    assert_eq!(
        messages(&all.json()),
        [
            "template_id is not a valid UUID",
            "csv 3 is not of type string",
            "name 2 is not of type string"
        ],
        "every schema error at once, in the schema's order"
    );
    let r = app
        .request(
            "POST",
            BULK,
            Some(&format!("Bearer {}", notify_tests::token(key))),
            Some(b"{not json"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(messages(&r.json()), ["Invalid JSON supplied in POST data"]);
}

#[tokio::test]
async fn scheduled_for_is_at_most_96_hours_ahead() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let at = |d: Duration| {
        (Utc::now() + d)
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    for (scheduled_for, message) in [
        (json!(42), "scheduled_for 42 is not of type string, null"),
        (
            json!("foo"),
            "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            json!(at(-Duration::minutes(1))),
            "scheduled_for datetime cannot be in the past",
        ),
        (
            json!(at(Duration::hours(96) + Duration::minutes(1))),
            "scheduled_for datetime can only be up to 96 hours in the future",
        ),
    ] {
        let body = json!({"name": "job_name", "template_id": s.email_template, "scheduled_for": scheduled_for, "rows": [1, 2]});
        assert_eq!(refused(&app, &s.live_key, body).await, validation(message));
    }
}

#[tokio::test]
async fn the_template_must_be_usable() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let key = &s.live_key;
    assert_eq!(
        refused(
            &app,
            key,
            json!({"name": "n", "template_id": Uuid::new_v4(), "rows": [1, 2]})
        )
        .await,
        bad_request("Template not found")
    );
    let r = app
        .admin(
            "POST",
            &format!("/service/{}/template/{}", s.service.id, s.sms_template),
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        refused(
            &app,
            key,
            json!({"name": "n", "template_id": s.sms_template, "rows": [1, 2]})
        )
        .await,
        bad_request(&format!("Template {} has been deleted", s.sms_template))
    );
    for (permission, template, expected) in [
        (
            ServicePermission::Email,
            NotificationType::Sms,
            "text messages",
        ),
        (ServicePermission::Sms, NotificationType::Email, "emails"),
    ] {
        let other = app.service_with(false, Some(vec![permission])).await;
        let id = match template {
            NotificationType::Sms => other.sms_template,
            _ => other.email_template,
        };
        assert_eq!(
            refused(
                &app,
                &other.live_key,
                json!({"name": "n", "template_id": id, "rows": [1, 2]})
            )
            .await,
            bad_request(&format!("Service is not allowed to send {expected}"))
        );
    }
    // Rows that are not arrays are refused as Python's csv.writer refuses them, once the template is known.
    assert_eq!(
        refused(
            &app,
            key,
            json!({"name": "n", "template_id": s.email_template, "rows": [1, 2]})
        )
        .await,
        bad_request("Error converting to CSV: iterable expected, not int")
    );
}

#[tokio::test]
async fn the_sender_must_be_the_services() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let id = Uuid::new_v4();
    assert_eq!(
        refused(&app, &s.live_key, json!({"name": "n", "template_id": s.email_template, "rows": [["email address"], ["bob@example.com"]], "reply_to_id": id})).await,
        bad_request(&format!(
            "email_reply_to_id {id} does not exist in database for service id {}",
            s.service.id
        ))
    );
    assert_eq!(
        refused(&app, &s.live_key, json!({"name": "n", "template_id": s.sms_template, "rows": [["phone number", "name"], ["07700900123", "x"]], "reply_to_id": id})).await,
        bad_request(&format!(
            "sms_sender_id {id} does not exist in database for service id {}",
            s.service.id
        ))
    );
    // Another service's reply-to address is not this one's.
    let other = app.service(false).await;
    let reply = app
        .admin(
            "POST",
            &format!("/service/{}/email-reply-to", other.service.id),
            Some(json!({"email_address": "reply@example.gov.uk"})),
        )
        .await
        .json();
    let theirs = reply["data"]["id"].as_str().unwrap();
    assert_eq!(
        refused(&app, &s.live_key, json!({"name": "n", "template_id": s.email_template, "rows": [["email address"], ["bob@example.com"]], "reply_to_id": theirs})).await,
        bad_request(&format!(
            "email_reply_to_id {theirs} does not exist in database for service id {}",
            s.service.id
        ))
    );
}

#[tokio::test]
async fn column_headers_missing_or_twice() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let plain = template(&app, &s, NotificationType::Email, "Hello!").await;
    let named_email = template(&app, &s, NotificationType::Email, "Hello ((name))!").await;
    let named_sms = template(&app, &s, NotificationType::Sms, "Hello ((name))!").await;
    for as_csv in [false, true] {
        for (template, header, expected) in [
            (plain, vec!["foo"], "email address"),
            (named_email, vec!["foo"], "email address, name"),
            (named_sms, vec!["foo"], "name, phone number"),
            (named_sms, vec!["name"], "phone number"),
            (named_sms, vec!["NAME"], "phone number"),
        ] {
            let body = with_file(
                json!({"name": "job_name", "template_id": template}),
                &[header, vec!["bar"]],
                as_csv,
            );
            assert_eq!(
                refused(&app, &s.live_key, body).await,
                bad_request(&format!("Missing column headers: {expected}"))
            );
        }
    }
    let plain_sms = template(&app, &s, NotificationType::Sms, "Hello!").await;
    for (template, header, expected) in [
        (
            plain,
            vec!["email address", "email address"],
            "email address",
        ),
        (
            named_email,
            vec!["email address", "email_address", "name"],
            "email address, email_address",
        ),
        (
            plain_sms,
            vec!["phone number", "phone number"],
            "phone number",
        ),
        (
            plain_sms,
            vec!["phone number", "phone_number"],
            "phone number, phone_number",
        ),
    ] {
        let body = json!({"name": "job_name", "template_id": template, "rows": [header, ["bar"]]});
        assert_eq!(
            refused(&app, &s.live_key, body).await,
            bad_request(&format!("Duplicate column headers: {expected}"))
        );
    }
}

#[tokio::test]
async fn rows_with_errors_are_named() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let t = template(&app, &s, NotificationType::Email, "Hello ((name))").await;
    let rows = vec![
        vec!["email address", "name"],
        vec!["foo@example.com", "Foo"],
        vec!["bar@example.com"],
        vec!["nope", "nope"],
        vec!["baz@example.com", ""],
        vec!["baz@example.com", " "],
    ];
    for as_csv in [false, true] {
        let body = with_file(json!({"name": "job_name", "template_id": t}), &rows, as_csv);
        assert_eq!(
            refused(&app, &s.live_key, body).await,
            bad_request(
                "Some rows have errors. Row 1 - `name`: Missing. Row 2 - `email address`: invalid recipient. \
                 Row 3 - `name`: Missing. Row 4 - `name`: Missing."
            )
        );
    }
}

#[tokio::test]
async fn the_daily_limit_counts_the_rows() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    update_service(
        &app,
        &s,
        json!({"email_message_limit": 1, "sms_message_limit": 1}),
    )
    .await;
    let email = template(&app, &s, NotificationType::Email, "Hello!").await;
    let sms = template(&app, &s, NotificationType::Sms, "Hello!").await;
    let body = json!({"name": "job_name", "template_id": email,
        "csv": rows_to_csv(&[vec!["email address"], vec!["foo@example.com"], vec!["bar@example.com"]])});
    assert_eq!(
        refused(&app, &s.live_key, body).await,
        bad_request(
            "You only have 1 remaining messages before you reach your daily limit. You've tried to send 2 messages."
        )
    );
    let body = json!({"name": "job_name", "template_id": sms,
        "csv": rows_to_csv(&[vec!["phone number"], vec!["07700900123"], vec!["07700900124"]])});
    assert_eq!(
        refused(&app, &s.live_key, body).await,
        bad_request(
            "You only have 1 remaining sms messages before you reach your daily limit. You've tried to send 2 sms messages."
        )
    );
    // What has been sent today counts: one sent, none left.
    app.send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let body = json!({"name": "job_name", "template_id": sms, "rows": [["phone number"], ["07700900123"]]});
    assert_eq!(
        refused(&app, &s.live_key, body).await,
        bad_request(
            "You only have 0 remaining sms messages before you reach your daily limit. You've tried to send 1 sms messages."
        )
    );
}

#[tokio::test]
async fn the_rate_limit_comes_after_the_template() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    update_service(&app, &s, json!({"rate_limit": 3})).await;
    let body =
        json!({"name": "job_name", "template_id": s.email_template, "rows": [["foo"], ["bar"]]});
    // Capacity 2: one request passes the limiter (then the file is refused), the next is limited.
    let first = bulk(&app, &s.live_key, body.clone()).await;
    assert_eq!(first.status, 400, "{}", first.json());
    let r = bulk(&app, &s.live_key, body).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        messages(&r.json()),
        ["Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"]
    );
}

#[tokio::test]
async fn team_keys_and_trial_services_send_to_the_team_and_guest_list_only() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let t = template(&app, &s, NotificationType::Email, "Hello!").await;
    let body = |rows: &[Vec<&str>]| json!({"name": "job_name", "template_id": t, "csv": rows_to_csv(rows)});
    let two = [
        vec!["email address"],
        vec!["foo@example.com"],
        vec!["bar@example.com"],
    ];
    assert_eq!(
        refused(&app, &s.team_key, body(&two)).await,
        bad_request(
            "You cannot send to these recipients because you used a team and safelist API key."
        )
    );
    let r = app
        .admin(
            "PUT",
            &format!("/service/{}/guest-list", s.service.id),
            Some(json!({"email_addresses": ["Foo@Example.com"], "phone_numbers": ["+44 7700 900456"]})),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        refused(&app, &s.team_key, body(&two)).await,
        bad_request(
            "You cannot send to these recipients because you used a team and safelist API key."
        ),
        "one row not on the list refuses the file"
    );
    let r = bulk(
        &app,
        &s.team_key,
        body(&[vec!["email address"], vec!["foo@example.com"]]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["data"]["api_key"]["key_type"], "team");
    let sms = template(&app, &s, NotificationType::Sms, "Hello!").await;
    let r = bulk(
        &app,
        &s.team_key,
        json!({"name": "n", "template_id": sms, "rows": [["phone number"], ["07700900456"]]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let r = bulk(&app, &s.live_key, body(&two)).await;
    assert_eq!(
        r.status, 201,
        "a live key of a live service sends to anyone"
    );

    let trial = app.service(true).await;
    let t = template(&app, &trial, NotificationType::Email, "Hello!").await;
    let body = json!({"name": "job_name", "template_id": t, "csv": rows_to_csv(&two)});
    let trial_mode = bad_request(
        "You cannot send to these recipients because your service is in trial mode. You can only send to members of your team and your safelist.",
    );
    assert_eq!(
        refused(&app, &trial.team_key, body.clone()).await,
        trial_mode
    );
    assert_eq!(
        refused(&app, &trial.live_key, body.clone()).await,
        trial_mode
    );
    let r = bulk(&app, &trial.test_key, body).await;
    assert_eq!(r.status, 201, "test keys are not restricted: {}", r.json());
}

/// A job made through the endpoint: the 201's job, the stored CSV and metadata, and the job's `ProcessJob`.
#[tokio::test]
async fn a_job_is_created_from_rows_or_csv() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let t = template(&app, &s, NotificationType::Email, "Hello ((name))").await;
    let rows = [
        vec!["email address", "name"],
        vec!["foo@example.com", "Foo"],
        vec!["bar@example.com", "Bar"],
    ];
    for as_csv in [false, true] {
        let body = with_file(
            json!({"name": "people.csv", "template_id": t}),
            &rows,
            as_csv,
        );
        let r = bulk(&app, &s.live_key, body).await;
        assert_eq!(r.status, 201, "{}", r.json());
        let job = r.json()["data"].clone();
        let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();
        let keys = app.state.db.list_api_keys(s.service.id).await.unwrap();
        let live = keys.iter().find(|k| k.name == "live").unwrap();
        let created_at = job["created_at"].as_str().unwrap().to_string();
        assert!(created_at.ends_with("+00:00"), "{created_at}");
        assert_eq!(
            job,
            json!({
                "api_key": {"id": live.id, "key_type": "normal", "name": "live"},
                "archived": false,
                "created_at": created_at,
                "created_by": null,
                "id": id,
                "job_status": "pending",
                "notification_count": 2,
                "original_file_name": "people.csv",
                "processing_finished": null,
                "processing_started": null,
                "scheduled_for": null,
                "sender_id": null,
                "service": s.service.id,
                "service_name": {"name": s.service.name},
                "template": t,
                "template_type": "email",
                "template_version": 1,
                "updated_at": null,
            })
        );
        let key = csv_upload_key(s.service.id, id);
        let stored = app
            .state
            .files
            .get(&key)
            .await
            .unwrap()
            .expect("CSV stored");
        assert_eq!(
            String::from_utf8(stored).unwrap(),
            "email address,name\r\nfoo@example.com,Foo\r\nbar@example.com,Bar",
            "the file as GC Notify uploads it: Python's csv, stripped"
        );
        let metadata = app.state.files.metadata(&key).await.unwrap().unwrap();
        assert_eq!(
            JobMetadata::from_map(&metadata),
            JobMetadata {
                template_id: Some(t),
                notification_count: Some(2),
                valid: true,
                original_file_name: Some("people.csv".into()),
                sender_id: None,
            }
        );
        let stored = app
            .state
            .db
            .get_job(s.service.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.api_key_id, Some(live.id));
        assert_eq!(stored.upload_key.as_deref(), Some(key.as_str()));
        let queued = app.queue.take_all(&app.state.config.queues.jobs);
        assert!(
            matches!(queued.as_slice(), [Message::ProcessJob { job_id, .. }] if *job_id == id),
            "{queued:?}"
        );
    }
}

#[tokio::test]
async fn a_scheduled_job_waits_with_its_sender() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let reply = app
        .admin(
            "POST",
            &format!("/service/{}/email-reply-to", s.service.id),
            Some(json!({"email_address": "custom@example.gov.uk", "is_default": false})),
        )
        .await
        .json();
    let reply_id = reply["data"]["id"].as_str().unwrap().to_string();
    let at = Utc::now() + Duration::days(1);
    let r = bulk(
        &app,
        &s.live_key,
        json!({
            "name": "later",
            "template_id": template(&app, &s, NotificationType::Email, "Hello").await,
            "rows": [["email address"], ["foo@example.com"]],
            "scheduled_for": at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "reply_to_id": reply_id,
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let job = &r.json()["data"];
    assert_eq!(job["job_status"], "scheduled");
    assert_eq!(
        job["scheduled_for"],
        at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    );
    assert_eq!(job["sender_id"], reply_id.as_str());
    let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let metadata = app
        .state
        .files
        .metadata(&csv_upload_key(s.service.id, id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(metadata["sender_id"], reply_id);
    assert!(
        app.queue.take_all(&app.state.config.queues.jobs).is_empty(),
        "a scheduled job is released by run-scheduled-jobs, not queued now"
    );

    // An SMS job without a sender takes the service's default one, as GC Notify does.
    let sender = app
        .admin(
            "POST",
            &format!("/service/{}/sms-sender", s.service.id),
            Some(json!({"sms_sender": "07700900222", "is_default": true})),
        )
        .await
        .json();
    let sms = template(&app, &s, NotificationType::Sms, "Hello").await;
    let r = bulk(
        &app,
        &s.live_key,
        json!({"name": "n", "template_id": sms, "rows": [["phone number"], ["07700900123"]]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["data"]["sender_id"], sender["data"]["id"]);
}

#[tokio::test]
async fn at_most_100000_rows() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    update_service(&app, &s, json!({"email_message_limit": 250_000})).await;
    let t = template(&app, &s, NotificationType::Email, "Hello").await;
    let csv = |rows: usize| {
        let mut text = String::from("email address\r\n");
        for n in 0..rows {
            text.push_str(&format!("person{n}@example.com\r\n"));
        }
        text
    };
    assert_eq!(
        refused(
            &app,
            &s.live_key,
            json!({"name": "big", "template_id": t, "csv": csv(MAX_ROWS + 1)})
        )
        .await,
        bad_request("Too many rows. Maximum number of rows allowed is 100000")
    );
    let rows: Vec<Vec<String>> = std::iter::once(vec!["email address".to_string()])
        .chain((0..=MAX_ROWS).map(|n| vec![format!("person{n}@example.com")]))
        .collect();
    assert_eq!(
        refused(
            &app,
            &s.live_key,
            json!({"name": "big", "template_id": t, "rows": rows})
        )
        .await,
        bad_request("Too many rows. Maximum number of rows allowed is 100000"),
        "rows are held to the same limit"
    );
    let r = bulk(
        &app,
        &s.live_key,
        json!({"name": "big", "template_id": t, "csv": csv(MAX_ROWS)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["data"]["notification_count"], 100_000);
}

#[tokio::test]
async fn texts_too_long_are_refused_by_row() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let t = template(&app, &s, NotificationType::Sms, "Hello ((name))").await;
    let long = "a".repeat(913);
    for (rows, row) in [
        (
            vec![
                vec!["phone number", "name"],
                vec!["07700900123", long.as_str()],
            ],
            1,
        ),
        (
            vec![
                vec!["phone number", "name"],
                vec!["07700900123", "a"],
                vec!["07700900124", long.as_str()],
            ],
            2,
        ),
    ] {
        let body = json!({"name": "job_name", "template_id": t, "csv": rows_to_csv(&rows)});
        assert_eq!(
            refused(&app, &s.live_key, body).await,
            bad_request(&format!(
                "Row {row} - has a character count greater than 918 characters. Some messages may be too long due to custom content."
            ))
        );
    }
}

#[tokio::test]
async fn letters_go_in_bulk_except_from_trial_services() {
    let app = TestApp::new().await;
    let rows = json!([
        ["address line 1", "address line 2", "postcode", "thing"],
        ["A Person", "1 Street", "SW1A 1AA", "bill"]
    ]);
    let s = app.service(false).await;
    let r = bulk(
        &app,
        &s.live_key,
        json!({"name": "letters", "template_id": s.letter_template, "rows": rows}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["data"]["template_type"], "letter");
    let trial = app.service(true).await;
    assert_eq!(
        refused(
            &app,
            &trial.live_key,
            json!({"name": "letters", "template_id": trial.letter_template, "rows": rows})
        )
        .await,
        (
            403,
            "BadRequestError".into(),
            "Create letter job is not allowed for service in trial mode ".into()
        )
    );
}

/// The jobs worker makes the job's rows as the key's sends: its key, its key type, numbered from 0.
#[tokio::test]
async fn the_jobs_rows_are_the_keys_sends() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let r = app
        .admin(
            "PUT",
            &format!("/service/{}/guest-list", s.service.id),
            Some(json!({"email_addresses": [], "phone_numbers": ["07700900456", "07700900457"]})),
        )
        .await;
    assert_eq!(r.status, 204);
    let body = json!({"name": "team.csv", "template_id": s.sms_template,
        "rows": [["phone number", "name"], ["07700900456", "A"], ["07700900457", "B"]]});
    let r = bulk(&app, &s.team_key, body).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let job_id: Uuid = r.json()["data"]["id"].as_str().unwrap().parse().unwrap();
    let key_id: Uuid = r.json()["data"]["api_key"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let queued = app.queue.take_all(&app.state.config.queues.jobs);
    assert_eq!(queued.len(), 1);
    notify_app::bulk::process::process_job(&app.state, job_id, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows: Vec<(i32, String, Option<Uuid>, String)> = client
        .query(
            "SELECT job_row_number, normalised_to, api_key_id, key_type FROM notifications \
             WHERE job_id = $1 ORDER BY job_row_number",
            &[&job_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        rows,
        [
            (
                0,
                "447700900456".to_string(),
                Some(key_id),
                "team".to_string()
            ),
            (
                1,
                "447700900457".to_string(),
                Some(key_id),
                "team".to_string()
            ),
        ]
    );
    let job = app
        .state
        .db
        .get_job(s.service.id, job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status.as_str(), "finished");
}
