//! The sections of the configuration, each read alone from the same variables ([`crate::VARIABLES`]): a function
//! builds only those it uses. Secrets are [`SecretString`]s, exposed only where they are used.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::ConfigError;
use crate::variables::Vars;

/// The database, and where its password comes from when it is not in the URL.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// Empty when unset: `Db::connect` refuses it; the CLI finds or starts a local database instead.
    pub url: String,
    /// Where the password comes from when it is not in the URL (RDS Proxy in AWS: an IAM token or the RDS secret).
    pub credentials: DatabaseCredentials,
    /// The local pool's cap; on Lambda each execution environment needs one connection.
    pub pool_size: usize,
}

impl DatabaseConfig {
    pub(crate) fn read(vars: &Vars, credentials: DatabaseCredentials) -> Result<Self, ConfigError> {
        Ok(DatabaseConfig {
            url: vars.text("DATABASE_URL"),
            credentials,
            pool_size: vars.number("DATABASE_POOL_SIZE")?,
        })
    }
}

/// How the database password is found: in `DATABASE_URL`, or (RDS Proxy in AWS) made or read by `notify_db`,
/// which owns every credential, from these values.
#[derive(Clone, Debug, Default)]
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
        password: Option<SecretString>,
    },
}

/// SQS (or, locally, in-process) queues.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// SQS elsewhere than AWS's own endpoint (moto, for tests and the local stack).
    pub endpoint_url: Option<String>,
    pub deliver_sms: String,
    pub deliver_email: String,
    pub deliver_letter: String,
    /// Provider receipts.
    pub status: String,
    /// CSV jobs to process (`Message::ProcessJob`).
    pub jobs: String,
    /// Service callbacks, each complete (URL, encrypted token, body).
    pub callbacks: String,
    /// Callbacks whose retries ran out, each with its last error.
    pub callbacks_dlq: String,
}

impl QueueConfig {
    pub(crate) fn read(vars: &Vars) -> Self {
        QueueConfig {
            endpoint_url: vars.get("SQS_ENDPOINT_URL"),
            deliver_sms: vars.text("DELIVER_SMS_QUEUE"),
            deliver_email: vars.text("DELIVER_EMAIL_QUEUE"),
            deliver_letter: vars.text("DELIVER_LETTER_QUEUE"),
            status: vars.text("STATUS_QUEUE"),
            jobs: vars.text("JOBS_QUEUE"),
            callbacks: vars.text("CALLBACKS_QUEUE"),
            callbacks_dlq: vars.text("CALLBACKS_DLQ"),
        }
    }
}

/// Service callbacks on the wire.
#[derive(Clone, Debug)]
pub struct CallbackConfig {
    /// Hosts or addresses callable although not public (tests, local development).
    pub allow_private_hosts: Vec<String>,
    /// A PEM file of extra roots for receivers behind a private CA.
    pub ca_bundle: Option<PathBuf>,
    pub timeout: Duration,
    /// Notify's policy: 5 retries, 300 s apart, then the DLQ.
    pub max_retries: u32,
    pub retry_delay: Duration,
}

impl CallbackConfig {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(CallbackConfig {
            allow_private_hosts: vars.list("CALLBACK_ALLOW_PRIVATE_HOSTS"),
            ca_bundle: vars.get("CALLBACK_CA_BUNDLE").map(Into::into),
            timeout: vars.milliseconds("CALLBACK_TIMEOUT_MS")?,
            max_retries: vars.number("CALLBACK_MAX_RETRIES")?,
            retry_delay: vars.seconds("CALLBACK_RETRY_SECONDS")?,
        })
    }
}

/// The providers sends go to.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// Firetext's send endpoint and key; without a key Firetext is not used.
    pub firetext_url: String,
    pub firetext_api_key: Option<SecretString>,
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
    /// Live sends go to the simulated provider too (the local stack's default; never in AWS).
    pub simulate: bool,
}

impl ProviderConfig {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(ProviderConfig {
            firetext_url: vars.text("FIRETEXT_URL"),
            firetext_api_key: vars.secret("FIRETEXT_API_KEY"),
            ses_enabled: vars.flag("SES_ENABLED")?,
            ses_endpoint_url: vars.get("SES_ENDPOINT_URL"),
            ses_configuration_set: vars.get("SES_CONFIGURATION_SET"),
            aws_sms_enabled: vars.flag("AWS_SMS_ENABLED")?,
            aws_sms_endpoint_url: vars.get("AWS_SMS_ENDPOINT_URL"),
            aws_sms_configuration_set: vars.get("AWS_SMS_CONFIGURATION_SET"),
            aws_sms_origination_identity: vars.get("AWS_SMS_ORIGINATION_IDENTITY"),
            simulate: vars.flag("SIMULATE_PROVIDERS")?,
        })
    }
}

/// Notify's retry policy for provider sends.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Attempts in all, and the delay between retries after the first (which is immediate).
    pub max_attempts: u32,
    pub retry_delay: Duration,
    /// How long a notification may stay `created` before the replay job queues it again.
    pub replay_after: Duration,
}

impl DeliveryConfig {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(DeliveryConfig {
            max_attempts: vars.number("DELIVERY_MAX_ATTEMPTS")?,
            retry_delay: vars.seconds("DELIVERY_RETRY_SECONDS")?,
            replay_after: vars.seconds("REPLAY_AFTER_SECONDS")?,
        })
    }
}

/// What the API answers with and whom it lets in.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Base of every `uri` field, e.g. `https://api.notifications.service.gov.uk`, without a trailing slash.
    pub host_name: String,
    pub admin_client_id: String,
    /// Several secrets may be valid at once so that they can be rotated; none (every function but the API, which
    /// loads [`crate::ApiFunctionConfig`]) refuses every admin token.
    pub admin_client_secrets: Vec<SecretString>,
    /// `user:password` pairs providers must present (HTTP Basic) when they post receipts and inbound texts;
    /// empty means those endpoints are open (behind the providers' IP allow-list).
    pub provider_callback_credentials: Vec<SecretString>,
    /// How long a service, its keys, current templates and senders are reused before being read again.
    pub lookup_cache_ttl: Duration,
    pub notify_email_domain: String,
    /// Base of the links to files sent by email (`{base}/d/{service_id}/{document_id}?key=…`), the public address
    /// the API's download page is reached at; `None`: `host_name`.
    pub document_download_api_host: Option<String>,
    /// Rate and daily limits shared between processes; in-process without it.
    pub redis_url: Option<String>,
}

impl ApiConfig {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(ApiConfig {
            host_name: vars.text("API_HOST_NAME").trim_end_matches('/').to_string(),
            admin_client_id: vars.text("ADMIN_CLIENT_ID"),
            admin_client_secrets: vars.secrets("ADMIN_CLIENT_SECRET"),
            provider_callback_credentials: vars.secrets("PROVIDER_CALLBACK_CREDENTIALS"),
            lookup_cache_ttl: vars.milliseconds("LOOKUP_CACHE_MS")?,
            notify_email_domain: vars.text("NOTIFY_EMAIL_DOMAIN"),
            document_download_api_host: vars
                .get("DOCUMENT_DOWNLOAD_API_HOST")
                .map(|host| host.trim_end_matches('/').to_string()),
            redis_url: vars.get("REDIS_URL"),
        })
    }
}

/// `SECRET_KEY`: encryption at rest for API key secrets, callback tokens, personalisation and inbound SMS text.
/// It cannot be built empty, so whatever holds one (every function but migrate) fails at load without it.
#[derive(Clone, Debug)]
pub struct SecretKey(SecretString);

impl SecretKey {
    pub fn new(value: impl Into<String>) -> Result<Self, ConfigError> {
        let value = value.into();
        if value.is_empty() {
            return Err(ConfigError("SECRET_KEY must be set".into()));
        }
        Ok(SecretKey(value.into()))
    }

    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        SecretKey::new(vars.text("SECRET_KEY"))
    }
}

impl ExposeSecret<str> for SecretKey {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Where files are kept (letter PDFs, letter logos): S3 buckets in AWS, a local directory otherwise.
#[derive(Clone, Debug)]
pub struct FilesConfig {
    /// `LETTERS_PDF_BUCKET`: rendered letters; when unset, files go under `local_dir`.
    pub letters_pdf_bucket: Option<String>,
    /// `LETTER_LOGOS_BUCKET`: letter branding logos; when unset, under `local_dir` too.
    pub letter_logos_bucket: Option<String>,
    /// `LETTERS_SCAN_BUCKET`: precompiled letters as uploaded (`precompiled/…`), the bucket GuardDuty Malware
    /// Protection watches; when unset, under `local_dir` too.
    pub letters_scan_bucket: Option<String>,
    /// `CSV_UPLOAD_BUCKET`: CSV jobs' files as uploaded (`service-{id}-notify/{upload_id}.csv`, upstream's
    /// `S3_BUCKET_CSV_UPLOAD`); when unset, under `local_dir` too.
    pub csv_upload_bucket: Option<String>,
    /// `DOCUMENTS_BUCKET`: files sent by email, sealed (`documents/{service_id}/{document_id}`), kept up to 78
    /// weeks; when unset, in the letters PDF bucket (or under `local_dir`).
    pub documents_bucket: Option<String>,
    /// `FILES_DIR`: the local store's root (`notify dev`, tests).
    pub local_dir: PathBuf,
    /// `S3_ENDPOINT_URL`: moto in tests and `notify dev`; the regional endpoint when unset.
    pub s3_endpoint_url: Option<String>,
}

impl FilesConfig {
    pub(crate) fn read(vars: &Vars) -> Self {
        FilesConfig {
            letters_pdf_bucket: vars.get("LETTERS_PDF_BUCKET"),
            letter_logos_bucket: vars.get("LETTER_LOGOS_BUCKET"),
            letters_scan_bucket: vars.get("LETTERS_SCAN_BUCKET"),
            csv_upload_bucket: vars.get("CSV_UPLOAD_BUCKET"),
            documents_bucket: vars.get("DOCUMENTS_BUCKET"),
            local_dir: PathBuf::from(vars.text("FILES_DIR")),
            s3_endpoint_url: vars.get("S3_ENDPOINT_URL"),
        }
    }
}

/// Which virus scanner checks precompiled letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScannerKind {
    /// ClamAV's clamd, asked over its socket (`notify dev`, tests, a deployment that runs clamd).
    Clamd,
    /// Amazon GuardDuty Malware Protection for S3 on `LETTERS_SCAN_BUCKET`: its verdict arrives as an
    /// EventBridge event and as a tag on the object.
    GuardDuty,
}

#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// `VIRUS_SCANNER`: `clamd` (default) or `guardduty`.
    pub scanner: ScannerKind,
    /// `CLAMD_ADDRESS`: a unix socket path or host:port; unset: Debian's `/run/clamav/clamd.ctl`, then
    /// `127.0.0.1:3310`.
    pub clamd_address: Option<String>,
}

impl ScanConfig {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        let scanner = match vars.text("VIRUS_SCANNER").trim() {
            "clamd" => ScannerKind::Clamd,
            "guardduty" => ScannerKind::GuardDuty,
            other => {
                return Err(ConfigError(format!(
                    "VIRUS_SCANNER must be clamd or guardduty, not {other:?}"
                )));
            }
        };
        Ok(ScanConfig {
            scanner,
            clamd_address: vars.get("CLAMD_ADDRESS"),
        })
    }
}

/// The print provider letters go to: DVLA's print API when `DVLA_API_URL` is set, else the simulated printer.
#[derive(Clone, Debug)]
pub struct PrintConfig {
    /// `DVLA_API_URL`: the base of DVLA's print API, without a trailing slash; unset: the simulated printer.
    pub dvla_api_url: Option<String>,
    /// The print API account's credentials and API key. In AWS they come from `DVLA_CREDENTIALS_SECRET` at
    /// start-up ([`crate::secrets`]), where the rotation jobs write their new values.
    pub dvla_username: Option<String>,
    pub dvla_password: Option<SecretString>,
    pub dvla_api_key: Option<SecretString>,
    /// `DVLA_CREDENTIALS_SECRET`: the Secrets Manager secret (id or ARN) holding them as JSON (`dvla_username`,
    /// `dvla_password`, `dvla_api_key`); the DVLA client reads it again when DVLA refuses what it holds.
    pub dvla_credentials_secret: Option<String>,
    /// `SIMULATED_PRINTER_DESPATCH_SECONDS`: how long after acceptance the simulated printer despatches.
    pub simulated_despatch_after: Duration,
}

impl PrintConfig {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        let config = PrintConfig {
            dvla_api_url: vars
                .get("DVLA_API_URL")
                .map(|u| u.trim_end_matches('/').to_string()),
            dvla_username: vars.get("DVLA_USERNAME"),
            dvla_password: vars.secret("DVLA_PASSWORD"),
            dvla_api_key: vars.secret("DVLA_API_KEY"),
            dvla_credentials_secret: vars.get("DVLA_CREDENTIALS_SECRET"),
            simulated_despatch_after: vars.seconds("SIMULATED_PRINTER_DESPATCH_SECONDS")?,
        };
        // Refused at start-up rather than on every letter.
        if config.dvla_api_url.is_some() {
            let missing: Vec<&str> = [
                ("DVLA_USERNAME", config.dvla_username.is_none()),
                ("DVLA_PASSWORD", config.dvla_password.is_none()),
                ("DVLA_API_KEY", config.dvla_api_key.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            if !missing.is_empty() {
                return Err(ConfigError(format!(
                    "DVLA_API_URL is set, so {} must be too (or DVLA_CREDENTIALS_SECRET hold them)",
                    missing.join(", ")
                )));
            }
        }
        Ok(config)
    }
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
    pub project_dir: Option<PathBuf>,
}

impl LocalStack {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(LocalStack {
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
        })
    }
}
