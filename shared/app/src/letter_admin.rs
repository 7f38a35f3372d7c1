//! Letters after they are sent, behind the admin API and the CLI alike: a letter as the team sees it (with why
//! it failed validation, in the admin app's words) and its PDF's status as an operator needs it, cancelling one
//! before it goes to print (and giving its daily-limit count back), the returned-letters list Royal Mail sends,
//! and letter brandings with their logo files in the file store.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::AppState;
use notify_core::letters::{london_date, print_day, print_deadline};
use notify_core::model::{KeyType, LimitName, NotificationStatus, NotificationType, Service};
use notify_db::{
    AdminNotificationRecord, DbError, LetterBrandingRecord, LetterPdfStatusRecord, ServiceUpdate,
};
use notify_files::FileError;
use notify_letters::Logo;

#[derive(Debug, thiserror::Error)]
pub enum LetterAdminError {
    /// 400 with this message.
    #[error("{0}")]
    Invalid(String),
    /// 400 naming the field at fault, as `{"field": [message]}`.
    #[error("{0}: {1}")]
    Field(&'static str, String),
    /// 404 with this message.
    #[error("{0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Files(#[from] FileError),
    #[error("{0}")]
    Internal(String),
}

pub type LetterAdminResult<T> = Result<T, LetterAdminError>;

const NOTIFICATION_NOT_FOUND: &str = "Notification not found";
/// Upstream's answer when a read finds nothing.
const NO_RESULT_FOUND: &str = "No result found";

// ---- Cancelling ------------------------------------------------------------------------------------------------

/// "today", or "on 5 January": the day the print run that takes a letter created at `created_at` started,
/// as the too-late message names it.
fn print_day_phrase(created_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let day = print_day(created_at);
    if day >= london_date(now) {
        "today".into()
    } else {
        format!(
            "on {} {}",
            day.day(),
            notify_letters::month_name(day, notify_letters::Language::English)
        )
    }
}

/// Python's `str()` of a naive UTC datetime, as upstream's last-resort message shows `created_at`.
fn python_datetime(at: DateTime<Utc>) -> String {
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// Once the print run that takes the letter has started (17:30 London on its print day) it is too late.
pub fn too_late_to_cancel(created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= print_deadline(print_day(created_at))
}

/// Why a letter in `status`, created at `created_at`, cannot be cancelled at `now`, in Notify's words; `None`
/// when it can.
pub fn cancel_refusal(
    status: NotificationStatus,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    let too_late = too_late_to_cancel(created_at, now);
    let cancellable = matches!(
        status,
        NotificationStatus::Created | NotificationStatus::PendingVirusCheck
    );
    if cancellable && !too_late {
        return None;
    }
    Some(if too_late {
        format!(
            "It’s too late to cancel this letter. Printing started {} at 5.30pm",
            print_day_phrase(created_at, now)
        )
    } else if status == NotificationStatus::Cancelled {
        "This letter has already been cancelled.".into()
    } else {
        format!(
            "We could not cancel this letter. Letter status: {}, created_at: {}",
            status,
            python_datetime(created_at)
        )
    })
}

/// `POST /service/{id}/notifications/{id}/cancel` and `notify letter cancel`: the letter becomes `cancelled`
/// and no longer counts against today's letter limit. Answers the notification as the admin API shows it.
pub async fn cancel_letter(
    state: &AppState,
    service_id: Uuid,
    notification_id: Uuid,
) -> LetterAdminResult<Value> {
    let now = state.now();
    let record = state
        .db
        .get_notification(service_id, notification_id)
        .await?
        .ok_or(LetterAdminError::NotFound(NOTIFICATION_NOT_FOUND))?;
    if record.notification_type != NotificationType::Letter {
        // issue 14: a scheduled SMS or email is cancellable until it is released.
        if record.status == NotificationStatus::Cancelled {
            return Err(LetterAdminError::Invalid(
                "This notification has already been cancelled.".into(),
            ));
        }
        match crate::bulk::scheduled_sends::cancel(state, service_id, notification_id, now).await? {
            Ok(true) => {
                tracing::info!(%notification_id, %service_id, "scheduled notification cancelled");
                if record.key_type != KeyType::Test {
                    state
                        .limiter
                        .give_back(
                            service_id,
                            LimitName::of(record.notification_type),
                            record.created_at,
                            now,
                        )
                        .await;
                }
                let cancelled = state
                    .db
                    .admin_notification(service_id, notification_id)
                    .await?
                    .ok_or(LetterAdminError::NotFound(NOTIFICATION_NOT_FOUND))?;
                return admin_notification_json(state, &cancelled);
            }
            Ok(false) => {
                return Err(LetterAdminError::Invalid(
                    "Notification cannot be cancelled - only letters can be cancelled".into(),
                ));
            }
            Err(refusal) => return Err(LetterAdminError::Invalid(refusal)),
        }
    }
    if let Some(refusal) = cancel_refusal(record.status, record.created_at, now) {
        return Err(LetterAdminError::Invalid(refusal));
    }
    if !state
        .db
        .cancel_letter(service_id, notification_id, now)
        .await?
    {
        // The print run (or another cancel) took it between the read and the update: answer for what it is now.
        let status = state
            .db
            .get_notification(service_id, notification_id)
            .await?
            .ok_or(LetterAdminError::NotFound(NOTIFICATION_NOT_FOUND))?
            .status;
        return Err(LetterAdminError::Invalid(
            cancel_refusal(status, record.created_at, now).unwrap_or_else(|| {
                format!(
                    "We could not cancel this letter. Letter status: {status}, created_at: {}",
                    python_datetime(record.created_at)
                )
            }),
        ));
    }
    tracing::info!(%notification_id, %service_id, "letter cancelled");
    // Test keys never counted against the limit.
    if record.key_type != KeyType::Test {
        state
            .limiter
            .give_back(service_id, LimitName::Letter, record.created_at, now)
            .await;
    }
    let cancelled = state
        .db
        .admin_notification(service_id, notification_id)
        .await?
        .ok_or(LetterAdminError::NotFound(NOTIFICATION_NOT_FOUND))?;
    admin_notification_json(state, &cancelled)
}

/// A notification with its template, as the admin API answers (upstream `notification_with_template_schema`).
pub fn admin_notification_json(
    state: &AppState,
    n: &AdminNotificationRecord,
) -> LetterAdminResult<Value> {
    let personalisation: Map<String, Value> = match &n.personalisation {
        None => Map::new(),
        Some(sealed) => {
            let plain = state.encryptor.decrypt(sealed).map_err(|e| {
                notify_core::crypto::report_undecryptable(
                    "notifications.personalisation",
                    &n.id,
                    &n.service_id,
                );
                LetterAdminError::Internal(e.to_string())
            })?;
            serde_json::from_str(&plain).map_err(|e| LetterAdminError::Internal(e.to_string()))?
        }
    };
    let format = notify_core::time::format;
    let is_letter = n.template_type == NotificationType::Letter.as_str();
    let mut body = json!({
        "id": n.id,
        "to": n.to,
        "normalised_to": n.normalised_to,
        "job": n.job_id.map(|id| json!({"id": id, "original_file_name": n.job_original_file_name})),
        "job_row_number": n.job_row_number,
        "service": n.service_id,
        "template": {
            "id": n.template_id,
            "service": n.service_id,
            "version": n.template_version,
            "name": n.template_name,
            "template_type": n.template_type,
            "content": n.template_content,
            "subject": n.template_subject,
            "redact_personalisation": false,
            "is_precompiled_letter": is_letter && n.template_hidden,
            "letter_attachment": null,
            "reply_to_text": n.reply_to_text,
            "letter_languages": is_letter.then_some(&n.template_letter_languages),
            "letter_welsh_subject": n.template_letter_welsh_subject,
            "letter_welsh_content": n.template_letter_welsh_content,
            "has_unsubscribe_link": n.template_has_unsubscribe_link,
        },
        "api_key": n.api_key_id,
        "key_name": n.key_name,
        "key_type": n.key_type,
        "billable_units": n.billable_units,
        "notification_type": n.notification_type,
        "created_at": format(n.created_at),
        "sent_at": n.sent_at.map(format),
        "sent_by": n.sent_by,
        "updated_at": n.updated_at.map(format),
        "status": n.notification_status,
        "reference": n.reference,
        "client_reference": n.client_reference,
        "personalisation": personalisation,
        "international": n.international,
        "phone_prefix": n.phone_prefix,
        "rate_multiplier": n.rate_multiplier,
        "created_by": n.created_by_id.map(|id| json!({
            "id": id, "name": n.created_by_name, "email_address": n.created_by_email_address,
        })),
        "reply_to_text": n.reply_to_text,
        "postage": n.postage,
        "document_download_count": n.document_download_count,
    });
    if is_letter {
        let object = body.as_object_mut().expect("a JSON object");
        object.insert("page_count".into(), json!(n.page_count));
        object.insert(
            "validation".into(),
            validation_json(
                n.validation_code.as_deref(),
                n.invalid_pages.as_deref(),
                n.page_count,
            ),
        );
    }
    Ok(body)
}

// ---- A letter as the team and operators see it -------------------------------------------------------------------

/// `GET /service/{id}/notifications/{id}` and `notify letter show`: the notification as the admin API shows it;
/// a letter has its `page_count` and, when it failed validation, its `validation` (code, the admin app's words,
/// the pages at fault).
pub async fn admin_notification(
    state: &AppState,
    service_id: Uuid,
    notification_id: Uuid,
) -> LetterAdminResult<Value> {
    let record = state
        .db
        .admin_notification(service_id, notification_id)
        .await?
        .ok_or(LetterAdminError::NotFound(NO_RESULT_FOUND))?;
    admin_notification_json(state, &record)
}

/// `GET /service/{id}/letters/{id}/pdf-status` and `notify letter pdf-status`: where a letter's files are, what
/// the virus scanner made of a precompiled upload (and how often scanning failed), when the print checks ran and
/// what they found.
pub async fn letter_pdf_status(
    state: &AppState,
    service_id: Uuid,
    notification_id: Uuid,
) -> LetterAdminResult<Value> {
    let record = state
        .db
        .letter_pdf_status(service_id, notification_id)
        .await?
        .ok_or(LetterAdminError::NotFound(NO_RESULT_FOUND))?;
    Ok(pdf_status_json(&record))
}

pub fn pdf_status_json(r: &LetterPdfStatusRecord) -> Value {
    let format = notify_core::time::format;
    json!({
        "notification_id": r.notification_id,
        "status": r.notification_status,
        "precompiled": r.precompiled,
        "upload_key": r.upload_key,
        "file_key": r.file_key,
        "page_count": r.page_count,
        // A scan record exists once a precompiled upload is in the file store for scanning; a templated letter
        // never has one.
        "scan": r.upload_key.is_some().then(|| json!({
            "scanner": r.scanner,
            "result": r.scan_result,
            "signature": r.signature,
            "attempts": r.scan_attempts.unwrap_or(0),
            "last_error": r.last_scan_error,
            "last_scan_at": r.last_scan_at.map(format),
            "scanned_at": r.scanned_at.map(format),
        })),
        "checked_at": r.checked_at.map(format),
        "validation": validation_json(
            r.validation_code.as_deref(),
            r.invalid_pages.as_deref(),
            r.page_count,
        ),
    })
}

/// `{"code", "title", "message", "invalid_pages"}` for a validation result, `null` without one.
pub fn validation_json(
    code: Option<&str>,
    invalid_pages: Option<&[i32]>,
    page_count: Option<i32>,
) -> Value {
    let Some(code) = code else {
        return Value::Null;
    };
    let invalid_pages = invalid_pages.unwrap_or_default();
    let words = validation_message(code, invalid_pages, page_count);
    json!({
        "code": code,
        "title": words.title,
        "message": words.message,
        "invalid_pages": invalid_pages,
    })
}

/// What the admin app tells a team about a validation code: its heading and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationMessage {
    pub title: &'static str,
    pub message: String,
}

/// "page 2", "pages 1 and 3", "pages 1, 2 and 4", as the admin app names the pages at fault.
pub fn pages_phrase(pages: &[i32]) -> String {
    match pages {
        [] => String::new(),
        [page] => format!("page {page}"),
        [first @ .., last] => format!(
            "pages {} and {last}",
            first
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The admin app's words (notifications-admin `LETTER_VALIDATION_MESSAGES`, title and detail) for a validation
/// code, as plain text: its line breaks become spaces and its link to the letter specification plain words.
pub fn validation_message(
    code: &str,
    invalid_pages: &[i32],
    page_count: Option<i32>,
) -> ValidationMessage {
    const ADDRESS: &str = "There’s a problem with the address for this letter";
    const SPECIFICATION: &str = "Files must meet our letter specification.";
    let pages = pages_phrase(invalid_pages);
    let max_pages = notify_letters::MAX_PAGES;
    let (title, message) = match code {
        "letter-not-a4-portrait-oriented" => (
            "Your letter is not A4 portrait size",
            format!("You need to change the size or orientation of {pages}. {SPECIFICATION}"),
        ),
        "content-outside-printable-area" => (
            "Your content is outside the printable area",
            format!("You need to edit {pages}. {SPECIFICATION}"),
        ),
        "letter-too-long" => (
            "Your letter is too long",
            match page_count {
                Some(n) => format!(
                    "Letters must be {max_pages} pages or less ({} double-sided sheets of paper). Your letter \
                     is {n} pages long.",
                    max_pages / 2
                ),
                None => format!(
                    "Letters must be {max_pages} pages or less ({} double-sided sheets of paper).",
                    max_pages / 2
                ),
            },
        ),
        "no-encoded-string" => ("Sanitise failed - No encoded string", String::new()),
        "unable-to-read-the-file" => (
            "There’s a problem with your file",
            "Notify cannot read this PDF. Save a new copy of your file and try again.".into(),
        ),
        "address-is-empty" => (
            "The address block is empty",
            format!("You need to add a recipient address. {SPECIFICATION}"),
        ),
        "not-a-real-uk-postcode" => (
            ADDRESS,
            "The last line of the address must be a real UK postcode.".into(),
        ),
        "cant-send-international-letters" => (
            ADDRESS,
            "You do not have permission to send letters to other countries.".into(),
        ),
        "not-a-real-uk-postcode-or-country" => (
            ADDRESS,
            "The last line of the address must be a UK postcode or another country.".into(),
        ),
        "not-enough-address-lines" => (
            ADDRESS,
            format!("The address must be at least {MIN_ADDRESS_LINES} lines long."),
        ),
        "too-many-address-lines" => (
            ADDRESS,
            format!("The address must be no more than {MAX_ADDRESS_LINES} lines long."),
        ),
        "invalid-char-in-address" => (
            ADDRESS,
            "Address lines must not start with any of the following characters: @ ( ) = [ ] ” \\ / , < > ~"
                .into(),
        ),
        "has-country-for-bfpo-address" => (
            ADDRESS,
            "The last line of a BFPO address must not be a country.".into(),
        ),
        "notify-tag-found-in-content" => (
            "There’s a problem with your letter",
            format!(
                "Your file includes a letter you’ve downloaded from Notify. You need to edit {pages}."
            ),
        ),
        "no-fixed-abode-address" => ("There is a problem", "Enter a real address.".into()),
        "invalid-address-line-1-or-2" => (
            ADDRESS,
            "The first 2 lines must both include at least one alphanumeric character.".into(),
        ),
        _ => ("Validation failed", String::new()),
    };
    ValidationMessage { title, message }
}

/// The postal-address rules' bounds (contract §6.3), as the address messages name them.
const MIN_ADDRESS_LINES: usize = 3;
const MAX_ADDRESS_LINES: usize = 7;

// ---- Returned letters ------------------------------------------------------------------------------------------

/// References per chunk, as upstream's `MAX_REFERENCES_PER_TASK`: each chunk is one statement.
pub const RETURNED_LETTERS_CHUNK: usize = 5000;

/// What a returned-letters list did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnedLetters {
    pub chunks: usize,
    pub updated: u64,
    pub updated_history: u64,
    /// References no letter has (logged, as upstream does, and otherwise ignored).
    pub unknown: Vec<String>,
    /// Returned-letter callbacks made due.
    pub callbacks: usize,
}

/// Letter references are 16 capitals and digits.
pub fn is_letter_reference(reference: &str) -> bool {
    reference.len() == 16
        && reference
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The references as given, or why the list is refused (each fault named once, in order).
pub fn check_references(references: &[String]) -> LetterAdminResult<()> {
    if references.is_empty() {
        return Err(LetterAdminError::Field(
            "references",
            "Shorter than minimum length 1.".into(),
        ));
    }
    if let Some(bad) = references.iter().find(|r| !is_letter_reference(r)) {
        return Err(LetterAdminError::Field(
            "references",
            format!("{bad} does not match ^[0-9A-Z]{{16}}$"),
        ));
    }
    Ok(())
}

/// `POST /letters/returned` and `notify letter returned`: every letter named becomes `returned-letter`, is
/// recorded as returned today (London), and calls its service back (once) when the service has a
/// returned-letter callback. `chunk` references at a time; each chunk's callbacks are relayed after its commit.
pub async fn process_returned_letters(
    state: &AppState,
    references: &[String],
    chunk: usize,
) -> LetterAdminResult<ReturnedLetters> {
    check_references(references)?;
    let now = state.now();
    let reported_at = london_date(now);
    let mut report = ReturnedLetters::default();
    for references in references.chunks(chunk.max(1)) {
        let done = state
            .db
            .return_letters(references, reported_at, now)
            .await?;
        for reference in &done.unknown {
            tracing::warn!(
                notification_reference = reference.as_str(),
                "Notification with reference {reference} not found in notifications or notifications history"
            );
        }
        tracing::info!(
            updated = done.updated,
            updated_history = done.updated_history,
            references = references.len(),
            "returned letters recorded"
        );
        crate::callbacks::relay_now(state, &done.outbox_ids).await;
        report.chunks += 1;
        report.updated += done.updated;
        report.updated_history += done.updated_history;
        report.unknown.extend(done.unknown);
        report.callbacks += done.outbox_ids.len();
    }
    Ok(report)
}

// ---- Letter branding -------------------------------------------------------------------------------------------

/// The largest logo file taken.
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;

/// Where a letter branding's logo is in the file store; the render step reads it from there.
pub fn logo_key(filename: &str) -> String {
    format!("letter-logos/{filename}")
}

fn skip_prolog(mut rest: &str) -> Option<&str> {
    loop {
        rest = rest.trim_start();
        let (open, close) = if rest.starts_with("<?") {
            ("<?", "?>")
        } else if rest.starts_with("<!--") {
            ("<!--", "-->")
        } else if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case("<!DOCTYPE") {
            // An internal subset ends at "]>", a plain doctype at the first ">".
            match rest.find(['[', '>']) {
                Some(i) if rest.as_bytes()[i] == b'[' => ("<!DOCTYPE", "]>"),
                _ => ("<!DOCTYPE", ">"),
            }
        } else {
            return Some(rest);
        };
        let after = &rest[open.len()..];
        rest = &after[after.find(close)? + close.len()..];
    }
}

fn is_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let Some(root) = skip_prolog(text.trim_start_matches('\u{feff}')) else {
        return false;
    };
    root.strip_prefix("<svg")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
}

fn is_png(bytes: &[u8]) -> bool {
    bytes.len() > 16 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR"
}

/// The logo a file holds, told from its content (never from its name): an SVG document or a PNG image.
pub fn logo_from_file(bytes: Vec<u8>) -> LetterAdminResult<Logo> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(LetterAdminError::Invalid(
            "The logo must be 1 MB or smaller".into(),
        ));
    }
    if is_png(&bytes) {
        Ok(Logo::Png(bytes))
    } else if is_svg(&bytes) {
        Ok(Logo::Svg(bytes))
    } else {
        Err(LetterAdminError::Invalid(
            "The logo must be an SVG or PNG file".into(),
        ))
    }
}

/// Stores a logo file under a new name, `{uuid}.svg` or `{uuid}.png`, and returns that name (what a letter
/// branding's `filename` is).
pub async fn upload_letter_logo(state: &AppState, bytes: Vec<u8>) -> LetterAdminResult<String> {
    let (filename, content_type, bytes) = match logo_from_file(bytes)? {
        Logo::Svg(b) => (format!("{}.svg", Uuid::new_v4()), "image/svg+xml", b),
        Logo::Png(b) => (format!("{}.png", Uuid::new_v4()), "image/png", b),
    };
    state
        .files
        .put(&logo_key(&filename), bytes, content_type)
        .await?;
    Ok(filename)
}

/// A branding's file must be a plain name already in the store, so a letter never names a logo that is not there.
async fn check_filename(state: &AppState, filename: &str) -> LetterAdminResult<()> {
    let plain = !filename.is_empty()
        && !filename.starts_with('.')
        && filename
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plain {
        return Err(LetterAdminError::Field(
            "filename",
            format!("{filename} is not a valid file name"),
        ));
    }
    if state.files.get(&logo_key(filename)).await?.is_none() {
        return Err(LetterAdminError::Field(
            "filename",
            format!("No logo file {}: upload it first", logo_key(filename)),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> LetterAdminResult<()> {
    if name.trim().is_empty() {
        return Err(LetterAdminError::Field(
            "name",
            "Missing data for required field.".into(),
        ));
    }
    Ok(())
}

/// Upstream's answer to a name or file name already taken.
fn already_in_use(e: DbError) -> LetterAdminError {
    match e.unique_violation() {
        Some("letter_branding_name_key") => {
            LetterAdminError::Field("name", "Name already in use".into())
        }
        Some("letter_branding_filename_key") => {
            LetterAdminError::Field("filename", "Filename already in use".into())
        }
        _ => e.into(),
    }
}

pub async fn create_letter_branding(
    state: &AppState,
    name: &str,
    filename: &str,
    created_by: Option<Uuid>,
) -> LetterAdminResult<LetterBrandingRecord> {
    check_name(name)?;
    check_filename(state, filename).await?;
    state
        .db
        .create_letter_branding(Uuid::new_v4(), name.trim(), filename, created_by)
        .await
        .map_err(already_in_use)
}

pub async fn update_letter_branding(
    state: &AppState,
    id: Uuid,
    name: &str,
    filename: &str,
    updated_by: Option<Uuid>,
) -> LetterAdminResult<LetterBrandingRecord> {
    if state.db.get_letter_branding(id).await?.is_none() {
        return Err(LetterAdminError::NotFound("No result found"));
    }
    check_name(name)?;
    check_filename(state, filename).await?;
    state
        .db
        .update_letter_branding(id, name.trim(), filename, updated_by)
        .await
        .map_err(already_in_use)?
        .ok_or(LetterAdminError::NotFound("No result found"))
}

/// The CLI's one step: the logo stored under a new name, then the branding made with it; the file goes again
/// when the branding cannot be made.
pub async fn create_letter_branding_with_logo(
    state: &AppState,
    name: &str,
    logo: Vec<u8>,
    created_by: Option<Uuid>,
) -> LetterAdminResult<LetterBrandingRecord> {
    check_name(name)?;
    let filename = upload_letter_logo(state, logo).await?;
    match create_letter_branding(state, name, &filename, created_by).await {
        Ok(branding) => Ok(branding),
        Err(e) => {
            if let Err(cleanup) = state.files.delete(&logo_key(&filename)).await {
                tracing::warn!(error = %cleanup, filename, "unused logo file left in the store");
            }
            Err(e)
        }
    }
}

/// A letter branding a service is to be given must exist (`None`, taking it away, always may).
pub async fn check_letter_branding(
    state: &AppState,
    branding: Option<Uuid>,
) -> LetterAdminResult<()> {
    if let Some(id) = branding
        && state.db.get_letter_branding(id).await?.is_none()
    {
        return Err(LetterAdminError::Field(
            "letter_branding",
            format!("No letter branding with id {id}"),
        ));
    }
    Ok(())
}

/// Gives a service a letter branding (`None` takes it away); the branding must exist.
pub async fn set_service_letter_branding(
    state: &AppState,
    service_id: Uuid,
    branding: Option<Uuid>,
) -> LetterAdminResult<Service> {
    check_letter_branding(state, branding).await?;
    state
        .db
        .update_service(
            service_id,
            &ServiceUpdate {
                letter_branding_id: Some(branding),
                ..Default::default()
            },
        )
        .await?
        .ok_or(LetterAdminError::NotFound("No result found"))
}

/// A letter branding as upstream serialises one.
pub fn letter_branding_json(branding: &LetterBrandingRecord) -> Value {
    json!({
        "id": branding.id,
        "name": branding.name,
        "filename": branding.filename,
        "created_by": branding.created_by_id,
        "created_at": notify_core::time::format(branding.created_at),
        "updated_at": branding.updated_at.map(notify_core::time::format),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_cut_off_and_its_messages() {
        use NotificationStatus::*;
        // Created in the morning: cancellable until 17:30 that day.
        let morning = utc("2026-01-05T09:00:00Z");
        assert_eq!(
            cancel_refusal(Created, morning, utc("2026-01-05T17:29:59Z")),
            None
        );
        assert_eq!(
            cancel_refusal(Created, morning, utc("2026-01-05T17:30:00Z")).unwrap(),
            "It’s too late to cancel this letter. Printing started today at 5.30pm"
        );
        assert_eq!(
            cancel_refusal(PendingVirusCheck, morning, utc("2026-01-06T08:00:00Z")).unwrap(),
            "It’s too late to cancel this letter. Printing started on 5 January at 5.30pm"
        );
        // Created after 17:30: the next day's run, so still cancellable the next morning.
        let evening = utc("2026-01-05T18:00:00Z");
        assert_eq!(
            cancel_refusal(Created, evening, utc("2026-01-06T17:29:00Z")),
            None
        );
        assert_eq!(
            cancel_refusal(Created, evening, utc("2026-01-06T17:30:00Z")).unwrap(),
            "It’s too late to cancel this letter. Printing started today at 5.30pm"
        );
        assert_eq!(
            cancel_refusal(Created, evening, utc("2026-01-08T09:00:00Z")).unwrap(),
            "It’s too late to cancel this letter. Printing started on 6 January at 5.30pm"
        );
        // Summer: 17:30 London is 16:30 UTC.
        let june = utc("2026-06-01T09:00:00Z");
        assert_eq!(
            cancel_refusal(Created, june, utc("2026-06-01T16:29:59Z")),
            None
        );
        assert!(cancel_refusal(Created, june, utc("2026-06-01T16:30:00Z")).is_some());
        assert_eq!(
            cancel_refusal(Cancelled, morning, utc("2026-01-05T10:00:00Z")).unwrap(),
            "This letter has already been cancelled."
        );
        assert_eq!(
            cancel_refusal(
                Sending,
                utc("2026-01-05T09:00:00.5Z"),
                utc("2026-01-05T10:00:00Z")
            )
            .unwrap(),
            "We could not cancel this letter. Letter status: sending, created_at: 2026-01-05 09:00:00.500000"
        );
    }

    #[test]
    fn logos_are_told_from_their_content() {
        let svg = br#"<?xml version="1.0"?><!-- made by hand --><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x"><svg xmlns="http://www.w3.org/2000/svg" width="10"/>"#;
        assert!(matches!(logo_from_file(svg.to_vec()), Ok(Logo::Svg(_))));
        assert!(matches!(
            logo_from_file(b"\xef\xbb\xbf  <svg>\n</svg>".to_vec()),
            Ok(Logo::Svg(_))
        ));
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend([0; 13]);
        assert!(matches!(logo_from_file(png), Ok(Logo::Png(_))));
        for bad in [
            &b"<svgx/>"[..],
            b"<html><svg/></html>",
            b"GIF89a",
            b"",
            b"\x89PNG\r\n\x1a\n",
            b"<!-- never closed <svg/>",
        ] {
            assert!(
                matches!(logo_from_file(bad.to_vec()), Err(LetterAdminError::Invalid(m)) if m == "The logo must be an SVG or PNG file"),
                "{bad:?}"
            );
        }
        let mut big = b"<svg>".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, b' ');
        assert!(
            matches!(logo_from_file(big), Err(LetterAdminError::Invalid(m)) if m == "The logo must be 1 MB or smaller")
        );
    }

    #[test]
    fn validation_codes_in_the_admin_apps_words() {
        assert_eq!(pages_phrase(&[]), "");
        assert_eq!(pages_phrase(&[2]), "page 2");
        assert_eq!(pages_phrase(&[1, 3]), "pages 1 and 3");
        assert_eq!(pages_phrase(&[1, 2, 4]), "pages 1, 2 and 4");
        let words = validation_message("letter-not-a4-portrait-oriented", &[1], None);
        assert_eq!(words.title, "Your letter is not A4 portrait size");
        assert_eq!(
            words.message,
            "You need to change the size or orientation of page 1. Files must meet our letter specification."
        );
        assert_eq!(
            validation_message("notify-tag-found-in-content", &[2, 5], None).message,
            "Your file includes a letter you’ve downloaded from Notify. You need to edit pages 2 and 5."
        );
        assert_eq!(
            validation_message("letter-too-long", &[], Some(11)).message,
            "Letters must be 10 pages or less (5 double-sided sheets of paper). Your letter is 11 pages long."
        );
        assert_eq!(
            validation_message("not-enough-address-lines", &[], None),
            ValidationMessage {
                title: "There’s a problem with the address for this letter",
                message: "The address must be at least 3 lines long.".into(),
            }
        );
        assert_eq!(
            validation_message("something-new", &[], None).title,
            "Validation failed"
        );
        assert_eq!(validation_json(None, None, None), Value::Null);
    }

    #[test]
    fn references_are_sixteen_capitals_or_digits() {
        assert!(check_references(&["ABCDEFGHIJ012345".into()]).is_ok());
        assert_eq!(
            check_references(&[]).unwrap_err().to_string(),
            "references: Shorter than minimum length 1."
        );
        assert_eq!(
            check_references(&["ABCDEFGHIJ012345".into(), "abcdefghij012345".into()])
                .unwrap_err()
                .to_string(),
            "references: abcdefghij012345 does not match ^[0-9A-Z]{16}$"
        );
        assert!(!is_letter_reference("ABCDEFGHIJ01234"));
    }
}
