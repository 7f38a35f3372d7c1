//! SQS (status) → provider receipts applied in one statement per batch; SES complaints and two-way SMS too;
//! callbacks that became due go on the callbacks queue, complete.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_queue::SqsQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    // Everything AppState holds; it cannot be loaded without SECRET_KEY.
    let config = notify_config::Config::load().await?;
    let sqs = aws_sdk_sqs::Client::new(
        &notify_config::aws::sdk_config(config.queues.endpoint_url.as_deref()).await,
    );
    let db = notify_db::Db::short_lived(&config.database, 1, "notify-status")?;
    let state = notify_app::AppState::new(config, db, Arc::new(SqsQueue::new(sqs.clone())));
    state.check_secret_key().await?;
    let (state, sqs) = (&state, &sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            notify_runtime::lambda::status_batch(state, sqs, event.payload).await,
        )
    }))
    .await
}
