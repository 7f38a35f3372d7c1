//! `POST /v2/notifications/bulk`, GC Notify's public bulk endpoint (`post_bulk` in cds-snc/notification-api
//! `app/v2/notifications/post_notifications.py`): a CSV given as `rows` (an array of arrays, header first) or as
//! `csv` (a string) becomes a job, checked as a whole before the job exists, with GC Notify's messages in GC
//! Notify's order. The job's rows are then made by the jobs worker, as for an admin upload.
//!
//! Our limit is [`notify_core::jobs::MAX_ROWS`] (100,000 rows, upstream's RecipientCSV limit); GC Notify's `CSV_MAX_ROWS` is 50,000.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::create::{CreateJob, JobRefused, create_job, create_job_completing_key};
use crate::AppState;
use crate::auth::AuthenticatedKey;
use crate::idempotency::{self, Answer, Begun};
use crate::limits::limit_for;
use crate::notifications::requests::JsonBody;
use notify_core::errors::V2Error;
use notify_core::idempotency::IdempotencyKey;
use notify_core::jobs::{JobMetadata, csv_upload_key};
use notify_core::model::{KeyType, LimitName, NotificationType, RecipientKind, Template};
use notify_core::recipient_csv::{self, CsvProblem, CsvTemplate, Recipient, RowError};
use notify_core::recipients::PhoneNumber;
use notify_core::schema::{self, Fields, RuleResult, not_of_type};
use notify_core::templates::placeholders::python_repr;
use notify_core::templates::{self, sms};
use notify_db::{IdempotentRequest, JobRecord, SenderKind};

/// How far ahead a bulk job may be scheduled (GC Notify's `JOBS_MAX_SCHEDULE_HOURS_AHEAD`).
pub const MAX_SCHEDULE_HOURS: i64 = 96;

/// GC Notify shows the first 20 rows with errors (RecipientCSV's `max_errors_shown`).
const ROWS_WITH_ERRORS_SHOWN: usize = 20;

/// Where the file comes from: exactly one of the two.
#[derive(Clone, Debug, PartialEq)]
pub enum BulkSource {
    /// `rows`: header first, each row an array of cells.
    Rows(Vec<Value>),
    /// `csv`: the file as text.
    Csv(String),
}

/// The body of `POST /v2/notifications/bulk` (GC Notify's `post_bulk_request`), read once.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkRequest {
    pub template_id: Uuid,
    /// The job's `original_file_name`.
    pub name: String,
    pub source: BulkSource,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The SMS sender or email reply-to address every row is sent with.
    pub reply_to_id: Option<Uuid>,
}

/// GC Notify's `datetime_schedule_job` format: ISO 8601, from now to 96 hours ahead; a time without a zone is UTC.
fn schedule_time(
    now: DateTime<Utc>,
) -> impl FnOnce(&str, &Value) -> RuleResult<Option<DateTime<Utc>>> {
    move |name, value| {
        let text = match value {
            Value::Null => return Ok(None),
            Value::String(s) => s.trim(),
            other => return Err(format!("{name} {}", not_of_type(other, "string, null"))),
        };
        let at = parse_iso8601(text).ok_or_else(|| {
            format!(
                "{name} datetime format is invalid. It must be a valid ISO8601 date time format, \
                 https://en.wikipedia.org/wiki/ISO_8601"
            )
        })?;
        if at < now {
            Err(format!("{name} datetime cannot be in the past"))
        } else if at > now + Duration::hours(MAX_SCHEDULE_HOURS) {
            Err(format!(
                "{name} datetime can only be up to {MAX_SCHEDULE_HOURS} hours in the future"
            ))
        } else {
            Ok(Some(at))
        }
    }
}

/// What Python's `iso8601.parse_date` takes: a zone or none (UTC), `T` or a space, seconds and fractions optional,
/// or a bare date.
fn parse_iso8601(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Some(at.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// `nullable_uuid`: any error of the property is GC Notify's one `validationMessage`.
fn nullable_uuid(name: &str, value: &Value) -> RuleResult<Option<Uuid>> {
    match value {
        Value::Null => Ok(None),
        other => schema::uuid(name, other).map(Some),
    }
}

/// `rows`: an array of at least a header and one row. (GC Notify's schema also has `maxItems: CSV_MAX_ROWS + 1`,
/// whose message would echo every row back; a longer array is refused as a long `csv` is, with
/// "Too many rows. Maximum number of rows allowed is …".)
fn rows(name: &str, value: &Value) -> RuleResult<Vec<Value>> {
    match value {
        Value::Array(items) if items.len() >= 2 => Ok(items.clone()),
        Value::Array(_) => Err(format!(
            "{name} {} is too short",
            python_repr(value).replace('\'', "")
        )),
        other => Err(format!("{name} {}", not_of_type(other, "array"))),
    }
}

impl BulkRequest {
    /// Every schema error at once in GC Notify's order (properties as its schema lists them, then `required`,
    /// then additional properties); then "You should specify either rows or csv" unless exactly one is given
    /// (an empty `csv` counts as none, as GC Notify's truthiness test does).
    pub fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Self, V2Error> {
        let mut f = Fields::new(body);
        let template_id = f.required("template_id", schema::uuid);
        // Accepted by GC Notify's schema and not used.
        let _reference = f.optional("reference", schema::string(None));
        let scheduled_for = f.optional("scheduled_for", schedule_time(now)).flatten();
        let reply_to_id = f.optional("reply_to_id", nullable_uuid).flatten();
        let csv = f.optional("csv", schema::string(None));
        let rows = f.optional("rows", rows);
        let name = f.required("name", schema::string(None));
        let errors = f.finish();
        if !errors.is_empty() {
            return Err(V2Error::validation(errors));
        }
        let (Some(template_id), Some(name)) = (template_id, name) else {
            return Err(V2Error::validation(errors));
        };
        let source = match (rows, csv.filter(|c| !c.is_empty())) {
            (Some(rows), None) => BulkSource::Rows(rows),
            (None, Some(csv)) => BulkSource::Csv(csv),
            _ => {
                return Err(V2Error::bad_request(
                    "You should specify either rows or csv",
                ));
            }
        };
        Ok(BulkRequest {
            template_id,
            name,
            source,
            scheduled_for,
            reply_to_id,
        })
    }
}

/// A cell as Python's `csv.writer` writes it: `None` empty, other non-strings as `str()` does.
fn cell_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => python_repr(other),
    }
}

/// Python's type names, for `csv.writer`'s "iterable expected, not int".
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `rows` as the CSV text GC Notify makes of them (`csv.writer(...).writerows(rows)`: minimal quoting, `\r\n`).
/// A row is iterated as Python iterates it (a string by characters, an object by keys); a number is not iterable.
pub fn rows_to_csv(rows: &[Value]) -> Result<String, V2Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        let cells: Vec<String> = match row {
            Value::Array(cells) => cells.iter().map(cell_text).collect(),
            Value::String(s) => s.chars().map(String::from).collect(),
            Value::Object(map) => map.keys().cloned().collect(),
            other => {
                return Err(V2Error::bad_request(format!(
                    "Error converting to CSV: iterable expected, not {}",
                    python_type(other)
                )));
            }
        };
        writer
            .write_record(&cells)
            .map_err(|e| V2Error::bad_request(format!("Error converting to CSV: {e}")))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| V2Error::bad_request(format!("Error converting to CSV: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|e| V2Error::bad_request(format!("Error converting to CSV: {e}")))
}

/// The file as RecipientCSV keeps it (`file_data`): whitespace and commas stripped from both ends.
fn file_data(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == ',')
}

/// Folds a column name as RecipientCSV matches recipient columns: case, spaces, `_` and `-` ignored.
fn fold(column: &str) -> String {
    column
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_recipient_column(template_type: NotificationType, column: &str) -> bool {
    let folded = fold(column);
    match template_type {
        NotificationType::Sms => folded == "phonenumber",
        NotificationType::Email => folded == "emailaddress",
        NotificationType::Letter => {
            folded == "postcode"
                || folded
                    .strip_prefix("addressline")
                    .is_some_and(|n| matches!(n, "1" | "2" | "3" | "4" | "5" | "6" | "7"))
        }
    }
}

/// "Some rows have errors. Row 1 - `name`: Missing. Row 2 - `email address`: invalid recipient." as GC Notify
/// writes it: rows numbered from 0 after the header, a row's columns joined by ",", a bad recipient only called
/// invalid, the first 20 rows with errors.
pub fn row_errors_message(template_type: NotificationType, errors: &[RowError]) -> String {
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    for error in errors {
        let text = if is_recipient_column(template_type, &error.column) {
            format!("`{}`: invalid recipient", error.column)
        } else {
            format!("`{}`: {}", error.column, error.message)
        };
        match rows.last_mut() {
            Some((row, texts)) if *row == error.row => texts.push(text),
            _ => {
                if rows.len() == ROWS_WITH_ERRORS_SHOWN {
                    break;
                }
                rows.push((error.row, vec![text]));
            }
        }
    }
    let shown: Vec<String> = rows
        .into_iter()
        // `RowError.row` counts as a spreadsheet does (the header is row 1); GC Notify counts data rows from 0.
        .map(|(row, texts)| format!("Row {} - {}", row.saturating_sub(2), texts.join(",")))
        .collect();
    format!("Some rows have errors. {}.", shown.join(". "))
}

/// The daily limit with the row count (RecipientCSV's `more_rows_than_can_send_today`), GC Notify's words.
fn daily_limit_message(template_type: NotificationType, remaining: i64, rows: usize) -> String {
    let kind = if template_type == NotificationType::Sms {
        "sms "
    } else {
        ""
    };
    format!(
        "You only have {remaining} remaining {kind}messages before you reach your daily limit. \
         You've tried to send {rows} {kind}messages."
    )
}

fn bad_request(message: impl Into<String>) -> V2Error {
    V2Error::bad_request(message)
}

/// The sender every row goes with: `reply_to_id` must be the service's (GC Notify's messages); an SMS job without
/// one takes the service's default sender, as GC Notify does; an email job without one has none (each row then
/// takes the template's or the service's default when it is sent).
async fn sender_id(
    state: &AppState,
    auth: &AuthenticatedKey,
    template_type: NotificationType,
    reply_to_id: Option<Uuid>,
) -> Result<Option<Uuid>, V2Error> {
    let service_id = auth.service.id;
    let (kind, field) = match template_type {
        NotificationType::Sms => (SenderKind::Sms, "sms_sender_id"),
        NotificationType::Email => (SenderKind::ReplyTo, "email_reply_to_id"),
        NotificationType::Letter => (SenderKind::LetterContact, "letter_contact_id"),
    };
    let sender = state
        .lookups
        .sender(&state.db, kind, service_id, reply_to_id)
        .await?;
    match (reply_to_id, sender) {
        (Some(id), None) => Err(bad_request(format!(
            "{field} {id} does not exist in database for service id {service_id}"
        ))),
        (Some(id), Some(_)) => Ok(Some(id)),
        (None, Some(default)) if template_type == NotificationType::Sms => Ok(Some(default.id)),
        (None, _) => Ok(None),
    }
}

/// Team keys and trial services may only send to the team and the guest list (GC Notify's `safelisted_members`
/// and RecipientCSV's `allowed_to_send_to`: every row's recipient must be one of them; letters are not checked
/// here, trial letter jobs are refused when the job is created); then, for texts, GC Notify's check of each
/// row's message length (`rows_with_combined_variable_content_too_long`, here with the 918-character limit of a
/// single send). One pass over the rows, made only when there is something to check.
async fn check_rows(
    state: &AppState,
    auth: &AuthenticatedKey,
    bytes: &[u8],
    csv_template: &CsvTemplate,
    template: &Template,
) -> Result<(), V2Error> {
    let restricted = match auth.key_type {
        KeyType::Test => false,
        KeyType::Team => true,
        KeyType::Normal => auth.service.restricted,
    } && csv_template.template_type != NotificationType::Letter;
    let sms = csv_template.template_type == NotificationType::Sms;
    if !restricted && !sms {
        return Ok(());
    }
    let allowed = if restricted {
        state.db.team_and_guest_list(auth.service.id).await?
    } else {
        Vec::new()
    };
    let phones: Vec<String> = allowed
        .iter()
        .filter(|(kind, _)| RecipientKind::parse(kind) == Some(RecipientKind::Mobile))
        .filter_map(|(_, r)| PhoneNumber::parse(r).ok())
        .map(|p| p.normalised().to_string())
        .collect();
    let emails: Vec<String> = allowed
        .iter()
        .filter(|(kind, _)| RecipientKind::parse(kind) == Some(RecipientKind::Email))
        .map(|(_, r)| r.trim().to_lowercase())
        .collect();
    let Ok(rows) = recipient_csv::rows(bytes, csv_template, 0) else {
        return Ok(());
    };
    let mut everyone_allowed = true;
    let mut too_long: Option<u32> = None;
    for row in rows {
        if restricted && everyone_allowed {
            everyone_allowed = match &row.recipient {
                Ok(Recipient::Phone(p)) => phones.iter().any(|a| a == p.normalised()),
                Ok(Recipient::Email(e)) => emails.contains(&e.normalised()),
                Ok(Recipient::Address(_)) => true,
                // A recipient that does not parse is nobody on the list.
                Err(_) => false,
            };
        }
        if sms && too_long.is_none() {
            // A row that cannot be rendered (a missing placeholder) is reported with the row errors.
            if let Ok(rendered) = templates::render(template, &row.personalisation)
                && sms::character_count(&rendered.body) > sms::SMS_CHAR_COUNT_LIMIT
            {
                too_long = Some(row.number);
            }
        }
        if (!restricted || !everyone_allowed) && (!sms || too_long.is_some()) {
            break;
        }
    }
    if !everyone_allowed {
        let explanation = if auth.service.restricted {
            "because your service is in trial mode. You can only send to members of your team and your safelist."
        } else {
            "because you used a team and safelist API key."
        };
        return Err(bad_request(format!(
            "You cannot send to these recipients {explanation}"
        )));
    }
    if let Some(number) = too_long {
        // GC Notify numbers this row from 1, unlike its row errors.
        return Err(bad_request(format!(
            "Row {} - has a character count greater than {} characters. Some messages may be too long due to \
             custom content.",
            number + 1,
            sms::SMS_CHAR_COUNT_LIMIT
        )));
    }
    Ok(())
}

fn usable_template_type(template: &Template, auth: &AuthenticatedKey) -> Result<(), V2Error> {
    if template.archived {
        return Err(bad_request(format!(
            "Template {} has been deleted",
            template.id
        )));
    }
    let permission = template.template_type.permission();
    if !auth.service.has_permission(permission) {
        return Err(bad_request(format!(
            "Service is not allowed to send {}",
            template.template_type.plural_noun()
        )));
    }
    Ok(())
}

/// The file checked as GC Notify's `check_for_csv_errors` does, in its order: missing, then duplicate columns,
/// the daily limit with the row count, too many rows, recipients a team key or trial service may not send to,
/// texts too long, then the rows with errors. Returns the number of rows.
async fn check_file(
    state: &AppState,
    auth: &AuthenticatedKey,
    bytes: &[u8],
    csv_template: &CsvTemplate,
    template: &Template,
    remaining_today: i64,
) -> Result<usize, V2Error> {
    let checked = recipient_csv::check(bytes, csv_template);
    let row_count = match &checked {
        Ok(file) => file.row_count,
        Err(CsvProblem::Unreadable(message)) => {
            return Err(bad_request(format!("Error converting to CSV: {message}")));
        }
        Err(CsvProblem::MissingColumns(columns)) => {
            let mut columns = columns.clone();
            columns.sort();
            return Err(bad_request(format!(
                "Missing column headers: {}",
                columns.join(", ")
            )));
        }
        Err(CsvProblem::DuplicateColumns(columns)) => {
            let mut columns = columns.clone();
            columns.sort();
            return Err(bad_request(format!(
                "Duplicate column headers: {}",
                columns.join(", ")
            )));
        }
        Err(CsvProblem::NoRows) => 0,
        Err(CsvProblem::TooManyRows { rows, .. }) => *rows,
        Err(CsvProblem::RowErrors(_)) => recipient_csv::rows(bytes, csv_template, 0)
            .map(Iterator::count)
            .unwrap_or(0),
    };
    if row_count as i64 > remaining_today {
        return Err(bad_request(daily_limit_message(
            csv_template.template_type,
            remaining_today,
            row_count,
        )));
    }
    if let Err(CsvProblem::TooManyRows { max, .. }) = &checked {
        return Err(bad_request(format!(
            "Too many rows. Maximum number of rows allowed is {max}"
        )));
    }
    if let Err(CsvProblem::NoRows) = &checked {
        // GC Notify's `rows` must have a row after the header (`minItems: 2`); a `csv` without one is refused
        // the same way rather than making an empty job.
        return Err(bad_request("csv has no rows after its header"));
    }
    check_rows(state, auth, bytes, csv_template, template).await?;
    if let Err(CsvProblem::RowErrors(errors)) = &checked {
        return Err(bad_request(row_errors_message(
            csv_template.template_type,
            errors,
        )));
    }
    Ok(row_count)
}

fn refused(e: JobRefused, template_id: Uuid) -> V2Error {
    match e {
        JobRefused::ServiceInactive | JobRefused::TrialLetters => {
            V2Error::new(403, "BadRequestError", e.to_string())
        }
        // Not reached from here (the file and metadata were just written, the time checked against 96 hours),
        // but said as they are if they ever are.
        JobRefused::FileNotValid
        | JobRefused::ScheduledInPast
        | JobRefused::ScheduledTooFar
        | JobRefused::MissingMetadata(_) => bad_request(e.to_string()),
        JobRefused::TemplateArchived => {
            bad_request(format!("Template {template_id} has been deleted"))
        }
        JobRefused::NotFound => V2Error::not_found(),
        JobRefused::FilesUnavailable(message) => V2Error::unavailable(message),
        JobRefused::Db(e) => e.into(),
    }
}

/// `POST /v2/notifications/bulk`: 201 `{"data": job}`.
pub async fn post_bulk(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
) -> Result<String, V2Error> {
    post_bulk_keyed(state, auth, JsonBody::read(body), None)
        .await?
        .ok_or_else(|| V2Error::internal("a bulk job without an Idempotency-Key was not stored"))
}

/// [`post_bulk`] with an `Idempotency-Key`: claimed before anything is checked, the job stored with the key's
/// response, a repeat answered that response.
pub async fn post_bulk_with_key(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
    key: &IdempotencyKey,
) -> Result<Answer, V2Error> {
    let body = JsonBody::read(body);
    let keyed = match idempotency::begin(
        state,
        auth.service.id,
        key,
        "POST /v2/notifications/bulk",
        &body,
    )
    .await?
    {
        Begun::Go(keyed) => keyed,
        Begun::Replay { status, body } => return Ok(Answer::Replayed { status, body }),
    };
    let outcome = post_bulk_keyed(state, auth, body, Some(&keyed.request)).await;
    idempotency::settle(state, &keyed, outcome).await
}

/// `None` when, with a key, the key was answered first: no job.
async fn post_bulk_keyed(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: JsonBody<'_>,
    key: Option<&IdempotentRequest>,
) -> Result<Option<String>, V2Error> {
    let now = state.now();
    let service = &auth.service;
    let request = BulkRequest::parse(&body.into_object()?, now)?;
    let template = state
        .lookups
        .template(&state.db, service.id, request.template_id)
        .await?
        .ok_or_else(|| bad_request("Template not found"))?;
    usable_template_type(&template, auth)?;
    let template_type = template.template_type;
    state
        .limiter
        .check_rate_limit(service.id, auth.key_type, service.rate_limit, now)
        .await?;
    let limit_name = LimitName::of(template_type);
    let remaining_today = limit_for(service, auth.key_type, limit_name)
        - state
            .limiter
            .daily_count(service.id, limit_name, auth.key_type, now)
            .await;
    let sender_id = sender_id(state, auth, template_type, request.reply_to_id).await?;
    let text = match &request.source {
        BulkSource::Rows(rows) => rows_to_csv(rows)?,
        BulkSource::Csv(csv) => csv.clone(),
    };
    let bytes = file_data(&text).as_bytes().to_vec();
    // The worker reads the file as this; the same view here, so what passes here is what it processes.
    let csv_template = super::process::csv_template(&template, service);
    let row_count = check_file(
        state,
        auth,
        &bytes,
        &csv_template,
        &template,
        remaining_today,
    )
    .await?;

    // `create_job` would refuse this too, but only after the file was stored: refused first, nothing left behind.
    if template_type == NotificationType::Letter && service.restricted {
        return Err(refused(JobRefused::TrialLetters, template.id));
    }
    // The file and what it says about itself go where an admin upload goes; `create_job` reads them back.
    let job_id = Uuid::new_v4();
    let metadata = JobMetadata {
        template_id: Some(template.id),
        notification_count: Some(row_count as u32),
        valid: true,
        original_file_name: Some(request.name.clone()),
        sender_id,
    };
    state
        .files
        .put_with_metadata(
            &csv_upload_key(service.id, job_id),
            bytes,
            "text/csv",
            &metadata.to_map(),
        )
        .await
        .map_err(|e| {
            tracing::error!(service_id = %service.id, error = %e, "bulk CSV not stored; no job");
            V2Error::unavailable(e)
        })?;
    // Read before the job exists, so the response can be made (and, with a key, stored) with it.
    let key_name = state
        .db
        .list_api_keys(service.id)
        .await?
        .into_iter()
        .find(|k| k.id == auth.api_key_id)
        .map(|k| k.name)
        .unwrap_or_default();
    let request = CreateJob {
        id: job_id,
        service_id: service.id,
        created_by: None,
        api_key_id: Some(auth.api_key_id),
        scheduled_for: request.scheduled_for,
    };
    // Serialised once: with a key it is also the stored response.
    let respond = |job: &JobRecord| {
        serde_json::to_string(&json!({ "data": job_json(job, auth, &key_name) }))
            .expect("a JSON value serialises")
    };
    let (job, body) = match key {
        None => {
            let job = create_job(state, request)
                .await
                .map_err(|e| refused(e, template.id))?;
            let body = respond(&job);
            (job, body)
        }
        Some(key) => {
            let mut body = String::new();
            let Some(job) = create_job_completing_key(state, request, key, |job| {
                body = respond(job);
                (201, body.clone())
            })
            .await
            .map_err(|e| refused(e, template.id))?
            else {
                return Ok(None);
            };
            (job, body)
        }
    };
    tracing::info!(job_id = %job.id, service_id = %service.id, rows = row_count, "bulk job created");
    Ok(Some(body))
}

/// A time as GC Notify's JobSchema writes it (Python's `isoformat()` of a UTC time: `+00:00`, the microseconds
/// only when there are some).
pub fn gc_datetime(at: DateTime<Utc>) -> String {
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// GC Notify's `job_schema.dump(job)` for a job made through the bulk endpoint. `created_by` is GC Notify's
/// platform user there; we have none, so it is `null`.
pub fn job_json(job: &JobRecord, auth: &AuthenticatedKey, key_name: &str) -> Value {
    let created_by = match job.created_by_id {
        Some(id) => json!({"id": id, "name": job.created_by_name}),
        None => Value::Null,
    };
    let api_key = match job.api_key_id {
        Some(id) => json!({"id": id, "key_type": auth.key_type.as_str(), "name": key_name}),
        None => Value::Null,
    };
    json!({
        "api_key": api_key,
        "archived": job.archived,
        "created_at": gc_datetime(job.created_at),
        "created_by": created_by,
        "id": job.id,
        "job_status": job.status.as_str(),
        "notification_count": job.notification_count,
        "original_file_name": job.original_file_name,
        "processing_finished": job.processing_finished.map(gc_datetime),
        "processing_started": job.processing_started.map(gc_datetime),
        "scheduled_for": job.scheduled_for.map(gc_datetime),
        "sender_id": job.sender_id,
        "service": job.service_id,
        "service_name": {"name": auth.service.name},
        "template": job.template_id,
        "template_type": job.template_type.as_str(),
        "template_version": job.template_version,
        "updated_at": job.updated_at.map(gc_datetime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2016, 1, 1, 10, 5, 0).unwrap()
    }

    fn errors(body: Value) -> Vec<String> {
        let e = BulkRequest::parse(body.as_object().unwrap(), now()).unwrap_err();
        e.body()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn schema_messages_are_gc_notifys() {
        let id = Uuid::new_v4();
        assert_eq!(
            errors(json!({"template_id": id, "csv": "foo"})),
            ["name is a required property"]
        );
        assert_eq!(
            errors(json!({"template_id": "x", "name": "n", "rows": [1, 2], "reply_to_id": "foo"})),
            [
                "template_id is not a valid UUID",
                "reply_to_id is not a valid UUID"
            ]
        );
        for (scheduled_for, message) in [
            (json!(42), "scheduled_for 42 is not of type string, null"),
            (
                json!("foo"),
                "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601",
            ),
            (
                json!("2016-01-01T10:04:00"),
                "scheduled_for datetime cannot be in the past",
            ),
            (
                json!("2016-01-05T10:06:00"),
                "scheduled_for datetime can only be up to 96 hours in the future",
            ),
        ] {
            assert_eq!(
                errors(
                    json!({"template_id": id, "name": "n", "rows": [1, 2], "scheduled_for": scheduled_for})
                ),
                [message]
            );
        }
        assert_eq!(
            errors(json!({"template_id": id, "name": "n", "rows": [["email address"]]})),
            ["rows [[email address]] is too short"]
        );
        for body in [
            json!({"template_id": id, "name": "n"}),
            json!({"template_id": id, "name": "n", "rows": [1, 2], "csv": "foo"}),
            json!({"template_id": id, "name": "n", "csv": ""}),
        ] {
            assert_eq!(errors(body), ["You should specify either rows or csv"]);
        }
        assert_eq!(
            errors(json!({"template_id": id, "name": "n", "csv": "a", "x": 1})),
            ["Additional properties are not allowed (x was unexpected)"]
        );
    }

    #[test]
    fn a_request_reads_typed() {
        let id = Uuid::new_v4();
        let request = BulkRequest::parse(
            json!({"template_id": id, "name": "n", "csv": "a\r\nb", "scheduled_for": "2016-01-02T10:00:00",
                "reply_to_id": null})
            .as_object()
            .unwrap(),
            now(),
        )
        .unwrap();
        assert_eq!(request.source, BulkSource::Csv("a\r\nb".into()));
        assert_eq!(
            request.scheduled_for,
            Some(Utc.with_ymd_and_hms(2016, 1, 2, 10, 0, 0).unwrap())
        );
        assert_eq!(request.reply_to_id, None);
    }

    #[test]
    fn rows_become_pythons_csv() {
        let rows = json!([
            ["email address", "name"],
            ["a@b.com", "Smith, J"],
            ["c@d.com", null],
            [1, true, "\"q\""],
            [""]
        ]);
        assert_eq!(
            rows_to_csv(rows.as_array().unwrap()).unwrap(),
            "email address,name\r\na@b.com,\"Smith, J\"\r\nc@d.com,\r\n1,True,\"\"\"q\"\"\"\r\n\"\"\r\n"
        );
        assert_eq!(
            rows_to_csv(&[json!(1), json!(2)]).unwrap_err().body()["errors"][0]["message"],
            "Error converting to CSV: iterable expected, not int"
        );
        assert_eq!(
            file_data("email address\r\nfoo@example.com\r\n"),
            "email address\r\nfoo@example.com"
        );
    }

    #[test]
    fn row_errors_read_as_gc_notifys() {
        let e = |row, column: &str, message: &str| RowError {
            row,
            column: column.into(),
            message: message.into(),
        };
        assert_eq!(
            row_errors_message(
                NotificationType::Email,
                &[
                    e(3, "name", "Missing"),
                    e(4, "email address", "Not a valid email address"),
                    e(5, "Email_Address", "Not a valid email address"),
                    e(5, "name", "Missing"),
                ]
            ),
            "Some rows have errors. Row 1 - `name`: Missing. Row 2 - `email address`: invalid recipient. \
             Row 3 - `Email_Address`: invalid recipient,`name`: Missing."
        );
    }

    #[test]
    fn times_as_python_writes_them() {
        assert_eq!(gc_datetime(now()), "2016-01-01T10:05:00+00:00");
        assert_eq!(
            gc_datetime(now() + Duration::microseconds(12)),
            "2016-01-01T10:05:00.000012+00:00"
        );
    }
}
