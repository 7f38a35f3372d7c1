//! The HTML part of an email: Notify's email layout (tables, since mail clients lay nothing else out reliably),
//! with the banner its branding asks for, the hidden preheader and the rendered body. The markup is in
//! `templates/email_layout.html`, checked by askama at compile time; every value is escaped there but the body,
//! which [`super::email::html_body`] made safe already.

use askama::Template;

use crate::email_branding::Banner;

/// How much of the body a mail client may show beside the subject, as upstream cuts it.
pub const PREHEADER_LENGTH_IN_CHARACTERS: usize = 256;

/// Upstream's colour for a banner or logo mark without one.
const DEFAULT_BRAND_COLOUR: &str = "#0b0c0c";

#[derive(Template)]
#[template(path = "email_layout.html")]
struct EmailLayout<'a> {
    subject: &'a str,
    preheader: &'a str,
    body: &'a str,
    govuk_banner: bool,
    brand_banner: bool,
    brand_colour: Option<&'a str>,
    /// The brand colour or the default, for the banner's background and the logo's mark.
    banner_colour: &'a str,
    brand_logo: Option<&'a str>,
    brand_text: Option<&'a str>,
    /// Empty when text stands beside the logo: the text says it, and the logo is then hidden from screen readers.
    logo_alt: &'a str,
    logo_height: u32,
}

/// The whole HTML document of an email: `subject` (plain text), `markdown` (the filled-in body, for the
/// preheader), `body_html` (that body as [`super::email::html_body`] renders it, with any footer) and `banner`.
pub fn html_document(subject: &str, markdown: &str, body_html: &str, banner: &Banner) -> String {
    let preheader = preheader(markdown);
    let brand_colour = banner.brand_colour.as_ref().map(|c| c.as_str());
    let brand_text = banner.brand_text.as_deref();
    EmailLayout {
        subject,
        preheader: &preheader,
        body: body_html,
        govuk_banner: banner.govuk_banner,
        brand_banner: banner.brand_banner,
        brand_colour,
        banner_colour: brand_colour.unwrap_or(DEFAULT_BRAND_COLOUR),
        brand_logo: banner.brand_logo.as_deref(),
        brand_text,
        logo_alt: if brand_text.is_some() {
            ""
        } else {
            banner.brand_alt_text.as_deref().unwrap_or("")
        },
        logo_height: if brand_text.is_some() { 27 } else { 54 },
    }
    .render()
    .expect("the email layout renders: its values are strings and flags")
}

/// The first words of the body as plain text, which mail clients show after the subject: the markdown's text
/// without its markup, links as their text, on one line with Notify's typography, at most
/// [`PREHEADER_LENGTH_IN_CHARACTERS`] characters.
pub fn preheader(markdown: &str) -> String {
    let text = super::email::plain_words(markdown);
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = words.chars().take(PREHEADER_LENGTH_IN_CHARACTERS).collect();
    super::email::nice_typography(cut.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email_branding::{BrandColour, EmailBranding};
    use crate::model::BrandType;
    use crate::templates::email::html_body;

    const BASE: &str = "https://api.example";

    fn branding(brand_type: BrandType, text: Option<&str>) -> EmailBranding {
        EmailBranding {
            name: "Department of Examples".into(),
            brand_type,
            colour: Some(BrandColour::parse("#5694ca").unwrap()),
            logo: Some("0123abcd.png".into()),
            text: text.map(str::to_string),
            alt_text: text.is_none().then(|| "Department of Examples".to_string()),
        }
    }

    fn document(branding: Option<&EmailBranding>) -> String {
        let markdown = "# Hello\n\nYour **form** is ready: https://example.com/f?a=1&b=2";
        html_document(
            "Your form",
            markdown,
            &html_body(markdown),
            &Banner::for_branding(branding, BASE),
        )
    }

    #[test]
    fn no_branding_is_the_govuk_banner() {
        let html = document(None);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("class=\"notify-govuk-banner\""), "{html}");
        assert!(html.contains("GOV<span style=\"color: #00ffe0;\">.</span>UK"));
        assert!(!html.contains("class=\"notify-brand"));
        assert!(html.contains("<title>Your form</title>"));
        assert!(
            html.contains("<h2>Hello</h2>"),
            "the body is put in as it is"
        );
        assert!(html.contains("href=\"https://example.com/f?a=1&amp;b=2\""));
    }

    #[test]
    fn org_shows_the_logo_with_a_mark_in_its_colour() {
        let html = document(Some(&branding(
            BrandType::Org,
            Some("Department of Examples"),
        )));
        assert!(!html.contains("class=\"notify-govuk-banner\""));
        assert!(!html.contains("class=\"notify-brand-banner\""));
        assert!(html.contains("border-left: 3px solid #5694ca"), "{html}");
        assert!(html.contains(
            "src=\"https://api.example/static/email-logos/0123abcd.png\" height=\"27\" alt=\"\" aria-hidden=\"true\""
        ), "{html}");
        assert!(html.contains("<span class=\"notify-brand-text\">Department of Examples</span>"));
    }

    #[test]
    fn a_logo_without_text_is_larger_and_described_by_its_alt_text() {
        let html = document(Some(&branding(BrandType::Org, None)));
        assert!(
            html.contains("height=\"54\" alt=\"Department of Examples\" border=\"0\""),
            "{html}"
        );
        assert!(!html.contains("notify-brand-text"));
    }

    #[test]
    fn both_is_the_govuk_banner_and_the_logo() {
        let html = document(Some(&branding(BrandType::Both, Some("Examples"))));
        assert!(html.contains("class=\"notify-govuk-banner\""));
        assert!(html.contains("class=\"notify-brand\""));
        assert!(
            html.find("class=\"notify-govuk-banner").unwrap()
                < html.find("class=\"notify-brand\"").unwrap(),
            "the GOV.UK banner comes first"
        );
    }

    #[test]
    fn org_banner_is_a_banner_in_the_brand_colour() {
        let html = document(Some(&branding(BrandType::OrgBanner, Some("Examples"))));
        assert!(html.contains("class=\"notify-brand-banner\""));
        assert!(html.contains("bgcolor=\"#5694ca\""), "{html}");
        assert!(!html.contains("class=\"notify-govuk-banner\""));
        assert!(!html.contains("class=\"notify-brand\""));
        let mut plain = branding(BrandType::OrgBanner, Some("Examples"));
        plain.colour = None;
        assert!(document(Some(&plain)).contains("bgcolor=\"#0b0c0c\""));
    }

    #[test]
    fn an_org_branding_without_a_logo_shows_nothing_above_the_body() {
        let none = EmailBranding {
            name: "No branding".into(),
            brand_type: BrandType::Org,
            colour: None,
            logo: None,
            text: None,
            alt_text: Some("No branding".into()),
        };
        let html = document(Some(&none));
        assert!(!html.contains("class=\"notify-govuk-banner\""));
        assert!(!html.contains("class=\"notify-brand"));
        assert!(!html.contains("<img"));
        assert!(html.contains("<h2>Hello</h2>"));
    }

    #[test]
    fn brand_text_and_alt_text_are_escaped() {
        let mut hostile = branding(BrandType::OrgBanner, Some("<script>alert(1)</script> & Co"));
        let html = document(Some(&hostile));
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        hostile.text = None;
        hostile.alt_text = Some("\" onerror=\"alert(1)".into());
        hostile.brand_type = BrandType::Org;
        let html = document(Some(&hostile));
        assert!(!html.contains("\" onerror=\""), "{html}");
        let subject = html_document("<b>Hi</b>", "x", "<p>x</p>", &Banner::govuk());
        assert!(!subject.contains("<title><b>"), "{subject}");
    }

    #[test]
    fn the_preheader_is_the_body_as_plain_words() {
        let markdown = "# Heading\n\nHello \"Anne\", see [the guide](https://example.com/guide).\n\n* one\n* two\n\n---\n\n^ Inset <b>raw</b>";
        let text = preheader(markdown);
        assert_eq!(
            text,
            "Heading Hello “Anne”, see the guide. one two Inset <b>raw</b>"
        );
        let html = html_document("s", markdown, &html_body(markdown), &Banner::govuk());
        assert!(
            html.contains(">Heading Hello “Anne”, see the guide. one two Inset &#60;b&#62;raw&#60;/b&#62;…</span>")
                || html.contains(">Heading Hello “Anne”, see the guide. one two Inset &lt;b&gt;raw&lt;/b&gt;…</span>"),
            "{html}"
        );
        let long = "word ".repeat(100);
        assert_eq!(preheader(&long).chars().count(), 256);
    }
}
