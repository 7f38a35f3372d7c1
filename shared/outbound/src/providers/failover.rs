//! One send round: the providers of a channel in weight order, the first acceptance wins, a permanent error
//! stops the round. Everything here is plain values; the caller claimed the notification before and records
//! the round's outcome after, so no database connection can be open while a provider is called.

use std::sync::Arc;

use async_trait::async_trait;
use notify_core::delivery::ProviderWeight;
use uuid::Uuid;

use super::{
    Accepted, EmailMessage, EmailProvider, ProviderError, ProviderHealth, Providers, SmsMessage,
    SmsProvider, by_weight,
};

/// A message ready for a provider, rendered.
#[derive(Clone, Debug)]
pub enum Outgoing {
    Sms(SmsMessage),
    Email(EmailMessage),
}

/// Sends `message` through the configured providers by `weights` (`provider_details`), failing over; a test
/// key's message goes to the simulated provider alone.
pub async fn send(
    providers: &Providers,
    message: &Outgoing,
    weights: &[ProviderWeight],
    test_key: bool,
) -> Round {
    let health = &providers.health;
    match message {
        Outgoing::Sms(message) => {
            if test_key {
                let simulated = providers.simulated.clone() as Arc<dyn SmsProvider>;
                send_sms(&[simulated], &[], message, health).await
            } else {
                send_sms(&providers.sms, weights, message, health).await
            }
        }
        Outgoing::Email(message) => {
            if test_key {
                let simulated = providers.simulated.clone() as Arc<dyn EmailProvider>;
                send_email(&[simulated], &[], message, health).await
            } else {
                send_email(&providers.email, weights, message, health).await
            }
        }
    }
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
pub struct Round {
    pub result: Result<(String, Accepted), ProviderError>,
    pub shift_away: Vec<String>,
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
        notify_core::metrics::milliseconds(
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
