//! CSV jobs (bulk sending): where a job's file lives and what its upload says about it.

use std::collections::BTreeMap;

use uuid::Uuid;

/// Upstream's RecipientCSV limit, and ours for the admin API, the CLI and `POST /v2/notifications/bulk`.
pub const MAX_ROWS: usize = 100_000;

// issue 14: process
/// How long a job may sit `in progress` without a heartbeat before another worker may take it over: longer than
/// one batch ever takes (a batch commits with a heartbeat), shorter than check-job-status's 30 minutes.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Rows a worker persists in one transaction: big enough that a 100,000-row job is ~40 statements, small enough
/// that one batch's transaction stays short and its deliveries are queued soon after.
pub const ROWS_PER_BATCH: usize = 2_500;

/// Rows of a job not yet persisted: what the daily-limit check counts on a (resumed) run.
pub fn rows_remaining(notification_count: i32, rows_processed: i32) -> i64 {
    (i64::from(notification_count) - i64::from(rows_processed)).max(0)
}

/// Upstream's daily-limit rule for a job (`check_service_over_daily_message_limit` with the job's size): today's
/// count plus every row still to come must fit.
pub fn over_daily_limit(count_today: i64, rows_remaining: i64, limit: i64) -> bool {
    count_today + rows_remaining > limit
}
// end issue 14: process

/// Where the CSV of upload `upload_id` is stored, upstream's S3 key (`S3_BUCKET_CSV_UPLOAD`, here the file store's
/// `CSV_UPLOAD_BUCKET`). The job created from it has the upload's id.
pub fn csv_upload_key(service_id: Uuid, upload_id: Uuid) -> String {
    format!("service-{service_id}-notify/{upload_id}.csv")
}

/// What the admin app writes as the upload's S3 metadata, and `POST /service/{id}/job` reads back (upstream's
/// `get_job_metadata_from_s3`). Values are strings on the wire: `valid` is `"True"` when the file was checked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JobMetadata {
    pub template_id: Option<Uuid>,
    pub notification_count: Option<u32>,
    pub valid: bool,
    pub original_file_name: Option<String>,
    pub sender_id: Option<Uuid>,
}

impl JobMetadata {
    /// As S3 user metadata (`x-amz-meta-*`): upstream's names and spellings.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        if let Some(id) = self.template_id {
            map.insert("template_id".into(), id.to_string());
        }
        if let Some(count) = self.notification_count {
            map.insert("notification_count".into(), count.to_string());
        }
        map.insert(
            "valid".into(),
            if self.valid { "True" } else { "False" }.into(),
        );
        if let Some(name) = &self.original_file_name {
            map.insert("original_file_name".into(), name.clone());
        }
        if let Some(id) = self.sender_id {
            map.insert("sender_id".into(), id.to_string());
        }
        map
    }

    /// Read leniently, as upstream does: a value that does not parse is as good as absent (and `valid` is only
    /// true when it says `True`).
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        let get = |name: &str| map.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        JobMetadata {
            template_id: get("template_id").and_then(|v| v.parse().ok()),
            notification_count: get("notification_count").and_then(|v| v.parse().ok()),
            valid: get("valid") == Some("True"),
            original_file_name: get("original_file_name").map(str::to_string),
            sender_id: get("sender_id").and_then(|v| v.parse().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_s3_metadata() {
        let metadata = JobMetadata {
            template_id: Some(Uuid::nil()),
            notification_count: Some(3),
            valid: true,
            original_file_name: Some("people.csv".into()),
            sender_id: None,
        };
        let map = metadata.to_map();
        assert_eq!(map["valid"], "True");
        assert_eq!(JobMetadata::from_map(&map), metadata);
        let mut invalid = map.clone();
        invalid.insert("valid".into(), "true".into());
        assert!(!JobMetadata::from_map(&invalid).valid);
    }

    #[test]
    fn a_job_over_the_daily_limit_is_refused_whole() {
        assert_eq!(rows_remaining(10, 4), 6);
        assert_eq!(rows_remaining(10, 12), 0);
        assert!(!over_daily_limit(0, 100, 100));
        assert!(over_daily_limit(1, 100, 100));
    }

    #[test]
    fn upload_key_is_upstreams() {
        assert_eq!(
            csv_upload_key(Uuid::nil(), Uuid::max()),
            "service-00000000-0000-0000-0000-000000000000-notify/ffffffff-ffff-ffff-ffff-ffffffffffff.csv"
        );
    }
}
