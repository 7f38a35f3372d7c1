//! API Gateway (HTTP API, payload v2) → the shared router. Clients are built once per execution environment.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    // The whole configuration, with SECRET_KEY and ADMIN_CLIENT_SECRET: it cannot be loaded without them.
    let config = notify_config::ApiFunctionConfig::load()
        .await?
        .into_config();
    let state = notify_app::AppState::from_config(config, "notify-api").await?;
    lambda_http::run(notify_http::router(state)).await
}
