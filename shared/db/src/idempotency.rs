//! `idempotency_keys`: the Idempotency-Key a service sent with a POST that creates, and the response it got.
//!
//! How exactly one notification comes of many concurrent requests with one key, under RDS Proxy (no session
//! state, no advisory lock, no transaction held open while the request is checked, since that may call S3):
//!
//! 1. **Claim**, outside Postgres: `notify_app::idempotency` sets the key in its claim store (Redis, or in-process
//!    without `REDIS_URL`) only if it is not there, in one round trip. That decides which of many concurrent
//!    requests runs the pipeline and which are told 409 (in flight) or 422 (another body) at once; only a repeat
//!    reads Postgres ([`Db::answered_idempotency_key`]) to be replayed. The claim is an optimisation, never the
//!    guarantee: the store may lose it (Redis down, restarted, evicted, another Lambda's in-process store).
//! 2. **Check** the request with no transaction open (the accept pipeline as without a key).
//! 3. **Complete**, one statement: a send's key, fingerprint and response are three columns of the notification's
//!    own INSERT (V18), and the partial unique index [`NOTIFICATION_KEY_INDEX`] on `(service_id,
//!    idempotency_key)` is the guarantee: a concurrent insert of the same key waits for the first to commit and
//!    then fails on it, so two notifications for one key are impossible whatever the claim store said. The
//!    request that fails stores nothing and is answered from the stored row (replayed, or 422 for another body).
//!    An answer that creates no notification (a simulated recipient, a bulk job) is a row of `idempotency_keys`
//!    instead, written only if no notification holds the key ([`complete_cte`]).
//! 4. A request refused (any 4xx or 5xx) **releases** its claim in the store, so it is not remembered; nothing of
//!    it was written here.
//!
//! One gap, only when the claim store has lost a claim: a key first answered by a simulated send or a bulk job,
//! then sent again with a send that stores a notification (another body, by definition), creates that
//! notification instead of a 422: the notification's insert does not read `idempotency_keys`, since that read
//! (an `INSERT … SELECT … WHERE NOT EXISTS`) measured as costly as the second row it replaced.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::csv_jobs::{JOB_COLUMNS_SQL, JOB_JOINS_SQL, job_record};
use crate::{Db, DbResult, JobRecord, NewJob};
use notify_core::idempotency::RETENTION;

/// A request sent with a key: whose key, and what it asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotentRequest {
    pub service_id: Uuid,
    pub key: String,
    /// SHA-256 of the operation and canonical body.
    pub fingerprint: [u8; 32],
}

/// A key's stored response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsweredKey {
    pub fingerprint: Vec<u8>,
    pub status_code: i16,
    pub response_body: String,
}

/// The response to remember for a request, written with what the request created.
#[derive(Clone, Copy, Debug)]
pub struct KeyCompletion<'a> {
    pub request: &'a IdempotentRequest,
    /// When the key was answered: it is remembered for [`RETENTION`] from then.
    pub created_at: DateTime<Utc>,
    pub status_code: i16,
    pub response_body: &'a str,
    pub resource_id: Option<Uuid>,
}

/// The index that keeps a key to one notification; an insert that fails on it found the key taken.
pub(crate) const NOTIFICATION_KEY_INDEX: &str = "ix_notifications_idempotency_key";

/// Step 3's `k` CTE for an answer that creates no notification, returning a row only if the response was stored
/// (not if a notification holds the key). `$1`.. are taken by the caller's own
/// parameters: these start at `$first`, in [`KeyCompletion::params`]'s order.
pub(crate) fn complete_cte(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "k AS (INSERT INTO idempotency_keys AS ik (service_id, idempotency_key, fingerprint, created_at, status_code, \
           response_body, resource_id) SELECT {svc}, {key}, {fingerprint}, {at}, {status}, {body}, {resource} \
           WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.service_id = {svc} \
             AND n.idempotency_key = {key} AND n.created_at > {forgotten}) \
           ON CONFLICT (service_id, idempotency_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             created_at = EXCLUDED.created_at, status_code = EXCLUDED.status_code, \
             response_body = EXCLUDED.response_body, resource_id = EXCLUDED.resource_id \
           WHERE ik.created_at <= {forgotten} RETURNING 1)",
        svc = p(0),
        key = p(1),
        fingerprint = p(2),
        at = p(3),
        status = p(4),
        body = p(5),
        resource = p(6),
        forgotten = p(7),
    )
}

/// A completion's parameters, owned for as long as the statement borrows them.
pub(crate) struct CompletionParams<'a> {
    completion: &'a KeyCompletion<'a>,
    fingerprint: &'a [u8],
    forgotten_before: DateTime<Utc>,
}

impl<'a> KeyCompletion<'a> {
    pub(crate) fn bind(&'a self) -> CompletionParams<'a> {
        CompletionParams {
            completion: self,
            fingerprint: self.request.fingerprint.as_slice(),
            forgotten_before: self.created_at - RETENTION,
        }
    }
}

impl CompletionParams<'_> {
    /// The parameters of [`complete_cte`], in its order.
    pub(crate) fn params(&self) -> [crate::Param<'_>; 8] {
        let c = self.completion;
        [
            (&c.request.service_id, Type::UUID),
            (&c.request.key, Type::TEXT),
            (&self.fingerprint, Type::BYTEA),
            (&c.created_at, Type::TIMESTAMPTZ),
            (&c.status_code, Type::INT2),
            (&c.response_body, Type::TEXT),
            (&c.resource_id, Type::UUID),
            (&self.forgotten_before, Type::TIMESTAMPTZ),
        ]
    }

    /// The key's columns on the notification that answers it, as `$27..$29` of its INSERT. The answer of a
    /// request that stores a notification is always its 201, so no status is kept there.
    pub(crate) fn on_notification(&self) -> [crate::Param<'_>; 3] {
        let c = self.completion;
        debug_assert_eq!(c.status_code, 201);
        [
            (&c.request.key, Type::TEXT),
            (&self.fingerprint, Type::BYTEA),
            (&c.response_body, Type::TEXT),
        ]
    }
}

impl Db {
    /// The key's response, unless it is older than [`RETENTION`] at `now` (forgotten).
    pub async fn answered_idempotency_key(
        &self,
        service_id: Uuid,
        key: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Option<AnsweredKey>> {
        let forgotten_before = now - RETENTION;
        let row = self
            .query_opt(
                "SELECT idempotency_fingerprint AS fingerprint, 201::int2 AS status_code, \
                   idempotency_response AS response_body FROM notifications \
                 WHERE service_id = $1 AND idempotency_key = $2 AND created_at > $3 \
                 UNION ALL SELECT fingerprint, status_code, response_body FROM idempotency_keys \
                 WHERE service_id = $1 AND idempotency_key = $2 AND created_at > $3 LIMIT 1",
                &[
                    (&service_id, Type::UUID),
                    (&key, Type::TEXT),
                    (&forgotten_before, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        row.map(|row| {
            Ok(AnsweredKey {
                fingerprint: row.try_get("fingerprint")?,
                status_code: row.try_get("status_code")?,
                response_body: row.try_get("response_body")?,
            })
        })
        .transpose()
    }

    /// Stores the response of a request that created nothing stored (a simulated recipient's answer); false if
    /// the key was answered first.
    pub async fn complete_idempotency_key(&self, completion: &KeyCompletion<'_>) -> DbResult<bool> {
        let bound = completion.bind();
        let sql = format!("WITH {} SELECT count(*) FROM k", complete_cte(1));
        let row = self.query_opt(&sql, &bound.params()).await?;
        Ok(row.is_some_and(|r| r.get::<_, i64>(0) == 1))
    }

    /// Up to `limit` responses stored before `before` deleted, and up to `limit` keys answered by a notification
    /// before `before` cleared from it (`delete-expired-idempotency-keys`): how many, together.
    pub async fn purge_expired_idempotency_keys(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<u64> {
        let params: [crate::Param<'_>; 2] = [(&before, Type::TIMESTAMPTZ), (&limit, Type::INT8)];
        let rows = self
            .execute(
                "DELETE FROM idempotency_keys WHERE (service_id, idempotency_key) IN ( \
                   SELECT service_id, idempotency_key FROM idempotency_keys WHERE created_at < $1 \
                   ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &params,
            )
            .await?;
        let on_notifications = self
            .execute(
                "UPDATE notifications SET idempotency_key = NULL, idempotency_fingerprint = NULL, \
                   idempotency_response = NULL WHERE id IN ( \
                   SELECT id FROM notifications WHERE idempotency_key IS NOT NULL AND created_at < $1 \
                   LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &params,
            )
            .await?;
        Ok(rows + on_notifications)
    }

    /// Clears the key of `bound`'s request from a notification that answered it before its retention ended;
    /// true if one did (the key may be used again).
    pub(crate) async fn forget_stale_key_on_notification(
        &self,
        bound: &CompletionParams<'_>,
    ) -> DbResult<bool> {
        let c = bound.completion;
        Ok(self
            .execute(
                "UPDATE notifications SET idempotency_key = NULL, idempotency_fingerprint = NULL, \
                   idempotency_response = NULL \
                 WHERE service_id = $1 AND idempotency_key = $2 AND created_at <= $3",
                &[
                    (&c.request.service_id, Type::UUID),
                    (&c.request.key, Type::TEXT),
                    (&bound.forgotten_before, Type::TIMESTAMPTZ),
                ],
            )
            .await?
            > 0)
    }

    /// [`Db::insert_job`] completing a key: the job and the key's response in one transaction, the response made
    /// from the stored job by `respond` (pure: nothing outbound runs while the transaction is open). `None` when
    /// the key was answered first: nothing is created.
    pub async fn insert_job_completing_key(
        &self,
        job: &NewJob,
        request: &IdempotentRequest,
        created_at: DateTime<Utc>,
        respond: impl FnOnce(&JobRecord) -> (i16, String),
    ) -> DbResult<Option<JobRecord>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let status = job.status.as_str();
        tx.execute_typed(
            crate::csv_jobs::INSERT_JOB_SQL,
            &crate::csv_jobs::insert_job_params(job, &status),
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
            request,
            created_at,
            status_code,
            response_body: &body,
            resource_id: Some(record.id),
        };
        let bound = completion.bind();
        let completed = tx
            .query_typed(
                &format!("WITH {} SELECT count(*) FROM k", complete_cte(1)),
                &bound.params(),
            )
            .await?;
        if completed.first().map(|r| r.get::<_, i64>(0)) != Some(1) {
            // Dropped: rolled back, no job.
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(record))
    }
}
