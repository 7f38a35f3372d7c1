//! The migrations custom resource: CloudFormation's request in, the migrations run, the answer PUT on a fake
//! pre-signed URL served here, in every outcome.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::put;
use notify_db::Db;
use serde_json::{Value, json};

type Answers = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A stand-in for the S3 pre-signed URL CloudFormation gives; the first `fail_first` PUTs get a 503.
async fn presigned_url(fail_first: usize) -> (String, Answers) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answers: Answers = Arc::default();
    let tries = Arc::new(Mutex::new(0usize));
    let router = axum::Router::new()
        .route(
            "/cloudformation-custom-resource-response/{*rest}",
            put(
                move |State(answers): State<Answers>, headers: HeaderMap, body: String| {
                    let tries = tries.clone();
                    async move {
                        let mut n = tries.lock().unwrap();
                        *n += 1;
                        if *n <= fail_first {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        answers
                            .lock()
                            .unwrap()
                            .push((headers, serde_json::from_str(&body).unwrap()));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        )
        .with_state(answers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/cloudformation-custom-resource-response/arn%3Aaws%3Acloudformation/req-1?X-Amz-Signature=abc",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, answers)
}

fn request(kind: &str, url: &str) -> CloudFormationCustomResourceRequest {
    let mut event = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:eu-west-2:123456789012:function:notify-migrate",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-2:123456789012:stack/notify/1",
        "RequestId": "req-1",
        "ResourceType": "Custom::DatabaseMigrations",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceProperties": {"ServiceToken": "arn", "MigrateFunctionVersion": "2"}
    });
    if kind != "Create" {
        event["PhysicalResourceId"] = json!("notify-database-migrations");
        event["OldResourceProperties"] = json!({"MigrateFunctionVersion": "1"});
    }
    serde_json::from_value(event).unwrap()
}

async fn migrate_at(url: &str) -> anyhow::Result<usize> {
    Ok(Db::connect_short_lived(url, 1, "notify-migrate")?
        .migrate()
        .await?)
}

/// One request of `kind`, answered to `url` after migrating the database at `database`.
async fn migrate_on(
    kind: &str,
    url: &str,
    database: &str,
) -> aws_lambda_events::event::cloudformation::CloudFormationCustomResourceResponse {
    notify_outbound::cloudformation::handle(
        &reqwest::Client::new(),
        request(kind, url),
        || migrate_at(database),
        Duration::from_secs(60),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_deploy_migrates_and_says_so() {
    let database = notify_tests::empty_database().await;
    let (url, answers) = presigned_url(1).await;
    let sent = migrate_on("Create", &url, &database).await;
    // Every migration in the tree, however many there are by now.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(sent.data["Applied"], migrations.to_string());
    // The next deploy finds nothing to do, and says so under the same physical id.
    migrate_on("Update", &url, &database).await;
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers.len(), 2, "the first PUT's 503 was retried");
    let (headers, first) = &answers[0];
    assert_eq!(
        headers["content-type"], "",
        "the URL is pre-signed for no content type"
    );
    assert_eq!(
        first,
        &json!({"Status": "SUCCESS", "Reason": null, "PhysicalResourceId": "notify-database-migrations",
            "StackId": "arn:aws:cloudformation:eu-west-2:123456789012:stack/notify/1", "RequestId": "req-1",
            "LogicalResourceId": "DatabaseMigrations", "NoEcho": false, "Data": {"Applied": migrations.to_string()}})
    );
    assert_eq!(answers[1].1["Status"], "SUCCESS");
    assert_eq!(answers[1].1["Data"]["Applied"], "0");

    let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('notifications', 'ft_billing')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 2);
}

#[tokio::test]
async fn a_bad_migration_fails_the_deploy_with_its_error() {
    let database = notify_tests::empty_database().await;
    let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // Something in the way of the first migration, as a hand-made table would be.
    client
        .batch_execute("CREATE TABLE services (id int)")
        .await
        .unwrap();
    let (url, answers) = presigned_url(0).await;
    let http = reqwest::Client::new();
    migrate_on("Create", &url, &database).await;
    // A database that does not answer, and migrations that outlast the invocation.
    migrate_on("Update", &url, "postgres://postgres@127.0.0.1:1/notify").await;
    notify_outbound::cloudformation::handle(
        &http,
        request("Update", &url),
        std::future::pending::<anyhow::Result<usize>>,
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    let answers = answers.lock().unwrap().clone();
    let statuses: Vec<&Value> = answers.iter().map(|(_, a)| &a["Status"]).collect();
    assert_eq!(statuses, ["FAILED", "FAILED", "FAILED"]);
    let reasons: Vec<&str> = answers
        .iter()
        .map(|(_, a)| a["Reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].starts_with("migrations failed") && reasons[0].contains("services"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].starts_with("migrations failed"),
        "{}",
        reasons[1]
    );
    assert!(reasons[2].contains("did not finish"), "{}", reasons[2]);
    assert!(
        answers
            .iter()
            .all(|(_, a)| a["PhysicalResourceId"] == "notify-database-migrations")
    );
}

#[tokio::test]
async fn deleting_the_stack_leaves_the_data_alone() {
    let (url, answers) = presigned_url(0).await;
    let migrated = Arc::new(Mutex::new(false));
    let flag = migrated.clone();
    notify_outbound::cloudformation::handle(
        &reqwest::Client::new(),
        request("Delete", &url),
        || async move {
            *flag.lock().unwrap() = true;
            Ok(0)
        },
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(!*migrated.lock().unwrap());
    assert_eq!(answers.lock().unwrap()[0].1["Status"], "SUCCESS");
}
