//! The jobs worker: one `ProcessJob` message makes a job's CSV into notifications (upstream's `process_job`,
//! `save_sms`/`save_email`/`save_letter`), a few thousand rows to a statement.
//!
//! The run claims the job (one UPDATE decides between two runs at once), refuses it whole when the service is
//! inactive or the rows would take it over today's limit, reads the file with no connection open, then for each
//! batch: builds the rows as a single send builds its notification, stores them and moves the job's checkpoint
//! (`rows_processed`) in one transaction, and only then queues the new `created` rows' deliveries. A crash at any
//! point leaves either a committed batch (its rows `created`; the replay job queues any not yet queued) or
//! nothing, and the next run resumes from the checkpoint: no row twice, none missed. A run that nears its
//! budget hands the job back and queues a `ProcessJob` for the rest.

use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::AppState;
use crate::limits::limit_for;
use notify_core::jobs::{ROWS_PER_BATCH, STALE_AFTER, over_daily_limit, rows_remaining};
use notify_core::messages::Message;
use notify_core::model::{
    JobStatus, KeyType, LimitName, NotificationStatus, NotificationType, RecipientKind, Service,
    ServicePermission, Template,
};
use notify_core::recipient_csv::{self, CsvTemplate, JobRow, Recipient};
use notify_core::recipients::{PhoneNumber, PostalZone};
use notify_db::{ClaimedJob, DbError, JobBatchCommon, JobRowInsert, SenderKind};

/// What one run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// Not claimable: done already, cancelled, scheduled, or another run has it.
    NotClaimed,
    /// Every row is stored; the job is `finished`.
    Finished { rows: u32, queued: usize },
    /// Out of budget: the job is `pending` again at its checkpoint and a `ProcessJob` is queued for the rest.
    Continued { rows_processed: u32 },
    /// Refused whole: `cancelled` (inactive service) or `sending limits exceeded`.
    Refused(JobStatus),
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The job stays `in progress`; once its heartbeat is stale a retried message (or check-job-status) resumes
    /// it from its checkpoint.
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("job {0}: {1}")]
    Unprocessable(Uuid, String),
    /// The file store could not be read: the message is retried.
    #[error("job {0}: file store: {1}")]
    Files(Uuid, String),
    /// A fault injected by a test after this many batches were committed (their deliveries not queued).
    #[error("injected crash after {0} batches")]
    InjectedCrash(usize),
}

/// How a run goes; [`process_job`] uses the defaults with its budget.
#[derive(Clone, Debug)]
pub struct ProcessSettings {
    /// Stop starting batches once this has passed (Lambda's timeout less a margin for the last batch).
    pub budget: Duration,
    pub batch_size: usize,
    /// Tests: stop as a crash would, after this many batches committed and before their deliveries are queued.
    pub crash_after_batches: Option<usize>,
}

impl ProcessSettings {
    pub fn new(budget: Duration) -> Self {
        ProcessSettings {
            budget,
            batch_size: ROWS_PER_BATCH,
            crash_after_batches: None,
        }
    }
}

/// Processes the job as far as `budget` allows (see the module's comment).
pub async fn process_job(
    state: &AppState,
    job_id: Uuid,
    budget: Duration,
) -> Result<ProcessOutcome, ProcessError> {
    process_job_with(state, job_id, &ProcessSettings::new(budget)).await
}

/// What a CSV of this template is read as (the worker's and the job creators' view of the same file).
pub fn csv_template(template: &Template, service: &Service) -> CsvTemplate {
    CsvTemplate {
        template_type: template.template_type,
        placeholders: notify_core::templates::template_placeholders(template),
        international_sms: service.has_permission(ServicePermission::InternationalSms),
        international_letters: service.has_permission(ServicePermission::InternationalLetters),
        max_rows: notify_core::jobs::MAX_ROWS,
    }
}

pub async fn process_job_with(
    state: &AppState,
    job_id: Uuid,
    settings: &ProcessSettings,
) -> Result<ProcessOutcome, ProcessError> {
    let started = Instant::now();
    let Some(ClaimedJob { job, key_type }) = state.db.claim_job(job_id, STALE_AFTER).await? else {
        tracing::info!(%job_id, "job not claimable; nothing to do");
        return Ok(ProcessOutcome::NotClaimed);
    };
    let service_id = job.service_id;
    let Some(service) = state.db.get_service(service_id).await? else {
        return Err(ProcessError::Unprocessable(job_id, "no service".into()));
    };
    if !service.active {
        state.db.end_job_run(job_id, JobStatus::Cancelled).await?;
        tracing::warn!(%job_id, %service_id, "job cancelled: service is inactive");
        return Ok(ProcessOutcome::Refused(JobStatus::Cancelled));
    }
    let now = state.now();
    let limit_name = LimitName::of(job.template_type);
    let remaining = rows_remaining(job.notification_count, job.rows_processed);
    if key_type != KeyType::Test {
        let limit = limit_for(&service, key_type, limit_name);
        let count = state
            .limiter
            .daily_count(service_id, limit_name, key_type, now)
            .await;
        if over_daily_limit(count, remaining, limit) {
            state
                .db
                .end_job_run(job_id, JobStatus::SendingLimitsExceeded)
                .await?;
            tracing::info!(%job_id, notification_count = job.notification_count, %limit_name, limit,
                "job refused: sending limits exceeded");
            return Ok(ProcessOutcome::Refused(JobStatus::SendingLimitsExceeded));
        }
    }
    let Some(template) = state
        .db
        .get_template(service_id, job.template_id, Some(job.template_version))
        .await?
    else {
        return Err(ProcessError::Unprocessable(job_id, "no template".into()));
    };
    let reply_to_text = reply_to_text(state, &job, &template).await?;
    let allowed = allowed_recipients(state, &service, key_type, template.template_type).await?;
    // No connection is open from here until the first batch is stored.
    let key = job
        .upload_key
        .clone()
        .unwrap_or_else(|| notify_core::jobs::csv_upload_key(service_id, job.id));
    let bytes = match state.files.get(&key).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(ProcessError::Unprocessable(
                job_id,
                format!("no file at {key}"),
            ));
        }
        Err(e) => return Err(ProcessError::Files(job_id, e.to_string())),
    };
    let from = u32::try_from(job.rows_processed).unwrap_or(0);
    let mut rows = recipient_csv::rows(&bytes, &csv_template(&template, &service), from)
        .map_err(|e| ProcessError::Unprocessable(job_id, format!("{e:?}")))?;
    let build = RowBuilder {
        state,
        template: &template,
        allowed: allowed.as_deref(),
        job_id,
    };
    let queue = deliver_queue(state, template.template_type);
    let group = service_id.to_string();
    let mut processed = from;
    let mut batches = 0usize;
    let mut queued = 0usize;
    let mut batch: Vec<JobRowInsert> = Vec::with_capacity(settings.batch_size);
    loop {
        if started.elapsed() >= settings.budget {
            state.db.release_job(job_id).await?;
            let message = Message::ProcessJob { v: 1, job_id };
            if let Err(e) = state
                .queue
                .send(&state.config.queues.jobs, &group, &message)
                .await
            {
                tracing::error!(%job_id, error = %e, "job handed back but not re-queued; check-job-status will");
            }
            tracing::info!(%job_id, rows_processed = processed, "job run out of budget; continued on a new message");
            return Ok(ProcessOutcome::Continued {
                rows_processed: processed,
            });
        }
        batch.clear();
        let mut last = processed;
        for row in rows.by_ref().take(settings.batch_size) {
            last = row.number + 1;
            if let Some(insert) = build.row(row) {
                batch.push(insert);
            }
        }
        if last == processed {
            break;
        }
        let created_at = state.now();
        let common = JobBatchCommon {
            job_id,
            service_id,
            template_id: template.id,
            template_version: template.version,
            notification_type: template.template_type,
            api_key_id: job.api_key_id,
            key_type,
            created_by_id: job.created_by_id,
            reply_to_text: reply_to_text.clone(),
            created_at,
        };
        let inserted = state
            .db
            .insert_job_rows(&common, &batch, last as i32)
            .await?;
        processed = last;
        batches += 1;
        if settings.crash_after_batches == Some(batches) {
            return Err(ProcessError::InjectedCrash(batches));
        }
        if key_type != KeyType::Test {
            state
                .limiter
                .count_sent_many(
                    service_id,
                    limit_name,
                    inserted.created.len() as i64,
                    created_at,
                )
                .await;
        }
        queued += queue_deliveries(state, queue, &group, job_id, &inserted.created).await;
        notify_core::metrics::count(
            "NotificationsCreated",
            inserted.inserted as u64,
            &[("NotificationType", template.template_type.as_str())],
        );
    }
    state.db.end_job_run(job_id, JobStatus::Finished).await?;
    tracing::info!(%job_id, rows = processed, queued, "job finished");
    Ok(ProcessOutcome::Finished {
        rows: processed,
        queued,
    })
}

fn deliver_queue(state: &AppState, notification_type: NotificationType) -> &str {
    match notification_type {
        NotificationType::Sms => &state.config.queues.deliver_sms,
        NotificationType::Email => &state.config.queues.deliver_email,
        NotificationType::Letter => &state.config.queues.deliver_letter,
    }
}

/// The batch's deliveries, after its commit. A message not sent is logged and left: its row is `created`, and
/// the replay job queues it, so nothing is lost. Answers how many were queued.
async fn queue_deliveries(
    state: &AppState,
    queue: &str,
    group: &str,
    job_id: Uuid,
    created: &[Uuid],
) -> usize {
    if created.is_empty() {
        return 0;
    }
    let messages: Vec<(String, Message)> = created
        .iter()
        .map(|id| (group.to_string(), Message::deliver(*id)))
        .collect();
    let failed = state.queue.send_batch(queue, &messages).await;
    for (i, e) in &failed {
        tracing::error!(%job_id, notification_id = %created[*i], error = %e,
            "stored but not queued; the replay job will queue it");
    }
    if !failed.is_empty() {
        notify_core::metrics::count("NotificationsNotQueued", failed.len() as u64, &[]);
    }
    created.len() - failed.len()
}

/// The sender every row carries: the job's chosen one, else the service's default (upstream's
/// `template.reply_to_text`); a letter's contact block.
async fn reply_to_text(
    state: &AppState,
    job: &notify_db::JobRecord,
    template: &Template,
) -> Result<Option<String>, DbError> {
    let kind = match template.template_type {
        NotificationType::Letter => return Ok(template.letter_contact_block.clone()),
        NotificationType::Sms => SenderKind::Sms,
        NotificationType::Email => SenderKind::ReplyTo,
    };
    let sender = state
        .lookups
        .sender(&state.db, kind, job.service_id, job.sender_id)
        .await?;
    let sender = match (sender, job.sender_id) {
        (None, Some(_)) => {
            tracing::warn!(job_id = %job.id, "job's sender gone; the service's default used");
            state
                .lookups
                .sender(&state.db, kind, job.service_id, None)
                .await?
        }
        (sender, _) => sender,
    };
    Ok(match (sender, kind) {
        (Some(s), _) => Some(s.value),
        (None, SenderKind::Sms) => Some("GOVUK".into()),
        (None, _) => None,
    })
}

/// Who a restricted send may go to (trial service, or a team key): the team and the guest list, normalised;
/// `None` when anyone may be sent to.
async fn allowed_recipients(
    state: &AppState,
    service: &Service,
    key_type: KeyType,
    notification_type: NotificationType,
) -> Result<Option<Vec<String>>, DbError> {
    let restricted = match key_type {
        KeyType::Test => false,
        KeyType::Team => true,
        KeyType::Normal => service.restricted,
    };
    let kind = match notification_type {
        NotificationType::Sms => RecipientKind::Mobile,
        NotificationType::Email => RecipientKind::Email,
        NotificationType::Letter => return Ok(None),
    };
    if !restricted {
        return Ok(None);
    }
    Ok(Some(
        state
            .db
            .team_and_guest_list(service.id)
            .await?
            .into_iter()
            .filter(|(k, _)| RecipientKind::parse(k) == Some(kind))
            .filter_map(|(_, recipient)| match kind {
                RecipientKind::Mobile => PhoneNumber::parse(&recipient)
                    .ok()
                    .map(|p| p.normalised().to_string()),
                RecipientKind::Email => Some(recipient.trim().to_lowercase()),
            })
            .collect(),
    ))
}

struct RowBuilder<'a> {
    state: &'a AppState,
    template: &'a Template,
    allowed: Option<&'a [String]>,
    job_id: Uuid,
}

impl RowBuilder<'_> {
    /// A row as the single-send pipeline makes its notification; a bad recipient `validation-failed` (billable
    /// 0, not queued); `None` for a recipient a restricted service may not send to (upstream skips the row).
    fn row(&self, row: JobRow) -> Option<JobRowInsert> {
        let mut insert = JobRowInsert {
            id: Uuid::new_v4(),
            job_row_number: row.number as i32,
            to: row.raw_recipient.clone(),
            normalised_to: None,
            status: NotificationStatus::Created,
            client_reference: row.reference.clone(),
            encrypted_personalisation: (!row.personalisation.is_empty()).then(|| {
                self.state
                    .encryptor
                    .encrypt(&Value::Object(row.personalisation.clone()).to_string())
            }),
            international: false,
            phone_prefix: None,
            rate_multiplier: None,
            postage: None,
            unsubscribe_link: None,
            billable_units: 0,
            reference: None,
        };
        match row.recipient {
            Err(reason) => {
                tracing::warn!(job_id = %self.job_id, row = row.number, reason, "job row failed validation; not sent");
                insert.status = NotificationStatus::ValidationFailed;
                if self.template.template_type == NotificationType::Sms {
                    // Upstream's values for a number that does not parse.
                    insert.normalised_to = Some(row.raw_recipient);
                    insert.phone_prefix = Some("+44".into());
                    insert.rate_multiplier = Some(0.0);
                }
            }
            Ok(Recipient::Phone(phone)) => {
                if !self.may_send_to(phone.normalised()) {
                    return self.skipped(&row.number);
                }
                insert.to = phone.as_submitted().to_string();
                insert.normalised_to = Some(phone.normalised().to_string());
                insert.international = phone.is_international();
                insert.phone_prefix = Some(phone.phone_prefix());
                insert.rate_multiplier = Some(phone.rate_multiplier());
            }
            Ok(Recipient::Email(email)) => {
                let normalised = email.normalised();
                if !self.may_send_to(&normalised) {
                    return self.skipped(&row.number);
                }
                insert.to = email.as_submitted().to_string();
                insert.normalised_to = Some(normalised);
                if self.template.has_unsubscribe_link {
                    insert.unsubscribe_link = Some(format!(
                        "{}/unsubscribe/{}/{}",
                        self.state.config.api.host_name.trim_end_matches('/'),
                        insert.id,
                        Uuid::new_v4().simple()
                    ));
                }
            }
            Ok(Recipient::Address(address)) => {
                insert.to = address.lines().join("\n");
                insert.postage = Some(address.postage(self.template.postage));
                insert.international = address.zone() != PostalZone::Uk;
                insert.reference = Some(notify_core::letters::letter_reference(Uuid::new_v4()));
            }
        }
        Some(insert)
    }

    fn may_send_to(&self, normalised: &str) -> bool {
        self.allowed
            .is_none_or(|allowed| allowed.iter().any(|a| a == normalised))
    }

    fn skipped(&self, number: &u32) -> Option<JobRowInsert> {
        tracing::warn!(job_id = %self.job_id, row = number, "job row not sent: restricted service");
        None
    }
}

/// How long a run may start batches: the function's timeout less a margin for one batch and the hand-back.
pub fn budget_for(timeout: Duration) -> Duration {
    timeout.saturating_sub(Duration::from_secs(120).min(timeout / 4))
}

/// The jobs queue's consumer (Lambda and the local worker): one disposition per message. A run that failed
/// leaves its job `in progress` with its last heartbeat, so the message comes back once that is stale and the
/// retry can claim it and resume from the checkpoint.
pub async fn handle_jobs(
    state: &AppState,
    messages: &[(Message, crate::workers::Attempt)],
    budget: Duration,
) -> Vec<notify_core::retry::Disposition> {
    use notify_core::retry::Disposition;
    let mut dispositions = Vec::with_capacity(messages.len());
    for (message, attempt) in messages {
        let Message::ProcessJob { job_id, .. } = message else {
            tracing::warn!("not a job message; dropped");
            dispositions.push(Disposition::Done);
            continue;
        };
        dispositions.push(match process_job(state, *job_id, budget).await {
            Ok(outcome) => {
                tracing::info!(%job_id, ?outcome, "job run done");
                Disposition::Done
            }
            Err(ProcessError::Unprocessable(_, reason)) => {
                // No retry changes a missing file or template; check-job-status reports the job `error`.
                tracing::error!(%job_id, reason, "job cannot be processed");
                Disposition::Done
            }
            Err(e) => {
                tracing::error!(%job_id, error = %e, attempt = attempt.number, "job run failed; will resume");
                Disposition::RetryAfter(STALE_AFTER + Duration::from_secs(30))
            }
        });
    }
    dispositions
}
