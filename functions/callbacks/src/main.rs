//! SQS (service-callbacks) → each callback POSTed to its service, concurrently. Every message already carries
//! the URL, the encrypted bearer token and the body, so this function has no database connection at all.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_outbound::callbacks::CallbackSender;
use notify_queue::SqsQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Queues, callbacks and SECRET_KEY only: nothing about the database or the providers.
    let config = notify_config::CallbackWorkerConfig::load().await?;
    let queue = SqsQueue::from_env(config.queues.endpoint_url.as_deref()).await;
    let sender = CallbackSender::from_config(&config)?;
    let (sender, sqs, queue, config) = (&sender, queue.client(), &queue, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            notify_outbound::callbacks::callback_batch(sender, queue, config, sqs, event.payload)
                .await,
        )
    }))
    .await
}
