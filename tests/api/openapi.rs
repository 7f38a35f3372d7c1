//! `GET /openapi.json` and `/docs`, and the description held against what the API answers: every response of a
//! run through the public v2 API (each endpoint, its 2xx and its errors) is validated with the `jsonschema` crate
//! against the schema the description gives for its path, method and status, formats included.

use notify_tests::precompiled::{ADDRESS, letter};
use notify_tests::{Response, TestApp};
use serde_json::{Value, json};

struct Spec(Value);

impl Spec {
    async fn served(app: &TestApp) -> Spec {
        let r = app.request("GET", "/openapi.json", None, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["content-type"], "application/json");
        Spec(r.json())
    }

    /// The operation `method path` (a path as the description writes it, `{id}` and all).
    fn operation(&self, method: &str, path: &str) -> &Value {
        let op = &self.0["paths"][path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is not described");
        op
    }

    /// Checks `response` against what the description says `method path` answers with its status.
    fn check(&self, method: &str, path: &str, response: &Response) {
        let status = response.status.as_str().to_string();
        let described = &self.operation(method, path)["responses"][&status];
        assert!(
            described.is_object(),
            "{method} {path} answered {status}, which the description does not list: {}",
            String::from_utf8_lossy(&response.bytes)
        );
        let content_type = response.headers["content-type"].to_str().unwrap();
        let media = &described["content"][content_type];
        assert!(
            media.is_object(),
            "{method} {path} {status}: {content_type} is not a described content type"
        );
        if content_type != "application/json" {
            return;
        }
        let body = response.json();
        let errors = self.violations(method, path, &status, &body);
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match the description:\n{}\n{body:#}",
            errors.join("\n")
        );
    }

    /// What is wrong with `body` as the JSON answer of `method path` with `status`.
    fn violations(&self, method: &str, path: &str, status: &str, body: &Value) -> Vec<String> {
        let pointer = format!(
            "#/paths/{}/{}/responses/{status}/content/application~1json/schema",
            // A JSON pointer in a URI fragment: `~` and `/` escaped, the braces percent-encoded.
            path.replace('~', "~0")
                .replace('/', "~1")
                .replace('{', "%7B")
                .replace('}', "%7D"),
            method.to_ascii_lowercase()
        );
        // The whole description is the root document, so the component references resolve.
        let mut root = self.0.clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["$ref"] = json!(pointer);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: schema does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

#[tokio::test]
async fn the_description_is_openapi_3_1_with_bearer_jwt() {
    let app = TestApp::new().await;
    let spec = Spec::served(&app).await;
    assert_eq!(spec.0["openapi"], "3.1.0");
    let scheme = &spec.0["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"], &scheme["bearerFormat"]),
        (&json!("http"), &json!("bearer"), &json!("JWT"))
    );
    assert_eq!(spec.0["security"], json!([{"bearer": []}]));
    // The additions of issue 15, in the send schemas already.
    for (path, schema) in [
        ("/v2/notifications/sms", "SmsRequest"),
        ("/v2/notifications/email", "EmailRequest"),
        ("/v2/notifications/letter", "LetterRequest"),
    ] {
        let callback_url = &spec.0["components"]["schemas"][schema]["properties"]["callback_url"];
        assert_eq!(
            (&callback_url["format"], &callback_url["maxLength"]),
            (&json!("uri"), &json!(255))
        );
        let params = spec.operation("POST", path)["parameters"]
            .as_array()
            .unwrap();
        let key = params
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .expect("Idempotency-Key described");
        assert_eq!(
            (&key["in"], &key["required"], &key["schema"]["maxLength"]),
            (&json!("header"), &json!(false), &json!(255))
        );
    }
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary_and_loads_nothing_from_elsewhere() {
    let app = TestApp::new().await;
    let r = app.request("GET", "/docs", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    let page = String::from_utf8(r.bytes).unwrap();
    assert!(page.contains("fetch(\"/openapi.json\")"));
    assert!(
        !page.contains("src=\"http"),
        "the page loads a script from elsewhere"
    );
    assert!(
        !page.contains("href=\"http"),
        "the page loads a stylesheet from elsewhere"
    );
    assert!(
        r.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[tokio::test]
async fn every_v2_response_matches_the_description() {
    let app = TestApp::new().await;
    let spec = Spec::served(&app).await;
    let s = app.service(false).await;
    let key = &s.live_key;
    let call = |method: &'static str, described: &'static str, url: String, body: Option<Value>| {
        let app = &app;
        let spec = &spec;
        async move {
            let r = app.call(method, &url, key, body).await;
            spec.check(method, described, &r);
            r
        }
    };
    let mut checked = 0;

    // Sends, each channel.
    let sms = call(
        "POST",
        "/v2/notifications/sms",
        "/v2/notifications/sms".into(),
        Some(
            json!({"phone_number": "07700900123", "template_id": s.sms_template,
            "personalisation": {"name": "Ann"}, "reference": "openapi"}),
        ),
    )
    .await;
    assert_eq!(sms.status, 201, "{}", sms.json());
    let email = call(
        "POST",
        "/v2/notifications/email",
        "/v2/notifications/email".into(),
        Some(
            json!({"email_address": "someone@example.com", "template_id": s.email_template,
            "personalisation": {"name": "see evil.com", "items": ["a", "b"]},
            "sanitise_content_for": ["name"],
            "one_click_unsubscribe_url": "https://example.gov.uk/unsubscribe"}),
        ),
    )
    .await;
    assert_eq!(email.status, 201, "{}", email.json());
    let templated = call(
        "POST",
        "/v2/notifications/letter",
        "/v2/notifications/letter".into(),
        Some(
            json!({"template_id": s.letter_template, "personalisation": {
            "address_line_1": "Ms A Person", "address_line_2": "1 High St", "postcode": "SW1A 1AA",
            "thing": "letter"}}),
        ),
    )
    .await;
    assert_eq!(templated.status, 201, "{}", templated.json());
    let content = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        letter(&ADDRESS, 1),
    );
    let precompiled = call(
        "POST",
        "/v2/notifications/letter",
        "/v2/notifications/letter".into(),
        Some(json!({"reference": "precompiled", "content": content, "postage": "first"})),
    )
    .await;
    assert_eq!(precompiled.status, 201, "{}", precompiled.json());
    let bulk = call(
        "POST",
        "/v2/notifications/bulk",
        "/v2/notifications/bulk".into(),
        Some(json!({"name": "openapi.csv", "template_id": s.sms_template,
            "rows": [["phone number", "name"], ["07700900123", "Ann"], ["07700900456", "Bob"]]})),
    )
    .await;
    assert_eq!(bulk.status, 201, "{}", bulk.json());
    checked += 5;

    // Reading them back.
    for created in [&sms, &email, &templated, &precompiled] {
        let id = created.json()["id"].as_str().unwrap().to_string();
        let r = call(
            "GET",
            "/v2/notifications/{notification_id}",
            format!("/v2/notifications/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        checked += 1;
    }
    for (query, status) in [
        ("", 200),
        ("?template_type=sms&template_type=letter", 200),
        ("?status=failed&status=delivered", 200),
        ("?reference=openapi&include_jobs=true", 200),
        ("?status=nope", 400),
        ("?older_than=not-a-uuid", 400),
        ("?unknown=1", 400),
    ] {
        let r = call(
            "GET",
            "/v2/notifications",
            format!("/v2/notifications{query}"),
            None,
        )
        .await;
        assert_eq!(r.status, status, "{query}: {}", r.json());
        checked += 1;
    }
    // A letter's PDF before it is rendered, and a text's: both 400 in the envelope.
    for created in [&templated, &sms] {
        let id = created.json()["id"].as_str().unwrap().to_string();
        let r = call(
            "GET",
            "/v2/notifications/{notification_id}/pdf",
            format!("/v2/notifications/{id}/pdf"),
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.json());
        checked += 1;
    }

    // Templates.
    let t = s.email_template;
    for (described, url, status) in [
        ("/v2/template/{id}", format!("/v2/template/{t}"), 200),
        (
            "/v2/template/{id}/version/{version}",
            format!("/v2/template/{t}/version/1"),
            200,
        ),
        (
            "/v2/template/{id}/version/{version}",
            format!("/v2/template/{t}/version/one"),
            404,
        ),
        (
            "/v2/template/{id}/version/{version}",
            format!("/v2/template/{t}/version/7"),
            404,
        ),
        ("/v2/templates", "/v2/templates".into(), 200),
        ("/v2/templates", "/v2/templates?type=letter".into(), 200),
        ("/v2/templates", "/v2/templates?type=fax".into(), 400),
    ] {
        let r = call("GET", described, url, None).await;
        assert_eq!(r.status, status, "{}", r.json());
        checked += 1;
    }
    for (body, status) in [
        (
            json!({"personalisation": {"name": "Ann", "items": "x"}}),
            200,
        ),
        (json!({"personalisation": "x"}), 400),
        (json!({}), 400),
    ] {
        let r = call(
            "POST",
            "/v2/template/{id}/preview",
            format!("/v2/template/{t}/preview"),
            Some(body),
        )
        .await;
        assert_eq!(r.status, status, "{}", r.json());
        checked += 1;
    }

    // Received texts.
    app.assign_inbound_number(s.service.id, "07700900999").await;
    notify_app::admin::receive_inbound_sms(&app.state, s.service.id, "07700 900111", "Hello")
        .await
        .unwrap();
    let r = call(
        "GET",
        "/v2/received-text-messages",
        "/v2/received-text-messages".into(),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["received_text_messages"][0]["content"], "Hello");
    checked += 1;

    // Errors: validation, unknown ids, bad ids.
    for (body, status) in [
        (
            json!({"phone_number": "123", "template_id": s.sms_template}),
            400,
        ),
        (json!({"phone_number": "07700900123"}), 400),
        (json!([1]), 400),
        (
            json!({"phone_number": "07700900123", "template_id": s.sms_template, "extra": 1}),
            400,
        ),
    ] {
        let r = call(
            "POST",
            "/v2/notifications/sms",
            "/v2/notifications/sms".into(),
            Some(body),
        )
        .await;
        assert_eq!(r.status, status, "{}", r.json());
        checked += 1;
    }
    for (url, status) in [
        (format!("/v2/notifications/{}", uuid::Uuid::new_v4()), 404),
        ("/v2/notifications/nope".to_string(), 400),
    ] {
        let r = call("GET", "/v2/notifications/{notification_id}", url, None).await;
        assert_eq!(r.status, status, "{}", r.json());
        checked += 1;
    }
    // Unauthenticated: 403 in the envelope.
    let r = app
        .request("GET", "/v2/templates", Some("Bearer nonsense"), None)
        .await;
    assert_eq!(r.status, 403);
    spec.check("GET", "/v2/templates", &r);
    checked += 1;
    assert!(checked >= 35, "{checked}");

    // And the check is not blind: a 201 with a bad id, a missing field or an extra null fails it, and so does an
    // envelope without its status.
    let mut bad = sms.json();
    bad["id"] = json!("not-a-uuid");
    assert!(
        !spec
            .violations("POST", "/v2/notifications/sms", "201", &bad)
            .is_empty()
    );
    let mut bad = sms.json();
    bad.as_object_mut().unwrap().remove("content");
    assert!(
        !spec
            .violations("POST", "/v2/notifications/sms", "201", &bad)
            .is_empty()
    );
    let mut bad = email.json();
    bad["content"]["subject"] = Value::Null;
    assert!(
        !spec
            .violations("POST", "/v2/notifications/email", "201", &bad)
            .is_empty()
    );
    assert!(
        !spec
            .violations(
                "GET",
                "/v2/templates",
                "400",
                &json!({"errors": [{"error": "ValidationError", "message": "m"}]})
            )
            .is_empty()
    );
}

/// What fuzzing found, each a 500 before: a NUL (which Postgres text cannot hold) in a stored field is a 400 in
/// the envelope, and a `reference` filter with one matches nothing.
#[tokio::test]
async fn nul_characters_are_refused_not_failed_on() {
    let app = TestApp::new().await;
    let spec = Spec::served(&app).await;
    let s = app.service(false).await;
    let key = &s.live_key;
    let address = json!({"address_line_1": "Ms A Person", "address_line_2": "1 High\u{0} St",
        "postcode": "SW1A 1AA", "thing": "x"});
    for (path, body, message) in [
        (
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": s.sms_template,
                "personalisation": {"name": "x"}, "reference": "a\u{0}"}),
            "reference must not contain NUL characters",
        ),
        (
            "/v2/notifications/letter",
            json!({"template_id": s.letter_template, "personalisation": address}),
            "Address lines must not contain control characters",
        ),
        (
            "/v2/notifications/email",
            json!({"email_address": "someone@example.com", "template_id": s.email_template,
                "personalisation": {"name": "x", "items": "y"},
                "one_click_unsubscribe_url": "https://example.gov.uk/\u{0}"}),
            "one_click_unsubscribe_url is not a valid https url",
        ),
        (
            "/v2/notifications/bulk",
            json!({"name": "a\u{0}.csv", "template_id": s.sms_template,
                "rows": [["phone number", "name"], ["07700900123", "Ann"]]}),
            "name must not contain NUL characters",
        ),
    ] {
        let r = app.call("POST", path, key, Some(body)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.json());
        assert_eq!(crate::messages(&r.json()), [message], "{path}");
        spec.check("POST", path, &r);
    }
    app.send_sms(key, s.sms_template, "07700900123", Some("a"))
        .await;
    let r = app
        .call("GET", "/v2/notifications?reference=a%00", key, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["notifications"], json!([]));
    spec.check("GET", "/v2/notifications", &r);
}
