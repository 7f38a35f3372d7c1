//! SQS (deliver-sms, deliver-email) → providers. Clients built once per execution environment; each message is
//! claim → send → record with short-lived database connections.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    let worker = notify_runtime::bootstrap::worker("notify-delivery", 4).await?;
    let providers =
        notify_outbound::providers::from_config(&worker.state.config, worker.state.queue.clone())
            .await;
    let (state, providers, sqs) = (&worker.state, &providers, &worker.sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            notify_runtime::lambda::deliver_batch(state, providers, sqs, event.payload).await,
        )
    }))
    .await
}
