//! `notify job send` as a user runs it: the real `notify` binary against the router served on a local port, with
//! the test's file store. A bad file is refused with its rows' messages before anything is stored; a good one is
//! stored with its upload metadata and becomes a job.

use std::path::PathBuf;
use std::process::Output;

use notify_core::jobs::csv_upload_key;
use notify_tests::TestApp;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use uuid::Uuid;

static BINARY: OnceCell<PathBuf> = OnceCell::const_new();

/// The `notify` binary, built first (a no-op when it is fresh) so the test never runs a stale one. `NOTIFY_BIN`
/// names another.
async fn notify_bin() -> &'static PathBuf {
    BINARY
        .get_or_init(|| async {
            if let Ok(path) = std::env::var("NOTIFY_BIN") {
                return PathBuf::from(path);
            }
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = tokio::process::Command::new(cargo)
                .current_dir(&root)
                .args(["build", "-q", "-p", "notify-cli", "--bin", "notify"])
                .status()
                .await
                .expect("cargo runs");
            assert!(status.success(), "building the notify binary failed");
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("target"));
            target.join("debug").join("notify")
        })
        .await
}

/// The router of `app` on 127.0.0.1, as `notify dev` serves it.
async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = notify_http::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// `notify --json? job ARGS…` with the test's file store and the development admin secret.
async fn notify_job(app: &TestApp, url: &str, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(notify_bin().await);
    command
        .arg("job")
        .args(args)
        .args(["--api-url", url])
        .env("FILES_DIR", &app.state.config.files.local_dir)
        .env("RUST_LOG", "warn");
    for name in [
        "CSV_UPLOAD_BUCKET",
        "S3_ENDPOINT_URL",
        "ADMIN_CLIENT_SECRET",
        "ADMIN_CLIENT_ID",
        "NOTIFY_API_URL",
    ] {
        command.env_remove(name);
    }
    command.output().await.expect("notify runs")
}

async fn user_on(app: &TestApp, service: Uuid) -> Uuid {
    let user = app
        .admin(
            "POST",
            "/user",
            Some(json!({"name": "Sender", "email_address": "sender@example.gov.uk", "mobile_number": "07700900222"})),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.json());
    let id: Uuid = user.json()["data"]["id"].as_str().unwrap().parse().unwrap();
    let added = app
        .admin(
            "POST",
            &format!("/service/{service}/users/{id}"),
            Some(json!({"permissions": [], "folder_permissions": []})),
        )
        .await;
    assert!(added.status.is_success(), "{}", added.json());
    id
}

fn csv_file(app: &TestApp, name: &str, contents: &str) -> PathBuf {
    let dir = app.state.config.files.local_dir.join("cli-input");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

async fn jobs_of(app: &TestApp, service: Uuid) -> Vec<Value> {
    let r = app
        .admin("GET", &format!("/service/{service}/job"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    r.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_file_with_a_bad_row_is_refused_with_its_message_and_makes_no_job() {
    let app = TestApp::new().await;
    let svc = app.service(false).await;
    user_on(&app, svc.service.id).await;
    let url = serve(&app).await;
    let file = csv_file(
        &app,
        "bad.csv",
        "phone number,name\r\n07700900123,Anne\r\n020 8123 4567,Bob\r\n07700900124,\r\n",
    );
    let service = svc.service.id.to_string();
    let template = svc.sms_template.to_string();
    let out = notify_job(
        &app,
        &url,
        &[
            "send",
            "--service",
            &service,
            "--template",
            &template,
            "--csv",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Row 3 - phone number: Not a UK mobile number"),
        "{stderr}"
    );
    assert!(stderr.contains("Row 4 - name: Missing"), "{stderr}");
    assert!(jobs_of(&app, svc.service.id).await.is_empty());
    assert!(app.queue.take_all(&app.state.config.queues.jobs).is_empty());

    // A missing column is named as the template writes it.
    let file = csv_file(&app, "no-name.csv", "phone number\n07700900123\n");
    let out = notify_job(
        &app,
        &url,
        &[
            "send",
            "--service",
            &service,
            "--template",
            &template,
            "--csv",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Your file is missing a column called: name"),
        "{stderr}"
    );
    assert!(jobs_of(&app, svc.service.id).await.is_empty());
}

#[tokio::test]
async fn a_good_file_is_stored_with_its_metadata_and_becomes_a_pending_job() {
    let app = TestApp::new().await;
    let svc = app.service(false).await;
    let user = user_on(&app, svc.service.id).await;
    let url = serve(&app).await;
    let file = csv_file(
        &app,
        "good.csv",
        "\u{feff}Phone_Number,NAME,reference\n07700900123,Anne,a-1\n07700 900 124,Bob,\n",
    );
    let service = svc.service.id.to_string();
    let template = svc.sms_template.to_string();
    let out = notify_job(
        &app,
        &url,
        &[
            "send",
            "--service",
            &service,
            "--template",
            &template,
            "--csv",
            file.to_str().unwrap(),
            "--no-wait",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status      pending"), "{stdout}");

    let jobs = jobs_of(&app, svc.service.id).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job["notification_count"], 2);
    assert_eq!(job["original_file_name"], "good.csv");
    assert_eq!(job["template"], template.as_str());
    assert_eq!(job["created_by"]["id"], user.to_string());
    let job_id: Uuid = job["id"].as_str().unwrap().parse().unwrap();

    // The upload is where the worker reads it, with what the admin app says about a checked file.
    let key = csv_upload_key(svc.service.id, job_id);
    let metadata = app.state.files.metadata(&key).await.unwrap().unwrap();
    assert_eq!(metadata["valid"], "True");
    assert_eq!(metadata["notification_count"], "2");
    assert_eq!(metadata["template_id"], template);
    assert_eq!(app.queue.take_all(&app.state.config.queues.jobs).len(), 1);

    // show and list read it back; --json is the admin API's job.
    let job_arg = job_id.to_string();
    let out = notify_job(&app, &url, &["show", "--service", &service, &job_arg]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("rows        2"));
    let mut list = tokio::process::Command::new(notify_bin().await);
    let out = list
        .args([
            "--json",
            "job",
            "list",
            "--service",
            &service,
            "--api-url",
            &url,
        ])
        .env_remove("ADMIN_CLIENT_SECRET")
        .output()
        .await
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["data"][0]["id"], job_arg.as_str());
}

/// `notify dev`'s part, in the test: the jobs worker takes each `ProcessJob` and the scheduler runs
/// `update-status-of-fully-processed-jobs`, every 200 ms.
fn run_worker_and_scheduler(app: &TestApp) -> tokio::task::JoinHandle<()> {
    let state = app.state.clone();
    let queue = app.queue.clone();
    tokio::spawn(async move {
        loop {
            for message in queue.take_all(&state.config.queues.jobs) {
                if let notify_core::messages::Message::ProcessJob { job_id, .. } = message {
                    notify_app::bulk::process::process_job(
                        &state,
                        job_id,
                        std::time::Duration::from_secs(60),
                    )
                    .await
                    .unwrap();
                }
            }
            notify_app::bulk::schedule::update_status_of_fully_processed_jobs(
                &state,
                state.now(),
                || true,
            )
            .await
            .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
}

#[tokio::test]
async fn send_follows_the_job_until_every_notification_is_created() {
    let app = TestApp::new().await;
    let svc = app.service(false).await;
    user_on(&app, svc.service.id).await;
    let url = serve(&app).await;
    let worker = run_worker_and_scheduler(&app);
    let file = csv_file(
        &app,
        "three.csv",
        "phone number,name\n07700900123,Anne\n07700900124,Bob\n07700900125,Cy\n",
    );
    let service = svc.service.id.to_string();
    let template = svc.sms_template.to_string();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        notify_job(
            &app,
            &url,
            &[
                "send",
                "--service",
                &service,
                "--template",
                &template,
                "--csv",
                file.to_str().unwrap(),
            ],
        ),
    )
    .await
    .expect("notify job send ends");
    worker.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("status      finished all notifications created"),
        "{stdout}"
    );
    assert!(stdout.contains("3 of 3 notifications created"), "{stdout}");
}
