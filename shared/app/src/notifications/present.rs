//! What a send answers, and notifications read back (`GET /v2/notifications/{id}`, its PDF).

use chrono::{DateTime, Datelike, Utc, Weekday};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::accept::{Accepted, Content};
use crate::AppState;
use crate::auth::AuthenticatedKey;
use notify_core::errors::V2Error;
use notify_core::model::{NotificationStatus, NotificationType, Postage, Template};
use notify_core::recipients::PhoneNumber;
use notify_core::templates;
use notify_core::templates::Values;
use notify_core::templates::placeholders::python_str;
use notify_db::NotificationRecord;

pub(super) fn uri(state: &AppState, path: &str) -> String {
    format!(
        "{}/{}",
        state.config.api.host_name,
        path.trim_start_matches('/')
    )
}

/// `template` in a send's response points at the admin URL of the template, as upstream does.
pub(super) fn template_ref(state: &AppState, template: &Template) -> Value {
    json!({
        "id": template.id,
        "version": template.version,
        "uri": uri(state, &format!("services/{}/templates/{}", template.service_id, template.id)),
    })
}

/// The sender as the response shows it: numeric senders as digits-only E.164, names unchanged.
pub(super) fn format_sender(sender: &str) -> String {
    if sender.chars().any(|c| c.is_ascii_alphabetic()) {
        return sender.to_string();
    }
    PhoneNumber::parse(sender)
        .map(|p| p.normalised().to_string())
        .unwrap_or_else(|_| sender.to_string())
}

/// The 201 body of an accepted send.
pub(super) fn created(state: &AppState, accepted: &Accepted) -> Value {
    let id = accepted.new.id;
    let reference = &accepted.new.client_reference;
    let content = match &accepted.content {
        Content::Precompiled { postage } => {
            return json!({"id": id, "reference": reference, "postage": postage});
        }
        Content::Sms { body, from_number } => {
            json!({"body": body, "from_number": format_sender(from_number)})
        }
        Content::Email {
            from_email,
            rendered,
            one_click_unsubscribe_url,
            ..
        } => json!({
            "from_email": from_email,
            "body": rendered.body,
            "subject": rendered.subject,
            "one_click_unsubscribe_url": one_click_unsubscribe_url,
        }),
        Content::Letter { rendered } => {
            json!({"body": rendered.body, "subject": rendered.subject})
        }
    };
    let mut out = json!({
        "id": id,
        "reference": reference,
        "content": content,
        "uri": uri(state, &format!("v2/notifications/{id}")),
        "template": template_ref(state, &accepted.template),
        "scheduled_for": notify_core::time::format_opt(accepted.scheduled_for),
    });
    if let Content::Email { sanitised, .. } = &accepted.content {
        out["sanitised_content"] = Value::Object(sanitised.clone());
    }
    out
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
        letter_languages: Default::default(),
        letter_welsh_subject: None,
        letter_welsh_content: None,
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
        "scheduled_for": notify_core::time::format_opt(record.scheduled_for),
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
    let not_ready = || {
        V2Error::new(
            400,
            "PDFNotReadyError",
            "PDF not available yet, try again later",
        )
    };
    match record.status {
        // As upstream: nothing is served before the scan said the file is safe.
        NotificationStatus::PendingVirusCheck => return Err(not_ready()),
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
    // A precompiled letter is served as the service uploaded it; a templated letter's PDF is in the file store
    // once rendered; precompiled letters accepted before uploads went to the store keep theirs in the database.
    let key = match state.db.precompiled_upload_key(id).await? {
        Some(key) => Some(key),
        None => state.db.letter_file_key(id).await?,
    };
    if let Some(key) = key {
        return match state.files.get(&key).await {
            Ok(Some(pdf)) => Ok(pdf),
            Ok(None) => Err(not_ready()),
            Err(e) => {
                tracing::warn!(notification_id = %id, error = %e, "letter PDF not read from the file store");
                Err(not_ready())
            }
        };
    }
    state.db.letter_pdf(id).await?.ok_or_else(not_ready)
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
