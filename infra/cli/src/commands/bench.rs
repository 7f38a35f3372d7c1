//! `notify bench …`: the benchmarks of the notify-bench crate, on the local configuration.

use std::path::PathBuf;

use clap::Subcommand;
use notify_db::Db;

use super::{local_config, print, state};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Each Lambda binary's cold start (exec to first response), peak RSS and size, against
    /// `cargo lambda watch --only-lambda-apis` (start it first; see BENCHMARKS.md).
    ColdStart {
        /// Where the release binaries are (`cargo build --release -p api -p delivery …`).
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        /// The emulator's address.
        #[arg(long, default_value = "127.0.0.1:9001")]
        emulator: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// POST /v2/notifications/sms against a running stack, beside pgbench's ceiling for the same INSERT.
    Sms {
        #[arg(long, default_value = "http://127.0.0.1:6011")]
        api_url: String,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Also send with a fresh Idempotency-Key per request, in rounds beside the sends without.
        #[arg(long)]
        idempotency_key: bool,
        /// With --idempotency-key: pairs of rounds (without, with), mirrored pair by pair.
        #[arg(long, default_value_t = 2)]
        pairs: usize,
    },
    /// Sends end to end on an in-process local stack with fake providers answering in min..max ms.
    Pipeline(notify_bench::pipeline::PipelineOptions),
    /// Callbacks to a slow receiver: the callback worker beside a comparator holding a DB connection per call.
    Callbacks {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 2000)]
        receiver_ms: u64,
        #[arg(long, default_value_t = 200)]
        in_flight: usize,
        #[arg(long, default_value_t = 10)]
        pool_size: usize,
        /// Only our worker (the comparator takes count / pool_size × receiver_ms).
        #[arg(long)]
        skip_comparator: bool,
    },
    /// The retention purge of expired notifications beside sends at a fixed rate.
    Retention {
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        /// Sends per second, during the idle measurement and the purge.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        idle_seconds: u64,
    },
    /// One service's burst of texts beside another's one text per interval: the quiet service's created→sent
    /// times with the in-process queue in arrival order, then serving services round-robin.
    Fairness(notify_bench::fairness::Options),
    /// CPU instructions per accepted send in the API process, counted by callgrind (N and 4N sends).
    Instructions(notify_bench::instructions::Options),
    /// Letters rendered to PDF per second on one thread, p50/p99 render times, one- and ten-page letters.
    Letters(notify_bench::letters::Options),
    /// Precompiled letters checked for print per second on one thread (one- and ten-page), p50/p99 check times.
    Precompiled(notify_bench::precompiled::Options),
    /// One CSV job from upload to every row persisted and every delivery queued, on the in-process queue and
    /// local files and/or moto's SQS and S3, with peak database connections and time per phase.
    Jobs(notify_bench::jobs::Options),
    /// The status consumer alone: receipts applied per second.
    Receipts {
        #[arg(long, default_value_t = 50_000)]
        count: usize,
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
}

pub async fn run(command: BenchCommand, j: bool) -> anyhow::Result<()> {
    match command {
        BenchCommand::Letters(options) => {
            let result =
                tokio::task::spawn_blocking(move || notify_bench::letters::run(&options)).await??;
            print(j, result, notify_bench::letters::text);
        }
        BenchCommand::Precompiled(options) => {
            let result =
                tokio::task::spawn_blocking(move || notify_bench::precompiled::run(&options))
                    .await??;
            print(j, result, notify_bench::precompiled::text);
        }
        BenchCommand::Jobs(options) => {
            let local = local_config(true, None).await?;
            let result = notify_bench::jobs::run(local.config.clone(), options).await?;
            print(j, result, notify_bench::jobs::text);
        }
        BenchCommand::Pipeline(options) => {
            let local = local_config(true, None).await?;
            let result = notify_bench::pipeline::pipeline(local.config.clone(), options).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        BenchCommand::Callbacks {
            count,
            receiver_ms,
            in_flight,
            pool_size,
            skip_comparator,
        } => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            let result = notify_bench::callbacks::run(
                config,
                notify_bench::callbacks::Options {
                    count,
                    receiver_ms,
                    in_flight,
                    pool_size,
                    skip_comparator,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        BenchCommand::Retention {
            count,
            rate,
            idle_seconds,
        } => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            let result = notify_bench::retention::run(
                config,
                notify_bench::retention::Options {
                    count,
                    rate,
                    idle_seconds,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        BenchCommand::Instructions(options) => {
            let local = local_config(true, None).await?;
            let result = notify_bench::instructions::run(local.config.clone(), options).await?;
            print(j, result, notify_bench::instructions::text);
        }
        BenchCommand::Fairness(options) => {
            let local = local_config(true, None).await?;
            let result = notify_bench::fairness::run(local.config.clone(), options).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        BenchCommand::Receipts {
            count,
            batch_size,
            concurrency,
        } => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            let result = notify_bench::pipeline::receipts(
                config,
                notify_bench::pipeline::ReceiptOptions {
                    count,
                    batch_size,
                    concurrency,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        BenchCommand::ColdStart {
            bin_dir,
            emulator,
            runs,
        } => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            Db::connect(&config.database.url, 1, "notify-migrate")?
                .migrate()
                .await?;
            let result = notify_bench::cold_start::run(notify_bench::cold_start::Options {
                bin_dir,
                emulator,
                runs,
                database_url: config.database.url,
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        BenchCommand::Sms {
            api_url,
            concurrency,
            seconds,
            idempotency_key,
            pairs,
        } => {
            let state = state(false).await?;
            let database_url = state.config.database.url.clone();
            let result = notify_bench::sms::sms(
                &state,
                notify_bench::sms::Options {
                    api_url,
                    concurrency,
                    seconds,
                    database_url,
                    idempotency_key,
                    pairs,
                },
            )
            .await?;
            print(j, result, |v| {
                let text = format!(
                    "POST /v2/notifications/sms at {} concurrent: {} req/s; pgbench INSERT ceiling: {} tps ({:.1}%)\n\
                     at half load ({} req/s, {} requests): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
                     pgbench's own INSERT at that rate: p50 {:.2} ms, p99 {:.2} ms",
                    v["concurrency"],
                    v["api_requests_per_second"],
                    v["pgbench_inserts_per_second"],
                    v["share_of_pgbench_ceiling"].as_f64().unwrap_or_default() * 100.0,
                    v["half_load_rate"],
                    v["half_load_requests"],
                    v["p50_ms"].as_f64().unwrap_or_default(),
                    v["p99_ms"].as_f64().unwrap_or_default(),
                    v["max_ms"].as_f64().unwrap_or_default(),
                    v["pgbench_half_load_p50_ms"].as_f64().unwrap_or_default(),
                    v["pgbench_half_load_p99_ms"].as_f64().unwrap_or_default()
                );
                let k = &v["with_idempotency_key"];
                if k.is_null() {
                    return text;
                }
                format!(
                    "{text}\nwith a fresh Idempotency-Key per request: {} req/s ({:.1}% of without; rounds without {}, \
                     with {})\n  at the same half-load rate ({} requests): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    k["requests_per_second"],
                    k["share_of_without"].as_f64().unwrap_or_default() * 100.0,
                    k["rounds_without"],
                    k["rounds_with"],
                    k["half_load_requests"],
                    k["p50_ms"].as_f64().unwrap_or_default(),
                    k["p99_ms"].as_f64().unwrap_or_default(),
                    k["max_ms"].as_f64().unwrap_or_default()
                )
            });
        }
    }
    Ok(())
}
