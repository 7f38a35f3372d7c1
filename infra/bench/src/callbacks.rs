//! `notify bench callbacks`: the seed's scenario. Delivery-status callbacks to a receiver that takes 2 s each, with
//! the database pool capped at 10 and 200 callbacks in flight: our callback worker (no database at all) beside a
//! comparator that, as Notify's inbound-SMS callback task does, holds a pooled connection across the HTTP call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use notify_config::Config;
use notify_core::callbacks;
use notify_core::callbacks::{CallbackTarget, DeliveryStatusData};
use notify_core::messages::Message;
use notify_core::model::{NotificationStatus, NotificationType};
use notify_outbound::callbacks::CallbackSender;
use notify_queue::{InProcessQueue, Queue};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::pool_failures;
use crate::sql::BenchDb;

pub struct Options {
    pub count: usize,
    pub receiver_ms: u64,
    pub in_flight: usize,
    pub pool_size: usize,
    pub skip_comparator: bool,
}

pub async fn run(mut config: Config, o: Options) -> anyhow::Result<Value> {
    pool_failures::so_far();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let received = Arc::new(AtomicU64::new(0));
    let delay = Duration::from_millis(o.receiver_ms);
    let counter = received.clone();
    let receiver = axum::Router::new().route(
        "/callback",
        post(move || {
            let counter = counter.clone();
            async move {
                tokio::time::sleep(delay).await;
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let (base, ca_file) = notify_tests::https_server(receiver).await;
    config.callbacks.allow_private_hosts = vec!["127.0.0.1".into()];
    config.callbacks.ca_bundle = Some(ca_file);
    let sender = CallbackSender::from_config(&config.callback_worker())?;
    let encryptor = notify_core::crypto::Encryptor::new(
        notify_config::ExposeSecret::expose_secret(&config.secret_key),
    );
    let target = CallbackTarget {
        url: format!("{base}/callback"),
        encrypted_token: Some(encryptor.encrypt("benchmark-bearer-token")),
        signing_secrets: Vec::new(),
    };
    let callback = |_| {
        let data = DeliveryStatusData {
            notification_id: Uuid::new_v4(),
            service_id: Uuid::new_v4(),
            client_reference: None,
            to: "07700900123".into(),
            status: NotificationStatus::Delivered,
            created_at: chrono::Utc::now(),
            completed_at: Some(chrono::Utc::now()),
            sent_at: Some(chrono::Utc::now()),
            notification_type: NotificationType::Sms,
            template_id: Uuid::new_v4(),
            template_version: 1,
        };
        callbacks::delivery_status(&data, &target)
    };
    // The pool both designs get; ours never asks it for anything.
    let db = BenchDb::connect(&config.database.url, o.pool_size, "notify-bench-callbacks")?;
    let failures_before = pool_failures::so_far();

    // Ours: the callback worker on the in-process queue.
    let queue = Arc::new(InProcessQueue::default());
    let config = Arc::new(config.callback_worker());
    for i in 0..o.count {
        queue
            .send(
                &config.queues.callbacks,
                "bench",
                &Message::Callback(callback(i)),
            )
            .await?;
    }
    let started = Instant::now();
    let worker = notify_runtime::workers::spawn_callback_worker(
        sender.clone(),
        queue,
        config.clone(),
        o.in_flight,
    );
    while received.load(Ordering::Relaxed) < o.count as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours = started.elapsed();
    worker.abort();
    let ours_timeouts = pool_failures::so_far() - failures_before;

    // The comparator: the same callbacks, the same in-flight limit, each holding a connection across its call.
    let naive = if o.skip_comparator {
        None
    } else {
        received.store(0, Ordering::Relaxed);
        let timeouts = Arc::new(AtomicU64::new(0));
        let limit = Arc::new(tokio::sync::Semaphore::new(o.in_flight));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..o.count {
            let permit = limit.clone().acquire_owned().await?;
            let (db, sender, timeouts, cb) =
                (db.clone(), sender.clone(), timeouts.clone(), callback(i));
            tasks.push(tokio::spawn(async move {
                let result = db
                    .hold_connection_during(sender.attempt(&cb), &timeouts)
                    .await;
                drop(permit);
                result
            }));
        }
        for t in tasks {
            t.await??;
        }
        Some((started.elapsed(), timeouts.load(Ordering::Relaxed)))
    };
    Ok(json!({
        "callbacks": o.count,
        "receiver_ms": o.receiver_ms,
        "in_flight": o.in_flight,
        "db_pool_size": o.pool_size,
        "ours_seconds": ours.as_secs_f64(),
        "ours_acquire_timeouts": ours_timeouts,
        "comparator_seconds": naive.map(|(t, _)| t.as_secs_f64()),
        "comparator_acquire_timeouts": naive.map(|(_, n)| n),
        "ratio": naive.map(|(t, _)| (t.as_secs_f64() / ours.as_secs_f64() * 10.0).round() / 10.0),
    }))
}
