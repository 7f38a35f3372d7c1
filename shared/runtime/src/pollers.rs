//! Lambda's SQS event source mapping, in a loop: the local stack against moto receives batches, hands them to the
//! very handlers the Lambda functions run ([`crate::lambda`]), and deletes what they did not report as failed.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};

use notify_app::AppState;
use notify_outbound::providers::Providers;

/// One consumer's queue, resolved once.
#[derive(Clone, Debug)]
struct Source {
    url: String,
    arn: String,
}

async fn resolve(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<Source> {
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("queue {name} has no URL"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| anyhow::anyhow!("queue {name} has no ARN"))?;
    Ok(Source { url, arn })
}

/// Up to `max` messages as the Lambda event the mapping would deliver.
async fn receive(sqs: &aws_sdk_sqs::Client, source: &Source, max: i32) -> anyhow::Result<SqsEvent> {
    let answer = sqs
        .receive_message()
        .queue_url(&source.url)
        .max_number_of_messages(max.clamp(1, 10))
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let mut event = SqsEvent::default();
    for message in answer.messages.unwrap_or_default() {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id;
        record.receipt_handle = message.receipt_handle;
        record.body = message.body;
        record.attributes = message
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect();
        record.event_source_arn = Some(source.arn.clone());
        record.event_source = Some("aws:sqs".into());
        event.records.push(record);
    }
    Ok(event)
}

/// Deletes the records the handler did not report as failed, as the event source mapping does.
async fn settle(
    sqs: &aws_sdk_sqs::Client,
    source: &Source,
    event: &SqsEvent,
    response: &SqsBatchResponse,
) {
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let entries: Vec<DeleteMessageBatchRequestEntry> = event
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| !failed.contains(&r.message_id.as_deref().unwrap_or_default()))
        .filter_map(|(i, r)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(r.receipt_handle.clone()?)
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    if let Err(e) = sqs
        .delete_message_batch()
        .queue_url(&source.url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        // They come back after the visibility timeout; handling is idempotent.
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "messages not deleted");
    }
}

/// Creates the queues unless they exist (SQS's CreateQueue is idempotent): the local stack on a fresh moto.
pub async fn create_queues(sqs: &aws_sdk_sqs::Client, names: &[&str]) -> anyhow::Result<()> {
    for name in names {
        sqs.create_queue()
            .queue_name(*name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}

/// How many consumers of each kind to run: Lambda's maximum concurrency per event source.
#[derive(Clone, Debug)]
pub struct PollerSettings {
    pub deliver_queues: Vec<String>,
    pub status_queue: String,
    pub delivery_pollers: usize,
}

/// One event source mapping: receive, hand the batch to `handler`, delete what it did not report as failed.
fn map_events<H, F>(
    sqs: aws_sdk_sqs::Client,
    source: Source,
    handler: H,
) -> tokio::task::JoinHandle<()>
where
    H: Fn(aws_sdk_sqs::Client, SqsEvent) -> F + Send + 'static,
    F: std::future::Future<Output = SqsBatchResponse> + Send,
{
    tokio::spawn(async move {
        loop {
            match receive(&sqs, &source, 10).await {
                Ok(event) if event.records.is_empty() => {}
                Ok(event) => {
                    let response = handler(sqs.clone(), event.clone()).await;
                    settle(&sqs, &source, &event, &response).await;
                }
                Err(e) => {
                    tracing::warn!(queue = source.url, error = %e, "queue not read; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}

/// Starts the pollers; fails if a queue cannot be resolved.
pub async fn spawn(
    state: AppState,
    providers: Providers,
    sqs: aws_sdk_sqs::Client,
    settings: PollerSettings,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for name in &settings.deliver_queues {
        let source = resolve(&sqs, name).await?;
        for _ in 0..settings.delivery_pollers.max(1) {
            let (state, providers) = (state.clone(), providers.clone());
            handles.push(map_events(sqs.clone(), source.clone(), move |sqs, event| {
                let (state, providers) = (state.clone(), providers.clone());
                async move { crate::lambda::deliver_batch(&state, &providers, &sqs, event).await }
            }));
        }
    }
    let source = resolve(&sqs, &settings.status_queue).await?;
    handles.push(map_events(sqs, source, move |sqs, event| {
        let state = state.clone();
        async move { crate::lambda::status_batch(&state, &sqs, event).await }
    }));
    Ok(handles)
}

/// The letters consumer on SQS (deliver-letter): `pollers` loops into the letters function's handler.
pub async fn spawn_letters(
    state: AppState,
    tools: notify_app::letters::LetterTools,
    sqs: aws_sdk_sqs::Client,
    pollers: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let source = resolve(&sqs, &state.config.queues.deliver_letter).await?;
    let mut handles = Vec::new();
    for _ in 0..pollers.max(1) {
        let (state, tools) = (state.clone(), tools.clone());
        handles.push(map_events(
            sqs.clone(),
            source.clone(),
            move |sqs, event| {
                let (state, tools) = (state.clone(), tools.clone());
                async move { crate::lambda::letters_batch(&state, &tools, &sqs, event).await }
            },
        ));
    }
    Ok(handles)
}

/// The callback consumer on SQS: `pollers` loops, each handing its batch to the callback handler.
pub async fn spawn_callbacks(
    sender: notify_outbound::callbacks::CallbackSender,
    queue: std::sync::Arc<dyn notify_queue::Queue>,
    config: std::sync::Arc<notify_config::CallbackWorkerConfig>,
    sqs: aws_sdk_sqs::Client,
    pollers: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let source = resolve(&sqs, &config.queues.callbacks).await?;
    let mut handles = Vec::new();
    for _ in 0..pollers.max(1) {
        let (sender, queue, config) = (sender.clone(), queue.clone(), config.clone());
        handles.push(map_events(
            sqs.clone(),
            source.clone(),
            move |sqs, event| {
                let (sender, queue, config) = (sender.clone(), queue.clone(), config.clone());
                async move {
                    notify_outbound::callbacks::callback_batch(
                        &sender,
                        queue.as_ref(),
                        &config,
                        &sqs,
                        event,
                    )
                    .await
                }
            },
        ));
    }
    Ok(handles)
}

// issue 14: process
/// The jobs consumer on SQS: one message a receive, as the jobs function's event source mapping (batch size 1).
pub async fn spawn_jobs(
    state: AppState,
    sqs: aws_sdk_sqs::Client,
    budget: Duration,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let source = resolve(&sqs, &state.config.queues.jobs).await?;
    Ok(tokio::spawn(async move {
        loop {
            match receive(&sqs, &source, 1).await {
                Ok(event) if event.records.is_empty() => {}
                Ok(event) => {
                    let response =
                        crate::lambda::jobs_batch(&state, &sqs, event.clone(), budget).await;
                    settle(&sqs, &source, &event, &response).await;
                }
                Err(e) => {
                    tracing::warn!(queue = source.url, error = %e, "queue not read; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }))
}
// end issue 14: process
