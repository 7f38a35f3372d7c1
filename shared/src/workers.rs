//! The queue consumers' work, shared by the Lambda handlers and the local stack's in-process workers.

use std::sync::Arc;
use std::time::Duration;

use crate::AppState;
use crate::callbacks::{Attempted, Callback, CallbackSender};
use crate::config::Config;
use crate::db::DbError;
use crate::delivery::{self, DeliveryRequest, Outcome, Providers};
use crate::queue::{InProcessQueue, Message, Queue, Received};
use crate::status::{RECEIPT_RETRY_DELAY, StatusBody};

const DATABASE_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Which receive of its message this is, out of how many allowed.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub number: u32,
    pub max: u32,
}

/// A batch of delivery messages, each with its attempt. For each, `Some(delay)` asks for it to come back after
/// `delay`: at once after the first attempt, `retry_delay` after later ones (Notify's policy). On the last
/// attempt a send that would be retried becomes `technical-failure` instead.
pub async fn handle_deliveries(
    state: &AppState,
    providers: &Providers,
    messages: &[(Message, Attempt)],
    retry_delay: Duration,
) -> Result<Vec<Option<Duration>>, DbError> {
    let requests: Vec<DeliveryRequest> = messages
        .iter()
        .filter_map(|(message, attempt)| match message {
            Message::Deliver {
                notification_id, ..
            } => Some(DeliveryRequest {
                notification_id: *notification_id,
                final_attempt: attempt.number >= attempt.max,
            }),
            _ => {
                tracing::warn!("not a delivery message; dropped");
                None
            }
        })
        .collect();
    let mut outcomes = delivery::deliver_many(state, providers, &requests)
        .await?
        .into_iter();
    Ok(messages
        .iter()
        .map(|(message, attempt)| {
            let Message::Deliver {
                notification_id, ..
            } = message
            else {
                return None;
            };
            match outcomes.next().expect("one outcome per request") {
                Outcome::Retry(reason) => {
                    tracing::warn!(notification_id = %notification_id, reason, attempt = attempt.number, "provider send will be retried");
                    Some(if attempt.number <= 1 {
                        Duration::ZERO
                    } else {
                        retry_delay
                    })
                }
                Outcome::Failed(reason) => {
                    tracing::warn!(notification_id = %notification_id, reason, "technical-failure");
                    None
                }
                Outcome::Sent { provider, .. } => {
                    tracing::info!(notification_id = %notification_id, provider, "sent to provider");
                    None
                }
                Outcome::AlreadyHandled => None,
            }
        })
        .collect())
}

/// How the local stack's in-process workers run: Lambda's event source mappings and retry policy, in a loop.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub deliver_queues: Vec<String>,
    pub status_queue: String,
    /// Sends in flight at once per delivery queue, as Lambda's maximum concurrency × batch size would allow.
    pub delivery_concurrency: usize,
    pub status_batch_size: usize,
    /// How long a batch may wait to fill once its first message is there: fewer, fuller batches mean fewer
    /// connections (each batch opens one to claim and one to record).
    pub batching_window: Duration,
}

/// The local stack's workers: the same code paths as the Lambda handlers, fed by the in-process queue.
pub fn spawn_in_process(
    state: AppState,
    providers: Providers,
    queue: Arc<InProcessQueue>,
    settings: WorkerSettings,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    for name in settings.deliver_queues.clone() {
        let (state, providers, queue, settings) = (
            state.clone(),
            providers.clone(),
            queue.clone(),
            settings.clone(),
        );
        handles.push(tokio::spawn(async move {
            let in_flight = Arc::new(tokio::sync::Semaphore::new(
                settings.delivery_concurrency.max(1),
            ));
            loop {
                // Batches of up to 10, as Lambda's event source mapping gives them.
                let room = in_flight.available_permits().clamp(1, 10);
                let batch = queue
                    .receive_counted(
                        &name,
                        room,
                        Duration::from_secs(1),
                        settings.batching_window,
                    )
                    .await;
                if batch.is_empty() {
                    continue;
                }
                let permits = in_flight
                    .clone()
                    .acquire_many_owned(batch.len() as u32)
                    .await
                    .expect("semaphore open");
                let (state, providers, queue, name) = (
                    state.clone(),
                    providers.clone(),
                    queue.clone(),
                    name.clone(),
                );
                // Each batch on its own task: one slow provider call delays nobody outside it.
                tokio::spawn(async move {
                    let max = state.config.delivery_max_attempts;
                    let retry_delay = state.config.delivery_retry_delay;
                    let messages: Vec<(Message, Attempt)> = batch
                        .iter()
                        .map(|r| {
                            let number = r.receives;
                            (r.message.clone(), Attempt { number, max })
                        })
                        .collect();
                    let again =
                        match handle_deliveries(&state, &providers, &messages, retry_delay).await {
                            Ok(again) => again,
                            Err(e) => {
                                // A database fault: nothing is lost (the record step retries on its own and
                                // a claim that failed sent nothing), so try again soon.
                                tracing::error!(error = %e, "deliveries failed; will retry");
                                vec![Some(DATABASE_RETRY_DELAY); messages.len()]
                            }
                        };
                    for (received, again) in batch.iter().zip(again) {
                        if let Some(delay) = again {
                            queue.put_back(
                                &name,
                                &received.group,
                                &received.message,
                                received.receives,
                                delay,
                            );
                        }
                    }
                    drop(permits);
                });
            }
        }));
    }
    handles.push(tokio::spawn(async move {
        let status = settings.status_queue;
        loop {
            let batch = queue
                .receive_counted(
                    &status,
                    settings.status_batch_size,
                    Duration::from_secs(1),
                    settings.batching_window,
                )
                .await;
            if batch.is_empty() {
                continue;
            }
            let bodies: Vec<StatusBody> = batch
                .iter()
                .map(|r| StatusBody::Task(r.message.clone()))
                .collect();
            let retry = match crate::status::handle_batch(&state, &bodies).await {
                Ok(retry) => retry,
                Err(e) => {
                    tracing::error!(error = %e, "receipts not applied; will retry");
                    (0..batch.len()).collect()
                }
            };
            for i in retry {
                let _ = queue
                    .send_delayed(
                        &status,
                        &batch[i].group,
                        &batch[i].message,
                        RECEIPT_RETRY_DELAY,
                    )
                    .await;
            }
        }
    }));
    handles
}

/// After one attempt at a callback: `None` when it is done with (delivered, dropped, or dead-lettered with its
/// last error), `Some(delay)` to try again. The `receives`-th receive is attempt number `receives`; Notify makes
/// 1 + `callback_max_retries` attempts.
pub async fn handle_callback(
    sender: &CallbackSender,
    queue: &dyn Queue,
    config: &Config,
    callback: &Callback,
    receives: u32,
) -> Option<Duration> {
    let about = callback.subject_id;
    let service_id = callback.service_id;
    let kind = callback.callback_type.as_str();
    match sender.attempt(callback).await {
        Attempted::Delivered(status) => {
            tracing::info!(%about, %service_id, callback_type = kind, status, "callback delivered");
            crate::metrics::count("CallbacksSent", 1, &[("CallbackType", kind)]);
            None
        }
        Attempted::Dropped(reason) => {
            tracing::warn!(%about, %service_id, callback_type = kind, reason, "callback dropped");
            crate::metrics::count("CallbacksFailed", 1, &[("CallbackType", kind)]);
            None
        }
        Attempted::Retry(reason) if receives > config.callback_max_retries => {
            let dead = Callback {
                last_error: Some(reason.clone()),
                ..callback.clone()
            };
            let group = service_id.to_string();
            match queue
                .send(
                    &config.queues.callbacks_dlq,
                    &group,
                    &Message::Callback(dead),
                )
                .await
            {
                Ok(()) => {
                    tracing::error!(%about, %service_id, callback_type = kind, reason, attempts = receives, "callback retries exhausted: dead-lettered");
                    crate::metrics::count("CallbacksDeadLettered", 1, &[("CallbackType", kind)]);
                    None
                }
                Err(e) => {
                    tracing::error!(%about, error = %e, "callback not dead-lettered; keeping it");
                    Some(config.callback_retry_delay)
                }
            }
        }
        Attempted::Retry(reason) => {
            tracing::warn!(%about, %service_id, callback_type = kind, reason, attempt = receives, "callback will be retried");
            crate::metrics::count("CallbacksFailed", 1, &[("CallbackType", kind)]);
            Some(config.callback_retry_delay)
        }
    }
}

/// The local stack's callback worker: up to `concurrency` callbacks in flight, each on its own task, so one
/// hanging receiver delays nobody else. It has no database connection at all.
pub fn spawn_callback_worker(
    sender: CallbackSender,
    queue: Arc<InProcessQueue>,
    config: Arc<Config>,
    concurrency: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let name = config.queues.callbacks.clone();
        loop {
            let room = in_flight.available_permits().clamp(1, 10);
            let batch = queue
                .receive_counted(&name, room, Duration::from_secs(1), Duration::ZERO)
                .await;
            for Received {
                message,
                group,
                receives,
            } in batch
            {
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                let (sender, queue, config, name) =
                    (sender.clone(), queue.clone(), config.clone(), name.clone());
                tokio::spawn(async move {
                    let Message::Callback(callback) = &message else {
                        tracing::warn!("not a callback message; dropped");
                        return;
                    };
                    if let Some(delay) =
                        handle_callback(&sender, queue.as_ref(), &config, callback, receives).await
                    {
                        queue.put_back(&name, &group, &message, receives, delay);
                    }
                    drop(permit);
                });
            }
        }
    })
}
