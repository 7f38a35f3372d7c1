//! The printer of `notify dev`: takes every job and, a few seconds later, reports it despatched to the job's
//! callback URL in DVLA's shape, as DVLA does after a print run. Nothing is printed.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::{PrintAccepted, PrintError, PrintJob, PrintProvider};
use notify_core::letters::dvla_callback::despatched_event;

#[derive(Clone, Debug)]
pub struct SimulatedPrinter {
    despatch_after: Duration,
    client: reqwest::Client,
}

impl SimulatedPrinter {
    pub fn new(despatch_after: Duration) -> Self {
        // reqwest is built without a default TLS provider; the process may not have installed one yet.
        let _ = rustls::crypto::ring::default_provider().install_default();
        SimulatedPrinter {
            despatch_after,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

/// Pages in a PDF, counted by its page objects: the sheets DVLA would report.
fn page_count(pdf: &[u8]) -> u32 {
    let needle = b"/Type /Page";
    let compact = b"/Type/Page";
    let count = |pattern: &[u8]| {
        pdf.windows(pattern.len() + 1)
            .filter(|w| w.starts_with(pattern) && w[pattern.len()] != b's')
            .count() as u32
    };
    (count(needle) + count(compact)).max(1)
}

#[async_trait]
impl PrintProvider for SimulatedPrinter {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn print(&self, job: &PrintJob) -> Result<PrintAccepted, PrintError> {
        let sheets = page_count(&job.pdf).div_ceil(2);
        let (client, url, after) = (
            self.client.clone(),
            job.callback_url.clone(),
            self.despatch_after,
        );
        let (id, postage) = (job.notification_id, job.postage);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let event = despatched_event(id, sheets, postage, Utc::now());
            match client.post(&url).json(&event).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(notification_id = %id, "simulated printer: letter despatched");
                }
                Ok(r) => {
                    tracing::warn!(notification_id = %id, status = r.status().as_u16(), "simulated printer: despatch callback refused")
                }
                Err(e) => {
                    tracing::warn!(notification_id = %id, error = %e, "simulated printer: despatch callback failed")
                }
            }
        });
        Ok(PrintAccepted::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_counted_by_their_page_objects() {
        let pdf = b"%PDF-1.7 1 0 obj << /Type /Pages /Count 3 >> 2 0 obj << /Type /Page >> \
            3 0 obj << /Type /Page >> 4 0 obj <</Type/Page>>";
        assert_eq!(page_count(pdf), 3);
        assert_eq!(page_count(b"%PDF-1.7"), 1);
    }
}
