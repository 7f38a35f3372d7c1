//! `documents`: what is kept of a file sent by email besides the sealed file itself (see V17): never its key,
//! never the recipient's address.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult};

#[derive(Clone, Debug, PartialEq, Eq, postgres_from_row::FromRow)]
pub struct DocumentRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub filename: Option<String>,
    pub mime_type: String,
    pub size_bytes: i32,
    pub key_check: Vec<u8>,
    pub confirm_email_hash: Option<Vec<u8>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, service_id, filename, mime_type, size_bytes, key_check, confirm_email_hash, expires_at, created_at";

impl Db {
    /// The documents of one send, in one statement (before the notification is stored: a send refused after
    /// this leaves documents no link points to, which expire with the rest).
    pub async fn insert_documents(&self, documents: &[DocumentRecord]) -> DbResult<()> {
        if documents.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = documents.iter().map(|d| d.id).collect();
        let services: Vec<Uuid> = documents.iter().map(|d| d.service_id).collect();
        let filenames: Vec<Option<String>> = documents.iter().map(|d| d.filename.clone()).collect();
        let mime_types: Vec<String> = documents.iter().map(|d| d.mime_type.clone()).collect();
        let sizes: Vec<i32> = documents.iter().map(|d| d.size_bytes).collect();
        let key_checks: Vec<Vec<u8>> = documents.iter().map(|d| d.key_check.clone()).collect();
        let hashes: Vec<Option<Vec<u8>>> = documents
            .iter()
            .map(|d| d.confirm_email_hash.clone())
            .collect();
        let expiries: Vec<DateTime<Utc>> = documents.iter().map(|d| d.expires_at).collect();
        let created: Vec<DateTime<Utc>> = documents.iter().map(|d| d.created_at).collect();
        self.execute(
            &format!(
                "INSERT INTO documents ({COLUMNS}) \
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::bytea[], \
                 $7::bytea[], $8::timestamptz[], $9::timestamptz[])"
            ),
            &[
                (&ids, Type::UUID_ARRAY),
                (&services, Type::UUID_ARRAY),
                (&filenames, Type::TEXT_ARRAY),
                (&mime_types, Type::TEXT_ARRAY),
                (&sizes, Type::INT4_ARRAY),
                (&key_checks, Type::BYTEA_ARRAY),
                (&hashes, Type::BYTEA_ARRAY),
                (&expiries, Type::TIMESTAMPTZ_ARRAY),
                (&created, Type::TIMESTAMPTZ_ARRAY),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn get_document(
        &self,
        service_id: Uuid,
        document_id: Uuid,
    ) -> DbResult<Option<DocumentRecord>> {
        self.query_opt(
            &format!("SELECT {COLUMNS} FROM documents WHERE service_id = $1 AND id = $2"),
            &[(&service_id, Type::UUID), (&document_id, Type::UUID)],
        )
        .await?
        .map(|row| crate::conn::from_row(&row))
        .transpose()
    }

    /// Up to `limit` documents expired at `now`, the oldest expiry first: their files are deleted, then
    /// [`Db::delete_documents`] (`delete-expired-documents`).
    pub async fn expired_documents(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<Vec<(Uuid, Uuid)>> {
        let rows = self
            .query(
                "SELECT service_id, id FROM documents WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
                &[(&now, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn delete_documents(&self, ids: &[Uuid]) -> DbResult<u64> {
        self.execute(
            "DELETE FROM documents WHERE id = ANY($1)",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await
    }
}
