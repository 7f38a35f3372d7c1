//! Letters: templated and precompiled, their 403s, address messages and the PDF endpoint.

use base64::Engine;
use notify_tests::{TestApp, redact};
use serde_json::{Value, json};

use crate::{error_types, messages};

async fn letter(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let r = app
        .call("POST", "/v2/notifications/letter", key, Some(body))
        .await;
    (r.status.as_u16(), r.json())
}

fn address(lines: &[(&str, &str)]) -> Value {
    let mut p: serde_json::Map<String, Value> = lines
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    p.insert("thing".into(), json!("letter"));
    Value::Object(p)
}

#[tokio::test]
async fn templated_letter_round_trip() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let personalisation = address(&[
        ("address_line_1", "Ms A Person"),
        ("address_line_2", "1 High St"),
        ("postcode", "sw1a1aa"),
    ]);
    let (status, body) = letter(&app, &s.live_key, json!({"template_id": s.letter_template, "personalisation": personalisation, "reference": "l1"})).await;
    assert_eq!(status, 201, "{body}");
    insta::assert_json_snapshot!("letter_201", redact(&body));
    let id = body["id"].as_str().unwrap();
    let got = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    insta::assert_json_snapshot!("letter_get", redact(&got));
    let pdf = app
        .call(
            "GET",
            &format!("/v2/notifications/{id}/pdf"),
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(pdf.status, 400);
    assert_eq!(
        pdf.json(),
        json!({"status_code": 400, "errors": [{"error": "PDFNotReadyError", "message": "PDF not available yet, try again later"}]})
    );
    assert_eq!(app.queue.take_all("deliver-letter").len(), 1);
}

#[tokio::test]
async fn letter_rules_and_address_messages() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let ok = address(&[
        ("address_line_1", "A"),
        ("address_line_2", "B"),
        ("postcode", "SW1A 1AA"),
    ]);
    let (status, body) = letter(
        &app,
        &s.team_key,
        json!({"template_id": s.letter_template, "personalisation": ok}),
    )
    .await;
    assert_eq!(
        (status, messages(&body), error_types(&body)),
        (
            403,
            vec!["Cannot send letters with a team api key".to_string()],
            vec!["BadRequestError".to_string()]
        )
    );
    let trial = app.service(true).await;
    let (status, body) = letter(
        &app,
        &trial.live_key,
        json!({"template_id": trial.letter_template, "personalisation": ok}),
    )
    .await;
    assert_eq!(
        (status, messages(&body)),
        (
            403,
            vec!["Cannot send letters when service is in trial mode".to_string()]
        )
    );
    let (status, _) = letter(
        &app,
        &trial.test_key,
        json!({"template_id": trial.letter_template, "personalisation": ok}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, body) = letter(&app, &s.live_key, json!({"template_id": s.letter_template})).await;
    assert_eq!(messages(&body), ["personalisation is a required property"]);
    for (lines, message) in [
        (
            vec![("address_line_1", "A"), ("postcode", "SW1A 1AA")],
            "Address must be at least 3 lines",
        ),
        (
            vec![
                ("address_line_1", "A"),
                ("address_line_2", "B"),
                ("postcode", "NOT A POSTCODE"),
            ],
            "Last line of address must be a real UK postcode or another country",
        ),
        (
            vec![
                ("address_line_1", "NFA"),
                ("address_line_2", "B"),
                ("postcode", "SW1A 1AA"),
            ],
            "Must be a real address",
        ),
        (
            vec![
                ("address_line_1", "=A"),
                ("address_line_2", "B"),
                ("postcode", "SW1A 1AA"),
            ],
            "Address lines must not start with any of the following characters: @ ( ) = [ ] ” \\ / , < >",
        ),
    ] {
        let (status, body) = letter(
            &app,
            &s.live_key,
            json!({"template_id": s.letter_template, "personalisation": address(&lines)}),
        )
        .await;
        assert_eq!(
            (status, error_types(&body), messages(&body)),
            (
                400,
                vec!["ValidationError".to_string()],
                vec![message.to_string()]
            )
        );
    }
    let (status, body) = letter(&app, &s.live_key, json!({"template_id": s.letter_template, "personalisation": address(&[("address_line_1", "A"), ("address_line_2", "B"), ("address_line_3", "France")])})).await;
    assert_eq!(status, 201, "{body}");
    let got = app
        .call(
            "GET",
            &format!("/v2/notifications/{}", body["id"].as_str().unwrap()),
            &s.live_key,
            None,
        )
        .await
        .json();
    assert_eq!(got["postage"], "europe");
}

#[tokio::test]
async fn precompiled_letter_is_accepted_and_waits_for_its_scan() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let pdf: Vec<u8> = [
        b"%PDF-1.7\n".to_vec(),
        (0..=255u8).collect(),
        b"\n%%EOF".to_vec(),
    ]
    .concat();
    let content = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let (status, body) = letter(
        &app,
        &s.live_key,
        json!({"reference": "pre", "content": content, "postage": "first"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        redact(&body),
        json!({"id": "[uuid]", "reference": "pre", "postage": "first"})
    );
    let id = body["id"].as_str().unwrap();
    let got = app
        .call(
            "GET",
            &format!("/v2/notifications/{id}/pdf"),
            &s.live_key,
            None,
        )
        .await;
    // Not served until it has passed the virus scan (upstream's rule); tests/api/precompiled.rs follows it
    // through the scan to the bytes served back.
    assert_eq!(got.status, 400);
    assert_eq!(
        got.json()["errors"][0]["error"],
        "PDFNotReadyError",
        "{:?}",
        got.json()
    );
    let n = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(
        (
            n["status"].as_str(),
            n["line_1"].as_str(),
            n["is_cost_data_ready"].as_bool()
        ),
        (
            Some("pending-virus-check"),
            Some("Provided as PDF"),
            Some(false)
        )
    );

    let (_, body) = letter(
        &app,
        &s.live_key,
        json!({"reference": "pre", "content": "!!!not base64"}),
    )
    .await;
    assert_eq!(
        messages(&body),
        ["Cannot decode letter content (invalid base64 encoding)"]
    );
    let (_, body) = letter(
        &app,
        &s.live_key,
        json!({"reference": "pre", "content": "aGVsbG8="}),
    )
    .await;
    assert_eq!(messages(&body), ["Letter content is not a PDF"]);
    let (_, body) = letter(
        &app,
        &s.live_key,
        json!({"content": content, "postage": "third"}),
    )
    .await;
    assert_eq!(
        messages(&body),
        [
            "postage invalid. It must be either first, second or economy.",
            "reference is a required property"
        ]
    );
    let sms = app.call("POST", "/v2/notifications/sms", &s.live_key, Some(json!({"phone_number": "07700900123", "template_id": s.sms_template, "personalisation": {"name": "x"}}))).await.json();
    let r = app
        .call(
            "GET",
            &format!("/v2/notifications/{}/pdf", sms["id"].as_str().unwrap()),
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(messages(&r.json()), ["Notification is not a letter"]);
}

#[tokio::test]
async fn pdf_messages_by_status() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let content = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 x");
    let (_, body) = letter(
        &app,
        &s.live_key,
        json!({"reference": "r", "content": content}),
    )
    .await;
    let id = body["id"].as_str().unwrap();
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    for (status, message) in [
        ("virus-scan-failed", "File did not pass the virus scan"),
        (
            "technical-failure",
            "PDF not available for letters in status technical-failure",
        ),
    ] {
        client
            .execute(
                "UPDATE notifications SET notification_status = $1 WHERE id = $2::text::uuid",
                &[&status, &id],
            )
            .await
            .unwrap();
        let r = app
            .call(
                "GET",
                &format!("/v2/notifications/{id}/pdf"),
                &s.live_key,
                None,
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), messages(&r.json())),
            (400, vec![message.to_string()])
        );
    }
    let n = app
        .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
        .await
        .json();
    assert_eq!(
        (
            n["status"].clone(),
            n["cost_in_pounds"].clone(),
            n["cost_details"]["billable_sheets_of_paper"].clone()
        ),
        (json!("technical-failure"), json!(0.0), json!(0))
    );
}
