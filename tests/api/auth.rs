//! The JWT matrix (contract §1.3): every step, every message.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use notify_tests::{TestApp, token, token_at};
use serde_json::json;
use uuid::Uuid;

use crate::{error_types, messages};

async fn expect(app: &TestApp, authorization: Option<&str>, status: u16, message: &str) {
    let response = app
        .request("GET", "/v2/notifications", authorization, None)
        .await;
    let body = response.json();
    assert_eq!(response.status.as_u16(), status, "{body}");
    assert_eq!(body["status_code"], status);
    assert_eq!(error_types(&body), ["AuthError"]);
    assert_eq!(messages(&body), [message]);
}

fn raw_token(header: serde_json::Value, claims: serde_json::Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

const GENERAL: &str = "Invalid token: make sure your API token matches the example at https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header";

#[tokio::test]
async fn header_and_token_shape() {
    let app = TestApp::new().await;
    expect(
        &app,
        None,
        401,
        "Unauthorized: authentication token must be provided",
    )
    .await;
    expect(
        &app,
        Some(""),
        401,
        "Unauthorized: authentication token must be provided",
    )
    .await;
    expect(
        &app,
        Some("Token abc"),
        401,
        "Unauthorized: authentication bearer scheme must be used",
    )
    .await;
    expect(&app, Some("Bearer garbage"), 403, GENERAL).await;
    let no_iss = raw_token(
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"iat": Utc::now().timestamp()}),
        "x",
    );
    expect(
        &app,
        Some(&format!("Bearer {no_iss}")),
        403,
        "Invalid token: iss field not provided",
    )
    .await;
    let bad_iss = notify_app::auth::create_token("not-a-uuid", "secret", Utc::now().timestamp());
    expect(
        &app,
        Some(&format!("Bearer {bad_iss}")),
        403,
        "Invalid token: service id is not the right data type",
    )
    .await;
    let unknown = notify_app::auth::create_token(
        &Uuid::new_v4().to_string(),
        "secret",
        Utc::now().timestamp(),
    );
    expect(
        &app,
        Some(&format!("Bearer {unknown}")),
        403,
        "Invalid token: service not found",
    )
    .await;
}

#[tokio::test]
async fn service_states() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    // A service without keys.
    let bare = notify_app::admin::create_service(
        &app.state,
        notify_app::admin::CreateService {
            name: "No keys".into(),
            created_by: None,
            restricted: false,
            email_from: None,
            permissions: None,
            rate_limit: None,
            message_limit: None,
        },
    )
    .await
    .unwrap();
    let t = notify_app::auth::create_token(&bare.id.to_string(), "secret", Utc::now().timestamp());
    expect(
        &app,
        Some(&format!("Bearer {t}")),
        403,
        "Invalid token: service has no API keys",
    )
    .await;
    let response = app
        .admin(
            "POST",
            &format!("/service/{}", s.service.id),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(response.status, 200);
    expect(
        &app,
        Some(&format!("Bearer {}", token(&s.live_key))),
        403,
        "Invalid token: service is archived",
    )
    .await;
}

#[tokio::test]
async fn signatures_algorithms_and_clock() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (service_id, secret) = notify_app::auth::split_api_key(&s.live_key).unwrap();
    let now = Utc::now().timestamp();

    let ok = app
        .request(
            "GET",
            "/v2/notifications",
            Some(&format!("bearer {}", token(&s.live_key))),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "the scheme is case-insensitive");

    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"iss": service_id, "iat": now}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    expect(
        &app,
        Some(&format!("Bearer {hs512}")),
        403,
        "Invalid token: algorithm used is not HS256",
    )
    .await;
    let none = raw_token(
        json!({"alg": "none", "typ": "JWT"}),
        json!({"iss": service_id, "iat": now}),
        "",
    );
    expect(
        &app,
        Some(&format!("Bearer {none}")),
        403,
        "Invalid token: algorithm used is not HS256",
    )
    .await;

    let wrong_secret =
        notify_app::auth::create_token(&service_id.to_string(), &Uuid::new_v4().to_string(), now);
    expect(
        &app,
        Some(&format!("Bearer {wrong_secret}")),
        403,
        "Invalid token: API key not found",
    )
    .await;

    let clock = "Error: Your system clock must be accurate to within 30 seconds";
    expect(
        &app,
        Some(&format!("Bearer {}", token_at(&s.live_key, now - 31))),
        403,
        clock,
    )
    .await;
    expect(
        &app,
        Some(&format!("Bearer {}", token_at(&s.live_key, now + 31))),
        403,
        clock,
    )
    .await;
    for skew in [-29, 29] {
        let r = app
            .request(
                "GET",
                "/v2/notifications",
                Some(&format!("Bearer {}", token_at(&s.live_key, now + skew))),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "iat {skew}s away is accepted");
    }
    // A stale token with a bad signature is not reported as a clock problem.
    let stale_wrong =
        notify_app::auth::create_token(&service_id.to_string(), "other-secret", now - 100);
    expect(
        &app,
        Some(&format!("Bearer {stale_wrong}")),
        403,
        "Invalid token: API key not found",
    )
    .await;
}

#[tokio::test]
async fn revoked_and_foreign_keys() {
    let app = TestApp::new().await;
    let a = app.service(false).await;
    let b = app.service(false).await;
    let keys = app.state.db.list_api_keys(a.service.id).await.unwrap();
    let live = keys.iter().find(|k| k.name == "live").unwrap();
    let revoke = app
        .admin(
            "POST",
            &format!("/service/{}/api-key/revoke/{}", a.service.id, live.id),
            None,
        )
        .await;
    assert_eq!(revoke.status, 202);
    expect(
        &app,
        Some(&format!("Bearer {}", token(&a.live_key))),
        403,
        "Invalid token: API key revoked",
    )
    .await;
    // Revoked more than 7 days ago: no longer recognised at all.
    app.state
        .db
        .set_api_key_expiry(live.id, Utc::now() - chrono::Duration::days(8))
        .await
        .unwrap();
    expect(
        &app,
        Some(&format!("Bearer {}", token(&a.live_key))),
        403,
        "Invalid token: API key not found",
    )
    .await;
    // Service A's id with service B's secret.
    let (_, b_secret) = notify_app::auth::split_api_key(&b.live_key).unwrap();
    let foreign =
        notify_app::auth::create_token(&a.service.id.to_string(), b_secret, Utc::now().timestamp());
    expect(
        &app,
        Some(&format!("Bearer {foreign}")),
        403,
        "Invalid token: API key not found",
    )
    .await;
}

#[tokio::test]
async fn api_key_secrets_are_never_stored_in_plain_text() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (_, secret) = notify_app::auth::split_api_key(&s.live_key).unwrap();
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT secret FROM api_keys UNION ALL SELECT secret FROM api_keys_history",
            &[],
        )
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let stored: String = row.get(0);
        assert!(!stored.contains(secret), "secret stored in plain text");
    }
}

#[tokio::test]
async fn admin_tokens() {
    let app = TestApp::new().await;
    let r = app.request("GET", "/service", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"result": "error", "message": {"token": ["Unauthorized: authentication token must be provided"]}})
    );
    let wrong_issuer = notify_app::auth::create_token(
        "someone-else",
        notify_config::DEV_ADMIN_CLIENT_SECRET,
        Utc::now().timestamp(),
    );
    let r = app
        .request(
            "GET",
            "/service",
            Some(&format!("Bearer {wrong_issuer}")),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["message"]["token"][0],
        "Unauthorized: not allowed to perform this action"
    );
    let wrong_secret =
        notify_app::auth::create_token("notify-admin", "nope", Utc::now().timestamp());
    let r = app
        .request(
            "GET",
            "/service",
            Some(&format!("Bearer {wrong_secret}")),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    // A service key is not an admin key.
    let s = app.service(false).await;
    let r = app
        .request(
            "GET",
            "/service",
            Some(&format!("Bearer {}", token(&s.live_key))),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_the_lookup_cache_ttl() {
    let app =
        TestApp::with_config(|c| c.api.lookup_cache_ttl = std::time::Duration::from_millis(300))
            .await;
    let s = app.service(false).await;
    assert_eq!(
        app.call("GET", "/v2/notifications", &s.live_key, None)
            .await
            .status,
        200
    );
    let keys = app.state.db.list_api_keys(s.service.id).await.unwrap();
    let live = keys.iter().find(|k| k.name == "live").unwrap();
    app.state
        .db
        .revoke_api_key(s.service.id, live.id)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    expect(
        &app,
        Some(&format!("Bearer {}", token(&s.live_key))),
        403,
        "Invalid token: API key revoked",
    )
    .await;
}
