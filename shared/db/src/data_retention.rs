//! How long a service keeps each channel's notifications.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, text_enum};
use notify_core::model::NotificationType;

#[derive(Clone, Debug)]
pub struct DataRetentionRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub notification_type: NotificationType,
    pub days_of_retention: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

fn retention_from_row(row: &Row) -> DbResult<DataRetentionRecord> {
    Ok(DataRetentionRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        notification_type: text_enum(row, "notification_type", NotificationType::parse)?,
        days_of_retention: row.try_get("days_of_retention")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    pub async fn upsert_data_retention(
        &self,
        service_id: Uuid,
        notification_type: NotificationType,
        days: i32,
    ) -> DbResult<DataRetentionRecord> {
        let rows = self
            .query(
                "INSERT INTO service_data_retention (id, service_id, notification_type, days_of_retention) \
                 VALUES (gen_random_uuid(), $1, $2, $3) \
                 ON CONFLICT (service_id, notification_type) DO UPDATE \
                     SET days_of_retention = EXCLUDED.days_of_retention, updated_at = now() \
                 RETURNING *",
                &[(&service_id, Type::UUID), (&notification_type.as_str(), Type::TEXT), (&days, Type::INT4)],
            )
            .await?;
        retention_from_row(&rows[0])
    }

    pub async fn data_retention(&self, service_id: Uuid) -> DbResult<Vec<DataRetentionRecord>> {
        self.query(
            "SELECT * FROM service_data_retention WHERE service_id = $1 ORDER BY notification_type",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(retention_from_row)
        .collect()
    }
}
