//! The bulk housekeeping jobs: `run-scheduled-jobs` (scheduled jobs due → `pending` and their `ProcessJob`),
//! `check-job-status` (jobs stuck 30 minutes → `error` and their `ProcessJob`, so the worker resumes them) and
//! `update-status-of-fully-processed-jobs` (`finished` jobs with every row stored → `finished all notifications
//! created`). Each takes its rows with `FOR UPDATE SKIP LOCKED` in one statement: two schedulers running the same
//! job at once queue each job once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::AppState;
use notify_core::messages::Message;
use notify_db::{DbError, TakenJob};

const BATCH: i64 = 1000;

/// Upstream's `check-job-status` threshold: a job in progress without a heartbeat for this long, or pending this
/// long past its time, is taken to have stopped.
pub const STUCK_AFTER: Duration = Duration::from_secs(30 * 60);

/// Queues each job's `ProcessJob` in its service's group. A job whose message the queue refuses is left as the
/// statement made it (`pending` or `error`): `check-job-status` queues it again 30 minutes on.
async fn queue_process(state: &AppState, jobs: &[TakenJob]) -> (u64, u64) {
    let (mut queued, mut failed) = (0, 0);
    for job in jobs {
        let message = Message::ProcessJob {
            v: 1,
            job_id: job.id,
        };
        match state
            .queue
            .send(
                &state.config.queues.jobs,
                &job.service_id.to_string(),
                &message,
            )
            .await
        {
            Ok(()) => queued += 1,
            Err(e) => {
                failed += 1;
                tracing::error!(job_id = %job.id, error = %e, "ProcessJob not queued; check-job-status will queue it");
            }
        }
    }
    (queued, failed)
}

/// `run-scheduled-jobs`: every scheduled job due at `now` becomes `pending` and is queued.
pub async fn run_scheduled_jobs(
    state: &AppState,
    now: DateTime<Utc>,
    within_budget: impl Fn() -> bool,
) -> Result<Value, DbError> {
    let (mut queued, mut failed) = (0, 0);
    loop {
        let jobs = state.db.release_scheduled_jobs(now, BATCH).await?;
        let (q, f) = queue_process(state, &jobs).await;
        (queued, failed) = (queued + q, failed + f);
        if (jobs.len() as i64) < BATCH || !within_budget() {
            break;
        }
    }
    Ok(json!({"queued": queued, "not_queued": failed}))
}

/// `check-job-status`: jobs stuck [`STUCK_AFTER`] become `error` and are queued again; the worker claims an
/// `error` job and carries on from its checkpoint, its rows already stored being no-ops.
pub async fn check_job_status(
    state: &AppState,
    now: DateTime<Utc>,
    within_budget: impl Fn() -> bool,
) -> Result<Value, DbError> {
    let mut ids = Vec::new();
    let (mut queued, mut failed) = (0, 0);
    loop {
        let jobs = state.db.error_stuck_jobs(now, STUCK_AFTER, BATCH).await?;
        for job in &jobs {
            tracing::warn!(job_id = %job.id, "job has not completed; marked error and queued again");
            ids.push(job.id.to_string());
        }
        let (q, f) = queue_process(state, &jobs).await;
        (queued, failed) = (queued + q, failed + f);
        if (jobs.len() as i64) < BATCH || !within_budget() {
            break;
        }
    }
    notify_core::metrics::count("JobsNotCompleted", ids.len() as u64, &[]);
    Ok(json!({"errored": ids, "queued": queued, "not_queued": failed}))
}

/// `update-status-of-fully-processed-jobs`.
pub async fn update_status_of_fully_processed_jobs(
    state: &AppState,
    now: DateTime<Utc>,
    within_budget: impl Fn() -> bool,
) -> Result<Value, DbError> {
    let mut finished = 0;
    loop {
        let n = state.db.finish_fully_processed_jobs(now, BATCH).await?;
        finished += n;
        if (n as i64) < BATCH || !within_budget() {
            break;
        }
    }
    Ok(json!({"finished_all_notifications_created": finished}))
}
