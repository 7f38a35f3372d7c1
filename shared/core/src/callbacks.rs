//! Service callbacks as they go on the wire: the complete callback a worker POSTs, the bodies of Notify's four
//! kinds (delivery status, complaint, inbound text, returned letter), and when a delivery-status callback is due.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{CallbackType, NotificationStatus, NotificationType};

/// One callback, ready to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub v: u32,
    pub callback_type: CallbackType,
    pub service_id: Uuid,
    /// The notification or inbound text it is about: for logs, never the recipient.
    pub subject_id: Uuid,
    pub url: String,
    /// AES-256-GCM ciphertext as stored in `service_callback_api`; the worker decrypts it just before the call.
    /// `None` only for a notification's own `callback_url` when the service has no delivery-status callback:
    /// then there is no bearer token to send.
    pub encrypted_token: Option<String>,
    /// The request body, serialised once here so every retry sends the same bytes.
    pub body: String,
    /// The Standard Webhooks `webhook-id`, the same for every retry and replay of this callback. Absent on
    /// messages queued before signing existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// The service's signing secrets (ciphertext, newest first), each making one `webhook-signature`; empty when
    /// the service does not sign, and on messages queued before signing existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_secrets: Vec<String>,
    /// Set on the copy put on the dead-letter queue when retries ran out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where a callback goes, as read from `service_callback_api` (or a notification's own `callback_url`), and the
/// service's signing secrets, still encrypted.
#[derive(Clone, Debug, Default)]
pub struct CallbackTarget {
    pub url: String,
    pub encrypted_token: Option<String>,
    pub signing_secrets: Vec<String>,
}

/// The longest `callback_url` a send may give: the column's and the admin callback's limit.
pub const CALLBACK_URL_MAX: usize = 255;

/// A notification's own delivery-status callback address, given with the send (`callback_url`): https, a host,
/// at most [`CALLBACK_URL_MAX`] characters. Where it points is checked by the callback worker's address guard at
/// send, as for a service's callback, since a name can resolve elsewhere later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackUrl(String);

impl CallbackUrl {
    /// The error is the v2 message without the field name before it.
    pub fn parse(text: &str) -> Result<CallbackUrl, String> {
        if text.chars().count() > CALLBACK_URL_MAX {
            return Err(format!("{text} is too long"));
        }
        match url::Url::parse(text) {
            Ok(url)
                if url.scheme() == "https"
                    && url.host_str().is_some_and(|h| !h.is_empty())
                    // As written, not as the URL parser repairs it (`https:///cb` would become host `cb`).
                    && text
                        .strip_prefix("https://")
                        .and_then(|rest| rest.chars().next())
                        .is_some_and(|c| !"/?#".contains(c))
                    && !text.chars().any(char::is_whitespace) =>
            {
                Ok(CallbackUrl(text.to_string()))
            }
            _ => Err("is not a valid https url".into()),
        }
    }

    /// As stored: read back from a row this type wrote.
    pub fn from_stored(text: String) -> CallbackUrl {
        CallbackUrl(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a delivery-status callback reports (contract §9.3).
#[derive(Clone, Debug)]
pub struct DeliveryStatusData {
    pub notification_id: Uuid,
    pub service_id: Uuid,
    pub client_reference: Option<String>,
    pub to: String,
    pub status: NotificationStatus,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub notification_type: NotificationType,
    pub template_id: Uuid,
    pub template_version: i32,
}

/// Field order is Notify's.
#[derive(Serialize)]
struct DeliveryStatusBody<'a> {
    id: Uuid,
    reference: Option<&'a str>,
    to: &'a str,
    status: &'a str,
    created_at: String,
    completed_at: Option<String>,
    sent_at: Option<String>,
    notification_type: &'a str,
    template_id: Uuid,
    template_version: i32,
}

#[derive(Serialize)]
struct ComplaintBody<'a> {
    notification_id: Uuid,
    complaint_id: Uuid,
    reference: Option<&'a str>,
    to: &'a str,
    complaint_date: String,
}

#[derive(Serialize)]
struct InboundSmsBody<'a> {
    id: Uuid,
    source_number: &'a str,
    destination_number: &'a str,
    message: &'a str,
    date_received: String,
}

/// Whether a status reached through a receipt gets a delivery-status callback (§9.3): final outcomes do; the
/// in-between ones (`pending`, `sending`, `sent`) do not.
pub fn delivery_callback_due(status: NotificationStatus) -> bool {
    use NotificationStatus::*;
    matches!(
        status,
        Delivered | PermanentFailure | TemporaryFailure | TechnicalFailure
    )
}

pub fn delivery_status(data: &DeliveryStatusData, target: &CallbackTarget) -> Callback {
    let body = DeliveryStatusBody {
        id: data.notification_id,
        reference: data.client_reference.as_deref(),
        to: &data.to,
        status: data.status.as_str(),
        created_at: crate::time::format(data.created_at),
        completed_at: crate::time::format_opt(data.completed_at),
        sent_at: crate::time::format_opt(data.sent_at),
        notification_type: data.notification_type.as_str(),
        template_id: data.template_id,
        template_version: data.template_version,
    };
    callback(
        CallbackType::DeliveryStatus,
        data.service_id,
        data.notification_id,
        data.status.as_str(),
        target,
        &body,
    )
}

/// What a complaint callback reports (contract §9.4).
#[derive(Clone, Debug)]
pub struct ComplaintData {
    pub complaint_id: Uuid,
    pub notification_id: Uuid,
    pub service_id: Uuid,
    pub client_reference: Option<String>,
    pub to: String,
    pub complaint_date: DateTime<Utc>,
}

pub fn complaint(data: &ComplaintData, target: &CallbackTarget) -> Callback {
    let body = ComplaintBody {
        notification_id: data.notification_id,
        complaint_id: data.complaint_id,
        reference: data.client_reference.as_deref(),
        to: &data.to,
        complaint_date: crate::time::format(data.complaint_date),
    };
    callback(
        CallbackType::Complaint,
        data.service_id,
        data.notification_id,
        "",
        target,
        &body,
    )
}

/// What an inbound-SMS callback reports (contract §9.5).
#[derive(Clone, Debug)]
pub struct InboundSmsData {
    pub id: Uuid,
    pub service_id: Uuid,
    pub source_number: String,
    pub destination_number: String,
    pub message: String,
    pub date_received: DateTime<Utc>,
}

pub fn inbound_sms(data: &InboundSmsData, target: &CallbackTarget) -> Callback {
    let body = InboundSmsBody {
        id: data.id,
        source_number: &data.source_number,
        destination_number: &data.destination_number,
        message: &data.message,
        date_received: crate::time::format(data.date_received),
    };
    callback(
        CallbackType::InboundSms,
        data.service_id,
        data.id,
        "",
        target,
        &body,
    )
}

/// What a returned-letter callback reports: the letter as the returned-letters report shows it.
#[derive(Clone, Debug)]
pub struct ReturnedLetterData {
    pub notification_id: Uuid,
    pub service_id: Uuid,
    pub client_reference: Option<String>,
    /// Sent through the API (not by a team member in the admin app).
    pub api_key_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The team member who sent it; `None` for the API.
    pub created_by_email: Option<String>,
    pub template_name: String,
    pub template_id: Uuid,
    pub template_version: i32,
    /// Hidden templates are precompiled (uploaded) letters.
    pub template_hidden: bool,
    pub original_file_name: Option<String>,
    /// As stored: from 0 for the first recipient row.
    pub job_row_number: Option<i32>,
}

#[derive(Serialize)]
struct ReturnedLetterBody<'a> {
    notification_id: Uuid,
    reference: Option<&'a str>,
    date_sent: String,
    sent_by: &'a str,
    template_name: Option<&'a str>,
    template_id: String,
    template_version: Option<i32>,
    spreadsheet_file_name: Option<&'a str>,
    spreadsheet_row_number: Option<i32>,
    upload_letter_file_name: Option<&'a str>,
}

/// Notify's `send-returned-letter` body. A hidden (precompiled) template's name and version are left out, and
/// its id is the text `"None"`: upstream formats the missing id with `str()`, and receivers see exactly that.
pub fn returned_letter(data: &ReturnedLetterData, target: &CallbackTarget) -> Callback {
    let shown = !data.template_hidden;
    let template_id = if shown {
        data.template_id.to_string()
    } else {
        "None".to_string()
    };
    let body = ReturnedLetterBody {
        notification_id: data.notification_id,
        reference: data.api_key_id.and(data.client_reference.as_deref()),
        date_sent: crate::time::format(data.created_at),
        sent_by: data.created_by_email.as_deref().unwrap_or("API"),
        template_name: shown.then_some(data.template_name.as_str()),
        template_id,
        template_version: shown.then_some(data.template_version),
        spreadsheet_file_name: data.original_file_name.as_deref(),
        // Row 1 of the spreadsheet is its header, so the first recipient is row 2.
        spreadsheet_row_number: data.job_row_number.map(|n| n + 2),
        upload_letter_file_name: if data.template_hidden && data.api_key_id.is_none() {
            data.client_reference.as_deref()
        } else {
            None
        },
    };
    callback(
        CallbackType::ReturnedLetter,
        data.service_id,
        data.notification_id,
        "",
        target,
        &body,
    )
}

fn callback(
    callback_type: CallbackType,
    service_id: Uuid,
    subject_id: Uuid,
    discriminator: &str,
    target: &CallbackTarget,
    body: &impl Serialize,
) -> Callback {
    Callback {
        v: 1,
        callback_type,
        service_id,
        subject_id,
        url: target.url.clone(),
        encrypted_token: target.encrypted_token.clone(),
        body: serde_json::to_string(body).expect("callback bodies serialise"),
        webhook_id: Some(crate::webhooks::webhook_id(
            callback_type,
            subject_id,
            discriminator,
        )),
        signing_secrets: target.signing_secrets.clone(),
        last_error: None,
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn delivery_status_body_is_notifys() {
        let at = Utc.with_ymd_and_hms(2017, 5, 14, 12, 15, 30).unwrap();
        let data = DeliveryStatusData {
            notification_id: Uuid::nil(),
            service_id: Uuid::nil(),
            client_reference: None,
            to: "07700900123".into(),
            status: NotificationStatus::Delivered,
            created_at: at,
            completed_at: Some(at + chrono::Duration::seconds(5)),
            sent_at: Some(at + chrono::Duration::seconds(1)),
            notification_type: NotificationType::Sms,
            template_id: Uuid::nil(),
            template_version: 1,
        };
        let target = CallbackTarget {
            url: "https://example.com/cb".into(),
            encrypted_token: Some("sealed".into()),
            ..Default::default()
        };
        let callback = delivery_status(&data, &target);
        assert_eq!(
            callback.body,
            "{\"id\":\"00000000-0000-0000-0000-000000000000\",\"reference\":null,\"to\":\"07700900123\",\
             \"status\":\"delivered\",\"created_at\":\"2017-05-14T12:15:30.000000Z\",\
             \"completed_at\":\"2017-05-14T12:15:35.000000Z\",\"sent_at\":\"2017-05-14T12:15:31.000000Z\",\
             \"notification_type\":\"sms\",\"template_id\":\"00000000-0000-0000-0000-000000000000\",\
             \"template_version\":1}"
        );
        assert_eq!(callback.encrypted_token.as_deref(), Some("sealed"));
    }

    #[test]
    fn returned_letter_body_is_notifys() {
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        let mut data = ReturnedLetterData {
            notification_id: Uuid::nil(),
            service_id: Uuid::nil(),
            client_reference: Some("ref-1".into()),
            api_key_id: Some(Uuid::nil()),
            created_at: at,
            created_by_email: None,
            template_name: "Reminder".into(),
            template_id: Uuid::nil(),
            template_version: 3,
            template_hidden: false,
            original_file_name: Some("list.csv".into()),
            job_row_number: Some(0),
        };
        let target = CallbackTarget {
            url: "https://example.com/cb".into(),
            encrypted_token: Some("sealed".into()),
            ..Default::default()
        };
        let callback = returned_letter(&data, &target);
        assert_eq!(callback.callback_type, CallbackType::ReturnedLetter);
        assert_eq!(
            callback.body,
            "{\"notification_id\":\"00000000-0000-0000-0000-000000000000\",\"reference\":\"ref-1\",\
             \"date_sent\":\"2026-01-05T10:00:00.000000Z\",\"sent_by\":\"API\",\"template_name\":\"Reminder\",\
             \"template_id\":\"00000000-0000-0000-0000-000000000000\",\"template_version\":3,\
             \"spreadsheet_file_name\":\"list.csv\",\"spreadsheet_row_number\":2,\"upload_letter_file_name\":null}"
        );
        // An uploaded letter sent by a team member: no template, its file name from the client reference.
        data.api_key_id = None;
        data.template_hidden = true;
        data.created_by_email = Some("someone@example.gov.uk".into());
        let body: serde_json::Value =
            serde_json::from_str(&returned_letter(&data, &target).body).unwrap();
        assert_eq!(body["reference"], serde_json::Value::Null);
        assert_eq!(body["sent_by"], "someone@example.gov.uk");
        assert_eq!(body["template_name"], serde_json::Value::Null);
        assert_eq!(body["template_id"], "None");
        assert_eq!(body["template_version"], serde_json::Value::Null);
        assert_eq!(body["upload_letter_file_name"], "ref-1");
    }

    /// Callbacks queued before signing existed are still read, and sent unsigned.
    #[test]
    fn callbacks_queued_before_signing_are_still_read() {
        let old = r#"{"v":1,"callback_type":"delivery_status","service_id":"00000000-0000-0000-0000-000000000000",
            "subject_id":"00000000-0000-0000-0000-000000000000","url":"https://example.com/cb",
            "encrypted_token":"sealed","body":"{}"}"#;
        let callback: Callback = serde_json::from_str(old).unwrap();
        assert_eq!(callback.encrypted_token.as_deref(), Some("sealed"));
        assert_eq!(callback.webhook_id, None);
        assert!(callback.signing_secrets.is_empty());
    }

    #[test]
    fn callback_urls_are_https_with_a_host_and_short() {
        assert_eq!(
            CallbackUrl::parse("https://example.com/cb?x=1")
                .unwrap()
                .as_str(),
            "https://example.com/cb?x=1"
        );
        for bad in [
            "http://example.com/cb",
            "https://",
            "https:///cb",
            "ftp://x",
            "not a url",
            "https://exa mple.com",
        ] {
            assert_eq!(
                CallbackUrl::parse(bad),
                Err("is not a valid https url".into()),
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(236));
        assert_eq!(long.len(), 256);
        assert!(
            CallbackUrl::parse(&long)
                .unwrap_err()
                .ends_with("is too long")
        );
        assert!(CallbackUrl::parse(&long[..255]).is_ok());
    }

    #[test]
    fn only_final_statuses_call_back() {
        assert!(delivery_callback_due(NotificationStatus::Delivered));
        assert!(delivery_callback_due(NotificationStatus::TemporaryFailure));
        assert!(!delivery_callback_due(NotificationStatus::Pending));
        assert!(!delivery_callback_due(NotificationStatus::Sent));
    }
}
