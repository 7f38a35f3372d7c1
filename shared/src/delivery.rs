//! Handing notifications to providers, in three steps that never hold a database connection during the middle
//! one: *claim* (one statement: `created → sending`, read what the send needs), *send* (plain values only),
//! *record* (a new short statement).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::AppState;
use crate::db::{DbError, DeliveryJob, ProviderWeight, SendOutcome, SentRecord};
use crate::model::{KeyType, NotificationStatus, NotificationType, Template};
use crate::queue::{Message, Queue};
use crate::templates::{self, Values, sms};

/// A text as a provider receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsMessage {
    pub notification_id: Uuid,
    /// E.164 without `+`.
    pub to: String,
    pub sender: String,
    /// With the service-name prefix when the service has one.
    pub content: String,
    pub international: bool,
}

/// An email as a provider receives it: both parts rendered by the template code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailMessage {
    pub notification_id: Uuid,
    pub to: String,
    pub from: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub unsubscribe_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth trying again later or elsewhere: timeouts, 5xx, throttling.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The provider will never take it: a rejected recipient, a malformed request.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What the provider's acceptance says about the notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub reference: String,
    /// `sending` normally; `sent` for international texts to carriers that give no receipts.
    pub status: NotificationStatus,
}

#[async_trait]
pub trait SmsProvider: Send + Sync {
    fn name(&self) -> &str;
    fn supports_international(&self) -> bool;
    async fn send_sms(&self, message: &SmsMessage) -> Result<Accepted, ProviderError>;
}

#[async_trait]
pub trait EmailProvider: Send + Sync {
    fn name(&self) -> &str;
    async fn send_email(&self, message: &EmailMessage) -> Result<Accepted, ProviderError>;
}

/// The providers a worker may use, the simulated one that test keys always use, and the error counts that shift
/// weight away from a failing SMS provider.
#[derive(Clone)]
pub struct Providers {
    pub sms: Vec<Arc<dyn SmsProvider>>,
    pub email: Vec<Arc<dyn EmailProvider>>,
    pub simulated: Arc<SimulatedProvider>,
    pub health: Arc<ProviderHealth>,
}

impl Providers {
    pub fn new(
        sms: Vec<Arc<dyn SmsProvider>>,
        email: Vec<Arc<dyn EmailProvider>>,
        simulated: Arc<SimulatedProvider>,
    ) -> Self {
        Providers {
            sms,
            email,
            simulated,
            health: Arc::new(ProviderHealth::default()),
        }
    }
}

/// GOV.UK's rule: 50 errors from one SMS provider within 60 seconds move 10 points of weight away from it.
pub const PRIORITY_SHIFT_ERRORS: usize = 50;
pub const PRIORITY_SHIFT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
pub const PRIORITY_SHIFT_POINTS: i32 = 10;

/// Recent errors per provider, in this process (one Lambda execution environment, or the local stack).
#[derive(Default)]
pub struct ProviderHealth {
    errors: std::sync::Mutex<
        std::collections::HashMap<String, std::collections::VecDeque<std::time::Instant>>,
    >,
}

impl ProviderHealth {
    /// Counts an error; true when it makes [`PRIORITY_SHIFT_ERRORS`] within the window (the count then starts
    /// again, so the next shift needs as many new errors).
    pub fn record_error(&self, provider: &str) -> bool {
        let now = std::time::Instant::now();
        let mut errors = self.errors.lock().expect("health lock");
        let recent = errors.entry(provider.to_string()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > PRIORITY_SHIFT_WINDOW)
        {
            recent.pop_front();
        }
        recent.push_back(now);
        if recent.len() >= PRIORITY_SHIFT_ERRORS {
            recent.clear();
            true
        } else {
            false
        }
    }
}

/// The order to try providers in: the first drawn at random by `provider_details.priority` among the active
/// ones with weight, the rest by weight, heaviest first. Providers `provider_details` does not know (the
/// simulated one, fakes) come last in configured order; those it marks inactive are not used.
fn by_weight<C: Clone>(
    providers: &[C],
    name: impl Fn(&C) -> &str,
    weights: &[ProviderWeight],
    draw: impl FnOnce(u32) -> u32,
) -> Vec<C> {
    let weight_of = |p: &C| weights.iter().find(|w| w.identifier == name(p));
    let mut known: Vec<(C, i32)> = Vec::new();
    let mut unknown: Vec<C> = Vec::new();
    for provider in providers {
        match weight_of(provider) {
            Some(w) if !w.active => {}
            Some(w) => known.push((provider.clone(), w.priority.max(0))),
            None => unknown.push(provider.clone()),
        }
    }
    known.sort_by_key(|(_, w)| std::cmp::Reverse(*w));
    let total: u32 = known.iter().map(|(_, w)| *w as u32).sum();
    if total > 0 {
        let mut ticket = draw(total);
        let first = known
            .iter()
            .position(|(_, w)| {
                let w = *w as u32;
                if ticket < w {
                    true
                } else {
                    ticket -= w;
                    false
                }
            })
            .unwrap_or(0);
        let chosen = known.remove(first);
        known.insert(0, chosen);
    }
    known.into_iter().map(|(p, _)| p).chain(unknown).collect()
}

/// What happened to one delivery message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        provider: String,
        reference: String,
    },
    /// Not `created` any more: a duplicate message, or already handled. Nothing was sent.
    AlreadyHandled,
    /// Every provider failed in a way worth retrying; the notification is `created` again.
    Retry(String),
    /// `technical-failure`: a permanent provider error or an inactive service.
    Failed(String),
    /// What the send came to, which the database could not take even after a few tries: the caller keeps it
    /// (on a new delivery message) until it is recorded.
    Unrecorded(SendOutcome),
}

/// The Notify-style simulated provider: test keys' fake outcomes, and the local default. Its receipts go on the
/// status queue like a real provider's, so test keys exercise the whole pipeline.
pub struct SimulatedProvider {
    queue: Arc<dyn Queue>,
    status_queue: String,
    /// How long it takes to answer, drawn uniformly per send: benchmarks give it a real provider's latency.
    latency_ms: std::ops::RangeInclusive<u64>,
    calls: std::sync::atomic::AtomicU64,
}

impl SimulatedProvider {
    pub fn new(queue: Arc<dyn Queue>, status_queue: impl Into<String>) -> Self {
        SimulatedProvider::with_latency(queue, status_queue, 0..=0)
    }

    pub fn with_latency(
        queue: Arc<dyn Queue>,
        status_queue: impl Into<String>,
        latency_ms: std::ops::RangeInclusive<u64>,
    ) -> Self {
        SimulatedProvider {
            queue,
            status_queue: status_queue.into(),
            latency_ms,
            calls: Default::default(),
        }
    }

    /// Sends handed to it so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Contract §7.2's outcomes by number and address.
    pub fn sms_outcome(to: &str) -> NotificationStatus {
        if to.ends_with("7700900003") {
            NotificationStatus::TemporaryFailure
        } else if to.ends_with("7700900002") {
            NotificationStatus::PermanentFailure
        } else {
            NotificationStatus::Delivered
        }
    }

    pub fn email_outcome(to: &str) -> NotificationStatus {
        match to.to_lowercase().as_str() {
            "temp-fail@simulator.notify" => NotificationStatus::TemporaryFailure,
            "perm-fail@simulator.notify" => NotificationStatus::PermanentFailure,
            _ => NotificationStatus::Delivered,
        }
    }

    async fn accept(&self, outcome: NotificationStatus) -> Result<Accepted, ProviderError> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let latency = fastrand::u64(self.latency_ms.clone());
        if latency > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
        }
        let reference = Uuid::new_v4().to_string();
        let receipt = Message::Receipt {
            v: 1,
            provider: "simulated".into(),
            reference: reference.clone(),
            status: outcome,
            at: chrono::Utc::now(),
        };
        // A real provider's receipt comes after its answer; a second keeps it behind the recorded reference
        // (and the status worker retries it if not).
        self.queue
            .send_delayed(
                &self.status_queue,
                "simulated",
                &receipt,
                std::time::Duration::from_secs(1),
            )
            .await
            .map_err(|e| ProviderError::Retryable(e.to_string()))?;
        Ok(Accepted {
            reference,
            status: NotificationStatus::Sending,
        })
    }
}

#[async_trait]
impl SmsProvider for SimulatedProvider {
    fn name(&self) -> &str {
        "simulated"
    }
    fn supports_international(&self) -> bool {
        true
    }
    async fn send_sms(&self, message: &SmsMessage) -> Result<Accepted, ProviderError> {
        self.accept(Self::sms_outcome(&message.to)).await
    }
}

#[async_trait]
impl EmailProvider for SimulatedProvider {
    fn name(&self) -> &str {
        "simulated"
    }
    async fn send_email(&self, message: &EmailMessage) -> Result<Accepted, ProviderError> {
        self.accept(Self::email_outcome(&message.to)).await
    }
}

fn personalisation(state: &AppState, job: &DeliveryJob) -> Result<Map<String, Value>, DbError> {
    match &job.encrypted_personalisation {
        None => Ok(Map::new()),
        Some(sealed) => {
            let plain = state.encryptor.decrypt(sealed).map_err(|e| {
                crate::crypto::report_undecryptable(
                    "notifications.personalisation",
                    &job.id,
                    &job.service_id,
                );
                DbError::Data(e.to_string())
            })?;
            serde_json::from_str(&plain).map_err(|e| DbError::Data(e.to_string()))
        }
    }
}

fn template_of(job: &DeliveryJob) -> Template {
    Template {
        id: job.template_id,
        service_id: job.service_id,
        version: job.template_version,
        name: String::new(),
        template_type: job.notification_type,
        content: job.template_content.clone(),
        subject: job.template_subject.clone(),
        archived: false,
        hidden: false,
        postage: None,
        letter_contact_block: None,
        has_unsubscribe_link: job.unsubscribe_link.is_some(),
        created_at: job.created_at,
        updated_at: None,
        created_by_email: None,
    }
}

/// Plain values for the send step, rendered from the claimed row.
enum Prepared {
    Sms(SmsMessage, i32),
    Email(EmailMessage),
}

fn prepare(state: &AppState, job: &DeliveryJob) -> Result<Prepared, DbError> {
    let values = Values::new(&personalisation(state, job)?);
    let rendered = templates::render_unchecked(&template_of(job), &values);
    Ok(match job.notification_type {
        NotificationType::Sms => {
            let content = if job.prefix_sms {
                format!("{}: {}", job.service_name, rendered.body)
            } else {
                rendered.body
            };
            let fragments = sms::fragment_count(&content);
            let multiplier = job.rate_multiplier.unwrap_or(1.0);
            let message = SmsMessage {
                notification_id: job.id,
                to: job.normalised_to.clone().unwrap_or_else(|| job.to.clone()),
                sender: job.reply_to_text.clone().unwrap_or_else(|| "GOVUK".into()),
                content,
                international: job.international,
            };
            Prepared::Sms(message, (fragments as f64 * multiplier).round() as i32)
        }
        _ => {
            let mut html = rendered.html.unwrap_or_default();
            // The API returns the body as the template has it; the text part is made from it here.
            let mut text = templates::email::plain_text_body(&rendered.body);
            if let Some(url) = &job.unsubscribe_link {
                html.push_str(&format!(
                    "\n<hr />\n<p><a href=\"{url}\">Unsubscribe from these emails</a></p>"
                ));
                text.push_str(&format!("\n\n---\n\nUnsubscribe from these emails: {url}"));
            }
            Prepared::Email(EmailMessage {
                notification_id: job.id,
                to: job.to.clone(),
                from: format!(
                    "{}@{}",
                    job.email_sender_local_part, state.config.notify_email_domain
                ),
                reply_to: job.reply_to_text.clone(),
                subject: rendered.subject.unwrap_or_default(),
                text_body: text,
                html_body: html,
                unsubscribe_url: job.unsubscribe_link.clone(),
            })
        }
    })
}

/// A provider of either channel, as failover sees it.
#[async_trait]
trait Channel<M: Sync>: Send + Sync {
    fn provider_name(&self) -> &str;
    async fn hand_over(&self, message: &M) -> Result<Accepted, ProviderError>;
}

#[async_trait]
impl Channel<SmsMessage> for Arc<dyn SmsProvider> {
    fn provider_name(&self) -> &str {
        self.name()
    }
    async fn hand_over(&self, message: &SmsMessage) -> Result<Accepted, ProviderError> {
        self.send_sms(message).await
    }
}

#[async_trait]
impl Channel<EmailMessage> for Arc<dyn EmailProvider> {
    fn provider_name(&self) -> &str {
        self.name()
    }
    async fn hand_over(&self, message: &EmailMessage) -> Result<Accepted, ProviderError> {
        self.send_email(message).await
    }
}

/// The outcome of one send round, and the providers whose errors crossed the shift threshold during it.
struct Round {
    result: Result<(String, Accepted), ProviderError>,
    shift_away: Vec<String>,
}

/// Tries each provider in turn; the first acceptance wins, a permanent error stops the round.
async fn with_failover<M: Sync, C: Channel<M>>(
    providers: &[C],
    message: &M,
    notification_id: Uuid,
    health: &ProviderHealth,
) -> Round {
    let mut last = ProviderError::Retryable("no provider configured for this channel".into());
    let mut shift_away = Vec::new();
    for provider in providers {
        let started = std::time::Instant::now();
        let handed_over = provider.hand_over(message).await;
        crate::metrics::milliseconds(
            "ProviderLatency",
            started.elapsed().as_secs_f64() * 1000.0,
            &[("Provider", provider.provider_name())],
        );
        match handed_over {
            Ok(accepted) => {
                return Round {
                    result: Ok((provider.provider_name().to_string(), accepted)),
                    shift_away,
                };
            }
            Err(e @ ProviderError::Permanent(_)) => {
                return Round {
                    result: Err(e),
                    shift_away,
                };
            }
            Err(e) => {
                tracing::warn!(provider = provider.provider_name(), notification_id = %notification_id, error = %e, "provider failed; trying the next");
                if health.record_error(provider.provider_name()) {
                    shift_away.push(provider.provider_name().to_string());
                }
                last = e;
            }
        }
    }
    Round {
        result: Err(last),
        shift_away,
    }
}

async fn send_sms(
    providers: &[Arc<dyn SmsProvider>],
    weights: &[ProviderWeight],
    message: &SmsMessage,
    health: &ProviderHealth,
) -> Round {
    let usable: Vec<Arc<dyn SmsProvider>> = providers
        .iter()
        .filter(|p| !message.international || p.supports_international())
        .cloned()
        .collect();
    let ordered = by_weight(
        &usable,
        |p| p.name(),
        weights,
        |total| fastrand::u32(..total),
    );
    with_failover(&ordered, message, message.notification_id, health).await
}

async fn send_email(
    providers: &[Arc<dyn EmailProvider>],
    weights: &[ProviderWeight],
    message: &EmailMessage,
    health: &ProviderHealth,
) -> Round {
    let ordered = by_weight(
        providers,
        |p| p.name(),
        weights,
        |total| fastrand::u32(..total),
    );
    with_failover(&ordered, message, message.notification_id, health).await
}

/// A notification to hand to a provider, and whether this is its last attempt (a send that would be retried
/// is then `technical-failure` instead). With `unrecorded`, the notification was claimed and handed over (or
/// given up on) already: only that outcome is recorded, nothing is sent.
#[derive(Clone, Debug)]
pub struct DeliveryRequest {
    pub notification_id: Uuid,
    pub final_attempt: bool,
    pub unrecorded: Option<SendOutcome>,
}

/// One delivery message: claim, send with plain values, record. Idempotent: a duplicate finds nothing to claim.
pub async fn deliver(
    state: &AppState,
    providers: &Providers,
    notification_id: Uuid,
) -> Result<Outcome, DbError> {
    let request = DeliveryRequest {
        notification_id,
        final_attempt: false,
        unrecorded: None,
    };
    Ok(deliver_many(state, providers, &[request])
        .await?
        .pop()
        .expect("one outcome per request"))
}

async fn send_prepared(
    providers: &Providers,
    job: &DeliveryJob,
    prepared: &Prepared,
) -> (Round, i32) {
    let weights = &job.provider_weights;
    let health = &providers.health;
    let test_key = job.key_type == KeyType::Test;
    match prepared {
        Prepared::Sms(message, units) => {
            let round = if test_key {
                let simulated = providers.simulated.clone() as Arc<dyn SmsProvider>;
                send_sms(&[simulated], &[], message, health).await
            } else {
                send_sms(&providers.sms, weights, message, health).await
            };
            (round, *units)
        }
        Prepared::Email(message) => {
            let round = if test_key {
                let simulated = providers.simulated.clone() as Arc<dyn EmailProvider>;
                send_email(&[simulated], &[], message, health).await
            } else {
                send_email(&providers.email, weights, message, health).await
            };
            (round, 0)
        }
    }
}

/// A batch of delivery messages in three steps: *claim* all in one statement (the connection is closed when it
/// returns), *send* them concurrently with plain values (no connection open anywhere in the batch), *record*
/// every outcome in one statement, with those of earlier batches that the database could not take then. Outcomes
/// come back in request order; an error means nothing was sent.
pub async fn deliver_many(
    state: &AppState,
    providers: &Providers,
    requests: &[DeliveryRequest],
) -> Result<Vec<Outcome>, DbError> {
    let ids: Vec<Uuid> = requests.iter().map(|r| r.notification_id).collect();
    let to_claim: Vec<Uuid> = requests
        .iter()
        .filter(|r| r.unrecorded.is_none())
        .map(|r| r.notification_id)
        .collect();
    // A row claimed before stays `sending`, so the claim never takes it again: its send happened (or was given
    // up on) and only its record step is left.
    let jobs = if to_claim.is_empty() {
        Vec::new()
    } else {
        state.db.claim_many_for_delivery(&to_claim).await?
    };
    let final_attempt = |id: Uuid| {
        requests
            .iter()
            .any(|r| r.notification_id == id && r.final_attempt)
    };
    let mut outcomes: std::collections::HashMap<Uuid, Outcome> = Default::default();
    let mut records = Vec::new();
    let mut ready = Vec::new();
    for job in &jobs {
        if !job.service_active {
            records.push((job.id, SendOutcome::Failed));
            outcomes.insert(job.id, Outcome::Failed("service is inactive".into()));
            continue;
        }
        match prepare(state, job) {
            Ok(prepared) => ready.push((job, prepared)),
            Err(e) => {
                records.push((job.id, SendOutcome::Failed));
                outcomes.insert(job.id, Outcome::Failed(e.to_string()));
            }
        }
    }
    let rounds = futures::future::join_all(
        ready
            .iter()
            .map(|(job, prepared)| send_prepared(providers, job, prepared)),
    )
    .await;
    let sent_at = state.now();
    let mut shift_away = Vec::new();
    for ((job, _), (round, billable_units)) in ready.iter().zip(rounds) {
        shift_away.extend(round.shift_away);
        let (record, outcome) = match round.result {
            Ok((provider, accepted)) => (
                SendOutcome::Sent(SentRecord {
                    provider: provider.clone(),
                    reference: accepted.reference.clone(),
                    billable_units,
                    // Notify's rule: an international text is `sent`; carriers that give receipts move it on.
                    status: if job.international && accepted.status == NotificationStatus::Sending {
                        NotificationStatus::Sent
                    } else {
                        accepted.status
                    },
                    sent_at,
                }),
                Outcome::Sent {
                    provider,
                    reference: accepted.reference,
                },
            ),
            Err(ProviderError::Retryable(reason)) if final_attempt(job.id) => (
                SendOutcome::Failed,
                Outcome::Failed(format!("retries exhausted: {reason}")),
            ),
            Err(ProviderError::Retryable(reason)) => (SendOutcome::Retry, Outcome::Retry(reason)),
            Err(ProviderError::Permanent(reason)) => (SendOutcome::Failed, Outcome::Failed(reason)),
        };
        records.push((job.id, record));
        outcomes.insert(job.id, outcome);
    }
    for request in requests {
        if let Some(unrecorded) = &request.unrecorded {
            records.push((request.notification_id, unrecorded.clone()));
            outcomes.insert(
                request.notification_id,
                match unrecorded {
                    SendOutcome::Sent(sent) => Outcome::Sent {
                        provider: sent.provider.clone(),
                        reference: sent.reference.clone(),
                    },
                    SendOutcome::Retry => {
                        Outcome::Retry("recorded for a retry after a database fault".into())
                    }
                    SendOutcome::Failed => {
                        Outcome::Failed("recorded after a database fault".into())
                    }
                },
            );
        }
    }
    if let Err(e) = record(state, &records).await {
        // The provider has the message: sending again would duplicate it, and dropping the answer would strand
        // the notification in `sending` with receipts that match nothing. The caller keeps each outcome.
        tracing::error!(error = %e, count = records.len(), "send outcomes kept for recording later");
        crate::metrics::count("SendOutcomesUnrecorded", records.len() as u64, &[]);
        for (id, unrecorded) in records {
            outcomes.insert(id, Outcome::Unrecorded(unrecorded));
        }
    }
    for job in &jobs {
        let kind = job.notification_type.as_str();
        // Counted in the batch that sent: a send recorded later is counted here once.
        match outcomes.get(&job.id) {
            Some(
                Outcome::Sent { provider, .. }
                | Outcome::Unrecorded(SendOutcome::Sent(SentRecord { provider, .. })),
            ) => {
                crate::metrics::count(
                    "NotificationsSent",
                    1,
                    &[("NotificationType", kind), ("Provider", provider)],
                );
                let waited = (sent_at - job.created_at).num_milliseconds().max(0);
                crate::metrics::milliseconds(
                    "CreatedToSent",
                    waited as f64,
                    &[("NotificationType", kind)],
                );
            }
            Some(Outcome::Failed(_) | Outcome::Unrecorded(SendOutcome::Failed)) => {
                crate::metrics::count(
                    "NotificationsFailed",
                    1,
                    &[("NotificationType", kind), ("Status", "technical-failure")],
                )
            }
            _ => {}
        }
    }
    shift_away.sort();
    shift_away.dedup();
    for provider in &shift_away {
        match state
            .db
            .shift_sms_priority_away(provider, PRIORITY_SHIFT_POINTS)
            .await
        {
            Ok(true) => tracing::warn!(
                provider,
                "provider keeps failing: weight moved away from it"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(provider, error = %e, "provider weight not shifted"),
        }
    }
    Ok(ids
        .iter()
        .map(|id| outcomes.remove(id).unwrap_or(Outcome::AlreadyHandled))
        .collect())
}

/// The record step, tried a few times: once a provider has accepted a message, losing its reference to a
/// passing database fault would leave the notification `sending` with receipts that match nothing.
async fn record(state: &AppState, records: &[(Uuid, SendOutcome)]) -> Result<(), DbError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut delay = std::time::Duration::from_millis(200);
    for attempt in 1.. {
        match state.db.record_send_outcomes(records).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, attempt, "send outcomes not recorded; trying again");
                tokio::time::sleep(delay).await;
                delay *= 3;
            }
            Err(e) => {
                tracing::error!(error = %e, "send outcomes not recorded");
                return Err(e);
            }
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(identifier: &str, priority: i32, active: bool) -> ProviderWeight {
        ProviderWeight {
            identifier: identifier.into(),
            priority,
            active,
        }
    }

    #[test]
    fn providers_are_drawn_by_weight_then_ordered() {
        let providers = ["mmg", "firetext", "simulated", "aws-sms"];
        let weights = [
            weight("mmg", 51, true),
            weight("firetext", 49, true),
            weight("aws-sms", 0, false),
        ];
        let order = |ticket: u32| {
            by_weight(
                &providers,
                |p| p,
                &weights,
                |total| {
                    assert_eq!(total, 100);
                    ticket
                },
            )
        };
        assert_eq!(order(0), ["mmg", "firetext", "simulated"]);
        assert_eq!(order(50), ["mmg", "firetext", "simulated"]);
        assert_eq!(order(51), ["firetext", "mmg", "simulated"]);
        assert_eq!(order(99), ["firetext", "mmg", "simulated"]);
        // No weight anywhere: configured order, nothing drawn.
        let zero = [weight("mmg", 0, true), weight("firetext", 0, true)];
        assert_eq!(
            by_weight(&providers[..2], |p| p, &zero, |_| unreachable!()),
            ["mmg", "firetext"]
        );
    }

    #[test]
    fn fifty_errors_in_a_minute_shift_weight_once() {
        let health = ProviderHealth::default();
        let crossings = (0..120).filter(|_| health.record_error("mmg")).count();
        assert_eq!(crossings, 2);
        assert!(!health.record_error("firetext"));
    }

    #[test]
    fn simulated_outcomes() {
        assert_eq!(
            SimulatedProvider::sms_outcome("447700900003"),
            NotificationStatus::TemporaryFailure
        );
        assert_eq!(
            SimulatedProvider::sms_outcome("447700900002"),
            NotificationStatus::PermanentFailure
        );
        assert_eq!(
            SimulatedProvider::sms_outcome("447700900123"),
            NotificationStatus::Delivered
        );
        assert_eq!(
            SimulatedProvider::email_outcome("Perm-Fail@simulator.notify"),
            NotificationStatus::PermanentFailure
        );
        assert_eq!(
            SimulatedProvider::email_outcome("temp-fail@simulator.notify"),
            NotificationStatus::TemporaryFailure
        );
        assert_eq!(
            SimulatedProvider::email_outcome("a@example.com"),
            NotificationStatus::Delivered
        );
    }
}
