//! The admin API on Notify's internal paths.

use notify_tests::{TestApp, token};
use serde_json::json;

#[tokio::test]
async fn a_service_from_scratch_can_send() {
    let app = TestApp::new().await;
    let user = app.admin("POST", "/user", Some(json!({"name": "Ada", "email_address": "ada@example.gov.uk", "mobile_number": "07700900111"}))).await;
    assert_eq!(user.status, 201);
    let user_id = user.json()["data"]["id"].as_str().unwrap().to_string();
    let service = app.admin("POST", "/service", Some(json!({"name": "Admin made", "user_id": user_id, "email_from": "admin.made", "restricted": false}))).await;
    assert_eq!(service.status, 201, "{:?}", service.json());
    let service = service.json()["data"].clone();
    let sid = service["id"].as_str().unwrap().to_string();
    assert_eq!(
        service["permissions"],
        json!([
            "email",
            "international_letters",
            "international_sms",
            "letter",
            "sms"
        ])
    );
    let users = app
        .admin("GET", &format!("/service/{sid}/users"), None)
        .await
        .json();
    assert_eq!(users["data"][0]["email_address"], "ada@example.gov.uk");

    let key = app
        .admin(
            "POST",
            &format!("/service/{sid}/api-key"),
            Some(json!({"name": "k", "key_type": "normal", "created_by": user_id})),
        )
        .await;
    assert_eq!(key.status, 201);
    let key = key.json()["data"].clone();
    let combined = key["combined_key"].as_str().unwrap().to_string();
    assert!(combined.ends_with(key["key"].as_str().unwrap()));
    let keys = app
        .admin("GET", &format!("/service/{sid}/api-keys"), None)
        .await
        .json();
    assert_eq!(keys["apiKeys"][0]["name"], "k");
    assert!(
        keys["apiKeys"][0].get("secret").is_none(),
        "secrets are shown once only"
    );

    let t = app.admin("POST", &format!("/service/{sid}/template"), Some(json!({"name": "t", "template_type": "sms", "content": "Hi ((name))", "created_by": user_id}))).await;
    assert_eq!(t.status, 201);
    let tid = t.json()["data"]["id"].as_str().unwrap().to_string();
    let sender = app
        .admin(
            "POST",
            &format!("/service/{sid}/sms-sender"),
            Some(json!({"sms_sender": "07700900222", "is_default": true})),
        )
        .await;
    assert_eq!(sender.status, 201);
    let sent = app.call("POST", "/v2/notifications/sms", &combined, Some(json!({"phone_number": "07700900333", "template_id": tid, "personalisation": {"name": "x"}}))).await;
    assert_eq!(sent.status, 201);
    assert_eq!(sent.json()["content"]["from_number"], "447700900222");
    let versions = app
        .admin(
            "GET",
            &format!("/service/{sid}/template/{tid}/versions"),
            None,
        )
        .await
        .json();
    assert_eq!(versions["data"].as_array().unwrap().len(), 1);

    let cb = app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": "http://insecure.example", "bearer_token": "short", "callback_type": "delivery_status"}))).await;
    assert_eq!(cb.status, 400);
    assert_eq!(
        cb.json()["message"],
        "url http://insecure.example is not a valid https url, bearer_token short is too short"
    );
    let cb = app.admin("POST", &format!("/service/{sid}/callback-api"), Some(json!({"url": "https://callbacks.example.gov.uk/x", "bearer_token": "a-long-enough-token", "callback_type": "inbound_sms"}))).await;
    assert_eq!(cb.status, 201);
    let got = app
        .admin("GET", &format!("/service/{sid}"), None)
        .await
        .json();
    assert_eq!(
        got["data"]["service_callback_api"],
        json!([cb.json()["data"]["id"]])
    );
    let retention = app
        .admin(
            "POST",
            &format!("/service/{sid}/data-retention"),
            Some(json!({"notification_type": "sms", "days_of_retention": 30})),
        )
        .await;
    assert_eq!(retention.status, 201);
    let bad = app
        .admin(
            "POST",
            &format!("/service/{sid}/data-retention"),
            Some(json!({"notification_type": "sms", "days_of_retention": 1000})),
        )
        .await;
    assert_eq!(bad.status, 400);

    let dup = app
        .admin("POST", "/service", Some(json!({"name": "Admin made"})))
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(dup.json()["result"], "error");
    assert_eq!(
        app.admin("GET", "/service/8e3f5a0e-0000-0000-0000-000000000000", None)
            .await
            .status,
        404
    );
    let _ = token(&combined);
}

/// Admin bodies are typed, but answer as the admin API always has: `{"result": "error", "message": …}`, the
/// first problem in the order the handler checks, fields of the wrong type counting as absent.
#[tokio::test]
async fn admin_bodies_answer_in_the_admin_error_shape() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let error = |message: serde_json::Value| json!({"result": "error", "message": message});
    let cases = [
        (
            "POST",
            "/service".to_string(),
            json!([1]),
            400,
            error(json!("Invalid JSON supplied in POST data")),
        ),
        (
            "POST",
            "/service".to_string(),
            json!({"name": 7, "user_id": "nope"}),
            400,
            error(json!({"name": ["Missing data for required field."]})),
        ),
        (
            "POST",
            "/service".to_string(),
            json!({"name": "N", "user_id": "nope"}),
            400,
            error(json!({"user_id": ["Not a valid UUID."]})),
        ),
        (
            "POST",
            "/service".to_string(),
            json!({"name": "N", "permissions": null}),
            400,
            error(json!("permissions must be a list")),
        ),
        (
            "POST",
            "/service".to_string(),
            json!({"name": "N", "permissions": ["sms", "fax"]}),
            400,
            error(json!("Invalid Service Permission: '\"fax\"'")),
        ),
        (
            "POST",
            format!("/service/{sid}/api-key"),
            json!({"key_type": "gold", "name": "k"}),
            400,
            error(json!({"key_type": ["Invalid key type: gold"]})),
        ),
        (
            "POST",
            format!("/service/{sid}/template"),
            json!({"name": "t", "template_type": "fax", "content": "c"}),
            400,
            error(json!({"template_type": ["fax is not one of [sms, email, letter]"]})),
        ),
        (
            "POST",
            format!("/service/{sid}/sms-sender"),
            json!({"sms_sender": "TWELVE-CHARS"}),
            400,
            error(json!({"sms_sender": ["Longer than maximum length 11."]})),
        ),
        (
            "POST",
            format!("/service/{sid}/email-reply-to"),
            json!({"email_address": "not-an-address"}),
            400,
            error(json!({"email_address": ["Not a valid email address"]})),
        ),
        (
            "PUT",
            format!("/service/{sid}/guest-list"),
            json!({"email_addresses": ["", 3, "nope"]}),
            400,
            error(json!(
                "Invalid guest list: \"nope\" is not a valid email address or phone number"
            )),
        ),
        (
            "POST",
            format!("/service/{sid}/callback-api"),
            json!({"callback_type": "fax", "url": "https://x.gov.uk"}),
            400,
            error(json!(
                "callback_type fax is not one of [delivery_status, inbound_sms, complaint, returned_letter]"
            )),
        ),
        (
            "POST",
            format!("/service/{sid}/data-retention"),
            json!({"notification_type": "sms", "days_of_retention": "7"}),
            400,
            error(json!(
                "days_of_retention must be a whole number of days from 3 to 90"
            )),
        ),
        (
            "POST",
            format!("/service/{sid}/inbound-number"),
            json!({"provider": "mmg"}),
            400,
            error(json!({"number": ["Missing data for required field."]})),
        ),
    ];
    for (method, path, body, status, expected) in cases {
        let r = app.admin(method, &path, Some(body.clone())).await;
        assert_eq!(
            (r.status.as_u16(), r.json()),
            (status, expected),
            "{method} {path} {body}"
        );
    }
}
