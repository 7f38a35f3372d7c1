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

/// The event's `source` and `detail-type`, as the EventBridge rule matches them.
pub const EVENT_SOURCE: &str = "aws.guardduty";
pub const EVENT_DETAIL_TYPE: &str = "GuardDuty Malware Protection Object Scan Result";

/// The object tag GuardDuty writes its verdict to, when the plan's tagging action is enabled.
pub const SCAN_STATUS_TAG: &str = "GuardDutyMalwareScanStatus";

impl ScanStatus {
    /// The status as GuardDuty spells it (the tag's value, the event's `scanResultStatus`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::NoThreatsFound => "NO_THREATS_FOUND",
            ScanStatus::ThreatsFound => "THREATS_FOUND",
            ScanStatus::Unsupported => "UNSUPPORTED",
            ScanStatus::AccessDenied => "ACCESS_DENIED",
            ScanStatus::Failed => "FAILED",
        }
    }

    /// A tag value read back; `None` for one GuardDuty does not document.
    pub fn from_tag(value: &str) -> Option<ScanStatus> {
        [
            ScanStatus::NoThreatsFound,
            ScanStatus::ThreatsFound,
            ScanStatus::Unsupported,
            ScanStatus::AccessDenied,
            ScanStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

// Only the fields Notify reads; serde skips the rest (`eTag`, `versionId`, `s3Throttled`, `scanStatus`, ...), so
// a field AWS adds later does not make the event unreadable.
#[derive(Deserialize)]
struct Event {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    s3_object_details: S3ObjectDetails,
    scan_result_details: ScanResultDetails,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3ObjectDetails {
    bucket_name: String,
    object_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanResultDetails {
    scan_result_status: ScanStatus,
    /// `null` when nothing was found.
    #[serde(default)]
    threats: Option<Vec<Threat>>,
}

#[derive(Deserialize)]
struct Threat {
    name: String,
}

/// The event, or `None` when the body is not one (a queue message, another service's event, a status GuardDuty
/// does not document).
pub fn parse(body: &str) -> Option<ObjectScanResult> {
    let event: Event = serde_json::from_str(body).ok()?;
    if event.source != EVENT_SOURCE || event.detail_type != EVENT_DETAIL_TYPE {
        return None;
    }
    let Detail {
        s3_object_details: object,
        scan_result_details: result,
    } = event.detail;
    Some(ObjectScanResult {
        bucket: object.bucket_name,
        key: object.object_key,
        status: result.scan_result_status,
        threats: result
            .threats
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.name)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS's example "Object Scan Result" event (GuardDuty user guide, "Monitoring S3 object scans with Amazon
    // EventBridge"), one per result status; only scanStatus, scanResultStatus and threats differ.
    const NO_THREATS_FOUND: &str =
        include_str!("../../tests/fixtures/guardduty/no-threats-found.json");
    const THREATS_FOUND: &str = include_str!("../../tests/fixtures/guardduty/threats-found.json");
    const UNSUPPORTED: &str = include_str!("../../tests/fixtures/guardduty/unsupported.json");
    const ACCESS_DENIED: &str = include_str!("../../tests/fixtures/guardduty/access-denied.json");
    const FAILED: &str = include_str!("../../tests/fixtures/guardduty/failed.json");

    fn result(status: ScanStatus, threats: &[&str]) -> ObjectScanResult {
        ObjectScanResult {
            bucket: "amzn-s3-demo-bucket".into(),
            key: "APKAEIBAERJR2EXAMPLE".into(),
            status,
            threats: threats.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn each_documented_status_is_read_with_its_object_and_threats() {
        assert_eq!(
            parse(NO_THREATS_FOUND),
            Some(result(ScanStatus::NoThreatsFound, &[]))
        );
        assert_eq!(
            parse(THREATS_FOUND),
            Some(result(
                ScanStatus::ThreatsFound,
                &["EICAR-Test-File (not a virus)"]
            ))
        );
        assert_eq!(
            parse(UNSUPPORTED),
            Some(result(ScanStatus::Unsupported, &[]))
        );
        assert_eq!(
            parse(ACCESS_DENIED),
            Some(result(ScanStatus::AccessDenied, &[]))
        );
        assert_eq!(parse(FAILED), Some(result(ScanStatus::Failed, &[])));
    }

    #[test]
    fn a_missing_threats_field_and_extra_fields_are_tolerated() {
        let mut event: serde_json::Value = serde_json::from_str(NO_THREATS_FOUND).unwrap();
        let details = event["detail"]["scanResultDetails"]
            .as_object_mut()
            .unwrap();
        details.remove("threats");
        details.insert("statusReasons".into(), serde_json::json!(["a reason"]));
        event["detail"]["s3ObjectDetails"]["somethingNew"] = serde_json::json!({"x": 1});
        assert_eq!(
            parse(&event.to_string()),
            Some(result(ScanStatus::NoThreatsFound, &[]))
        );
    }

    #[test]
    fn what_is_not_a_scan_result_is_none() {
        let other_type = THREATS_FOUND.replace(
            EVENT_DETAIL_TYPE,
            "GuardDuty Malware Protection Post Scan Action Failed",
        );
        let other_source = THREATS_FOUND.replace("\"aws.guardduty\"", "\"aws.s3\"");
        let unknown_status = THREATS_FOUND.replace("\"THREATS_FOUND\"", "\"MAYBE\"");
        let queue_message = r#"{"type":"scan_letter","v":1,"notification_id":"0d5f2cf8-0a53-4a8b-8f5e-6f6c0b0b0b0b"}"#;
        for body in [
            other_type.as_str(),
            other_source.as_str(),
            unknown_status.as_str(),
            queue_message,
            "",
            "not json",
            "{}",
            "[]",
        ] {
            assert_eq!(parse(body), None, "{body}");
        }
    }

    #[test]
    fn tag_values_are_the_statuses_spelled_as_guardduty_does() {
        for status in [
            ScanStatus::NoThreatsFound,
            ScanStatus::ThreatsFound,
            ScanStatus::Unsupported,
            ScanStatus::AccessDenied,
            ScanStatus::Failed,
        ] {
            assert_eq!(ScanStatus::from_tag(status.as_str()), Some(status));
            // The serde spelling (the queue message's `result`) is the same one.
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(ScanStatus::from_tag("no_threats_found"), None);
    }
}
