//! Logs and metrics say which service, notification, job and invocation a line is about, and never what a person
//! sent or received. Its own test binary: it owns the process's global log subscriber and metrics sink, which no
//! other test may write to.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use notify_outbound::callbacks::CallbackSender;
use notify_runtime::workers;
use notify_runtime::workers::WorkerSettings;
use notify_tests::TestApp;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const PHONE: &str = "07700900456";
const PHONE_SPELLINGS: [&str; 4] = ["07700900456", "447700900456", "+447700900456", "7700900456"];
const EMAIL: &str = "private.person.zq81@example.gov.uk";
const PERSONAL: &str = "Personal-Value-Zq81";
const ITEMS: &str = "Prescription-Details-Zq81";
const INBOUND_TEXT: &str = "Private-Inbound-Words-Zq81";
const CALLBACK_TOKEN: &str = "callback-bearer-token-Zq81-keep-out-of-logs";

#[tokio::test]
async fn a_send_end_to_end_logs_ids_and_never_personal_data() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("notify=trace,info")
        .with_writer(logs.clone())
        .init();
    notify_core::metrics::capture("Notify", logs.clone());

    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let got = received.clone();
    let router = axum::Router::new().route(
        "/callback",
        post(move |body: String| {
            let got = got.clone();
            async move {
                got.lock().unwrap().push(body);
                StatusCode::OK
            }
        }),
    );
    let (base, ca_file) = notify_tests::https_server(router).await;
    let app = TestApp::with_config(|c| {
        c.providers.simulate = true;
        c.callbacks.allow_private_hosts = vec!["127.0.0.1".into()];
        c.callbacks.ca_bundle = Some(ca_file);
    })
    .await;
    let s = app.service(false).await;
    let sid = s.service.id;
    for kind in ["delivery_status", "inbound_sms"] {
        let r = app
            .admin(
                "POST",
                &format!("/service/{sid}/callback-api"),
                Some(json!({"url": format!("{base}/callback"), "bearer_token": CALLBACK_TOKEN, "callback_type": kind})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json());
    }
    let r = app
        .admin(
            "POST",
            &format!("/service/{sid}/inbound-number"),
            Some(json!({"number": "07700900999", "provider": "mmg"})),
        )
        .await;
    assert_eq!(r.status, 201);

    let worker_db =
        notify_db::Db::connect_short_lived(&app.database_url, 4, "notify-worker").unwrap();
    let worker_state =
        notify_app::AppState::new((*app.state.config).clone(), worker_db, app.queue.clone());
    // The local stack's providers: the simulated one, standing in for live providers too.
    let providers =
        notify_outbound::providers::from_config(&app.state.config, app.queue.clone()).await;
    let mut handles = workers::spawn_in_process(
        worker_state,
        providers,
        app.queue.clone(),
        WorkerSettings {
            deliver_queues: vec!["deliver-sms".into(), "deliver-email".into()],
            status_queue: "status".into(),
            delivery_concurrency: 10,
            status_batch_size: 100,
            batching_window: Duration::from_millis(50),
        },
    );
    handles.push(workers::spawn_callback_worker(
        CallbackSender::from_config(&app.state.config.callback_worker()).unwrap(),
        app.queue.clone(),
        Arc::new(app.state.config.callback_worker()),
        10,
    ));

    let sms = app
        .call("POST", "/v2/notifications/sms", &s.live_key, Some(json!({"phone_number": PHONE, "template_id": s.sms_template, "personalisation": {"name": PERSONAL}})))
        .await;
    assert_eq!(sms.status, 201, "{}", sms.json());
    let email = app
        .call("POST", "/v2/notifications/email", &s.live_key, Some(json!({"email_address": EMAIL, "template_id": s.email_template, "personalisation": {"name": PERSONAL, "items": ITEMS}})))
        .await;
    assert_eq!(email.status, 201, "{}", email.json());
    let inbound = format!(
        r#"{{"MSISDN":"447700900456","Number":"447700900999","Message":"{INBOUND_TEXT}","ID":"mmg-zq81","DateRecieved":"2026-11-27+10%3A00%3A00"}}"#
    );
    let r = app
        .request("POST", "/inbound/sms/mmg", None, Some(inbound.as_bytes()))
        .await;
    assert_eq!(r.status, 200);

    let ids = [sms.json()["id"].clone(), email.json()["id"].clone()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut statuses = Vec::new();
        for id in &ids {
            let n = app
                .call(
                    "GET",
                    &format!("/v2/notifications/{}", id.as_str().unwrap()),
                    &s.live_key,
                    None,
                )
                .await
                .json();
            statuses.push(n["status"].as_str().unwrap_or_default().to_string());
        }
        let callbacks = received.lock().unwrap().len();
        if statuses == ["delivered", "delivered"] && callbacks == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pipeline did not finish: {statuses:?}, {callbacks} callbacks"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for h in handles {
        h.abort();
    }

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let api_key_secret = &s.live_key[s.live_key.len() - 36..];
    let mut secrets = vec![
        EMAIL,
        PERSONAL,
        ITEMS,
        INBOUND_TEXT,
        CALLBACK_TOKEN,
        api_key_secret,
    ];
    secrets.extend(PHONE_SPELLINGS);
    for secret in secrets {
        assert!(!text.contains(secret), "the logs hold {secret:?}:\n{text}");
    }
    // And they are not empty: what an operator needs is there.
    for needed in [
        ids[0].as_str().unwrap(),
        ids[1].as_str().unwrap(),
        &sid.to_string(),
        "\"NotificationsCreated\"",
        "\"NotificationsSent\"",
        "\"ProviderLatency\"",
        "\"CreatedToSent\"",
        "\"ReceiptsApplied\"",
        "\"NotificationsDelivered\"",
        "\"CallbacksSent\"",
    ] {
        assert!(text.contains(needed), "the logs lack {needed}:\n{text}");
    }
    // The callbacks themselves did carry the personal data: the test would see a leak.
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains(INBOUND_TEXT))
    );
}
