use chrono::{DateTime, Utc};
use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, from_row};

#[derive(Clone, Debug, FromRow)]
pub struct InboundSmsRecord {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub service_id: Uuid,
    pub notify_number: String,
    pub user_number: String,
    #[from_row(rename = "content")]
    pub encrypted_content: String,
}

#[derive(Clone, Debug)]
pub struct NewInboundSms {
    pub service_id: Uuid,
    pub notify_number: String,
    pub user_number: String,
    pub provider: String,
    pub provider_reference: Option<String>,
    pub provider_date: Option<DateTime<Utc>>,
    pub encrypted_content: String,
}

impl Db {
    /// Stores the text and, in the same statement, its inbound-SMS callback in the outbox when the service has
    /// one. Returns the text's id and the outbox row.
    pub async fn insert_inbound_sms(&self, new: &NewInboundSms) -> DbResult<(Uuid, Option<i64>)> {
        let id = Uuid::new_v4();
        let rows = self.query(
            "WITH inserted AS ( \
                 INSERT INTO inbound_sms (id, service_id, notify_number, user_number, provider, provider_reference, \
                     provider_date, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, service_id), \
             outboxed AS ( \
                 INSERT INTO callback_outbox (callback_type, subject_id) \
                 SELECT 'inbound_sms', i.id FROM inserted i JOIN service_callback_api c \
                     ON c.service_id = i.service_id AND c.callback_type = 'inbound_sms' \
                 RETURNING id) \
             SELECT (SELECT id FROM outboxed)",
            &[
                (&id, Type::UUID),
                (&new.service_id, Type::UUID),
                (&new.notify_number, Type::TEXT),
                (&new.user_number, Type::TEXT),
                (&new.provider, Type::TEXT),
                (&new.provider_reference, Type::TEXT),
                (&new.provider_date, Type::TIMESTAMPTZ),
                (&new.encrypted_content, Type::TEXT),
            ],
        )
        .await?;
        Ok((id, rows[0].try_get(0)?))
    }

    /// Newest first; with `older_than`, strictly older than that message (an unknown id gives an empty page).
    pub async fn list_inbound_sms(
        &self,
        service_id: Uuid,
        older_than: Option<Uuid>,
        limit: i64,
    ) -> DbResult<Vec<InboundSmsRecord>> {
        let rows = self
            .query(
                "SELECT id, created_at, service_id, notify_number, user_number, content FROM inbound_sms \
                 WHERE service_id = $1 AND ($2::uuid IS NULL OR created_at < \
                     (SELECT created_at FROM inbound_sms WHERE id = $2 AND service_id = $1)) \
                 ORDER BY created_at DESC, id DESC LIMIT $3",
                &[(&service_id, Type::UUID), (&older_than, Type::UUID), (&limit, Type::INT8)],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }
}
