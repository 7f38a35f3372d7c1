//! `notify bench jobs`: one CSV job of `--rows` rows from upload to every delivery queued, as the admin app, the
//! API and the jobs worker do it, on a fresh database per run:
//!
//! 1. **upload**: the file checked as the admin app checks it (`recipient_csv::check`), then written to the file
//!    store at `csv_upload_key` with its `JobMetadata` (S3 user metadata, or the local store's sidecar);
//! 2. **create**: `bulk::create::create_job`, which reads the metadata back, inserts the job and queues its
//!    `ProcessJob`;
//! 3. **process**: that message taken off the jobs queue and handed to `bulk::process::process_job`, as the jobs
//!    worker does, until the job is `finished`; its time is split into **queue** (the time spent in the queue's
//!    sends, measured by wrapping the queue) and **persist** (the rest: reading the file, building the rows,
//!    the batched INSERTs and their checkpoints).
//!
//! Then it checks that every row is in `notifications` (bad recipients `validation-failed`) and that the delivery
//! queue received exactly one message per `created` row (on moto, consumers drain it during the run: see
//! [`Drain`]). Database connections to the bench database are sampled
//! from `pg_stat_activity` every 50 ms throughout (the sampler's own excluded).
//!
//! `--queue in-process` runs it on the in-process queue and a local directory as the file store (`notify dev`'s
//! defaults); `--queue sqs` on moto's SQS and S3 (queues and a bucket of the run's own, removed afterwards).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use notify_app::AppState;
use notify_app::admin::{self, CreateTemplate};
use notify_app::bulk::create::{CreateJob, create_job};
use notify_app::bulk::process::{ProcessOutcome, csv_template, process_job};
use notify_config::Config;
use notify_core::jobs::{JobMetadata, csv_upload_key};
use notify_core::messages::Message;
use notify_core::model::NotificationType;
use notify_core::recipient_csv::{self, CsvProblem};
use notify_db::Db;
use notify_files::{FileStore, LocalDirStore, S3Store};
use notify_queue::{InProcessQueue, Queue, QueueError, SqsQueue};
use serde_json::{Value, json};
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::pool_failures;
use crate::sms::bench_service;

/// The goal of issue 14: this many seconds from upload to every row persisted and queued, for 100,000 rows.
pub const GOAL_SECONDS: f64 = 15.0;

/// The jobs worker's run budget: Lambda's 15-minute ceiling less a margin (a run that hits it hands the job on).
const WORKER_BUDGET: Duration = Duration::from_secs(14 * 60);

const SAMPLE_EVERY: Duration = Duration::from_millis(50);
const SAMPLER_APP_NAME: &str = "notify-bench-sampler";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueChoice {
    /// The in-process queue and a local directory as the file store.
    InProcess,
    /// moto's SQS and S3.
    Sqs,
    Both,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    #[arg(long, value_enum, default_value_t = QueueChoice::Both)]
    pub queue: QueueChoice,
    #[arg(long, value_enum, default_value_t = Channel::Sms)]
    pub channel: Channel,
    /// Rows (in percent) whose recipient is invalid: stored `validation-failed`, not queued.
    #[arg(long, default_value_t = 3)]
    pub invalid_percent: u32,
    /// The Postgres server on which each run creates, then drops, a fresh database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub server: String,
    /// moto, for `--queue sqs` (SQS and S3).
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    pub moto: String,
    /// The API's pool (create_job) and the worker's limit of short-lived connections.
    #[arg(long, default_value_t = 10)]
    pub api_pool_size: usize,
    #[arg(long, default_value_t = 4)]
    pub worker_connections: usize,
}

const FIRST_NAMES: &[&str] = &[
    "Amara", "Ben", "Chloé", "Dev", "Eilidh", "Femi", "Gareth", "Hana", "Ioan", "Jas", "Kofi",
    "Lowri", "Mo", "Niamh", "Olu", "Priya", "Rhys", "Siobhan", "Tomasz", "Zara",
];
const LAST_NAMES: &[&str] = &[
    "Adeyemi",
    "Brown",
    "Campbell",
    "Davies",
    "Evans",
    "Fraser",
    "Ghosh",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "MacDonald",
    "Nowak",
    "O'Brien",
    "Patel",
    "Roberts",
    "Smith",
    "Taylor",
    "Williams",
];

/// Whether row `i` gets a bad recipient: spread through the file, `percent` in every hundred rows.
fn invalid_row(i: usize, percent: u32) -> bool {
    (i * 37) % 100 < percent as usize
}

/// A CSV as a service would upload it: the recipient column, a `name` column for the template's `((name))`, and
/// `invalid_percent` % of rows with a recipient that does not parse (a short number, letters, an address without
/// `@`). Phone numbers are Ofcom's drama range, `07700 900000`–`07700 999999`, written with a space as people do.
/// Answers the file and how many rows are invalid.
pub fn generate_csv(rows: usize, channel: Channel, invalid_percent: u32) -> (Vec<u8>, usize) {
    use std::fmt::Write;
    let mut csv = String::with_capacity(rows * 40);
    csv.push_str(match channel {
        Channel::Sms => "phone number,name\n",
        Channel::Email => "email address,name\n",
    });
    let mut invalid = 0;
    for i in 0..rows {
        let first = FIRST_NAMES[i % FIRST_NAMES.len()];
        let last = LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()];
        let bad = invalid_row(i, invalid_percent);
        invalid += usize::from(bad);
        let recipient = match (channel, bad) {
            (Channel::Sms, false) => format!("07700 9{:05}", i % 100_000),
            (Channel::Sms, true) if i % 2 == 0 => format!("07700 9{:03}", i % 1000),
            (Channel::Sms, true) => "not a number".to_string(),
            (Channel::Email, false) => format!(
                "{}.{}{i}@example.com",
                // Addresses are ASCII, whatever the name.
                first.to_lowercase().replace('é', "e"),
                last.to_lowercase().replace('\'', "")
            ),
            (Channel::Email, true) => format!("person{i}.example.com"),
        };
        // Names with an apostrophe need no quoting in CSV; none has a comma.
        let _ = writeln!(csv, "{recipient},{first} {last}");
    }
    (csv.into_bytes(), invalid)
}

/// The queue the run drives, timing its sends: how long the worker spends handing messages over.
struct TimedQueue {
    inner: Arc<dyn Queue>,
    nanos: AtomicU64,
    messages: AtomicU64,
}

impl TimedQueue {
    fn new(inner: Arc<dyn Queue>) -> Self {
        TimedQueue {
            inner,
            nanos: AtomicU64::new(0),
            messages: AtomicU64::new(0),
        }
    }

    /// Time spent sending and messages sent since the last call.
    fn take(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.nanos.swap(0, Ordering::Relaxed)),
            self.messages.swap(0, Ordering::Relaxed),
        )
    }

    fn count(&self, started: Instant, messages: usize) {
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
    }
}

#[async_trait]
impl Queue for TimedQueue {
    async fn send_delayed(
        &self,
        queue: &str,
        group: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let started = Instant::now();
        let result = self.inner.send_delayed(queue, group, message, delay).await;
        self.count(started, 1);
        result
    }

    async fn send_batch(
        &self,
        queue: &str,
        messages: &[(String, Message)],
    ) -> Vec<(usize, QueueError)> {
        let started = Instant::now();
        let result = self.inner.send_batch(queue, messages).await;
        self.count(started, messages.len());
        result
    }
}

/// Where the run's messages and files go, with what reads them back.
enum Backend {
    InProcess {
        queue: Arc<InProcessQueue>,
        dir: std::path::PathBuf,
    },
    Sqs {
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
        bucket: String,
        /// Queue name → URL, for the queues this run created.
        urls: BTreeMap<String, String>,
    },
}

fn moto_sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&notify_config::aws::emulator_config(endpoint))
}

fn moto_s3(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&notify_config::aws::emulator_config(endpoint))
            .force_path_style(true)
            .build(),
    )
}

fn sqs_error<E: std::error::Error + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e))
}

fn s3_error<E: std::error::Error + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e))
}

impl Backend {
    /// The queues and file store for one run; SQS queue names and the bucket are the run's own, so nothing left
    /// on moto by another run is counted.
    async fn start(
        o: &Options,
        in_process: bool,
        config: &mut Config,
        tag: &str,
    ) -> anyhow::Result<(Backend, Arc<dyn Queue>, Arc<dyn FileStore>)> {
        if in_process {
            let queue = Arc::new(InProcessQueue::default());
            let dir = std::env::temp_dir().join(format!("notify-bench-jobs-{tag}"));
            std::fs::create_dir_all(&dir)?;
            let files: Arc<dyn FileStore> = Arc::new(LocalDirStore::new(dir.clone()));
            config.files.local_dir = dir.clone();
            return Ok((
                Backend::InProcess {
                    queue: queue.clone(),
                    dir,
                },
                queue,
                files,
            ));
        }
        let sqs = moto_sqs(&o.moto);
        let s3 = moto_s3(&o.moto);
        let q = &mut config.queues;
        q.jobs = format!("bench-{tag}-jobs");
        q.deliver_sms = format!("bench-{tag}-deliver-sms");
        q.deliver_email = format!("bench-{tag}-deliver-email");
        let mut urls = BTreeMap::new();
        for name in [&q.jobs, &q.deliver_sms, &q.deliver_email] {
            let url = sqs
                .create_queue()
                .queue_name(name.as_str())
                .send()
                .await
                .map_err(sqs_error)
                .with_context(|| format!("creating queue {name} on moto at {}", o.moto))?
                .queue_url
                .context("moto gave no queue URL")?;
            urls.insert(name.clone(), url);
        }
        let bucket = format!("bench-{tag}-csv");
        s3.create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                    .build(),
            )
            .send()
            .await
            .map_err(s3_error)
            .context("creating the CSV bucket on moto")?;
        config.files.csv_upload_bucket = Some(bucket.clone());
        let files: Arc<dyn FileStore> = Arc::new(
            S3Store::new(s3.clone(), bucket.clone(), bucket.clone())
                .with_csv_bucket(bucket.clone()),
        );
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone()));
        Ok((
            Backend::Sqs {
                sqs,
                s3,
                bucket,
                urls,
            },
            queue,
            files,
        ))
    }

    /// The next message on `queue`, taken off it as the jobs function's event source does (received, then
    /// deleted), waiting up to `wait`.
    async fn take_one(&self, queue: &str, wait: Duration) -> anyhow::Result<Option<Message>> {
        match self {
            Backend::InProcess { queue: q, .. } => Ok(q
                .receive_counted(queue, 1, wait, Duration::ZERO)
                .await
                .into_iter()
                .next()
                .map(|r| r.message)),
            Backend::Sqs { sqs, urls, .. } => {
                let url = &urls[queue];
                let answer = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(1)
                    .wait_time_seconds(wait.as_secs().clamp(1, 20) as i32)
                    .send()
                    .await
                    .map_err(sqs_error)?;
                let Some(message) = answer.messages.unwrap_or_default().into_iter().next() else {
                    return Ok(None);
                };
                if let Some(handle) = &message.receipt_handle {
                    sqs.delete_message()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(sqs_error)?;
                }
                let body = message.body.unwrap_or_default();
                Ok(Some(serde_json::from_str(&body).with_context(|| {
                    format!("not a message on {queue}: {body}")
                })?))
            }
        }
    }

    /// Messages waiting on `queue` (in-process: all of them, taken off it).
    async fn depth(&self, queue: &str) -> anyhow::Result<usize> {
        match self {
            Backend::InProcess { queue: q, .. } => Ok(q.take_all(queue).len()),
            Backend::Sqs { sqs, urls, .. } => {
                use aws_sdk_sqs::types::QueueAttributeName as A;
                let attributes = sqs
                    .get_queue_attributes()
                    .queue_url(&urls[queue])
                    .attribute_names(A::ApproximateNumberOfMessages)
                    .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                    .attribute_names(A::ApproximateNumberOfMessagesDelayed)
                    .send()
                    .await
                    .map_err(sqs_error)?
                    .attributes
                    .unwrap_or_default();
                Ok([
                    A::ApproximateNumberOfMessages,
                    A::ApproximateNumberOfMessagesNotVisible,
                    A::ApproximateNumberOfMessagesDelayed,
                ]
                .iter()
                .filter_map(|a| attributes.get(a)?.parse::<usize>().ok())
                .sum())
            }
        }
    }

    /// For SQS, consumers of `queue` (see [`Drain`]).
    fn drain(&self, queue: &str) -> Option<Drain> {
        match self {
            Backend::InProcess { .. } => None,
            Backend::Sqs { sqs, urls, .. } => Some(Drain::start(sqs, &urls[queue])),
        }
    }

    /// Removes the run's queues, objects and bucket (moto keeps everything in memory) or its directory.
    async fn stop(self) {
        match self {
            Backend::InProcess { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Backend::Sqs {
                sqs,
                s3,
                bucket,
                urls,
            } => {
                for url in urls.values() {
                    if let Err(e) = sqs.delete_queue().queue_url(url).send().await {
                        eprintln!("warning: queue {url} not deleted: {}", sqs_error(e));
                    }
                }
                if let Ok(listed) = s3.list_objects_v2().bucket(&bucket).send().await {
                    for key in listed.contents().iter().filter_map(|o| o.key()) {
                        let _ = s3.delete_object().bucket(&bucket).key(key).send().await;
                    }
                }
                if let Err(e) = s3.delete_bucket().bucket(&bucket).send().await {
                    eprintln!("warning: bucket {bucket} not deleted: {}", s3_error(e));
                }
            }
        }
    }
}

/// The delivery function's part on moto: consumers receiving and deleting the delivery queue's messages while
/// the job runs, as the event source mapping keeps a queue short in AWS. Needed because moto's SendMessage walks
/// every message on the queue (its attributes count them), so a send costs O(depth): into an undrained queue
/// 100,000 sends would take hours, and the benchmark would measure moto. Each message is counted once by its
/// notification id.
struct Drain {
    ids: Arc<Mutex<std::collections::HashSet<Uuid>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

const DRAINERS: usize = 4;

impl Drain {
    fn start(sqs: &aws_sdk_sqs::Client, url: &str) -> Drain {
        let ids = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..DRAINERS)
            .map(|_| {
                let (sqs, url, ids, stop) =
                    (sqs.clone(), url.to_string(), ids.clone(), stop.clone());
                tokio::spawn(async move {
                    loop {
                        let stopping = stop.load(Ordering::Relaxed);
                        let messages = sqs
                            .receive_message()
                            .queue_url(&url)
                            .max_number_of_messages(10)
                            .wait_time_seconds(1)
                            .send()
                            .await
                            .map_err(sqs_error)?
                            .messages
                            .unwrap_or_default();
                        if messages.is_empty() {
                            if stopping {
                                return anyhow::Ok(());
                            }
                            continue;
                        }
                        let mut entries = Vec::new();
                        for (i, m) in messages.iter().enumerate() {
                            if let Some(Message::Deliver {
                                notification_id, ..
                            }) = m.body.as_deref().and_then(|b| serde_json::from_str(b).ok())
                            {
                                ids.lock().expect("ids").insert(notification_id);
                            }
                            if let Some(handle) = &m.receipt_handle {
                                entries.push(
                                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                        .id(i.to_string())
                                        .receipt_handle(handle)
                                        .build()?,
                                );
                            }
                        }
                        sqs.delete_message_batch()
                            .queue_url(&url)
                            .set_entries(Some(entries))
                            .send()
                            .await
                            .map_err(sqs_error)?;
                    }
                })
            })
            .collect();
        Drain { ids, stop, tasks }
    }

    /// Stops once the queue is empty; the distinct deliveries received.
    async fn finish(self) -> anyhow::Result<usize> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await??;
        }
        Ok(self.ids.lock().expect("ids").len())
    }
}

/// Connections to one database, counted every [`SAMPLE_EVERY`] from a connection of the sampler's own (not
/// counted), each count with when it was taken.
struct Sampler {
    samples: Arc<Mutex<Vec<(Instant, i64)>>>,
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    async fn start(database_url: &str, database: &str) -> anyhow::Result<Sampler> {
        let mut pg: tokio_postgres::Config = database_url.parse()?;
        pg.application_name(SAMPLER_APP_NAME);
        let (client, connection) = pg.connect(NoTls).await?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicBool::new(true));
        let database = database.to_string();
        let task = {
            let (samples, running) = (samples.clone(), running.clone());
            tokio::spawn(async move {
                let connection = tokio::spawn(connection);
                while running.load(Ordering::Relaxed) {
                    if let Ok(row) = client
                        .query_typed_one(
                            "SELECT count(*) FROM pg_stat_activity \
                             WHERE datname = $1 AND pid <> pg_backend_pid()",
                            &[(&database, Type::TEXT)],
                        )
                        .await
                        && let Ok(n) = row.try_get::<_, i64>(0)
                    {
                        samples.lock().expect("samples").push((Instant::now(), n));
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
                drop(client);
                let _ = connection.await;
            })
        };
        Ok(Sampler {
            samples,
            running,
            task,
        })
    }

    async fn stop(self) -> Vec<(Instant, i64)> {
        self.running.store(false, Ordering::Relaxed);
        let _ = self.task.await;
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}

fn peak(samples: &[(Instant, i64)], from: Instant, to: Instant) -> i64 {
    samples
        .iter()
        .filter(|(at, _)| *at >= from && *at <= to)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

async fn admin_sql(server: &str, sql: &str) -> anyhow::Result<()> {
    let (client, connection) =
        tokio_postgres::connect(&format!("{server}/postgres"), NoTls).await?;
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await?;
    drop(client);
    let _ = task.await;
    Ok(())
}

pub async fn run(config: Config, o: Options) -> anyhow::Result<Value> {
    pool_failures::so_far();
    let started = Instant::now();
    let (csv, invalid) = generate_csv(o.rows, o.channel, o.invalid_percent);
    let generated = started.elapsed();
    let modes: &[bool] = match o.queue {
        QueueChoice::InProcess => &[true],
        QueueChoice::Sqs => &[false],
        QueueChoice::Both => &[true, false],
    };
    let mut runs = Vec::new();
    for &in_process in modes {
        runs.push(run_one(&config, &o, in_process, &csv, invalid).await?);
    }
    Ok(json!({
        "rows": o.rows,
        "channel": match o.channel { Channel::Sms => "sms", Channel::Email => "email" },
        "invalid_rows": invalid,
        "csv_bytes": csv.len(),
        "seconds_to_generate_csv": secs(generated),
        "goal_seconds": GOAL_SECONDS,
        "runs": runs,
    }))
}

/// One run on a fresh database; the database is dropped afterwards whatever happened.
async fn run_one(
    base: &Config,
    o: &Options,
    in_process: bool,
    csv: &[u8],
    invalid: usize,
) -> anyhow::Result<Value> {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        Uuid::new_v4().simple().to_string().get(..8).unwrap_or("0")
    );
    let database = format!("bench_jobs_{}", tag.replace('-', "_"));
    let server = o.server.trim_end_matches('/');
    notify_db::ensure_database(&format!("{server}/postgres"), &database).await?;
    let mut config = base.clone();
    config.database.url = format!("{server}/{database}");
    let (backend, queue, files) = Backend::start(o, in_process, &mut config, &tag).await?;
    let result = measure(&config, o, in_process, &backend, queue, files, csv, invalid).await;
    backend.stop().await;
    if let Err(e) = admin_sql(
        server,
        &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
    )
    .await
    {
        eprintln!("warning: database {database} not dropped: {e:#}");
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    config: &Config,
    o: &Options,
    in_process: bool,
    backend: &Backend,
    queue: Arc<dyn Queue>,
    files: Arc<dyn FileStore>,
    csv: &[u8],
    invalid: usize,
) -> anyhow::Result<Value> {
    let timed = Arc::new(TimedQueue::new(queue));
    let api_db = Db::connect(&config.database.url, o.api_pool_size, "notify-bench-api")?;
    let api = AppState {
        files: files.clone(),
        ..AppState::new(config.clone(), api_db, timed.clone())
    };
    api.db.migrate().await?;
    api.check_secret_key().await?;
    let worker_db = Db::connect_short_lived(
        &config.database.url,
        o.worker_connections,
        "notify-bench-jobs-worker",
    )?;
    let worker = AppState {
        files,
        ..AppState::new(config.clone(), worker_db, timed.clone())
    };

    let target = bench_service(&api).await?;
    let (template_type, subject) = match o.channel {
        Channel::Sms => (NotificationType::Sms, None),
        Channel::Email => (
            NotificationType::Email,
            Some("Your appointment".to_string()),
        ),
    };
    let template = admin::create_template(
        &api,
        CreateTemplate {
            service_id: target.service_id,
            name: "bench jobs".into(),
            template_type,
            content: "Dear ((name)), your appointment is confirmed. Reply STOP to opt out.".into(),
            subject,
            postage: None,
            created_by: None,
            letter_contact_id: None,
            has_unsubscribe_link: false,
        },
    )
    .await?;
    let service = api
        .db
        .get_service(target.service_id)
        .await?
        .context("the bench service is gone")?;
    let template = api
        .db
        .get_template(target.service_id, template.id, None)
        .await?
        .context("the bench template is gone")?;
    let deliver_queue = match o.channel {
        Channel::Sms => config.queues.deliver_sms.clone(),
        Channel::Email => config.queues.deliver_email.clone(),
    };
    let database = config
        .database
        .url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let drain = backend.drain(&deliver_queue);
    let sampler = Sampler::start(&config.database.url, &database).await?;
    let failures_before = pool_failures::so_far();
    let _ = timed.take();

    // 1. upload: checked as the admin app checks it, then stored with its metadata.
    let t0 = Instant::now();
    let row_errors = match recipient_csv::check(csv, &csv_template(&template, &service)) {
        Ok(checked) => {
            anyhow::ensure!(
                checked.row_count == o.rows,
                "check counted {} rows",
                checked.row_count
            );
            0
        }
        Err(CsvProblem::RowErrors(errors)) => errors.len(),
        Err(other) => bail!("the generated file was refused: {other:?}"),
    };
    let checked = t0.elapsed();
    let upload_id = Uuid::new_v4();
    let metadata = JobMetadata {
        template_id: Some(template.id),
        notification_count: Some(o.rows as u32),
        // The bad rows are the point of the exercise: the worker stores them `validation-failed`.
        valid: true,
        original_file_name: Some(format!("bench-{}-rows.csv", o.rows)),
        sender_id: None,
    };
    api.files
        .put_with_metadata(
            &csv_upload_key(target.service_id, upload_id),
            csv.to_vec(),
            "text/csv",
            &metadata.to_map(),
        )
        .await?;
    let t1 = Instant::now();

    // 2. create: the job inserted and its ProcessJob queued.
    let job = create_job(
        &api,
        CreateJob {
            id: upload_id,
            service_id: target.service_id,
            created_by: None,
            api_key_id: None,
            scheduled_for: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("create_job: {e}"))?;
    let t2 = Instant::now();
    let (_, process_job_messages) = timed.take();
    anyhow::ensure!(
        process_job_messages == 1,
        "create_job queued {process_job_messages} messages"
    );

    // 3. process: each ProcessJob taken off the jobs queue and run as the worker runs it, until finished.
    let mut take_time = Duration::ZERO;
    let mut worker_runs = 0;
    let finished = loop {
        let taking = Instant::now();
        let message = backend
            .take_one(&config.queues.jobs, Duration::from_secs(5))
            .await?
            .context("no ProcessJob on the jobs queue")?;
        take_time += taking.elapsed();
        let Message::ProcessJob { job_id, .. } = message else {
            bail!("not a ProcessJob on the jobs queue: {message:?}");
        };
        anyhow::ensure!(job_id == job.id, "a ProcessJob for another job");
        worker_runs += 1;
        match process_job(&worker, job_id, WORKER_BUDGET).await? {
            ProcessOutcome::Finished { rows, queued } => break (rows, queued),
            ProcessOutcome::Continued { .. } => continue,
            other => bail!("process_job: {other:?}"),
        }
    };
    let t3 = Instant::now();
    let (queue_time, messages_sent) = timed.take();
    let samples = sampler.stop().await;
    let pool_failures = pool_failures::so_far() - failures_before;

    // Everything persisted, and one delivery queued per created row.
    let (client, connection) = tokio_postgres::connect(&config.database.url, NoTls).await?;
    let connection = tokio::spawn(connection);
    let row = client
        .query_typed_one(
            "SELECT count(*), count(*) FILTER (WHERE notification_status = 'created'), \
                 count(*) FILTER (WHERE notification_status = 'validation-failed'), \
                 (SELECT job_status FROM jobs WHERE id = $1), \
                 (SELECT rows_processed FROM jobs WHERE id = $1)::int8 \
             FROM notifications WHERE job_id = $1",
            &[(&job.id, Type::UUID)],
        )
        .await?;
    let (persisted, created, validation_failed): (i64, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let job_status: Option<String> = row.try_get(3)?;
    let rows_processed: Option<i64> = row.try_get(4)?;
    drop(client);
    let _ = connection.await;
    let drained = match drain {
        Some(drain) => drain.finish().await?,
        None => 0,
    };
    let queued = drained + backend.depth(&deliver_queue).await?;

    let total = t3 - t0;
    let process = t3 - t2 - take_time;
    let complete = persisted as usize == o.rows
        && validation_failed as usize == invalid
        && queued == created as usize
        && finished.1 == queued;
    Ok(json!({
        "queue": if in_process { "in-process" } else { "sqs" },
        "files": if in_process { "local directory" } else { "moto S3" },
        "job_id": job.id,
        "seconds_total": secs(total),
        "rows_per_second": (o.rows as f64 / total.as_secs_f64()).round(),
        "goal_met": complete && total.as_secs_f64() <= GOAL_SECONDS,
        "complete": complete,
        "phases": {
            "upload": secs(t1 - t0),
            "upload_check": secs(checked),
            "upload_store": secs(t1 - t0 - checked),
            "create": secs(t2 - t1),
            "take_process_job_message": secs(take_time),
            "process": secs(process),
            "persist": secs(process.saturating_sub(queue_time)),
            "queue": secs(queue_time),
        },
        "process_rows_per_second": (o.rows as f64 / process.as_secs_f64()).round(),
        "peak_db_connections": peak(&samples, t0, t3),
        "peak_db_connections_by_phase": {
            "upload": peak(&samples, t0, t1),
            "create": peak(&samples, t1, t2),
            "process": peak(&samples, t2, t3),
        },
        "connection_samples": samples.len(),
        "pool_failures": pool_failures,
        "worker_runs": worker_runs,
        "check_row_errors": row_errors,
        "persisted": persisted,
        "created": created,
        "validation_failed": validation_failed,
        "delivery_messages_queued": queued,
        "delivery_messages_drained_during_run": drained,
        "delivery_messages_sent": messages_sent,
        "worker_reported_queued": finished.1,
        "job_status": job_status,
        "rows_processed": rows_processed,
    }))
}

pub fn text(v: &Value) -> String {
    let mut out = vec![format!(
        "notify bench jobs: {} {} rows ({} invalid, {} bytes), goal ≤ {} s upload → all persisted and queued",
        v["rows"],
        v["channel"].as_str().unwrap_or_default(),
        v["invalid_rows"],
        v["csv_bytes"],
        v["goal_seconds"]
    )];
    for r in v["runs"].as_array().into_iter().flatten() {
        let p = &r["phases"];
        let f = |k: &str| p[k].as_f64().unwrap_or_default();
        out.push(format!(
            "{} queue, {} file store: {:.2} s total, {} rows/s — goal {}{}\n  \
             upload {:.2} s (check {:.2}, store {:.2}), create {:.3} s, take ProcessJob {:.3} s, \
             process {:.2} s (persist {:.2}, queue {:.2}); {} rows/s while processing\n  \
             peak DB connections {} (upload {}, create {}, process {}; {} samples), pool failures {}\n  \
             persisted {} (created {}, validation-failed {}), delivery messages queued {}, job {} \
             (rows_processed {}, {} worker run(s))",
            r["queue"].as_str().unwrap_or_default(),
            r["files"].as_str().unwrap_or_default(),
            r["seconds_total"].as_f64().unwrap_or_default(),
            r["rows_per_second"],
            if r["goal_met"].as_bool() == Some(true) { "met" } else { "NOT met" },
            if r["complete"].as_bool() == Some(true) { "" } else { " (INCOMPLETE: rows or messages missing)" },
            f("upload"),
            f("upload_check"),
            f("upload_store"),
            f("create"),
            f("take_process_job_message"),
            f("process"),
            f("persist"),
            f("queue"),
            r["process_rows_per_second"],
            r["peak_db_connections"],
            r["peak_db_connections_by_phase"]["upload"],
            r["peak_db_connections_by_phase"]["create"],
            r["peak_db_connections_by_phase"]["process"],
            r["connection_samples"],
            r["pool_failures"],
            r["persisted"],
            r["created"],
            r["validation_failed"],
            r["delivery_messages_queued"],
            r["job_status"].as_str().unwrap_or_default(),
            r["rows_processed"],
            r["worker_runs"],
        ));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms_template() -> recipient_csv::CsvTemplate {
        recipient_csv::CsvTemplate {
            template_type: NotificationType::Sms,
            placeholders: vec!["name".into()],
            international_sms: false,
            international_letters: false,
            max_rows: notify_core::jobs::MAX_ROWS,
        }
    }

    #[test]
    fn the_generated_file_has_its_rows_and_exactly_its_invalid_ones() {
        for channel in [Channel::Sms, Channel::Email] {
            let (csv, invalid) = generate_csv(1000, channel, 3);
            assert_eq!(invalid, 30);
            let template = recipient_csv::CsvTemplate {
                template_type: match channel {
                    Channel::Sms => NotificationType::Sms,
                    Channel::Email => NotificationType::Email,
                },
                ..sms_template()
            };
            match recipient_csv::check(&csv, &template) {
                Err(CsvProblem::RowErrors(errors)) => assert_eq!(errors.len(), 30, "{channel:?}"),
                other => panic!("{channel:?}: {other:?}"),
            }
            let rows: Vec<_> = recipient_csv::rows(&csv, &template, 0).unwrap().collect();
            assert_eq!(rows.len(), 1000);
            assert_eq!(rows.iter().filter(|r| r.recipient.is_err()).count(), 30);
            assert!(rows.iter().all(|r| r.personalisation.contains_key("name")));
        }
    }

    #[test]
    fn no_invalid_rows_makes_a_file_the_check_accepts() {
        let (csv, invalid) = generate_csv(500, Channel::Sms, 0);
        assert_eq!(invalid, 0);
        assert_eq!(
            recipient_csv::check(&csv, &sms_template())
                .unwrap()
                .row_count,
            500
        );
    }
}
