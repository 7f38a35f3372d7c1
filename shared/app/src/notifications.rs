//! Accepting a send (contract §4.4, in that order) and reading notifications back (§3.5–§3.7).

use base64::Engine;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use regex::Regex;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::auth::AuthenticatedKey;
use notify_core::errors::V2Error;
use notify_core::messages::Message;
use notify_core::model::{
    KeyType, NotificationStatus, NotificationType, Postage, Service, ServicePermission, Template,
};
use notify_core::recipients::{EmailAddress, PhoneError, PhoneNumber, PostalAddress};
use notify_core::schema::{self, Rule, field};
use notify_core::templates;
use notify_core::templates::placeholders::python_str;
use notify_core::templates::{EMAIL_MAX_BYTES, Rendered, Values, sms};
use notify_db::{NewNotification, NotificationRecord, SenderKind};

const SIMULATED_SMS: [&str; 3] = ["447700900000", "447700900111", "447700900222"];
const SIMULATED_EMAIL: [&str; 3] = [
    "simulate-delivered@notifications.service.gov.uk",
    "simulate-delivered-2@notifications.service.gov.uk",
    "simulate-delivered-3@notifications.service.gov.uk",
];
/// Test keys on trial services are limited as a live service would be.
const LIVE_DEFAULT_LIMITS: [(&str, i64); 4] = [
    ("sms", 250_000),
    ("email", 250_000),
    ("letter", 20_000),
    ("international_sms", 100),
];

fn limit_for(service: &Service, key_type: KeyType, limit_name: &'static str) -> i64 {
    if key_type == KeyType::Test && service.restricted {
        return LIVE_DEFAULT_LIMITS
            .iter()
            .find(|(n, _)| *n == limit_name)
            .map(|(_, l)| *l)
            .unwrap_or(i64::MAX);
    }
    match limit_name {
        "sms" => service.sms_message_limit,
        "email" => service.email_message_limit,
        "letter" => service.letter_message_limit,
        _ => service.international_sms_message_limit,
    }
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, V2Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(V2Error::validation(vec![format!(
            "{} is not of type object",
            templates::placeholders::python_repr(&other).replace('\'', "")
        )])),
        Err(_) => Err(V2Error::bad_request("Invalid JSON supplied in POST data")),
    }
}

/// Every send body is checked against its schema, all errors at once.
fn validated(
    body: Map<String, Value>,
    fields: &[schema::Field],
) -> Result<Map<String, Value>, V2Error> {
    let errors = schema::validate(&body, fields, false);
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(V2Error::validation(errors))
    }
}

fn check_phone_format(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => PhoneNumber::parse(s)
            .err()
            .map(|e| e.legacy_message().to_string()),
        other => Some(format!(
            "{} is not of type string",
            templates::placeholders::python_repr(other).replace('\'', "")
        )),
    }
}

fn check_email_format(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => EmailAddress::parse(s).err().map(|e| e.to_string()),
        other => Some(format!(
            "{} is not of type string",
            templates::placeholders::python_repr(other).replace('\'', "")
        )),
    }
}

fn check_scheduled_for(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s,
        other => {
            return Some(format!(
                "{} is not of type string, null",
                templates::placeholders::python_repr(other).replace('\'', "")
            ));
        }
    };
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").map(|d| d.and_utc())
        })
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|d| d.and_utc())
        });
    let Ok(at) = parsed else {
        return Some(
            "datetime format is invalid. It must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601"
                .into(),
        );
    };
    let now = Utc::now();
    if at < now {
        Some("datetime can not be in the past".into())
    } else if at > now + Duration::hours(24) {
        Some("datetime can only be 24 hours in the future".into())
    } else {
        None
    }
}

const SMS_FIELDS: &[schema::Field] = &[
    field("phone_number", true, Rule::Custom(check_phone_format)),
    field("template_id", true, Rule::Uuid),
    field("personalisation", false, Rule::Object),
    field(
        "reference",
        false,
        Rule::String {
            max_length: Some(1000),
        },
    ),
    field("sms_sender_id", false, Rule::Uuid),
    field("scheduled_for", false, Rule::Custom(check_scheduled_for)),
];

const EMAIL_FIELDS: &[schema::Field] = &[
    field("email_address", true, Rule::Custom(check_email_format)),
    field("template_id", true, Rule::Uuid),
    field("personalisation", false, Rule::Object),
    field(
        "reference",
        false,
        Rule::String {
            max_length: Some(1000),
        },
    ),
    field("email_reply_to_id", false, Rule::Uuid),
    field("one_click_unsubscribe_url", false, Rule::HttpsUrl),
    field("scheduled_for", false, Rule::Custom(check_scheduled_for)),
    field("sanitise_content_for", false, Rule::ArrayOrNull),
];

const LETTER_FIELDS: &[schema::Field] = &[
    field("template_id", true, Rule::Uuid),
    field("personalisation", true, Rule::Object),
    field(
        "reference",
        false,
        Rule::String {
            max_length: Some(1000),
        },
    ),
];

const PRECOMPILED_FIELDS: &[schema::Field] = &[
    field("reference", true, Rule::String { max_length: None }),
    field("content", true, Rule::String { max_length: None }),
    field(
        "postage",
        false,
        Rule::OneOf(
            &["first", "second", "economy"],
            "invalid. It must be either first, second or economy.",
        ),
    ),
];

fn uuid_field(body: &Map<String, Value>, name: &str) -> Option<Uuid> {
    body.get(name)
        .and_then(Value::as_str)
        .and_then(schema::parse_uuid)
}

fn string_field(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

fn personalisation_of(body: &Map<String, Value>) -> Map<String, Value> {
    body.get("personalisation")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn has_file(personalisation: &Map<String, Value>) -> bool {
    personalisation
        .values()
        .any(|v| v.as_object().is_some_and(|o| o.contains_key("file")))
}

fn check_permission(service: &Service, notification_type: NotificationType) -> Result<(), V2Error> {
    if service.has_permission(notification_type.permission()) {
        Ok(())
    } else {
        Err(V2Error::bad_request(format!(
            "Service is not allowed to send {}",
            notification_type.plural_noun()
        )))
    }
}

async fn usable_template(
    state: &AppState,
    service_id: Uuid,
    template_id: Uuid,
    notification_type: NotificationType,
) -> Result<Template, V2Error> {
    let template = state
        .lookups
        .template(&state.db, service_id, template_id)
        .await?
        .ok_or_else(|| V2Error::bad_request("Template not found"))?;
    if template.template_type != notification_type {
        return Err(V2Error::bad_request(format!(
            "{} template is not suitable for {} notification",
            template.template_type, notification_type
        )));
    }
    if template.archived {
        return Err(V2Error::bad_request("Template has been deleted"));
    }
    Ok(template)
}

fn render(template: &Template, personalisation: &Map<String, Value>) -> Result<Rendered, V2Error> {
    templates::render(template, personalisation).map_err(|e| V2Error::bad_request(e.to_string()))
}

/// Trial services and team keys may only send to the team and the guest list.
async fn check_recipient_allowed(
    state: &AppState,
    auth: &AuthenticatedKey,
    kind: &str,
    normalised: &str,
) -> Result<(), V2Error> {
    let restricted_key = match auth.key_type {
        KeyType::Test => false,
        KeyType::Team => true,
        KeyType::Normal => auth.service.restricted,
    };
    if !restricted_key {
        return Ok(());
    }
    let allowed = state
        .db
        .team_and_guest_list(auth.service.id)
        .await?
        .into_iter()
        .any(|(k, recipient)| {
            k == kind
                && match kind {
                    "mobile" => {
                        PhoneNumber::parse(&recipient).is_ok_and(|p| p.normalised() == normalised)
                    }
                    _ => recipient.trim().to_lowercase() == normalised,
                }
        });
    if allowed {
        Ok(())
    } else if auth.key_type == KeyType::Team {
        Err(V2Error::bad_request(
            "Can’t send to this recipient using a team-only API key",
        ))
    } else {
        Err(V2Error::bad_request(
            "Can’t send to this recipient when service is in trial mode – see https://www.notifications.service.gov.uk/trial-mode",
        ))
    }
}

/// Files go only by email: on a text or letter they are refused at once.
fn files_only_by_email(
    personalisation: &Map<String, Value>,
    notification_type: NotificationType,
) -> Result<(), V2Error> {
    if notification_type != NotificationType::Email && has_file(personalisation) {
        return Err(V2Error::bad_request("Can only send a file by email"));
    }
    Ok(())
}

static RETENTION_PERIOD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*([0-9]+)\s+weeks?\s*$").expect("valid regex"));

/// Messages of Notify's `send_a_file_validation` for one file object.
fn file_errors(file: &Map<String, Value>) -> Vec<String> {
    let repr = |v: &Value| templates::placeholders::python_repr(v).replace('\'', "");
    let mut errors = Vec::new();
    if !file.get("file").is_some_and(Value::is_string) {
        errors.push(match file.get("file") {
            Some(v) => format!("file {} is not of type string", repr(v)),
            None => "file is a required property".into(),
        });
    }
    for key in ["is_csv", "confirm_email_before_download"] {
        if let Some(v) = file.get(key)
            && !(v.is_boolean() || v.is_null())
        {
            errors.push(format!(
                "{key} Unsupported value for {key}: {}. Use a boolean true or false value.",
                repr(v)
            ));
        }
    }
    if let Some(v) = file.get("retention_period")
        && !v.is_null()
    {
        let weeks = v
            .as_str()
            .and_then(|s| RETENTION_PERIOD.captures(s))
            .and_then(|c| c[1].parse::<u32>().ok());
        if !weeks.is_some_and(|w| (1..=78).contains(&w)) {
            errors.push(format!(
                "retention_period Unsupported value for retention_period: {}. Supported periods are from 1 to 78 weeks.",
                repr(v)
            ));
        }
    }
    if let Some(v) = file.get("filename")
        && !v.is_null()
        && !v.as_str().is_some_and(|s| s.contains('.'))
    {
        errors.push(
            "filename `filename` must end with a file extension. For example, filename.csv".into(),
        );
    }
    if file.get("is_csv").is_some_and(|v| !v.is_null())
        && file.get("filename").is_some_and(|v| !v.is_null())
    {
        errors.push("Do not set a value for `is_csv` if `filename` is set.".into());
    }
    let mut extra: Vec<&str> = file
        .keys()
        .map(String::as_str)
        .filter(|k| {
            ![
                "file",
                "is_csv",
                "confirm_email_before_download",
                "retention_period",
                "filename",
            ]
            .contains(k)
        })
        .collect();
    extra.sort_unstable();
    match extra.len() {
        0 => {}
        1 => errors.push(format!(
            "Additional properties are not allowed ({} was unexpected)",
            extra[0]
        )),
        _ => errors.push(format!(
            "Additional properties are not allowed ({} were unexpected)",
            extra.join(", ")
        )),
    }
    errors
}

/// Files sent by email (contract §3.2.1): validated, then, for simulated recipients, replaced by the test
/// document's URL as upstream does. Real uploads need a document download service this platform does not have
/// yet, so they are refused with a clear 400 and nothing is stored or sent.
fn prepare_files(
    state: &AppState,
    service: &Service,
    personalisation: &mut Map<String, Value>,
    simulated: bool,
) -> Result<(), V2Error> {
    if !has_file(personalisation) {
        return Ok(());
    }
    let errors: Vec<String> = personalisation
        .values()
        .filter_map(Value::as_object)
        .filter(|o| o.contains_key("file"))
        .flat_map(file_errors)
        .collect();
    if !errors.is_empty() {
        return Err(V2Error::validation(errors));
    }
    if service.contact_link.is_none() {
        return Err(V2Error::bad_request(format!(
            "Send files by email has not been set up - add contact details for your service at \
             https://www.notifications.service.gov.uk/services/{}/service-settings/send-files-by-email",
            service.id
        )));
    }
    if !simulated {
        return Err(V2Error::bad_request(
            "Sending files by email is not available yet: this platform has no document download service",
        ));
    }
    let test_document = format!(
        "{}/services/{}/documents/test-document",
        state.config.api.document_download_api_host, service.id
    );
    for value in personalisation.values_mut() {
        if value.as_object().is_some_and(|o| o.contains_key("file")) {
            *value = Value::String(test_document.clone());
        }
    }
    Ok(())
}

fn uri(state: &AppState, path: &str) -> String {
    format!(
        "{}/{}",
        state.config.api.host_name,
        path.trim_start_matches('/')
    )
}

/// `template` in a send's response points at the admin URL of the template, as upstream does.
fn template_ref(state: &AppState, template: &Template) -> Value {
    json!({
        "id": template.id,
        "version": template.version,
        "uri": uri(state, &format!("services/{}/templates/{}", template.service_id, template.id)),
    })
}

/// The sender as the response shows it: numeric senders as digits-only E.164, names unchanged.
fn format_sender(sender: &str) -> String {
    if sender.chars().any(|c| c.is_ascii_alphabetic()) {
        return sender.to_string();
    }
    PhoneNumber::parse(sender)
        .map(|p| p.normalised().to_string())
        .unwrap_or_else(|_| sender.to_string())
}

struct Accepted {
    new: NewNotification,
    letter_pdf: Option<Vec<u8>>,
    /// Simulated recipients get a normal answer and nothing else.
    simulated: bool,
    /// Daily counters to bump once stored.
    counters: Vec<&'static str>,
}

/// Stores, then queues. A 201 means the row is committed; if queueing fails the row stays `created` for the
/// replay job and the failure is logged, so an accepted notification is never lost.
async fn persist_and_queue(state: &AppState, accepted: Accepted) -> Result<(), V2Error> {
    if accepted.simulated {
        return Ok(());
    }
    let new = &accepted.new;
    state
        .db
        .insert_notification(new, accepted.letter_pdf.as_deref())
        .await?;
    tracing::info!(
        notification_id = %new.id,
        service_id = %new.service_id,
        notification_type = new.notification_type.as_str(),
        key_type = new.key_type.as_str(),
        "notification created"
    );
    notify_core::metrics::count(
        "NotificationsCreated",
        1,
        &[("NotificationType", new.notification_type.as_str())],
    );
    if new.key_type != KeyType::Test {
        for counter in &accepted.counters {
            state
                .limiter
                .count_sent(new.service_id, counter, new.created_at)
                .await;
        }
    }
    if new.status == NotificationStatus::Created {
        let queue = match new.notification_type {
            NotificationType::Sms => &state.config.queues.deliver_sms,
            NotificationType::Email => &state.config.queues.deliver_email,
            NotificationType::Letter => &state.config.queues.deliver_letter,
        };
        if let Err(e) = state
            .queue
            .send(
                queue,
                &new.service_id.to_string(),
                &Message::deliver(new.id),
            )
            .await
        {
            tracing::error!(
                notification_id = %new.id,
                error = %e,
                "stored but not queued; the replay job will queue it"
            );
            notify_core::metrics::count(
                "NotificationsNotQueued",
                1,
                &[("NotificationType", new.notification_type.as_str())],
            );
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn new_notification(
    auth: &AuthenticatedKey,
    template: &Template,
    to: String,
    normalised_to: Option<String>,
    client_reference: Option<String>,
    personalisation: &Map<String, Value>,
    state: &AppState,
    now: DateTime<Utc>,
) -> NewNotification {
    NewNotification {
        id: Uuid::new_v4(),
        to,
        normalised_to,
        service_id: auth.service.id,
        template_id: template.id,
        template_version: template.version,
        api_key_id: Some(auth.api_key_id),
        key_type: auth.key_type,
        notification_type: template.template_type,
        created_at: now,
        status: NotificationStatus::Created,
        client_reference,
        encrypted_personalisation: (!personalisation.is_empty()).then(|| {
            state
                .encryptor
                .encrypt(&Value::Object(personalisation.clone()).to_string())
        }),
        international: false,
        phone_prefix: None,
        rate_multiplier: None,
        reply_to_text: None,
        postage: None,
        unsubscribe_link: None,
        billable_units: 0,
        created_by_id: None,
        job_id: None,
        job_row_number: None,
    }
}

async fn check_limits(
    state: &AppState,
    auth: &AuthenticatedKey,
    limit_name: &'static str,
    now: DateTime<Utc>,
) -> Result<(), V2Error> {
    let service = &auth.service;
    state
        .limiter
        .check_rate_limit(service.id, auth.key_type, service.rate_limit, now)
        .await?;
    let limit = limit_for(service, auth.key_type, limit_name);
    state
        .limiter
        .check_daily_limit(service.id, limit_name, limit, auth.key_type, now)
        .await?;
    Ok(())
}

pub async fn send_sms(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
) -> Result<Value, V2Error> {
    let now = state.now();
    check_limits(state, auth, "sms", now).await?;
    let body = validated(parse_body(body)?, SMS_FIELDS)?;
    let service = &auth.service;
    check_permission(service, NotificationType::Sms)?;
    let template_id = uuid_field(&body, "template_id").expect("validated");
    let template = usable_template(state, service.id, template_id, NotificationType::Sms).await?;
    let personalisation = personalisation_of(&body);
    let rendered = render(&template, &personalisation)?;
    if rendered.body.is_empty() {
        return Err(V2Error::bad_request("Your message is empty."));
    }
    files_only_by_email(&personalisation, NotificationType::Sms)?;
    let sender_id = uuid_field(&body, "sms_sender_id");
    let sender = state
        .lookups
        .sender(&state.db, SenderKind::Sms, service.id, sender_id)
        .await?;
    if let (Some(id), None) = (sender_id, &sender) {
        return Err(V2Error::bad_request(format!(
            "sms_sender_id {id} does not exist in database for service id {}",
            service.id
        )));
    }
    let sender = sender.map(|s| s.value).unwrap_or_else(|| "GOVUK".into());
    let phone =
        PhoneNumber::parse(body["phone_number"].as_str().expect("validated")).expect("validated");
    check_recipient_allowed(state, auth, "mobile", phone.normalised()).await?;
    if let Err(e) = phone.check_allowed(
        service.has_permission(ServicePermission::InternationalSms),
        service.has_permission(ServicePermission::SmsToUkLandlines),
    ) {
        return Err(
            if e == PhoneError::NotAUkMobile && !phone.is_uk_for_permissions() {
                V2Error::bad_request("Cannot send to international mobile numbers")
            } else {
                V2Error::new(400, "InvalidPhoneError", e.legacy_message())
            },
        );
    }
    let mut counters = vec!["sms"];
    if phone.is_international() && !phone.is_uk_for_permissions() {
        let limit = limit_for(service, auth.key_type, "international_sms");
        state
            .limiter
            .check_daily_limit(service.id, "international_sms", limit, auth.key_type, now)
            .await?;
        counters.push("international_sms");
    }
    let simulated = SIMULATED_SMS.contains(&phone.normalised());
    let length = sms::character_count(&rendered.body);
    if length > sms::SMS_CHAR_COUNT_LIMIT {
        return Err(V2Error::bad_request(format!(
            "Your message is too long. Text messages cannot be longer than {} characters. Your message is {length} characters long.",
            sms::SMS_CHAR_COUNT_LIMIT
        )));
    }
    let mut new = new_notification(
        auth,
        &template,
        phone.as_submitted().to_string(),
        Some(phone.normalised().to_string()),
        string_field(&body, "reference"),
        &personalisation,
        state,
        now,
    );
    new.international = phone.is_international();
    new.phone_prefix = Some(phone.phone_prefix());
    new.rate_multiplier = Some(phone.rate_multiplier());
    new.reply_to_text = Some(sender.clone());
    let id = new.id;
    let reference = new.client_reference.clone();
    persist_and_queue(
        state,
        Accepted {
            new,
            letter_pdf: None,
            simulated,
            counters,
        },
    )
    .await?;
    Ok(json!({
        "id": id,
        "reference": reference,
        "content": {"body": rendered.body, "from_number": format_sender(&sender)},
        "uri": uri(state, &format!("v2/notifications/{id}")),
        "template": template_ref(state, &template),
        "scheduled_for": null,
    }))
}

pub async fn send_email(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
) -> Result<Value, V2Error> {
    let now = state.now();
    check_limits(state, auth, "email", now).await?;
    let body = validated(parse_body(body)?, EMAIL_FIELDS)?;
    let service = &auth.service;
    check_permission(service, NotificationType::Email)?;
    let mut personalisation = personalisation_of(&body);
    let mut sanitised = Map::new();
    let sanitise_keys: Vec<String> = body
        .get("sanitise_content_for")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(templates::placeholders::normalise_key)
                .collect()
        })
        .unwrap_or_default();
    for (key, value) in personalisation.iter_mut() {
        if !sanitise_keys.contains(&templates::placeholders::normalise_key(key)) {
            continue;
        }
        if let Value::String(original) = value {
            let clean = templates::sanitise_value(original);
            if &clean != original {
                sanitised.insert(
                    key.clone(),
                    json!({"unsanitised": original.clone(), "sanitised": clean.clone()}),
                );
                *value = Value::String(clean);
            }
        }
    }
    let template_id = uuid_field(&body, "template_id").expect("validated");
    let template = usable_template(state, service.id, template_id, NotificationType::Email).await?;
    let rendered = render(&template, &personalisation)?;
    if rendered.body.is_empty() {
        return Err(V2Error::bad_request("Your message is empty."));
    }
    let reply_to_id = uuid_field(&body, "email_reply_to_id");
    let reply_to = state
        .lookups
        .sender(&state.db, SenderKind::ReplyTo, service.id, reply_to_id)
        .await?;
    if let (Some(id), None) = (reply_to_id, &reply_to) {
        return Err(V2Error::bad_request(format!(
            "email_reply_to_id {id} does not exist in database for service id {}",
            service.id
        )));
    }
    let email =
        EmailAddress::parse(body["email_address"].as_str().expect("validated")).expect("validated");
    check_recipient_allowed(state, auth, "email", &email.normalised()).await?;
    let simulated = SIMULATED_EMAIL.contains(&email.as_submitted());
    let rendered = if has_file(&personalisation) {
        prepare_files(state, service, &mut personalisation, simulated)?;
        // Lengths are checked on what the recipient gets: the download link, not the file.
        render(&template, &personalisation)?
    } else {
        rendered
    };
    let size = rendered.body.len();
    if size > EMAIL_MAX_BYTES {
        return Err(V2Error::bad_request(format!(
            "Your message is too long. Emails cannot be longer than {EMAIL_MAX_BYTES} bytes. Your message is {size} bytes."
        )));
    }
    let unsubscribe_url = string_field(&body, "one_click_unsubscribe_url");
    let mut new = new_notification(
        auth,
        &template,
        email.as_submitted().to_string(),
        Some(email.normalised()),
        string_field(&body, "reference"),
        &personalisation,
        state,
        now,
    );
    new.reply_to_text = reply_to.map(|r| r.value);
    // A template with an unsubscribe link gets a Notify-made one when the service gave none.
    new.unsubscribe_link = unsubscribe_url.clone().or_else(|| {
        template.has_unsubscribe_link.then(|| {
            uri(
                state,
                &format!("unsubscribe/{}/{}", new.id, Uuid::new_v4().simple()),
            )
        })
    });
    let id = new.id;
    let reference = new.client_reference.clone();
    persist_and_queue(
        state,
        Accepted {
            new,
            letter_pdf: None,
            simulated,
            counters: vec!["email"],
        },
    )
    .await?;
    Ok(json!({
        "id": id,
        "reference": reference,
        "content": {
            "from_email": format!("{}@{}", service.email_sender_local_part, state.config.api.notify_email_domain),
            "body": rendered.body,
            "subject": rendered.subject,
            "one_click_unsubscribe_url": unsubscribe_url,
        },
        "uri": uri(state, &format!("v2/notifications/{id}")),
        "template": template_ref(state, &template),
        "scheduled_for": null,
        "sanitised_content": sanitised,
    }))
}

fn check_letter_key(auth: &AuthenticatedKey) -> Result<(), V2Error> {
    if auth.key_type == KeyType::Team {
        return Err(V2Error::new(
            403,
            "BadRequestError",
            "Cannot send letters with a team api key",
        ));
    }
    if auth.service.restricted && auth.key_type != KeyType::Test {
        return Err(V2Error::new(
            403,
            "BadRequestError",
            "Cannot send letters when service is in trial mode",
        ));
    }
    Ok(())
}

/// `address_line_1`…`address_line_6`, then `address_line_7` or else `postcode`, as submitted.
fn address_lines(personalisation: &Map<String, Value>) -> Vec<String> {
    let values = Values::new(personalisation);
    let mut lines: Vec<String> = (1..=6)
        .filter_map(|n| values.get(&format!("address_line_{n}")).map(python_str))
        .collect();
    if let Some(last) = values
        .get("address_line_7")
        .or_else(|| values.get("postcode"))
    {
        lines.push(python_str(last));
    }
    lines
}

pub async fn send_letter(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
) -> Result<Value, V2Error> {
    let now = state.now();
    check_limits(state, auth, "letter", now).await?;
    let body = parse_body(body)?;
    if body.contains_key("content") {
        return send_precompiled_letter(state, auth, body, now).await;
    }
    // Upstream takes a second token for templated letters; kept so limits behave the same.
    state
        .limiter
        .check_rate_limit(auth.service.id, auth.key_type, auth.service.rate_limit, now)
        .await?;
    let body = validated(body, LETTER_FIELDS)?;
    let service = &auth.service;
    check_permission(service, NotificationType::Letter)?;
    check_letter_key(auth)?;
    let template_id = uuid_field(&body, "template_id").expect("validated");
    let template =
        usable_template(state, service.id, template_id, NotificationType::Letter).await?;
    let personalisation = personalisation_of(&body);
    let rendered = render(&template, &personalisation)?;
    files_only_by_email(&personalisation, NotificationType::Letter)?;
    let address = PostalAddress::parse(
        &address_lines(&personalisation),
        service.has_permission(ServicePermission::InternationalLetters),
    )
    .map_err(|e| V2Error::validation(vec![e.to_string()]))?;
    let mut new = new_notification(
        auth,
        &template,
        address.lines().join("\n"),
        None,
        string_field(&body, "reference"),
        &personalisation,
        state,
        now,
    );
    new.postage = Some(address.postage(template.postage));
    new.international = address.zone() != notify_core::recipients::PostalZone::Uk;
    new.reply_to_text = template.letter_contact_block.clone();
    let id = new.id;
    let reference = new.client_reference.clone();
    persist_and_queue(
        state,
        Accepted {
            new,
            letter_pdf: None,
            simulated: false,
            counters: vec!["letter"],
        },
    )
    .await?;
    Ok(json!({
        "id": id,
        "reference": reference,
        "content": {"body": rendered.body, "subject": rendered.subject},
        "uri": uri(state, &format!("v2/notifications/{id}")),
        "template": template_ref(state, &template),
        "scheduled_for": null,
    }))
}

async fn send_precompiled_letter(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Value, V2Error> {
    let body = validated(body, PRECOMPILED_FIELDS)?;
    let service = &auth.service;
    check_permission(service, NotificationType::Letter)?;
    check_letter_key(auth)?;
    let content = body["content"].as_str().expect("validated");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .map_err(|_| {
            V2Error::bad_request("Cannot decode letter content (invalid base64 encoding)")
        })?;
    if !pdf.starts_with(b"%PDF-") {
        return Err(V2Error::bad_request("Letter content is not a PDF"));
    }
    let template = state.db.precompiled_letter_template(service.id).await?;
    let postage = body
        .get("postage")
        .and_then(Value::as_str)
        .and_then(Postage::parse)
        .unwrap_or(Postage::Second);
    let personalisation: Map<String, Value> =
        [("address_line_1".to_string(), json!("Provided as PDF"))]
            .into_iter()
            .collect();
    let mut new = new_notification(
        auth,
        &template,
        "Provided as PDF".into(),
        None,
        string_field(&body, "reference"),
        &personalisation,
        state,
        now,
    );
    new.status = NotificationStatus::PendingVirusCheck;
    new.postage = Some(postage);
    let id = new.id;
    let reference = new.client_reference.clone();
    persist_and_queue(
        state,
        Accepted {
            new,
            letter_pdf: Some(pdf),
            simulated: false,
            counters: vec!["letter"],
        },
    )
    .await?;
    Ok(json!({"id": id, "reference": reference, "postage": postage}))
}

/// Royal Mail's service levels in working days: when the letter should have arrived at the latest.
fn estimated_delivery(created_at: DateTime<Utc>, postage: Option<Postage>) -> DateTime<Utc> {
    let working_days = match postage.unwrap_or(Postage::Second) {
        Postage::First => 2,
        Postage::Second => 3,
        Postage::Economy => 8,
        Postage::Europe => 6,
        Postage::RestOfWorld => 8,
    };
    let mut day = created_at.date_naive();
    let mut left = working_days;
    while left > 0 {
        day = day.succ_opt().expect("date in range");
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    day.and_hms_opt(16, 0, 0).expect("valid time").and_utc()
}

/// The full public representation of a stored notification (`GET /v2/notifications/{id}`).
pub fn notification_json(state: &AppState, record: &NotificationRecord) -> Result<Value, V2Error> {
    let personalisation: Map<String, Value> = match &record.encrypted_personalisation {
        Some(sealed) => {
            let plain = state.encryptor.decrypt(sealed).map_err(|e| {
                notify_core::crypto::report_undecryptable(
                    "notifications.personalisation",
                    &record.id,
                    &record.service_id,
                );
                V2Error::internal(e)
            })?;
            serde_json::from_str(&plain).map_err(V2Error::internal)?
        }
        None => Map::new(),
    };
    let values = Values::new(&personalisation);
    let template = Template {
        id: record.template_id,
        service_id: record.service_id,
        version: record.template_version,
        name: String::new(),
        template_type: record.notification_type,
        content: record.template_content.clone(),
        subject: record.template_subject.clone(),
        archived: false,
        hidden: record.template_hidden,
        postage: None,
        letter_contact_block: None,
        has_unsubscribe_link: false,
        created_at: record.created_at,
        updated_at: None,
        created_by_email: None,
    };
    let rendered = templates::render_unchecked(&template, &values);
    let is_letter = record.notification_type == NotificationType::Letter;
    let line = |name: &str| {
        if is_letter {
            values.get(name).map(python_str)
        } else {
            None
        }
    };
    let (is_cost_data_ready, cost_in_pounds, cost_details) = cost(record);
    let mut out = json!({
        "id": record.id,
        "reference": record.client_reference,
        "email_address": (record.notification_type == NotificationType::Email).then(|| record.to.clone()),
        "phone_number": (record.notification_type == NotificationType::Sms).then(|| record.to.clone()),
        "line_1": line("address_line_1"),
        "line_2": line("address_line_2"),
        "line_3": line("address_line_3"),
        "line_4": line("address_line_4"),
        "line_5": line("address_line_5"),
        "line_6": line("address_line_6"),
        "postcode": line("postcode"),
        "type": record.notification_type,
        "status": record.status.public(record.notification_type),
        "template": {
            "id": record.template_id,
            "version": record.template_version,
            "uri": uri(state, &format!("v2/template/{}/version/{}", record.template_id, record.template_version)),
        },
        "body": rendered.body,
        "subject": rendered.subject,
        "created_at": notify_core::time::format(record.created_at),
        "created_by_name": record.created_by_name,
        "sent_at": notify_core::time::format_opt(record.sent_at),
        "completed_at": if record.status.is_completed() { notify_core::time::format_opt(record.updated_at) } else { None },
        "scheduled_for": null,
        "postage": record.postage,
        "one_click_unsubscribe_url": record.unsubscribe_link,
        "is_cost_data_ready": is_cost_data_ready,
        "cost_in_pounds": cost_in_pounds,
        "cost_details": cost_details,
    });
    if is_letter {
        out["estimated_delivery"] = json!(notify_core::time::format(estimated_delivery(
            record.created_at,
            record.postage
        )));
    }
    Ok(out)
}

fn round_pounds(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

fn cost(record: &NotificationRecord) -> (bool, Value, Value) {
    use NotificationStatus::*;
    match record.notification_type {
        NotificationType::Email => (true, json!(0.0), json!({})),
        NotificationType::Sms => {
            if record.status == Created && record.billable_units == 0 {
                return (false, Value::Null, json!({}));
            }
            let multiplier = record.rate_multiplier.unwrap_or(1.0);
            let rate = record.sms_rate.unwrap_or(0.0);
            (
                true,
                json!(round_pounds(
                    record.billable_units as f64 * multiplier * rate
                )),
                json!({
                    "billable_sms_fragments": record.billable_units,
                    "international_rate_multiplier": multiplier,
                    "sms_rate": rate,
                }),
            )
        }
        NotificationType::Letter => {
            if record.status == PendingVirusCheck
                || (record.status == Created && record.billable_units == 0)
            {
                return (false, Value::Null, json!({}));
            }
            if matches!(
                record.status,
                Cancelled | TechnicalFailure | ValidationFailed | VirusScanFailed
            ) {
                return (
                    true,
                    json!(0.0),
                    json!({"billable_sheets_of_paper": 0, "postage": record.postage}),
                );
            }
            (
                true,
                json!(round_pounds(record.letter_rate.unwrap_or(0.0))),
                json!({"billable_sheets_of_paper": record.billable_units, "postage": record.postage}),
            )
        }
    }
}

pub async fn get_letter_pdf(
    state: &AppState,
    auth: &AuthenticatedKey,
    id: Uuid,
) -> Result<Vec<u8>, V2Error> {
    let record = state
        .db
        .get_notification(auth.service.id, id)
        .await?
        .ok_or_else(V2Error::not_found)?;
    if record.notification_type != NotificationType::Letter {
        return Err(V2Error::bad_request("Notification is not a letter"));
    }
    match record.status {
        NotificationStatus::VirusScanFailed => {
            return Err(V2Error::bad_request("File did not pass the virus scan"));
        }
        NotificationStatus::TechnicalFailure => {
            return Err(V2Error::bad_request(
                "PDF not available for letters in status technical-failure",
            ));
        }
        _ => {}
    }
    state.db.letter_pdf(id).await?.ok_or_else(|| {
        V2Error::new(
            400,
            "PDFNotReadyError",
            "PDF not available yet, try again later",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn letters_arrive_in_working_days() {
        let friday = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        assert_eq!(
            estimated_delivery(friday, Some(Postage::First))
                .date_naive()
                .to_string(),
            "2026-12-01"
        );
        assert_eq!(
            estimated_delivery(friday, Some(Postage::Second))
                .date_naive()
                .to_string(),
            "2026-12-02"
        );
    }

    #[test]
    fn senders_format_like_notify() {
        assert_eq!(format_sender("GOVUK"), "GOVUK");
        assert_eq!(format_sender("07700900123"), "447700900123");
    }
}
