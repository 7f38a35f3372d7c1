//! Amazon SES v2: a raw MIME message (plain-text and HTML parts as the template code rendered them), sent with a
//! configuration set whose events reach the status queue through SNS. Our reference is SES's message id.

use async_trait::async_trait;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;
use serde::Deserialize;

use crate::providers::{Accepted, EmailMessage, EmailProvider, ProviderError};
use notify_core::model::NotificationStatus;

pub struct SesProvider {
    client: aws_sdk_sesv2::Client,
    configuration_set: Option<String>,
}

impl SesProvider {
    pub fn new(client: aws_sdk_sesv2::Client, configuration_set: Option<String>) -> Self {
        SesProvider {
            client,
            configuration_set,
        }
    }

    pub async fn from_env(endpoint: Option<&str>, configuration_set: Option<String>) -> Self {
        let config = notify_config::aws::sdk_config(endpoint).await;
        SesProvider::new(aws_sdk_sesv2::Client::new(&config), configuration_set)
    }
}

/// The MIME message SES sends: both parts, `Reply-To`, and one-click unsubscribe headers (RFC 8058) when the
/// notification has an unsubscribe link.
pub fn mime_message(message: &EmailMessage) -> Vec<u8> {
    let mut builder = MessageBuilder::new()
        .from(message.from.as_str())
        .to(message.to.as_str())
        .subject(message.subject.as_str())
        .text_body(message.text_body.as_str())
        .html_body(message.html_body.as_str());
    if let Some(reply_to) = &message.reply_to {
        builder = builder.reply_to(reply_to.as_str());
    }
    if let Some(url) = &message.unsubscribe_url {
        builder = builder
            .header("List-Unsubscribe", URL::new(url.as_str()))
            .header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            );
    }
    builder
        .write_to_vec()
        .expect("writing to memory cannot fail")
}

fn classify(error: SdkError<SendEmailError>) -> ProviderError {
    let text = aws_sdk_sesv2::error::DisplayErrorContext(&error).to_string();
    match &error {
        // What SES will never accept, however often we try (Notify: InvalidParameterValue is non-retryable).
        SdkError::ServiceError(e)
            if matches!(
                e.err(),
                SendEmailError::BadRequestException(_) | SendEmailError::MessageRejected(_)
            ) =>
        {
            ProviderError::Permanent(format!("ses: {text}"))
        }
        // Throttling, sending paused, service faults, timeouts and unreachable endpoints pass.
        _ => ProviderError::Retryable(format!("ses: {text}")),
    }
}

#[async_trait]
impl EmailProvider for SesProvider {
    fn name(&self) -> &str {
        "ses"
    }

    async fn send_email(&self, message: &EmailMessage) -> Result<Accepted, ProviderError> {
        let raw = RawMessage::builder()
            .data(Blob::new(mime_message(message)))
            .build()
            .map_err(|e| ProviderError::Permanent(format!("ses: {e}")))?;
        let tag = MessageTag::builder()
            .name("notification_id")
            .value(message.notification_id.to_string())
            .build()
            .map_err(|e| ProviderError::Permanent(format!("ses: {e}")))?;
        let answer = self
            .client
            .send_email()
            .from_email_address(&message.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await
            .map_err(classify)?;
        let reference = answer
            .message_id
            .ok_or_else(|| ProviderError::Retryable("ses: no message id in the answer".into()))?;
        Ok(Accepted {
            reference,
            status: NotificationStatus::Sending,
        })
    }
}

/// What an SES event says, by the SES message id it is about.
#[derive(Clone, Debug, PartialEq)]
pub enum SesEvent {
    Status {
        reference: String,
        status: NotificationStatus,
    },
    Complaint {
        reference: String,
        feedback_id: Option<String>,
        complaint_type: Option<String>,
        complained_at: Option<DateTime<Utc>>,
        recipient: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    /// Configuration-set events say `eventType`; identity notifications say `notificationType`.
    event_type: Option<String>,
    notification_type: Option<String>,
    mail: Mail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    feedback_id: Option<String>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// An SES event (the `Message` of its SNS envelope). `None` for events that change nothing (Send, Open, …) and
/// for anything that is not an SES event.
pub fn parse_event(json: &str) -> Option<SesEvent> {
    let event: RawEvent = serde_json::from_str(json).ok()?;
    let kind = event.event_type.or(event.notification_type)?;
    let reference = event.mail.message_id;
    match kind.as_str() {
        "Delivery" => Some(SesEvent::Status {
            reference,
            status: NotificationStatus::Delivered,
        }),
        "Bounce" => {
            let permanent = event.bounce.is_some_and(|b| b.bounce_type == "Permanent");
            Some(SesEvent::Status {
                reference,
                status: if permanent {
                    NotificationStatus::PermanentFailure
                } else {
                    NotificationStatus::TemporaryFailure
                },
            })
        }
        "Complaint" => {
            let complaint = event.complaint;
            Some(SesEvent::Complaint {
                reference,
                feedback_id: complaint.as_ref().and_then(|c| c.feedback_id.clone()),
                complaint_type: complaint
                    .as_ref()
                    .and_then(|c| c.complaint_feedback_type.clone()),
                complained_at: complaint.as_ref().and_then(|c| c.timestamp),
                recipient: complaint.and_then(|c| {
                    c.complained_recipients
                        .into_iter()
                        .next()
                        .map(|r| r.email_address)
                }),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn message(unsubscribe: Option<&str>) -> EmailMessage {
        EmailMessage {
            notification_id: Uuid::nil(),
            to: "someone@example.com".into(),
            from: "service@notifications.service.gov.uk".into(),
            reply_to: Some("help@example.gov.uk".into()),
            subject: "Your licence – renewed".into(),
            text_body: "Hello".into(),
            html_body: "<p>Hello</p>".into(),
            unsubscribe_url: unsubscribe.map(str::to_string),
        }
    }

    #[test]
    fn mime_has_both_parts_reply_to_and_unsubscribe_headers() {
        let mime =
            String::from_utf8(mime_message(&message(Some("https://example.com/u/1")))).unwrap();
        assert!(
            mime.contains("Content-Type: multipart/alternative"),
            "{mime}"
        );
        assert!(mime.contains("Content-Type: text/plain"), "{mime}");
        assert!(mime.contains("Content-Type: text/html"), "{mime}");
        assert!(mime.contains("Reply-To: <help@example.gov.uk>"), "{mime}");
        assert!(
            mime.contains("List-Unsubscribe: <https://example.com/u/1>"),
            "{mime}"
        );
        assert!(
            mime.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{mime}"
        );
        // A non-ASCII subject is encoded, not sent raw.
        assert!(!mime.contains("Your licence – renewed"), "{mime}");
        let plain = String::from_utf8(mime_message(&message(None))).unwrap();
        assert!(!plain.contains("List-Unsubscribe"));
    }

    #[test]
    fn events_map_to_statuses() {
        let delivery = r#"{"eventType":"Delivery","mail":{"messageId":"m-1"},"delivery":{}}"#;
        assert_eq!(
            parse_event(delivery),
            Some(SesEvent::Status {
                reference: "m-1".into(),
                status: NotificationStatus::Delivered
            })
        );
        let permanent = r#"{"notificationType":"Bounce","mail":{"messageId":"m-2"},"bounce":{"bounceType":"Permanent"}}"#;
        assert_eq!(
            parse_event(permanent),
            Some(SesEvent::Status {
                reference: "m-2".into(),
                status: NotificationStatus::PermanentFailure
            })
        );
        let transient = r#"{"eventType":"Bounce","mail":{"messageId":"m-3"},"bounce":{"bounceType":"Transient"}}"#;
        assert_eq!(
            parse_event(transient),
            Some(SesEvent::Status {
                reference: "m-3".into(),
                status: NotificationStatus::TemporaryFailure
            })
        );
        let complaint = r#"{"eventType":"Complaint","mail":{"messageId":"m-4"},"complaint":{"feedbackId":"f-1",
            "complaintFeedbackType":"abuse","timestamp":"2026-11-27T10:00:00.000Z",
            "complainedRecipients":[{"emailAddress":"someone@example.com"}]}}"#;
        assert!(matches!(
            parse_event(complaint),
            Some(SesEvent::Complaint { reference, feedback_id: Some(f), recipient: Some(r), .. })
                if reference == "m-4" && f == "f-1" && r == "someone@example.com"
        ));
        assert_eq!(
            parse_event(r#"{"eventType":"Send","mail":{"messageId":"m-5"}}"#),
            None
        );
        assert_eq!(parse_event("not json"), None);
    }
}
