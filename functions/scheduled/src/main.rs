//! EventBridge → one housekeeping job. Each rule's constant input is `{"job": "<name>"}`, which is the whole
//! event the function receives (no envelope). Short-lived connections; each job works until shortly before
//! the invocation's deadline and leaves the rest to its next run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_app::jobs;
use notify_app::jobs::Job;
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    // The outbox relay decrypts inbound texts and complainants' addresses: a wrong key must stop here, not drop them.
    let worker = notify_runtime::bootstrap::worker("notify-scheduled", 1).await?;
    let state = &worker.state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let name = event.payload["job"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let job = Job::parse(&name).ok_or_else(|| format!("no such job: {name:?}"))?;
        // A London-time job's rule also fires an hour off (EventBridge rules run in UTC): that run does nothing.
        if !job.schedule().intended_at(chrono::Utc::now()) {
            return Ok(serde_json::json!({"skipped": "not this job's London time"}));
        }
        let budget = notify_core::time::budget_before(event.context.deadline);
        let span = tracing::info_span!("job", job = job.name());
        Ok::<Value, Error>(jobs::run(state, job, budget).instrument(span).await?)
    }))
    .await
}
