//! Single sends scheduled for later (GC Notify's `scheduled_for` on `POST /v2/notifications/sms|email`): stored
//! `created` with a `scheduled_notifications` row and not queued at acceptance; released by
//! `send-scheduled-notifications` within a minute of their time; cancellable until then through the admin API.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::AppState;
use notify_core::messages::Message;
use notify_core::model::NotificationType;
use notify_db::{DbError, ScheduledCancel};
use uuid::Uuid;

const BATCH: i64 = 1000;

/// Releases every scheduled send due at `now`, in batches while `within_budget`: each stops being pending and is
/// queued on its channel's queue. One the queue refuses stays `created` and the replay job queues it (its age is
/// counted from its time); two runs at once never release the same one twice.
pub async fn release_due(
    state: &AppState,
    now: DateTime<Utc>,
    within_budget: impl Fn() -> bool,
) -> Result<Value, DbError> {
    let (mut released, mut not_queued) = (0u64, 0u64);
    loop {
        let batch = state.db.release_scheduled_notifications(now, BATCH).await?;
        for n in &batch {
            let queue = match n.notification_type {
                NotificationType::Sms => &state.config.queues.deliver_sms,
                NotificationType::Email => &state.config.queues.deliver_email,
                NotificationType::Letter => &state.config.queues.deliver_letter,
            };
            match state
                .queue
                .send(queue, &n.service_id.to_string(), &Message::deliver(n.id))
                .await
            {
                Ok(()) => released += 1,
                Err(e) => {
                    not_queued += 1;
                    tracing::error!(notification_id = %n.id, error = %e, "scheduled send released but not queued; the replay job will queue it");
                }
            }
        }
        if (batch.len() as i64) < BATCH || !within_budget() {
            break;
        }
    }
    notify_core::metrics::count("ScheduledNotificationsReleased", released, &[]);
    Ok(json!({"released": released, "not_queued": not_queued}))
}

/// Why a scheduled SMS or email could not be cancelled, or `Ok(true)` when it was; `Ok(false)` when it was never
/// scheduled (the caller answers as for any other notification that is not a letter).
pub async fn cancel(
    state: &AppState,
    service_id: Uuid,
    notification_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Result<bool, String>, DbError> {
    Ok(
        match state
            .db
            .cancel_scheduled_notification(service_id, notification_id, now)
            .await?
        {
            ScheduledCancel::Cancelled => Ok(true),
            ScheduledCancel::NotScheduled => Ok(false),
            ScheduledCancel::AlreadyReleased { scheduled_for } => Err(format!(
                "It’s too late to cancel this notification. It was scheduled for {} and has already been sent.",
                notify_core::time::format(scheduled_for)
            )),
        },
    )
}
