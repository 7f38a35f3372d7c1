//! `notify job send|list|show|cancel`: CSV jobs through the admin API, as the admin app sends them. `send` checks
//! the file here first with the same reader the jobs worker uses (`notify_core::recipient_csv`), so a bad file is
//! refused with every row's message before anything is stored; then it stores the file where the admin app's
//! upload goes (the file store `notify dev` uses, `CSV_UPLOAD_BUCKET` in a stack) with the upload's metadata,
//! creates the job on upstream's path, and follows it to the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use notify_config as config;
use notify_config::{Config, ExposeSecret};
use notify_core::jobs::{JobMetadata, MAX_ROWS, csv_upload_key};
use notify_core::model::NotificationType;
use notify_core::recipient_csv::{self, CsvProblem, CsvTemplate};
use serde_json::{Value, json};
use uuid::Uuid;

use super::print;

/// Where the admin API is: the URL given, else `API_HOST_NAME` (a running `notify dev`).
#[derive(Args, Clone)]
pub struct ApiArgs {
    #[arg(long, env = "NOTIFY_API_URL")]
    api_url: Option<String>,
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// Check a CSV, upload it and create a job from it; follow it until every notification is created.
    Send(SendArgs),
    /// A service's jobs, newest first (one page of 50).
    List {
        #[arg(long = "service", visible_alias = "service-id")]
        service: Uuid,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// One job with its notifications counted by status.
    Show {
        #[arg(long = "service", visible_alias = "service-id")]
        service: Uuid,
        job_id: Uuid,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Cancel a scheduled job.
    Cancel {
        #[arg(long = "service", visible_alias = "service-id")]
        service: Uuid,
        job_id: Uuid,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args)]
pub struct SendArgs {
    #[arg(long = "service", visible_alias = "service-id")]
    service: Uuid,
    #[arg(long = "template", visible_alias = "template-id")]
    template: Uuid,
    #[arg(long)]
    csv: PathBuf,
    /// When to send (ISO 8601, within 7 days); the job waits as `scheduled`.
    #[arg(long)]
    scheduled_for: Option<String>,
    /// The user the job is created by; default the service's first user.
    #[arg(long)]
    created_by: Option<Uuid>,
    /// Return once the job is created instead of following it.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// The CLI's configuration without a database: this command only talks to the API and the file store.
async fn configuration() -> anyhow::Result<Config> {
    let mut vars: HashMap<String, String> = config::environment();
    for (name, value) in config::DEVELOPMENT {
        if vars.get(*name).is_none_or(|v| v.is_empty()) {
            vars.insert(name.to_string(), value.to_string());
        }
    }
    Ok(Config::load_from(vars).await?)
}

/// The admin API, each call with a freshly signed admin JWT (as `notify admin-api`).
struct AdminClient {
    base: String,
    client_id: String,
    secret: String,
    http: reqwest::Client,
}

impl AdminClient {
    fn new(config: &Config, api: &ApiArgs) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = api
            .api_url
            .clone()
            .unwrap_or_else(|| config.api.host_name.clone());
        let secret = config
            .api
            .admin_client_secrets
            .first()
            .map(|s| s.expose_secret().to_string())
            .context("ADMIN_CLIENT_SECRET must be set")?;
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            client_id: config.api.admin_client_id.clone(),
            secret,
            http: reqwest::Client::new(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let token = notify_app::auth::create_token(
            &self.client_id,
            &self.secret,
            chrono::Utc::now().timestamp(),
        );
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {}{path}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            bail!("{method} {path}: {status}: {}", admin_message(&value));
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// An admin error's `message`: a text, or upstream's `{"field": ["…"]}`.
fn admin_message(value: &Value) -> String {
    match value.get("message") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(field, errors)| {
                let errors = match errors {
                    Value::Array(list) => list
                        .iter()
                        .map(|e| e.as_str().map(str::to_string).unwrap_or(e.to_string()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                format!("{field}: {errors}")
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => value.to_string(),
    }
}

/// What the file is checked against, from the admin API's template and service.
fn csv_template(template: &Value, service: &Value) -> anyhow::Result<CsvTemplate> {
    let template_type: NotificationType = template["template_type"]
        .as_str()
        .and_then(NotificationType::parse)
        .context("the template has no template_type")?;
    let text = |name: &str| template[name].as_str().unwrap_or("").to_string();
    let (subject, content, contact) = (
        text("subject"),
        text("content"),
        text("letter_contact_block"),
    );
    let mut texts = vec![subject.as_str(), content.as_str()];
    if template_type == NotificationType::Letter {
        texts.push(contact.as_str());
    }
    let permissions: Vec<&str> = service["permissions"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(CsvTemplate {
        template_type,
        placeholders: notify_core::templates::placeholder_names(&texts),
        international_sms: permissions.contains(&"international_sms"),
        international_letters: permissions.contains(&"international_letters"),
        max_rows: MAX_ROWS,
    })
}

/// The problem as the admin app's check page words it; row errors one a line.
pub fn describe(problem: &CsvProblem) -> Vec<String> {
    match problem {
        CsvProblem::Unreadable(why) => vec![format!("The file could not be read: {why}")],
        CsvProblem::MissingColumns(names) => vec![format!(
            "Your file is missing {}: {}",
            if names.len() == 1 {
                "a column called"
            } else {
                "columns called"
            },
            names.join(", ")
        )],
        CsvProblem::DuplicateColumns(names) => vec![format!(
            "Your file has more than one column called {}",
            names.join(", ")
        )],
        CsvProblem::NoRows => vec!["Your file has no rows of data".into()],
        CsvProblem::TooManyRows { rows, max } => vec![format!(
            "Your file has too many rows: {rows}; Notify can process up to {max} rows at once"
        )],
        CsvProblem::RowErrors(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

pub async fn run(command: JobCommand, j: bool) -> anyhow::Result<()> {
    let config = configuration().await?;
    match command {
        JobCommand::Send(args) => send(&config, args, j).await,
        JobCommand::List { service, page, api } => {
            let admin = AdminClient::new(&config, &api)?;
            let jobs = admin
                .get(&format!("/service/{service}/job?page={page}"))
                .await?;
            print(j, jobs, |v| {
                let rows: Vec<String> = v["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|job| {
                        format!(
                            "{}  {:<32}  {:>6} rows  {}  {}",
                            job["id"].as_str().unwrap_or(""),
                            job["job_status"].as_str().unwrap_or(""),
                            job["notification_count"],
                            job["created_at"].as_str().unwrap_or(""),
                            job["original_file_name"].as_str().unwrap_or(""),
                        )
                    })
                    .collect();
                if rows.is_empty() {
                    "no jobs".into()
                } else {
                    rows.join("\n")
                }
            });
            Ok(())
        }
        JobCommand::Show {
            service,
            job_id,
            api,
        } => {
            let admin = AdminClient::new(&config, &api)?;
            let job = admin
                .get(&format!("/service/{service}/job/{job_id}"))
                .await?;
            print(j, job["data"].clone(), job_text);
            Ok(())
        }
        JobCommand::Cancel {
            service,
            job_id,
            api,
        } => {
            let admin = AdminClient::new(&config, &api)?;
            let job = admin
                .post(
                    &format!("/service/{service}/job/{job_id}/cancel"),
                    json!({}),
                )
                .await?;
            print(j, job["data"].clone(), job_text);
            Ok(())
        }
    }
}

fn job_text(job: &Value) -> String {
    let mut lines = vec![
        format!("job {}", job["id"].as_str().unwrap_or("")),
        format!("  status      {}", job["job_status"].as_str().unwrap_or("")),
        format!(
            "  template    {} ({})",
            job["template_name"].as_str().unwrap_or(""),
            job["template_type"].as_str().unwrap_or("")
        ),
        format!(
            "  file        {}",
            job["original_file_name"].as_str().unwrap_or("")
        ),
        format!("  rows        {}", job["notification_count"]),
        format!("  created at  {}", job["created_at"].as_str().unwrap_or("")),
    ];
    if let Some(at) = job["scheduled_for"].as_str() {
        lines.push(format!("  scheduled   {at}"));
    }
    // Under their own heading: a status ("permanent-failure") is wider than the labels above.
    let statistics = job["statistics"].as_array().into_iter().flatten();
    if job["statistics"].as_array().is_some_and(|s| !s.is_empty()) {
        lines.push("  notifications by status".to_string());
    }
    for statistic in statistics {
        lines.push(format!(
            "    {:<24}{}",
            statistic["status"].as_str().unwrap_or(""),
            statistic["count"]
        ));
    }
    lines.join("\n")
}

/// A job's statuses that end the wait (`error` does not: `check-job-status` queues it again).
const DONE: [&str; 3] = [
    "finished all notifications created",
    "cancelled",
    "sending limits exceeded",
];

/// Statuses a notification has once it has left Notify.
const SENT: [&str; 7] = [
    "sending",
    "sent",
    "delivered",
    "pending",
    "pending-virus-check",
    "returned-letter",
    "permanent-failure",
];

/// Rows created (notifications of any status) and sent, from a job's `statistics`.
fn figures(job: &Value) -> (u64, u64) {
    let mut created = 0;
    let mut sent = 0;
    for statistic in job["statistics"].as_array().into_iter().flatten() {
        let count = statistic["count"].as_u64().unwrap_or(0);
        created += count;
        if SENT.contains(&statistic["status"].as_str().unwrap_or("")) {
            sent += count;
        }
    }
    (created, sent)
}

async fn send(config: &Config, args: SendArgs, j: bool) -> anyhow::Result<()> {
    let SendArgs {
        service,
        template,
        csv,
        scheduled_for,
        created_by,
        no_wait,
        api,
    } = args;
    let bytes = std::fs::read(&csv).with_context(|| format!("reading {}", csv.display()))?;
    let admin = AdminClient::new(config, &api)?;
    let template_json = admin
        .get(&format!("/service/{service}/template/{template}"))
        .await?;
    let service_json = admin.get(&format!("/service/{service}")).await?;
    let checked = match recipient_csv::check(
        &bytes,
        &csv_template(&template_json["data"], &service_json["data"])?,
    ) {
        Ok(checked) => checked,
        Err(problem) => {
            let lines = describe(&problem);
            if j {
                print(true, json!({"errors": lines}), |_| String::new());
            } else {
                for line in &lines {
                    eprintln!("{line}");
                }
            }
            bail!(
                "{} is not sent: fix the file and send it again",
                csv.display()
            );
        }
    };
    let created_by = match created_by {
        Some(id) => id,
        None => {
            let users = admin.get(&format!("/service/{service}/users")).await?;
            users["data"][0]["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .context("the service has no users: give --created-by USER_ID")?
        }
    };

    // Stored as the admin app stores an upload that passed its check: upstream's key and metadata.
    let upload_id = Uuid::new_v4();
    let metadata = JobMetadata {
        template_id: Some(template),
        notification_count: Some(checked.row_count as u32),
        valid: true,
        original_file_name: csv
            .file_name()
            .map(|name| name.to_string_lossy().into_owned()),
        sender_id: None,
    };
    let files = notify_files::from_config(&config.files).await;
    files
        .put_with_metadata(
            &csv_upload_key(service, upload_id),
            bytes,
            "text/csv",
            &metadata.to_map(),
        )
        .await
        .context("storing the file")?;

    let mut body = json!({"id": upload_id, "created_by": created_by});
    if let Some(at) = scheduled_for {
        body["scheduled_for"] = json!(at);
    }
    let created = admin.post(&format!("/service/{service}/job"), body).await?;
    let job_id = created["data"]["id"]
        .as_str()
        .context("the created job has no id")?
        .to_string();
    let status = created["data"]["job_status"].as_str().unwrap_or("");
    if no_wait || status == "scheduled" {
        print(j, created["data"].clone(), job_text);
        return Ok(());
    }

    let total = checked.row_count as u64;
    let bar = if j {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} created ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        )
    };
    let path = format!("/service/{service}/job/{job_id}");
    let job = loop {
        let job = admin.get(&path).await?["data"].clone();
        let (created, sent) = figures(&job);
        let status = job["job_status"].as_str().unwrap_or("").to_string();
        bar.set_position(created.min(total));
        bar.set_message(format!("{status}, {sent} sent"));
        if DONE.contains(&status.as_str()) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    let (created, sent) = figures(&job);
    print(j, job.clone(), |job| {
        format!(
            "{}\n{created} of {total} notifications created, {sent} sent",
            job_text(job)
        )
    });
    if job["job_status"] != "finished all notifications created" {
        bail!("job {job_id} ended {}", job["job_status"]);
    }
    Ok(())
}
