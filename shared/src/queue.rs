//! Queues between the API and the workers: SQS in AWS (and against moto), in-process locally.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {reason}")]
pub struct QueueError {
    pub queue: String,
    pub reason: String,
}

/// Small, versioned messages: workers read what they need from the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// A notification to hand to a provider; or, with `unrecorded`, one already handed over (or given up on)
    /// whose outcome the database could not take yet: that is recorded from here, never by sending again.
    #[serde(rename = "deliver")]
    Deliver {
        v: u32,
        notification_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unrecorded: Option<Unrecorded>,
    },
    /// A provider's word on a notification, by the provider's reference.
    #[serde(rename = "receipt")]
    Receipt {
        v: u32,
        provider: String,
        reference: String,
        status: crate::model::NotificationStatus,
        /// When the provider said it: a receipt for an unknown reference is retried for 72 hours from here.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A provider's receipt exactly as it reached the API; the status worker parses it.
    #[serde(rename = "raw_receipt")]
    RawReceipt {
        v: u32,
        provider: String,
        body: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A service callback, complete: the callback worker needs no database.
    #[serde(rename = "callback")]
    Callback(crate::callbacks::Callback),
}

/// A send's outcome waiting on the database, and how many times recording it has failed (for the backoff).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    pub outcome: crate::db::SendOutcome,
    pub failures: u32,
}

impl Unrecorded {
    /// When to try again after `failures` failed attempts: 5 s doubling, at most SQS's 15-minute delay. Each try
    /// is a new message, so neither the receive count nor the retention period ever runs out during an outage.
    pub fn retry_delay(&self) -> Duration {
        let seconds = 5u64.saturating_mul(1 << self.failures.min(8));
        Duration::from_secs(seconds.min(900))
    }
}

impl Message {
    pub fn deliver(notification_id: Uuid) -> Self {
        Message::Deliver {
            v: 1,
            notification_id,
            unrecorded: None,
        }
    }
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// `group` keeps one service's burst from starving the others where the queue supports fairness.
    async fn send(&self, queue: &str, group: &str, message: &Message) -> Result<(), QueueError> {
        self.send_delayed(queue, group, message, Duration::ZERO)
            .await
    }

    /// Visible only after `delay` (at most 15 minutes on SQS).
    async fn send_delayed(
        &self,
        queue: &str,
        group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError>;
}

/// A message, when it becomes visible, and how often it was received before.
type Queued = (Instant, Message, u32);

/// Messages kept in memory, per queue name: the local stack's default and the tests' window into what was sent.
#[derive(Default)]
pub struct InProcessQueue {
    /// Each message with the time it becomes visible and how often it was received before (as SQS's
    /// `ApproximateReceiveCount`, so retry limits work the same locally).
    queues: Mutex<HashMap<String, VecDeque<Queued>>>,
    /// Lets tests simulate a queue outage.
    unavailable: Mutex<bool>,
    arrived: tokio::sync::Notify,
}

impl InProcessQueue {
    /// Every message on the queue, visible or not, taken off it.
    pub fn take_all(&self, queue: &str) -> Vec<Message> {
        self.queues
            .lock()
            .expect("queue lock")
            .get_mut(queue)
            .map(|q| q.drain(..).map(|(_, m, _)| m).collect())
            .unwrap_or_default()
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        *self.unavailable.lock().expect("queue lock") = unavailable;
    }

    fn take_visible(&self, queue: &str, max: usize) -> Vec<(Message, u32)> {
        let now = Instant::now();
        let mut queues = self.queues.lock().expect("queue lock");
        let Some(q) = queues.get_mut(queue) else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(q.len());
        for (visible_at, message, received) in q.drain(..) {
            if taken.len() < max && visible_at <= now {
                taken.push((message, received + 1));
            } else {
                kept.push_back((visible_at, message, received));
            }
        }
        *q = kept;
        taken
    }

    /// Up to `max` visible messages, waiting up to `wait` for some to arrive (like SQS long polling).
    pub async fn receive(&self, queue: &str, max: usize, wait: Duration) -> Vec<Message> {
        self.receive_counted(queue, max, wait, Duration::ZERO)
            .await
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }

    /// As [`receive`](Self::receive), with each message's receive count (1 on its first receive). Once a first
    /// message is there, more are gathered for up to `window` (Lambda's batching window) until `max`.
    pub async fn receive_counted(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
        window: Duration,
    ) -> Vec<(Message, u32)> {
        let mut deadline = Instant::now() + wait;
        let mut taken: Vec<(Message, u32)> = Vec::new();
        let mut gathering = false;
        loop {
            let arrived = self.arrived.notified();
            taken.extend(self.take_visible(queue, max - taken.len()));
            let now = Instant::now();
            if !taken.is_empty() && !gathering {
                gathering = true;
                deadline = now + window;
            }
            if taken.len() >= max || now >= deadline {
                return taken;
            }
            // Wake on a new message, or soon anyway for delayed ones becoming visible.
            let _ =
                tokio::time::timeout(Duration::from_millis(50).min(deadline - now), arrived).await;
        }
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn send_delayed(
        &self,
        queue: &str,
        _group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        if *self.unavailable.lock().expect("queue lock") {
            return Err(QueueError {
                queue: queue.into(),
                reason: "unavailable".into(),
            });
        }
        self.put_back(queue, message, 0, delay);
        Ok(())
    }
}

impl InProcessQueue {
    /// A received message made visible again after `delay`, keeping its receive count: what an SQS message
    /// whose visibility timeout was changed does.
    pub fn put_back(&self, queue: &str, message: &Message, received: u32, delay: Duration) {
        self.queues
            .lock()
            .expect("queue lock")
            .entry(queue.to_string())
            .or_default()
            .push_back((Instant::now() + delay, message.clone(), received));
        self.arrived.notify_waiters();
    }
}

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    urls: tokio::sync::Mutex<HashMap<String, String>>,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        SqsQueue {
            client,
            urls: Default::default(),
        }
    }

    /// An SQS client pointed at `endpoint` (moto locally) when given.
    pub async fn from_env(endpoint: Option<&str>) -> Self {
        SqsQueue::new(aws_sdk_sqs::Client::new(
            &crate::aws::sdk_config(endpoint).await,
        ))
    }

    /// A queue is named in config and resolved to its URL once; a full URL is used as it is.
    async fn url(&self, queue: &str) -> Result<String, QueueError> {
        if queue.starts_with("https://") || queue.starts_with("http://") {
            return Ok(queue.to_string());
        }
        if let Some(url) = self.urls.lock().await.get(queue) {
            return Ok(url.clone());
        }
        let url = self
            .client
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: queue.into(),
                reason: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?
            .queue_url
            .ok_or_else(|| QueueError {
                queue: queue.into(),
                reason: "no queue url".into(),
            })?;
        self.urls
            .lock()
            .await
            .insert(queue.to_string(), url.clone());
        Ok(url)
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_delayed(
        &self,
        queue: &str,
        _group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        let body = serde_json::to_string(message).expect("messages serialise");
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: queue.into(),
                reason: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_message_shape() {
        let id = Uuid::nil();
        assert_eq!(
            serde_json::to_value(Message::deliver(id)).unwrap(),
            serde_json::json!({"type": "deliver", "v": 1, "notification_id": "00000000-0000-0000-0000-000000000000"})
        );
    }

    #[test]
    fn an_unrecorded_outcome_travels_on_the_delivery_message() {
        let sent = crate::db::SendOutcome::Sent(crate::db::SentRecord {
            provider: "mmg".into(),
            reference: "ref-1".into(),
            billable_units: 2,
            status: crate::model::NotificationStatus::Sending,
            sent_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        });
        let message = Message::Deliver {
            v: 1,
            notification_id: Uuid::nil(),
            unrecorded: Some(Unrecorded {
                outcome: sent,
                failures: 3,
            }),
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["unrecorded"]["outcome"]["kind"], "sent");
        assert_eq!(json["unrecorded"]["outcome"]["reference"], "ref-1");
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message);
        let retry = |failures| {
            Unrecorded {
                outcome: crate::db::SendOutcome::Retry,
                failures,
            }
            .retry_delay()
        };
        assert_eq!(retry(0), Duration::from_secs(5));
        assert_eq!(retry(1), Duration::from_secs(10));
        assert_eq!(retry(7), Duration::from_secs(640));
        assert_eq!(retry(8), Duration::from_secs(900));
        assert_eq!(retry(40), Duration::from_secs(900));
    }
}
