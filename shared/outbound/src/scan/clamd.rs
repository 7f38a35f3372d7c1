//! clamd over its socket (INSTREAM).

use std::sync::Arc;

use super::Scanner;

/// clamd at `CLAMD_ADDRESS` (else Debian's socket, then 127.0.0.1:3310) when it answers a PING; `None` (and a
/// clear warning) when none does.
pub async fn from_config(config: &notify_config::ScanConfig) -> Option<Arc<dyn Scanner>> {
    // Interface only: the clamd client lands with the clamd work.
    let _ = config;
    None
}
