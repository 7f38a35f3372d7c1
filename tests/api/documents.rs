//! Files sent by email (issue 16): the send's checks in document-download-api's words, the link in the email,
//! the download page, the confirmation of the address, the file's bytes, and what a wrong key, a changed
//! file or an expired document get. The project's clamd scans (CLAMD_ADDRESS, as the test command exports).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeDelta, Utc};
use notify_app::jobs::{self, Job};
use notify_tests::precompiled::{absent_clamd, eicar, project_clamd};
use notify_tests::{Response, TestApp, TestService};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{error_types, messages};

pub(crate) const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
pub(crate) const CSV: &[u8] = b"name,amount\nAmala,12.50\nBen,3.00\n";

async fn app_with_scanner() -> TestApp {
    let mut app = TestApp::new().await;
    app.use_scanner(project_clamd().await);
    app
}

pub(crate) async fn service_with_contact(app: &TestApp) -> TestService {
    let s = app.service(false).await;
    let r = app
        .admin(
            "POST",
            &format!("/service/{}", s.service.id),
            Some(json!({"contact_link": "https://example.gov.uk/contact"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    s
}

pub(crate) fn file(bytes: &[u8], filename: Option<&str>, confirm: Option<bool>) -> Value {
    json!({
        "file": STANDARD.encode(bytes),
        "filename": filename,
        "confirm_email_before_download": confirm,
        "retention_period": null,
    })
}

pub(crate) async fn send(
    app: &TestApp,
    key: &str,
    s: &TestService,
    to: &str,
    personalisation: Value,
) -> Response {
    app.call(
        "POST",
        "/v2/notifications/email",
        key,
        Some(json!({"email_address": to, "template_id": s.email_template, "personalisation": personalisation})),
    )
    .await
}

/// The links in an email body, in order, as paths (the test API's host is `https://api.test.notify`).
fn links(body: &str) -> Vec<String> {
    body.split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|w| w.strip_prefix("https://api.test.notify"))
        .filter(|p| p.starts_with("/d/"))
        .map(str::to_string)
        .collect()
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.bytes).into_owned()
}

fn download_path(page: &str) -> String {
    let (path, query) = page.split_once('?').unwrap();
    format!("{path}/download?{query}")
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
    app.request_with_headers("GET", path, None, &headers, None)
        .await
}

async fn post_form(app: &TestApp, path: &str, form: &str) -> Response {
    app.request_with_headers(
        "POST",
        path,
        None,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    )
    .await
}

fn assert_private(r: &Response) {
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
}

#[tokio::test]
async fn a_pdf_and_a_csv_are_sent_and_downloaded() {
    let app = app_with_scanner().await;
    let s = service_with_contact(&app).await;
    let r = send(
        &app,
        &s.live_key,
        &s,
        "Someone@Example.com",
        json!({"name": file(PDF, Some("report.pdf"), Some(false)), "items": file(CSV, Some("data.csv"), None)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let created = r.json();
    let body = created["content"]["body"].as_str().unwrap();
    let found = links(body);
    assert_eq!(found.len(), 2, "{body}");
    let id = created["id"].as_str().unwrap();
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(
        links(got["body"].as_str().unwrap()),
        found,
        "the stored email carries the same links"
    );
    let stored = app.stored(s.service.id, id.parse().unwrap()).await;
    let client = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .map(|(client, connection)| {
            tokio::spawn(connection);
            client
        })
        .unwrap();
    let count: Option<i32> = client
        .query_one(
            "SELECT document_download_count FROM notifications WHERE id = $1",
            &[&stored.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, Some(2));
    let rows = client
        .query("SELECT filename, mime_type, size_bytes, confirm_email_hash IS NOT NULL FROM documents ORDER BY filename DESC", &[])
        .await
        .unwrap();
    let rows: Vec<(Option<String>, String, i32, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        rows,
        [
            (
                Some("report.pdf".into()),
                "application/pdf".into(),
                PDF.len() as i32,
                false
            ),
            (
                Some("data.csv".into()),
                "text/csv".into(),
                CSV.len() as i32,
                true
            ),
        ]
    );
    let raw = tokio::fs::read_dir(
        &app.state
            .config
            .files
            .local_dir
            .join("documents")
            .join(s.service.id.to_string()),
    )
    .await
    .is_ok();
    assert!(raw, "the sealed files are in the file store");

    // The PDF: no confirmation asked for.
    let page = get(&app, &found[0], None).await;
    assert_eq!(page.status, 200);
    assert_private(&page);
    let html = text(&page);
    assert!(html.contains("report.pdf"), "{html}");
    assert!(html.contains("PDF, 0.1KB"), "{html}");
    assert!(html.contains("sent you a file to download"), "{html}");
    assert!(html.contains("https://example.gov.uk/contact"), "{html}");
    let download = get(&app, &download_path(&found[0]), None).await;
    assert_eq!(download.status, 200);
    assert_private(&download);
    assert_eq!(download.bytes, PDF);
    assert_eq!(download.headers["content-type"], "application/pdf");
    assert_eq!(
        download.headers["content-disposition"],
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    );

    // The CSV: confirmation by default. The page asks first; the download sends an unconfirmed browser back.
    let page = get(&app, &found[1], None).await;
    assert_eq!(page.status, 200);
    let html = text(&page);
    assert!(html.contains("Confirm your email address"), "{html}");
    assert!(
        !html.contains("data.csv"),
        "nothing about the file before the address: {html}"
    );
    let refused = get(&app, &download_path(&found[1]), None).await;
    assert_eq!(refused.status, 303);
    assert_eq!(refused.headers["location"], found[1].as_str());
    assert!(refused.bytes.is_empty());

    let wrong = post_form(&app, &found[1], "email_address=someone.else%40example.com").await;
    assert_eq!(wrong.status, 400);
    let html = text(&wrong);
    assert!(
        html.contains("This is not the email address the file was sent to."),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "To confirm the file was meant for you, enter the email address {} sent the file to.",
            s.service.name
        )),
        "{html}"
    );
    assert!(wrong.headers.get("set-cookie").is_none());
    let empty = post_form(&app, &found[1], "email_address=").await;
    assert_eq!(empty.status, 400);
    assert!(text(&empty).contains("Enter your email address"));
    let invalid = post_form(&app, &found[1], "email_address=not-an-address").await;
    assert_eq!(invalid.status, 400);
    assert!(text(&invalid).contains("Not a valid email address"));

    let right = post_form(&app, &found[1], "email_address=+someone%40EXAMPLE.com+").await;
    assert_eq!(right.status, 200, "{}", text(&right));
    let html = text(&right);
    assert!(
        html.contains("data.csv") && html.contains("CSV file"),
        "{html}"
    );
    let cookie = right.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_string();
    let download = get(&app, &download_path(&found[1]), Some(&cookie)).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.bytes, CSV);
    assert_eq!(download.headers["content-type"], "text/csv");
    let again = get(&app, &found[1], Some(&cookie)).await;
    assert!(
        text(&again).contains("Download this CSV file"),
        "a confirmed browser goes straight to the file"
    );
    let other_cookie = get(
        &app,
        &download_path(&found[1]),
        Some("document_access=forged"),
    )
    .await;
    assert_eq!(other_cookie.status, 303);
}

#[tokio::test]
async fn wrong_keys_unknown_ids_and_changed_files_get_the_404_page() {
    let app = app_with_scanner().await;
    let s = service_with_contact(&app).await;
    let r = send(
        &app,
        &s.live_key,
        &s,
        "a@example.com",
        json!({"name": file(PDF, Some("secret.pdf"), Some(false)), "items": "x"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let link = links(r.json()["content"]["body"].as_str().unwrap()).remove(0);
    let (path, _) = link.split_once('?').unwrap();
    let other_key = notify_core::documents::DocumentKey::generate().to_link_form();
    let unknown = format!("/d/{}/{}?key={other_key}", s.service.id, Uuid::new_v4());
    for bad in [
        format!("{path}?key={other_key}"),
        format!("{path}?key=abc"),
        path.to_string(),
        unknown,
        format!("/d/not-a-uuid/{}?key={other_key}", Uuid::new_v4()),
        format!(
            "/d/{}/{}",
            Uuid::new_v4(),
            link.trim_start_matches(&format!("/d/{}/", s.service.id))
        ),
    ] {
        for r in [
            get(&app, &bad, None).await,
            get(&app, &download_path(&format!("{bad}?")), None).await,
        ] {
            assert_eq!(r.status, 404, "{bad}");
            let html = text(&r);
            assert!(html.contains("Page not found"), "{bad}: {html}");
            assert!(!html.contains("secret.pdf"));
            assert!(!r.bytes.windows(5).any(|w| w == b"%PDF-"));
        }
    }
    // The sealed file changed in the store: it no longer opens, and nothing of it is served.
    let document_id = path.rsplit('/').next().unwrap();
    let stored = app
        .state
        .config
        .files
        .local_dir
        .join("documents")
        .join(s.service.id.to_string())
        .join(document_id);
    let mut sealed = tokio::fs::read(&stored).await.unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    tokio::fs::write(&stored, &sealed).await.unwrap();
    assert_eq!(
        get(&app, &link, None).await.status,
        200,
        "the page needs only the key"
    );
    let r = get(&app, &download_path(&link), None).await;
    assert_eq!(r.status, 404);
    assert!(text(&r).contains("Page not found"));
    assert!(!r.bytes.windows(5).any(|w| w == b"%PDF-"));
}

#[tokio::test]
async fn the_file_checks_in_notifys_words() {
    let app = app_with_scanner().await;
    let s = app.service(false).await;
    let pdf = file(PDF, Some("report.pdf"), None);
    let r = send(
        &app,
        &s.live_key,
        &s,
        "a@example.com",
        json!({"name": pdf.clone(), "items": "x"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        messages(&r.json())[0].starts_with(&format!(
            "Send files by email has not been set up - add contact details for your service at \
             https://www.notifications.service.gov.uk/services/{}/service-settings/send-files-by-email",
            s.service.id
        )),
        "{}",
        r.json()
    );
    let s = service_with_contact(&app).await;
    let types = "'.csv', '.doc', '.docx', '.jpeg', '.jpg', '.json', '.odt', '.pdf', '.png', '.rtf', '.txt', '.xlsx'";
    let too_big = vec![b'a'; 2 * 1024 * 1024 + 1025];
    let cases: Vec<(Value, String)> = vec![
        (
            json!({"file": "not base64!", "filename": null, "confirm_email_before_download": null, "retention_period": null}),
            "Document is not base64 encoded".into(),
        ),
        (
            file(PDF, Some(&format!("{}.pdf", "a".repeat(98))), None),
            "`filename` cannot be longer than 100 characters".into(),
        ),
        (
            file(PDF, Some("setup.exe"), None),
            format!("Unsupported file type '.exe'. Supported types are: {types}"),
        ),
        (
            file(&too_big, Some("big.txt"), None),
            "Uploaded file exceeds file size limit".into(),
        ),
        (
            file(b"", Some("empty.txt"), None),
            "Document must not be empty".into(),
        ),
        (
            file(b"\x00\x01\x02\x03binary", None, None),
            format!(
                "Unsupported file type 'application/octet-stream'. Supported types are: {types}"
            ),
        ),
        (
            file(&eicar(), Some("virus.txt"), None),
            "File did not pass the virus scan".into(),
        ),
    ];
    for (value, message) in cases {
        let r = send(
            &app,
            &s.live_key,
            &s,
            "a@example.com",
            json!({"name": value, "items": "x"}),
        )
        .await;
        assert_eq!(r.status, 400, "{message}");
        let body = r.json();
        assert_eq!(error_types(&body), ["BadRequestError"], "{body}");
        assert_eq!(messages(&body), [message]);
    }
    // A 2 MiB file is allowed (the limit has 1 KiB to spare, as upstream's).
    let r = send(&app, &s.live_key, &s, "a@example.com", json!({"name": file(&vec![b'a'; 2 * 1024 * 1024], Some("big.txt"), Some(false)), "items": "x"})).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let client = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .map(|(client, connection)| {
            tokio::spawn(connection);
            client
        })
        .unwrap();
    let documents: i64 = client
        .query_one("SELECT count(*) FROM documents", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(documents, 1, "no refused file is recorded");
    let notifications: i64 = client
        .query_one("SELECT count(*) FROM notifications", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notifications, 1);

    // No scanner answering: refused as upstream's send is when its antivirus is away, and nothing is stored.
    let mut app = app;
    app.use_scanner(absent_clamd());
    let r = send(
        &app,
        &s.live_key,
        &s,
        "a@example.com",
        json!({"name": pdf.clone(), "items": "x"}),
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.json());
    assert_eq!(messages(&r.json()), ["Internal server error"]);
    let documents: i64 = client
        .query_one("SELECT count(*) FROM documents", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(documents, 1);
}

#[tokio::test]
async fn test_keys_and_simulated_recipients_get_working_links() {
    let app = app_with_scanner().await;
    let s = service_with_contact(&app).await;
    for (key, to) in [
        (&s.test_key, "a@example.com"),
        (
            &s.live_key,
            "simulate-delivered@notifications.service.gov.uk",
        ),
    ] {
        let r = send(&app, key, &s, to, json!({"name": file(PDF, Some("test.pdf"), Some(false)), "items": file(CSV, None, Some(false))})).await;
        assert_eq!(r.status, 201, "{}", r.json());
        let found = links(r.json()["content"]["body"].as_str().unwrap());
        assert_eq!(found.len(), 2);
        let pdf = get(&app, &download_path(&found[0]), None).await;
        assert_eq!(pdf.bytes, PDF, "{to}");
        let csv = get(&app, &download_path(&found[1]), None).await;
        assert_eq!(csv.bytes, CSV);
        let name = csv.headers["content-disposition"].to_str().unwrap();
        assert!(
            name.ends_with(".csv"),
            "a file sent without a name is called after its id: {name}"
        );
    }
}

fn in_27_weeks() -> chrono::DateTime<Utc> {
    Utc::now() + TimeDelta::weeks(27)
}

fn in_5_weeks() -> chrono::DateTime<Utc> {
    Utc::now() + TimeDelta::weeks(5)
}

#[tokio::test]
async fn expired_files_say_so_and_the_purge_removes_them() {
    let mut app = app_with_scanner().await;
    let s = service_with_contact(&app).await;
    let mut four_weeks = file(PDF, Some("short.pdf"), Some(false));
    four_weeks["retention_period"] = json!("4 weeks");
    let r = send(
        &app,
        &s.live_key,
        &s,
        "a@example.com",
        json!({"name": four_weeks, "items": file(CSV, Some("long.csv"), Some(false))}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let found = links(r.json()["content"]["body"].as_str().unwrap());
    let page = text(&get(&app, &found[1], None).await);
    let until = (Utc::now() + TimeDelta::weeks(26))
        .with_timezone(&chrono_tz::Europe::London)
        .format("%-d %B %Y")
        .to_string();
    assert!(
        page.contains(&format!("available to download until {until}")),
        "{page}"
    );

    app.use_clock(in_5_weeks);
    for path in [found[0].clone(), download_path(&found[0])] {
        let r = get(&app, &path, None).await;
        assert_eq!(r.status, 410, "{path}");
        let html = text(&r);
        assert!(html.contains("No longer available"), "{html}");
        assert!(html.contains(&format!(
            "The file {} sent you has expired or been deleted.",
            s.service.name
        )));
        assert!(!r.bytes.windows(5).any(|w| w == b"%PDF-"));
    }
    assert_eq!(
        get(&app, &download_path(&found[1]), None).await.bytes,
        CSV,
        "26 weeks by default"
    );
    let report = jobs::run(
        &app.state,
        Job::DeleteExpiredDocuments,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(report, json!({"deleted": 1, "failed": 0}));
    let dir = app
        .state
        .config
        .files
        .local_dir
        .join("documents")
        .join(s.service.id.to_string());
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the expired file is gone from the store: {left:?}"
    );
    assert_eq!(get(&app, &found[0], None).await.status, 404, "and its row");

    app.use_clock(in_27_weeks);
    let report = jobs::run(
        &app.state,
        Job::DeleteExpiredDocuments,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(report, json!({"deleted": 1, "failed": 0}));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let report = jobs::run(
        &app.state,
        Job::DeleteExpiredDocuments,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(
        report,
        json!({"deleted": 0, "failed": 0}),
        "nothing left to do"
    );
}
