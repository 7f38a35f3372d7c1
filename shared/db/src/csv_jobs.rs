//! CSV jobs (`jobs` table): the record every job use case reads, and creating one. The admin API's lists and
//! statistics, the worker's claim and batches, and the schedulers' statements live beside it in their own
//! modules (`job_rows`, `job_schedule`).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, text_enum};
use notify_core::model::{JobStatus, NotificationType};

/// A job as stored, with what its presentation needs of its template and creator.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub template_id: Uuid,
    pub template_version: i32,
    pub template_type: NotificationType,
    pub template_name: String,
    /// The service's name, as upstream's job JSON shows it (`service_name`).
    pub service_name: String,
    pub original_file_name: String,
    pub notification_count: i32,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub processing_started: Option<DateTime<Utc>>,
    pub processing_finished: Option<DateTime<Utc>>,
    pub created_by_id: Option<Uuid>,
    pub created_by_name: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub sender_id: Option<Uuid>,
    pub upload_key: Option<String>,
    pub archived: bool,
    pub rows_processed: i32,
}

/// A job to create: the upload's id is the job's.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: Uuid,
    pub service_id: Uuid,
    pub template_id: Uuid,
    pub template_version: i32,
    pub original_file_name: String,
    pub notification_count: i32,
    /// `Scheduled` with `scheduled_for`, else `Pending`.
    pub status: JobStatus,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub created_by_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub sender_id: Option<Uuid>,
    pub upload_key: String,
}

/// The columns [`job_record`] reads, for every statement that returns jobs (`j` is `jobs`). The service name is a
/// subquery so that [`JOB_JOINS_SQL`] stays what the other job statements already join.
pub const JOB_COLUMNS_SQL: &str = "j.id, j.service_id, j.template_id, j.template_version, t.template_type, \
     t.name AS template_name, (SELECT s.name FROM services s WHERE s.id = j.service_id) AS service_name, \
     j.original_file_name, j.notification_count, j.job_status, j.created_at, \
     j.updated_at, j.scheduled_for, j.processing_started, j.processing_finished, j.created_by_id, \
     u.name AS created_by_name, j.api_key_id, j.sender_id, j.upload_key, j.archived, j.rows_processed";

/// What [`JOB_COLUMNS_SQL`] needs joined to `jobs j`.
pub const JOB_JOINS_SQL: &str = "JOIN templates_history t ON t.id = j.template_id AND t.version = j.template_version \
     LEFT JOIN users u ON u.id = j.created_by_id";

pub fn job_record(row: &Row) -> DbResult<JobRecord> {
    Ok(JobRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        template_id: row.try_get("template_id")?,
        template_version: row.try_get("template_version")?,
        template_type: text_enum(row, "template_type", NotificationType::parse)?,
        template_name: row.try_get("template_name")?,
        service_name: row.try_get("service_name")?,
        original_file_name: row.try_get("original_file_name")?,
        notification_count: row.try_get("notification_count")?,
        status: text_enum(row, "job_status", JobStatus::parse)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        scheduled_for: row.try_get("scheduled_for")?,
        processing_started: row.try_get("processing_started")?,
        processing_finished: row.try_get("processing_finished")?,
        created_by_id: row.try_get("created_by_id")?,
        created_by_name: row.try_get("created_by_name")?,
        api_key_id: row.try_get("api_key_id")?,
        sender_id: row.try_get("sender_id")?,
        upload_key: row.try_get("upload_key")?,
        archived: row.try_get("archived")?,
        rows_processed: row.try_get("rows_processed")?,
    })
}

/// A job's INSERT, `$1`..`$12` from [`insert_job_params`]; a job already there (a retried request) is left alone.
pub(crate) const INSERT_JOB_SQL: &str = "INSERT INTO jobs (id, service_id, template_id, template_version, \
     original_file_name, notification_count, job_status, scheduled_for, created_by_id, api_key_id, sender_id, \
     upload_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING";

/// The parameters of [`INSERT_JOB_SQL`]; `status` is `job.status` as text, owned by the caller.
pub(crate) fn insert_job_params<'a>(
    job: &'a NewJob,
    status: &'a &'a str,
) -> [crate::Param<'a>; 12] {
    [
        (&job.id, Type::UUID),
        (&job.service_id, Type::UUID),
        (&job.template_id, Type::UUID),
        (&job.template_version, Type::INT4),
        (&job.original_file_name, Type::TEXT),
        (&job.notification_count, Type::INT4),
        (status, Type::TEXT),
        (&job.scheduled_for, Type::TIMESTAMPTZ),
        (&job.created_by_id, Type::UUID),
        (&job.api_key_id, Type::UUID),
        (&job.sender_id, Type::UUID),
        (&job.upload_key, Type::TEXT),
    ]
}

impl Db {
    /// Creates the job; a second create with the same id (a retried request) returns the job already there.
    pub async fn insert_job(&self, job: &NewJob) -> DbResult<JobRecord> {
        let sql = format!(
            "WITH inserted AS ({INSERT_JOB_SQL} RETURNING id) \
             SELECT {JOB_COLUMNS_SQL} FROM jobs j {JOB_JOINS_SQL} \
             WHERE j.id = $1 AND j.service_id = $2"
        );
        let status = job.status.as_str();
        let rows = self.query(&sql, &insert_job_params(job, &status)).await?;
        if let Some(row) = rows.first() {
            return job_record(row);
        }
        // The CTE's insert is not visible to its own SELECT: read the new row afterwards.
        self.get_job(job.service_id, job.id)
            .await?
            .ok_or_else(|| crate::DbError::Data(format!("job {} not created", job.id)))
    }

    /// One job of a service.
    pub async fn get_job(&self, service_id: Uuid, job_id: Uuid) -> DbResult<Option<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS_SQL} FROM jobs j {JOB_JOINS_SQL} WHERE j.id = $1 AND j.service_id = $2"
        );
        self.query_opt(&sql, &[(&job_id, Type::UUID), (&service_id, Type::UUID)])
            .await?
            .as_ref()
            .map(job_record)
            .transpose()
    }
}

/// How many of a job's notifications are in one status (upstream's job `statistics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStatistic {
    pub status: String,
    pub count: i64,
}

/// Which of a service's jobs the admin list shows.
#[derive(Clone, Debug, Default)]
pub struct JobListFilter {
    /// Created at or after (upstream's `limit_days`: London midnight that many days ago).
    pub created_since: Option<DateTime<Utc>>,
    /// Only these statuses; none: every status.
    pub statuses: Vec<String>,
    /// 1-based.
    pub page: i64,
    pub page_size: i64,
}

/// What cancelling a letter job did: the job's letters now `cancelled`, and how many of them had counted
/// against today's letter limit (they were waiting to print).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelledLetterJob {
    pub cancelled: u64,
    pub counted: u64,
}

/// Letter statuses a job's letters may all be in for the job to be cancelled (notifications-utils'
/// `CANCELLABLE_JOB_LETTER_STATUSES`): nothing has gone to print.
pub const CANCELLABLE_JOB_LETTER_STATUSES: &[&str] = &[
    "created",
    "cancelled",
    "virus-scan-failed",
    "validation-failed",
    "technical-failure",
    "pending-virus-check",
];

/// File names upstream gives the jobs behind one-off sends and test messages: never listed as jobs.
const NOT_LISTED_FILE_NAMES: [&str; 2] = ["Test message", "Report"];

impl Db {
    /// A page of a service's jobs, newest processing first (a job not yet started first of all, as upstream's
    /// `processing_started DESC` puts NULLs first), and how many there are in all.
    pub async fn list_jobs(
        &self,
        service_id: Uuid,
        filter: &JobListFilter,
    ) -> DbResult<(Vec<JobRecord>, i64)> {
        let statuses: Option<Vec<String>> =
            (!filter.statuses.is_empty()).then(|| filter.statuses.clone());
        let hidden: Vec<String> = NOT_LISTED_FILE_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let condition = "j.service_id = $1 AND j.original_file_name <> ALL($2) \
             AND ($3::timestamptz IS NULL OR j.created_at >= $3) \
             AND ($4::text[] IS NULL OR j.job_status = ANY($4))";
        let params = [
            (
                &service_id as &(dyn tokio_postgres::types::ToSql + Sync),
                Type::UUID,
            ),
            (&hidden, Type::TEXT_ARRAY),
            (&filter.created_since, Type::TIMESTAMPTZ),
            (&statuses, Type::TEXT_ARRAY),
        ];
        let total: i64 = self
            .query(
                &format!("SELECT count(*) AS total FROM jobs j WHERE {condition}"),
                &params,
            )
            .await?[0]
            .try_get("total")?;
        let offset = (filter.page.max(1) - 1) * filter.page_size;
        let mut page_params = params.to_vec();
        page_params.push((&filter.page_size, Type::INT8));
        page_params.push((&offset, Type::INT8));
        let rows = self
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS_SQL} FROM jobs j {JOB_JOINS_SQL} WHERE {condition} \
                     ORDER BY j.processing_started DESC NULLS FIRST, j.created_at DESC, j.id \
                     LIMIT $5 OFFSET $6"
                ),
                &page_params,
            )
            .await?;
        let jobs = rows.iter().map(job_record).collect::<DbResult<_>>()?;
        Ok((jobs, total))
    }

    /// Per-status counts of the notifications of each job in `job_ids`, in one read.
    pub async fn job_statistics(&self, job_ids: &[Uuid]) -> DbResult<Vec<(Uuid, JobStatistic)>> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .query(
                "SELECT job_id, notification_status, count(*) AS count FROM notifications \
                 WHERE job_id = ANY($1) GROUP BY job_id, notification_status \
                 ORDER BY job_id, notification_status",
                &[(&job_ids, Type::UUID_ARRAY)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("job_id")?,
                    JobStatistic {
                        status: row.try_get("notification_status")?,
                        count: row.try_get("count")?,
                    },
                ))
            })
            .collect()
    }

    /// How many notifications the job has created so far.
    pub async fn job_notification_count(&self, job_id: Uuid) -> DbResult<i64> {
        Ok(self
            .query(
                "SELECT count(*) AS count FROM notifications WHERE job_id = $1",
                &[(&job_id, Type::UUID)],
            )
            .await?[0]
            .try_get("count")?)
    }

    /// A page of a job's notifications as the admin API shows them, in row order, and how many there are in
    /// all; `statuses` empty: every status.
    pub async fn job_notifications(
        &self,
        service_id: Uuid,
        job_id: Uuid,
        statuses: &[String],
        page: i64,
        page_size: i64,
    ) -> DbResult<(Vec<crate::AdminNotificationRecord>, i64)> {
        let statuses: Option<Vec<String>> = (!statuses.is_empty()).then(|| statuses.to_vec());
        let condition = "n.service_id = $1 AND n.job_id = $2 \
             AND ($3::text[] IS NULL OR n.notification_status = ANY($3))";
        let params = [
            (
                &service_id as &(dyn tokio_postgres::types::ToSql + Sync),
                Type::UUID,
            ),
            (&job_id, Type::UUID),
            (&statuses, Type::TEXT_ARRAY),
        ];
        let total: i64 = self
            .query(
                &format!("SELECT count(*) AS total FROM notifications n WHERE {condition}"),
                &params,
            )
            .await?[0]
            .try_get("total")?;
        let offset = (page.max(1) - 1) * page_size;
        let mut page_params = params.to_vec();
        page_params.push((&page_size, Type::INT8));
        page_params.push((&offset, Type::INT8));
        let rows = self
            .query(
                &format!(
                    "{} WHERE {condition} ORDER BY n.job_row_number, n.id LIMIT $4 OFFSET $5",
                    crate::letter_admin::ADMIN_NOTIFICATION_SELECT_SQL
                ),
                &page_params,
            )
            .await?;
        let records = rows.iter().map(crate::from_row).collect::<DbResult<_>>()?;
        Ok((records, total))
    }

    /// `cancelled`, if the job is still `scheduled`: checked by the statement that changes it, so a job the
    /// scheduler has just released is not cancelled. `false` otherwise.
    pub async fn cancel_scheduled_job(
        &self,
        service_id: Uuid,
        job_id: Uuid,
        at: DateTime<Utc>,
    ) -> DbResult<bool> {
        let changed = self
            .execute(
                "UPDATE jobs SET job_status = 'cancelled', updated_at = $3 \
                 WHERE id = $1 AND service_id = $2 AND job_status = 'scheduled'",
                &[
                    (&job_id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&at, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Whether any of the job's letters is past the point of cancelling (not in
    /// [`CANCELLABLE_JOB_LETTER_STATUSES`]).
    pub async fn job_has_letters_sent(&self, job_id: Uuid) -> DbResult<bool> {
        let statuses: Vec<String> = CANCELLABLE_JOB_LETTER_STATUSES
            .iter()
            .map(|s| s.to_string())
            .collect();
        Ok(self
            .query(
                "SELECT EXISTS (SELECT 1 FROM notifications WHERE job_id = $1 \
                   AND notification_status <> ALL($2)) AS sent",
                &[(&job_id, Type::UUID), (&statuses, Type::TEXT_ARRAY)],
            )
            .await?[0]
            .try_get("sent")?)
    }

    /// Cancels a letter job whose letters are all created, in one transaction: the job (still `finished all
    /// notifications created`) and its letters are locked, so the print run cannot take one meanwhile; every
    /// letter not yet cancelled becomes `cancelled` (billable 0) and the job `cancelled`. `None`, changing
    /// nothing, when the job is no longer in that status or a letter has gone on.
    pub async fn cancel_letter_job(
        &self,
        service_id: Uuid,
        job_id: Uuid,
        at: DateTime<Utc>,
    ) -> DbResult<Option<CancelledLetterJob>> {
        let statuses: Vec<String> = CANCELLABLE_JOB_LETTER_STATUSES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let job = tx
            .query_typed(
                "SELECT id FROM jobs WHERE id = $1 AND service_id = $2 \
                   AND job_status = 'finished all notifications created' FOR UPDATE",
                &[(&job_id, Type::UUID), (&service_id, Type::UUID)],
            )
            .await?;
        if job.is_empty() {
            return Ok(None);
        }
        let locked = tx
            .query_typed(
                "SELECT notification_status FROM notifications WHERE job_id = $1 FOR UPDATE",
                &[(&job_id, Type::UUID)],
            )
            .await?;
        let mut counted = 0;
        for row in &locked {
            let status: String = row.try_get("notification_status")?;
            if !statuses.contains(&status) {
                return Ok(None);
            }
            if matches!(status.as_str(), "created" | "pending-virus-check") {
                counted += 1;
            }
        }
        let cancelled = tx
            .execute_typed(
                "UPDATE notifications SET notification_status = 'cancelled', billable_units = 0, updated_at = $2 \
                 WHERE job_id = $1 AND notification_status <> 'cancelled'",
                &[(&job_id, Type::UUID), (&at, Type::TIMESTAMPTZ)],
            )
            .await?;
        tx.execute_typed(
            "UPDATE jobs SET job_status = 'cancelled', updated_at = $2 WHERE id = $1",
            &[(&job_id, Type::UUID), (&at, Type::TIMESTAMPTZ)],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(CancelledLetterJob { cancelled, counted }))
    }

    /// How many of the service's jobs are waiting for their time, and the soonest time.
    pub async fn scheduled_job_stats(
        &self,
        service_id: Uuid,
    ) -> DbResult<(i64, Option<DateTime<Utc>>)> {
        let rows = self
            .query(
                "SELECT count(*) AS count, min(scheduled_for) AS soonest FROM jobs \
                 WHERE service_id = $1 AND job_status = 'scheduled'",
                &[(&service_id, Type::UUID)],
            )
            .await?;
        Ok((rows[0].try_get("count")?, rows[0].try_get("soonest")?))
    }
}
