//! PLACEHOLDER for the PIPELINE helper's simulated printer, which replaces this file at the merge: it only lets
//! `print::from_config` compile on this branch. It accepts every job and despatches nothing.

use std::time::Duration;

use async_trait::async_trait;

use super::{PrintAccepted, PrintError, PrintJob, PrintProvider};

pub struct SimulatedPrinter;

impl SimulatedPrinter {
    pub fn new(despatch_after: Duration) -> Self {
        let _ = despatch_after;
        SimulatedPrinter
    }
}

#[async_trait]
impl PrintProvider for SimulatedPrinter {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn print(&self, _job: &PrintJob) -> Result<PrintAccepted, PrintError> {
        Ok(PrintAccepted::New)
    }
}
