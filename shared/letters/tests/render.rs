//! The rendered PDF checked from the outside, as a printer would see it: poppler's `pdftotext -bbox` gives each
//! word with its position, `pdftoppm` turns page 1 into an image that is compared with a committed reference.
//! Needs poppler-utils (`infra/scripts/test` installs it).
//!
//! After a deliberate layout change, regenerate the reference and look at it before committing:
//! `cargo test -p notify-letters --test render -- --ignored regenerate_reference`

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use notify_letters::samples::{self, sample_letter};
use notify_letters::{
    Language, Letter, LetterPart, LetterRenderer, Logo, MAX_QR_BYTES, PdfRenderer, RenderError,
    check_qr_codes,
};

const MM: f64 = 72.0 / 25.4;
const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/letter-page-1.png"
);

#[derive(Debug, Clone)]
struct Word {
    text: String,
    x_min: f64,
    y_min: f64,
    x_max: f64,
    y_max: f64,
}

#[derive(Debug)]
struct Page {
    width: f64,
    height: f64,
    words: Vec<Word>,
}

impl Page {
    fn text(&self) -> String {
        self.words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn word(&self, text: &str) -> &Word {
        self.words
            .iter()
            .find(|w| w.text == text)
            .unwrap_or_else(|| panic!("{text:?} is not on the page: {}", self.text()))
    }
}

/// A scratch directory for one test's files, so tests running in parallel do not share files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("notify-letters-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} did not start (is poppler-utils installed?): {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn attribute(line: &str, name: &str) -> f64 {
    let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = start + line[start..].find('"').unwrap();
    line[start..end].parse().unwrap()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn extract(pdf: &[u8], name: &str) -> Vec<Page> {
    let path = scratch(name).join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let xhtml = String::from_utf8(run(Command::new("pdftotext")
        .arg("-bbox")
        .arg(&path)
        .arg("-")))
    .unwrap();
    let mut pages: Vec<Page> = Vec::new();
    for line in xhtml.lines().map(str::trim) {
        if line.starts_with("<page ") {
            pages.push(Page {
                width: attribute(line, "width"),
                height: attribute(line, "height"),
                words: Vec::new(),
            });
        } else if line.starts_with("<word ") {
            let text = &line[line.find('>').unwrap() + 1..line.rfind("</word>").unwrap()];
            pages.last_mut().unwrap().words.push(Word {
                text: unescape(text),
                x_min: attribute(line, "xMin"),
                y_min: attribute(line, "yMin"),
                x_max: attribute(line, "xMax"),
                y_max: attribute(line, "yMax"),
            });
        }
    }
    pages
}

fn render(letter: &Letter) -> notify_letters::RenderedLetter {
    PdfRenderer::new()
        .render(letter)
        .expect("the letter renders")
}

fn part(language: Language, subject: &str, body: &str) -> LetterPart {
    LetterPart {
        language,
        subject: subject.into(),
        body: body.into(),
    }
}

/// Words of flowing text (not the page number or the corner tag) stay inside the body's text area, and nothing
/// at all is printed past the page's margins.
fn assert_inside_printable_area(pages: &[Page]) {
    for (number, page) in pages.iter().enumerate() {
        for word in &page.words {
            let page_number = word.y_min > 282.0 * MM;
            let tag = word.text == "NOTIFY";
            assert!(
                tag || (word.x_min >= 15.0 * MM - 0.5 && word.x_max <= 200.0 * MM + 0.5),
                "page {}: {word:?} is outside the left and right margins",
                number + 1
            );
            assert!(
                word.y_min >= 0.0 && word.y_max <= 297.0 * MM - 10.0 * MM,
                "page {}: {word:?} is off the page",
                number + 1
            );
            let body = !page_number && (number > 0 || word.y_min > 100.0 * MM);
            if body {
                assert!(
                    word.x_max <= 15.0 * MM + 137.5 * MM + 0.5 && word.y_max <= 282.0 * MM + 0.5,
                    "page {}: {word:?} runs out of the body's text area",
                    number + 1
                );
            }
        }
    }
}

#[test]
fn a_one_page_letter_on_a4_with_the_address_in_the_envelope_window() {
    let letter = sample_letter();
    let rendered = render(&letter);
    assert_eq!(rendered.page_count, 1);
    assert_eq!(rendered.sheets(), 1);
    assert!(rendered.pdf.starts_with(b"%PDF-"));

    let pages = extract(&rendered.pdf, "one-page");
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert!((page.width - 595.28).abs() < 0.01, "width {}", page.width);
    assert!(
        (page.height - 841.89).abs() < 0.01,
        "height {}",
        page.height
    );

    // The window the precompiled-letter checks use: x 24.6–120 mm, y 39.5–66.3 mm from the top left.
    let window = |w: &Word| {
        w.x_min >= 24.6 * MM - 0.01
            && w.x_max <= 120.0 * MM
            && w.y_min >= 39.5 * MM
            && w.y_max <= 66.3 * MM
    };
    let address_words: Vec<&str> = "MS A SAMPLE FLAT 2 10 DOWNING STREET LONDON SW1A 2AA"
        .split(' ')
        .collect();
    let in_window: Vec<&str> = page
        .words
        .iter()
        .filter(|w| window(w))
        .map(|w| w.text.as_str())
        .collect();
    assert_eq!(
        in_window, address_words,
        "the window shows exactly the address, upper case"
    );
    let first = page.word("MS");
    let postcode = page.word("2AA");
    assert!(
        (first.x_min - 24.6 * MM).abs() < 0.5,
        "address left edge {}",
        first.x_min
    );
    assert!(
        postcode.y_min > first.y_min,
        "the postcode is the last line"
    );
    assert!(
        postcode.y_max > 64.0 * MM,
        "the block sits on the window's bottom edge: {postcode:?}"
    );

    let text = page.text();
    assert!(text.contains("1 December 2026"), "{text}");
    assert!(text.contains("Your passport application"), "{text}");
    assert!(text.contains("Page 1 of 1"), "{text}");
    let date = page.word("December");
    let subject = page.word("passport");
    assert!(
        date.y_min > 100.0 * MM && date.y_min < 110.0 * MM,
        "the date starts the body: {date:?}"
    );
    assert!(subject.y_min > date.y_max, "the subject follows the date");
    assert!(
        subject.y_max - subject.y_min > 1.4 * (date.y_max - date.y_min),
        "the subject is the heading, larger than the body"
    );

    // The contact block: top right, right edge 10 mm from the page's edge, above the body.
    let office = page
        .words
        .iter()
        .find(|w| w.text == "Office" && w.y_min < 100.0 * MM && w.x_min > 100.0 * MM);
    let office = office.expect("the contact block");
    assert!(office.x_min >= 210.0 * MM - 10.0 * MM - 71.2 * MM - 0.5);
    let contact_bottom = page
        .words
        .iter()
        .filter(|w| w.x_min > 128.0 * MM && w.y_min < 100.0 * MM)
        .map(|w| w.y_max)
        .fold(0.0, f64::max);
    assert!(
        contact_bottom <= 82.2 * MM + 0.5 && contact_bottom > 75.0 * MM,
        "{contact_bottom}"
    );

    // A URL prints without its protocol; the page number sits bottom right.
    assert!(
        text.contains("www.gov.uk/track-passport-application"),
        "{text}"
    );
    assert!(!text.contains("https://"), "{text}");
    let of = page.words.iter().rfind(|w| w.text == "Page").unwrap();
    assert!(of.y_min > 282.0 * MM - 0.5, "{of:?}");
    let last = page.words.last().unwrap();
    assert!((last.x_max - 200.0 * MM).abs() < 1.0, "{last:?}");

    // The white corner tag upstream prints on a letter's first page.
    let tag = page.word("NOTIFY");
    assert!(
        tag.x_max <= 15.0 * MM + 0.5 && tag.y_max <= 10.0 * MM,
        "{tag:?}"
    );
    assert_inside_printable_area(&pages);
}

#[test]
fn a_long_letter_runs_to_more_than_ten_pages_and_is_too_long() {
    let letter = samples::letter_of_pages(11);
    let rendered = render(&letter);
    assert!(rendered.page_count > 10, "{} pages", rendered.page_count);
    assert!(rendered.too_long());

    let pages = extract(&rendered.pdf, "long");
    assert_eq!(pages.len() as u32, rendered.page_count);
    let count = rendered.page_count;
    for (index, page) in pages.iter().enumerate() {
        let text = page.text();
        assert!(
            text.contains(&format!("Page {} of {count}", index + 1)),
            "{text}"
        );
        if index > 0 {
            assert!(
                !text.contains("NOTIFY") && !text.contains("SAMPLE"),
                "{text}"
            );
            let top = page.words.iter().map(|w| w.y_min).fold(f64::MAX, f64::min);
            assert!(
                top >= 15.0 * MM - 0.5 && top < 20.0 * MM,
                "later pages start at the top margin: {top}"
            );
        }
    }
    assert_inside_printable_area(&pages);

    let ten = render(&samples::letter_of_pages(10));
    assert_eq!(ten.page_count, 10);
    assert!(!ten.too_long());
    assert_eq!(ten.sheets(), 5);
}

#[test]
fn long_words_lists_and_page_breaks_stay_in_the_text_area() {
    let long_url = format!("https://www.example.com/{}", "a".repeat(300));
    let body = format!(
        "{long_url}\n\n{}\n\n* a bullet that goes on {}\n1. a numbered item\n\n---\n\nAfter the break\n\n***\n\nqr: {}",
        "Averyveryverylongwordwithoutanyspaces".repeat(8),
        "and on ".repeat(40),
        "d".repeat(MAX_QR_BYTES)
    );
    let letter = Letter {
        parts: vec![part(Language::English, "Words", &body)],
        ..sample_letter()
    };
    let rendered = render(&letter);
    assert_eq!(rendered.page_count, 3, "two page breaks make three pages");
    let pages = extract(&rendered.pdf, "long-words");
    assert_inside_printable_area(&pages);
    assert!(
        pages[1].text().starts_with("After the break"),
        "{}",
        pages[1].text()
    );
    assert_eq!(
        pages[2].text(),
        "Page 3 of 3",
        "page 3 holds the QR code, which has no text"
    );
}

#[test]
fn welsh_then_english_prints_the_welsh_part_first_with_welsh_page_numbers() {
    let letter = Letter {
        parts: vec![
            part(
                Language::Welsh,
                "Eich cais am basbort",
                "Rydym wedi derbyn eich cais.",
            ),
            part(
                Language::English,
                "Your passport application",
                "We have received your application.",
            ),
        ],
        ..sample_letter()
    };
    let rendered = render(&letter);
    assert_eq!(rendered.page_count, 2);
    let pages = extract(&rendered.pdf, "welsh");
    let welsh = pages[0].text();
    let english = pages[1].text();
    assert!(welsh.contains("Tudalen 1 o 1"), "{welsh}");
    assert!(welsh.contains("1 Rhagfyr 2026"), "{welsh}");
    assert!(welsh.contains("Eich cais am basbort"), "{welsh}");
    assert!(welsh.contains("NOTIFY"), "{welsh}");
    assert!(english.contains("Page 1 of 1"), "{english}");
    assert!(english.contains("1 December 2026"), "{english}");
    assert!(
        english.contains("SW1A 2AA"),
        "each part is a whole letter, as upstream: {english}"
    );
    assert!(
        !english.contains("NOTIFY"),
        "the tag is on the letter's first page only: {english}"
    );
}

#[test]
fn a_qr_code_with_too_much_data_is_refused_with_notifys_message() {
    let body = format!("Scan this:\n\nqr: {}", "x".repeat(MAX_QR_BYTES + 1));
    let letter = Letter {
        parts: vec![part(Language::English, "QR", &body)],
        ..sample_letter()
    };
    let error = PdfRenderer::new().render(&letter).unwrap_err();
    assert_eq!(error, RenderError::QrCodeTooLong);
    assert_eq!(
        error.to_string(),
        "Cannot create a usable QR code - the link is too long"
    );
    assert_eq!(check_qr_codes(&body), Err(RenderError::QrCodeTooLong));

    // Upstream's pattern: any case, spaces around the colon; the Welsh part is checked too.
    let welsh = Letter {
        parts: vec![
            part(
                Language::Welsh,
                "QR",
                &format!(" QR : {}", "y".repeat(MAX_QR_BYTES + 1)),
            ),
            part(Language::English, "QR", "qr: fine"),
        ],
        ..sample_letter()
    };
    assert_eq!(
        PdfRenderer::new().render(&welsh).unwrap_err(),
        RenderError::QrCodeTooLong
    );
}

/// The share of non-white pixels in page 1's logo box, at 30 dpi.
fn logo_ink(pdf: &[u8], name: &str) -> f64 {
    let (width, _, pixels) = page_one_image(pdf, name, 30);
    let px = |mm: f64| (mm / 25.4 * 30.0) as usize;
    let (mut ink, mut all) = (0, 0);
    for y in px(10.0)..px(28.0) {
        for x in px(15.0)..px(85.0) {
            let at = (y * width + x) * 3;
            all += 1;
            if pixels[at..at + 3].iter().any(|v| *v < 200) {
                ink += 1;
            }
        }
    }
    ink as f64 / all as f64
}

fn png_logo(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    let data: Vec<u8> = (0..width * height)
        .flat_map(|_| [0x1d, 0x70, 0xb8])
        .collect();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    bytes
}

#[test]
fn png_and_svg_logos_are_drawn_in_the_logo_box() {
    let no_logo = render(&Letter {
        logo: None,
        ..sample_letter()
    });
    assert!(logo_ink(&no_logo.pdf, "no-logo") < 0.001);

    // 400 × 100 px is 300 × 75 pt at CSS's 96 px an inch: too big, so scaled to the box's 18 mm height.
    let png = render(&Letter {
        logo: Some(Logo::Png(png_logo(400, 100))),
        ..sample_letter()
    });
    let ink = logo_ink(&png.pdf, "png-logo");
    assert!(
        ink > 0.95,
        "a 4:1 logo 18 mm tall fills 72 mm of the 70 mm box's width: {ink}"
    );
    let dir = scratch("png-images");
    std::fs::write(dir.join("letter.pdf"), &png.pdf).unwrap();
    let images = String::from_utf8(run(Command::new("pdfimages")
        .arg("-list")
        .arg(dir.join("letter.pdf"))))
    .unwrap();
    assert!(
        images.lines().any(|l| l.contains(" 400   100 ")),
        "{images}"
    );

    let svg = render(&sample_letter());
    let ink = logo_ink(&svg.pdf, "svg-logo");
    assert!(
        ink > 0.05 && ink < 0.6,
        "the sample SVG logo's square and text: {ink}"
    );

    let broken = PdfRenderer::new().render(&Letter {
        logo: Some(Logo::Png(b"not a png".to_vec())),
        ..sample_letter()
    });
    assert!(matches!(broken, Err(RenderError::Logo(_))), "{broken:?}");
    let broken = PdfRenderer::new().render(&Letter {
        logo: Some(Logo::Svg(b"<svg".to_vec())),
        ..sample_letter()
    });
    assert!(matches!(broken, Err(RenderError::Logo(_))), "{broken:?}");
}

#[test]
fn rendering_is_deterministic() {
    let renderer = PdfRenderer::new();
    let a = renderer.render(&sample_letter()).unwrap();
    let b = renderer.render(&sample_letter()).unwrap();
    assert_eq!(a, b, "no clock or randomness in the PDF");
    let other_day = renderer
        .render(&Letter {
            date: NaiveDate::from_ymd_opt(2027, 1, 2).unwrap(),
            ..sample_letter()
        })
        .unwrap();
    assert_ne!(a.pdf, other_day.pdf);
}

/// Page 1 as RGB pixels: (width, height, bytes).
fn page_one_image(pdf: &[u8], name: &str, dpi: u32) -> (usize, usize, Vec<u8>) {
    let dir = scratch(name);
    let pdf_path = dir.join("letter.pdf");
    std::fs::write(&pdf_path, pdf).unwrap();
    let prefix = dir.join("page");
    run(Command::new("pdftoppm")
        .args([
            "-png",
            "-r",
            &dpi.to_string(),
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
        ])
        .arg(&pdf_path)
        .arg(&prefix));
    decode(&dir.join("page.png"))
}

fn decode(path: &Path) -> (usize, usize, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgb: Vec<u8> = buf
        .chunks(channels)
        .flat_map(|p| match channels {
            1 | 2 => [p[0], p[0], p[0]],
            _ => [p[0], p[1], p[2]],
        })
        .collect();
    (info.width as usize, info.height as usize, rgb)
}

#[test]
fn page_one_looks_like_the_reference() {
    let rendered = render(&sample_letter());
    let (width, height, pixels) = page_one_image(&rendered.pdf, "reference", 60);
    let (ref_width, ref_height, reference) = decode(Path::new(REFERENCE));
    assert_eq!((width, height), (ref_width, ref_height), "page 1 at 60 dpi");

    let mut total = 0u64;
    let mut differing = 0usize;
    for (a, b) in pixels.chunks(3).zip(reference.chunks(3)) {
        let diff: Vec<u8> = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).collect();
        total += diff.iter().map(|d| u64::from(*d)).sum::<u64>();
        if diff.iter().any(|d| *d > 48) {
            differing += 1;
        }
    }
    let mean = total as f64 / pixels.len() as f64;
    let share = differing as f64 / (width * height) as f64;
    println!(
        "mean absolute difference {mean:.4} (of 255), differing pixels {:.4}%",
        share * 100.0
    );
    assert!(
        mean <= 0.5 && share <= 0.002,
        "page 1 differs from {REFERENCE}: mean absolute difference {mean:.4}, differing pixels {:.4}% \
         (if the change is meant, regenerate it: see this file's header)",
        share * 100.0
    );
}

/// Not a check: rewrites the reference image from the sample letter (run with `--ignored`).
#[test]
#[ignore]
fn regenerate_reference() {
    let rendered = render(&sample_letter());
    let dir = scratch("regenerate");
    let pdf_path = dir.join("letter.pdf");
    std::fs::write(&pdf_path, &rendered.pdf).unwrap();
    let reference = Path::new(REFERENCE);
    std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
    run(Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&pdf_path)
        .arg(reference.with_extension("")));
    println!("wrote {REFERENCE}");
}
