//! A CSV job's file read as upstream's RecipientCSV reads it (notifications-utils `recipients.py`): the recipient
//! columns of the template's channel matched case- and space-insensitively, every placeholder present, at most
//! [`crate::jobs::MAX_ROWS`] rows, each recipient through the same parser a single send uses.
//!
//! Two ways in: [`check`] reads a whole file and says everything wrong with it (the admin API, the CLI and
//! `POST /v2/notifications/bulk` refuse such a file before a job exists), and [`rows`] streams a checked file's
//! rows for the jobs worker, one [`JobRow`] at a time, where a bad recipient makes only that row
//! `validation-failed`.
//!
//! Upstream's reading, kept here (`RecipientCSV.__init__`, `_get_rows`, `Row`, `Cell`):
//! - the file is stripped of leading whitespace and of trailing whitespace and commas first, so empty rows and
//!   empty columns at the end of a spreadsheet export are not rows; a UTF-8 BOM is dropped;
//! - a column is matched by its folded name ([`normalise_key`]: case, spaces, `_` and `-` ignored); a header cell
//!   that is empty (trailing commas) names no column, and cells beyond the header are ignored;
//! - an empty row in the middle of the file is a row (upstream flags its recipient `Missing`); the `csv` crate
//!   skips a line with nothing at all on it, so such a line is neither a row nor counted;
//! - letters need 3 of `address line 1`..`6` + `postcode` (or of `address line 1`..`7`); address lines are never
//!   "missing" one by one, the address is checked whole (`address line 7` present: lines 1-7, else 1-6 +
//!   postcode), as `PostalAddress.from_personalisation` does;
//! - only a recipient column repeated is refused (`duplicate_recipient_column_headers`); another repeated column
//!   gives its first non-empty value (upstream collects a list);
//! - rows are numbered as a spreadsheet numbers them: the header is row 1, the first recipient row 2.
//!
//! Not checked here (they need the template's content, which [`CsvTemplate`] does not carry): a row's message
//! too long or empty, QR codes too long; and SMS to UK landlines is refused, upstream's default
//! (`allow_sms_to_uk_landline=False`).

use serde_json::{Map, Value};

use crate::model::NotificationType;
use crate::recipients::{EmailAddress, PhoneNumber, PostalAddress};
use crate::templates::placeholders::normalise_key;

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

/// Upstream's `Cell.missing_field_error`.
pub const MISSING: &str = "Missing";

/// The column a row's address errors are shown against (an address spans several cells).
pub const ADDRESS_COLUMN: &str = "address";

/// The recipient columns of a channel, as upstream's `first_column_headings` spells them.
pub fn recipient_columns(template_type: NotificationType) -> &'static [&'static str] {
    match template_type {
        NotificationType::Sms => &["phone number"],
        NotificationType::Email => &["email address"],
        NotificationType::Letter => &[
            "address line 1",
            "address line 2",
            "address line 3",
            "address line 4",
            "address line 5",
            "address line 6",
            "postcode",
            "address line 7",
        ],
    }
}

/// What a column of the file is to a job.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    /// A header cell with nothing in it, or a repeat of an earlier column.
    Ignored,
    /// The phone number or email address.
    Recipient,
    /// `address line 1`..`7` (0..=6) or the postcode (7).
    Address(usize),
    /// A template placeholder: an empty value is `Missing`.
    Placeholder,
    Reference,
    Other,
}

#[derive(Clone, Debug)]
struct Column {
    /// As the file spells it.
    header: String,
    role: Role,
    /// The personalisation key: the template's spelling where a placeholder matches, the v2 API's
    /// `address_line_1`.. / `postcode` for an address column, else the header. `None`: not personalisation.
    key: Option<String>,
    /// An earlier column of the same folded name: this one's value is used when that one is empty.
    repeat_of: Option<usize>,
}

/// The header read against a template: what each column is, and what the file lacks.
#[derive(Clone, Debug)]
struct Plan {
    template_type: NotificationType,
    international_sms: bool,
    international_letters: bool,
    columns: Vec<Column>,
    /// Index of each address slot's column (0..=6 lines, 7 postcode).
    address: [Option<usize>; 8],
    missing: Vec<String>,
    duplicates: Vec<String>,
}

fn address_slot(folded: &str) -> Option<usize> {
    if folded == "postcode" {
        return Some(7);
    }
    let n = folded.strip_prefix("addressline")?;
    match n {
        "1" | "2" | "3" | "4" | "5" | "6" | "7" => n.parse::<usize>().ok().map(|n| n - 1),
        _ => None,
    }
}

fn address_key(slot: usize) -> String {
    if slot == 7 {
        "postcode".into()
    } else {
        format!("address_line_{}", slot + 1)
    }
}

impl Plan {
    fn new(header: &[String], template: &CsvTemplate) -> Plan {
        let kind = template.template_type;
        let recipient_folded: Vec<String> = recipient_columns(kind)
            .iter()
            .map(|c| normalise_key(c))
            .collect();
        let placeholders: Vec<(String, &String)> = template
            .placeholders
            .iter()
            .map(|p| (normalise_key(p), p))
            .collect();
        let placeholder_named = |folded: &str| {
            placeholders
                .iter()
                .find(|(f, _)| f == folded)
                .map(|(_, p)| (*p).clone())
        };
        let mut columns: Vec<Column> = Vec::with_capacity(header.len());
        let mut address = [None; 8];
        let mut seen: Vec<(String, usize)> = Vec::new();
        let folded_header: Vec<String> = header.iter().map(|h| normalise_key(h)).collect();
        for (index, (raw, folded)) in header.iter().zip(&folded_header).enumerate() {
            let earlier = seen.iter().find(|(f, _)| f == folded).map(|(_, i)| *i);
            let mut column = Column {
                header: raw.clone(),
                role: Role::Ignored,
                key: None,
                repeat_of: None,
            };
            if folded.is_empty() {
                columns.push(column);
                continue;
            }
            if let Some(first) = earlier {
                column.repeat_of = Some(first);
                columns.push(column);
                continue;
            }
            seen.push((folded.clone(), index));
            let slot = (kind == NotificationType::Letter)
                .then(|| address_slot(folded))
                .flatten();
            if let Some(slot) = slot {
                address[slot] = Some(index);
                column.role = Role::Address(slot);
                column.key = Some(placeholder_named(folded).unwrap_or_else(|| address_key(slot)));
            } else if recipient_folded.contains(folded) {
                column.role = Role::Recipient;
                column.key = Some(placeholder_named(folded).unwrap_or_else(|| raw.clone()));
            } else if let Some(name) = placeholder_named(folded) {
                column.role = Role::Placeholder;
                column.key = Some(name);
            } else if folded == "reference" {
                column.role = Role::Reference;
            } else {
                column.role = Role::Other;
                column.key = Some(raw.clone());
            }
            columns.push(column);
        }

        let present = |folded: &str| folded_header.iter().any(|h| h == folded);
        let mut missing = Vec::new();
        if kind == NotificationType::Letter {
            // Upstream's `has_recipient_columns`: 3 of lines 1-6 + postcode, or of lines 1-7.
            let with_postcode = (0..6).chain([7]).filter(|s| address[*s].is_some()).count();
            let with_line_7 = (0..7).filter(|s| address[*s].is_some()).count();
            if with_postcode.max(with_line_7) < 3 {
                // Named as the admin's guidance names the least a letter needs.
                for name in ["address line 1", "address line 2", "postcode"] {
                    if !present(&normalise_key(name)) {
                        missing.push(name.to_string());
                    }
                }
            }
        } else {
            for name in recipient_columns(kind) {
                if !present(&normalise_key(name)) {
                    missing.push((*name).to_string());
                }
            }
        }
        for (folded, name) in &placeholders {
            let is_address = kind == NotificationType::Letter && address_slot(folded).is_some();
            let is_recipient = recipient_folded.contains(folded);
            if !is_address && !is_recipient && !present(folded) && !missing.contains(name) {
                missing.push((*name).clone());
            }
        }

        // Upstream's `duplicate_recipient_column_headers`: every spelling of a repeated recipient column.
        let mut duplicates = Vec::new();
        for (raw, folded) in header.iter().zip(&folded_header) {
            let is_recipient = recipient_folded.contains(folded);
            if is_recipient
                && folded_header.iter().filter(|f| *f == folded).count() > 1
                && !duplicates.contains(raw)
            {
                duplicates.push(raw.clone());
            }
        }

        Plan {
            template_type: kind,
            international_sms: template.international_sms,
            international_letters: template.international_letters,
            columns,
            address,
            missing,
            duplicates,
        }
    }

    /// A cell's value: trimmed, and a repeated column's value when the first is empty.
    fn value<'r>(&self, cells: &'r [String], index: usize) -> &'r str {
        let own = cells.get(index).map(String::as_str).unwrap_or("");
        if own.is_empty() {
            // A repeat of a column fills it in when the first is empty.
            for (later, column) in self.columns.iter().enumerate().skip(index + 1) {
                if column.repeat_of == Some(index)
                    && let Some(v) = cells.get(later).filter(|v| !v.is_empty())
                {
                    return v;
                }
            }
        }
        own
    }

    fn address_lines(&self, cells: &[String]) -> Vec<String> {
        // Upstream's `from_personalisation`: with an `address line 7` column the postcode column is not read.
        let slots: Vec<usize> = if self.address[6].is_some() {
            (0..7).collect()
        } else {
            (0..6).chain([7]).collect()
        };
        slots
            .into_iter()
            .filter_map(|s| self.address[s])
            .map(|i| self.value(cells, i).to_string())
            .collect()
    }

    fn recipient(&self, cells: &[String]) -> (String, Result<Recipient, String>) {
        match self.template_type {
            NotificationType::Letter => {
                let lines = self.address_lines(cells);
                let raw = lines
                    .iter()
                    .filter(|l| !l.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n");
                let parsed = PostalAddress::parse(&lines, self.international_letters)
                    .map(Recipient::Address)
                    .map_err(|e| e.to_string());
                (raw, parsed)
            }
            kind => {
                let raw = self
                    .columns
                    .iter()
                    .position(|c| c.role == Role::Recipient)
                    .map(|i| self.value(cells, i).to_string())
                    .unwrap_or_default();
                if raw.is_empty() {
                    return (raw, Err(MISSING.to_string()));
                }
                let parsed = if kind == NotificationType::Email {
                    EmailAddress::parse(&raw)
                        .map(Recipient::Email)
                        .map_err(|e| e.to_string())
                } else {
                    PhoneNumber::parse(&raw)
                        .and_then(|phone| {
                            phone.check_allowed(self.international_sms, false)?;
                            Ok(phone)
                        })
                        .map(Recipient::Phone)
                        .map_err(|e| e.legacy_message().to_string())
                };
                (raw, parsed)
            }
        }
    }

    fn recipient_header(&self) -> String {
        match self.template_type {
            NotificationType::Letter => ADDRESS_COLUMN.to_string(),
            _ => self
                .columns
                .iter()
                .find(|c| c.role == Role::Recipient)
                .map(|c| c.header.clone())
                .unwrap_or_default(),
        }
    }

    /// Every problem of one row, in column order (the recipient first, as upstream's first column).
    fn row_errors(&self, cells: &[String], row: usize, out: &mut Vec<RowError>) {
        if let (_, Err(message)) = self.recipient(cells) {
            out.push(RowError {
                row,
                column: self.recipient_header(),
                message,
            });
        }
        for (index, column) in self.columns.iter().enumerate() {
            if column.role == Role::Placeholder && self.value(cells, index).is_empty() {
                out.push(RowError {
                    row,
                    column: column.header.clone(),
                    message: MISSING.to_string(),
                });
            }
        }
    }

    fn job_row(&self, cells: &[String], number: u32) -> JobRow {
        let (raw_recipient, recipient) = self.recipient(cells);
        let mut personalisation = Map::new();
        let mut reference = None;
        for (index, column) in self.columns.iter().enumerate() {
            if column.repeat_of.is_some() || column.role == Role::Ignored {
                continue;
            }
            let value = self.value(cells, index);
            if column.role == Role::Reference {
                reference = (!value.is_empty()).then(|| value.to_string());
                continue;
            }
            let Some(key) = &column.key else { continue };
            // Placeholders always (a checked file has them all); other columns only when they say something,
            // as upstream stores no empty cells.
            if column.role == Role::Placeholder || !value.is_empty() {
                personalisation.insert(key.clone(), Value::String(value.to_string()));
            }
        }
        JobRow {
            number,
            raw_recipient,
            recipient,
            personalisation,
            reference,
        }
    }
}

/// The file as upstream strips it: no BOM, no leading whitespace, no trailing whitespace or commas.
fn stripped(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace() && *b != b',')
        .map_or(start, |i| i + 1)
        .max(start);
    &bytes[start..end]
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(stripped(bytes))
}

/// Reads the header; `None` when the file has none.
fn header(reader: &mut csv::Reader<&[u8]>) -> Result<Option<Vec<String>>, CsvProblem> {
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(false) => Ok(None),
        Ok(true) => record
            .iter()
            .map(|cell| {
                std::str::from_utf8(cell)
                    .map(|s| s.trim().to_string())
                    .map_err(|_| CsvProblem::Unreadable("The file is not UTF-8 text".into()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Err(e) => Err(CsvProblem::Unreadable(e.to_string())),
    }
}

/// Decodes a record into `cells` (reused), trimmed as upstream's `strip_and_remove_obscure_whitespace`.
fn decode(record: &csv::ByteRecord, cells: &mut Vec<String>, strict: bool) -> Result<(), ()> {
    let count = record.len();
    cells.resize_with(count.max(cells.len()), String::new);
    cells.truncate(count);
    for (cell, raw) in cells.iter_mut().zip(record.iter()) {
        cell.clear();
        match std::str::from_utf8(raw) {
            Ok(text) => cell.push_str(clean(text)),
            Err(_) if strict => return Err(()),
            Err(_) => cell.push_str(clean(&String::from_utf8_lossy(raw))),
        }
    }
    Ok(())
}

const OBSCURE_WHITESPACE: [char; 5] = ['\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}'];

fn clean(text: &str) -> &str {
    text.trim_matches(|c: char| {
        c.is_whitespace() || OBSCURE_WHITESPACE.contains(&c) || c == '\u{FEFF}'
    })
}

/// Checks the whole file; every problem of the first kind found (missing columns before rows, as upstream).
pub fn check(bytes: &[u8], template: &CsvTemplate) -> Result<CheckedFile, CsvProblem> {
    let mut reader = reader(bytes);
    let header = header(&mut reader)?.unwrap_or_default();
    let plan = Plan::new(&header, template);
    if !plan.missing.is_empty() {
        return Err(CsvProblem::MissingColumns(plan.missing));
    }
    if !plan.duplicates.is_empty() {
        return Err(CsvProblem::DuplicateColumns(plan.duplicates));
    }
    let mut record = csv::ByteRecord::new();
    let mut cells = Vec::new();
    let mut errors = Vec::new();
    let mut rows = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(CsvProblem::Unreadable(e.to_string())),
        }
        rows += 1;
        // Past the limit only the count matters (upstream yields `None` for those rows).
        if rows > template.max_rows {
            continue;
        }
        decode(&record, &mut cells, true)
            .map_err(|()| CsvProblem::Unreadable("The file is not UTF-8 text".into()))?;
        plan.row_errors(&cells, rows + 1, &mut errors);
    }
    if rows == 0 {
        return Err(CsvProblem::NoRows);
    }
    if rows > template.max_rows {
        return Err(CsvProblem::TooManyRows {
            rows,
            max: template.max_rows,
        });
    }
    if !errors.is_empty() {
        return Err(CsvProblem::RowErrors(errors));
    }
    Ok(CheckedFile {
        row_count: rows,
        columns: header,
    })
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
    /// The recipient as written in the file (what `to` stores when it does not parse); a letter's non-empty
    /// address lines joined with `\n`.
    pub raw_recipient: String,
    /// The parsed recipient, or the message the row's `validation-failed` is for.
    pub recipient: Result<Recipient, String>,
    /// Every column but `reference`, by the name the template uses where a placeholder matches (folded), a
    /// letter's address columns as `address_line_1`..`address_line_7` / `postcode` (the v2 API's keys), other
    /// columns as the file spells them; empty cells left out except placeholders.
    pub personalisation: Map<String, Value>,
    /// A `reference` column's value: the notification's client reference.
    pub reference: Option<String>,
}

/// The rows of a file, streamed: one record buffer reused, never the whole file as strings.
pub struct JobRows<'a> {
    reader: csv::Reader<&'a [u8]>,
    record: csv::ByteRecord,
    cells: Vec<String>,
    plan: Plan,
    next_number: u32,
}

impl Iterator for JobRows<'_> {
    type Item = JobRow;

    fn next(&mut self) -> Option<JobRow> {
        // A read error ends the rows: a checked file has none.
        if !self.reader.read_byte_record(&mut self.record).ok()? {
            return None;
        }
        // Lossy: a checked file is UTF-8, and a row must never stop a job.
        let _ = decode(&self.record, &mut self.cells, false);
        let row = self.plan.job_row(&self.cells, self.next_number);
        self.next_number += 1;
        Some(row)
    }
}

/// A checked file's rows from `from` (0-based) on; a resumed run skips what it persisted.
pub fn rows<'a>(
    bytes: &'a [u8],
    template: &CsvTemplate,
    from: u32,
) -> Result<JobRows<'a>, CsvProblem> {
    let mut reader = reader(bytes);
    let header = header(&mut reader)?.ok_or(CsvProblem::NoRows)?;
    let plan = Plan::new(&header, template);
    let mut record = csv::ByteRecord::new();
    let mut skipped = 0;
    while skipped < from {
        match reader.read_byte_record(&mut record) {
            Ok(true) => skipped += 1,
            Ok(false) => break,
            Err(e) => return Err(CsvProblem::Unreadable(e.to_string())),
        }
    }
    Ok(JobRows {
        reader,
        record,
        cells: Vec::new(),
        plan,
        next_number: skipped,
    })
}
