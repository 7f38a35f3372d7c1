//! Queues between the API and the workers: SQS in AWS (and against moto), in-process locally.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod lambda;

use async_trait::async_trait;
use notify_core::messages::Message;
use notify_core::retry::Disposition;

#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {reason}")]
pub struct QueueError {
    pub queue: String,
    pub reason: String,
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

    /// Many messages to one queue, each with its group: SQS's `SendMessageBatch`, 10 to a call. Answers, in
    /// order, the index of every message not sent with why; an empty list means every one was sent.
    async fn send_batch(
        &self,
        queue: &str,
        messages: &[(String, Message)],
    ) -> Vec<(usize, QueueError)> {
        let mut failed = Vec::new();
        for (i, (group, message)) in messages.iter().enumerate() {
            if let Err(e) = self.send(queue, group, message).await {
                failed.push((i, e));
            }
        }
        failed
    }

    /// Up to `max` (at most 10) messages from `queue`, hidden from other receivers for `hide`, waiting up to a
    /// second for some. For draining a dead-letter queue from the CLI: the workers receive through Lambda's
    /// event source, never through this.
    async fn take(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> Result<Vec<Taken>, QueueError> {
        let _ = (max, hide);
        Err(QueueError {
            queue: queue.into(),
            reason: "this queue cannot be received from here".into(),
        })
    }

    /// Deletes a message [`take`](Self::take) returned.
    async fn delete(&self, queue: &str, handle: &str) -> Result<(), QueueError> {
        let _ = handle;
        Err(QueueError {
            queue: queue.into(),
            reason: "this queue cannot delete here".into(),
        })
    }
}

/// A message received to be moved elsewhere (the callbacks DLQ replay): deleted with its `handle` once it is
/// safely on its new queue, so a crash between the two sends it twice rather than never.
#[derive(Clone, Debug)]
pub struct Taken {
    /// `None` when the body is no message of ours.
    pub message: Option<Message>,
    pub body: String,
    pub handle: String,
}

/// A message taken off the in-process queue: its group, so a message put back keeps its place in the rotation,
/// and how often it was received (1 on its first receive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message: Message,
    pub group: String,
    pub receives: u32,
}

/// A message not yet visible: ordered by when it becomes visible, then by when it was sent.
struct Delayed {
    visible_at: Instant,
    seq: u64,
    group: String,
    message: Message,
    received: u32,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.visible_at, self.seq) == (other.visible_at, other.seq)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.visible_at, self.seq).cmp(&(other.visible_at, other.seq))
    }
}

/// One queue: visible messages per group, the groups that have some in turn order, and the delayed ones in a
/// heap, so a receive costs O(log n) per message however long the backlog.
#[derive(Default)]
struct Lane {
    /// Per group, its visible messages in order: (sequence number, message, receives so far).
    visible: HashMap<String, VecDeque<(u64, Message, u32)>>,
    /// Each group with visible messages exactly once; the front one is served next.
    turn: VecDeque<String>,
    delayed: BinaryHeap<Reverse<Delayed>>,
}

impl Lane {
    fn push_visible(&mut self, group: String, seq: u64, message: Message, received: u32) {
        let messages = self.visible.entry(group.clone()).or_default();
        if messages.is_empty() {
            self.turn.push_back(group);
        }
        messages.push_back((seq, message, received));
    }

    fn take(&mut self, now: Instant, max: usize) -> Vec<Received> {
        while let Some(Reverse(next)) = self.delayed.peek() {
            if next.visible_at > now {
                break;
            }
            let Reverse(d) = self.delayed.pop().expect("peeked");
            self.push_visible(d.group, d.seq, d.message, d.received);
        }
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some(group) = self.turn.pop_front() else {
                break;
            };
            let messages = self
                .visible
                .get_mut(&group)
                .expect("a group in turn has messages");
            let (_, message, received) =
                messages.pop_front().expect("a group in turn has messages");
            if messages.is_empty() {
                self.visible.remove(&group);
            } else {
                self.turn.push_back(group.clone());
            }
            taken.push(Received {
                message,
                group,
                receives: received + 1,
            });
        }
        taken
    }
}

/// Messages kept in memory, per queue name: the local stack's default and the tests' window into what was sent.
/// Groups are served round-robin (one message from each group with a visible one, in turn), as SQS fair queues
/// keep one service's burst from delaying the others; [`fifo`](Self::fifo) serves them in arrival order instead.
#[derive(Default)]
pub struct InProcessQueue {
    /// Each message with the time it becomes visible and how often it was received before (as SQS's
    /// `ApproximateReceiveCount`, so retry limits work the same locally).
    lanes: Mutex<HashMap<String, Lane>>,
    /// Every message in one group: arrival order, the queue as it was before fair queues (for `bench fairness`).
    fifo: bool,
    seq: std::sync::atomic::AtomicU64,
    /// Lets tests simulate a queue outage.
    unavailable: Mutex<bool>,
    arrived: tokio::sync::Notify,
}

impl InProcessQueue {
    /// A queue that ignores groups: the first visible message goes first, whoever sent it.
    pub fn fifo() -> Self {
        InProcessQueue {
            fifo: true,
            ..Default::default()
        }
    }

    /// Every message on the queue, visible or not, taken off it, in the order they were sent.
    pub fn take_all(&self, queue: &str) -> Vec<Message> {
        let Some(lane) = self.lanes.lock().expect("queue lock").remove(queue) else {
            return Vec::new();
        };
        let mut all: Vec<(u64, Message)> = lane
            .visible
            .into_values()
            .flatten()
            .map(|(seq, m, _)| (seq, m))
            .chain(
                lane.delayed
                    .into_iter()
                    .map(|Reverse(d)| (d.seq, d.message)),
            )
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, m)| m).collect()
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        *self.unavailable.lock().expect("queue lock") = unavailable;
    }

    fn take_visible(&self, queue: &str, max: usize) -> Vec<Received> {
        let now = Instant::now();
        match self.lanes.lock().expect("queue lock").get_mut(queue) {
            Some(lane) => lane.take(now, max),
            None => Vec::new(),
        }
    }

    /// Up to `max` visible messages, each with its group and receive count, waiting up to `wait` for some to
    /// arrive (like SQS long polling). Once a first message is there, more are gathered for up to `window`
    /// (Lambda's batching window) until `max`.
    pub async fn receive_counted(
        &self,
        queue: &str,
        max: usize,
        wait: Duration,
        window: Duration,
    ) -> Vec<Received> {
        let mut deadline = Instant::now() + wait;
        let mut taken: Vec<Received> = Vec::new();
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
        group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        if *self.unavailable.lock().expect("queue lock") {
            return Err(QueueError {
                queue: queue.into(),
                reason: "unavailable".into(),
            });
        }
        self.put_back(queue, group, message, 0, delay);
        Ok(())
    }

    // issue 14: process
    /// The whole batch under one lock: a job's thousands of deliveries cost one lock, not one each.
    async fn send_batch(
        &self,
        queue: &str,
        messages: &[(String, Message)],
    ) -> Vec<(usize, QueueError)> {
        if *self.unavailable.lock().expect("queue lock") {
            return (0..messages.len())
                .map(|i| {
                    (
                        i,
                        QueueError {
                            queue: queue.into(),
                            reason: "unavailable".into(),
                        },
                    )
                })
                .collect();
        }
        let mut lanes = self.lanes.lock().expect("queue lock");
        let lane = lanes.entry(queue.to_string()).or_default();
        for (group, message) in messages {
            let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let group = if self.fifo {
                String::new()
            } else {
                group.clone()
            };
            lane.push_visible(group, seq, message.clone(), 0);
        }
        drop(lanes);
        self.arrived.notify_waiters();
        Vec::new()
    }
    // end issue 14: process

    /// Visible messages, taken off at once: in memory there is nobody to hide them from, and nothing survives
    /// the process anyway, so [`delete`](Queue::delete) has nothing left to do.
    async fn take(
        &self,
        queue: &str,
        max: usize,
        _hide: Duration,
    ) -> Result<Vec<Taken>, QueueError> {
        Ok(self
            .take_visible(queue, max.clamp(1, 10))
            .into_iter()
            .map(|r| Taken {
                body: serde_json::to_string(&r.message).expect("messages serialise"),
                message: Some(r.message),
                handle: String::new(),
            })
            .collect())
    }

    async fn delete(&self, _queue: &str, _handle: &str) -> Result<(), QueueError> {
        Ok(())
    }
}

impl InProcessQueue {
    /// Carries out a disposition for a message received from `queue`, as [`lambda::settle`] does for SQS.
    pub async fn settle(&self, queue: &str, received: &Received, disposition: Disposition) {
        match disposition {
            Disposition::Done => {}
            Disposition::DeadLetter => {
                tracing::error!(queue, "message cannot be handled; dropped");
            }
            Disposition::RetryAfter(delay) => self.put_back(
                queue,
                &received.group,
                &received.message,
                received.receives,
                delay,
            ),
            Disposition::Replace { message, after } => {
                if let Err(e) = self
                    .send_delayed(queue, &received.group, &message, after)
                    .await
                {
                    // Keep the replacement rather than lose what it carries.
                    tracing::error!(error = %e, "replacement not queued; keeping it");
                    self.put_back(queue, &received.group, &message, received.receives, after);
                }
            }
        }
    }
}

impl InProcessQueue {
    /// A received message made visible again after `delay`, keeping its group and receive count: what an SQS
    /// message whose visibility timeout was changed does.
    pub fn put_back(
        &self,
        queue: &str,
        group: &str,
        message: &Message,
        received: u32,
        delay: Duration,
    ) {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let group = if self.fifo {
            String::new()
        } else {
            group.to_string()
        };
        let mut lanes = self.lanes.lock().expect("queue lock");
        let lane = lanes.entry(queue.to_string()).or_default();
        if delay.is_zero() {
            lane.push_visible(group, seq, message.clone(), received);
        } else {
            lane.delayed.push(Reverse(Delayed {
                visible_at: Instant::now() + delay,
                seq,
                group,
                message: message.clone(),
                received,
            }));
        }
        drop(lanes);
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
            &notify_config::aws::sdk_config(endpoint).await,
        ))
    }

    /// The SQS client underneath, for the Lambda adapter's visibility changes.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
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
        group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        let body = serde_json::to_string(message).expect("messages serialise");
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            // On a standard queue this makes it a fair queue: SQS keeps one group's backlog from delaying
            // the others' messages.
            .message_group_id(group)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: queue.into(),
                reason: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(())
    }

    // issue 14: process
    /// `SendMessageBatch`, 10 entries a call (SQS's limit), several calls in flight at once; an entry SQS refuses
    /// and every entry of a call that failed whole are reported by their index.
    async fn send_batch(
        &self,
        queue: &str,
        messages: &[(String, Message)],
    ) -> Vec<(usize, QueueError)> {
        use futures::StreamExt;
        const PER_CALL: usize = 10;
        const CALLS_IN_FLIGHT: usize = 8;
        let error = |reason: String| QueueError {
            queue: queue.into(),
            reason,
        };
        let url = match self.url(queue).await {
            Ok(url) => url,
            Err(e) => {
                return (0..messages.len())
                    .map(|i| (i, error(e.reason.clone())))
                    .collect();
            }
        };
        // Entries built up front, owned: each call's future then borrows nothing but the client.
        let chunks: Vec<(
            usize,
            usize,
            Vec<aws_sdk_sqs::types::SendMessageBatchRequestEntry>,
        )> = messages
            .chunks(PER_CALL)
            .enumerate()
            .map(|(c, chunk)| {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, (group, message))| {
                        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(
                                serde_json::to_string(message).expect("messages serialise"),
                            )
                            .message_group_id(group)
                            .build()
                            .expect("id and body set")
                    })
                    .collect();
                (c * PER_CALL, chunk.len(), entries)
            })
            .collect();
        let client = &self.client;
        let calls = chunks.into_iter().map(|(first, len, entries)| {
            let url = url.clone();
            async move {
                match client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                {
                    Ok(output) => output
                        .failed
                        .into_iter()
                        .filter_map(|f| {
                            let i: usize = f.id.parse().ok()?;
                            Some((
                                first + i,
                                error(format!("{}: {}", f.code, f.message.unwrap_or_default())),
                            ))
                        })
                        .collect::<Vec<_>>(),
                    Err(e) => {
                        let reason = aws_sdk_sqs::error::DisplayErrorContext(e).to_string();
                        (first..first + len)
                            .map(|i| (i, error(reason.clone())))
                            .collect()
                    }
                }
            }
        });
        let mut failed: Vec<(usize, QueueError)> = futures::stream::iter(calls)
            .buffer_unordered(CALLS_IN_FLIGHT)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        failed.sort_by_key(|(i, _)| *i);
        failed
    }
    // end issue 14: process

    async fn take(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> Result<Vec<Taken>, QueueError> {
        let url = self.url(queue).await?;
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(hide.as_secs().clamp(1, 43_200) as i32)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: queue.into(),
                reason: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let handle = m.receipt_handle?;
                let body = m.body.unwrap_or_default();
                Some(Taken {
                    message: serde_json::from_str(&body).ok(),
                    body,
                    handle,
                })
            })
            .collect())
    }

    async fn delete(&self, queue: &str, handle: &str) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(handle)
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
    use uuid::Uuid;

    fn ids(received: &[Received]) -> Vec<(String, u128)> {
        received
            .iter()
            .map(|r| match &r.message {
                Message::Deliver {
                    notification_id, ..
                } => (r.group.clone(), notification_id.as_u128()),
                other => panic!("not a delivery: {other:?}"),
            })
            .collect()
    }

    async fn send(queue: &InProcessQueue, group: &str, n: u128) {
        queue
            .send("q", group, &Message::deliver(Uuid::from_u128(n)))
            .await
            .unwrap();
    }

    async fn take(queue: &InProcessQueue, max: usize) -> Vec<Received> {
        queue
            .receive_counted("q", max, Duration::ZERO, Duration::ZERO)
            .await
    }

    fn pairs(list: &[(&str, u128)]) -> Vec<(String, u128)> {
        list.iter().map(|(g, n)| (g.to_string(), *n)).collect()
    }

    #[tokio::test]
    async fn groups_are_served_in_turn_each_in_its_own_order() {
        let queue = InProcessQueue::default();
        for n in 1..=4 {
            send(&queue, "busy", n).await;
        }
        send(&queue, "quiet", 10).await;
        send(&queue, "other", 20).await;
        send(&queue, "quiet", 11).await;
        assert_eq!(
            ids(&take(&queue, 5).await),
            pairs(&[
                ("busy", 1),
                ("quiet", 10),
                ("other", 20),
                ("busy", 2),
                ("quiet", 11)
            ])
        );
        // The rotation carries on across receives: "other" is empty now, so busy's backlog is all that is left.
        assert_eq!(
            ids(&take(&queue, 10).await),
            pairs(&[("busy", 3), ("busy", 4)])
        );
        assert!(take(&queue, 10).await.is_empty());
    }

    #[tokio::test]
    async fn a_late_group_is_served_next_not_after_the_backlog() {
        let queue = InProcessQueue::default();
        for n in 1..=1000 {
            send(&queue, "busy", n).await;
        }
        assert_eq!(ids(&take(&queue, 1).await), pairs(&[("busy", 1)]));
        send(&queue, "quiet", 7).await;
        assert_eq!(
            ids(&take(&queue, 2).await),
            pairs(&[("busy", 2), ("quiet", 7)])
        );
    }

    #[tokio::test]
    async fn fifo_serves_in_arrival_order_whatever_the_group() {
        let queue = InProcessQueue::fifo();
        for n in 1..=3 {
            send(&queue, "busy", n).await;
        }
        send(&queue, "quiet", 10).await;
        let order: Vec<u128> = ids(&take(&queue, 10).await)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(order, [1, 2, 3, 10]);
    }

    #[tokio::test]
    async fn a_message_put_back_keeps_its_group_and_receive_count_and_waits_its_delay() {
        let queue = InProcessQueue::default();
        send(&queue, "a", 1).await;
        send(&queue, "b", 2).await;
        let first = take(&queue, 1).await;
        assert_eq!(first[0].receives, 1);
        queue.put_back(
            "q",
            &first[0].group,
            &first[0].message,
            first[0].receives,
            Duration::from_millis(200),
        );
        // Not visible yet: only b's message comes.
        assert_eq!(ids(&take(&queue, 10).await), pairs(&[("b", 2)]));
        tokio::time::sleep(Duration::from_millis(250)).await;
        let again = take(&queue, 10).await;
        assert_eq!(ids(&again), pairs(&[("a", 1)]));
        assert_eq!(again[0].receives, 2);
    }

    #[tokio::test]
    async fn take_all_returns_every_message_in_sending_order() {
        let queue = InProcessQueue::default();
        send(&queue, "a", 1).await;
        queue
            .send_delayed(
                "q",
                "b",
                &Message::deliver(Uuid::from_u128(2)),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        send(&queue, "c", 3).await;
        send(&queue, "a", 4).await;
        let all: Vec<Message> = queue.take_all("q");
        let expected: Vec<Message> = [1, 2, 3, 4]
            .map(|n| Message::deliver(Uuid::from_u128(n)))
            .into();
        assert_eq!(all, expected);
        assert!(take(&queue, 10).await.is_empty());
    }
}
