//! The callback log and replay: the admin API's list of a service's callback attempts, re-sending the current
//! delivery-status callback of a service's notifications in a time window (all, or those whose latest attempt
//! failed), and moving what sits in the callbacks DLQ back onto the callbacks queue. The CLI's
//! `notify callbacks` is a thin adapter over these.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use notify_core::callbacks::delivery_status;
use notify_core::messages::Message;
use notify_db::{CallbackAttemptFilter, CallbackAttemptRecord, DbError, ReplaySelection};

/// The admin list's page size unless the request says otherwise.
pub const PAGE_SIZE: i64 = 50;

/// How many notifications a replay reads per statement; none is held open while it queues them.
const REPLAY_PAGE: i64 = 500;

/// How long a DLQ message taken for the move stays hidden: a crash leaves it there for the next run after that.
const DLQ_HIDE: Duration = Duration::from_secs(120);

/// One page of a service's callback attempts, newest first, as the admin API shows them.
pub async fn list(
    state: &AppState,
    service_id: Uuid,
    filter: &CallbackAttemptFilter,
) -> Result<(Vec<Value>, i64), DbError> {
    let (records, total) = state.db.list_callback_attempts(service_id, filter).await?;
    Ok((records.iter().map(attempt_json).collect(), total))
}

fn attempt_json(record: &CallbackAttemptRecord) -> Value {
    let a = &record.attempt;
    json!({
        "id": record.id,
        "created_at": notify_core::time::format(a.at),
        "callback_type": a.callback_type.as_str(),
        "notification_id": a.subject_id,
        "service_id": a.service_id,
        "url": a.url,
        "status_code": a.status_code,
        "error": a.error,
        "duration_ms": a.duration_ms,
        "attempt": a.attempt,
        "outcome": a.outcome.as_str(),
        "succeeded": a.succeeded(),
    })
}

/// What a replay re-sends.
#[derive(Clone, Debug)]
pub struct Replay {
    pub service_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub only_failed: bool,
    /// Callbacks put on the queue per second, at most.
    pub per_second: u32,
}

/// How far a replay (or a DLQ move) got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// How many there were to re-send when it started.
    pub matched: u64,
    pub queued: u64,
    /// Refused by the queue; the run stops at the first refusal.
    pub failed: u64,
    /// DLQ messages that are no callback: left on the DLQ.
    pub unreadable: u64,
}

/// Paces sends to `per_second`.
fn pacer(per_second: u32) -> tokio::time::Interval {
    let mut pace = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    pace
}

/// Re-sends the current delivery-status callback of each matching notification, built as the outbox relay
/// builds it, onto the callbacks queue at `per_second` at most; `progress` hears after each one. Stops at the
/// first callback the queue refuses (it is down; running again re-sends what was missed, and more).
pub async fn replay(
    state: &AppState,
    request: &Replay,
    mut progress: impl FnMut(&Replayed),
) -> Result<Replayed, DbError> {
    let selection = ReplaySelection {
        service_id: request.service_id,
        from: request.from,
        to: request.to,
        only_failed: request.only_failed,
    };
    let mut done = Replayed {
        matched: state.db.count_replay_delivery_callbacks(&selection).await? as u64,
        ..Default::default()
    };
    progress(&done);
    let mut pace = pacer(request.per_second);
    let mut after = None;
    loop {
        let page = state
            .db
            .replay_delivery_callbacks(&selection, after, REPLAY_PAGE)
            .await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.notification_id);
        let full = page.len() as i64 == REPLAY_PAGE;
        for (data, target) in page {
            pace.tick().await;
            let callback = delivery_status(&data, &target);
            let group = callback.service_id.to_string();
            match state
                .queue
                .send(
                    &state.config.queues.callbacks,
                    &group,
                    &Message::Callback(callback),
                )
                .await
            {
                Ok(()) => done.queued += 1,
                Err(e) => {
                    tracing::error!(error = %e, notification_id = %data.notification_id, "replay stopped: callbacks queue refused");
                    done.failed += 1;
                    progress(&done);
                    return Ok(done);
                }
            }
            progress(&done);
        }
        if !full {
            break;
        }
    }
    tracing::info!(
        service_id = %request.service_id,
        queued = done.queued,
        "callbacks replayed"
    );
    Ok(done)
}

/// Moves what sits in the callbacks DLQ back onto the callbacks queue, `per_second` at most, each callback as it
/// was (its last error cleared) with a fresh set of retries. Each message is deleted from the DLQ only once it is
/// on the callbacks queue. A callback seen twice in one run (dead-lettered again meanwhile) is left for the next
/// run, so a receiver that still fails cannot keep this going; messages that are no callback stay too.
pub async fn replay_dlq(
    state: &AppState,
    per_second: u32,
    mut progress: impl FnMut(&Replayed),
) -> Result<Replayed, notify_queue::QueueError> {
    let (dlq, callbacks) = (
        &state.config.queues.callbacks_dlq,
        &state.config.queues.callbacks,
    );
    let mut done = Replayed::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut pace = pacer(per_second);
    loop {
        let taken = state.queue.take(dlq, 10, DLQ_HIDE).await?;
        let mut new = 0;
        for message in taken {
            let Some(Message::Callback(mut callback)) = message.message else {
                tracing::warn!(
                    body_bytes = message.body.len(),
                    "not a callback on the callbacks DLQ; left there"
                );
                done.unreadable += 1;
                continue;
            };
            callback.last_error = None;
            let key = format!(
                "{}:{}:{}",
                callback.callback_type.as_str(),
                callback.subject_id,
                callback.body
            );
            if !seen.insert(key) {
                continue;
            }
            new += 1;
            done.matched += 1;
            pace.tick().await;
            let group = callback.service_id.to_string();
            if let Err(e) = state
                .queue
                .send(callbacks, &group, &Message::Callback(callback))
                .await
            {
                done.failed += 1;
                progress(&done);
                tracing::error!(error = %e, "DLQ replay stopped: callbacks queue refused");
                return Ok(done);
            }
            // On the callbacks queue now: a failed delete sends it twice at worst, never loses it.
            if let Err(e) = state.queue.delete(dlq, &message.handle).await {
                tracing::warn!(error = %e, "moved callback not deleted from the DLQ");
            }
            done.queued += 1;
            progress(&done);
        }
        if new == 0 {
            break;
        }
    }
    Ok(done)
}
