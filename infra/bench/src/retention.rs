//! `notify bench retention`: the retention purge of many expired notifications, with sends made at a fixed rate
//! beside it; their latency compared with the same sends on an idle system.

use std::time::{Duration, Instant};

use notify_app::jobs::Job;
use notify_app::{AppState, jobs};
use notify_config::Config;
use notify_core::model::NotificationStatus;
use notify_db::Db;
use notify_queue::InProcessQueue;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::sms::{Target, bench_service, latency_at, ms, percentile, seed_notification};
use crate::sql::BenchDb;

pub struct Options {
    pub count: usize,
    pub rate: f64,
    pub idle_seconds: u64,
}

async fn seed(sql: &BenchDb, target: &Target, api: &str, count: usize) -> anyhow::Result<()> {
    let like = seed_notification(api, target).await?;
    let expired = chrono::Utc::now() - chrono::Duration::days(30);
    let prefix = format!("expired-{}-", Uuid::new_v4().simple());
    let mut left = count as i64;
    while left > 0 {
        let n = left.min(100_000);
        sql.copy_notification(
            like,
            n,
            &prefix,
            NotificationStatus::Delivered,
            Some(expired),
        )
        .await?;
        left -= n;
    }
    Ok(())
}

pub async fn run(config: Config, o: Options) -> anyhow::Result<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let queue = std::sync::Arc::new(InProcessQueue::default());
    let db = Db::connect(
        &config.database.url,
        config.database.pool_size,
        "notify-api",
    )?;
    let state = AppState::new(config.clone(), db, queue);
    state.db.migrate().await?;
    let target = bench_service(&state).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let router = notify_http::router(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let seeding = Instant::now();
    let sql = BenchDb::connect(&config.database.url, 1, "notify-bench")?;
    seed(&sql, &target, &api, o.count).await?;
    let seeded_in = seeding.elapsed();
    let client = reqwest::Client::new();
    let url = format!("{api}/v2/notifications/sms");

    let idle = latency_at(&client, &url, &target, o.rate, o.idle_seconds).await?;

    let jobs_db = Db::connect_short_lived(&config.database.url, 1, "notify-scheduled")?;
    let jobs_state = AppState::new(config, jobs_db, state.queue.clone());
    let started = Instant::now();
    let purge = tokio::spawn(async move {
        let mut removed = 0u64;
        loop {
            let report = jobs::run(
                &jobs_state,
                Job::DeleteNotificationsOlderThanRetention,
                jobs::TIME_BUDGET,
            )
            .await?;
            let n = report["notifications_removed"].as_u64().unwrap_or(0);
            removed += n;
            if n == 0 {
                return anyhow::Ok(removed);
            }
        }
    });
    // Without autovacuum the purge's dead rows pile up and every later batch wades through them, which is not
    // what RDS does; a stand-in vacuums about once a minute, throttled as autovacuum is.
    let stand_in = if sql.autovacuum_enabled().await? {
        None
    } else {
        let db = BenchDb::connect(&state.config.database.url, 1, "notify-bench-vacuum")?;
        Some(tokio::spawn(async move {
            let mut runs = 0u32;
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                if let Err(e) = db.vacuum_notifications().await {
                    tracing::warn!(error = %e, "stand-in vacuum failed");
                }
                runs += 1;
                tracing::info!(runs, "stand-in vacuum of notifications done");
            }
        }))
    };
    let mut during = Vec::new();
    while !purge.is_finished() {
        during.extend(latency_at(&client, &url, &target, o.rate, 5).await?);
    }
    let removed = purge.await??;
    if let Some(stand_in) = &stand_in {
        stand_in.abort();
    }
    let purge_time = started.elapsed();
    server.abort();
    during.sort();
    let idle_p99 = percentile(&idle, 0.99);
    let during_p99 = percentile(&during, 0.99);
    Ok(json!({
        "expired_notifications": o.count,
        "seeded_seconds": seeded_in.as_secs_f64(),
        "purge_seconds": purge_time.as_secs_f64(),
        "removed": removed,
        "vacuum": if stand_in.is_some() { "stand-in, every 60 s, cost delay 2 ms (autovacuum is off on this server)" } else { "autovacuum" },
        "send_rate": o.rate,
        "idle_sends": idle.len(),
        "idle_p50_ms": ms(percentile(&idle, 0.5)),
        "idle_p99_ms": ms(idle_p99),
        "during_sends": during.len(),
        "during_p50_ms": ms(percentile(&during, 0.5)),
        "during_p99_ms": ms(during_p99),
        "p99_ratio": (during_p99.as_secs_f64() / idle_p99.as_secs_f64() * 100.0).round() / 100.0,
    }))
}
