//! Rate limits and daily limits come before validation (contract §4.4), with Notify's 429 messages.

use notify_tests::TestApp;
use serde_json::json;

use crate::{error_types, messages};

#[tokio::test]
async fn rate_limit_per_key_type_comes_first() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    app.admin(
        "POST",
        &format!("/service/{}", s.service.id),
        Some(json!({"rate_limit": 3})),
    )
    .await;
    // Capacity 2: one request passes, the next is limited, even though its body is invalid.
    let r = app
        .call(
            "POST",
            "/v2/notifications/sms",
            &s.live_key,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = app
        .call(
            "POST",
            "/v2/notifications/sms",
            &s.live_key,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(error_types(&r.json()), ["RateLimitError"]);
    assert_eq!(
        messages(&r.json()),
        ["Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"]
    );
    let r = app
        .call(
            "POST",
            "/v2/notifications/sms",
            &s.team_key,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 400, "each key type has its own bucket");
    assert_eq!(
        app.call("GET", "/v2/notifications", &s.live_key, None)
            .await
            .status,
        200,
        "GETs are not limited"
    );
}

#[tokio::test]
async fn daily_limits_per_channel() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    app.admin(
        "POST",
        &format!("/service/{}", s.service.id),
        Some(json!({"sms_message_limit": 1, "international_sms_message_limit": 0})),
    )
    .await;
    let send = |key: String, number: &'static str| {
        let app = &app;
        let template = s.sms_template;
        async move {
            app.call("POST", "/v2/notifications/sms", &key, Some(json!({"phone_number": number, "template_id": template, "personalisation": {"name": "x"}}))).await
        }
    };
    let r = send(s.live_key.clone(), "+12025550104").await;
    assert_eq!(
        messages(&r.json()),
        ["Exceeded send limits (international_sms: 0) for today"]
    );
    assert_eq!(send(s.live_key.clone(), "07700900123").await.status, 201);
    let r = send(s.live_key.clone(), "07700900123").await;
    assert_eq!(r.status, 429);
    assert_eq!(error_types(&r.json()), ["TooManyRequestsError"]);
    assert_eq!(
        messages(&r.json()),
        ["Exceeded send limits (sms: 1) for today"]
    );
    // Simulated recipients and test keys are not counted; email has its own limit.
    let r = app.call("POST", "/v2/notifications/email", &s.live_key, Some(json!({"email_address": "a@example.com", "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}}))).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn limits_in_redis_are_shared_and_fail_open() {
    let shared =
        TestApp::with_config(|c| c.api.redis_url = Some("redis://127.0.0.1:6379".into())).await;
    let s = shared.service(false).await;
    shared
        .admin(
            "POST",
            &format!("/service/{}", s.service.id),
            Some(json!({"rate_limit": 3})),
        )
        .await;
    assert_eq!(
        shared
            .call(
                "POST",
                "/v2/notifications/sms",
                &s.live_key,
                Some(json!({}))
            )
            .await
            .status,
        400
    );
    // A second process (another Lambda) sees the same bucket.
    let other = notify_app::AppState::new(
        (*shared.state.config).clone(),
        shared.state.db.clone(),
        shared.queue.clone(),
    );
    let limiter = other.limiter.clone();
    let err = limiter
        .check_rate_limit(
            s.service.id,
            notify_core::model::KeyType::Normal,
            3,
            chrono::Utc::now(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Exceeded rate limit for key type LIVE of 3 requests per 60 seconds"
    );

    let down = TestApp::with_config(|c| c.api.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let s = down.service(false).await;
    let r = down.call("POST", "/v2/notifications/sms", &s.live_key, Some(json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}}))).await;
    assert_eq!(r.status, 201, "a Redis outage does not stop sends");
}
