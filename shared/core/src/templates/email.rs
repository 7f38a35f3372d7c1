//! Email: plain-text subject typography and Notify's markdown dialect rendered to HTML.

use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};
use regex::Regex;

static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"https?://[^\s<>()]+[^\s<>().,;:!?]").expect("valid regex"));
static INLINE_MARKUP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([*_`~])").expect("valid regex"));
static LIST_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\s*)([*\-•]|[0-9]+\.)(\s+)(.*)$").expect("valid regex"));

/// Curly quotes and en dashes, as Notify's `do_nice_typography`.
pub fn nice_typography(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    let mut double_open = false;
    for c in text.chars() {
        match c {
            '\'' => out.push(if previous.is_none_or(char::is_whitespace) {
                '‘'
            } else {
                '’'
            }),
            '"' => {
                double_open = !double_open;
                out.push(if double_open { '“' } else { '”' });
            }
            _ => out.push(c),
        }
        previous = Some(c);
    }
    out.replace(" - ", " – ").replace(" -- ", " – ")
}

/// A subject is one line.
pub fn subject(text: &str) -> String {
    nice_typography(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Notify's markdown has no emphasis, bold, strikethrough or inline code: those characters stay literal. `•`
/// bullets are lists and `^` lines are inset text.
fn preprocess(markdown: &str) -> String {
    markdown
        .replace("\r\n", "\n")
        .split('\n')
        .map(|line| {
            if let Some(rest) = line.strip_prefix('^') {
                return format!("> {}", INLINE_MARKUP.replace_all(rest.trim_start(), r"\$1"));
            }
            if line.trim() == "---" || line.trim() == "***" {
                return "---".to_string();
            }
            if let Some(c) = LIST_MARKER.captures(line) {
                let marker = if &c[2] == "•" { "*" } else { &c[2] };
                return format!(
                    "{}{}{}{}",
                    &c[1],
                    marker,
                    &c[3],
                    INLINE_MARKUP.replace_all(&c[4], r"\$1")
                );
            }
            INLINE_MARKUP.replace_all(line, r"\$1").into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The HTML body of an email. Raw HTML in a template is shown as text, never passed through.
pub fn html_body(markdown: &str) -> String {
    let source = preprocess(markdown);
    let mut in_link = false;
    let mut events: Vec<Event<'_>> = Vec::new();
    for event in Parser::new_ext(&source, Options::empty()) {
        match event {
            Event::Start(Tag::Link { .. }) => {
                in_link = true;
                events.push(event);
            }
            Event::End(TagEnd::Link) => {
                in_link = false;
                events.push(event);
            }
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => {
                let level = match level {
                    HeadingLevel::H1 => HeadingLevel::H2,
                    HeadingLevel::H2 => HeadingLevel::H3,
                    _ => {
                        events.push(Event::Start(Tag::Paragraph));
                        continue;
                    }
                };
                events.push(Event::Start(Tag::Heading {
                    level,
                    id,
                    classes,
                    attrs,
                }));
            }
            Event::End(TagEnd::Heading(level)) => match level {
                HeadingLevel::H1 => events.push(Event::End(TagEnd::Heading(HeadingLevel::H2))),
                HeadingLevel::H2 => events.push(Event::End(TagEnd::Heading(HeadingLevel::H3))),
                _ => events.push(Event::End(TagEnd::Paragraph)),
            },
            Event::SoftBreak => events.push(Event::HardBreak),
            Event::Html(raw) | Event::InlineHtml(raw) => events.push(Event::Text(raw)),
            Event::Text(text) if !in_link => {
                let mut last = 0;
                for m in URL.find_iter(&text) {
                    if m.start() > last {
                        events.push(Event::Text(CowStr::from(text[last..m.start()].to_string())));
                    }
                    let url = m.as_str().to_string();
                    events.push(Event::InlineHtml(CowStr::from(format!(
                        "<a href=\"{}\">{}</a>",
                        escape_html(&url).replace('"', "&quot;"),
                        escape_html(&url)
                    ))));
                    last = m.end();
                }
                if last < text.len() {
                    events.push(Event::Text(CowStr::from(text[last..].to_string())));
                }
            }
            other => events.push(other),
        }
    }
    let mut out = String::new();
    html::push_html(&mut out, events.into_iter());
    // Stops mail clients turning the name into a link.
    out.replace("GOV.UK", "GOV.\u{200B}UK")
        .trim_end()
        .to_string()
}

/// The words of the body without markdown's markup, each block ending in a space: links keep their text (not
/// their address), rules and raw HTML's tags as typed stay (the layout escapes them). What the preheader is cut from.
pub fn plain_words(markdown: &str) -> String {
    let source = preprocess(markdown);
    let mut out = String::new();
    for event in Parser::new_ext(&source, Options::empty()) {
        match event {
            Event::Text(text) | Event::Code(text) | Event::Html(text) | Event::InlineHtml(text) => {
                out.push_str(&text)
            }
            Event::End(TagEnd::Link) => {}
            Event::SoftBreak | Event::HardBreak | Event::End(_) => out.push(' '),
            _ => {}
        }
    }
    out
}

/// The unsubscribe link under an email's body (upstream's "Unsubscribe from these emails" after a rule).
pub fn unsubscribe_footer_html(url: &str) -> String {
    format!(
        "\n<hr />\n<p><a href=\"{}\">Unsubscribe from these emails</a></p>",
        escape_html(url).replace('"', "&quot;")
    )
}

/// The text part of an email: the markdown source itself, which reads well as plain text.
pub fn plain_text_body(markdown: &str) -> String {
    let mut text = markdown.replace("\r\n", "\n");
    // A list value brings its own blank line; the template usually has one too.
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_markdown() {
        let html = html_body(
            "# Title\n\nHello *not emphasis* and <b>raw</b>\nnext line\n\n• one\n• two\n\n^ inset\n\nhttps://example.com/x.",
        );
        assert!(html.contains("<h2>Title</h2>"), "{html}");
        assert!(
            html.contains("Hello *not emphasis* and &lt;b&gt;raw&lt;/b&gt;<br />"),
            "{html}"
        );
        assert!(
            html.contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
            "{html}"
        );
        assert!(html.contains("<blockquote>"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.com/x\">https://example.com/x</a>."),
            "{html}"
        );
    }

    #[test]
    fn subjects_are_one_line_with_nice_typography() {
        assert_eq!(subject("It's  here - \"now\"\n"), "It’s here – “now”");
    }
}
