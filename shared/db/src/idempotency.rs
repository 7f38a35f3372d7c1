//! `idempotency_claims` and `idempotency_keys`: the Idempotency-Key a service sent with a POST that creates, the
//! request holding it while in flight, and the response it got.
//!
//! How exactly one notification comes of many concurrent requests with one key, under RDS Proxy (no session
//! state, no advisory lock, no transaction held open while the request is checked, since that may call S3):
//!
//! 1. **Claim**, one autocommitted statement: unless the key already has a response (`idempotency_keys`),
//!    `INSERT INTO idempotency_claims … ON CONFLICT (service_id, idempotency_key) DO UPDATE … WHERE <its lease
//!    ran out>`. The primary key serialises concurrent claims, so one request gets the key, with its own
//!    `claim_id` and a lease. The others read, in a second statement (a new snapshot, which sees what the first
//!    committed), the response (replayed; another fingerprint is a 422) or the claim (409). The claims table is
//!    UNLOGGED: this commit writes no WAL and waits for no flush, so a key costs one durable commit per send, the
//!    notification's own, as without a key.
//! 2. **Check** the request with no transaction open (the accept pipeline as without a key).
//! 3. **Complete**, one statement (for a precompiled letter or a job, one transaction): `DELETE` our claim (`WHERE
//!    claim_id = <ours>`), `INSERT` the response into `idempotency_keys` only if that deleted a row and the key
//!    has no response yet, and `INSERT` the notification only if that inserted one. A request whose lease ran out
//!    and was taken over finds its claim gone; one that raced another's completion finds the response there;
//!    either stores nothing. The primary key of `idempotency_keys` makes two notifications for one key impossible
//!    whatever the timing; the claim only decides who tries.
//! 4. A request refused (any 4xx or 5xx) **releases** its claim, so it is not remembered; if even that fails, the
//!    lease runs out and the next retry takes the key over.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::csv_jobs::{JOB_COLUMNS_SQL, JOB_JOINS_SQL, job_record};
use crate::{Db, DbResult, JobRecord, NewJob};
use notify_core::idempotency::RETENTION;

/// One request's hold on a key.
#[derive(Clone, Debug)]
pub struct IdempotencyClaim {
    pub service_id: Uuid,
    pub key: String,
    /// SHA-256 of the operation and canonical body.
    pub fingerprint: [u8; 32],
    /// This request's own id: only it may complete the key.
    pub claim_id: Uuid,
}

/// What a key already has: a response, or another request holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeldKey {
    Answered {
        fingerprint: Vec<u8>,
        status_code: i16,
        response_body: String,
    },
    InFlight {
        fingerprint: Vec<u8>,
        locked_until: DateTime<Utc>,
    },
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is ours: go on with the request.
    Claimed,
    Held(HeldKey),
    /// Neither a response nor a claim by the second statement (the holder failed and released it): claim again.
    Vanished,
}

/// The response to remember for a claim, written with what the request created.
#[derive(Clone, Copy, Debug)]
pub struct KeyCompletion<'a> {
    pub claim: &'a IdempotencyClaim,
    /// When the key was answered: it is remembered for [`RETENTION`] from then.
    pub created_at: DateTime<Utc>,
    pub status_code: i16,
    pub response_body: &'a str,
    pub resource_id: Option<Uuid>,
}

/// Step 3's `c` and `k` CTEs, the `k` one returning a row only if the response was stored. `$1`.. are taken by
/// the caller's own parameters: these start at `$first`, in [`KeyCompletion::params`]'s order.
pub(crate) fn complete_ctes(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "c AS (DELETE FROM idempotency_claims WHERE service_id = {svc} AND idempotency_key = {key} \
           AND claim_id = {claim} RETURNING fingerprint), \
         k AS (INSERT INTO idempotency_keys AS ik (service_id, idempotency_key, fingerprint, created_at, status_code, \
           response_body, resource_id) SELECT {svc}, {key}, c.fingerprint, {at}, {status}, {body}, {resource} FROM c \
           ON CONFLICT (service_id, idempotency_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             created_at = EXCLUDED.created_at, status_code = EXCLUDED.status_code, \
             response_body = EXCLUDED.response_body, resource_id = EXCLUDED.resource_id \
           WHERE ik.created_at <= {forgotten} RETURNING 1)",
        svc = p(0),
        key = p(1),
        claim = p(2),
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
    forgotten_before: DateTime<Utc>,
}

impl<'a> KeyCompletion<'a> {
    pub(crate) fn bind(&'a self) -> CompletionParams<'a> {
        CompletionParams {
            completion: self,
            forgotten_before: self.created_at - RETENTION,
        }
    }
}

impl CompletionParams<'_> {
    /// The parameters of [`complete_ctes`], in its order.
    pub(crate) fn params(&self) -> [crate::Param<'_>; 8] {
        let c = self.completion;
        [
            (&c.claim.service_id, Type::UUID),
            (&c.claim.key, Type::TEXT),
            (&c.claim.claim_id, Type::UUID),
            (&c.created_at, Type::TIMESTAMPTZ),
            (&c.status_code, Type::INT2),
            (&c.response_body, Type::TEXT),
            (&c.resource_id, Type::UUID),
            (&self.forgotten_before, Type::TIMESTAMPTZ),
        ]
    }
}

impl Db {
    /// Step 1 above. A claim may be taken over when its lease ran out and it is for the same request (its request
    /// died; the retry carries on for it). A response older than `retention` is forgotten.
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
        let key_params: [crate::Param<'_>; 3] = [
            (&claim.service_id, Type::UUID),
            (&claim.key, Type::TEXT),
            (&forgotten_before, Type::TIMESTAMPTZ),
        ];
        let mut params = key_params.to_vec();
        params.extend_from_slice(&[
            (&fingerprint, Type::BYTEA),
            (&claim.claim_id, Type::UUID),
            (&locked_until, Type::TIMESTAMPTZ),
            (&now, Type::TIMESTAMPTZ),
        ]);
        let row = self
            .query_opt(
                "WITH answered AS (SELECT 1 FROM idempotency_keys WHERE service_id = $1 AND idempotency_key = $2 \
                   AND created_at > $3), \
                 claimed AS (INSERT INTO idempotency_claims AS c (service_id, idempotency_key, fingerprint, claim_id, \
                   locked_until) SELECT $1, $2, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM answered) \
                   ON CONFLICT (service_id, idempotency_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
                     claim_id = EXCLUDED.claim_id, locked_until = EXCLUDED.locked_until \
                   WHERE c.locked_until <= $7 AND c.fingerprint = EXCLUDED.fingerprint RETURNING 1) \
                 SELECT count(*) FROM claimed",
                &params,
            )
            .await?;
        if row.is_some_and(|r| r.get::<_, i64>(0) == 1) {
            return Ok(ClaimOutcome::Claimed);
        }
        // A new statement, so a new snapshot: it sees what the request holding the key committed.
        let rows = self
            .query(
                "SELECT fingerprint, status_code, response_body, NULL::timestamptz AS locked_until \
                   FROM idempotency_keys WHERE service_id = $1 AND idempotency_key = $2 AND created_at > $3 \
                 UNION ALL \
                 SELECT fingerprint, NULL, NULL, locked_until FROM idempotency_claims \
                   WHERE service_id = $1 AND idempotency_key = $2",
                &key_params,
            )
            .await?;
        let mut in_flight = None;
        for row in &rows {
            let fingerprint: Vec<u8> = row.try_get("fingerprint")?;
            let status_code: Option<i16> = row.try_get("status_code")?;
            let response_body: Option<String> = row.try_get("response_body")?;
            let locked_until: Option<DateTime<Utc>> = row.try_get("locked_until")?;
            match (status_code, response_body, locked_until) {
                (Some(status_code), Some(response_body), _) => {
                    return Ok(ClaimOutcome::Held(HeldKey::Answered {
                        fingerprint,
                        status_code,
                        response_body,
                    }));
                }
                (_, _, Some(locked_until)) => {
                    in_flight = Some(HeldKey::InFlight {
                        fingerprint,
                        locked_until,
                    });
                }
                _ => {}
            }
        }
        Ok(in_flight.map_or(ClaimOutcome::Vanished, ClaimOutcome::Held))
    }

    /// Completes a claim that created nothing stored (a simulated recipient's answer); false if the claim is gone
    /// or the key was answered meanwhile.
    pub async fn complete_idempotency_key(&self, completion: &KeyCompletion<'_>) -> DbResult<bool> {
        let bound = completion.bind();
        let sql = format!("WITH {} SELECT count(*) FROM k", complete_ctes(1));
        let row = self.query_opt(&sql, &bound.params()).await?;
        Ok(row.is_some_and(|r| r.get::<_, i64>(0) == 1))
    }

    /// Step 4: a refused request is not remembered.
    pub async fn release_idempotency_key(&self, claim: &IdempotencyClaim) -> DbResult<()> {
        self.execute(
            "DELETE FROM idempotency_claims WHERE service_id = $1 AND idempotency_key = $2 AND claim_id = $3",
            &[
                (&claim.service_id, Type::UUID),
                (&claim.key, Type::TEXT),
                (&claim.claim_id, Type::UUID),
            ],
        )
        .await?;
        Ok(())
    }

    /// Up to `limit` responses stored before `before`, oldest first, deleted (`delete-expired-idempotency-keys`).
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

    /// Up to `limit` claims whose lease ended before `before` (their requests died), deleted.
    pub async fn purge_stale_idempotency_claims(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<u64> {
        self.execute(
            "DELETE FROM idempotency_claims WHERE (service_id, idempotency_key) IN ( \
               SELECT service_id, idempotency_key FROM idempotency_claims WHERE locked_until < $1 \
               ORDER BY locked_until LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[(&before, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
        )
        .await
    }

    /// [`Db::insert_job`] for a claimed key: the job and the key's response in one transaction, the response made
    /// from the stored job by `respond` (pure: nothing outbound runs while the transaction is open). `None` when
    /// the claim is gone or the key was answered meanwhile: nothing is created.
    pub async fn insert_job_completing_key(
        &self,
        job: &NewJob,
        claim: &IdempotencyClaim,
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
            claim,
            created_at,
            status_code,
            response_body: &body,
            resource_id: Some(record.id),
        };
        let bound = completion.bind();
        let completed = tx
            .query_typed(
                &format!("WITH {} SELECT count(*) FROM k", complete_ctes(1)),
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
