//! Fixed sample letters: what the layout tests, the reference image, the README's picture and
//! `notify bench letters` render, so they all measure and show the same letters.

use chrono::NaiveDate;

use crate::fonts::Fonts;
use crate::layout;
use crate::{Language, Letter, LetterPart, Logo};

const PARAGRAPH: &str = "We have received your application to renew your passport. We will write to you again \
within 3 weeks to tell you what happens next. If you need to travel sooner, you can call the Passport Adviceline \
and ask for a fast track appointment - there is a fee for this service.";

/// A made-up service's logo: shapes and text, so the SVG path (and its text, set in our fonts) is drawn.
pub const SAMPLE_LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="60" viewBox="0 0 240 60">
  <rect x="0" y="0" width="60" height="60" rx="8" fill="#0b0c0c"/>
  <path d="M12 42 L20 20 L30 34 L40 20 L48 42 Z" fill="#ffffff"/>
  <text x="72" y="28" font-family="Liberation Sans" font-weight="bold" font-size="20" fill="#0b0c0c">Passport</text>
  <text x="72" y="52" font-family="Liberation Sans" font-size="20" fill="#0b0c0c">Office</text>
</svg>"##;

/// The letter the reference image is made from: every kind of block Notify's letter markdown has on page 1.
pub fn sample_letter() -> Letter {
    Letter {
        address_lines: vec![
            "Ms A Sample".into(),
            "Flat 2".into(),
            "10 Downing Street".into(),
            "London".into(),
            "sw1a 2aa".into(),
        ],
        contact_block: Some(
            "Passport Office\nPO Box 767\nNewport\nNP10 8XJ\n\n0300 222 0000\nwww.gov.uk/passport"
                .into(),
        ),
        date: NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date"),
        logo: Some(Logo::Svg(SAMPLE_LOGO_SVG.as_bytes().to_vec())),
        parts: vec![LetterPart {
            language: Language::English,
            subject: "Your passport application".into(),
            body: format!(
                "{PARAGRAPH}\n\n# What you need to do\n\n\
                 * check the details on your application\n* send us your old passport\n\
                 * keep this letter\n\nThen:\n\n1. Sign the form\n2. Post it to us\n\n\
                 Track your application at https://www.gov.uk/track-passport-application.\n\n\
                 qr: https://www.gov.uk/track-passport-application\n\nYours sincerely,\nPassport Office"
            ),
        }],
    }
}

/// A plain English letter of `paragraphs` body paragraphs, the same sample paragraph numbered.
pub fn letter_with_paragraphs(paragraphs: usize) -> Letter {
    let body = (1..=paragraphs)
        .map(|n| format!("Paragraph {n}: {PARAGRAPH}"))
        .collect::<Vec<_>>()
        .join("\n\n");
    Letter {
        logo: None,
        parts: vec![LetterPart {
            language: Language::English,
            subject: "Your passport application".into(),
            body,
        }],
        ..sample_letter()
    }
}

/// The shortest [`letter_with_paragraphs`] letter that fills `pages` pages.
pub fn letter_of_pages(pages: u32) -> Letter {
    let fonts = Fonts::new();
    (1..)
        .map(letter_with_paragraphs)
        .find(|letter| {
            layout::layout(&fonts, letter).map_or(0, |laid_out| laid_out.len() as u32) >= pages
        })
        .expect("some number of paragraphs fills the pages")
}
