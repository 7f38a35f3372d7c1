//! API Gateway HTTP API (payload v2) events reach the shared router unchanged: path on the `$default` stage,
//! query string, base64 bodies. No database is needed for what these requests exercise.

use notify_config::Config;
use notify_queue::InProcessQueue;
use std::sync::Arc;
use tower::ServiceExt;

fn router() -> axum::Router {
    // Never connected to: authentication fails before any lookup for these requests.
    let db = notify_db::Db::connect(
        "postgres://postgres@127.0.0.1:1/none",
        1,
        "lambda-event-test",
    )
    .unwrap();
    let state = notify_app::AppState::new(
        Config::for_development("unused"),
        db,
        Arc::new(InProcessQueue::default()),
    );
    notify_http::router(state)
}

async fn call(event: &str) -> (u16, serde_json::Value) {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let response = router()
        .oneshot(request.map(|body| axum::body::Body::from(body.to_vec())))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_default_stage_get_reaches_the_v2_route() {
    let (status, body) = call(include_str!("events/apigw-v2-get-notifications.json")).await;
    // The v2 route answered (auth is its first step), not the 404 fallback a stage prefix would give.
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["message"],
        "Unauthorized: authentication token must be provided"
    );
}

#[tokio::test]
async fn a_base64_post_reaches_the_v2_route() {
    let (status, body) = call(include_str!("events/apigw-v2-post-sms-base64.json")).await;
    assert_eq!(status, 401);
    assert_eq!(body["status_code"], 401);
}
