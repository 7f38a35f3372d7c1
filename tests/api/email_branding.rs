//! Email branding: the admin API and CLI's use cases, logos through the file store and the static path, and the
//! layout a service's branding gives its preview and its delivered emails.

use std::sync::{Arc, Mutex};

use notify_outbound::providers::{
    Accepted, EmailMessage, EmailProvider, ProviderError, Providers, SimulatedProvider, SmsProvider,
};
use notify_tests::{TestApp, redact};
use serde_json::{Value, json};
use uuid::Uuid;

/// A round emblem with a cross through it, `size` pixels square, in `ink` on a transparent ground: a logo
/// that is plainly a logo in a screenshot.
pub fn logo_png(size: u32, ink: [u8; 3]) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    let centre = size as f64 / 2.0;
    let radius = centre - 1.0;
    let bar = size as f64 / 7.0;
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x as f64 + 0.5 - centre, y as f64 + 0.5 - centre);
            let inside = dx * dx + dy * dy <= radius * radius;
            let cross = dx.abs() < bar / 2.0 || dy.abs() < bar / 2.0;
            let ring = dx * dx + dy * dy >= (radius - bar) * (radius - bar);
            if inside && (cross || ring) {
                pixels.extend([ink[0], ink[1], ink[2], 255]);
            } else {
                pixels.extend([0, 0, 0, 0]);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size, size);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

pub async fn upload_logo(app: &TestApp, bytes: &[u8]) -> notify_tests::Response {
    let jwt = notify_app::auth::create_token(
        "notify-admin",
        notify_config::DEV_ADMIN_CLIENT_SECRET,
        app.state.now().timestamp(),
    );
    app.request(
        "POST",
        "/email-branding/logo",
        Some(&format!("Bearer {jwt}")),
        Some(bytes),
    )
    .await
}

/// Creates a branding through the admin API and gives it to `service_id`; answers the branding as created.
pub async fn brand_service(app: &TestApp, service_id: Uuid, body: Value) -> Value {
    let r = app.admin("POST", "/email-branding", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let branding = r.json()["data"].clone();
    let r = app
        .admin(
            "POST",
            &format!("/service/{service_id}"),
            Some(json!({"email_branding": branding["id"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["data"]["email_branding"], branding["id"]);
    branding
}

fn fields(field: &str, message: &str) -> Value {
    json!({"result": "error", "message": {field: [message]}})
}

fn error(message: &str) -> Value {
    json!({"result": "error", "message": message})
}

#[tokio::test]
async fn logos_are_stored_by_content_and_served_for_a_year() {
    let app = TestApp::new().await;
    let logo = logo_png(108, [0x00, 0x30, 0x78]);
    let r = upload_logo(&app, &logo).await;
    assert_eq!(r.status, 201, "{}", r.json());
    let name = r.json()["logo"].as_str().unwrap().to_string();
    assert!(
        name.len() == 36 && name.ends_with(".png"),
        "a content hash: {name}"
    );
    assert_eq!(
        r.json()["logo_url"],
        format!("https://api.test.notify/static/email-logos/{name}")
    );
    assert_eq!(
        upload_logo(&app, &logo).await.json()["logo"],
        json!(name),
        "the same file, the same name"
    );
    let other = upload_logo(&app, &logo_png(108, [0xd4, 0x35, 0x1c]))
        .await
        .json()["logo"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        other, name,
        "a changed logo is a new name, so caches never serve the old one"
    );

    let served = app
        .request("GET", &format!("/static/email-logos/{name}"), None, None)
        .await;
    assert_eq!(served.status, 200);
    assert_eq!(served.bytes, logo);
    assert_eq!(served.headers["content-type"], "image/png");
    assert_eq!(
        served.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let status = app.request("GET", "/_status", None, None).await;
    assert_eq!(
        status.headers["cache-control"], "no-store, no-cache, private, must-revalidate",
        "everything else is still not cached"
    );
    for missing in [
        "0123456789abcdef0123456789abcdef.png".to_string(),
        name.replace(".png", ".svg"),
        "..%2Fsecret.png".into(),
    ] {
        let r = app
            .request("GET", &format!("/static/email-logos/{missing}"), None, None)
            .await;
        assert_eq!(r.status, 404, "{missing}");
    }

    let r = upload_logo(&app, b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>").await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (400, error("The logo must be a PNG, JPEG or GIF image"))
    );
    let mut big = logo.clone();
    big.resize(notify_app::email_branding::MAX_LOGO_BYTES + 1, 0);
    let r = upload_logo(&app, &big).await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (400, error("The logo must be 1 MB or smaller"))
    );
    let r = app
        .request("POST", "/email-branding/logo", None, Some(&logo))
        .await;
    assert_eq!(r.status, 401, "uploads need the admin token");
}

#[tokio::test]
async fn email_brandings_are_created_changed_listed_and_given_to_services() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let sid = s.service.id;
    let logo = upload_logo(&app, &logo_png(108, [0x00, 0x30, 0x78]))
        .await
        .json()["logo"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app
        .admin(
            "POST",
            "/email-branding",
            Some(json!({
                "name": "Department of Examples",
                "colour": "#00307A",
                "logo": logo,
                "text": "Department of Examples",
                "brand_type": "org",
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let created = r.json()["data"].clone();
    insta::assert_json_snapshot!("email_branding_created", redact(&created));
    let id = created["id"].as_str().unwrap().to_string();

    for (body, expected) in [
        (
            json!({"name": "Department of Examples", "alt_text": "x"}),
            fields("name", "An email branding with that name already exists."),
        ),
        (
            json!({"alt_text": "x"}),
            fields("name", "Missing data for required field."),
        ),
        (
            json!({"name": "Other", "colour": "blue", "alt_text": "x"}),
            fields(
                "colour",
                "blue is not a colour: give # and six hex digits, like #1d70b8",
            ),
        ),
        (
            json!({"name": "Other", "colour": "#1d70b8\" onload=\"x", "alt_text": "x"}),
            fields(
                "colour",
                "#1d70b8\" onload=\"x is not a colour: give # and six hex digits, like #1d70b8",
            ),
        ),
        (
            json!({"name": "Other", "text": "a", "alt_text": "b"}),
            error("Email branding must have exactly one of alt_text and text."),
        ),
        (
            json!({"name": "Other"}),
            error("Email branding must have exactly one of alt_text and text."),
        ),
        (
            json!({"name": "Other", "alt_text": "x", "brand_type": "govuk"}),
            error("brand_type govuk is not one of [org, both, org_banner]"),
        ),
        (
            json!({"name": "Other", "alt_text": "x", "logo": "0123456789abcdef0123456789abcdef.png"}),
            fields(
                "logo",
                "No logo file email-logos/0123456789abcdef0123456789abcdef.png: upload it first",
            ),
        ),
        (
            json!({"name": "Other", "alt_text": "x", "logo": "../x.png"}),
            fields("logo", "../x.png is not a valid logo file name"),
        ),
        (
            json!({"name": "Other", "alt_text": 7}),
            error("alt_text 7 is not of type string, null"),
        ),
    ] {
        let r = app
            .admin("POST", "/email-branding", Some(body.clone()))
            .await;
        assert_eq!((r.status.as_u16(), r.json()), (400, expected), "{body}");
    }

    // "No branding": an org branding without a logo.
    let r = app
        .admin(
            "POST",
            "/email-branding",
            Some(json!({"name": "No branding", "alt_text": "No branding", "brand_type": "org"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let none = r.json()["data"].clone();
    assert_eq!(none["logo"], Value::Null);
    assert_eq!(none["logo_url"], Value::Null);

    // An update changes what it names and keeps the rest.
    let r = app
        .admin(
            "POST",
            &format!("/email-branding/{id}"),
            Some(json!({"colour": "#5694CA", "brand_type": "org_banner"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    let updated = r.json()["data"].clone();
    assert_eq!(updated["colour"], "#5694ca");
    assert_eq!(updated["brand_type"], "org_banner");
    assert_eq!(updated["logo"], created["logo"]);
    assert_eq!(updated["text"], created["text"]);
    assert_ne!(updated["updated_at"], Value::Null);
    let r = app
        .admin(
            "POST",
            &format!("/email-branding/{id}"),
            Some(json!({"name": "No branding"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (
            400,
            fields("name", "An email branding with that name already exists.")
        )
    );
    let r = app
        .admin(
            "POST",
            &format!("/email-branding/{}", Uuid::new_v4()),
            Some(json!({"colour": "#000000"})),
        )
        .await;
    assert_eq!(r.status, 404);

    let got = app
        .admin("GET", &format!("/email-branding/{id}"), None)
        .await;
    assert_eq!(
        (got.status.as_u16(), got.json()),
        (200, json!({"email_branding": updated}))
    );
    assert_eq!(
        app.admin("GET", &format!("/email-branding/{}", Uuid::new_v4()), None)
            .await
            .status,
        404
    );
    let list = app.admin("GET", "/email-branding", None).await.json();
    insta::assert_json_snapshot!("email_branding_list", redact(&list));

    // On a service, through the service update as upstream sets it.
    assert_eq!(
        app.admin("GET", &format!("/service/{sid}"), None)
            .await
            .json()["data"]["email_branding"],
        Value::Null
    );
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"email_branding": id})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["data"]["email_branding"], json!(id));
    let unknown = Uuid::new_v4();
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"email_branding": unknown, "name": "Renamed"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (
            400,
            fields(
                "email_branding",
                &format!("No email branding with id {unknown}")
            )
        )
    );
    let service = app
        .admin("GET", &format!("/service/{sid}"), None)
        .await
        .json();
    assert_eq!(service["data"]["email_branding"], json!(id));
    assert_ne!(service["data"]["name"], "Renamed", "nothing changed");
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}"),
            Some(json!({"email_branding": null})),
        )
        .await;
    assert_eq!(r.json()["data"]["email_branding"], Value::Null);
    // The CLI's use case, the same rule.
    let service = notify_app::email_branding::set_service_email_branding(
        &app.state,
        sid,
        Some(none["id"].as_str().unwrap().parse().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(
        service.email_branding_id.map(|u| u.to_string()),
        none["id"].as_str().map(str::to_string)
    );
    assert!(matches!(
        notify_app::email_branding::set_service_email_branding(&app.state, sid, Some(unknown))
            .await,
        Err(notify_app::email_branding::BrandingError::Field(
            "email_branding",
            _
        ))
    ));
}

/// What the provider was handed.
pub struct RecordingEmail(pub Mutex<Vec<EmailMessage>>);

#[async_trait::async_trait]
impl EmailProvider for RecordingEmail {
    fn name(&self) -> &str {
        "recording"
    }
    async fn send_email(&self, message: &EmailMessage) -> Result<Accepted, ProviderError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(Accepted {
            reference: Uuid::new_v4().to_string(),
            status: notify_core::model::NotificationStatus::Sending,
        })
    }
}

/// Sends `template` to anne@example.com with `key` and delivers it through a recording provider:
/// the message as the provider got it.
pub async fn deliver_email(
    app: &TestApp,
    key: &str,
    template: Uuid,
    personalisation: Value,
) -> EmailMessage {
    let r = app
        .call(
            "POST",
            "/v2/notifications/email",
            key,
            Some(json!({
                "email_address": "anne@example.com",
                "template_id": template,
                "personalisation": personalisation,
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let id: Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
    let recording = Arc::new(RecordingEmail(Default::default()));
    let providers = Providers::new(
        Vec::<Arc<dyn SmsProvider>>::new(),
        vec![recording.clone() as Arc<dyn EmailProvider>],
        Arc::new(SimulatedProvider::new(app.queue.clone(), "status")),
    );
    let outcome = notify_app::delivery::deliver(&app.state, &providers, id)
        .await
        .unwrap();
    assert!(
        matches!(outcome, notify_app::delivery::Outcome::Sent { .. }),
        "{outcome:?}"
    );
    recording.0.lock().unwrap().pop().expect("one email sent")
}

fn anne() -> Value {
    json!({"name": "Anne", "items": ["a form", "a guide"]})
}

async fn preview(app: &TestApp, s: &notify_tests::TestService) -> String {
    let r = app
        .call(
            "POST",
            &format!("/v2/template/{}/preview", s.email_template),
            &s.live_key,
            Some(json!({"personalisation": anne()})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    r.json()["html"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_preview_and_the_delivered_email_carry_the_services_branding() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    // No branding: the GOV.UK banner, in the preview and in the email as sent.
    let html = preview(&app, &s).await;
    assert!(html.contains("class=\"notify-govuk-banner\""), "{html}");
    assert!(!html.contains("<img"), "{html}");
    let sent = deliver_email(&app, &s.live_key, s.email_template, anne()).await;
    assert_eq!(sent.html_body, html, "the preview is the email as sent");
    assert!(
        sent.text_body.starts_with("Dear Anne,"),
        "the text part is there too: {}",
        sent.text_body
    );
    assert!(!sent.text_body.contains('<'), "{}", sent.text_body);

    // An organisation banner in its colour with its logo.
    let logo = upload_logo(&app, &logo_png(108, [0xff, 0xff, 0xff]))
        .await
        .json()["logo"]
        .as_str()
        .unwrap()
        .to_string();
    brand_service(
        &app,
        s.service.id,
        json!({"name": "Examples Agency", "colour": "#00703c", "logo": logo, "text": "Examples <Agency> & Co", "brand_type": "org_banner"}),
    )
    .await;
    let html = preview(&app, &s).await;
    assert!(html.contains("class=\"notify-brand-banner\""), "{html}");
    assert!(html.contains("bgcolor=\"#00703c\""), "{html}");
    assert!(
        html.contains(&format!(
            "src=\"https://api.test.notify/static/email-logos/{logo}\""
        )),
        "{html}"
    );
    assert!(
        !html.contains("Examples <Agency>"),
        "brand text is escaped: {html}"
    );
    assert!(!html.contains("class=\"notify-govuk-banner\""));
    let sent = deliver_email(&app, &s.live_key, s.email_template, anne()).await;
    assert_eq!(
        sent.html_body, html,
        "the delivered email carries the branding"
    );
    assert!(sent.text_body.starts_with("Dear Anne,"));
    assert!(
        !sent.text_body.contains("Examples"),
        "no branding in the text part"
    );
}
