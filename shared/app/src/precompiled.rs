//! Precompiled letters after accept: the upload scanned for viruses (`Message::ScanLetter`: clamd, or
//! GuardDuty's tag looked up; `Message::ScanResult`: GuardDuty's event), then checked for print and its address
//! read from the PDF, then `created` for the evening's collation like a templated letter (a test key's
//! `delivered`), or `virus-scan-failed`, `validation-failed`, or after 5 failed scans `technical-failure`.
//!
//! As the templated letters' steps: one read (the connection goes back before the file store, the scanner or
//! the checks), plain values in between, one statement to record; a redelivered message finds the letter past
//! `pending-virus-check` and does nothing.

use std::time::Duration;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::letters::LetterTools;
use crate::workers::Attempt;
use crate::{AppState, callbacks};
use notify_core::letters::guardduty::ScanStatus;
use notify_core::letters::{letter_reference, pdf_file_key, precompiled_upload_key};
use notify_core::messages::Message;
use notify_core::model::{KeyType, NotificationStatus, Postage};
use notify_core::recipients::{AddressError, PostalAddress, PostalZone};
use notify_core::retry::{DATABASE_RETRY_DELAY, Disposition, letter_render_retry};
use notify_db::{AppliedReceipt, CheckedLetter, DbError, PrecompiledOutcome, PrecompiledToScan};
use notify_outbound::scan::{ScanError, ScanFile, Verdict};

/// Upstream's antivirus gives up after 5 failed scans: the letter is then a technical failure.
pub const MAX_FAILED_SCANS: i32 = 5;

/// A scanner that has not finished yet (GuardDuty tags the object within a minute or so).
const SCAN_PENDING_DELAY: Duration = Duration::from_secs(60);

/// No scanner answered when the worker started: the letter waits, and is asked about again this often.
const NO_SCANNER_DELAY: Duration = Duration::from_secs(300);

/// After the `failures`-th failed scan: 1, 2, 4, 8 minutes (upstream waits 5 minutes each time; the doubling
/// gives a scanner that is restarting a quick second chance, and reaches the 5th failure in about as long).
pub fn scan_retry_delay(failures: i32) -> Duration {
    let failures = failures.clamp(1, 5) as u32;
    Duration::from_secs(60 * (1 << (failures - 1)))
}

/// One scan message: the letter, and GuardDuty's verdict when the message carries it.
#[derive(Clone, Copy, Debug)]
pub struct ScanRequest {
    pub notification_id: Uuid,
    pub attempt: Attempt,
    pub guardduty: Option<ScanStatus>,
}

/// A batch of scan messages from the deliver-letter queue: one read for all, each letter scanned and checked
/// (all at once), one disposition per request in order.
pub async fn scan(
    state: &AppState,
    tools: &LetterTools,
    requests: &[ScanRequest],
) -> Vec<Disposition> {
    let ids: Vec<Uuid> = requests.iter().map(|r| r.notification_id).collect();
    let rows = match state.db.precompiled_to_scan(&ids).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "precompiled letters not read for scanning; will retry");
            return vec![Disposition::RetryAfter(DATABASE_RETRY_DELAY); requests.len()];
        }
    };
    let work = requests.iter().map(|request| {
        let row = rows
            .iter()
            .find(|r| r.id == request.notification_id)
            .cloned();
        async move {
            match row {
                None => {
                    tracing::warn!(notification_id = %request.notification_id, "no such letter to scan; dropped");
                    Disposition::Done
                }
                Some(row) => scan_one(state, tools, &row, request).await,
            }
        }
    });
    futures::future::join_all(work).await
}

/// What the file store gave for the upload.
enum Upload {
    Bytes(Vec<u8>),
    Missing,
    Unavailable(String),
}

async fn upload_of(state: &AppState, row: &PrecompiledToScan) -> Upload {
    match &row.upload_key {
        Some(key) => match state.files.get(key).await {
            Ok(Some(bytes)) => Upload::Bytes(bytes),
            Ok(None) => Upload::Missing,
            Err(e) => Upload::Unavailable(e.to_string()),
        },
        // Accepted before uploads went to the file store: the bytes are in the database.
        None => match state.db.letter_pdf(row.id).await {
            Ok(Some(bytes)) => Upload::Bytes(bytes),
            Ok(None) => Upload::Missing,
            Err(e) => Upload::Unavailable(e.to_string()),
        },
    }
}

async fn scan_one(
    state: &AppState,
    tools: &LetterTools,
    row: &PrecompiledToScan,
    request: &ScanRequest,
) -> Disposition {
    let id = row.id;
    if row.status != NotificationStatus::PendingVirusCheck {
        tracing::info!(notification_id = %id, status = row.status.as_str(), "scan for a letter no longer pending-virus-check; dropped");
        return Disposition::Done;
    }
    let upload_key = row
        .upload_key
        .clone()
        .unwrap_or_else(|| precompiled_upload_key(id));
    // GuardDuty's event is the verdict itself: the file is read only for the checks.
    let given = request.guardduty.map(|status| match status {
        ScanStatus::NoThreatsFound => Ok(Verdict::Clean),
        ScanStatus::ThreatsFound => Ok(Verdict::Infected {
            signature: "THREATS_FOUND".into(),
        }),
        other => Err(ScanError::Failed(format!("GuardDuty: {other:?}"))),
    });
    let needs_bytes = !matches!(given, Some(Ok(Verdict::Infected { .. })) | Some(Err(_)));
    let bytes = if needs_bytes {
        match upload_of(state, row).await {
            Upload::Bytes(bytes) => Some(bytes),
            Upload::Missing => {
                let error = ScanError::Failed(format!("{upload_key} missing from the file store"));
                return scan_failed(state, row, &upload_key, &error, request).await;
            }
            Upload::Unavailable(e) => {
                return match letter_render_retry(request.attempt.number) {
                    Some(after) => {
                        tracing::warn!(notification_id = %id, error = e, "file store unavailable; scan will be retried");
                        Disposition::RetryAfter(after)
                    }
                    None => {
                        let error = ScanError::Unavailable(format!("file store: {e}"));
                        scan_failed(state, row, &upload_key, &error, request).await
                    }
                };
            }
        }
    } else {
        None
    };
    let (scanner_name, verdict) = match given {
        Some(verdict) => ("guardduty", verdict),
        None => {
            let Some(scanner) = &tools.scanner else {
                tracing::warn!(notification_id = %id, "no virus scanner: precompiled letter waits in pending-virus-check");
                return Disposition::RetryAfter(NO_SCANNER_DELAY);
            };
            let file = ScanFile {
                key: &upload_key,
                bytes: bytes.as_deref().unwrap_or_default(),
            };
            (scanner.name(), scanner.scan(file).await)
        }
    };
    match verdict {
        Ok(Verdict::Pending) => {
            tracing::info!(notification_id = %id, scanner = scanner_name, "scan not finished; will ask again");
            Disposition::RetryAfter(SCAN_PENDING_DELAY)
        }
        Ok(Verdict::Infected { signature }) => {
            tracing::warn!(notification_id = %id, scanner = scanner_name, signature, "virus found: virus-scan-failed");
            notify_core::metrics::count("PrecompiledLettersInfected", 1, &[]);
            let outcome = PrecompiledOutcome::Infected { signature };
            record(state, id, &upload_key, scanner_name, &outcome).await
        }
        Err(error) => scan_failed(state, row, &upload_key, &error, request).await,
        Ok(Verdict::Clean) => {
            let bytes = bytes.unwrap_or_default();
            checked(
                state,
                row,
                &upload_key,
                scanner_name,
                bytes,
                request.attempt,
            )
            .await
        }
    }
}

/// A clean letter through the print checks and the address rules, then stored for the printer and recorded.
async fn checked(
    state: &AppState,
    row: &PrecompiledToScan,
    upload_key: &str,
    scanner: &str,
    bytes: Vec<u8>,
    attempt: Attempt,
) -> Disposition {
    let id = row.id;
    let checks = match tokio::task::spawn_blocking(move || notify_precompiled::check(&bytes)).await
    {
        Ok(checks) => checks,
        Err(e) => {
            // The checks panicked on this file: upstream answers that it could not read it.
            tracing::error!(notification_id = %id, error = %e, "print checks stopped");
            Err(notify_precompiled::Invalid {
                code: notify_precompiled::FailureCode::UnableToReadTheFile,
                invalid_pages: Vec::new(),
                page_count: None,
            })
        }
    };
    let invalid = |message: &str, invalid_pages: Vec<u32>| PrecompiledOutcome::Invalid {
        message: message.to_string(),
        invalid_pages: invalid_pages.into_iter().map(|p| p as i32).collect(),
    };
    let letter = match checks {
        Ok(letter) => letter,
        Err(e) => {
            tracing::info!(notification_id = %id, code = e.code.as_str(), pages = ?e.invalid_pages, "precompiled letter failed its checks: validation-failed");
            let outcome = invalid(e.code.as_str(), e.invalid_pages);
            return record(state, id, upload_key, scanner, &outcome).await;
        }
    };
    let address = match read_address(&letter.address_lines, row.international_letters) {
        Ok(address) => address,
        Err(code) => {
            tracing::info!(notification_id = %id, code, "precompiled letter's address is not valid: validation-failed");
            // As upstream: the address is on page 1.
            let outcome = invalid(code, vec![1]);
            return record(state, id, upload_key, scanner, &outcome).await;
        }
    };
    let reference = row
        .reference
        .clone()
        .unwrap_or_else(|| letter_reference(id));
    let postage = address.postage(row.postage);
    let test_key = row.key_type == KeyType::Test;
    let file_key = pdf_file_key(&reference, row.created_at, postage, test_key);
    if let Err(e) = state
        .files
        .put(&file_key, letter.pdf, "application/pdf")
        .await
    {
        return match letter_render_retry(attempt.number) {
            Some(after) => {
                tracing::warn!(notification_id = %id, error = %e, "file store unavailable; checked letter will be stored later");
                Disposition::RetryAfter(after)
            }
            None => {
                let error = ScanError::Unavailable(format!("checked letter not stored: {e}"));
                technical_failure(state, id, upload_key, &error).await
            }
        };
    }
    let to = address.lines().join("\n");
    let personalisation = state
        .encryptor
        .encrypt(&Value::Object(address_personalisation(&address)).to_string());
    let outcome = PrecompiledOutcome::Checked(CheckedLetter {
        file_key,
        page_count: letter.page_count as i32,
        sheets: letter.page_count.div_ceil(2) as i32,
        key_type: row.key_type,
        // Upstream's `normalised_to`: the address without whitespace, in lower case.
        normalised_to: to.split_whitespace().collect::<String>().to_lowercase(),
        to,
        encrypted_personalisation: personalisation,
        international_postage: matches!(postage, Postage::Europe | Postage::RestOfWorld)
            .then_some(postage),
    });
    notify_core::metrics::count("PrecompiledLettersChecked", 1, &[]);
    record(state, id, upload_key, scanner, &outcome).await
}

/// The address read from the window, validated as upstream's template preview does, with its codes.
pub fn read_address(
    lines: &[String],
    allow_international: bool,
) -> Result<PostalAddress, &'static str> {
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Err("address-is-empty");
    }
    match PostalAddress::parse(lines, allow_international) {
        Ok(address) => Ok(address),
        // The last line is no UK postcode: upstream tells a real country (which this service may not send to)
        // from anything else, which the same lines read as an international address show.
        Err(AddressError::NotUkPostcode)
            if !allow_international
                && PostalAddress::parse(lines, true) != Err(AddressError::NotPostcodeOrCountry) =>
        {
            Err("cant-send-international-letters")
        }
        Err(e) => Err(e.precompiled_code()),
    }
}

/// The address as a templated letter's personalisation, so `GET /v2/notifications/{id}` shows its lines: the
/// postcode of a UK address as `postcode`, every other line as `address_line_N`.
fn address_personalisation(address: &PostalAddress) -> Map<String, Value> {
    let lines = address.lines();
    // A UK address ends in its postcode, except a BFPO one, which ends in its BFPO number.
    let uk_postcode = address.zone() == PostalZone::Uk
        && lines
            .last()
            .is_some_and(|l| !l.to_ascii_lowercase().contains("bfpo"));
    let mut out = Map::new();
    for (i, line) in lines.iter().enumerate() {
        let key = if uk_postcode && i + 1 == lines.len() {
            "postcode".to_string()
        } else {
            format!("address_line_{}", i + 1)
        };
        out.insert(key, json!(line));
    }
    out
}

/// A scan that ended in an error, counted; at the 5th the letter is a technical failure. A GuardDuty verdict
/// that was not one is asked about again through its tag (`ScanLetter`), so the retry scans rather than
/// repeating the event.
async fn scan_failed(
    state: &AppState,
    row: &PrecompiledToScan,
    upload_key: &str,
    error: &ScanError,
    request: &ScanRequest,
) -> Disposition {
    let id = row.id;
    match state
        .db
        .record_precompiled_scan_error(id, upload_key, &error.to_string(), MAX_FAILED_SCANS)
        .await
    {
        Ok(None) => Disposition::Done,
        Ok(Some(counted)) => match counted.failed {
            Some(applied) => {
                tracing::error!(notification_id = %id, error = %error, failures = counted.scan_attempts, "letter not scanned: technical-failure");
                relay(state, &applied).await;
                Disposition::Done
            }
            None => {
                let after = scan_retry_delay(counted.scan_attempts);
                tracing::warn!(notification_id = %id, error = %error, failures = counted.scan_attempts, "scan failed; will retry");
                if request.guardduty.is_some() {
                    Disposition::Replace {
                        message: Message::ScanLetter {
                            v: 1,
                            notification_id: id,
                        },
                        after,
                    }
                } else {
                    Disposition::RetryAfter(after)
                }
            }
        },
        Err(e) => {
            tracing::error!(notification_id = %id, error = %e, "failed scan not recorded; will retry");
            Disposition::RetryAfter(DATABASE_RETRY_DELAY)
        }
    }
}

/// `technical-failure` at once (the checked letter could not be stored in time): recorded as the failed scan
/// that ends the letter, with its reason.
async fn technical_failure(
    state: &AppState,
    id: Uuid,
    upload_key: &str,
    error: &ScanError,
) -> Disposition {
    match state
        .db
        .record_precompiled_scan_error(id, upload_key, &error.to_string(), 0)
        .await
    {
        Ok(counted) => {
            tracing::error!(notification_id = %id, error = %error, "precompiled letter: technical-failure");
            if let Some(applied) = counted.and_then(|c| c.failed) {
                relay(state, &applied).await;
            }
            Disposition::Done
        }
        Err(e) => {
            tracing::error!(notification_id = %id, error = %e, "technical-failure not recorded; will retry");
            Disposition::RetryAfter(DATABASE_RETRY_DELAY)
        }
    }
}

async fn record(
    state: &AppState,
    id: Uuid,
    upload_key: &str,
    scanner: &str,
    outcome: &PrecompiledOutcome,
) -> Disposition {
    let recorded: Result<Option<AppliedReceipt>, DbError> = state
        .db
        .record_precompiled(id, upload_key, scanner, outcome)
        .await;
    match recorded {
        Ok(Some(applied)) => {
            tracing::info!(notification_id = %id, status = applied.status.as_str(), scanner, "precompiled letter scanned and checked");
            relay(state, &applied).await;
            Disposition::Done
        }
        Ok(None) => {
            tracing::info!(notification_id = %id, "letter no longer pending-virus-check; not recorded");
            Disposition::Done
        }
        Err(e) => {
            tracing::error!(notification_id = %id, error = %e, "scan outcome not recorded; will retry");
            Disposition::RetryAfter(DATABASE_RETRY_DELAY)
        }
    }
}

async fn relay(state: &AppState, applied: &AppliedReceipt) {
    if let Some(outbox_id) = applied.outbox_id {
        callbacks::relay_now(state, &[outbox_id]).await;
    }
}

/// `check-if-letters-still-pending-virus-check`: letters still waiting for a scan made between 10 and 120
/// minutes ago get their `ScanLetter` again (clamd scans it; the GuardDuty scanner reads the verdict GuardDuty
/// tagged the upload with). Upstream's own window is 10 to 30 minutes, with a nightly sweep of 3 days; 120 gives
/// a letter whose scans keep failing the runs it needs to reach its 5th failure.
pub async fn rescan_pending(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
    within_budget: impl Fn() -> bool,
) -> Result<Value, DbError> {
    const BATCH: i64 = 1000;
    let (from, to) = (
        now - chrono::Duration::minutes(120),
        now - chrono::Duration::minutes(10),
    );
    let queue = &state.config.queues.deliver_letter;
    let (mut queued, mut not_queued) = (0u64, 0u64);
    let mut cursor = None;
    loop {
        let batch = state
            .db
            .letters_pending_virus_check(from, to, cursor, BATCH)
            .await?;
        for (id, service_id, _) in &batch {
            let message = Message::ScanLetter {
                v: 1,
                notification_id: *id,
            };
            match state
                .queue
                .send(queue, &service_id.to_string(), &message)
                .await
            {
                Ok(()) => {
                    tracing::warn!(notification_id = %id, "letter still pending-virus-check; scanning again");
                    queued += 1;
                }
                Err(e) => {
                    not_queued += 1;
                    tracing::error!(notification_id = %id, error = %e, "scan not queued again; the next run will");
                }
            }
        }
        cursor = batch.last().map(|(id, _, at)| (*at, *id));
        if (batch.len() as i64) < BATCH || !within_budget() {
            break;
        }
    }
    notify_core::metrics::count("PrecompiledLettersRescanned", queued, &[]);
    Ok(json!({"queued": queued, "not_queued": not_queued}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn address_codes_are_upstreams() {
        assert_eq!(
            read_address(&lines(&["", "  "]), false).unwrap_err(),
            "address-is-empty"
        );
        assert_eq!(
            read_address(&lines(&["A Person", "SW1A 1AA"]), false).unwrap_err(),
            "not-enough-address-lines"
        );
        assert_eq!(
            read_address(&lines(&["A Person", "1 Rue", "Paris", "France"]), false).unwrap_err(),
            "cant-send-international-letters"
        );
        assert_eq!(
            read_address(&lines(&["A Person", "1 Street", "Nowhere"]), false).unwrap_err(),
            "not-a-real-uk-postcode"
        );
        assert_eq!(
            read_address(&lines(&["A Person", "1 Street", "Nowhere"]), true).unwrap_err(),
            "not-a-real-uk-postcode-or-country"
        );
        let address = read_address(&lines(&["A Person", "1 Rue", "France"]), true).unwrap();
        assert_eq!(address.postage(Some(Postage::First)), Postage::Europe);
    }

    #[test]
    fn uk_postcode_is_the_postcode_and_a_country_a_line() {
        let uk = read_address(&lines(&["A Person", "1 High St", "sw1a1aa"]), false).unwrap();
        let p = address_personalisation(&uk);
        assert_eq!(p["address_line_1"], "A Person");
        assert_eq!(p["postcode"], "SW1A 1AA");
        let abroad = read_address(&lines(&["A Person", "1 Rue", "France"]), true).unwrap();
        let p = address_personalisation(&abroad);
        assert_eq!(p["address_line_3"], "France");
        assert!(!p.contains_key("postcode"));
    }

    #[test]
    fn failed_scans_back_off() {
        assert_eq!(scan_retry_delay(1), Duration::from_secs(60));
        assert_eq!(scan_retry_delay(4), Duration::from_secs(480));
    }
}
