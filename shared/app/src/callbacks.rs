//! Service callbacks. A due callback is an outbox row committed with the change behind it; the relay rebuilds it
//! whole (URL, encrypted bearer token and the exact JSON body) onto the callbacks queue, so the worker that makes
//! the HTTP call never needs the database (contract §9.7), and a queue outage or a crash only delays it.

use crate::AppState;
use notify_core::callbacks::{Callback, complaint, delivery_status, inbound_sms, returned_letter};
use notify_core::messages::Message;
use notify_queue::QueueError;

/// Puts one callback on the callbacks queue, grouped by service so one busy service cannot starve the others.
async fn enqueue(state: &AppState, callback: Callback) -> Result<(), QueueError> {
    let group = callback.service_id.to_string();
    let subject_id = callback.subject_id;
    let callback_type = callback.callback_type;
    state
        .queue
        .send(
            &state.config.queues.callbacks,
            &group,
            &Message::Callback(callback),
        )
        .await
        .inspect_err(|e| {
            tracing::warn!(%subject_id, callback_type = callback_type.as_str(), error = %e, "callback not queued yet; kept in the outbox")
        })
}

/// How many outbox rows one relay pass claims.
pub const RELAY_BATCH: i64 = 100;

/// How long a relay owns the rows it claimed: far longer than queueing a batch takes, so two relays never send
/// the same callback unless one of them died; then the other takes its rows over once this has passed.
pub const RELAY_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// What a relay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    pub claimed: u64,
    pub queued: u64,
    /// Left in the outbox for the next pass: the queue refused them.
    pub kept: u64,
    /// Taken off without a callback: what they were about is gone, or cannot be read.
    pub dropped: u64,
}

impl Relayed {
    fn add(&mut self, other: Relayed) {
        self.claimed += other.claimed;
        self.queued += other.queued;
        self.kept += other.kept;
        self.dropped += other.dropped;
    }
}

/// The fast path, right after the commit that wrote these outbox rows: queues their callbacks now. A failure is
/// logged, never returned: the rows stay in the outbox and the sweeper ([`relay_due`]) queues them later.
pub async fn relay_now(state: &AppState, ids: &[i64]) -> Relayed {
    let mut total = Relayed::default();
    for chunk in ids.chunks(RELAY_BATCH as usize) {
        match relay_pass(state, Some(chunk)).await {
            Ok(relayed) => total.add(relayed),
            Err(e) => {
                tracing::warn!(error = %e, "outbox not relayed now; the sweeper will");
                break;
            }
        }
    }
    total
}

/// The sweeper: relays whatever the fast path left (a queue outage, a crash after the commit), a batch at a time,
/// until the outbox is empty, the queue refuses, or `within_budget` says stop.
pub async fn relay_due(
    state: &AppState,
    within_budget: impl Fn() -> bool,
) -> Result<Relayed, notify_db::DbError> {
    let mut total = Relayed::default();
    loop {
        let relayed = relay_pass(state, None).await?;
        total.add(relayed);
        if (relayed.claimed as i64) < RELAY_BATCH || relayed.kept > 0 || !within_budget() {
            break;
        }
    }
    Ok(total)
}

/// Claims a bounded batch (the connection is back in the pool before any send), queues each callback, then
/// deletes the rows sent and frees the rest.
async fn relay_pass(state: &AppState, ids: Option<&[i64]>) -> Result<Relayed, notify_db::DbError> {
    let claimed = state.db.claim_outbox(ids, RELAY_BATCH, RELAY_LEASE).await?;
    let mut relayed = Relayed {
        claimed: claimed.len() as u64,
        ..Default::default()
    };
    let (mut done, mut kept) = (Vec::new(), Vec::new());
    let mut queue_refused = false;
    for row in claimed {
        if queue_refused {
            // One refusal means the queue is down: the rest wait for the next pass instead of each failing.
            kept.push(row.id);
            continue;
        }
        let Some(due) = row.callback else {
            tracing::warn!(
                outbox_id = row.id,
                "callback no longer due (its subject or the service's callback is gone); dropped"
            );
            done.push(row.id);
            relayed.dropped += 1;
            continue;
        };
        let callback = match rebuild(state, due) {
            Ok(callback) => callback,
            Err(e) => {
                tracing::error!(outbox_id = row.id, error = %e, "callback cannot be rebuilt; dropped");
                notify_core::metrics::count("CallbacksUnreadable", 1, &[]);
                done.push(row.id);
                relayed.dropped += 1;
                continue;
            }
        };
        match enqueue(state, callback).await {
            Ok(()) => {
                done.push(row.id);
                relayed.queued += 1;
            }
            Err(_) => {
                queue_refused = true;
                kept.push(row.id);
            }
        }
    }
    relayed.kept = kept.len() as u64;
    state.db.settle_outbox(&done, &kept).await?;
    Ok(relayed)
}

/// The callback an outbox row stands for, with what is stored encrypted decrypted now.
fn rebuild(
    state: &AppState,
    due: notify_db::OutboxCallback,
) -> Result<Callback, notify_core::crypto::DecryptError> {
    use notify_db::OutboxCallback::*;
    Ok(match due {
        DeliveryStatus(data, target) => delivery_status(&data, &target),
        Complaint(mut data, encrypted_recipient, target) => {
            if let Some(sealed) = encrypted_recipient {
                data.to = state.encryptor.decrypt(&sealed)?;
            }
            complaint(&data, &target)
        }
        InboundSms(mut data, target) => {
            data.message = state.encryptor.decrypt(&data.message)?;
            inbound_sms(&data, &target)
        }
        ReturnedLetter(data, target) => returned_letter(&data, &target),
    })
}
