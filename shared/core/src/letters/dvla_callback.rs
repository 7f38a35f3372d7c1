//! DVLA's print-job status callback (`POST /notifications/letter/status?token=…`): the token our callback URL
//! carries, and the body DVLA posts, read into what the status change needs.
//!
//! The token is the notification id with an HMAC-SHA256 over it, keyed from `SECRET_KEY` (signed with the first
//! key, checked against all of them, so a key rotation does not break the callbacks of letters already printed).
//! Upstream signs with itsdangerous; what matters is the same: only we can make a token for a notification id.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Upstream's message for a missing or forged token (403).
pub const INVALID_TOKEN_MESSAGE: &str = "A valid token must be provided in the query string";

/// Upstream's message when the token names another notification than the body's `jobId` (400).
pub const MISMATCHED_ID_MESSAGE: &str =
    "Notification ID in letter callback data does not match ID in token";

/// Signs and checks callback tokens with the keys of `SECRET_KEY`.
#[derive(Clone)]
pub struct CallbackSigner {
    /// Never empty; the first signs.
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for CallbackSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSigner(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl CallbackSigner {
    /// `secret_key` as `SECRET_KEY` holds it: one key or several, comma-separated. Each HMAC key is derived from
    /// its secret with a label of its own, so it is never the AES key the same secret makes for encryption.
    pub fn new(secret_key: &str) -> Self {
        let derive = |secret: &str| -> [u8; 32] {
            let mut digest = Sha256::new();
            digest.update(b"notify letter callback token\0");
            digest.update(secret.as_bytes());
            digest.finalize().into()
        };
        let mut keys: Vec<[u8; 32]> = secret_key
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(derive)
            .collect();
        if keys.is_empty() {
            keys.push(derive(secret_key));
        }
        CallbackSigner { keys }
    }

    fn mac(key: &[u8; 32], id: &Uuid) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac
    }

    /// The token for `notification_id`: URL-safe, with no padding, so it goes into a query string as it is.
    pub fn sign(&self, notification_id: Uuid) -> String {
        let tag = Self::mac(&self.keys[0], &notification_id)
            .finalize()
            .into_bytes();
        let mut raw = notification_id.as_bytes().to_vec();
        raw.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The notification id a token was made for, or `None` when none of the keys made it.
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if raw.len() != 16 + 32 {
            return None;
        }
        let (id, tag) = raw.split_at(16);
        let id = Uuid::from_slice(id).ok()?;
        self.keys
            .iter()
            .any(|key| Self::mac(key, &id).verify_slice(tag).is_ok())
            .then_some(id)
    }

    /// Where the printer reports a letter: `{api_host}/notifications/letter/status?token=…`.
    pub fn callback_url(&self, api_host: &str, notification_id: Uuid) -> String {
        format!(
            "{}/notifications/letter/status?token={}",
            api_host.trim_end_matches('/'),
            self.sign(notification_id)
        )
    }
}

/// DVLA's job statuses that reach us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    #[serde(rename = "DESPATCHED")]
    Despatched,
    #[serde(rename = "REJECTED")]
    Rejected,
}

/// What a letter's despatch cost is billed at (upstream's `LetterCostThreshold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostThreshold {
    Sorted,
    Unsorted,
}

impl CostThreshold {
    pub fn as_str(self) -> &'static str {
        match self {
            CostThreshold::Sorted => "sorted",
            CostThreshold::Unsorted => "unsorted",
        }
    }

    /// Upstream's rule: second-class mail DVLA sorted itself (`MM`, `MM ECONOMY`) is `sorted`; all else `unsorted`.
    pub fn of(mailing_product: &str, postage_class: &str) -> Self {
        if matches!(mailing_product, "MM" | "MM ECONOMY") && postage_class == "2ND" {
            CostThreshold::Sorted
        } else {
            CostThreshold::Unsorted
        }
    }
}

/// One `despatchProperties` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DespatchProperty {
    pub key: String,
    pub value: String,
}

/// The part of DVLA's `PrintJobStatus` event we read (and, for the simulated printer, write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackData {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub despatch_properties: Vec<DespatchProperty>,
    pub job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    pub job_status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_reference: Option<String>,
    pub transition_date: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackMetadata {
    pub correlation_id: String,
}

/// DVLA's callback body (a CloudEvents envelope).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DvlaCallback {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_content_type: Option<String>,
    pub data: CallbackData,
    pub metadata: CallbackMetadata,
}

/// What a callback changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LetterUpdate {
    pub notification_id: Uuid,
    pub status: JobStatus,
    /// DVLA's `totalSheets` (logged when it disagrees with our billable units).
    pub sheets: Option<i32>,
    /// Set for DESPATCHED only.
    pub cost_threshold: Option<CostThreshold>,
    /// The London date of `transitionDate`, as upstream records it.
    pub despatched_on: NaiveDate,
}

const MAILING_PRODUCTS: [&str; 8] = [
    "UNCODED",
    "MM UNSORTED",
    "UNSORTED",
    "MM",
    "INT EU",
    "INT ROW",
    "UNSORTEDE",
    "MM ECONOMY",
];
const POSTAGE_CLASSES: [&str; 3] = ["1ST", "2ND", "INTERNATIONAL"];

fn is_date_time(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok()
}

/// Checks a callback body as upstream's schema does, with its messages (`data jobId is a required property`), then
/// reads it. Every problem is reported, in the schema's order.
pub fn parse(body: &Value) -> Result<LetterUpdate, Vec<String>> {
    let mut problems = Vec::new();
    let Some(top) = body.as_object() else {
        return Err(vec![format!("{body} is not of type object")]);
    };
    for field in ["id", "time", "data", "metadata"] {
        if !top.contains_key(field) {
            problems.push(format!("{field} is a required property"));
        }
    }
    if let Some(time) = top.get("time")
        && !time.as_str().is_some_and(is_date_time)
    {
        problems.push(format!("time {} is not a date-time", plain(time)));
    }
    match top.get("metadata") {
        Some(Value::Object(m)) if !m.contains_key("correlationId") => {
            problems.push("metadata correlationId is a required property".into())
        }
        Some(Value::Object(_)) | None => {}
        Some(other) => problems.push(format!("metadata {} is not of type object", plain(other))),
    }
    match top.get("data") {
        Some(Value::Object(data)) => {
            for field in ["jobId", "jobStatus", "transitionDate"] {
                if !data.contains_key(field) {
                    problems.push(format!("data {field} is a required property"));
                }
            }
            if let Some(id) = data.get("jobId")
                && id.as_str().and_then(|s| Uuid::parse_str(s).ok()).is_none()
            {
                problems.push(format!("data {} is not a uuid", plain(id)));
            }
            let status = data.get("jobStatus").and_then(Value::as_str);
            if let Some(value) = data.get("jobStatus")
                && !matches!(status, Some("DESPATCHED" | "REJECTED"))
            {
                problems.push(format!(
                    "data {} is not one of [DESPATCHED, REJECTED]",
                    plain(value)
                ));
            }
            if let Some(date) = data.get("transitionDate")
                && !date.as_str().is_some_and(is_date_time)
            {
                problems.push(format!("data {} is not a date-time", plain(date)));
            }
            match data.get("despatchProperties") {
                None if status == Some("DESPATCHED") => {
                    problems.push("data despatchProperties is a required property".into())
                }
                None => {}
                Some(Value::Array(items)) => problems.extend(check_properties(items)),
                Some(other) => problems.push(format!("data {} is not of type array", plain(other))),
            }
        }
        Some(other) => problems.push(format!("data {} is not of type object", plain(other))),
        None => {}
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let callback: DvlaCallback =
        serde_json::from_value(body.clone()).map_err(|e| vec![e.to_string()])?;
    let data = callback.data;
    let notification_id = Uuid::parse_str(&data.job_id).map_err(|e| vec![e.to_string()])?;
    let transition = DateTime::parse_from_rfc3339(&data.transition_date)
        .map_err(|e| vec![e.to_string()])?
        .with_timezone(&Utc);
    let despatched_on = super::london_date(transition);
    let property = |key: &str| {
        data.despatch_properties
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    };
    Ok(match data.job_status {
        JobStatus::Rejected => LetterUpdate {
            notification_id,
            status: JobStatus::Rejected,
            sheets: None,
            cost_threshold: None,
            despatched_on,
        },
        JobStatus::Despatched => {
            let (Some(sheets), Some(product), Some(postage)) = (
                property("totalSheets"),
                property("mailingProduct"),
                property("postageClass"),
            ) else {
                return Err(vec![
                    "data despatchProperties must hold totalSheets, postageClass and mailingProduct"
                        .into(),
                ]);
            };
            LetterUpdate {
                notification_id,
                status: JobStatus::Despatched,
                sheets: sheets.trim().parse().ok(),
                cost_threshold: Some(CostThreshold::of(product, postage)),
                despatched_on,
            }
        }
    })
}

/// The `despatchProperties` rules: at least 3 distinct `{key, value}` objects; the known keys' values from
/// their lists.
fn check_properties(items: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    if items.len() < 3 {
        problems.push(format!(
            "data {} is too short",
            plain(&Value::Array(items.to_vec()))
        ));
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            problems.push(format!(
                "data {} has non-unique elements",
                plain(&Value::Array(items.to_vec()))
            ));
            break;
        }
    }
    for item in items {
        let (Some(key), Some(value)) = (
            item.get("key").and_then(Value::as_str),
            item.get("value").and_then(Value::as_str),
        ) else {
            problems.push(format!(
                "data {} is not valid under any of the given schemas",
                plain(item)
            ));
            continue;
        };
        let allowed: &[&str] = match key {
            "postageClass" => &POSTAGE_CLASSES,
            "mailingProduct" => &MAILING_PRODUCTS,
            _ => continue,
        };
        if !allowed.contains(&value) {
            problems.push(format!(
                "data {} is not valid under any of the given schemas",
                plain(item)
            ));
        }
    }
    problems
}

/// A value as upstream's messages show it (quotes removed).
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string().replace('"', ""),
    }
}

/// The DESPATCHED event DVLA would send for a letter, in its shape (upstream's research-mode fake): what the
/// simulated printer posts to a letter's callback URL.
pub fn despatched_event(
    notification_id: Uuid,
    sheets: u32,
    postage: crate::model::Postage,
    at: DateTime<Utc>,
) -> DvlaCallback {
    use crate::model::Postage;
    let (postage_class, mailing_product) = match postage {
        Postage::First => ("1ST", "UNCODED"),
        Postage::Second => ("2ND", "MM"),
        Postage::Economy => ("2ND", "UNSORTEDE"),
        Postage::Europe => ("INTERNATIONAL", "INT EU"),
        Postage::RestOfWorld => ("INTERNATIONAL", "INT ROW"),
    };
    let property = |key: &str, value: String| DespatchProperty {
        key: key.into(),
        value,
    };
    let time = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    DvlaCallback {
        id: Uuid::new_v4().to_string(),
        spec_version: Some("1".into()),
        event_type: Some(
            "uk.gov.dvla.osl.osldatadictionaryschemas.print.messages.v2.PrintJobStatus".into(),
        ),
        source: Some("notify:simulated-printer".into()),
        time: time.clone(),
        data_content_type: Some("application/json".into()),
        data: CallbackData {
            despatch_properties: vec![
                property("totalSheets", sheets.to_string()),
                property("postageClass", postage_class.into()),
                property("mailingProduct", mailing_product.into()),
                property(
                    "productionRunDate",
                    at.with_timezone(&chrono_tz::Europe::London)
                        .format("%Y-%m-%d %H:%M:%S%.3f")
                        .to_string(),
                ),
            ],
            job_id: notification_id.to_string(),
            job_type: Some("NOTIFY".into()),
            job_status: JobStatus::Despatched,
            template_reference: Some("NOTIFY".into()),
            transition_date: time,
        },
        metadata: CallbackMetadata {
            correlation_id: Uuid::new_v4().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Postage;
    use serde_json::json;

    #[test]
    fn tokens_name_their_notification_and_survive_a_key_rotation() {
        let id = Uuid::new_v4();
        let old = CallbackSigner::new("old");
        let token = old.sign(id);
        assert_eq!(old.verify(&token), Some(id));
        assert_eq!(CallbackSigner::new("new, old").verify(&token), Some(id));
        assert_eq!(CallbackSigner::new("other").verify(&token), None);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        // Another notification's id with this tag is refused.
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        raw[0] ^= 1;
        assert_eq!(old.verify(&URL_SAFE_NO_PAD.encode(raw)), None);
        for bad in ["", "abc", "!!!", &token[..token.len() - 2]] {
            assert_eq!(old.verify(bad), None, "{bad}");
        }
        assert_eq!(
            old.callback_url("https://api.test/", id),
            format!("https://api.test/notifications/letter/status?token={token}")
        );
    }

    #[test]
    fn a_despatch_is_read_with_its_london_date_and_cost_threshold() {
        let id = Uuid::new_v4();
        let at: DateTime<Utc> = "2026-06-01T23:30:00Z".parse().unwrap();
        let body = serde_json::to_value(despatched_event(id, 2, Postage::Second, at)).unwrap();
        let update = parse(&body).unwrap();
        assert_eq!(update.notification_id, id);
        assert_eq!(update.status, JobStatus::Despatched);
        assert_eq!(update.sheets, Some(2));
        assert_eq!(update.cost_threshold, Some(CostThreshold::Sorted));
        assert_eq!(update.despatched_on.to_string(), "2026-06-02");
        let first = serde_json::to_value(despatched_event(id, 1, Postage::First, at)).unwrap();
        assert_eq!(
            parse(&first).unwrap().cost_threshold,
            Some(CostThreshold::Unsorted)
        );
        assert_eq!(
            CostThreshold::of("MM ECONOMY", "2ND"),
            CostThreshold::Sorted
        );
        assert_eq!(
            CostThreshold::of("UNSORTEDE", "2ND"),
            CostThreshold::Unsorted
        );
    }

    #[test]
    fn a_rejection_needs_no_despatch_properties() {
        let id = Uuid::new_v4();
        let body = json!({"id": "1", "time": "2026-12-01T10:00:00Z", "metadata": {"correlationId": "c"},
            "data": {"jobId": id, "jobStatus": "REJECTED", "transitionDate": "2026-12-01T10:00:00Z"}});
        let update = parse(&body).unwrap();
        assert_eq!(update.status, JobStatus::Rejected);
        assert_eq!(update.cost_threshold, None);
    }

    #[test]
    fn bad_bodies_get_upstreams_schema_messages() {
        assert_eq!(
            parse(&json!({"data": {"jobStatus": "DESPATCHED"}})).unwrap_err(),
            vec![
                "id is a required property",
                "time is a required property",
                "metadata is a required property",
                "data jobId is a required property",
                "data transitionDate is a required property",
                "data despatchProperties is a required property",
            ]
        );
        let body = json!({"id": "1", "time": "yesterday", "metadata": {"correlationId": "c"},
            "data": {"jobId": "x", "jobStatus": "LOST", "transitionDate": "2026-12-01T10:00:00Z",
                "despatchProperties": [{"key": "postageClass", "value": "3RD"}]}});
        assert_eq!(
            parse(&body).unwrap_err(),
            vec![
                "time yesterday is not a date-time",
                "data x is not a uuid",
                "data LOST is not one of [DESPATCHED, REJECTED]",
                "data [{key:postageClass,value:3RD}] is too short",
                "data {key:postageClass,value:3RD} is not valid under any of the given schemas",
            ]
        );
    }
}
