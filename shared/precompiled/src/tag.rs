//! The NOTIFY tag, added to page 1 as upstream adds it: white 6 pt text 1.8 mm from the top and left edges of the
//! MediaBox, which DVLA's software reads as the start of a letter. The tag is drawn once with krilla (Liberation
//! Sans embedded as a subset, with a ToUnicode map) and stamped onto the page as a Form XObject, after the page's
//! own content, wrapped in `q`/`Q` so the page's graphics state cannot move it.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use krilla::color::luma;
use krilla::geom::Point;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::{Document as Krilla, SerializeSettings};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use crate::areas::{A4_HEIGHT_MM, A4_WIDTH_MM, MM_PER_POINT};
use crate::glyphs::NOTIFY_TAG;
use crate::liberation::FACE;

const FROM_EDGE_MM: f32 = 1.8;
const SIZE: f32 = 6.0;
const PAGE_WIDTH: f32 = (A4_WIDTH_MM / MM_PER_POINT) as f32;
const PAGE_HEIGHT: f32 = (A4_HEIGHT_MM / MM_PER_POINT) as f32;

/// A one-page A4 PDF carrying nothing but the tag.
static TAG_PDF: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut document = Krilla::new_with(SerializeSettings {
        xmp_metadata: false,
        ..SerializeSettings::default()
    });
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).expect("A4 is a page size");
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    draw(&mut surface);
    surface.finish();
    page.finish();
    document.finish().expect("krilla writes the tag")
});

/// The tag on a krilla page (top-left origin, points), where upstream puts it.
pub fn draw(surface: &mut Surface<'_>) {
    surface.set_fill(Some(Fill {
        paint: luma::Color::white().into(),
        ..Fill::default()
    }));
    let edge = FROM_EDGE_MM / MM_PER_POINT as f32;
    // Upstream's baseline: the margin plus one line of the tag's size below the top.
    surface.draw_glyphs(
        Point::from_xy(edge, edge + SIZE),
        &FACE.glyphs(NOTIFY_TAG),
        FACE.font.clone(),
        NOTIFY_TAG,
        SIZE,
        false,
    );
}

/// `document` with the tag on `page_id`, written out; `top_left` is the MediaBox's top left corner in PDF units.
pub fn add_notify_tag(
    document: &mut Document,
    page_id: ObjectId,
    top_left: (f64, f64),
) -> lopdf::Result<Vec<u8>> {
    let form_id = import_tag(document)?;
    let mut resources = inherited_dict(document, page_id, b"Resources")?.unwrap_or_default();
    let mut xobjects = match resources.get(b"XObject") {
        Ok(object) => document.dereference(object)?.1.as_dict()?.clone(),
        Err(_) => Dictionary::new(),
    };
    let mut name = b"NotifyTag".to_vec();
    while xobjects.has(&name) {
        name.push(b'0');
    }
    xobjects.set(name.clone(), Object::Reference(form_id));
    resources.set("XObject", Object::Dictionary(xobjects));

    let mut contents = match document.get_dictionary(page_id)?.get(b"Contents") {
        Ok(object) => match document.dereference(object)? {
            (_, Object::Array(items)) => items.clone(),
            (Some(id), Object::Stream(_)) => vec![Object::Reference(id)],
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    let open = document.add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()));
    let (x, y) = top_left;
    let stamp = format!(
        "\nQ\nq 1 0 0 1 {x:.3} {:.3} cm /{} Do Q\n",
        y - f64::from(PAGE_HEIGHT),
        String::from_utf8_lossy(&name)
    );
    let close = document.add_object(Stream::new(Dictionary::new(), stamp.into_bytes()));
    contents.insert(0, Object::Reference(open));
    contents.push(Object::Reference(close));

    let page = document.get_dictionary_mut(page_id)?;
    page.set("Resources", Object::Dictionary(resources));
    page.set("Contents", Object::Array(contents));

    let mut out = Vec::new();
    document.save_to(&mut out)?;
    Ok(out)
}

/// The tag's page copied into `document` as a Form XObject, with every object its resources need.
fn import_tag(document: &mut Document) -> lopdf::Result<ObjectId> {
    let mut tag = Document::load_mem(&TAG_PDF)?;
    tag.renumber_objects_with(document.max_id + 1);
    let tag_page = *tag
        .get_pages()
        .values()
        .next()
        .ok_or(lopdf::Error::PageNumberNotFound(1))?;
    let content = tag.get_page_content(tag_page);
    let resources = inherited_dict(&tag, tag_page, b"Resources")?.unwrap_or_default();

    let mut pending: Vec<&Object> = resources.iter().map(|(_, v)| v).collect();
    let mut seen = BTreeSet::new();
    while let Some(object) = pending.pop() {
        match object {
            Object::Reference(id) => {
                if seen.insert(*id)
                    && let Ok(target) = tag.get_object(*id)
                {
                    pending.push(target);
                }
            }
            Object::Array(items) => pending.extend(items),
            Object::Dictionary(dict) => pending.extend(dict.iter().map(|(_, v)| v)),
            Object::Stream(stream) => pending.extend(stream.dict.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    for id in seen {
        if let Ok(object) = tag.get_object(id) {
            document.objects.insert(id, object.clone());
        }
    }
    document.max_id = document.max_id.max(tag.max_id);

    let mut form = Dictionary::new();
    form.set("Type", Object::Name(b"XObject".to_vec()));
    form.set("Subtype", Object::Name(b"Form".to_vec()));
    form.set(
        "BBox",
        Object::Array(vec![
            0.into(),
            0.into(),
            Object::Real(PAGE_WIDTH),
            Object::Real(PAGE_HEIGHT),
        ]),
    );
    form.set("Resources", Object::Dictionary(resources));
    let mut stream = Stream::new(form, content);
    // Deflated as the rest of a PDF usually is; a failure only leaves it plain.
    let _ = stream.compress();
    Ok(document.add_object(stream))
}

/// A page's dictionary-valued attribute, from the page or the nearest ancestor in the page tree that has it
/// (`Resources`, like `MediaBox`, is inheritable).
fn inherited_dict(
    document: &Document,
    page_id: ObjectId,
    key: &[u8],
) -> lopdf::Result<Option<Dictionary>> {
    let mut node = document.get_dictionary(page_id)?;
    // The page tree is shallow; a bound stops a Parent cycle.
    for _ in 0..64 {
        if let Ok(object) = node.get(key) {
            return Ok(Some(document.dereference(object)?.1.as_dict()?.clone()));
        }
        match node.get(b"Parent").and_then(Object::as_reference) {
            Ok(parent) => node = document.get_dictionary(parent)?,
            Err(_) => return Ok(None),
        }
    }
    Ok(None)
}
