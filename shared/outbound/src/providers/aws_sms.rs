//! AWS End User Messaging SMS (the `pinpoint-sms-voice-v2` API): `SendTextMessage` to send; delivery events and
//! two-way (inbound) messages come back through SNS onto the status queue. Our reference is its message id.

use async_trait::async_trait;
use aws_sdk_pinpointsmsvoicev2::error::SdkError;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::SendTextMessageError;
use aws_sdk_pinpointsmsvoicev2::types::MessageType;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::providers::{Accepted, ProviderError, SmsMessage, SmsProvider};
use notify_core::model::NotificationStatus;

/// The identifier in `provider_details` and `sent_by`.
pub const NAME: &str = "aws-sms";

pub struct AwsSmsProvider {
    client: aws_sdk_pinpointsmsvoicev2::Client,
    configuration_set: Option<String>,
    origination_identity: Option<String>,
}

impl AwsSmsProvider {
    pub fn new(
        client: aws_sdk_pinpointsmsvoicev2::Client,
        configuration_set: Option<String>,
        origination_identity: Option<String>,
    ) -> Self {
        AwsSmsProvider {
            client,
            configuration_set,
            origination_identity,
        }
    }

    pub async fn from_env(
        endpoint: Option<&str>,
        configuration_set: Option<String>,
        origination_identity: Option<String>,
    ) -> Self {
        let config = notify_config::aws::sdk_config(endpoint).await;
        AwsSmsProvider::new(
            aws_sdk_pinpointsmsvoicev2::Client::new(&config),
            configuration_set,
            origination_identity,
        )
    }
}

fn classify(error: SdkError<SendTextMessageError>) -> ProviderError {
    let text = aws_sdk_pinpointsmsvoicev2::error::DisplayErrorContext(&error).to_string();
    match &error {
        // A malformed request or a recipient who opted out: no provider will take it.
        SdkError::ServiceError(e)
            if matches!(
                e.err(),
                SendTextMessageError::ValidationException(_)
                    | SendTextMessageError::ConflictException(_)
            ) =>
        {
            ProviderError::Permanent(format!("{NAME}: {text}"))
        }
        // Throttling, quotas, access or configuration problems, faults, timeouts: another provider may do.
        _ => ProviderError::Retryable(format!("{NAME}: {text}")),
    }
}

#[async_trait]
impl SmsProvider for AwsSmsProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn supports_international(&self) -> bool {
        true
    }

    async fn send_sms(&self, message: &SmsMessage) -> Result<Accepted, ProviderError> {
        let origination = self
            .origination_identity
            .clone()
            .unwrap_or_else(|| message.sender.clone());
        let answer = self
            .client
            .send_text_message()
            .destination_phone_number(format!("+{}", message.to))
            .origination_identity(origination)
            .message_body(&message.content)
            .message_type(MessageType::Transactional)
            .set_configuration_set_name(self.configuration_set.clone())
            .context("notification_id", message.notification_id.to_string())
            .send()
            .await
            .map_err(classify)?;
        let reference = answer.message_id.ok_or_else(|| {
            ProviderError::Retryable(format!("{NAME}: no message id in the answer"))
        })?;
        Ok(Accepted {
            reference,
            status: NotificationStatus::Sending,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsEvent {
    event_type: String,
    message_id: String,
}

/// A delivery event (the `Message` of its SNS envelope) as (reference, status). `None` when it is not one.
pub fn parse_event(json: &str) -> Option<(String, NotificationStatus)> {
    let event: SmsEvent = serde_json::from_str(json).ok()?;
    let kind = event.event_type.strip_prefix("TEXT_")?;
    let status = match kind {
        "DELIVERED" => NotificationStatus::Delivered,
        // Handed on, not yet on the phone.
        "PENDING" | "QUEUED" | "SUCCESSFUL" => NotificationStatus::Pending,
        "INVALID" | "INVALID_MESSAGE" | "BLOCKED" | "CARRIER_BLOCKED" | "SPAM" | "OPTED_OUT" => {
            NotificationStatus::PermanentFailure
        }
        "UNREACHABLE" | "CARRIER_UNREACHABLE" | "TTL_EXPIRED" => {
            NotificationStatus::TemporaryFailure
        }
        // As Notify does with a code it does not know.
        _ => NotificationStatus::TechnicalFailure,
    };
    Some((event.message_id, status))
}

/// A text a user sent to one of our numbers (two-way SMS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundText {
    pub from: String,
    pub to: String,
    pub content: String,
    pub provider_reference: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TwoWayMessage {
    origination_number: String,
    destination_number: String,
    message_body: String,
    inbound_message_id: Option<String>,
}

/// A two-way SMS message (the `Message` of its SNS envelope).
pub fn parse_inbound(json: &str) -> Option<InboundText> {
    let message: TwoWayMessage = serde_json::from_str(json).ok()?;
    Some(InboundText {
        from: message.origination_number,
        to: message.destination_number,
        content: message.message_body,
        provider_reference: message.inbound_message_id,
        received_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_statuses() {
        let event = |kind: &str| {
            format!(
                r#"{{"eventType":"{kind}","eventVersion":"1.0","messageId":"m-1","messageStatus":"X"}}"#
            )
        };
        let status = |kind: &str| parse_event(&event(kind)).map(|(_, s)| s);
        assert_eq!(
            status("TEXT_DELIVERED"),
            Some(NotificationStatus::Delivered)
        );
        assert_eq!(status("TEXT_SUCCESSFUL"), Some(NotificationStatus::Pending));
        assert_eq!(
            status("TEXT_BLOCKED"),
            Some(NotificationStatus::PermanentFailure)
        );
        assert_eq!(
            status("TEXT_TTL_EXPIRED"),
            Some(NotificationStatus::TemporaryFailure)
        );
        assert_eq!(
            status("TEXT_SOMETHING_NEW"),
            Some(NotificationStatus::TechnicalFailure)
        );
        assert_eq!(status("VOICE_DELIVERED"), None);
        assert_eq!(parse_event("{}"), None);
    }

    #[test]
    fn two_way_messages_parse() {
        let json = r#"{"originationNumber":"+447700900123","destinationNumber":"+447700900999",
            "messageKeyword":"KEYWORD_1","messageBody":"Yes please","inboundMessageId":"in-1"}"#;
        let text = parse_inbound(json).unwrap();
        assert_eq!(text.from, "+447700900123");
        assert_eq!(text.content, "Yes please");
        assert_eq!(text.provider_reference.as_deref(), Some("in-1"));
    }
}
