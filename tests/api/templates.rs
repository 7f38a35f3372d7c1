//! GET /v2/template(s) and POST /v2/template/{id}/preview.

use notify_tests::{TestApp, redact};
use serde_json::json;
use uuid::Uuid;

use crate::messages;

#[tokio::test]
async fn template_by_id_version_and_list() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let path = format!("/service/{}/template/{}", s.service.id, s.email_template);
    let updated = app
        .admin(
            "POST",
            &path,
            Some(json!({"name": "email v2", "content": "Hi ((Name)) ((show??shown))"})),
        )
        .await;
    assert_eq!(updated.status, 200);
    let current = app
        .call(
            "GET",
            &format!("/v2/template/{}", s.email_template),
            &s.live_key,
            None,
        )
        .await
        .json();
    insta::assert_json_snapshot!("template_get", redact(&current));
    assert_eq!(current["version"], 2);
    let v1 = app
        .call(
            "GET",
            &format!("/v2/template/{}/version/1", s.email_template),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(
        (v1["version"].clone(), v1["name"].clone()),
        (json!(1), json!("email"))
    );
    let v0 = app
        .call(
            "GET",
            &format!("/v2/template/{}/version/0", s.email_template),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(v0["version"], 2, "version 0 means the latest, as upstream");
    let missing = app
        .call(
            "GET",
            &format!("/v2/template/{}/version/9", s.email_template),
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        app.call(
            "GET",
            &format!("/v2/template/{}/version/x", s.email_template),
            &s.live_key,
            None
        )
        .await
        .status,
        404
    );
    let bad = app
        .call("GET", "/v2/template/nope", &s.live_key, None)
        .await;
    assert_eq!(messages(&bad.json()), ["id is not a valid UUID"]);

    let all = app
        .call("GET", "/v2/templates", &s.live_key, None)
        .await
        .json();
    let names: Vec<&str> = all["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["email v2", "letter", "sms"], "ordered by name");
    let sms = app
        .call("GET", "/v2/templates?type=sms", &s.live_key, None)
        .await
        .json();
    assert_eq!(sms["templates"].as_array().unwrap().len(), 1);
    let r = app
        .call("GET", "/v2/templates?type=coconut&x=1", &s.live_key, None)
        .await;
    assert_eq!(
        messages(&r.json()),
        [
            "type coconut is not one of [sms, email, letter]",
            "Additional properties are not allowed (x was unexpected)"
        ]
    );

    app.admin(
        "POST",
        &format!("/service/{}/template/{}", s.service.id, s.sms_template),
        Some(json!({"archived": true})),
    )
    .await;
    let all = app
        .call("GET", "/v2/templates", &s.live_key, None)
        .await
        .json();
    assert_eq!(
        all["templates"].as_array().unwrap().len(),
        2,
        "archived templates are not listed"
    );
    let archived = app
        .call(
            "GET",
            &format!("/v2/template/{}", s.sms_template),
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(archived.status, 200, "but can still be read by id");
}

#[tokio::test]
async fn preview() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let path = format!("/v2/template/{}/preview", s.email_template);
    let r = app
        .call(
            "POST",
            &path,
            &s.live_key,
            Some(json!({"personalisation": {"name": "Amala", "items": ["a", "b"]}, "extra": 1})),
        )
        .await;
    assert_eq!(r.status, 200);
    insta::assert_json_snapshot!("email_preview", redact(&r.json()));
    let r = app.call("POST", &path, &s.live_key, Some(json!({}))).await;
    assert_eq!(
        (r.status.as_u16(), messages(&r.json())),
        (
            400,
            vec!["Missing personalisation: name, items".to_string()]
        )
    );
    let auth = format!("Bearer {}", notify_tests::token(&s.live_key));
    let empty = app
        .request(
            "POST",
            &format!("/v2/template/{}/preview", s.sms_template),
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(
        messages(&empty.json()),
        ["Missing personalisation: name"],
        "an empty body is {{}}"
    );
    let r = app
        .call(
            "POST",
            &path,
            &s.live_key,
            Some(json!({"personalisation": "x"})),
        )
        .await;
    assert_eq!(
        messages(&r.json()),
        ["personalisation x is not of type object"]
    );
    let r = app
        .call(
            "POST",
            &format!("/v2/template/{}/preview", Uuid::new_v4()),
            &s.live_key,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 404);
    let letter = app
        .call(
            "POST",
            &format!("/v2/template/{}/preview", s.letter_template),
            &s.live_key,
            Some(json!({"personalisation": {"address_line_1": "A", "thing": "<b>"}})),
        )
        .await
        .json();
    assert_eq!(
        (
            letter["subject"].clone(),
            letter["postage"].clone(),
            letter["html"].clone()
        ),
        (json!("Your &lt;b&gt;"), json!("second"), json!(null))
    );
}
