//! API keys: a service's keys, their revocation and history.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, text_enum};
use notify_core::model::KeyType;

#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub name: String,
    pub key_type: KeyType,
    pub expiry_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by_id: Option<Uuid>,
    pub updated_at: Option<DateTime<Utc>>,
    pub version: i32,
}

fn api_key_from_row(row: &Row) -> DbResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key_type: text_enum(row, "key_type", KeyType::parse)?,
        expiry_date: row.try_get("expiry_date")?,
        created_at: row.try_get("created_at")?,
        created_by_id: row.try_get("created_by_id")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

impl Db {
    pub async fn create_api_key(
        &self,
        id: Uuid,
        service_id: Uuid,
        name: &str,
        key_type: KeyType,
        encrypted_secret: &str,
        created_by_id: Option<Uuid>,
    ) -> DbResult<ApiKeyRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let row = tx
            .query_typed(
                "INSERT INTO api_keys (id, service_id, name, key_type, secret, created_by_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                &[
                    (&id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&name, Type::TEXT),
                    (&key_type.as_str(), Type::TEXT),
                    (&encrypted_secret, Type::TEXT),
                    (&created_by_id, Type::UUID),
                ],
            )
            .await?;
        tx.execute_typed(
            "INSERT INTO api_keys_history SELECT * FROM api_keys WHERE id = $1",
            &[(&id, Type::UUID)],
        )
        .await?;
        tx.commit().await?;
        api_key_from_row(&row[0])
    }

    pub async fn revoke_api_key(&self, service_id: Uuid, key_id: Uuid) -> DbResult<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let n = tx
            .execute_typed(
                "UPDATE api_keys SET expiry_date = now(), updated_at = now(), version = version + 1 \
                 WHERE id = $1 AND service_id = $2 AND expiry_date IS NULL",
                &[(&key_id, Type::UUID), (&service_id, Type::UUID)],
            )
            .await?;
        if n > 0 {
            tx.execute_typed(
                "INSERT INTO api_keys_history SELECT * FROM api_keys WHERE id = $1",
                &[(&key_id, Type::UUID)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Backdates a revocation; operators use it to retire a key that leaked long ago.
    pub async fn set_api_key_expiry(&self, key_id: Uuid, at: DateTime<Utc>) -> DbResult<()> {
        self.execute(
            "UPDATE api_keys SET expiry_date = $2, updated_at = now() WHERE id = $1",
            &[(&key_id, Type::UUID), (&at, Type::TIMESTAMPTZ)],
        )
        .await?;
        Ok(())
    }

    pub async fn list_api_keys(&self, service_id: Uuid) -> DbResult<Vec<ApiKeyRecord>> {
        self.query(
            "SELECT * FROM api_keys WHERE service_id = $1 ORDER BY created_at",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(api_key_from_row)
        .collect()
    }
}
