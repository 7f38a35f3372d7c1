//! Writes a sample letter's PDF: `cargo run -p notify-letters --example render_sample -- out.pdf [paragraphs]`.
use notify_letters::{LetterRenderer, PdfRenderer, samples};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "letter.pdf".into());
    let letter = match args.next() {
        Some(n) => samples::letter_with_paragraphs(n.parse().expect("a number of paragraphs")),
        None => samples::sample_letter(),
    };
    let rendered = PdfRenderer::new()
        .render(&letter)
        .expect("the sample renders");
    std::fs::write(&out, &rendered.pdf).expect("the PDF is written");
    println!(
        "{out}: {} pages, {} bytes",
        rendered.page_count,
        rendered.pdf.len()
    );
}
