//! Typed configuration from the environment: one loader and one table of variables with their defaults
//! ([`VARIABLES`]), used alike by every function, every CLI command and `notify dev` (which only fills in
//! [`DEVELOPMENT`] values for what is unset). In AWS the secret values come from Secrets Manager ARNs instead.

pub mod aws;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

/// A Secrets Manager secret that holds a JSON object.
pub async fn fetch_json(
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

/// The proxy's URL without a password (that comes from [`DatabaseCredentials`]); TLS required, and
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

/// One environment variable the loader reads.
#[derive(Clone, Copy, Debug)]
pub struct Variable {
    pub name: &'static str,
    /// What an unset or empty variable means, parsed like a given value; `None`: nothing.
    pub default: Option<&'static str>,
    /// Never printed.
    pub secret: bool,
}

const fn var(name: &'static str, default: Option<&'static str>) -> Variable {
    Variable {
        name,
        default,
        secret: false,
    }
}

const fn secret(name: &'static str) -> Variable {
    Variable {
        name,
        default: None,
        secret: true,
    }
}

/// Every variable the loader reads, with its default: the README's configuration table lists exactly these
/// (a test compares them).
pub const VARIABLES: &[Variable] = &[
    var("DATABASE_URL", None),
    var("DATABASE_POOL_SIZE", Some("10")),
    var("REDIS_URL", None),
    secret("SECRET_KEY"),
    var("ADMIN_CLIENT_ID", Some("notify-admin")),
    secret("ADMIN_CLIENT_SECRET"),
    var("API_HOST_NAME", Some("http://127.0.0.1:6011")),
    var("NOTIFY_EMAIL_DOMAIN", Some("notifications.service.gov.uk")),
    var(
        "DOCUMENT_DOWNLOAD_API_HOST",
        Some("https://download.notifications.service.gov.uk"),
    ),
    // Two seconds: a revoked key or edited template is seen within that, as with upstream's cached lookups.
    var("LOOKUP_CACHE_MS", Some("2000")),
    var("SQS_ENDPOINT_URL", None),
    var("DELIVER_SMS_QUEUE", Some("deliver-sms")),
    var("DELIVER_EMAIL_QUEUE", Some("deliver-email")),
    var("DELIVER_LETTER_QUEUE", Some("deliver-letter")),
    var("STATUS_QUEUE", Some("status")),
    var("CALLBACKS_QUEUE", Some("service-callbacks")),
    var("CALLBACKS_DLQ", Some("service-callbacks-dlq")),
    secret("FIRETEXT_API_KEY"),
    var(
        "FIRETEXT_URL",
        Some("https://www.firetext.co.uk/api/sendsms/json"),
    ),
    var("SES_ENABLED", Some("false")),
    var("SES_CONFIGURATION_SET", None),
    var("SES_ENDPOINT_URL", None),
    var("AWS_SMS_ENABLED", Some("false")),
    var("AWS_SMS_CONFIGURATION_SET", None),
    var("AWS_SMS_ORIGINATION_IDENTITY", None),
    var("AWS_SMS_ENDPOINT_URL", None),
    secret("PROVIDER_CALLBACK_CREDENTIALS"),
    var("CALLBACK_ALLOW_PRIVATE_HOSTS", None),
    var("CALLBACK_CA_BUNDLE", None),
    var("CALLBACK_RETRY_SECONDS", Some("300")),
    var("CALLBACK_MAX_RETRIES", Some("5")),
    var("CALLBACK_TIMEOUT_MS", Some("5000")),
    var("REPLAY_AFTER_SECONDS", Some("300")),
    // Notify's policy: 48 attempts, 5 minutes apart, then `technical-failure`.
    var("DELIVERY_MAX_ATTEMPTS", Some("48")),
    var("DELIVERY_RETRY_SECONDS", Some("300")),
    var("DELIVERY_CONCURRENCY", Some("200")),
    var("CALLBACK_CONCURRENCY", Some("100")),
    var("SIMULATE_PROVIDERS", Some("false")),
    var("METRICS_NAMESPACE", None),
    var("APP_SECRET_ARN", None),
    var("ADMIN_SECRET_ARN", None),
    var("PROVIDER_SECRET_ARN", None),
    var("DB_HOST", None),
    var("DB_PORT", Some("5432")),
    var("DB_NAME", Some("notify")),
    var("DB_AUTH", None),
    var("DB_USER", None),
    var("DB_SECRET_ARN", None),
    var("NOTIFY_DEV_POSTGRES", None),
    var("NOTIFY_DEV_POSTGRES_PORT", Some("55432")),
    var("NOTIFY_PROJECT_DIR", None),
];

/// Development values: `notify dev` (and the CLI beside it) sets these where the environment does not, and tests
/// use them through [`Config::for_development`]. Nothing in AWS does.
pub const DEV_SECRET_KEY: &str = "dev-only-secret-key-do-not-use-in-production";
pub const DEV_ADMIN_CLIENT_SECRET: &str = "dev-notify-secret-key";
pub const DEVELOPMENT: &[(&str, &str)] = &[
    ("SECRET_KEY", DEV_SECRET_KEY),
    ("ADMIN_CLIENT_SECRET", DEV_ADMIN_CLIENT_SECRET),
    ("SIMULATE_PROVIDERS", "true"),
];

fn variable(name: &str) -> &'static Variable {
    VARIABLES
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{name} is not in config::VARIABLES"))
}

/// A value as it may be shown: secrets masked, a URL's password hidden.
pub fn shown(name: &str, value: &str) -> String {
    if VARIABLES.iter().any(|v| v.name == name && v.secret) {
        return "****".into();
    }
    match url::Url::parse(value) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => value.to_string(),
    }
}

/// The settings in `vars` that differ from their defaults, in table order, shown as [`shown`] does.
pub fn differing_from_defaults(vars: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    VARIABLES
        .iter()
        .filter_map(|v| {
            let value = vars.get(v.name).filter(|s| !s.is_empty())?;
            (Some(value.as_str()) != v.default).then(|| (v.name, shown(v.name, value)))
        })
        .collect()
}

/// This process's environment, for [`Config::load_from`] (variables that are not Unicode are left out: none of
/// ours can be).
pub fn environment() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Reads variables through `lookup`, only those in [`VARIABLES`], an empty value counting as unset, and
/// remembers which it read.
struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    read: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Vars<'a> {
    fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Vars {
            lookup,
            read: RefCell::default(),
        }
    }

    /// The value, else the table's default.
    fn get(&self, name: &str) -> Option<String> {
        let v = variable(name);
        self.read.borrow_mut().insert(v.name);
        (self.lookup)(name)
            .filter(|s| !s.is_empty())
            .or_else(|| v.default.map(str::to_string))
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }

    fn number<T: FromStr>(&self, name: &str) -> Result<T, ConfigError> {
        let value = self.text(name);
        value
            .parse()
            .map_err(|_| ConfigError(format!("{name} must be a number, not {value:?}")))
    }

    fn seconds(&self, name: &str) -> Result<std::time::Duration, ConfigError> {
        Ok(std::time::Duration::from_secs(self.number(name)?))
    }

    fn milliseconds(&self, name: &str) -> Result<std::time::Duration, ConfigError> {
        Ok(std::time::Duration::from_millis(self.number(name)?))
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(v) => Err(ConfigError(format!(
                "{name} must be true or false, not {v:?}"
            ))),
        }
    }

    /// Comma-separated.
    fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Where a deployment's secrets and database come from (`Config::load_from` reads them there).
struct AwsSources {
    secret_arns: Vec<String>,
    db_auth: Option<String>,
    db_secret_arn: Option<String>,
    db_host: Option<String>,
    db_port: u16,
    db_name: String,
    db_user: Option<String>,
}

impl AwsSources {
    fn read(vars: &Vars) -> Result<Self, ConfigError> {
        let db_auth = vars.get("DB_AUTH");
        if let Some(auth) = db_auth.as_deref()
            && auth != "iam"
            && auth != "secret"
        {
            return Err(ConfigError(format!(
                "DB_AUTH must be iam or secret, not {auth:?}"
            )));
        }
        Ok(AwsSources {
            secret_arns: ["APP_SECRET_ARN", "ADMIN_SECRET_ARN", "PROVIDER_SECRET_ARN"]
                .iter()
                .filter_map(|name| vars.get(name))
                .collect(),
            db_auth,
            db_secret_arn: vars.get("DB_SECRET_ARN"),
            db_host: vars.get("DB_HOST"),
            db_port: vars.number("DB_PORT")?,
            db_name: vars.text("DB_NAME"),
            db_user: vars.get("DB_USER"),
        })
    }

    fn iam(&self) -> bool {
        self.db_auth.as_deref() == Some("iam")
    }

    fn any(&self) -> bool {
        !self.secret_arns.is_empty() || self.db_secret_arn.is_some() || self.iam()
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    /// Where the password comes from when it is not in the URL (RDS Proxy in AWS: an IAM token or the RDS secret).
    pub database_credentials: DatabaseCredentials,
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
    /// CloudWatch embedded metrics go to stdout under this namespace; none without it.
    pub metrics_namespace: Option<String>,
    pub local: LocalStack,
}

/// What only the local stack uses: `notify dev`'s in-process workers and the database it finds or starts.
#[derive(Clone, Debug)]
pub struct LocalStack {
    /// Provider sends in flight at once per delivery queue (Lambda's concurrency × batch size).
    pub delivery_concurrency: usize,
    pub callback_concurrency: usize,
    /// `NOTIFY_DEV_POSTGRES=private`: never use a machine-wide Postgres on 5432, always the project's own.
    pub private_postgres_only: bool,
    pub private_postgres_port: u16,
    /// Where `.local/pg` is; the current directory when unset.
    pub project_dir: Option<std::path::PathBuf>,
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

/// How the database password is found: in `DATABASE_URL`, or (RDS Proxy in AWS) made or read by `notify_db`,
/// which owns every credential, from these plain values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DatabaseCredentials {
    #[default]
    InUrl,
    /// An IAM token for `user` at the proxy, signed with the function's role (`DB_AUTH=iam`).
    Iam {
        region: String,
        host: String,
        port: u16,
        user: String,
    },
    /// The RDS secret at `arn` (`DB_SECRET_ARN`), with the password it held at start-up.
    RdsSecret {
        arn: String,
        password: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The process's configuration, from its environment (and, in AWS, Secrets Manager), with its metrics
    /// namespace installed.
    pub async fn load() -> Result<Self, ConfigError> {
        // Boxed: the SDK calls inside make a future deep enough to overflow the compiler's layout queries in the
        // functions that await it inside their own handlers (migrate).
        let config = Box::pin(Config::load_from(environment())).await?;
        notify_core::metrics::init(config.metrics_namespace.as_deref());
        Ok(config)
    }

    /// The configuration `vars` describe. In AWS the secrets come from Secrets Manager: `APP_SECRET_ARN`
    /// (`secret_key`), `ADMIN_SECRET_ARN` (`admin_client_secret`) and `PROVIDER_SECRET_ARN` (`firetext_api_key`,
    /// `provider_callback_credentials`), each a JSON object, only those the function needs; their values win over
    /// the variables. The database is the RDS Proxy at `DB_HOST`/`DB_PORT`/`DB_NAME` over verified TLS, as
    /// `DB_USER` with an IAM token (`DB_AUTH=iam`) or with the RDS secret at `DB_SECRET_ARN`. Either password is
    /// cached per execution environment and made or read again when it expires or is refused.
    pub async fn load_from(mut vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let sources = {
            let lookup = |name: &str| vars.get(name).cloned();
            AwsSources::read(&Vars::new(&lookup))?
        };
        let mut database_credentials = DatabaseCredentials::InUrl;
        if sources.any() {
            let sdk = crate::aws::sdk_config(None).await;
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            for arn in &sources.secret_arns {
                let secret = fetch_json(&client, arn).await?;
                for (key, name) in [
                    ("secret_key", "SECRET_KEY"),
                    ("admin_client_secret", "ADMIN_CLIENT_SECRET"),
                    ("firetext_api_key", "FIRETEXT_API_KEY"),
                    (
                        "provider_callback_credentials",
                        "PROVIDER_CALLBACK_CREDENTIALS",
                    ),
                ] {
                    if let Some(v) = secret.get(key).and_then(|v| v.as_str()) {
                        vars.insert(name.into(), v.into());
                    }
                }
            }
            let port = sources.db_port;
            if sources.iam() {
                let user = sources
                    .db_user
                    .clone()
                    .ok_or_else(|| ConfigError("DB_USER must be set for DB_AUTH=iam".into()))?;
                let region = sdk
                    .region()
                    .map(|r| r.to_string())
                    .ok_or_else(|| ConfigError("AWS_REGION must be set".into()))?;
                let host = sources
                    .db_host
                    .clone()
                    .ok_or_else(|| ConfigError("DB_HOST must be set".into()))?;
                vars.insert(
                    "DATABASE_URL".into(),
                    database_url(&host, port, &user, &sources.db_name)?,
                );
                database_credentials = DatabaseCredentials::Iam {
                    region,
                    host,
                    port,
                    user,
                };
            } else if let Some(arn) = sources.db_secret_arn.clone() {
                let secret = fetch_json(&client, &arn).await?;
                let field = |k: &str| secret.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let host = sources
                    .db_host
                    .clone()
                    .or_else(|| field("host"))
                    .ok_or_else(|| ConfigError("DB_HOST must be set".into()))?;
                let user = field("username").unwrap_or_default();
                vars.insert(
                    "DATABASE_URL".into(),
                    database_url(&host, port, &user, &sources.db_name)?,
                );
                database_credentials = DatabaseCredentials::RdsSecret {
                    arn,
                    password: field("password"),
                };
            }
        }
        let lookup = |name: &str| vars.get(name).cloned();
        let mut config = Config::read(&Vars::new(&lookup))?;
        config.database_credentials = database_credentials;
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

    fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Config {
            // Optional here: the callbacks function has no database; `Db::connect` refuses an empty one.
            database_url: vars.text("DATABASE_URL"),
            database_credentials: DatabaseCredentials::InUrl,
            database_pool_size: vars.number("DATABASE_POOL_SIZE")?,
            redis_url: vars.get("REDIS_URL"),
            // Each function is given only the secrets it uses; those that need one say so with `require_*`.
            secret_key: vars.text("SECRET_KEY"),
            admin_client_id: vars.text("ADMIN_CLIENT_ID"),
            admin_client_secrets: vars.list("ADMIN_CLIENT_SECRET"),
            api_host_name: vars.text("API_HOST_NAME").trim_end_matches('/').to_string(),
            notify_email_domain: vars.text("NOTIFY_EMAIL_DOMAIN"),
            document_download_api_host: vars.text("DOCUMENT_DOWNLOAD_API_HOST"),
            sqs_endpoint_url: vars.get("SQS_ENDPOINT_URL"),
            queues: QueueNames {
                deliver_sms: vars.text("DELIVER_SMS_QUEUE"),
                deliver_email: vars.text("DELIVER_EMAIL_QUEUE"),
                deliver_letter: vars.text("DELIVER_LETTER_QUEUE"),
                status: vars.text("STATUS_QUEUE"),
                callbacks: vars.text("CALLBACKS_QUEUE"),
                callbacks_dlq: vars.text("CALLBACKS_DLQ"),
            },
            firetext_url: vars.text("FIRETEXT_URL"),
            firetext_api_key: vars.get("FIRETEXT_API_KEY"),
            ses_enabled: vars.flag("SES_ENABLED")?,
            ses_endpoint_url: vars.get("SES_ENDPOINT_URL"),
            ses_configuration_set: vars.get("SES_CONFIGURATION_SET"),
            aws_sms_enabled: vars.flag("AWS_SMS_ENABLED")?,
            aws_sms_endpoint_url: vars.get("AWS_SMS_ENDPOINT_URL"),
            aws_sms_configuration_set: vars.get("AWS_SMS_CONFIGURATION_SET"),
            aws_sms_origination_identity: vars.get("AWS_SMS_ORIGINATION_IDENTITY"),
            provider_callback_credentials: vars.list("PROVIDER_CALLBACK_CREDENTIALS"),
            callback_allow_private_hosts: vars.list("CALLBACK_ALLOW_PRIVATE_HOSTS"),
            callback_ca_bundle: vars.get("CALLBACK_CA_BUNDLE").map(Into::into),
            callback_timeout: vars.milliseconds("CALLBACK_TIMEOUT_MS")?,
            callback_max_retries: vars.number("CALLBACK_MAX_RETRIES")?,
            callback_retry_delay: vars.seconds("CALLBACK_RETRY_SECONDS")?,
            replay_after: vars.seconds("REPLAY_AFTER_SECONDS")?,
            delivery_max_attempts: vars.number("DELIVERY_MAX_ATTEMPTS")?,
            delivery_retry_delay: vars.seconds("DELIVERY_RETRY_SECONDS")?,
            simulate_providers: vars.flag("SIMULATE_PROVIDERS")?,
            lookup_cache_ttl: vars.milliseconds("LOOKUP_CACHE_MS")?,
            metrics_namespace: vars.get("METRICS_NAMESPACE"),
            local: LocalStack {
                delivery_concurrency: vars.number("DELIVERY_CONCURRENCY")?,
                callback_concurrency: vars.number("CALLBACK_CONCURRENCY")?,
                private_postgres_only: match vars.get("NOTIFY_DEV_POSTGRES").as_deref() {
                    None => false,
                    Some("private") => true,
                    Some(v) => {
                        return Err(ConfigError(format!(
                            "NOTIFY_DEV_POSTGRES must be private or unset, not {v:?}"
                        )));
                    }
                },
                private_postgres_port: vars.number("NOTIFY_DEV_POSTGRES_PORT")?,
                project_dir: vars.get("NOTIFY_PROJECT_DIR").map(Into::into),
            },
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
        Config::read(&Vars::new(&lookup)).expect("the development values are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |name: &str| vars.get(name).cloned();
        Config::read(&Vars::new(&lookup))
    }

    /// The variables named in the first column of README.md's configuration table.
    fn readme_variables() -> BTreeSet<String> {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("a Configuration section")
            .split("\n## ")
            .next()
            .unwrap_or_default();
        let mut names = BTreeSet::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or_default();
            for (i, part) in first.split('`').enumerate() {
                if i % 2 == 1 {
                    names.insert(part.to_string());
                }
            }
        }
        names
    }

    #[test]
    fn the_readme_table_lists_exactly_the_variables_the_loader_reads() {
        let vars = HashMap::<String, String>::new();
        let lookup = |name: &str| vars.get(name).cloned();
        let reader = Vars::new(&lookup);
        AwsSources::read(&reader).unwrap();
        Config::read(&reader).unwrap();
        let read: BTreeSet<String> = reader.read.take().into_iter().map(String::from).collect();
        let table: BTreeSet<String> = VARIABLES.iter().map(|v| v.name.to_string()).collect();
        assert_eq!(read, table, "the loader reads exactly config::VARIABLES");
        let readme = readme_variables();
        let undocumented: Vec<_> = table.difference(&readme).collect();
        let unread: Vec<_> = readme.difference(&table).collect();
        assert!(
            undocumented.is_empty() && unread.is_empty(),
            "read but not in README's table: {undocumented:?}; in the table but never read: {unread:?}"
        );
    }

    /// Only the loader reads the environment; PATH (to find Postgres' tools) and the Lambda runtime's own
    /// variable are not configuration.
    #[test]
    fn nothing_else_reads_the_environment() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut offenders = Vec::new();
        let mut dirs: Vec<std::path::PathBuf> = vec![
            format!("{root}/shared").into(),
            format!("{root}/infra/cli/src").into(),
        ];
        for entry in std::fs::read_dir(format!("{root}/functions")).unwrap() {
            dirs.push(entry.unwrap().path().join("src"));
        }
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.ends_with("shared/config/src/lib.rs")
                    || path.extension() != Some("rs".as_ref())
                {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let reads = ["env::var(", "env::var_os(", "env::vars(", "env = \""]
                        .iter()
                        .any(|p| line.contains(p));
                    let allowed = [
                        "\"PATH\"",
                        "\"AWS_LAMBDA_FUNCTION_NAME\"",
                        "\"NOTIFY_API_URL\"",
                    ]
                    .iter()
                    .any(|a| line.contains(a));
                    if reads && !allowed {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "read outside config.rs: {offenders:#?}"
        );
    }

    #[test]
    fn defaults_come_from_the_table() {
        let c = load(&[]).unwrap();
        assert_eq!(c.database_pool_size, 10);
        assert_eq!(c.admin_client_id, "notify-admin");
        assert!(c.admin_client_secrets.is_empty() && c.secret_key.is_empty());
        assert_eq!(c.queues.callbacks_dlq, "service-callbacks-dlq");
        assert_eq!(
            c.firetext_url,
            "https://www.firetext.co.uk/api/sendsms/json"
        );
        assert_eq!(c.delivery_max_attempts, 48);
        assert_eq!(c.delivery_retry_delay.as_secs(), 300);
        assert_eq!(c.lookup_cache_ttl.as_millis(), 2000);
        assert!(!c.simulate_providers && !c.ses_enabled && !c.aws_sms_enabled);
        assert_eq!(c.local.delivery_concurrency, 200);
        assert_eq!(c.local.private_postgres_port, 55432);
        assert!(c.metrics_namespace.is_none());
    }

    #[test]
    fn values_are_parsed_and_bad_ones_named() {
        let c = load(&[
            ("CALLBACK_ALLOW_PRIVATE_HOSTS", " 127.0.0.1, localhost ,"),
            ("SIMULATE_PROVIDERS", "1"),
            ("API_HOST_NAME", "https://api.example/"),
            ("CALLBACK_TIMEOUT_MS", "250"),
            ("ADMIN_CLIENT_SECRET", "new,old"),
            ("METRICS_NAMESPACE", "Notify"),
        ])
        .unwrap();
        assert_eq!(c.callback_allow_private_hosts, ["127.0.0.1", "localhost"]);
        assert!(c.simulate_providers);
        assert_eq!(c.api_host_name, "https://api.example");
        assert_eq!(c.callback_timeout.as_millis(), 250);
        assert_eq!(c.admin_client_secrets, ["new", "old"]);
        assert_eq!(c.metrics_namespace.as_deref(), Some("Notify"));
        for (name, value) in [
            ("DATABASE_POOL_SIZE", "ten"),
            ("SIMULATE_PROVIDERS", "yes"),
            ("NOTIFY_DEV_POSTGRES", "public"),
            ("CALLBACK_MAX_RETRIES", "-1"),
        ] {
            let e = load(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(value), "{e}");
        }
    }

    #[test]
    fn settings_that_differ_from_defaults_are_shown_with_secrets_masked() {
        let vars: HashMap<String, String> = [
            ("SECRET_KEY", "s3cret"),
            ("DATABASE_URL", "postgres://u:pw@db/notify"),
            ("DATABASE_POOL_SIZE", "10"),
            ("SIMULATE_PROVIDERS", "true"),
            ("REDIS_URL", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            differing_from_defaults(&vars),
            [
                ("DATABASE_URL", "postgres://u:****@db/notify".to_string()),
                ("SECRET_KEY", "****".to_string()),
                ("SIMULATE_PROVIDERS", "true".to_string()),
            ]
        );
    }

    #[test]
    fn the_development_configuration_simulates_providers_with_development_secrets() {
        let c = Config::for_development("postgres://db/x");
        assert_eq!(c.database_url, "postgres://db/x");
        assert_eq!(c.secret_key, DEV_SECRET_KEY);
        assert_eq!(c.admin_client_secrets, [DEV_ADMIN_CLIENT_SECRET]);
        assert!(c.simulate_providers);
    }
}
