//! Signed callbacks (Standard Webhooks) and a callback URL per request, end to end: secrets made and rotated
//! through the admin API, a receipt turning into a callback through the outbox and the queue, the callback worker
//! POSTing it to a real HTTPS receiver, and the reference verifier from PyPI (`standardwebhooks`, run by the
//! Python in `.venv`, or `NOTIFY_PYTHON`) checking what the receiver got.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use notify_app::jobs::{self, Job};
use notify_app::status::StatusBody;
use notify_core::callbacks::Callback;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_outbound::callbacks::{Attempted, CallbackSender};
use notify_tests::{TestApp, TestService};
use serde_json::{Value, json};
use uuid::Uuid;

type Calls = std::sync::Mutex<Vec<(String, HeaderMap, String)>>;

async fn record(
    State(calls): State<Arc<Calls>>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    calls.lock().unwrap().push((path, headers, body));
    StatusCode::OK
}

struct Setup {
    app: TestApp,
    base: String,
    calls: Arc<Calls>,
    db: tokio_postgres::Client,
}

async fn setup() -> Setup {
    let calls = Arc::new(Calls::default());
    let router = axum::Router::new()
        .route("/{path}", post(record))
        .with_state(calls.clone());
    let (base, ca_file) = notify_tests::https_server(router).await;
    let app = TestApp::with_config(|c| {
        c.callbacks.allow_private_hosts = vec!["127.0.0.1".into()];
        c.callbacks.ca_bundle = Some(ca_file);
    })
    .await;
    let (db, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    Setup {
        app,
        base,
        calls,
        db,
    }
}

impl Setup {
    async fn delivery_status_callback(&self, s: &TestService, path: &str) {
        let sid = s.service.id;
        let r = self.app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": format!("{}/{path}", self.base), "bearer_token": "the-services-bearer-token", "callback_type": "delivery_status"}))).await;
        assert_eq!(r.status, 201, "{}", r.json());
    }

    /// A text sent with `extra` in its body, handed to a provider and delivered: its callback, as queued.
    async fn delivered(&self, s: &TestService, extra: Value) -> (Uuid, Option<Callback>) {
        let mut body = json!({"phone_number": "07700900123", "template_id": s.sms_template,
            "personalisation": {"name": "x"}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = self
            .app
            .call("POST", "/v2/notifications/sms", &s.live_key, Some(body))
            .await;
        assert_eq!(r.status, 201, "{}", r.json());
        let id: Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
        self.db
            .execute(
                "UPDATE notifications SET notification_status = 'sending', reference = 'ref-' || id WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        let receipt = StatusBody::Task(Message::Receipt {
            v: 1,
            provider: "mmg".into(),
            reference: format!("ref-{id}"),
            status: NotificationStatus::Delivered,
            at: chrono::Utc::now(),
        });
        let retry = notify_app::status::handle_batch(&self.app.state, &[receipt])
            .await
            .unwrap();
        assert!(retry.is_empty());
        jobs::run(&self.app.state, Job::RelayCallbackOutbox, jobs::TIME_BUDGET)
            .await
            .unwrap();
        let mut queued: Vec<Callback> = self
            .app
            .queue
            .take_all(&self.app.state.config.queues.callbacks)
            .into_iter()
            .map(|m| match m {
                Message::Callback(cb) => cb,
                other => panic!("not a callback: {other:?}"),
            })
            .collect();
        assert!(queued.len() <= 1, "one callback at most: {queued:?}");
        (id, queued.pop())
    }

    /// The callback worker's attempt, and what the receiver got.
    async fn send(&self, callback: &Callback) -> (String, HeaderMap, String) {
        let sender = CallbackSender::from_config(&self.app.state.config.callback_worker()).unwrap();
        assert_eq!(sender.attempt(callback).await, Attempted::Delivered(200));
        self.calls
            .lock()
            .unwrap()
            .pop()
            .expect("the receiver was called")
    }
}

/// Runs the reference verifier over `(secret, headers, body, valid)`; panics with its output unless every
/// callback came out as expected.
fn verify_with_reference_library(cases: &[(&str, &HeaderMap, &str, bool)]) {
    let python = std::env::var("NOTIFY_PYTHON")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let script = format!("{}/compat/verify_callback.py", env!("CARGO_MANIFEST_DIR"));
    let callbacks: Vec<Value> = cases
        .iter()
        .map(|(secret, headers, body, valid)| {
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
                .collect();
            json!({"secret": secret, "headers": headers, "body": body, "valid": valid})
        })
        .collect();
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python} not runnable ({e}): run infra/scripts/test once, or set NOTIFY_PYTHON")
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!({"callbacks": callbacks}).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "reference verifier: {text}");
    assert_eq!(text.lines().count(), cases.len(), "{text}");
}

#[tokio::test]
async fn signing_secrets_are_made_shown_once_rotated_and_revoked() {
    let s = setup().await;
    let service = s.app.service(false).await;
    let path = format!("/service/{}/callback-signing-secret", service.service.id);
    let r = s.app.admin("GET", &path, None).await;
    assert_eq!(r.json(), json!({"data": []}));

    let r = s.app.admin("POST", &path, None).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let first = r.json()["data"].clone();
    let secret = first["secret"].as_str().unwrap();
    let key = notify_core::webhooks::decode_secret(secret).unwrap();
    assert_eq!(key.len(), 32, "32 random bytes");
    assert_eq!(first["signing"], true);
    assert_eq!(first["expires_at"], Value::Null);
    // Stored encrypted: the secret is nowhere in the table.
    let stored: String =
        s.db.query_one(
            "SELECT string_agg(secret, ' ') FROM service_callback_signing_secrets",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(secret) && !stored.contains(&secret[6..]));

    let r = s.app.admin("POST", &path, None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"result": "error", "message": "Service already has a callback signing secret: rotate it instead"})
    );

    let r = s.app.admin("POST", &format!("{path}/rotate"), None).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let second = r.json()["data"].clone();
    assert_ne!(second["secret"], first["secret"]);
    let listed = s.app.admin("GET", &path, None).await.json()["data"].clone();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|l| l.get("secret").is_none()),
        "never shown again"
    );
    assert_eq!(listed[0]["id"], second["id"]);
    assert_eq!(listed[0]["expires_at"], Value::Null);
    assert_eq!(listed[1]["id"], first["id"]);
    assert_eq!(
        listed[1]["signing"], true,
        "the previous one signs during the rotation"
    );
    let ends = chrono::DateTime::parse_from_rfc3339(listed[1]["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let left = ends - chrono::Utc::now();
    assert!(left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24));

    let r = s
        .app
        .admin("POST", &format!("{path}/revoke-previous"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["data"]["revoked"], 1);
    assert_eq!(r.json()["data"]["secrets"][1]["signing"], false);
    assert_eq!(r.json()["data"]["secrets"][0]["signing"], true);

    let r = s.app.admin("DELETE", &path, None).await;
    assert_eq!(r.json(), json!({"data": {"removed": 2}}));
    let r = s.app.admin("POST", &format!("{path}/rotate"), None).await;
    assert_eq!(r.status, 400, "nothing to rotate");
    let r = s
        .app
        .admin(
            "POST",
            &format!("/service/{}/callback-signing-secret", Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn signed_callbacks_verify_with_the_reference_library_before_during_and_after_a_rotation() {
    let s = setup().await;
    let service = s.app.service(false).await;
    s.delivery_status_callback(&service, "service").await;
    let path = format!("/service/{}/callback-signing-secret", service.service.id);

    // Unsigned until the service has a secret: Notify's callback exactly.
    let (_, callback) = s.delivered(&service, json!({})).await;
    let (_, headers, _) = s.send(&callback.unwrap()).await;
    assert!(headers.get("webhook-signature").is_none() && headers.get("webhook-id").is_none());

    let old = s.app.admin("POST", &path, None).await.json()["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, callback) = s.delivered(&service, json!({})).await;
    let callback = callback.unwrap();
    let (_, headers, body) = s.send(&callback).await;
    assert_eq!(headers["authorization"], "Bearer the-services-bearer-token");
    let signature = headers["webhook-signature"].to_str().unwrap();
    assert!(signature.starts_with("v1,") && !signature.contains(' '));
    let timestamp: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let webhook_id = headers["webhook-id"].to_str().unwrap().to_string();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["id"],
        id.to_string()
    );

    // A retry of the same callback keeps its id; the timestamp and signature are the attempt's.
    let (_, again, _) = s.send(&callback).await;
    assert_eq!(again["webhook-id"], webhook_id.as_str());

    let tampered = body.replace("delivered", "permanent-failure");
    let wrong = notify_core::webhooks::new_secret([9; 32]);
    verify_with_reference_library(&[
        (&old, &headers, &body, true),
        (&old, &headers, &tampered, false),
        (&wrong, &headers, &body, false),
    ]);

    // During a rotation both secrets sign, so a receiver holding either accepts.
    let new = s
        .app
        .admin("POST", &format!("{path}/rotate"), None)
        .await
        .json()["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, callback) = s.delivered(&service, json!({})).await;
    let (_, headers, body) = s.send(&callback.unwrap()).await;
    assert_eq!(
        headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    // After it, only the new one does.
    let r = s
        .app
        .admin("POST", &format!("{path}/revoke-previous"), None)
        .await;
    assert_eq!(r.status, 200);
    let (_, callback) = s.delivered(&service, json!({})).await;
    let (_, after, after_body) = s.send(&callback.unwrap()).await;
    assert_eq!(
        after["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    verify_with_reference_library(&[
        (&old, &headers, &body, true),
        (&new, &headers, &body, true),
        (&new, &after, &after_body, true),
        (&old, &after, &after_body, false),
    ]);
}

#[tokio::test]
async fn a_notifications_own_callback_url_gets_its_delivery_status_callbacks() {
    let s = setup().await;
    // A service with no delivery-status callback at all: the notification's own URL still gets one, without a
    // bearer token (there is none), and signed since the service signs.
    let service = s.app.service(false).await;
    let own = format!("{}/staging", s.base);
    let (_, callback) = s.delivered(&service, json!({})).await;
    assert!(callback.is_none(), "no callback without a URL");
    let secret = s
        .app
        .admin(
            "POST",
            &format!("/service/{}/callback-signing-secret", service.service.id),
            None,
        )
        .await
        .json()["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, callback) = s.delivered(&service, json!({"callback_url": own})).await;
    let callback = callback.expect("a callback to the notification's own URL");
    let (path, headers, body) = s.send(&callback).await;
    assert_eq!(path, "staging");
    assert!(headers.get("authorization").is_none());
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["id"],
        id.to_string()
    );
    verify_with_reference_library(&[(&secret, &headers, &body, true)]);
    let stored: Option<String> =
        s.db.query_one(
            "SELECT callback_url FROM notifications WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored.as_deref(), Some(own.as_str()));

    // With a service callback: the notification's URL instead of the service's, with the service's token; the
    // others still go to the service's URL.
    s.delivery_status_callback(&service, "service").await;
    let (_, callback) = s.delivered(&service, json!({"callback_url": own})).await;
    let (path, headers, _) = s.send(&callback.unwrap()).await;
    assert_eq!(path, "staging");
    assert_eq!(headers["authorization"], "Bearer the-services-bearer-token");
    let (_, callback) = s.delivered(&service, json!({})).await;
    let (path, _, _) = s.send(&callback.unwrap()).await;
    assert_eq!(path, "service");
}

#[tokio::test]
async fn a_callback_url_must_be_a_short_https_url_and_its_address_is_guarded_at_send() {
    let s = setup().await;
    let service = s.app.service(false).await;
    let long = format!("https://example.com/{}", "a".repeat(240));
    for (url, message) in [
        (
            json!("http://example.com/cb"),
            "callback_url is not a valid https url".to_string(),
        ),
        (
            json!("https://"),
            "callback_url is not a valid https url".to_string(),
        ),
        (
            json!(["https://example.com"]),
            "callback_url is not a valid https url".to_string(),
        ),
        (json!(long), format!("callback_url {long} is too long")),
    ] {
        for (channel, mut body) in [
            (
                "sms",
                json!({"phone_number": "07700900123", "template_id": service.sms_template, "personalisation": {"name": "x"}}),
            ),
            (
                "email",
                json!({"email_address": "someone@example.com", "template_id": service.email_template, "personalisation": {"name": "x"}}),
            ),
            (
                "letter",
                json!({"template_id": service.letter_template, "personalisation": {"address_line_1": "A", "address_line_2": "B", "postcode": "SW1A 1AA"}}),
            ),
        ] {
            body["callback_url"] = url.clone();
            let r = s
                .app
                .call(
                    "POST",
                    &format!("/v2/notifications/{channel}"),
                    &service.live_key,
                    Some(body),
                )
                .await;
            assert_eq!(r.status, 400, "{channel} {url}");
            assert_eq!(
                r.json()["errors"],
                json!([{"error": "ValidationError", "message": message}]),
                "{channel}"
            );
        }
    }
    // Accepted at the API, refused by the worker's address guard: the metadata service is never called.
    let (_, callback) = s
        .delivered(
            &service,
            json!({"callback_url": "https://169.254.169.254/latest/meta-data/"}),
        )
        .await;
    let sender = CallbackSender::from_config(&s.app.state.config.callback_worker()).unwrap();
    assert!(matches!(
        sender.attempt(&callback.unwrap()).await,
        Attempted::Dropped(reason) if reason.contains("refused")
    ));
}
