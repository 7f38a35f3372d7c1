//! Real providers behind the delivery traits. Each takes plain values and speaks its provider's wire format.

pub mod aws_sms;
pub mod failover;
pub mod firetext;
pub mod ses;

use std::sync::Arc;

use async_trait::async_trait;
use notify_config::{Config, ExposeSecret};
use notify_core::delivery::ProviderWeight;
use notify_core::messages::Message;
use notify_core::model::NotificationStatus;
use notify_queue::Queue;
use uuid::Uuid;

/// The providers configuration asks for; `provider_details` weighs them per send. Test keys always use the
/// simulated one.
pub async fn from_config(config: &Config, queue: Arc<dyn Queue>) -> Providers {
    let simulated = Arc::new(SimulatedProvider::new(queue, config.queues.status.clone()));
    let mut sms: Vec<Arc<dyn SmsProvider>> = Vec::new();
    let mut email: Vec<Arc<dyn EmailProvider>> = Vec::new();
    if config.providers.aws_sms_enabled {
        sms.push(Arc::new(
            aws_sms::AwsSmsProvider::from_env(
                config.providers.aws_sms_endpoint_url.as_deref(),
                config.providers.aws_sms_configuration_set.clone(),
                config.providers.aws_sms_origination_identity.clone(),
            )
            .await,
        ));
    }
    if let Some(key) = &config.providers.firetext_api_key {
        sms.push(Arc::new(firetext::FiretextProvider::new(
            config.providers.firetext_url.clone(),
            key.expose_secret(),
        )));
    }
    if config.providers.ses_enabled {
        email.push(Arc::new(
            ses::SesProvider::from_env(
                config.providers.ses_endpoint_url.as_deref(),
                config.providers.ses_configuration_set.clone(),
            )
            .await,
        ));
    }
    if config.providers.simulate {
        sms.push(simulated.clone());
        email.push(simulated.clone());
    }
    Providers::new(sms, email, simulated)
}
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
pub fn by_weight<C: Clone>(
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
/// The Notify-style simulated provider: test keys' fake outcomes, and the local default. Its receipts go on the
/// status queue like a real provider's, so test keys exercise the whole pipeline.
pub struct SimulatedProvider {
    queue: Arc<dyn Queue>,
    status_queue: String,
}

impl SimulatedProvider {
    pub fn new(queue: Arc<dyn Queue>, status_queue: impl Into<String>) -> Self {
        SimulatedProvider {
            queue,
            status_queue: status_queue.into(),
        }
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
