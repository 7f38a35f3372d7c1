//! The whole pipeline on real queue messages: API → SQS (moto) → the Lambda delivery handler (fed by the same
//! pollers `notify dev` uses) → real SDK clients (SES v2 on moto, End User Messaging SMS on a fake that speaks its
//! JSON protocol) → events in SNS envelopes on the status queue → the status handler → `GET /v2/notifications`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use notify_core::messages::Message;
use notify_core::sns::SnsNotification;
use notify_outbound::providers::aws_sms::AwsSmsProvider;
use notify_outbound::providers::ses::SesProvider;
use notify_outbound::providers::{EmailProvider, Providers, SimulatedProvider, SmsProvider};
use notify_queue::{Queue, SqsQueue};
use notify_runtime::pollers::PollerSettings;
use notify_tests::{TestApp, moto_url};
use serde_json::{Value, json};
use uuid::Uuid;

const WORKER_APP_NAME: &str = "notify-e2e-worker";

/// This test's own queues on moto.
#[derive(Clone)]
struct Queues {
    deliver_sms: String,
    deliver_email: String,
    status: String,
    callbacks: String,
}

async fn create_queues(sqs: &aws_sdk_sqs::Client) -> Queues {
    let suffix = Uuid::new_v4().simple().to_string();
    let name = |base: &str| format!("{base}-{suffix}");
    let queues = Queues {
        deliver_sms: name("deliver-sms"),
        deliver_email: name("deliver-email"),
        status: name("status"),
        callbacks: name("callbacks"),
    };
    for q in [
        &queues.deliver_sms,
        &queues.deliver_email,
        &queues.status,
        &queues.callbacks,
    ] {
        // A short visibility timeout: a receipt waiting for its reference comes back in seconds, not 30.
        sqs.create_queue()
            .queue_name(q)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "2",
            )
            .send()
            .await
            .expect("moto must be running (the test command starts it)");
    }
    queues
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// What SNS would put on the status queue for a provider's event.
async fn publish_event(sqs: &aws_sdk_sqs::Client, status_queue: &str, event: Value) {
    let body = serde_json::to_string(&SnsNotification::wrap(
        &event,
        "arn:aws:sns:eu-west-2:123456789012:provider-events",
    ))
    .unwrap();
    sqs.send_message()
        .queue_url(queue_url(sqs, status_queue).await)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// End User Messaging SMS, as far as `SendTextMessage` goes: answers in its JSON protocol, counts calls and the
/// worker's open database connections during each, and then (as SNS would) puts a delivery event on the status
/// queue.
pub(crate) struct FakeAwsSms {
    pub(crate) calls: AtomicUsize,
    connections_seen: std::sync::Mutex<Vec<i64>>,
    requests: std::sync::Mutex<Vec<Value>>,
    failing: AtomicBool,
    observer: tokio_postgres::Client,
    sqs: aws_sdk_sqs::Client,
    status_queue: String,
}

async fn fake_send_text_message(
    State(fake): State<Arc<FakeAwsSms>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    assert_eq!(
        headers.get("x-amz-target").and_then(|v| v.to_str().ok()),
        Some("PinpointSMSVoiceV2.SendTextMessage")
    );
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let open = notify_tests::connections_held(&fake.observer, WORKER_APP_NAME).await;
    fake.connections_seen.lock().unwrap().push(open);
    fake.requests
        .lock()
        .unwrap()
        .push(serde_json::from_str(&body).unwrap());
    if fake.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/x-amz-json-1.0")],
            json!({"__type": "InternalServerException", "Message": "down"}).to_string(),
        )
            .into_response();
    }
    let message_id = Uuid::new_v4().to_string();
    let event = json!({"eventType": "TEXT_DELIVERED", "eventVersion": "1.0", "messageId": message_id,
        "messageStatus": "DELIVERED", "isFinal": true});
    let (sqs, status_queue) = (fake.sqs.clone(), fake.status_queue.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        publish_event(&sqs, &status_queue, event).await;
    });
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        json!({"MessageId": message_id}).to_string(),
    )
        .into_response()
}

/// Firetext's send endpoint, always accepting.
async fn fake_firetext() -> impl IntoResponse {
    axum::Json(json!({"code": 0, "description": "SMS successfully queued"}))
}

pub(crate) struct Pipeline {
    pub(crate) app: TestApp,
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    pub(crate) aws_sms: Arc<FakeAwsSms>,
    observer: tokio_postgres::Client,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.workers.iter().for_each(|w| w.abort());
    }
}

async fn observer(database_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn pipeline() -> Pipeline {
    pipeline_with(|_| {}).await
}

pub(crate) async fn pipeline_with(change: impl FnOnce(&mut notify_config::Config)) -> Pipeline {
    let moto = moto_url();
    let sqs = notify_tests::sqs_client(&moto);
    let queues = create_queues(&sqs).await;
    let q = queues.clone();
    let mut app = TestApp::with_config(|c| {
        c.queues.deliver_sms = q.deliver_sms;
        c.queues.deliver_email = q.deliver_email;
        c.queues.status = q.status;
        c.queues.callbacks = q.callbacks;
        c.queues.endpoint_url = Some(moto.clone());
        c.providers.simulate = false;
        change(c);
    })
    .await;
    let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone()));
    app.use_queue(queue.clone());
    // Weight on End User Messaging, Firetext second: the order failover will follow.
    let admin = observer(&app.database_url).await;
    admin
        .batch_execute(
            "UPDATE provider_details SET priority = 100 WHERE identifier = 'aws-sms'; \
             UPDATE provider_details SET priority = 0 WHERE identifier = 'firetext';",
        )
        .await
        .unwrap();

    let aws_sms = Arc::new(FakeAwsSms {
        calls: AtomicUsize::new(0),
        connections_seen: Default::default(),
        requests: Default::default(),
        failing: AtomicBool::new(false),
        observer: observer(&app.database_url).await,
        sqs: sqs.clone(),
        status_queue: queues.status.clone(),
    });
    let fake = axum::Router::new()
        .route("/", axum::routing::post(fake_send_text_message))
        .route("/api/sendsms/json", axum::routing::post(fake_firetext))
        .with_state(aws_sms.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await.unwrap() });

    let ses = notify_tests::ses_client(&moto);
    ses.create_email_identity()
        .email_identity(&app.state.config.api.notify_email_domain)
        .send()
        .await
        .expect("moto SES v2");
    let providers = Providers::new(
        vec![
            Arc::new(AwsSmsProvider::new(
                notify_tests::aws_sms_client(&fake_url),
                None,
                None,
            )) as Arc<dyn SmsProvider>,
            Arc::new(notify_outbound::providers::firetext::FiretextProvider::new(
                format!("{fake_url}/api/sendsms/json"),
                "firetext-key",
            )),
        ],
        vec![
            Arc::new(SesProvider::new(ses, Some("notify-events".into()))) as Arc<dyn EmailProvider>,
        ],
        Arc::new(SimulatedProvider::new(queue.clone(), queues.status.clone())),
    );
    let worker_db =
        notify_db::Db::connect_short_lived(&app.database_url, 8, WORKER_APP_NAME).unwrap();
    let worker_state =
        notify_app::AppState::new((*app.state.config).clone(), worker_db, queue.clone());
    let workers = notify_runtime::pollers::spawn(
        worker_state,
        providers,
        sqs.clone(),
        PollerSettings {
            deliver_queues: vec![queues.deliver_sms.clone(), queues.deliver_email.clone()],
            status_queue: queues.status.clone(),
            delivery_pollers: 2,
        },
    )
    .await
    .unwrap();
    Pipeline {
        observer: admin,
        app,
        sqs,
        queues,
        aws_sms,
        workers,
    }
}

impl Pipeline {
    pub(crate) async fn wait_for_status(&self, key: &str, id: Uuid, expected: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let n = self
                .app
                .call("GET", &format!("/v2/notifications/{id}"), key, None)
                .await
                .json();
            if n["status"] == expected {
                return n;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} stuck at {} waiting for {expected}",
                n["status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn reference(&self, id: Uuid) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let row = self
                .observer
                .query_one("SELECT reference FROM notifications WHERE id = $1", &[&id])
                .await
                .unwrap();
            if let Some(reference) = row.get::<_, Option<String>>(0) {
                return reference;
            }
            assert!(tokio::time::Instant::now() < deadline, "{id} never sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sent_by(&self, id: Uuid) -> Option<String> {
        self.observer
            .query_one("SELECT sent_by FROM notifications WHERE id = $1", &[&id])
            .await
            .unwrap()
            .get(0)
    }

    pub(crate) async fn send(&self, key: &str, path: &str, body: Value) -> Uuid {
        let r = self.app.call("POST", path, key, Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.json());
        r.json()["id"].as_str().unwrap().parse().unwrap()
    }

    /// Every callback message on the callbacks queue, taken off it.
    async fn callbacks(&self, expected: usize) -> Vec<notify_core::callbacks::Callback> {
        let url = queue_url(&self.sqs, &self.queues.callbacks).await;
        let mut found = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while found.len() < expected && tokio::time::Instant::now() < deadline {
            let answer = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in answer.messages.unwrap_or_default() {
                match serde_json::from_str(m.body.as_deref().unwrap()).unwrap() {
                    Message::Callback(callback) => found.push(callback),
                    other => panic!("not a callback: {other:?}"),
                }
                self.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        found
    }
}

#[tokio::test]
async fn sms_and_email_reach_their_final_status_through_real_queues_and_sdks() {
    let p = pipeline().await;
    let s = p.app.service(false).await;
    let sid = s.service.id;
    for callback_type in ["delivery_status", "complaint"] {
        let r = p.app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": "https://callbacks.example.gov.uk/notify", "bearer_token": "a-long-enough-token", "callback_type": callback_type}))).await;
        assert_eq!(r.status, 201, "{}", r.json());
    }

    // SMS: End User Messaging (fake) → TEXT_DELIVERED in its SNS envelope → delivered.
    let sms = p
        .send(&s.live_key, "/v2/notifications/sms", json!({"phone_number": "07700 900123", "template_id": s.sms_template, "personalisation": {"name": "Ada"}, "reference": "my-ref"}))
        .await;
    let n = p.wait_for_status(&s.live_key, sms, "delivered").await;
    assert_eq!(p.aws_sms.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *p.aws_sms.connections_seen.lock().unwrap(),
        [0],
        "no worker connection during the send"
    );
    let request = p.aws_sms.requests.lock().unwrap()[0].clone();
    assert_eq!(request["DestinationPhoneNumber"], "+447700900123");
    assert_eq!(
        request["MessageBody"],
        format!("{}: Hello Ada", s.service.name)
    );
    assert_eq!(request["MessageType"], "TRANSACTIONAL");
    assert_eq!(request["Context"]["notification_id"], sms.to_string());
    assert_eq!(n["status"], "delivered");
    assert_eq!(p.sent_by(sms).await.as_deref(), Some("aws-sms"));

    // Email: SES v2 on moto; its events arrive as SNS would deliver them.
    let email = |to: &str| json!({"email_address": to, "template_id": s.email_template, "personalisation": {"name": "Ada", "items": "x"}});
    let delivered = p
        .send(
            &s.live_key,
            "/v2/notifications/email",
            email("delivered@example.com"),
        )
        .await;
    let bounced = p
        .send(
            &s.live_key,
            "/v2/notifications/email",
            email("bounced@example.com"),
        )
        .await;
    let complained = p
        .send(
            &s.live_key,
            "/v2/notifications/email",
            email("complained@example.com"),
        )
        .await;
    let ses_event = |kind: &str, reference: &str, extra: Value| {
        let mut event = json!({"eventType": kind, "mail": {"messageId": reference}});
        event
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        event
    };
    for (id, kind, extra) in [
        (delivered, "Delivery", json!({"delivery": {}})),
        (
            bounced,
            "Bounce",
            json!({"bounce": {"bounceType": "Permanent"}}),
        ),
        (complained, "Delivery", json!({"delivery": {}})),
    ] {
        let reference = p.reference(id).await;
        publish_event(&p.sqs, &p.queues.status, ses_event(kind, &reference, extra)).await;
    }
    p.wait_for_status(&s.live_key, delivered, "delivered").await;
    p.wait_for_status(&s.live_key, bounced, "permanent-failure")
        .await;
    p.wait_for_status(&s.live_key, complained, "delivered")
        .await;
    let reference = p.reference(complained).await;
    let complaint = json!({"complaint": {"feedbackId": format!("feedback-{complained}"), "complaintFeedbackType": "abuse",
        "timestamp": "2026-11-27T10:00:00.000Z", "complainedRecipients": [{"emailAddress": "complained@example.com"}]}});
    // Twice, as SNS may deliver it: one complaint row.
    for _ in 0..2 {
        publish_event(
            &p.sqs,
            &p.queues.status,
            ses_event("Complaint", &reference, complaint.clone()),
        )
        .await;
    }

    // Four delivery-status callbacks (sms, 2 delivered, 1 bounced) and one complaint callback, complete.
    let callbacks = p.callbacks(5).await;
    assert_eq!(callbacks.len(), 5, "{callbacks:?}");
    let sms_callback = callbacks.iter().find(|c| c.subject_id == sms).unwrap();
    assert_eq!(sms_callback.url, "https://callbacks.example.gov.uk/notify");
    assert_eq!(
        p.app
            .state
            .encryptor
            .decrypt(sms_callback.encrypted_token.as_deref().unwrap())
            .unwrap(),
        "a-long-enough-token"
    );
    let body: Value = serde_json::from_str(&sms_callback.body).unwrap();
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["reference"], "my-ref");
    assert_eq!(body["to"], "07700 900123");
    assert_eq!(body["notification_type"], "sms");
    let complaint_callback = callbacks
        .iter()
        .find(|c| c.callback_type == notify_core::model::CallbackType::Complaint)
        .unwrap();
    let body: Value = serde_json::from_str(&complaint_callback.body).unwrap();
    assert_eq!(body["notification_id"], complained.to_string());
    assert_eq!(body["to"], "complained@example.com");
    assert_eq!(body["complaint_date"], "2026-11-27T10:00:00.000000Z");
    let complaints: i64 = p
        .observer
        .query_one(
            "SELECT count(*) FROM complaints WHERE notification_id = $1",
            &[&complained],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(complaints, 1);
}

#[tokio::test]
async fn duplicates_send_once_and_a_failing_provider_fails_over() {
    let p = pipeline().await;
    let s = p.app.service(false).await;
    let sms = json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}});
    let id = p
        .send(&s.live_key, "/v2/notifications/sms", sms.clone())
        .await;
    // The same message again, as SQS may deliver it.
    p.app
        .state
        .queue
        .send(&p.queues.deliver_sms, "dup", &Message::deliver(id))
        .await
        .unwrap();
    p.wait_for_status(&s.live_key, id, "delivered").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        p.aws_sms.calls.load(Ordering::SeqCst),
        1,
        "exactly one provider call"
    );

    // End User Messaging answers 500: Firetext takes it at once; its receipt comes through the API.
    p.aws_sms.failing.store(true, Ordering::SeqCst);
    let id = p.send(&s.live_key, "/v2/notifications/sms", sms).await;
    p.reference(id).await;
    assert_eq!(p.sent_by(id).await.as_deref(), Some("firetext"));
    assert_eq!(p.aws_sms.calls.load(Ordering::SeqCst), 2);
    let r = p
        .app
        .request("POST", "/notifications/sms/firetext", None, Some(format!("mobile=447700900123&status=0&time=2026-11-27+10%3A00%3A00&reference={id}&code=000").as_bytes()))
        .await;
    assert_eq!(r.status, 200);
    p.wait_for_status(&s.live_key, id, "delivered").await;
}

#[tokio::test]
async fn test_keys_reach_every_simulated_outcome_through_the_queues() {
    let p = pipeline().await;
    let s = p.app.service(false).await;
    let mut expected = Vec::new();
    for (number, outcome) in [
        ("07700900003", "temporary-failure"),
        ("07700900002", "permanent-failure"),
        ("07700900123", "delivered"),
    ] {
        let id = p.send(&s.test_key, "/v2/notifications/sms", json!({"phone_number": number, "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
        expected.push((id, outcome));
    }
    for (address, outcome) in [
        ("temp-fail@simulator.notify", "temporary-failure"),
        ("perm-fail@simulator.notify", "permanent-failure"),
        ("someone@example.com", "delivered"),
    ] {
        let id = p.send(&s.test_key, "/v2/notifications/email", json!({"email_address": address, "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}})).await;
        expected.push((id, outcome));
    }
    for (id, outcome) in expected {
        p.wait_for_status(&s.test_key, id, outcome).await;
    }
    assert_eq!(
        p.aws_sms.calls.load(Ordering::SeqCst),
        0,
        "test keys never reach a real provider"
    );
}

#[tokio::test]
async fn inbound_texts_are_stored_listed_and_called_back() {
    let p = pipeline().await;
    let s = p.app.service(false).await;
    let sid = s.service.id;
    p.app.assign_inbound_number(sid, "07700900999").await;
    let r = p.app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": "https://callbacks.example.gov.uk/inbound", "bearer_token": "a-long-enough-token", "callback_type": "inbound_sms"}))).await;
    assert_eq!(r.status, 201);

    // MMG's format at the API.
    let r = p
        .app
        .request("POST", "/inbound/sms/mmg", None, Some(br#"{"MSISDN":"447700900123","Number":"447700900999","Message":"Yes+please%21","ID":"mmg-1","DateRecieved":"2026-11-27+10%3A00%3A00"}"#))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.bytes.as_slice()),
        (200, b"RECEIVED".as_slice())
    );
    // End User Messaging two-way SMS, through SNS and the status queue.
    publish_event(
        &p.sqs,
        &p.queues.status,
        json!({"originationNumber": "+447700900456", "destinationNumber": "+447700900999",
        "messageKeyword": "KEYWORD", "messageBody": "Stop", "inboundMessageId": "aws-1"}),
    )
    .await;
    // A number nobody owns: acknowledged, stored nowhere.
    let r = p
        .app
        .request(
            "POST",
            "/inbound/sms/firetext",
            None,
            Some(b"source=07700900123&destination=07700900000&message=hi"),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = p
        .app
        .request("POST", "/inbound/sms/mmg", None, Some(b"not json"))
        .await;
    assert_eq!(r.status, 400);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let texts = loop {
        let list = p
            .app
            .call("GET", "/v2/received-text-messages", &s.live_key, None)
            .await
            .json();
        let texts = list["received_text_messages"].as_array().unwrap().clone();
        if texts.len() == 2 || tokio::time::Instant::now() > deadline {
            break texts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let contents: Vec<&str> = texts
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert!(
        contents.contains(&"Yes please!") && contents.contains(&"Stop"),
        "{texts:?}"
    );
    assert!(
        texts.iter().all(|t| t["notify_number"] == "07700900999"),
        "{texts:?}"
    );

    let callbacks = p.callbacks(2).await;
    assert_eq!(callbacks.len(), 2);
    let mmg = callbacks
        .iter()
        .map(|c| serde_json::from_str::<Value>(&c.body).unwrap())
        .find(|b| b["message"] == "Yes please!")
        .unwrap();
    assert_eq!(mmg["source_number"], "447700900123");
    assert_eq!(mmg["destination_number"], "07700900999");
}

#[tokio::test]
async fn fifty_errors_shift_ten_points_of_weight_once_a_minute() {
    let app = TestApp::new().await;
    let db = &app.state.db;
    assert!(db.shift_sms_priority_away("mmg", 10).await.unwrap());
    // Again at once: the weight changed within the minute, so nothing moves.
    assert!(!db.shift_sms_priority_away("mmg", 10).await.unwrap());
    let client = observer(&app.database_url).await;
    let rows = client
        .query(
            "SELECT identifier, priority FROM provider_details WHERE notification_type = 'sms' ORDER BY identifier",
            &[],
        )
        .await
        .unwrap();
    let weights: Vec<(String, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        weights,
        [
            ("aws-sms".into(), 0),
            ("firetext".into(), 59),
            ("mmg".into(), 41)
        ]
    );
    let history: i64 = client
        .query_one("SELECT count(*) FROM provider_details_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, 2);
}
