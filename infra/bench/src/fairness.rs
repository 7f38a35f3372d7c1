//! `notify bench fairness`: one service sends a burst of texts while another sends one text every interval, on
//! the in-process local stack (`bench pipeline`'s). The quiet service's created→sent times are measured twice in
//! one run: with the queue serving messages in arrival order (as before fair queues) and with it serving
//! services round-robin.

use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_config::Config;
use notify_queue::InProcessQueue;
use serde_json::{Value, json};

use crate::pipeline::{Stack, StackOptions, send_all};
use crate::sms::{bench_service, send_one};

#[derive(clap::Args)]
pub struct Options {
    #[arg(long, default_value_t = 10_000)]
    pub burst: usize,
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    #[arg(long, default_value_t = 100)]
    pub min_latency_ms: u64,
    #[arg(long, default_value_t = 1000)]
    pub max_latency_ms: u64,
    /// Provider sends in flight at once: below the burst's send rate, so a backlog builds.
    #[arg(long, default_value_t = 100)]
    pub delivery_concurrency: usize,
    #[arg(long, default_value_t = 10)]
    pub worker_pool_size: usize,
    /// The burst's concurrent senders.
    #[arg(long, default_value_t = 32)]
    pub send_concurrency: usize,
}

pub async fn run(config: Config, o: Options) -> anyhow::Result<Value> {
    let fifo = one_queue(&config, &o, InProcessQueue::fifo()).await?;
    let round_robin = one_queue(&config, &o, InProcessQueue::default()).await?;
    Ok(json!({
        "burst_texts": o.burst,
        "quiet_interval_ms": o.interval_ms,
        "provider_latency_ms": [o.min_latency_ms, o.max_latency_ms],
        "delivery_concurrency": o.delivery_concurrency,
        "send_concurrency": o.send_concurrency,
        "fifo": fifo,
        "round_robin": round_robin,
    }))
}

/// The burst and the quiet sender on a fresh stack over `queue`; the quiet service sends until every text of the
/// burst is sent, then its own last text is waited for.
async fn one_queue(config: &Config, o: &Options, queue: InProcessQueue) -> anyhow::Result<Value> {
    let stack = Stack::start(
        config,
        Arc::new(queue),
        &StackOptions {
            min_latency_ms: o.min_latency_ms,
            max_latency_ms: o.max_latency_ms,
            delivery_concurrency: o.delivery_concurrency,
            worker_pool_size: o.worker_pool_size,
        },
    )
    .await?;
    let state = stack.state.clone();
    let (busy, quiet) = (bench_service(&state).await?, bench_service(&state).await?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.send_concurrency + 1)
        .build()?;
    let started = Instant::now();
    let burst = {
        let (client, api, key, template, count, concurrency) = (
            client.clone(),
            stack.api.clone(),
            busy.key.clone(),
            busy.template_id,
            o.burst,
            o.send_concurrency,
        );
        tokio::spawn(async move {
            send_all(&client, &api, &key, count, concurrency, move |i| {
                ("sms", json!({"phone_number": "07700900123", "template_id": template, "personalisation": {"name": "Bench", "code": i.to_string()}}))
            })
            .await?;
            anyhow::Ok(started.elapsed())
        })
    };
    let url = format!("{}/v2/notifications/sms", stack.api);
    let body = json!({"phone_number": "07700900123", "template_id": quiet.template_id, "personalisation": {"name": "Quiet", "code": "1"}});
    let mut tick = tokio::time::interval(Duration::from_millis(o.interval_ms));
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut sent_by_quiet = 0u64;
    let burst_drained = loop {
        tick.tick().await;
        send_one(&client, &url, &quiet.key, &body).await?;
        sent_by_quiet += 1;
        // About once a second: counting the burst's rows is not free, and it loads both runs alike.
        if sent_by_quiet.is_multiple_of(1000 / o.interval_ms.clamp(1, 1000)) {
            let busy_timings = stack.sql.send_timings(busy.service_id).await?;
            if busy_timings.sent as usize >= o.burst || Instant::now() > deadline {
                break started.elapsed();
            }
        }
    };
    let burst_created = burst.await??;
    let quiet_timings = loop {
        let timings = stack.sql.send_timings(quiet.service_id).await?;
        if timings.sent >= timings.notifications || Instant::now() > deadline {
            break timings;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let busy_timings = stack.sql.send_timings(busy.service_id).await?;
    stack.stop();
    Ok(json!({
        "seconds_to_create_burst": burst_created.as_secs_f64(),
        "seconds_until_burst_sent": burst_drained.as_secs_f64(),
        "quiet_texts": quiet_timings.notifications,
        "quiet_created_to_sent_p50_ms": quiet_timings.created_to_sent_p50_ms,
        "quiet_created_to_sent_p99_ms": quiet_timings.created_to_sent_p99_ms,
        "quiet_created_to_sent_max_ms": quiet_timings.created_to_sent_max_ms,
        "burst_created_to_sent_p50_ms": busy_timings.created_to_sent_p50_ms,
        "burst_created_to_sent_p99_ms": busy_timings.created_to_sent_p99_ms,
    }))
}
