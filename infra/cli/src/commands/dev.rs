//! `notify dev`: the API, the workers and the scheduled jobs on 127.0.0.1, with a database found or started.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use notify_app::admin::{CreateService, CreateTemplate};
use notify_app::{AppState, admin};
use notify_config as config;
use notify_config::{Config, ExposeSecret};
use notify_core::model::{KeyType, NotificationType};
use notify_db::Db;
use notify_queue::{InProcessQueue, Queue};
use notify_runtime::pollers::PollerSettings;
use notify_runtime::workers;
use notify_runtime::workers::WorkerSettings;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{local_config, print};

#[derive(Args)]
pub struct DevArgs {
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

/// What the letters worker scans precompiled letters with, for the start-up output.
fn virus_scanner(config: &Config, scanner: Option<&dyn notify_outbound::scan::Scanner>) -> Value {
    match scanner {
        Some(scanner) => json!({"using": scanner.describe()}),
        None => {
            let tried = match config.scan.scanner {
                config::ScannerKind::Clamd => {
                    match notify_outbound::scan::clamd::ClamdAddress::candidates(&config.scan) {
                        Ok(candidates) => notify_outbound::scan::clamd::tried(&candidates),
                        Err(why) => why,
                    }
                }
                config::ScannerKind::GuardDuty => "GuardDuty (VIRUS_SCANNER=guardduty)".into(),
            };
            json!({"none_answered_at": tried, "precompiled_letters": "wait in pending-virus-check until one does"})
        }
    }
}

/// The delivery and status workers, in this process: on the in-process queue, or polling SQS (moto) the way
/// Lambda's event source mappings would, into the same handlers. Returns what precompiled letters are scanned
/// with ([`virus_scanner`]).
async fn spawn_workers(
    config: &Config,
    queue: Arc<dyn Queue>,
    in_process: Option<Arc<InProcessQueue>>,
    delivery_concurrency: usize,
    callback_concurrency: usize,
) -> anyhow::Result<Value> {
    let sender =
        notify_outbound::callbacks::CallbackSender::from_config(&config.callback_worker())?;
    let db = Db::connect_short_lived(
        &config.database.url,
        config.database.pool_size,
        "notify-worker",
    )?;
    let worker_state = AppState::new(config.clone(), db, queue.clone());
    let providers = notify_outbound::providers::from_config(config, queue.clone()).await;
    let deliver_queues = vec![
        config.queues.deliver_sms.clone(),
        config.queues.deliver_email.clone(),
    ];
    // Letters rendered as the letters function renders them; printed by the simulated printer, which reports
    // each letter despatched to this API a few seconds later.
    let scanner = notify_outbound::scan::from_config(config).await;
    let scanner_shown = virus_scanner(config, scanner.as_deref());
    let letter_tools = notify_app::letters::LetterTools {
        renderer: Arc::new(notify_letters::PdfRenderer::new()),
        printer: Arc::new(notify_outbound::print::SimulatedPrinter::new(
            std::time::Duration::from_secs(5),
        )),
        scanner,
    };
    match in_process {
        Some(in_process) => {
            // issue 14: process
            workers::spawn_jobs_worker(
                worker_state.clone(),
                in_process.clone(),
                notify_app::bulk::process::budget_for(JOBS_TIMEOUT),
            );
            // end issue 14: process
            workers::spawn_letters_worker(
                worker_state.clone(),
                letter_tools,
                in_process.clone(),
                std::time::Duration::from_millis(200),
            );
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
                Arc::new(config.callback_worker()),
                callback_concurrency,
            );
        }
        None => {
            let sqs = aws_sdk_sqs::Client::new(
                &notify_config::aws::sdk_config(config.queues.endpoint_url.as_deref()).await,
            );
            let q = &config.queues;
            notify_runtime::pollers::create_queues(
                &sqs,
                &[
                    &q.deliver_sms,
                    &q.deliver_email,
                    &q.deliver_letter,
                    &q.status,
                    &q.callbacks,
                    &q.callbacks_dlq,
                    // issue 14: process
                    &q.jobs,
                ],
            )
            .await?;
            notify_runtime::pollers::spawn_jobs(
                worker_state.clone(),
                sqs.clone(),
                notify_app::bulk::process::budget_for(JOBS_TIMEOUT),
            )
            .await?;
            // end issue 14: process
            notify_runtime::pollers::spawn_letters(
                worker_state.clone(),
                letter_tools,
                sqs.clone(),
                1,
            )
            .await?;
            notify_runtime::pollers::spawn_callbacks(
                sender,
                queue.clone(),
                Arc::new(config.callback_worker()),
                sqs.clone(),
                callback_concurrency.div_ceil(10),
            )
            .await?;
            notify_runtime::pollers::spawn(
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
    Ok(scanner_shown)
}

// issue 14: process
/// The jobs function's timeout (template.yaml `JobsFunction`): the local worker runs with the same budget.
const JOBS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(900);
// end issue 14: process

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

pub async fn run(args: DevArgs, json_output: bool) -> anyhow::Result<()> {
    let mut local = local_config(true, Some(args.port)).await?;
    if args.keep_db
        && let Some(db) = &mut local.private_db
    {
        db.keep();
    }
    let mut stop = stop_signal()?;
    let (listener, state, demo, scanner) = tokio::select! {
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
        "database": config::shown("DATABASE_URL", &state.config.database.url),
        "private_database": private_db,
        // Null with --no-workers: nothing scans then.
        "virus_scanner": scanner,
        "settings": settings,
        "admin_client_id": state.config.api.admin_client_id,
        // Shown so that admin JWTs can be signed locally; a secret of the user's own stays hidden.
        "admin_client_secret": state.config.api.admin_client_secrets.first()
            .map(ExposeSecret::expose_secret)
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
        if let Some(using) = v["virus_scanner"]["using"].as_str() {
            out.push_str(&format!("  virus scanner: {using}\n"));
        } else if let Some(tried) = v["virus_scanner"]["none_answered_at"].as_str() {
            out.push_str(&format!(
                "  virus scanner: none answered at {tried}: precompiled letters wait in pending-virus-check until \
                 one does (infra/scripts/clamd starts one and prints its CLAMD_ADDRESS)\n"
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
    if state.config.secret_key.expose_secret() == config::DEV_SECRET_KEY {
        tracing::warn!("using development secrets: never point this at real data");
    }
    axum::serve(listener, notify_http::router(state))
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await?;
    Ok(())
}

/// Migrations, workers, the listener and the demo service; also what the workers scan letters with (null
/// without workers).
async fn start_dev(
    args: &DevArgs,
    config: &Config,
) -> anyhow::Result<(tokio::net::TcpListener, AppState, Option<Value>, Value)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let delivery_concurrency = args
        .delivery_concurrency
        .unwrap_or(config.local.delivery_concurrency);
    let callback_concurrency = args
        .callback_concurrency
        .unwrap_or(config.local.callback_concurrency);
    let db = Db::connect(
        &config.database.url,
        config.database.pool_size,
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
    let mut scanner = Value::Null;
    let state = if config.queues.endpoint_url.is_some() {
        let state = AppState::from_config(config.clone(), "notify-api").await?;
        if !args.no_workers {
            scanner = spawn_workers(
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
            scanner = spawn_workers(
                config,
                queue.clone(),
                Some(queue.clone()),
                delivery_concurrency,
                callback_concurrency,
            )
            .await?;
        }
        AppState {
            // Files sent by email are scanned by the API as it accepts them (as `AppState::from_config` does).
            scanner: notify_outbound::scan::clamd::from_config(&config.scan).await,
            ..AppState::new(config.clone(), db, queue)
        }
    };
    if !args.no_workers {
        // The scheduled jobs, on their EventBridge schedules, on short-lived connections of their own.
        let db = Db::connect_short_lived(&state.config.database.url, 2, "notify-scheduled")?;
        let jobs_state = AppState::new((*state.config).clone(), db, state.queue.clone());
        notify_app::jobs::spawn_scheduler(jobs_state);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("port {} is taken", args.port))?;
    let demo = if args.no_demo {
        None
    } else {
        demo(&state, args.port).await?
    };
    Ok((listener, state, demo, scanner))
}
