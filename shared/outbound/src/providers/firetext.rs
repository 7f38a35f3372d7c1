//! Firetext, one of the SMS aggregators GOV.UK Notify uses: a form POST to send, form-encoded receipts back.
//! Our reference to Firetext is the notification id, and its receipts carry it back.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::providers::{Accepted, ProviderError, SmsMessage, SmsProvider};
use notify_core::model::NotificationStatus;

pub struct FiretextProvider {
    client: reqwest::Client,
    url: String,
    api_key: String,
}

#[derive(Deserialize)]
struct FiretextAnswer {
    code: i64,
    #[serde(default)]
    description: String,
}

impl FiretextProvider {
    /// `url` is Firetext's send endpoint (`https://www.firetext.co.uk/api/sendsms/json`), or a fake's.
    pub fn new(url: impl Into<String>, api_key: impl Into<String>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a TLS provider installed");
        FiretextProvider {
            client,
            url: url.into(),
            api_key: api_key.into(),
        }
    }
}

#[async_trait]
impl SmsProvider for FiretextProvider {
    fn name(&self) -> &str {
        "firetext"
    }

    fn supports_international(&self) -> bool {
        false
    }

    async fn send_sms(&self, message: &SmsMessage) -> Result<Accepted, ProviderError> {
        let reference = message.notification_id.to_string();
        let form = [
            ("apiKey", self.api_key.as_str()),
            ("from", message.sender.as_str()),
            ("to", message.to.as_str()),
            ("message", message.content.as_str()),
            ("reference", reference.as_str()),
        ];
        let response = self
            .client
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::Retryable(format!("firetext unreachable: {e}")))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ProviderError::Retryable(format!(
                "firetext answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::Permanent(format!(
                "firetext answered {status}"
            )));
        }
        let answer: FiretextAnswer = response
            .json()
            .await
            .map_err(|e| ProviderError::Retryable(format!("firetext answer unreadable: {e}")))?;
        if answer.code != 0 {
            return Err(ProviderError::Permanent(format!(
                "firetext code {}: {}",
                answer.code, answer.description
            )));
        }
        Ok(Accepted {
            reference,
            status: NotificationStatus::Sending,
        })
    }
}

/// A Firetext receipt (form-encoded `status`, `reference`, …) as (our reference, status), contract §5.1.
pub fn parse_receipt(body: &[u8]) -> Option<(String, NotificationStatus)> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let reference = get("reference").filter(|r| !r.is_empty())?;
    let status = match get("status")?.as_str() {
        "0" => NotificationStatus::Delivered,
        "1" => NotificationStatus::PermanentFailure,
        "2" => NotificationStatus::Pending,
        _ => NotificationStatus::TechnicalFailure,
    };
    Some((reference, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts() {
        assert_eq!(
            parse_receipt(
                b"mobile=447700900123&status=0&time=2026-11-27+10%3A00%3A00&reference=abc&code=000"
            ),
            Some(("abc".into(), NotificationStatus::Delivered))
        );
        assert_eq!(
            parse_receipt(b"status=1&reference=abc").unwrap().1,
            NotificationStatus::PermanentFailure
        );
        assert_eq!(
            parse_receipt(b"status=2&reference=abc").unwrap().1,
            NotificationStatus::Pending
        );
        assert_eq!(
            parse_receipt(b"status=9&reference=abc").unwrap().1,
            NotificationStatus::TechnicalFailure
        );
        assert_eq!(parse_receipt(b"status=0"), None);
    }
}
