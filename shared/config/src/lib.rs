//! Typed configuration from the environment: one table of variables with their defaults ([`VARIABLES`]) and
//! sections read from it, each loadable alone, so that a function builds only what it uses: the callbacks
//! function a [`CallbackWorkerConfig`], migrate a [`DatabaseConfig`], the API an [`ApiFunctionConfig`], the other
//! workers, every CLI command and `notify dev` (which only fills in [`DEVELOPMENT`] values for what is unset) the
//! whole [`Config`]. In AWS the secret values come from Secrets Manager ARNs instead ([`secrets`]).

pub mod aws;
pub mod secrets;
mod sections;
mod variables;

use std::collections::HashMap;

pub use secrecy::{ExposeSecret, SecretString};
pub use secrets::fetch_json;
pub use sections::{
    ApiConfig, CallbackConfig, DatabaseConfig, DatabaseCredentials, DeliveryConfig, FilesConfig,
    LocalStack, PrintConfig, ProviderConfig, QueueConfig, ScanConfig, ScannerKind, SecretKey,
};
pub use variables::{
    DEV_ADMIN_CLIENT_SECRET, DEV_SECRET_KEY, DEVELOPMENT, VARIABLES, Variable,
    differing_from_defaults, environment, shown,
};

use variables::Vars;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Everything: what `AppState` holds for the API and the workers that touch the database (delivery, status,
/// scheduled), the CLI and `notify dev`. It cannot be built without a `SECRET_KEY`.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub queues: QueueConfig,
    pub callbacks: CallbackConfig,
    pub providers: ProviderConfig,
    pub delivery: DeliveryConfig,
    pub api: ApiConfig,
    pub files: FilesConfig,
    pub print: PrintConfig,
    pub scan: ScanConfig,
    pub secret_key: SecretKey,
    /// CloudWatch embedded metrics go to stdout under this namespace; none without it.
    pub metrics_namespace: Option<String>,
    pub local: LocalStack,
}

/// The callbacks function's: its queues, how it calls, and the key to the bearer tokens. Nothing about the
/// database or the providers.
#[derive(Clone, Debug)]
pub struct CallbackWorkerConfig {
    pub queues: QueueConfig,
    pub callbacks: CallbackConfig,
    pub secret_key: SecretKey,
    pub metrics_namespace: Option<String>,
}

/// The API function's: the whole [`Config`] with at least one `ADMIN_CLIENT_SECRET`, since it serves the admin
/// endpoints.
#[derive(Clone, Debug)]
pub struct ApiFunctionConfig(Config);

/// `vars` resolved (Secrets Manager, RDS Proxy), then read by `read`.
async fn load_with<T>(
    vars: HashMap<String, String>,
    read: impl FnOnce(&Vars, DatabaseCredentials) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let (vars, credentials) = secrets::resolve(vars).await?;
    let lookup = |name: &str| vars.get(name).cloned();
    read(&Vars::new(&lookup), credentials)
}

/// This process's environment resolved and read by `read`, with its metrics namespace installed.
async fn load_environment<T>(
    read: impl FnOnce(&Vars, DatabaseCredentials) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    // Boxed: the SDK calls inside make a future deep enough to overflow the compiler's layout queries in the
    // functions that await it inside their own handlers (migrate).
    Box::pin(load_with(environment(), |vars, credentials| {
        let loaded = read(vars, credentials)?;
        notify_core::metrics::init(vars.get("METRICS_NAMESPACE").as_deref());
        Ok(loaded)
    }))
    .await
}

impl Config {
    /// The process's configuration, from its environment (and, in AWS, Secrets Manager), with its metrics
    /// namespace installed.
    pub async fn load() -> Result<Self, ConfigError> {
        load_environment(Config::read).await
    }

    /// The configuration `vars` describe, their secrets and database resolved as [`secrets::resolve`] says.
    pub async fn load_from(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        load_with(vars, Config::read).await
    }

    fn read(vars: &Vars, credentials: DatabaseCredentials) -> Result<Self, ConfigError> {
        Ok(Config {
            database: DatabaseConfig::read(vars, credentials)?,
            queues: QueueConfig::read(vars),
            callbacks: CallbackConfig::read(vars)?,
            providers: ProviderConfig::read(vars)?,
            delivery: DeliveryConfig::read(vars)?,
            api: ApiConfig::read(vars)?,
            files: FilesConfig::read(vars),
            print: PrintConfig::read(vars)?,
            scan: ScanConfig::read(vars)?,
            metrics_namespace: vars.get("METRICS_NAMESPACE"),
            local: LocalStack::read(vars)?,
            // Last, so that a malformed value is reported before a missing key, as before.
            secret_key: SecretKey::read(vars)?,
        })
    }

    /// The development configuration (what `notify dev` runs with in an empty environment) on this database:
    /// for tests.
    pub fn for_development(database_url: impl Into<String>) -> Self {
        let mut vars: HashMap<String, String> = DEVELOPMENT
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.insert("DATABASE_URL".into(), database_url.into());
        let lookup = |name: &str| vars.get(name).cloned();
        Config::read(&Vars::new(&lookup), DatabaseCredentials::InUrl)
            .expect("the development values are valid")
    }

    /// The callbacks worker's sections of this configuration (the local stack runs that worker in-process).
    pub fn callback_worker(&self) -> CallbackWorkerConfig {
        CallbackWorkerConfig {
            queues: self.queues.clone(),
            callbacks: self.callbacks.clone(),
            secret_key: self.secret_key.clone(),
            metrics_namespace: self.metrics_namespace.clone(),
        }
    }
}

impl CallbackWorkerConfig {
    pub async fn load() -> Result<Self, ConfigError> {
        load_environment(|vars, _| CallbackWorkerConfig::read(vars)).await
    }

    pub async fn load_from(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        load_with(vars, |vars, _| CallbackWorkerConfig::read(vars)).await
    }

    fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(CallbackWorkerConfig {
            queues: QueueConfig::read(vars),
            callbacks: CallbackConfig::read(vars)?,
            metrics_namespace: vars.get("METRICS_NAMESPACE"),
            secret_key: SecretKey::read(vars)?,
        })
    }
}

impl ApiFunctionConfig {
    pub async fn load() -> Result<Self, ConfigError> {
        load_environment(ApiFunctionConfig::read).await
    }

    pub async fn load_from(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        load_with(vars, ApiFunctionConfig::read).await
    }

    fn read(vars: &Vars, credentials: DatabaseCredentials) -> Result<Self, ConfigError> {
        let config = Config::read(vars, credentials)?;
        if config.api.admin_client_secrets.is_empty() {
            return Err(ConfigError("ADMIN_CLIENT_SECRET must be set".into()));
        }
        Ok(ApiFunctionConfig(config))
    }

    pub fn into_config(self) -> Config {
        self.0
    }
}

impl DatabaseConfig {
    /// The migrate function's: the database alone, no secret key.
    pub async fn load() -> Result<Self, ConfigError> {
        load_environment(DatabaseConfig::read).await
    }

    pub async fn load_from(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        load_with(vars, DatabaseConfig::read).await
    }
}

impl ApiConfig {
    /// What a client of a deployed API needs (the CLI's `notify api`): no secret key, no database.
    pub async fn load_from(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        load_with(vars, |vars, _| ApiConfig::read(vars)).await
    }
}

#[cfg(test)]
mod tests;
