//! SQS batches for the Lambda consumers, with partial batch failures: one bad message never re-runs its
//! neighbours. Only failed items are reported; the event source mapping must have `ReportBatchItemFailures`.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::AppState;
use crate::callbacks::CallbackSender;
use crate::config::Config;
use crate::delivery::Providers;
use crate::queue::Message;
use crate::status::StatusBody;
use crate::workers;

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
async fn come_back_after(
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

/// Delivery messages as one batch: claimed together, sent concurrently (a slow provider call for one delays
/// nobody else's send), recorded together.
pub async fn deliver_batch(
    state: &AppState,
    providers: &Providers,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let retry_delay = state.config.delivery_retry_delay;
    let max = state.config.delivery_max_attempts;
    let mut failed = vec![false; event.records.len()];
    let mut messages = Vec::new();
    let mut positions = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        match parse(record) {
            Some(message) => {
                let number = receive_count(record);
                messages.push((message, workers::Attempt { number, max }));
                positions.push(i);
            }
            None => failed[i] = true,
        }
    }
    let endpoint = state.config.sqs_endpoint_url.as_deref();
    let again = workers::handle_deliveries(state, providers, &messages, retry_delay).await;
    for (b, again) in again.into_iter().enumerate() {
        let i = positions[b];
        let record = &event.records[i];
        match again {
            Some(workers::Again::After(delay)) => {
                failed[i] = true;
                come_back_after(sqs, endpoint, record, delay).await;
            }
            Some(workers::Again::Instead(replacement, delay)) => {
                let queue = record
                    .event_source_arn
                    .as_deref()
                    .and_then(|arn| queue_url_from_arn(arn, endpoint));
                let sent = match queue {
                    Some(url) => state
                        .queue
                        .send_delayed(&url, workers::UNRECORDED_GROUP, &replacement, delay)
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err("no queue for the record".into()),
                };
                if let Err(e) = sent {
                    // Only if SQS refuses too: the message comes back without the outcome (see README).
                    tracing::error!(error = %e, "replacement delivery message not sent; SQS will redeliver");
                    failed[i] = true;
                    come_back_after(sqs, endpoint, record, delay).await;
                }
            }
            None => {}
        }
    }
    failures(&event, failed)
}

fn failures(event: &SqsEvent, failed: Vec<bool>) -> SqsBatchResponse {
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

/// Callback messages, concurrently: one hanging receiver delays nobody else in the batch. No database here.
pub async fn callback_batch(
    sender: &CallbackSender,
    queue: &dyn crate::queue::Queue,
    config: &Config,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let endpoint = config.sqs_endpoint_url.as_deref();
    let failed = futures::future::join_all(event.records.iter().map(|record| async move {
        let Some(Message::Callback(callback)) = parse(record) else {
            tracing::error!(
                message_id = record.message_id.as_deref(),
                "not a callback message"
            );
            return true;
        };
        match workers::handle_callback(sender, queue, config, &callback, receive_count(record))
            .await
        {
            None => false,
            Some(delay) => {
                come_back_after(sqs, endpoint, record, delay).await;
                true
            }
        }
    }))
    .await;
    failures(&event, failed)
}

/// Status messages, receipts applied in one statement; those waiting for their reference, and any that failed
/// on their own, are reported for redelivery. An unreadable body is reported too, so it ends in the DLQ.
pub async fn status_batch(
    state: &AppState,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut failed = vec![false; event.records.len()];
    let mut bodies = Vec::new();
    let mut positions = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        match record.body.as_deref().and_then(StatusBody::parse) {
            Some(body) => {
                bodies.push(body);
                positions.push(i);
            }
            None => {
                tracing::error!(
                    message_id = record.message_id.as_deref(),
                    "unreadable status message"
                );
                failed[i] = true;
            }
        }
    }
    match crate::status::handle_batch(state, &bodies).await {
        Ok(retry) => {
            for b in retry {
                let i = positions[b];
                failed[i] = true;
                // Sooner than the queue's visibility timeout: the reference is usually recorded within seconds.
                let endpoint = state.config.sqs_endpoint_url.as_deref();
                let delay = crate::status::retry_delay(&bodies[b]);
                come_back_after(sqs, endpoint, &event.records[i], delay).await;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "receipts not applied; SQS will redeliver the batch");
            failed.iter_mut().for_each(|f| *f = true);
        }
    }
    failures(&event, failed)
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
