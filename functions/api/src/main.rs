//! API Gateway (HTTP API, payload v2) → the shared router. Clients are built once per execution environment.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = notify_config::Config::load().await?;
    config.require_secret_key()?;
    config.require_admin_client_secret()?;
    let state = notify_app::AppState::from_config(config, "notify-api").await?;
    lambda_http::run(notify_http::router(state)).await
}
