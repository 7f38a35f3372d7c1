//! `notify`: the local stack and the operator's one-off tasks (Notify's `flask command …`). This file parses the
//! command line and hands each command to its module under `commands/`.

mod commands;
mod fixtures;
mod local_db;
mod template_check;

use clap::{Parser, Subcommand};

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
    Dev(commands::dev::DevArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Call a deployed stack's admin API with a freshly signed admin JWT, e.g.
    /// `notify admin-api POST /service --data '{...}'`; prints the response body.
    AdminApi(commands::admin_api::AdminApiArgs),
    /// Check template.yaml for the SAM-level mistakes cfn-lint lets through.
    CheckTemplate(commands::check_template::CheckTemplateArgs),
    /// Run one scheduled job now, as EventBridge would (timeout-sending-notifications,
    /// replay-created-notifications, delete-notifications-older-than-retention, tend-providers-back-to-middle,
    /// switch-sms-provider-on-slow-delivery).
    RunJob(commands::run_job::RunJobArgs),
    /// Services: create, list, update.
    #[command(subcommand)]
    Service(commands::services::ServiceCommand),
    /// Users: create, add to a service.
    #[command(subcommand)]
    User(commands::users::UserCommand),
    /// Templates: create.
    #[command(subcommand)]
    Template(commands::templates::TemplateCommand),
    /// API keys: create, revoke, list.
    #[command(subcommand)]
    Key(commands::keys::KeyCommand),
    /// Add an SMS sender to a service.
    Sender(commands::senders::SenderArgs),
    /// Add an email reply-to address to a service.
    ReplyTo(commands::senders::ReplyToArgs),
    /// Set a service's callback API.
    Callback(commands::callback::CallbackArgs),
    /// Re-send callbacks: a service's delivery-status callbacks in a time window, or the callbacks DLQ.
    #[command(subcommand)]
    Callbacks(commands::callbacks::CallbacksCommand),
    /// Inbound texts: assign a number, record a received text.
    #[command(subcommand)]
    Inbound(commands::inbound::InboundCommand),
    /// Letters: cancel one before it is printed, record returned letters.
    #[command(subcommand)]
    Letter(commands::letter::LetterCommand),
    /// Letter brandings (the logo letters print with): create from a file, list.
    #[command(subcommand)]
    LetterBranding(commands::letter::LetterBrandingCommand),
    /// Email brandings (the banner, logo and colour above an email's body): create, update, list.
    #[command(subcommand)]
    EmailBranding(commands::email_branding::EmailBrandingCommand),
    // issue 14: job
    /// CSV jobs: send a file (checked here first), list, show, cancel.
    #[command(subcommand)]
    Job(commands::job::JobCommand),
    /// Test fixtures.
    #[command(subcommand)]
    Fixtures(commands::fixtures::FixturesCommand),
    /// Remove test data.
    #[command(subcommand)]
    Purge(commands::purge::PurgeCommand),
    /// SECRET_KEY rotation: re-encrypt.
    #[command(subcommand)]
    Secrets(commands::secrets::SecretsCommand),
    /// Benchmarks (results go in BENCHMARKS.md).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let j = cli.json;
    match cli.command {
        Command::Dev(args) => commands::dev::run(args, j).await,
        Command::Migrate => commands::migrate::run(j).await,
        Command::AdminApi(args) => commands::admin_api::run(args).await,
        Command::CheckTemplate(args) => commands::check_template::run(args, j),
        Command::RunJob(args) => commands::run_job::run(args, j).await,
        Command::Service(command) => commands::services::run(command, j).await,
        Command::User(command) => commands::users::run(command, j).await,
        Command::Template(command) => commands::templates::run(command, j).await,
        Command::Key(command) => commands::keys::run(command, j).await,
        Command::Sender(args) => commands::senders::sender(args, j).await,
        Command::ReplyTo(args) => commands::senders::reply_to(args, j).await,
        Command::Callback(args) => commands::callback::run(args, j).await,
        Command::Callbacks(command) => commands::callbacks::run(command, j).await,
        Command::Inbound(command) => commands::inbound::run(command, j).await,
        Command::Letter(command) => commands::letter::run(command, j).await,
        Command::LetterBranding(command) => commands::letter::branding(command, j).await,
        Command::EmailBranding(command) => commands::email_branding::run(command, j).await,
        Command::Job(command) => commands::job::run(command, j).await, // issue 14: job
        Command::Fixtures(command) => commands::fixtures::run(command, j).await,
        Command::Purge(command) => commands::purge::run(command, j).await,
        Command::Secrets(command) => commands::secrets::run(command, j).await,
        Command::Bench(command) => commands::bench::run(command, j).await,
    }
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
