//! Amazon GuardDuty Malware Protection for S3: its "GuardDuty Malware Protection Object Scan Result" event, as
//! EventBridge delivers it (through the letters queue), read into the object it names and its verdict.

use serde::{Deserialize, Serialize};

/// `detail.scanResultDetails.scanResultStatus`, and the object tag `GuardDutyMalwareScanStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanStatus {
    NoThreatsFound,
    ThreatsFound,
    Unsupported,
    AccessDenied,
    Failed,
}

/// One scan result: the bucket and key scanned, the verdict and the threats' names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectScanResult {
    pub bucket: String,
    pub key: String,
    pub status: ScanStatus,
    pub threats: Vec<String>,
}

/// The event, or `None` when the body is not one.
pub fn parse(body: &str) -> Option<ObjectScanResult> {
    // Interface only: the reading of the documented event lands with the GuardDuty work.
    let _ = body;
    None
}
