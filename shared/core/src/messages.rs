//! The queue messages between the API and the workers.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Small, versioned messages: workers read what they need from the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// A notification to hand to a provider; or, with `unrecorded`, one already handed over (or given up on)
    /// whose outcome the database could not take yet: that is recorded from here, never by sending again.
    #[serde(rename = "deliver")]
    Deliver {
        v: u32,
        notification_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unrecorded: Option<Unrecorded>,
    },
    /// A provider's word on a notification, by the provider's reference.
    #[serde(rename = "receipt")]
    Receipt {
        v: u32,
        provider: String,
        reference: String,
        status: crate::model::NotificationStatus,
        /// When the provider said it: a receipt for an unknown reference is retried for 72 hours from here.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A provider's receipt exactly as it reached the API; the status worker parses it.
    #[serde(rename = "raw_receipt")]
    RawReceipt {
        v: u32,
        provider: String,
        body: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A rendered letter for the printer: the daily collation puts one per letter on the letters queue.
    #[serde(rename = "print_letter")]
    PrintLetter { v: u32, notification_id: Uuid },
    /// A precompiled letter to scan for viruses (clamd), or whose scan to look up again (GuardDuty's tag);
    /// then its print checks.
    #[serde(rename = "scan_letter")]
    ScanLetter { v: u32, notification_id: Uuid },
    /// GuardDuty's verdict on a precompiled letter, from its "Object Scan Result" event (the letters function
    /// turns the event into this).
    #[serde(rename = "scan_result")]
    ScanResult {
        v: u32,
        notification_id: Uuid,
        result: crate::letters::guardduty::ScanStatus,
    },
    /// A CSV job to process (the jobs queue): its rows from `jobs.rows_processed` on are persisted in batches
    /// and their deliveries queued. A second message for the same job, or one for a job already processed, is a
    /// no-op; one for a job whose run timed out resumes it.
    #[serde(rename = "process_job")]
    ProcessJob { v: u32, job_id: Uuid },
    /// A service callback, complete: the callback worker needs no database.
    #[serde(rename = "callback")]
    Callback(crate::callbacks::Callback),
    /// What a batch of callback attempts came to, from the callback worker (which has no database) to the
    /// status consumer, which writes them to the callback log in one statement.
    #[serde(rename = "callback_attempts")]
    CallbackAttempts {
        v: u32,
        attempts: Vec<crate::callback_log::CallbackAttempt>,
    },
}

/// A send's outcome waiting on the database, and how many times recording it has failed (for the backoff).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    pub outcome: crate::delivery::SendOutcome,
    pub failures: u32,
}

impl Unrecorded {
    /// When to try recording it again ([`crate::retry::unrecorded_backoff`]). Each try is a new message, so
    /// neither the receive count nor the retention period ever runs out during an outage.
    pub fn retry_delay(&self) -> Duration {
        crate::retry::unrecorded_backoff(self.failures)
    }
}

impl Message {
    pub fn deliver(notification_id: Uuid) -> Self {
        Message::Deliver {
            v: 1,
            notification_id,
            unrecorded: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_message_shape() {
        let id = Uuid::nil();
        assert_eq!(
            serde_json::to_value(Message::deliver(id)).unwrap(),
            serde_json::json!({"type": "deliver", "v": 1, "notification_id": "00000000-0000-0000-0000-000000000000"})
        );
    }

    #[test]
    fn an_unrecorded_outcome_travels_on_the_delivery_message() {
        let sent = crate::delivery::SendOutcome::Sent(crate::delivery::SentRecord {
            provider: "mmg".into(),
            reference: "ref-1".into(),
            billable_units: 2,
            status: crate::model::NotificationStatus::Sending,
            sent_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        });
        let message = Message::Deliver {
            v: 1,
            notification_id: Uuid::nil(),
            unrecorded: Some(Unrecorded {
                outcome: sent,
                failures: 3,
            }),
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["unrecorded"]["outcome"]["kind"], "sent");
        assert_eq!(json["unrecorded"]["outcome"]["reference"], "ref-1");
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message);
        let retry = |failures| {
            Unrecorded {
                outcome: crate::delivery::SendOutcome::Retry,
                failures,
            }
            .retry_delay()
        };
        assert_eq!(retry(0), Duration::from_secs(5));
        assert_eq!(retry(1), Duration::from_secs(10));
        assert_eq!(retry(7), Duration::from_secs(640));
        assert_eq!(retry(8), Duration::from_secs(900));
        assert_eq!(retry(40), Duration::from_secs(900));
    }
}
