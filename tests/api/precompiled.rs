//! Precompiled letters after accept, against the project's real clamd and the real print checks: scanned,
//! checked, their address read from the PDF, then `created` and printed like a templated letter; or
//! `virus-scan-failed`, `validation-failed` with upstream's code, or after 5 failed scans `technical-failure`.
//! GuardDuty's verdicts arrive as `ScanResult` messages; the re-scan job asks again about letters still waiting.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use notify_app::jobs::{self, Job};
use notify_app::letters::{self, LetterTools};
use notify_app::workers::Attempt;
use notify_core::letters::guardduty::ScanStatus;
use notify_core::letters::precompiled_upload_key;
use notify_core::messages::Message;
use notify_core::model::{NotificationStatus, Postage, ServicePermission};
use notify_core::retry::Disposition;
use notify_outbound::scan::Scanner;
use notify_tests::letters::{
    RecordingPrinter, StoreDown, TestRenderer, collate_for, post_letter_callback, print_request_pdf,
};
use notify_tests::precompiled::{
    A3, A4, A4_LANDSCAPE, ADDRESS, Page, absent_clamd, eicar_letter, letter, letter_pages, pdf,
    project_clamd,
};
use notify_tests::{TestApp, TestService};
use serde_json::{Value, json};
use uuid::Uuid;

fn attempt(n: u32) -> Attempt {
    Attempt { number: n, max: 48 }
}

async fn sql(app: &TestApp) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A live service with a delivery-status callback; with or without `international_letters`.
async fn service(app: &TestApp, international: bool) -> TestService {
    let mut permissions = vec![
        ServicePermission::Sms,
        ServicePermission::Email,
        ServicePermission::Letter,
    ];
    if international {
        permissions.push(ServicePermission::InternationalLetters);
    }
    let s = app.service_with(false, Some(permissions)).await;
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

/// Sends `pdf` as a precompiled letter; returns its id and the scan accept queued for clamd.
async fn send(app: &TestApp, key: &str, pdf: &[u8]) -> (Uuid, Message) {
    let content = base64::engine::general_purpose::STANDARD.encode(pdf);
    let r = app
        .call(
            "POST",
            "/v2/notifications/letter",
            key,
            Some(json!({"reference": "precompiled", "content": content})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let id: Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
    let message = app
        .queue
        .take_all(&app.state.config.queues.deliver_letter)
        .into_iter()
        .find(
            |m| matches!(m, Message::ScanLetter { notification_id, .. } if *notification_id == id),
        )
        .expect("accept queues the letter for clamd");
    (id, message)
}

fn tools(scanner: Option<Arc<dyn Scanner>>, printer: Arc<RecordingPrinter>) -> LetterTools {
    LetterTools {
        renderer: TestRenderer::pages(1),
        printer,
        scanner,
    }
}

async fn handle(app: &TestApp, tools: &LetterTools, message: Message, n: u32) -> Disposition {
    let mut d = letters::handle_letters(&app.state, tools, &[(message, attempt(n))]).await;
    assert_eq!(d.len(), 1);
    d.remove(0)
}

fn scan_result(id: Uuid, result: ScanStatus) -> Message {
    Message::ScanResult {
        v: 1,
        notification_id: id,
        result,
    }
}

async fn status(app: &TestApp, s: &TestService, id: Uuid) -> NotificationStatus {
    app.stored(s.service.id, id).await.status
}

/// The validation result: upstream's code and the invalid pages.
async fn validation(app: &TestApp, id: Uuid) -> Option<(String, Option<Vec<i32>>)> {
    sql(app)
        .await
        .query_opt(
            "SELECT message, invalid_pages FROM letter_validation_results WHERE notification_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// The scan as recorded.
#[derive(Debug)]
struct ScanRow {
    scanner: Option<String>,
    result: Option<String>,
    signature: Option<String>,
    failures: i32,
    error: Option<String>,
    checked: bool,
}

async fn scan_row(app: &TestApp, id: Uuid) -> ScanRow {
    let r = sql(app)
        .await
        .query_one(
            "SELECT scanner, scan_result, signature, scan_attempts, last_scan_error, checked_at IS NOT NULL \
             FROM precompiled_letters WHERE notification_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    ScanRow {
        scanner: r.get(0),
        result: r.get(1),
        signature: r.get(2),
        failures: r.get(3),
        error: r.get(4),
        checked: r.get(5),
    }
}

/// The callbacks relayed for `id`.
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

async fn get(app: &TestApp, key: &str, id: Uuid) -> Value {
    app.call("GET", &format!("/v2/notifications/{id}"), key, None)
        .await
        .json()
}

async fn get_pdf(app: &TestApp, key: &str, id: Uuid) -> notify_tests::Response {
    app.call("GET", &format!("/v2/notifications/{id}/pdf"), key, None)
        .await
}

#[tokio::test]
async fn a_clean_letter_is_scanned_checked_addressed_collated_and_printed() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    let upload = letter(&ADDRESS, 1);
    let (id, scan) = send(&app, &s.live_key, &upload).await;
    let printer = RecordingPrinter::answering(vec![]);
    let tools = tools(Some(project_clamd().await), printer.clone());

    // Nothing is served before the scan.
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.json()["errors"][0]["error"], "PDFNotReadyError");
    assert_eq!(
        status(&app, &s, id).await,
        NotificationStatus::PendingVirusCheck
    );

    assert_eq!(
        handle(&app, &tools, scan.clone(), 1).await,
        Disposition::Done
    );
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::Created);
    assert_eq!(stored.billable_units, 1, "one page is one sheet");
    assert_eq!(stored.to, "Ms A Person\nFlat 2\n1 High Street\nSW1A 1AA");
    assert_eq!(
        stored.normalised_to.as_deref(),
        Some("msapersonflat21highstreetsw1a1aa")
    );
    assert_eq!(stored.postage, Some(Postage::Second));
    let row = scan_row(&app, id).await;
    assert_eq!(
        (
            row.scanner.as_deref(),
            row.result.as_deref(),
            row.signature,
            row.failures,
            row.checked
        ),
        (Some("clamd"), Some("clean"), None, 0, true)
    );
    assert_eq!(validation(&app, id).await, None);
    let got = get(&app, &s.live_key, id).await;
    assert_eq!(got["status"], "accepted");
    assert_eq!(
        (
            &got["line_1"],
            &got["line_2"],
            &got["line_3"],
            &got["line_4"],
            &got["postcode"]
        ),
        (
            &json!("Ms A Person"),
            &json!("Flat 2"),
            &json!("1 High Street"),
            &Value::Null,
            &json!("SW1A 1AA")
        )
    );
    assert_eq!(got["cost_in_pounds"], 0.73, "second class, one sheet");
    // What the service uploaded, byte for byte.
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/pdf");
    assert_eq!(r.bytes, upload);

    // A redelivered scan changes nothing.
    assert_eq!(handle(&app, &tools, scan, 2).await, Disposition::Done);
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Created);

    // The evening's collation picks it up like a templated letter; the printer gets the checked file.
    assert_eq!(collate_for(&app, stored.created_at).await, vec![id]);
    let print = Message::PrintLetter {
        v: 1,
        notification_id: id,
    };
    assert_eq!(handle(&app, &tools, print, 1).await, Disposition::Done);
    let jobs = printer.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].address_lines,
        ["Ms A Person", "Flat 2", "1 High Street", "SW1A 1AA"]
    );
    assert_eq!(jobs[0].postage, Postage::Second);
    assert!(jobs[0].pdf.starts_with(b"%PDF"));
    assert_ne!(
        jobs[0].pdf, upload,
        "the printer gets the checked file, its NOTIFY tag added"
    );
    let key = app.state.db.letter_file_key(id).await.unwrap().unwrap();
    assert_eq!(
        app.state.files.get(&key).await.unwrap().unwrap(),
        jobs[0].pdf
    );
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Sending);
}

#[tokio::test]
async fn a_letter_carrying_eicar_fails_the_virus_scan() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    let (id, scan) = send(&app, &s.live_key, &eicar_letter()).await;
    let tools = tools(
        Some(project_clamd().await),
        RecordingPrinter::answering(vec![]),
    );
    assert_eq!(handle(&app, &tools, scan, 1).await, Disposition::Done);
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::VirusScanFailed);
    assert_eq!(stored.billable_units, 0);
    let row = scan_row(&app, id).await;
    assert_eq!(
        (
            row.scanner.as_deref(),
            row.result.as_deref(),
            row.signature.as_deref(),
            row.checked
        ),
        (
            Some("clamd"),
            Some("infected"),
            Some("Notify.Test.EICAR.UNOFFICIAL"),
            false
        )
    );
    assert_eq!(app.state.db.letter_file_key(id).await.unwrap(), None);
    let r = get_pdf(&app, &s.live_key, id).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["errors"][0]["message"],
        "File did not pass the virus scan"
    );
    let got = get(&app, &s.live_key, id).await;
    assert_eq!(got["status"], "virus-scan-failed");
    assert_eq!(got["cost_in_pounds"], 0.0);
}

type Case = (&'static str, Vec<u8>, &'static str, Option<Vec<i32>>);

#[tokio::test]
async fn letters_that_fail_a_check_are_validation_failed_with_upstreams_code() {
    let app = TestApp::new().await;
    let uk_only = service(&app, false).await;
    let tools = tools(
        Some(project_clamd().await),
        RecordingPrinter::answering(vec![]),
    );
    let margin_ink = {
        let mut pages = letter_pages(A4, &ADDRESS, 3);
        pages[1] = pages[1].clone().ink(3.0, 150.0, 5.0, 5.0);
        pdf(&pages)
    };
    // Each: what it is, the upload, upstream's code, and the invalid pages where the rule names them.
    let cases: Vec<Case> = vec![
        ("11 pages", letter(&ADDRESS, 11), "letter-too-long", None),
        (
            "A3",
            pdf(&letter_pages(A3, &ADDRESS, 1)),
            "letter-not-a4-portrait-oriented",
            None,
        ),
        (
            "landscape",
            pdf(&letter_pages(A4_LANDSCAPE, &ADDRESS, 1)),
            "letter-not-a4-portrait-oriented",
            None,
        ),
        (
            "ink in the margin of page 2",
            margin_ink,
            "content-outside-printable-area",
            Some(vec![2]),
        ),
        (
            "an empty address window",
            pdf(&[Page::new(A4).body(110.0, "Dear customer,")]),
            "address-is-empty",
            Some(vec![1]),
        ),
        (
            "a two-line address",
            letter(&["Ms A Person", "SW1A 1AA"], 1),
            "not-enough-address-lines",
            Some(vec![1]),
        ),
        (
            "an invalid postcode",
            letter(&["Ms A Person", "1 High Street", "NOT A POSTCODE"], 1),
            "not-a-real-uk-postcode",
            Some(vec![1]),
        ),
        (
            "an address abroad from a UK-only service",
            letter(&["Ms A Person", "1 Rue de Rivoli", "Paris", "France"], 1),
            "cant-send-international-letters",
            Some(vec![1]),
        ),
        (
            "an unreadable file",
            b"%PDF-1.7\nthis is no PDF after its first line\n".to_vec(),
            "unable-to-read-the-file",
            None,
        ),
    ];
    let mut failed = Vec::new();
    for (name, upload, code, pages) in cases {
        let (id, scan) = send(&app, &uk_only.live_key, &upload).await;
        assert_eq!(
            handle(&app, &tools, scan, 1).await,
            Disposition::Done,
            "{name}"
        );
        let stored = app.stored(uk_only.service.id, id).await;
        let got = validation(&app, id).await;
        let expected = Some((code.to_string(), pages.clone()));
        let pages_match = match (&got, &pages) {
            (Some((message, _)), None) => message == code,
            _ => got == expected,
        };
        if stored.status != NotificationStatus::ValidationFailed
            || stored.billable_units != 0
            || !pages_match
        {
            failed.push(format!(
                "{name}: {} billable {} {got:?}, expected {expected:?}",
                stored.status.as_str(),
                stored.billable_units
            ));
        }
        assert_eq!(
            app.state.db.letter_file_key(id).await.unwrap(),
            None,
            "{name}"
        );
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test]
async fn an_address_abroad_sets_international_postage() {
    let app = TestApp::new().await;
    let s = service(&app, true).await;
    let tools = tools(
        Some(project_clamd().await),
        RecordingPrinter::answering(vec![]),
    );
    for (country, postage) in [("France", "europe"), ("Japan", "rest-of-world")] {
        let address = ["Ms A Person", "1 Main Street", "Springfield", country];
        let (id, scan) = send(&app, &s.live_key, &letter(&address, 1)).await;
        assert_eq!(handle(&app, &tools, scan, 1).await, Disposition::Done);
        let stored = app.stored(s.service.id, id).await;
        assert_eq!(stored.status, NotificationStatus::Created, "{country}");
        assert_eq!(stored.postage.map(|p| p.as_str()), Some(postage));
        let got = get(&app, &s.live_key, id).await;
        assert_eq!(got["postage"], postage);
        assert_eq!(got["line_4"], country);
        assert_eq!(got["postcode"], Value::Null);
        let key = app.state.db.letter_file_key(id).await.unwrap().unwrap();
        let code = if postage == "europe" { "E" } else { "N" };
        assert!(key.contains(&format!(".D.{code}.C.")), "{key}");
    }
}

#[tokio::test]
async fn a_test_keys_letter_is_delivered_without_printing() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    let (id, scan) = send(&app, &s.test_key, &letter(&ADDRESS, 3)).await;
    let printer = RecordingPrinter::answering(vec![]);
    let tools = tools(Some(project_clamd().await), printer.clone());
    assert_eq!(handle(&app, &tools, scan, 1).await, Disposition::Done);
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::Delivered);
    assert_eq!(
        stored.billable_units, 0,
        "a test key's letter is not billed"
    );
    assert!(collate_for(&app, stored.created_at).await.is_empty());
    assert!(printer.jobs().is_empty());
    let sent = callbacks_for(&app, id);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["status"], "delivered");
}

#[tokio::test]
async fn a_letter_waits_while_clamd_is_away_and_fails_after_five_failed_scans() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    let (id, scan) = send(&app, &s.live_key, &letter(&ADDRESS, 1)).await;

    // No scanner at all: the letter waits, nothing is counted.
    let waiting = tools(None, RecordingPrinter::answering(vec![]));
    assert!(matches!(
        handle(&app, &waiting, scan.clone(), 1).await,
        Disposition::RetryAfter(_)
    ));
    assert_eq!(
        status(&app, &s, id).await,
        NotificationStatus::PendingVirusCheck
    );
    assert_eq!(scan_row(&app, id).await.failures, 0);

    let away = tools(Some(absent_clamd()), RecordingPrinter::answering(vec![]));
    let mut delays = Vec::new();
    for n in 1..=4 {
        match handle(&app, &away, scan.clone(), n).await {
            Disposition::RetryAfter(after) => delays.push(after),
            other => panic!("scan {n}: {other:?}"),
        }
        assert_eq!(
            status(&app, &s, id).await,
            NotificationStatus::PendingVirusCheck
        );
        let row = scan_row(&app, id).await;
        assert_eq!((row.result, row.failures), (None, n as i32));
        assert!(
            row.error.is_some_and(|e| e.contains("unavailable")),
            "scan {n}"
        );
    }
    assert!(
        delays.windows(2).all(|w| w[0] < w[1]),
        "backs off: {delays:?}"
    );
    assert!(callbacks_for(&app, id).is_empty());
    assert_eq!(
        handle(&app, &away, scan.clone(), 5).await,
        Disposition::Done
    );
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.status, NotificationStatus::TechnicalFailure);
    assert_eq!(stored.billable_units, 0);
    let sent = callbacks_for(&app, id);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["status"], "technical-failure");
    // Final: another scan does nothing.
    assert_eq!(handle(&app, &away, scan, 6).await, Disposition::Done);
    assert_eq!(scan_row(&app, id).await.failures, 5);
}

#[tokio::test]
async fn the_rescan_job_queues_letters_pending_for_more_than_ten_minutes() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    let (stuck, _) = send(&app, &s.live_key, &letter(&ADDRESS, 1)).await;
    let (fresh, _) = send(&app, &s.live_key, &letter(&ADDRESS, 1)).await;
    let (abandoned, _) = send(&app, &s.live_key, &letter(&ADDRESS, 1)).await;
    let db = sql(&app).await;
    db.execute(
        "UPDATE notifications SET created_at = now() - interval '15 minutes' WHERE id = $1",
        &[&stuck],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE notifications SET created_at = now() - interval '3 hours' WHERE id = $1",
        &[&abandoned],
    )
    .await
    .unwrap();
    let report = jobs::run(
        &app.state,
        Job::CheckIfLettersStillPendingVirusCheck,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(report["queued"], 1, "{report}");
    let queued: Vec<Uuid> = app
        .queue
        .take_all(&app.state.config.queues.deliver_letter)
        .into_iter()
        .filter_map(|m| match m {
            Message::ScanLetter {
                notification_id, ..
            } => Some(notification_id),
            _ => None,
        })
        .collect();
    assert_eq!(queued, vec![stuck]);
    assert!(!queued.contains(&fresh) && !queued.contains(&abandoned));

    // The queued scan goes through as any other.
    let tools = tools(
        Some(project_clamd().await),
        RecordingPrinter::answering(vec![]),
    );
    let scan = Message::ScanLetter {
        v: 1,
        notification_id: stuck,
    };
    assert_eq!(handle(&app, &tools, scan, 1).await, Disposition::Done);
    assert_eq!(status(&app, &s, stuck).await, NotificationStatus::Created);
}

#[tokio::test]
async fn guardduty_verdicts_end_each_way() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    // GuardDuty's verdict is the message: no clamd is asked.
    let tools = tools(None, RecordingPrinter::answering(vec![]));

    let (clean, _) = send(&app, &s.live_key, &letter(&ADDRESS, 2)).await;
    assert_eq!(
        handle(
            &app,
            &tools,
            scan_result(clean, ScanStatus::NoThreatsFound),
            1
        )
        .await,
        Disposition::Done
    );
    let stored = app.stored(s.service.id, clean).await;
    assert_eq!(
        (stored.status, stored.billable_units),
        (NotificationStatus::Created, 1)
    );
    let row = scan_row(&app, clean).await;
    assert_eq!(
        (row.scanner.as_deref(), row.result.as_deref()),
        (Some("guardduty"), Some("clean"))
    );

    let (infected, _) = send(&app, &s.live_key, &letter(&ADDRESS, 1)).await;
    assert_eq!(
        handle(
            &app,
            &tools,
            scan_result(infected, ScanStatus::ThreatsFound),
            1
        )
        .await,
        Disposition::Done
    );
    let stored = app.stored(s.service.id, infected).await;
    assert_eq!(
        (stored.status, stored.billable_units),
        (NotificationStatus::VirusScanFailed, 0)
    );

    let (invalid, _) = send(&app, &s.live_key, &letter(&["Ms A Person", "SW1A 1AA"], 1)).await;
    handle(
        &app,
        &tools,
        scan_result(invalid, ScanStatus::NoThreatsFound),
        1,
    )
    .await;
    assert_eq!(
        status(&app, &s, invalid).await,
        NotificationStatus::ValidationFailed
    );

    // Verdicts that are not one are failed scans, asked about again through the tag; the 5th ends it.
    let (failing, _) = send(&app, &s.live_key, &letter(&ADDRESS, 1)).await;
    let statuses = [
        ScanStatus::Unsupported,
        ScanStatus::AccessDenied,
        ScanStatus::Failed,
        ScanStatus::Failed,
    ];
    for (n, result) in statuses.into_iter().enumerate() {
        match handle(&app, &tools, scan_result(failing, result), 1).await {
            Disposition::Replace {
                message:
                    Message::ScanLetter {
                        notification_id, ..
                    },
                ..
            } => assert_eq!(notification_id, failing),
            other => panic!("{result:?}: {other:?}"),
        }
        assert_eq!(scan_row(&app, failing).await.failures, n as i32 + 1);
    }
    assert_eq!(
        handle(&app, &tools, scan_result(failing, ScanStatus::Failed), 1).await,
        Disposition::Done
    );
    assert_eq!(
        status(&app, &s, failing).await,
        NotificationStatus::TechnicalFailure
    );
    // A late event for a letter already decided changes nothing.
    handle(
        &app,
        &tools,
        scan_result(infected, ScanStatus::NoThreatsFound),
        1,
    )
    .await;
    assert_eq!(
        status(&app, &s, infected).await,
        NotificationStatus::VirusScanFailed
    );
}

#[tokio::test]
async fn a_letter_is_not_accepted_while_the_file_store_is_away() {
    let mut app = TestApp::new().await;
    let s = service(&app, false).await;
    app.use_files(Arc::new(StoreDown));
    let content = base64::engine::general_purpose::STANDARD.encode(letter(&ADDRESS, 1));
    let r = app
        .call(
            "POST",
            "/v2/notifications/letter",
            &s.live_key,
            Some(json!({"reference": "precompiled", "content": content})),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.json());
    let stored: i64 = sql(&app)
        .await
        .query_one(
            "SELECT count(*) FROM notifications WHERE service_id = $1",
            &[&s.service.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "no row without its file");
    assert!(
        app.queue
            .take_all(&app.state.config.queues.deliver_letter)
            .is_empty()
    );
}

#[tokio::test]
async fn the_upload_is_kept_at_its_key_and_a_scan_of_a_missing_upload_is_a_failed_scan() {
    let app = TestApp::new().await;
    let s = service(&app, false).await;
    let upload = letter(&ADDRESS, 1);
    let (id, scan) = send(&app, &s.live_key, &upload).await;
    let key = precompiled_upload_key(id);
    assert_eq!(app.state.files.get(&key).await.unwrap(), Some(upload));
    app.state.files.delete(&key).await.unwrap();
    let tools = tools(
        Some(project_clamd().await),
        RecordingPrinter::answering(vec![]),
    );
    assert!(matches!(
        handle(&app, &tools, scan, 1).await,
        Disposition::RetryAfter(_)
    ));
    let row = scan_row(&app, id).await;
    assert_eq!(row.failures, 1);
    assert!(row.error.unwrap().contains("missing"));
}

/// The whole way of a clean upload through the real DVLA client: scanned by clamd, checked, its address read,
/// collated, and printed by the fake DVLA, which gets the address from the PDF and the checked file; its
/// DESPATCHED callback makes the letter `delivered`.
#[tokio::test]
async fn a_clean_letter_is_printed_by_the_fake_dvla() {
    use notify_outbound::print::dvla::{DvlaClient, DvlaCredentials};
    let app = TestApp::new().await;
    let s = service(&app, false).await;
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
    let tools = LetterTools {
        renderer: TestRenderer::pages(1),
        printer: Arc::new(client),
        scanner: Some(project_clamd().await),
    };
    let upload = letter(&ADDRESS, 1);
    let (id, scan) = send(&app, &s.live_key, &upload).await;
    assert_eq!(handle(&app, &tools, scan, 1).await, Disposition::Done);
    let created_at = app.stored(s.service.id, id).await.created_at;
    assert_eq!(collate_for(&app, created_at).await, vec![id]);
    let print = Message::PrintLetter {
        v: 1,
        notification_id: id,
    };
    assert_eq!(handle(&app, &tools, print, 1).await, Disposition::Done);
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Sending);

    let requests = fake.print_requests();
    assert_eq!(requests.len(), 1, "one print job for the letter");
    let body = &requests[0].body;
    assert_eq!(body["id"], id.to_string());
    assert_eq!(
        (
            &body["standardParams"]["recipientName"],
            &body["standardParams"]["address"]["unstructuredAddress"]
        ),
        (
            &json!("Ms A Person"),
            &json!({"line1": "Flat 2", "line2": "1 High Street", "postcode": "SW1A 1AA"})
        ),
        "the address read from the PDF"
    );
    let printed = print_request_pdf(body);
    let key = app.state.db.letter_file_key(id).await.unwrap().unwrap();
    assert_eq!(
        Some(printed.clone()),
        app.state.files.get(&key).await.unwrap()
    );
    assert_ne!(printed, upload, "the checked file, its NOTIFY tag added");

    let target = body["callbackParams"]["target"].as_str().unwrap();
    let query = &target[target.find('?').expect("the token is in the query")..];
    let despatched = serde_json::to_value(notify_core::letters::dvla_callback::despatched_event(
        id,
        1,
        Postage::Second,
        Utc::now(),
    ))
    .unwrap();
    let r = post_letter_callback(&app, query, &despatched).await;
    assert_eq!(r.status, 204, "{:?}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(status(&app, &s, id).await, NotificationStatus::Delivered);
}
