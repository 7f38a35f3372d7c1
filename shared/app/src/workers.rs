//! The queue consumers' work, shared by the Lambda handlers and the local stack's in-process workers.

use std::time::Duration;

use crate::delivery::{DeliveryRequest, Outcome};
use crate::{AppState, delivery};
use notify_core::delivery::SendOutcome;
use notify_core::messages::{Message, Unrecorded};
use notify_outbound::providers::Providers;

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
