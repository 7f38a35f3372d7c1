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
        pdf.windows(samples::EICAR.len())
            .any(|w| w == samples::EICAR)
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
