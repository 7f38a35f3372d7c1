//! Templated letters after accept: rendered and stored, collated, printed, and tracked to `delivered` by DVLA's
//! callback; the test key, too-long, rejected, retried and Welsh paths.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use notify_app::jobs::{self, Job};
use notify_app::letters::{self, LetterTools};
use notify_app::workers::Attempt;
use notify_core::letters::dvla_callback::{CallbackSigner, despatched_event};
use notify_core::letters::{print_day, print_deadline};
use notify_core::messages::Message;
use notify_core::model::{NotificationStatus, Postage};
use notify_core::retry::Disposition;
use notify_letters::{Language, PdfRenderer, RenderError};
use notify_outbound::print::{PrintAccepted, PrintError, PrintProvider};
use notify_tests::letters::{
    Recording, RecordingPrinter, StoreDown, TestRenderer, collate_for, post_letter_callback,
    print_request_pdf,
};
use notify_tests::{TestApp, TestService};
use serde_json::{Value, json};
use uuid::Uuid;

const SECRET: &str = notify_config::DEV_SECRET_KEY;

fn first(n: u32) -> Attempt {
    Attempt { number: n, max: 48 }
}

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A service with a delivery-status callback, so the callbacks its letters make due can be counted.
async fn service(app: &TestApp) -> TestService {
    let s = app.service(false).await;
    let r = app
        .admin(
            "POST",
            &format!("/service/{}/callback-api", s.service.id),
            Some(json!({"url": "https://callbacks.example.gov.uk/notify", "bearer_token": "a-long-enough-token", "callback_type": "delivery_status"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    s
}

/// Sends a letter with `key` and `template`; returns its id and the deliver message accept queued.
async fn send_letter(app: &TestApp, key: &str, template: Uuid) -> (Uuid, Message) {
    let r = app
        .call(
            "POST",
            "/v2/notifications/letter",
            key,
            Some(json!({"template_id": template, "personalisation": {
                "address_line_1": "Ms A Person", "address_line_2": "1 High St", "postcode": "sw1a1aa",
                "thing": "letter"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let id: Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
    let message = app
        .queue
        .take_all("deliver-letter")
        .into_iter()
        .find(|m| matches!(m, Message::Deliver { notification_id, .. } if *notification_id == id))
        .expect("accept queues the letter for rendering");
    (id, message)
}

fn tools(
    renderer: Arc<dyn notify_letters::LetterRenderer>,
    printer: Arc<dyn PrintProvider>,
) -> LetterTools {
    LetterTools {
        renderer,
        printer,
        scanner: None,
    }
}

async fn handle(app: &TestApp, tools: &LetterTools, message: Message, attempt: u32) -> Disposition {
    let mut d = letters::handle_letters(&app.state, tools, &[(message, first(attempt))]).await;
    assert_eq!(d.len(), 1);
    d.remove(0)
}

fn print_message(id: Uuid) -> Message {
    Message::PrintLetter {
        v: 1,
        notification_id: id,
    }
}

async fn status(app: &TestApp, s: &TestService, id: Uuid) -> NotificationStatus {
    app.stored(s.service.id, id).await.status
}

/// The callbacks relayed to the callbacks queue, per notification.
fn callbacks_for(app: &TestApp, id: Uuid) -> Vec<Value> {
    app.queue
        .take_all(&app.state.config.queues.callbacks)
        .into_iter()
        .filter_map(|m| match m {
            Message::Callback(cb) if cb.subject_id == id => {
                Some(serde_json::from_str(&cb.body).unwrap())
            }
            _ => None,
        })
        .collect()
}

async fn get_pdf(app: &TestApp, key: &str, id: Uuid) -> notify_tests::Response {
    app.call("GET", &format!("/v2/notifications/{id}/pdf"), key, None)
        .await
}

#[tokio::test]
async fn a_live_letter_is_rendered_stored_collated_printed_and_delivered() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let printer = RecordingPrinter::answering(vec![]);
    let tools = tools(Arc::new(PdfRenderer::new()), printer.clone());

    // Before rendering: not ready.
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.json()["errors"][0]["error"], "PDFNotReadyError");

    assert_eq!(
        handle(&app, &tools, deliver.clone(), 1).await,
        Disposition::Done
    );
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/pdf");
    assert!(r.bytes.starts_with(b"%PDF"));
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::Created);
    assert_eq!(stored.billable_units, 1, "one page is one sheet");
    let key = app.state.db.letter_file_key(id).await.unwrap().unwrap();
    let reference = key.split('.').nth(1).unwrap().to_string();
    assert!(
        key.starts_with(&format!("{}/NOTIFY.", print_day(stored.created_at))),
        "{key}"
    );
    assert!(key.ends_with(&format!(
        ".D.2.C.{}.PDF",
        stored.created_at.format("%Y%m%d%H%M%S")
    )));
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(got["status"], "accepted");
    assert_eq!(got["is_cost_data_ready"], true);
    assert_eq!(
        got["cost_in_pounds"], 0.73,
        "second class, one sheet, from 5 January 2026"
    );
    assert_eq!(
        got["cost_details"],
        json!({"billable_sheets_of_paper": 1, "postage": "second"})
    );

    // A redelivered render message changes nothing.
    assert_eq!(handle(&app, &tools, deliver, 2).await, Disposition::Done);
    assert_eq!(
        app.state.db.letter_file_key(id).await.unwrap().unwrap(),
        key
    );

    // The evening's collation queues one print job; the printer gets the letter with a signed callback URL.
    assert_eq!(collate_for(&app, stored.created_at).await, vec![id]);
    assert_eq!(
        handle(&app, &tools, print_message(id), 1).await,
        Disposition::Done
    );
    let jobs = printer.jobs();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.notification_id, id);
    assert_eq!(job.reference, reference);
    assert_eq!(job.reference.len(), 16);
    assert_eq!(job.address_lines, ["Ms A Person", "1 High St", "SW1A 1AA"]);
    assert_eq!(job.postage, Postage::Second);
    assert!(job.pdf.starts_with(b"%PDF"));
    let (base, token) = job.callback_url.split_once("?token=").unwrap();
    assert_eq!(base, "https://api.test.notify/notifications/letter/status");
    assert_eq!(CallbackSigner::new(SECRET).verify(token), Some(id));
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::Sending);
    assert!(stored.sent_at.is_some());
    // A second print message for it is dropped: the letter is sending.
    assert_eq!(
        handle(&app, &tools, print_message(id), 1).await,
        Disposition::Done
    );
    assert_eq!(printer.jobs().len(), 1);
    assert!(callbacks_for(&app, id).is_empty());

    // DVLA reports it despatched.
    let despatched = serde_json::to_value(despatched_event(
        id,
        1,
        Postage::Second,
        "2026-12-01T22:30:00Z".parse().unwrap(),
    ))
    .unwrap();
    let r = post_letter_callback(&app, &format!("?token={token}"), &despatched).await;
    assert_eq!(r.status, 204, "{:?}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Delivered);
    assert_eq!(
        app.state.db.letter_despatch(id).await.unwrap(),
        Some(("2026-12-01".parse().unwrap(), "sorted".into()))
    );
    let sent = callbacks_for(&app, id);
    assert_eq!(sent.len(), 1, "one delivery-status callback");
    assert_eq!(sent[0]["status"], "delivered");
    assert_eq!(sent[0]["notification_type"], "letter");
    // DVLA repeating itself changes nothing and makes no second callback.
    let r = post_letter_callback(&app, &format!("?token={token}"), &despatched).await;
    assert_eq!(r.status, 204);
    assert!(callbacks_for(&app, id).is_empty());
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(got["status"], "received");
}

#[tokio::test]
async fn a_rejected_letter_is_a_technical_failure_with_its_callback() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let printer = RecordingPrinter::answering(vec![Ok(PrintAccepted::AlreadyAccepted)]);
    let tools = tools(TestRenderer::pages(3), printer.clone());
    handle(&app, &tools, deliver, 1).await;
    assert_eq!(app.stored(s.service.id, id).await.billable_units, 2);
    // DVLA's 409 ("already have it") is sending too, as upstream.
    handle(&app, &tools, print_message(id), 1).await;
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Sending);
    let token = CallbackSigner::new(SECRET).sign(id);
    let rejected = json!({"id": "1", "time": "2026-12-01T10:00:00Z", "metadata": {"correlationId": "c"},
        "data": {"jobId": id, "jobStatus": "REJECTED", "transitionDate": "2026-12-01T10:00:00Z"}});
    let r = post_letter_callback(&app, &format!("?token={token}"), &rejected).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        status(&app, &s, id).await,
        NotificationStatus::TechnicalFailure
    );
    assert_eq!(app.state.db.letter_despatch(id).await.unwrap(), None);
    let sent = callbacks_for(&app, id);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["status"], "technical-failure");
}

#[tokio::test]
async fn the_callback_needs_a_valid_token_and_dvlas_shape() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let (id, _) = send_letter(&app, &s.live_key, s.letter_template).await;
    let body = serde_json::to_value(despatched_event(id, 1, Postage::Second, Utc::now())).unwrap();
    let forbidden = json!({"status_code": 403, "errors": [{"error": "InvalidRequest", "message": "A valid token must be provided in the query string"}]});
    for query in ["", "?token=", "?token=not-a-token"] {
        let r = post_letter_callback(&app, query, &body).await;
        assert_eq!(r.status, 403, "{query}");
        assert_eq!(r.json(), forbidden);
    }
    let other_key = CallbackSigner::new("another-secret").sign(id);
    let r = post_letter_callback(&app, &format!("?token={other_key}"), &body).await;
    assert_eq!(r.status, 403);
    // A token for another letter.
    let other = CallbackSigner::new(SECRET).sign(Uuid::new_v4());
    let r = post_letter_callback(&app, &format!("?token={other}"), &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"status_code": 400, "errors": [{"error": "InvalidRequest", "message": "Notification ID in letter callback data does not match ID in token"}]})
    );
    let token = CallbackSigner::new(SECRET).sign(id);
    let r = post_letter_callback(
        &app,
        &format!("?token={token}"),
        &json!({"id": "1", "time": "2026-12-01T10:00:00Z", "metadata": {"correlationId": "c"},
            "data": {"jobId": id, "jobStatus": "DESPATCHED", "transitionDate": "2026-12-01T10:00:00Z"}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"status_code": 400, "errors": [{"error": "ValidationError", "message": "data despatchProperties is a required property"}]})
    );
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Created);
}

#[tokio::test]
async fn a_letter_over_ten_pages_fails_validation_as_letter_too_long() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let printer = RecordingPrinter::answering(vec![]);
    let tools = tools(TestRenderer::pages(11), printer.clone());
    assert_eq!(handle(&app, &tools, deliver, 1).await, Disposition::Done);
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::ValidationFailed);
    assert_eq!(stored.billable_units, 0);
    assert_eq!(
        app.state
            .db
            .letter_validation_message(id)
            .await
            .unwrap()
            .as_deref(),
        Some("letter-too-long")
    );
    // As upstream, the invalid PDF can still be seen; it is never collated.
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.status, 200);
    assert!(collate_for(&app, stored.created_at).await.is_empty());
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(got["status"], "validation-failed");
    assert_eq!(got["cost_in_pounds"], 0.0);
}

#[tokio::test]
async fn a_test_key_letter_is_rendered_and_delivered_never_printed() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let (id, deliver) = send_letter(&app, &s.test_key, s.letter_template).await;
    let printer = RecordingPrinter::answering(vec![]);
    let tools = tools(TestRenderer::pages(1), printer.clone());
    assert_eq!(handle(&app, &tools, deliver, 1).await, Disposition::Done);
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::Delivered);
    let key = app.state.db.letter_file_key(id).await.unwrap().unwrap();
    assert!(
        key.starts_with("NOTIFY."),
        "test letters have no print-day folder: {key}"
    );
    let r = get_pdf(&app, &s.test_key, id).await;
    assert_eq!(r.status, 200);
    assert!(r.bytes.starts_with(b"%PDF"));
    assert!(collate_for(&app, stored.created_at).await.is_empty());
    // Even a print message for it prints nothing.
    assert_eq!(
        handle(&app, &tools, print_message(id), 1).await,
        Disposition::Done
    );
    assert!(printer.jobs().is_empty());
}

#[tokio::test]
async fn only_letters_made_before_half_past_five_are_collated_and_only_rendered_ones() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let tools = tools(TestRenderer::pages(1), RecordingPrinter::answering(vec![]));
    let (early, deliver_early) = send_letter(&app, &s.live_key, s.letter_template).await;
    let (late, deliver_late) = send_letter(&app, &s.live_key, s.letter_template).await;
    let (unrendered, _) = send_letter(&app, &s.live_key, s.letter_template).await;
    let day = print_day(Utc::now());
    let deadline = print_deadline(day);
    let db = sql(&app).await;
    for (id, at) in [
        (early, deadline - chrono::Duration::minutes(1)),
        (late, deadline + chrono::Duration::minutes(1)),
        (unrendered, deadline - chrono::Duration::hours(1)),
    ] {
        db.execute(
            "UPDATE notifications SET created_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .await
        .unwrap();
    }
    handle(&app, &tools, deliver_early, 1).await;
    handle(&app, &tools, deliver_late, 1).await;
    let at = deadline + chrono::Duration::minutes(20);
    let report = letters::collate(&app.state, at, || true).await.unwrap();
    assert_eq!(report["queued"], 1);
    assert_eq!(report["complete"], true);
    let queued: Vec<Message> = app.queue.take_all("deliver-letter");
    assert_eq!(queued, vec![print_message(early)]);
    // The late one goes to the next day's run.
    let next = print_deadline(day.succ_opt().unwrap()) + chrono::Duration::minutes(20);
    letters::collate(&app.state, next, || true).await.unwrap();
    let queued: Vec<Message> = app.queue.take_all("deliver-letter");
    assert!(queued.contains(&print_message(late)), "{queued:?}");
    assert!(!queued.contains(&print_message(unrendered)));
}

#[tokio::test]
async fn the_replay_job_requeues_unrendered_letters_but_not_rendered_ones() {
    let app = TestApp::with_config(|c| c.delivery.replay_after = Duration::ZERO).await;
    let s = service(&app).await;
    let tools = tools(TestRenderer::pages(1), RecordingPrinter::answering(vec![]));
    let (rendered, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let (unrendered, _) = send_letter(&app, &s.live_key, s.letter_template).await;
    handle(&app, &tools, deliver, 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    jobs::run(
        &app.state,
        Job::ReplayCreatedNotifications,
        jobs::TIME_BUDGET,
    )
    .await
    .unwrap();
    let queued = app.queue.take_all("deliver-letter");
    assert_eq!(queued, vec![Message::deliver(unrendered)]);
    assert!(!queued.contains(&Message::deliver(rendered)));
}

#[tokio::test]
async fn print_rejections_fail_and_print_outages_retry_within_upstreams_window() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let printer = RecordingPrinter::answering(vec![
        Err(PrintError::Rejected("400 bad address".into())),
        Err(PrintError::Retry("503".into())),
        Err(PrintError::Retry("429".into())),
    ]);
    let tools = tools(TestRenderer::pages(1), printer.clone());
    let (rejected, d1) = send_letter(&app, &s.live_key, s.letter_template).await;
    let (retried, d2) = send_letter(&app, &s.live_key, s.letter_template).await;
    handle(&app, &tools, d1, 1).await;
    handle(&app, &tools, d2, 1).await;
    assert_eq!(
        handle(&app, &tools, print_message(rejected), 1).await,
        Disposition::Done
    );
    assert_eq!(
        status(&app, &s, rejected).await,
        NotificationStatus::TechnicalFailure
    );
    assert_eq!(callbacks_for(&app, rejected).len(), 1);

    assert_eq!(
        handle(&app, &tools, print_message(retried), 1).await,
        Disposition::RetryAfter(Duration::from_secs(180))
    );
    assert_eq!(status(&app, &s, retried).await, NotificationStatus::Created);
    // Upstream gives up after 55 retries.
    assert_eq!(
        handle(&app, &tools, print_message(retried), 56).await,
        Disposition::Done
    );
    assert_eq!(
        status(&app, &s, retried).await,
        NotificationStatus::TechnicalFailure
    );
    assert_eq!(printer.jobs().len(), 3);
}

#[tokio::test]
async fn a_file_store_outage_retries_the_render_and_a_renderer_error_fails_it() {
    let mut app = TestApp::new().await;
    let s = service(&app).await;
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let files = app.state.files.clone();
    app.state.files = Arc::new(StoreDown);
    let tools_ok = tools(TestRenderer::pages(1), RecordingPrinter::answering(vec![]));
    assert_eq!(
        handle(&app, &tools_ok, deliver.clone(), 1).await,
        Disposition::RetryAfter(Duration::from_secs(300))
    );
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Created);
    assert_eq!(app.state.db.letter_file_key(id).await.unwrap(), None);
    // After upstream's 15 retries: technical-failure.
    assert_eq!(
        handle(&app, &tools_ok, deliver.clone(), 16).await,
        Disposition::Done
    );
    assert_eq!(
        status(&app, &s, id).await,
        NotificationStatus::TechnicalFailure
    );

    app.state.files = files;
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let failing = tools(
        TestRenderer::failing(RenderError::Pdf("broken font".into())),
        RecordingPrinter::answering(vec![]),
    );
    assert_eq!(handle(&app, &failing, deliver, 1).await, Disposition::Done);
    assert_eq!(
        status(&app, &s, id).await,
        NotificationStatus::TechnicalFailure
    );
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(
        r.json()["errors"][0]["message"],
        "PDF not available for letters in status technical-failure"
    );
}

#[tokio::test]
async fn a_welsh_letter_renders_welsh_first_then_english() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let sid = s.service.id;
    let missing = app
        .admin(
            "POST",
            &format!("/service/{sid}/template"),
            Some(json!({"name": "welsh", "template_type": "letter", "content": "Dear ((address_line_1))",
                "subject": "Your letter", "letter_languages": "welsh_then_english",
                "letter_welsh_subject": "Eich llythyr"})),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json()["message"],
        "letter_welsh_subject and letter_welsh_content are required when letter_languages is welsh_then_english"
    );
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/template"),
            Some(json!({"name": "welsh", "template_type": "letter", "content": "Dear ((address_line_1))",
                "subject": "Your letter", "letter_languages": "welsh_then_english",
                "letter_welsh_subject": "Eich ((thing))", "letter_welsh_content": "Annwyl ((address_line_1))"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let template = r.json()["data"].clone();
    assert_eq!(template["letter_languages"], "welsh_then_english");
    assert_eq!(template["letter_welsh_subject"], "Eich ((thing))");
    assert_eq!(
        template["letter_welsh_content"],
        "Annwyl ((address_line_1))"
    );
    let template_id: Uuid = template["id"].as_str().unwrap().parse().unwrap();
    let (id, deliver) = send_letter(&app, &s.live_key, template_id).await;
    let renderer = Arc::new(Recording {
        inner: PdfRenderer::new(),
        rendered: Mutex::new(Vec::new()),
    });
    let tools = tools(renderer.clone(), RecordingPrinter::answering(vec![]));
    assert_eq!(handle(&app, &tools, deliver, 1).await, Disposition::Done);
    let letters = renderer.rendered.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    let parts = &letters[0].parts;
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].language, Language::Welsh);
    assert_eq!(parts[0].subject, "Eich letter");
    assert_eq!(parts[0].body, "Annwyl Ms A Person");
    assert_eq!(parts[1].language, Language::English);
    assert_eq!(parts[1].subject, "Your letter");
    assert_eq!(
        letters[0].address_lines,
        ["Ms A Person", "1 High St", "SW1A 1AA"]
    );
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.status, 200);
    assert!(r.bytes.starts_with(b"%PDF"));
    // Each language starts on a new sheet: at least two pages, so at least one sheet billed per language pair.
    assert!(app.stored(sid, id).await.billable_units >= 1);
    // Back to English only clears the Welsh version.
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/template/{template_id}"),
            Some(json!({"letter_languages": "english", "letter_welsh_subject": null, "letter_welsh_content": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["data"]["letter_languages"], "english");
    assert_eq!(r.json()["data"]["letter_welsh_content"], Value::Null);
}

#[tokio::test]
async fn a_qr_code_over_504_bytes_is_refused_at_accept() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let sid = s.service.id;
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/template"),
            Some(json!({"name": "qr", "template_type": "letter", "content": "Scan this\n\nqr: ((link))",
                "subject": "QR"})),
        )
        .await;
    let template = r.json()["data"]["id"].as_str().unwrap().to_string();
    let send = |link: String| {
        json!({"template_id": template, "personalisation": {"address_line_1": "A", "address_line_2": "B",
            "postcode": "SW1A 1AA", "link": link}})
    };
    let long = format!("https://example.gov.uk/{}", "a".repeat(490));
    let r = app
        .call(
            "POST",
            "/v2/notifications/letter",
            &s.live_key,
            Some(send(long.clone())),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"status_code": 400, "errors": [{"error": "ValidationError",
            "message": "Cannot create a usable QR code - the link is too long",
            "data": long, "num_bytes": long.len(), "max_bytes": 504}]})
    );
    let r = app
        .call(
            "POST",
            "/v2/notifications/letter",
            &s.live_key,
            Some(send("https://example.gov.uk/ok".into())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
}

#[tokio::test]
async fn the_simulated_printer_reports_the_letter_despatched_to_our_callback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = TestApp::with_config(|c| c.api.host_name = format!("http://127.0.0.1:{port}")).await;
    tokio::spawn(axum::serve(listener, notify_http::router(app.state.clone())).into_future());
    let s = service(&app).await;
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    let printer = Arc::new(notify_outbound::print::SimulatedPrinter::new(
        Duration::from_millis(100),
    ));
    let tools = tools(TestRenderer::pages(2), printer);
    handle(&app, &tools, deliver, 1).await;
    handle(&app, &tools, print_message(id), 1).await;
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Sending);
    let mut delivered = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if status(&app, &s, id).await == NotificationStatus::Delivered {
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "the simulated despatch callback made the letter delivered"
    );
    let (_, threshold) = app.state.db.letter_despatch(id).await.unwrap().unwrap();
    assert_eq!(threshold, "sorted", "second class as DVLA sorts it");
    assert_eq!(
        app.stored(s.service.id, id).await.to,
        "Ms A Person\n1 High St\nSW1A 1AA"
    );
}

#[tokio::test]
async fn the_letters_lambda_reports_only_the_messages_to_retry_or_dead_letter() {
    let app = TestApp::new().await;
    let s = service(&app).await;
    let printer = RecordingPrinter::answering(vec![Err(PrintError::Retry("503".into()))]);
    let tools = tools(TestRenderer::pages(1), printer.clone());
    let (rendered, render_message) = send_letter(&app, &s.live_key, s.letter_template).await;
    let (to_print, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    handle(&app, &tools, deliver, 1).await;
    let record = |id: &str, body: String, receives: u32| {
        json!({"messageId": id, "receiptHandle": format!("handle-{id}"), "body": body,
            "attributes": {"ApproximateReceiveCount": receives.to_string()}, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:deliver-letter",
            "awsRegion": "eu-west-2"})
    };
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(json!({"Records": [
            record("render", serde_json::to_string(&render_message).unwrap(), 1),
            record("garbage", "not a message".into(), 1),
            record("print", serde_json::to_string(&print_message(to_print)).unwrap(), 3),
        ]}))
        .unwrap();
    let response = notify_runtime::lambda::letters_batch(
        &app.state,
        &tools,
        &notify_tests::sqs_client("http://127.0.0.1:1"),
        event,
    )
    .await;
    assert_eq!(notify_tests::failed_items(&response), ["garbage", "print"]);
    assert!(
        app.state
            .db
            .letter_file_key(rendered)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        status(&app, &s, to_print).await,
        NotificationStatus::Created
    );
    assert_eq!(printer.jobs().len(), 1);
}

/// The whole chain with the real DVLA client: the print job goes over HTTP to the fake DVLA, whose acceptance
/// makes the letter `sending`, and the callback target it was given brings it to `delivered`.
#[tokio::test]
async fn a_live_letter_goes_to_the_fake_dvla_and_back() {
    use notify_outbound::print::dvla::{DvlaClient, DvlaCredentials};
    let app = TestApp::new().await;
    let s = service(&app).await;
    let fake =
        notify_tests::fake_dvla::FakeDvla::start("notify", "dvla-password", "dvla-key").await;
    let client = DvlaClient::new(
        &fake.url,
        DvlaCredentials {
            username: "notify".into(),
            password: "dvla-password".to_string().into(),
            api_key: "dvla-key".to_string().into(),
        },
        None,
    );
    let tools = tools(Arc::new(PdfRenderer::new()), Arc::new(client));
    let (id, deliver) = send_letter(&app, &s.live_key, s.letter_template).await;
    assert_eq!(handle(&app, &tools, deliver, 1).await, Disposition::Done);
    let created_at = app.stored(s.service.id, id).await.created_at;
    assert_eq!(collate_for(&app, created_at).await, vec![id]);
    assert_eq!(
        handle(&app, &tools, print_message(id), 1).await,
        Disposition::Done
    );
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Sending);

    let requests = fake.print_requests();
    assert_eq!(requests.len(), 1, "one print job per letter");
    let body = &requests[0].body;
    assert_eq!(body["id"], id.to_string());
    let pdf = print_request_pdf(body);
    assert_eq!(
        Some(pdf),
        app.state
            .files
            .get(&app.state.db.letter_file_key(id).await.unwrap().unwrap())
            .await
            .unwrap()
    );
    let target = body["callbackParams"]["target"].as_str().unwrap();
    let query = &target[target.find('?').expect("the token is in the query")..];

    let despatched =
        serde_json::to_value(despatched_event(id, 1, Postage::Second, chrono::Utc::now())).unwrap();
    let r = post_letter_callback(&app, query, &despatched).await;
    assert_eq!(r.status, 204, "{:?}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Delivered);
}
