//! Test harness: the real router over a fresh database per test, cloned from a migrated template database.

use std::sync::Arc;

pub mod letters;
pub mod precompiled;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use notify_app::admin::{CreateService, CreateTemplate};
use notify_app::{AppState, admin};
use notify_config::Config;
use notify_core::model::{KeyType, NotificationType, Postage, Service, ServicePermission};
use notify_db::Db;
use notify_queue::InProcessQueue;
use serde_json::Value;
use tokio::sync::OnceCell;
use tower::ServiceExt;
use uuid::Uuid;

pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&format!("{}/postgres", server_url()), tokio_postgres::NoTls)
            .await
            .expect("Postgres must answer for the tests (the test command starts it)");
    tokio::spawn(connection);
    client
}

/// A new database with nothing in it (not even the migrations), for tests of the migrations themselves.
pub async fn empty_database() -> String {
    let name = format!("notify_empty_{}", Uuid::new_v4().simple());
    admin_client()
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{}/{name}", server_url())
}

/// The migrations' fingerprint names the template, so a schema change gets a fresh one.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("migrations dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        for byte in std::fs::read(file).expect("migration readable") {
            hash = (hash ^ byte as u64).wrapping_mul(0x100000001b3);
        }
    }
    format!("notify_tpl_{hash:016x}")
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Migrates a template once; the atomic rename makes concurrent test processes safe.
async fn template_db() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let client = admin_client().await;
            let exists = !client
                .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .unwrap()
                .is_empty();
            if !exists {
                let building = format!("{name}_{}", Uuid::new_v4().simple());
                client
                    .batch_execute(&format!("CREATE DATABASE {building}"))
                    .await
                    .unwrap();
                let db = Db::connect(
                    &format!("{}/{building}", server_url()),
                    1,
                    "notify-test-migrate",
                )
                .unwrap();
                db.migrate().await.expect("migrations apply");
                drop(db);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                if client
                    .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .await
                    .is_err()
                {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                        .await;
                }
            }
            name
        })
        .await
}

pub struct TestApp {
    pub state: AppState,
    pub queue: Arc<InProcessQueue>,
    pub database_url: String,
    router: Router,
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }
}

/// A service with one key of each type and a template per channel.
pub struct TestService {
    pub service: Service,
    pub live_key: String,
    pub team_key: String,
    pub test_key: String,
    pub sms_template: Uuid,
    pub email_template: Uuid,
    pub letter_template: Uuid,
}

impl TestApp {
    pub async fn new() -> Self {
        TestApp::with_config(|_| {}).await
    }

    pub async fn with_config(change: impl FnOnce(&mut Config)) -> Self {
        let template = template_db().await;
        let name = format!("notify_test_{}", Uuid::new_v4().simple());
        admin_client()
            .await
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .unwrap();
        let database_url = format!("{}/{name}", server_url());
        let mut config = Config::for_development(&database_url);
        config.api.host_name = "https://api.test.notify".into();
        // Tests change services and keys and look at the effect at once.
        config.api.lookup_cache_ttl = std::time::Duration::ZERO;
        // Each test's files in a directory of its own, named like its database, under the system's temp dir.
        config.files.local_dir = std::env::temp_dir().join("notify-test-files").join(&name);
        change(&mut config);
        let db = Db::connect(&database_url, 4, "notify-test").unwrap();
        let queue = Arc::new(InProcessQueue::default());
        let state = AppState::new(config, db, queue.clone());
        TestApp {
            router: notify_http::router(state.clone()),
            state,
            queue,
            database_url,
        }
    }

    /// The same database and queue seen by a process started with another `SECRET_KEY` (rotation tests).
    pub fn with_secret_key(&self, secret_key: &str) -> TestApp {
        let mut config = (*self.state.config).clone();
        config.secret_key = notify_config::SecretKey::new(secret_key).expect("a secret key");
        let state = AppState::new(config, self.state.db.clone(), self.queue.clone());
        TestApp {
            router: notify_http::router(state.clone()),
            state,
            queue: self.queue.clone(),
            database_url: self.database_url.clone(),
        }
    }

    /// The API (and `state`) on another database connection, e.g. through a [`DatabaseProxy`].
    pub fn use_db(&mut self, db: Db) {
        self.state.db = db;
        self.router = notify_http::router(self.state.clone());
    }

    /// The API (and `state`) on another queue, e.g. SQS on moto; `queue` stays the in-process one.
    pub fn use_queue(&mut self, queue: Arc<dyn notify_queue::Queue>) {
        self.state.queue = queue;
        self.router = notify_http::router(self.state.clone());
    }

    /// The API (and `state`) on another file store, e.g. one that is away.
    pub fn use_files(&mut self, files: Arc<dyn notify_files::FileStore>) {
        self.state.files = files;
        self.router = notify_http::router(self.state.clone());
    }

    /// The API (and `state`) with a virus scanner for files sent by email (e.g. the project's clamd).
    pub fn use_scanner(&mut self, scanner: Arc<dyn notify_outbound::scan::Scanner>) {
        self.state.scanner = Some(scanner);
        self.router = notify_http::router(self.state.clone());
    }

    /// The API (and `state`) on a clock of the test's: `fn() -> DateTime<Utc>`, so each fixed time is a function.
    pub fn use_clock(&mut self, clock: fn() -> chrono::DateTime<chrono::Utc>) {
        self.state.clock = clock;
        self.router = notify_http::router(self.state.clone());
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&[u8]>,
    ) -> Response {
        self.request_with_headers(method, path, authorization, &[], body)
            .await
    }

    /// [`TestApp::request`] with more request headers (e.g. `Idempotency-Key`), each sent as given.
    pub async fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(auth) = authorization {
            builder = builder.header("authorization", auth);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(
                body.map(|b| Body::from(b.to_vec()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Response {
            status,
            headers,
            bytes,
        }
    }

    /// A v2 call authenticated as the official clients do: a fresh token from the combined key.
    pub async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Response {
        let auth = format!("Bearer {}", token(key));
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.request(method, path, Some(&auth), body.as_deref())
            .await
    }

    /// Gives the service an inbound number through the admin API (MMG's, as the inbound tests post MMG's format).
    pub async fn assign_inbound_number(&self, service_id: Uuid, number: &str) {
        let r = self
            .admin(
                "POST",
                &format!("/service/{service_id}/inbound-number"),
                Some(serde_json::json!({"number": number, "provider": "mmg"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json());
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        // Signed at the app's time, so a test that fixes the clock can still call the admin API.
        let jwt = notify_app::auth::create_token(
            "notify-admin",
            notify_config::DEV_ADMIN_CLIENT_SECRET,
            self.state.now().timestamp(),
        );
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.request(
            method,
            path,
            Some(&format!("Bearer {jwt}")),
            body.as_deref(),
        )
        .await
    }

    /// Sends a text ("Hello x") and returns the new notification's id; the send must be accepted.
    pub async fn send_sms(
        &self,
        key: &str,
        template: Uuid,
        number: &str,
        reference: Option<&str>,
    ) -> Uuid {
        let mut body = serde_json::json!({"phone_number": number, "template_id": template, "personalisation": {"name": "x"}});
        if let Some(reference) = reference {
            body["reference"] = reference.into();
        }
        let r = self
            .call("POST", "/v2/notifications/sms", key, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        r.json()["id"].as_str().unwrap().parse().unwrap()
    }

    /// A notification as stored; it must exist.
    pub async fn stored(&self, service_id: Uuid, id: Uuid) -> notify_db::NotificationRecord {
        self.state
            .db
            .get_notification(service_id, id)
            .await
            .unwrap()
            .expect("notification stored")
    }

    pub async fn service(&self, restricted: bool) -> TestService {
        self.service_with(restricted, None).await
    }

    pub async fn service_with(
        &self,
        restricted: bool,
        permissions: Option<Vec<ServicePermission>>,
    ) -> TestService {
        let state = &self.state;
        let service = admin::create_service(
            state,
            CreateService {
                name: format!("Test service {}", Uuid::new_v4()),
                created_by: None,
                restricted,
                email_from: Some("test.service".into()),
                permissions,
                rate_limit: None,
                message_limit: Some(1000),
            },
        )
        .await
        .unwrap();
        let key = |name: &'static str, key_type| async move {
            admin::create_api_key(state, service.id, name, key_type, None)
                .await
                .unwrap()
                .1
        };
        let live_key = key("live", KeyType::Normal).await;
        let team_key = key("team", KeyType::Team).await;
        let test_key = key("test", KeyType::Test).await;
        let template = |name: &str, t, content: &str, subject: Option<&str>| CreateTemplate {
            service_id: service.id,
            name: name.into(),
            template_type: t,
            content: content.into(),
            subject: subject.map(str::to_string),
            postage: Some(Postage::Second),
            created_by: None,
            letter_contact_id: None,
            has_unsubscribe_link: false,
        };
        let sms = admin::create_template(
            state,
            template("sms", NotificationType::Sms, "Hello ((name))", None),
        )
        .await
        .unwrap();
        let email = admin::create_template(
            state,
            template(
                "email",
                NotificationType::Email,
                "Dear ((name)),\n\n((items))",
                Some("Hi ((name))"),
            ),
        )
        .await
        .unwrap();
        let letter = admin::create_template(
            state,
            template(
                "letter",
                NotificationType::Letter,
                "Dear ((address_line_1))",
                Some("Your ((thing))"),
            ),
        )
        .await
        .unwrap();
        TestService {
            service,
            live_key,
            team_key,
            test_key,
            sms_template: sms.id,
            email_template: email.id,
            letter_template: letter.id,
        }
    }
}

/// moto's address: `MOTO_URL` (the test command starts one there), else moto's default port.
pub fn moto_url() -> String {
    std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// An SQS client for `endpoint` (moto, or an address nothing listens on) with test credentials.
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&notify_config::aws::emulator_config(endpoint))
}

/// An SES v2 client for `endpoint` (moto) with test credentials.
pub fn ses_client(endpoint: &str) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&notify_config::aws::emulator_config(endpoint))
}

/// An End User Messaging SMS client for `endpoint` (a fake) with test credentials.
pub fn aws_sms_client(endpoint: &str) -> aws_sdk_pinpointsmsvoicev2::Client {
    let config = aws_sdk_pinpointsmsvoicev2::config::Builder::from(
        &notify_config::aws::emulator_config(endpoint),
    )
    // The fake answers 500 on purpose; the worker's own failover decides, not SDK retries.
    .retry_config(aws_sdk_pinpointsmsvoicev2::config::retry::RetryConfig::disabled())
    .build();
    aws_sdk_pinpointsmsvoicev2::Client::from_conf(config)
}

/// The message ids a Lambda SQS handler reported as failed, in order.
pub fn failed_items(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

pub fn token(combined_key: &str) -> String {
    token_at(combined_key, chrono::Utc::now().timestamp())
}

pub fn token_at(combined_key: &str, iat: i64) -> String {
    let (service_id, secret) = notify_app::auth::split_api_key(combined_key).expect("combined key");
    notify_app::auth::create_token(&service_id.to_string(), secret, iat)
}

/// Replaces ids and times so snapshots hold only what is stable.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::String(s) => {
            let replaced = replace_uuids(s);
            if is_datetime(&replaced) {
                Value::String("[datetime]".into())
            } else {
                Value::String(replaced)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), redact(v))).collect())
        }
        other => other.clone(),
    }
}

fn replace_uuids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if i + 36 <= s.len()
            && s.is_char_boundary(i)
            && s.is_char_boundary(i + 36)
            && Uuid::parse_str(&s[i..i + 36]).is_ok()
            && s[i..i + 36].contains('-')
        {
            out.push_str("[uuid]");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_datetime(s: &str) -> bool {
    s.len() == 27 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

pub mod browser;
pub mod fake_dvla;
mod local_tls;
pub use local_tls::https_server;

/// A TCP proxy between the app and Postgres that a test can cut (new connections are closed at once, open ones
/// are dropped) and restore: a database outage without touching the shared server.
pub struct DatabaseProxy {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl DatabaseProxy {
    /// A proxy on a free local port to the test database server.
    pub async fn start() -> Self {
        let upstream = server_url()
            .rsplit('@')
            .next()
            .unwrap_or("127.0.0.1:5432")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let accepting = {
            let (cut, links) = (cut.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(std::sync::atomic::Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    let mut links = links.lock().unwrap();
                    links.retain(|l| !l.is_finished());
                    links.push(link.abort_handle());
                }
            })
        };
        DatabaseProxy {
            port,
            cut,
            links,
            accepting,
        }
    }

    /// `database_url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, database_url: &str) -> String {
        let name = database_url.rsplit('/').next().unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The database is gone: every open connection is dropped, every new one closed at once.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for DatabaseProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

/// The connections open under `application_name` (a `LIKE` pattern) to this test's database, counted from
/// inside an outbound call by `observer`. A connection closed just before the call can linger in
/// `pg_stat_activity` for a few milliseconds while its backend exits, and one held across the call stays as long
/// as the call lasts: so this looks for up to two seconds before answering that one is held.
pub async fn connections_held(observer: &tokio_postgres::Client, application_name: &str) -> i64 {
    let mut open = 0;
    for _ in 0..40 {
        open = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name LIKE $1 AND datname = current_database()",
                &[&application_name],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    open
}
