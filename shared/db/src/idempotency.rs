//! `idempotency_keys`: the Idempotency-Key a service sent with a POST that creates, and the response it got.
//!
//! How exactly one notification comes of many concurrent requests with one key, under RDS Proxy (no session
//! state, no advisory lock, no transaction held open while the request is checked, since that may call S3):
//!
//! 1. **Claim**, one autocommitted statement: `INSERT … ON CONFLICT (service_id, idempotency_key) DO UPDATE …
//!    WHERE <the row may be taken>`. The primary key serialises concurrent claims (a second insert waits for the
//!    first's commit, a few microseconds since it commits at once), so exactly one request gets the row, marked in
//!    flight with its own `claim_id` and a lease. The others read the row in a second statement, which sees the
//!    committed row: a different fingerprint is a 422, in flight a 409, complete a replay of its response.
//! 2. **Check** the request with no transaction open (the accept pipeline as without a key).
//! 3. **Complete**: the notification INSERT and the UPDATE of the key row `WHERE claim_id = <ours> AND
//!    status_code IS NULL` are one statement (or, for a precompiled letter or a job, one transaction), and the
//!    INSERT happens only if the UPDATE matched. A request whose lease ran out and was taken over by a retry finds
//!    its claim gone and creates nothing; so no key ever has two notifications, whatever the timing.
//! 4. A request refused (any 4xx or 5xx) **releases** its claim (deletes the row), so it is not remembered; if
//!    even that fails, the lease runs out and the next retry takes the row over.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::csv_jobs::{JOB_COLUMNS_SQL, JOB_JOINS_SQL, job_record};
use crate::{Db, DbResult, JobRecord, NewJob};

/// One request's hold on a key.
#[derive(Clone, Debug)]
pub struct IdempotencyClaim {
    pub service_id: Uuid,
    pub key: String,
    /// SHA-256 of the operation and canonical body.
    pub fingerprint: [u8; 32],
    /// This request's own id: only it may complete the row.
    pub claim_id: Uuid,
}

/// A key row someone else holds or completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIdempotencyKey {
    pub fingerprint: Vec<u8>,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub status_code: Option<i16>,
    pub response_body: Option<String>,
    pub resource_id: Option<Uuid>,
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The row is ours: go on with the request.
    Claimed,
    /// Another request's row, in flight or complete.
    Held(StoredIdempotencyKey),
    /// The row went between the two statements (its request failed and released it): claim again.
    Vanished,
}

/// The response to remember for a claim, written with what the request created.
#[derive(Clone, Copy, Debug)]
pub struct KeyCompletion<'a> {
    pub claim: &'a IdempotencyClaim,
    pub status_code: i16,
    pub response_body: &'a str,
    pub resource_id: Option<Uuid>,
}

/// Completes the claim's row; the statement the notification INSERT joins as its `k` CTE. `$1`.. are taken by
/// the caller's own parameters: these start at `$first`.
pub(crate) fn complete_sql(first: usize) -> String {
    format!(
        "UPDATE idempotency_keys SET status_code = ${}, response_body = ${}, resource_id = ${}, locked_until = NULL \
         WHERE service_id = ${} AND idempotency_key = ${} AND claim_id = ${} AND status_code IS NULL RETURNING 1",
        first,
        first + 1,
        first + 2,
        first + 3,
        first + 4,
        first + 5
    )
}

impl KeyCompletion<'_> {
    /// The parameters of [`complete_sql`], in its order.
    pub(crate) fn params(&self) -> [crate::Param<'_>; 6] {
        [
            (&self.status_code, Type::INT2),
            (&self.response_body, Type::TEXT),
            (&self.resource_id, Type::UUID),
            (&self.claim.service_id, Type::UUID),
            (&self.claim.key, Type::TEXT),
            (&self.claim.claim_id, Type::UUID),
        ]
    }
}

impl Db {
    /// Step 1 above. A row may be taken over when it is older than `retention` (forgotten), or when it is still
    /// in flight past its lease with the same fingerprint (its request died; the retry carries on for it).
    pub async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        retention: chrono::TimeDelta,
    ) -> DbResult<ClaimOutcome> {
        let locked_until = now + chrono::TimeDelta::from_std(lease).unwrap_or_default();
        let forgotten_before = now - retention;
        let fingerprint = claim.fingerprint.as_slice();
        let claimed = self
            .execute(
                "INSERT INTO idempotency_keys AS k (service_id, idempotency_key, fingerprint, claim_id, \
                   locked_until, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (service_id, idempotency_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
                   claim_id = EXCLUDED.claim_id, locked_until = EXCLUDED.locked_until, \
                   created_at = EXCLUDED.created_at, status_code = NULL, response_body = NULL, resource_id = NULL \
                 WHERE k.created_at <= $7 \
                   OR (k.status_code IS NULL AND k.locked_until <= $6 AND k.fingerprint = EXCLUDED.fingerprint)",
                &[
                    (&claim.service_id, Type::UUID),
                    (&claim.key, Type::TEXT),
                    (&fingerprint, Type::BYTEA),
                    (&claim.claim_id, Type::UUID),
                    (&locked_until, Type::TIMESTAMPTZ),
                    (&now, Type::TIMESTAMPTZ),
                    (&forgotten_before, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        if claimed == 1 {
            return Ok(ClaimOutcome::Claimed);
        }
        // A new statement, so a new snapshot: it sees the row the conflicting request committed.
        let row = self
            .query_opt(
                "SELECT fingerprint, locked_until, created_at, status_code, response_body, resource_id \
                 FROM idempotency_keys WHERE service_id = $1 AND idempotency_key = $2",
                &[(&claim.service_id, Type::UUID), (&claim.key, Type::TEXT)],
            )
            .await?;
        let Some(row) = row else {
            return Ok(ClaimOutcome::Vanished);
        };
        Ok(ClaimOutcome::Held(StoredIdempotencyKey {
            fingerprint: row.try_get("fingerprint")?,
            locked_until: row.try_get("locked_until")?,
            created_at: row.try_get("created_at")?,
            status_code: row.try_get("status_code")?,
            response_body: row.try_get("response_body")?,
            resource_id: row.try_get("resource_id")?,
        }))
    }

    /// Completes a claim that created nothing stored (a simulated recipient's answer); false if the claim is gone.
    pub async fn complete_idempotency_key(&self, completion: &KeyCompletion<'_>) -> DbResult<bool> {
        Ok(self.execute(&complete_sql(1), &completion.params()).await? == 1)
    }

    /// Step 4: a refused request is not remembered.
    pub async fn release_idempotency_key(&self, claim: &IdempotencyClaim) -> DbResult<()> {
        self.execute(
            "DELETE FROM idempotency_keys WHERE service_id = $1 AND idempotency_key = $2 AND claim_id = $3 \
             AND status_code IS NULL",
            &[
                (&claim.service_id, Type::UUID),
                (&claim.key, Type::TEXT),
                (&claim.claim_id, Type::UUID),
            ],
        )
        .await?;
        Ok(())
    }

    /// Up to `limit` keys created before `before`, oldest first, deleted (`delete-expired-idempotency-keys`).
    pub async fn purge_expired_idempotency_keys(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<u64> {
        self.execute(
            "DELETE FROM idempotency_keys WHERE (service_id, idempotency_key) IN ( \
               SELECT service_id, idempotency_key FROM idempotency_keys WHERE created_at < $1 \
               ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[(&before, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
        )
        .await
    }

    /// [`Db::insert_job`] for a claimed key: the job and the completed key row in one transaction, the response
    /// made from the stored job by `respond` (pure: nothing outbound runs while the transaction is open). `None`
    /// when the claim is gone: nothing is created.
    pub async fn insert_job_completing_key(
        &self,
        job: &NewJob,
        claim: &IdempotencyClaim,
        respond: impl FnOnce(&JobRecord) -> (i16, String),
    ) -> DbResult<Option<JobRecord>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let status = job.status.as_str();
        tx.execute_typed(
            "INSERT INTO jobs (id, service_id, template_id, template_version, original_file_name, \
               notification_count, job_status, scheduled_for, created_by_id, api_key_id, sender_id, upload_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
            &[
                (&job.id, Type::UUID),
                (&job.service_id, Type::UUID),
                (&job.template_id, Type::UUID),
                (&job.template_version, Type::INT4),
                (&job.original_file_name, Type::TEXT),
                (&job.notification_count, Type::INT4),
                (&status, Type::TEXT),
                (&job.scheduled_for, Type::TIMESTAMPTZ),
                (&job.created_by_id, Type::UUID),
                (&job.api_key_id, Type::UUID),
                (&job.sender_id, Type::UUID),
                (&job.upload_key, Type::TEXT),
            ],
        )
        .await?;
        let rows = tx
            .query_typed(
                &format!(
                    "SELECT {JOB_COLUMNS_SQL} FROM jobs j {JOB_JOINS_SQL} WHERE j.id = $1 AND j.service_id = $2"
                ),
                &[(&job.id, Type::UUID), (&job.service_id, Type::UUID)],
            )
            .await?;
        let record = match rows.first() {
            Some(row) => job_record(row)?,
            None => return Err(crate::DbError::Data(format!("job {} not created", job.id))),
        };
        let (status_code, body) = respond(&record);
        let completion = KeyCompletion {
            claim,
            status_code,
            response_body: &body,
            resource_id: Some(record.id),
        };
        let completed = tx
            .execute_typed(&complete_sql(1), &completion.params())
            .await?;
        if completed != 1 {
            // Dropped: rolled back, no job.
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(record))
    }
}
