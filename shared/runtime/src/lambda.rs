//! The Lambda SQS consumers that reach the database: delivery and status batches. Each handler gives one
//! disposition per record; [`settle`] carries them out with partial batch failures.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use notify_app::AppState;
use notify_app::letters::{self, LetterTools};
use notify_app::status::{self, StatusBody};
use notify_app::workers::{self, Attempt};
use notify_core::messages::Message;
use notify_core::retry::Disposition;
use notify_outbound::providers::Providers;
use notify_queue::lambda::{parse, receive_count, settle};

/// The batch's readable messages with their receive counts, and where each stands in the batch.
fn readable_messages(state: &AppState, event: &SqsEvent) -> (Vec<(Message, Attempt)>, Vec<usize>) {
    let max = state.config.delivery.max_attempts;
    let mut messages = Vec::new();
    let mut positions = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        if let Some(message) = parse(record) {
            let number = receive_count(record);
            messages.push((message, Attempt { number, max }));
            positions.push(i);
        }
    }
    (messages, positions)
}

/// Each handled message's disposition in its place; an unreadable record is left for the DLQ.
async fn settle_handled(
    state: &AppState,
    sqs: &aws_sdk_sqs::Client,
    event: &SqsEvent,
    positions: Vec<usize>,
    handled: Vec<Disposition>,
) -> SqsBatchResponse {
    let mut dispositions = vec![Disposition::DeadLetter; event.records.len()];
    for (i, disposition) in positions.into_iter().zip(handled) {
        dispositions[i] = disposition;
    }
    let endpoint = state.config.queues.endpoint_url.as_deref();
    settle(sqs, state.queue.as_ref(), endpoint, event, dispositions).await
}

/// Delivery messages as one batch: claimed together, sent concurrently (a slow provider call for one delays
/// nobody else's send), recorded together. An unreadable record is left for the DLQ.
pub async fn deliver_batch(
    state: &AppState,
    providers: &Providers,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let (messages, positions) = readable_messages(state, &event);
    let handled = workers::handle_deliveries(
        state,
        providers,
        &messages,
        state.config.delivery.retry_delay,
    )
    .await;
    settle_handled(state, sqs, &event, positions, handled).await
}

/// Letter messages from the deliver-letter queue: renders and print jobs, each with its receive count (the
/// letters' retry windows count them). An unreadable record is left for the DLQ.
pub async fn letters_batch(
    state: &AppState,
    tools: &LetterTools,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let (messages, positions) = readable_messages(state, &event);
    let handled = letters::handle_letters(state, tools, &messages).await;
    settle_handled(state, sqs, &event, positions, handled).await
}

/// Status messages, receipts applied in one statement; those waiting for their reference, and any that failed
/// on their own, come back later. An unreadable body is left for the DLQ.
pub async fn status_batch(
    state: &AppState,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut dispositions = vec![Disposition::DeadLetter; event.records.len()];
    let mut bodies = Vec::new();
    let mut positions = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        match record.body.as_deref().and_then(StatusBody::parse) {
            Some(body) => {
                bodies.push(body);
                positions.push(i);
            }
            None => tracing::error!(
                message_id = record.message_id.as_deref(),
                "unreadable status message"
            ),
        }
    }
    for (i, disposition) in positions
        .into_iter()
        .zip(status::dispose(state, &bodies).await)
    {
        dispositions[i] = disposition;
    }
    let endpoint = state.config.queues.endpoint_url.as_deref();
    settle(sqs, state.queue.as_ref(), endpoint, &event, dispositions).await
}
