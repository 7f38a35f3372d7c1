//! The SNS envelope that SES and End User Messaging events arrive in when SNS delivers them to the status queue
//! (raw message delivery off). The queue policy admits only our topics, so the signature is not checked here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnsNotification {
    /// Always `Notification` for what SNS delivers to a queue.
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "MessageId", default)]
    pub message_id: String,
    #[serde(rename = "TopicArn", default)]
    pub topic_arn: String,
    /// The provider's event, itself JSON.
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: DateTime<Utc>,
}

impl SnsNotification {
    /// What SNS would deliver for `message`: tests and the local stack use it to stand in for SNS.
    pub fn wrap(message: &serde_json::Value, topic_arn: &str) -> Self {
        SnsNotification {
            kind: "Notification".into(),
            message_id: uuid::Uuid::new_v4().to_string(),
            topic_arn: topic_arn.into(),
            message: message.to_string(),
            timestamp: Utc::now(),
        }
    }
}
