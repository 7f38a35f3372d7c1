//! The jobs worker's statements: claiming a job, persisting its rows a batch at a time (one statement per batch,
//! in the transaction that also moves the job's checkpoint), and ending or releasing a run.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, JOB_COLUMNS_SQL, JOB_JOINS_SQL, JobRecord, job_record, text_enum};
use notify_core::model::{JobStatus, KeyType, NotificationStatus, NotificationType, Postage};

/// A job a worker has taken: the record, and the key type its rows are sent with (`normal` for admin jobs, the
/// key's for jobs from `POST /v2/notifications/bulk`).
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub job: JobRecord,
    pub key_type: KeyType,
}

/// What every row of one batch shares.
#[derive(Clone, Debug)]
pub struct JobBatchCommon {
    pub job_id: Uuid,
    pub service_id: Uuid,
    pub template_id: Uuid,
    pub template_version: i32,
    pub notification_type: NotificationType,
    pub api_key_id: Option<Uuid>,
    pub key_type: KeyType,
    pub created_by_id: Option<Uuid>,
    pub reply_to_text: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One row's own columns, as the single-send pipeline fills them in.
#[derive(Clone, Debug)]
pub struct JobRowInsert {
    pub id: Uuid,
    pub job_row_number: i32,
    pub to: String,
    pub normalised_to: Option<String>,
    pub status: NotificationStatus,
    pub client_reference: Option<String>,
    pub encrypted_personalisation: Option<String>,
    pub international: bool,
    pub phone_prefix: Option<String>,
    pub rate_multiplier: Option<f64>,
    pub postage: Option<Postage>,
    pub unsubscribe_link: Option<String>,
    pub billable_units: i32,
    pub reference: Option<String>,
}

/// The rows one batch stored for the first time (a row already there from an earlier run is not among them).
#[derive(Clone, Debug, Default)]
pub struct InsertedRows {
    /// The new rows still to be delivered (`created`), in row order.
    pub created: Vec<Uuid>,
    /// How many new rows there were, `validation-failed` ones included.
    pub inserted: usize,
}

/// The claim: a job waiting (`pending`), one check-job-status gave up on (`error`), or one whose worker stopped
/// beating. The `in progress` row's heartbeat is the lock: only one UPDATE can move it, so of two runs at once
/// one gets the row and the other none.
const CLAIM: &str = "WITH claimed AS ( \
       UPDATE jobs SET job_status = 'in progress', processing_started = COALESCE(processing_started, now()), \
         processing_heartbeat = now(), updated_at = now() \
       WHERE id = $1 AND (job_status IN ('pending', 'error') \
         OR (job_status = 'in progress' AND (processing_heartbeat IS NULL \
             OR processing_heartbeat < now() - make_interval(secs => $2)))) \
       RETURNING *) \
     SELECT {columns}, COALESCE(k.key_type, 'normal') AS key_type \
     FROM claimed j {joins} LEFT JOIN api_keys k ON k.id = j.api_key_id";

/// One statement for the whole batch: every column an array (or a value the batch shares), unnested into rows.
/// A row stored by an earlier run of the job is skipped by the (job_id, job_row_number) constraint, so a re-done
/// batch neither duplicates nor fails. `validation-failed` rows get `updated_at`, as upstream's.
const INSERT_BATCH: &str = "INSERT INTO notifications (id, \"to\", normalised_to, service_id, template_id, \
       template_version, api_key_id, key_type, notification_type, created_at, updated_at, notification_status, \
       client_reference, personalisation, international, phone_prefix, rate_multiplier, reply_to_text, postage, \
       unsubscribe_link, billable_units, created_by_id, job_id, job_row_number, reference) \
     SELECT r.id, r.recipient, r.normalised_to, $15, $16, $17, $18, $19, $20, $21, \
       CASE WHEN r.status = 'validation-failed' THEN $21 END, r.status, r.client_reference, r.personalisation, \
       r.international, r.phone_prefix, r.rate_multiplier, $22, r.postage, r.unsubscribe_link, r.billable_units, \
       $23, $24, r.job_row_number, r.reference \
     FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], \
       $9::text[], $10::float8[], $11::text[], $12::text[], $13::int4[], $14::text[]) \
       AS r(id, job_row_number, recipient, normalised_to, status, client_reference, personalisation, international, \
         phone_prefix, rate_multiplier, postage, unsubscribe_link, billable_units, reference) \
     ON CONFLICT (job_id, job_row_number) DO NOTHING \
     RETURNING id, job_row_number, notification_status";

impl Db {
    /// Takes the job for this run, or `None` when it is not waiting (finished, cancelled, scheduled, or another
    /// run holds it with a fresh heartbeat).
    pub async fn claim_job(
        &self,
        job_id: Uuid,
        stale_after: std::time::Duration,
    ) -> DbResult<Option<ClaimedJob>> {
        let sql = CLAIM
            .replace("{columns}", JOB_COLUMNS_SQL)
            .replace("{joins}", JOB_JOINS_SQL);
        let seconds = stale_after.as_secs_f64();
        let row = self
            .query_opt(&sql, &[(&job_id, Type::UUID), (&seconds, Type::FLOAT8)])
            .await?;
        row.map(|row| {
            Ok(ClaimedJob {
                job: job_record(&row)?,
                key_type: text_enum(&row, "key_type", KeyType::parse)?,
            })
        })
        .transpose()
    }

    /// Stores a batch of a job's rows and moves its checkpoint to `rows_processed` (with a heartbeat) in one
    /// transaction: after a crash the next run starts where the last committed batch ended.
    pub async fn insert_job_rows(
        &self,
        common: &JobBatchCommon,
        rows: &[JobRowInsert],
        rows_processed: i32,
    ) -> DbResult<InsertedRows> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let numbers: Vec<i32> = rows.iter().map(|r| r.job_row_number).collect();
        let to: Vec<&str> = rows.iter().map(|r| r.to.as_str()).collect();
        let normalised: Vec<Option<&str>> =
            rows.iter().map(|r| r.normalised_to.as_deref()).collect();
        let statuses: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
        let references: Vec<Option<&str>> =
            rows.iter().map(|r| r.client_reference.as_deref()).collect();
        let personalisation: Vec<Option<&str>> = rows
            .iter()
            .map(|r| r.encrypted_personalisation.as_deref())
            .collect();
        let international: Vec<bool> = rows.iter().map(|r| r.international).collect();
        let prefixes: Vec<Option<&str>> = rows.iter().map(|r| r.phone_prefix.as_deref()).collect();
        let multipliers: Vec<Option<f64>> = rows.iter().map(|r| r.rate_multiplier).collect();
        let postage: Vec<Option<&str>> = rows
            .iter()
            .map(|r| r.postage.map(Postage::as_str))
            .collect();
        let unsubscribe: Vec<Option<&str>> =
            rows.iter().map(|r| r.unsubscribe_link.as_deref()).collect();
        let billable: Vec<i32> = rows.iter().map(|r| r.billable_units).collect();
        let letter_refs: Vec<Option<&str>> = rows.iter().map(|r| r.reference.as_deref()).collect();
        let key_type = common.key_type.as_str();
        let notification_type = common.notification_type.as_str();
        let params: &[crate::Param<'_>] = &[
            (&ids, Type::UUID_ARRAY),
            (&numbers, Type::INT4_ARRAY),
            (&to, Type::TEXT_ARRAY),
            (&normalised, Type::TEXT_ARRAY),
            (&statuses, Type::TEXT_ARRAY),
            (&references, Type::TEXT_ARRAY),
            (&personalisation, Type::TEXT_ARRAY),
            (&international, Type::BOOL_ARRAY),
            (&prefixes, Type::TEXT_ARRAY),
            (&multipliers, Type::FLOAT8_ARRAY),
            (&postage, Type::TEXT_ARRAY),
            (&unsubscribe, Type::TEXT_ARRAY),
            (&billable, Type::INT4_ARRAY),
            (&letter_refs, Type::TEXT_ARRAY),
            (&common.service_id, Type::UUID),
            (&common.template_id, Type::UUID),
            (&common.template_version, Type::INT4),
            (&common.api_key_id, Type::UUID),
            (&key_type, Type::TEXT),
            (&notification_type, Type::TEXT),
            (&common.created_at, Type::TIMESTAMPTZ),
            (&common.reply_to_text, Type::TEXT),
            (&common.created_by_id, Type::UUID),
            (&common.job_id, Type::UUID),
        ];
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let inserted = tx.query_typed(INSERT_BATCH, params).await?;
        tx.execute_typed(
            "UPDATE jobs SET rows_processed = GREATEST(rows_processed, $2), processing_heartbeat = now(), \
             updated_at = now() WHERE id = $1",
            &[(&common.job_id, Type::UUID), (&rows_processed, Type::INT4)],
        )
        .await?;
        tx.commit().await?;
        let mut created: Vec<(i32, Uuid)> = Vec::with_capacity(inserted.len());
        for row in &inserted {
            if text_enum(row, "notification_status", NotificationStatus::parse)?
                == NotificationStatus::Created
            {
                created.push((row.try_get("job_row_number")?, row.try_get("id")?));
            }
        }
        // RETURNING gives no order: the deliveries go in row order.
        created.sort_unstable_by_key(|(n, _)| *n);
        Ok(InsertedRows {
            created: created.into_iter().map(|(_, id)| id).collect(),
            inserted: inserted.len(),
        })
    }

    /// Ends this run with `status` (`finished`, `cancelled`, `sending limits exceeded`), setting
    /// `processing_finished`; only a job still `in progress` moves. True when it did.
    pub async fn end_job_run(&self, job_id: Uuid, status: JobStatus) -> DbResult<bool> {
        let status = status.as_str();
        Ok(self
            .execute(
                "UPDATE jobs SET job_status = $2, processing_finished = now(), processing_heartbeat = now(), \
                 updated_at = now() WHERE id = $1 AND job_status = 'in progress'",
                &[(&job_id, Type::UUID), (&status, Type::TEXT)],
            )
            .await?
            == 1)
    }

    /// A run out of time hands the job back (`pending`, checkpoint kept) so the `ProcessJob` it queues for
    /// itself can claim it at once.
    pub async fn release_job(&self, job_id: Uuid) -> DbResult<bool> {
        Ok(self
            .execute(
                "UPDATE jobs SET job_status = 'pending', updated_at = now() \
                 WHERE id = $1 AND job_status = 'in progress'",
                &[(&job_id, Type::UUID)],
            )
            .await?
            == 1)
    }

    /// The service of a job, for a message that names only the job.
    pub async fn job_service(&self, job_id: Uuid) -> DbResult<Option<Uuid>> {
        Ok(self
            .query_opt(
                "SELECT service_id FROM jobs WHERE id = $1",
                &[(&job_id, Type::UUID)],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?)
    }
}
