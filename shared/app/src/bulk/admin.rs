//! Jobs as the team manages them, behind the admin API and the CLI alike (upstream's `app/job/rest.py`): one
//! job with its per-status statistics, the service's jobs a page at a time, a job's notifications, cancelling
//! a scheduled job or a letter job before it prints, and the scheduled-jobs summary. The job JSON is made here
//! only ([`job_json`]), so the bulk endpoint answers the same shape.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Europe::London;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::letter_admin::{LetterAdminError, admin_notification_json, too_late_to_cancel};
use notify_core::model::{JobStatus, LimitName, NotificationType};
use notify_core::time::{format, format_opt};
use notify_db::{DbError, JobListFilter, JobRecord, JobStatistic};

/// Upstream's `PAGE_SIZE`: jobs and a job's notifications, a page at a time.
pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, thiserror::Error)]
pub enum JobAdminError {
    /// 404 "No result found".
    #[error("No result found")]
    NotFound,
    /// Why a letter job cannot be cancelled: upstream answers 400 `{"message": …}`.
    #[error("{0}")]
    NotCancellable(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl From<LetterAdminError> for JobAdminError {
    fn from(e: LetterAdminError) -> Self {
        match e {
            LetterAdminError::Db(e) => JobAdminError::Db(e),
            other => JobAdminError::Internal(other.to_string()),
        }
    }
}

pub type JobAdminResult<T> = Result<T, JobAdminError>;

pub const NOT_A_LETTER_JOB: &str =
    "Only letter jobs can be cancelled through this endpoint. This is not a letter job.";
pub const LETTERS_STILL_PROCESSING: &str =
    "We are still processing these letters, please try again in 5 minutes.";
pub const LETTERS_ALREADY_SENT: &str =
    "It’s too late to cancel sending, these letters have already been sent.";

/// A job as upstream's `JobSchema` dumps it, with its `statistics` (`[{status, count}]`).
pub fn job_json(job: &JobRecord, statistics: &[JobStatistic]) -> Value {
    json!({
        "id": job.id,
        "original_file_name": job.original_file_name,
        "notification_count": job.notification_count,
        "template": job.template_id,
        "template_version": job.template_version,
        "template_name": job.template_name,
        "template_type": job.template_type.as_str(),
        "service": job.service_id,
        "service_name": {"name": job.service_name},
        "created_at": format(job.created_at),
        "updated_at": format_opt(job.updated_at),
        "created_by": job.created_by_id.map(|id| json!({"id": id, "name": job.created_by_name})),
        "scheduled_for": format_opt(job.scheduled_for),
        "job_status": job.status.as_str(),
        "processing_started": format_opt(job.processing_started),
        "processing_finished": format_opt(job.processing_finished),
        "archived": job.archived,
        "contact_list_id": null,
        "statistics": statistics
            .iter()
            .map(|s| json!({"status": s.status, "count": s.count}))
            .collect::<Vec<_>>(),
    })
}

/// Midnight in London `days` days before `now`, in UTC (upstream's `midnight_n_days_ago`).
pub fn london_midnight_days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let day = (now - Duration::days(days))
        .with_timezone(&London)
        .date_naive();
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight is a time");
    London
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

async fn job(state: &AppState, service_id: Uuid, job_id: Uuid) -> JobAdminResult<JobRecord> {
    state
        .db
        .get_job(service_id, job_id)
        .await?
        .ok_or(JobAdminError::NotFound)
}

async fn statistics(state: &AppState, job_id: Uuid) -> JobAdminResult<Vec<JobStatistic>> {
    Ok(state
        .db
        .job_statistics(&[job_id])
        .await?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// `GET /service/{id}/job/{job_id}` and `notify job show`: the job with its notifications counted by status.
pub async fn get_job(state: &AppState, service_id: Uuid, job_id: Uuid) -> JobAdminResult<Value> {
    let job = job(state, service_id, job_id).await?;
    let statistics = statistics(state, job.id).await?;
    Ok(job_json(&job, &statistics))
}

/// What the jobs list asks for.
#[derive(Clone, Debug, Default)]
pub struct ListJobs {
    pub limit_days: Option<i64>,
    pub statuses: Vec<String>,
    pub page: i64,
    pub page_size: i64,
}

/// One page of jobs as the list shows them, and how many match in all.
#[derive(Clone, Debug)]
pub struct JobPage {
    pub jobs: Vec<Value>,
    pub total: i64,
}

/// `GET /service/{id}/job` and `notify job list`: a job not started yet has no statistics, as upstream's.
pub async fn list_jobs(
    state: &AppState,
    service_id: Uuid,
    request: &ListJobs,
) -> JobAdminResult<JobPage> {
    let filter = JobListFilter {
        created_since: request
            .limit_days
            .map(|days| london_midnight_days_ago(state.now(), days)),
        statuses: request.statuses.clone(),
        page: request.page.max(1),
        page_size: request.page_size.max(1),
    };
    let (jobs, total) = state.db.list_jobs(service_id, &filter).await?;
    let started: Vec<Uuid> = jobs
        .iter()
        .filter(|j| j.processing_started.is_some())
        .map(|j| j.id)
        .collect();
    let statistics = state.db.job_statistics(&started).await?;
    let jobs = jobs
        .iter()
        .map(|job| {
            let own: Vec<JobStatistic> = statistics
                .iter()
                .filter(|(id, _)| *id == job.id)
                .map(|(_, s)| s.clone())
                .collect();
            job_json(job, &own)
        })
        .collect();
    Ok(JobPage { jobs, total })
}

/// One page of a job's notifications, as the admin API shows them, and how many match in all.
#[derive(Clone, Debug)]
pub struct NotificationPage {
    pub notifications: Vec<Value>,
    pub total: i64,
}

/// `GET /service/{id}/job/{job_id}/notifications`: in row order, optionally only some statuses. As upstream,
/// an unknown job is an empty page, not a 404.
pub async fn job_notifications(
    state: &AppState,
    service_id: Uuid,
    job_id: Uuid,
    statuses: &[String],
    page: i64,
    page_size: i64,
) -> JobAdminResult<NotificationPage> {
    let (records, total) = state
        .db
        .job_notifications(service_id, job_id, statuses, page.max(1), page_size.max(1))
        .await?;
    let notifications = records
        .iter()
        .map(|r| admin_notification_json(state, r))
        .collect::<Result<_, _>>()?;
    Ok(NotificationPage {
        notifications,
        total,
    })
}

/// `GET /service/{id}/job/{job_id}/notification_count`: how many notifications the job has created so far.
pub async fn notification_count(
    state: &AppState,
    service_id: Uuid,
    job_id: Uuid,
) -> JobAdminResult<i64> {
    job(state, service_id, job_id).await?;
    Ok(state.db.job_notification_count(job_id).await?)
}

/// `POST /service/{id}/job/{job_id}/cancel` and `notify job cancel`: only a job still `scheduled` can be
/// cancelled; any other (or none) is "No result found", as upstream's lookup of a scheduled job.
pub async fn cancel_job(state: &AppState, service_id: Uuid, job_id: Uuid) -> JobAdminResult<Value> {
    if !state
        .db
        .cancel_scheduled_job(service_id, job_id, state.now())
        .await?
    {
        return Err(JobAdminError::NotFound);
    }
    tracing::info!(%job_id, %service_id, "scheduled job cancelled");
    get_job(state, service_id, job_id).await
}

/// Why the letter job cannot be cancelled now, in upstream's words and order; `None` when it can be tried.
pub fn letter_job_refusal(
    job: &JobRecord,
    letters_sent: bool,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if job.template_type != NotificationType::Letter {
        Some(NOT_A_LETTER_JOB)
    } else if job.status != JobStatus::FinishedAllNotificationsCreated {
        Some(LETTERS_STILL_PROCESSING)
    } else if too_late_to_cancel(job.created_at, now) || letters_sent {
        Some(LETTERS_ALREADY_SENT)
    } else {
        None
    }
}

/// `POST /service/{id}/job/{job_id}/cancel-letter-job`: every letter of a fully created letter job that has
/// not gone to print is cancelled, the job too, and the letters waiting to print stop counting against today's
/// letter limit. Answers how many letters were cancelled.
pub async fn cancel_letter_job(
    state: &AppState,
    service_id: Uuid,
    job_id: Uuid,
) -> JobAdminResult<u64> {
    let now = state.now();
    let job = job(state, service_id, job_id).await?;
    let letters_sent = job.template_type == NotificationType::Letter
        && state.db.job_has_letters_sent(job.id).await?;
    if let Some(refusal) = letter_job_refusal(&job, letters_sent, now) {
        return Err(JobAdminError::NotCancellable(refusal));
    }
    // The statement re-checks under lock what was read above: a letter the print run took meanwhile (or the
    // job changing status) leaves everything as it was.
    let Some(cancelled) = state.db.cancel_letter_job(service_id, job_id, now).await? else {
        return Err(JobAdminError::NotCancellable(LETTERS_ALREADY_SENT));
    };
    // One give-back per letter, as a single cancel does; letter jobs are small next to the limit.
    for _ in 0..cancelled.counted {
        state
            .limiter
            .give_back(service_id, LimitName::Letter, job.created_at, now)
            .await;
    }
    tracing::info!(%job_id, %service_id, letters = cancelled.cancelled, "letter job cancelled");
    Ok(cancelled.cancelled)
}

/// `GET /service/{id}/job/scheduled-job-stats`: how many jobs wait for their time, and the soonest time
/// (Python's `isoformat()` of it, `+00:00`).
pub async fn scheduled_job_stats(state: &AppState, service_id: Uuid) -> JobAdminResult<Value> {
    let (count, soonest) = state.db.scheduled_job_stats(service_id).await?;
    Ok(json!({
        "count": count,
        "soonest_scheduled_for": soonest.map(python_isoformat),
    }))
}

fn python_isoformat(at: DateTime<Utc>) -> String {
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn limit_days_counts_from_london_midnight() {
        // 23:00 UTC on 2 July 2018 is Tuesday 00:00 in London (BST).
        assert_eq!(
            london_midnight_days_ago(utc("2018-07-03T12:00:00Z"), 1),
            utc("2018-07-01T23:00:00Z")
        );
        assert_eq!(
            london_midnight_days_ago(utc("2018-01-03T12:00:00Z"), 0),
            utc("2018-01-03T00:00:00Z")
        );
    }

    #[test]
    fn soonest_time_as_python_shows_it() {
        assert_eq!(
            python_isoformat(utc("2017-07-17T09:00:00Z")),
            "2017-07-17T09:00:00+00:00"
        );
    }
}
