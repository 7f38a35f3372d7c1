//! SQS batches for the Lambda consumers, with partial batch failures: one bad message never re-runs its
//! neighbours. Only failed items are reported; the event source mapping must have `ReportBatchItemFailures`.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use notify_core::messages::Message;

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
