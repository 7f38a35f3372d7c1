//! Precompiled letters made in code for the black-box tests (no downloaded files): a PDF writer small enough to
//! read, pages of any size with Helvetica text and filled rectangles placed in millimetres from the top left, as
//! upstream's template preview measures them; the EICAR test string; and the project's clamd.

use std::sync::Arc;

use notify_outbound::scan::Scanner;
use notify_outbound::scan::clamd::{ClamdAddress, ClamdScanner};

pub const A4: (f64, f64) = (210.0, 297.0);
pub const A3: (f64, f64) = (297.0, 420.0);
pub const A4_LANDSCAPE: (f64, f64) = (297.0, 210.0);

fn pt(mm: f64) -> f64 {
    mm * 72.0 / 25.4
}

/// One page: its size in millimetres and what is drawn on it.
#[derive(Clone, Debug)]
pub struct Page {
    pub size: (f64, f64),
    ops: Vec<String>,
}

impl Page {
    pub fn new(size: (f64, f64)) -> Self {
        Page {
            size,
            ops: Vec::new(),
        }
    }

    /// Black Helvetica text of `size_pt` with its baseline at (`x`, `y`) mm from the top left.
    pub fn text(mut self, x: f64, y: f64, size_pt: f64, text: &str) -> Self {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        self.ops.push(format!(
            "BT /F1 {size_pt} Tf 0 0 0 rg {:.2} {:.2} Td ({escaped}) Tj ET",
            pt(x),
            pt(self.size.1 - y)
        ));
        self
    }

    /// A black rectangle from (`x`, `y`) mm from the top left, `w` by `h` mm.
    pub fn ink(mut self, x: f64, y: f64, w: f64, h: f64) -> Self {
        self.ops.push(format!(
            "0 0 0 rg {:.2} {:.2} {:.2} {:.2} re f",
            pt(x),
            pt(self.size.1 - y - h),
            pt(w),
            pt(h)
        ));
        self
    }

    /// `lines` in the address window (x 24.6–120 mm, y 39.5–66.3 mm), 8 pt, 3.5 mm apart.
    pub fn address(self, lines: &[&str]) -> Self {
        lines.iter().enumerate().fold(self, |page, (i, line)| {
            page.text(26.0, 43.0 + 3.5 * i as f64, 8.0, line)
        })
    }

    /// A paragraph in the body of the page, where every page may have ink.
    pub fn body(self, y: f64, text: &str) -> Self {
        self.text(25.0, y, 11.0, text)
    }
}

/// The PDF of `pages`, with one font (Helvetica) they share.
pub fn pdf(pages: &[Page]) -> Vec<u8> {
    // 1 catalog, 2 pages, 3 font, then a page and its content stream for each page.
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            (0..pages.len())
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" "),
            pages.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
    ];
    for (i, page) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {:.2} {:.2}] /Resources << /Font << /F1 3 0 R >> >> \
             /Contents {} 0 R >>",
            pt(page.size.0),
            pt(page.size.1),
            5 + 2 * i
        ));
        let content = page.ops.join("\n");
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A clean A4 letter of `pages` pages: `address` in the window of page 1, a paragraph on each page.
pub fn letter(address: &[&str], pages: u32) -> Vec<u8> {
    pdf(&letter_pages(A4, address, pages))
}

pub fn letter_pages(size: (f64, f64), address: &[&str], pages: u32) -> Vec<Page> {
    (1..=pages)
        .map(|n| {
            let page = Page::new(size);
            let page = if n == 1 {
                page.address(address).body(110.0, "Dear customer,")
            } else {
                page.body(40.0, "Continued.")
            };
            page.body(130.0, &format!("Page {n} of {pages}"))
        })
        .collect()
}

/// The address of the clean letter: UK, five lines, the postcode last.
pub const ADDRESS: [&str; 4] = ["Ms A Person", "Flat 2", "1 High Street", "SW1A 1AA"];

/// The EICAR test string, which the project's clamd reports (kept reversed in the samples, so that no
/// source or binary of ours carries it).
pub fn eicar() -> Vec<u8> {
    notify_precompiled::samples::eicar()
}

/// A letter that is a PDF in every other way, carrying the EICAR string in a comment.
pub fn eicar_letter() -> Vec<u8> {
    let mut pdf = letter(&ADDRESS, 1);
    let at = b"%PDF-1.7\n".len();
    let mut comment = b"%".to_vec();
    comment.extend(eicar());
    comment.push(b'\n');
    pdf.splice(at..at, comment);
    pdf
}

/// The project's clamd (`infra/scripts/clamd`, exported as CLAMD_ADDRESS), which must answer: a missing one is
/// a broken test setup, never a pass.
pub async fn project_clamd() -> Arc<dyn Scanner> {
    let Ok(address) = std::env::var("CLAMD_ADDRESS") else {
        panic!(
            "CLAMD_ADDRESS is unset: start the project's clamd with `infra/scripts/clamd` and export the socket \
             it prints as CLAMD_ADDRESS (infra/scripts/test does both)"
        );
    };
    let parsed = ClamdAddress::parse(&address).expect("CLAMD_ADDRESS parses");
    let scanner = ClamdScanner::new(parsed);
    if let Err(e) = scanner.ping().await {
        panic!(
            "CLAMD_ADDRESS={address} does not answer PING ({e}): start it with `infra/scripts/clamd`"
        );
    }
    Arc::new(scanner)
}

/// A clamd that is not there: a socket path nothing listens on.
pub fn absent_clamd() -> Arc<dyn Scanner> {
    let path = std::env::temp_dir().join(format!(
        "notify-no-clamd-{}.sock",
        uuid::Uuid::new_v4().simple()
    ));
    Arc::new(ClamdScanner::new(
        ClamdAddress::parse(path.to_str().expect("a UTF-8 temp dir")).expect("a socket path"),
    ))
}
