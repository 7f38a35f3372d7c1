//! The queue consumers' work, shared by the Lambda handlers and the local stack's in-process workers.

use std::sync::Arc;
use std::time::Duration;

use crate::AppState;
use crate::callbacks::{Attempted, Callback, CallbackSender};
use crate::config::Config;
use crate::db::SendOutcome;
use crate::delivery::{self, DeliveryRequest, Outcome, Providers};
use crate::queue::{InProcessQueue, Message, Queue, Received, Unrecorded};
use crate::status::StatusBody;

const DATABASE_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Which receive of its message this is, out of how many allowed.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub number: u32,
    pub max: u32,
}

/// What becomes of a delivery message after its batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Again {
    /// The same message back after this delay (its receive count goes on, for the attempt limit).
    After(Duration),
    /// This message done, and a new one sent in its place after the delay: one carrying an outcome that is
    /// still to be recorded, or a plain one once a retry is recorded. A new message starts a fresh receive count
    /// and retention period, so an outage of any length never sends it to the DLQ.
    Instead(Message, Duration),
}

/// A batch of delivery messages, each with its attempt. For each, `Some(again)` asks for it to come back: at
/// once after the first attempt, `retry_delay` after later ones (Notify's policy). On the last attempt a send
/// that would be retried becomes `technical-failure` instead. A send outcome the database cannot take comes
/// back on a new message, with backoff, for as long as the database is away.
pub async fn handle_deliveries(
    state: &AppState,
    providers: &Providers,
    messages: &[(Message, Attempt)],
    retry_delay: Duration,
) -> Vec<Option<Again>> {
    let requests: Vec<DeliveryRequest> = messages
        .iter()
        .filter_map(|(message, attempt)| match message {
            Message::Deliver {
                notification_id,
                unrecorded,
                ..
            } => Some(DeliveryRequest {
                notification_id: *notification_id,
                final_attempt: attempt.number >= attempt.max,
                unrecorded: unrecorded.as_ref().map(|u| u.outcome.clone()),
            }),
            _ => {
                tracing::warn!("not a delivery message; dropped");
                None
            }
        })
        .collect();
    let outcomes = match delivery::deliver_many(state, providers, &requests).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            // The claim failed, so nothing was sent: plain messages come back soon; those carrying an outcome
            // come back with it, a little later each time.
            tracing::error!(error = %e, "deliveries failed; will retry");
            return messages
                .iter()
                .map(|(message, _)| match message {
                    Message::Deliver {
                        notification_id,
                        unrecorded: Some(unrecorded),
                        ..
                    } => Some(still_unrecorded(
                        *notification_id,
                        unrecorded.outcome.clone(),
                        unrecorded.failures + 1,
                    )),
                    Message::Deliver { .. } => Some(Again::After(DATABASE_RETRY_DELAY)),
                    _ => None,
                })
                .collect();
        }
    };
    let mut outcomes = outcomes.into_iter();
    messages
        .iter()
        .map(|(message, attempt)| {
            let Message::Deliver {
                notification_id,
                unrecorded,
                ..
            } = message
            else {
                return None;
            };
            let failures = unrecorded.as_ref().map_or(0, |u| u.failures);
            match outcomes.next().expect("one outcome per request") {
                Outcome::Retry(reason) => {
                    tracing::warn!(notification_id = %notification_id, reason, attempt = attempt.number, "provider send will be retried");
                    let delay = if attempt.number <= 1 {
                        Duration::ZERO
                    } else {
                        retry_delay
                    };
                    Some(if unrecorded.is_some() {
                        // The retry is recorded (`created` again): a plain message sends it.
                        Again::Instead(Message::deliver(*notification_id), delay)
                    } else {
                        Again::After(delay)
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
                Outcome::Unrecorded(outcome) => {
                    let failures = if unrecorded.is_some() { failures + 1 } else { 0 };
                    Some(still_unrecorded(*notification_id, outcome, failures))
                }
            }
        })
        .collect()
}

fn still_unrecorded(notification_id: uuid::Uuid, outcome: SendOutcome, failures: u32) -> Again {
    let unrecorded = Unrecorded { outcome, failures };
    let delay = unrecorded.retry_delay();
    Again::Instead(
        Message::Deliver {
            v: 1,
            notification_id,
            unrecorded: Some(unrecorded),
        },
        delay,
    )
}

/// The group a replacement delivery message is sent under.
pub const UNRECORDED_GROUP: &str = "unrecorded";

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
                    let again = handle_deliveries(&state, &providers, &messages, retry_delay).await;
                    for (received, again) in batch.iter().zip(again) {
                        match again {
                            Some(Again::After(delay)) => {
                                queue.put_back(
                                    &name,
                                    &received.group,
                                    &received.message,
                                    received.receives,
                                    delay,
                                )
                            }
                            Some(Again::Instead(replacement, delay)) => {
                                if let Err(e) = queue
                                    .send_delayed(&name, &received.group, &replacement, delay)
                                    .await
                                {
                                    // Keep the received message rather than lose the outcome.
                                    tracing::error!(error = %e, "replacement not queued; keeping the message");
                                    queue.put_back(
                                        &name,
                                        &received.group,
                                        &replacement,
                                        received.receives,
                                        delay,
                                    );
                                }
                            }
                            None => {}
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
                let delay = crate::status::retry_delay(&bodies[i]);
                let _ = queue
                    .send_delayed(&status, &batch[i].group, &batch[i].message, delay)
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
