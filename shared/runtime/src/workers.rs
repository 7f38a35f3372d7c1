//! The local stack's workers: Lambda's event source mappings and retry policy, in a loop over the in-process
//! queue, calling the same code as the Lambda handlers.

use std::sync::Arc;
use std::time::Duration;

use notify_app::AppState;
use notify_app::letters::{LetterTools, handle_letters};
use notify_app::status::StatusBody;
use notify_app::workers::{Attempt, handle_deliveries};
use notify_config::CallbackWorkerConfig;
use notify_core::messages::Message;
use notify_outbound::callbacks::{CallbackSender, handle_callback, record_attempts};
use notify_outbound::providers::Providers;
use notify_queue::InProcessQueue;

/// How the local stack's in-process workers run: Lambda's event source mappings and retry policy, in a loop.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub deliver_queues: Vec<String>,
    pub status_queue: String,
    /// Sends in flight at once per delivery queue, as Lambda's maximum concurrency × batch size would allow.
    pub delivery_concurrency: usize,
    pub status_batch_size: usize,
    /// How long a batch may wait to fill once its first message is there: fewer, fuller batches mean fewer
    /// connections (each batch opens one to claim and one to record).
    pub batching_window: Duration,
}

/// The local stack's workers: the same code paths as the Lambda handlers, fed by the in-process queue.
pub fn spawn_in_process(
    state: AppState,
    providers: Providers,
    queue: Arc<InProcessQueue>,
    settings: WorkerSettings,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    for name in settings.deliver_queues.clone() {
        let (state, providers, queue, settings) = (
            state.clone(),
            providers.clone(),
            queue.clone(),
            settings.clone(),
        );
        handles.push(tokio::spawn(async move {
            let in_flight = Arc::new(tokio::sync::Semaphore::new(
                settings.delivery_concurrency.max(1),
            ));
            loop {
                // Batches of up to 10, as Lambda's event source mapping gives them.
                let room = in_flight.available_permits().clamp(1, 10);
                let batch = queue
                    .receive_counted(
                        &name,
                        room,
                        Duration::from_secs(1),
                        settings.batching_window,
                    )
                    .await;
                if batch.is_empty() {
                    continue;
                }
                let permits = in_flight
                    .clone()
                    .acquire_many_owned(batch.len() as u32)
                    .await
                    .expect("semaphore open");
                let (state, providers, queue, name) = (
                    state.clone(),
                    providers.clone(),
                    queue.clone(),
                    name.clone(),
                );
                // Each batch on its own task: one slow provider call delays nobody outside it.
                tokio::spawn(async move {
                    let max = state.config.delivery.max_attempts;
                    let retry_delay = state.config.delivery.retry_delay;
                    let messages: Vec<(Message, Attempt)> = batch
                        .iter()
                        .map(|r| {
                            let number = r.receives;
                            (r.message.clone(), Attempt { number, max })
                        })
                        .collect();
                    let dispositions =
                        handle_deliveries(&state, &providers, &messages, retry_delay).await;
                    for (received, disposition) in batch.iter().zip(dispositions) {
                        queue.settle(&name, received, disposition).await;
                    }
                    drop(permits);
                });
            }
        }));
    }
    handles.push(tokio::spawn(async move {
        let status = settings.status_queue;
        loop {
            let batch = queue
                .receive_counted(
                    &status,
                    settings.status_batch_size,
                    Duration::from_secs(1),
                    settings.batching_window,
                )
                .await;
            if batch.is_empty() {
                continue;
            }
            let bodies: Vec<StatusBody> = batch
                .iter()
                .map(|r| StatusBody::Task(r.message.clone()))
                .collect();
            let dispositions = notify_app::status::dispose(&state, &bodies).await;
            for (received, disposition) in batch.iter().zip(dispositions) {
                queue.settle(&status, received, disposition).await;
            }
        }
    }));
    handles
}

/// The local stack's letters worker on the deliver-letter queue: renders and print jobs in batches of up to 10,
/// as the letters function gets them.
pub fn spawn_letters_worker(
    state: AppState,
    tools: LetterTools,
    queue: Arc<InProcessQueue>,
    batching_window: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let name = state.config.queues.deliver_letter.clone();
        loop {
            let batch = queue
                .receive_counted(&name, 10, Duration::from_secs(1), batching_window)
                .await;
            if batch.is_empty() {
                continue;
            }
            let max = state.config.delivery.max_attempts;
            let messages: Vec<(Message, Attempt)> = batch
                .iter()
                .map(|r| {
                    let number = r.receives;
                    (r.message.clone(), Attempt { number, max })
                })
                .collect();
            let dispositions = handle_letters(&state, &tools, &messages).await;
            for (received, disposition) in batch.iter().zip(dispositions) {
                queue.settle(&name, received, disposition).await;
            }
        }
    })
}

/// The local stack's callback worker: up to `concurrency` callbacks in flight, each on its own task, so one
/// hanging receiver delays nobody else. It has no database connection at all.
pub fn spawn_callback_worker(
    sender: CallbackSender,
    queue: Arc<InProcessQueue>,
    config: Arc<CallbackWorkerConfig>,
    concurrency: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let name = config.queues.callbacks.clone();
        loop {
            let room = in_flight.available_permits().clamp(1, 10);
            let batch = queue
                .receive_counted(&name, room, Duration::from_secs(1), Duration::ZERO)
                .await;
            for received in batch {
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                let (sender, queue, config, name) =
                    (sender.clone(), queue.clone(), config.clone(), name.clone());
                tokio::spawn(async move {
                    let Message::Callback(callback) = &received.message else {
                        tracing::warn!("not a callback message; dropped");
                        return;
                    };
                    let (disposition, attempt) = handle_callback(
                        &sender,
                        queue.as_ref(),
                        &config,
                        callback,
                        received.receives,
                    )
                    .await;
                    // Each callback here runs on its own task, so each logs its own attempt.
                    record_attempts(queue.as_ref(), &config, vec![attempt]).await;
                    queue.settle(&name, &received, disposition).await;
                    drop(permit);
                });
            }
        }
    })
}

// issue 14: process
/// The local stack's jobs worker on the jobs queue: one `ProcessJob` at a time, as the jobs function (batch size
/// 1) gets them, with the function's budget.
pub fn spawn_jobs_worker(
    state: AppState,
    queue: Arc<InProcessQueue>,
    budget: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let name = state.config.queues.jobs.clone();
        loop {
            let batch = queue
                .receive_counted(&name, 1, Duration::from_secs(1), Duration::ZERO)
                .await;
            let max = state.config.delivery.max_attempts;
            let messages: Vec<(Message, Attempt)> = batch
                .iter()
                .map(|r| {
                    let number = r.receives;
                    (r.message.clone(), Attempt { number, max })
                })
                .collect();
            if messages.is_empty() {
                continue;
            }
            let dispositions =
                notify_app::bulk::process::handle_jobs(&state, &messages, budget).await;
            for (received, disposition) in batch.iter().zip(dispositions) {
                queue.settle(&name, received, disposition).await;
            }
        }
    })
}
// end issue 14: process
