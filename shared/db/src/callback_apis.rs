//! The callback APIs a service registers (delivery status, complaints, inbound SMS).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, text_enum};
use notify_core::model::CallbackType;

#[derive(Clone, Debug)]
pub struct CallbackApiRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub url: String,
    pub callback_type: CallbackType,
    pub encrypted_bearer_token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by_id: Option<Uuid>,
}

fn callback_from_row(row: &Row) -> DbResult<CallbackApiRecord> {
    Ok(CallbackApiRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        url: row.try_get("url")?,
        callback_type: text_enum(row, "callback_type", CallbackType::parse)?,
        encrypted_bearer_token: row.try_get("bearer_token")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by_id: row.try_get("updated_by_id")?,
    })
}

impl Db {
    /// Creates or replaces the service's callback API of that type (one per type, as upstream).
    pub async fn upsert_callback_api(
        &self,
        service_id: Uuid,
        callback_type: CallbackType,
        url: &str,
        encrypted_bearer_token: &str,
        updated_by_id: Option<Uuid>,
    ) -> DbResult<CallbackApiRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let rows = tx
            .query_typed(
                "INSERT INTO service_callback_api (id, service_id, callback_type, url, bearer_token, updated_by_id) \
                 VALUES (gen_random_uuid(), $1, $2, $3, $4, $5) \
                 ON CONFLICT (service_id, callback_type) DO UPDATE SET url = EXCLUDED.url, \
                     bearer_token = EXCLUDED.bearer_token, updated_by_id = EXCLUDED.updated_by_id, \
                     updated_at = now(), version = service_callback_api.version + 1 \
                 RETURNING *",
                &[
                    (&service_id, Type::UUID),
                    (&callback_type.as_str(), Type::TEXT),
                    (&url, Type::TEXT),
                    (&encrypted_bearer_token, Type::TEXT),
                    (&updated_by_id, Type::UUID),
                ],
            )
            .await?;
        let record = callback_from_row(&rows[0])?;
        tx.execute_typed(
            "INSERT INTO service_callback_api_history SELECT * FROM service_callback_api WHERE id = $1",
            &[(&record.id, Type::UUID)],
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn callback_apis(&self, service_id: Uuid) -> DbResult<Vec<CallbackApiRecord>> {
        self.query(
            "SELECT * FROM service_callback_api WHERE service_id = $1 ORDER BY callback_type",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(callback_from_row)
        .collect()
    }

    pub async fn delete_callback_api(&self, service_id: Uuid, callback_id: Uuid) -> DbResult<bool> {
        let n = self
            .execute(
                "DELETE FROM service_callback_api WHERE service_id = $1 AND id = $2",
                &[(&service_id, Type::UUID), (&callback_id, Type::UUID)],
            )
            .await?;
        Ok(n > 0)
    }
}
