//! The queue consumers' work, shared by the Lambda handlers and the local stack's in-process workers.

use std::sync::Arc;
use std::time::Duration;

use crate::AppState;
use crate::db::DbError;
use crate::delivery::{self, Outcome, Providers};
use crate::queue::{InProcessQueue, Message, Queue};
use crate::status::StatusBody;

const RECEIPT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Which receive of its message this is, out of how many allowed.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub number: u32,
    pub max: u32,
}

/// One delivery message. `Ok(Some(delay))` asks for the message to come back after `delay`: at once after
/// the first attempt, `retry_delay` after later ones (Notify's policy). On the last attempt a send that would be
/// retried becomes `technical-failure` instead.
pub async fn handle_delivery(
    state: &AppState,
    providers: &Providers,
    message: &Message,
    retry_delay: Duration,
    attempt: Attempt,
) -> Result<Option<Duration>, DbError> {
    let final_attempt = attempt.number >= attempt.max;
    let Message::Deliver {
        notification_id, ..
    } = message
    else {
        tracing::warn!("not a delivery message; dropped");
        return Ok(None);
    };
    match delivery::deliver(state, providers, *notification_id).await? {
        Outcome::Retry(reason) if final_attempt => {
            tracing::warn!(notification_id = %notification_id, reason, "retries exhausted: technical-failure");
            state.db.mark_technical_failure(*notification_id).await?;
            Ok(None)
        }
        Outcome::Retry(reason) => {
            tracing::warn!(notification_id = %notification_id, reason, attempt = attempt.number, "provider send will be retried");
            Ok(Some(if attempt.number <= 1 {
                Duration::ZERO
            } else {
                retry_delay
            }))
        }
        Outcome::Failed(reason) => {
            tracing::warn!(notification_id = %notification_id, reason, "technical-failure");
            Ok(None)
        }
        Outcome::Sent { provider, .. } => {
            tracing::info!(notification_id = %notification_id, provider, "sent to provider");
            Ok(None)
        }
        Outcome::AlreadyHandled => Ok(None),
    }
}

/// How the local stack's in-process workers run: Lambda's event source mappings and retry policy, in a loop.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub deliver_queues: Vec<String>,
    pub status_queue: String,
    /// Sends in flight at once per delivery queue, as Lambda's maximum concurrency × batch size would allow.
    pub delivery_concurrency: usize,
    pub status_batch_size: usize,
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
                let room = in_flight.available_permits().clamp(1, 10);
                let batch = queue
                    .receive_counted(&name, room, Duration::from_secs(1))
                    .await;
                for (message, received) in batch {
                    let permit = in_flight
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphore open");
                    let (state, providers, queue, name) = (
                        state.clone(),
                        providers.clone(),
                        queue.clone(),
                        name.clone(),
                    );
                    // Each send on its own task: one slow provider call delays nobody else.
                    tokio::spawn(async move {
                        let attempt = Attempt {
                            number: received,
                            max: state.config.delivery_max_attempts,
                        };
                        let retry_delay = state.config.delivery_retry_delay;
                        let again = match handle_delivery(
                            &state,
                            &providers,
                            &message,
                            retry_delay,
                            attempt,
                        )
                        .await
                        {
                            Ok(again) => again,
                            Err(e) => {
                                tracing::error!(error = %e, "delivery failed; will retry");
                                Some(retry_delay)
                            }
                        };
                        if let Some(delay) = again {
                            queue.put_back(&name, &message, received, delay);
                        }
                        drop(permit);
                    });
                }
            }
        }));
    }
    handles.push(tokio::spawn(async move {
        let status = settings.status_queue;
        loop {
            let batch = queue
                .receive(&status, settings.status_batch_size, Duration::from_secs(1))
                .await;
            if batch.is_empty() {
                continue;
            }
            let bodies: Vec<StatusBody> = batch.iter().cloned().map(StatusBody::Task).collect();
            let retry = match crate::status::handle_batch(&state, &bodies).await {
                Ok(retry) => retry,
                Err(e) => {
                    tracing::error!(error = %e, "receipts not applied; will retry");
                    (0..batch.len()).collect()
                }
            };
            for i in retry {
                let _ = queue
                    .send_delayed(&status, "retry", &batch[i], RECEIPT_RETRY_DELAY)
                    .await;
            }
        }
    }));
    handles
}
