//! Service callbacks on the wire: one POST per callback, and what becomes of the message after it. No database
//! anywhere in here: each message carries the URL, the encrypted bearer token and the exact body.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use notify_config::{CallbackWorkerConfig, ExposeSecret};
use notify_core::callback_log::{AttemptOutcome, CallbackAttempt, loggable_url};
use notify_core::callbacks::Callback;
use notify_core::messages::Message;
use notify_core::retry::{Disposition, callback_retry};
use notify_core::webhooks;
use notify_queue::Queue;
use notify_queue::lambda::{parse, receive_count, settle};

/// What one attempt at a callback came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempted {
    /// Any final answer below 400.
    Delivered(u16),
    /// Connection error, timeout, 5xx or 429: worth another go later.
    Retry(String),
    /// Another 4xx, a URL we refuse to call, or a token we cannot read: never going to work.
    Dropped(String),
}

/// Makes callbacks: no database anywhere in here, only the HTTP client and the key to the bearer token.
#[derive(Clone)]
pub struct CallbackSender {
    client: reqwest::Client,
    encryptor: notify_core::crypto::Encryptor,
    allow: crate::guard::AllowList,
}

impl CallbackSender {
    pub fn from_config(config: &CallbackWorkerConfig) -> anyhow::Result<Self> {
        let allow = crate::guard::AllowList::new(config.callbacks.allow_private_hosts.clone());
        Ok(CallbackSender {
            client: crate::guard::client(
                allow.clone(),
                config.callbacks.ca_bundle.as_deref(),
                config.callbacks.timeout,
            )?,
            encryptor: notify_core::crypto::Encryptor::new(config.secret_key.expose_secret()),
            allow,
        })
    }

    /// One POST with Notify's headers and the stored body.
    pub async fn attempt(&self, callback: &Callback) -> Attempted {
        let url = match url::Url::parse(&callback.url) {
            Ok(url) => url,
            Err(e) => return Attempted::Dropped(format!("callback URL unusable: {e}")),
        };
        if let Err(refused) = crate::guard::check_url(&url, &self.allow) {
            return Attempted::Dropped(format!("callback URL refused: {refused}"));
        }
        let token = match &callback.encrypted_token {
            None => None,
            Some(sealed) => match self.encryptor.decrypt(sealed) {
                Ok(token) => Some(token),
                Err(e) => {
                    notify_core::crypto::report_undecryptable(
                        "service_callback_api.bearer_token",
                        &callback.subject_id,
                        &callback.service_id,
                    );
                    return Attempted::Dropped(format!("bearer token unreadable: {e}"));
                }
            },
        };
        let signed = match self.signature(callback) {
            Ok(signed) => signed,
            Err(reason) => return Attempted::Dropped(reason),
        };
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((id, timestamp, signature)) = signed {
            request = request
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature);
        }
        let sent = request.body(callback.body.clone()).send().await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    0..=399 => Attempted::Delivered(status),
                    429 | 500.. => Attempted::Retry(format!("receiver answered {status}")),
                    _ => Attempted::Dropped(format!("receiver answered {status}")),
                }
            }
            Err(e) if refused_by_guard(&e) => {
                Attempted::Dropped(format!("callback refused: {}", chain(&e)))
            }
            Err(e) if e.is_redirect() => {
                Attempted::Dropped(format!("redirect refused: {}", chain(&e)))
            }
            Err(e) if e.is_timeout() => Attempted::Retry("receiver did not answer in time".into()),
            Err(e) => Attempted::Retry(format!("receiver unreachable: {}", chain(&e))),
        }
    }
}

impl CallbackSender {
    /// The Standard Webhooks headers of a signing service's callback: its stable id, the time of this attempt and
    /// one signature per secret. `None` when the service does not sign. A secret that cannot be read is left out
    /// (and reported); with none left the callback is not sent, since its receiver would refuse it anyway.
    fn signature(&self, callback: &Callback) -> Result<Option<(String, i64, String)>, String> {
        if callback.signing_secrets.is_empty() {
            return Ok(None);
        }
        let keys: Vec<Vec<u8>> = callback
            .signing_secrets
            .iter()
            .filter_map(|sealed| {
                let key = self
                    .encryptor
                    .decrypt(sealed)
                    .ok()
                    .and_then(|secret| webhooks::decode_secret(&secret).ok());
                if key.is_none() {
                    notify_core::crypto::report_undecryptable(
                        "service_callback_signing_secrets.secret",
                        &callback.subject_id,
                        &callback.service_id,
                    );
                }
                key
            })
            .collect();
        if keys.is_empty() {
            return Err("signing secret unreadable".into());
        }
        // Messages queued before ids were carried get the id their callback would have had.
        let id = callback.webhook_id.clone().unwrap_or_else(|| {
            webhooks::webhook_id(callback.callback_type, callback.subject_id, "")
        });
        let timestamp = chrono::Utc::now().timestamp();
        let signature = webhooks::signature_header(&keys, &id, timestamp, &callback.body);
        Ok(Some((id, timestamp, signature)))
    }
}

fn refused_by_guard(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<crate::guard::Refused>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The receiver's status code in an [`Attempted`] reason, which [`CallbackSender::attempt`] words as
/// "receiver answered {status}"; none for a timeout, a refused address or an unreachable receiver.
fn answered_status(reason: &str) -> Option<u16> {
    reason.strip_prefix("receiver answered ")?.parse().ok()
}

/// One attempt at a callback, what becomes of its message (done when delivered, dropped, or dead-lettered with
/// its last error once [`callback_retry`] says the retries are spent; otherwise back after the delay), and the
/// callback log's line for it.
pub async fn handle_callback(
    sender: &CallbackSender,
    queue: &dyn Queue,
    config: &CallbackWorkerConfig,
    callback: &Callback,
    receives: u32,
) -> (Disposition, CallbackAttempt) {
    let about = callback.subject_id;
    let service_id = callback.service_id;
    let kind = callback.callback_type.as_str();
    let retry = callback_retry(
        receives,
        config.callbacks.max_retries,
        config.callbacks.retry_delay,
    );
    let at = chrono::Utc::now();
    let started = std::time::Instant::now();
    let attempted = sender.attempt(callback).await;
    let duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    let (status_code, error) = match &attempted {
        Attempted::Delivered(status) => (Some(*status), None),
        Attempted::Retry(reason) | Attempted::Dropped(reason) => {
            (answered_status(reason), Some(reason.clone()))
        }
    };
    let (disposition, outcome) = match (attempted, retry) {
        (Attempted::Delivered(status), _) => {
            tracing::info!(%about, %service_id, callback_type = kind, status, "callback delivered");
            notify_core::metrics::count("CallbacksSent", 1, &[("CallbackType", kind)]);
            (Disposition::Done, AttemptOutcome::Delivered)
        }
        (Attempted::Dropped(reason), _) => {
            tracing::warn!(%about, %service_id, callback_type = kind, reason, "callback dropped");
            notify_core::metrics::count("CallbacksFailed", 1, &[("CallbackType", kind)]);
            (Disposition::Done, AttemptOutcome::Dropped)
        }
        (Attempted::Retry(reason), Some(delay)) => {
            tracing::warn!(%about, %service_id, callback_type = kind, reason, attempt = receives, "callback will be retried");
            notify_core::metrics::count("CallbacksFailed", 1, &[("CallbackType", kind)]);
            (Disposition::RetryAfter(delay), AttemptOutcome::WillRetry)
        }
        (Attempted::Retry(reason), None) => {
            let dead = Callback {
                last_error: Some(reason.clone()),
                ..callback.clone()
            };
            let group = service_id.to_string();
            match queue
                .send(
                    &config.queues.callbacks_dlq,
                    &group,
                    &Message::Callback(dead),
                )
                .await
            {
                Ok(()) => {
                    tracing::error!(%about, %service_id, callback_type = kind, reason, attempts = receives, "callback retries exhausted: dead-lettered");
                    notify_core::metrics::count(
                        "CallbacksDeadLettered",
                        1,
                        &[("CallbackType", kind)],
                    );
                    (Disposition::Done, AttemptOutcome::DeadLettered)
                }
                Err(e) => {
                    tracing::error!(%about, error = %e, "callback not dead-lettered; keeping it");
                    (
                        Disposition::RetryAfter(config.callbacks.retry_delay),
                        AttemptOutcome::WillRetry,
                    )
                }
            }
        }
    };
    let attempt = CallbackAttempt {
        at,
        callback_type: callback.callback_type,
        service_id,
        subject_id: about,
        url: loggable_url(&callback.url),
        status_code,
        error,
        duration_ms,
        attempt: receives,
        outcome,
    };
    (disposition, attempt)
}

/// Puts these attempts on the status queue for the callback log, as one message. A failure is logged, never
/// returned: the callbacks themselves are settled whatever becomes of their log lines.
pub async fn record_attempts(
    queue: &dyn Queue,
    config: &CallbackWorkerConfig,
    attempts: Vec<CallbackAttempt>,
) {
    if attempts.is_empty() {
        return;
    }
    let n = attempts.len();
    let message = Message::CallbackAttempts { v: 1, attempts };
    if let Err(e) = queue
        .send(&config.queues.status, ATTEMPTS_GROUP, &message)
        .await
    {
        tracing::error!(error = %e, attempts = n, "callback attempts not logged");
        notify_core::metrics::count("CallbackAttemptsNotLogged", n as u64, &[]);
    }
}

/// The status queue's group for callback-log messages: receipts are grouped by provider, this by itself.
pub const ATTEMPTS_GROUP: &str = "callback-attempts";

/// Callback messages, concurrently: one hanging receiver delays nobody else in the batch; their attempts logged
/// through the status queue in one message. No database here.
pub async fn callback_batch(
    sender: &CallbackSender,
    queue: &dyn Queue,
    config: &CallbackWorkerConfig,
    sqs: &aws_sdk_sqs::Client,
    event: SqsEvent,
) -> SqsBatchResponse {
    let handled = futures::future::join_all(event.records.iter().map(|record| async move {
        let Some(Message::Callback(callback)) = parse(record) else {
            tracing::error!(
                message_id = record.message_id.as_deref(),
                "not a callback message"
            );
            return (Disposition::DeadLetter, None);
        };
        let (disposition, attempt) =
            handle_callback(sender, queue, config, &callback, receive_count(record)).await;
        (disposition, Some(attempt))
    }))
    .await;
    let (dispositions, attempts): (Vec<_>, Vec<_>) = handled.into_iter().unzip();
    // The batch's attempts as one log message, before the settling: the log line is lost at worst, never
    // the callback.
    record_attempts(queue, config, attempts.into_iter().flatten().collect()).await;
    let endpoint = config.queues.endpoint_url.as_deref();
    settle(sqs, queue, endpoint, &event, dispositions).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_code_is_read_from_the_reason_attempt_words() {
        assert_eq!(answered_status("receiver answered 500"), Some(500));
        assert_eq!(answered_status("receiver answered 404"), Some(404));
        assert_eq!(answered_status("receiver did not answer in time"), None);
        assert_eq!(
            answered_status("callback URL refused: 10.0.0.1 is private"),
            None
        );
    }
}
