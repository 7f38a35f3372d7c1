//! The clamd scanner against the project's own clamd (`infra/scripts/clamd`, whose only signature finds the
//! EICAR test string anywhere in a file). The test command exports its socket as CLAMD_ADDRESS; without a clamd
//! these tests fail rather than pass unseen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use notify_config::{ScanConfig, ScannerKind};
use notify_outbound::scan::clamd::{self, ClamdAddress, ClamdScanner};
use notify_outbound::scan::{ScanError, ScanFile, Scanner, Verdict};

const SIGNATURE: &str = "Notify.Test.EICAR.UNOFFICIAL";

/// The project's clamd, which must answer: a missing one is a broken test setup, not a pass.
async fn project_clamd() -> ClamdAddress {
    let Ok(address) = std::env::var("CLAMD_ADDRESS") else {
        panic!(
            "CLAMD_ADDRESS is unset: start the project's clamd with `infra/scripts/clamd` and export the socket \
             it prints as CLAMD_ADDRESS (infra/scripts/test does both)"
        );
    };
    let address = ClamdAddress::parse(&address).expect("CLAMD_ADDRESS parses");
    if let Err(e) = ClamdScanner::new(address.clone()).ping().await {
        panic!(
            "CLAMD_ADDRESS={address} does not answer PING ({e}): start it with `infra/scripts/clamd`"
        );
    }
    address
}

/// The EICAR test string, which the project's clamd reports (kept reversed in the samples, so that no
/// source or binary of ours carries it).
fn eicar() -> Vec<u8> {
    notify_precompiled::samples::eicar()
}

/// A PDF-like letter body with the EICAR string in the middle of a content stream.
fn pdf_carrying_eicar() -> Vec<u8> {
    let mut body =
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n4 0 obj\n<< >>\nstream\n"
            .to_vec();
    body.extend(std::iter::repeat_n(b'q', 20_000));
    body.extend(eicar());
    body.extend(std::iter::repeat_n(b'Q', 20_000));
    body.extend(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    body
}

fn clean_pdf() -> Vec<u8> {
    let mut body = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    body.extend(b"BT /F1 12 Tf 72 720 Td (Dear Amala, this is a letter) Tj ET\n".repeat(500));
    body.extend(b"%%EOF\n");
    body
}

fn file(bytes: &[u8]) -> ScanFile<'_> {
    ScanFile {
        key: "service-id/notification-id.pdf",
        bytes,
    }
}

fn config(address: &str) -> ScanConfig {
    ScanConfig {
        scanner: ScannerKind::Clamd,
        clamd_address: Some(address.to_string()),
    }
}

/// A TCP port on which nothing listens (bound, then released).
fn dead_tcp_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("127.0.0.1:{port}")
}

fn dead_socket_path() -> PathBuf {
    std::env::temp_dir().join(format!("notify-no-clamd-{}.sock", std::process::id()))
}

/// The project's clamd on TCP: a listener on a free local port forwarding each connection to its unix socket,
/// so that the TCP transport is checked against clamd's real replies.
async fn clamd_over_tcp(socket: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                let mut unix = tokio::net::UnixStream::connect(&socket).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            });
        }
    });
    address
}

fn unix_path(address: &ClamdAddress) -> PathBuf {
    match address {
        ClamdAddress::Unix(path) => path.clone(),
        ClamdAddress::Tcp(a) => {
            panic!("CLAMD_ADDRESS={a} is TCP; the project's clamd is on a unix socket")
        }
    }
}

#[tokio::test]
async fn clean_bytes_are_clean() {
    let scanner = ClamdScanner::new(project_clamd().await);
    assert_eq!(scanner.name(), "clamd");
    assert_eq!(scanner.scan(file(&clean_pdf())).await, Ok(Verdict::Clean));
    assert_eq!(scanner.scan(file(b"")).await, Ok(Verdict::Clean));
}

#[tokio::test]
async fn eicar_inside_a_pdf_is_infected_with_the_signature_name() {
    let scanner = ClamdScanner::new(project_clamd().await);
    assert_eq!(
        scanner.scan(file(&pdf_carrying_eicar())).await,
        Ok(Verdict::Infected {
            signature: SIGNATURE.into()
        })
    );
    assert_eq!(
        scanner.scan(file(&eicar())).await,
        Ok(Verdict::Infected {
            signature: SIGNATURE.into()
        })
    );
}

#[tokio::test]
async fn a_stream_over_stream_max_length_is_a_failed_scan() {
    let scanner = ClamdScanner::new(project_clamd().await);
    // The project's clamd.conf sets StreamMaxLength 10M.
    let big = vec![b'x'; 11 * 1024 * 1024];
    match scanner.scan(file(&big)).await {
        Err(ScanError::Failed(why)) => assert!(why.contains("size limit exceeded"), "{why}"),
        other => panic!("expected a failed scan, got {other:?}"),
    }
    // clamd is still there for the next letter.
    assert_eq!(scanner.scan(file(&clean_pdf())).await, Ok(Verdict::Clean));
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    for address in [
        ClamdAddress::Unix(dead_socket_path()),
        ClamdAddress::parse(&dead_tcp_address()).unwrap(),
    ] {
        let scanner = ClamdScanner::new(address.clone());
        match scanner.scan(file(&clean_pdf())).await {
            Err(ScanError::Unavailable(why)) => {
                assert!(why.contains(&address.to_string()), "{why}")
            }
            other => panic!("{address}: expected unavailable, got {other:?}"),
        }
        assert!(matches!(
            scanner.ping().await,
            Err(ScanError::Unavailable(_))
        ));
    }
}

#[tokio::test]
async fn a_clamd_that_never_answers_times_out_as_unavailable() {
    // Accepts, reads nothing, answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let scanner = ClamdScanner::new(ClamdAddress::parse(&address).unwrap())
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    match scanner.scan(file(&clean_pdf())).await {
        Err(ScanError::Unavailable(why)) => assert!(why.contains("no answer within"), "{why}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn tcp_reaches_the_same_clamd() {
    let socket = unix_path(&project_clamd().await);
    let address = clamd_over_tcp(socket).await;
    let scanner = ClamdScanner::new(ClamdAddress::parse(&address).unwrap());
    assert_eq!(scanner.address(), &ClamdAddress::Tcp(address.clone()));
    scanner.ping().await.unwrap();
    assert_eq!(scanner.scan(file(&clean_pdf())).await, Ok(Verdict::Clean));
    assert_eq!(
        scanner.scan(file(&pdf_carrying_eicar())).await,
        Ok(Verdict::Infected {
            signature: SIGNATURE.into()
        })
    );
}

#[tokio::test]
async fn from_config_uses_the_given_address() {
    let address = project_clamd().await;
    let scanner = clamd::from_config(&config(&address.to_string()))
        .await
        .expect("the project's clamd answers");
    assert_eq!(scanner.name(), "clamd");
    assert_eq!(scanner.describe(), format!("clamd at {address}"));
    assert_eq!(
        scanner.scan(file(&pdf_carrying_eicar())).await,
        Ok(Verdict::Infected {
            signature: SIGNATURE.into()
        })
    );

    let tcp = clamd_over_tcp(unix_path(&address)).await;
    let scanner = clamd::from_config(&config(&tcp))
        .await
        .expect("clamd over TCP answers");
    assert_eq!(scanner.describe(), format!("clamd at {tcp}"));
}

#[tokio::test]
async fn from_config_has_no_scanner_where_nothing_listens() {
    let socket = dead_socket_path();
    for address in [socket.to_str().unwrap().to_string(), dead_tcp_address()] {
        // A given address is the only one tried: no fallback to a clamd elsewhere.
        assert!(
            clamd::from_config(&config(&address)).await.is_none(),
            "{address}"
        );
    }
    assert!(
        clamd::from_config(&config("not-an-address"))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_kind_chooses_clamd() {
    let address = project_clamd().await;
    let mut config =
        notify_config::Config::for_development("postgres://postgres@127.0.0.1:5432/unused");
    config.scan = self::config(&address.to_string());
    let scanner = notify_outbound::scan::from_config(&config)
        .await
        .expect("clamd answers");
    assert_eq!(scanner.describe(), format!("clamd at {address}"));
}
