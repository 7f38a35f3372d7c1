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

/// The columns [`job_record`] reads, for every statement that returns jobs (`j` is `jobs`).
pub const JOB_COLUMNS_SQL: &str = "j.id, j.service_id, j.template_id, j.template_version, t.template_type, \
     t.name AS template_name, j.original_file_name, j.notification_count, j.job_status, j.created_at, \
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

impl Db {
    /// Creates the job; a second create with the same id (a retried request) returns the job already there.
    pub async fn insert_job(&self, job: &NewJob) -> DbResult<JobRecord> {
        let sql = format!(
            "WITH inserted AS ( \
               INSERT INTO jobs (id, service_id, template_id, template_version, original_file_name, \
                 notification_count, job_status, scheduled_for, created_by_id, api_key_id, sender_id, upload_key) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
               ON CONFLICT (id) DO NOTHING RETURNING id) \
             SELECT {JOB_COLUMNS_SQL} FROM jobs j {JOB_JOINS_SQL} \
             WHERE j.id = $1 AND j.service_id = $2"
        );
        let status = job.status.as_str();
        let rows = self
            .query(
                &sql,
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
