//! The download page for files sent by email (upstream's document-download-frontend, in our own words and
//! markup): `GET /d/{service_id}/{document_id}?key=…` shows the file's name, type and size and a download
//! button, after asking for the recipient's address when the sender wanted it confirmed (`POST` the same URL);
//! `GET …/download?key=…` gives the file itself.
//!
//! The key is in the URL, so every answer is `Cache-Control: no-store` (the router's headers) and
//! `Referrer-Policy: no-referrer`, and nothing here logs a URL. A wrong key, an unknown id and a changed file
//! all get the same 404 page, and never a byte of the file.

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use notify_app::AppState;
use notify_app::documents::{self, Opened, ReadError};
use notify_core::documents::{format_file_size, pretty_file_type};
use notify_core::recipients::EmailAddress;

const ACCESS_COOKIE: &str = "document_access";

/// How the pages give the service's contact details (upstream's `assess_contact_type`).
pub enum Contact {
    Link(String),
    Email(String),
    Phone(String),
}

impl Contact {
    fn of(contact_link: Option<&str>) -> Option<Contact> {
        let contact = contact_link?.trim();
        if contact.is_empty() {
            return None;
        }
        Some(
            if contact.starts_with("https://") || contact.starts_with("http://") {
                Contact::Link(contact.into())
            } else if contact.contains('@') {
                Contact::Email(contact.trim_start_matches("mailto:").into())
            } else {
                Contact::Phone(contact.into())
            },
        )
    }
}

#[derive(Template)]
#[template(path = "documents/download.html")]
struct DownloadPage {
    service_name: String,
    contact: Option<Contact>,
    filename: String,
    file_type: &'static str,
    file_size: String,
    available_until: String,
    download_url: String,
}

/// What the confirmation form says went wrong: the summary's lines, and the message by the field.
struct ConfirmError {
    lines: Vec<String>,
    field: String,
}

impl ConfirmError {
    fn lines(&self) -> &[String] {
        &self.lines
    }

    fn field_message(&self) -> &str {
        &self.field
    }
}

#[derive(Template)]
#[template(path = "documents/confirm.html")]
struct ConfirmPage {
    service_name: String,
    contact: Option<Contact>,
    form_action: String,
    entered: String,
    error: Option<ConfirmError>,
}

#[derive(Template)]
#[template(path = "documents/unavailable.html")]
struct UnavailablePage {
    service_name: String,
    contact: Option<Contact>,
    expired: bool,
}

/// Headers every answer about a document carries.
fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => private(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "download page not rendered");
            private(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        &UnavailablePage {
            service_name: String::new(),
            contact: None,
            expired: false,
        },
    )
}

fn expired(opened: &Opened) -> Response {
    html(
        StatusCode::GONE,
        &UnavailablePage {
            service_name: opened.service_name.clone(),
            contact: Contact::of(opened.contact_link.as_deref()),
            expired: true,
        },
    )
}

fn server_error(error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "download page failed");
    private(
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Sorry, there is a problem with the service. Try again later.",
        )
            .into_response(),
    )
}

fn key_of(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.into_owned())
}

/// The document a request names, opened with its link's key, or the answer to give instead.
async fn opened(
    state: &AppState,
    ids: &(String, String),
    query: Option<&str>,
) -> Result<Opened, Response> {
    let (Ok(service_id), Ok(document_id), Some(key)) = (
        Uuid::parse_str(&ids.0),
        Uuid::parse_str(&ids.1),
        key_of(query),
    ) else {
        return Err(not_found());
    };
    match documents::open(state, service_id, document_id, &key).await {
        Ok(Some(opened)) if opened.is_expired(state.now()) => Err(expired(&opened)),
        Ok(Some(opened)) => Ok(opened),
        Ok(None) => Err(not_found()),
        Err(e) => Err(server_error(e)),
    }
}

fn page_path(opened: &Opened) -> String {
    format!("/d/{}/{}", opened.record.service_id, opened.record.id)
}

fn download_page(opened: &Opened) -> DownloadPage {
    let extension = opened.extension();
    DownloadPage {
        service_name: opened.service_name.clone(),
        contact: Contact::of(opened.contact_link.as_deref()),
        filename: opened.filename(),
        file_type: pretty_file_type(&extension),
        file_size: format_file_size(opened.record.size_bytes.max(0) as u64),
        available_until: opened
            .record
            .expires_at
            .with_timezone(&chrono_tz::Europe::London)
            .format("%-d %B %Y")
            .to_string(),
        download_url: format!(
            "{}/download?key={}",
            page_path(opened),
            opened.key.to_link_form()
        ),
    }
}

fn confirm_page(opened: &Opened, entered: &str, error: Option<ConfirmError>) -> Response {
    html(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &ConfirmPage {
            service_name: opened.service_name.clone(),
            contact: Contact::of(opened.contact_link.as_deref()),
            form_action: format!("{}?key={}", page_path(opened), opened.key.to_link_form()),
            entered: entered.to_string(),
            error,
        },
    )
}

/// Whether this browser confirmed the address already (or nothing needs confirming).
fn confirmed(opened: &Opened, headers: &HeaderMap) -> bool {
    if !opened.needs_confirmation() {
        return true;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == ACCESS_COOKIE && opened.access_token_valid(value))
}

/// `GET /d/{service_id}/{document_id}?key=…`
pub async fn page(
    State(state): State<AppState>,
    Path(ids): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let opened = match opened(&state, &ids, query.as_deref()).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if confirmed(&opened, &headers) {
        html(StatusCode::OK, &download_page(&opened))
    } else {
        confirm_page(&opened, "", None)
    }
}

/// `POST /d/{service_id}/{document_id}?key=…` with `email_address`: the address compared with the recipient's
/// (trimmed, case-insensitive); the download page and a cookie for the download when it matches.
pub async fn confirm(
    State(state): State<AppState>,
    Path(ids): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let opened = match opened(&state, &ids, query.as_deref()).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let Some(token) = opened.access_token() else {
        return html(StatusCode::OK, &download_page(&opened));
    };
    let entered: String = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "email_address")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let field_error = |message: &str| {
        Some(ConfirmError {
            lines: vec![message.to_string()],
            field: message.to_string(),
        })
    };
    let error = if entered.trim().is_empty() {
        field_error("Enter your email address")
    } else if EmailAddress::parse(&entered).is_err() {
        field_error("Not a valid email address")
    } else if !opened.address_matches(&entered) {
        Some(ConfirmError {
            lines: vec![
                "This is not the email address the file was sent to.".into(),
                format!(
                    "To confirm the file was meant for you, enter the email address {} sent the file to.",
                    opened.service_name
                ),
            ],
            field: "This is not the email address the file was sent to.".into(),
        })
    } else {
        None
    };
    if error.is_some() {
        return confirm_page(&opened, entered.trim(), error);
    }
    let secure = if documents::public_base(&state).starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{ACCESS_COOKIE}={token}; Path={}; HttpOnly; SameSite=Lax{secure}",
        page_path(&opened)
    );
    let mut response = html(StatusCode::OK, &download_page(&opened));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /d/{service_id}/{document_id}/download?key=…`: the file as sent, to be saved. A browser that has not
/// confirmed the address (when that is asked for) is sent back to the page.
pub async fn download(
    State(state): State<AppState>,
    Path(ids): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let opened = match opened(&state, &ids, query.as_deref()).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if !confirmed(&opened, &headers) {
        let page = format!("{}?key={}", page_path(&opened), opened.key.to_link_form());
        return private(
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, page)],
                Body::empty(),
            )
                .into_response(),
        );
    }
    let bytes = match documents::read(&state, &opened).await {
        Ok(bytes) => bytes,
        Err(ReadError::Gone) => {
            tracing::warn!(document_id = %opened.record.id, "document file missing or changed: not served");
            return not_found();
        }
        Err(ReadError::Store(e)) => return server_error(e),
    };
    let filename = opened.filename();
    let response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, opened.record.mime_type.clone()),
            (header::CONTENT_DISPOSITION, content_disposition(&filename)),
        ],
        bytes,
    )
        .into_response();
    // The file is never run as a page of ours, whatever its type.
    let mut response = private(response);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII name for old clients, the exact one for
/// the others.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in filename.as_bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'!'
            | b'#'
            | b'$'
            | b'&'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~' => encoded.push(char::from(*byte)),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_keeps_names_safe() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition("a \"b\"\r\nç.csv"),
            "attachment; filename=\"a _b___ç.csv\"; filename*=UTF-8''a%20%22b%22%0D%0A%C3%A7.csv"
                .replace('ç', "_")
        );
    }

    #[test]
    fn contact_kinds() {
        assert!(matches!(
            Contact::of(Some("https://x.gov.uk")),
            Some(Contact::Link(_))
        ));
        assert!(matches!(
            Contact::of(Some("help@x.gov.uk")),
            Some(Contact::Email(_))
        ));
        assert!(matches!(
            Contact::of(Some("0300 123 4567")),
            Some(Contact::Phone(_))
        ));
        assert!(Contact::of(None).is_none());
    }
}
