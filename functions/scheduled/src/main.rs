//! EventBridge → one housekeeping job. Each rule's constant input is `{"job": "<name>"}`, which is the whole
//! event the function receives (no envelope). Short-lived connections; each job works within its time budget.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify::jobs::{self, Job};
use notify::queue::SqsQueue;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = notify::config::Config::load().await?;
    let sqs = aws_sdk_sqs::Client::new(
        &notify::aws::sdk_config(config.sqs_endpoint_url.as_deref()).await,
    );
    let db = notify::db::Db::connect_short_lived(&config.database_url, 1, "notify-scheduled")?;
    let state = notify::AppState::new(config, db, Arc::new(SqsQueue::new(sqs)));
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let name = event.payload["job"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let job = Job::parse(&name).ok_or_else(|| format!("no such job: {name:?}"))?;
        Ok::<Value, Error>(jobs::run(state, job, jobs::TIME_BUDGET).await?)
    }))
    .await
}
