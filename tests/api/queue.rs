//! The SQS queue against moto: an accepted send's message arrives on the real queue API, in its service's
//! fairness group (moto 5.2.5 accepts `MessageGroupId` on a standard queue and returns it on receive).

use aws_sdk_sqs::types::MessageSystemAttributeName;
use notify_core::messages::Message;
use notify_queue::SqsQueue;
use notify_tests::{TestApp, moto_url};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn accepted_sends_arrive_on_sqs() {
    let client = notify_tests::sqs_client(&moto_url());
    let name = format!("deliver-sms-{}", uuid::Uuid::new_v4().simple());
    client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("moto must be running (the test command starts it)");
    let app = TestApp::with_config(|c| c.queues.deliver_sms = name.clone()).await;
    let state = notify_app::AppState::new(
        (*app.state.config).clone(),
        app.state.db.clone(),
        Arc::new(SqsQueue::new(client.clone())),
    );
    let router = notify_http::router(state);
    let s = app.service(false).await;
    use tower::ServiceExt;
    let request = http::Request::builder()
        .method("POST")
        .uri("/v2/notifications/sms")
        .header("authorization", format!("Bearer {}", notify_tests::token(&s.live_key)))
        .body(axum::body::Body::from(
            json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}}).to_string(),
        ))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let id: uuid::Uuid = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let url = client
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Message> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, [Message::deliver(id)]);
    let groups: Vec<Option<&str>> = received
        .messages()
        .iter()
        .map(|m| {
            m.attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .map(String::as_str)
        })
        .collect();
    assert_eq!(groups, [Some(s.service.id.to_string().as_str())]);
}

#[tokio::test]
async fn an_unreachable_queue_keeps_the_notification_for_replay() {
    let app = TestApp::new().await;
    let queue = Arc::new(SqsQueue::new(notify_tests::sqs_client(
        "http://127.0.0.1:1",
    )));
    let state = notify_app::AppState::new((*app.state.config).clone(), app.state.db.clone(), queue);
    let s = app.service(false).await;
    let auth = notify_app::auth::AuthenticatedKey {
        service: s.service.clone(),
        api_key_id: app.state.db.list_api_keys(s.service.id).await.unwrap()[0].id,
        key_type: notify_core::model::KeyType::Normal,
    };
    let body = json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}});
    let created = notify_app::notifications::send(
        notify_core::model::NotificationType::Sms,
        &state,
        &auth,
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let id = created["id"].as_str().unwrap().parse().unwrap();
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(
        stored.status,
        notify_core::model::NotificationStatus::Created
    );
}
