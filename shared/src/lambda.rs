//! SQS batches for the Lambda consumers, with partial batch failures: one bad message never re-runs its
//! neighbours. Only failed items are reported; the event source mapping must have `ReportBatchItemFailures`.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::AppState;
use crate::delivery::Providers;
use crate::queue::Message;
use crate::workers;

/// Notify's policy: 48 attempts, 5 minutes apart, then `technical-failure`.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 48;
pub const DELIVERY_RETRY_DELAY: Duration = Duration::from_secs(300);

/// `arn:aws:sqs:eu-west-2:123456789012:deliver-sms` → its queue URL.
pub fn queue_url_from_arn(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sqs", region, account, name] => {
            let domain = if *partition == "aws-cn" {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            Some(format!("https://sqs.{region}.{domain}/{account}/{name}"))
        }
        _ => None,
    }
}

fn parse(record: &SqsMessage) -> Option<Message> {
    let body = record.body.as_deref()?;
    serde_json::from_str(body)
        .map_err(|e| tracing::error!(message_id = record.message_id.as_deref(), error = %e, "unreadable message"))
        .ok()
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Puts a message back after `delay` by changing its visibility; best effort, since SQS returns it anyway once
/// the queue's own visibility timeout passes.
async fn come_back_after(sqs: &aws_sdk_sqs::Client, record: &SqsMessage, delay: Duration) {
    let (Some(arn), Some(handle)) = (
        record.event_source_arn.as_deref(),
        record.receipt_handle.as_deref(),
    ) else {
        return;
    };
    let Some(url) = queue_url_from_arn(arn) else {
        return;
    };
    let result = sqs
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(handle)
        .visibility_timeout(delay.as_secs().min(43_200) as i32)
        .send()
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "visibility not changed");
    }
}

/// Delivery messages, concurrently: a slow provider call for one delays nobody else in the batch.
pub async fn deliver_batch(
    state: &AppState,
    providers: &Providers,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
    retry_delay: Duration,
) -> SqsBatchResponse {
    let results = futures::future::join_all(event.records.iter().map(|record| async move {
        let Some(message) = parse(record) else {
            return false;
        };
        let final_attempt = receive_count(record) >= MAX_DELIVERY_ATTEMPTS;
        match workers::handle_delivery(state, providers, &message, retry_delay, final_attempt).await
        {
            Ok(None) => true,
            Ok(Some(delay)) => {
                come_back_after(sqs, record, delay).await;
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery failed; SQS will redeliver");
                false
            }
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, ok) in event.records.iter().zip(results) {
        if !ok {
            response.add_failure(record.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// Receipts, all applied in one statement; those waiting for their reference are reported for redelivery.
pub async fn status_batch(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    let parsed: Vec<(String, Option<Message>)> = event
        .records
        .iter()
        .map(|r| (r.message_id.clone().unwrap_or_default(), parse(r)))
        .collect();
    let messages: Vec<Message> = parsed.iter().filter_map(|(_, m)| m.clone()).collect();
    let mut response = SqsBatchResponse::default();
    match workers::handle_receipts(state, &messages).await {
        Ok(retry) => {
            for (id, message) in &parsed {
                match message {
                    Some(m) if retry.contains(m) => response.add_failure(id.clone()),
                    None => response.add_failure(id.clone()),
                    _ => {}
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "receipts not applied; SQS will redeliver the batch");
            response.set_failures(parsed.iter().map(|(id, _)| id.clone()));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_from_arns() {
        assert_eq!(
            queue_url_from_arn("arn:aws:sqs:eu-west-2:123456789012:deliver-sms").as_deref(),
            Some("https://sqs.eu-west-2.amazonaws.com/123456789012/deliver-sms")
        );
        assert_eq!(queue_url_from_arn("not an arn"), None);
    }
}
