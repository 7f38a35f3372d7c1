//! The guest list, and with the team's own numbers and addresses who a team key may send to.

use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, from_row};

#[derive(Clone, Debug, FromRow)]
pub struct GuestListEntry {
    pub id: Uuid,
    pub recipient_type: String,
    pub recipient: String,
}

impl Db {
    /// Team members' phone numbers and email addresses, plus the guest list: who a team key may send to.
    pub async fn team_and_guest_list(&self, service_id: Uuid) -> DbResult<Vec<(String, String)>> {
        let rows = self
            .query(
                "SELECT 'email' AS kind, u.email_address AS recipient FROM users u \
                     JOIN user_to_service x ON x.user_id = u.id WHERE x.service_id = $1 \
                 UNION ALL SELECT 'mobile', u.mobile_number FROM users u \
                     JOIN user_to_service x ON x.user_id = u.id WHERE x.service_id = $1 AND u.mobile_number IS NOT NULL \
                 UNION ALL SELECT recipient_type, recipient FROM service_whitelist WHERE service_id = $1",
                &[(&service_id, Type::UUID)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn add_guest_list_entry(
        &self,
        service_id: Uuid,
        recipient_type: &str,
        recipient: &str,
    ) -> DbResult<Uuid> {
        let id = Uuid::new_v4();
        self.execute(
            "INSERT INTO service_whitelist (id, service_id, recipient_type, recipient) VALUES ($1, $2, $3, $4)",
            &[(&id, Type::UUID), (&service_id, Type::UUID), (&recipient_type, Type::TEXT), (&recipient, Type::TEXT)],
        )
        .await?;
        Ok(id)
    }

    /// Replaces the whole guest list, as the admin app does.
    pub async fn replace_guest_list(
        &self,
        service_id: Uuid,
        entries: &[(String, String)],
    ) -> DbResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute_typed(
            "DELETE FROM service_whitelist WHERE service_id = $1",
            &[(&service_id, Type::UUID)],
        )
        .await?;
        let kinds: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&str> = entries.iter().map(|(_, v)| v.as_str()).collect();
        tx.execute_typed(
            "INSERT INTO service_whitelist (id, service_id, recipient_type, recipient) \
             SELECT gen_random_uuid(), $1, k, v FROM unnest($2::text[], $3::text[]) AS t (k, v)",
            &[
                (&service_id, Type::UUID),
                (&kinds, Type::TEXT_ARRAY),
                (&values, Type::TEXT_ARRAY),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn guest_list(&self, service_id: Uuid) -> DbResult<Vec<GuestListEntry>> {
        let rows = self
            .query(
                "SELECT id, recipient_type, recipient FROM service_whitelist WHERE service_id = $1 ORDER BY created_at",
                &[(&service_id, Type::UUID)],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }
}
