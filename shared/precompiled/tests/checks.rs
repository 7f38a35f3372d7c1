//! Every sample through the checks: the code upstream gives it, the pages it names, the address it reads.

use std::io::Write;
use std::process::{Command, Stdio};

use notify_precompiled::{FailureCode, Invalid, MAX_PAGES, check, samples, unembedded_fonts};

fn invalid(pdf: &[u8]) -> Invalid {
    match check(pdf) {
        Ok(checked) => panic!(
            "expected a failure, the letter passed: {:?}",
            checked.address_lines
        ),
        Err(invalid) => invalid,
    }
}

/// Text of one page as poppler reads it (the tool the templated letters' tests use too).
fn pdftotext(pdf: &[u8], page: u32) -> String {
    let mut child = Command::new("pdftotext")
        .args([
            "-f",
            &page.to_string(),
            "-l",
            &page.to_string(),
            "-layout",
            "-",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pdf)
        .expect("pdftotext reads");
    let out = child.wait_with_output().expect("pdftotext finishes");
    assert!(out.status.success(), "pdftotext read the file");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_clean_letter_passes_with_its_address_lines() {
    let checked = check(&samples::letter(samples::ADDRESS, 1)).expect("the clean letter passes");
    assert_eq!(
        checked.address_lines,
        ["Ms A Smith", "1 High Street", "London", "SW1A 1AA"]
    );
    assert_eq!(checked.page_count, 1);
}

#[test]
fn the_address_is_read_whatever_it_says() {
    for address in [
        &[][..],
        &["Ms A Smith", "SW1A 1AA"][..],
        &["Ms A Smith", "1 High Street", "London", "XX1 1XX"][..],
        &["Herr A Schmidt", "Hauptstraße 1", "10115 Berlin", "Germany"][..],
        &["1", "2", "3", "4", "5", "6", "7", "8"][..],
    ] {
        let checked = check(&samples::letter(address, 1)).expect("only the address differs");
        assert_eq!(checked.address_lines, address);
    }
}

#[test]
fn a_ten_page_letter_passes_and_eleven_pages_are_too_long() {
    let checked = check(&samples::letter(samples::ADDRESS, MAX_PAGES)).expect("ten pages pass");
    assert_eq!(checked.page_count, 10);
    let too_long = invalid(&samples::letter(samples::ADDRESS, MAX_PAGES + 1));
    assert_eq!(too_long.code, FailureCode::LetterTooLong);
    assert_eq!(too_long.page_count, Some(11));
    assert_eq!(too_long.code.as_str(), "letter-too-long");
}

#[test]
fn a3_and_landscape_are_not_a4_portrait() {
    for pdf in [samples::a3(), samples::landscape()] {
        let failure = invalid(&pdf);
        assert_eq!(failure.code, FailureCode::NotA4PortraitOriented);
        assert_eq!(failure.invalid_pages, [1]);
        assert_eq!(failure.page_count, Some(1));
    }
}

#[test]
fn ink_in_the_margin_names_its_page() {
    for page in [1, 2] {
        let failure = invalid(&samples::ink_in_margin(page));
        assert_eq!(failure.code, FailureCode::ContentOutsidePrintableArea);
        assert_eq!(failure.invalid_pages, [page]);
        assert_eq!(failure.page_count, Some(2));
    }
}

#[test]
fn a_notify_tag_after_page_one_is_refused() {
    let failure = invalid(&samples::notify_tag_on_page_2());
    assert_eq!(failure.code, FailureCode::NotifyTagFoundInContent);
    assert_eq!(failure.invalid_pages, [2]);
}

#[test]
fn an_unreadable_file_is_unreadable() {
    let pdf = samples::unreadable();
    assert!(pdf.starts_with(b"%PDF-"));
    let failure = invalid(&pdf);
    assert_eq!(failure.code, FailureCode::UnableToReadTheFile);
    assert_eq!(failure.page_count, None);
    assert_eq!(invalid(b"").code, FailureCode::UnableToReadTheFile);
}

#[test]
fn the_eicar_letter_carries_the_test_string_and_is_otherwise_clean() {
    let pdf = samples::with_eicar();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        pdf.windows(samples::eicar().len())
            .any(|w| w == samples::eicar())
    );
    assert_eq!(
        check(&pdf)
            .expect("clean apart from the virus")
            .address_lines,
        samples::ADDRESS
    );
}

#[test]
fn the_printers_copy_has_the_tag_on_page_one_and_checks_clean_again() {
    let original = samples::letter(samples::ADDRESS, 2);
    assert!(!pdftotext(&original, 1).contains("NOTIFY"));
    let checked = check(&original).expect("clean");
    let first_page = pdftotext(&checked.pdf, 1);
    assert!(
        first_page.trim_start().starts_with("NOTIFY"),
        "{first_page}"
    );
    assert!(!pdftotext(&checked.pdf, 2).contains("NOTIFY"));
    assert!(unembedded_fonts(&checked.pdf).is_empty());

    let again = check(&checked.pdf).expect("the printer's copy is clean");
    assert_eq!(again.address_lines, samples::ADDRESS);
    assert_eq!(again.page_count, 2);
    // Already tagged: passed on as it is, not tagged twice.
    assert_eq!(again.pdf, checked.pdf);
}

/// A PDF written by hand, as simpler letter software writes one: the standard Helvetica, not embedded.
fn hand_written(media_box: &str, rotate: Option<i32>, content: &str) -> Vec<u8> {
    hand_written_with_trailer(media_box, rotate, content, "")
}

fn hand_written_with_trailer(
    media_box: &str,
    rotate: Option<i32>,
    content: &str,
    trailer: &str,
) -> Vec<u8> {
    hand_written_with_fonts(
        media_box,
        rotate,
        content,
        trailer,
        &["<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"],
    )
}

/// A hand-written PDF whose page names `fonts` (font dictionaries) /F1, /F2, ….
fn hand_written_with_fonts(
    media_box: &str,
    rotate: Option<i32>,
    content: &str,
    trailer: &str,
    fonts: &[&str],
) -> Vec<u8> {
    let rotate = rotate.map(|r| format!("/Rotate {r} ")).unwrap_or_default();
    let font_names: String = (1..=fonts.len())
        .map(|n| format!("/F{n} {} 0 R ", n + 4))
        .collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!("<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [{media_box}] >>"),
        format!(
            "<< /Type /Page /Parent 2 0 R {rotate}/Resources << /Font << {font_names}>> >> /Contents 4 0 R >>"
        ),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len() + 1
        ),
    ];
    objects.extend(fonts.iter().map(|font| (*font).to_owned()));
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (object, number) in objects.iter().zip(1..) {
        offsets.push(pdf.len());
        pdf.extend(format!("{number} 0 obj\n{object}\nendobj\n").bytes());
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer}>>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    pdf
}

const A4_BOX: &str = "0 0 595.28 841.89";

#[test]
fn text_in_an_unembedded_standard_font_is_read_and_seen() {
    // The address window's first line at 26 mm from the left, 45 mm from the top (PDF y runs upwards).
    let address = "BT /F1 9 Tf 73.7 714.3 Td (Mr B Jones) Tj 0 -11 Td (2 Low Road) Tj 0 -11 Td (Leeds LS1 1AA) Tj ET";
    let pdf = hand_written(A4_BOX, None, address);
    let checked = check(&pdf).expect("clean");
    assert_eq!(
        checked.address_lines,
        ["Mr B Jones", "2 Low Road", "Leeds LS1 1AA"]
    );
    assert_eq!(unembedded_fonts(&pdf), ["Helvetica"]);

    // 3 mm from the left edge: outside the border, and drawn only because the rasteriser substitutes Helvetica.
    let margin = hand_written(A4_BOX, None, "BT /F1 9 Tf 8.5 400 Td (x) Tj ET");
    assert_eq!(
        invalid(&margin).code,
        FailureCode::ContentOutsidePrintableArea
    );
}

#[test]
fn landscape_turned_by_rotate_is_portrait_and_a4_within_2_mm() {
    assert!(check(&hand_written("0 0 841.89 595.28", Some(90), "")).is_ok());
    assert!(check(&hand_written("0 0 841.89 595.28", Some(270), "")).is_ok());
    let turned_portrait = invalid(&hand_written(A4_BOX, Some(90), ""));
    assert_eq!(turned_portrait.code, FailureCode::NotA4PortraitOriented);
    // 2 mm is 5.67 points: 1.9 mm over passes, 2.1 mm over fails.
    assert!(check(&hand_written("0 0 600.67 841.89", None, "")).is_ok());
    assert_eq!(
        invalid(&hand_written("0 0 601.23 841.89", None, "")).code,
        FailureCode::NotA4PortraitOriented
    );
}

/// `pdffonts`' table, one line per font.
fn pdffonts(pdf: &[u8]) -> Vec<String> {
    let out = Command::new("pdffonts")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().expect("stdin").write_all(pdf)?;
            child.wait_with_output()
        })
        .expect("pdffonts (poppler-utils) runs");
    assert!(out.status.success(), "pdffonts read the file");
    let listing = String::from_utf8(out.stdout).expect("utf-8");
    listing.lines().skip(2).map(str::to_owned).collect()
}

#[test]
fn the_printers_copy_embeds_the_tags_font() {
    let checked = check(&samples::letter(samples::ADDRESS, 1)).expect("clean");
    let fonts = pdffonts(&checked.pdf);
    let listing = fonts.join("\n");
    // The letter's own subset and the tag's.
    assert_eq!(fonts.len(), 2, "{listing}");
    assert!(fonts.iter().all(|f| f.contains(" yes ")), "{listing}");
}

#[test]
fn an_encrypted_file_is_unreadable() {
    // RC4 40-bit standard security: the handler's dictionary in the trailer, as any encrypting writer leaves it.
    let encrypt = "/Encrypt << /Filter /Standard /V 1 /R 2 /Length 40 /P -44 \
        /O <4f05a4a4a1c06d9f3dbd1d8a1ac6ae1f6b1a8b5dc7e0b0d1ebd4c0e2f1a2b3c4> \
        /U <a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90> >> \
        /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] ";
    let pdf = hand_written_with_trailer(A4_BOX, None, "", encrypt);
    assert!(
        check(&hand_written(A4_BOX, None, "")).is_ok(),
        "the same file unencrypted"
    );
    let failure = invalid(&pdf);
    assert_eq!(failure.code, FailureCode::UnableToReadTheFile);
}

const HELVETICA_LETTER: &str = "BT /F1 9 Tf 73.7 714.3 Td (Mr B Jones) Tj 0 -11 Td (2 Low Road) Tj \
    0 -11 Td (Leeds LS1 1AA) Tj ET BT /F2 12 Tf 73.7 500 Td (Dear Mr Jones, it's \\(nearly\\) Wednesday) Tj ET";

#[test]
fn unembedded_helvetica_is_printed_in_embedded_liberation_sans() {
    // Helvetica with WinAnsi and no widths (as the standard 14 may be written); Helvetica-Bold with no encoding
    // (its own StandardEncoding) and widths of its own, which must survive.
    let bold_widths: String = (32..=126).map(|_| "600 ").collect();
    let bold = format!(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /FirstChar 32 /LastChar 126 /Widths [{bold_widths}] >>"
    );
    let pdf = hand_written_with_fonts(
        A4_BOX,
        None,
        HELVETICA_LETTER,
        "",
        &[
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
            &bold,
        ],
    );
    assert_eq!(unembedded_fonts(&pdf), ["Helvetica", "Helvetica-Bold"]);
    let checked = check(&pdf).expect("clean");
    assert_eq!(
        checked.address_lines,
        ["Mr B Jones", "2 Low Road", "Leeds LS1 1AA"]
    );

    assert!(unembedded_fonts(&checked.pdf).is_empty());
    let fonts = pdffonts(&checked.pdf);
    let listing = fonts.join("\n");
    for name in ["LiberationSans ", "LiberationSans-Bold "] {
        let line = fonts
            .iter()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} listed: {listing}"));
        assert!(line.contains(" TrueType "), "{listing}");
        assert!(line.contains(" yes "), "{name} embedded: {listing}");
    }
    assert!(fonts.iter().all(|f| f.contains(" yes ")), "{listing}");

    let text = |pdf: &[u8]| {
        pdftotext(pdf, 1)
            .replace("NOTIFY", "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(text(&checked.pdf), text(&pdf));
    // StandardEncoding's 39 is a closing quote, in the original and in the printer's copy alike.
    assert!(
        text(&pdf).contains("it\u{2019}s (nearly) Wednesday"),
        "{}",
        text(&pdf)
    );

    let document = lopdf::Document::load_mem(&checked.pdf).expect("lopdf reads the printer's copy");
    let bold = document
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .find(|d| d.get(b"BaseFont").and_then(|n| n.as_name()).ok() == Some(b"LiberationSans-Bold"))
        .expect("the bold font");
    let kept: Vec<i64> = bold
        .get(b"Widths")
        .and_then(|w| w.as_array())
        .expect("widths")
        .iter()
        .map(|w| w.as_i64().expect("a width"))
        .collect();
    assert_eq!(kept, vec![600; 95], "the file's own widths are kept");

    let again = check(&checked.pdf).expect("the printer's copy is clean");
    assert_eq!(again.address_lines, checked.address_lines);
    assert_eq!(
        again.pdf, checked.pdf,
        "tagged and embedded: passed on as it is"
    );
}

#[test]
fn other_unembedded_fonts_stay_as_they_are() {
    let pdf = hand_written_with_fonts(
        A4_BOX,
        None,
        "BT /F1 9 Tf 73.7 714.3 Td (Mr B Jones) Tj 0 -11 Td (2 Low Road) Tj ET",
        "",
        &["<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /WinAnsiEncoding >>"],
    );
    let checked = check(&pdf).expect("clean");
    // A documented limit: we ship no font metric-compatible with Times.
    assert_eq!(unembedded_fonts(&checked.pdf), ["Times-Roman"]);
    assert_eq!(checked.address_lines, ["Mr B Jones", "2 Low Road"]);
}
