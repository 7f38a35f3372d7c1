//! The scheduled housekeeping jobs. Each is idempotent and works in bounded batches within a time budget: what is
//! left when the budget runs out is picked up by its next run. The same code runs from EventBridge
//! (`functions/scheduled`), from the local stack's scheduler and from `notify run-job <name>`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use serde_json::{Value, json};

use crate::{AppState, callbacks};
use notify_core::messages::Message;
use notify_core::model::NotificationType;
use notify_db::DbError;

/// When a job runs, in UTC, or (for letters) in London time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    EveryMinutes(u32),
    DailyAt {
        hour: u32,
        minute: u32,
    },
    /// The `nth` such weekday of each month (EventBridge's `TUE#1`).
    MonthlyOn {
        weekday: Weekday,
        nth: u32,
        hour: u32,
        minute: u32,
    },
    /// Daily at a London time. EventBridge rules run in UTC, so the rule fires at both UTC hours that can be
    /// that London time (BST and GMT) and the run that is not ([`Schedule::intended_at`]) does nothing, as
    /// upstream's `check-time-to-collate-letters` does.
    DailyAtLondon {
        hour: u32,
        minute: u32,
    },
}

impl Schedule {
    /// The EventBridge schedule expression.
    pub fn expression(self) -> String {
        match self {
            Schedule::EveryMinutes(1) => "rate(1 minute)".into(),
            Schedule::EveryMinutes(n) => format!("rate({n} minutes)"),
            Schedule::DailyAt { hour, minute } => format!("cron({minute} {hour} * * ? *)"),
            Schedule::MonthlyOn {
                weekday,
                nth,
                hour,
                minute,
            } => {
                let day = match weekday {
                    Weekday::Mon => "MON",
                    Weekday::Tue => "TUE",
                    Weekday::Wed => "WED",
                    Weekday::Thu => "THU",
                    Weekday::Fri => "FRI",
                    Weekday::Sat => "SAT",
                    Weekday::Sun => "SUN",
                };
                format!("cron({minute} {hour} ? * {day}#{nth} *)")
            }
            Schedule::DailyAtLondon { hour, minute } => {
                format!("cron({minute} {},{hour} * * ? *)", (hour + 23) % 24)
            }
        }
    }

    /// Whether a run that its rule started at `at` is the one meant: always, except for a London-time job, whose
    /// rule also fires an hour off; that one is meant within the hour after the London time (upstream's window).
    pub fn intended_at(self, at: DateTime<Utc>) -> bool {
        match self {
            Schedule::DailyAtLondon { hour, minute } => {
                let local = at.with_timezone(&chrono_tz::Europe::London);
                let start = chrono::NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default();
                let end = start + chrono::Duration::hours(1);
                let time = local.time();
                if end > start {
                    time >= start && time < end
                } else {
                    time >= start || time < end
                }
            }
            _ => true,
        }
    }

    /// Whether the job is due in the minute that `at` falls in.
    pub fn due_at(self, at: DateTime<Utc>) -> bool {
        match self {
            Schedule::EveryMinutes(n) => (at.hour() * 60 + at.minute()).is_multiple_of(n),
            Schedule::DailyAt { hour, minute } => at.hour() == hour && at.minute() == minute,
            Schedule::MonthlyOn {
                weekday,
                nth,
                hour,
                minute,
            } => {
                at.weekday() == weekday
                    && at.day0() / 7 + 1 == nth
                    && at.hour() == hour
                    && at.minute() == minute
            }
            Schedule::DailyAtLondon { hour, minute } => {
                let local = at.with_timezone(&chrono_tz::Europe::London);
                local.hour() == hour && local.minute() == minute
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    TimeoutSendingNotifications,
    ReplayCreatedNotifications,
    DeleteNotificationsOlderThanRetention,
    TendProvidersBackToMiddle,
    SwitchSmsProviderOnSlowDelivery,
    CreateNightlyBilling,
    CreateNightlyNotificationStatus,
    RelayCallbackOutbox,
    ChangeDvlaApiKey,
    ChangeDvlaPassword,
    CollateLetterPdfsToBeSent,
    CheckIfLettersStillPendingVirusCheck,
    // issue 14: schedule
    RunScheduledJobs,
    CheckJobStatus,
    UpdateStatusOfFullyProcessedJobs,
    SendScheduledNotifications,
    // issue 15: idem
    DeleteExpiredIdempotencyKeys,
    // issue 16: files by email
    DeleteExpiredDocuments,
}

impl Job {
    pub const ALL: [Job; 18] = [
        Job::TimeoutSendingNotifications,
        Job::ReplayCreatedNotifications,
        Job::DeleteNotificationsOlderThanRetention,
        Job::TendProvidersBackToMiddle,
        Job::SwitchSmsProviderOnSlowDelivery,
        Job::CreateNightlyBilling,
        Job::CreateNightlyNotificationStatus,
        Job::RelayCallbackOutbox,
        Job::ChangeDvlaApiKey,
        Job::ChangeDvlaPassword,
        Job::CollateLetterPdfsToBeSent,
        Job::CheckIfLettersStillPendingVirusCheck,
        // issue 14: schedule
        Job::RunScheduledJobs,
        Job::CheckJobStatus,
        Job::UpdateStatusOfFullyProcessedJobs,
        Job::SendScheduledNotifications,
        // issue 15: idem
        Job::DeleteExpiredIdempotencyKeys,
        // issue 16: files by email
        Job::DeleteExpiredDocuments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::TimeoutSendingNotifications => "timeout-sending-notifications",
            Job::ReplayCreatedNotifications => "replay-created-notifications",
            Job::DeleteNotificationsOlderThanRetention => {
                "delete-notifications-older-than-retention"
            }
            Job::TendProvidersBackToMiddle => "tend-providers-back-to-middle",
            Job::SwitchSmsProviderOnSlowDelivery => "switch-sms-provider-on-slow-delivery",
            Job::CreateNightlyBilling => "create-nightly-billing",
            Job::CreateNightlyNotificationStatus => "create-nightly-notification-status",
            Job::RelayCallbackOutbox => "relay-callback-outbox",
            Job::ChangeDvlaApiKey => "change-dvla-api-key",
            Job::ChangeDvlaPassword => "change-dvla-password",
            Job::CollateLetterPdfsToBeSent => "collate-letter-pdfs-to-be-sent",
            Job::CheckIfLettersStillPendingVirusCheck => {
                "check-if-letters-still-pending-virus-check"
            }
            // issue 14: schedule
            Job::RunScheduledJobs => "run-scheduled-jobs",
            Job::CheckJobStatus => "check-job-status",
            Job::UpdateStatusOfFullyProcessedJobs => "update-status-of-fully-processed-jobs",
            Job::SendScheduledNotifications => "send-scheduled-notifications",
            // issue 15: idem
            Job::DeleteExpiredIdempotencyKeys => "delete-expired-idempotency-keys",
            // issue 16: files by email
            Job::DeleteExpiredDocuments => "delete-expired-documents",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.name() == name)
    }

    /// Notify's schedules (contract §10), UTC.
    pub fn schedule(self) -> Schedule {
        match self {
            Job::TimeoutSendingNotifications => Schedule::DailyAt { hour: 0, minute: 5 },
            Job::ReplayCreatedNotifications => Schedule::EveryMinutes(5),
            Job::DeleteNotificationsOlderThanRetention => Schedule::DailyAt { hour: 3, minute: 0 },
            Job::TendProvidersBackToMiddle => Schedule::EveryMinutes(5),
            Job::SwitchSmsProviderOnSlowDelivery => Schedule::EveryMinutes(1),
            Job::CreateNightlyBilling => Schedule::DailyAt {
                hour: 0,
                minute: 15,
            },
            Job::CreateNightlyNotificationStatus => Schedule::DailyAt {
                hour: 0,
                minute: 30,
            },
            // Not Notify's: the sweeper behind the callback outbox, for what its fast path left.
            Job::RelayCallbackOutbox => Schedule::EveryMinutes(1),
            // Notify's: the API key on the first Tuesday of each month, the password on another day after it.
            // Upstream's "the Wednesday after the first Tuesday" needs day of month and day of week together,
            // which EventBridge cannot say; the first Wednesday is that day in six months of seven and otherwise
            // six days before the key, never the same day.
            Job::ChangeDvlaApiKey => Schedule::MonthlyOn {
                weekday: Weekday::Tue,
                nth: 1,
                hour: 9,
                minute: 0,
            },
            Job::ChangeDvlaPassword => Schedule::MonthlyOn {
                weekday: Weekday::Wed,
                nth: 1,
                hour: 9,
                minute: 0,
            },
            // Upstream: 17:50 London, twenty minutes after the 17:30 print cut-off.
            Job::CollateLetterPdfsToBeSent => Schedule::DailyAtLondon {
                hour: 17,
                minute: 50,
            },
            Job::CheckIfLettersStillPendingVirusCheck => Schedule::EveryMinutes(10),
            // issue 14: schedule. Every minute: a scheduled job or send goes within a minute of its time (upstream
            // releases jobs every 15 minutes; GC Notify every minute), and check-job-status is upstream's.
            Job::RunScheduledJobs
            | Job::CheckJobStatus
            | Job::UpdateStatusOfFullyProcessedJobs
            | Job::SendScheduledNotifications => Schedule::EveryMinutes(1),
            // issue 15: idem. A key is forgotten after 24 hours whether or not its row is gone (reads and the
            // completing insert ignore older rows), so hourly keeps the table at about a day and an hour of keys.
            Job::DeleteExpiredIdempotencyKeys => Schedule::EveryMinutes(60),
            // The page refuses an expired file at once; the purge only frees the storage.
            Job::DeleteExpiredDocuments => Schedule::EveryMinutes(60),
        }
    }
}

/// How long a run started by hand or by the local scheduler may work before it leaves the rest to its next run.
pub const TIME_BUDGET: Duration = Duration::from_secs(45);

const BATCH: i64 = 1000;
/// Upstream's retries of a DVLA rotation that DVLA throttled or could not answer: 3, a minute apart.
const ROTATION_RETRIES: u32 = 3;
const ROTATION_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Smaller than other jobs' batches: each purge batch writes history rows and deletes, and the WAL it makes is
/// flushed with the commits of the sends made meanwhile; small bursts keep their latency down.
const PURGE_BATCH: i64 = 250;

/// Runs one job until it is done or its time budget is spent; reports what it did.
pub async fn run(state: &AppState, job: Job, budget: Duration) -> Result<Value, DbError> {
    let started = Instant::now();
    let within_budget = || started.elapsed() < budget;
    let report = match job {
        Job::ReplayCreatedNotifications => {
            let mut cursor = None;
            let (mut replayed, mut failed) = (0u64, 0u64);
            loop {
                let batch = state
                    .db
                    .created_for_replay(state.config.delivery.replay_after, cursor, BATCH)
                    .await?;
                for (id, kind, _, service_id) in &batch {
                    // Letters waiting for collation have their PDF stored and are not read here: only those never
                    // rendered are queued again.
                    let queue = match kind {
                        NotificationType::Email => &state.config.queues.deliver_email,
                        NotificationType::Letter => &state.config.queues.deliver_letter,
                        NotificationType::Sms => &state.config.queues.deliver_sms,
                    };
                    match state
                        .queue
                        .send(queue, &service_id.to_string(), &Message::deliver(*id))
                        .await
                    {
                        Ok(()) => replayed += 1,
                        Err(e) => {
                            failed += 1;
                            tracing::error!(notification_id = %id, error = %e, "replay not queued");
                        }
                    }
                }
                cursor = batch.last().map(|(id, _, at, _)| (*at, *id));
                if (batch.len() as i64) < BATCH || !within_budget() {
                    break;
                }
            }
            notify_core::metrics::count("NotificationsReplayed", replayed, &[]);
            json!({"replayed": replayed, "not_queued": failed})
        }
        Job::TimeoutSendingNotifications => {
            let (mut timed_out, mut callbacks_due, mut queued) = (0u64, 0usize, 0u64);
            loop {
                let (n, due) = state.db.time_out_sending(BATCH).await?;
                timed_out += n;
                callbacks_due += due.len();
                // In the outbox with the status: what the queue refuses now, the sweeper queues later.
                queued += callbacks::relay_now(state, &due).await.queued;
                if (n as i64) < BATCH || !within_budget() {
                    break;
                }
            }
            json!({"timed_out": timed_out, "callbacks_due": callbacks_due, "callbacks_queued": queued})
        }
        Job::ChangeDvlaApiKey | Job::ChangeDvlaPassword => {
            use notify_outbound::print::dvla::{Rotation, RotationError};
            let mut attempts = 0;
            loop {
                attempts += 1;
                // Boxed: the SDK calls' futures are deep, and every job's future is nested in one `run`.
                let outcome = if job == Job::ChangeDvlaApiKey {
                    Box::pin(notify_outbound::print::dvla::rotate_api_key(&state.config)).await
                } else {
                    Box::pin(notify_outbound::print::dvla::rotate_password(&state.config)).await
                };
                match outcome {
                    Ok(Rotation::Changed) => break json!({"changed": true, "attempts": attempts}),
                    Ok(Rotation::NotConfigured) => {
                        break json!({"changed": false, "reason": "DVLA_API_URL is unset"});
                    }
                    Err(RotationError::Retry(e))
                        if attempts <= ROTATION_RETRIES
                            && started.elapsed() + ROTATION_RETRY_DELAY < budget =>
                    {
                        tracing::warn!(job = job.name(), error = %e, "DVLA rotation to be tried again");
                        tokio::time::sleep(ROTATION_RETRY_DELAY).await;
                    }
                    Err(e) => {
                        // The old credential still works until DVLA expires it: an alarm on this metric gives
                        // the weeks there are to rotate it by hand.
                        tracing::error!(job = job.name(), error = %e, "DVLA credential not rotated");
                        notify_core::metrics::count(
                            "DvlaRotationFailed",
                            1,
                            &[("Job", job.name())],
                        );
                        break json!({"changed": false, "error": e.to_string(), "attempts": attempts});
                    }
                }
            }
        }
        Job::CollateLetterPdfsToBeSent => {
            crate::letters::collate(state, state.now(), within_budget).await?
        }
        Job::CheckIfLettersStillPendingVirusCheck => {
            crate::precompiled::rescan_pending(state, state.now(), within_budget).await?
        }
        // issue 14: schedule
        Job::RunScheduledJobs => {
            crate::bulk::schedule::run_scheduled_jobs(state, state.now(), within_budget).await?
        }
        Job::CheckJobStatus => {
            crate::bulk::schedule::check_job_status(state, state.now(), within_budget).await?
        }
        Job::UpdateStatusOfFullyProcessedJobs => {
            crate::bulk::schedule::update_status_of_fully_processed_jobs(
                state,
                state.now(),
                within_budget,
            )
            .await?
        }
        Job::SendScheduledNotifications => {
            crate::bulk::scheduled_sends::release_due(state, state.now(), within_budget).await?
        }
        // issue 15: idem
        Job::DeleteExpiredIdempotencyKeys => {
            let before = state.now() - notify_core::idempotency::RETENTION;
            let mut removed = 0u64;
            while within_budget() {
                let n = state
                    .db
                    .purge_expired_idempotency_keys(before, BATCH)
                    .await?;
                removed += n;
                if (n as i64) < BATCH {
                    break;
                }
            }
            json!({"idempotency_keys_removed": removed})
        }
        // issue 16: files by email
        Job::DeleteExpiredDocuments => {
            let left = budget.saturating_sub(started.elapsed());
            crate::documents::delete_expired(state, left).await?
        }
        Job::RelayCallbackOutbox => {
            let relayed = callbacks::relay_due(state, within_budget).await?;
            notify_core::metrics::count("CallbacksRelayed", relayed.queued, &[]);
            json!({"queued": relayed.queued, "kept": relayed.kept, "dropped": relayed.dropped})
        }
        Job::DeleteNotificationsOlderThanRetention => {
            let (mut notifications, mut inbound) = (0u64, 0u64);
            for kind in NotificationType::ALL {
                while within_budget() {
                    let batch_started = Instant::now();
                    let n = state
                        .db
                        .purge_expired_notifications(*kind, PURGE_BATCH)
                        .await?;
                    notifications += n;
                    if (n as i64) < PURGE_BATCH {
                        break;
                    }
                    // The database gets as long to itself as the batch took: sends made meanwhile keep their
                    // latency (measured in BENCHMARKS.md), and a night's purge still fits in one run.
                    tokio::time::sleep(batch_started.elapsed()).await;
                }
            }
            while within_budget() {
                let n = state.db.purge_expired_inbound_sms(BATCH).await?;
                inbound += n;
                if (n as i64) < BATCH {
                    break;
                }
            }
            // The callback log keeps a week whatever the service's retention: it holds no personal data, and
            // a replay looks no further back than that.
            let mut attempts = 0u64;
            while within_budget() {
                let n = state.db.purge_old_callback_attempts(BATCH).await?;
                attempts += n;
                if (n as i64) < BATCH {
                    break;
                }
            }
            json!({"notifications_removed": notifications, "inbound_sms_removed": inbound,
                "callback_attempts_removed": attempts})
        }
        Job::TendProvidersBackToMiddle => {
            let moved = state
                .db
                .tend_sms_providers_to_resting(notify_outbound::providers::PRIORITY_SHIFT_POINTS)
                .await?;
            json!({"moved": moved.into_iter().map(|(p, w)| json!({"provider": p, "priority": w})).collect::<Vec<_>>()})
        }
        Job::SwitchSmsProviderOnSlowDelivery => {
            let mut shifted = Vec::new();
            for provider in state.db.slow_sms_providers(20).await? {
                if state
                    .db
                    .shift_sms_priority_away(
                        &provider,
                        notify_outbound::providers::PRIORITY_SHIFT_POINTS,
                    )
                    .await?
                {
                    tracing::warn!(provider, "slow SMS provider: weight moved away from it");
                    shifted.push(provider);
                }
            }
            json!({"shifted_away_from": shifted})
        }
        // Notify rebuilds billing for the last 10 days and statuses for the last 4 (letters 10): late receipts
        // and retention both change recent days. Today is built by the next night's run.
        Job::CreateNightlyBilling | Job::CreateNightlyNotificationStatus => {
            let mut days = Vec::new();
            for days_ago in 1..=10 {
                if !within_budget() {
                    break;
                }
                let day = state.db.london_day(days_ago).await?;
                let rows = if job == Job::CreateNightlyBilling {
                    state.db.rebuild_billing_facts(day).await?
                } else {
                    state.db.rebuild_notification_status_facts(day).await?
                };
                days.push(json!({"bst_date": day.to_string(), "rows": rows}));
            }
            json!({"days": days})
        }
    };
    tracing::info!(job = job.name(), report = %report, elapsed_ms = started.elapsed().as_millis() as u64, "job done");
    Ok(report)
}

/// The local stack's scheduler: every job on its schedule, checked each minute.
pub fn spawn_scheduler(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_minute = None;
        loop {
            let now = Utc::now();
            let minute = now.with_second(0).and_then(|t| t.with_nanosecond(0));
            if minute != last_minute {
                last_minute = minute;
                for job in Job::ALL {
                    if job.schedule().due_at(now) {
                        let state = state.clone();
                        tokio::spawn(async move {
                            if let Err(e) = run(&state, job, TIME_BUDGET).await {
                                tracing::error!(job = job.name(), error = %e, "job failed");
                            }
                        });
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn schedules() {
        assert_eq!(
            Job::ReplayCreatedNotifications.schedule().expression(),
            "rate(5 minutes)"
        );
        assert_eq!(
            Job::TimeoutSendingNotifications.schedule().expression(),
            "cron(5 0 * * ? *)"
        );
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 27, h, m, 30).unwrap();
        assert!(Job::TimeoutSendingNotifications.schedule().due_at(at(0, 5)));
        assert!(!Job::TimeoutSendingNotifications.schedule().due_at(at(0, 6)));
        assert!(
            Job::ReplayCreatedNotifications
                .schedule()
                .due_at(at(13, 25))
        );
        assert!(
            !Job::ReplayCreatedNotifications
                .schedule()
                .due_at(at(13, 26))
        );
        for job in Job::ALL {
            assert_eq!(Job::parse(job.name()), Some(job));
        }
    }

    #[test]
    fn dvla_rotation_is_monthly_key_first_tuesday_password_first_wednesday() {
        assert_eq!(
            Job::ChangeDvlaApiKey.schedule().expression(),
            "cron(0 9 ? * TUE#1 *)"
        );
        assert_eq!(
            Job::ChangeDvlaPassword.schedule().expression(),
            "cron(0 9 ? * WED#1 *)"
        );
        let at = |d, h, m| Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap();
        // December 2026 starts on a Tuesday.
        assert!(Job::ChangeDvlaApiKey.schedule().due_at(at(1, 9, 0)));
        assert!(!Job::ChangeDvlaApiKey.schedule().due_at(at(8, 9, 0)));
        assert!(!Job::ChangeDvlaApiKey.schedule().due_at(at(1, 9, 1)));
        assert!(Job::ChangeDvlaPassword.schedule().due_at(at(2, 9, 0)));
        assert!(!Job::ChangeDvlaPassword.schedule().due_at(at(9, 9, 0)));
    }

    #[test]
    fn collation_runs_at_ten_to_six_london_time_summer_and_winter() {
        let schedule = Job::CollateLetterPdfsToBeSent.schedule();
        assert_eq!(schedule.expression(), "cron(50 16,17 * * ? *)");
        let at = |m, h| Utc.with_ymd_and_hms(2026, m, 1, h, 50, 10).unwrap();
        // Winter: London is UTC, so the 17:50 UTC run is meant and the 16:50 one is not.
        assert!(schedule.intended_at(at(12, 17)) && schedule.due_at(at(12, 17)));
        assert!(!schedule.intended_at(at(12, 16)) && !schedule.due_at(at(12, 16)));
        // Summer: 17:50 BST is 16:50 UTC; the 17:50 UTC run (18:50 BST) does nothing.
        assert!(schedule.intended_at(at(6, 16)) && schedule.due_at(at(6, 16)));
        assert!(!schedule.intended_at(at(6, 17)) && !schedule.due_at(at(6, 17)));
        assert!(
            Job::ReplayCreatedNotifications
                .schedule()
                .intended_at(at(6, 3))
        );
    }

    #[test]
    fn the_template_schedules_every_job_as_the_local_scheduler_does() {
        let template = include_str!("../../../template.yaml");
        for job in Job::ALL {
            let rule = format!(
                "Schedule: {}\n            Input: '{{\"job\": \"{}\"}}'",
                job.schedule().expression(),
                job.name()
            );
            assert!(template.contains(&rule), "template.yaml lacks {rule}");
        }
    }

    #[test]
    fn a_lambda_run_spends_its_deadline_less_a_margin() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let budget = notify_core::time::budget_before(now + 900_000);
        assert!(budget <= Duration::from_secs(870) && budget > Duration::from_secs(865));
        assert_eq!(
            notify_core::time::budget_before(now + 10_000),
            Duration::ZERO
        );
        assert_eq!(notify_core::time::budget_before(0), Duration::ZERO);
    }
}
