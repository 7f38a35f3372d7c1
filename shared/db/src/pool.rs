//! The pool: how connections are opened (TLS, the password source, one retry after a refused password) and
//! handed out, one per unit of work.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::future::BoxFuture;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

use crate::conn::Conn;
use crate::{DbError, DbResult};

/// Short-lived connections from a small bounded pool. Handed out per unit of work and returned as soon as it
/// is done, so nothing downstream can hold one across an outbound HTTP call.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Short-lived mode (workers, Lambda): each connection is closed when its unit of work ends, so none is
    /// open while the caller goes on to make an outbound HTTP call.
    keep_idle: bool,
}

/// TLS verified against the webpki roots (RDS Proxy serves ACM certificates), used when the URL says
/// `sslmode=require`. Otherwise plain TCP: a local server's self-signed certificate would not verify.
fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// Where a connection's password comes from when it is not in the URL: made or read when a connection opens,
/// cached by the source, and given up when the server refuses it.
#[async_trait::async_trait]
pub trait PasswordSource: Send + Sync {
    async fn password(&self) -> anyhow::Result<String>;
    /// The server refused the last password: the next call must not return it from a cache.
    fn refused(&self);
}

#[derive(Clone)]
pub struct DatabasePassword(pub Arc<dyn PasswordSource>);

impl std::fmt::Debug for DatabasePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabasePassword(..)")
    }
}

/// Opens connections for the pool, asking the password source each time; one refusal (a rotated secret, an
/// expired token) gets one more try with a fresh password.
struct Connector {
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    password: Option<DatabasePassword>,
}

type Connected = (tokio_postgres::Client, tokio::task::JoinHandle<()>);

impl Connector {
    async fn open(&self, pg: &tokio_postgres::Config) -> Result<Connected, tokio_postgres::Error> {
        let mut pg = pg.clone();
        if let Some(DatabasePassword(source)) = &self.password {
            match source.password().await {
                Ok(password) => {
                    pg.password(password);
                }
                // The connect below fails on authentication and says so; the cause is logged here.
                Err(e) => tracing::error!(error = %e, "no database password"),
            }
        }
        fn spawn<C>(connection: C) -> tokio::task::JoinHandle<()>
        where
            C: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
        {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "database connection ended with an error");
                }
            })
        }
        match &self.tls {
            Some(tls) => {
                let (client, connection) = pg.connect(tls.clone()).await?;
                Ok((client, spawn(connection)))
            }
            None => {
                let (client, connection) = pg.connect(NoTls).await?;
                Ok((client, spawn(connection)))
            }
        }
    }
}

fn refused(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        c == &SqlState::INVALID_PASSWORD || c == &SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    })
}

impl deadpool_postgres::Connect for Connector {
    fn connect(
        &self,
        pg: &tokio_postgres::Config,
    ) -> BoxFuture<'_, Result<Connected, tokio_postgres::Error>> {
        let pg = pg.clone();
        Box::pin(async move {
            match self.open(&pg).await {
                Err(e) if refused(&e) => match &self.password {
                    Some(DatabasePassword(source)) => {
                        tracing::warn!("the database refused the password; getting a fresh one");
                        source.refused();
                        self.open(&pg).await
                    }
                    None => Err(e),
                },
                other => other,
            }
        })
    }
}

impl Db {
    pub fn connect(database_url: &str, pool_size: usize, application_name: &str) -> DbResult<Self> {
        Db::build(database_url, None, pool_size, application_name, true)
    }

    /// A pool for `config`'s database, with its password source (RDS Proxy in AWS).
    pub fn pooled(
        config: &notify_config::DatabaseConfig,
        pool_size: usize,
        application_name: &str,
    ) -> DbResult<Self> {
        Db::build(
            &config.url,
            crate::credentials::password_source(&config.credentials),
            pool_size,
            application_name,
            true,
        )
    }

    /// Short-lived connections (see [`Db::connect_short_lived`]) to `config`'s database: what the Lambda
    /// workers use.
    pub fn short_lived(
        config: &notify_config::DatabaseConfig,
        max_at_once: usize,
        application_name: &str,
    ) -> DbResult<Self> {
        Db::build(
            &config.url,
            crate::credentials::password_source(&config.credentials),
            max_at_once,
            application_name,
            false,
        )
    }

    fn build(
        database_url: &str,
        password: Option<DatabasePassword>,
        pool_size: usize,
        application_name: &str,
        keep_idle: bool,
    ) -> DbResult<Self> {
        if database_url.is_empty() {
            return Err(DbError::Pool("DATABASE_URL must be set".into()));
        }
        let mut pg: tokio_postgres::Config = database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::Pool(e.to_string()))?;
        pg.application_name(application_name);
        pg.connect_timeout(Duration::from_secs(5));
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let connector = Connector {
            tls: (pg.get_ssl_mode() == SslMode::Require).then(tls),
            password,
        };
        let manager = Manager::from_connect(pg, connector, recycling);
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Db { pool, keep_idle })
    }

    /// Connections that live only as long as one unit of work: for code that goes on to call providers or
    /// callback receivers, and for Lambda, where an idle pooled connection would sit on an RDS Proxy slot.
    pub fn connect_short_lived(
        database_url: &str,
        max_at_once: usize,
        application_name: &str,
    ) -> DbResult<Self> {
        Db::build(database_url, None, max_at_once, application_name, false)
    }

    pub(crate) async fn conn(&self) -> DbResult<Conn> {
        let object = self.pool.get().await.map_err(|e| {
            // Acquire timeouts and refused connects: a pool too small for its load, or a database away.
            notify_core::metrics::count("DatabaseConnectionFailures", 1, &[]);
            DbError::Pool(e.to_string())
        })?;
        Ok(Conn {
            object: Some(object),
            keep_idle: self.keep_idle,
        })
    }

    /// A connection opened (or an idle one reused) and handed back unused: proves the credentials.
    pub async fn check_connection(&self) -> DbResult<()> {
        self.conn().await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A password source whose first answer the server refuses, as after a secret's rotation.
    struct Rotated {
        current: Mutex<&'static str>,
        asked: Mutex<Vec<&'static str>>,
    }

    #[async_trait::async_trait]
    impl PasswordSource for Rotated {
        async fn password(&self) -> anyhow::Result<String> {
            let p = *self.current.lock().unwrap();
            self.asked.lock().unwrap().push(p);
            Ok(p.into())
        }
        fn refused(&self) {
            *self.current.lock().unwrap() = "fresh";
        }
    }

    async fn message(stream: &mut tokio::net::TcpStream, typed: bool) -> Vec<u8> {
        if typed {
            stream.read_u8().await.unwrap();
        }
        let len = stream.read_i32().await.unwrap() as usize;
        let mut body = vec![0; len - 4];
        stream.read_exact(&mut body).await.unwrap();
        body
    }

    /// Just enough of a Postgres server's start-up: asks for a cleartext password (as RDS Proxy does for IAM
    /// tokens) and accepts only `fresh`, answering 28P01 otherwise.
    async fn fake_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "postgres://notify_app@{}/notify?sslmode=disable",
            listener.local_addr().unwrap()
        );
        let presented = Arc::new(Mutex::new(Vec::new()));
        let seen = presented.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    message(&mut stream, false).await;
                    stream
                        .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])
                        .await
                        .unwrap();
                    let password = message(&mut stream, true).await;
                    let password =
                        String::from_utf8_lossy(&password[..password.len() - 1]).to_string();
                    seen.lock().unwrap().push(password.clone());
                    if password == "fresh" {
                        stream
                            .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0])
                            .await
                            .unwrap();
                        stream.write_all(&[b'Z', 0, 0, 0, 5, b'I']).await.unwrap();
                        let _ = stream.read_u8().await;
                    } else {
                        let mut fields = Vec::new();
                        for (code, text) in [
                            (b'S', "FATAL"),
                            (b'V', "FATAL"),
                            (b'C', "28P01"),
                            (b'M', "password authentication failed"),
                        ] {
                            fields.push(code);
                            fields.extend_from_slice(text.as_bytes());
                            fields.push(0);
                        }
                        fields.push(0);
                        let mut out = vec![b'E'];
                        out.extend_from_slice(&((fields.len() + 4) as i32).to_be_bytes());
                        out.extend_from_slice(&fields);
                        stream.write_all(&out).await.unwrap();
                    }
                });
            }
        });
        (url, presented)
    }

    #[tokio::test]
    async fn a_refused_password_is_fetched_again_and_tried_once_more() {
        let (url, presented) = fake_server().await;
        let source = Arc::new(Rotated {
            current: Mutex::new("stale"),
            asked: Mutex::new(Vec::new()),
        });
        let db = Db::build(
            &url,
            Some(DatabasePassword(source.clone())),
            1,
            "notify-test",
            false,
        )
        .unwrap();
        db.check_connection().await.unwrap();
        assert_eq!(*presented.lock().unwrap(), ["stale", "fresh"]);
        assert_eq!(*source.asked.lock().unwrap(), ["stale", "fresh"]);
        // Without a source to ask, a refusal is the answer.
        let (url, _) = fake_server().await;
        let db = Db::build(
            &format!("{url}&password=stale"),
            None,
            1,
            "notify-test",
            false,
        )
        .unwrap();
        assert!(db.check_connection().await.is_err());
    }
}
