//! The file store: letter PDFs, letter and email logos (and later CSV uploads and documents) by key. S3 in AWS, a local
//! directory for `notify dev` and tests. No database types here: a file is read or written with no connection
//! held.

mod s3;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use notify_config::FilesConfig;

pub use s3::{
    CSV_UPLOAD_PREFIX, DOCUMENTS_PREFIX, EMAIL_LOGOS_PREFIX, LETTER_LOGOS_PREFIX,
    PRECOMPILED_PREFIX, S3Store,
};

/// The store the configuration asks for: S3 when `LETTERS_PDF_BUCKET` is set (logos in `LETTER_LOGOS_BUCKET`,
/// precompiled uploads in `LETTERS_SCAN_BUCKET`), else a local directory at `FILES_DIR`.
pub async fn from_config(config: &FilesConfig) -> Arc<dyn FileStore> {
    match &config.letters_pdf_bucket {
        None => Arc::new(LocalDirStore::new(config.local_dir.clone())),
        Some(letters_pdf_bucket) => {
            let logos = config.letter_logos_bucket.clone().unwrap_or_else(|| {
                tracing::warn!(
                    "LETTER_LOGOS_BUCKET is unset: letter logos are kept in LETTERS_PDF_BUCKET, whose retention \
                     rule will remove them"
                );
                letters_pdf_bucket.clone()
            });
            let client = S3Store::client(config.s3_endpoint_url.as_deref()).await;
            let mut store = S3Store::new(client, letters_pdf_bucket.clone(), logos);
            if let Some(scan) = &config.letters_scan_bucket {
                store = store.with_scan_bucket(scan.clone());
            }
            if let Some(csv) = &config.csv_upload_bucket {
                store = store.with_csv_bucket(csv.clone());
            }
            match &config.documents_bucket {
                Some(documents) => store = store.with_documents_bucket(documents.clone()),
                None => tracing::warn!(
                    "DOCUMENTS_BUCKET is unset: files sent by email are kept in LETTERS_PDF_BUCKET, whose retention \
                     rule may remove them before their own retention period ends"
                ),
            }
            Arc::new(store)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("invalid file key {0:?}")]
    InvalidKey(String),
    #[error("file store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait FileStore: Send + Sync {
    /// Writes (or overwrites) the file at `key`.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), FileError>;
    /// The file at `key`, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FileError>;
    /// Removes the file at `key`; removing a missing file is not an error.
    async fn delete(&self, key: &str) -> Result<(), FileError>;
    /// Writes the file with user metadata (S3's `x-amz-meta-*`: a CSV upload's `valid`, `notification_count`, …).
    async fn put_with_metadata(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), FileError>;
    /// The metadata the file at `key` was written with (empty if none), or `None` when there is no such file.
    async fn metadata(&self, key: &str) -> Result<Option<BTreeMap<String, String>>, FileError>;
}

/// Files under a directory, one file per key (`/` in a key makes subdirectories).
#[derive(Clone, Debug)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, FileError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Keys are relative paths of plain segments: no `..`, no absolute paths, so a key cannot leave a local root, and
/// a key S3 takes is one the local store takes too.
fn check_key(key: &str) -> Result<(), FileError> {
    let plain = !key.is_empty()
        && Path::new(key)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(FileError::InvalidKey(key.to_string()))
    }
}

fn unavailable(e: std::io::Error) -> FileError {
    FileError::Unavailable(e.to_string())
}

#[async_trait]
impl FileStore for LocalDirStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), FileError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(unavailable)?;
        }
        // Written beside and renamed, so a reader never sees half a file.
        let partial = path.with_extension("partial");
        tokio::fs::write(&partial, bytes)
            .await
            .map_err(unavailable)?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FileError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), FileError> {
        for path in [self.path(key)?, metadata_path(&self.path(key)?)] {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }

    async fn put_with_metadata(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), FileError> {
        // The metadata first: a file is never seen without what was said about it.
        let json =
            serde_json::to_vec(metadata).map_err(|e| FileError::Unavailable(e.to_string()))?;
        self.put(&format!("{key}.metadata.json"), json, "application/json")
            .await?;
        self.put(key, bytes, content_type).await
    }

    async fn metadata(&self, key: &str) -> Result<Option<BTreeMap<String, String>>, FileError> {
        let path = self.path(key)?;
        if !tokio::fs::try_exists(&path).await.map_err(unavailable)? {
            return Ok(None);
        }
        match tokio::fs::read(metadata_path(&path)).await {
            Ok(json) => serde_json::from_slice(&json)
                .map(Some)
                .map_err(|e| FileError::Unavailable(format!("{key}: unreadable metadata: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(BTreeMap::new())),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// A local file's metadata lives beside it, as S3 keeps it with the object.
fn metadata_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".metadata.json");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_round_trip_and_keys_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path());
        let key = "2026-12-01/NOTIFY.ABCDEFGHIJKLMNOP.D.2.C.20261201120000.PDF";
        assert_eq!(store.get(key).await.unwrap(), None);
        store
            .put(key, b"%PDF-1.7".to_vec(), "application/pdf")
            .await
            .unwrap();
        assert_eq!(
            store.get(key).await.unwrap().as_deref(),
            Some(&b"%PDF-1.7"[..])
        );
        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), None);
        for bad in ["", "../x", "/etc/passwd", "a/../../b"] {
            assert!(
                matches!(store.get(bad).await, Err(FileError::InvalidKey(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn local_store_keeps_metadata_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path());
        let key = "service-1-notify/upload.csv";
        assert_eq!(store.metadata(key).await.unwrap(), None);
        let metadata = BTreeMap::from([("valid".to_string(), "True".to_string())]);
        store
            .put_with_metadata(key, b"phone number\n".to_vec(), "text/csv", &metadata)
            .await
            .unwrap();
        assert_eq!(store.metadata(key).await.unwrap(), Some(metadata));
        store
            .put("plain.csv", b"x".to_vec(), "text/csv")
            .await
            .unwrap();
        assert_eq!(
            store.metadata("plain.csv").await.unwrap(),
            Some(BTreeMap::new())
        );
        store.delete(key).await.unwrap();
        assert_eq!(store.metadata(key).await.unwrap(), None);
        assert!(
            !dir.path()
                .join("service-1-notify/upload.csv.metadata.json")
                .exists()
        );
    }

    #[tokio::test]
    async fn without_a_bucket_the_configuration_gives_the_local_store() {
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig {
            letters_pdf_bucket: None,
            letter_logos_bucket: Some("ignored-without-the-pdf-bucket".into()),
            letters_scan_bucket: None,
            csv_upload_bucket: None,
            documents_bucket: None,
            local_dir: dir.path().to_path_buf(),
            s3_endpoint_url: None,
        };
        let store = from_config(&config).await;
        store
            .put("letter-logos/a.svg", b"<svg/>".to_vec(), "image/svg+xml")
            .await
            .unwrap();
        assert!(dir.path().join("letter-logos/a.svg").is_file());
    }
}
