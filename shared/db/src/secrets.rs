//! The key check and the batches of `notify secrets re-encrypt`: each a single short statement, no transaction.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use crate::{Db, DbError, DbResult};

/// An encrypted column, and how re-encryption walks it.
#[derive(Clone, Copy, Debug)]
pub struct EncryptedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// Walked by `id` (uuid primary key); otherwise by the stored value itself, which history tables repeat across
    /// versions (so one UPDATE rewrites every version holding it).
    pub by_id: bool,
}

pub const ENCRYPTED_COLUMNS: &[EncryptedColumn] = &[
    EncryptedColumn {
        table: "api_keys",
        column: "secret",
        by_id: true,
    },
    EncryptedColumn {
        table: "api_keys_history",
        column: "secret",
        by_id: false,
    },
    EncryptedColumn {
        table: "service_callback_api",
        column: "bearer_token",
        by_id: true,
    },
    EncryptedColumn {
        table: "service_callback_api_history",
        column: "bearer_token",
        by_id: false,
    },
    EncryptedColumn {
        table: "notifications",
        column: "personalisation",
        by_id: true,
    },
    EncryptedColumn {
        table: "inbound_sms",
        column: "content",
        by_id: true,
    },
    EncryptedColumn {
        table: "service_callback_signing_secrets",
        column: "secret",
        by_id: true,
    },
    // A complainant's address waiting for its callback (bigserial ids, so walked by value).
    EncryptedColumn {
        table: "callback_outbox",
        column: "encrypted_recipient",
        by_id: false,
    },
];

/// One batch read for re-encryption: the cursor to resume after, and the values not under the current key.
pub struct StoredBatch {
    pub cursor: Option<String>,
    /// (row id as text, or the value itself for history tables; stored value)
    pub rows: Vec<(String, String)>,
}

impl Db {
    /// The sealed key check, or `None` when no process wrote it yet (or migrations have not made its table).
    pub async fn key_check(&self) -> DbResult<Option<String>> {
        match self
            .query_opt("SELECT value FROM secret_key_check WHERE id", &[])
            .await
        {
            Ok(row) => Ok(row.map(|r| r.get(0))),
            Err(DbError::Postgres(e)) if e.0.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the key check unless one exists; answers whether this call wrote it.
    pub async fn insert_key_check(&self, sealed: &str) -> DbResult<bool> {
        match self
            .execute(
                "INSERT INTO secret_key_check (id, value) VALUES (true, $1) ON CONFLICT (id) DO NOTHING",
                &[(&sealed, Type::TEXT)],
            )
            .await
        {
            Ok(n) => Ok(n == 1),
            Err(DbError::Postgres(e)) if e.0.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces the key check `old` with `new` (re-encryption); false when another process changed it.
    pub async fn replace_key_check(&self, old: &str, new: &str) -> DbResult<bool> {
        Ok(self
            .execute(
                "UPDATE secret_key_check SET value = $2, updated_at = now() WHERE id AND value = $1",
                &[(&old, Type::TEXT), (&new, Type::TEXT)],
            )
            .await?
            == 1)
    }

    /// One stored API key secret, any, to tell a database made with another key from a new one.
    pub async fn any_api_key_secret(&self) -> DbResult<Option<String>> {
        Ok(self
            .query_opt("SELECT secret FROM api_keys LIMIT 1", &[])
            .await?
            .map(|r| r.get(0)))
    }

    /// Up to `limit` values of `col` after `cursor` that are not sealed with the key `current_id`.
    pub async fn stored_values_after(
        &self,
        col: EncryptedColumn,
        current_id: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> DbResult<StoredBatch> {
        let prefix = format!("{current_id}.%");
        let cursor = cursor.unwrap_or(if col.by_id {
            "00000000-0000-0000-0000-000000000000"
        } else {
            ""
        });
        // The column names come from ENCRYPTED_COLUMNS only, never from input.
        let sql = if col.by_id {
            format!(
                "SELECT id::text, {c} FROM {t} WHERE id > $1::uuid AND {c} IS NOT NULL AND {c} NOT LIKE $2 \
                 ORDER BY id LIMIT $3",
                c = col.column,
                t = col.table
            )
        } else {
            format!(
                "SELECT DISTINCT {c}, {c} FROM {t} WHERE {c} > $1 AND {c} NOT LIKE $2 ORDER BY {c} LIMIT $3",
                c = col.column,
                t = col.table
            )
        };
        let rows = self
            .query(
                &sql,
                &[
                    (&cursor, Type::TEXT),
                    (&prefix, Type::TEXT),
                    (&limit, Type::INT8),
                ],
            )
            .await?;
        let rows: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(StoredBatch {
            cursor: rows.last().map(|(k, _)| k.clone()),
            rows,
        })
    }

    /// Rewrites each (key, old, new) in one statement; a row changed meanwhile (its value no longer `old`) is left.
    pub async fn replace_stored_values(
        &self,
        col: EncryptedColumn,
        rewrites: &[(String, String, String)],
    ) -> DbResult<u64> {
        let keys: Vec<&str> = rewrites.iter().map(|(k, _, _)| k.as_str()).collect();
        let olds: Vec<&str> = rewrites.iter().map(|(_, o, _)| o.as_str()).collect();
        let news: Vec<&str> = rewrites.iter().map(|(_, _, n)| n.as_str()).collect();
        let matches = if col.by_id {
            "t.id = v.k::uuid"
        } else {
            "t.{c} = v.k"
        }
        .replace("{c}", col.column);
        let sql = format!(
            "UPDATE {t} AS t SET {c} = v.new FROM unnest($1::text[], $2::text[], $3::text[]) AS v(k, old, new) \
             WHERE {matches} AND t.{c} = v.old",
            t = col.table,
            c = col.column
        );
        self.execute(
            &sql,
            &[
                (&keys, Type::TEXT_ARRAY),
                (&olds, Type::TEXT_ARRAY),
                (&news, Type::TEXT_ARRAY),
            ],
        )
        .await
    }

    /// How many values of `col` are not sealed with the key `current_id` (for the progress bar).
    pub async fn count_stale_values(
        &self,
        col: EncryptedColumn,
        current_id: &str,
    ) -> DbResult<i64> {
        let prefix = format!("{current_id}.%");
        let sql = if col.by_id {
            format!(
                "SELECT count(*) FROM {} WHERE {c} IS NOT NULL AND {c} NOT LIKE $1",
                col.table,
                c = col.column
            )
        } else {
            format!(
                "SELECT count(DISTINCT {c}) FROM {} WHERE {c} NOT LIKE $1",
                col.table,
                c = col.column
            )
        };
        Ok(self
            .query_opt(&sql, &[(&prefix, Type::TEXT)])
            .await?
            .map(|r| r.get(0))
            .unwrap_or(0))
    }
}
