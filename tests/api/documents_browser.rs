//! The download page of files sent by email, used in headless chromium as a recipient does: the link from the
//! email opened from a router on 127.0.0.1, the address confirmed through the form, the download button clicked
//! and the saved file compared with what was sent. What the page says is read from the DOM.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use notify_tests::browser::Browser;
use notify_tests::precompiled::project_clamd;
use notify_tests::{TestApp, TestService};
use serde_json::json;
use tokio::task::JoinHandle;

use super::documents::{CSV, PDF, file, send, service_with_contact};

/// How long a page element or a download may take to appear.
const PATIENCE: Duration = Duration::from_secs(20);

/// A TestApp with clamd whose links point at its own router, served on 127.0.0.1 for the browser.
struct Served {
    app: TestApp,
    service: TestService,
    base: String,
    server: JoinHandle<()>,
}

impl Served {
    async fn start() -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut app = {
            let base = base.clone();
            TestApp::with_config(move |c| c.api.host_name = base).await
        };
        app.use_scanner(project_clamd().await);
        let router = notify_http::router(app.state.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let service = service_with_contact(&app).await;
        Served {
            app,
            service,
            base,
            server,
        }
    }

    /// Sends an email with `personalisation` to `to`; the download link in its body, as the recipient gets it.
    async fn send_link(&self, to: &str, personalisation: serde_json::Value) -> String {
        let s = &self.service;
        let r = send(&self.app, &s.live_key, s, to, personalisation).await;
        assert_eq!(r.status, 201, "{}", r.json());
        let body = r.json()["content"]["body"].as_str().unwrap().to_string();
        let prefix = format!("{}/d/", self.base);
        let found: Vec<&str> = body
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| w.starts_with(&prefix))
            .collect();
        assert_eq!(found.len(), 1, "one link in the email: {body}");
        found[0].to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .text()
        .await
        .unwrap()
}

async fn count(client: &Client, css: &str) -> usize {
    client.find_all(Locator::Css(css)).await.unwrap().len()
}

/// Waits for the page to have `css` (a form submitted, a page loaded).
async fn wait_for(client: &Client, css: &str) {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    found.sort();
    found
}

/// Waits until chromium has finished saving `name` (its partial `.crdownload` renamed) and returns its bytes.
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let started = Instant::now();
    loop {
        let found = listing(dir);
        let partial = found
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "crdownload"));
        if !partial && found.iter().any(|p| p.file_name().unwrap() == name) {
            assert_eq!(found, [dir.join(name)], "only the file was saved");
            return std::fs::read(dir.join(name)).unwrap();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{name} was not saved within {PATIENCE:?}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `address` into the confirmation form and submits it; waits for the next page to load.
async fn confirm_with(client: &Client, address: &str) {
    let input = client.find(Locator::Id("email_address")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(address).await.unwrap();
    // A click waits for nothing: the old page's body goes stale once the answer has loaded.
    let old = client.find(Locator::Css("body")).await.unwrap();
    client
        .find(Locator::Id("continue"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let started = Instant::now();
    while old.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < PATIENCE,
            "the form's answer did not load"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for(client, "h1").await;
}

#[tokio::test]
async fn a_confirmed_recipient_downloads_the_pdf() {
    let served = Served::start().await;
    let link = served
        .send_link(
            "Recipient.Name@example.com",
            json!({"name": file(PDF, Some("annual report.pdf"), Some(true)), "items": "x"}),
        )
        .await;
    let browser = Browser::start().await;
    let client = browser.client();
    client.goto(&link).await.unwrap();
    assert_eq!(text_of(client, "h1").await, "Confirm your email address");
    assert_eq!(count(client, "#download").await, 0);
    assert!(
        !client.source().await.unwrap().contains("annual report.pdf"),
        "nothing about the file before the address"
    );

    confirm_with(client, "someone.else@example.com").await;
    assert_eq!(text_of(client, "h1").await, "Confirm your email address");
    let summary = text_of(client, "#error-summary").await;
    assert!(
        summary.contains("This is not the email address the file was sent to."),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "To confirm the file was meant for you, enter the email address {} sent the file to.",
            served.service.service.name
        )),
        "{summary}"
    );
    assert_eq!(
        text_of(client, "#email_address-error").await,
        "This is not the email address the file was sent to."
    );
    assert_eq!(count(client, "#download").await, 0);
    assert_eq!(count(client, "#filename").await, 0);
    assert!(listing(browser.download_dir()).is_empty());

    confirm_with(client, "  recipient.name@EXAMPLE.COM  ").await;
    assert_eq!(text_of(client, "h1").await, "Download your file");
    assert_eq!(count(client, "#error-summary").await, 0);
    assert_eq!(text_of(client, "#filename").await, "annual report.pdf");
    assert_eq!(text_of(client, "#file-details").await, "PDF, 0.1KB");
    let button = client.find(Locator::Id("download")).await.unwrap();
    assert_eq!(
        button.text().await.unwrap(),
        "Download this PDF (0.1KB) to your device"
    );
    button.click().await.unwrap();
    assert_eq!(
        downloaded(browser.download_dir(), "annual report.pdf").await,
        PDF
    );
    // The confirmation lasts for this browser: the link opens straight to the file.
    client.goto(&link).await.unwrap();
    assert_eq!(text_of(client, "#filename").await, "annual report.pdf");
    browser.close().await;
}

#[tokio::test]
async fn a_csv_without_confirmation_downloads_at_once() {
    let served = Served::start().await;
    let link = served
        .send_link(
            "someone@example.com",
            json!({"name": "x", "items": file(CSV, Some("payments.csv"), Some(false))}),
        )
        .await;
    let browser = Browser::start().await;
    let client = browser.client();
    client.goto(&link).await.unwrap();
    assert_eq!(text_of(client, "h1").await, "Download your file");
    assert_eq!(count(client, "#email_address").await, 0);
    assert_eq!(text_of(client, "#filename").await, "payments.csv");
    assert_eq!(text_of(client, "#file-details").await, "CSV file, 0.1KB");
    let contact = text_of(client, "#contact a").await;
    assert_eq!(contact, format!("contact {}", served.service.service.name));
    client
        .find(Locator::Id("download"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        downloaded(browser.download_dir(), "payments.csv").await,
        CSV
    );
    browser.close().await;
}

#[tokio::test]
async fn an_expired_document_is_no_longer_available() {
    let served = Served::start().await;
    let link = served
        .send_link(
            "someone@example.com",
            json!({"name": file(PDF, Some("old.pdf"), Some(false)), "items": "x"}),
        )
        .await;
    let (path, _) = link.split_once('?').unwrap();
    let document_id: uuid::Uuid = path.rsplit('/').next().unwrap().parse().unwrap();
    let (db, connection) = tokio_postgres::connect(&served.app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let changed = db
        .execute(
            "UPDATE documents SET expires_at = now() - interval '1 minute' WHERE id = $1",
            &[&document_id],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);

    let browser = Browser::start().await;
    let client = browser.client();
    let (page, query) = link.split_once('?').unwrap();
    for url in [link.clone(), format!("{page}/download?{query}")] {
        client.goto(&url).await.unwrap();
        assert_eq!(text_of(client, "h1").await, "No longer available", "{url}");
        assert_eq!(
            text_of(client, "#expired").await,
            format!(
                "The file {} sent you has expired or been deleted.",
                served.service.service.name
            )
        );
        assert_eq!(count(client, "#download").await, 0, "{url}");
        assert_eq!(count(client, "#filename").await, 0, "{url}");
    }
    // The download address shows the page rather than saving anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(listing(browser.download_dir()).is_empty());
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_key_gets_the_404_page() {
    let served = Served::start().await;
    let link = served
        .send_link(
            "someone@example.com",
            json!({"name": file(PDF, Some("private.pdf"), Some(false)), "items": "x"}),
        )
        .await;
    let (page, _) = link.split_once('?').unwrap();
    let other_key = notify_core::documents::DocumentKey::generate().to_link_form();
    let browser = Browser::start().await;
    let client = browser.client();
    for url in [
        format!("{page}?key={other_key}"),
        format!("{page}/download?key={other_key}"),
    ] {
        client.goto(&url).await.unwrap();
        assert_eq!(text_of(client, "h1").await, "Page not found", "{url}");
        assert!(
            client.title().await.unwrap().starts_with("Page not found"),
            "{url}"
        );
        let main = text_of(client, "main").await;
        assert!(main.contains("check it is correct"), "{main}");
        assert!(
            !client.source().await.unwrap().contains("private.pdf"),
            "{url}"
        );
        assert_eq!(count(client, "#download").await, 0);
        assert_eq!(count(client, "#filename").await, 0);
    }
    // The right key still opens it, so the 404 was the key's doing.
    client.goto(&link).await.unwrap();
    assert_eq!(text_of(client, "#filename").await, "private.pdf");
    assert!(listing(browser.download_dir()).is_empty());
    browser.close().await;
}
