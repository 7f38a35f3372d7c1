//! The queue consumers' work, shared by the Lambda handlers and the local stack's in-process workers.

use std::time::Duration;

use crate::delivery::{DeliveryRequest, Outcome};
use crate::{AppState, delivery};
use notify_core::delivery::SendOutcome;
use notify_core::messages::{Message, Unrecorded};
use notify_core::retry::{DATABASE_RETRY_DELAY, Disposition, delivery_retry};
use notify_outbound::providers::Providers;

/// Which receive of its message this is, out of how many allowed.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub number: u32,
    pub max: u32,
}

/// A batch of delivery messages, each with its attempt, and one disposition for each: a send worth retrying
/// comes back after [`delivery_retry`] (Notify's policy). On the last attempt a send
/// that would be retried becomes `technical-failure` instead. A send outcome the database cannot take comes
/// back on a new message, with backoff, for as long as the database is away.
pub async fn handle_deliveries(
    state: &AppState,
    providers: &Providers,
    messages: &[(Message, Attempt)],
    retry_delay: Duration,
) -> Vec<Disposition> {
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
                    } => still_unrecorded(
                        *notification_id,
                        unrecorded.outcome.clone(),
                        unrecorded.failures + 1,
                    ),
                    Message::Deliver { .. } => Disposition::RetryAfter(DATABASE_RETRY_DELAY),
                    _ => Disposition::Done,
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
                return Disposition::Done;
            };
            let failures = unrecorded.as_ref().map_or(0, |u| u.failures);
            match outcomes.next().expect("one outcome per request") {
                Outcome::Retry(reason) => {
                    tracing::warn!(notification_id = %notification_id, reason, attempt = attempt.number, "provider send will be retried");
                    let after = delivery_retry(attempt.number, retry_delay);
                    if unrecorded.is_some() {
                        // The retry is recorded (`created` again): a plain message sends it.
                        Disposition::Replace {
                            message: Message::deliver(*notification_id),
                            after,
                        }
                    } else {
                        Disposition::RetryAfter(after)
                    }
                }
                Outcome::Failed(reason) => {
                    tracing::warn!(notification_id = %notification_id, reason, "technical-failure");
                    Disposition::Done
                }
                Outcome::Sent { provider, .. } => {
                    tracing::info!(notification_id = %notification_id, provider, "sent to provider");
                    Disposition::Done
                }
                Outcome::AlreadyHandled => Disposition::Done,
                Outcome::Unrecorded(outcome) => {
                    let failures = if unrecorded.is_some() { failures + 1 } else { 0 };
                    still_unrecorded(*notification_id, outcome, failures)
                }
            }
        })
        .collect()
}

fn still_unrecorded(
    notification_id: uuid::Uuid,
    outcome: SendOutcome,
    failures: u32,
) -> Disposition {
    let unrecorded = Unrecorded { outcome, failures };
    Disposition::Replace {
        after: unrecorded.retry_delay(),
        message: Message::Deliver {
            v: 1,
            notification_id,
            unrecorded: Some(unrecorded),
        },
    }
}
