use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::crypto::Encryptor;
use crate::db::Db;
use crate::limits::Limiter;
use crate::queue::{InProcessQueue, Queue, SqsQueue};

/// Everything a request needs, built once per process (per Lambda execution environment).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub encryptor: Encryptor,
    pub limiter: Arc<Limiter>,
    pub queue: Arc<dyn Queue>,
    /// Tests fix the time to check the ±30 s token window and daily limits.
    pub clock: fn() -> DateTime<Utc>,
}

impl AppState {
    pub fn new(config: Config, db: Db, queue: Arc<dyn Queue>) -> Self {
        let limiter = match &config.redis_url {
            Some(url) => Limiter::redis(url).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "REDIS_URL unusable: limits kept in-process");
                Limiter::in_process()
            }),
            None => Limiter::in_process(),
        };
        AppState {
            encryptor: Encryptor::new(&config.secret_key),
            config: Arc::new(config),
            db,
            limiter: Arc::new(limiter),
            queue,
            clock: Utc::now,
        }
    }

    /// From the environment: SQS when `SQS_ENDPOINT_URL` or an AWS runtime is present, in-process otherwise.
    pub async fn from_config(config: Config, application_name: &str) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = Db::connect(
            &config.database_url,
            config.database_pool_size,
            application_name,
        )?;
        let use_sqs = config.sqs_endpoint_url.is_some()
            || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let queue: Arc<dyn Queue> = if use_sqs {
            Arc::new(SqsQueue::from_env(config.sqs_endpoint_url.as_deref()).await)
        } else {
            Arc::new(InProcessQueue::default())
        };
        Ok(AppState::new(config, db, queue))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}
