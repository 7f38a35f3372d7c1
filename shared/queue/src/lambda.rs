//! SQS batches for the Lambda consumers, with partial batch failures: one bad message never re-runs its
//! neighbours. Only failed items are reported; the event source mapping must have `ReportBatchItemFailures`.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use notify_core::messages::Message;
use notify_core::retry::Disposition;

use crate::Queue;

/// `arn:aws:sqs:eu-west-2:123456789012:deliver-sms` → its queue URL; under `endpoint` (moto) when given.
pub fn queue_url_from_arn(arn: &str, endpoint: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, account, name] if endpoint.is_some() => Some(format!(
            "{}/{account}/{name}",
            endpoint.unwrap_or_default().trim_end_matches('/')
        )),
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

pub fn parse(record: &SqsMessage) -> Option<Message> {
    let body = record.body.as_deref()?;
    serde_json::from_str(body)
        .map_err(|e| tracing::error!(message_id = record.message_id.as_deref(), error = %e, "unreadable message"))
        .ok()
}

pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Puts a message back after `delay` by changing its visibility; best effort, since SQS returns it anyway once
/// the queue's own visibility timeout passes.
pub async fn come_back_after(
    sqs: &aws_sdk_sqs::Client,
    endpoint: Option<&str>,
    record: &SqsMessage,
    delay: Duration,
) {
    let (Some(arn), Some(handle)) = (
        record.event_source_arn.as_deref(),
        record.receipt_handle.as_deref(),
    ) else {
        return;
    };
    let Some(url) = queue_url_from_arn(arn, endpoint) else {
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

pub fn failures(event: &SqsEvent, failed: Vec<bool>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.set_failures(
        event
            .records
            .iter()
            .zip(failed)
            .filter(|(_, f)| *f)
            .map(|(r, _)| r.message_id.clone().unwrap_or_default()),
    );
    response
}

/// The group a replacement message is sent under (the original's is not in the event).
pub const REPLACEMENT_GROUP: &str = "unrecorded";

/// Carries out each record's disposition (`dispositions[i]` is record `i`'s) and answers the records SQS should
/// redeliver: a retry is the record itself, reported failed with its visibility set to the delay; a replacement
/// is sent to the record's own queue, and only if that fails is the record kept instead.
pub async fn settle(
    sqs: &aws_sdk_sqs::Client,
    queue: &dyn Queue,
    endpoint: Option<&str>,
    event: &SqsEvent,
    dispositions: Vec<Disposition>,
) -> SqsBatchResponse {
    let failed = futures::future::join_all(event.records.iter().zip(dispositions).map(
        |(record, disposition)| async move {
            match disposition {
                Disposition::Done => false,
                Disposition::DeadLetter => true,
                Disposition::RetryAfter(delay) => {
                    come_back_after(sqs, endpoint, record, delay).await;
                    true
                }
                Disposition::Replace { message, after } => {
                    let url = record
                        .event_source_arn
                        .as_deref()
                        .and_then(|arn| queue_url_from_arn(arn, endpoint));
                    let sent = match url {
                        Some(url) => queue
                            .send_delayed(&url, REPLACEMENT_GROUP, &message, after)
                            .await
                            .map_err(|e| e.to_string()),
                        None => Err("no queue for the record".into()),
                    };
                    match sent {
                        Ok(()) => false,
                        Err(e) => {
                            // Only if SQS refuses too: the message comes back without what the replacement carried.
                            tracing::error!(error = %e, "replacement message not sent; SQS will redeliver");
                            come_back_after(sqs, endpoint, record, after).await;
                            true
                        }
                    }
                }
            }
        },
    ))
    .await;
    failures(event, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_from_arns() {
        assert_eq!(
            queue_url_from_arn("arn:aws:sqs:eu-west-2:123456789012:deliver-sms", None).as_deref(),
            Some("https://sqs.eu-west-2.amazonaws.com/123456789012/deliver-sms")
        );
        assert_eq!(
            queue_url_from_arn(
                "arn:aws:sqs:us-east-1:123456789012:deliver-sms",
                Some("http://127.0.0.1:5000/")
            )
            .as_deref(),
            Some("http://127.0.0.1:5000/123456789012/deliver-sms")
        );
        assert_eq!(queue_url_from_arn("not an arn", None), None);
    }
}
