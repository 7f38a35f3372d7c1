//! EventBridge → one housekeeping job. Each rule's constant input is `{"job": "<name>"}`, which is the whole
//! event the function receives (no envelope). Short-lived connections; each job works until shortly before
//! the invocation's deadline and leaves the rest to its next run.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_app::jobs;
use notify_app::jobs::Job;
use notify_queue::SqsQueue;
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Everything AppState holds; it cannot be loaded without SECRET_KEY.
    let config = notify_config::Config::load().await?;
    let sqs = aws_sdk_sqs::Client::new(
        &notify_config::aws::sdk_config(config.queues.endpoint_url.as_deref()).await,
    );
    let db = notify_db::Db::short_lived(&config.database, 1, "notify-scheduled")?;
    let state = notify_app::AppState::new(config, db, Arc::new(SqsQueue::new(sqs)));
    // The outbox relay decrypts inbound texts and complainants' addresses: a wrong key must stop here, not drop them.
    state.check_secret_key().await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let name = event.payload["job"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let job = Job::parse(&name).ok_or_else(|| format!("no such job: {name:?}"))?;
        let budget = notify_core::time::budget_before(event.context.deadline);
        let span = tracing::info_span!("job", job = job.name());
        Ok::<Value, Error>(jobs::run(state, job, budget).instrument(span).await?)
    }))
    .await
}
