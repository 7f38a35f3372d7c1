//! The SQS Lambda batches: partial batch failures, the retry policy's last attempt, receipts awaiting a reference.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_outbound::providers::{
    Accepted, EmailProvider, ProviderError, Providers, SimulatedProvider, SmsMessage, SmsProvider,
};
use notify_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

struct Down;

#[async_trait]
impl SmsProvider for Down {
    fn name(&self) -> &str {
        "down"
    }
    fn supports_international(&self) -> bool {
        true
    }
    async fn send_sms(&self, _: &SmsMessage) -> Result<Accepted, ProviderError> {
        Err(ProviderError::Retryable("503".into()))
    }
}

fn event(records: &[(&str, Value, u32)]) -> SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body, receives)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": if body.is_string() { body.as_str().unwrap().to_string() } else { body.to_string() },
                "attributes": {"ApproximateReceiveCount": receives.to_string()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:deliver-sms",
                "awsRegion": "eu-west-2"
            })
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

#[tokio::test]
async fn only_failed_items_are_reported_and_the_last_attempt_fails_for_good() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let providers = Providers::new(
        vec![Arc::new(Down) as Arc<dyn SmsProvider>],
        Vec::<Arc<dyn EmailProvider>>::new(),
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    );
    let test_send = app
        .send_sms(&s.test_key, s.sms_template, "07700900123", None)
        .await;
    let retried = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let exhausted = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let deliver = |id: Uuid| serde_json::to_value(Message::deliver(id)).unwrap();
    let batch = event(&[
        ("ok", deliver(test_send), 1),
        ("garbage", json!("not a message"), 1),
        ("retry", deliver(retried), 3),
        (
            "last",
            deliver(exhausted),
            app.state.config.delivery.max_attempts,
        ),
    ]);
    let response = notify_runtime::lambda::deliver_batch(
        &app.state,
        &providers,
        &notify_tests::sqs_client("http://127.0.0.1:1"),
        batch,
    )
    .await;
    assert_eq!(notify_tests::failed_items(&response), ["garbage", "retry"]);
    for (id, expected) in [
        (test_send, NotificationStatus::Sending),
        (retried, NotificationStatus::Created),
        (exhausted, NotificationStatus::TechnicalFailure),
    ] {
        assert_eq!(app.stored(s.service.id, id).await.status, expected);
    }
}

#[tokio::test]
async fn receipts_waiting_for_their_reference_are_redelivered() {
    let app = TestApp::new().await;
    let receipt = Message::Receipt {
        v: 1,
        provider: "simulated".into(),
        reference: "not-yet-recorded".into(),
        status: NotificationStatus::Delivered,
        at: chrono::Utc::now(),
    };
    let batch = event(&[
        ("early", serde_json::to_value(&receipt).unwrap(), 1),
        ("junk", json!("{}"), 1),
    ]);
    let response = notify_runtime::lambda::status_batch(
        &app.state,
        &notify_tests::sqs_client("http://127.0.0.1:1"),
        batch,
    )
    .await;
    assert_eq!(notify_tests::failed_items(&response), ["early", "junk"]);
}

#[tokio::test]
async fn a_send_outcome_the_database_cannot_take_goes_back_on_a_new_message() {
    let app = TestApp::new().await;
    let dead =
        notify_db::Db::connect_short_lived("postgres://postgres@127.0.0.1:1/none", 1, "t").unwrap();
    let mut config = (*app.state.config).clone();
    config.queues.endpoint_url = None;
    let state = notify_app::AppState::new(config, dead, app.queue.clone());
    let providers = Providers::new(
        vec![Arc::new(Down) as Arc<dyn SmsProvider>],
        Vec::<Arc<dyn EmailProvider>>::new(),
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    );
    let (sent_id, plain_id) = (Uuid::new_v4(), Uuid::new_v4());
    let kept = Message::Deliver {
        v: 1,
        notification_id: sent_id,
        unrecorded: Some(notify_core::messages::Unrecorded {
            outcome: notify_core::delivery::SendOutcome::Sent(notify_core::delivery::SentRecord {
                provider: "mmg".into(),
                reference: "ref-kept".into(),
                billable_units: 1,
                status: NotificationStatus::Sending,
                sent_at: chrono::Utc::now(),
            }),
            failures: 0,
        }),
    };
    let batch = event(&[
        ("kept", serde_json::to_value(&kept).unwrap(), 1),
        (
            "plain",
            serde_json::to_value(Message::deliver(plain_id)).unwrap(),
            1,
        ),
    ]);
    let response = notify_runtime::lambda::deliver_batch(
        &state,
        &providers,
        &notify_tests::sqs_client("http://127.0.0.1:1"),
        batch,
    )
    .await;
    // The kept outcome is done with as a message: a new one carries it, so receives never pile up.
    assert_eq!(notify_tests::failed_items(&response), ["plain"]);
    let replaced = app
        .queue
        .take_all("https://sqs.eu-west-2.amazonaws.com/123456789012/deliver-sms");
    let [
        Message::Deliver {
            notification_id,
            unrecorded: Some(unrecorded),
            ..
        },
    ] = replaced.as_slice()
    else {
        panic!("{replaced:?}");
    };
    assert_eq!(*notification_id, sent_id);
    assert_eq!(unrecorded.failures, 1);
    assert!(
        matches!(&unrecorded.outcome, notify_core::delivery::SendOutcome::Sent(s) if s.reference == "ref-kept")
    );
}
