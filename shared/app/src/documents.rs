//! Files sent by email, this platform's own document download service (upstream's document-download-api and
//! -frontend): a send's files are checked, scanned, sealed under a key of their own and stored, and the
//! recipient's link (which alone carries the key) opens the download page; `delete-expired-documents` removes
//! them after their retention period.
//!
//! As everywhere else: no database connection is open while the scanner or the file store is called. A send
//! checks and scans every file, stores the sealed files, then records all their rows in one statement.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::AppState;
use notify_core::documents::{self, DocumentError, DocumentKey};
use notify_core::errors::V2Error;
use notify_core::model::Service;
use notify_db::{DbError, DocumentRecord};
use notify_files::FileError;
use notify_outbound::scan::{ScanFile, Verdict};

/// One `{"file": …}` personalisation value, already through the schema (`send_a_file_validation`).
#[derive(Clone, Debug)]
pub struct FileToSend {
    pub file: String,
    pub filename: Option<String>,
    pub is_csv: bool,
    /// The recipient's address must be given on the page first: upstream's default, unless `false`.
    pub confirm_email_before_download: bool,
    pub retention_period: Option<String>,
}

/// Where a document's sealed file is kept in the file store.
pub fn file_key(service_id: Uuid, document_id: Uuid) -> String {
    format!("documents/{service_id}/{document_id}")
}

/// The base of the recipients' links: `DOCUMENT_DOWNLOAD_API_HOST`, else the API's own host (the API serves
/// the page).
pub fn public_base(state: &AppState) -> &str {
    state
        .config
        .api
        .document_download_api_host
        .as_deref()
        .unwrap_or(&state.config.api.host_name)
}

/// A checked file, ready to be sealed.
struct Checked {
    bytes: Vec<u8>,
    filename: Option<String>,
    mime_type: &'static str,
    confirm: bool,
    weeks: u32,
}

fn refused(error: DocumentError) -> V2Error {
    V2Error::bad_request(error.to_string())
}

/// document-download-api's checks, in its order: base64, the filename, the size, the virus scan, the type.
/// A scanner that is missing or does not answer refuses the send as upstream's does (its antivirus API's 503
/// becomes Notify's 500): nothing is stored, and the service can send again.
async fn check(state: &AppState, service: &Service, file: &FileToSend) -> Result<Checked, V2Error> {
    let bytes = documents::decode_file(&file.file).map_err(refused)?;
    if let Some(filename) = &file.filename {
        documents::check_filename(filename).map_err(refused)?;
    }
    documents::check_size(&bytes).map_err(refused)?;
    let Some(scanner) = &state.scanner else {
        return Err(V2Error::internal(format!(
            "service {}: a file sent by email cannot be scanned: no virus scanner answered at start-up",
            service.id
        )));
    };
    let key = format!("documents/{}/unscanned", service.id);
    match scanner
        .scan(ScanFile {
            key: &key,
            bytes: &bytes,
        })
        .await
    {
        Ok(Verdict::Clean) => {}
        Ok(Verdict::Infected { signature }) => {
            tracing::warn!(service_id = %service.id, signature, "file sent by email refused: virus found");
            return Err(refused(DocumentError::Virus));
        }
        Ok(Verdict::Pending) => {
            return Err(V2Error::internal(format!(
                "{}: no verdict for a file sent by email",
                scanner.name()
            )));
        }
        Err(e) => return Err(V2Error::internal(format!("{}: {e}", scanner.name()))),
    }
    let mime_type = documents::document_mime_type(&bytes, file.filename.as_deref(), file.is_csv)
        .map_err(refused)?;
    Ok(Checked {
        bytes,
        filename: file.filename.clone(),
        mime_type,
        confirm: file.confirm_email_before_download,
        weeks: documents::retention_weeks(file.retention_period.as_deref()),
    })
}

/// The files of one email: each checked and scanned, then sealed and stored, then all recorded. Returns each
/// file's link, in order. `recipient` is the address the email goes to (what the page asks for when the sender
/// wants it confirmed).
pub async fn upload(
    state: &AppState,
    service: &Service,
    recipient: &str,
    files: &[FileToSend],
    now: DateTime<Utc>,
) -> Result<Vec<String>, V2Error> {
    let mut checked = Vec::with_capacity(files.len());
    for file in files {
        checked.push(check(state, service, file).await?);
    }
    let mut records = Vec::with_capacity(checked.len());
    let mut links = Vec::with_capacity(checked.len());
    for file in checked {
        let id = Uuid::new_v4();
        let key = DocumentKey::generate();
        let sealed = key.seal(service.id, id, &file.bytes);
        state
            .files
            .put(
                &file_key(service.id, id),
                sealed,
                "application/octet-stream",
            )
            .await
            .map_err(|e| V2Error::internal(format!("file sent by email not stored: {e}")))?;
        records.push(DocumentRecord {
            id,
            service_id: service.id,
            filename: file.filename,
            mime_type: file.mime_type.to_string(),
            size_bytes: i32::try_from(file.bytes.len()).unwrap_or(i32::MAX),
            key_check: key.key_check(id),
            confirm_email_hash: file.confirm.then(|| key.email_hash(id, recipient)),
            expires_at: now + TimeDelta::weeks(i64::from(file.weeks)),
            created_at: now,
        });
        links.push(documents::download_link(
            public_base(state),
            service.id,
            id,
            &key,
        ));
    }
    state.db.insert_documents(&records).await?;
    tracing::info!(service_id = %service.id, documents = records.len(), "files sent by email stored");
    Ok(links)
}

/// A document found for a link whose key opens it.
#[derive(Clone, Debug)]
pub struct Opened {
    pub record: DocumentRecord,
    pub key: DocumentKey,
    pub service_name: String,
    pub contact_link: Option<String>,
}

impl Opened {
    /// The name the file is downloaded as: the sender's, else `{id}.{extension}` (upstream's).
    pub fn filename(&self) -> String {
        self.record.filename.clone().unwrap_or_else(|| {
            format!(
                "{}.{}",
                self.record.id,
                documents::extension_for_mime_type(&self.record.mime_type).unwrap_or("bin")
            )
        })
    }

    pub fn extension(&self) -> String {
        let filename = self.filename();
        documents::extension_of(&filename)
            .unwrap_or("")
            .to_lowercase()
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.record.expires_at <= now
    }

    pub fn needs_confirmation(&self) -> bool {
        self.record.confirm_email_hash.is_some()
    }

    /// Whether `address` is the one the file was sent to (trimmed, case-insensitive).
    pub fn address_matches(&self, address: &str) -> bool {
        self.record
            .confirm_email_hash
            .as_deref()
            .is_some_and(|hash| self.key.address_matches(self.record.id, address, hash))
    }

    /// The cookie value that shows the address was confirmed in this browser.
    pub fn access_token(&self) -> Option<String> {
        self.record
            .confirm_email_hash
            .as_deref()
            .map(|hash| self.key.access_token(self.record.id, hash))
    }

    pub fn access_token_valid(&self, token: &str) -> bool {
        self.record
            .confirm_email_hash
            .as_deref()
            .is_some_and(|hash| self.key.access_token_valid(self.record.id, hash, token))
    }
}

/// The document a link names, if its key is the document's: `None` for an unknown id, a wrong or malformed
/// key, or a service that is gone, which the page cannot tell apart (and must not).
pub async fn open(
    state: &AppState,
    service_id: Uuid,
    document_id: Uuid,
    key: &str,
) -> Result<Option<Opened>, DbError> {
    let Some(key) = DocumentKey::from_link_form(key) else {
        return Ok(None);
    };
    let Some(record) = state.db.get_document(service_id, document_id).await? else {
        return Ok(None);
    };
    if !key.opens(document_id, &record.key_check) {
        return Ok(None);
    }
    let Some((service, _)) = state
        .lookups
        .service_with_keys(&state.db, service_id)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Opened {
        record,
        key,
        service_name: service.name,
        contact_link: service.contact_link,
    }))
}

/// Why the file of an opened document cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Missing from the store, or it does not open with the key (changed since it was stored).
    #[error("document file missing or not opened by its key")]
    Gone,
    #[error(transparent)]
    Store(#[from] FileError),
}

/// The document's bytes as the sender sent them.
pub async fn read(state: &AppState, opened: &Opened) -> Result<Vec<u8>, ReadError> {
    let (service_id, id) = (opened.record.service_id, opened.record.id);
    let sealed = state
        .files
        .get(&file_key(service_id, id))
        .await?
        .ok_or(ReadError::Gone)?;
    opened
        .key
        .open(service_id, id, &sealed)
        .ok_or(ReadError::Gone)
}

/// `delete-expired-documents`: documents past their retention period, their files then their rows, in batches
/// of `BATCH` until none are left or the budget is spent. A file the store cannot delete keeps its row, so the
/// next run tries again.
pub async fn delete_expired(
    state: &AppState,
    budget: Duration,
) -> Result<serde_json::Value, DbError> {
    const BATCH: i64 = 500;
    let started = Instant::now();
    let (mut deleted, mut failed) = (0u64, 0u64);
    while started.elapsed() < budget {
        let expired = state.db.expired_documents(state.now(), BATCH).await?;
        if expired.is_empty() {
            break;
        }
        let mut gone = Vec::with_capacity(expired.len());
        for (service_id, id) in &expired {
            match state.files.delete(&file_key(*service_id, *id)).await {
                Ok(()) => gone.push(*id),
                Err(e) => {
                    failed += 1;
                    tracing::warn!(document_id = %id, error = %e, "expired document's file not deleted; kept for the next run");
                }
            }
        }
        deleted += state.db.delete_documents(&gone).await?;
        if gone.len() < expired.len() || (expired.len() as i64) < BATCH {
            break;
        }
    }
    Ok(serde_json::json!({"deleted": deleted, "failed": failed}))
}
