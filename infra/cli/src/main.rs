//! `notify`: the local stack and the operator's one-off tasks (Notify's `flask command …`).

mod bench;
mod bench_callbacks;
mod bench_cold_start;
mod bench_fairness;
mod bench_instructions;
mod bench_pipeline;
mod bench_retention;
mod fixtures;
mod local_db;
mod secrets;
mod template_check;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use notify::AppState;
use notify::admin::{self, CreateService, CreateTemplate};
use notify::config::{self, Config};
use notify::db::{Db, SenderKind, ServiceUpdate, TemplateUpdate};
use notify::model::{CallbackType, KeyType, NotificationType, Postage, ServicePermission};
use notify::pollers::PollerSettings;
use notify::queue::{InProcessQueue, Queue};
use notify::workers::{self, WorkerSettings};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "notify",
    version,
    about = "GOV.UK Notify, rebuilt: run the local stack and operate the service"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API (and workers) on 127.0.0.1, with a database found or started for you.
    Dev(DevArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Call a deployed stack's admin API with a freshly signed admin JWT, e.g.
    /// `notify admin-api POST /service --data '{...}'`; prints the response body.
    AdminApi {
        /// The stack's ApiUrl output.
        #[arg(long, env = "NOTIFY_API_URL")]
        api_url: String,
        /// Default `ADMIN_CLIENT_ID`.
        #[arg(long)]
        client_id: Option<String>,
        /// The admin_client_secret in the stack's AdminClientSecret; default the first of `ADMIN_CLIENT_SECRET`.
        #[arg(long)]
        secret: Option<String>,
        method: String,
        path: String,
        /// A JSON body.
        #[arg(long)]
        data: Option<String>,
    },
    /// Check template.yaml for the SAM-level mistakes cfn-lint lets through.
    CheckTemplate {
        #[arg(default_value = "template.yaml")]
        path: PathBuf,
    },
    /// Run one scheduled job now, as EventBridge would (timeout-sending-notifications,
    /// replay-created-notifications, delete-notifications-older-than-retention, tend-providers-back-to-middle,
    /// switch-sms-provider-on-slow-delivery).
    RunJob { name: String },
    /// Services: create, list, update.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Users: create, add to a service.
    #[command(subcommand)]
    User(UserCommand),
    /// Templates: create.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// API keys: create, revoke, list.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Add an SMS sender to a service.
    Sender(SenderArgs),
    /// Add an email reply-to address to a service.
    ReplyTo(ReplyToArgs),
    /// Set a service's callback API.
    Callback(CallbackArgs),
    /// Inbound texts: assign a number, record a received text.
    #[command(subcommand)]
    Inbound(InboundCommand),
    /// Test fixtures.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Remove test data.
    #[command(subcommand)]
    Purge(PurgeCommand),
    /// SECRET_KEY rotation: re-encrypt.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Benchmarks (results go in BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
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
    },
    /// Sends end to end on an in-process local stack with fake providers answering in min..max ms.
    Pipeline(bench_pipeline::PipelineOptions),
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
    Fairness(bench_fairness::Options),
    /// CPU instructions per accepted send in the API process, counted by callgrind (N and 4N sends).
    Instructions(bench_instructions::Options),
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

#[derive(Args)]
struct DevArgs {
    #[arg(long, default_value_t = 6011)]
    port: u16,
    /// Do not create the demo service on first start.
    #[arg(long)]
    no_demo: bool,
    /// Serve the API only: no in-process delivery and status workers (sends stay `created`).
    #[arg(long)]
    no_workers: bool,
    /// Provider sends in flight at once per delivery queue (Lambda's concurrency × batch size); default
    /// `DELIVERY_CONCURRENCY`.
    #[arg(long)]
    delivery_concurrency: Option<usize>,
    /// Callbacks in flight at once; default `CALLBACK_CONCURRENCY`.
    #[arg(long)]
    callback_concurrency: Option<usize>,
    /// Leave the private Postgres that `notify dev` started (when none answered) running after it exits.
    #[arg(long)]
    keep_db: bool,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Create a service (in trial mode unless --live).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        live: bool,
        #[arg(long)]
        email_from: Option<String>,
        #[arg(long)]
        user_id: Option<Uuid>,
    },
    /// List every service.
    List,
    /// Change a service: go live, limits, permissions, contact link.
    Update {
        #[arg(long)]
        service_id: Uuid,
        /// Take the service out of trial mode.
        #[arg(long, conflicts_with = "trial")]
        live: bool,
        /// Put the service back in trial mode.
        #[arg(long)]
        trial: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        active: Option<bool>,
        #[arg(long)]
        rate_limit: Option<i32>,
        #[arg(long)]
        sms_limit: Option<i64>,
        #[arg(long)]
        email_limit: Option<i64>,
        #[arg(long)]
        letter_limit: Option<i64>,
        #[arg(long)]
        international_sms_limit: Option<i64>,
        /// Comma-separated, replacing the current set (e.g. sms,email,letter,international_sms).
        #[arg(long, value_delimiter = ',')]
        permissions: Option<Vec<String>>,
        #[arg(long)]
        contact_link: Option<String>,
    },
    /// Replace the guest list (team keys and trial services may send to these).
    GuestList {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long, value_delimiter = ',')]
        emails: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        phones: Vec<String>,
    },
    /// Keep a channel's notifications for this many days (3 to 90).
    Retention {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long = "type")]
        notification_type: String,
        #[arg(long)]
        days: i32,
    },
    /// Add a letter contact block.
    LetterContact {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        contact_block: String,
        #[arg(long)]
        default: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        mobile: Option<String>,
    },
    /// Make a user a member of a service's team.
    AddToService {
        #[arg(long)]
        user_id: Uuid,
        #[arg(long)]
        service_id: Uuid,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    Create {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        name: String,
        /// sms, email or letter
        #[arg(long = "type")]
        template_type: String,
        #[arg(long)]
        content: String,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        postage: Option<String>,
    },
    /// Publish a new version of a template.
    Update {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        template_id: Uuid,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        content: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        archived: Option<bool>,
    },
    /// Every version of a template, newest first.
    Versions {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        template_id: Uuid,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key; its secret is shown this once.
    Create {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        name: String,
        /// normal (live), team or test
        #[arg(long = "type", default_value = "normal")]
        key_type: String,
    },
    Revoke {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        key_id: Uuid,
    },
    List {
        #[arg(long)]
        service_id: Uuid,
    },
}

#[derive(Args)]
struct SenderArgs {
    #[arg(long)]
    service_id: Uuid,
    #[arg(long)]
    sender: String,
    #[arg(long)]
    default: bool,
}

#[derive(Args)]
struct ReplyToArgs {
    #[arg(long)]
    service_id: Uuid,
    #[arg(long)]
    email: String,
    #[arg(long)]
    default: bool,
}

#[derive(Args)]
struct CallbackArgs {
    #[arg(long)]
    service_id: Uuid,
    /// delivery_status, inbound_sms or complaint
    #[arg(long = "type", default_value = "delivery_status")]
    callback_type: String,
    #[arg(long)]
    url: String,
    #[arg(long)]
    bearer_token: String,
}

#[derive(Subcommand)]
enum InboundCommand {
    /// Give a service an inbound number (it becomes its default sender).
    AssignNumber {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        number: String,
    },
    /// Record a text as received on the service's inbound number.
    Receive {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        from: String,
        #[arg(long)]
        content: String,
    },
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Create the functional-test service, keys and templates and write them as `export` lines.
    FunctionalTests {
        #[arg(long)]
        env_file: PathBuf,
        /// The API base URL the clients should use.
        #[arg(long, default_value = "http://127.0.0.1:6011")]
        api_url: String,
    },
}

#[derive(Subcommand)]
enum PurgeCommand {
    /// Delete the functional-test service and everything it sent.
    FunctionalTestData,
}

/// The environment the local stack and the CLI run with: the process's, with development values where it has
/// none (`notify dev` passes its `port` for `API_HOST_NAME`). The loader then reads it as it reads any other.
fn local_environment(
    mut vars: HashMap<String, String>,
    port: Option<u16>,
) -> HashMap<String, String> {
    let mut fill = |name: &str, value: String| {
        if vars.get(name).is_none_or(|v| v.is_empty()) {
            vars.insert(name.into(), value);
        }
    };
    for (name, value) in config::DEVELOPMENT {
        fill(name, value.to_string());
    }
    if let Some(port) = port {
        fill("API_HOST_NAME", format!("http://127.0.0.1:{port}"));
    }
    vars
}

/// The local configuration, with a database found (or, if `may_start_db`, started) when `DATABASE_URL` is unset.
struct Local {
    config: Config,
    /// What the configuration was read from, the database included.
    vars: HashMap<String, String>,
    /// The private Postgres this process started: stopped when this is dropped, unless kept.
    private_db: Option<local_db::PrivateServer>,
}

/// The configuration of the CLI and of `notify dev` (given its `port`): the environment in `vars`, development
/// values where it has none, through the same loader as every function; and what it was read from. The database
/// is found or started afterwards when `DATABASE_URL` is unset.
async fn configure(
    vars: HashMap<String, String>,
    port: Option<u16>,
) -> anyhow::Result<(Config, HashMap<String, String>)> {
    let vars = local_environment(vars, port);
    Ok((Config::load_from(vars.clone()).await?, vars))
}

async fn local_config(may_start_db: bool, port: Option<u16>) -> anyhow::Result<Local> {
    let (mut config, mut vars) = configure(config::environment(), port).await?;
    let mut private_db = None;
    if config.database_url.is_empty() {
        let database = local_db::resolve(&config.local, may_start_db).await?;
        vars.insert("DATABASE_URL".into(), database.url.clone());
        config.database_url = database.url;
        private_db = database.started;
    }
    notify::metrics::init(config.metrics_namespace.as_deref());
    Ok(Local {
        config,
        vars,
        private_db,
    })
}

async fn state(may_start_db: bool) -> anyhow::Result<AppState> {
    let local = local_config(may_start_db, None).await?;
    let state = AppState::from_config(local.config, "notify-cli").await?;
    state.db.migrate().await?;
    state.check_secret_key().await?;
    Ok(state)
}

fn print(json_output: bool, value: Value, text: impl FnOnce(&Value) -> String) {
    if json_output {
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else {
        println!("{}", text(&value));
    }
}

async fn demo(state: &AppState, port: u16) -> anyhow::Result<Option<Value>> {
    if state
        .db
        .find_service_by_name("Demo service")
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let user = match state.db.find_user_by_email("demo@example.gov.uk").await? {
        Some(u) => u,
        None => {
            state
                .db
                .create_user(
                    Uuid::new_v4(),
                    "Demo User",
                    "demo@example.gov.uk",
                    Some("07700900900"),
                    false,
                )
                .await?
        }
    };
    let service = admin::create_service(
        state,
        CreateService {
            name: "Demo service".into(),
            created_by: Some(user.id),
            restricted: false,
            email_from: Some("demo.service".into()),
            permissions: None,
            rate_limit: None,
            message_limit: None,
        },
    )
    .await?;
    let template =
        |name: &str, t: NotificationType, content: &str, subject: Option<&str>| CreateTemplate {
            service_id: service.id,
            name: name.into(),
            template_type: t,
            content: content.into(),
            subject: subject.map(str::to_string),
            postage: None,
            created_by: Some(user.id),
            letter_contact_id: None,
            has_unsubscribe_link: false,
        };
    let sms = admin::create_template(
        state,
        template(
            "Demo text",
            NotificationType::Sms,
            "Hello ((name)), this is a demo text.",
            None,
        ),
    )
    .await?;
    let email = admin::create_template(
        state,
        template(
            "Demo email",
            NotificationType::Email,
            "Hello ((name)),\n\nThis is a demo email.",
            Some("Demo email"),
        ),
    )
    .await?;
    let letter = admin::create_template(
        state,
        template(
            "Demo letter",
            NotificationType::Letter,
            "Dear ((address_line_1)),\n\nThis is a demo letter.",
            Some("Demo letter"),
        ),
    )
    .await?;
    let (_, key) = admin::create_api_key(
        state,
        service.id,
        "demo_live_key",
        KeyType::Normal,
        Some(user.id),
    )
    .await?;
    Ok(Some(json!({
        "service_id": service.id,
        "api_key": key,
        "sms_template_id": sms.id,
        "email_template_id": email.id,
        "letter_template_id": letter.id,
        "try": format!(
            "python3 -c \"from notifications_python_client import NotificationsAPIClient as C; \
             print(C('{key}', base_url='http://127.0.0.1:{port}').send_sms_notification('07700900123', '{}', {{'name': 'Amala'}}))\"",
            sms.id
        ),
    })))
}

/// The delivery and status workers, in this process: on the in-process queue, or polling SQS (moto) the way
/// Lambda's event source mappings would, into the same handlers.
async fn spawn_workers(
    config: &Config,
    queue: Arc<dyn Queue>,
    in_process: Option<Arc<InProcessQueue>>,
    delivery_concurrency: usize,
    callback_concurrency: usize,
) -> anyhow::Result<()> {
    let sender = notify::callbacks::CallbackSender::from_config(config)?;
    let db = Db::connect_short_lived(
        &config.database_url,
        config.database_pool_size,
        "notify-worker",
    )?;
    let worker_state = AppState::new(config.clone(), db, queue.clone());
    let providers = notify::providers::from_config(config, queue.clone()).await;
    let deliver_queues = vec![
        config.queues.deliver_sms.clone(),
        config.queues.deliver_email.clone(),
    ];
    match in_process {
        Some(in_process) => {
            workers::spawn_in_process(
                worker_state,
                providers,
                in_process.clone(),
                WorkerSettings {
                    deliver_queues,
                    status_queue: config.queues.status.clone(),
                    delivery_concurrency,
                    status_batch_size: 500,
                    batching_window: std::time::Duration::from_millis(200),
                },
            );
            workers::spawn_callback_worker(
                sender,
                in_process,
                Arc::new(config.clone()),
                callback_concurrency,
            );
        }
        None => {
            let sqs = aws_sdk_sqs::Client::new(
                &notify::aws::sdk_config(config.sqs_endpoint_url.as_deref()).await,
            );
            let q = &config.queues;
            notify::pollers::create_queues(
                &sqs,
                &[
                    &q.deliver_sms,
                    &q.deliver_email,
                    &q.deliver_letter,
                    &q.status,
                    &q.callbacks,
                    &q.callbacks_dlq,
                ],
            )
            .await?;
            notify::pollers::spawn_callbacks(
                sender,
                queue.clone(),
                Arc::new(config.clone()),
                sqs.clone(),
                callback_concurrency.div_ceil(10),
            )
            .await?;
            notify::pollers::spawn(
                worker_state,
                providers,
                sqs,
                PollerSettings {
                    deliver_queues,
                    status_queue: config.queues.status.clone(),
                    delivery_pollers: delivery_concurrency.div_ceil(10),
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Resolves on the first Ctrl-C or SIGTERM. Both are caught from here on, so that `notify dev` ends by returning
/// (and stops the private Postgres it started) rather than being killed.
fn stop_signal() -> anyhow::Result<tokio::sync::watch::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        let _ = tx.send(());
    });
    Ok(rx)
}

async fn dev(args: DevArgs, json_output: bool) -> anyhow::Result<()> {
    let mut local = local_config(true, Some(args.port)).await?;
    if args.keep_db
        && let Some(db) = &mut local.private_db
    {
        db.keep();
    }
    let mut stop = stop_signal()?;
    let (listener, state, demo) = tokio::select! {
        started = start_dev(&args, &local.config) => started?,
        _ = stop.changed() => return Ok(()),
    };
    let settings: Vec<Value> = config::differing_from_defaults(&local.vars)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let private_db = local.private_db.as_ref().map(|db| {
        json!({
            "data": db.data,
            "port": db.port,
            "on_exit": if args.keep_db { "kept" } else { "stopped" },
            "stop_command": db.stop_command(),
        })
    });
    let info = json!({
        "api": format!("http://127.0.0.1:{}", args.port),
        "database": config::shown("DATABASE_URL", &state.config.database_url),
        "private_database": private_db,
        "settings": settings,
        "admin_client_id": state.config.admin_client_id,
        // Shown so that admin JWTs can be signed locally; a secret of the user's own stays hidden.
        "admin_client_secret": state.config.admin_client_secrets.first()
            .filter(|s| *s == config::DEV_ADMIN_CLIENT_SECRET),
        "demo": demo,
    });
    print(json_output, info, |v| {
        let mut out = format!(
            "Notify is running on {}\n  database: {}\n",
            v["api"].as_str().unwrap_or_default(),
            v["database"].as_str().unwrap_or_default()
        );
        if let Some(db) = v["private_database"].as_object() {
            out.push_str(&format!(
                "  (a private Postgres started in {} on port {}: {})\n",
                db["data"].as_str().unwrap_or_default(),
                db["port"],
                if db["on_exit"] == "kept" {
                    format!(
                        "left running on exit (--keep-db); stop it with `{}`",
                        db["stop_command"].as_str().unwrap_or_default()
                    )
                } else {
                    "stopped when notify dev exits; --keep-db leaves it running".into()
                }
            ));
        }
        out.push_str(&format!(
            "  admin client id: {}  secret: {}\n  settings other than the defaults:\n",
            v["admin_client_id"].as_str().unwrap_or_default(),
            v["admin_client_secret"]
                .as_str()
                .unwrap_or("(ADMIN_CLIENT_SECRET)")
        ));
        for s in v["settings"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "    {}={}\n",
                s["name"].as_str().unwrap_or_default(),
                s["value"].as_str().unwrap_or_default()
            ));
        }
        if !v["demo"].is_null() {
            out.push_str(&format!(
                "Demo service created (first start):\n  API key: {}\n  SMS template: {}\n  email template: {}\n  letter template: {}\n  try: {}\n",
                v["demo"]["api_key"], v["demo"]["sms_template_id"], v["demo"]["email_template_id"],
                v["demo"]["letter_template_id"], v["demo"]["try"].as_str().unwrap_or_default()
            ));
        }
        out
    });
    if state.config.secret_key == config::DEV_SECRET_KEY {
        tracing::warn!("using development secrets: never point this at real data");
    }
    axum::serve(listener, notify::api::router(state))
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await?;
    Ok(())
}

/// Migrations, workers, the listener and the demo service.
async fn start_dev(
    args: &DevArgs,
    config: &Config,
) -> anyhow::Result<(tokio::net::TcpListener, AppState, Option<Value>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let delivery_concurrency = args
        .delivery_concurrency
        .unwrap_or(config.local.delivery_concurrency);
    let callback_concurrency = args
        .callback_concurrency
        .unwrap_or(config.local.callback_concurrency);
    let db = Db::connect(
        &config.database_url,
        config.database_pool_size,
        "notify-api",
    )?;
    db.migrate().await?;
    AppState::new(
        config.clone(),
        db.clone(),
        Arc::new(InProcessQueue::default()),
    )
    .check_secret_key()
    .await?;
    let state = if config.sqs_endpoint_url.is_some() {
        let state = AppState::from_config(config.clone(), "notify-api").await?;
        if !args.no_workers {
            spawn_workers(
                config,
                state.queue.clone(),
                None,
                delivery_concurrency,
                callback_concurrency,
            )
            .await?;
        }
        state
    } else {
        let queue = Arc::new(InProcessQueue::default());
        if !args.no_workers {
            spawn_workers(
                config,
                queue.clone(),
                Some(queue.clone()),
                delivery_concurrency,
                callback_concurrency,
            )
            .await?;
        }
        AppState::new(config.clone(), db, queue)
    };
    if !args.no_workers {
        // The scheduled jobs, on their EventBridge schedules, on short-lived connections of their own.
        let db = Db::connect_short_lived(&state.config.database_url, 2, "notify-scheduled")?;
        let jobs_state = AppState::new((*state.config).clone(), db, state.queue.clone());
        notify::jobs::spawn_scheduler(jobs_state);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("port {} is taken", args.port))?;
    let demo = if args.no_demo {
        None
    } else {
        demo(&state, args.port).await?
    };
    Ok((listener, state, demo))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let j = cli.json;
    match cli.command {
        Command::Dev(args) => dev(args, j).await?,
        Command::Secrets(command) => {
            let report = secrets::run(&state(false).await?, command).await?;
            print(j, report, |v| {
                format!("re-encrypted {} values", v["rewritten"])
            });
        }
        Command::RunJob { name } => {
            let Some(job) = notify::jobs::Job::parse(&name) else {
                let names: Vec<&str> = notify::jobs::Job::ALL.iter().map(|j| j.name()).collect();
                bail!("no job {name:?}; jobs: {}", names.join(", "));
            };
            let state = state(false).await?;
            if state.config.sqs_endpoint_url.is_none()
                && job == notify::jobs::Job::ReplayCreatedNotifications
            {
                bail!(
                    "without SQS_ENDPOINT_URL the delivery queue lives inside `notify dev`, which runs this job \
                     every 5 minutes itself; set SQS_ENDPOINT_URL to replay through SQS from here"
                );
            }
            let report = notify::jobs::run(&state, job, notify::jobs::TIME_BUDGET).await?;
            print(j, json!({"job": job.name(), "report": report}), |v| {
                format!("{}: {}", v["job"].as_str().unwrap_or_default(), v["report"])
            });
        }
        Command::AdminApi {
            api_url,
            client_id,
            secret,
            method,
            path,
            data,
        } => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            // The stack's own settings, not development ones: this calls a deployed API.
            let config = Config::load_from(config::environment()).await?;
            let client_id = client_id.unwrap_or(config.admin_client_id);
            let secret = secret
                .or_else(|| config.admin_client_secrets.into_iter().next())
                .context("--secret or ADMIN_CLIENT_SECRET must be set")?;
            let token =
                notify::auth::create_token(&client_id, &secret, chrono::Utc::now().timestamp());
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let mut request = reqwest::Client::new()
                .request(method, format!("{}{path}", api_url.trim_end_matches('/')))
                .bearer_auth(token);
            if let Some(data) = data {
                let body: Value = serde_json::from_str(&data).context("--data must be JSON")?;
                request = request.json(&body);
            }
            let response = request.send().await?;
            let status = response.status();
            let body = response.text().await?;
            println!("{body}");
            if !status.is_success() {
                bail!("{status}");
            }
        }
        Command::CheckTemplate { path } => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let problems = template_check::problems(&template_check::load(&text)?);
            print(j, json!({"problems": problems}), |v| {
                let problems = v["problems"].as_array().map(Vec::len).unwrap_or(0);
                if problems == 0 {
                    "no known SAM mistakes".into()
                } else {
                    format!(
                        "{problems} problem(s):\n{}",
                        v["problems"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                }
            });
            if !problems.is_empty() {
                bail!("{} has {} known mistake(s)", path.display(), problems.len());
            }
        }
        Command::Migrate => {
            let config = local_config(false, None).await?.config;
            let db = Db::connect(&config.database_url, 1, "notify-migrate")?;
            let applied = db.migrate().await?;
            print(j, json!({"applied": applied}), |v| {
                format!("applied {} migration(s)", v["applied"])
            });
        }
        Command::Service(ServiceCommand::Create {
            name,
            live,
            email_from,
            user_id,
        }) => {
            let state = state(false).await?;
            let service = admin::create_service(
                &state,
                CreateService {
                    name,
                    created_by: user_id,
                    restricted: !live,
                    email_from,
                    permissions: None,
                    rate_limit: None,
                    message_limit: None,
                },
            )
            .await?;
            print(j, admin::service_json(&service, &[]), |v| {
                format!("created service {} ({})", v["id"], v["name"])
            });
        }
        Command::Service(ServiceCommand::List) => {
            let state = state(false).await?;
            let services: Vec<Value> = state
                .db
                .list_services()
                .await?
                .iter()
                .map(|s| admin::service_json(s, &[]))
                .collect();
            print(j, json!(services), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| format!("{}  {}\n", s["id"], s["name"]))
                    .collect()
            });
        }
        Command::Service(ServiceCommand::Update {
            service_id,
            live,
            trial,
            name,
            active,
            rate_limit,
            sms_limit,
            email_limit,
            letter_limit,
            international_sms_limit,
            permissions,
            contact_link,
        }) => {
            let state = state(false).await?;
            let permissions = permissions
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            ServicePermission::parse(p.trim())
                                .with_context(|| format!("unknown permission {p:?}"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()?;
            let update = ServiceUpdate {
                name,
                active,
                restricted: if live {
                    Some(false)
                } else if trial {
                    Some(true)
                } else {
                    None
                },
                rate_limit,
                contact_link: contact_link.map(Some),
                sms_message_limit: sms_limit,
                email_message_limit: email_limit,
                letter_message_limit: letter_limit,
                international_sms_message_limit: international_sms_limit,
                permissions,
                ..Default::default()
            };
            let service = state
                .db
                .update_service(service_id, &update)
                .await?
                .context("no such service")?;
            print(j, admin::service_json(&service, &[]), |v| {
                format!("updated service {}", v["id"])
            });
        }
        Command::Service(ServiceCommand::GuestList {
            service_id,
            emails,
            phones,
        }) => {
            let state = state(false).await?;
            let mut entries = Vec::new();
            for email in emails.iter().filter(|e| !e.trim().is_empty()) {
                notify::recipients::EmailAddress::parse(email)
                    .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
                entries.push(("email".to_string(), email.trim().to_string()));
            }
            for phone in phones.iter().filter(|p| !p.trim().is_empty()) {
                notify::recipients::PhoneNumber::parse(phone)
                    .map_err(|e| anyhow::anyhow!("{phone}: {e}"))?;
                entries.push(("mobile".to_string(), phone.trim().to_string()));
            }
            state.db.replace_guest_list(service_id, &entries).await?;
            print(j, json!({"entries": entries.len()}), |v| {
                format!("guest list set ({} entries)", v["entries"])
            });
        }
        Command::Service(ServiceCommand::Retention {
            service_id,
            notification_type,
            days,
        }) => {
            let state = state(false).await?;
            let Some(t) = NotificationType::parse(&notification_type) else {
                bail!("--type must be sms, email or letter")
            };
            if !(3..=90).contains(&days) {
                bail!("--days must be from 3 to 90");
            }
            let r = state.db.upsert_data_retention(service_id, t, days).await?;
            print(
                j,
                json!({"id": r.id, "days_of_retention": r.days_of_retention}),
                |v| format!("retention set to {} days", v["days_of_retention"]),
            );
        }
        Command::Service(ServiceCommand::LetterContact {
            service_id,
            contact_block,
            default,
        }) => {
            let state = state(false).await?;
            let c = state
                .db
                .add_sender(
                    SenderKind::LetterContact,
                    service_id,
                    &contact_block,
                    default,
                    None,
                )
                .await?;
            print(j, admin::sender_json(SenderKind::LetterContact, &c), |v| {
                format!("created letter contact {}", v["id"])
            });
        }
        Command::Template(TemplateCommand::Update {
            service_id,
            template_id,
            name,
            content,
            subject,
            archived,
        }) => {
            let state = state(false).await?;
            let update = TemplateUpdate {
                name,
                content,
                subject,
                archived,
                ..Default::default()
            };
            let t = state
                .db
                .update_template(service_id, template_id, &update)
                .await?
                .context("no such template")?;
            print(j, admin::template_admin_json(&t), |v| {
                format!("template {} is now version {}", v["id"], v["version"])
            });
        }
        Command::Template(TemplateCommand::Versions {
            service_id,
            template_id,
        }) => {
            let state = state(false).await?;
            let versions: Vec<Value> = state
                .db
                .template_versions(service_id, template_id)
                .await?
                .iter()
                .map(admin::template_admin_json)
                .collect();
            print(j, json!(versions), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        format!(
                            "v{}  {}\n",
                            t["version"],
                            t["name"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            });
        }
        Command::User(UserCommand::Create {
            name,
            email,
            mobile,
        }) => {
            let state = state(false).await?;
            let user = state
                .db
                .create_user(Uuid::new_v4(), &name, &email, mobile.as_deref(), false)
                .await?;
            print(j, admin::user_json(&user), |v| {
                format!("created user {}", v["id"])
            });
        }
        Command::User(UserCommand::AddToService {
            user_id,
            service_id,
        }) => {
            let state = state(false).await?;
            state
                .db
                .add_user_to_service(user_id, service_id, &[])
                .await?;
            print(
                j,
                json!({"user_id": user_id, "service_id": service_id}),
                |_| "added".into(),
            );
        }
        Command::Template(TemplateCommand::Create {
            service_id,
            name,
            template_type,
            content,
            subject,
            postage,
        }) => {
            let state = state(false).await?;
            let Some(template_type) = NotificationType::parse(&template_type) else {
                bail!("--type must be sms, email or letter")
            };
            let template = admin::create_template(
                &state,
                CreateTemplate {
                    service_id,
                    name,
                    template_type,
                    content,
                    subject,
                    postage: postage.as_deref().and_then(Postage::parse),
                    created_by: None,
                    letter_contact_id: None,
                    has_unsubscribe_link: false,
                },
            )
            .await?;
            print(j, admin::template_admin_json(&template), |v| {
                format!("created template {}", v["id"])
            });
        }
        Command::Key(KeyCommand::Create {
            service_id,
            name,
            key_type,
        }) => {
            let state = state(false).await?;
            let Some(key_type) = KeyType::parse(&key_type) else {
                bail!("--type must be normal, team or test")
            };
            let (record, key) =
                admin::create_api_key(&state, service_id, &name, key_type, None).await?;
            print(j, json!({"id": record.id, "key": key}), |v| {
                format!(
                    "API key (shown once): {}",
                    v["key"].as_str().unwrap_or_default()
                )
            });
        }
        Command::Key(KeyCommand::Revoke { service_id, key_id }) => {
            let state = state(false).await?;
            let revoked = state.db.revoke_api_key(service_id, key_id).await?;
            print(j, json!({"revoked": revoked}), |v| {
                format!("revoked: {}", v["revoked"])
            });
        }
        Command::Key(KeyCommand::List { service_id }) => {
            let state = state(false).await?;
            let keys: Vec<Value> = state
                .db
                .list_api_keys(service_id)
                .await?
                .iter()
                .map(|k| admin::api_key_json(k, service_id))
                .collect();
            print(j, json!(keys), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| {
                        format!(
                            "{}  {}  {}  revoked: {}\n",
                            k["id"], k["name"], k["key_type"], k["expiry_date"]
                        )
                    })
                    .collect()
            });
        }
        Command::Sender(SenderArgs {
            service_id,
            sender,
            default,
        }) => {
            let state = state(false).await?;
            let s = state
                .db
                .add_sender(SenderKind::Sms, service_id, &sender, default, None)
                .await?;
            print(j, admin::sender_json(SenderKind::Sms, &s), |v| {
                format!("created SMS sender {}", v["id"])
            });
        }
        Command::ReplyTo(ReplyToArgs {
            service_id,
            email,
            default,
        }) => {
            let state = state(false).await?;
            notify::recipients::EmailAddress::parse(&email)
                .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
            let s = state
                .db
                .add_sender(SenderKind::ReplyTo, service_id, &email, default, None)
                .await?;
            print(j, admin::sender_json(SenderKind::ReplyTo, &s), |v| {
                format!("created reply-to {}", v["id"])
            });
        }
        Command::Callback(CallbackArgs {
            service_id,
            callback_type,
            url,
            bearer_token,
        }) => {
            let state = state(false).await?;
            let Some(callback_type) = CallbackType::parse(&callback_type) else {
                bail!("--type must be delivery_status, inbound_sms or complaint")
            };
            let c = admin::set_callback_api(
                &state,
                service_id,
                callback_type,
                &url,
                &bearer_token,
                None,
            )
            .await?;
            print(j, admin::callback_json(&c), |v| {
                format!("callback API {} set", v["id"])
            });
        }
        Command::Inbound(InboundCommand::AssignNumber { service_id, number }) => {
            let state = state(false).await?;
            let n = state
                .db
                .assign_inbound_number(service_id, &number, "mmg")
                .await?;
            print(j, json!({"id": n.id, "number": n.number}), |v| {
                format!("inbound number {} assigned", v["number"])
            });
        }
        Command::Inbound(InboundCommand::Receive {
            service_id,
            from,
            content,
        }) => {
            let state = state(false).await?;
            let id = admin::receive_inbound_sms(&state, service_id, &from, &content).await?;
            print(j, json!({"id": id}), |v| {
                format!("received text {}", v["id"])
            });
        }
        Command::Fixtures(FixturesCommand::FunctionalTests { env_file, api_url }) => {
            let state = state(false).await?;
            let f = fixtures::functional_tests(&state, &api_url).await?;
            fixtures::write_env_file(&env_file, &f.lines)?;
            print(
                j,
                json!({"service_id": f.service_id, "env_file": env_file}),
                |v| {
                    format!(
                        "functional test fixtures for service {} written to {}",
                        v["service_id"], v["env_file"]
                    )
                },
            );
        }
        Command::Bench(BenchCommand::Pipeline(options)) => {
            let local = local_config(true, None).await?;
            let result = bench_pipeline::pipeline(local.config.clone(), options).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Bench(BenchCommand::Callbacks {
            count,
            receiver_ms,
            in_flight,
            pool_size,
            skip_comparator,
        }) => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            let result = bench_callbacks::run(
                config,
                bench_callbacks::Options {
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
        Command::Bench(BenchCommand::Retention {
            count,
            rate,
            idle_seconds,
        }) => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            let result = bench_retention::run(
                config,
                bench_retention::Options {
                    count,
                    rate,
                    idle_seconds,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Bench(BenchCommand::Fairness(options)) => {
            let local = local_config(true, None).await?;
            let result = bench_fairness::run(local.config.clone(), options).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Bench(BenchCommand::Instructions(options)) => {
            print(
                j,
                bench_instructions::run(options).await?,
                bench_instructions::text,
            );
        }
        Command::Bench(BenchCommand::Receipts {
            count,
            batch_size,
            concurrency,
        }) => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            let result = bench_pipeline::receipts(
                config,
                bench_pipeline::ReceiptOptions {
                    count,
                    batch_size,
                    concurrency,
                },
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Bench(BenchCommand::ColdStart {
            bin_dir,
            emulator,
            runs,
        }) => {
            let local = local_config(true, None).await?;
            let config = local.config.clone();
            Db::connect(&config.database_url, 1, "notify-migrate")?
                .migrate()
                .await?;
            let result = bench_cold_start::run(bench_cold_start::Options {
                bin_dir,
                emulator,
                runs,
                database_url: config.database_url,
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Bench(BenchCommand::Sms {
            api_url,
            concurrency,
            seconds,
        }) => {
            let state = state(false).await?;
            let database_url = state.config.database_url.clone();
            let result = bench::sms(
                &state,
                bench::Options {
                    api_url,
                    concurrency,
                    seconds,
                    database_url,
                },
            )
            .await?;
            print(j, result, |v| {
                format!(
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
                )
            });
        }
        Command::Purge(PurgeCommand::FunctionalTestData) => {
            let state = state(false).await?;
            let purged = fixtures::purge(&state).await?;
            print(j, json!({"purged": purged}), |v| {
                format!("purged: {}", v["purged"])
            });
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Measured before: with both secrets set `notify dev` switched loaders, lost SIMULATE_PROVIDERS' development
    /// value, and without them it ignored CALLBACK_ALLOW_PRIVATE_HOSTS.
    #[tokio::test]
    async fn notify_dev_reads_every_variable_with_or_without_its_own_secrets() {
        for secrets in [
            &[][..],
            &[
                ("SECRET_KEY", "my-key"),
                ("ADMIN_CLIENT_SECRET", "my-admin"),
            ][..],
        ] {
            let mut vars = env(secrets);
            vars.extend(env(&[
                ("CALLBACK_ALLOW_PRIVATE_HOSTS", "127.0.0.1"),
                ("CALLBACK_RETRY_SECONDS", "7"),
                ("DELIVERY_CONCURRENCY", "3"),
            ]));
            let (config, _) = configure(vars, Some(6102)).await.unwrap();
            assert!(config.simulate_providers, "{secrets:?}");
            assert_eq!(config.callback_allow_private_hosts, ["127.0.0.1"]);
            assert_eq!(config.callback_retry_delay.as_secs(), 7);
            assert_eq!(config.local.delivery_concurrency, 3);
            assert_eq!(config.api_host_name, "http://127.0.0.1:6102");
            let allow =
                notify::outbound::AllowList::new(config.callback_allow_private_hosts.clone());
            let receiver = url::Url::parse("https://127.0.0.1:9443/callback").unwrap();
            notify::outbound::check_url(&receiver, &allow).unwrap();
            if secrets.is_empty() {
                assert_eq!(config.secret_key, config::DEV_SECRET_KEY);
                assert_eq!(
                    config.admin_client_secrets,
                    [config::DEV_ADMIN_CLIENT_SECRET]
                );
            } else {
                assert_eq!(config.secret_key, "my-key");
                assert_eq!(config.admin_client_secrets, ["my-admin"]);
            }
        }
    }

    #[tokio::test]
    async fn what_the_environment_sets_wins_over_development_values() {
        let (config, vars) = configure(
            env(&[
                ("SIMULATE_PROVIDERS", "false"),
                ("API_HOST_NAME", "https://notify.example/"),
                ("SECRET_KEY", "my-key"),
            ]),
            Some(6102),
        )
        .await
        .unwrap();
        assert!(!config.simulate_providers);
        assert_eq!(config.api_host_name, "https://notify.example");
        let shown = config::differing_from_defaults(&vars);
        assert!(shown.contains(&("SECRET_KEY", "****".into())), "{shown:?}");
        assert!(shown.contains(&("API_HOST_NAME", "https://notify.example/".into())));
        assert!(!shown.iter().any(|(name, _)| *name == "SIMULATE_PROVIDERS"));
    }

    #[tokio::test]
    async fn other_commands_get_the_same_development_values_without_a_port() {
        let (config, _) = configure(env(&[]), None).await.unwrap();
        assert!(config.simulate_providers);
        assert_eq!(config.secret_key, config::DEV_SECRET_KEY);
        assert_eq!(config.api_host_name, "http://127.0.0.1:6011");
    }
}
