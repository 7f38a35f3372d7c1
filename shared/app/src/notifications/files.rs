//! Files sent by email (contract §3.2.1): personalisation values that are `{"file": …}` objects.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::AppState;
use crate::documents::{self, FileToSend};
use notify_core::errors::V2Error;
use notify_core::model::{NotificationType, Service};
use notify_core::templates;

pub(super) fn has_file(personalisation: &Map<String, Value>) -> bool {
    personalisation
        .values()
        .any(|v| v.as_object().is_some_and(|o| o.contains_key("file")))
}

/// Files go only by email: on a text or letter they are refused at once.
pub(super) fn files_only_by_email(
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

/// Files sent by email (contract §3.2.1): validated with Notify's messages, then each file checked, scanned,
/// sealed and stored by this platform's document download service (`crate::documents`), and its value replaced
/// by the recipient's link. Simulated recipients and test keys get real links too (upstream gives simulated
/// ones a fixed test-document URL), so a service can try the whole journey without a real send. Returns how
/// many files the email links to (`notifications.document_download_count`), `None` without any.
pub(super) async fn prepare_files(
    state: &AppState,
    service: &Service,
    personalisation: &mut Map<String, Value>,
    recipient: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<i32>, V2Error> {
    if !has_file(personalisation) {
        return Ok(None);
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
    let keys: Vec<String> = personalisation
        .iter()
        .filter(|(_, v)| v.as_object().is_some_and(|o| o.contains_key("file")))
        .map(|(k, _)| k.clone())
        .collect();
    let files: Vec<FileToSend> = keys
        .iter()
        .filter_map(|k| personalisation.get(k)?.as_object())
        .map(|o| FileToSend {
            file: o
                .get("file")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            filename: o
                .get("filename")
                .and_then(Value::as_str)
                .map(str::to_string),
            is_csv: o.get("is_csv").and_then(Value::as_bool).unwrap_or(false),
            confirm_email_before_download: o
                .get("confirm_email_before_download")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            retention_period: o
                .get("retention_period")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .collect();
    let links = documents::upload(state, service, recipient, &files, now).await?;
    for (key, link) in keys.iter().zip(links) {
        personalisation.insert(key.clone(), Value::String(link));
    }
    Ok(Some(i32::try_from(keys.len()).unwrap_or(i32::MAX)))
}
