//! Creating a job from an uploaded CSV (upstream's `create_job`, `app/job/rest.py`): shared by
//! `POST /service/{id}/job`, `notify job send` and `POST /v2/notifications/bulk`.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::AppState;
use notify_core::jobs::{JobMetadata, csv_upload_key};
use notify_core::messages::Message;
use notify_core::model::{JobStatus, NotificationType};
use notify_db::{DbError, IdempotentRequest, JobRecord, NewJob};

/// How far ahead a job may be scheduled (upstream's `JobSchema.validate_scheduled_for`).
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 7;

/// A job to create from the upload `id` (its CSV at `csv_upload_key(service_id, id)`, with its metadata).
#[derive(Clone, Debug)]
pub struct CreateJob {
    pub id: Uuid,
    pub service_id: Uuid,
    pub created_by: Option<Uuid>,
    /// Set by the bulk endpoint: the rows are that key's sends (its key type).
    pub api_key_id: Option<Uuid>,
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// Why a job was not created, each with upstream's words where upstream has them.
#[derive(Debug, thiserror::Error)]
pub enum JobRefused {
    #[error("Create job is not allowed: service is inactive ")]
    ServiceInactive,
    #[error("Create letter job is not allowed for service in trial mode ")]
    TrialLetters,
    #[error("File is not valid, can't create job")]
    FileNotValid,
    /// Under `scheduled_for`, as upstream's schema error.
    #[error("Date cannot be in the past")]
    ScheduledInPast,
    /// Under `scheduled_for`, as upstream's schema error.
    #[error("Date cannot be more than 7 days in the future")]
    ScheduledTooFar,
    #[error("No result found")]
    NotFound,
    /// Under `template`, as upstream's `unarchived_template_schema` error.
    #[error("Template has been deleted")]
    TemplateArchived,
    /// The upload's metadata lacks what the job needs (upstream's schema: "Missing data for required field."
    /// under each name).
    #[error("Missing data for required field: {0:?}")]
    MissingMetadata(Vec<&'static str>),
    /// The file store could not be read: a 503, nothing created.
    #[error("{0}")]
    FilesUnavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Upstream's rule for `scheduled_for`: not before now, not more than 7 days ahead.
pub fn check_scheduled_for(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), JobRefused> {
    if at < now {
        Err(JobRefused::ScheduledInPast)
    } else if at > now + Duration::days(MAX_SCHEDULE_AHEAD_DAYS) {
        Err(JobRefused::ScheduledTooFar)
    } else {
        Ok(())
    }
}

/// A `scheduled_for` as upstream's `FlexibleDateTime` reads it: ISO 8601 with an offset, or without one
/// (UTC), with `T` or a space; `None` when it is not a date and time.
pub fn parse_scheduled_for(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
    .map(|d| d.and_utc())
}

/// Creates the job and, unless it is scheduled, queues `Message::ProcessJob` on the jobs queue (a job whose
/// message cannot be queued stays `pending` for `check-job-status`). The checks run in upstream's order. A
/// retried request with the same id answers the job the first one created (and queues it again, which the
/// worker's atomic claim makes harmless).
pub async fn create_job(state: &AppState, request: CreateJob) -> Result<JobRecord, JobRefused> {
    let new = prepare_job(state, &request).await?;
    let job = state.db.insert_job(&new).await?;
    if job.status == JobStatus::Pending {
        queue_process_job(state, &job).await;
    }
    Ok(job)
}

/// [`create_job`] for a request with an `Idempotency-Key` (`POST /v2/notifications/bulk`): the job is inserted in
/// the transaction that stores the key's response, `respond`'s. `None` when the key was answered first: no job.
pub async fn create_job_completing_key(
    state: &AppState,
    request: CreateJob,
    key: &IdempotentRequest,
    respond: impl FnOnce(&JobRecord) -> (i16, String),
) -> Result<Option<JobRecord>, JobRefused> {
    let new = prepare_job(state, &request).await?;
    let Some(job) = state
        .db
        .insert_job_completing_key(&new, key, state.now(), respond)
        .await?
    else {
        return Ok(None);
    };
    if job.status == JobStatus::Pending {
        queue_process_job(state, &job).await;
    }
    Ok(Some(job))
}

/// The checks, in upstream's order, and the job they allow.
async fn prepare_job(state: &AppState, request: &CreateJob) -> Result<NewJob, JobRefused> {
    let service = state
        .db
        .get_service(request.service_id)
        .await?
        .ok_or(JobRefused::NotFound)?;
    if !service.active {
        return Err(JobRefused::ServiceInactive);
    }
    let upload_key = csv_upload_key(request.service_id, request.id);
    // No connection is held here: the service read above has returned its connection.
    let metadata = state
        .files
        .metadata(&upload_key)
        .await
        .map_err(|e| JobRefused::FilesUnavailable(e.to_string()))?
        .ok_or(JobRefused::FileNotValid)?;
    let metadata = JobMetadata::from_map(&metadata);
    let template_id = metadata.template_id.ok_or(JobRefused::FileNotValid)?;
    let template = state
        .db
        .get_template(request.service_id, template_id, None)
        .await?
        .ok_or(JobRefused::NotFound)?;
    if template.template_type == NotificationType::Letter && service.restricted {
        return Err(JobRefused::TrialLetters);
    }
    if !metadata.valid {
        return Err(JobRefused::FileNotValid);
    }
    if template.archived {
        return Err(JobRefused::TemplateArchived);
    }
    let mut missing = Vec::new();
    if metadata.original_file_name.is_none() {
        missing.push("original_file_name");
    }
    let count = metadata
        .notification_count
        .and_then(|c| i32::try_from(c).ok());
    if count.is_none() {
        missing.push("notification_count");
    }
    if !missing.is_empty() {
        return Err(JobRefused::MissingMetadata(missing));
    }
    if let Some(at) = request.scheduled_for {
        check_scheduled_for(at, state.now())?;
    }
    let status = if request.scheduled_for.is_some() {
        JobStatus::Scheduled
    } else {
        JobStatus::Pending
    };
    Ok(NewJob {
        id: request.id,
        service_id: request.service_id,
        template_id,
        template_version: template.version,
        original_file_name: metadata.original_file_name.unwrap_or_default(),
        notification_count: count.unwrap_or_default(),
        status,
        scheduled_for: request.scheduled_for,
        created_by_id: request.created_by,
        api_key_id: request.api_key_id,
        sender_id: metadata.sender_id,
        upload_key,
    })
}

/// Queues the job for the worker; a failure is logged and left to `check-job-status`, which finds the job
/// still `pending` and queues it again.
pub async fn queue_process_job(state: &AppState, job: &JobRecord) {
    let message = Message::ProcessJob {
        v: 1,
        job_id: job.id,
    };
    if let Err(e) = state
        .queue
        .send(
            &state.config.queues.jobs,
            &job.service_id.to_string(),
            &message,
        )
        .await
    {
        tracing::error!(job_id = %job.id, error = %e, "process-job not queued; check-job-status will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_for_reads_as_upstream_does() {
        let at = parse_scheduled_for("2016-01-05T11:59:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2016-01-05T11:59:00+00:00");
        assert_eq!(parse_scheduled_for("2016-01-05 11:59"), Some(at));
        assert_eq!(parse_scheduled_for("2016-01-05T12:59:00+01:00"), Some(at));
        assert_eq!(parse_scheduled_for("tomorrow"), None);
    }

    #[test]
    fn scheduled_for_is_now_to_seven_days_ahead() {
        let now = Utc::now();
        assert!(check_scheduled_for(now, now).is_ok());
        assert!(check_scheduled_for(now + Duration::days(7), now).is_ok());
        assert!(matches!(
            check_scheduled_for(now - Duration::seconds(1), now),
            Err(JobRefused::ScheduledInPast)
        ));
        assert!(matches!(
            check_scheduled_for(now + Duration::days(7) + Duration::seconds(1), now),
            Err(JobRefused::ScheduledTooFar)
        ));
    }
}
