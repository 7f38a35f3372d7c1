//! The one table of variables with their defaults, and the reader every section is built through.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use secrecy::SecretString;

use crate::ConfigError;

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
    var("DOCUMENT_DOWNLOAD_API_HOST", None),
    // Two seconds: a revoked key or edited template is seen within that, as with upstream's cached lookups.
    var("LOOKUP_CACHE_MS", Some("2000")),
    var("SQS_ENDPOINT_URL", None),
    var("DELIVER_SMS_QUEUE", Some("deliver-sms")),
    var("DELIVER_EMAIL_QUEUE", Some("deliver-email")),
    var("DELIVER_LETTER_QUEUE", Some("deliver-letter")),
    var("STATUS_QUEUE", Some("status")),
    var("JOBS_QUEUE", Some("jobs")),
    var("LETTERS_PDF_BUCKET", None),
    var("LETTER_LOGOS_BUCKET", None),
    var("LETTERS_SCAN_BUCKET", None),
    var("CSV_UPLOAD_BUCKET", None),
    var("DOCUMENTS_BUCKET", None),
    var("FILES_DIR", Some(".local/files")),
    var("S3_ENDPOINT_URL", None),
    var("DVLA_API_URL", None),
    var("DVLA_USERNAME", None),
    secret("DVLA_PASSWORD"),
    secret("DVLA_API_KEY"),
    var("DVLA_CREDENTIALS_SECRET", None),
    var("SIMULATED_PRINTER_DESPATCH_SECONDS", Some("5")),
    var("VIRUS_SCANNER", Some("clamd")),
    var("CLAMD_ADDRESS", None),
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
/// use them through [`crate::Config::for_development`]. Nothing in AWS does.
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

/// This process's environment, for the loaders' `load_from` (variables that are not Unicode are left out: none of
/// ours can be).
pub fn environment() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Reads variables through `lookup`, only those in [`VARIABLES`], an empty value counting as unset, and
/// remembers which it read.
pub(crate) struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) read: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Vars<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Vars {
            lookup,
            read: RefCell::default(),
        }
    }

    /// The value, else the table's default.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let v = variable(name);
        self.read.borrow_mut().insert(v.name);
        (self.lookup)(name)
            .filter(|s| !s.is_empty())
            .or_else(|| v.default.map(str::to_string))
    }

    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }

    pub(crate) fn number<T: FromStr>(&self, name: &str) -> Result<T, ConfigError> {
        let value = self.text(name);
        value
            .parse()
            .map_err(|_| ConfigError(format!("{name} must be a number, not {value:?}")))
    }

    pub(crate) fn seconds(&self, name: &str) -> Result<std::time::Duration, ConfigError> {
        Ok(std::time::Duration::from_secs(self.number(name)?))
    }

    pub(crate) fn milliseconds(&self, name: &str) -> Result<std::time::Duration, ConfigError> {
        Ok(std::time::Duration::from_millis(self.number(name)?))
    }

    pub(crate) fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(v) => Err(ConfigError(format!(
                "{name} must be true or false, not {v:?}"
            ))),
        }
    }

    /// Comma-separated.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// A secret, never held as a plain `String`.
    pub(crate) fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }

    /// Comma-separated secrets.
    pub(crate) fn secrets(&self, name: &str) -> Vec<SecretString> {
        self.list(name)
            .into_iter()
            .map(SecretString::from)
            .collect()
    }
}
