//! Templated letters after accept: rendered to PDF and stored (`Message::Deliver` on the deliver-letter queue),
//! collated each evening into one print job per letter (`Message::PrintLetter`), handed to the printer, and
//! tracked to `delivered` by DVLA's callback.
//!
//! Each step reads with one statement (the connection goes back before anything slow), renders or calls the
//! printer with plain values, and records with one statement; every step is safe to run twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::workers::Attempt;
use crate::{AppState, callbacks, precompiled};
use notify_core::letters::dvla_callback::{self, CallbackSigner, JobStatus};
use notify_core::letters::{letter_reference, london_date, pdf_file_key, print_deadline};
use notify_core::messages::Message;
use notify_core::model::{
    KeyType, LetterLanguages, NotificationStatus, NotificationType, Postage, Template,
};
use notify_core::retry::{DATABASE_RETRY_DELAY, Disposition, letter_render_retry, print_retry};
use notify_core::templates::{self, Values};
use notify_db::{DbError, LetterToPrint, LetterToRender, PrintRecord, RenderedRecord};
use notify_letters::{Language, Letter, LetterPart, LetterRenderer, Logo};
use notify_outbound::print::{PrintError, PrintJob, PrintProvider};
use notify_outbound::scan::Scanner;

/// Upstream's reason for a letter over [`notify_letters::MAX_PAGES`] pages.
pub const LETTER_TOO_LONG: &str = "letter-too-long";

/// The letters worker's tools, built once per process: the renderer, the printer, and the virus scanner for
/// precompiled letters (none when no scanner answers: those letters wait in `pending-virus-check`).
#[derive(Clone)]
pub struct LetterTools {
    pub renderer: Arc<dyn LetterRenderer>,
    pub printer: Arc<dyn PrintProvider>,
    pub scanner: Option<Arc<dyn Scanner>>,
}

/// A batch from the deliver-letter queue: renders (`Deliver`), print jobs (`PrintLetter`) and precompiled
/// letters' scans (`ScanLetter`, GuardDuty's `ScanResult`), one disposition per message in order.
pub async fn handle_letters(
    state: &AppState,
    tools: &LetterTools,
    messages: &[(Message, Attempt)],
) -> Vec<Disposition> {
    let mut dispositions = vec![Disposition::Done; messages.len()];
    let mut renders = Vec::new();
    let mut prints = Vec::new();
    let mut scans = Vec::new();
    for (i, (message, attempt)) in messages.iter().enumerate() {
        match message {
            Message::Deliver {
                notification_id, ..
            } => renders.push((i, *notification_id, *attempt)),
            Message::PrintLetter {
                notification_id, ..
            } => prints.push((i, *notification_id, *attempt)),
            Message::ScanLetter {
                notification_id, ..
            } => scans.push((
                i,
                precompiled::ScanRequest {
                    notification_id: *notification_id,
                    attempt: *attempt,
                    guardduty: None,
                },
            )),
            Message::ScanResult {
                notification_id,
                result,
                ..
            } => scans.push((
                i,
                precompiled::ScanRequest {
                    notification_id: *notification_id,
                    attempt: *attempt,
                    guardduty: Some(*result),
                },
            )),
            _ => tracing::warn!("not a letter message; dropped"),
        }
    }
    if !renders.is_empty() {
        let batch: Vec<(Uuid, Attempt)> = renders.iter().map(|(_, id, a)| (*id, *a)).collect();
        for ((i, ..), d) in renders
            .iter()
            .zip(render(state, &tools.renderer, &batch).await)
        {
            dispositions[*i] = d;
        }
    }
    if !prints.is_empty() {
        let batch: Vec<(Uuid, Attempt)> = prints.iter().map(|(_, id, a)| (*id, *a)).collect();
        for ((i, ..), d) in prints
            .iter()
            .zip(print(state, tools.printer.as_ref(), &batch).await)
        {
            dispositions[*i] = d;
        }
    }
    if !scans.is_empty() {
        let batch: Vec<precompiled::ScanRequest> = scans.iter().map(|(_, r)| *r).collect();
        for ((i, _), d) in scans
            .iter()
            .zip(precompiled::scan(state, tools, &batch).await)
        {
            dispositions[*i] = d;
        }
    }
    dispositions
}

/// What rendering one letter came to.
#[derive(Debug)]
enum Rendered {
    Done,
    Retry(Duration),
    Failed(String),
}

/// Renders and stores a batch of letters: one read for all, each rendered on the blocking pool (all at once),
/// stored, and recorded. Returns one disposition per id.
pub async fn render(
    state: &AppState,
    renderer: &Arc<dyn LetterRenderer>,
    letters: &[(Uuid, Attempt)],
) -> Vec<Disposition> {
    let ids: Vec<Uuid> = letters.iter().map(|(id, _)| *id).collect();
    let rows = match state.db.letters_to_render(&ids).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "letters not read for rendering; will retry");
            return vec![Disposition::RetryAfter(DATABASE_RETRY_DELAY); letters.len()];
        }
    };
    let work = letters.iter().map(|(id, attempt)| {
        let row = rows.iter().find(|r| r.id == *id).cloned();
        async move {
            let Some(row) = row else {
                tracing::warn!(notification_id = %id, "no such letter to render; dropped");
                return Disposition::Done;
            };
            let outcome = render_one(state, renderer, &row, *attempt).await;
            match outcome {
                Rendered::Done => Disposition::Done,
                Rendered::Retry(after) => Disposition::RetryAfter(after),
                Rendered::Failed(reason) => {
                    tracing::error!(notification_id = %id, reason, "letter not rendered: technical-failure");
                    match fail(state, *id).await {
                        Ok(()) => Disposition::Done,
                        Err(e) => {
                            tracing::error!(notification_id = %id, error = %e, "technical-failure not recorded; will retry");
                            Disposition::RetryAfter(DATABASE_RETRY_DELAY)
                        }
                    }
                }
            }
        }
    });
    futures::future::join_all(work).await
}

async fn render_one(
    state: &AppState,
    renderer: &Arc<dyn LetterRenderer>,
    row: &LetterToRender,
    attempt: Attempt,
) -> Rendered {
    let id = row.id;
    if row.status != NotificationStatus::Created || row.file_key.is_some() {
        // A redelivered message, a cancelled letter, or one already stored: nothing to do.
        return Rendered::Done;
    }
    let letter = match letter_of(state, row, attempt).await {
        Ok(letter) => letter,
        Err(outcome) => return outcome,
    };
    let renderer = renderer.clone();
    let rendered = match tokio::task::spawn_blocking(move || renderer.render(&letter)).await {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(e)) => return Rendered::Failed(e.to_string()),
        Err(e) => return Rendered::Failed(format!("the renderer stopped: {e}")),
    };
    // The reference accept gave it; letters stored before references were set get one from their id, the same
    // on every try, so the file key never changes.
    let reference = row
        .reference
        .clone()
        .unwrap_or_else(|| letter_reference(id));
    let test_key = row.key_type == KeyType::Test;
    let key = pdf_file_key(
        &reference,
        row.created_at,
        row.postage.unwrap_or(Postage::Second),
        test_key,
    );
    let page_count = rendered.page_count as i32;
    let sheets = rendered.sheets() as i32;
    let too_long = rendered.too_long();
    if let Err(e) = state.files.put(&key, rendered.pdf, "application/pdf").await {
        return store_retry(id, attempt, &e);
    }
    let recorded = if too_long {
        tracing::info!(notification_id = %id, page_count, "letter too long: validation-failed");
        state
            .db
            .record_validation_failed(id, &reference, LETTER_TOO_LONG, Some(&key), page_count)
            .await
    } else {
        state
            .db
            .record_rendered(&RenderedRecord {
                id,
                reference,
                file_key: key.clone(),
                page_count,
                sheets,
                key_type: row.key_type,
            })
            .await
    };
    match recorded {
        Ok(true) => {
            tracing::info!(notification_id = %id, page_count, file_key = key, "letter rendered and stored");
            notify_core::metrics::count("LettersRendered", 1, &[]);
            Rendered::Done
        }
        Ok(false) => {
            // Cancelled meanwhile: the stored PDF is left to the bucket's lifecycle rule.
            tracing::info!(notification_id = %id, "letter no longer created; not recorded");
            Rendered::Done
        }
        Err(e) => {
            tracing::error!(notification_id = %id, error = %e, "rendered letter not recorded; will retry");
            Rendered::Retry(DATABASE_RETRY_DELAY)
        }
    }
}

fn store_retry(id: Uuid, attempt: Attempt, error: &dyn std::fmt::Display) -> Rendered {
    match letter_render_retry(attempt.number) {
        Some(after) => {
            tracing::warn!(notification_id = %id, error = %error, attempt = attempt.number, "file store unavailable; will retry");
            Rendered::Retry(after)
        }
        None => Rendered::Failed(format!(
            "file store unavailable after {} attempts: {error}",
            attempt.number
        )),
    }
}

/// The letter as plain values: its address, contact block, date, logo and its parts (Welsh first when the
/// template says so), the placeholders filled in.
async fn letter_of(
    state: &AppState,
    row: &LetterToRender,
    attempt: Attempt,
) -> Result<Letter, Rendered> {
    let personalisation: Map<String, Value> = match &row.encrypted_personalisation {
        Some(sealed) => {
            let plain = state.encryptor.decrypt(sealed).map_err(|_| {
                notify_core::crypto::report_undecryptable(
                    "notifications.personalisation",
                    &row.id,
                    &row.service_id,
                );
                Rendered::Failed("personalisation cannot be decrypted".into())
            })?;
            serde_json::from_str(&plain)
                .map_err(|e| Rendered::Failed(format!("personalisation unreadable: {e}")))?
        }
        None => Map::new(),
    };
    let values = Values::new(&personalisation);
    let part = |language, subject: Option<&str>, content: &str| {
        let template = letter_template(row, subject, content);
        let filled = templates::render_unchecked(&template, &values);
        LetterPart {
            language,
            subject: filled.subject.unwrap_or_default(),
            body: filled.body,
        }
    };
    let english = part(
        Language::English,
        row.template_subject.as_deref(),
        &row.template_content,
    );
    let parts = match (
        row.letter_languages,
        &row.letter_welsh_subject,
        &row.letter_welsh_content,
    ) {
        (LetterLanguages::WelshThenEnglish, Some(subject), Some(content)) => {
            vec![part(Language::Welsh, Some(subject), content), english]
        }
        _ => vec![english],
    };
    let logo = match &row.logo_filename {
        None => None,
        Some(filename) => match state.files.get(filename).await {
            Ok(Some(bytes)) if filename.to_ascii_lowercase().ends_with(".svg") => {
                Some(Logo::Svg(bytes))
            }
            Ok(Some(bytes)) => Some(Logo::Png(bytes)),
            Ok(None) => {
                tracing::warn!(notification_id = %row.id, filename, "letter logo missing from the file store; rendered without");
                None
            }
            Err(e) => {
                tracing::warn!(notification_id = %row.id, error = %e, "letter logo not read");
                return Err(store_retry(row.id, attempt, &e));
            }
        },
    };
    Ok(Letter {
        address_lines: row.address_lines.clone(),
        contact_block: row.contact_block.clone().filter(|c| !c.trim().is_empty()),
        date: london_date(row.created_at),
        logo,
        parts,
    })
}

fn letter_template(row: &LetterToRender, subject: Option<&str>, content: &str) -> Template {
    Template {
        id: Uuid::nil(),
        service_id: row.service_id,
        version: 0,
        name: String::new(),
        template_type: NotificationType::Letter,
        content: content.to_string(),
        subject: subject.map(String::from),
        archived: false,
        hidden: false,
        postage: row.postage,
        letter_contact_block: row.contact_block.clone(),
        has_unsubscribe_link: false,
        created_at: row.created_at,
        updated_at: None,
        created_by_email: None,
        letter_languages: row.letter_languages,
        letter_welsh_subject: row.letter_welsh_subject.clone(),
        letter_welsh_content: row.letter_welsh_content.clone(),
    }
}

/// `technical-failure`, with its delivery-status callback through the outbox.
async fn fail(state: &AppState, id: Uuid) -> Result<(), DbError> {
    let applied = state
        .db
        .record_print_outcome(id, &PrintRecord::Failed)
        .await?;
    if let Some(outbox_id) = applied.and_then(|a| a.outbox_id) {
        callbacks::relay_now(state, &[outbox_id]).await;
    }
    Ok(())
}

/// Hands a batch of rendered letters to the printer, one job each: read (connection released) → PDF from the
/// store → the printer → recorded. Returns one disposition per id.
pub async fn print(
    state: &AppState,
    printer: &dyn PrintProvider,
    letters: &[(Uuid, Attempt)],
) -> Vec<Disposition> {
    let ids: Vec<Uuid> = letters.iter().map(|(id, _)| *id).collect();
    let rows = match state.db.letters_to_print(&ids).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "letters not read for printing; will retry");
            return vec![Disposition::RetryAfter(DATABASE_RETRY_DELAY); letters.len()];
        }
    };
    let signer = CallbackSigner::new(notify_config::ExposeSecret::expose_secret(
        &state.config.secret_key,
    ));
    let work = letters.iter().map(|(id, attempt)| {
        let row = rows.iter().find(|r| r.id == *id).cloned();
        let signer = &signer;
        async move {
            match row {
                None => {
                    tracing::warn!(notification_id = %id, "no such letter to print; dropped");
                    Disposition::Done
                }
                Some(row) => print_one(state, printer, signer, &row, *attempt).await,
            }
        }
    });
    futures::future::join_all(work).await
}

async fn print_one(
    state: &AppState,
    printer: &dyn PrintProvider,
    signer: &CallbackSigner,
    row: &LetterToPrint,
    attempt: Attempt,
) -> Disposition {
    let id = row.id;
    if row.status != NotificationStatus::Created {
        tracing::warn!(notification_id = %id, status = row.status.as_str(), "print job for a letter no longer created; dropped");
        return Disposition::Done;
    }
    if row.key_type != KeyType::Normal {
        tracing::error!(notification_id = %id, key_type = row.key_type.as_str(), "print job for a letter of a test key; dropped");
        return Disposition::Done;
    }
    let failed = |reason: String| async move {
        tracing::error!(notification_id = %id, reason, "letter not printed: technical-failure");
        match fail(state, id).await {
            Ok(()) => Disposition::Done,
            Err(e) => {
                tracing::error!(notification_id = %id, error = %e, "technical-failure not recorded; will retry");
                Disposition::RetryAfter(DATABASE_RETRY_DELAY)
            }
        }
    };
    let Some(key) = &row.file_key else {
        return failed("no PDF stored for the letter".into()).await;
    };
    let pdf = match state.files.get(key).await {
        Ok(Some(pdf)) => pdf,
        Ok(None) => return failed(format!("PDF {key} missing from the file store")).await,
        Err(e) => {
            return match print_retry(attempt.number) {
                Some(after) => {
                    tracing::warn!(notification_id = %id, error = %e, "file store unavailable; print will be retried");
                    Disposition::RetryAfter(after)
                }
                None => failed(format!("file store unavailable: {e}")).await,
            };
        }
    };
    let job = PrintJob {
        notification_id: id,
        reference: row
            .reference
            .clone()
            .unwrap_or_else(|| letter_reference(id)),
        service_id: row.service_id,
        organisation_id: row.organisation_id,
        address_lines: row.address_lines.clone(),
        postage: row.postage.unwrap_or(Postage::Second),
        pdf,
        callback_url: signer.callback_url(&state.config.api.host_name, id),
    };
    match printer.print(&job).await {
        Ok(accepted) => {
            let sent = PrintRecord::Sent {
                provider: printer.name().to_string(),
                sent_at: state.now(),
            };
            match state.db.record_print_outcome(id, &sent).await {
                Ok(_) => {
                    tracing::info!(notification_id = %id, ?accepted, provider = printer.name(), "letter sent to print");
                    notify_core::metrics::count("LettersSentToPrint", 1, &[]);
                    Disposition::Done
                }
                // The printer has it: sending it again is answered "already accepted" and then recorded.
                Err(e) => {
                    tracing::error!(notification_id = %id, error = %e, "print not recorded; will retry");
                    Disposition::RetryAfter(DATABASE_RETRY_DELAY)
                }
            }
        }
        Err(PrintError::Rejected(reason)) => {
            failed(format!("printer rejected the job: {reason}")).await
        }
        Err(PrintError::Retry(reason)) => match print_retry(attempt.number) {
            Some(after) => {
                tracing::warn!(notification_id = %id, reason, attempt = attempt.number, "print will be retried");
                Disposition::RetryAfter(after)
            }
            None => {
                failed(format!(
                    "printer unavailable after {} attempts: {reason}",
                    attempt.number
                ))
                .await
            }
        },
    }
}

/// How many collated letters are read, and then queued, at a time.
const COLLATION_BATCH: i64 = 1000;

/// The print run the collation at `now` is for: letters created before the latest 17:30 London.
pub fn print_run_deadline(now: DateTime<Utc>) -> DateTime<Utc> {
    let today = print_deadline(london_date(now));
    if now >= today {
        today
    } else {
        print_deadline(london_date(now).pred_opt().unwrap_or(london_date(now)))
    }
}

/// `collate-letter-pdfs-to-be-sent`: one `PrintLetter` per rendered live-key letter still `created` and made
/// before the latest 17:30 London, read and queued in batches. Letters already queued and not yet printed are
/// queued again only if the job runs twice; the print step drops the duplicate (the letter is `sending` by then,
/// or the printer answers that it has the job).
pub async fn collate(
    state: &AppState,
    now: DateTime<Utc>,
    within_budget: impl Fn() -> bool,
) -> Result<Value, DbError> {
    let deadline = print_run_deadline(now);
    let queue = &state.config.queues.deliver_letter;
    let within_budget = &within_budget;
    let (mut queued, mut not_queued) = (0u64, 0u64);
    let mut complete = true;
    let mut cursor = None;
    loop {
        let batch = state
            .db
            .letters_to_collate(deadline, cursor, COLLATION_BATCH)
            .await?;
        // Sixteen sends in flight: a night's letters are queued in about a minute.
        let mut sends = tokio::task::JoinSet::new();
        for (id, service_id, _) in &batch {
            if sends.len() >= 16
                && let Some(result) = sends.join_next().await
            {
                count_sent(result, &mut queued, &mut not_queued);
            }
            let (queue_client, queue, id, group) = (
                state.queue.clone(),
                queue.clone(),
                *id,
                service_id.to_string(),
            );
            sends.spawn(async move {
                let message = Message::PrintLetter {
                    v: 1,
                    notification_id: id,
                };
                (id, queue_client.send(&queue, &group, &message).await)
            });
        }
        while let Some(result) = sends.join_next().await {
            count_sent(result, &mut queued, &mut not_queued);
        }
        cursor = batch.last().map(|(id, _, at)| (*at, *id));
        if (batch.len() as i64) < COLLATION_BATCH {
            break;
        }
        if !within_budget() {
            // The next scheduled run is tomorrow's: say so loudly, so the rest is collated by hand today
            // (`notify run-job collate-letter-pdfs-to-be-sent` queues only what is still `created`).
            complete = false;
            tracing::error!(queued, "letter collation ran out of time with letters left");
            break;
        }
    }
    notify_core::metrics::count("LettersCollated", queued, &[]);
    Ok(json!({
        "print_run_deadline": notify_core::time::format(deadline),
        "queued": queued,
        "not_queued": not_queued,
        "complete": complete,
    }))
}

fn count_sent(
    result: Result<(Uuid, Result<(), notify_queue::QueueError>), tokio::task::JoinError>,
    queued: &mut u64,
    not_queued: &mut u64,
) {
    match result {
        Ok((_, Ok(()))) => *queued += 1,
        Ok((id, Err(e))) => {
            *not_queued += 1;
            tracing::error!(notification_id = %id, error = %e, "print job not queued; the next collation will");
        }
        Err(e) => {
            *not_queued += 1;
            tracing::error!(error = %e, "print job not queued");
        }
    }
}

/// What `POST /notifications/letter/status` answers with, in the v2 envelope.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackError {
    /// 403: no token, or one we did not make.
    InvalidToken,
    /// 400 `ValidationError`s: the body is not DVLA's shape.
    Invalid(Vec<String>),
    /// 400: the token is for another notification than the body's `jobId`.
    Mismatch,
    Db(String),
}

/// DVLA's callback: the token checked, the body validated, then the despatch (or rejection) applied in one
/// statement with its delivery-status callback in the outbox, relayed at once after the commit.
pub async fn letter_callback(
    state: &AppState,
    token: Option<&str>,
    body: &Value,
) -> Result<(), CallbackError> {
    let signer = CallbackSigner::new(notify_config::ExposeSecret::expose_secret(
        &state.config.secret_key,
    ));
    let token_id = token
        .and_then(|t| signer.verify(t))
        .ok_or(CallbackError::InvalidToken)?;
    let update = dvla_callback::parse(body).map_err(CallbackError::Invalid)?;
    if update.notification_id != token_id {
        tracing::error!(token_id = %token_id, job_id = %update.notification_id, "letter callback token does not match its jobId");
        return Err(CallbackError::Mismatch);
    }
    let despatched = match update.status {
        JobStatus::Despatched => Some((
            update.despatched_on,
            update
                .cost_threshold
                .map(|c| c.as_str())
                .unwrap_or("unsorted"),
        )),
        JobStatus::Rejected => None,
    };
    let applied = state
        .db
        .apply_letter_despatch(token_id, despatched)
        .await
        .map_err(|e| CallbackError::Db(e.to_string()))?;
    match applied {
        Some(applied) => {
            tracing::info!(notification_id = %token_id, status = applied.status.as_str(), sheets = update.sheets, "letter callback applied");
            if update.status == JobStatus::Rejected {
                tracing::error!(notification_id = %token_id, "letter status received as REJECTED: technical-failure");
            }
            if let Some(outbox_id) = applied.outbox_id {
                callbacks::relay_now(state, &[outbox_id]).await;
            }
        }
        None => {
            tracing::warn!(notification_id = %token_id, "letter callback for a letter already final, or unknown; ignored")
        }
    }
    Ok(())
}
