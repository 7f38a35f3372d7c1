//! `notify bench cold-start`: each Lambda binary started as Lambda starts it, against `cargo lambda watch`'s
//! runtime API emulator, with an invocation already waiting: the time from exec to that invocation's response,
//! the process's peak resident memory (VmHWM), and the binary's size. Init is the real one (configuration, SDK
//! clients, rustls); nothing in it touches the network, and the invocations reach only 127.0.0.1 (the local
//! Postgres for the scheduled job, a local stand-in for CloudFormation's pre-signed URL for migrate).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sms::{ms, percentile};

pub struct Options {
    pub bin_dir: PathBuf,
    /// `cargo lambda watch --only-lambda-apis`'s address, e.g. `127.0.0.1:9001`.
    pub emulator: String,
    pub runs: usize,
    pub database_url: String,
}

fn sqs_batch() -> Value {
    json!({"Records": []})
}

fn api_status() -> Value {
    json!({
        "version": "2.0", "routeKey": "ANY /{proxy+}", "rawPath": "/_status", "rawQueryString": "",
        "headers": {"accept": "*/*", "host": "abc123.execute-api.eu-west-2.amazonaws.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-2.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": "GET", "path": "/_status", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                "userAgent": "bench"},
            "requestId": "bench", "routeKey": "ANY /{proxy+}", "stage": "$default",
            "time": "27/Nov/2026:04:00:00 +0000", "timeEpoch": 1795752000000u64},
        "pathParameters": {"proxy": "_status"}, "isBase64Encoded": false
    })
}

fn stack_delete(response_url: &str) -> Value {
    json!({"RequestType": "Delete", "ResponseURL": response_url, "StackId": "arn:aws:cloudformation:eu-west-2:123456789012:stack/notify/1",
        "RequestId": "bench", "ResourceType": "Custom::DatabaseMigrations", "LogicalResourceId": "DatabaseMigrations",
        "PhysicalResourceId": "notify-database-migrations", "ResourceProperties": {}})
}

/// Peak resident set of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn one_start(
    http: &reqwest::Client,
    o: &Options,
    function: &str,
    event: &Value,
) -> anyhow::Result<(Duration, u64)> {
    let invoke = http
        .post(format!(
            "http://{}/2015-03-31/functions/{function}/invocations",
            o.emulator
        ))
        .json(event)
        .timeout(Duration::from_secs(30))
        .send();
    let invoked = tokio::spawn(invoke);
    // Let the invocation reach the emulator's queue before the process exists.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(o.bin_dir.join(function))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://{}/.rt/{function}", o.emulator),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "eu-west-2")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("METRICS_NAMESPACE", "NotifyBench")
        .env("DATABASE_URL", &o.database_url)
        .env("DATABASE_POOL_SIZE", "1")
        .env("SECRET_KEY", "bench-only-secret-key")
        .env("ADMIN_CLIENT_SECRET", "bench-only-admin-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let response = invoked.await??;
    let elapsed = started.elapsed();
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let rss = child.id().and_then(peak_rss_kib).unwrap_or(0);
    let _ = child.kill().await;
    if !status.is_success() {
        anyhow::bail!("{function}: the invocation answered {status}: {body}");
    }
    Ok((elapsed, rss))
}

pub async fn run(o: Options) -> anyhow::Result<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // CloudFormation's pre-signed URL, for migrate's answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let response_url = format!("http://{}/cfn-response", listener.local_addr()?);
    let router = axum::Router::new().route("/cfn-response", axum::routing::put(|| async { "" }));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let functions: Vec<(&str, Value)> = vec![
        ("api", api_status()),
        ("delivery", sqs_batch()),
        ("status", sqs_batch()),
        ("callbacks", sqs_batch()),
        ("scheduled", json!({"job": "tend-providers-back-to-middle"})),
        ("migrate", stack_delete(&response_url)),
    ];
    let http = reqwest::Client::new();
    let mut report = serde_json::Map::new();
    for (function, event) in &functions {
        let size = std::fs::metadata(o.bin_dir.join(function))?.len();
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..o.runs {
            let (elapsed, rss) = one_start(&http, &o, function, event).await?;
            times.push(elapsed);
            peak = peak.max(rss);
        }
        times.sort();
        report.insert(
            (*function).into(),
            json!({
                "cold_start_ms_p50": ms(percentile(&times, 0.5)),
                "cold_start_ms_max": ms(*times.last().unwrap_or(&Duration::ZERO)),
                "peak_rss_mib": (peak as f64 / 1024.0 * 10.0).round() / 10.0,
                "binary_mib": (size as f64 / 1_048_576.0 * 10.0).round() / 10.0,
            }),
        );
    }
    server.abort();
    Ok(json!({"runs_per_function": o.runs, "functions": report}))
}
