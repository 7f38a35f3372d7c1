//! Notify's letter markdown (notifications-utils' letter renderer on top of mistune 0.8), as blocks to lay out.
//!
//! What upstream supports in a letter: `#` headings (one level; `##` and deeper print as paragraphs),
//! paragraphs with every newline kept, bullet (`•`, `*`, `-`) and numbered lists, `---`/`***` as a page break,
//! a paragraph `qr: <data>` as a QR code. Emphasis, code, images and tables are not Notify markdown: their
//! characters print as typed; `[text](link)` prints as typed too, and a bare `http(s)://` address prints in
//! bold without its protocol. The typography upstream applies to the letter (smart quotes, en dashes, no space
//! before `,` or `.`) is applied to the text here.

use crate::MAX_QR_BYTES;

/// Text with a bold flag per character: the only inline styling a letter has.
pub type Inline = Vec<(char, bool)>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Heading(Inline),
    Paragraph(Inline),
    List { ordered: bool, items: Vec<Inline> },
    PageBreak,
    Qr(String),
}

pub fn parse(body: &str) -> Vec<Block> {
    let normalised = body.replace("\r\n", "\n").replace('\r', "\n");
    // A block quote (`^ `) prints as its paragraphs: upstream's renderer returns the quote's content unwrapped.
    let lines: Vec<&str> = normalised
        .lines()
        .map(|line| match line.trim_start().strip_prefix('^') {
            Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
            None => line,
        })
        .collect();

    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if is_hrule(line) {
            blocks.push(Block::PageBreak);
            i += 1;
            continue;
        }
        if let Some((level, text)) = atx_heading(line) {
            blocks.push(heading_or_paragraph(level, text));
            i += 1;
            continue;
        }
        if list_item(line).is_none()
            && let Some(level) = lines.get(i + 1).and_then(|next| setext_underline(next))
        {
            blocks.push(heading_or_paragraph(level, trimmed));
            i += 2;
            continue;
        }
        if let Some((ordered, first)) = list_item(line) {
            let mut items = vec![first.to_string()];
            i += 1;
            while i < lines.len() {
                let line = lines[i];
                if line.trim().is_empty() {
                    // A blank line ends the list unless another item follows it.
                    let next = lines[i..].iter().find(|l| !l.trim().is_empty());
                    match next {
                        Some(next) if list_item(next).is_some() => {
                            i += 1;
                            continue;
                        }
                        _ => break,
                    }
                }
                if is_hrule(line) || atx_heading(line).is_some() {
                    break;
                }
                match list_item(line) {
                    Some((_, text)) => items.push(text.to_string()),
                    None => {
                        let item = items.last_mut().expect("a list has its first item");
                        item.push('\n');
                        item.push_str(line.trim());
                    }
                }
                i += 1;
            }
            blocks.push(Block::List {
                ordered,
                items: items.iter().map(|item| inline(item)).collect(),
            });
            continue;
        }

        let mut paragraph = vec![trimmed];
        i += 1;
        while i < lines.len() {
            let line = lines[i];
            let setext_next = lines
                .get(i + 1)
                .and_then(|next| setext_underline(next))
                .is_some();
            if line.trim().is_empty()
                || is_hrule(line)
                || atx_heading(line).is_some()
                || list_item(line).is_some()
                || setext_next
            {
                break;
            }
            paragraph.push(line.trim());
            i += 1;
        }
        let text = paragraph.join("\n");
        match qr_data(&text) {
            Some(data) => blocks.push(Block::Qr(data.to_string())),
            None => blocks.push(Block::Paragraph(inline(&text))),
        }
    }
    blocks
}

/// The data of a `qr:` paragraph longer than a printable code allows, if the body has one.
pub fn first_qr_too_long(body: &str) -> bool {
    parse(body)
        .iter()
        .any(|block| matches!(block, Block::Qr(data) if data.len() > MAX_QR_BYTES))
}

/// Upstream: `^\s*qr\s*:\s*(.+)` matched against the whole (single-line) paragraph, any case.
fn qr_data(paragraph: &str) -> Option<&str> {
    if paragraph.contains('\n') {
        return None;
    }
    let rest = paragraph.trim_start();
    let prefix = rest.get(..2)?;
    if !prefix.eq_ignore_ascii_case("qr") {
        return None;
    }
    let data = rest[2..].trim_start().strip_prefix(':')?.trim();
    (!data.is_empty()).then_some(data)
}

fn heading_or_paragraph(level: usize, text: &str) -> Block {
    if level == 1 {
        Block::Heading(inline(text))
    } else {
        Block::Paragraph(inline(text))
    }
}

/// mistune's `^ {0,3}[-*_](?: *[-*_]){2,} *$`.
fn is_hrule(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = line.trim();
    if indent > 3 {
        return false;
    }
    let mut marks = rest.chars().filter(|c| *c != ' ');
    let Some(first) = marks.next() else {
        return false;
    };
    matches!(first, '-' | '*' | '_')
        && rest.chars().filter(|c| *c != ' ').count() >= 3
        && marks.all(|c| c == first)
}

/// mistune's `^ *(#{1,6}) *([^\n]+?) *#* *$`: no space is needed after the hashes.
fn atx_heading(line: &str) -> Option<(usize, &str)> {
    let rest = line.trim_start_matches(' ');
    let level = rest.len() - rest.trim_start_matches('#').len();
    if level == 0 || level > 6 {
        return None;
    }
    let text = rest[level..].trim().trim_end_matches('#').trim_end();
    (!text.is_empty()).then_some((level, text))
}

/// A line of `=` (a level 1 heading above it) or `-` (level 2) under a line of text.
fn setext_underline(line: &str) -> Option<usize> {
    let rest = line.trim();
    if rest.is_empty() {
        return None;
    }
    if rest.chars().all(|c| c == '=') {
        Some(1)
    } else if rest.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

/// `• item`, `* item`, `- item` or `1. item`: whether the list is numbered, and the item's text.
fn list_item(line: &str) -> Option<(bool, &str)> {
    let rest = line.trim_start();
    for bullet in ['•', '*', '-'] {
        if let Some(text) = rest.strip_prefix(bullet)
            && text.starts_with([' ', '\t'])
            && !is_hrule(line)
        {
            return Some((false, text.trim()));
        }
    }
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0
        && let Some(text) = rest[digits..].strip_prefix('.')
        && text.starts_with([' ', '\t'])
    {
        return Some((true, text.trim()));
    }
    None
}

/// Inline Notify markdown to styled characters: escapes, literal links, bold bare URLs, typography.
fn inline(text: &str) -> Inline {
    let text = typography(&unescape(text));
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        if rest.starts_with('[')
            && let Some(len) = literal_link_len(rest)
        {
            out.extend(rest[..len].chars().map(|c| (c, false)));
            rest = &rest[len..];
            continue;
        }
        if let Some((protocol, len)) = url_at(rest) {
            out.extend(rest[protocol..len].chars().map(|c| (c, true)));
            rest = &rest[len..];
            continue;
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push((c, false));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of `[text](link)` at the start, which upstream prints as typed.
fn literal_link_len(text: &str) -> Option<usize> {
    let close = text.find(']')?;
    let after = &text[close + 1..];
    let inner = after.strip_prefix('(')?;
    let end = inner.find(')')?;
    Some(close + 2 + end + 1)
}

/// mistune's URL rule as upstream set it (`https?://[^\s<]+[^<.,:"')\]\s]`): the protocol's length and the
/// URL's length, if a URL starts here.
fn url_at(text: &str) -> Option<(usize, usize)> {
    let protocol = if text.starts_with("https://") {
        8
    } else if text.starts_with("http://") {
        7
    } else {
        return None;
    };
    let run = text[protocol..]
        .find(|c: char| c.is_whitespace() || c == '<')
        .map_or(text.len(), |end| protocol + end);
    let url = text[..run].trim_end_matches(['.', ',', ':', '"', '\'', ')', ']']);
    (url.len() > protocol).then_some((protocol, url.len()))
}

/// Markdown's backslash escapes: the character prints without its backslash.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && "\\`*{}[]()#+-.!_>~|".contains(next)
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// Upstream's `do_nice_typography` for letters: no spaces before `,` or `.`, smart quotes, and a spaced hyphen
/// (or dash) as a spaced en dash.
pub fn typography(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' {
            let start = i;
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            let dashes = chars[i..]
                .iter()
                .take_while(|c| matches!(c, '-' | '–' | '—'))
                .count();
            let after_dashes = chars.get(i + dashes).copied();
            let preceded_by_text = start > 0 && !chars[start - 1].is_whitespace();
            if (1..=3).contains(&dashes)
                && preceded_by_text
                && after_dashes.is_some_and(|c| c == ' ' || c == '\t')
            {
                out.push_str(" \u{2013} ");
                i += dashes;
                while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                    i += 1;
                }
                continue;
            }
            if matches!(chars.get(i), Some(',' | '.')) && preceded_by_text {
                continue;
            }
            out.extend(&chars[start..i]);
            continue;
        }
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let opens =
            previous.is_none_or(|p| p.is_whitespace() || "([{\u{2013}\u{2014}-".contains(p));
        match c {
            '"' => out.push(if opens { '\u{201C}' } else { '\u{201D}' }),
            '\'' => {
                let next_is_text = chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
                out.push(if opens && next_is_text {
                    '\u{2018}'
                } else {
                    '\u{2019}'
                });
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(inline: &Inline) -> String {
        inline.iter().map(|(c, _)| *c).collect()
    }

    fn bold(inline: &Inline) -> String {
        inline.iter().filter(|(_, b)| *b).map(|(c, _)| *c).collect()
    }

    #[test]
    fn blocks_of_a_letter() {
        let blocks = parse(
            "# Your appointment\n\nLine one\nline two\n\n* first\n* second\ncontinued\n\nThen\n\n1. one\n2. two\n\n---\n\n## Not a heading\n\nqr: https://example.com/a\n\n***\nlast",
        );
        assert_eq!(blocks.len(), 10, "{blocks:?}");
        assert!(matches!(&blocks[0], Block::Heading(h) if plain(h) == "Your appointment"));
        assert!(matches!(&blocks[1], Block::Paragraph(p) if plain(p) == "Line one\nline two"));
        match &blocks[2] {
            Block::List {
                ordered: false,
                items,
            } => {
                assert_eq!(items.len(), 2);
                assert_eq!(plain(&items[1]), "second\ncontinued");
            }
            other => panic!("not a bullet list: {other:?}"),
        }
        assert!(matches!(&blocks[4], Block::List { ordered: true, items } if items.len() == 2));
        assert_eq!(blocks[5], Block::PageBreak);
        assert!(matches!(&blocks[6], Block::Paragraph(p) if plain(p) == "Not a heading"));
        assert_eq!(blocks[7], Block::Qr("https://example.com/a".into()));
        assert_eq!(blocks[8], Block::PageBreak);
        assert!(matches!(&blocks[9], Block::Paragraph(p) if plain(p) == "last"));
    }

    #[test]
    fn a_blank_line_between_items_keeps_one_list_as_mistune_does() {
        let blocks = parse("* a\n\n* b\n\n1. c\n\nafter");
        assert_eq!(blocks.len(), 2, "{blocks:?}");
        assert!(matches!(&blocks[0], Block::List { ordered: false, items } if items.len() == 3));
    }

    #[test]
    fn setext_headings_and_a_dash_line_under_text() {
        let blocks = parse("Title\n=====\n\nSmall\n---\n\n---");
        assert!(matches!(&blocks[0], Block::Heading(h) if plain(h) == "Title"));
        assert!(matches!(&blocks[1], Block::Paragraph(p) if plain(p) == "Small"));
        assert_eq!(blocks[2], Block::PageBreak);
        assert_eq!(blocks.len(), 3);
    }

    #[test]
    fn qr_paragraphs_as_upstream_matches_them() {
        assert_eq!(parse(" QR : data here ")[0], Block::Qr("data here".into()));
        assert!(matches!(&parse("qr: a\nb")[0], Block::Paragraph(_)));
        assert!(matches!(&parse("qrcode")[0], Block::Paragraph(_)));
    }

    #[test]
    fn urls_in_bold_without_protocol_and_links_as_typed() {
        let blocks =
            parse("Visit https://www.gov.uk/apply. Or [here](https://example.com) \\*now\\*");
        let Block::Paragraph(p) = &blocks[0] else {
            panic!("{blocks:?}")
        };
        assert_eq!(
            plain(p),
            "Visit www.gov.uk/apply. Or [here](https://example.com) *now*"
        );
        assert_eq!(bold(p), "www.gov.uk/apply");
    }

    #[test]
    fn typography_as_upstream() {
        assert_eq!(typography("Hello , world ."), "Hello, world.");
        assert_eq!(typography("a - b"), "a \u{2013} b");
        assert_eq!(typography("well-known"), "well-known");
        assert_eq!(
            typography("\"Quote\" isn't"),
            "\u{201C}Quote\u{201D} isn\u{2019}t"
        );
        assert_eq!(typography("'single'"), "\u{2018}single\u{2019}");
    }

    #[test]
    fn too_long_qr_codes_are_found() {
        assert!(!first_qr_too_long(&format!(
            "qr: {}",
            "a".repeat(MAX_QR_BYTES)
        )));
        assert!(first_qr_too_long(&format!(
            "Hello\n\nQr:{}",
            "é".repeat(MAX_QR_BYTES / 2 + 1)
        )));
    }
}
