//! `notify callbacks replay|replay-dlq`: re-send service callbacks through the callbacks queue. A thin adapter
//! over `notify_app::callback_log`; `notify callback` (singular) sets a service's callback API.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use uuid::Uuid;

use super::{print, state};
use notify_app::callback_log::{self, Replay, Replayed};

#[derive(Subcommand)]
pub enum CallbacksCommand {
    /// Re-send the current delivery-status callback of each of a service's notifications created or updated
    /// between --from and --to (with --status failed: only those whose latest callback attempt failed).
    Replay(ReplayArgs),
    /// Move what sits in the callbacks dead-letter queue back onto the callbacks queue, with fresh retries.
    ReplayDlq(RateArgs),
}

#[derive(Args)]
pub struct RateArgs {
    /// Callbacks queued per second at most.
    #[arg(long, default_value_t = 50)]
    rate: u32,
}

#[derive(Args)]
pub struct ReplayArgs {
    #[arg(long)]
    service: Uuid,
    /// ISO 8601: `2026-12-03T07:00:00Z`, `2026-12-03T08:00:00+01:00`, `2026-12-03 07:00` (UTC), `2026-12-03`.
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    /// `failed`: only notifications whose latest logged callback attempt failed.
    #[arg(long, value_parser = ["failed"])]
    status: Option<String>,
    #[command(flatten)]
    rate: RateArgs,
}

fn bar(json_output: bool, template: &str) -> ProgressBar {
    if json_output {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        )
    }
}

fn summary_text(v: &serde_json::Value) -> String {
    format!(
        "{} queued of {}{}{}",
        v["queued"],
        v["matched"],
        match v["failed"].as_u64() {
            Some(n) if n > 0 => format!(", stopped: the callbacks queue refused {n}"),
            _ => String::new(),
        },
        match v["unreadable"].as_u64() {
            Some(n) if n > 0 => format!(", {n} unreadable left on the DLQ"),
            _ => String::new(),
        },
    )
}

pub async fn run(command: CallbacksCommand, j: bool) -> anyhow::Result<()> {
    let state = state(false).await?;
    if state.config.queues.endpoint_url.is_none() {
        bail!(
            "without SQS_ENDPOINT_URL the callbacks queue (and its DLQ) would live inside this process and \
             vanish with it; set SQS_ENDPOINT_URL (moto locally, https://sqs.<region>.amazonaws.com for AWS)"
        );
    }
    let done: Replayed = match command {
        CallbacksCommand::Replay(args) => {
            let parse = |name: &str, text: &str| {
                notify_core::callback_log::parse_time(text)
                    .with_context(|| format!("--{name} {text:?} is not an ISO 8601 time"))
            };
            let request = Replay {
                service_id: args.service,
                from: parse("from", &args.from)?,
                to: parse("to", &args.to)?,
                only_failed: args.status.is_some(),
                per_second: args.rate.rate,
            };
            if request.from > request.to {
                bail!("--from is after --to");
            }
            let bar = bar(j, "{msg} [{bar:30}] {pos}/{len} queued ({per_sec}, {eta})");
            bar.set_message("replaying callbacks");
            let done = callback_log::replay(&state, &request, |p| {
                bar.set_length(p.matched);
                bar.set_position(p.queued);
            })
            .await?;
            bar.finish_and_clear();
            done
        }
        CallbacksCommand::ReplayDlq(args) => {
            let bar = bar(j, "{msg} {pos} moved ({per_sec})");
            bar.set_message("moving the callbacks DLQ");
            let done = callback_log::replay_dlq(&state, args.rate, |p| {
                bar.set_position(p.queued);
            })
            .await?;
            bar.finish_and_clear();
            done
        }
    };
    print(
        j,
        json!({"matched": done.matched, "queued": done.queued, "failed": done.failed,
            "unreadable": done.unreadable}),
        summary_text,
    );
    if done.failed > 0 {
        bail!("the callbacks queue refused a callback; run again to re-send the rest");
    }
    Ok(())
}
