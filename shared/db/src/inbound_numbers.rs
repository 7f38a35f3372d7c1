//! Inbound numbers: which service a number belongs to.

use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, from_row};

#[derive(Clone, Debug, FromRow)]
pub struct InboundNumberRecord {
    pub id: Uuid,
    pub number: String,
    pub provider: String,
    pub service_id: Option<Uuid>,
    pub active: bool,
}

impl Db {
    /// Gives the service an inbound number (creating it if new) and makes it the service's default SMS sender.
    pub async fn assign_inbound_number(
        &self,
        service_id: Uuid,
        number: &str,
        provider: &str,
    ) -> DbResult<InboundNumberRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let rows = tx
            .query_typed(
                "INSERT INTO inbound_numbers (id, number, provider, service_id, active) \
                 VALUES (gen_random_uuid(), $1, $2, $3, true) \
                 ON CONFLICT (number) DO UPDATE SET service_id = EXCLUDED.service_id, updated_at = now() \
                 RETURNING id, number, provider, service_id, active",
                &[(&number, Type::TEXT), (&provider, Type::TEXT), (&service_id, Type::UUID)],
            )
            .await?;
        let record: InboundNumberRecord = from_row(&rows[0])?;
        let already: i64 = tx
            .query_typed(
                "SELECT count(*) FROM service_sms_senders WHERE inbound_number_id = $1",
                &[(&record.id, Type::UUID)],
            )
            .await?[0]
            .get(0);
        if already == 0 {
            tx.execute_typed(
                "UPDATE service_sms_senders SET is_default = false, updated_at = now() WHERE service_id = $1",
                &[(&service_id, Type::UUID)],
            )
            .await?;
            tx.execute_typed(
                "INSERT INTO service_sms_senders (id, service_id, sms_sender, is_default, inbound_number_id) \
                 VALUES (gen_random_uuid(), $1, $2, true, $3)",
                &[(&service_id, Type::UUID), (&number, Type::TEXT), (&record.id, Type::UUID)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    pub async fn inbound_number_for_service(
        &self,
        service_id: Uuid,
    ) -> DbResult<Option<InboundNumberRecord>> {
        self.query_opt(
            "SELECT id, number, provider, service_id, active FROM inbound_numbers WHERE service_id = $1",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
    }
}

/// The service that owns an inbound number, and where its inbound-SMS callback goes if it has one.
#[derive(Clone, Debug)]
pub struct InboundNumberOwner {
    pub service_id: Uuid,
    pub number: String,
    pub provider: String,
    pub callback: Option<notify_core::callbacks::CallbackTarget>,
}

impl Db {
    /// The active number matching any of `candidates` (the same number written as providers write it).
    pub async fn inbound_number_owner(
        &self,
        candidates: &[String],
    ) -> DbResult<Option<InboundNumberOwner>> {
        let row = self
            .query_opt(
                "SELECT i.service_id, i.number, i.provider, c.url, c.bearer_token FROM inbound_numbers i \
                 LEFT JOIN service_callback_api c ON c.service_id = i.service_id AND c.callback_type = 'inbound_sms' \
                 WHERE i.number = ANY($1) AND i.active AND i.service_id IS NOT NULL LIMIT 1",
                &[(&candidates, Type::TEXT_ARRAY)],
            )
            .await?;
        row.map(|r| {
            let url: Option<String> = r.try_get(3)?;
            let token: Option<String> = r.try_get(4)?;
            Ok(InboundNumberOwner {
                service_id: r.try_get(0)?,
                number: r.try_get(1)?,
                provider: r.try_get(2)?,
                callback: url.zip(token).map(|(url, encrypted_token)| {
                    notify_core::callbacks::CallbackTarget {
                        url,
                        encrypted_token: Some(encrypted_token),
                        signing_secrets: Vec::new(),
                    }
                }),
            })
        })
        .transpose()
    }
}
