//! The DVLA print client against a fake DVLA on 127.0.0.1 (`notify_tests::fake_dvla`), and its credential
//! rotation against Secrets Manager on moto: tokens cached and renewed, every answer DVLA can give, the job body
//! upstream sends, and rotated credentials kept where the other processes find them.

use std::time::Duration;

use notify_core::model::Postage;
use notify_outbound::print::dvla::{
    CredentialsSecret, DvlaClient, DvlaCredentials, Rotation, RotationError,
};
use notify_outbound::print::{self, PrintAccepted, PrintError, PrintJob, PrintProvider};
use notify_tests::{fake_dvla::FakeDvla, moto_url};
use serde_json::{Value, json};
use uuid::Uuid;

const USER: &str = "notify-user";
const PASSWORD: &str = "Old-passw0rd!";
const API_KEY: &str = "api-key-0";

fn credentials(password: &str, api_key: &str) -> DvlaCredentials {
    DvlaCredentials {
        username: USER.into(),
        password: password.to_string().into(),
        api_key: api_key.to_string().into(),
    }
}

async fn dvla() -> (FakeDvla, DvlaClient) {
    let fake = FakeDvla::start(USER, PASSWORD, API_KEY).await;
    let client = DvlaClient::new(&fake.url, credentials(PASSWORD, API_KEY), None);
    (fake, client)
}

fn job(postage: Postage, lines: &[&str]) -> PrintJob {
    PrintJob {
        notification_id: Uuid::new_v4(),
        reference: "ABCDEFGHIJKLMNOP".into(),
        service_id: Uuid::new_v4(),
        organisation_id: Some(Uuid::new_v4()),
        address_lines: lines.iter().map(|l| l.to_string()).collect(),
        postage,
        pdf: b"%PDF-1.7 a letter".to_vec(),
        callback_url: "https://api.test.notify/notifications/letter/status?token=abc.def".into(),
    }
}

fn uk_letter() -> PrintJob {
    job(
        Postage::Second,
        &["Ms A Recipient", "1 The Road", "SW1A 1AA"],
    )
}

#[tokio::test]
async fn letters_carry_the_token_and_api_key_and_one_token_serves_many() {
    let (fake, client) = dvla().await;
    assert_eq!(client.name(), "dvla");
    for _ in 0..3 {
        assert_eq!(client.print(&uk_letter()).await, Ok(PrintAccepted::New));
    }
    assert_eq!(fake.authentications(), 1);
    let requests = fake.print_requests();
    assert_eq!(requests.len(), 3);
    let token = requests[0].authorization.clone().expect("Authorization");
    assert_eq!(
        token.split('.').count(),
        3,
        "the bare JWT, no scheme: {token}"
    );
    for request in &requests {
        assert_eq!(request.authorization.as_deref(), Some(token.as_str()));
        assert_eq!(request.api_key.as_deref(), Some(API_KEY));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn the_token_is_renewed_60_seconds_before_it_expires() {
    let (fake, client) = dvla().await;
    // 59 s left is inside the margin: every letter needs a new one.
    fake.token_lifetime(59);
    client.print(&uk_letter()).await.unwrap();
    client.print(&uk_letter()).await.unwrap();
    assert_eq!(fake.authentications(), 2);

    // 62 s: good for 2 s.
    fake.token_lifetime(62);
    client.print(&uk_letter()).await.unwrap();
    client.print(&uk_letter()).await.unwrap();
    assert_eq!(fake.authentications(), 3);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    client.print(&uk_letter()).await.unwrap();
    assert_eq!(fake.authentications(), 4);
    let requests = fake.print_requests();
    assert_eq!(requests[2].authorization, requests[3].authorization);
    assert_ne!(requests[3].authorization, requests[4].authorization);
}

#[tokio::test]
async fn a_refused_token_is_dropped_and_the_letter_sent_once_more() {
    let (fake, client) = dvla().await;
    fake.script(&[401]);
    assert_eq!(client.print(&uk_letter()).await, Ok(PrintAccepted::New));
    assert_eq!(fake.authentications(), 2);
    let requests = fake.print_requests();
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0].authorization, requests[1].authorization);
    assert_eq!(requests[0].body, requests[1].body);

    // DVLA expiring its tokens early is the same refusal, met the same way.
    fake.revoke_tokens();
    assert_eq!(client.print(&uk_letter()).await, Ok(PrintAccepted::New));
    assert_eq!(fake.authentications(), 3);
    assert_eq!(fake.print_requests().len(), 4);
}

#[tokio::test]
async fn refused_again_after_a_new_token_is_retried_later_not_rejected() {
    let (fake, client) = dvla().await;
    fake.script(&[401, 403]);
    let outcome = client.print(&uk_letter()).await;
    assert!(matches!(outcome, Err(PrintError::Retry(_))), "{outcome:?}");
    assert_eq!(fake.authentications(), 2);
    assert_eq!(fake.print_requests().len(), 2);

    fake.script(&[403]);
    assert_eq!(client.print(&uk_letter()).await, Ok(PrintAccepted::New));
}

#[tokio::test]
async fn a_job_dvla_refuses_is_rejected_and_not_sent_again() {
    let (fake, client) = dvla().await;
    fake.script(&[400]);
    match client.print(&uk_letter()).await {
        Err(PrintError::Rejected(e)) => {
            assert!(e.contains("Job type field must not be empty."), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.print_requests().len(), 1);
    assert_eq!(fake.authentications(), 1);
}

#[tokio::test]
async fn a_job_dvla_already_has_is_already_accepted() {
    let (fake, client) = dvla().await;
    fake.script(&[409]);
    assert_eq!(
        client.print(&uk_letter()).await,
        Ok(PrintAccepted::AlreadyAccepted)
    );
    assert_eq!(fake.print_requests().len(), 1);
}

#[tokio::test]
async fn throttling_server_errors_and_no_answer_are_retried() {
    let (fake, client) = dvla().await;
    fake.script(&[429, 500, 503]);
    for _ in 0..3 {
        let outcome = client.print(&uk_letter()).await;
        assert!(matches!(outcome, Err(PrintError::Retry(_))), "{outcome:?}");
    }
    // Each once: the queue's retry resends, not the client.
    assert_eq!(fake.print_requests().len(), 3);
    assert_eq!(fake.authentications(), 1);

    let nobody = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", nobody.local_addr().unwrap());
    drop(nobody);
    let unreachable = DvlaClient::new(url, credentials(PASSWORD, API_KEY), None);
    let outcome = unreachable.print(&uk_letter()).await;
    assert!(matches!(outcome, Err(PrintError::Retry(_))), "{outcome:?}");

    // Credentials DVLA refuses say nothing about the letter.
    let wrong = DvlaClient::new(&fake.url, credentials("wrong", API_KEY), None);
    let outcome = wrong.print(&uk_letter()).await;
    assert!(matches!(outcome, Err(PrintError::Retry(_))), "{outcome:?}");
    assert_eq!(fake.print_requests().len(), 3);
}

/// The body DVLA got for `job`.
async fn sent(job: &PrintJob) -> Value {
    let (fake, client) = dvla().await;
    assert_eq!(client.print(job).await, Ok(PrintAccepted::New));
    fake.print_requests().pop().unwrap().body
}

#[tokio::test]
async fn the_job_body_is_upstreams() {
    let letter = job(
        Postage::Second,
        &["Ms A Recipient", "1 The Road", "Town", "SW1A 1AA"],
    );
    let body = sent(&letter).await;
    assert_eq!(
        body,
        json!({
            "id": letter.notification_id.to_string(),
            "standardParams": {
                "jobType": "NOTIFY",
                "templateReference": "NOTIFY",
                "businessIdentifier": "ABCDEFGHIJKLMNOP",
                "recipientName": "Ms A Recipient",
                "address": {"unstructuredAddress": {"line1": "1 The Road", "line2": "Town", "postcode": "SW1A 1AA"}},
            },
            "customParams": [
                {"key": "pdfContent", "value": "JVBERi0xLjcgYSBsZXR0ZXI="},
                {"key": "organisationIdentifier", "value": letter.organisation_id.unwrap().to_string()},
                {"key": "serviceIdentifier", "value": letter.service_id.to_string()},
            ],
            "callbackParams": {
                "target": "https://api.test.notify/notifications/letter/status?token=abc.def",
                "retryParams": {"enabled": true, "maxRetryWindow": 10800},
            },
        })
    );

    let mut no_organisation = uk_letter();
    no_organisation.organisation_id = None;
    let body = sent(&no_organisation).await;
    assert_eq!(
        body["customParams"][1],
        json!({"key": "organisationIdentifier", "value": null})
    );
}

#[tokio::test]
async fn the_despatch_method_follows_the_postage_and_second_class_has_none() {
    for (postage, method) in [
        (Postage::First, Some("FIRST")),
        (Postage::Second, None),
        (Postage::Economy, Some("ECONOMY")),
    ] {
        let body = sent(&job(postage, &["A", "1 The Road", "SW1A 1AA"])).await;
        assert_eq!(
            body["standardParams"]
                .get("despatchMethod")
                .and_then(Value::as_str),
            method,
            "{postage:?}"
        );
        assert!(body["standardParams"]["address"]["unstructuredAddress"].is_object());
    }
    for (postage, method) in [
        (Postage::Europe, "INTERNATIONAL_EU"),
        (Postage::RestOfWorld, "INTERNATIONAL_ROW"),
    ] {
        let body = sent(&job(
            postage,
            &["The user", "The road", "75001 Paris", "France"],
        ))
        .await;
        assert_eq!(body["standardParams"]["despatchMethod"], method);
        assert_eq!(
            body["standardParams"]["address"],
            json!({"internationalAddress": {"line1": "The road", "line2": "75001 Paris", "country": "France"}})
        );
        assert_eq!(body["standardParams"]["recipientName"], "The user");
    }
}

#[tokio::test]
async fn long_lines_are_cut_to_dvlas_limits() {
    let long_line = "2".repeat(50);
    let long_name = "N".repeat(300);
    let body = sent(&job(
        Postage::First,
        &[
            &long_name,
            "1",
            &long_line,
            "3",
            "4",
            "5",
            "Postcode over ten characters",
        ],
    ))
    .await;
    assert_eq!(body["standardParams"]["recipientName"], "N".repeat(255));
    assert_eq!(
        body["standardParams"]["address"]["unstructuredAddress"],
        json!({"line1": "1", "line2": "2".repeat(45), "line3": "3", "line4": "4", "line5": "5", "postcode": "Postcode o"})
    );

    let country = "C".repeat(300);
    let body = sent(&job(Postage::RestOfWorld, &["A", "B", &country])).await;
    assert_eq!(
        body["standardParams"]["address"]["internationalAddress"]["country"],
        "C".repeat(256)
    );
}

#[tokio::test]
async fn bfpo_addresses_keep_the_recipient_as_line_one_with_the_number() {
    let body = sent(&job(
        Postage::Second,
        &["recipient", "bfpo", "bfpo1234", "bf11aa"],
    ))
    .await;
    assert_eq!(body["standardParams"]["recipientName"], "recipient");
    assert_eq!(
        body["standardParams"]["address"],
        json!({"bfpoAddress": {"line1": "recipient", "postcode": "BF1 1AA", "bfpoNumber": 1234}})
    );
    assert!(body["standardParams"].get("despatchMethod").is_none());

    let body = sent(&job(
        Postage::First,
        &["Sgt A Smith", "1 Regiment", "Camp Bastion", "BFPO 792"],
    ))
    .await;
    assert_eq!(
        body["standardParams"]["address"],
        json!({"bfpoAddress": {"line1": "Sgt A Smith", "line2": "1 Regiment", "line3": "Camp Bastion", "bfpoNumber": 792}})
    );
    assert_eq!(body["standardParams"]["despatchMethod"], "FIRST");
}

#[tokio::test]
async fn the_configuration_chooses_dvla_or_the_simulated_printer() {
    let mut config = notify_config::Config::for_development("postgres://unused/x");
    let simulated = print::from_config(&config).await;
    assert_ne!(simulated.name(), "dvla");
    assert_eq!(
        notify_outbound::print::dvla::rotate_api_key(&config)
            .await
            .unwrap(),
        Rotation::NotConfigured
    );

    let fake = FakeDvla::start(USER, PASSWORD, API_KEY).await;
    config.print.dvla_api_url = Some(fake.url.clone());
    config.print.dvla_username = Some(USER.into());
    config.print.dvla_password = Some(PASSWORD.to_string().into());
    config.print.dvla_api_key = Some(API_KEY.to_string().into());
    let printer = print::from_config(&config).await;
    assert_eq!(printer.name(), "dvla");
    assert_eq!(printer.print(&uk_letter()).await, Ok(PrintAccepted::New));
    assert_eq!(fake.print_requests().len(), 1);
    // Nowhere to keep a new key: nothing is asked of DVLA.
    assert!(matches!(
        notify_outbound::print::dvla::rotate_api_key(&config).await,
        Err(RotationError::NoSecret)
    ));
    assert_eq!(fake.api_key(), API_KEY);
}

#[tokio::test]
async fn the_rotation_jobs_do_nothing_without_dvla() {
    let app = notify_tests::TestApp::new().await;
    for job in [
        notify_app::jobs::Job::ChangeDvlaApiKey,
        notify_app::jobs::Job::ChangeDvlaPassword,
    ] {
        let report = notify_app::jobs::run(&app.state, job, notify_app::jobs::TIME_BUDGET)
            .await
            .unwrap();
        assert_eq!(
            report,
            json!({"changed": false, "reason": "DVLA_API_URL is unset"})
        );
    }
}

// Rotation, with the credentials in a Secrets Manager secret on moto.

fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&notify_config::aws::emulator_config(&moto_url()))
}

/// A secret of this test's own holding the account's credentials, and something else that must survive.
async fn credentials_secret(sm: &aws_sdk_secretsmanager::Client) -> String {
    let name = format!("notify/dvla/{}", Uuid::new_v4().simple());
    sm.create_secret()
        .name(&name)
        .secret_string(
            json!({
                "dvla_username": USER,
                "dvla_password": PASSWORD,
                "dvla_api_key": API_KEY,
                "kept": "as it was",
            })
            .to_string(),
        )
        .send()
        .await
        .expect("moto must be running (the test command starts it)");
    name
}

async fn secret_json(sm: &aws_sdk_secretsmanager::Client, name: &str) -> Value {
    notify_config::fetch_json(sm, name).await.unwrap()
}

/// A process's client: the credentials it read at start-up, the secret to read them again from.
fn client_of(
    fake: &FakeDvla,
    sm: &aws_sdk_secretsmanager::Client,
    secret: &str,
    held: DvlaCredentials,
) -> DvlaClient {
    DvlaClient::new(
        &fake.url,
        held,
        Some(CredentialsSecret::new(sm.clone(), secret)),
    )
}

#[tokio::test]
async fn a_new_api_key_is_kept_in_the_secret_and_used_at_once() {
    let sm = secrets_client();
    let secret = credentials_secret(&sm).await;
    let fake = FakeDvla::start(USER, PASSWORD, API_KEY).await;
    let client = client_of(&fake, &sm, &secret, credentials(PASSWORD, API_KEY));

    client.change_api_key().await.unwrap();
    assert_eq!(fake.api_key(), "api-key-1");
    let stored = secret_json(&sm, &secret).await;
    assert_eq!(stored["dvla_api_key"], "api-key-1");
    assert_eq!(stored["dvla_password"], PASSWORD);
    assert_eq!(stored["kept"], "as it was");

    assert_eq!(client.print(&uk_letter()).await, Ok(PrintAccepted::New));
    assert_eq!(
        fake.print_requests()[0].api_key.as_deref(),
        Some("api-key-1")
    );
}

#[tokio::test]
async fn another_process_reads_the_rotated_api_key_when_dvla_refuses_its_own() {
    let sm = secrets_client();
    let secret = credentials_secret(&sm).await;
    let fake = FakeDvla::start(USER, PASSWORD, API_KEY).await;
    let scheduled = client_of(&fake, &sm, &secret, credentials(PASSWORD, API_KEY));
    let letters = client_of(&fake, &sm, &secret, credentials(PASSWORD, API_KEY));
    letters.print(&uk_letter()).await.unwrap();

    scheduled.change_api_key().await.unwrap();
    assert_eq!(letters.print(&uk_letter()).await, Ok(PrintAccepted::New));
    let keys: Vec<_> = fake
        .print_requests()
        .into_iter()
        .map(|r| r.api_key.unwrap())
        .collect();
    assert_eq!(keys, [API_KEY, API_KEY, "api-key-1"]);
}

#[tokio::test]
async fn a_new_strong_password_is_kept_in_the_secret() {
    let sm = secrets_client();
    let secret = credentials_secret(&sm).await;
    let fake = FakeDvla::start(USER, PASSWORD, API_KEY).await;
    let scheduled = client_of(&fake, &sm, &secret, credentials(PASSWORD, API_KEY));
    // Started before the change, with the old password and no token yet.
    let letters = client_of(&fake, &sm, &secret, credentials(PASSWORD, API_KEY));

    scheduled.change_password().await.unwrap();
    let new_password = fake.password();
    assert_ne!(new_password, PASSWORD);
    assert!(new_password.len() >= 30, "{new_password}");
    let stored = secret_json(&sm, &secret).await;
    assert_eq!(stored["dvla_password"], new_password.as_str());
    assert!(stored.get("dvla_password_pending").is_none(), "{stored}");
    assert_eq!(stored["dvla_api_key"], API_KEY);
    assert_eq!(stored["kept"], "as it was");

    // Its authentication is refused, it reads the secret and authenticates again.
    assert_eq!(letters.print(&uk_letter()).await, Ok(PrintAccepted::New));
    assert_eq!(fake.authentications(), 2);

    let fresh = CredentialsSecret::new(sm.clone(), &secret)
        .read()
        .await
        .unwrap();
    let restarted = DvlaClient::new(&fake.url, fresh, None);
    assert_eq!(restarted.print(&uk_letter()).await, Ok(PrintAccepted::New));
}

#[tokio::test]
async fn a_refused_password_change_keeps_the_old_password() {
    let sm = secrets_client();
    let secret = credentials_secret(&sm).await;
    let fake = FakeDvla::start(USER, PASSWORD, API_KEY).await;
    let client = client_of(&fake, &sm, &secret, credentials(PASSWORD, API_KEY));

    fake.refuse_next_password_change(401);
    let outcome = client.change_password().await;
    assert!(
        matches!(outcome, Err(RotationError::Failed(_))),
        "{outcome:?}"
    );
    fake.refuse_next_password_change(500);
    let outcome = client.change_password().await;
    assert!(
        matches!(outcome, Err(RotationError::Retry(_))),
        "{outcome:?}"
    );

    assert_eq!(fake.password(), PASSWORD);
    let stored = secret_json(&sm, &secret).await;
    assert_eq!(stored["dvla_password"], PASSWORD);
    assert!(stored.get("dvla_password_pending").is_none(), "{stored}");
    assert_eq!(client.print(&uk_letter()).await, Ok(PrintAccepted::New));
}

#[tokio::test]
async fn without_a_secret_nothing_is_rotated() {
    let (fake, client) = dvla().await;
    assert!(matches!(
        client.change_api_key().await,
        Err(RotationError::NoSecret)
    ));
    assert!(matches!(
        client.change_password().await,
        Err(RotationError::NoSecret)
    ));
    assert_eq!(fake.api_key(), API_KEY);
    assert_eq!(fake.password(), PASSWORD);
    assert_eq!(fake.authentications(), 0);
}
