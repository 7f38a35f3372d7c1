//! The simulated provider with a real provider's latency, counting what it is handed: what the pipeline and
//! fairness benchmarks send through.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use notify_outbound::providers::{
    Accepted, EmailMessage, EmailProvider, ProviderError, SimulatedProvider, SmsMessage,
    SmsProvider,
};

/// [`SimulatedProvider`] answering after a delay drawn uniformly from `latency_ms` per send (Notify's load-test
/// stub profile), as a provider would; its receipt is queued when it answers, as the simulated provider's always is.
pub struct SlowProvider {
    inner: SimulatedProvider,
    latency_ms: RangeInclusive<u64>,
    calls: AtomicU64,
}

impl SlowProvider {
    pub fn new(inner: SimulatedProvider, latency_ms: RangeInclusive<u64>) -> Arc<Self> {
        Arc::new(SlowProvider {
            inner,
            latency_ms,
            calls: AtomicU64::new(0),
        })
    }

    /// Sends handed to it so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn wait(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let latency = fastrand::u64(self.latency_ms.clone());
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
    }
}

#[async_trait]
impl SmsProvider for SlowProvider {
    fn name(&self) -> &str {
        SmsProvider::name(&self.inner)
    }
    fn supports_international(&self) -> bool {
        self.inner.supports_international()
    }
    async fn send_sms(&self, message: &SmsMessage) -> Result<Accepted, ProviderError> {
        self.wait().await;
        self.inner.send_sms(message).await
    }
}

#[async_trait]
impl EmailProvider for SlowProvider {
    fn name(&self) -> &str {
        EmailProvider::name(&self.inner)
    }
    async fn send_email(&self, message: &EmailMessage) -> Result<Accepted, ProviderError> {
        self.wait().await;
        self.inner.send_email(message).await
    }
}
