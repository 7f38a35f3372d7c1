//! AWS SDK configuration shared by every client: rustls on ring (aws-lc-rs costs 30–45 ms on each cold start's
//! first handshake), endpoint overridable for moto.

/// The SDK's HTTP client, on rustls with ring.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// An emulator's configuration (moto, or a test's fake): its endpoint, fixed test credentials, `eu-west-2`.
/// Tests and benchmarks build every AWS client from this one place.
pub fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new("test", "test", None, None, "static");
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("eu-west-2"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build()
}

pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}
