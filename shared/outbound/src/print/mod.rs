//! The print provider: a letter's PDF and address handed to the printer (DVLA's print API in AWS, a simulated
//! printer in `notify dev`). Plain values in and out; the use case (`notify_app::letters`) reads the letter
//! before and records the outcome after, with no connection open during the call.

pub mod dvla;
pub mod simulated;

use std::sync::Arc;

use async_trait::async_trait;
use notify_core::model::Postage;
use uuid::Uuid;

/// The printer the configuration asks for: DVLA's print API when `DVLA_API_URL` is set, else the simulated
/// printer, which despatches after `SIMULATED_PRINTER_DESPATCH_SECONDS`.
pub async fn from_config(config: &notify_config::Config) -> Arc<dyn PrintProvider> {
    match dvla::DvlaClient::from_config(&config.print).await {
        Some(client) => Arc::new(client),
        None => Arc::new(simulated::SimulatedPrinter::new(
            config.print.simulated_despatch_after,
        )),
    }
}

/// One letter's print job: each letter is its own job, its id the notification id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintJob {
    pub notification_id: Uuid,
    /// The letter's 16-character reference (upstream's `reference`, DVLA's `businessIdentifier`).
    pub reference: String,
    pub service_id: Uuid,
    pub organisation_id: Option<Uuid>,
    /// The address as the letter shows it: one entry per line, postcode or country last.
    pub address_lines: Vec<String>,
    pub postage: Postage,
    pub pdf: Vec<u8>,
    /// Where the printer reports despatch: our `POST /notifications/letter/status?token=…`, token included.
    pub callback_url: String,
}

/// The printer has the letter: a new job, or one it had already (DVLA's 409, as upstream: `sending`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintAccepted {
    New,
    AlreadyAccepted,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    /// The printer refused the job itself (DVLA's 400): sending it again cannot help.
    #[error("print job rejected: {0}")]
    Rejected(String),
    /// Worth another try later (429, 5xx, a timeout, authentication that failed after a token refresh).
    #[error("print provider unavailable: {0}")]
    Retry(String),
}

#[async_trait]
pub trait PrintProvider: Send + Sync {
    /// The name recorded as the notification's `sent_by` (`dvla`).
    fn name(&self) -> &'static str;
    async fn print(&self, job: &PrintJob) -> Result<PrintAccepted, PrintError>;
}

pub use simulated::SimulatedPrinter;
