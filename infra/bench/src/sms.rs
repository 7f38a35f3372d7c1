//! `notify bench sms`: the send path against a running stack, beside pgbench driving the same single-row INSERT
//! at the same concurrency on the same machine, in the same run. With `--idempotency-key`, the same path with a
//! fresh `Idempotency-Key` on every request beside the path without, in mirrored pairs of rounds of the same run.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use notify_app::admin::{CreateService, CreateTemplate};
use notify_app::{AppState, admin};
use notify_core::model::{KeyType, NotificationType, ServicePermission};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Options {
    pub api_url: String,
    pub concurrency: usize,
    pub seconds: u64,
    pub database_url: String,
    /// Also measure every send with a fresh `Idempotency-Key`, side by side with the sends without.
    pub idempotency_key: bool,
    /// With `idempotency_key`: how many pairs of rounds (one without a key, one with).
    pub pairs: usize,
}

/// A live benchmark service with limits out of the way, an SMS and an email template, and a live key.
pub(crate) struct Target {
    pub(crate) service_id: Uuid,
    /// The SMS template.
    pub(crate) template_id: Uuid,
    pub(crate) email_template_id: Uuid,
    pub(crate) api_key_id: Uuid,
    pub(crate) key: String,
}

pub(crate) async fn bench_service(state: &AppState) -> anyhow::Result<Target> {
    let service = admin::create_service(
        state,
        CreateService {
            name: format!("Benchmark {}", Uuid::new_v4()),
            created_by: None,
            restricted: false,
            email_from: Some("bench".into()),
            permissions: Some(vec![ServicePermission::Sms, ServicePermission::Email]),
            rate_limit: Some(1_000_000),
            message_limit: Some(1_000_000_000),
        },
    )
    .await?;
    state
        .db
        .update_service(
            service.id,
            &notify_db::ServiceUpdate {
                sms_message_limit: Some(1_000_000_000),
                email_message_limit: Some(1_000_000_000),
                ..Default::default()
            },
        )
        .await?;
    let template = |template_type, subject: Option<&str>| CreateTemplate {
        service_id: service.id,
        name: "bench".into(),
        template_type,
        content: "Hello ((name)), your code is ((code))".into(),
        subject: subject.map(str::to_string),
        postage: None,
        created_by: None,
        letter_contact_id: None,
        has_unsubscribe_link: false,
    };
    let sms = admin::create_template(state, template(NotificationType::Sms, None)).await?;
    let email =
        admin::create_template(state, template(NotificationType::Email, Some("Your code"))).await?;
    let (record, key) =
        admin::create_api_key(state, service.id, "bench", KeyType::Normal, None).await?;
    Ok(Target {
        service_id: service.id,
        template_id: sms.id,
        email_template_id: email.id,
        api_key_id: record.id,
        key,
    })
}

pub(crate) fn token(key: &str) -> String {
    let (service_id, secret) = notify_app::auth::split_api_key(key).expect("combined key");
    notify_app::auth::create_token(
        &service_id.to_string(),
        secret,
        chrono::Utc::now().timestamp(),
    )
}

pub(crate) async fn send_one(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<()> {
    send_keyed(client, url, key, body, false).await
}

/// [`send_one`], with a fresh `Idempotency-Key` (a UUID, as a client would make one per send) when `keyed`.
pub(crate) async fn send_keyed(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
    keyed: bool,
) -> anyhow::Result<()> {
    let mut request = client.post(url).bearer_auth(token(key)).json(body);
    if keyed {
        request = request.header("Idempotency-Key", Uuid::new_v4().to_string());
    }
    let response = request.send().await?;
    if response.status() != 201 {
        bail!(
            "{}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Milliseconds with one decimal, as the benchmarks report them.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// One real send through the API: the notification the benchmarks copy in bulk.
pub(crate) async fn seed_notification(api: &str, target: &Target) -> anyhow::Result<Uuid> {
    let sent: Value = reqwest::Client::new()
        .post(format!("{api}/v2/notifications/sms"))
        .bearer_auth(token(&target.key))
        .json(&json!({"phone_number": "07700900123", "template_id": target.template_id, "personalisation": {"name": "Bench", "code": "1"}}))
        .send()
        .await?
        .json()
        .await?;
    sent["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("seed send failed: {sent}"))
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Which rounds run with a key, in order. Side by side, the pairs mirrored (without, with, with, without, …): the
/// table grows and the database slows as a run goes on, and with plain alternation the path with a key would
/// always run second in each pair and take all of that drift; mirrored pairs give both the same mean position.
fn round_order(idempotency_key: bool, pairs: usize) -> Vec<bool> {
    if !idempotency_key {
        return vec![false];
    }
    (0..pairs.max(1))
        .flat_map(|pair| {
            let keyed_first = pair % 2 == 1;
            [keyed_first, !keyed_first]
        })
        .collect()
}

/// Closed loop: `concurrency` workers send back to back for `seconds`.
async fn throughput(
    client: &reqwest::Client,
    url: &str,
    target: &Target,
    o: &Options,
    keyed: bool,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let mut workers = Vec::new();
    for _ in 0..o.concurrency {
        let (client, url, key, done) = (
            client.clone(),
            url.to_string(),
            target.key.clone(),
            done.clone(),
        );
        let body = json!({"phone_number": "07700900123", "template_id": target.template_id, "personalisation": {"name": "Bench", "code": "123456"}});
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                send_keyed(&client, &url, &key, &body, keyed).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    for w in workers {
        w.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at a fixed rate; latency counted from each request's scheduled time (no coordinated omission).
pub(crate) async fn latency_at(
    client: &reqwest::Client,
    url: &str,
    target: &Target,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<Vec<Duration>> {
    latency_keyed(client, url, target, rate, seconds, false).await
}

async fn latency_keyed(
    client: &reqwest::Client,
    url: &str,
    target: &Target,
    rate: f64,
    seconds: u64,
    keyed: bool,
) -> anyhow::Result<Vec<Duration>> {
    let total = (rate * seconds as f64) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let (client, url, key) = (client.clone(), url.to_string(), target.key.clone());
        let body = json!({"phone_number": "07700900123", "template_id": target.template_id, "personalisation": {"name": "Bench", "code": "123456"}});
        tasks.push(tokio::spawn(async move {
            send_keyed(&client, &url, &key, &body, keyed).await?;
            anyhow::Ok(scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.push(t.await??);
    }
    latencies.sort();
    Ok(latencies)
}

/// The same row the API writes, inserted by pgbench: the database's ceiling for this INSERT on this machine
/// (`rate: None`), or its own latencies at a fixed rate (`rate: Some`), read from pgbench's per-transaction log.
fn pgbench(
    o: &Options,
    target: &Target,
    sealed_personalisation: &str,
    rate: Option<f64>,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let script = std::env::temp_dir().join(format!("notify-bench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "INSERT INTO notifications (id, \"to\", normalised_to, service_id, template_id, template_version, api_key_id, \
         key_type, notification_type, created_at, notification_status, client_reference, personalisation, \
         international, phone_prefix, rate_multiplier, reply_to_text, billable_units) VALUES (gen_random_uuid(), \
         '07700900123', '447700900123', ':service', ':template', 1, ':key', 'normal', 'sms', now(), 'created', NULL, \
         ':personalisation', false, '44', 1, 'GOVUK', 0);\n",
    )?;
    let log_dir = std::env::temp_dir().join(format!("notify-bench-log-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    let mut command = Command::new("pgbench");
    command
        .args([
            "-n",
            "-c",
            &o.concurrency.to_string(),
            "-j",
            "2",
            "-T",
            &o.seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .args(["-D", &format!("service={}", target.service_id)])
        .args(["-D", &format!("template={}", target.template_id)])
        .args(["-D", &format!("key={}", target.api_key_id)])
        .args(["-D", &format!("personalisation={sealed_personalisation}")]);
    if let Some(rate) = rate {
        command
            .args(["-R", &format!("{rate:.0}"), "-l", "--log-prefix"])
            .arg(log_dir.join("tx"));
    }
    let output = command
        .arg(&o.database_url)
        .output()
        .context("running pgbench (Debian package postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tps = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .context("no tps line in pgbench output")?;
    // Each log line: client, transaction number, latency in µs (with -R, including schedule lag), ...
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&log_dir)?.flatten() {
        for line in std::fs::read_to_string(entry.path())?.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
            {
                latencies.push(Duration::from_micros(us));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&log_dir);
    latencies.sort();
    Ok((tps, latencies))
}

pub async fn sms(state: &AppState, o: Options) -> anyhow::Result<Value> {
    let target = bench_service(state).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency)
        .build()?;
    let url = format!("{}/v2/notifications/sms", o.api_url.trim_end_matches('/'));
    // Warm up connections and caches.
    for _ in 0..50 {
        send_one(&client, &url, &target.key, &json!({"phone_number": "07700900123", "template_id": target.template_id, "personalisation": {"name": "Bench", "code": "1"}})).await?;
    }
    if o.idempotency_key {
        for _ in 0..50 {
            send_keyed(&client, &url, &target.key, &json!({"phone_number": "07700900123", "template_id": target.template_id, "personalisation": {"name": "Bench", "code": "1"}}), true).await?;
        }
    }
    let (mut plain, mut keyed) = (Vec::new(), Vec::new());
    for keyed_round in round_order(o.idempotency_key, o.pairs) {
        let rps = throughput(&client, &url, &target, &o, keyed_round).await?;
        if keyed_round { &mut keyed } else { &mut plain }.push(rps);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let rps = mean(&plain);
    let half = rps / 2.0;
    let latencies = latency_keyed(&client, &url, &target, half, o.seconds, false).await?;
    let keyed_report = if o.idempotency_key {
        let keyed_rps = mean(&keyed);
        // At the same rate as the path without, so the two tails are comparable.
        let keyed_latencies = latency_keyed(&client, &url, &target, half, o.seconds, true).await?;
        let round = |v: &[f64]| {
            v.iter()
                .map(|r| (r * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        };
        json!({
            "rounds_without": round(&plain),
            "rounds_with": round(&keyed),
            "requests_per_second": (keyed_rps * 10.0).round() / 10.0,
            "share_of_without": (keyed_rps / rps * 1000.0).round() / 1000.0,
            "cost_percent": ((1.0 - keyed_rps / rps) * 1000.0).round() / 10.0,
            "half_load_requests": keyed_latencies.len(),
            "p50_ms": percentile(&keyed_latencies, 0.50).as_secs_f64() * 1000.0,
            "p99_ms": percentile(&keyed_latencies, 0.99).as_secs_f64() * 1000.0,
            "max_ms": keyed_latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        })
    } else {
        Value::Null
    };
    let sealed = state
        .encryptor
        .encrypt(r#"{"name":"Bench","code":"123456"}"#);
    let (ceiling, _) = pgbench(&o, &target, &sealed, None)?;
    let (_, db_latencies) = pgbench(&o, &target, &sealed, Some(half))?;
    Ok(json!({
        "concurrency": o.concurrency,
        "seconds": o.seconds,
        "api_requests_per_second": (rps * 10.0).round() / 10.0,
        "pgbench_inserts_per_second": (ceiling * 10.0).round() / 10.0,
        "share_of_pgbench_ceiling": (rps / ceiling * 1000.0).round() / 1000.0,
        "half_load_rate": (half * 10.0).round() / 10.0,
        "half_load_requests": latencies.len(),
        "p50_ms": percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        "max_ms": latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        "pgbench_half_load_p50_ms": percentile(&db_latencies, 0.50).as_secs_f64() * 1000.0,
        "pgbench_half_load_p99_ms": percentile(&db_latencies, 0.99).as_secs_f64() * 1000.0,
        "with_idempotency_key": keyed_report,
    }))
}

#[cfg(test)]
mod tests {
    use super::round_order;

    #[test]
    fn keyed_and_plain_rounds_share_the_same_mean_position() {
        assert_eq!(round_order(false, 4), [false]);
        assert_eq!(round_order(true, 1), [false, true]);
        assert_eq!(round_order(true, 2), [false, true, true, false]);
        for pairs in [2, 4, 6] {
            let order = round_order(true, pairs);
            let position = |keyed: bool| -> usize {
                order
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| **k == keyed)
                    .map(|(i, _)| i)
                    .sum()
            };
            assert_eq!(order.len(), 2 * pairs);
            assert_eq!(position(true), position(false), "{order:?}");
        }
    }
}
