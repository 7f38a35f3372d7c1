//! SQS (jobs) → the jobs worker: each `ProcessJob` makes its CSV's rows into notifications a few thousand to a
//! statement and queues their deliveries. The budget is the invocation's time left, less a margin, so a long job
//! hands itself on to a new message before Lambda's timeout rather than being cut off.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// Time left in this invocation, by the runtime's deadline (milliseconds since the epoch).
fn time_left(deadline_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(deadline_ms).saturating_sub(now)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // One batch's transaction at a time, plus the claim's and the lookups'.
    let worker = notify_runtime::bootstrap::worker("notify-jobs", 2).await?;
    let (state, sqs) = (&worker.state, &worker.sqs);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let budget = notify_app::bulk::process::budget_for(time_left(event.context.deadline));
        Ok::<SqsBatchResponse, Error>(
            notify_runtime::lambda::jobs_batch(state, sqs, event.payload, budget).await,
        )
    }))
    .await
}
