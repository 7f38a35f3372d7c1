//! Liberation Sans written into the printer's copy in place of an unembedded Helvetica or Arial, so the printer
//! draws the letter from the file rather than from whatever it substitutes. Liberation Sans is metric-compatible
//! with both (every advance width the same), so the text lays out where the service put it.
//!
//! Only that family is replaced: we ship no metric-compatible Times, Courier, Symbol or ZapfDingbats, and a font
//! with other metrics would move the text. Those fonts stay unembedded, and [`crate::unembedded_fonts`] names them.

use std::collections::HashMap;
use std::sync::LazyLock;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use skrifa::instance::{LocationRef, Size};
use skrifa::raw::TableProvider;
use skrifa::raw::types::GlyphId16;
use skrifa::{FontRef, GlyphId, MetadataProvider};

static REGULAR: &[u8] = include_bytes!("../../letters/fonts/LiberationSans-Regular.ttf");
static BOLD: &[u8] = include_bytes!("../../letters/fonts/LiberationSans-Bold.ttf");

/// PDF's font flag for a font whose glyphs are the standard Latin set, so the `Encoding` applies (PDF 1.7 §9.8.2).
const NONSYMBOLIC: i64 = 1 << 5;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Weight {
    Regular,
    Bold,
}

/// One face as a PDF needs it: the whole program, the descriptor's numbers and each glyph's advance in 1/1000 em.
struct Face {
    base_font: &'static str,
    program: &'static [u8],
    bbox: [i64; 4],
    italic_angle: f32,
    ascent: i64,
    descent: i64,
    cap_height: i64,
    stem_v: i64,
    by_char: HashMap<char, i64>,
    by_name: HashMap<String, i64>,
    notdef_width: i64,
}

static FACES: LazyLock<[Face; 2]> = LazyLock::new(|| {
    [
        face("LiberationSans", REGULAR),
        face("LiberationSans-Bold", BOLD),
    ]
});

fn face(base_font: &'static str, program: &'static [u8]) -> Face {
    let font = FontRef::new(program).expect("the shipped font parses");
    let head = font.head().expect("the shipped font has a head table");
    let upem = f32::from(head.units_per_em());
    let scale = |units: i16| (f32::from(units) * 1000.0 / upem).round() as i64;
    let hhea = font.hhea().expect("the shipped font has an hhea table");
    let os2 = font.os2().expect("the shipped font has an OS/2 table");
    let post = font.post().expect("the shipped font has a post table");
    let advances = font.glyph_metrics(Size::unscaled(), LocationRef::default());
    let width = |glyph: GlyphId| {
        advances
            .advance_width(glyph)
            .map_or(0, |w| (w * 1000.0 / upem).round() as i64)
    };
    let by_char = font
        .charmap()
        .mappings()
        .filter_map(|(code, glyph)| Some((char::from_u32(code)?, width(glyph))))
        .collect();
    let glyph_count = font.maxp().map_or(0, |maxp| maxp.num_glyphs());
    let by_name = (0..glyph_count)
        .filter_map(|id| {
            let name = post.glyph_name(GlyphId16::new(id))?;
            Some((name.to_owned(), width(GlyphId::new(u32::from(id)))))
        })
        .collect();
    // No table records the vertical stem width; this is the usual estimate from the weight class (400 gives 88,
    // Helvetica's own value).
    let weight = f32::from(os2.us_weight_class());
    Face {
        base_font,
        program,
        bbox: [
            scale(head.x_min()),
            scale(head.y_min()),
            scale(head.x_max()),
            scale(head.y_max()),
        ],
        italic_angle: post.italic_angle().to_f32(),
        ascent: scale(hhea.ascender().to_i16()),
        descent: scale(hhea.descender().to_i16()),
        cap_height: scale(os2.s_cap_height().unwrap_or(hhea.ascender().to_i16())),
        stem_v: (50.0 + (weight / 65.0).powi(2)).round() as i64,
        by_char,
        by_name,
        notdef_width: width(GlyphId::NOTDEF),
    }
}

impl Face {
    fn width(&self, glyph: &Glyph) -> i64 {
        let found = match glyph {
            Glyph::WinAnsi(code) => win_ansi(*code).and_then(|c| self.by_char.get(&c)),
            Glyph::Name(name) => self.by_name.get(name),
            Glyph::Notdef => None,
        };
        found.copied().unwrap_or(self.notdef_width)
    }
}

/// The Liberation face for a `BaseFont` in the Helvetica/Arial family, or `None` for any other font.
fn weight_of(base_font: &[u8]) -> Option<Weight> {
    // A subset's name is six capitals and a plus before the font's own.
    let name = match base_font.get(..7) {
        Some([prefix @ .., b'+']) if prefix.iter().all(u8::is_ascii_uppercase) => &base_font[7..],
        _ => base_font,
    };
    let name: String = String::from_utf8_lossy(name)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | ',' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    let style = name
        .strip_prefix("helvetica")
        .or_else(|| name.strip_prefix("arial"))?;
    let style = style
        .strip_suffix("psmt")
        .or_else(|| style.strip_suffix("mt"))
        .unwrap_or(style);
    // Oblique and italic get the upright face: we ship no italic Liberation Sans, and the upright one has the same
    // advance widths, so the text still lands where it was laid out (it prints upright). Narrow, Light, Black and
    // the like have other widths and are left alone.
    match style {
        "" | "oblique" | "italic" | "regular" => Some(Weight::Regular),
        "bold" | "boldoblique" | "bolditalic" => Some(Weight::Bold),
        _ => None,
    }
}

/// What one character code draws, as the font's encoding says.
#[derive(Clone, PartialEq, Eq)]
enum Glyph {
    /// The character WinAnsiEncoding gives this code.
    WinAnsi(u8),
    /// A glyph named by a `Differences` array or by StandardEncoding where it differs from WinAnsi.
    Name(String),
    Notdef,
}

/// Each code's glyph under `encoding` (a font's `Encoding` entry, `None` when it has none), or `None` for an
/// encoding not handled here (MacRoman, MacExpert), whose font is then left as it is.
fn effective_encoding(encoding: Option<&Object>, document: &Document) -> Option<Vec<Glyph>> {
    let encoding = match encoding {
        Some(object) => Some(document.dereference(object).ok()?.1),
        None => None,
    };
    let (base, differences) = match encoding {
        None => (None, None),
        Some(Object::Name(name)) => (Some(name.as_slice()), None),
        Some(Object::Dictionary(dict)) => (
            dict.get(b"BaseEncoding").and_then(Object::as_name).ok(),
            dict.get_deref(b"Differences", document)
                .and_then(Object::as_array)
                .ok(),
        ),
        Some(_) => return None,
    };
    let mut glyphs: Vec<Glyph> = match base {
        Some(b"WinAnsiEncoding") => (0..=255).map(Glyph::WinAnsi).collect(),
        // A Type 1 standard font's own encoding is StandardEncoding.
        None | Some(b"StandardEncoding") => (0..=255u8).map(standard).collect(),
        Some(_) => return None,
    };
    let mut code = 0usize;
    for item in differences.into_iter().flatten() {
        match document.dereference(item).ok()?.1 {
            Object::Integer(start) => code = usize::try_from(*start).ok()?,
            Object::Name(name) => {
                if let Some(slot) = glyphs.get_mut(code) {
                    *slot = Glyph::Name(String::from_utf8_lossy(name).into_owned());
                }
                code += 1;
            }
            _ => return None,
        }
    }
    Some(glyphs)
}

/// `glyphs` as an `Encoding` entry over WinAnsiEncoding (the base every viewer maps through a TrueType font's
/// Unicode cmap), with a `Differences` array for the codes WinAnsi does not already give.
fn encoding_object(glyphs: &[Glyph]) -> Object {
    let mut differences = Vec::new();
    let mut next = None;
    for (code, glyph) in glyphs.iter().enumerate() {
        let name = match glyph {
            Glyph::WinAnsi(_) => continue,
            Glyph::Name(name) => name.as_bytes().to_vec(),
            Glyph::Notdef => b".notdef".to_vec(),
        };
        if next != Some(code) {
            differences.push(Object::Integer(code as i64));
        }
        differences.push(Object::Name(name));
        next = Some(code + 1);
    }
    if differences.is_empty() {
        return Object::Name(b"WinAnsiEncoding".to_vec());
    }
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"Encoding".to_vec()));
    dict.set("BaseEncoding", Object::Name(b"WinAnsiEncoding".to_vec()));
    dict.set("Differences", Object::Array(differences));
    Object::Dictionary(dict)
}

/// Liberation Sans embedded in place of every unembedded Helvetica/Arial font object in `document`; each face's
/// program and descriptor is added once and shared. Returns how many fonts were replaced.
pub(crate) fn embed_liberation(document: &mut Document) -> usize {
    let mut replacements: Vec<(ObjectId, Weight, Vec<Glyph>)> = Vec::new();
    for (id, object) in &document.objects {
        let Ok(dict) = object.as_dict() else { continue };
        if !dict.has_type(b"Font")
            || !matches!(
                dict.get(b"Subtype").and_then(Object::as_name),
                Ok(b"Type1" | b"TrueType")
            )
        {
            continue;
        }
        let embedded = dict
            .get_deref(b"FontDescriptor", document)
            .and_then(Object::as_dict)
            .is_ok_and(|d| d.has(b"FontFile") || d.has(b"FontFile2") || d.has(b"FontFile3"));
        if embedded {
            continue;
        }
        let Some(weight) = dict
            .get(b"BaseFont")
            .and_then(Object::as_name)
            .ok()
            .and_then(weight_of)
        else {
            continue;
        };
        let Some(glyphs) = effective_encoding(dict.get(b"Encoding").ok(), document) else {
            continue;
        };
        replacements.push((*id, weight, glyphs));
    }

    let mut descriptors: HashMap<Weight, ObjectId> = HashMap::new();
    for (id, weight, glyphs) in &replacements {
        let face = &FACES[usize::from(*weight == Weight::Bold)];
        let descriptor = *descriptors
            .entry(*weight)
            .or_insert_with(|| add_descriptor(document, face));
        let Ok(Object::Dictionary(dict)) = document.get_object_mut(*id) else {
            continue;
        };
        dict.set("Subtype", Object::Name(b"TrueType".to_vec()));
        dict.set("BaseFont", Object::Name(face.base_font.as_bytes().to_vec()));
        dict.set("FontDescriptor", Object::Reference(descriptor));
        dict.set("Encoding", encoding_object(glyphs));
        // The file's own widths placed its text; kept, the layout cannot change. Without them a viewer used the
        // standard font's metrics, which Liberation's equal.
        if !dict.has(b"Widths") {
            let drawn: Vec<usize> = (32..=255)
                .filter(|&code| glyphs[code] != Glyph::Notdef)
                .collect();
            if let (Some(&first), Some(&last)) = (drawn.first(), drawn.last()) {
                dict.set("FirstChar", Object::Integer(first as i64));
                dict.set("LastChar", Object::Integer(last as i64));
                dict.set(
                    "Widths",
                    Object::Array(
                        glyphs[first..=last]
                            .iter()
                            .map(|glyph| Object::Integer(face.width(glyph)))
                            .collect(),
                    ),
                );
            }
        }
    }
    replacements.len()
}

fn add_descriptor(document: &mut Document, face: &Face) -> ObjectId {
    let mut file = Dictionary::new();
    file.set("Length1", Object::Integer(face.program.len() as i64));
    let mut stream = Stream::new(file, face.program.to_vec());
    // Deflated as the rest of a PDF usually is; a failure only leaves it plain.
    let _ = stream.compress();
    let file_id = document.add_object(stream);

    let mut descriptor = Dictionary::new();
    descriptor.set("Type", Object::Name(b"FontDescriptor".to_vec()));
    descriptor.set("FontName", Object::Name(face.base_font.as_bytes().to_vec()));
    descriptor.set("Flags", Object::Integer(NONSYMBOLIC));
    descriptor.set(
        "FontBBox",
        Object::Array(face.bbox.iter().copied().map(Object::Integer).collect()),
    );
    descriptor.set("ItalicAngle", Object::Real(face.italic_angle));
    descriptor.set("Ascent", Object::Integer(face.ascent));
    descriptor.set("Descent", Object::Integer(face.descent));
    descriptor.set("CapHeight", Object::Integer(face.cap_height));
    descriptor.set("StemV", Object::Integer(face.stem_v));
    descriptor.set("FontFile2", Object::Reference(file_id));
    document.add_object(descriptor)
}

/// WinAnsiEncoding (Windows code page 1252, with PDF's spaces at 160 and hyphen at 173): the character for `code`.
fn win_ansi(code: u8) -> Option<char> {
    const HIGH: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    match code {
        32..=126 | 160..=255 => Some(char::from(code)),
        128..=159 => match HIGH[usize::from(code - 128)] {
            0 => None,
            c => char::from_u32(u32::from(c)),
        },
        _ => None,
    }
}

/// StandardEncoding's glyph for `code` (PDF 1.7 Annex D), as WinAnsi where the two agree.
fn standard(code: u8) -> Glyph {
    const HIGH: &[(u8, &str)] = &[
        (161, "exclamdown"),
        (162, "cent"),
        (163, "sterling"),
        (164, "fraction"),
        (165, "yen"),
        (166, "florin"),
        (167, "section"),
        (168, "currency"),
        (169, "quotesingle"),
        (170, "quotedblleft"),
        (171, "guillemotleft"),
        (172, "guilsinglleft"),
        (173, "guilsinglright"),
        (174, "fi"),
        (175, "fl"),
        (177, "endash"),
        (178, "dagger"),
        (179, "daggerdbl"),
        (180, "periodcentered"),
        (182, "paragraph"),
        (183, "bullet"),
        (184, "quotesinglbase"),
        (185, "quotedblbase"),
        (186, "quotedblright"),
        (187, "guillemotright"),
        (188, "ellipsis"),
        (189, "perthousand"),
        (191, "questiondown"),
        (193, "grave"),
        (194, "acute"),
        (195, "circumflex"),
        (196, "tilde"),
        (197, "macron"),
        (198, "breve"),
        (199, "dotaccent"),
        (200, "dieresis"),
        (202, "ring"),
        (203, "cedilla"),
        (205, "hungarumlaut"),
        (206, "ogonek"),
        (207, "caron"),
        (208, "emdash"),
        (225, "AE"),
        (227, "ordfeminine"),
        (232, "Lslash"),
        (233, "Oslash"),
        (234, "OE"),
        (235, "ordmasculine"),
        (241, "ae"),
        (245, "dotlessi"),
        (248, "lslash"),
        (249, "oslash"),
        (250, "oe"),
        (251, "germandbls"),
    ];
    match code {
        39 => Glyph::Name("quoteright".to_owned()),
        96 => Glyph::Name("quoteleft".to_owned()),
        32..=126 => Glyph::WinAnsi(code),
        161..=255 => HIGH
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(Glyph::Notdef, |(_, name)| Glyph::Name((*name).to_owned())),
        _ => Glyph::Notdef,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helvetica_and_arial_names_map_to_their_weight() {
        for name in [
            "Helvetica",
            "Helvetica-Oblique",
            "Arial",
            "ArialMT",
            "Arial-ItalicMT",
            "ABCDEF+ArialMT",
        ] {
            assert!(
                weight_of(name.as_bytes()) == Some(Weight::Regular),
                "{name}"
            );
        }
        for name in [
            "Helvetica-Bold",
            "Helvetica-BoldOblique",
            "Arial,Bold",
            "Arial-BoldMT",
            "Arial-BoldItalicMT",
            "XYZABC+Helvetica-Bold",
        ] {
            assert!(weight_of(name.as_bytes()) == Some(Weight::Bold), "{name}");
        }
        for name in [
            "Times-Roman",
            "Courier",
            "Symbol",
            "ZapfDingbats",
            "ArialNarrow",
            "HelveticaNeue",
            "Arial-Black",
        ] {
            assert!(weight_of(name.as_bytes()).is_none(), "{name}");
        }
    }

    #[test]
    fn liberations_widths_are_helveticas() {
        // Helvetica's AFM: space 278, A 667, quoteright 222, W 944; Helvetica-Bold: A 722, quoteright 278.
        let regular = &FACES[0];
        assert_eq!(regular.width(&Glyph::WinAnsi(b' ')), 278);
        assert_eq!(regular.width(&Glyph::WinAnsi(b'A')), 667);
        assert_eq!(regular.width(&Glyph::WinAnsi(b'W')), 944);
        assert_eq!(regular.width(&standard(39)), 222);
        let bold = &FACES[1];
        assert_eq!(bold.width(&Glyph::WinAnsi(b'A')), 722);
        assert_eq!(bold.width(&standard(39)), 278);
        assert_eq!(regular.width(&standard(163)), 556);
    }
}
