//! The HTTP client for calls to services' own endpoints (callbacks): safe to point at the internet. It resolves
//! names itself and refuses loopback, private, link-local (cloud metadata), shared and other special-purpose
//! addresses unless allow-listed; it checks every redirect the same way; it trusts the webpki roots plus an
//! optional CA bundle, so receivers behind a private CA get real TLS rather than an exception.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Addresses (and host names) that may be called even though they are not public.
#[derive(Clone, Debug, Default)]
pub struct AllowList(Vec<String>);

impl AllowList {
    pub fn new(entries: impl IntoIterator<Item = String>) -> Self {
        AllowList(entries.into_iter().map(|e| e.to_lowercase()).collect())
    }

    fn permits_host(&self, host: &str) -> bool {
        self.0.iter().any(|e| e == &host.to_lowercase())
    }

    fn permits_ip(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|e| e.parse::<IpAddr>().ok() == Some(ip))
    }
}

/// Whether `ip` is an address on the public internet (not loopback, private, link-local, shared, documentation,
/// multicast, unspecified, or an IPv4 address in IPv6 clothing that is one of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..=127).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Why a callback URL may not be called.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Checks a URL before any connection: https only, and an IP-literal host must be public or allow-listed (names
/// are checked when they are resolved).
pub fn check_url(url: &url::Url, allow: &AllowList) -> Result<(), Refused> {
    if url.scheme() != "https" {
        return Err(Refused(format!("{} is not https", url.scheme())));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(Refused("no host".into())),
    };
    if is_public(ip) || allow.permits_ip(ip) {
        Ok(())
    } else {
        Err(Refused(format!("{ip} is not a public address")))
    }
}

/// Resolves with the system resolver, then keeps only addresses the allow rules permit.
struct GuardedResolver {
    allow: AllowList,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let host_allowed = allow.permits_host(&host);
            let usable: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| host_allowed || is_public(a.ip()) || allow.permits_ip(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(
                    Box::new(Refused(format!("{host} resolves to no public address")))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

/// TLS trusting the webpki roots and, when given, the certificates of a PEM bundle.
fn tls(ca_bundle: Option<&std::path::Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_bundle {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("CALLBACK_CA_BUNDLE {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| anyhow::anyhow!("CALLBACK_CA_BUNDLE: {e}"))?;
            roots.add(cert)?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The callback client: `timeout` for the whole call, redirects followed (as Notify's `requests` does) only to
/// https URLs that pass the same checks, at most 5.
pub fn client(
    allow: AllowList,
    ca_bundle: Option<&std::path::Path>,
    timeout: Duration,
) -> anyhow::Result<reqwest::Client> {
    let redirect_allow = allow.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match check_url(attempt.url(), &redirect_allow) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    });
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls(ca_bundle)?)
        .http1_only()
        .dns_resolver(Arc::new(GuardedResolver { allow }))
        .redirect(policy)
        .timeout(timeout)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "151.101.0.1", "2a00:1450:4009::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_connecting() {
        let none = AllowList::default();
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert!(check_url(&url("http://example.com/"), &none).is_err());
        assert!(check_url(&url("https://127.0.0.1/cb"), &none).is_err());
        assert!(check_url(&url("https://[::1]/cb"), &none).is_err());
        assert!(check_url(&url("https://169.254.169.254/latest/meta-data"), &none).is_err());
        assert!(check_url(&url("https://example.com/cb"), &none).is_ok());
        let local = AllowList::new(["127.0.0.1".to_string()]);
        assert!(check_url(&url("https://127.0.0.1:8443/cb"), &local).is_ok());
        assert!(check_url(&url("https://169.254.169.254/"), &local).is_err());
    }
}
