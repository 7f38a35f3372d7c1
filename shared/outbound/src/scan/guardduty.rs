//! Amazon GuardDuty Malware Protection for S3: its verdict, as the tag it puts on the scanned object.
//!
//! GuardDuty scans every object written under `precompiled/` in `LETTERS_SCAN_BUCKET` by itself; Notify never
//! sends it the bytes. Its "Object Scan Result" event reaches the letters queue as `Message::ScanResult`; this
//! scanner is for when Notify asks first (the upload's own scan, the pending-virus-check sweep): the object's
//! `GuardDutyMalwareScanStatus` tag says whether GuardDuty has finished, and what it found.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use notify_core::letters::guardduty::{SCAN_STATUS_TAG, ScanStatus};

use super::{ScanError, ScanFile, Scanner, Verdict};

/// GuardDuty's verdicts on the objects of one bucket, read from their tags.
#[derive(Clone, Debug)]
pub struct GuardDutyScanner {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl GuardDutyScanner {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        GuardDutyScanner {
            client,
            bucket: bucket.into(),
        }
    }

    /// The verdict a `GuardDutyMalwareScanStatus` tag value stands for.
    pub fn verdict(status: ScanStatus) -> Result<Verdict, ScanError> {
        match status {
            ScanStatus::NoThreatsFound => Ok(Verdict::Clean),
            // The tag carries no threat names (the event does); the status is what the letter records.
            ScanStatus::ThreatsFound => Ok(Verdict::Infected {
                signature: format!("GuardDuty: {}", status.as_str()),
            }),
            ScanStatus::Unsupported | ScanStatus::AccessDenied | ScanStatus::Failed => {
                Err(ScanError::Failed(status.as_str().to_string()))
            }
        }
    }
}

#[async_trait]
impl Scanner for GuardDutyScanner {
    fn name(&self) -> &'static str {
        "guardduty"
    }

    async fn scan(&self, file: ScanFile<'_>) -> Result<Verdict, ScanError> {
        let tagging = self
            .client
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(file.key)
            .send()
            .await
            .map_err(|e| {
                ScanError::Unavailable(format!(
                    "GetObjectTagging s3://{}/{}: {}",
                    self.bucket,
                    file.key,
                    DisplayErrorContext(e)
                ))
            })?;
        let Some(tag) = tagging
            .tag_set()
            .iter()
            .find(|t| t.key() == SCAN_STATUS_TAG)
        else {
            // GuardDuty tags the object when its scan ends; until then there is nothing to read.
            return Ok(Verdict::Pending);
        };
        match ScanStatus::from_tag(tag.value()) {
            Some(status) => Self::verdict(status),
            None => Err(ScanError::Failed(format!(
                "{SCAN_STATUS_TAG} has an undocumented value {:?}",
                tag.value()
            ))),
        }
    }
}

/// The GuardDuty scanner on `LETTERS_SCAN_BUCKET`; `None` when no bucket is configured.
pub async fn from_config(config: &notify_config::Config) -> Option<Arc<dyn Scanner>> {
    let Some(bucket) = config.files.letters_scan_bucket.clone() else {
        tracing::warn!(
            "VIRUS_SCANNER=guardduty but LETTERS_SCAN_BUCKET is unset: GuardDuty's verdicts cannot be read, so \
             precompiled letters wait in pending-virus-check"
        );
        return None;
    };
    // The file store's own client: the same endpoint (moto in tests) and addressing.
    let s3 = notify_files::S3Store::client(config.files.s3_endpoint_url.as_deref()).await;
    Some(Arc::new(GuardDutyScanner::new(s3, bucket)))
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{Tag, Tagging};

    use super::*;

    /// moto, started by the test command.
    const MOTO_URL: &str = "http://127.0.0.1:5000";

    fn moto_client() -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&notify_config::aws::emulator_config(MOTO_URL))
                .force_path_style(true)
                .build(),
        )
    }

    async fn bucket(client: &aws_sdk_s3::Client) -> String {
        let name = format!("notify-scan-{}", uuid::Uuid::new_v4().simple());
        client
            .create_bucket()
            .bucket(&name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                    .build(),
            )
            .send()
            .await
            .expect("moto must be running (the test command starts it)");
        name
    }

    /// An upload as the API writes it, with the tags GuardDuty (or nobody) has put on it.
    async fn upload(client: &aws_sdk_s3::Client, bucket: &str, tags: &[(&str, &str)]) -> String {
        let key = notify_core::letters::precompiled_upload_key(uuid::Uuid::new_v4());
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from_static(b"%PDF-1.7"))
            .send()
            .await
            .unwrap();
        if !tags.is_empty() {
            let mut tagging = Tagging::builder();
            for (k, v) in tags {
                tagging = tagging.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
            }
            client
                .put_object_tagging()
                .bucket(bucket)
                .key(&key)
                .tagging(tagging.build().unwrap())
                .send()
                .await
                .unwrap();
        }
        key
    }

    async fn scan(scanner: &GuardDutyScanner, key: &str) -> Result<Verdict, ScanError> {
        scanner.scan(ScanFile { key, bytes: &[] }).await
    }

    #[tokio::test]
    async fn the_tag_gives_the_verdict_and_no_tag_is_pending() {
        let client = moto_client();
        let bucket = bucket(&client).await;
        let scanner = GuardDutyScanner::new(client.clone(), &bucket);
        assert_eq!(scanner.name(), "guardduty");

        let untagged = upload(&client, &bucket, &[]).await;
        assert_eq!(scan(&scanner, &untagged).await, Ok(Verdict::Pending));
        // Another tag of the service's own is not a verdict.
        let other = upload(&client, &bucket, &[("service", "notify")]).await;
        assert_eq!(scan(&scanner, &other).await, Ok(Verdict::Pending));

        let clean = upload(
            &client,
            &bucket,
            &[("service", "notify"), (SCAN_STATUS_TAG, "NO_THREATS_FOUND")],
        )
        .await;
        assert_eq!(scan(&scanner, &clean).await, Ok(Verdict::Clean));

        let infected = upload(&client, &bucket, &[(SCAN_STATUS_TAG, "THREATS_FOUND")]).await;
        assert_eq!(
            scan(&scanner, &infected).await,
            Ok(Verdict::Infected {
                signature: "GuardDuty: THREATS_FOUND".into()
            })
        );

        for status in ["UNSUPPORTED", "ACCESS_DENIED", "FAILED"] {
            let key = upload(&client, &bucket, &[(SCAN_STATUS_TAG, status)]).await;
            assert_eq!(
                scan(&scanner, &key).await,
                Err(ScanError::Failed(status.into())),
                "{status}"
            );
        }
        let odd = upload(&client, &bucket, &[(SCAN_STATUS_TAG, "MAYBE")]).await;
        assert!(matches!(
            scan(&scanner, &odd).await,
            Err(ScanError::Failed(m)) if m.contains("MAYBE")
        ));
    }

    #[tokio::test]
    async fn a_missing_object_or_bucket_is_unavailable() {
        let client = moto_client();
        let bucket = bucket(&client).await;
        let scanner = GuardDutyScanner::new(client.clone(), &bucket);
        let missing = notify_core::letters::precompiled_upload_key(uuid::Uuid::new_v4());
        assert!(matches!(
            scan(&scanner, &missing).await,
            Err(ScanError::Unavailable(_))
        ));

        let nowhere = GuardDutyScanner::new(client, "no-such-bucket-for-notify");
        assert!(matches!(
            scan(&nowhere, &missing).await,
            Err(ScanError::Unavailable(m)) if m.contains("no-such-bucket-for-notify")
        ));
    }

    #[tokio::test]
    async fn from_config_needs_the_scan_bucket() {
        let mut config = notify_config::Config::for_development("postgres://unused");
        config.files.letters_scan_bucket = None;
        assert!(from_config(&config).await.is_none());
        config.files.letters_scan_bucket = Some("notify-letters-scan".into());
        config.files.s3_endpoint_url = Some(MOTO_URL.into());
        let scanner = from_config(&config)
            .await
            .expect("a bucket gives a scanner");
        assert_eq!(scanner.name(), "guardduty");
    }
}
