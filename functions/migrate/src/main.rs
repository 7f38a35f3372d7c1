//! CloudFormation custom resource → run the pending migrations → answer on the pre-signed URL. Configuration is
//! loaded inside the invocation, so that a missing secret is reported to CloudFormation as a failure too.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT), each line inside the invocation's span
    // with its requestId.
    lambda_runtime::tracing::init_default_subscriber();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let http = &http;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CloudFormationCustomResourceRequest>| async move {
            let time_left = notify_core::time::budget_before(event.context.deadline);
            let migrate = || async {
                // The database alone: migrate needs no secret key.
                let database = notify_config::DatabaseConfig::load().await?;
                let db = notify_db::Db::short_lived(&database, 1, "notify-migrate")?;
                Ok(db.migrate().await?)
            };
            let response =
                notify_outbound::cloudformation::handle(http, event.payload, migrate, time_left)
                    .await?;
            Ok::<_, Error>(response)
        },
    ))
    .await
}
