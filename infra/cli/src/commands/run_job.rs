//! `notify run-job NAME`: one scheduled job now, as EventBridge would run it.

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::{print, state};

#[derive(Args)]
pub struct RunJobArgs {
    name: String,
}

pub async fn run(args: RunJobArgs, j: bool) -> anyhow::Result<()> {
    let RunJobArgs { name } = args;
    let Some(job) = notify_app::jobs::Job::parse(&name) else {
        let names: Vec<&str> = notify_app::jobs::Job::ALL
            .iter()
            .map(|j| j.name())
            .collect();
        bail!("no job {name:?}; jobs: {}", names.join(", "));
    };
    let state = state(false).await?;
    if state.config.queues.endpoint_url.is_none()
        && job == notify_app::jobs::Job::ReplayCreatedNotifications
    {
        bail!(
            "without SQS_ENDPOINT_URL the delivery queue lives inside `notify dev`, which runs this job \
             every 5 minutes itself; set SQS_ENDPOINT_URL to replay through SQS from here"
        );
    }
    let report = notify_app::jobs::run(&state, job, notify_app::jobs::TIME_BUDGET).await?;
    print(j, json!({"job": job.name(), "report": report}), |v| {
        format!("{}: {}", v["job"].as_str().unwrap_or_default(), v["report"])
    });
    Ok(())
}
