//! A precompiled letter (a PDF a service uploaded) checked as upstream's template preview
//! `/precompiled/sanitise` checks it, in its order and with its codes, and made ready for the printer: the
//! NOTIFY tag added where missing. Pure: bytes in, a verdict and bytes out.

pub mod samples;

/// Upstream's page limit for a letter.
pub const MAX_PAGES: u32 = 10;

/// A letter that passed every print check.
#[derive(Clone, Debug)]
pub struct Checked {
    /// What the printer gets: the file as checked, with the NOTIFY tag on page 1 where it was missing.
    pub pdf: Vec<u8>,
    pub page_count: u32,
    /// The text found in the address window (plus upstream's 3 mm), one entry per line, as printed: not yet
    /// normalised or validated (the postal-address rules do that).
    pub address_lines: Vec<String>,
}

/// Why a letter cannot be printed: upstream's code, and the 1-based pages that break the rule where it has any.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", code.as_str())]
pub struct Invalid {
    pub code: FailureCode,
    pub invalid_pages: Vec<u32>,
    /// When the file could be read at all.
    pub page_count: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCode {
    LetterTooLong,
    NotA4PortraitOriented,
    ContentOutsidePrintableArea,
    NotifyTagFoundInContent,
    UnableToReadTheFile,
}

impl FailureCode {
    /// Upstream's code, stored as the notification's validation result.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::LetterTooLong => "letter-too-long",
            FailureCode::NotA4PortraitOriented => "letter-not-a4-portrait-oriented",
            FailureCode::ContentOutsidePrintableArea => "content-outside-printable-area",
            FailureCode::NotifyTagFoundInContent => "notify-tag-found-in-content",
            FailureCode::UnableToReadTheFile => "unable-to-read-the-file",
        }
    }
}

/// Every print check in upstream's order; the first that fails is the answer.
pub fn check(pdf: &[u8]) -> Result<Checked, Invalid> {
    // Interface only: the checks land with the precompiled module's implementation.
    let _ = pdf;
    Err(Invalid {
        code: FailureCode::UnableToReadTheFile,
        invalid_pages: Vec::new(),
        page_count: None,
    })
}
