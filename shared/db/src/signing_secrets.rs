//! A service's callback signing secrets (`service_callback_signing_secrets`), stored encrypted. The current one
//! has no `expires_at`; a rotation gives the previous one an end, until which it signs too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult};

/// A signing secret without the secret.
#[derive(Clone, Debug)]
pub struct SigningSecretRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Still signing callbacks now.
    pub signing: bool,
}

const COLUMNS: &str = "id, service_id, created_at, created_by_id, expires_at, (expires_at IS NULL OR expires_at > now()) AS signing";

fn record(row: &Row) -> DbResult<SigningSecretRecord> {
    Ok(SigningSecretRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        created_at: row.try_get("created_at")?,
        created_by_id: row.try_get("created_by_id")?,
        expires_at: row.try_get("expires_at")?,
        signing: row.try_get("signing")?,
    })
}

impl Db {
    /// The service's first signing secret (or its first after the last was removed); `None` when it already has a
    /// current one, which only a rotation replaces.
    pub async fn create_signing_secret(
        &self,
        service_id: Uuid,
        encrypted_secret: &str,
        created_by_id: Option<Uuid>,
    ) -> DbResult<Option<SigningSecretRecord>> {
        let row = self
            .query_opt(
                &format!(
                    "INSERT INTO service_callback_signing_secrets (id, service_id, secret, created_by_id) \
                     VALUES (gen_random_uuid(), $1, $2, $3) \
                     ON CONFLICT (service_id) WHERE expires_at IS NULL DO NOTHING RETURNING {COLUMNS}"
                ),
                &[
                    (&service_id, Type::UUID),
                    (&encrypted_secret, Type::TEXT),
                    (&created_by_id, Type::UUID),
                ],
            )
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// A new current secret; the one it replaces keeps signing for `window`. `None` when the service has no
    /// current secret to rotate.
    pub async fn rotate_signing_secret(
        &self,
        service_id: Uuid,
        encrypted_secret: &str,
        created_by_id: Option<Uuid>,
        window: Duration,
    ) -> DbResult<Option<SigningSecretRecord>> {
        let window = window.as_secs_f64();
        let row = self
            .query_opt(
                &format!(
                    "WITH previous AS ( \
                         UPDATE service_callback_signing_secrets SET expires_at = now() + make_interval(secs => $4) \
                         WHERE service_id = $1 AND expires_at IS NULL RETURNING id) \
                     INSERT INTO service_callback_signing_secrets (id, service_id, secret, created_by_id) \
                     SELECT gen_random_uuid(), $1, $2, $3 WHERE EXISTS (SELECT 1 FROM previous) \
                     RETURNING {COLUMNS}"
                ),
                &[
                    (&service_id, Type::UUID),
                    (&encrypted_secret, Type::TEXT),
                    (&created_by_id, Type::UUID),
                    (&window, Type::FLOAT8),
                ],
            )
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// Ends a rotation now: the previous secrets stop signing. Returns how many stopped.
    pub async fn finish_signing_rotation(&self, service_id: Uuid) -> DbResult<u64> {
        self.execute(
            "UPDATE service_callback_signing_secrets SET expires_at = now() \
             WHERE service_id = $1 AND expires_at > now()",
            &[(&service_id, Type::UUID)],
        )
        .await
    }

    /// Every secret the service has had, newest first, without the secrets.
    pub async fn signing_secrets(&self, service_id: Uuid) -> DbResult<Vec<SigningSecretRecord>> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM service_callback_signing_secrets WHERE service_id = $1 \
                 ORDER BY created_at DESC, id"
            ),
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(record)
        .collect()
    }

    /// Stops signing: removes all the service's secrets. Returns how many.
    pub async fn delete_signing_secrets(&self, service_id: Uuid) -> DbResult<u64> {
        self.execute(
            "DELETE FROM service_callback_signing_secrets WHERE service_id = $1",
            &[(&service_id, Type::UUID)],
        )
        .await
    }
}
