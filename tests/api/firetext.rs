//! The Firetext provider against a fake Firetext on 127.0.0.1, and its receipts through the API and status queue.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use notify_app::delivery::Outcome;
use notify_core::model::NotificationStatus;
use notify_outbound::providers::firetext::FiretextProvider;
use notify_outbound::providers::{
    EmailProvider, ProviderError, Providers, SimulatedProvider, SmsProvider,
};
use notify_tests::TestApp;
use serde_json::json;
use uuid::Uuid;

/// One form post, as field name and value pairs.
type Form = Vec<(String, String)>;

#[derive(Clone, Default)]
struct FakeFiretext {
    forms: Arc<Mutex<Vec<Form>>>,
    answer: Arc<Mutex<(u16, String)>>,
}

async fn fake_send(
    State(fake): State<FakeFiretext>,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    fake.forms
        .lock()
        .unwrap()
        .push(form_urlencoded::parse(&body).into_owned().collect());
    let (status, body) = fake.answer.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), body)
}

async fn start_fake() -> (FakeFiretext, String) {
    let fake = FakeFiretext::default();
    *fake.answer.lock().unwrap() = (
        200,
        json!({"code": 0, "description": "SMS successfully queued"}).to_string(),
    );
    let app = axum::Router::new()
        .route("/api/sendsms/json", post(fake_send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/sendsms/json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

#[tokio::test]
async fn sends_with_firetexts_form_and_applies_its_receipt() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (fake, url) = start_fake().await;
    let providers = Providers::new(
        vec![Arc::new(FiretextProvider::new(url, "firetext-key")) as Arc<dyn SmsProvider>],
        Vec::<Arc<dyn EmailProvider>>::new(),
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    );
    let sent = app
        .call("POST", "/v2/notifications/sms", &s.live_key, Some(json!({"phone_number": "07700 900123", "template_id": s.sms_template, "personalisation": {"name": "Fire"}})))
        .await
        .json();
    let id: Uuid = sent["id"].as_str().unwrap().parse().unwrap();
    let outcome = notify_app::delivery::deliver(&app.state, &providers, id)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider: "firetext".into(),
            reference: id.to_string()
        }
    );
    let form = fake.forms.lock().unwrap()[0].clone();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("apiKey"), "firetext-key");
    assert_eq!(field("to"), "447700900123");
    assert_eq!(field("from"), "GOVUK");
    assert_eq!(field("reference"), id.to_string());
    assert_eq!(field("message"), format!("{}: Hello Fire", s.service.name));

    // Firetext posts its receipt to the API, which queues it untouched.
    let r = app.request("POST", "/notifications/sms/firetext", None, Some(format!("mobile=447700900123&status=0&time=2026-11-27+10%3A00%3A00&reference={id}&code=000").as_bytes())).await;
    assert_eq!(r.status, 200);
    let queued = app.queue.take_all("status");
    assert_eq!(queued.len(), 1);
    assert!(
        notify_app::status::handle_batch(
            &app.state,
            &queued
                .into_iter()
                .map(notify_app::status::StatusBody::Task)
                .collect::<Vec<_>>()
        )
        .await
        .unwrap()
        .is_empty()
    );
    let n = app.stored(s.service.id, id).await;
    assert_eq!(n.status, NotificationStatus::Delivered);
    assert_eq!(
        app.request("POST", "/notifications/sms/unknown", None, Some(b"x"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn firetext_errors_are_retryable_or_permanent() {
    let (fake, url) = start_fake().await;
    let provider = FiretextProvider::new(url, "k");
    let message = notify_outbound::providers::SmsMessage {
        notification_id: Uuid::new_v4(),
        to: "447700900123".into(),
        sender: "GOVUK".into(),
        content: "x".into(),
        international: false,
    };
    *fake.answer.lock().unwrap() = (500, "oops".into());
    assert!(matches!(
        provider.send_sms(&message).await,
        Err(ProviderError::Retryable(_))
    ));
    *fake.answer.lock().unwrap() = (
        200,
        json!({"code": 3, "description": "Invalid number"}).to_string(),
    );
    assert!(matches!(
        provider.send_sms(&message).await,
        Err(ProviderError::Permanent(_))
    ));
    let unreachable = FiretextProvider::new("http://127.0.0.1:1/api/sendsms/json", "k");
    assert!(matches!(
        unreachable.send_sms(&message).await,
        Err(ProviderError::Retryable(_))
    ));
}

#[tokio::test]
async fn provider_callbacks_need_the_configured_credentials() {
    let app = TestApp::with_config(|c| {
        c.api.provider_callback_credentials = vec!["firetext:s3cret-pass".into()]
    })
    .await;
    let basic = |pair: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let receipt = b"mobile=447700900123&status=0&time=2026-11-27+10%3A00%3A00&reference=x&code=000";
    let inbound = b"source=07700900123&destination=07700900999&message=hi";
    for (path, body) in [
        ("/notifications/sms/firetext", receipt.as_slice()),
        ("/inbound/sms/firetext", inbound.as_slice()),
    ] {
        assert_eq!(
            app.request("POST", path, None, Some(body)).await.status,
            401,
            "{path}"
        );
        let wrong = basic("firetext:guess");
        assert_eq!(
            app.request("POST", path, Some(&wrong), Some(body))
                .await
                .status,
            403,
            "{path}"
        );
        let right = basic("firetext:s3cret-pass");
        assert_eq!(
            app.request("POST", path, Some(&right), Some(body))
                .await
                .status,
            200,
            "{path}"
        );
    }
    assert_eq!(
        app.queue.take_all("status").len(),
        1,
        "only the authenticated receipt was queued"
    );
}
