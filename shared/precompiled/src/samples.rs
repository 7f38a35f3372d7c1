//! Letters made in code for tests and the benchmark (no downloaded files): each shaped to reach one outcome.
//! Text is Liberation Sans, embedded as a subset, as a service's own letter software would write it.

use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use crate::areas::MM_PER_POINT;
use crate::liberation::FACE;
use crate::tag;

/// The address the shaped samples carry: a valid UK address.
pub const ADDRESS: &[&str] = &["Ms A Smith", "1 High Street", "London", "SW1A 1AA"];

/// The EICAR anti-virus test string, which every scanner reports as a virus. Kept reversed and turned round at
/// run time, so that neither this source nor a binary linking it (the `notify` CLI writes the samples) carries
/// the string a scanner would flag.
pub fn eicar() -> Vec<u8> {
    br"*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\4[PA@%P!O5X"
        .iter()
        .rev()
        .copied()
        .collect()
}

const A4: (f32, f32) = (210.0, 297.0);

/// A clean A4 letter of `pages` pages with `address` (one entry per line) in the address window.
pub fn letter(address: &[&str], pages: u32) -> Vec<u8> {
    Sample::new(address, pages).write()
}

/// A clean one-page letter whose bytes also carry the EICAR test string, raw, in a stream no page uses.
pub fn with_eicar() -> Vec<u8> {
    let clean = letter(ADDRESS, 1);
    let mut document = lopdf::Document::load_mem(&clean).expect("the clean sample reads");
    let mut stream = lopdf::Stream::new(lopdf::Dictionary::new(), eicar());
    stream.allows_compression = false;
    document.add_object(stream);
    let mut out = Vec::new();
    document.save_to(&mut out).expect("lopdf writes to memory");
    out
}

/// A one-page letter on A3 (297 × 420 mm).
pub fn a3() -> Vec<u8> {
    Sample {
        size: (297.0, 420.0),
        ..Sample::new(ADDRESS, 1)
    }
    .write()
}

/// A one-page letter on an A4 landscape MediaBox with no `/Rotate`.
pub fn landscape() -> Vec<u8> {
    Sample {
        size: (297.0, 210.0),
        ..Sample::new(ADDRESS, 1)
    }
    .write()
}

/// A two-page letter with a black 3 mm square in the left margin of page `page`.
pub fn ink_in_margin(page: u32) -> Vec<u8> {
    Sample {
        margin_mark: Some(page),
        ..Sample::new(ADDRESS, 2)
    }
    .write()
}

/// A two-page letter whose page 2 carries the NOTIFY tag, as a page cut from a letter Notify printed would.
pub fn notify_tag_on_page_2() -> Vec<u8> {
    Sample {
        tag_on: Some(2),
        ..Sample::new(ADDRESS, 2)
    }
    .write()
}

/// Starts like a PDF and is not one.
pub fn unreadable() -> Vec<u8> {
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nthis letter was cut short before its first object\n".to_vec()
}

struct Sample<'a> {
    address: &'a [&'a str],
    pages: u32,
    /// Width and height in millimetres.
    size: (f32, f32),
    margin_mark: Option<u32>,
    tag_on: Option<u32>,
}

fn pt(mm: f32) -> f32 {
    mm / MM_PER_POINT as f32
}

fn fill(white: bool) -> Fill {
    Fill {
        paint: if white {
            luma::Color::white().into()
        } else {
            luma::Color::black().into()
        },
        ..Fill::default()
    }
}

fn text(surface: &mut Surface, x_mm: f32, baseline_mm: f32, size: f32, text: &str) {
    surface.draw_glyphs(
        Point::from_xy(pt(x_mm), pt(baseline_mm)),
        &FACE.glyphs(text),
        FACE.font.clone(),
        text,
        size,
        false,
    );
}

const BODY: &[&str] = &[
    "We are writing to tell you about the changes to your account.",
    "Your new payment date is the first working day of each month.",
    "You do not need to do anything: the change is made for you.",
    "If you have questions, call us on 0300 123 4567.",
];

impl<'a> Sample<'a> {
    fn new(address: &'a [&'a str], pages: u32) -> Sample<'a> {
        Sample {
            address,
            pages,
            size: A4,
            margin_mark: None,
            tag_on: None,
        }
    }

    fn write(&self) -> Vec<u8> {
        let mut document = Document::new_with(SerializeSettings {
            xmp_metadata: false,
            ..SerializeSettings::default()
        });
        let settings =
            PageSettings::from_wh(pt(self.size.0), pt(self.size.1)).expect("a page size");
        for number in 1..=self.pages {
            let mut page = document.start_page_with(settings.clone());
            let mut surface = page.surface();
            surface.set_fill(Some(fill(false)));
            let mut y = if number == 1 {
                // The address at upstream's 8 pt on 8.5 pt lines, from the top of the window.
                for (line, at) in self.address.iter().zip(0u8..) {
                    let baseline = 42.5 + f32::from(at) * 8.5 * MM_PER_POINT as f32;
                    text(&mut surface, 26.0, baseline, 8.0, line);
                }
                text(&mut surface, 130.0, 45.0, 10.0, "Department for Letters");
                text(&mut surface, 20.0, 102.0, 11.0, "Dear customer,");
                110.0
            } else {
                20.0
            };
            for line in BODY {
                text(&mut surface, 20.0, y, 11.0, line);
                y += 6.0;
            }
            let footer = format!("Page {number} of {}", self.pages);
            let width_mm = FACE.width(&footer, 9.0) * MM_PER_POINT as f32;
            text(&mut surface, 195.0 - 5.0 - width_mm, 285.0, 9.0, &footer);
            if self.margin_mark == Some(number) {
                let mut path = PathBuilder::new();
                path.push_rect(
                    Rect::from_xywh(pt(5.0), pt(150.0), pt(3.0), pt(3.0)).expect("a square"),
                );
                surface.draw_path(&path.finish().expect("a square"));
            }
            if self.tag_on == Some(number) {
                tag::draw(&mut surface);
            }
            surface.finish();
            page.finish();
        }
        document.finish().expect("krilla writes the sample")
    }
}
