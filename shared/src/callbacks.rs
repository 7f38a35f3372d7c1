//! Service callbacks. A due callback is an outbox row committed with the change behind it; the relay rebuilds it
//! whole (URL, encrypted bearer token and the exact JSON body) onto the callbacks queue, so the worker that makes
//! the HTTP call never needs the database (contract §9.7), and a queue outage or a crash only delays it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AppState;
use crate::model::{CallbackType, NotificationStatus, NotificationType};
use crate::queue::{Message, QueueError};

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
    encryptor: crate::crypto::Encryptor,
    allow: crate::outbound::AllowList,
}

impl CallbackSender {
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let allow = crate::outbound::AllowList::new(config.callback_allow_private_hosts.clone());
        Ok(CallbackSender {
            client: crate::outbound::client(
                allow.clone(),
                config.callback_ca_bundle.as_deref(),
                config.callback_timeout,
            )?,
            encryptor: crate::crypto::Encryptor::new(&config.secret_key),
            allow,
        })
    }

    /// One POST with Notify's headers and the stored body.
    pub async fn attempt(&self, callback: &Callback) -> Attempted {
        let url = match url::Url::parse(&callback.url) {
            Ok(url) => url,
            Err(e) => return Attempted::Dropped(format!("callback URL unusable: {e}")),
        };
        if let Err(refused) = crate::outbound::check_url(&url, &self.allow) {
            return Attempted::Dropped(format!("callback URL refused: {refused}"));
        }
        let token = match self.encryptor.decrypt(&callback.encrypted_token) {
            Ok(token) => token,
            Err(e) => {
                crate::crypto::report_undecryptable(
                    "service_callback_api.bearer_token",
                    &callback.subject_id,
                    &callback.service_id,
                );
                return Attempted::Dropped(format!("bearer token unreadable: {e}"));
            }
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(token)
            .body(callback.body.clone())
            .send()
            .await;
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

fn refused_by_guard(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<crate::outbound::Refused>() {
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

/// Puts one callback on the callbacks queue, grouped by service so one busy service cannot starve the others.
async fn enqueue(state: &AppState, callback: Callback) -> Result<(), QueueError> {
    let group = callback.service_id.to_string();
    let subject_id = callback.subject_id;
    let callback_type = callback.callback_type;
    state
        .queue
        .send(
            &state.config.queues.callbacks,
            &group,
            &Message::Callback(callback),
        )
        .await
        .inspect_err(|e| {
            tracing::warn!(%subject_id, callback_type = callback_type.as_str(), error = %e, "callback not queued yet; kept in the outbox")
        })
}

/// How many outbox rows one relay pass claims.
pub const RELAY_BATCH: i64 = 100;

/// How long a relay owns the rows it claimed: far longer than queueing a batch takes, so two relays never send
/// the same callback unless one of them died; then the other takes its rows over once this has passed.
pub const RELAY_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// What a relay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    pub claimed: u64,
    pub queued: u64,
    /// Left in the outbox for the next pass: the queue refused them.
    pub kept: u64,
    /// Taken off without a callback: what they were about is gone, or cannot be read.
    pub dropped: u64,
}

impl Relayed {
    fn add(&mut self, other: Relayed) {
        self.claimed += other.claimed;
        self.queued += other.queued;
        self.kept += other.kept;
        self.dropped += other.dropped;
    }
}

/// The fast path, right after the commit that wrote these outbox rows: queues their callbacks now. A failure is
/// logged, never returned: the rows stay in the outbox and the sweeper ([`relay_due`]) queues them later.
pub async fn relay_now(state: &AppState, ids: &[i64]) -> Relayed {
    let mut total = Relayed::default();
    for chunk in ids.chunks(RELAY_BATCH as usize) {
        match relay_pass(state, Some(chunk)).await {
            Ok(relayed) => total.add(relayed),
            Err(e) => {
                tracing::warn!(error = %e, "outbox not relayed now; the sweeper will");
                break;
            }
        }
    }
    total
}

/// The sweeper: relays whatever the fast path left (a queue outage, a crash after the commit), a batch at a time,
/// until the outbox is empty, the queue refuses, or `within_budget` says stop.
pub async fn relay_due(
    state: &AppState,
    within_budget: impl Fn() -> bool,
) -> Result<Relayed, crate::db::DbError> {
    let mut total = Relayed::default();
    loop {
        let relayed = relay_pass(state, None).await?;
        total.add(relayed);
        if (relayed.claimed as i64) < RELAY_BATCH || relayed.kept > 0 || !within_budget() {
            break;
        }
    }
    Ok(total)
}

/// Claims a bounded batch (the connection is back in the pool before any send), queues each callback, then
/// deletes the rows sent and frees the rest.
async fn relay_pass(state: &AppState, ids: Option<&[i64]>) -> Result<Relayed, crate::db::DbError> {
    let claimed = state.db.claim_outbox(ids, RELAY_BATCH, RELAY_LEASE).await?;
    let mut relayed = Relayed {
        claimed: claimed.len() as u64,
        ..Default::default()
    };
    let (mut done, mut kept) = (Vec::new(), Vec::new());
    let mut queue_refused = false;
    for row in claimed {
        if queue_refused {
            // One refusal means the queue is down: the rest wait for the next pass instead of each failing.
            kept.push(row.id);
            continue;
        }
        let Some(due) = row.callback else {
            tracing::warn!(
                outbox_id = row.id,
                "callback no longer due (its subject or the service's callback is gone); dropped"
            );
            done.push(row.id);
            relayed.dropped += 1;
            continue;
        };
        let callback = match rebuild(state, due) {
            Ok(callback) => callback,
            Err(e) => {
                tracing::error!(outbox_id = row.id, error = %e, "callback cannot be rebuilt; dropped");
                crate::metrics::count("CallbacksUnreadable", 1, &[]);
                done.push(row.id);
                relayed.dropped += 1;
                continue;
            }
        };
        match enqueue(state, callback).await {
            Ok(()) => {
                done.push(row.id);
                relayed.queued += 1;
            }
            Err(_) => {
                queue_refused = true;
                kept.push(row.id);
            }
        }
    }
    relayed.kept = kept.len() as u64;
    state.db.settle_outbox(&done, &kept).await?;
    Ok(relayed)
}

/// The callback an outbox row stands for, with what is stored encrypted decrypted now.
fn rebuild(
    state: &AppState,
    due: crate::db::OutboxCallback,
) -> Result<Callback, crate::crypto::DecryptError> {
    use crate::db::OutboxCallback::*;
    Ok(match due {
        DeliveryStatus(data, target) => delivery_status(&data, &target),
        Complaint(mut data, encrypted_recipient, target) => {
            if let Some(sealed) = encrypted_recipient {
                data.to = state.encryptor.decrypt(&sealed)?;
            }
            complaint(&data, &target)
        }
        InboundSms(mut data, target) => {
            data.message = state.encryptor.decrypt(&data.message)?;
            inbound_sms(&data, &target)
        }
    })
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
