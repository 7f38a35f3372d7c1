//! Where a deployment's secrets and database come from: Secrets Manager ARNs and RDS Proxy settings, resolved
//! into the variables (and the database's password source) that every section is then read from.

use std::collections::HashMap;

use secrecy::SecretString;

use crate::variables::Vars;
use crate::{ConfigError, DatabaseCredentials};

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

/// Where a deployment's secrets and database come from.
pub(crate) struct AwsSources {
    secret_arns: Vec<String>,
    db_auth: Option<String>,
    db_secret_arn: Option<String>,
    db_host: Option<String>,
    db_port: u16,
    db_name: String,
    db_user: Option<String>,
}

impl AwsSources {
    pub(crate) fn read(vars: &Vars) -> Result<Self, ConfigError> {
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
            secret_arns: [
                "APP_SECRET_ARN",
                "ADMIN_SECRET_ARN",
                "PROVIDER_SECRET_ARN",
                "DVLA_CREDENTIALS_SECRET",
            ]
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

/// `vars` with the secrets and database of a deployment filled in. In AWS the secrets come from Secrets
/// Manager: `APP_SECRET_ARN` (`secret_key`), `ADMIN_SECRET_ARN` (`admin_client_secret`) and `PROVIDER_SECRET_ARN`
/// (`firetext_api_key`, `provider_callback_credentials`) and `DVLA_CREDENTIALS_SECRET` (`dvla_username`,
/// `dvla_password`, `dvla_api_key`, which the DVLA rotation jobs rewrite), each a JSON object, only those the
/// function needs; their values win over the variables. The database is the RDS Proxy at `DB_HOST`/`DB_PORT`/`DB_NAME` over verified
/// TLS, as `DB_USER` with an IAM token (`DB_AUTH=iam`) or with the RDS secret at `DB_SECRET_ARN`. Either password
/// is cached per execution environment and made or read again when it expires or is refused.
pub(crate) async fn resolve(
    mut vars: HashMap<String, String>,
) -> Result<(HashMap<String, String>, DatabaseCredentials), ConfigError> {
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
                ("dvla_username", "DVLA_USERNAME"),
                ("dvla_password", "DVLA_PASSWORD"),
                ("dvla_api_key", "DVLA_API_KEY"),
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
                password: field("password").map(SecretString::from),
            };
        }
    }
    Ok((vars, database_credentials))
}
