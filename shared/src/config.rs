//! Typed configuration from the environment. In AWS the secret values come from Secrets Manager ARNs instead.

use std::collections::HashMap;
use std::env;

async fn fetch_json(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<serde_json::Value, ConfigError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            ConfigError(format!(
                "{arn}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| ConfigError(format!("{arn} has no secret string")))?;
    serde_json::from_str(text).map_err(|e| ConfigError(format!("{arn} is not JSON: {e}")))
}

/// The proxy's URL without a password (that comes from a [`crate::db::PasswordSource`]); TLS required, and
/// verified against the webpki roots, which hold the Amazon roots behind RDS Proxy's ACM certificates.
fn database_url(host: &str, port: u16, user: &str, name: &str) -> Result<String, ConfigError> {
    let mut url = url::Url::parse(&format!("postgres://{host}"))
        .map_err(|e| ConfigError(format!("DB_HOST: {e}")))?;
    let _ = url.set_username(user);
    let _ = url.set_port(Some(port));
    url.set_path(name);
    url.set_query(Some("sslmode=require"));
    Ok(url.to_string())
}

/// The RDS secret's password, read once per execution environment and again after the server refused it (the
/// secret was rotated).
struct SecretPassword {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    cached: std::sync::Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl crate::db::PasswordSource for SecretPassword {
    async fn password(&self) -> anyhow::Result<String> {
        if let Some(password) = self.cached.lock().expect("password cache").clone() {
            return Ok(password);
        }
        let secret = fetch_json(&self.client, &self.arn).await?;
        let password = secret
            .get("password")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ConfigError(format!("{} has no password", self.arn)))?
            .to_string();
        *self.cached.lock().expect("password cache") = Some(password.clone());
        Ok(password)
    }

    fn refused(&self) {
        *self.cached.lock().expect("password cache") = None;
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    /// Where the password comes from when it is not in the URL (RDS Proxy in AWS: an IAM token or the RDS secret).
    pub database_password: Option<crate::db::DatabasePassword>,
    /// The local pool's cap; on Lambda each execution environment needs one connection.
    pub database_pool_size: usize,
    pub redis_url: Option<String>,
    /// Encryption at rest for API key secrets, callback tokens, personalisation and inbound SMS text.
    pub secret_key: String,
    pub admin_client_id: String,
    /// Several secrets may be valid at once so that they can be rotated.
    pub admin_client_secrets: Vec<String>,
    /// Base of every `uri` field, e.g. `https://api.notifications.service.gov.uk`, without a trailing slash.
    pub api_host_name: String,
    pub notify_email_domain: String,
    /// Base of the test document URL that simulated recipients get for a file.
    pub document_download_api_host: String,
    pub sqs_endpoint_url: Option<String>,
    pub queues: QueueNames,
    /// Firetext's send endpoint and key; without a key Firetext is not used.
    pub firetext_url: String,
    pub firetext_api_key: Option<String>,
    /// Send email through Amazon SES v2 (`SES_ENABLED`).
    pub ses_enabled: bool,
    pub ses_endpoint_url: Option<String>,
    /// Its event destination is the SNS topic that feeds the status queue.
    pub ses_configuration_set: Option<String>,
    /// Send texts through AWS End User Messaging SMS (`AWS_SMS_ENABLED`).
    pub aws_sms_enabled: bool,
    pub aws_sms_endpoint_url: Option<String>,
    pub aws_sms_configuration_set: Option<String>,
    /// A pool, phone number or sender id; unset, the notification's own sender is used.
    pub aws_sms_origination_identity: Option<String>,
    /// `user:password` pairs providers must present (HTTP Basic) when they post receipts and inbound texts;
    /// empty means those endpoints are open (behind the providers' IP allow-list).
    pub provider_callback_credentials: Vec<String>,
    /// Service callbacks: hosts or addresses callable although not public (tests, local development).
    pub callback_allow_private_hosts: Vec<String>,
    /// A PEM file of extra roots for receivers behind a private CA.
    pub callback_ca_bundle: Option<std::path::PathBuf>,
    pub callback_timeout: std::time::Duration,
    /// Notify's policy: 5 retries, 300 s apart, then the DLQ.
    pub callback_max_retries: u32,
    pub callback_retry_delay: std::time::Duration,
    /// How long a notification may stay `created` before the replay job queues it again.
    pub replay_after: std::time::Duration,
    /// Notify's retry policy for provider sends: attempts in all, and the delay between retries after the
    /// first (which is immediate).
    pub delivery_max_attempts: u32,
    pub delivery_retry_delay: std::time::Duration,
    /// Live sends go to the simulated provider too (the local stack's default; never in AWS).
    pub simulate_providers: bool,
    /// How long a service, its keys, current templates and senders are reused before being read again.
    pub lookup_cache_ttl: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct QueueNames {
    pub deliver_sms: String,
    pub deliver_email: String,
    pub deliver_letter: String,
    /// Provider receipts.
    pub status: String,
    /// Service callbacks, each complete (URL, encrypted token, body).
    pub callbacks: String,
    /// Callbacks whose retries ran out, each with its last error.
    pub callbacks_dlq: String,
}

impl Default for QueueNames {
    fn default() -> Self {
        QueueNames {
            deliver_sms: "deliver-sms".into(),
            deliver_email: "deliver-email".into(),
            deliver_letter: "deliver-letter".into(),
            status: "status".into(),
            callbacks: "service-callbacks".into(),
            callbacks_dlq: "service-callbacks-dlq".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Two seconds: a revoked key or edited template is seen within that, as with upstream's cached lookups.
/// Notify's policy: 48 attempts, 5 minutes apart, then `technical-failure`.
pub const DEFAULT_DELIVERY_MAX_ATTEMPTS: u64 = 48;
pub const DEFAULT_DELIVERY_RETRY_SECONDS: u64 = 300;

pub const DEFAULT_LOOKUP_CACHE_MS: u64 = 2000;

pub const DEFAULT_FIRETEXT_URL: &str = "https://www.firetext.co.uk/api/sendsms/json";

pub const DEFAULT_DOCUMENT_DOWNLOAD_API_HOST: &str =
    "https://download.notifications.service.gov.uk";

/// Development values: `notify dev` uses them and prints them, nothing else should.
pub const DEV_SECRET_KEY: &str = "dev-only-secret-key-do-not-use-in-production";
pub const DEV_ADMIN_CLIENT_SECRET: &str = "dev-notify-secret-key";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_lookup(&|name| env::var(name).ok())
    }

    /// In AWS the secrets come from Secrets Manager: `APP_SECRET_ARN` (`secret_key`), `ADMIN_SECRET_ARN`
    /// (`admin_client_secret`) and `PROVIDER_SECRET_ARN` (`firetext_api_key`, `provider_callback_credentials`), each
    /// a JSON object, only those the function needs. The database is the RDS Proxy at `DB_HOST`/`DB_PORT`/`DB_NAME`
    /// over verified TLS, as `DB_USER` with an IAM token (`DB_AUTH=iam`) or with the RDS secret at `DB_SECRET_ARN`.
    /// Either password is cached per execution environment and made or read again when it expires or is refused.
    pub async fn load() -> Result<Self, ConfigError> {
        let mut overlay: HashMap<String, String> = HashMap::new();
        let set = |name: &str| env::var(name).ok().filter(|v| !v.is_empty());
        let secret_arns: Vec<String> =
            ["APP_SECRET_ARN", "ADMIN_SECRET_ARN", "PROVIDER_SECRET_ARN"]
                .iter()
                .filter_map(|name| set(name))
                .collect();
        let db_arn = set("DB_SECRET_ARN");
        let iam = set("DB_AUTH").is_some_and(|v| v == "iam");
        let mut database_password = None;
        if !secret_arns.is_empty() || db_arn.is_some() || iam {
            let sdk = crate::aws::sdk_config(None).await;
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            for arn in &secret_arns {
                let secret = fetch_json(&client, arn).await?;
                for (key, var) in [
                    ("secret_key", "SECRET_KEY"),
                    ("admin_client_secret", "ADMIN_CLIENT_SECRET"),
                    ("firetext_api_key", "FIRETEXT_API_KEY"),
                    (
                        "provider_callback_credentials",
                        "PROVIDER_CALLBACK_CREDENTIALS",
                    ),
                ] {
                    if let Some(v) = secret.get(key).and_then(|v| v.as_str()) {
                        overlay.insert(var.into(), v.into());
                    }
                }
            }
            let host = || set("DB_HOST").ok_or_else(|| ConfigError("DB_HOST must be set".into()));
            let port = set("DB_PORT").and_then(|p| p.parse().ok()).unwrap_or(5432);
            let name = set("DB_NAME").unwrap_or_else(|| "notify".into());
            if iam {
                let user = set("DB_USER")
                    .ok_or_else(|| ConfigError("DB_USER must be set for DB_AUTH=iam".into()))?;
                let who = crate::rds_auth::ProxyUser {
                    region: sdk
                        .region()
                        .map(|r| r.to_string())
                        .ok_or_else(|| ConfigError("AWS_REGION must be set".into()))?,
                    host: host()?,
                    port,
                    user,
                };
                let credentials = sdk.credentials_provider().ok_or_else(|| {
                    ConfigError("no AWS credentials for the IAM database token".into())
                })?;
                overlay.insert(
                    "DATABASE_URL".into(),
                    database_url(&who.host, port, &who.user, &name)?,
                );
                database_password = Some(crate::db::DatabasePassword(std::sync::Arc::new(
                    crate::rds_auth::IamTokens::new(who, credentials),
                )));
            } else if let Some(arn) = db_arn {
                let secret = fetch_json(&client, &arn).await?;
                let field = |k: &str| secret.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let host = set("DB_HOST")
                    .or_else(|| field("host"))
                    .ok_or_else(|| ConfigError("DB_HOST must be set".into()))?;
                let user = field("username").unwrap_or_default();
                overlay.insert(
                    "DATABASE_URL".into(),
                    database_url(&host, port, &user, &name)?,
                );
                database_password = Some(crate::db::DatabasePassword(std::sync::Arc::new(
                    SecretPassword {
                        client,
                        arn,
                        cached: std::sync::Mutex::new(field("password")),
                    },
                )));
            }
        }
        let mut config = Config::from_lookup(&|name| {
            overlay.get(name).cloned().or_else(|| env::var(name).ok())
        })?;
        config.database_password = database_password;
        Ok(config)
    }

    /// For the functions that encrypt or decrypt (API keys, personalisation, callback tokens, inbound texts).
    pub fn require_secret_key(&self) -> Result<(), ConfigError> {
        if self.secret_key.is_empty() {
            return Err(ConfigError("SECRET_KEY must be set".into()));
        }
        Ok(())
    }

    /// For the API, which serves the admin endpoints.
    pub fn require_admin_client_secret(&self) -> Result<(), ConfigError> {
        if self.admin_client_secrets.is_empty() {
            return Err(ConfigError("ADMIN_CLIENT_SECRET must be set".into()));
        }
        Ok(())
    }

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let number = |name: &str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError(format!("{name} must be a number, not {v:?}"))),
                None => Ok(default),
            }
        };
        let list = |name: &str| -> Vec<String> {
            var(name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let flag = |name: &str| var(name).is_some_and(|v| v == "true" || v == "1");
        let database_pool_size = match var("DATABASE_POOL_SIZE") {
            Some(v) => v.parse().map_err(|_| {
                ConfigError(format!("DATABASE_POOL_SIZE must be a number, not {v:?}"))
            })?,
            None => 10,
        };
        let defaults = QueueNames::default();
        Ok(Config {
            // Optional here: the callbacks function has no database; `Db::connect` refuses an empty one.
            database_url: var("DATABASE_URL").unwrap_or_default(),
            database_password: None,
            database_pool_size,
            redis_url: var("REDIS_URL"),
            // Each function is given only the secrets it uses; those that need one say so with `require_*`.
            secret_key: var("SECRET_KEY").unwrap_or_default(),
            admin_client_id: var("ADMIN_CLIENT_ID").unwrap_or_else(|| "notify-admin".into()),
            admin_client_secrets: var("ADMIN_CLIENT_SECRET")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            api_host_name: var("API_HOST_NAME")
                .unwrap_or_else(|| "http://127.0.0.1:6011".into())
                .trim_end_matches('/')
                .to_string(),
            notify_email_domain: var("NOTIFY_EMAIL_DOMAIN")
                .unwrap_or_else(|| "notifications.service.gov.uk".into()),
            document_download_api_host: var("DOCUMENT_DOWNLOAD_API_HOST")
                .unwrap_or_else(|| DEFAULT_DOCUMENT_DOWNLOAD_API_HOST.into()),
            sqs_endpoint_url: var("SQS_ENDPOINT_URL"),
            firetext_url: var("FIRETEXT_URL").unwrap_or_else(|| DEFAULT_FIRETEXT_URL.into()),
            firetext_api_key: var("FIRETEXT_API_KEY"),
            ses_enabled: flag("SES_ENABLED"),
            ses_endpoint_url: var("SES_ENDPOINT_URL"),
            ses_configuration_set: var("SES_CONFIGURATION_SET"),
            aws_sms_enabled: flag("AWS_SMS_ENABLED"),
            aws_sms_endpoint_url: var("AWS_SMS_ENDPOINT_URL"),
            aws_sms_configuration_set: var("AWS_SMS_CONFIGURATION_SET"),
            aws_sms_origination_identity: var("AWS_SMS_ORIGINATION_IDENTITY"),
            simulate_providers: flag("SIMULATE_PROVIDERS"),
            replay_after: std::time::Duration::from_secs(number("REPLAY_AFTER_SECONDS", 300)?),
            callback_allow_private_hosts: list("CALLBACK_ALLOW_PRIVATE_HOSTS"),
            callback_ca_bundle: var("CALLBACK_CA_BUNDLE").map(Into::into),
            callback_timeout: std::time::Duration::from_millis(number(
                "CALLBACK_TIMEOUT_MS",
                5000,
            )?),
            callback_max_retries: number("CALLBACK_MAX_RETRIES", 5)? as u32,
            callback_retry_delay: std::time::Duration::from_secs(number(
                "CALLBACK_RETRY_SECONDS",
                300,
            )?),
            provider_callback_credentials: var("PROVIDER_CALLBACK_CREDENTIALS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            delivery_max_attempts: number("DELIVERY_MAX_ATTEMPTS", DEFAULT_DELIVERY_MAX_ATTEMPTS)?
                as u32,
            delivery_retry_delay: std::time::Duration::from_secs(number(
                "DELIVERY_RETRY_SECONDS",
                DEFAULT_DELIVERY_RETRY_SECONDS,
            )?),
            lookup_cache_ttl: std::time::Duration::from_millis(match var("LOOKUP_CACHE_MS") {
                Some(v) => v.parse().map_err(|_| {
                    ConfigError(format!("LOOKUP_CACHE_MS must be a number, not {v:?}"))
                })?,
                None => DEFAULT_LOOKUP_CACHE_MS,
            }),
            queues: QueueNames {
                deliver_sms: var("DELIVER_SMS_QUEUE").unwrap_or(defaults.deliver_sms),
                deliver_email: var("DELIVER_EMAIL_QUEUE").unwrap_or(defaults.deliver_email),
                deliver_letter: var("DELIVER_LETTER_QUEUE").unwrap_or(defaults.deliver_letter),
                status: var("STATUS_QUEUE").unwrap_or(defaults.status),
                callbacks: var("CALLBACKS_QUEUE").unwrap_or(defaults.callbacks),
                callbacks_dlq: var("CALLBACKS_DLQ").unwrap_or(defaults.callbacks_dlq),
            },
        })
    }

    /// A configuration for tests and the local stack: development secrets, in-process queue.
    pub fn for_development(database_url: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            database_password: None,
            database_pool_size: 10,
            redis_url: None,
            secret_key: DEV_SECRET_KEY.into(),
            admin_client_id: "notify-admin".into(),
            admin_client_secrets: vec![DEV_ADMIN_CLIENT_SECRET.into()],
            api_host_name: "http://127.0.0.1:6011".into(),
            notify_email_domain: "notifications.service.gov.uk".into(),
            document_download_api_host: DEFAULT_DOCUMENT_DOWNLOAD_API_HOST.into(),
            sqs_endpoint_url: None,
            firetext_url: DEFAULT_FIRETEXT_URL.into(),
            firetext_api_key: None,
            ses_enabled: false,
            ses_endpoint_url: None,
            ses_configuration_set: None,
            aws_sms_enabled: false,
            aws_sms_endpoint_url: None,
            aws_sms_configuration_set: None,
            aws_sms_origination_identity: None,
            simulate_providers: true,
            provider_callback_credentials: Vec::new(),
            replay_after: std::time::Duration::from_secs(300),
            callback_allow_private_hosts: Vec::new(),
            callback_ca_bundle: None,
            callback_timeout: std::time::Duration::from_secs(5),
            callback_max_retries: 5,
            callback_retry_delay: std::time::Duration::from_secs(300),
            delivery_max_attempts: DEFAULT_DELIVERY_MAX_ATTEMPTS as u32,
            delivery_retry_delay: std::time::Duration::from_secs(DEFAULT_DELIVERY_RETRY_SECONDS),
            queues: QueueNames::default(),
            lookup_cache_ttl: std::time::Duration::from_millis(DEFAULT_LOOKUP_CACHE_MS),
        }
    }
}
