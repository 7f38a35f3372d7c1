//! Liberation Sans (SIL OFL 1.1, see `fonts/README.md`), embedded in the binary so rendering reads no files.
//! Glyph advances come from the font itself, so line breaks fall where the printed text really ends.

use std::collections::HashMap;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

pub static REGULAR: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");
pub static BOLD: &[u8] = include_bytes!("../fonts/LiberationSans-Bold.ttf");

/// Upstream's `letter-spacing: 0.01em` and `word-spacing: -0.04em` on the 12.5 pt body: CSS computes them to
/// lengths once and every element inherits those lengths, whatever its own font size.
pub const LETTER_SPACING: f32 = 0.125;
pub const WORD_SPACING: f32 = -0.5;

pub struct Face {
    pub font: Font,
    /// Glyph id and advance (in em) of each character the font maps.
    glyphs: HashMap<char, (u32, f32)>,
    notdef_advance: f32,
    /// hhea ascent and descent in em (descent positive): where a baseline sits in a CSS line box.
    pub ascent: f32,
    pub descent: f32,
}

impl Face {
    pub fn new(data: &'static [u8]) -> Face {
        let font_ref = FontRef::new(data).expect("the embedded font parses");
        let metrics = font_ref.metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(metrics.units_per_em);
        let advances = font_ref.glyph_metrics(Size::unscaled(), LocationRef::default());
        let glyphs = font_ref
            .charmap()
            .mappings()
            .filter_map(|(code, glyph)| {
                let c = char::from_u32(code)?;
                let advance = advances.advance_width(glyph).unwrap_or(0.0) / upem;
                Some((c, (glyph.to_u32(), advance)))
            })
            .collect();
        let notdef_advance = advances
            .advance_width(skrifa::GlyphId::NOTDEF)
            .unwrap_or(0.0)
            / upem;
        let font = Font::new(data.into(), 0).expect("krilla reads the embedded font");
        Face {
            font,
            glyphs,
            notdef_advance,
            ascent: metrics.ascent / upem,
            descent: -metrics.descent / upem,
        }
    }

    fn glyph(&self, c: char) -> (u32, f32) {
        // A no-break space and a non-breaking hyphen print as their ordinary forms when the font lacks them.
        let c = match c {
            '\u{00A0}' if !self.glyphs.contains_key(&c) => ' ',
            '\u{2011}' if !self.glyphs.contains_key(&c) => '-',
            other => other,
        };
        self.glyphs
            .get(&c)
            .copied()
            .unwrap_or((0, self.notdef_advance))
    }

    /// How far the pen moves for `c` at `size` points, spacing included.
    pub fn advance(&self, c: char, size: f32) -> f32 {
        let mut advance = self.glyph(c).1 * size + LETTER_SPACING;
        if c == ' ' || c == '\u{00A0}' {
            advance += WORD_SPACING;
        }
        advance
    }

    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c, size)).sum()
    }

    /// The glyphs krilla draws for `text`, one per character (Latin text needs no shaping beyond that), each
    /// tied to its character so the PDF's text can be extracted and searched.
    pub fn glyphs(&self, text: &str, size: f32) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(at, c)| {
                let (id, _) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(id),
                    self.advance(c, size) / size,
                    0.0,
                    0.0,
                    0.0,
                    at..at + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }

    /// The baseline's offset from the top of a CSS line box of `line_height` at `size`: half the leading above
    /// the ascent.
    pub fn baseline(&self, size: f32, line_height: f32) -> f32 {
        (line_height - (self.ascent + self.descent) * size) / 2.0 + self.ascent * size
    }
}

pub struct Fonts {
    pub regular: Face,
    pub bold: Face,
}

impl Fonts {
    pub fn new() -> Fonts {
        Fonts {
            regular: Face::new(REGULAR),
            bold: Face::new(BOLD),
        }
    }

    pub fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}
