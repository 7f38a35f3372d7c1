//! What a provider send came to, as the database records it and as a delivery message carries it while the
//! database cannot take it; and the weights providers are chosen by.

use chrono::{DateTime, Utc};

use crate::model::NotificationStatus;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderWeight {
    pub identifier: String,
    pub priority: i32,
    pub active: bool,
}

/// What one send came to, as recorded (and, while the database cannot take it, as carried on the delivery
/// message).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SendOutcome {
    Sent(SentRecord),
    /// Back to `created` for another attempt.
    Retry,
    /// `technical-failure`.
    Failed,
}

/// What the provider's answer means for the notification.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SentRecord {
    pub provider: String,
    pub reference: String,
    pub billable_units: i32,
    pub status: NotificationStatus,
    pub sent_at: DateTime<Utc>,
}
