//! The committed SQS event (also what `cargo lambda invoke jobs --data-file
//! functions/jobs/tests/events/sqs-process-job.json` sends) is one the function reads: an `SqsEvent` whose
//! record body is a `ProcessJob` message as the API and the scheduler queue it.

use aws_lambda_events::event::sqs::SqsEvent;
use notify_core::messages::Message;

#[test]
fn the_fixture_is_a_process_job_message_in_an_sqs_event() {
    let event: SqsEvent =
        serde_json::from_str(include_str!("events/sqs-process-job.json")).expect("an SQS event");
    assert_eq!(event.records.len(), 1);
    let body = event.records[0].body.as_deref().expect("a body");
    let message: Message = serde_json::from_str(body).expect("a queue message");
    assert!(matches!(message, Message::ProcessJob { v: 1, .. }));
}
