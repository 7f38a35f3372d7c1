//! The status queue's consumer: provider receipts (ours, the aggregators' raw ones, SES and End User Messaging
//! events in their SNS envelopes), SES complaints and two-way SMS, applied in batches.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AppState, callbacks};
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_core::retry::{
    Disposition, RECEIPT_RETRY_DELAY, RECEIPT_RETRY_WINDOW, receipt_retry_delay,
};
use notify_core::sns::SnsNotification;
use notify_db::DbError;
use notify_outbound::providers::aws_sms::{self, InboundText};
use notify_outbound::providers::{firetext, ses};

/// [`receipt_retry_delay`] for a status message handed back by [`handle_batch`].
pub fn retry_delay(body: &StatusBody) -> std::time::Duration {
    match interpret(body) {
        StatusEvent::Receipt { at, .. } | StatusEvent::Complaint { at, .. } => {
            receipt_retry_delay(at)
        }
        _ => RECEIPT_RETRY_DELAY,
    }
}

/// A status-queue message body: one of ours, or what SNS delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusBody {
    Task(Message),
    Sns(SnsNotification),
}

impl StatusBody {
    pub fn parse(body: &str) -> Option<StatusBody> {
        serde_json::from_str(body).ok()
    }
}

/// What one status-queue message asks for.
#[derive(Clone, Debug, PartialEq)]
enum StatusEvent {
    Receipt {
        reference: String,
        status: NotificationStatus,
        at: DateTime<Utc>,
    },
    Complaint {
        reference: String,
        feedback_id: Option<String>,
        complaint_type: Option<String>,
        complained_at: DateTime<Utc>,
        recipient: Option<String>,
        at: DateTime<Utc>,
    },
    Inbound(InboundText),
    /// Lines for the callback log, from the callback worker.
    CallbackAttempts(Vec<notify_core::callback_log::CallbackAttempt>),
    Ignored,
}

fn interpret(body: &StatusBody) -> StatusEvent {
    match body {
        StatusBody::Task(Message::Receipt {
            reference,
            status,
            at,
            ..
        }) => StatusEvent::Receipt {
            reference: reference.clone(),
            status: *status,
            at: *at,
        },
        StatusBody::Task(Message::RawReceipt {
            provider, body, at, ..
        }) => {
            let parsed = match provider.as_str() {
                "firetext" => firetext::parse_receipt(body.as_bytes()),
                _ => None,
            };
            match parsed {
                Some((reference, status)) => StatusEvent::Receipt {
                    reference,
                    status,
                    at: *at,
                },
                None => {
                    tracing::warn!(provider, "receipt not understood; dropped");
                    StatusEvent::Ignored
                }
            }
        }
        StatusBody::Task(Message::CallbackAttempts { attempts, .. }) => {
            StatusEvent::CallbackAttempts(attempts.clone())
        }
        StatusBody::Sns(sns) => interpret_sns(sns),
        StatusBody::Task(_) => {
            tracing::warn!("not a status message; dropped");
            StatusEvent::Ignored
        }
    }
}

fn interpret_sns(sns: &SnsNotification) -> StatusEvent {
    let at = sns.timestamp;
    if let Some(event) = ses::parse_event(&sns.message) {
        return match event {
            ses::SesEvent::Status { reference, status } => StatusEvent::Receipt {
                reference,
                status,
                at,
            },
            ses::SesEvent::Complaint {
                reference,
                feedback_id,
                complaint_type,
                complained_at,
                recipient,
            } => StatusEvent::Complaint {
                reference,
                feedback_id,
                complaint_type,
                complained_at: complained_at.unwrap_or(at),
                recipient,
                at,
            },
        };
    }
    if let Some((reference, status)) = aws_sms::parse_event(&sns.message) {
        return StatusEvent::Receipt {
            reference,
            status,
            at,
        };
    }
    if let Some(mut text) = aws_sms::parse_inbound(&sns.message) {
        text.received_at = Some(at);
        return StatusEvent::Inbound(text);
    }
    // SES's Send/Open/Click and the like change nothing.
    tracing::debug!(topic = sns.topic_arn, "SNS event with nothing to apply");
    StatusEvent::Ignored
}

fn still_worth_waiting(reference: &str, at: DateTime<Utc>) -> bool {
    let keep = Utc::now() - at < RECEIPT_RETRY_WINDOW;
    if !keep {
        tracing::warn!(
            reference,
            window_hours = RECEIPT_RETRY_WINDOW.num_hours(),
            "receipt for an unknown reference dropped after its retry window"
        );
    }
    keep
}

/// One disposition per status message, in order: those [`handle_batch`] hands back wait [`retry_delay`]; when
/// the batch could not be applied at all (the database is away), every message does.
pub async fn dispose(state: &AppState, bodies: &[StatusBody]) -> Vec<Disposition> {
    let retry = match handle_batch(state, bodies).await {
        Ok(retry) => retry,
        Err(e) => {
            tracing::error!(error = %e, "receipts not applied; will retry");
            (0..bodies.len()).collect()
        }
    };
    let mut dispositions = vec![Disposition::Done; bodies.len()];
    for i in retry {
        dispositions[i] = Disposition::RetryAfter(retry_delay(&bodies[i]));
    }
    dispositions
}

/// A batch of status messages: receipts in one statement, then complaints and inbound texts. Returns the
/// positions of the messages to try again later: receipts and complaints whose reference is not recorded yet
/// (for up to [`RECEIPT_RETRY_WINDOW`]) and anything that failed on its own.
pub async fn handle_batch(state: &AppState, bodies: &[StatusBody]) -> Result<Vec<usize>, DbError> {
    let events: Vec<StatusEvent> = bodies.iter().map(interpret).collect();
    let receipts: Vec<(String, NotificationStatus)> = events
        .iter()
        .filter_map(|e| match e {
            StatusEvent::Receipt {
                reference, status, ..
            } => Some((reference.clone(), *status)),
            _ => None,
        })
        .collect();
    let mut retry = Vec::new();
    let mut due = Vec::new();
    if !receipts.is_empty() {
        let (applied, unmatched) = state.db.apply_receipts(&receipts).await?;
        tracing::info!(
            applied = applied.len(),
            unmatched = unmatched.len(),
            "receipts applied"
        );
        count_outcomes(&applied);
        for (i, event) in events.iter().enumerate() {
            if let StatusEvent::Receipt { reference, at, .. } = event
                && unmatched.contains(reference)
                && still_worth_waiting(reference, *at)
            {
                retry.push(i);
            }
        }
        due.extend(applied.iter().filter_map(|a| a.outbox_id));
    }
    for (i, event) in events.iter().enumerate() {
        match event {
            StatusEvent::Complaint {
                reference,
                feedback_id,
                complaint_type,
                complained_at,
                recipient,
                at,
            } => {
                let recorded = state
                    .db
                    .record_complaint(
                        reference,
                        feedback_id.as_deref(),
                        complaint_type.as_deref(),
                        *complained_at,
                        recipient
                            .as_deref()
                            .map(|to| state.encryptor.encrypt(to))
                            .as_deref(),
                    )
                    .await;
                match recorded {
                    Ok(Some((notification_id, outbox_id))) => {
                        tracing::info!(%notification_id, "complaint recorded");
                        due.extend(outbox_id);
                    }
                    Ok(None) => {
                        if !state.db.reference_known(reference).await?
                            && still_worth_waiting(reference, *at)
                        {
                            retry.push(i);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "complaint not recorded; will retry");
                        retry.push(i);
                    }
                }
            }
            StatusEvent::Inbound(text) => {
                match crate::inbound::receive(state, aws_sms::NAME, text).await {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "inbound text not stored; will retry");
                        retry.push(i);
                    }
                }
            }
            _ => {}
        }
    }
    record_callback_attempts(state, &events, &mut retry).await;
    if !due.is_empty() {
        // Committed with the statuses already: what the queue refuses now stays in the outbox for the sweeper.
        callbacks::relay_now(state, &due).await;
    }
    retry.sort_unstable();
    Ok(retry)
}

/// Every callback-log line in the batch in one statement; if that fails, their messages come back later (the
/// callbacks themselves were settled by the worker long ago).
async fn record_callback_attempts(
    state: &AppState,
    events: &[StatusEvent],
    retry: &mut Vec<usize>,
) {
    let (mut attempts, mut positions) = (Vec::new(), Vec::new());
    for (i, event) in events.iter().enumerate() {
        if let StatusEvent::CallbackAttempts(lines) = event {
            attempts.extend(lines.iter().cloned());
            positions.push(i);
        }
    }
    if attempts.is_empty() {
        return;
    }
    match state.db.record_callback_attempts(&attempts).await {
        Ok(n) => tracing::debug!(recorded = n, "callback attempts logged"),
        Err(e) => {
            tracing::error!(error = %e, attempts = attempts.len(), "callback attempts not logged; will retry");
            retry.extend(positions);
        }
    }
}

/// Receipts applied, and the notifications they finished, by type (and status for failures).
fn count_outcomes(applied: &[notify_db::AppliedReceipt]) {
    notify_core::metrics::count("ReceiptsApplied", applied.len() as u64, &[]);
    let mut finished: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for receipt in applied {
        if receipt.status == NotificationStatus::Delivered || receipt.status.is_failure() {
            *finished
                .entry((receipt.notification_type.as_str(), receipt.status.as_str()))
                .or_default() += 1;
        }
    }
    for ((kind, status), n) in finished {
        if status == NotificationStatus::Delivered.as_str() {
            notify_core::metrics::count("NotificationsDelivered", n, &[("NotificationType", kind)]);
        } else {
            notify_core::metrics::count(
                "NotificationsFailed",
                n,
                &[("NotificationType", kind), ("Status", status)],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_ours_or_sns() {
        let ours = serde_json::to_string(&Message::Receipt {
            v: 1,
            provider: "simulated".into(),
            reference: "r".into(),
            status: NotificationStatus::Delivered,
            at: Utc::now(),
        })
        .unwrap();
        assert!(matches!(
            StatusBody::parse(&ours),
            Some(StatusBody::Task(Message::Receipt { .. }))
        ));
        let sns = serde_json::to_string(&SnsNotification::wrap(
            &serde_json::json!({"eventType": "Delivery", "mail": {"messageId": "m-1"}}),
            "arn:aws:sns:eu-west-2:123456789012:ses-events",
        ))
        .unwrap();
        let body = StatusBody::parse(&sns).unwrap();
        assert!(matches!(
            interpret(&body),
            StatusEvent::Receipt { reference, status: NotificationStatus::Delivered, .. } if reference == "m-1"
        ));
        assert_eq!(StatusBody::parse("{\"nothing\": 1}"), None);
    }

    use notify_core::retry::RECEIPT_RETRY_DELAY_MAX;

    #[test]
    fn receipts_wait_longer_the_older_they_are() {
        let ago = |seconds| Utc::now() - chrono::Duration::seconds(seconds);
        let secs = |d: std::time::Duration| d.as_secs();
        assert_eq!(secs(receipt_retry_delay(Utc::now())), 5);
        assert_eq!(secs(receipt_retry_delay(ago(400))), 100);
        assert_eq!(secs(receipt_retry_delay(ago(6 * 3600))), 900);
        // A receipt an hour old is still worth waiting for; one older than the window is not.
        assert!(still_worth_waiting("r", ago(3600)));
        assert!(!still_worth_waiting("r", ago(73 * 3600)));
        // Tries over the whole window, as the status queue's maxReceiveCount (400) must allow.
        let (mut age, mut tries) = (std::time::Duration::ZERO, 0);
        while age < RECEIPT_RETRY_WINDOW.to_std().unwrap() {
            age += (age / 4).clamp(RECEIPT_RETRY_DELAY, RECEIPT_RETRY_DELAY_MAX);
            tries += 1;
        }
        assert!((250..400).contains(&tries), "{tries}");
    }
}
