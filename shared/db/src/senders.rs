//! A service's SMS senders, email reply-to addresses and letter contact blocks.

use chrono::{DateTime, Utc};
use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbError, DbResult, from_row};

#[derive(Clone, Debug, FromRow)]
pub struct SenderRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub value: String,
    pub is_default: bool,
    pub archived: bool,
    pub inbound_number_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// SMS senders, email reply-to addresses and letter contact blocks share one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SenderKind {
    Sms,
    ReplyTo,
    LetterContact,
}

impl SenderKind {
    fn table(self) -> &'static str {
        match self {
            SenderKind::Sms => "service_sms_senders",
            SenderKind::ReplyTo => "service_email_reply_to",
            SenderKind::LetterContact => "service_letter_contacts",
        }
    }
    fn column(self) -> &'static str {
        match self {
            SenderKind::Sms => "sms_sender",
            SenderKind::ReplyTo => "email_address",
            SenderKind::LetterContact => "contact_block",
        }
    }
}

impl Db {
    /// Adds a sender, reply-to address or letter contact; a new default demotes the old one.
    pub async fn add_sender(
        &self,
        kind: SenderKind,
        service_id: Uuid,
        value: &str,
        is_default: bool,
        inbound_number_id: Option<Uuid>,
    ) -> DbResult<SenderRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let table = kind.table();
        let column = kind.column();
        let existing: i64 = tx
            .query_typed(
                &format!("SELECT count(*) FROM {table} WHERE service_id = $1 AND NOT archived"),
                &[(&service_id, Type::UUID)],
            )
            .await?[0]
            .get(0);
        // The first one is always the default: a service cannot be left without one.
        let is_default = is_default || existing == 0;
        if is_default {
            tx.execute_typed(
                &format!("UPDATE {table} SET is_default = false, updated_at = now() WHERE service_id = $1"),
                &[(&service_id, Type::UUID)],
            )
            .await?;
        }
        let id = Uuid::new_v4();
        if kind == SenderKind::Sms {
            tx.execute_typed(
                "INSERT INTO service_sms_senders (id, service_id, sms_sender, is_default, inbound_number_id) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    (&id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&value, Type::TEXT),
                    (&is_default, Type::BOOL),
                    (&inbound_number_id, Type::UUID),
                ],
            )
            .await?;
        } else {
            tx.execute_typed(
                &format!("INSERT INTO {table} (id, service_id, {column}, is_default) VALUES ($1, $2, $3, $4)"),
                &[(&id, Type::UUID), (&service_id, Type::UUID), (&value, Type::TEXT), (&is_default, Type::BOOL)],
            )
            .await?;
        }
        tx.commit().await?;
        drop(conn);
        self.get_sender(kind, service_id, Some(id))
            .await?
            .ok_or_else(|| DbError::Data("sender vanished".into()))
    }

    /// One sender by id, or the service's default when `id` is `None`. Archived ones are never returned.
    pub async fn get_sender(
        &self,
        kind: SenderKind,
        service_id: Uuid,
        id: Option<Uuid>,
    ) -> DbResult<Option<SenderRecord>> {
        let inbound = if kind == SenderKind::Sms {
            "inbound_number_id"
        } else {
            "NULL::uuid AS inbound_number_id"
        };
        let sql = format!(
            "SELECT id, service_id, {column} AS value, is_default, archived, {inbound}, created_at, updated_at \
             FROM {table} WHERE service_id = $1 AND NOT archived AND (CASE WHEN $2::uuid IS NULL THEN is_default \
             ELSE id = $2 END) ORDER BY created_at LIMIT 1",
            table = kind.table(),
            column = kind.column()
        );
        self.query_opt(&sql, &[(&service_id, Type::UUID), (&id, Type::UUID)])
            .await?
            .map(|r| from_row(&r))
            .transpose()
    }

    pub async fn list_senders(
        &self,
        kind: SenderKind,
        service_id: Uuid,
    ) -> DbResult<Vec<SenderRecord>> {
        let inbound = if kind == SenderKind::Sms {
            "inbound_number_id"
        } else {
            "NULL::uuid AS inbound_number_id"
        };
        let sql = format!(
            "SELECT id, service_id, {column} AS value, is_default, archived, {inbound}, created_at, updated_at \
             FROM {table} WHERE service_id = $1 AND NOT archived ORDER BY is_default DESC, created_at",
            table = kind.table(),
            column = kind.column()
        );
        self.query(&sql, &[(&service_id, Type::UUID)])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }
}
