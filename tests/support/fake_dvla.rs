//! A fake of DVLA's print API on 127.0.0.1: the account (user name, password, API key) it checks as DVLA does,
//! the JWTs it issues with the lifetime a test chooses, every print request recorded, and answers scripted per
//! call.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

/// One `POST /print-request/v1/print/jobs` as it arrived.
#[derive(Clone, Debug)]
pub struct PrintRequest {
    pub authorization: Option<String>,
    pub api_key: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

struct Account {
    username: String,
    password: String,
    api_key: String,
    /// Seconds from issue to `exp` of the next tokens.
    token_lifetime: i64,
    tokens: HashSet<String>,
    issued: usize,
    authentications: usize,
    print_requests: Vec<PrintRequest>,
    /// Statuses the next print requests get, in order, whatever their credentials; then the real checks.
    script: VecDeque<u16>,
    /// Status the next password change gets instead of taking it.
    password_change_answer: Option<u16>,
    api_keys_issued: usize,
}

#[derive(Clone)]
pub struct FakeDvla {
    pub url: String,
    account: Arc<Mutex<Account>>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An unsigned-looking JWT DVLA's way: only `exp` matters to the client.
fn jwt(exp: i64, serial: usize) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.fake-signature",
        b64(json!({"alg": "HS256", "typ": "JWT"})),
        b64(json!({"exp": exp, "sub": "notify", "jti": serial}))
    )
}

fn access_error(status: u16, detail: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!([{"status": status, "title": "Authentication Failure", "detail": detail}])),
    )
        .into_response()
}

fn print_error(status: u16, detail: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({"errors": [{"status": status.to_string(), "code": "Fake", "title": "fake", "detail": detail}]})),
    )
        .into_response()
}

async fn authenticate(State(fake): State<FakeDvla>, Json(body): Json<Value>) -> Response {
    let mut account = fake.account.lock().unwrap();
    account.authentications += 1;
    if body["userName"] != account.username.as_str()
        || body["password"] != account.password.as_str()
    {
        return access_error(401, "Invalid credentials");
    }
    account.issued += 1;
    let exp = chrono::Utc::now().timestamp() + account.token_lifetime;
    let token = jwt(exp, account.issued);
    account.tokens.insert(token.clone());
    Json(json!({"id-token": token})).into_response()
}

async fn print_job(
    State(fake): State<FakeDvla>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut account = fake.account.lock().unwrap();
    let request = PrintRequest {
        authorization: header(&headers, "authorization"),
        api_key: header(&headers, "x-api-key"),
        content_type: header(&headers, "content-type"),
        body,
    };
    account.print_requests.push(request.clone());
    let scripted = account.script.pop_front();
    let authorised = request
        .authorization
        .as_ref()
        .is_some_and(|t| account.tokens.contains(t))
        && request.api_key.as_deref() == Some(account.api_key.as_str());
    match scripted {
        Some(400) => print_error(400, "Job type field must not be empty."),
        Some(401) => print_error(401, "Unauthorized"),
        Some(403) => print_error(403, "Forbidden"),
        Some(409) => print_error(409, "Print job already exists"),
        Some(429) => print_error(429, "Too many requests"),
        Some(status) if status >= 500 => print_error(status, "Internal server error"),
        Some(202) | None if authorised => (
            StatusCode::ACCEPTED,
            Json(json!({"id": request.body["id"]})),
        )
            .into_response(),
        Some(202) | None => print_error(401, "Unauthorized"),
        Some(other) => panic!("the fake has no scripted answer {other}"),
    }
}

async fn new_api_key(State(fake): State<FakeDvla>, headers: HeaderMap) -> Response {
    let mut account = fake.account.lock().unwrap();
    let token_ok = header(&headers, "authorization").is_some_and(|t| account.tokens.contains(&t));
    if !token_ok || header(&headers, "x-api-key").as_deref() != Some(account.api_key.as_str()) {
        return access_error(401, "Invalid API key or token");
    }
    account.api_keys_issued += 1;
    account.api_key = format!("api-key-{}", account.api_keys_issued);
    Json(json!({"newApiKey": account.api_key})).into_response()
}

/// DVLA's password rule, as its documentation states it.
fn strong(password: &str) -> bool {
    password.len() >= 8
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| c.is_ascii_punctuation())
}

async fn change_password(State(fake): State<FakeDvla>, Json(body): Json<Value>) -> Response {
    let mut account = fake.account.lock().unwrap();
    if let Some(status) = account.password_change_answer.take() {
        return access_error(status, "Scripted refusal");
    }
    if body["userName"] != account.username.as_str()
        || body["password"] != account.password.as_str()
    {
        return access_error(401, "Invalid credentials");
    }
    let new = body["newPassword"].as_str().unwrap_or_default();
    if !strong(new) || new == account.password {
        return access_error(400, "Password does not meet the criteria");
    }
    account.password = new.to_string();
    Json(json!({"message": "Password successfully changed."})).into_response()
}

impl FakeDvla {
    /// A fake whose account is this user name, password and API key; tokens live an hour unless told otherwise.
    pub async fn start(username: &str, password: &str, api_key: &str) -> FakeDvla {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeDvla {
            url: format!("http://{}", listener.local_addr().unwrap()),
            account: Arc::new(Mutex::new(Account {
                username: username.into(),
                password: password.into(),
                api_key: api_key.into(),
                token_lifetime: 3600,
                tokens: HashSet::new(),
                issued: 0,
                authentications: 0,
                print_requests: Vec::new(),
                script: VecDeque::new(),
                password_change_answer: None,
                api_keys_issued: 0,
            })),
        };
        let app = Router::new()
            .route("/thirdparty-access/v1/authenticate", post(authenticate))
            .route("/print-request/v1/print/jobs", post(print_job))
            .route("/thirdparty-access/v1/new-api-key", post(new_api_key))
            .route("/thirdparty-access/v1/password", post(change_password))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    /// Tokens issued from now on expire this many seconds after they are issued.
    pub fn token_lifetime(&self, seconds: i64) {
        self.account.lock().unwrap().token_lifetime = seconds;
    }

    /// The next print requests get these statuses in turn (202, 400, 401, 403, 409, 429, 5xx).
    pub fn script(&self, statuses: &[u16]) {
        self.account.lock().unwrap().script.extend(statuses);
    }

    /// The next password change is answered with this status and changes nothing.
    pub fn refuse_next_password_change(&self, status: u16) {
        self.account.lock().unwrap().password_change_answer = Some(status);
    }

    /// Every token issued so far stops working, as when DVLA expires them early.
    pub fn revoke_tokens(&self) {
        self.account.lock().unwrap().tokens.clear();
    }

    /// Authentication attempts, refused ones included.
    pub fn authentications(&self) -> usize {
        self.account.lock().unwrap().authentications
    }

    pub fn print_requests(&self) -> Vec<PrintRequest> {
        self.account.lock().unwrap().print_requests.clone()
    }

    pub fn password(&self) -> String {
        self.account.lock().unwrap().password.clone()
    }

    pub fn api_key(&self) -> String {
        self.account.lock().unwrap().api_key.clone()
    }
}
