//! Amazon GuardDuty Malware Protection for S3: its verdict, as the tag it puts on the scanned object.

use std::sync::Arc;

use super::Scanner;

/// The GuardDuty scanner on `LETTERS_SCAN_BUCKET`; `None` when no bucket is configured.
pub async fn from_config(config: &notify_config::Config) -> Option<Arc<dyn Scanner>> {
    // Interface only: the tag reader lands with the GuardDuty work.
    let _ = config;
    None
}
