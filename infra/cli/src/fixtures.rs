//! Functional-test fixtures, as Notify's `functional-test-fixtures` command makes them: one live service with
//! everything the official clients' integration suites need, created idempotently, written out as `export` lines
//! under upstream's names and with upstream's key types (`API_KEY` is a test key, `API_SENDING_KEY` a live one).

use std::path::Path;

use anyhow::Context;
use notify_app::admin::{CreateService, CreateTemplate};
use notify_app::{AppState, admin};
use notify_core::model::{KeyType, NotificationType, Postage, ServicePermission};
use notify_db::{SenderKind, ServiceUpdate, TemplateUpdate};
use uuid::Uuid;

pub const SERVICE_NAME: &str = "Functional Tests";
const USER_EMAIL: &str = "notify-functional-tests@digital.example.gov.uk";
const REPLY_TO_DEFAULT: &str = "notify-functional-tests+reply-to-default@digital.example.gov.uk";
const REPLY_TO: &str = "notify-functional-tests+reply-to@digital.example.gov.uk";
const CONTACT_LINK: &str = "http://localhost:6012";
const USER_MOBILE: &str = "07700900501";
/// Upstream's default `FUNCTIONAL_TEST_INBOUND_NUMBER`; the clients' suites text it (`FUNCTIONAL_TEST_NUMBER`).
const INBOUND_NUMBER: &str = "07700900500";
const LIVE_KEY_NAME: &str = "functional_tests_service_live_key";
const TEST_KEY_NAME: &str = "functional_tests_service_test_key";
/// Not in upstream's set: our own compat tests use it to check team-key rules.
const TEAM_KEY_NAME: &str = "functional_tests_service_team_key";

// Each template has two versions, as upstream makes them: the clients' suites read version 1 and the current one.
const SMS_BODY_V1: &str = "Hey ((name)), I’m trying out Notify. Today is ((day of week)) and my favourite colour is ((colour)).";
const SMS_BODY: &str = "Hello ((name))\r\n\r\nFunctional Tests make our world a better place";
const EMAIL_BODY_V1: &str = "Functional test help make our world a better place";
const EMAIL_BODY: &str = "Hello ((name))\r\n\r\nFunctional test help make our world a better place";
const CONTACT_BLOCK: &str = "Government Digital Service\nThe White Chapel Building\n10 Whitechapel High Street\nLondon\nE1 8QS\nUnited Kingdom";

pub struct Fixtures {
    pub service_id: Uuid,
    pub lines: Vec<(String, String)>,
}

async fn template_named(
    state: &AppState,
    service_id: Uuid,
    name: &str,
    t: NotificationType,
) -> anyhow::Result<Option<Uuid>> {
    Ok(state
        .db
        .list_templates(service_id, Some(t))
        .await?
        .into_iter()
        .find(|tpl| tpl.name == name)
        .map(|tpl| tpl.id))
}

pub async fn functional_tests(state: &AppState, api_url: &str) -> anyhow::Result<Fixtures> {
    let user = match state.db.find_user_by_email(USER_EMAIL).await? {
        Some(user) => user,
        None => {
            state
                .db
                .create_user(
                    Uuid::new_v4(),
                    "Functional Tests User",
                    USER_EMAIL,
                    Some(USER_MOBILE),
                    false,
                )
                .await?
        }
    };
    let service = match state.db.find_service_by_name(SERVICE_NAME).await? {
        Some(service) => service,
        None => admin::create_service(
            state,
            CreateService {
                name: SERVICE_NAME.into(),
                created_by: Some(user.id),
                restricted: false,
                email_from: Some("functional.tests".into()),
                permissions: Some(vec![
                    ServicePermission::Sms,
                    ServicePermission::Email,
                    ServicePermission::Letter,
                    ServicePermission::InboundSms,
                    ServicePermission::InternationalSms,
                    ServicePermission::InternationalLetters,
                ]),
                rate_limit: None,
                message_limit: None,
            },
        )
        .await
        .context("creating the functional tests service")?,
    };
    // Upstream sets these on every run; the contact link (its admin's base URL, here its development value) is
    // what lets the service send files by email.
    state
        .db
        .update_service(
            service.id,
            &ServiceUpdate {
                active: Some(true),
                restricted: Some(false),
                rate_limit: Some(3000),
                contact_link: Some(Some(CONTACT_LINK.into())),
                email_message_limit: Some(1000),
                sms_message_limit: Some(1000),
                letter_message_limit: Some(1000),
                ..Default::default()
            },
        )
        .await?;
    let permissions: Vec<String> = [
        "send_texts",
        "send_emails",
        "send_letters",
        "manage_api_keys",
        "view_activity",
    ]
    .map(String::from)
    .to_vec();
    state
        .db
        .add_user_to_service(user.id, service.id, &permissions)
        .await?;

    // Keys: a fresh set each run under upstream's names, since a secret is shown only once; the old ones are revoked.
    for key in state.db.list_api_keys(service.id).await? {
        if key.expiry_date.is_none() {
            state.db.revoke_api_key(service.id, key.id).await?;
        }
    }
    let key = async |name: &str, key_type: KeyType| {
        admin::create_api_key(state, service.id, name, key_type, Some(user.id))
            .await
            .map(|(_, secret)| secret)
    };
    let live_key = key(LIVE_KEY_NAME, KeyType::Normal).await?;
    let test_key = key(TEST_KEY_NAME, KeyType::Test).await?;
    let team_key = key(TEAM_KEY_NAME, KeyType::Team).await?;

    let sms_sender = match state
        .db
        .list_senders(SenderKind::Sms, service.id)
        .await?
        .into_iter()
        .find(|s| s.value == "func tests")
    {
        Some(s) => s,
        None => {
            state
                .db
                .add_sender(SenderKind::Sms, service.id, "func tests", false, None)
                .await?
        }
    };
    // Upstream: a default reply-to address and a second one, whose id the suites pass as `email_reply_to_id`.
    let reply_tos = state
        .db
        .list_senders(SenderKind::ReplyTo, service.id)
        .await?;
    if !reply_tos.iter().any(|r| r.value == REPLY_TO_DEFAULT) {
        state
            .db
            .add_sender(
                SenderKind::ReplyTo,
                service.id,
                REPLY_TO_DEFAULT,
                true,
                None,
            )
            .await?;
    }
    let reply_to = match reply_tos.into_iter().find(|r| r.value == REPLY_TO) {
        Some(r) => r,
        None => {
            state
                .db
                .add_sender(SenderKind::ReplyTo, service.id, REPLY_TO, false, None)
                .await?
        }
    };
    let contact = match state
        .db
        .get_sender(SenderKind::LetterContact, service.id, None)
        .await?
    {
        Some(c) => c,
        None => {
            state
                .db
                .add_sender(
                    SenderKind::LetterContact,
                    service.id,
                    CONTACT_BLOCK,
                    true,
                    None,
                )
                .await?
        }
    };
    // The inbound number becomes the default sender, as upstream has it; "func tests" is the other one.
    if state
        .db
        .inbound_number_for_service(service.id)
        .await?
        .is_none()
    {
        state
            .db
            .assign_inbound_number(service.id, INBOUND_NUMBER, "mmg")
            .await?;
    }
    // Upstream keeps three received texts for `GET /v2/received-text-messages`.
    let received = state.db.list_inbound_sms(service.id, None, 3).await?.len();
    for _ in received..3 {
        admin::receive_inbound_sms(state, service.id, "07700900123", "This is a test message")
            .await?;
    }

    let sms_id = match template_named(
        state,
        service.id,
        "Client Functional test sms template",
        NotificationType::Sms,
    )
    .await?
    {
        Some(id) => id,
        None => {
            let t = admin::create_template(
                state,
                CreateTemplate {
                    service_id: service.id,
                    name: "Example text message template".into(),
                    template_type: NotificationType::Sms,
                    content: SMS_BODY_V1.into(),
                    subject: None,
                    postage: None,
                    created_by: Some(user.id),
                    letter_contact_id: None,
                    has_unsubscribe_link: false,
                },
            )
            .await?;
            let update = TemplateUpdate {
                name: Some("Client Functional test sms template".into()),
                content: Some(SMS_BODY.into()),
                ..Default::default()
            };
            state.db.update_template(service.id, t.id, &update).await?;
            t.id
        }
    };
    let email_id = match template_named(
        state,
        service.id,
        "Client Functional test email template",
        NotificationType::Email,
    )
    .await?
    {
        Some(id) => id,
        None => {
            let t = admin::create_template(
                state,
                CreateTemplate {
                    service_id: service.id,
                    name: "Client Functional test email template".into(),
                    template_type: NotificationType::Email,
                    content: EMAIL_BODY_V1.into(),
                    subject: Some("Functional Tests are good".into()),
                    postage: None,
                    created_by: Some(user.id),
                    letter_contact_id: None,
                    has_unsubscribe_link: false,
                },
            )
            .await?;
            state
                .db
                .update_template(
                    service.id,
                    t.id,
                    &TemplateUpdate {
                        content: Some(EMAIL_BODY.into()),
                        ..Default::default()
                    },
                )
                .await?;
            t.id
        }
    };
    let letter_id = match template_named(
        state,
        service.id,
        "Client functional letter template",
        NotificationType::Letter,
    )
    .await?
    {
        Some(id) => id,
        None => {
            let t = admin::create_template(
                state,
                CreateTemplate {
                    service_id: service.id,
                    name: "Untitled".into(),
                    template_type: NotificationType::Letter,
                    content: "Body".into(),
                    subject: Some("Main heading".into()),
                    postage: Some(Postage::Second),
                    created_by: Some(user.id),
                    letter_contact_id: None,
                    has_unsubscribe_link: false,
                },
            )
            .await?;
            let update = TemplateUpdate {
                name: Some("Client functional letter template".into()),
                content: Some("Hello ((address_line_1))".into()),
                service_letter_contact_id: Some(Some(contact.id)),
                ..Default::default()
            };
            state.db.update_template(service.id, t.id, &update).await?;
            t.id
        }
    };
    let service_id = service.id.to_string();
    // Upstream's names and values (`app/functional_tests_fixtures`): the API client block, then the
    // functional-test variables this stack can honour; `API_TEAM_KEY` is ours.
    let lines = vec![
        ("SERVICE_ID", service_id.clone()),
        ("FUNCTIONAL_TEST_NUMBER", INBOUND_NUMBER.to_string()),
        ("FUNCTIONAL_TEST_EMAIL", USER_EMAIL.to_string()),
        ("EMAIL_TEMPLATE_ID", email_id.to_string()),
        ("SMS_TEMPLATE_ID", sms_id.to_string()),
        ("LETTER_TEMPLATE_ID", letter_id.to_string()),
        ("EMAIL_REPLY_TO_ID", reply_to.id.to_string()),
        ("SMS_SENDER_ID", sms_sender.id.to_string()),
        ("NOTIFY_API_URL", api_url.to_string()),
        ("API_KEY", test_key.clone()),
        ("API_SENDING_KEY", live_key.clone()),
        ("INBOUND_SMS_QUERY_KEY", test_key.clone()),
        ("API_TEAM_KEY", team_key),
        ("FUNCTIONAL_TESTS_API_HOST", api_url.to_string()),
        ("FUNCTIONAL_TESTS_SERVICE_ID", service_id),
        ("FUNCTIONAL_TESTS_SERVICE_NAME", service.name.clone()),
        ("FUNCTIONAL_TESTS_SERVICE_EMAIL", USER_EMAIL.to_string()),
        ("FUNCTIONAL_TESTS_SERVICE_NUMBER", USER_MOBILE.to_string()),
        ("FUNCTIONAL_TESTS_SERVICE_API_KEY", live_key),
        ("FUNCTIONAL_TESTS_SERVICE_API_TEST_KEY", test_key),
        (
            "FUNCTIONAL_TESTS_SERVICE_EMAIL_REPLY_TO",
            REPLY_TO.to_string(),
        ),
        (
            "FUNCTIONAL_TESTS_SERVICE_EMAIL_REPLY_TO_ID",
            reply_to.id.to_string(),
        ),
        (
            "FUNCTIONAL_TESTS_SERVICE_SMS_SENDER_ID",
            sms_sender.id.to_string(),
        ),
        (
            "FUNCTIONAL_TESTS_SERVICE_INBOUND_NUMBER",
            INBOUND_NUMBER.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(Fixtures {
        service_id: service.id,
        lines,
    })
}

pub fn write_env_file(path: &Path, lines: &[(String, String)]) -> anyhow::Result<()> {
    let text: String = lines
        .iter()
        .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', "'\\''")))
        .collect();
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub async fn purge(state: &AppState) -> anyhow::Result<bool> {
    match state.db.find_service_by_name(SERVICE_NAME).await? {
        Some(service) => {
            state.db.purge_service(service.id).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
