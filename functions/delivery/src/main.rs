//! SQS (deliver-sms, deliver-email) → providers. Clients built once per execution environment; each message is
//! claim → send → record with short-lived database connections.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_queue::{Queue, SqsQueue};

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
    let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone()));
    let db = notify_db::Db::short_lived(&config.database, 4, "notify-delivery")?;
    let providers = notify_outbound::providers::from_config(&config, queue.clone()).await;
    let state = notify_app::AppState::new(config, db, queue);
    state.check_secret_key().await?;
    let (state, providers, sqs) = (&state, &providers, &sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            notify_runtime::lambda::deliver_batch(state, providers, sqs, event.payload).await,
        )
    }))
    .await
}
