//! The Lambda SQS consumers that reach the database: delivery and status batches, with partial batch failures.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use notify_app::AppState;
use notify_app::status::StatusBody;
use notify_app::workers;
use notify_outbound::providers::Providers;
use notify_queue::lambda::{come_back_after, failures, parse, queue_url_from_arn, receive_count};

/// Delivery messages as one batch: claimed together, sent concurrently (a slow provider call for one delays
/// nobody else's send), recorded together.
pub async fn deliver_batch(
    state: &AppState,
    providers: &Providers,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let retry_delay = state.config.delivery.retry_delay;
    let max = state.config.delivery.max_attempts;
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
    let endpoint = state.config.queues.endpoint_url.as_deref();
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
    match notify_app::status::handle_batch(state, &bodies).await {
        Ok(retry) => {
            for b in retry {
                let i = positions[b];
                failed[i] = true;
                // Sooner than the queue's visibility timeout: the reference is usually recorded within seconds.
                let endpoint = state.config.queues.endpoint_url.as_deref();
                let delay = notify_app::status::retry_delay(&bodies[b]);
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
