//! SECRET_KEY: the start-up key check, one unreadable row failing only itself, and rotation end to end.

use http::StatusCode;
use notify_core::model::{CallbackType, KeyType};
use notify_tests::TestApp;

async fn sql(app: &TestApp, statement: &str) {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap();
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_at_start_up_with_a_message_naming_it() {
    let app = TestApp::new().await;
    app.state
        .check_secret_key()
        .await
        .expect("first start writes the check");
    app.state
        .check_secret_key()
        .await
        .expect("same key opens it");
    let wrong = app.with_secret_key("another-key");
    let refused = wrong
        .state
        .check_secret_key()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.starts_with("SECRET_KEY does not decrypt this database's key check: "),
        "{refused}"
    );
    let current =
        notify_config::ExposeSecret::expose_secret(&app.state.config.secret_key).to_string();
    app.with_secret_key(&format!("another-key,{current}"))
        .state
        .check_secret_key()
        .await
        .expect("the old key after the new one opens it");
}

#[tokio::test]
async fn a_database_made_before_the_check_with_another_key_is_refused() {
    let app = TestApp::new().await;
    app.service(false).await;
    let refused = app
        .with_secret_key("another-key")
        .state
        .check_secret_key()
        .await;
    assert!(refused.is_err());
    app.state
        .check_secret_key()
        .await
        .expect("its own key is accepted");
}

#[tokio::test]
async fn an_api_key_written_under_another_key_does_not_lock_the_service_out() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    let other = app.with_secret_key("another-key");
    notify_app::admin::create_api_key(&other.state, s.service.id, "stray", KeyType::Normal, None)
        .await
        .unwrap();
    sql(
        &app,
        "UPDATE api_keys SET expiry_date = now() WHERE name = 'stray'",
    )
    .await;
    app.send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let listed = app
        .call("GET", "/v2/notifications", &s.live_key, None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    // A token no key signs makes auth try every key, the unreadable one included: still a 403, not a 500.
    let unknown = format!("nobody-{}-{}", s.service.id, uuid::Uuid::new_v4());
    let refused = app.call("GET", "/v2/notifications", &unknown, None).await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        refused.json()
    );
    assert_eq!(
        crate::messages(&refused.json()),
        vec!["Invalid token: API key not found"]
    );
}

#[tokio::test]
async fn one_unreadable_notification_or_inbound_text_fails_only_itself() {
    let app = TestApp::new().await;
    let s = app.service(false).await;
    app.assign_inbound_number(s.service.id, "07700900999").await;
    let good = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let other = app.with_secret_key("another-key");
    let bad = app
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    let foreign = other.state.encryptor.encrypt(r#"{"name":"x"}"#);
    sql(
        &app,
        &format!("UPDATE notifications SET personalisation = '{foreign}' WHERE id = '{bad}'"),
    )
    .await;
    notify_app::admin::receive_inbound_sms(&app.state, s.service.id, "07700900111", "readable")
        .await
        .unwrap();
    notify_app::admin::receive_inbound_sms(&other.state, s.service.id, "07700900111", "unreadable")
        .await
        .unwrap();
    let one = app
        .call(
            "GET",
            &format!("/v2/notifications/{bad}"),
            &s.live_key,
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::INTERNAL_SERVER_ERROR);
    let list = app
        .call("GET", "/v2/notifications", &s.live_key, None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let ids: Vec<String> = list.json()["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![good.to_string()]);
    let texts = app
        .call("GET", "/v2/received-text-messages", &s.live_key, None)
        .await;
    assert_eq!(texts.status, StatusCode::OK);
    let contents: Vec<String> = texts.json()["received_text_messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, vec!["readable"]);
}

#[tokio::test]
async fn rotation_old_key_then_both_then_re_encrypt_then_new_key_alone() {
    let old = TestApp::with_config(|c| {
        c.secret_key = notify_config::SecretKey::new("the-old-key").unwrap()
    })
    .await;
    old.state.check_secret_key().await.unwrap();
    let s = old.service(false).await;
    old.assign_inbound_number(s.service.id, "07700900999").await;
    notify_app::admin::set_callback_api(
        &old.state,
        s.service.id,
        CallbackType::DeliveryStatus,
        "https://callbacks.example.com/status",
        "the-services-bearer-token",
        None,
    )
    .await
    .unwrap();
    let sent = old
        .send_sms(&s.live_key, s.sms_template, "07700900123", None)
        .await;
    notify_app::admin::receive_inbound_sms(
        &old.state,
        s.service.id,
        "07700900111",
        "Hello Notify!",
    )
    .await
    .unwrap();
    // Revoking writes a history row holding the same ciphertext.
    let (_, revoked) = notify_app::admin::create_api_key(
        &old.state,
        s.service.id,
        "to-revoke",
        KeyType::Team,
        None,
    )
    .await
    .unwrap();
    sql(
        &old,
        "UPDATE api_keys SET expiry_date = now() WHERE name = 'to-revoke'",
    )
    .await;

    let both = old.with_secret_key("the-new-key,the-old-key");
    both.state.check_secret_key().await.unwrap();
    // A value written during the rotation is under the new key already.
    let during = both
        .send_sms(&s.live_key, s.sms_template, "07700900124", None)
        .await;
    let first =
        notify_app::rotation::re_encrypt(&both.state.db, &both.state.encryptor, 2, &|_, _| {})
            .await
            .unwrap();
    assert!(first.rewritten >= 7, "{first:?}");
    assert_eq!(first.unreadable, 0);
    let again =
        notify_app::rotation::re_encrypt(&both.state.db, &both.state.encryptor, 2, &|_, _| {})
            .await
            .unwrap();
    assert_eq!(again.rewritten, 0, "a second run finds nothing left");
    assert_eq!(
        notify_app::rotation::pending(&both.state.db, &both.state.encryptor)
            .await
            .unwrap(),
        0
    );

    let new = old.with_secret_key("the-new-key");
    new.state
        .check_secret_key()
        .await
        .expect("the check was re-encrypted");
    assert!(
        old.state.check_secret_key().await.is_err(),
        "the old key alone is refused"
    );
    for id in [sent, during] {
        let got = new
            .call("GET", &format!("/v2/notifications/{id}"), &s.live_key, None)
            .await;
        assert_eq!(got.status, StatusCode::OK, "{:?}", got.json());
        assert_eq!(got.json()["body"], "Hello x");
    }
    let revoked_call = new.call("GET", "/v2/notifications", &revoked, None).await;
    assert_eq!(revoked_call.status, StatusCode::FORBIDDEN);
    let texts = new
        .call("GET", "/v2/received-text-messages", &s.team_key, None)
        .await;
    assert_eq!(
        texts.json()["received_text_messages"][0]["content"],
        "Hello Notify!"
    );
    let callbacks = new.state.db.callback_apis(s.service.id).await.unwrap();
    assert_eq!(
        new.state
            .encryptor
            .decrypt(&callbacks[0].encrypted_bearer_token)
            .unwrap(),
        "the-services-bearer-token"
    );
    let (client, connection) = tokio_postgres::connect(&new.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    for (table, column) in [
        ("api_keys_history", "secret"),
        ("service_callback_api_history", "bearer_token"),
    ] {
        for row in client
            .query(&format!("SELECT {column} FROM {table}"), &[])
            .await
            .unwrap()
        {
            let stored: String = row.get(0);
            assert!(new.state.encryptor.is_current(&stored), "{table}");
        }
    }
}
