//! Each branding type's email as delivered, opened in headless chromium from a router on 127.0.0.1 (the logo
//! loaded from our static path), checked by what the browser computed, and screenshotted. With
//! `UPDATE_SCREENSHOTS=1` the screenshots are written to docs/screenshots/email-branding-<type>.png (the README's);
//! otherwise to a temp directory only, so a normal run never rewrites committed files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use notify_tests::TestApp;
use notify_tests::browser::Browser;
use serde_json::{Value, json};

use super::email_branding::{deliver_email, logo_png, upload_logo};

type Pages = Arc<Mutex<HashMap<String, String>>>;

async fn page(State(pages): State<Pages>, Path(name): Path<String>) -> Response {
    match pages.lock().unwrap().get(&name) {
        Some(html) => Html(html.clone()).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

const CONTENT: &str = "# Your application has been received\n\nDear ((name)),\n\nThank you for applying for a \
    licence to keep bees. We will look at your application within 10 working days.\n\nWhat happens next:\n\n\
    * we check the details you gave us\n* an inspector may visit your apiary\n* we email you our decision\n\n\
    ^ Your reference number is ((reference)).\n\nYou can check the progress of your application at \
    https://www.gov.uk/apply-beekeeping-licence\n\nLicensing team";

/// What chromium computed for the parts of the layout, for the checks below.
const INSPECT: &str = r#"
    const q = s => document.querySelector(s);
    const style = (s, p) => { const e = q(s); return e ? getComputedStyle(e)[p] : null; };
    const img = q('img.notify-brand-logo');
    const text = q('.notify-brand-text');
    const heading = q('.notify-body h2');
    return {
        govuk_banner: style('table.notify-govuk-banner', 'backgroundColor'),
        govuk_text: q('table.notify-govuk-banner span') ? q('table.notify-govuk-banner span').innerText : null,
        brand_banner: style('table.notify-brand-banner', 'backgroundColor'),
        brand_mark: style('td.notify-brand-mark', 'borderLeftColor'),
        brand_mark_width: style('td.notify-brand-mark', 'borderLeftWidth'),
        logo: img ? {complete: img.complete, natural_width: img.naturalWidth, height: img.height, src: img.currentSrc} : null,
        brand_text: text ? text.innerText.trim() : null,
        heading: heading ? heading.innerText : null,
        preheader_height: q('.notify-preheader').offsetHeight,
        body_width: q('table.notify-content').getBoundingClientRect().width,
        unsubscribe: [...document.querySelectorAll('.notify-body a')].some(a => a.innerText === 'Unsubscribe from these emails'),
    };
"#;

/// The pixel at (x, y) of a PNG screenshot, as RGB.
fn pixel(png_bytes: &[u8], x: u32, y: u32) -> [u8; 3] {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let at = (y as usize * info.line_size) + x as usize * channels;
    [buffer[at], buffer[at + 1], buffer[at + 2]]
}

#[tokio::test]
async fn each_branding_type_as_chromium_shows_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = {
        let base = base.clone();
        TestApp::with_config(move |c| c.api.host_name = base).await
    };
    let pages: Pages = Default::default();
    let router = axum::Router::new()
        .route("/emails/{name}", axum::routing::get(page))
        .with_state(pages.clone())
        .merge(notify_http::router(app.state.clone()));
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let s = app.service(false).await;
    let sid = s.service.id;
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/template"),
            Some(json!({
                "name": "Application received",
                "template_type": "email",
                "subject": "Your beekeeping licence application",
                "content": CONTENT,
                "has_unsubscribe_link": true,
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let template = r.json()["data"]["id"].as_str().unwrap().parse().unwrap();
    let dark_logo = upload_logo(&app, &logo_png(108, [0x00, 0x30, 0x78]))
        .await
        .json()["logo"]
        .as_str()
        .unwrap()
        .to_string();
    let white_logo = upload_logo(&app, &logo_png(108, [0xff, 0xff, 0xff]))
        .await
        .json()["logo"]
        .as_str()
        .unwrap()
        .to_string();

    let cases: [(&str, Option<Value>); 5] = [
        ("govuk", None),
        (
            "org",
            Some(
                json!({"name": "Department for Examples", "colour": "#003078", "logo": dark_logo,
                "text": "Department for Examples", "brand_type": "org"}),
            ),
        ),
        (
            "both",
            Some(
                json!({"name": "GOV.UK and Department for Examples", "colour": "#003078",
                "logo": dark_logo, "text": "Department for Examples", "brand_type": "both"}),
            ),
        ),
        (
            "org_banner",
            Some(
                json!({"name": "Examples Agency", "colour": "#00703c", "logo": white_logo,
                "text": "Examples Agency", "brand_type": "org_banner"}),
            ),
        ),
        (
            "none",
            Some(json!({"name": "No branding", "alt_text": "No branding", "brand_type": "org"})),
        ),
    ];

    let browser = Browser::start().await;
    let client = browser.client();
    client.set_window_size(760, 1000).await.unwrap();
    let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let scratch = std::env::temp_dir().join("notify-screenshots");
    std::fs::create_dir_all(&scratch).unwrap();

    for (kind, body) in cases {
        let branding = match body {
            None => Value::Null,
            Some(body) => {
                let r = app.admin("POST", "/email-branding", Some(body)).await;
                assert_eq!(r.status, 201, "{kind}: {}", r.json());
                r.json()["data"]["id"].clone()
            }
        };
        let r = app
            .admin(
                "POST",
                &format!("/service/{sid}"),
                Some(json!({"email_branding": branding})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json());
        let sent = deliver_email(
            &app,
            &s.live_key,
            template,
            json!({"name": "Anne Example", "reference": "BEE-2041-7731"}),
        )
        .await;
        pages
            .lock()
            .unwrap()
            .insert(kind.to_string(), sent.html_body.clone());
        client.goto(&format!("{base}/emails/{kind}")).await.unwrap();
        assert_eq!(
            client.title().await.unwrap(),
            "Your beekeeping licence application"
        );
        let seen = client.execute(INSPECT, vec![]).await.unwrap();
        assert_eq!(
            seen["heading"], "Your application has been received",
            "{kind}: {seen}"
        );
        assert_eq!(
            seen["preheader_height"], 0,
            "{kind}: the preheader is hidden"
        );
        assert_eq!(seen["body_width"], 580, "{kind}: {seen}");
        assert_eq!(seen["unsubscribe"], true, "{kind}: {seen}");
        let blue = json!("rgb(29, 112, 184)");
        let logo_loaded = |seen: &Value, height: u64| {
            let logo = &seen["logo"];
            assert_eq!(logo["complete"], true, "{kind}: {seen}");
            assert!(
                logo["natural_width"].as_u64().unwrap() > 0,
                "{kind}: the logo loaded from the static path: {seen}"
            );
            assert_eq!(logo["height"], height, "{kind}: {seen}");
            assert!(
                logo["src"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{base}/static/email-logos/")),
                "{kind}: {seen}"
            );
        };
        match kind {
            "govuk" => {
                assert_eq!(seen["govuk_banner"], blue, "{seen}");
                assert_eq!(seen["govuk_text"], "GOV.UK");
                assert_eq!(seen["brand_banner"], Value::Null);
                assert_eq!(seen["logo"], Value::Null);
            }
            "org" => {
                assert_eq!(seen["govuk_banner"], Value::Null, "{seen}");
                assert_eq!(seen["brand_mark"], "rgb(0, 48, 120)", "{seen}");
                assert_eq!(seen["brand_mark_width"], "3px", "{seen}");
                assert_eq!(seen["brand_text"], "Department for Examples");
                logo_loaded(&seen, 27);
            }
            "both" => {
                assert_eq!(seen["govuk_banner"], blue, "{seen}");
                assert_eq!(seen["brand_mark"], "rgb(0, 48, 120)", "{seen}");
                logo_loaded(&seen, 27);
            }
            "org_banner" => {
                assert_eq!(seen["govuk_banner"], Value::Null, "{seen}");
                assert_eq!(seen["brand_banner"], "rgb(0, 112, 60)", "{seen}");
                assert_eq!(seen["brand_text"], "Examples Agency");
                logo_loaded(&seen, 27);
            }
            "none" => {
                assert_eq!(seen["govuk_banner"], Value::Null, "{seen}");
                assert_eq!(seen["brand_banner"], Value::Null, "{seen}");
                assert_eq!(seen["logo"], Value::Null, "{seen}");
            }
            _ => unreachable!(),
        }
        let shot = browser.screenshot_png().await;
        // What was drawn, not only what was computed: the top of the page is the banner's colour, or white.
        let top = pixel(&shot, 5, 5);
        let expected_top = match kind {
            "govuk" | "both" => [29, 112, 184],
            "org_banner" => [0, 112, 60],
            _ => [255, 255, 255],
        };
        assert_eq!(top, expected_top, "{kind}: the pixel at the top left");
        std::fs::write(scratch.join(format!("email-branding-{kind}.png")), &shot).unwrap();
        if update {
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("email-branding-{kind}.png")), &shot).unwrap();
        }
    }
    browser.close().await;
    server.abort();
}
