//! RDS Proxy IAM authentication: the token is a SigV4 pre-signed `connect` request for the `rds-db` service, made
//! locally with no call to AWS, byte for byte what the AWS SDKs' `generate_db_auth_token` makes (aws-sdk-rust has
//! no helper: awslabs/aws-sdk-rust#147). It is the connection's password and is valid for 15 minutes.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// How long AWS accepts a token for.
const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// A cached token is replaced this long before it expires, so a connection never starts with one about to lapse.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Where the proxy is and who connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUser {
    pub region: String,
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// The token for `who`, signed at `at` with `credentials`.
pub fn auth_token(
    credentials: &Credentials,
    who: &ProxyUser,
    at: SystemTime,
) -> anyhow::Result<String> {
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&who.region)
        .name("rds-db")
        .time(at)
        .settings(settings)
        .build()?
        .into();
    let url = format!(
        "https://{}:{}/?Action=connect&DBUser={}",
        who.host,
        who.port,
        percent_encoding::utf8_percent_encode(&who.user, AWS_QUERY_VALUE)
    );
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let (_, signed_params) = instructions.into_parts();
    // The query in the SDKs' order (the signature does not depend on it; string comparisons of tokens do).
    let mut token = url.trim_start_matches("https://").to_string();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ] {
        if let Some((_, value)) = signed_params.iter().find(|(n, _)| *n == name) {
            token.push('&');
            token.push_str(name);
            token.push('=');
            token.extend(percent_encoding::utf8_percent_encode(
                value,
                AWS_QUERY_VALUE,
            ));
        }
    }
    anyhow::ensure!(
        token.contains("X-Amz-Signature="),
        "the signer gave no signature"
    );
    Ok(token)
}

/// SigV4's URI encoding: everything but the unreserved characters.
const AWS_QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Tokens for one proxy user, cached per execution environment and made again before they expire or after the
/// proxy refused one.
pub struct IamTokens {
    who: ProxyUser,
    credentials: SharedCredentialsProvider,
    cached: Mutex<Option<(String, SystemTime)>>,
}

impl IamTokens {
    pub fn new(who: ProxyUser, credentials: SharedCredentialsProvider) -> Self {
        IamTokens {
            who,
            credentials,
            cached: Mutex::new(None),
        }
    }

    pub fn user(&self) -> &str {
        &self.who.user
    }

    pub async fn token(&self) -> anyhow::Result<String> {
        let now = SystemTime::now();
        if let Some((token, signed_at)) = &*self.cached.lock().expect("token cache") {
            let age = now.duration_since(*signed_at).unwrap_or(TOKEN_LIFETIME);
            if age + REFRESH_BEFORE_EXPIRY < TOKEN_LIFETIME {
                return Ok(token.clone());
            }
        }
        let credentials = self.credentials.provide_credentials().await?;
        let token = auth_token(&credentials, &self.who, now)?;
        *self.cached.lock().expect("token cache") = Some((token.clone(), now));
        Ok(token)
    }

    /// The proxy refused the cached token (clock skew, rotated role credentials): sign a new one next time.
    pub fn forget(&self) {
        *self.cached.lock().expect("token cache") = None;
    }
}

#[async_trait::async_trait]
impl crate::PasswordSource for IamTokens {
    async fn password(&self) -> anyhow::Result<String> {
        self.token().await
    }

    fn refused(&self) {
        self.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> ProxyUser {
        ProxyUser {
            region: "eu-west-2".into(),
            host: "notify-proxy.proxy-abcdefghijkl.eu-west-2.rds.amazonaws.com".into(),
            port: 5432,
            user: "notify_app".into(),
        }
    }

    fn credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "fixed",
        )
    }

    /// The expected tokens were made by botocore 1.x's `RDS.Client.generate_db_auth_token` for the same inputs,
    /// with its clock fixed at 2026-11-27T10:00:00Z (`infra/scripts/rds_auth_token.py` shows how).
    #[test]
    fn the_token_is_the_one_the_aws_sdks_make() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_773_600);
        let token = auth_token(&credentials(), &who(), at).unwrap();
        assert_eq!(token, include_str!("rds_auth_token.expected").trim());
        let with_session = Credentials::new(
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token/with+special=chars".into()),
            None,
            "fixed",
        );
        let token = auth_token(&with_session, &who(), at).unwrap();
        assert_eq!(
            token,
            include_str!("rds_auth_token_session.expected").trim()
        );
    }

    #[tokio::test]
    async fn tokens_are_cached_until_near_expiry_or_refused() {
        let tokens = IamTokens::new(who(), SharedCredentialsProvider::new(credentials()));
        let first = tokens.token().await.unwrap();
        assert_eq!(tokens.token().await.unwrap(), first, "cached");
        *tokens.cached.lock().unwrap() =
            Some((first.clone(), SystemTime::now() - Duration::from_secs(601)));
        let renewed = tokens.token().await.unwrap();
        assert!(
            renewed
                .starts_with("notify-proxy.proxy-abcdefghijkl.eu-west-2.rds.amazonaws.com:5432/?")
        );
        let cached_at = tokens.cached.lock().unwrap().as_ref().unwrap().1;
        assert!(
            cached_at.elapsed().unwrap() < Duration::from_secs(5),
            "made again"
        );
        tokens.forget();
        assert!(tokens.cached.lock().unwrap().is_none());
    }
}
