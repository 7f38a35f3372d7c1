//! A CSV job's file read as upstream's RecipientCSV reads it (notifications-utils `recipients.py`): the recipient
//! columns of the template's channel matched case- and space-insensitively, every placeholder present, at most
//! [`crate::jobs::MAX_ROWS`] rows, each recipient through the same parser a single send uses.
//!
//! Two ways in: [`check`] reads a whole file and says everything wrong with it (the admin API, the CLI and
//! `POST /v2/notifications/bulk` refuse such a file before a job exists), and [`rows`] streams a checked file's
//! rows for the jobs worker, one [`JobRow`] at a time, where a bad recipient makes only that row
//! `validation-failed`.
//!
//! ISSUE 14 GROUNDWORK: the types and signatures are the interface the other parts are written against; the
//! `csv` helper fills in the bodies (and may add to the types, not take away).

use serde_json::{Map, Value};

use crate::model::NotificationType;
use crate::recipients::{EmailAddress, PhoneNumber, PostalAddress};

/// What a file is checked against: the template's channel and placeholders, and the service's permissions.
#[derive(Clone, Debug)]
pub struct CsvTemplate {
    pub template_type: NotificationType,
    /// The template's placeholders as written (`templates::template_placeholders`), without the recipient
    /// columns' own.
    pub placeholders: Vec<String>,
    /// The service may text numbers abroad (`international_sms`).
    pub international_sms: bool,
    /// The service may post letters abroad (`international_letters`).
    pub international_letters: bool,
    pub max_rows: usize,
}

/// One problem of a row, shown as `Row 3 - phone number: Not a UK mobile number`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: usize,
    /// The column's name as the file spells it.
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Row {} - {}: {}", self.row, self.column, self.message)
    }
}

/// Why a file cannot become a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsvProblem {
    /// Not CSV, not UTF-8, or no header.
    Unreadable(String),
    /// The recipient columns and placeholders the file lacks, as the template names them.
    MissingColumns(Vec<String>),
    /// A header that appears twice (after folding case and spaces).
    DuplicateColumns(Vec<String>),
    NoRows,
    TooManyRows {
        rows: usize,
        max: usize,
    },
    /// Every row problem found, in file order.
    RowErrors(Vec<RowError>),
}

/// A file that can become a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedFile {
    pub row_count: usize,
    /// The header as the file spells it.
    pub columns: Vec<String>,
}

/// Checks the whole file; every problem of the first kind found (missing columns before rows, as upstream).
pub fn check(bytes: &[u8], template: &CsvTemplate) -> Result<CheckedFile, CsvProblem> {
    let _ = (bytes, template);
    todo!("issue 14: csv helper")
}

/// A row's recipient, parsed.
#[derive(Clone, Debug)]
pub enum Recipient {
    Phone(PhoneNumber),
    Email(EmailAddress),
    Address(PostalAddress),
}

/// One row of a job, as the worker stores it.
#[derive(Clone, Debug)]
pub struct JobRow {
    /// 0-based, the first row after the header is 0 (`notifications.job_row_number`).
    pub number: u32,
    /// The recipient as written in the file (what `to` stores when it does not parse).
    pub raw_recipient: String,
    /// The parsed recipient, or the message the row's `validation-failed` is for.
    pub recipient: Result<Recipient, String>,
    /// Every column other than the recipient ones, by the name the template uses where one matches, as the
    /// personalisation of a single send.
    pub personalisation: Map<String, Value>,
    /// A `reference` column's value: the notification's client reference.
    pub reference: Option<String>,
}

/// The rows of a file, streamed: one record buffer reused, never the whole file as strings.
pub struct JobRows<'a> {
    _bytes: &'a [u8],
}

impl Iterator for JobRows<'_> {
    type Item = JobRow;

    fn next(&mut self) -> Option<JobRow> {
        todo!("issue 14: csv helper")
    }
}

/// A checked file's rows from `from` (0-based) on; a resumed run skips what it persisted.
pub fn rows<'a>(
    bytes: &'a [u8],
    template: &CsvTemplate,
    from: u32,
) -> Result<JobRows<'a>, CsvProblem> {
    let _ = (bytes, template, from);
    todo!("issue 14: csv helper")
}
