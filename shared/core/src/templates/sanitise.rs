//! `sanitise_content_for`: what Notify does to the personalisation values a service names there, so that a
//! recipient is never shown a link or markdown the service did not write.
//!
//! Upstream (`sanitise_personalisation_item` in notifications-api's `post_notifications.py`) first replaces every
//! match of notifications-utils' `formatters.url` pattern: a bare dotted name such as `Marie.Curie` is probably an
//! honest typo and only gets a space after each dot, anything else (a scheme, a path, an underscore, a non-ASCII
//! letter) is removed. Then it puts a backslash before every markdown character. The pattern needs look-behind
//! and look-ahead, so it is matched here by hand, with the backtracking order of Python's `re`.

/// Python's `\w` on `str`: letters, digits and the underscore, in any script.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `[\w\-]` of the pattern's (sub)domain labels.
fn is_label(c: char) -> bool {
    is_word(c) || c == '-'
}

/// `(?i)[a-z]`: Python's case-insensitive Unicode match also takes these four letters.
fn is_tld_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '\u{130}' | '\u{131}' | '\u{17F}' | '\u{212A}')
}

/// Python's `\s` on `str`.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Length of `https://` or `http://` (any case) at `at`.
fn scheme_len(chars: &[char], at: usize) -> Option<usize> {
    let matches = |word: &str| {
        word.chars().enumerate().all(|(i, w)| {
            chars
                .get(at + i)
                .is_some_and(|c| c.eq_ignore_ascii_case(&w) || (w == 's' && *c == '\u{17F}'))
        })
    };
    if matches("https://") {
        Some(8)
    } else if matches("http://") {
        Some(7)
    } else {
        None
    }
}

/// `([\w\-]+\.{1})+([a-z]{2,63})(?!\@)\b([/\?#][^<\s]*)?` at `at`: the end of the match.
fn host_and_path(chars: &[char], at: usize) -> Option<usize> {
    // Each label is a whole run of label characters followed by a dot: a shorter run would be followed by
    // another label character, never by the dot. So the only choice is how many labels, most first.
    let mut label_ends = Vec::new();
    let mut i = at;
    loop {
        let run = chars[i.min(chars.len())..]
            .iter()
            .take_while(|c| is_label(**c))
            .count();
        if run == 0 || chars.get(i + run) != Some(&'.') {
            break;
        }
        i += run + 1;
        label_ends.push(i);
    }
    for &tld in label_ends.iter().rev() {
        let letters = chars[tld..]
            .iter()
            .take_while(|c| is_tld_letter(**c))
            .count();
        // A shorter top-level domain would end before another letter, where `\b` cannot hold.
        if !(2..=63).contains(&letters) {
            continue;
        }
        let end = tld + letters;
        match chars.get(end) {
            Some(&c) if c == '@' || is_word(c) => continue,
            Some('/' | '?' | '#') => {
                let path = chars[end + 1..]
                    .iter()
                    .take_while(|c| **c != '<' && !is_space(**c))
                    .count();
                return Some(end + 1 + path);
            }
            _ => return Some(end),
        }
    }
    None
}

/// The end of a match of `formatters.url` starting at `at`, if one does.
fn url_at(chars: &[char], at: usize) -> Option<usize> {
    let first = *chars.get(at)?;
    let before = at.checked_sub(1).map(|i| chars[i]);
    // `\b(?<![\@\.])`
    if before.is_some_and(is_word) == is_word(first) || matches!(before, Some('@' | '.')) {
        return None;
    }
    // `(https?:\/\/)?` is greedy: with the scheme first, then without.
    scheme_len(chars, at)
        .and_then(|n| host_and_path(chars, at + n))
        .or_else(|| host_and_path(chars, at))
}

/// `_sanitise_url`: a bare dotted name keeps its text with a space after each dot; anything else goes.
fn sanitise_url(url: &str) -> String {
    if url
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        url.replace('.', ". ")
    } else {
        String::new()
    }
}

/// Upstream's `sanitise_personalisation_item`.
pub fn sanitise_value(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut without_links = String::with_capacity(value.len());
    let mut i = 0;
    while i < chars.len() {
        match url_at(&chars, i) {
            Some(end) => {
                without_links.push_str(&sanitise_url(&chars[i..end].iter().collect::<String>()));
                i = end;
            }
            None => {
                without_links.push(chars[i]);
                i += 1;
            }
        }
    }
    let mut out = String::with_capacity(without_links.len() * 2);
    for c in without_links.chars() {
        if "`*_(){}[]<>#+-.!|\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitise_value;

    /// The first block is upstream's own table (`test_sanitise_personalisation_item` in notifications-api's
    /// tests/app/v2/notifications/test_post_notifications.py); the rest were worked out by running upstream's
    /// two regular expressions in Python.
    #[test]
    fn sanitised_as_upstream() {
        let cases: &[(&str, &str)] = &[
            (
                r"Amala, please [click this (evil link](https://evil.link)",
                r"Amala, please \[click this \(evil link\]\(\)",
            ),
            (
                "Marie.Curie-Sklodowska is rad",
                r"Marie\. Curie\-Sklodowska is rad",
            ),
            ("https://evil.link and www.evil.link?arg=nam", " and "),
            (
                "evil. link and other-evil. lnk",
                r"evil\. link and other\-evil\. lnk",
            ),
            (
                "https://evil.link and www.evil.link",
                r" and www\. evil\. link",
            ),
            (
                "www.evil.link and https://evil.link",
                r"www\. evil\. link and ",
            ),
            (
                "foo.bar/baz and https://evil.link/foo.bar/bazpwnme",
                " and ",
            ),
            (
                "foo.bar/baz and https://localhost/foo.bar/bazsomething/weird",
                " and https://localhost/",
            ),
            (r"\# Rogue Header", r"\\\# Rogue Header"),
            (r"## Rogue Header", r"\#\# Rogue Header"),
            (
                "# Rogue Header\\\n# Rogue Header",
                "\\# Rogue Header\\\\\n\\# Rogue Header",
            ),
            (r"\\# Rogue Header", r"\\\\\# Rogue Header"),
            (r"Ulica Ceynowy 5\44", r"Ulica Ceynowy 5\\44"),
            (
                r"[żądło rządzi tą pszczołą](to-jest-atak.com)",
                r"\[żądło rządzi tą pszczołą\]\(to\-jest\-atak\. com\)",
            ),
            (r"Ulica Ceynowy 5\\\44", r"Ulica Ceynowy 5\\\\\\44"),
            (r"`*_(){}[]<>#+-.!|", r"\`\*\_\(\)\{\}\[\]\<\>\#\+\-\.\!\|"),
            // Links: the target goes, both brackets and both parentheses stay, escaped.
            (
                "Anne Example, now [click this evil link](https://evil.link)",
                r"Anne Example, now \[click this evil link\]\(\)",
            ),
            (
                "User, [click here](https://evil.link)",
                r"User, \[click here\]\(\)",
            ),
            (
                "[a [b](https://x.y)](https://evil.link)",
                r"\[a \[b\]\(https://x\.y\)\]\(\)",
            ),
            // Nested brackets; a path runs to the next space or `<`, parentheses and all.
            (
                "[[nested] [brackets]](https://evil.link/(x))",
                r"\[\[nested\] \[brackets\]\]\(",
            ),
            // Images.
            (
                "![tracking pixel](https://evil.link/pixel.png)",
                r"\!\[tracking pixel\]\(",
            ),
            ("![alt](evil.link)", r"\!\[alt\]\(evil\. link\)"),
            // Autolinks: an address is not a link (nothing starts after `@` or ends before it).
            ("<https://evil.link>", r"\<\>"),
            ("<evil@evil.link>", r"\<evil@evil\.link\>"),
            (
                "write to anne@example.com today",
                r"write to anne@example\.com today",
            ),
            ("example.com@evil.link", r"example\.com@evil\.link"),
            ("mailto:someone@example.com", r"mailto:someone@example\.com"),
            // Bare URLs: with a path, query or fragment they go; the scheme is optional and any case.
            ("visit www.example.gov.uk/path?q=1#frag now", "visit  now"),
            ("HTTPS://EVIL.LINK/X and Http://a.b.co", " and "),
            ("https://evil.link/path with space", " with space"),
            (
                "url then <tag https://evil.link<b>",
                r"url then \<tag \<b\>",
            ),
            // Only http(s) is part of the match: another scheme keeps its prefix.
            ("ftp://evil.link/file", "ftp://"),
            // Dotted names: a trailing dot ends the name; a label may end in a hyphen.
            ("go to example.com.", r"go to example\. com\."),
            ("example.com-foo", r"example\. com\-foo"),
            ("under_score.com and dash-.com", r" and dash\-\. com"),
            ("café.com and straße.de", " and "),
            // Not names: a one-letter or non-letter top-level domain, one over 63 letters, after `.` or `@`.
            ("a.b", r"a\.b"),
            ("v1.2.3 and 3.14", r"v1\.2\.3 and 3\.14"),
            ("example.c0m", r"example\.c0m"),
            (
                "toolongtld.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
                r"toolongtld\.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
            ),
            (
                "see .hidden.com and @handle.com",
                r"see \.hidden\.com and @handle\.com",
            ),
            // Whitespace around a link stays as it was; a no-break space ends the name.
            (
                "tab\tbefore\u{a0}nbsp https://evil.link\u{a0}after",
                "tab\tbefore\u{a0}nbsp \u{a0}after",
            ),
            // Markdown characters, and the ones upstream leaves alone (`~`, `^`, `=`, `:`).
            (
                "*bold* _em_ `code` ~strike~ ^inset | pipe !bang",
                r"\*bold\* \_em\_ \`code\` ~strike~ ^inset \| pipe \!bang",
            ),
            (
                "1. list\n- item\n+ plus\n> quote",
                "1\\. list\n\\- item\n\\+ plus\n\\> quote",
            ),
            ("5 + 3 = 8 {braces}", r"5 \+ 3 = 8 \{braces\}"),
            // Line endings are the service's.
            ("line one\r\nline two", "line one\r\nline two"),
            ("", ""),
        ];
        for (value, expected) in cases {
            assert_eq!(&sanitise_value(value), expected, "sanitising {value:?}");
        }
    }
}
