//! Text messages: whitespace rules, the downgrade to GSM-7 (keeping Welsh letters), length and fragments.

use unicode_normalization::UnicodeNormalization;

pub const SMS_CHAR_COUNT_LIMIT: usize = 918;

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED: &str = "^{}\\[~]|€";
/// Welsh letters Notify keeps although GSM-7 lacks them; they switch a message to the 70-character encoding.
const WELSH_NON_GSM: &str = "ÂâÊêÎîÔôÛûŴŵŶŷÁáÍíÓóÚúẀẁẂẃẄẅỲỳÝýËëÏïÀÈèÌìÒòÙù";

fn is_gsm(c: char) -> bool {
    GSM_BASIC.contains(c) || GSM_EXTENDED.contains(c)
}

fn is_welsh_non_gsm(c: char) -> bool {
    WELSH_NON_GSM.contains(c) && !GSM_BASIC.contains(c)
}

fn downgrade_char(c: char, out: &mut String) {
    match c {
        _ if is_gsm(c) || is_welsh_non_gsm(c) => out.push(c),
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
        '\t' | '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2009}' => out.push(' '),
        '–' | '—' | '‒' | '−' | '‐' | '‑' => out.push('-'),
        '‘' | '’' | '‚' | '′' | '`' => out.push('\''),
        '“' | '”' | '„' | '″' => out.push('"'),
        '…' => out.push_str("..."),
        '•' => out.push('-'),
        _ => {
            let base = c
                .nfd()
                .next()
                .filter(|b| *b != c && b.is_ascii() && is_gsm(*b));
            out.push(base.unwrap_or('?'));
        }
    }
}

pub fn downgrade(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        downgrade_char(c, &mut out);
    }
    out
}

/// Notify's `normalise_whitespace_and_newlines` + `normalise_multiple_newlines` + strip, after the downgrade.
pub fn normalise(text: &str) -> String {
    let downgraded = downgrade(text);
    let mut no_space_before_punctuation = String::with_capacity(downgraded.len());
    let chars: Vec<char> = downgraded.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if (*c == ' ') && {
            let next = chars[i..].iter().find(|n| **n != ' ');
            matches!(next, Some(',') | Some('.'))
        } {
            continue;
        }
        no_space_before_punctuation.push(*c);
    }
    let lines: Vec<String> = no_space_before_punctuation
        .split('\n')
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut joined = lines.join("\n");
    while joined.contains("\n\n\n") {
        joined = joined.replace("\n\n\n", "\n\n");
    }
    joined.trim().to_string()
}

/// Characters as Notify counts them for the 918 limit: UTF-16 code units.
pub fn character_count(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Billable fragments, counted on the text as sent (with the service-name prefix).
pub fn fragment_count(text: &str) -> i32 {
    let n = if text.chars().any(is_welsh_non_gsm) {
        let n = text.chars().count();
        return if n <= 70 { 1 } else { n.div_ceil(67) as i32 };
    } else {
        text.chars().count() + text.chars().filter(|c| GSM_EXTENDED.contains(*c)).count()
    };
    if n <= 160 { 1 } else { n.div_ceil(153) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downgrades_to_gsm() {
        assert_eq!(
            downgrade("“Quotes” – dash… ą ☃"),
            "\"Quotes\" - dash... a ?"
        );
        assert_eq!(downgrade("Ŵ é"), "Ŵ é");
    }

    #[test]
    fn whitespace_rules() {
        assert_eq!(
            normalise("  Hello   there ,\tyou .\n\n\n\nBye  "),
            "Hello there, you.\n\nBye"
        );
    }

    #[test]
    fn fragments() {
        assert_eq!(fragment_count(&"a".repeat(160)), 1);
        assert_eq!(fragment_count(&"a".repeat(161)), 2);
        assert_eq!(fragment_count(&"a".repeat(306)), 2);
        assert_eq!(fragment_count(&"a".repeat(307)), 3);
        assert_eq!(fragment_count(&format!("{}{}", "a".repeat(159), "€")), 2);
        assert_eq!(fragment_count(&"ŵ".repeat(70)), 1);
        assert_eq!(fragment_count(&"ŵ".repeat(71)), 2);
    }
}
