//! The Lambda SQS consumers that reach the database: delivery and status batches. Each handler gives one
//! disposition per record; [`settle`] carries them out with partial batch failures.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use notify_app::AppState;
use notify_app::letters::{self, LetterTools};
use notify_app::status::{self, StatusBody};
use notify_app::workers::{self, Attempt};
use notify_core::letters::{guardduty, notification_of_upload_key};
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

/// Each handled message's disposition in its place, the `dropped` records done; any other (unreadable) record is
/// left for the DLQ.
async fn settle_handled(
    state: &AppState,
    sqs: &aws_sdk_sqs::Client,
    event: &SqsEvent,
    positions: Vec<usize>,
    handled: Vec<Disposition>,
    dropped: &[usize],
) -> SqsBatchResponse {
    let mut dispositions = vec![Disposition::DeadLetter; event.records.len()];
    for &i in dropped {
        dispositions[i] = Disposition::Done;
    }
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
    settle_handled(state, sqs, &event, positions, handled, &[]).await
}

/// The deliver-letter queue's batch read: its messages with their receive counts and places, and the places of
/// the records dropped for good.
struct LetterBatch {
    messages: Vec<(Message, Attempt)>,
    positions: Vec<usize>,
    dropped: Vec<usize>,
}

/// What one deliver-letter record holds: a message of Notify's own, or GuardDuty's "Object Scan Result" event
/// (the EventBridge rule puts it on this queue as it is), made into the `ScanResult` message for the letter its
/// key names.
enum LetterRecord {
    Message(Message),
    /// An event for an object that is no precompiled upload of this stack's: no retry would change that.
    Dropped,
    Unreadable,
}

fn letter_record(record: &SqsMessage, scan_bucket: Option<&str>) -> LetterRecord {
    let message_id = record.message_id.as_deref();
    let Some(scan) = record.body.as_deref().and_then(guardduty::parse) else {
        return parse(record).map_or(LetterRecord::Unreadable, LetterRecord::Message);
    };
    if scan_bucket.is_some_and(|bucket| bucket != scan.bucket) {
        tracing::warn!(
            message_id,
            bucket = %scan.bucket,
            key = %scan.key,
            "GuardDuty scan result for another bucket than LETTERS_SCAN_BUCKET: dropped"
        );
        return LetterRecord::Dropped;
    }
    match notification_of_upload_key(&scan.key) {
        Some(notification_id) => {
            tracing::info!(
                message_id,
                %notification_id,
                result = scan.status.as_str(),
                threats = ?scan.threats,
                "GuardDuty scan result"
            );
            LetterRecord::Message(Message::ScanResult {
                v: 1,
                notification_id,
                result: scan.status,
            })
        }
        None => {
            tracing::warn!(
                message_id,
                bucket = %scan.bucket,
                key = %scan.key,
                result = scan.status.as_str(),
                "GuardDuty scan result for an object that is not a precompiled letter: dropped"
            );
            LetterRecord::Dropped
        }
    }
}

fn letter_messages(event: &SqsEvent, max: u32, scan_bucket: Option<&str>) -> LetterBatch {
    let mut batch = LetterBatch {
        messages: Vec::new(),
        positions: Vec::new(),
        dropped: Vec::new(),
    };
    for (i, record) in event.records.iter().enumerate() {
        match letter_record(record, scan_bucket) {
            LetterRecord::Message(message) => {
                let number = receive_count(record);
                batch.messages.push((message, Attempt { number, max }));
                batch.positions.push(i);
            }
            LetterRecord::Dropped => batch.dropped.push(i),
            LetterRecord::Unreadable => {}
        }
    }
    batch
}

/// Letter messages from the deliver-letter queue: renders, print jobs and precompiled letters' scans, each with
/// its receive count (the letters' retry windows count them), and GuardDuty's scan results as `ScanResult`
/// messages. An unreadable record is left for the DLQ.
pub async fn letters_batch(
    state: &AppState,
    tools: &LetterTools,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let LetterBatch {
        messages,
        positions,
        dropped,
    } = letter_messages(
        &event,
        state.config.delivery.max_attempts,
        state.config.files.letters_scan_bucket.as_deref(),
    );
    let handled = letters::handle_letters(state, tools, &messages).await;
    settle_handled(state, sqs, &event, positions, handled, &dropped).await
}

// issue 14: process
/// The jobs queue (batch size 1): each `ProcessJob` run until done or `budget` (the invocation's time left less
/// a margin), when the run hands the job back and queues a message for the rest. An unreadable record is left
/// for the DLQ.
pub async fn jobs_batch(
    state: &AppState,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
    budget: std::time::Duration,
) -> SqsBatchResponse {
    let (messages, positions) = readable_messages(state, &event);
    let handled = notify_app::bulk::process::handle_jobs(state, &messages, budget).await;
    settle_handled(state, sqs, &event, positions, handled, &[]).await
}
// end issue 14: process

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

#[cfg(test)]
mod tests {
    use notify_core::letters::guardduty::ScanStatus;
    use notify_core::letters::precompiled_upload_key;
    use uuid::Uuid;

    use super::*;

    /// AWS's example events (notify-core's fixtures), as EventBridge puts them on the queue.
    const THREATS_FOUND: &str =
        include_str!("../../core/tests/fixtures/guardduty/threats-found.json");
    const NO_THREATS_FOUND: &str =
        include_str!("../../core/tests/fixtures/guardduty/no-threats-found.json");
    const EXAMPLE_KEY: &str = "APKAEIBAERJR2EXAMPLE";
    const EXAMPLE_BUCKET: &str = "amzn-s3-demo-bucket";

    fn record(body: &str, receive_count: u32) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(Uuid::new_v4().to_string());
        record.body = Some(body.to_string());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        record
    }

    fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records;
        event
    }

    #[test]
    fn a_scan_result_for_an_upload_becomes_its_letters_scan_result_message() {
        let (infected, clean, letter) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let event = sqs_event(vec![
            record(
                &THREATS_FOUND.replace(EXAMPLE_KEY, &precompiled_upload_key(infected)),
                1,
            ),
            record(
                &format!(r#"{{"type":"scan_letter","v":1,"notification_id":"{letter}"}}"#),
                3,
            ),
            record(
                &NO_THREATS_FOUND.replace(EXAMPLE_KEY, &precompiled_upload_key(clean)),
                2,
            ),
        ]);
        let batch = letter_messages(&event, 5, Some(EXAMPLE_BUCKET));
        let messages: Vec<(Message, u32)> = batch
            .messages
            .into_iter()
            .map(|(m, a)| (m, a.number))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    Message::ScanResult {
                        v: 1,
                        notification_id: infected,
                        result: ScanStatus::ThreatsFound
                    },
                    1
                ),
                (
                    Message::ScanLetter {
                        v: 1,
                        notification_id: letter
                    },
                    3
                ),
                (
                    Message::ScanResult {
                        v: 1,
                        notification_id: clean,
                        result: ScanStatus::NoThreatsFound
                    },
                    2
                ),
            ]
        );
        assert_eq!(batch.positions, [0, 1, 2]);
        assert!(batch.dropped.is_empty());
    }

    #[test]
    fn an_event_for_another_object_is_dropped_and_garbage_left_for_the_dlq() {
        let upload = precompiled_upload_key(Uuid::new_v4());
        let event = sqs_event(vec![
            // AWS's example key: no precompiled upload.
            record(THREATS_FOUND, 1),
            record(&THREATS_FOUND.replace(EXAMPLE_KEY, "letter-logos/x.svg"), 1),
            // An upload, but in a bucket this stack does not scan.
            record(
                &THREATS_FOUND
                    .replace(EXAMPLE_KEY, &upload)
                    .replace(EXAMPLE_BUCKET, "someone-elses-bucket"),
                1,
            ),
            record("not a message", 1),
        ]);
        let batch = letter_messages(&event, 5, Some(EXAMPLE_BUCKET));
        assert!(batch.messages.is_empty());
        assert_eq!(batch.dropped, [0, 1, 2]);

        // With no scan bucket configured (a local stack) the key alone decides.
        let event = sqs_event(vec![record(
            &NO_THREATS_FOUND
                .replace(EXAMPLE_KEY, &upload)
                .replace(EXAMPLE_BUCKET, "any-bucket"),
            1,
        )]);
        let batch = letter_messages(&event, 5, None);
        assert_eq!(batch.messages.len(), 1);
        assert_eq!(batch.positions, [0]);
    }
}
