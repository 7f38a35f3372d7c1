//! Service callbacks as they go on the wire: the complete callback a worker POSTs, the bodies of Notify's three
//! kinds (delivery status, complaint, inbound text), and when a delivery-status callback is due.

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
    pub encrypted_token: String,
    /// The request body, serialised once here so every retry sends the same bytes.
    pub body: String,
    /// Set on the copy put on the dead-letter queue when retries ran out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where a callback goes, as read from `service_callback_api`.
#[derive(Clone, Debug)]
pub struct CallbackTarget {
    pub url: String,
    pub encrypted_token: String,
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
        target,
        &body,
    )
}

fn callback(
    callback_type: CallbackType,
    service_id: Uuid,
    subject_id: Uuid,
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
            encrypted_token: "sealed".into(),
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
        assert_eq!(callback.encrypted_token, "sealed");
    }

    #[test]
    fn only_final_statuses_call_back() {
        assert!(delivery_callback_due(NotificationStatus::Delivered));
        assert!(delivery_callback_due(NotificationStatus::TemporaryFailure));
        assert!(!delivery_callback_due(NotificationStatus::Pending));
        assert!(!delivery_callback_due(NotificationStatus::Sent));
    }
}
