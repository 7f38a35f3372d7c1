//! Text as printed, read from the glyphs hayro's interpreter draws: each glyph's Unicode value and where it
//! lands on the page (after `/Rotate`), grouped into lines by baseline and into words by spaces and gaps, as
//! upstream's PyMuPDF `get_text_words` does. Upstream keeps the words that touch a box, line by line; so does
//! [`text_in`].
//!
//! Why the interpreter rather than lopdf's text extraction or pdf-extract: positions must be those of the
//! printed page (text matrices, `cm`, Form XObjects, `/Rotate`), and hayro already interprets the page exactly so
//! for the pixels; lopdf's `extract_text` has no positions.

use hayro::hayro_interpret::font::GlyphRun;
use hayro::hayro_interpret::hayro_cmap::BfString;
use hayro::hayro_interpret::{
    BlendMode, ClipPath, Context, Device, DrawMode, DrawProps, Image, ImageDrawProps,
    InterpreterCache, InterpreterSettings, SoftMask, TransformExt, interpret_page,
};
use hayro::hayro_syntax::page::Page;
use hayro::kurbo::{BezPath, Point, Rect};

use crate::areas::{ADDRESS_SEARCH, Area, MM_PER_POINT, NOTIFY_TAG_BOX};

/// Upstream's tag text.
pub const NOTIFY_TAG: &str = "NOTIFY";

/// One glyph: its text and its place, in millimetres from the top left of the printed page.
#[derive(Clone, Debug)]
struct Glyph {
    text: String,
    x: f64,
    end: f64,
    baseline: f64,
    size: f64,
}

impl Glyph {
    fn is_space(&self) -> bool {
        self.text.chars().all(char::is_whitespace)
    }
}

#[derive(Clone, Debug)]
pub struct Word {
    text: String,
    area: Area,
}

struct Collector {
    glyphs: Vec<Glyph>,
}

impl<'a> Device<'a> for Collector {
    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {}
    fn push_clip_path(&mut self, _: &ClipPath) {}
    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}
    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {}
    fn pop_clip(&mut self) {}
    fn pop_transparency_group(&mut self) {}

    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        for glyph in run.glyphs() {
            let Some(text) = glyph.as_unicode() else {
                continue;
            };
            let text = match text {
                BfString::Char(c) => c.to_string(),
                BfString::String(s) => s,
            };
            let transform = props.transform * glyph.transform();
            let advance = match &**glyph {
                hayro::hayro_interpret::font::Glyph::Outline(outline) => outline.advance_width(),
                hayro::hayro_interpret::font::Glyph::Type3(type3) => type3.advance_width(),
            }
            .unwrap_or(500.0);
            // Glyph space has 1000 units to the em.
            let origin = transform * Point::ZERO;
            let end = transform * Point::new(f64::from(advance), 0.0);
            let top = transform * Point::new(0.0, 1000.0);
            let size = (top - origin).hypot() * MM_PER_POINT;
            self.glyphs.push(Glyph {
                text,
                x: origin.x.min(end.x) * MM_PER_POINT,
                end: origin.x.max(end.x) * MM_PER_POINT,
                baseline: origin.y * MM_PER_POINT,
                size,
            });
        }
    }
}

fn glyphs(page: &Page<'_>) -> Vec<Glyph> {
    let cache = InterpreterCache::new();
    let (width, height) = page.render_dimensions();
    let mut context = Context::new(
        page.initial_transform(true).to_kurbo(),
        Rect::new(0.0, 0.0, f64::from(width), f64::from(height)),
        &cache,
        page.xref(),
        InterpreterSettings::default(),
    );
    let mut collector = Collector { glyphs: Vec::new() };
    interpret_page(page, &mut context, &mut collector);
    collector.glyphs
}

/// The page's words, line by line from the top: glyphs share a line when their baselines are within a third of
/// their size; a space glyph or a gap wider than a quarter of the size ends a word.
fn lines(mut glyphs: Vec<Glyph>) -> Vec<Vec<Word>> {
    glyphs.retain(|g| g.size > 0.0 && g.baseline.is_finite() && g.x.is_finite());
    glyphs.sort_by(|a, b| a.baseline.total_cmp(&b.baseline));
    let mut lines: Vec<Vec<Glyph>> = Vec::new();
    for glyph in glyphs {
        match lines.last_mut() {
            Some(line)
                if (line[0].baseline - glyph.baseline).abs()
                    <= line[0].size.max(glyph.size) / 3.0 =>
            {
                line.push(glyph)
            }
            _ => lines.push(vec![glyph]),
        }
    }
    lines
        .into_iter()
        .map(|mut line| {
            line.sort_by(|a, b| a.x.total_cmp(&b.x));
            let mut words = Vec::new();
            let mut current: Option<(String, Area, f64)> = None;
            for glyph in line {
                if let Some((_, _, end)) = &current
                    && glyph.x - end > glyph.size / 4.0
                {
                    words.extend(current.take().map(word));
                }
                if glyph.is_space() {
                    words.extend(current.take().map(word));
                    continue;
                }
                let area = Area {
                    left: glyph.x,
                    top: glyph.baseline - glyph.size * 0.8,
                    right: glyph.end,
                    bottom: glyph.baseline + glyph.size * 0.2,
                };
                match &mut current {
                    Some((text, word_area, end)) => {
                        text.push_str(&glyph.text);
                        word_area.left = word_area.left.min(area.left);
                        word_area.top = word_area.top.min(area.top);
                        word_area.right = word_area.right.max(area.right);
                        word_area.bottom = word_area.bottom.max(area.bottom);
                        *end = glyph.end;
                    }
                    None => current = Some((glyph.text.clone(), area, glyph.end)),
                }
            }
            words.extend(current.map(word));
            words
        })
        .collect()
}

fn word((text, area, _): (String, Area, f64)) -> Word {
    Word { text, area }
}

/// The words touching `area`, one string per line from the top, blank lines dropped.
fn text_in(lines: &[Vec<Word>], area: &Area) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            line.iter()
                .filter(|w| w.area.intersects(area))
                .map(|w| w.text.trim())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// The page's words, line by line from the top.
pub struct PageText(Vec<Vec<Word>>);

impl PageText {
    pub fn read(page: &Page<'_>) -> PageText {
        PageText(lines(glyphs(page)))
    }

    /// Upstream's test: the text in the top left corner is exactly "NOTIFY".
    pub fn has_notify_tag(&self) -> bool {
        text_in(&self.0, &NOTIFY_TAG_BOX).join("\n") == NOTIFY_TAG
    }

    /// The lines in the address window plus 3 mm.
    pub fn address_lines(&self) -> Vec<String> {
        text_in(&self.0, &ADDRESS_SEARCH)
    }
}
