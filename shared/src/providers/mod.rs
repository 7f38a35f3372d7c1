//! Real providers behind the delivery traits. Each takes plain values and speaks its provider's wire format.

pub mod aws_sms;
pub mod firetext;
pub mod inbound;
pub mod ses;
pub mod sns;

use std::sync::Arc;

use crate::config::Config;
use crate::delivery::{EmailProvider, Providers, SimulatedProvider, SmsProvider};
use crate::queue::Queue;

/// The providers configuration asks for; `provider_details` weighs them per send. Test keys always use the
/// simulated one.
pub async fn from_config(config: &Config, queue: Arc<dyn Queue>) -> Providers {
    let simulated = Arc::new(SimulatedProvider::new(queue, config.queues.status.clone()));
    let mut sms: Vec<Arc<dyn SmsProvider>> = Vec::new();
    let mut email: Vec<Arc<dyn EmailProvider>> = Vec::new();
    if config.aws_sms_enabled {
        sms.push(Arc::new(
            aws_sms::AwsSmsProvider::from_env(
                config.aws_sms_endpoint_url.as_deref(),
                config.aws_sms_configuration_set.clone(),
                config.aws_sms_origination_identity.clone(),
            )
            .await,
        ));
    }
    if let Some(key) = &config.firetext_api_key {
        sms.push(Arc::new(firetext::FiretextProvider::new(
            config.firetext_url.clone(),
            key.clone(),
        )));
    }
    if config.ses_enabled {
        email.push(Arc::new(
            ses::SesProvider::from_env(
                config.ses_endpoint_url.as_deref(),
                config.ses_configuration_set.clone(),
            )
            .await,
        ));
    }
    if config.simulate_providers {
        sms.push(simulated.clone());
        email.push(simulated.clone());
    }
    Providers::new(sms, email, simulated)
}
