//! The S3 store: rendered letters in one bucket, letter logos in another, because the two are kept for different
//! times (a bucket's lifecycle rule follows letter retention; a logo stays while a service uses it). Precompiled
//! letters as uploaded go to a third, the one GuardDuty Malware Protection scans: only what a service sent is
//! scanned (and paid for), never Notify's own renders.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::{FileError, FileStore, check_key};

/// Keys under this prefix are letter logos (`letter_branding.filename`); every other key is a letter PDF.
pub const LETTER_LOGOS_PREFIX: &str = "letter-logos/";

/// Keys under this prefix are email logos (`email_branding.logo`): kept with the letter logos, for as long as a
/// branding shows them.
pub const EMAIL_LOGOS_PREFIX: &str = "email-logos/";

/// Keys under this prefix are CSV jobs' uploads (`notify_core::jobs::csv_upload_key`: `service-{id}-notify/…`).
pub const CSV_UPLOAD_PREFIX: &str = "service-";

/// Keys under this prefix are files sent by email, sealed (`notify_app::documents::file_key`).
pub const DOCUMENTS_PREFIX: &str = "documents/";

/// Keys under this prefix are precompiled letters as uploaded (`notify_core::letters::precompiled_upload_key`).
pub const PRECOMPILED_PREFIX: &str = "precompiled/";

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    letters_pdf_bucket: String,
    letter_logos_bucket: String,
    letters_scan_bucket: Option<String>,
    csv_upload_bucket: Option<String>,
    documents_bucket: Option<String>,
}

impl S3Store {
    pub fn new(
        client: aws_sdk_s3::Client,
        letters_pdf_bucket: impl Into<String>,
        letter_logos_bucket: impl Into<String>,
    ) -> Self {
        S3Store {
            client,
            letters_pdf_bucket: letters_pdf_bucket.into(),
            letter_logos_bucket: letter_logos_bucket.into(),
            letters_scan_bucket: None,
            csv_upload_bucket: None,
            documents_bucket: None,
        }
    }

    /// Precompiled uploads (`precompiled/…`) in `bucket` rather than the letters PDF bucket.
    pub fn with_scan_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.letters_scan_bucket = Some(bucket.into());
        self
    }

    /// CSV uploads (`service-…`) in `bucket` rather than the letters PDF bucket, whose retention is letters'.
    pub fn with_csv_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.csv_upload_bucket = Some(bucket.into());
        self
    }

    /// Files sent by email (`documents/…`) in `bucket`: they are kept up to 78 weeks, past the letters PDF bucket's
    /// retention rule.
    pub fn with_documents_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.documents_bucket = Some(bucket.into());
        self
    }

    /// An S3 client from the environment's credentials and region, on the shared rustls client; `endpoint` is
    /// moto's in tests and `notify dev`.
    pub async fn client(endpoint: Option<&str>) -> aws_sdk_s3::Client {
        let sdk = notify_config::aws::sdk_config(endpoint).await;
        aws_sdk_s3::Client::from_conf(Self::client_config(&sdk, endpoint.is_some()))
    }

    /// `sdk` made into an S3 configuration; an overridden endpoint (moto) is addressed by path, since it has no
    /// per-bucket host names.
    pub fn client_config(
        sdk: &aws_config::SdkConfig,
        endpoint_overridden: bool,
    ) -> aws_sdk_s3::Config {
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(endpoint_overridden)
            .build()
    }

    /// The bucket `key` lives in.
    pub fn bucket_for(&self, key: &str) -> &str {
        if key.starts_with(LETTER_LOGOS_PREFIX) || key.starts_with(EMAIL_LOGOS_PREFIX) {
            &self.letter_logos_bucket
        } else if let Some(scan) = self
            .letters_scan_bucket
            .as_deref()
            .filter(|_| key.starts_with(PRECOMPILED_PREFIX))
        {
            scan
        } else if let Some(csv) = self
            .csv_upload_bucket
            .as_deref()
            .filter(|_| key.starts_with(CSV_UPLOAD_PREFIX))
        {
            csv
        } else if let Some(documents) = self
            .documents_bucket
            .as_deref()
            .filter(|_| key.starts_with(DOCUMENTS_PREFIX))
        {
            documents
        } else {
            &self.letters_pdf_bucket
        }
    }
}

fn unavailable<E>(e: E) -> FileError
where
    E: std::error::Error + 'static,
{
    FileError::Unavailable(DisplayErrorContext(e).to_string())
}

#[async_trait]
impl FileStore for S3Store {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), FileError> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(self.bucket_for(key))
            .key(key)
            .content_type(content_type)
            // Asked for on every object, not left to the bucket's default: a letter is personal data whichever
            // bucket it lands in.
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FileError> {
        check_key(key)?;
        let object = match self
            .client
            .get_object()
            .bucket(self.bucket_for(key))
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(e)),
        };
        let bytes = object.body.collect().await.map_err(unavailable)?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn delete(&self, key: &str) -> Result<(), FileError> {
        check_key(key)?;
        // S3 answers a delete of a missing key with success, as the trait wants.
        self.client
            .delete_object()
            .bucket(self.bucket_for(key))
            .key(key)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn put_with_metadata(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), FileError> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(self.bucket_for(key))
            .key(key)
            .content_type(content_type)
            .set_metadata(Some(metadata.clone().into_iter().collect()))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn metadata(&self, key: &str) -> Result<Option<BTreeMap<String, String>>, FileError> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(self.bucket_for(key))
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(
                head.metadata.unwrap_or_default().into_iter().collect(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moto, started by the test command (at the address `tests/api` defaults to; only notify-config reads the
    /// environment).
    const MOTO_URL: &str = "http://127.0.0.1:5000";

    fn moto_client() -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&notify_config::aws::emulator_config(MOTO_URL))
                .force_path_style(true)
                .build(),
        )
    }

    /// A bucket of this test's own.
    async fn bucket(client: &aws_sdk_s3::Client, what: &str) -> String {
        let name = format!("notify-{what}-{}", uuid::Uuid::new_v4().simple());
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

    async fn keys_in(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
        client
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    #[tokio::test]
    async fn s3_round_trip_encrypted_and_a_missing_key_is_none() {
        let client = moto_client();
        let (pdfs, logos) = (bucket(&client, "pdf").await, bucket(&client, "logos").await);
        let store = S3Store::new(client.clone(), &pdfs, &logos);
        let key = "2026-12-01/NOTIFY.ABCDEFGHIJKLMNOP.D.2.C.20261201120000.PDF";

        assert_eq!(store.get(key).await.unwrap(), None);
        store
            .put(key, b"%PDF-1.7 one".to_vec(), "application/pdf")
            .await
            .unwrap();
        assert_eq!(
            store.get(key).await.unwrap().as_deref(),
            Some(&b"%PDF-1.7 one"[..])
        );
        // Overwritten in place.
        store
            .put(key, b"%PDF-1.7 two".to_vec(), "application/pdf")
            .await
            .unwrap();
        assert_eq!(
            store.get(key).await.unwrap().as_deref(),
            Some(&b"%PDF-1.7 two"[..])
        );

        let head = client
            .head_object()
            .bucket(&pdfs)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some("application/pdf"));
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );

        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), None);
        assert!(keys_in(&client, &pdfs).await.is_empty());

        for bad in ["", "../x", "/etc/passwd"] {
            assert!(
                matches!(store.get(bad).await, Err(FileError::InvalidKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn files_sent_by_email_go_to_the_documents_bucket() {
        let client = moto_client();
        let store = S3Store::new(client, "pdfs", "logos");
        let key =
            "documents/6f4c2bd6-4bde-4f5b-9a7e-4c8f0d1f1a2b/0b0d7c62-1a59-4b46-9e0f-2f6d9c1c1e55";
        assert_eq!(
            store.bucket_for(key),
            "pdfs",
            "without the bucket, with the letters"
        );
        let store = store.with_documents_bucket("documents");
        assert_eq!(store.bucket_for(key), "documents");
        assert_eq!(store.bucket_for("2026-12-01/NOTIFY.X.PDF"), "pdfs");
    }

    #[tokio::test]
    async fn logos_and_letters_go_to_their_own_buckets() {
        let client = moto_client();
        let (pdfs, logos) = (bucket(&client, "pdf").await, bucket(&client, "logos").await);
        let store = S3Store::new(client.clone(), &pdfs, &logos);
        let letter = "2026-12-01/NOTIFY.ABCDEFGHIJKLMNOP.D.2.C.20261201120000.PDF";
        let logo = "letter-logos/hm-government.svg";

        store
            .put(letter, b"%PDF".to_vec(), "application/pdf")
            .await
            .unwrap();
        store
            .put(logo, b"<svg/>".to_vec(), "image/svg+xml")
            .await
            .unwrap();

        assert_eq!(keys_in(&client, &pdfs).await, [letter]);
        assert_eq!(keys_in(&client, &logos).await, [logo]);
        assert_eq!(
            store.get(logo).await.unwrap().as_deref(),
            Some(&b"<svg/>"[..])
        );
        store.delete(logo).await.unwrap();
        assert!(keys_in(&client, &logos).await.is_empty());
        assert_eq!(keys_in(&client, &pdfs).await, [letter]);
    }

    #[tokio::test]
    async fn precompiled_uploads_go_to_the_scan_bucket() {
        let client = moto_client();
        let (pdfs, logos, scan) = (
            bucket(&client, "pdf").await,
            bucket(&client, "logos").await,
            bucket(&client, "scan").await,
        );
        let store = S3Store::new(client.clone(), &pdfs, &logos).with_scan_bucket(&scan);
        let upload = "precompiled/8d2c3c36-7a3e-4b51-9d2a-3c1a2f6b9e10.pdf";
        let letter = "2026-12-01/NOTIFY.ABCDEFGHIJKLMNOP.D.2.C.20261201120000.PDF";

        store
            .put(upload, b"%PDF upload".to_vec(), "application/pdf")
            .await
            .unwrap();
        store
            .put(letter, b"%PDF render".to_vec(), "application/pdf")
            .await
            .unwrap();
        assert_eq!(keys_in(&client, &scan).await, [upload]);
        assert_eq!(keys_in(&client, &pdfs).await, [letter]);
        assert!(keys_in(&client, &logos).await.is_empty());
        let head = client
            .head_object()
            .bucket(&scan)
            .key(upload)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(
            store.get(upload).await.unwrap().as_deref(),
            Some(&b"%PDF upload"[..])
        );
        store.delete(upload).await.unwrap();
        assert!(keys_in(&client, &scan).await.is_empty());

        // Without a scan bucket an upload is one more letter PDF (a stack without GuardDuty).
        let plain = S3Store::new(client.clone(), &pdfs, &logos);
        assert_eq!(plain.bucket_for(upload), pdfs);
        // Only the prefix routes: a letter whose name merely mentions it stays with the letters.
        assert_eq!(store.bucket_for("2026-12-01/precompiled/x.PDF"), pdfs);
    }

    #[tokio::test]
    async fn an_unreachable_store_is_unavailable_not_missing() {
        let client = moto_client();
        let store = S3Store::new(client, "no-such-bucket-for-notify", "no-such-bucket-either");
        assert!(matches!(
            store.get("2026-12-01/x.PDF").await,
            Err(FileError::Unavailable(_))
        ));
    }
}
