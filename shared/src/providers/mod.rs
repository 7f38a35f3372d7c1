//! Real providers behind the delivery traits. Each takes plain values and speaks its provider's wire format.

pub mod firetext;

use std::sync::Arc;

use crate::config::Config;
use crate::delivery::{EmailProvider, Providers, SimulatedProvider, SmsProvider};
use crate::queue::Queue;

/// The providers configuration asks for, in order of preference. Test keys always use the simulated one.
pub fn from_config(config: &Config, queue: Arc<dyn Queue>) -> Providers {
    let simulated = Arc::new(SimulatedProvider::new(queue, config.queues.status.clone()));
    let mut sms: Vec<Arc<dyn SmsProvider>> = Vec::new();
    let mut email: Vec<Arc<dyn EmailProvider>> = Vec::new();
    if let Some(key) = &config.firetext_api_key {
        sms.push(Arc::new(firetext::FiretextProvider::new(
            config.firetext_url.clone(),
            key.clone(),
        )));
    }
    if config.simulate_providers {
        sms.push(simulated.clone());
        email.push(simulated.clone());
    }
    Providers {
        sms,
        email,
        simulated,
    }
}
