//! Which fonts a letter uses without embedding them. The printer renders only what the file carries, so an
//! unembedded font prints in whatever the printer substitutes.

use lopdf::{Document, Object};

/// The `BaseFont` names of the fonts in `pdf` whose program is not in the file (sorted, each once); empty when
/// every font is embedded or the file cannot be read. Type 3 fonts are drawn by the file itself and a Type 0
/// font's program lives in its descendant, which is checked in its own right.
pub fn unembedded_fonts(pdf: &[u8]) -> Vec<String> {
    Document::load_mem(pdf)
        .map(|document| unembedded(&document))
        .unwrap_or_default()
}

pub(crate) fn unembedded(document: &Document) -> Vec<String> {
    let mut names: Vec<String> = document
        .objects
        .values()
        .filter_map(|object| object.as_dict().ok())
        .filter(|dict| dict.has_type(b"Font"))
        .filter(|dict| {
            !matches!(
                dict.get(b"Subtype").and_then(Object::as_name),
                Ok(b"Type3" | b"Type0")
            )
        })
        .filter(|dict| {
            let descriptor = dict
                .get_deref(b"FontDescriptor", document)
                .and_then(Object::as_dict);
            !descriptor
                .is_ok_and(|d| d.has(b"FontFile") || d.has(b"FontFile2") || d.has(b"FontFile3"))
        })
        .map(|dict| {
            dict.get(b"BaseFont")
                .and_then(Object::as_name)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_else(|_| "(unnamed)".to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}
