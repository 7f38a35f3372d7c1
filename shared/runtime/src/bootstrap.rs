//! What a database-side Lambda function builds once per execution environment, before its first event.

use std::sync::Arc;

use notify_app::AppState;
use notify_queue::SqsQueue;

/// A queue consumer's or a scheduled job's state: the whole configuration (it cannot be loaded without
/// `SECRET_KEY`), short-lived connections under `application_name`, at most `max_connections` at once, and SQS;
/// with `SECRET_KEY` proven against the database's key check, so a wrong key stops the function here.
pub struct Worker {
    pub state: AppState,
    /// For the partial-batch adapter's visibility changes.
    pub sqs: aws_sdk_sqs::Client,
}

pub async fn worker(application_name: &str, max_connections: usize) -> anyhow::Result<Worker> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = notify_config::Config::load().await?;
    let queue = SqsQueue::from_env(config.queues.endpoint_url.as_deref()).await;
    let sqs = queue.client().clone();
    let db = notify_db::Db::short_lived(&config.database, max_connections, application_name)?;
    let files = notify_files::from_config(&config.files).await;
    let mut state = AppState::new(config, db, Arc::new(queue));
    // S3 when LETTERS_PDF_BUCKET is set, as AppState::from_config chooses for the API.
    state.files = files;
    state.check_secret_key().await?;
    Ok(Worker { state, sqs })
}
