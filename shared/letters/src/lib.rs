//! Letters as print-ready PDFs, laid out as Notify's are (notifications-utils `jinja_templates/letter_pdf/`).
//! Pure: no I/O, no clock, no network. The use case (`notify_app::letters`) gathers the values, calls a
//! [`LetterRenderer`] and stores the bytes.

use chrono::NaiveDate;

mod date;
mod fonts;
mod layout;
mod markdown;
mod render;
pub mod samples;

pub use date::{letter_date, month_name};
pub use render::PdfRenderer;

/// The most data one `qr:` line may carry (upstream's limit for a code that still scans at 84 pt).
pub const MAX_QR_BYTES: usize = 504;

/// Upstream's limit: a longer letter fails validation with `letter-too-long`.
pub const MAX_PAGES: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    Welsh,
}

/// A service's letter logo, as stored with its `letter_branding`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Logo {
    Svg(Vec<u8>),
    Png(Vec<u8>),
}

/// One language's version of the letter: its date paragraph, heading and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LetterPart {
    pub language: Language,
    /// The subject with placeholders filled in: the letter's heading.
    pub subject: String,
    /// Notify's letter markdown with placeholders filled in.
    pub body: String,
}

/// Everything a letter shows, as plain values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    /// The recipient's address, one entry per line, postcode or country last.
    pub address_lines: Vec<String>,
    /// The sender's contact block, top right; lines separated by `\n`.
    pub contact_block: Option<String>,
    /// Printed as the first paragraph (`1 December 2026`, or Welsh month names in the Welsh part).
    pub date: NaiveDate,
    pub logo: Option<Logo>,
    /// Welsh first for `welsh_then_english` templates. As upstream, each part is laid out as a whole letter
    /// (its own first page with the address, its own `Page N of M` / `Tudalen N o M`) and the parts follow each
    /// other page after page; the white `NOTIFY` tag is on the letter's first page only.
    pub parts: Vec<LetterPart>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedLetter {
    pub pdf: Vec<u8>,
    pub page_count: u32,
}

impl RenderedLetter {
    /// Printed on both sides: what a letter is billed by.
    pub fn sheets(&self) -> u32 {
        self.page_count.div_ceil(2)
    }

    pub fn too_long(&self) -> bool {
        self.page_count > MAX_PAGES
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("Cannot create a usable QR code - the link is too long")]
    QrCodeTooLong,
    #[error("the letter logo cannot be read: {0}")]
    Logo(String),
    #[error("the letter could not be rendered: {0}")]
    Pdf(String),
}

/// Renders a letter to PDF. Behind a trait so the use case can be tested with a renderer that fails.
pub trait LetterRenderer: Send + Sync {
    fn render(&self, letter: &Letter) -> Result<RenderedLetter, RenderError>;
}

/// The `qr:` paragraphs of a letter body (Notify's letter markdown: a one-line paragraph `qr: <data>`, any case,
/// spaces allowed around the colon), checked before a letter is accepted so a code that cannot be printed is
/// refused with Notify's message. The renderer applies the same rule.
pub fn check_qr_codes(body: &str) -> Result<(), RenderError> {
    if markdown::first_qr_too_long(body) {
        Err(RenderError::QrCodeTooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_data_up_to_the_limit_is_accepted() {
        let ok = format!("Scan this\n\nqr: {}", "a".repeat(MAX_QR_BYTES));
        assert_eq!(check_qr_codes(&ok), Ok(()));
        let long = format!("qr: {}", "a".repeat(MAX_QR_BYTES + 1));
        assert_eq!(check_qr_codes(&long), Err(RenderError::QrCodeTooLong));
        assert_eq!(
            RenderError::QrCodeTooLong.to_string(),
            "Cannot create a usable QR code - the link is too long"
        );
    }

    #[test]
    fn sheets_are_pages_printed_on_both_sides() {
        let letter = |page_count| RenderedLetter {
            pdf: vec![],
            page_count,
        };
        assert_eq!(letter(1).sheets(), 1);
        assert_eq!(letter(2).sheets(), 1);
        assert_eq!(letter(3).sheets(), 2);
        assert!(!letter(10).too_long());
        assert!(letter(11).too_long());
    }
}
