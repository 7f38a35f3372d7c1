//! Creating a job from an uploaded CSV (upstream's `create_job`, `app/job/rest.py`): shared by
//! `POST /service/{id}/job`, `notify job send` and `POST /v2/notifications/bulk`.
//!
//! ISSUE 14 GROUNDWORK: this is the interface; the `admin` helper implements it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::AppState;
use notify_db::{DbError, JobRecord};

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
    #[error("Date cannot be in the past")]
    ScheduledInPast,
    #[error("Date cannot be more than 7 days in the future")]
    ScheduledTooFar,
    #[error("No result found")]
    NotFound,
    #[error("Template has been deleted")]
    TemplateArchived,
    /// The file store could not be read: a 503, nothing created.
    #[error("{0}")]
    FilesUnavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates the job and, unless it is scheduled, queues `Message::ProcessJob` on the jobs queue (a job whose
/// message cannot be queued stays `pending` for `check-job-status`).
pub async fn create_job(state: &AppState, request: CreateJob) -> Result<JobRecord, JobRefused> {
    let _ = (state, request);
    todo!("issue 14: admin helper")
}
