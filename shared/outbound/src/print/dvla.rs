//! DVLA's print API, as Notify uses it: a JWT from the account's user name and password, each letter its own
//! print job (the notification id as the job id), DVLA's callback telling us of despatch. The account's API key
//! and password expire, so the monthly jobs rotate them ([`rotate_api_key`], [`rotate_password`]) and keep the new
//! values in the Secrets Manager secret every function reads its credentials from at start-up.

use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use notify_config::{Config, ExposeSecret, PrintConfig, SecretString};
use notify_core::model::Postage;
use notify_core::recipients::PostalAddress;
use serde_json::{Map, Value, json};

use super::{PrintAccepted, PrintError, PrintJob, PrintProvider};

/// A token is renewed this long before its `exp`, so that no request carries one that expires on the way.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The PDF is inside the request, so this is for a few megabytes on DVLA's side as much as for the network.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// DVLA's longest lines: the recipient 255 characters, an address line 45, a postcode 10, a country 256.
const RECIPIENT_MAX: usize = 255;
const LINE_MAX: usize = 45;
const POSTCODE_MAX: usize = 10;
const COUNTRY_MAX: usize = 256;

/// The keys of the credentials secret's JSON (also read at start-up by `notify_config::secrets`).
const USERNAME_KEY: &str = "dvla_username";
const PASSWORD_KEY: &str = "dvla_password";
const API_KEY_KEY: &str = "dvla_api_key";
/// A new password is written here before DVLA is asked to take it: if DVLA changes it and the final write fails,
/// or the answer never arrives, the password DVLA may now hold is not lost.
const PENDING_PASSWORD_KEY: &str = "dvla_password_pending";

#[derive(Clone, Debug)]
pub struct DvlaCredentials {
    pub username: String,
    pub password: SecretString,
    pub api_key: SecretString,
}

impl DvlaCredentials {
    fn same_as(&self, other: &DvlaCredentials) -> bool {
        self.username == other.username
            && self.password.expose_secret() == other.password.expose_secret()
            && self.api_key.expose_secret() == other.api_key.expose_secret()
    }
}

/// The Secrets Manager secret the credentials live in (`DVLA_CREDENTIALS_SECRET`), a JSON object.
#[derive(Clone, Debug)]
pub struct CredentialsSecret {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl CredentialsSecret {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        CredentialsSecret {
            client,
            secret_id: secret_id.into(),
        }
    }

    async fn read_object(&self) -> Result<Map<String, Value>, String> {
        match notify_config::fetch_json(&self.client, &self.secret_id).await {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(format!("{} is not a JSON object", self.secret_id)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The credentials the secret holds now.
    pub async fn read(&self) -> Result<DvlaCredentials, String> {
        let object = self.read_object().await?;
        let field = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{} has no {key}", self.secret_id))
        };
        Ok(DvlaCredentials {
            username: field(USERNAME_KEY)?,
            password: field(PASSWORD_KEY)?.into(),
            api_key: field(API_KEY_KEY)?.into(),
        })
    }

    /// Sets (or, with `None`, removes) these keys, keeping whatever else the secret holds. A few attempts: what
    /// is written is a credential DVLA already holds, and losing it locks the account.
    async fn update(&self, changes: &[(&str, Option<&str>)]) -> Result<(), String> {
        let mut last_error = String::new();
        for attempt in 1..=3u32 {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(500) * attempt).await;
            }
            let mut object = match self.read_object().await {
                Ok(object) => object,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            for (key, value) in changes {
                match value {
                    Some(value) => object.insert(key.to_string(), Value::from(*value)),
                    None => object.remove(*key),
                };
            }
            match self
                .client
                .put_secret_value()
                .secret_id(&self.secret_id)
                .secret_string(Value::Object(object).to_string())
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => {
                    last_error = format!(
                        "{}: {}",
                        self.secret_id,
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    )
                }
            }
        }
        Err(last_error)
    }
}

struct Token {
    jwt: String,
    /// Unix seconds after which it is renewed: its `exp` less the margin.
    renew_at: u64,
}

/// DVLA's print API client. One per process: it caches the JWT for every letter the process prints.
pub struct DvlaClient {
    http: reqwest::Client,
    base_url: String,
    credentials: RwLock<DvlaCredentials>,
    /// Held while authenticating, so that letters printed at once share one new token.
    token: tokio::sync::Mutex<Option<Token>>,
    secret: Option<CredentialsSecret>,
}

/// What came back from one call.
#[derive(Debug)]
enum CallError {
    /// DVLA answered with this status; the text is its error's `detail` when it gave one.
    Status(u16, String),
    /// No answer: unreachable, reset, timed out.
    Transport(String),
    /// An answer we cannot read.
    Malformed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status(status, detail) => write!(f, "DVLA answered {status}: {detail}"),
            CallError::Transport(e) => write!(f, "DVLA unreachable: {e}"),
            CallError::Malformed(e) => write!(f, "DVLA's answer unreadable: {e}"),
        }
    }
}

impl CallError {
    /// Upstream's rule for every DVLA call: throttling, server errors and no answer are worth another try.
    fn retryable(&self) -> bool {
        match self {
            CallError::Status(status, _) => *status == 429 || *status >= 500,
            CallError::Transport(_) => true,
            CallError::Malformed(_) => false,
        }
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The `exp` of a JWT, read without verifying it: the token is DVLA's to check, ours only to renew in time.
fn jwt_expiry(jwt: &str) -> Option<u64> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = &claims["exp"];
    exp.as_u64().or_else(|| exp.as_f64().map(|f| f as u64))
}

/// DVLA's error text: print jobs answer `{"errors": [{"detail": …}]}`, the access endpoints `[{"detail": …}]`.
fn error_detail(body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let first = parsed
        .get("errors")
        .and_then(|e| e.get(0))
        .or_else(|| parsed.get(0));
    match first.and_then(|e| e.get("detail")).and_then(Value::as_str) {
        Some(detail) => detail.to_string(),
        None => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

impl DvlaClient {
    /// `base_url` is DVLA's (or a fake's), without a trailing slash. With a `secret`, credentials DVLA refuses are
    /// read again from it (another process may have rotated them) and rotation writes the new ones to it.
    pub fn new(
        base_url: impl Into<String>,
        credentials: DvlaCredentials,
        secret: Option<CredentialsSecret>,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a TLS provider installed");
        DvlaClient {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            credentials: RwLock::new(credentials),
            token: tokio::sync::Mutex::new(None),
            secret,
        }
    }

    /// The client `DVLA_API_URL` and its credentials describe; `None` when DVLA is not configured.
    pub async fn from_config(print: &PrintConfig) -> Option<Self> {
        let base_url = print.dvla_api_url.clone()?;
        // notify-config refuses DVLA_API_URL without all three at start-up.
        let credentials = DvlaCredentials {
            username: print.dvla_username.clone().unwrap_or_default(),
            password: print
                .dvla_password
                .clone()
                .unwrap_or_else(|| String::new().into()),
            api_key: print
                .dvla_api_key
                .clone()
                .unwrap_or_else(|| String::new().into()),
        };
        let secret = match &print.dvla_credentials_secret {
            Some(secret_id) => {
                let sdk = notify_config::aws::sdk_config(None).await;
                Some(CredentialsSecret::new(
                    aws_sdk_secretsmanager::Client::new(&sdk),
                    secret_id.clone(),
                ))
            }
            None => None,
        };
        Some(DvlaClient::new(base_url, credentials, secret))
    }

    fn credentials(&self) -> DvlaCredentials {
        self.credentials.read().expect("credentials lock").clone()
    }

    fn set_credentials(&self, credentials: DvlaCredentials) {
        *self.credentials.write().expect("credentials lock") = credentials;
    }

    /// The secret's credentials in place of ours, when there is a secret and it can be read; whether they differ.
    async fn reload_credentials(&self) -> bool {
        let Some(secret) = &self.secret else {
            return false;
        };
        match secret.read().await {
            Ok(latest) => {
                let changed = !latest.same_as(&self.credentials());
                self.set_credentials(latest);
                changed
            }
            Err(e) => {
                tracing::warn!(error = %e, "DVLA credentials secret unreadable: keeping those held");
                false
            }
        }
    }

    async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Option<bytes::Bytes>,
    ) -> Result<Vec<u8>, CallError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(CallError::Status(status, error_detail(&body)))
        }
    }

    /// A new JWT for the account (`POST /thirdparty-access/v1/authenticate`).
    async fn authenticate(&self) -> Result<String, CallError> {
        let credentials = self.credentials();
        let body = json!({
            "userName": credentials.username,
            "password": credentials.password.expose_secret(),
        });
        let answer = self
            .post(
                "/thirdparty-access/v1/authenticate",
                &[],
                Some(body.to_string().into()),
            )
            .await;
        let answer: Value =
            serde_json::from_slice(&answer?).map_err(|e| CallError::Malformed(e.to_string()))?;
        answer["id-token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| CallError::Malformed("no id-token".into()))
    }

    /// The cached JWT, or a new one when there is none or it is within [`TOKEN_REFRESH_MARGIN`] of expiring.
    async fn token(&self) -> Result<String, CallError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref()
            && now_unix() < token.renew_at
        {
            return Ok(token.jwt.clone());
        }
        let jwt = match self.authenticate().await {
            // Most likely another process rotated the password: once more with the secret's, if it has others.
            Err(CallError::Status(401, _)) if self.reload_credentials().await => {
                self.authenticate().await?
            }
            answer => answer?,
        };
        let renew_at = match jwt_expiry(&jwt) {
            Some(exp) => exp.saturating_sub(TOKEN_REFRESH_MARGIN.as_secs()),
            None => {
                tracing::warn!("DVLA's token has no exp: it is used once");
                0
            }
        };
        *slot = Some(Token {
            jwt: jwt.clone(),
            renew_at,
        });
        Ok(jwt)
    }

    /// Forgets `jwt` unless another request has already replaced it.
    async fn drop_token(&self, jwt: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.jwt == jwt) {
            *slot = None;
        }
    }

    fn auth_headers(&self, jwt: &str) -> Vec<(&'static str, String)> {
        vec![
            ("Authorization", jwt.to_string()),
            (
                "X-API-Key",
                self.credentials().api_key.expose_secret().to_string(),
            ),
        ]
    }

    /// Asks DVLA for a new API key (`POST /thirdparty-access/v1/new-api-key`) and keeps it in the secret. The old
    /// key stops working at once, so this is refused without a secret to keep the new one in.
    pub async fn change_api_key(&self) -> Result<(), RotationError> {
        let secret = self.secret.as_ref().ok_or(RotationError::NoSecret)?;
        // The secret's values, not those read at start-up: another process may have rotated them since.
        let latest = secret.read().await.map_err(RotationError::Retry)?;
        self.set_credentials(latest);
        let jwt = self.token().await.map_err(rotation_error)?;
        let answer = self
            .post(
                "/thirdparty-access/v1/new-api-key",
                &self.auth_headers(&jwt),
                None,
            )
            .await
            .map_err(rotation_error)?;
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| RotationError::Failed(format!("DVLA's answer unreadable: {e}")))?;
        let new_key = answer["newApiKey"]
            .as_str()
            .ok_or_else(|| RotationError::Failed("DVLA's answer has no newApiKey".into()))?;
        secret
            .update(&[(API_KEY_KEY, Some(new_key))])
            .await
            .map_err(|e| {
                RotationError::Failed(format!(
                    "DVLA issued a new API key but it could not be kept ({e}): reset it by hand"
                ))
            })?;
        let mut credentials = self.credentials();
        credentials.api_key = new_key.to_string().into();
        self.set_credentials(credentials);
        Ok(())
    }

    /// Changes the account's password (`POST /thirdparty-access/v1/password`) to a new generated one and keeps it
    /// in the secret; refused without a secret, as for the API key.
    pub async fn change_password(&self) -> Result<(), RotationError> {
        let secret = self.secret.as_ref().ok_or(RotationError::NoSecret)?;
        let latest = secret.read().await.map_err(RotationError::Retry)?;
        self.set_credentials(latest.clone());
        let new_password = generate_password();
        secret
            .update(&[(PENDING_PASSWORD_KEY, Some(&new_password))])
            .await
            .map_err(RotationError::Retry)?;
        let body = json!({
            "userName": latest.username,
            "password": latest.password.expose_secret(),
            "newPassword": new_password,
        });
        match self
            .post(
                "/thirdparty-access/v1/password",
                &[],
                Some(body.to_string().into()),
            )
            .await
        {
            Ok(_) => {}
            Err(e @ CallError::Status(..)) => {
                // DVLA answered and kept the old password: the pending one means nothing.
                if let Err(cleanup) = secret.update(&[(PENDING_PASSWORD_KEY, None)]).await {
                    tracing::warn!(error = %cleanup, "pending DVLA password not removed");
                }
                return Err(rotation_error(e));
            }
            Err(e) => {
                return Err(RotationError::Failed(format!(
                    "{e}: DVLA may or may not have taken the new password, which is kept as \
                     {PENDING_PASSWORD_KEY} in the secret"
                )));
            }
        }
        secret
            .update(&[
                (PASSWORD_KEY, Some(&new_password)),
                (PENDING_PASSWORD_KEY, None),
            ])
            .await
            .map_err(|e| {
                RotationError::Failed(format!(
                    "DVLA took the new password but it could not be made current ({e}): it is \
                     {PENDING_PASSWORD_KEY} in the secret"
                ))
            })?;
        let mut credentials = latest;
        credentials.password = new_password.into();
        self.set_credentials(credentials);
        Ok(())
    }
}

fn rotation_error(e: CallError) -> RotationError {
    if e.retryable() {
        RotationError::Retry(e.to_string())
    } else {
        RotationError::Failed(e.to_string())
    }
}

#[async_trait]
impl PrintProvider for DvlaClient {
    fn name(&self) -> &'static str {
        "dvla"
    }

    async fn print(&self, job: &PrintJob) -> Result<PrintAccepted, PrintError> {
        // Made once: with the PDF inside it is the bulk of the request, and a retry after a refused token resends
        // the same bytes.
        let body = bytes::Bytes::from(print_job_body(job).to_string());
        let mut reauthenticated = false;
        loop {
            let jwt = self
                .token()
                .await
                .map_err(|e| PrintError::Retry(format!("authentication: {e}")))?;
            let answer = self
                .post(
                    "/print-request/v1/print/jobs",
                    &self.auth_headers(&jwt),
                    Some(body.clone()),
                )
                .await;
            return match answer {
                Ok(_) => Ok(PrintAccepted::New),
                Err(CallError::Status(409, _)) => Ok(PrintAccepted::AlreadyAccepted),
                Err(CallError::Status(401 | 403, _)) if !reauthenticated => {
                    // The token or the API key was refused: DVLA may have expired the one, another process may
                    // have rotated the other. Once more with a new token and the secret's key.
                    self.drop_token(&jwt).await;
                    self.reload_credentials().await;
                    reauthenticated = true;
                    continue;
                }
                Err(e) if e.retryable() => Err(PrintError::Retry(e.to_string())),
                Err(e @ CallError::Status(401 | 403, _)) => Err(PrintError::Retry(format!(
                    "{e} (after a new token and the secret's API key)"
                ))),
                Err(e) => Err(PrintError::Rejected(e.to_string())),
            };
        }
    }
}

/// Why a rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(
        "DVLA_CREDENTIALS_SECRET is unset: a new DVLA credential could not be kept, so none is asked for"
    )]
    NoSecret,
    /// Worth another run shortly (DVLA throttled or down, the secret unreadable).
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Failed(String),
}

/// What a rotation job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    Changed,
    /// `DVLA_API_URL` is unset: letters go to the simulated printer, which has nothing to rotate.
    NotConfigured,
}

/// The `change-dvla-api-key` job: a new API key from DVLA, kept in `DVLA_CREDENTIALS_SECRET`.
pub async fn rotate_api_key(config: &Config) -> Result<Rotation, RotationError> {
    match DvlaClient::from_config(&config.print).await {
        Some(client) => client.change_api_key().await.map(|()| Rotation::Changed),
        None => Ok(Rotation::NotConfigured),
    }
}

/// The `change-dvla-password` job: a new generated password, kept in `DVLA_CREDENTIALS_SECRET`.
pub async fn rotate_password(config: &Config) -> Result<Rotation, RotationError> {
    match DvlaClient::from_config(&config.print).await {
        Some(client) => client.change_password().await.map(|()| Rotation::Changed),
        None => Ok(Rotation::NotConfigured),
    }
}

/// DVLA's rule: at least 8 characters with upper and lower case letters, digits and punctuation. 30 characters
/// from the OS's CSPRNG, drawn again until every class is present.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    const LENGTH: usize = 30;
    // Bytes at or above the largest multiple of the alphabet's size are discarded, so that no character is likelier.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    loop {
        let mut password = String::with_capacity(LENGTH);
        while password.len() < LENGTH {
            let mut bytes = [0u8; 64];
            getrandom::fill(&mut bytes).expect("the operating system's random numbers");
            for byte in bytes {
                if byte < limit && password.len() < LENGTH {
                    password.push(ALPHABET[byte as usize % ALPHABET.len()] as char);
                }
            }
        }
        let has = |class: fn(&char) -> bool| password.chars().any(|c| class(&c));
        if has(char::is_ascii_lowercase)
            && has(char::is_ascii_uppercase)
            && has(char::is_ascii_digit)
            && has(char::is_ascii_punctuation)
        {
            return password;
        }
    }
}

fn truncated(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A line that names a BFPO, and its number when it gives one (`BFPO 1234`, `bfpo c/o 1234`, a bare `BFPO`).
fn bfpo_line(line: &str) -> Option<Option<u64>> {
    let lower = line.trim().to_lowercase();
    let rest = lower.strip_prefix("bfpo")?.trim_start();
    let rest = rest.strip_prefix("c/o").unwrap_or(rest).trim();
    if rest.is_empty() {
        Some(None)
    } else if rest.bytes().all(|b| b.is_ascii_digit()) {
        Some(rest.parse().ok())
    } else {
        None
    }
}

/// `line` as a UK postcode formatted for printing (`SW1A 1AA`), if it is one: the check is Notify's own.
fn uk_postcode(line: &str) -> Option<String> {
    let probe = ["Recipient".to_string(), "Street".into(), line.to_string()];
    let parsed = PostalAddress::parse(&probe, false).ok()?;
    parsed.lines().last().cloned()
}

/// The recipient and DVLA's `address` object, as upstream builds them: a BFPO address keeps its first line (the
/// service number, rank and name) as `line1`; any other has the recipient taken off and its last line as the
/// postcode, or the country for international postage.
fn recipient_and_address(lines: &[String], postage: Postage) -> (String, Value) {
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let bfpo_number = lines.iter().find_map(|l| bfpo_line(l).flatten());
    let entry = |key: &str, value: &str| {
        let max = match key {
            "postcode" => POSTCODE_MAX,
            "country" => COUNTRY_MAX,
            _ => LINE_MAX,
        };
        (key.to_string(), Value::from(truncated(value, max)))
    };

    if let Some(number) = bfpo_number {
        let mut rest: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| bfpo_line(l).is_none())
            .collect();
        let postcode = rest.last().and_then(|l| uk_postcode(l));
        if postcode.is_some() {
            rest.pop();
        }
        let recipient = rest.first().copied().unwrap_or_default().to_string();
        let mut address: Map<String, Value> = ["line1", "line2", "line3", "line4"]
            .iter()
            .zip(&rest)
            .map(|(key, line)| entry(key, line))
            .collect();
        if let Some(postcode) = postcode {
            address.extend([entry("postcode", &postcode)]);
        }
        address.insert("bfpoNumber".into(), Value::from(number));
        return (
            truncated(&recipient, RECIPIENT_MAX),
            json!({ "bfpoAddress": address }),
        );
    }

    let recipient = lines.first().copied().unwrap_or_default();
    let rest = lines.get(1..).unwrap_or_default();
    let (kind, last_key) = match postage {
        Postage::Europe | Postage::RestOfWorld => ("internationalAddress", "country"),
        _ => ("unstructuredAddress", "postcode"),
    };
    let mut address: Map<String, Value> = Map::new();
    if let Some((last, middle)) = rest.split_last() {
        address.extend(
            ["line1", "line2", "line3", "line4", "line5"]
                .iter()
                .zip(middle)
                .map(|(key, line)| entry(key, line)),
        );
        address.extend([entry(last_key, last)]);
    }
    (
        truncated(recipient, RECIPIENT_MAX),
        json!({ kind: address }),
    )
}

/// The body of `POST /print-request/v1/print/jobs` for `job`.
pub fn print_job_body(job: &PrintJob) -> Value {
    let (recipient, address) = recipient_and_address(&job.address_lines, job.postage);
    let mut standard = json!({
        "jobType": "NOTIFY",
        "templateReference": "NOTIFY",
        "businessIdentifier": job.reference,
        "recipientName": recipient,
        "address": address,
    });
    // Second class is DVLA's default and is sent without one.
    let despatch = match job.postage {
        Postage::First => Some("FIRST"),
        Postage::Economy => Some("ECONOMY"),
        Postage::Europe => Some("INTERNATIONAL_EU"),
        Postage::RestOfWorld => Some("INTERNATIONAL_ROW"),
        Postage::Second => None,
    };
    if let Some(despatch) = despatch {
        standard["despatchMethod"] = despatch.into();
    }
    json!({
        "id": job.notification_id.to_string(),
        "standardParams": standard,
        "customParams": [
            {"key": "pdfContent", "value": base64::engine::general_purpose::STANDARD.encode(&job.pdf)},
            {"key": "organisationIdentifier", "value": job.organisation_id.map(|id| id.to_string())},
            {"key": "serviceIdentifier", "value": job.service_id.to_string()},
        ],
        "callbackParams": {
            "target": job.callback_url,
            "retryParams": {"enabled": true, "maxRetryWindow": 10800},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.split('\n').map(str::to_string).collect()
    }

    #[test]
    fn bfpo_addresses_as_upstream() {
        let (recipient, address) =
            recipient_and_address(&lines("recipient\nbfpo\nbfpo1234\nbf11aa"), Postage::Second);
        assert_eq!(recipient, "recipient");
        assert_eq!(
            address,
            json!({"bfpoAddress": {"line1": "recipient", "postcode": "BF1 1AA", "bfpoNumber": 1234}})
        );
        let (_, address) =
            recipient_and_address(&lines("Sgt A Smith\n1 Unit\nBFPO c/o 99"), Postage::First);
        assert_eq!(
            address,
            json!({"bfpoAddress": {"line1": "Sgt A Smith", "line2": "1 Unit", "bfpoNumber": 99}})
        );
    }

    #[test]
    fn the_jwt_expiry_is_read_without_a_signature_check() {
        let claims =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1900000000}"#);
        assert_eq!(jwt_expiry(&format!("x.{claims}.sig")), Some(1_900_000_000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
    }

    #[test]
    fn generated_passwords_meet_dvla_rules_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), 30);
        assert_ne!(a, b);
        for class in [
            char::is_ascii_lowercase as fn(&char) -> bool,
            char::is_ascii_uppercase,
            char::is_ascii_digit,
            char::is_ascii_punctuation,
        ] {
            assert!(a.chars().any(|c| class(&c)), "{a}");
        }
    }
}
