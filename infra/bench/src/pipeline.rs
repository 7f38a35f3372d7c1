//! `notify bench pipeline`: sends end to end on the local stack (the API over HTTP, the in-process queue, the
//! delivery and status workers on short-lived connections) with fake providers that answer in a uniform
//! 100–1000 ms, Notify's load-test stub profile. `notify bench receipts`: the status consumer alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use notify_app::AppState;
use notify_app::status::StatusBody;
use notify_config::Config;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_db::Db;
use notify_outbound::providers::{EmailProvider, Providers, SimulatedProvider, SmsProvider};
use notify_queue::InProcessQueue;
use notify_runtime::workers;
use notify_runtime::workers::WorkerSettings;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::pool_failures;
use crate::slow_provider::SlowProvider;
use crate::sms::{bench_service, seed_notification, send_one};
use crate::sql::BenchDb;

const WORKER_APP_NAME: &str = "notify-bench-worker";
/// The benchmarks' own measuring connections.
const BENCH_APP_NAME: &str = "notify-bench";

#[derive(clap::Args)]
pub struct PipelineOptions {
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    #[arg(long, default_value_t = 100)]
    pub min_latency_ms: u64,
    #[arg(long, default_value_t = 1000)]
    pub max_latency_ms: u64,
    /// Provider sends in flight at once per delivery queue.
    #[arg(long, default_value_t = 500)]
    pub delivery_concurrency: usize,
    /// The workers' connection limit (short-lived connections).
    #[arg(long, default_value_t = 10)]
    pub worker_pool_size: usize,
    #[arg(long, default_value_t = 32)]
    pub send_concurrency: usize,
}

/// The API on an ephemeral port, as `notify dev` serves it.
async fn serve(
    state: &AppState,
) -> anyhow::Result<(String, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let router = notify_http::router(state.clone());
    Ok((
        api,
        tokio::spawn(async move { axum::serve(listener, router).await }),
    ))
}

/// The local stack's send path in this process: the API on an ephemeral port, and the delivery and status workers
/// on short-lived connections, fed by `queue`, with the simulated provider answering in min..max ms.
pub(crate) struct Stack {
    pub(crate) state: AppState,
    pub(crate) api: String,
    pub(crate) provider: Arc<SlowProvider>,
    /// The benchmark's own connections, for its measurements.
    pub(crate) sql: BenchDb,
    handles: Vec<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(crate) struct StackOptions {
    pub(crate) min_latency_ms: u64,
    pub(crate) max_latency_ms: u64,
    pub(crate) delivery_concurrency: usize,
    pub(crate) worker_pool_size: usize,
}

impl Stack {
    pub(crate) async fn start(
        config: &Config,
        queue: Arc<InProcessQueue>,
        o: &StackOptions,
    ) -> anyhow::Result<Stack> {
        let api_db = Db::connect(
            &config.database.url,
            config.database.pool_size,
            "notify-api",
        )?;
        let state = AppState::new(config.clone(), api_db, queue.clone());
        state.db.migrate().await?;
        let worker_db =
            Db::connect_short_lived(&config.database.url, o.worker_pool_size, WORKER_APP_NAME)?;
        let worker_state = AppState::new(config.clone(), worker_db, queue.clone());
        // The simulated provider with Notify's load-test stub latency; every bench recipient is a `delivered` one.
        let provider = SlowProvider::new(
            SimulatedProvider::new(queue.clone(), config.queues.status.clone()),
            o.min_latency_ms..=o.max_latency_ms,
        );
        let providers = Providers::new(
            vec![provider.clone() as Arc<dyn SmsProvider>],
            vec![provider.clone() as Arc<dyn EmailProvider>],
            Arc::new(SimulatedProvider::new(
                queue.clone(),
                config.queues.status.clone(),
            )),
        );
        let handles = workers::spawn_in_process(
            worker_state,
            providers,
            queue,
            WorkerSettings {
                deliver_queues: vec![
                    config.queues.deliver_sms.clone(),
                    config.queues.deliver_email.clone(),
                ],
                status_queue: config.queues.status.clone(),
                delivery_concurrency: o.delivery_concurrency,
                status_batch_size: 500,
                batching_window: std::time::Duration::from_millis(200),
            },
        );
        let (api, server) = serve(&state).await?;
        Ok(Stack {
            state,
            api,
            provider,
            sql: BenchDb::connect(&config.database.url, 2, BENCH_APP_NAME)?,
            handles,
            server,
        })
    }

    pub(crate) fn stop(self) {
        for h in self.handles {
            h.abort();
        }
        self.server.abort();
    }
}

/// `count` sends, `concurrency` at a time, the `i`th one to `/v2/notifications/{path}` with `body`, both from
/// `request(i)`.
pub(crate) async fn send_all(
    client: &reqwest::Client,
    api: &str,
    key: &str,
    count: usize,
    concurrency: usize,
    request: impl Fn(u64) -> (&'static str, Value) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let (client, api, next, key, request) = (
            client.clone(),
            api.to_string(),
            next.clone(),
            key.to_string(),
            request.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count as u64 {
                    return anyhow::Ok(());
                }
                let (path, body) = request(i);
                send_one(
                    &client,
                    &format!("{api}/v2/notifications/{path}"),
                    &key,
                    &body,
                )
                .await?;
            }
        }));
    }
    for s in senders {
        s.await??;
    }
    Ok(())
}

pub async fn pipeline(config: Config, o: PipelineOptions) -> anyhow::Result<Value> {
    pool_failures::so_far();
    let queue = Arc::new(InProcessQueue::default());
    let stack = Stack::start(
        &config,
        queue,
        &StackOptions {
            min_latency_ms: o.min_latency_ms,
            max_latency_ms: o.max_latency_ms,
            delivery_concurrency: o.delivery_concurrency,
            worker_pool_size: o.worker_pool_size,
        },
    )
    .await?;
    let state = stack.state.clone();
    let target = bench_service(&state).await?;

    // Peak worker connections, sampled from a separate connection every 20 ms.
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, db) = (peak.clone(), sampling.clone(), stack.sql.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(n) = db.connections_of(WORKER_APP_NAME).await {
                    peak.fetch_max(n as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let pool_failures_before = pool_failures::so_far();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.send_concurrency)
        .build()?;
    let started = Instant::now();
    let (sms, email) = (target.template_id, target.email_template_id);
    send_all(
        &client,
        &stack.api,
        &target.key,
        o.count,
        o.send_concurrency,
        move |i| {
            let personalisation = json!({"name": "Bench", "code": i.to_string()});
            if i % 2 == 0 {
                ("sms", json!({"phone_number": "07700900123", "template_id": sms, "personalisation": personalisation}))
            } else {
                ("email", json!({"email_address": "bench@example.com", "template_id": email, "personalisation": personalisation}))
            }
        },
    )
    .await?;
    let all_created = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    let timings = loop {
        let timings = stack.sql.send_timings(target.service_id).await?;
        if timings.delivered as usize >= o.count || Instant::now() > deadline {
            break timings;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all_delivered = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let provider_calls = stack.provider.calls();
    stack.stop();
    Ok(json!({
        "notifications": o.count,
        "provider_latency_ms": [o.min_latency_ms, o.max_latency_ms],
        "delivery_concurrency_per_queue": o.delivery_concurrency,
        "worker_pool_size": o.worker_pool_size,
        "provider_calls": provider_calls,
        "seconds_to_create_all": all_created.as_secs_f64(),
        "seconds_until_all_delivered": all_delivered.as_secs_f64(),
        "share_sent_within_10s": timings.sent_within_10s as f64 / timings.notifications.max(1) as f64,
        "timings": timings,
        "peak_worker_connections": peak.load(Ordering::Relaxed),
        "pool_failures": pool_failures::so_far() - pool_failures_before,
    }))
}

pub struct ReceiptOptions {
    pub count: usize,
    pub batch_size: usize,
    pub concurrency: usize,
}

/// Receipts for `count` notifications in `sending`, applied through the status handler in batches of
/// `batch_size`, `concurrency` batches at once (the status function's batch size and maximum concurrency).
pub async fn receipts(config: Config, o: ReceiptOptions) -> anyhow::Result<Value> {
    let queue = Arc::new(InProcessQueue::default());
    let db = Db::connect(
        &config.database.url,
        config.database.pool_size,
        "notify-api",
    )?;
    let state = AppState::new(config.clone(), db, queue.clone());
    state.db.migrate().await?;
    let target = bench_service(&state).await?;
    let (api, server) = serve(&state).await?;
    let seed = seed_notification(&api, &target).await;
    server.abort();
    let seed = seed?;
    let prefix = format!("bench-{}-", Uuid::new_v4().simple());
    let sql = BenchDb::connect(&config.database.url, 1, BENCH_APP_NAME)?;
    sql.copy_notification(
        seed,
        o.count as i64,
        &prefix,
        NotificationStatus::Sending,
        None,
    )
    .await?;

    let worker_db =
        Db::connect_short_lived(&config.database.url, o.concurrency, "notify-bench-status")?;
    let worker = AppState::new(config, worker_db, queue);
    let batches: Vec<Vec<StatusBody>> = (1..=o.count)
        .collect::<Vec<_>>()
        .chunks(o.batch_size)
        .map(|chunk| {
            chunk
                .iter()
                .map(|n| {
                    StatusBody::Task(Message::Receipt {
                        v: 1,
                        provider: "bench".into(),
                        reference: format!("{prefix}{n}"),
                        status: NotificationStatus::Delivered,
                        at: chrono::Utc::now(),
                    })
                })
                .collect()
        })
        .collect();
    let batches = Arc::new(tokio::sync::Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (batches, worker) = (batches.clone(), worker.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = batches.lock().await.pop() else {
                    return anyhow::Ok(());
                };
                let retry = notify_app::status::handle_batch(&worker, &batch).await?;
                if !retry.is_empty() {
                    bail!("{} receipts found no notification", retry.len());
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let timings = sql.send_timings(target.service_id).await?;
    Ok(json!({
        "receipts": o.count,
        "batch_size": o.batch_size,
        "concurrency": o.concurrency,
        "seconds": elapsed.as_secs_f64(),
        "receipts_per_second": (o.count as f64 / elapsed.as_secs_f64()).round(),
        "delivered_after": timings.delivered,
    }))
}
