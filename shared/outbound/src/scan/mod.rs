//! Virus scanning of uploaded files (precompiled letters): ClamAV's clamd over its socket in `notify dev` and
//! tests, Amazon GuardDuty Malware Protection for S3 in AWS. Plain values in and out: the use case
//! (`notify_app::precompiled`) reads the letter before and records the verdict after, with no connection open.

pub mod clamd;
pub mod guardduty;

use std::sync::Arc;

use async_trait::async_trait;

/// The file to scan: its key in the file store (GuardDuty scans the stored object) and its bytes (clamd is
/// streamed them).
#[derive(Clone, Copy, Debug)]
pub struct ScanFile<'a> {
    pub key: &'a str,
    pub bytes: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The scanner's name for what it found (clamd's signature, GuardDuty's threat names).
    Infected {
        signature: String,
    },
    /// The scanner has not finished (GuardDuty tags the object when it has): ask again later.
    Pending,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The scanner did not answer (clamd down, S3 unreachable): worth another try.
    #[error("scanner unavailable: {0}")]
    Unavailable(String),
    /// The scanner answered that it could not scan this file (GuardDuty's UNSUPPORTED, ACCESS_DENIED, FAILED;
    /// clamd's ERROR): retried, then the letter is a technical failure.
    #[error("scan failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Scanner: Send + Sync {
    /// The scanner's name, recorded with the verdict (`clamd`, `guardduty`).
    fn name(&self) -> &'static str;
    /// What start-up output shows: the name and where it scans (`clamd at /run/clamav/clamd.ctl`).
    fn describe(&self) -> String {
        self.name().to_string()
    }
    async fn scan(&self, file: ScanFile<'_>) -> Result<Verdict, ScanError>;
}

/// The scanner the configuration asks for (`VIRUS_SCANNER`): GuardDuty's verdicts read from the object's tags,
/// or clamd at `CLAMD_ADDRESS` (else Debian's socket, then 127.0.0.1:3310) when it answers. `None` when no
/// scanner answers: precompiled letters then wait in `pending-virus-check`.
pub async fn from_config(config: &notify_config::Config) -> Option<Arc<dyn Scanner>> {
    match config.scan.scanner {
        notify_config::ScannerKind::GuardDuty => guardduty::from_config(config).await,
        notify_config::ScannerKind::Clamd => clamd::from_config(&config.scan).await,
    }
}
