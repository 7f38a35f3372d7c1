//! What becomes of a queue message once its handler is done with it, and every retry policy in one place. The
//! handlers (delivery, receipts, callbacks) return one [`Disposition`] per message; the queue adapters (SQS under
//! Lambda, the in-process queue locally) carry it out, so Lambda and `notify dev` retry alike.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::messages::Message;

/// One message's fate after its handler ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Disposition {
    /// Handled (or dropped for good, with a log line saying why): delete it.
    Done,
    /// The same message back after this delay; its receive count goes on, for the attempt limit.
    RetryAfter(Duration),
    /// This message done, and `message` sent in its place after `after`: a new message starts a fresh receive
    /// count and retention period, so an outage of any length never sends it to the dead-letter queue.
    Replace { message: Message, after: Duration },
    /// Never handleable (unreadable): left to the queue's redrive policy, which moves it to the DLQ.
    DeadLetter,
}

/// Notify's policy for provider sends: the second attempt at once, later ones `retry_delay` apart
/// (`DELIVERY_RETRY_DELAY_SECONDS`, 300 s), `DELIVERY_MAX_ATTEMPTS` in all.
pub fn delivery_retry(attempt: u32, retry_delay: Duration) -> Duration {
    if attempt <= 1 {
        Duration::ZERO
    } else {
        retry_delay
    }
}

/// A delivery message whose claim failed (the database is away): nothing was sent, so it comes back soon.
pub const DATABASE_RETRY_DELAY: Duration = Duration::from_secs(5);

/// A send outcome the database could not take, after `failures` failed attempts to record it: 5 s doubling, at
/// most SQS's 15-minute delay.
pub fn unrecorded_backoff(failures: u32) -> Duration {
    let seconds = 5u64.saturating_mul(1 << failures.min(8));
    Duration::from_secs(seconds.min(900))
}

/// How long a receipt for a reference nobody has recorded yet is kept trying: as long as its notification could
/// still take it (72 hours `sending` become `temporary-failure`), since a send whose record step meets a database
/// outage is recorded once the database is back, however long that takes.
pub const RECEIPT_RETRY_WINDOW: chrono::Duration = chrono::Duration::hours(72);

/// The first wait of a receipt for its reference.
pub const RECEIPT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// At most SQS's largest message delay.
pub const RECEIPT_RETRY_DELAY_MAX: Duration = Duration::from_secs(900);

/// When a receipt (or complaint) said at `at` and still waiting for its reference is tried again: a quarter of
/// its age, between 5 s (the reference is usually recorded within seconds) and 15 minutes; about 310 tries over
/// [`RECEIPT_RETRY_WINDOW`] (the status queue's `maxReceiveCount` allows for them).
pub fn receipt_retry_delay(at: DateTime<Utc>) -> Duration {
    let age = (Utc::now() - at).to_std().unwrap_or_default();
    (age / 4).clamp(RECEIPT_RETRY_DELAY, RECEIPT_RETRY_DELAY_MAX)
}

/// Notify's policy for service callbacks after a failed attempt: `max_retries` retries (5), `retry_delay` apart
/// (300 s); `None` once they are spent (the callback then goes to its dead-letter queue with its last error).
/// The `receives`-th receive is attempt number `receives`.
pub fn callback_retry(receives: u32, max_retries: u32, retry_delay: Duration) -> Option<Duration> {
    (receives <= max_retries).then_some(retry_delay)
}

/// Upstream's `get-pdf-for-templated-letter` policy for a letter whose PDF cannot be stored (the file store is
/// away): 15 retries 5 minutes apart, then `technical-failure`. The `receives`-th receive is attempt `receives`.
pub fn letter_render_retry(receives: u32) -> Option<Duration> {
    (receives <= 15).then_some(Duration::from_secs(300))
}

/// Upstream's `deliver_letter` policy for a print job the printer could not take yet (429, 5xx, a timeout):
/// 55 retries 3 minutes apart (Celery's default delay), about 2 hours 45 minutes, then `technical-failure`.
pub fn print_retry(receives: u32) -> Option<Duration> {
    (receives <= 55).then_some(Duration::from_secs(180))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_retry_at_once_then_after_the_delay() {
        let delay = Duration::from_secs(300);
        assert_eq!(delivery_retry(1, delay), Duration::ZERO);
        assert_eq!(delivery_retry(2, delay), delay);
        assert_eq!(delivery_retry(48, delay), delay);
    }

    #[test]
    fn unrecorded_outcomes_back_off_to_fifteen_minutes() {
        assert_eq!(unrecorded_backoff(0), Duration::from_secs(5));
        assert_eq!(unrecorded_backoff(1), Duration::from_secs(10));
        assert_eq!(unrecorded_backoff(7), Duration::from_secs(640));
        assert_eq!(unrecorded_backoff(8), Duration::from_secs(900));
        assert_eq!(unrecorded_backoff(40), Duration::from_secs(900));
    }

    #[test]
    fn receipts_wait_a_quarter_of_their_age_within_bounds() {
        assert_eq!(receipt_retry_delay(Utc::now()), RECEIPT_RETRY_DELAY);
        let hour_old = Utc::now() - chrono::Duration::hours(1);
        assert_eq!(receipt_retry_delay(hour_old), Duration::from_secs(900));
        let two_minutes_old = Utc::now() - chrono::Duration::seconds(120);
        let delay = receipt_retry_delay(two_minutes_old);
        assert!((Duration::from_secs(29)..=Duration::from_secs(31)).contains(&delay));
    }

    #[test]
    fn letters_retry_as_upstreams_tasks_do() {
        assert_eq!(letter_render_retry(1), Some(Duration::from_secs(300)));
        assert_eq!(letter_render_retry(15), Some(Duration::from_secs(300)));
        assert_eq!(letter_render_retry(16), None);
        assert_eq!(print_retry(55), Some(Duration::from_secs(180)));
        assert_eq!(print_retry(56), None);
    }

    #[test]
    fn callbacks_get_five_retries() {
        let delay = Duration::from_secs(300);
        assert_eq!(callback_retry(1, 5, delay), Some(delay));
        assert_eq!(callback_retry(5, 5, delay), Some(delay));
        assert_eq!(callback_retry(6, 5, delay), None);
    }
}
