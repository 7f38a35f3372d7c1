//! SQS (status) → provider receipts applied in one statement per batch; SES complaints and two-way SMS too;
//! callbacks that became due go on the callbacks queue, complete.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    let worker = notify_runtime::bootstrap::worker("notify-status", 1).await?;
    let (state, sqs) = (&worker.state, &worker.sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            notify_runtime::lambda::status_batch(state, sqs, event.payload).await,
        )
    }))
    .await
}
