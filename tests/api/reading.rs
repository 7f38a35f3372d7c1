//! GET /v2/notifications/{id} and the list: every field, filters, aliases, key-type scoping, paging links.

use notify_tests::{TestApp, redact};
use serde_json::{Value, json};

use crate::messages;

#[tokio::test]
async fn get_by_id_shows_every_field() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let id = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", Some("r"))
        .await
        .to_string();
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await;
    assert_eq!(got.status, 200);
    insta::assert_json_snapshot!("sms_get", redact(&got.json()));
    // Any key of the service may read it.
    assert_eq!(
        app.call("GET", &format!("/v2/notifications/{id}"), &s.test_key, None)
            .await
            .status,
        200
    );
    // Another service may not.
    let other = app.service(false).await;
    let r = app
        .call(
            "GET",
            &format!("/v2/notifications/{id}"),
            &other.live_key,
            None,
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"status_code": 404, "errors": [{"error": "NoResultFound", "message": "No result found"}]})
    );
    let r = app
        .call("GET", "/v2/notifications/not-a-uuid", &s.live_key, None)
        .await;
    assert_eq!(
        (r.status.as_u16(), messages(&r.json())),
        (400, vec!["notification_id is not a valid UUID".to_string()])
    );
}

#[tokio::test]
async fn list_filters_and_pages() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let first = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", Some("a b"))
        .await
        .to_string();
    let second = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", Some("other"))
        .await
        .to_string();
    let test_only = app
        .send_sms(&s.test_key, s.sms_template, "07700900123", Some("a b"))
        .await
        .to_string();

    let list = app
        .call("GET", "/v2/notifications", &s.live_key, None)
        .await
        .json();
    let ids: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [second.as_str(), first.as_str()],
        "newest first, live key only"
    );
    assert_eq!(
        list["links"]["current"],
        "https://api.test.notify/v2/notifications"
    );
    assert_eq!(
        list["links"]["next"],
        format!("https://api.test.notify/v2/notifications?older_than={first}")
    );

    let by_ref = app
        .call(
            "GET",
            "/v2/notifications?reference=a+b&template_type=sms&status=accepted",
            &s.live_key,
            None,
        )
        .await
        .json();
    let ids: Vec<&str> = by_ref["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str()]);
    assert_eq!(
        by_ref["links"]["current"],
        "https://api.test.notify/v2/notifications?reference=a+b&template_type=sms&status=accepted"
    );
    assert!(
        by_ref["links"]["next"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "https://api.test.notify/v2/notifications?older_than={first}&reference=a+b"
            ))
    );

    let page2 = app
        .call(
            "GET",
            &format!("/v2/notifications?older_than={second}"),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(page2["notifications"].as_array().unwrap().len(), 1);
    let empty = app
        .call(
            "GET",
            &format!("/v2/notifications?older_than={first}"),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(empty["notifications"], json!([]));
    assert!(
        empty["links"].get("next").is_none(),
        "no next on an empty page"
    );

    let tests = app
        .call(
            "GET",
            "/v2/notifications?status=delivered&status=created",
            &s.test_key,
            None,
        )
        .await
        .json();
    assert_eq!(tests["notifications"][0]["id"], test_only.as_str());
    let none = app
        .call(
            "GET",
            "/v2/notifications?status=received",
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(none["notifications"], json!([]));
}

#[tokio::test]
async fn list_query_errors() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let r = app.call("GET", "/v2/notifications?status=elephant&template_type=orange&include_jobs=yes&older_than=x&foo=1", &s.live_key, None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        messages(&r.json()),
        [
            "status elephant is not one of [cancelled, created, sending, sent, delivered, pending, failed, technical-failure, temporary-failure, permanent-failure, pending-virus-check, validation-failed, virus-scan-failed, returned-letter, accepted, received]",
            "template_type orange is not one of [sms, email, letter]",
            "include_jobs yes is not one of [true, True]",
            "older_than is not a valid UUID",
            "Additional properties are not allowed (foo was unexpected)",
        ]
    );
    let ok = app
        .call(
            "GET",
            "/v2/notifications?include_jobs=True",
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn cost_fields() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let id = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", Some("c"))
        .await
        .to_string();
    let n: Value = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(
        (
            n["is_cost_data_ready"].clone(),
            n["cost_in_pounds"].clone(),
            n["cost_details"].clone()
        ),
        (json!(false), Value::Null, json!({}))
    );
    let e = app
        .call("POST", "/v2/notifications/email", &s.live_key, Some(json!({"email_address": "a@example.com", "template_id": s.email_template, "personalisation": {"name": "x", "items": "y"}})))
        .await
        .json();
    let n = app
        .call(
            "GET",
            &format!("/v2/notifications/{}", e["id"].as_str().unwrap()),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(
        (
            n["is_cost_data_ready"].clone(),
            n["cost_in_pounds"].clone(),
            n["cost_details"].clone()
        ),
        (json!(true), json!(0.0), json!({}))
    );
}

#[tokio::test]
async fn received_text_messages() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    app.assign_inbound_number(s.service.id, "07700900999").await;
    let first = notify_app::admin::receive_inbound_sms(
        &app.state,
        s.service.id,
        "07700 900111",
        "Hello Notify!",
    )
    .await
    .unwrap();
    let second =
        notify_app::admin::receive_inbound_sms(&app.state, s.service.id, "+447700900222", "Second")
            .await
            .unwrap();
    let body = app
        .call("GET", "/v2/received-text-messages", &s.team_key, None)
        .await
        .json();
    insta::assert_json_snapshot!("received_texts", redact(&body));
    assert_eq!(body["received_text_messages"][0]["id"], second.to_string());
    assert_eq!(
        body["links"]["next"],
        format!("https://api.test.notify/v2/received-text-messages?older_than={first}")
    );
    let older = app
        .call(
            "GET",
            &format!("/v2/received-text-messages?older_than={second}"),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(
        older["received_text_messages"][0]["user_number"],
        "447700900111"
    );
    assert_eq!(
        older["links"]["current"],
        "https://api.test.notify/v2/received-text-messages"
    );
    let r = app
        .call(
            "GET",
            "/v2/received-text-messages?older_than=x&user_number=1",
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(
        messages(&r.json()),
        [
            "older_than is not a valid UUID",
            "Additional properties are not allowed (user_number was unexpected)"
        ]
    );
}

#[tokio::test]
async fn unknown_routes_use_the_plain_envelope() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let r = app
        .call(
            "POST",
            "/v2/notifications/fax",
            &s.live_key,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["result"], "error");
    let r = app
        .call("DELETE", "/v2/notifications", &s.live_key, None)
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["result"], "error");
    assert_eq!(
        r.headers["cache-control"],
        "no-store, no-cache, private, must-revalidate"
    );
}
