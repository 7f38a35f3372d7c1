//! The queue consumers' work, shared by the Lambda handlers and the local stack's in-process workers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::db::DbError;
use crate::delivery::{self, Outcome, Providers};
use crate::model::NotificationStatus;
use crate::queue::{InProcessQueue, Message, Queue};

/// How long a receipt for a reference nobody has recorded yet is kept trying.
pub const RECEIPT_RETRY_WINDOW: chrono::Duration = chrono::Duration::minutes(5);
const RECEIPT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// One delivery message. `Ok(Some(delay))` asks for the message to come back after `delay`.
/// On its `final_attempt` a send that would be retried becomes `technical-failure` instead.
pub async fn handle_delivery(
    state: &AppState,
    providers: &Providers,
    message: &Message,
    retry_delay: Duration,
    final_attempt: bool,
) -> Result<Option<Duration>, DbError> {
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
            tracing::warn!(notification_id = %notification_id, reason, "provider send will be retried");
            Ok(Some(retry_delay))
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

/// A receipt message as (reference, status, when the provider said it); raw ones are parsed per provider.
fn as_receipt(message: &Message) -> Option<(String, NotificationStatus, DateTime<Utc>)> {
    match message {
        Message::Receipt {
            reference,
            status,
            at,
            ..
        } => Some((reference.clone(), *status, *at)),
        Message::RawReceipt {
            provider, body, at, ..
        } => {
            let parsed = match provider.as_str() {
                "firetext" => crate::providers::firetext::parse_receipt(body.as_bytes()),
                _ => None,
            };
            if parsed.is_none() {
                tracing::warn!(provider, "receipt not understood; dropped");
            }
            parsed.map(|(reference, status)| (reference, status, *at))
        }
        Message::Deliver { .. } => None,
    }
}

/// A batch of receipts in one statement. Returns the receipts to try again later: those whose reference is not
/// recorded yet and are younger than [`RECEIPT_RETRY_WINDOW`]; older ones are dropped with a log line.
pub async fn handle_receipts(
    state: &AppState,
    messages: &[Message],
) -> Result<Vec<Message>, DbError> {
    let parsed: Vec<Option<(String, NotificationStatus, DateTime<Utc>)>> =
        messages.iter().map(as_receipt).collect();
    let receipts: Vec<(String, NotificationStatus)> = parsed
        .iter()
        .flatten()
        .map(|(reference, status, _)| (reference.clone(), *status))
        .collect();
    if receipts.is_empty() {
        return Ok(Vec::new());
    }
    let (applied, unmatched) = state.db.apply_receipts(&receipts).await?;
    tracing::info!(
        applied = applied.len(),
        unmatched = unmatched.len(),
        "receipts applied"
    );
    let now = Utc::now();
    Ok(messages
        .iter()
        .zip(parsed)
        .filter(|(_, parsed)| match parsed {
            Some((reference, _, at)) if unmatched.contains(reference) => {
                let keep = now - *at < RECEIPT_RETRY_WINDOW;
                if !keep {
                    tracing::warn!(
                        reference,
                        "receipt for an unknown reference dropped after 5 minutes"
                    );
                }
                keep
            }
            _ => false,
        })
        .map(|(message, _)| message.clone())
        .collect())
}

/// Queue names the in-process workers consume.
#[derive(Clone, Debug)]
pub struct WorkerQueues {
    pub deliver: Vec<String>,
    pub status: String,
}

/// The local stack's workers: the same code paths as the Lambda handlers, fed by the in-process queue.
pub fn spawn_in_process(
    state: AppState,
    providers: Providers,
    queue: Arc<InProcessQueue>,
    queues: WorkerQueues,
    retry_delay: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    for name in queues.deliver {
        let (state, providers, queue) = (state.clone(), providers.clone(), queue.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let batch = queue.receive(&name, 10, Duration::from_secs(1)).await;
                // Concurrently: one slow provider call delays nobody else in the batch.
                let results = futures::future::join_all(
                    batch
                        .iter()
                        .map(|m| handle_delivery(&state, &providers, m, retry_delay, false)),
                )
                .await;
                for (message, result) in batch.iter().zip(results) {
                    let again = match result {
                        Ok(again) => again,
                        Err(e) => {
                            tracing::error!(error = %e, "delivery failed; will retry");
                            Some(retry_delay)
                        }
                    };
                    if let Some(delay) = again {
                        let _ = queue.send_delayed(&name, "retry", message, delay).await;
                    }
                }
            }
        }));
    }
    let status = queues.status;
    handles.push(tokio::spawn(async move {
        loop {
            let batch = queue.receive(&status, 100, Duration::from_secs(1)).await;
            if batch.is_empty() {
                continue;
            }
            let retry = match handle_receipts(&state, &batch).await {
                Ok(retry) => retry,
                Err(e) => {
                    tracing::error!(error = %e, "receipts not applied; will retry");
                    batch
                }
            };
            for message in retry {
                let _ = queue
                    .send_delayed(&status, "retry", &message, RECEIPT_RETRY_DELAY)
                    .await;
            }
        }
    }));
    handles
}
