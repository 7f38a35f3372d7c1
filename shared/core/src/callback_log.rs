//! The callback log: what each attempt at a service callback came to, without its body. The callback worker has
//! no database, so it puts these on the status queue (`Message::CallbackAttempts`) and the status consumer
//! writes them; the admin API lists them and `notify callbacks replay --status failed` reads the latest one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::CallbackType;

/// How long an attempt stays in the log: the nightly retention job removes older ones.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What became of the callback after this attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    Delivered,
    WillRetry,
    /// Never going to work (a 4xx other than 429, a refused URL, an unreadable token): not retried.
    Dropped,
    /// Retries spent: the callback is on the callbacks DLQ, for `notify callbacks replay-dlq`.
    DeadLettered,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 4] = [
        AttemptOutcome::Delivered,
        AttemptOutcome::WillRetry,
        AttemptOutcome::Dropped,
        AttemptOutcome::DeadLettered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::WillRetry => "will-retry",
            AttemptOutcome::Dropped => "dropped",
            AttemptOutcome::DeadLettered => "dead-lettered",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// One attempt at a callback, as logged: where it went (the URL without its query or credentials, which may
/// carry secrets), the receiver's status code or why there was none, and how long it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackAttempt {
    pub at: DateTime<Utc>,
    pub callback_type: CallbackType,
    pub service_id: Uuid,
    /// The notification (or inbound text, complaint) the callback is about.
    pub subject_id: Uuid,
    pub url: String,
    /// The receiver's final HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it was not delivered: the receiver's status in words, a timeout, a refused address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u32,
    /// 1 for the first attempt (the queue's receive count).
    pub attempt: u32,
    pub outcome: AttemptOutcome,
}

impl CallbackAttempt {
    /// Whether the receiver took it: a 2xx or 3xx answer. Anything else (no answer, 4xx, 5xx) is a failure.
    pub fn succeeded(&self) -> bool {
        matches!(self.status_code, Some(200..=399))
    }
}

/// `url` as the log keeps it: scheme, host, port and path; no user, password, query or fragment. Unparsable
/// text is kept only up to its first `?`.
pub fn loggable_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

/// Whether a filter on the log asks for delivered or failed attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    Delivered,
    Failed,
}

impl AttemptStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "delivered" => Some(AttemptStatus::Delivered),
            "failed" => Some(AttemptStatus::Failed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_no_query_or_credentials() {
        assert_eq!(
            loggable_url("https://user:pw@example.com:8443/hook/a?token=secret#x"),
            "https://example.com:8443/hook/a"
        );
        assert_eq!(loggable_url("not a url?token=secret"), "not a url");
    }

    #[test]
    fn outcomes_round_trip_and_success_is_2xx_or_3xx() {
        for outcome in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(outcome));
            let json = serde_json::to_value(outcome).unwrap();
            assert_eq!(json, outcome.as_str());
        }
        let mut attempt = CallbackAttempt {
            at: Utc::now(),
            callback_type: CallbackType::DeliveryStatus,
            service_id: Uuid::nil(),
            subject_id: Uuid::nil(),
            url: "https://example.com/".into(),
            status_code: Some(204),
            error: None,
            duration_ms: 3,
            attempt: 1,
            outcome: AttemptOutcome::Delivered,
        };
        assert!(attempt.succeeded());
        for failed in [None, Some(404), Some(500)] {
            attempt.status_code = failed;
            assert!(!attempt.succeeded());
        }
    }
}

/// An ISO 8601 instant as the callback log's filters take it: with an offset (`2026-12-03T07:00:00Z`,
/// `…+01:00`), or without one meaning UTC (`2026-12-03T07:00:00`, `2026-12-03 07:00`), or a date meaning its
/// midnight UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn iso_instants_with_or_without_an_offset_and_dates() {
        let t = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2026-12-03T07:00:00Z").as_deref(),
            Some("2026-12-03T07:00:00+00:00")
        );
        assert_eq!(
            t("2026-12-03T08:00:00+01:00").as_deref(),
            Some("2026-12-03T07:00:00+00:00")
        );
        assert_eq!(
            t("2026-12-03T07:00:00.5").as_deref(),
            Some("2026-12-03T07:00:00.500+00:00")
        );
        assert_eq!(
            t("2026-12-03 07:00").as_deref(),
            Some("2026-12-03T07:00:00+00:00")
        );
        assert_eq!(
            t("2026-12-03").as_deref(),
            Some("2026-12-03T00:00:00+00:00")
        );
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("2026-13-03"), None);
    }
}
