//! `notify admin-api METHOD PATH`: a deployed stack's admin API, called with a freshly signed admin JWT.

use anyhow::{Context, bail};
use clap::Args;
use notify_config as config;
use notify_config::ExposeSecret;
use serde_json::Value;

#[derive(Args)]
pub struct AdminApiArgs {
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
}

pub async fn run(args: AdminApiArgs) -> anyhow::Result<()> {
    let AdminApiArgs {
        api_url,
        client_id,
        secret,
        method,
        path,
        data,
    } = args;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The stack's own settings, not development ones: this calls a deployed API.
    let api = config::ApiConfig::load_from(config::environment()).await?;
    let client_id = client_id.unwrap_or(api.admin_client_id);
    let secret = secret
        .or_else(|| {
            let first = api.admin_client_secrets.first();
            first.map(|s| s.expose_secret().to_string())
        })
        .context("--secret or ADMIN_CLIENT_SECRET must be set")?;
    let token = notify_app::auth::create_token(&client_id, &secret, chrono::Utc::now().timestamp());
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
    Ok(())
}
