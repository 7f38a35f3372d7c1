//! clamd over its socket (INSTREAM), through the clamav-client crate.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_trait::async_trait;
use clamav_client::tokio::{Socket, Tcp, TransportProtocol};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{ScanError, ScanFile, Scanner, Verdict};

/// Where clamd listens when `CLAMD_ADDRESS` is unset, in the order tried: Debian's clamav-daemon socket, then
/// clamd's own TCP default.
pub const DEFAULT_ADDRESSES: [&str; 2] = ["/run/clamav/clamd.ctl", "127.0.0.1:3310"];

/// How long one scan may take, connecting included. A letter is at most a few megabytes; a clamd that takes
/// longer is treated as unavailable and the letter is scanned again later.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `from_config` waits for each address to answer PING, so that a missing clamd cannot hold up start-up.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

// clamd reads the stream in chunks of whatever size the client sends; 64 KiB keeps the system calls few.
const CHUNK_SIZE: usize = 64 * 1024;

/// A clamd address, as `CLAMD_ADDRESS` gives it: a unix socket path (it contains `/` or ends in `.sock` or
/// `.ctl`) or TCP `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl ClamdAddress {
    pub fn parse(address: &str) -> Result<Self, String> {
        let address = address.trim();
        if address.is_empty() {
            return Err("a clamd address cannot be empty".into());
        }
        if address.contains('/') || address.ends_with(".sock") || address.ends_with(".ctl") {
            return Ok(ClamdAddress::Unix(PathBuf::from(address)));
        }
        match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(ClamdAddress::Tcp(address.to_string()))
            }
            _ => Err(format!(
                "clamd address {address:?} is neither a unix socket path nor host:port"
            )),
        }
    }

    /// The addresses to try: `CLAMD_ADDRESS` alone when set (a given address is never second-guessed), else
    /// [`DEFAULT_ADDRESSES`].
    pub fn candidates(config: &notify_config::ScanConfig) -> Result<Vec<Self>, String> {
        match &config.clamd_address {
            Some(address) => Ok(vec![Self::parse(address)?]),
            None => DEFAULT_ADDRESSES.iter().map(|a| Self::parse(a)).collect(),
        }
    }
}

impl fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClamdAddress::Unix(path) => write!(f, "{}", path.display()),
            ClamdAddress::Tcp(address) => f.write_str(address),
        }
    }
}

/// clamd at one address. Each call opens its own connection (clamd answers one command per connection with the
/// `z` commands the crate sends), so the scanner holds nothing open between letters.
#[derive(Clone, Debug)]
pub struct ClamdScanner {
    address: ClamdAddress,
    timeout: Duration,
}

impl ClamdScanner {
    pub fn new(address: ClamdAddress) -> Self {
        ClamdScanner {
            address,
            timeout: SCAN_TIMEOUT,
        }
    }

    /// The same scanner with another limit on each call.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        ClamdScanner { timeout, ..self }
    }

    pub fn address(&self) -> &ClamdAddress {
        &self.address
    }

    /// clamd's PING: `Ok` when it answers PONG.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = self
            .call(|connection| async move { clamav_client::tokio::ping(connection).await })
            .await?;
        if reply.as_slice() == clamav_client::PONG {
            Ok(())
        } else {
            Err(ScanError::Unavailable(format!(
                "clamd at {} answered PING with {:?}",
                self.address,
                String::from_utf8_lossy(&reply)
            )))
        }
    }

    /// One command on a fresh connection, within the timeout; a connection that fails or stalls is
    /// `Unavailable`.
    async fn call<F, Fut>(&self, command: F) -> Result<Vec<u8>, ScanError>
    where
        F: FnOnce(Transport) -> Fut,
        Fut: Future<Output = io::Result<Vec<u8>>>,
    {
        let unavailable =
            |why: String| ScanError::Unavailable(format!("clamd at {}: {why}", self.address));
        match tokio::time::timeout(self.timeout, command(Transport(self.address.clone()))).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(unavailable(e.to_string())),
            Err(_) => Err(unavailable(format!(
                "no answer within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

#[async_trait]
impl Scanner for ClamdScanner {
    fn name(&self) -> &'static str {
        "clamd"
    }

    fn describe(&self) -> String {
        format!("clamd at {}", self.address)
    }

    async fn scan(&self, file: ScanFile<'_>) -> Result<Verdict, ScanError> {
        let bytes = file.bytes;
        let reply = self
            .call(|connection| async move {
                clamav_client::tokio::scan_buffer(bytes, connection, Some(CHUNK_SIZE)).await
            })
            .await?;
        verdict(&reply).map_err(|e| match e {
            ScanError::Failed(why) => {
                ScanError::Failed(format!("clamd at {}: {why}", self.address))
            }
            other => other,
        })
    }
}

/// clamd's INSTREAM reply: `stream: OK`, `stream: <signature> FOUND`, or `<reason> ERROR` (the size limit, a
/// file it cannot read), each ended by a NUL under the `z` commands.
fn verdict(reply: &[u8]) -> Result<Verdict, ScanError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches('\0').trim();
    if text.is_empty() {
        // clamd hung up without a word: it stopped or restarted mid-scan.
        return Err(ScanError::Unavailable(
            "clamd closed the connection without a reply".into(),
        ));
    }
    if let Some(reason) = text.strip_suffix(" ERROR") {
        let reason = reason.strip_prefix("stream:").unwrap_or(reason);
        return Err(ScanError::Failed(reason.trim().to_string()));
    }
    let result = text.strip_prefix("stream:").map(str::trim);
    match result {
        Some("OK") => Ok(Verdict::Clean),
        Some(found) => match found.strip_suffix(" FOUND") {
            Some(signature) if !signature.trim().is_empty() => Ok(Verdict::Infected {
                signature: signature.trim().to_string(),
            }),
            _ => Err(ScanError::Failed(format!("unexpected reply {text:?}"))),
        },
        None => Err(ScanError::Failed(format!("unexpected reply {text:?}"))),
    }
}

/// The crate's connection to one address. Its stream treats clamd hanging up as the end of the conversation
/// rather than an error: over `StreamMaxLength` clamd writes its `ERROR` reply and closes while the client is
/// still sending, and that reply is what says why the scan failed.
struct Transport(ClamdAddress);

impl TransportProtocol for Transport {
    type Stream = HangUpTolerant;

    async fn connect(&self) -> io::Result<HangUpTolerant> {
        let stream = match &self.0 {
            ClamdAddress::Unix(path) => Stream::Unix(
                Socket {
                    socket_path: path.as_path(),
                }
                .connect()
                .await?,
            ),
            ClamdAddress::Tcp(address) => Stream::Tcp(
                Tcp {
                    host_address: address.as_str(),
                }
                .connect()
                .await?,
            ),
        };
        Ok(HangUpTolerant {
            stream,
            hung_up: false,
        })
    }
}

enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

struct HangUpTolerant {
    stream: Stream,
    /// clamd closed its end while we were writing: the rest is discarded and the reply read as it stands.
    hung_up: bool,
}

fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

impl AsyncRead for HangUpTolerant {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = ready!(match &mut this.stream {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        });
        // After a hang-up a reset ends the reply like EOF; what arrived before it is kept.
        match result {
            Err(e) if this.hung_up && is_hang_up(&e) => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }
}

impl AsyncWrite for HangUpTolerant {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.hung_up {
            return Poll::Ready(Ok(data.len()));
        }
        let result = ready!(match &mut this.stream {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, data),
        });
        match result {
            Err(e) if is_hang_up(&e) => {
                this.hung_up = true;
                Poll::Ready(Ok(data.len()))
            }
            other => Poll::Ready(other),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.hung_up {
            return Poll::Ready(Ok(()));
        }
        match &mut this.stream {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.hung_up {
            return Poll::Ready(Ok(()));
        }
        match &mut this.stream {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// clamd at `CLAMD_ADDRESS` (else Debian's socket, then 127.0.0.1:3310) when it answers a PING; `None` (and a
/// clear warning) when none does.
pub async fn from_config(config: &notify_config::ScanConfig) -> Option<Arc<dyn Scanner>> {
    let candidates = match ClamdAddress::candidates(config) {
        Ok(candidates) => candidates,
        Err(why) => {
            tracing::warn!(
                "CLAMD_ADDRESS: {why}: precompiled letters wait in pending-virus-check until a virus scanner answers"
            );
            return None;
        }
    };
    for address in &candidates {
        let scanner = ClamdScanner::new(address.clone());
        match scanner.clone().with_timeout(PING_TIMEOUT).ping().await {
            Ok(()) => {
                tracing::info!("virus scanner: clamd at {address}");
                return Some(Arc::new(scanner));
            }
            Err(e) => tracing::debug!("no clamd: {e}"),
        }
    }
    tracing::warn!(
        "no virus scanner answered at {}: precompiled letters wait in pending-virus-check until one does",
        tried(&candidates)
    );
    None
}

/// The addresses as the warning lists them: `a`, `a or b`.
pub fn tried(candidates: &[ClamdAddress]) -> String {
    candidates
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unix_paths_or_host_and_port() {
        assert_eq!(
            ClamdAddress::parse("/run/clamav/clamd.ctl"),
            Ok(ClamdAddress::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert_eq!(
            ClamdAddress::parse("clamd.sock"),
            Ok(ClamdAddress::Unix("clamd.sock".into()))
        );
        assert_eq!(
            ClamdAddress::parse("127.0.0.1:3310"),
            Ok(ClamdAddress::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            ClamdAddress::parse("clamav:3310"),
            Ok(ClamdAddress::Tcp("clamav:3310".into()))
        );
        assert!(ClamdAddress::parse("localhost").is_err());
        assert!(ClamdAddress::parse("localhost:http").is_err());
        assert!(ClamdAddress::parse(" ").is_err());
    }

    #[test]
    fn unset_address_tries_debian_socket_then_tcp() {
        let config = notify_config::ScanConfig {
            scanner: notify_config::ScannerKind::Clamd,
            clamd_address: None,
        };
        let candidates = ClamdAddress::candidates(&config).unwrap();
        assert_eq!(
            tried(&candidates),
            "/run/clamav/clamd.ctl or 127.0.0.1:3310"
        );
    }

    #[test]
    fn replies_become_verdicts() {
        assert_eq!(verdict(b"stream: OK\0"), Ok(Verdict::Clean));
        assert_eq!(
            verdict(b"stream: Notify.Test.EICAR.UNOFFICIAL FOUND\0"),
            Ok(Verdict::Infected {
                signature: "Notify.Test.EICAR.UNOFFICIAL".into()
            })
        );
        assert_eq!(
            verdict(b"INSTREAM size limit exceeded. ERROR\0"),
            Err(ScanError::Failed("INSTREAM size limit exceeded.".into()))
        );
        assert!(matches!(verdict(b""), Err(ScanError::Unavailable(_))));
        assert!(matches!(verdict(b"PONG\0"), Err(ScanError::Failed(_))));
        assert!(matches!(
            verdict(b"stream:  FOUND\0"),
            Err(ScanError::Failed(_))
        ));
    }
}
