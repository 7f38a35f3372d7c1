//! Where the database password comes from when it is not in `DATABASE_URL`: RDS Proxy in AWS, with an IAM token
//! or the RDS secret. Configuration only names the source ([`DatabaseCredentials`]); the credentials themselves
//! are made and read here, the one crate that connects.

use std::sync::{Arc, Mutex};

use notify_config::{DatabaseCredentials, ExposeSecret};
use tokio::sync::OnceCell;

use crate::DatabasePassword;
use crate::PasswordSource;
use crate::rds_auth::{IamTokens, ProxyUser};

/// The password source `credentials` names; none when the password is in the URL.
pub fn password_source(credentials: &DatabaseCredentials) -> Option<DatabasePassword> {
    match credentials {
        DatabaseCredentials::InUrl => None,
        DatabaseCredentials::Iam {
            region,
            host,
            port,
            user,
        } => Some(DatabasePassword(Arc::new(RoleTokens {
            who: ProxyUser {
                region: region.clone(),
                host: host.clone(),
                port: *port,
                user: user.clone(),
            },
            tokens: OnceCell::new(),
        }))),
        DatabaseCredentials::RdsSecret { arn, password } => {
            Some(DatabasePassword(Arc::new(SecretPassword {
                client: OnceCell::new(),
                arn: arn.clone(),
                cached: Mutex::new(password.as_ref().map(|p| p.expose_secret().to_string())),
            })))
        }
    }
}

/// IAM tokens signed with the execution role's credentials, found on the first connection.
struct RoleTokens {
    who: ProxyUser,
    tokens: OnceCell<IamTokens>,
}

#[async_trait::async_trait]
impl PasswordSource for RoleTokens {
    async fn password(&self) -> anyhow::Result<String> {
        let tokens = self
            .tokens
            .get_or_try_init(|| async {
                let sdk = notify_config::aws::sdk_config(None).await;
                let credentials = sdk.credentials_provider().ok_or_else(|| {
                    anyhow::anyhow!("no AWS credentials for the IAM database token")
                })?;
                anyhow::Ok(IamTokens::new(self.who.clone(), credentials))
            })
            .await?;
        tokens.token().await
    }

    fn refused(&self) {
        if let Some(tokens) = self.tokens.get() {
            tokens.forget();
        }
    }
}

/// The RDS secret's password, read once per execution environment and again after the server refused it (the
/// secret was rotated).
struct SecretPassword {
    client: OnceCell<aws_sdk_secretsmanager::Client>,
    arn: String,
    cached: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl PasswordSource for SecretPassword {
    async fn password(&self) -> anyhow::Result<String> {
        if let Some(password) = self.cached.lock().expect("password cache").clone() {
            return Ok(password);
        }
        let client = self
            .client
            .get_or_init(|| async {
                aws_sdk_secretsmanager::Client::new(&notify_config::aws::sdk_config(None).await)
            })
            .await;
        let secret = notify_config::fetch_json(client, &self.arn).await?;
        let password = secret
            .get("password")
            .and_then(|v| v.as_str())
            .ok_or_else(|| anyhow::anyhow!("{} has no password", self.arn))?
            .to_string();
        *self.cached.lock().expect("password cache") = Some(password.clone());
        Ok(password)
    }

    fn refused(&self) {
        *self.cached.lock().expect("password cache") = None;
    }
}
