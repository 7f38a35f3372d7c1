//! A precompiled letter (a PDF a service uploaded) checked as upstream's template preview
//! `/precompiled/sanitise` checks it, in its order and with its codes, and made ready for the printer: the
//! NOTIFY tag added where missing. Pure: bytes in, a verdict and bytes out.
//!
//! How each step is done:
//! - structure (page count, page boxes, rotation, encryption, fonts) is read with lopdf, which also writes the
//!   printer's copy;
//! - pixels come from hayro, a pure-Rust rasteriser, at [`PIXELS_PER_POINT`]; fonts a file does not embed are
//!   drawn with hayro's substitutes for the 14 standard fonts, so text in a margin is seen even then;
//! - the address and the NOTIFY tag are read from the glyphs hayro's interpreter reports (their Unicode values,
//!   from the font's `ToUnicode` map or glyph names, and their positions on the page as printed).
//!
//! Limits, said rather than hidden:
//! - fonts the file does not embed: upstream embeds them all with Ghostscript; we embed Liberation Sans (shipped,
//!   metric-compatible) in the printer's copy in place of an unembedded Helvetica or Arial (Type 1 or TrueType,
//!   WinAnsi or Standard encoding, with or without `Differences`), keeping the file's own widths where it has
//!   them. Oblique and italic print upright (we ship no italic face). Every other unembedded font (Times, Courier,
//!   Symbol, ZapfDingbats, Helvetica Narrow, MacRoman-encoded, fonts written inline in a resource dictionary)
//!   stays unembedded: [`unembedded_fonts`] names them, so a caller can log them or refuse the letter;
//! - the address is read, not redacted or rewritten: the printer's copy keeps the service's own address text;
//! - the NOTIFY tag goes at the top left of page 1's MediaBox as upstream places it, ignoring `/Rotate` as
//!   upstream does;
//! - an encrypted file is unreadable, as upstream's reader treats it, even when it opens without a password.

mod areas;
mod embed;
mod fonts;
mod glyphs;
mod liberation;
mod pixels;
pub mod samples;
mod tag;

pub use areas::Area;
pub use fonts::unembedded_fonts;

/// Upstream's page limit for a letter.
pub const MAX_PAGES: u32 = 10;

/// The rasteriser's resolution: one pixel per point (72 dpi, a pixel is 0.35 mm), well inside the printable
/// areas' 1 mm of grace and about ten times faster than upstream's 200 dpi (see BENCHMARKS.md).
pub const PIXELS_PER_POINT: f32 = 1.0;

/// Upstream's tolerance on A4, in millimetres either way.
pub const A4_TOLERANCE_MM: f64 = 2.0;

/// A letter that passed every print check.
#[derive(Clone, Debug)]
pub struct Checked {
    /// What the printer gets: the file as checked, with the NOTIFY tag on page 1 where it was missing and
    /// Liberation Sans embedded for any unembedded Helvetica/Arial. Other unembedded fonts (Times, Courier, Symbol,
    /// …) are still unembedded here; [`unembedded_fonts`] of this copy names them.
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

impl Invalid {
    fn unreadable() -> Invalid {
        Invalid {
            code: FailureCode::UnableToReadTheFile,
            invalid_pages: Vec::new(),
            page_count: None,
        }
    }

    fn on_pages(code: FailureCode, invalid_pages: Vec<u32>, page_count: u32) -> Invalid {
        Invalid {
            code,
            invalid_pages,
            page_count: Some(page_count),
        }
    }
}

/// Every print check in upstream's order; the first that fails is the answer.
pub fn check(pdf: &[u8]) -> Result<Checked, Invalid> {
    check_at(pdf, PIXELS_PER_POINT)
}

/// [`check`] with the pages rasterised at `pixels_per_point` (upstream's 200 dpi is 200/72): for measuring what
/// the resolution costs and buys.
pub fn check_at(pdf: &[u8], pixels_per_point: f32) -> Result<Checked, Invalid> {
    let mut document = lopdf::Document::load_mem(pdf).map_err(|_| Invalid::unreadable())?;
    if document.was_encrypted() || document.trailer.has(b"Encrypt") {
        return Err(Invalid::unreadable());
    }
    let page_ids: Vec<lopdf::ObjectId> = document.get_pages().into_values().collect();
    if page_ids.is_empty() {
        return Err(Invalid::unreadable());
    }
    let page_count = u32::try_from(page_ids.len()).map_err(|_| Invalid::unreadable())?;
    if page_count > MAX_PAGES {
        return Err(Invalid::on_pages(
            FailureCode::LetterTooLong,
            Vec::new(),
            page_count,
        ));
    }

    // hayro reads the same bytes for pixels and glyphs; a file lopdf reads but hayro cannot (or that it reads
    // with a different number of pages) is not one whose print we can vouch for.
    let rendered =
        hayro::hayro_syntax::Pdf::new(pdf.to_vec()).map_err(|_| Invalid::unreadable())?;
    let pages = rendered.pages();
    if pages.len() != page_ids.len() {
        return Err(Invalid::unreadable());
    }

    let not_a4: Vec<u32> = pages
        .iter()
        .zip(1..)
        .filter(|(page, _)| !areas::is_a4_portrait(page))
        .map(|(_, number)| number)
        .collect();
    if !not_a4.is_empty() {
        return Err(Invalid::on_pages(
            FailureCode::NotA4PortraitOriented,
            not_a4,
            page_count,
        ));
    }

    let outside: Vec<u32> = pages
        .iter()
        .zip(1..)
        .filter(|(page, number)| {
            pixels::has_ink_outside(page, areas::printable(*number), pixels_per_point)
        })
        .map(|(_, number)| number)
        .collect();
    if !outside.is_empty() {
        return Err(Invalid::on_pages(
            FailureCode::ContentOutsidePrintableArea,
            outside,
            page_count,
        ));
    }

    let tagged: Vec<u32> = pages
        .iter()
        .zip(1..)
        .skip(1)
        .filter(|(page, _)| glyphs::PageText::read(page).has_notify_tag())
        .map(|(_, number)| number)
        .collect();
    if !tagged.is_empty() {
        return Err(Invalid::on_pages(
            FailureCode::NotifyTagFoundInContent,
            tagged,
            page_count,
        ));
    }

    let first = &pages[0];
    let first_text = glyphs::PageText::read(first);
    let address_lines = first_text.address_lines();
    // The checks above read the file as uploaded; only the printer's copy carries the substitutes.
    let replaced_fonts = embed::embed_liberation(&mut document);
    let pdf = if !first_text.has_notify_tag() {
        let media = first.media_box();
        tag::add_notify_tag(&mut document, page_ids[0], (media.x0, media.y1))
            .map_err(|_| Invalid::unreadable())?
    } else if replaced_fonts > 0 {
        let mut out = Vec::new();
        document
            .save_to(&mut out)
            .map_err(|_| Invalid::unreadable())?;
        out
    } else {
        pdf.to_vec()
    };
    Ok(Checked {
        pdf,
        page_count,
        address_lines,
    })
}
