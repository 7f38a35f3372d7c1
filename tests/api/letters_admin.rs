//! Letters after they are sent: cancelling before the print run (every message, both sides of 17:30 London, the
//! daily limit given back), returned letters (chunks, statuses, the returned-letter callback through the outbox),
//! letter brandings with their logo files, letter billing facts and postage.

use chrono::{DateTime, Utc};
use notify_app::jobs::{self, Job};
use notify_app::letter_admin;
use notify_core::messages::Message;
use notify_core::model::{LimitName, ServicePermission};
use notify_tests::{TestApp, TestService};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::messages;

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

type Clock = fn() -> DateTime<Utc>;

/// Fixed clocks: the app's clock is a plain function, so each time is one.
macro_rules! clocks {
    ($($name:ident = $at:literal;)+) => {
        $(fn $name() -> DateTime<Utc> { at($at) })+
    };
}

clocks! {
    jan5_0900 = "2026-01-05T09:00:00Z";
    jan5_1000 = "2026-01-05T10:00:00Z";
    jan5_1729 = "2026-01-05T17:29:59Z";
    jan5_1730 = "2026-01-05T17:30:00Z";
    jan6_1000 = "2026-01-06T10:00:00Z";
    jan6_1729 = "2026-01-06T17:29:00Z";
    jan6_1730 = "2026-01-06T17:30:00Z";
    jun1_1629 = "2026-06-01T16:29:59Z";
    jun1_1630 = "2026-06-01T16:30:00Z";
}

fn address(lines: &[&str]) -> Value {
    let mut p = serde_json::Map::new();
    for (i, line) in lines.iter().enumerate() {
        p.insert(format!("address_line_{}", i + 1), json!(line));
    }
    p.insert("thing".into(), json!("letter"));
    Value::Object(p)
}

const UK: &[&str] = &["Ms A Person", "1 High Street", "SW1A 1AA"];

/// A letter sent through the v2 API (signed at the app's time, so a fixed clock works); its id.
async fn send_letter(app: &TestApp, key: &str, template: Uuid, lines: &[&str]) -> Uuid {
    let (status, body) = try_letter(app, key, template, lines).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn try_letter(app: &TestApp, key: &str, template: Uuid, lines: &[&str]) -> (u16, Value) {
    let token = notify_tests::token_at(key, app.state.now().timestamp());
    let body =
        json!({"template_id": template, "personalisation": address(lines), "reference": "my-ref"});
    let r = app
        .request(
            "POST",
            "/v2/notifications/letter",
            Some(&format!("Bearer {token}")),
            Some(&serde_json::to_vec(&body).unwrap()),
        )
        .await;
    (r.status.as_u16(), r.json())
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

fn error(message: &str) -> Value {
    json!({"result": "error", "message": message})
}

async fn status_of(db: &tokio_postgres::Client, id: Uuid) -> String {
    db.query_one(
        "SELECT notification_status FROM notifications WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn a_letter_is_cancelled_before_its_print_run_and_answers_as_upstream() {
    let mut app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    app.use_clock(jan5_0900);
    let id = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    app.use_clock(jan5_1729);
    let (status, body) = cancel(&app, sid, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["notification_type"], "letter");
    assert_eq!(body["service"], json!(sid));
    assert_eq!(body["key_type"], "normal");
    assert_eq!(body["key_name"], "live");
    assert_eq!(body["client_reference"], "my-ref");
    assert_eq!(body["postage"], "second");
    assert_eq!(body["created_at"], "2026-01-05T09:00:00.000000Z");
    assert_eq!(body["updated_at"], "2026-01-05T17:29:59.000000Z");
    assert_eq!(body["personalisation"]["address_line_1"], "Ms A Person");
    assert_eq!(body["template"]["id"], json!(s.letter_template));
    assert_eq!(body["template"]["version"], 1);
    assert_eq!(body["template"]["name"], "letter");
    assert_eq!(body["template"]["template_type"], "letter");
    assert_eq!(body["template"]["is_precompiled_letter"], false);
    assert_eq!(body["template"]["letter_languages"], "english");
    let db = sql(&app).await;
    assert_eq!(status_of(&db, id).await, "cancelled");
    // Cancelled shows as such to the API user too.
    app.use_clock(Utc::now);
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(got["status"], "cancelled");
    app.use_clock(jan5_1729);
    assert_eq!(
        cancel(&app, sid, id).await,
        (400, error("This letter has already been cancelled."))
    );
}

#[tokio::test]
async fn the_half_past_five_cut_off_on_both_sides_and_across_days() {
    let mut app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let too_late = |day: &str| {
        error(&format!(
            "It’s too late to cancel this letter. Printing started {day} at 5.30pm"
        ))
    };
    // (created at, cancelled at, the answer: None is cancelled)
    let cases: Vec<(&str, Clock, Option<Value>)> = vec![
        ("2026-01-05T09:00:00Z", jan5_1729, None),
        ("2026-01-05T09:00:00Z", jan5_1730, Some(too_late("today"))),
        (
            "2026-01-05T09:00:00Z",
            jan6_1000,
            Some(too_late("on 5 January")),
        ),
        // After 17:30 it is the next day's print run.
        ("2026-01-05T17:30:00Z", jan6_1729, None),
        ("2026-01-05T18:00:00Z", jan6_1730, Some(too_late("today"))),
        (
            "2026-01-04T18:00:00Z",
            jan6_1000,
            Some(too_late("on 5 January")),
        ),
        // British Summer Time: 17:30 London is 16:30 UTC.
        ("2026-06-01T08:00:00Z", jun1_1629, None),
        ("2026-06-01T08:00:00Z", jun1_1630, Some(too_late("today"))),
    ];
    for (created_at, now, expected) in cases {
        app.use_clock(Utc::now);
        let id = send_letter(&app, &s.live_key, s.letter_template, UK).await;
        db.execute(
            "UPDATE notifications SET created_at = $2 WHERE id = $1",
            &[&id, &at(created_at)],
        )
        .await
        .unwrap();
        app.use_clock(now);
        let (status, body) = cancel(&app, sid, id).await;
        match expected {
            None => {
                assert_eq!(
                    (status, &body["status"]),
                    (200, &json!("cancelled")),
                    "{created_at} at {}",
                    now()
                );
            }
            Some(answer) => {
                assert_eq!((status, body), (400, answer), "{created_at} at {}", now());
                assert_eq!(status_of(&db, id).await, "created");
            }
        }
    }
}

#[tokio::test]
async fn only_letters_still_waiting_can_be_cancelled_and_others_are_not_found() {
    let mut app = TestApp::new().await;
    let s = app.service(false).await;
    let other = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let sms = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let letter = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    let sending = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    let pdf = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"%PDF-1.7\n%%EOF",
    );
    let r = app
        .call(
            "POST",
            "/v2/notifications/letter",
            &s.live_key,
            Some(json!({"reference": "pre", "content": pdf})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let precompiled: Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
    db.execute(
        "UPDATE notifications SET created_at = '2026-01-05T09:00:00.25Z' WHERE service_id = $1",
        &[&sid],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE notifications SET notification_status = 'sending' WHERE id = $1",
        &[&sending],
    )
    .await
    .unwrap();
    app.use_clock(jan5_1000);
    assert_eq!(
        cancel(&app, sid, sms).await,
        (
            400,
            error("Notification cannot be cancelled - only letters can be cancelled")
        )
    );
    assert_eq!(
        cancel(&app, sid, sending).await,
        (
            400,
            error(
                "We could not cancel this letter. Letter status: sending, created_at: 2026-01-05 09:00:00.250000"
            )
        )
    );
    assert_eq!(
        cancel(&app, other.service.id, letter).await,
        (404, error("Notification not found"))
    );
    assert_eq!(
        cancel(&app, sid, Uuid::new_v4()).await,
        (404, error("Notification not found"))
    );
    let (status, body) = cancel(&app, sid, precompiled).await;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")));
    assert_eq!(body["template"]["is_precompiled_letter"], true);
    // Admin authentication as for every admin endpoint.
    let r = app
        .request(
            "POST",
            &format!("/service/{sid}/notifications/{letter}/cancel"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(status_of(&db, letter).await, "created");
}

#[tokio::test]
async fn a_cancelled_letter_gives_its_daily_limit_back() {
    limit_given_back(TestApp::new().await).await;
}

#[tokio::test]
async fn a_cancelled_letter_gives_its_daily_limit_back_in_redis_too() {
    limit_given_back(
        TestApp::with_config(|c| c.api.redis_url = Some("redis://127.0.0.1:6379".into())).await,
    )
    .await;
}

async fn limit_given_back(mut app: TestApp) {
    let s = app.service(false).await;
    let sid = s.service.id;
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"letter_message_limit": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    app.use_clock(jan5_0900);
    let first = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    let (status, body) = try_letter(&app, &s.live_key, s.letter_template, UK).await;
    assert_eq!(
        (status, messages(&body)),
        (
            429,
            vec!["Exceeded send limits (letter: 1) for today".to_string()]
        )
    );
    app.use_clock(jan5_1000);
    assert_eq!(cancel(&app, sid, first).await.0, 200);
    assert_eq!(
        app.state
            .limiter
            .daily_count(
                sid,
                LimitName::Letter,
                notify_core::model::KeyType::Normal,
                jan5_1000()
            )
            .await,
        0
    );
    send_letter(&app, &s.live_key, s.letter_template, UK).await;
    // A test key's letters never counted, so cancelling one gives nothing back.
    let test_letter = send_letter(&app, &s.test_key, s.letter_template, UK).await;
    assert_eq!(cancel(&app, sid, test_letter).await.0, 200);
    let (status, _) = try_letter(&app, &s.live_key, s.letter_template, UK).await;
    assert_eq!(status, 429);
}

async fn returned_letter_callback(app: &TestApp, sid: Uuid) {
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/callback-api"),
            Some(json!({"url": "https://callbacks.example.gov.uk/returned", "bearer_token": "a-long-enough-token", "callback_type": "returned_letter"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["data"]["callback_type"], "returned_letter");
}

/// Letters sent and despatched, each with its 16-character reference.
async fn despatched(
    app: &TestApp,
    db: &tokio_postgres::Client,
    s: &TestService,
    references: &[&str],
) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for reference in references {
        let id = send_letter(app, &s.live_key, s.letter_template, UK).await;
        db.execute(
            "UPDATE notifications SET reference = $2, notification_status = 'delivered' WHERE id = $1",
            &[&id, reference],
        )
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn returned_letters_are_recorded_in_chunks_and_call_the_service_back_through_the_outbox() {
    let mut app = TestApp::new().await;
    let s = app.service(false).await;
    let quiet = app.service(false).await;
    let sid = s.service.id;
    returned_letter_callback(&app, sid).await;
    let db = sql(&app).await;
    // A text whose provider reference happens to look the same is not a letter.
    let sms = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    db.execute(
        "UPDATE notifications SET reference = 'CCCCCCCCCCCCCCC1', notification_status = 'delivered' WHERE id = $1",
        &[&sms],
    )
    .await
    .unwrap();
    app.use_clock(jan5_1000);
    let ids = despatched(
        &app,
        &db,
        &s,
        &["AAAAAAAAAAAAAAA1", "AAAAAAAAAAAAAAA2", "AAAAAAAAAAAAAAA3"],
    )
    .await;
    let unheard = despatched(&app, &db, &quiet, &["BBBBBBBBBBBBBBB1"]).await[0];
    // The third has been purged to history.
    db.batch_execute(&format!(
        "INSERT INTO notification_history (id, job_id, job_row_number, service_id, template_id, template_version, \
             api_key_id, key_type, billable_units, notification_type, created_at, sent_at, sent_by, updated_at, \
             notification_status, reference, client_reference, international, phone_prefix, rate_multiplier, \
             created_by_id, postage, document_download_count) \
         SELECT id, job_id, job_row_number, service_id, template_id, template_version, api_key_id, key_type, \
             billable_units, notification_type, created_at, sent_at, sent_by, updated_at, notification_status, \
             reference, client_reference, international, phone_prefix, rate_multiplier, created_by_id, postage, \
             document_download_count FROM notifications WHERE id = '{}'; \
         DELETE FROM notifications WHERE id = '{}';",
        ids[2], ids[2]
    ))
    .await
    .unwrap();
    // The callbacks queue is down: the callbacks wait in the outbox, committed with the statuses.
    app.queue.set_unavailable(true);
    let references: Vec<String> = [
        "AAAAAAAAAAAAAAA1",
        "AAAAAAAAAAAAAAA2",
        "AAAAAAAAAAAAAAA3",
        "BBBBBBBBBBBBBBB1",
        "CCCCCCCCCCCCCCC1",
        "ZZZZZZZZZZZZZZZ9",
    ]
    .map(String::from)
    .to_vec();
    let report = letter_admin::process_returned_letters(&app.state, &references, 4)
        .await
        .unwrap();
    assert_eq!(
        report,
        letter_admin::ReturnedLetters {
            chunks: 2,
            updated: 3,
            updated_history: 1,
            unknown: vec!["CCCCCCCCCCCCCCC1".into(), "ZZZZZZZZZZZZZZZ9".into()],
            callbacks: 3,
        }
    );
    for id in [ids[0], ids[1], unheard] {
        assert_eq!(status_of(&db, id).await, "returned-letter");
    }
    assert_eq!(status_of(&db, sms).await, "delivered");
    let archived: String = db
        .query_one(
            "SELECT notification_status FROM notification_history WHERE id = $1",
            &[&ids[2]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(archived, "returned-letter");
    let recorded: Vec<(Uuid, chrono::NaiveDate)> = db
        .query(
            "SELECT notification_id, reported_at FROM returned_letters ORDER BY notification_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut expected: Vec<_> = [ids[0], ids[1], ids[2], unheard]
        .into_iter()
        .map(|id| (id, "2026-01-05".parse().unwrap()))
        .collect();
    expected.sort();
    assert_eq!(recorded, expected);
    assert_eq!(app.state.db.outbox_len().await.unwrap(), 3);
    // The queue is back: the relay sends each once, with Notify's body.
    app.queue.set_unavailable(false);
    notify_app::callbacks::relay_due(&app.state, || true)
        .await
        .unwrap();
    assert_eq!(app.state.db.outbox_len().await.unwrap(), 0);
    let mut bodies: Vec<Value> = app
        .queue
        .take_all(&app.state.config.queues.callbacks)
        .into_iter()
        .map(|m| {
            let Message::Callback(cb) = m else {
                panic!("not a callback: {m:?}")
            };
            assert_eq!(cb.url, "https://callbacks.example.gov.uk/returned");
            assert_eq!(cb.service_id, sid);
            assert_eq!(cb.callback_type.as_str(), "returned_letter");
            serde_json::from_str(&cb.body).unwrap()
        })
        .collect();
    bodies.sort_by_key(|b| b["notification_id"].as_str().unwrap().to_string());
    let mut expected: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "notification_id": id,
                "reference": "my-ref",
                "date_sent": "2026-01-05T10:00:00.000000Z",
                "sent_by": "API",
                "template_name": "letter",
                "template_id": s.letter_template,
                "template_version": 1,
                "spreadsheet_file_name": null,
                "spreadsheet_row_number": null,
                "upload_letter_file_name": null,
            })
        })
        .collect();
    expected.sort_by_key(|b| b["notification_id"].as_str().unwrap().to_string());
    assert_eq!(bodies, expected);
    // Reported again: nothing new is recorded and nobody is called back twice.
    let again = letter_admin::process_returned_letters(&app.state, &references[..2], 5000)
        .await
        .unwrap();
    assert_eq!((again.updated, again.callbacks), (2, 0));
    assert!(
        app.queue
            .take_all(&app.state.config.queues.callbacks)
            .is_empty()
    );
}

#[tokio::test]
async fn returned_letters_endpoint_answers_its_references_and_checks_them() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    returned_letter_callback(&app, s.service.id).await;
    let db = sql(&app).await;
    let id = despatched(&app, &db, &s, &["ABCDEFGHIJ012345"]).await[0];
    let r = app
        .admin(
            "POST",
            "/letters/returned",
            Some(json!({"references": ["ABCDEFGHIJ012345"]})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (200, json!({"references": ["ABCDEFGHIJ012345"]}))
    );
    assert_eq!(status_of(&db, id).await, "returned-letter");
    // Relayed straight after the commit.
    assert_eq!(
        app.queue.take_all(&app.state.config.queues.callbacks).len(),
        1
    );
    // More than a chunk: the letter named last, in the second chunk, is returned too.
    let last = despatched(&app, &db, &s, &["ZYXWVUTSRQ987654"]).await[0];
    let mut many: Vec<String> = (0..letter_admin::RETURNED_LETTERS_CHUNK)
        .map(|i| format!("UNKNOWN{i:09}"))
        .collect();
    many.push("ZYXWVUTSRQ987654".into());
    let r = app
        .admin(
            "POST",
            "/letters/returned",
            Some(json!({"references": many})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["references"].as_array().unwrap().len(), 5001);
    assert_eq!(status_of(&db, last).await, "returned-letter");
    let field = |message: &str| json!({"result": "error", "message": {"references": [message]}});
    for (body, expected) in [
        (json!({}), field("Missing data for required field.")),
        (
            json!({"references": "ABCDEFGHIJ012345"}),
            field("Not a valid list."),
        ),
        (
            json!({"references": []}),
            field("Shorter than minimum length 1."),
        ),
        (
            json!({"references": ["ABCDEFGHIJ012345", "abcdefghij012345"]}),
            field("abcdefghij012345 does not match ^[0-9A-Z]{16}$"),
        ),
        (json!({"references": [12]}), field("12 is not a string")),
    ] {
        let r = app
            .admin("POST", "/letters/returned", Some(body.clone()))
            .await;
        assert_eq!((r.status.as_u16(), r.json()), (400, expected), "{body}");
    }
}

const SVG: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="30"><rect width="100" height="30"/></svg>"#;

fn png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    png.extend([0x1f, 0x15, 0xc4, 0x89]);
    png
}

async fn upload(app: &TestApp, bytes: &[u8]) -> (u16, Value) {
    let jwt = notify_app::auth::create_token(
        "notify-admin",
        notify_config::DEV_ADMIN_CLIENT_SECRET,
        app.state.now().timestamp(),
    );
    let r = app
        .request(
            "POST",
            "/letter-branding/logo",
            Some(&format!("Bearer {jwt}")),
            Some(bytes),
        )
        .await;
    (r.status.as_u16(), r.json())
}

#[tokio::test]
async fn letter_brandings_with_their_logos_and_the_services_that_print_with_them() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    // The logo first: its type is read from its content, and it is stored where the render step reads it.
    let (status, body) = upload(&app, SVG).await;
    assert_eq!(status, 201, "{body}");
    let svg_file = body["filename"].as_str().unwrap().to_string();
    assert!(svg_file.ends_with(".svg"), "{svg_file}");
    assert_eq!(
        app.state
            .files
            .get(&format!("letter-logos/{svg_file}"))
            .await
            .unwrap()
            .as_deref(),
        Some(SVG)
    );
    let (status, body) = upload(&app, &png()).await;
    assert_eq!(status, 201, "{body}");
    let png_file = body["filename"].as_str().unwrap().to_string();
    assert!(png_file.ends_with(".png"), "{png_file}");
    assert_eq!(
        upload(&app, b"GIF89a not a logo").await,
        (400, error("The logo must be an SVG or PNG file"))
    );
    let mut big = b"<svg>".to_vec();
    big.resize(letter_admin::MAX_LOGO_BYTES + 1, b' ');
    assert_eq!(
        upload(&app, &big).await,
        (400, error("The logo must be 1 MB or smaller"))
    );

    let r = app
        .admin(
            "POST",
            "/letter-branding",
            Some(json!({"name": "HM Government", "filename": svg_file})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let created = r.json();
    let branding = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "HM Government");
    assert_eq!(created["filename"], json!(svg_file));
    assert_eq!(created["created_by"], Value::Null);
    assert_eq!(created["updated_at"], Value::Null);
    let fields =
        |field: &str, message: &str| json!({"result": "error", "message": {field: [message]}});
    for (body, expected) in [
        (
            json!({"name": "HM Government", "filename": png_file}),
            fields("name", "Name already in use"),
        ),
        (
            json!({"name": "Another", "filename": svg_file}),
            fields("filename", "Filename already in use"),
        ),
        (
            json!({"filename": png_file}),
            fields("name", "Missing data for required field."),
        ),
        (
            json!({"name": "Another", "filename": "nope.svg"}),
            fields(
                "filename",
                "No logo file letter-logos/nope.svg: upload it first",
            ),
        ),
        (
            json!({"name": "Another", "filename": "../nope.svg"}),
            fields("filename", "../nope.svg is not a valid file name"),
        ),
    ] {
        let r = app
            .admin("POST", "/letter-branding", Some(body.clone()))
            .await;
        assert_eq!((r.status.as_u16(), r.json()), (400, expected), "{body}");
    }
    let r = app
        .admin(
            "POST",
            "/letter-branding",
            Some(json!({"name": "Animal and Plant Health Agency", "filename": png_file})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let second = r.json()["id"].as_str().unwrap().to_string();

    let list = app.admin("GET", "/letter-branding", None).await.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Animal and Plant Health Agency", "HM Government"]);
    let got = app
        .admin("GET", &format!("/letter-branding/{branding}"), None)
        .await;
    assert_eq!((got.status.as_u16(), got.json()), (200, created.clone()));
    let missing = app
        .admin("GET", &format!("/letter-branding/{}", Uuid::new_v4()), None)
        .await;
    assert_eq!(
        (missing.status.as_u16(), missing.json()),
        (404, error("No result found"))
    );
    let r = app
        .admin(
            "POST",
            &format!("/letter-branding/{branding}"),
            Some(json!({"name": "HM Government (new)", "filename": svg_file})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["name"], "HM Government (new)");
    assert!(r.json()["updated_at"].is_string());

    // A service prints with one through POST /service/{id}, as upstream; the service JSON names it.
    assert_eq!(
        app.admin("GET", &format!("/service/{sid}"), None)
            .await
            .json()["data"]["letter_branding"],
        Value::Null
    );
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"letter_branding": branding})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["data"]["letter_branding"], json!(branding));
    let record = app
        .state
        .db
        .service_letter_branding(sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.filename, svg_file);
    let unknown = Uuid::new_v4();
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"letter_branding": unknown, "name": "Renamed"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (
            400,
            fields(
                "letter_branding",
                &format!("No letter branding with id {unknown}")
            )
        )
    );
    let service = app
        .admin("GET", &format!("/service/{sid}"), None)
        .await
        .json();
    assert_eq!(service["data"]["letter_branding"], json!(branding));
    assert_ne!(service["data"]["name"], "Renamed", "refused as a whole");
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"letter_branding": second})),
        )
        .await;
    assert_eq!(r.json()["data"]["letter_branding"], json!(second));
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"letter_branding": null})),
        )
        .await;
    assert_eq!(r.json()["data"]["letter_branding"], Value::Null);
    assert!(
        app.state
            .db
            .service_letter_branding(sid)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_cli_makes_a_branding_from_a_file_in_one_step_and_leaves_no_file_when_refused() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let branding =
        letter_admin::create_letter_branding_with_logo(&app.state, "Land Registry", png(), None)
            .await
            .unwrap();
    assert!(branding.filename.ends_with(".png"));
    assert_eq!(
        app.state
            .files
            .get(&letter_admin::logo_key(&branding.filename))
            .await
            .unwrap(),
        Some(png())
    );
    let logos = app.state.config.files.local_dir.join("letter-logos");
    let files = || std::fs::read_dir(&logos).unwrap().count();
    assert_eq!(files(), 1);
    let refused =
        letter_admin::create_letter_branding_with_logo(&app.state, "Land Registry", png(), None)
            .await
            .unwrap_err();
    assert_eq!(refused.to_string(), "name: Name already in use");
    assert_eq!(files(), 1, "the refused branding's logo is removed again");
    let service =
        letter_admin::set_service_letter_branding(&app.state, s.service.id, Some(branding.id))
            .await
            .unwrap();
    assert_eq!(service.letter_branding_id, Some(branding.id));
    // The returned_letter callback type is settable from the CLI's use case too.
    let callback = notify_app::admin::set_callback_api(
        &app.state,
        s.service.id,
        notify_core::model::CallbackType::ReturnedLetter,
        "https://callbacks.example.gov.uk/returned",
        "a-long-enough-token",
        None,
    )
    .await
    .unwrap();
    assert_eq!(callback.callback_type.as_str(), "returned_letter");
}

#[tokio::test]
async fn letters_are_billed_by_post_class_and_sheets_at_the_rate_of_the_day() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let mut letters = Vec::new();
    for _ in 0..8 {
        letters.push(send_letter(&app, &s.live_key, s.letter_template, UK).await);
    }
    let test_key = send_letter(&app, &s.test_key, s.letter_template, UK).await;
    // (status, postage, sheets, international)
    let rows = [
        ("delivered", "second", 1, false),
        ("delivered", "second", 1, false),
        ("sending", "second", 2, false),
        ("returned-letter", "first", 1, false),
        ("delivered", "europe", 2, true),
        ("delivered", "rest-of-world", 5, true),
        ("cancelled", "second", 1, false),
        ("technical-failure", "second", 1, false),
    ];
    for (id, (status, postage, sheets, international)) in letters.iter().zip(rows) {
        db.execute(
            "UPDATE notifications SET notification_status = $2, postage = $3, billable_units = $4, \
                 international = $5, created_at = now() - interval '1 day' WHERE id = $1",
            &[id, &status, &postage, &sheets, &international],
        )
        .await
        .unwrap();
    }
    db.execute(
        "UPDATE notifications SET notification_status = 'delivered', billable_units = 1, \
             created_at = now() - interval '1 day' WHERE id = $1",
        &[&test_key],
    )
    .await
    .unwrap();
    for _ in 0..2 {
        jobs::run(&app.state, Job::CreateNightlyBilling, jobs::TIME_BUDGET)
            .await
            .unwrap();
    }
    let facts: Vec<(String, String, f64, i32, i32, bool)> = db
        .query(
            "SELECT provider, postage, rate, billable_units, notifications_sent, international FROM ft_billing \
             WHERE service_id = $1 AND notification_type = 'letter' ORDER BY postage, rate",
            &[&sid],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let fact = |postage: &str, rate: f64, sheets: i32, sent: i32, international: bool| {
        (
            "dvla".to_string(),
            postage.to_string(),
            rate,
            sheets,
            sent,
            international,
        )
    };
    assert_eq!(
        facts,
        [
            fact("europe", 1.84, 2, 1, true),
            fact("first", 1.56, 1, 1, false),
            fact("rest-of-world", 1.96, 5, 1, true),
            fact("second", 0.73, 2, 2, false),
            fact("second", 0.77, 2, 1, false),
        ],
        "current rates by post class × sheets; cancelled, failed and test-key letters are not billed"
    );
    let year: i32 = db
        .query_one(
            "SELECT extract(year FROM (now() AT TIME ZONE 'Europe/London')::date - 1)::int",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let usage = app
        .admin(
            "GET",
            &format!("/service/{sid}/billing/yearly-usage-summary?year={year}"),
            None,
        )
        .await
        .json();
    let letters = usage
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["notification_type"] == "letter")
        .unwrap()
        .clone();
    assert_eq!(letters["notifications_sent"], 6);
    assert_eq!(
        letters["chargeable_units"], 6,
        "charged per letter, not per sheet"
    );
    let cost = letters["cost"].as_f64().unwrap();
    assert!(
        (cost - (0.73 * 2.0 + 0.77 + 1.56 + 1.84 + 1.96)).abs() < 1e-9,
        "{cost}"
    );
}

#[tokio::test]
async fn the_letter_rates_in_force() {
    let mut app = TestApp::new().await;
    app.use_clock(jun1_1630);
    let rates = app.admin("GET", "/letter-rates/", None).await.json();
    let rates = rates.as_array().unwrap();
    assert_eq!(rates.len(), 25, "5 post classes × 1 to 5 sheets");
    assert_eq!(
        rates[..5],
        [
            json!({"sheet_count": 1, "start_date": "2026-01-05T00:00:00", "rate": 0.64, "post_class": "economy"}),
            json!({"sheet_count": 1, "start_date": "2026-01-05T00:00:00", "rate": 0.73, "post_class": "second"}),
            json!({"sheet_count": 1, "start_date": "2026-04-06T23:00:00", "rate": 1.56, "post_class": "first"}),
            json!({"sheet_count": 1, "start_date": "2026-05-02T23:00:00", "rate": 1.8, "post_class": "europe"}),
            json!({"sheet_count": 1, "start_date": "2026-05-02T23:00:00", "rate": 1.8, "post_class": "rest-of-world"}),
        ]
    );
    // Before the 2026 first-class rates started, the 2024 ones.
    app.use_clock(jan5_1000);
    let rates = app.admin("GET", "/letter-rates", None).await.json();
    let first = rates
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["post_class"] == "first" && r["sheet_count"] == 1)
        .unwrap()
        .clone();
    assert_eq!(
        first,
        json!({"sheet_count": 1, "start_date": "2024-04-01T00:00:00", "rate": 1.05, "post_class": "first"})
    );
}

#[tokio::test]
async fn postage_comes_from_the_template_or_the_country() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let template = |postage: Option<&str>| {
        let mut body = json!({"name": "l", "template_type": "letter", "content": "Hi ((address_line_1))",
                              "subject": "Your ((thing))"});
        if let Some(p) = postage {
            body["postage"] = json!(p);
        }
        body
    };
    let mut templates = Vec::new();
    for postage in [None, Some("first"), Some("economy")] {
        let r = app
            .admin(
                "POST",
                &format!("/service/{sid}/template"),
                Some(template(postage)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json());
        templates.push(
            r.json()["data"]["id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap(),
        );
    }
    let postage_of = |id: Uuid| {
        let app = &app;
        let key = s.live_key.clone();
        async move {
            app.call("GET", &format!("/v2/notifications/{id}"), &key, None)
                .await
                .json()["postage"]
                .clone()
        }
    };
    let cases = [
        (templates[0], UK, "second"),
        (templates[1], UK, "first"),
        (templates[2], UK, "economy"),
        (
            templates[1],
            &["A Person", "1 Rue de Rivoli", "Paris", "France"][..],
            "europe",
        ),
        (
            templates[2],
            &["A Person", "1-1 Chiyoda", "Tokyo", "Japan"][..],
            "rest-of-world",
        ),
    ];
    for (template, lines, expected) in cases {
        let id = send_letter(&app, &s.live_key, template, lines).await;
        assert_eq!(postage_of(id).await, expected, "{lines:?}");
        let stored = app.stored(sid, id).await;
        assert_eq!(stored.postage.map(|p| p.as_str()), Some(expected));
    }
    // Without the international_letters permission only UK addresses are taken.
    let uk_only = app
        .service_with(
            false,
            Some(vec![
                ServicePermission::Sms,
                ServicePermission::Email,
                ServicePermission::Letter,
            ]),
        )
        .await;
    let (status, body) = try_letter(
        &app,
        &uk_only.live_key,
        uk_only.letter_template,
        &["A Person", "1 Rue de Rivoli", "France"],
    )
    .await;
    assert_eq!(
        (status, messages(&body), crate::error_types(&body)),
        (
            400,
            vec!["Must be a real UK postcode".to_string()],
            vec!["ValidationError".to_string()]
        )
    );
    send_letter(&app, &uk_only.live_key, uk_only.letter_template, UK).await;
}

// ---- A letter as the team and operators see it -------------------------------------------------------------------

/// A precompiled letter sent through the v2 API; its id. What happens to it next is the test's to write.
async fn send_precompiled(app: &TestApp, s: &TestService, reference: &str) -> Uuid {
    let pdf = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"%PDF-1.7\n%%EOF",
    );
    // Signed at the app's time, so a fixed clock works.
    let token = notify_tests::token_at(&s.live_key, app.state.now().timestamp());
    let body = json!({"reference": reference, "content": pdf});
    let r = app
        .request(
            "POST",
            "/v2/notifications/letter",
            Some(&format!("Bearer {token}")),
            Some(&serde_json::to_vec(&body).unwrap()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    r.json()["id"].as_str().unwrap().parse().unwrap()
}

/// What the pipeline would have recorded for a precompiled upload: written here directly, the same row whether
/// or not accepting the letter made one already.
async fn record_scan(
    db: &tokio_postgres::Client,
    id: Uuid,
    attempts: i32,
    last_error: Option<&str>,
    last_scan_at: Option<DateTime<Utc>>,
    verdict: Option<(&str, Option<&str>, DateTime<Utc>)>,
    checked_at: Option<DateTime<Utc>>,
) {
    let (result, signature, scanned_at) = match verdict {
        Some((r, s, at)) => (Some(r), s, Some(at)),
        None => (None, None, None),
    };
    db.execute(
        "INSERT INTO precompiled_letters (notification_id, upload_key, scan_attempts, last_scan_error, \
             last_scan_at, scanner, scan_result, signature, scanned_at, checked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (notification_id) DO UPDATE SET upload_key = EXCLUDED.upload_key, \
             scan_attempts = EXCLUDED.scan_attempts, last_scan_error = EXCLUDED.last_scan_error, \
             last_scan_at = EXCLUDED.last_scan_at, scanner = EXCLUDED.scanner, scan_result = EXCLUDED.scan_result, \
             signature = EXCLUDED.signature, scanned_at = EXCLUDED.scanned_at, checked_at = EXCLUDED.checked_at",
        &[
            &id,
            &format!("precompiled/{id}.pdf"),
            &attempts,
            &last_error,
            &last_scan_at,
            &verdict.map(|_| "clamd"),
            &result,
            &signature,
            &scanned_at,
            &checked_at,
        ],
    )
    .await
    .unwrap();
}

async fn record_validation(
    db: &tokio_postgres::Client,
    id: Uuid,
    code: &str,
    pages: Option<Vec<i32>>,
) {
    db.execute(
        "INSERT INTO letter_validation_results (notification_id, message, invalid_pages) VALUES ($1, $2, $3) \
         ON CONFLICT (notification_id) DO UPDATE SET message = EXCLUDED.message, \
             invalid_pages = EXCLUDED.invalid_pages",
        &[&id, &code, &pages],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE notifications SET notification_status = 'validation-failed', billable_units = 0 WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
}

async fn record_file(db: &tokio_postgres::Client, id: Uuid, key: &str, pages: i32) {
    db.execute(
        "INSERT INTO letter_files (notification_id, file_key, page_count) VALUES ($1, $2, $3) \
         ON CONFLICT (notification_id) DO UPDATE SET file_key = EXCLUDED.file_key, \
             page_count = EXCLUDED.page_count",
        &[&id, &key, &pages],
    )
    .await
    .unwrap();
}

async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.admin("GET", path, None).await;
    (r.status.as_u16(), r.json())
}

#[tokio::test]
async fn a_precompiled_letter_that_failed_its_print_checks_shows_why_in_the_admin_apps_words() {
    let mut app = TestApp::new().await;
    app.use_clock(jan5_1000);
    let s = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let id = send_precompiled(&app, &s, "my-letter").await;
    record_scan(
        &db,
        id,
        1,
        Some("clamd did not answer"),
        Some(at("2026-01-05T10:00:05Z")),
        Some(("clean", None, at("2026-01-05T10:11:00Z"))),
        Some(at("2026-01-05T10:11:01Z")),
    )
    .await;
    record_validation(&db, id, "content-outside-printable-area", Some(vec![2, 3])).await;

    let (status, n) = admin_get(&app, &format!("/service/{sid}/notifications/{id}")).await;
    assert_eq!(status, 200, "{n}");
    assert_eq!(n["id"], json!(id));
    assert_eq!(n["status"], "validation-failed");
    assert_eq!(n["notification_type"], "letter");
    assert_eq!(n["template"]["name"], "Pre-compiled PDF");
    assert_eq!(n["template"]["version"], 1);
    assert_eq!(n["template"]["is_precompiled_letter"], true);
    assert_eq!(n["to"], "Provided as PDF");
    assert_eq!(n["client_reference"], "my-letter");
    assert!(n["reference"].as_str().unwrap().len() == 16, "{n}");
    assert_eq!(n["postage"], "second");
    assert_eq!(n["billable_units"], 0);
    assert_eq!(n["key_type"], "normal");
    assert_eq!(n["created_at"], "2026-01-05T10:00:00.000000Z");
    assert_eq!(n["sent_at"], Value::Null);
    assert_eq!(n["page_count"], Value::Null);
    let validation = json!({
        "code": "content-outside-printable-area",
        "title": "Your content is outside the printable area",
        "message": "You need to edit pages 2 and 3. Files must meet our letter specification.",
        "invalid_pages": [2, 3],
    });
    assert_eq!(n["validation"], validation);

    let (status, p) = admin_get(&app, &format!("/service/{sid}/letters/{id}/pdf-status")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        p,
        json!({
            "notification_id": id,
            "status": "validation-failed",
            "precompiled": true,
            "upload_key": format!("precompiled/{id}.pdf"),
            "file_key": null,
            "page_count": null,
            "scan": {
                "scanner": "clamd",
                "result": "clean",
                "signature": null,
                "attempts": 1,
                "last_error": "clamd did not answer",
                "last_scan_at": "2026-01-05T10:00:05.000000Z",
                "scanned_at": "2026-01-05T10:11:00.000000Z",
            },
            "checked_at": "2026-01-05T10:11:01.000000Z",
            "validation": validation,
        })
    );
}

#[tokio::test]
async fn the_pdf_status_shows_an_infected_upload_a_failing_scanner_and_a_printed_file() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let status_of_pdf = |id: Uuid| {
        let app = &app;
        async move { admin_get(app, &format!("/service/{sid}/letters/{id}/pdf-status")).await }
    };

    let infected = send_precompiled(&app, &s, "infected").await;
    record_scan(
        &db,
        infected,
        0,
        None,
        None,
        Some((
            "infected",
            Some("Notify.Test.EICAR.UNOFFICIAL"),
            at("2026-01-05T10:00:02Z"),
        )),
        None,
    )
    .await;
    db.execute(
        "UPDATE notifications SET notification_status = 'virus-scan-failed', billable_units = 0 WHERE id = $1",
        &[&infected],
    )
    .await
    .unwrap();
    let (status, p) = status_of_pdf(infected).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["status"], "virus-scan-failed");
    assert_eq!(p["scan"]["result"], "infected");
    assert_eq!(p["scan"]["signature"], "Notify.Test.EICAR.UNOFFICIAL");
    assert_eq!(p["checked_at"], Value::Null);
    assert_eq!(p["validation"], Value::Null);

    // Still waiting: three scans failed, no verdict yet.
    let waiting = send_precompiled(&app, &s, "waiting").await;
    record_scan(
        &db,
        waiting,
        3,
        Some("connection refused"),
        Some(at("2026-01-05T10:30:00Z")),
        None,
        None,
    )
    .await;
    let (_, p) = status_of_pdf(waiting).await;
    assert_eq!(p["status"], "pending-virus-check");
    assert_eq!(
        p["scan"],
        json!({
            "scanner": null, "result": null, "signature": null, "attempts": 3,
            "last_error": "connection refused", "last_scan_at": "2026-01-05T10:30:00.000000Z", "scanned_at": null,
        })
    );

    // Checked and stored for the printer: the file key and pages in both answers, no validation.
    let clean = send_precompiled(&app, &s, "clean").await;
    record_scan(
        &db,
        clean,
        0,
        None,
        None,
        Some(("clean", None, at("2026-01-05T10:00:02Z"))),
        Some(at("2026-01-05T10:00:03Z")),
    )
    .await;
    record_file(&db, clean, "2026-01-05/NOTIFY.CLEAN.pdf", 2).await;
    let (_, p) = status_of_pdf(clean).await;
    assert_eq!(p["file_key"], "2026-01-05/NOTIFY.CLEAN.pdf");
    assert_eq!(p["page_count"], 2);
    assert_eq!(p["validation"], Value::Null);
    let (_, n) = admin_get(&app, &format!("/service/{sid}/notifications/{clean}")).await;
    assert_eq!(
        (&n["page_count"], &n["validation"]),
        (&json!(2), &Value::Null)
    );

    // A templated letter: not precompiled, nothing scanned.
    let templated = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    let (_, p) = status_of_pdf(templated).await;
    assert_eq!(p["precompiled"], false);
    assert_eq!(p["upload_key"], Value::Null);
    assert_eq!(p["scan"], Value::Null);
}

#[tokio::test]
async fn a_templated_letter_too_long_names_its_pages() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let db = sql(&app).await;
    let id = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    record_file(&db, id, "letters/too-long.pdf", 12).await;
    record_validation(&db, id, "letter-too-long", None).await;
    let (status, n) = admin_get(&app, &format!("/service/{sid}/notifications/{id}")).await;
    assert_eq!(status, 200, "{n}");
    assert_eq!(n["template"]["is_precompiled_letter"], false);
    assert_eq!(n["page_count"], 12);
    assert_eq!(
        n["validation"],
        json!({
            "code": "letter-too-long",
            "title": "Your letter is too long",
            "message": "Letters must be 10 pages or less (5 double-sided sheets of paper). Your letter is 12 pages long.",
            "invalid_pages": [],
        })
    );
}

#[tokio::test]
async fn a_notification_or_pdf_status_not_the_services_is_not_found() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let other = app.service(false).await;
    let sid = s.service.id;
    let letter = send_letter(&app, &s.live_key, s.letter_template, UK).await;
    let sms = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let not_found = (404, error("No result found"));
    for path in [
        format!("/service/{}/notifications/{letter}", other.service.id),
        format!("/service/{sid}/notifications/{}", Uuid::new_v4()),
        format!("/service/{sid}/notifications/not-a-uuid"),
        format!("/service/{}/letters/{letter}/pdf-status", other.service.id),
        format!("/service/{sid}/letters/{}/pdf-status", Uuid::new_v4()),
        // Only letters have a PDF.
        format!("/service/{sid}/letters/{sms}/pdf-status"),
    ] {
        assert_eq!(admin_get(&app, &path).await, not_found, "{path}");
    }
    // A text message is shown too, without a letter's fields.
    let (status, n) = admin_get(&app, &format!("/service/{sid}/notifications/{sms}")).await;
    assert_eq!((status, &n["notification_type"]), (200, &json!("sms")));
    assert!(
        n.get("page_count").is_none() && n.get("validation").is_none(),
        "{n}"
    );
    for path in [
        format!("/service/{sid}/notifications/{letter}"),
        format!("/service/{sid}/letters/{letter}/pdf-status"),
    ] {
        let r = app.request("GET", &path, None, None).await;
        assert_eq!(r.status, 401, "{path}");
    }
}
