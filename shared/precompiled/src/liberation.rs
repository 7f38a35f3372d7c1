//! Liberation Sans (SIL OFL 1.1; the workspace ships it with the templated letters' renderer), for the NOTIFY
//! tag and the sample letters: krilla embeds the glyphs used as a subset, so the file carries its font.

use std::collections::HashMap;
use std::sync::LazyLock;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

static REGULAR: &[u8] = include_bytes!("../../letters/fonts/LiberationSans-Regular.ttf");

pub struct Face {
    pub font: Font,
    /// Glyph id and advance (in em) of each character the font maps.
    glyphs: HashMap<char, (u32, f32)>,
}

pub static FACE: LazyLock<Face> = LazyLock::new(|| {
    let font_ref = FontRef::new(REGULAR).expect("the embedded font parses");
    let upem = f32::from(
        font_ref
            .metrics(Size::unscaled(), LocationRef::default())
            .units_per_em,
    );
    let advances = font_ref.glyph_metrics(Size::unscaled(), LocationRef::default());
    let glyphs = font_ref
        .charmap()
        .mappings()
        .filter_map(|(code, glyph)| {
            let c = char::from_u32(code)?;
            Some((c, (glyph.to_u32(), advances.advance_width(glyph)? / upem)))
        })
        .collect();
    Face {
        font: Font::new(REGULAR.into(), 0).expect("krilla reads the embedded font"),
        glyphs,
    }
});

impl Face {
    fn glyph(&self, c: char) -> (u32, f32) {
        self.glyphs.get(&c).copied().unwrap_or((0, 0.5))
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1 * size).sum()
    }

    /// One glyph per character, each tied to its character so the text can be extracted.
    pub fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(at, c)| {
                let (id, advance) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(id),
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    at..at + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }
}
