//! POST /v2/notifications/sms and /email: success shapes, every validation message, the order of checks.

use std::sync::Arc;

use notify_core::messages::Message;
use notify_core::model::ServicePermission;
use notify_tests::{TestApp, redact};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{error_types, messages};

async fn sms(app: &TestApp, key: impl AsRef<str>, body: Value) -> (u16, Value) {
    let r = app
        .call("POST", "/v2/notifications/sms", key.as_ref(), Some(body))
        .await;
    (r.status.as_u16(), r.json())
}

async fn email(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let r = app
        .call("POST", "/v2/notifications/email", key, Some(body))
        .await;
    (r.status.as_u16(), r.json())
}

#[tokio::test]
async fn sms_is_stored_queued_and_answered_like_notify() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (status, body) = sms(
        &app,
        &s.live_key,
        json!({"phone_number": "07700 900123", "template_id": s.sms_template, "personalisation": {"Name": "Amala – “x”"}, "reference": "ref-1"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    insta::assert_json_snapshot!("sms_201", redact(&body));
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.queue.take_all("deliver-sms"), [Message::deliver(id)]);
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.normalised_to.as_deref(), Some("447700900123"));
    assert_eq!(stored.to, "07700 900123");
    let sealed = stored.encrypted_personalisation.unwrap();
    assert!(
        !sealed.contains("Amala"),
        "personalisation is encrypted at rest"
    );
}

#[tokio::test]
async fn email_with_reply_to_unsubscribe_and_sanitising() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let reply = app
        .admin(
            "POST",
            &format!("/service/{}/email-reply-to", s.service.id),
            Some(json!({"email_address": "reply@example.gov.uk"})),
        )
        .await
        .json();
    let (status, body) = email(
        &app,
        &s.live_key,
        json!({
            "email_address": "Someone@Example.com",
            "template_id": s.email_template,
            "personalisation": {"name": "see evil.com *now*", "items": ["one", "two"]},
            "email_reply_to_id": reply["data"]["id"],
            "one_click_unsubscribe_url": "https://example.gov.uk/unsubscribe",
            "sanitise_content_for": ["NAME"],
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    insta::assert_json_snapshot!("email_201", redact(&body));
    assert_eq!(
        body["sanitised_content"]["name"]["unsanitised"],
        "see evil.com *now*"
    );
    assert_eq!(app.queue.take_all("deliver-email").len(), 1);
}

#[tokio::test]
async fn validation_errors_are_collected_in_order() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (status, body) = sms(
        &app,
        &s.live_key,
        json!({"phone_number": 7700900001_i64, "reference": "x".repeat(1001), "template": 1}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error_types(&body), ["ValidationError"; 4]);
    assert_eq!(
        messages(&body),
        [
            "phone_number 7700900001 is not of type string".to_string(),
            format!("reference {} is too long", "x".repeat(1001)),
            "template_id is a required property".to_string(),
            "Additional properties are not allowed (template was unexpected)".to_string(),
        ]
    );
    let (_, body) = sms(
        &app,
        &s.live_key,
        json!({"phone_number": null, "template_id": "nope", "personalisation": "not_a_dict"}),
    )
    .await;
    assert_eq!(
        messages(&body),
        [
            "phone_number None is not of type string",
            "template_id is not a valid UUID",
            "personalisation not_a_dict is not of type object"
        ]
    );
    let (_, body) = email(&app, &s.live_key, json!({"email_address": "not-an-email", "template_id": s.email_template, "one_click_unsubscribe_url": "http://x.com"})).await;
    assert_eq!(
        messages(&body),
        [
            "email_address Not a valid email address",
            "one_click_unsubscribe_url is not a valid https url"
        ]
    );
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "scheduled_for": "tomorrow"})).await;
    assert_eq!(
        messages(&body),
        [
            "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601"
        ]
    );
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "scheduled_for": "2001-01-01T10:00:00Z"})).await;
    assert_eq!(
        messages(&body),
        ["scheduled_for datetime cannot be in the past"]
    );
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "scheduled_for": (chrono::Utc::now() + chrono::Duration::hours(97)).to_rfc3339()})).await;
    assert_eq!(
        messages(&body),
        ["scheduled_for datetime can only be up to 96 hours in the future"]
    );
}

#[tokio::test]
async fn phone_number_messages() {
    let app = TestApp::new().await;
    let s = app
        .service_with(false, Some(vec![ServicePermission::Sms]))
        .await;
    for (number, message) in [
        (
            "0770090012a",
            "phone_number Must not contain letters or symbols",
        ),
        ("0770090", "phone_number Not enough digits"),
        ("077009001234567890", "phone_number Too many digits"),
    ] {
        let (status, body) = sms(&app, &s.live_key, json!({"phone_number": number, "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
        assert_eq!(
            (status, messages(&body)),
            (400, vec![message.to_string()]),
            "{number}"
        );
    }
    let (status, body) = sms(&app, &s.live_key, json!({"phone_number": "+12025550104", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    assert_eq!(
        (status, messages(&body)),
        (
            400,
            vec!["Cannot send to international mobile numbers".to_string()]
        )
    );
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "020 7946 0000", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    assert_eq!(error_types(&body), ["InvalidPhoneError"]);
    assert_eq!(messages(&body), ["Not a UK mobile number"]);
}

#[tokio::test]
async fn template_and_content_errors() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let base = |template: Value| json!({"phone_number": "07700900123", "template_id": template, "personalisation": {"name": "x"}});
    let (_, body) = sms(&app, &s.live_key, base(json!(Uuid::new_v4()))).await;
    assert_eq!(messages(&body), ["Template not found"]);
    let (_, body) = sms(&app, &s.live_key, base(json!(s.email_template))).await;
    assert_eq!(
        messages(&body),
        ["email template is not suitable for sms notification"]
    );
    let (_, body) = sms(
        &app,
        &s.live_key,
        json!({"phone_number": "07700900123", "template_id": s.sms_template}),
    )
    .await;
    assert_eq!(messages(&body), ["Missing personalisation: name"]);
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x".repeat(1000)}})).await;
    assert_eq!(
        messages(&body),
        [
            "Your message is too long. Text messages cannot be longer than 918 characters. Your message is 1006 characters long."
        ]
    );
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": {"file": "abc"}}})).await;
    assert_eq!(messages(&body), ["Can only send a file by email"]);
    let (_, body) = email(&app, &s.live_key, json!({"email_address": "a@example.com", "template_id": s.email_template, "personalisation": {"name": {"file": "abc", "filename": null, "confirm_email_before_download": null, "retention_period": null}, "items": "x"}})).await;
    assert!(
        messages(&body)[0].starts_with(
            "Send files by email has not been set up - add contact details for your service at "
        ),
        "{body}"
    );
    app.admin(
        "POST",
        &format!("/service/{}/template/{}", s.service.id, s.sms_template),
        Some(json!({"archived": true})),
    )
    .await;
    let (_, body) = sms(&app, &s.live_key, base(json!(s.sms_template))).await;
    assert_eq!(messages(&body), ["Template has been deleted"]);
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "sms_sender_id": Uuid::nil()})).await;
    assert_eq!(
        messages(&body),
        ["Template has been deleted"],
        "template checks come before the sender lookup"
    );
    assert!(
        app.queue.take_all("deliver-sms").is_empty(),
        "nothing half-sent"
    );
}

#[tokio::test]
async fn unknown_senders_and_bad_json() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let id = Uuid::new_v4();
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}, "sms_sender_id": id})).await;
    assert_eq!(
        messages(&body),
        [format!(
            "sms_sender_id {id} does not exist in database for service id {}",
            s.service.id
        )]
    );
    let (_, body) = email(&app, &s.live_key, json!({"email_address": "a@example.com", "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}, "email_reply_to_id": id})).await;
    assert_eq!(
        messages(&body),
        [format!(
            "email_reply_to_id {id} does not exist in database for service id {}",
            s.service.id
        )]
    );
    let auth = format!("Bearer {}", notify_tests::token(&s.live_key));
    for raw in [&b"{not json"[..], b""] {
        let r = app
            .request("POST", "/v2/notifications/sms", Some(&auth), Some(raw))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.json(),
            json!({"status_code": 400, "errors": [{"error": "BadRequestError", "message": "Invalid JSON supplied in POST data"}]})
        );
    }
}

#[tokio::test]
async fn permissions_team_keys_and_trial_mode() {
    let app = TestApp::new().await;
    let no_sms = app
        .service_with(false, Some(vec![ServicePermission::Email]))
        .await;
    let (_, body) = sms(
        &app,
        &no_sms.live_key,
        json!({"phone_number": "07700900123", "template_id": no_sms.sms_template}),
    )
    .await;
    assert_eq!(
        messages(&body),
        ["Service is not allowed to send text messages"]
    );
    let (_, body) = app
        .call(
            "POST",
            "/v2/notifications/letter",
            &no_sms.live_key,
            Some(json!({"template_id": no_sms.letter_template, "personalisation": {}})),
        )
        .await
        .json()
        .pipe_messages();
    assert_eq!(body, ["Service is not allowed to send letters"]);

    let trial = app.service(true).await;
    let body = json!({"phone_number": "07700900456", "template_id": trial.sms_template, "personalisation": {"name": "x"}});
    let send = |key: String| sms(&app, key, body.clone());
    let (status, body) = send(trial.team_key.clone()).await;
    assert_eq!(
        (status, messages(&body)),
        (
            400,
            vec!["Can’t send to this recipient using a team-only API key".to_string()]
        )
    );
    let (_, body) = send(trial.live_key.clone()).await;
    assert_eq!(
        messages(&body),
        [
            "Can’t send to this recipient when service is in trial mode – see https://www.notifications.service.gov.uk/trial-mode"
        ]
    );
    let (status, _) = send(trial.test_key.clone()).await;
    assert_eq!(status, 201, "test keys send to anyone");
    // The guest list opens the gate.
    let r = app
        .admin(
            "PUT",
            &format!("/service/{}/guest-list", trial.service.id),
            Some(json!({"phone_numbers": ["+44 7700 900456"], "email_addresses": []})),
        )
        .await;
    assert_eq!(r.status, 204);
    let (status, _) = send(trial.team_key.clone()).await;
    assert_eq!(status, 201);
    // So does being on the team.
    let user = app.admin("POST", "/user", Some(json!({"name": "Team", "email_address": "team@example.gov.uk", "mobile_number": "07700900789"}))).await.json();
    app.admin(
        "POST",
        &format!(
            "/service/{}/users/{}",
            trial.service.id,
            user["data"]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let (status, _) = email(&app, &trial.live_key, json!({"email_address": "TEAM@example.gov.uk", "template_id": trial.email_template, "personalisation": {"name": "x", "items": []}})).await;
    assert_eq!(status, 201);
}

trait PipeMessages {
    fn pipe_messages(self) -> (u16, Vec<String>);
}

impl PipeMessages for Value {
    fn pipe_messages(self) -> (u16, Vec<String>) {
        (
            self["status_code"].as_u64().unwrap_or_default() as u16,
            messages(&self),
        )
    }
}

#[tokio::test]
async fn simulated_recipients_are_answered_and_not_stored() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (status, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900000", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    assert_eq!(status, 201);
    let get = app
        .call(
            "GET",
            &format!("/v2/notifications/{}", body["id"].as_str().unwrap()),
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(get.status, 404);
    let (status, _) = email(&app, &s.live_key, json!({"email_address": "simulate-delivered-2@notifications.service.gov.uk", "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}})).await;
    assert_eq!(status, 201);
    assert!(
        app.queue.take_all("deliver-sms").is_empty()
            && app.queue.take_all("deliver-email").is_empty()
    );
}

#[tokio::test]
async fn test_keys_are_stored_as_test() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (_, body) = sms(&app, &s.test_key, json!({"phone_number": "07700900003", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(stored.key_type, notify_core::model::KeyType::Test);
}

#[tokio::test]
async fn a_queue_outage_never_loses_an_accepted_notification() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    app.queue.set_unavailable(true);
    let (status, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    assert_eq!(status, 201, "the row is durable, so the send is accepted");
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(
        stored.status,
        notify_core::model::NotificationStatus::Created
    );
    let replayable = app
        .state
        .db
        .created_notifications_older_than(chrono::Utc::now() + chrono::Duration::seconds(1), 10)
        .await
        .unwrap();
    assert!(
        replayable.iter().any(|(n, _)| *n == id),
        "the replay job will find it"
    );
}

#[tokio::test]
async fn an_unreachable_database_answers_503_in_the_envelope() {
    let app =
        TestApp::with_config(|c| c.database.url = "postgres://postgres@127.0.0.1:1/none".into())
            .await;
    let dead = notify_db::Db::connect("postgres://postgres@127.0.0.1:1/none", 1, "t").unwrap();
    let state = notify_app::AppState::new((*app.state.config).clone(), dead, app.queue.clone());
    let router = notify_http::router(state);
    use tower::ServiceExt;
    let token = notify_app::auth::create_token(
        &Uuid::new_v4().to_string(),
        "x",
        chrono::Utc::now().timestamp(),
    );
    let request = http::Request::builder()
        .method("GET")
        .uri("/v2/notifications")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        messages(&body),
        ["Service temporarily unavailable, try again later"]
    );
}

#[tokio::test]
async fn empty_and_oversized_messages() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let only_name = app
        .admin(
            "POST",
            &format!("/service/{}/template", s.service.id),
            Some(json!({"name": "n", "template_type": "sms", "content": "((name))"})),
        )
        .await
        .json();
    let (status, body) = sms(&app, &s.live_key, json!({"phone_number": "07700900123", "template_id": only_name["data"]["id"], "personalisation": {"name": "  "}})).await;
    assert_eq!(
        (status, messages(&body)),
        (400, vec!["Your message is empty.".to_string()])
    );
    let (status, body) = email(&app, &s.live_key, json!({"email_address": "a@example.com", "template_id": s.email_template, "personalisation": {"name": "x".repeat(2_000_001), "items": "y"}})).await;
    assert_eq!(status, 400);
    assert_eq!(
        messages(&body),
        [
            "Your message is too long. Emails cannot be longer than 2000000 bytes. Your message is 2000010 bytes."
        ]
    );
    let no_email = app
        .service_with(false, Some(vec![ServicePermission::Sms]))
        .await;
    let (_, body) = email(
        &app,
        &no_email.live_key,
        json!({"email_address": "a@example.com", "template_id": no_email.email_template}),
    )
    .await;
    assert_eq!(messages(&body), ["Service is not allowed to send emails"]);
}

#[tokio::test]
async fn international_numbers_with_permission() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let (status, body) = sms(&app, &s.live_key, json!({"phone_number": "+1 202 555 0104", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    assert_eq!(status, 201, "{body}");
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let stored = app.stored(s.service.id, id).await;
    assert_eq!(
        (stored.normalised_to.as_deref(), stored.rate_multiplier),
        (Some("12025550104"), Some(1.0))
    );
    let (_, body) = sms(&app, &s.live_key, json!({"phone_number": "+999 1234 56789", "template_id": s.sms_template, "personalisation": {"name": "x"}})).await;
    assert_eq!(messages(&body), ["phone_number Not a valid country prefix"]);
}

#[tokio::test]
async fn unsubscribe_links() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let t = app
        .admin(
            "POST",
            &format!("/service/{}/template", s.service.id),
            Some(json!({"name": "u", "template_type": "email", "subject": "s", "content": "c", "has_unsubscribe_link": true})),
        )
        .await
        .json();
    let (_, body) = email(
        &app,
        &s.live_key,
        json!({"email_address": "a@example.com", "template_id": t["data"]["id"]}),
    )
    .await;
    assert_eq!(
        body["content"]["one_click_unsubscribe_url"],
        Value::Null,
        "the response echoes the request"
    );
    let got = app
        .call(
            "GET",
            &format!("/v2/notifications/{}", body["id"].as_str().unwrap()),
            &s.live_key,
            None,
        )
        .await
        .json();
    let link = got["one_click_unsubscribe_url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!(
            "https://api.test.notify/unsubscribe/{}/",
            body["id"].as_str().unwrap()
        )),
        "{link}"
    );
}

#[tokio::test]
async fn files_by_email() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let send = |file: Value, to: &'static str| {
        email(
            &app,
            &s.live_key,
            json!({"email_address": to, "template_id": s.email_template, "personalisation": {"name": file, "items": "x"}}),
        )
    };
    let (status, body) = send(json!({"file": "YQ==", "is_csv": "yes", "confirm_email_before_download": 1, "retention_period": "79 weeks", "filename": "noextension", "other": 1}), "a@example.com").await;
    assert_eq!(status, 400);
    assert_eq!(error_types(&body), ["ValidationError"; 6]);
    assert_eq!(
        messages(&body),
        [
            "is_csv Unsupported value for is_csv: yes. Use a boolean true or false value.",
            "confirm_email_before_download Unsupported value for confirm_email_before_download: 1. Use a boolean true or false value.",
            "retention_period Unsupported value for retention_period: 79 weeks. Supported periods are from 1 to 78 weeks.",
            "filename `filename` must end with a file extension. For example, filename.csv",
            "Do not set a value for `is_csv` if `filename` is set.",
            "Additional properties are not allowed (other was unexpected)",
        ]
    );
    app.admin(
        "POST",
        &format!("/service/{}", s.service.id),
        Some(json!({"contact_link": "https://example.gov.uk/contact"})),
    )
    .await;
    // With the contact link, a file goes on to the document checks (`documents::the_file_checks_in_notifys_words`):
    // this app has no virus scanner, so the send is refused and nothing is stored or queued.
    let ok_file = json!({"file": "YQ==", "filename": "report.pdf", "confirm_email_before_download": true, "retention_period": "4 weeks"});
    let (status, body) = send(ok_file, "simulate-delivered@notifications.service.gov.uk").await;
    assert_eq!(status, 500, "{body}");
    assert!(
        app.queue.take_all("deliver-email").is_empty(),
        "nothing stored or queued"
    );
}

/// Captures what delivery hands an email provider.
struct RecordingEmail(std::sync::Mutex<Vec<notify_outbound::providers::EmailMessage>>);

#[async_trait::async_trait]
impl notify_outbound::providers::EmailProvider for RecordingEmail {
    fn name(&self) -> &str {
        "recording"
    }
    async fn send_email(
        &self,
        message: &notify_outbound::providers::EmailMessage,
    ) -> Result<notify_outbound::providers::Accepted, notify_outbound::providers::ProviderError>
    {
        self.0.lock().unwrap().push(message.clone());
        Ok(notify_outbound::providers::Accepted {
            reference: Uuid::new_v4().to_string(),
            status: notify_core::model::NotificationStatus::Sending,
        })
    }
}

/// Upstream returns the template's content with the values filled in, line endings untouched, everywhere the API
/// shows a body (the official Node client's suite asserts `\r\n`); only delivery's text part is normalised.
#[tokio::test]
async fn email_bodies_keep_their_line_endings_until_delivery() {
    const V1: &str = "Functional test help make our world a better place";
    const CONTENT: &str =
        "Hello ((name))\r\n\r\nFunctional test help make our world a better place";
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let created = app
        .admin(
            "POST",
            &format!("/service/{sid}/template"),
            Some(json!({"name": "crlf", "template_type": "email", "content": V1, "subject": "Functional Tests are good"})),
        )
        .await
        .json();
    let tid = created["data"]["id"].as_str().unwrap().to_string();
    let updated = app
        .admin(
            "POST",
            &format!("/service/{sid}/template/{tid}"),
            Some(json!({"content": CONTENT})),
        )
        .await
        .json();
    assert_eq!(updated["data"]["content"], CONTENT, "admin update");
    let admin_get = app
        .admin("GET", &format!("/service/{sid}/template/{tid}"), None)
        .await
        .json();
    assert_eq!(admin_get["data"]["content"], CONTENT, "admin read");

    let (status, sent) = email(
        &app,
        &s.live_key,
        json!({"email_address": "anne@example.com", "template_id": tid, "personalisation": {"name": "Anne"}}),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let expected = "Hello Anne\r\n\r\nFunctional test help make our world a better place";
    assert_eq!(sent["content"]["body"], expected, "201 content.body");
    let id = sent["id"].as_str().unwrap();
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(got["body"], expected, "GET body");
    let listed = app
        .call(
            "GET",
            "/v2/notifications?template_type=email",
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(listed["notifications"][0]["body"], expected, "listed body");

    let template = |path: String| {
        let app = &app;
        let key = s.live_key.clone();
        async move { app.call("GET", &path, &key, None).await.json() }
    };
    assert_eq!(
        template(format!("/v2/template/{tid}")).await["body"],
        CONTENT
    );
    assert_eq!(
        template(format!("/v2/template/{tid}/version/1")).await["body"],
        V1
    );
    let listed_templates = template("/v2/templates?type=email".into()).await;
    let listed_template = listed_templates["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == tid.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed_template["body"], CONTENT, "GET /v2/templates");
    let preview = app
        .call(
            "POST",
            &format!("/v2/template/{tid}/preview"),
            &s.live_key,
            Some(json!({"personalisation": {"name": "Preview"}})),
        )
        .await
        .json();
    assert_eq!(
        preview["body"],
        "Hello Preview\r\n\r\nFunctional test help make our world a better place"
    );

    // Delivery: the provider gets a plain-text part with `\n` line endings and one HTML paragraph per block.
    let recording = Arc::new(RecordingEmail(Default::default()));
    let providers = notify_outbound::providers::Providers::new(
        Vec::<Arc<dyn notify_outbound::providers::SmsProvider>>::new(),
        vec![recording.clone() as Arc<dyn notify_outbound::providers::EmailProvider>],
        Arc::new(notify_outbound::providers::SimulatedProvider::new(
            app.queue.clone(),
            "status",
        )),
    );
    notify_app::delivery::deliver(&app.state, &providers, id.parse().unwrap())
        .await
        .unwrap();
    let delivered = recording.0.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].text_body,
        "Hello Anne\n\nFunctional test help make our world a better place"
    );
    assert!(
        !delivered[0].html_body.contains('\r'),
        "{}",
        delivered[0].html_body
    );
}

/// Upstream's example through the API: the link target goes, brackets and parentheses are escaped, and the 201
/// says what was changed; the body is rendered from the sanitised value.
#[tokio::test]
async fn sanitise_content_for_removes_link_targets_as_upstream() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let unsafe_name = "Anne Example, now [click this evil link](https://evil.link)";
    let sanitised = r"Anne Example, now \[click this evil link\]\(\)";
    let (status, body) = email(
        &app,
        &s.test_key,
        json!({
            "email_address": "anne@example.com",
            "template_id": s.email_template,
            "personalisation": {"Name": unsafe_name, "items": "untouched https://example.com", "other": "[x](https://evil.link)"},
            "sanitise_content_for": ["name", "items"],
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["sanitised_content"],
        json!({
            "Name": {"unsanitised": unsafe_name, "sanitised": sanitised},
            "items": {"unsanitised": "untouched https://example.com", "sanitised": r"untouched "},
        })
    );
    assert_eq!(
        body["content"]["body"],
        format!("Dear {sanitised},\n\nuntouched")
    );
    let id = body["id"].as_str().unwrap();
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.test_key, None)
        .await
        .json();
    assert_eq!(got["body"], body["content"]["body"], "stored sanitised");
}
