//! Email addresses as Notify accepts them (utils `email_address.py`).

use std::sync::LazyLock;

use regex::Regex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress {
    as_submitted: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Not a valid email address")]
pub struct InvalidEmail;

static SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+@([^.@][^@\s]+)$").expect("valid regex")
});
static LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$").expect("valid regex"));
static TLD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$").expect("valid regex")
});

const INVISIBLE: [char; 4] = ['\u{200B}', '\u{200C}', '\u{FEFF}', '\u{00A0}'];

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let cleaned: String = input
            .trim()
            .chars()
            .filter(|c| !INVISIBLE.contains(c))
            .collect();
        let Some(captures) = SHAPE.captures(&cleaned) else {
            return Err(InvalidEmail);
        };
        if cleaned.chars().count() > 320 || cleaned.contains("..") {
            return Err(InvalidEmail);
        }
        let host = idna::domain_to_ascii(&captures[1]).map_err(|_| InvalidEmail)?;
        if host.len() > 253 {
            return Err(InvalidEmail);
        }
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.len() > 63 || !LABEL.is_match(l))
        {
            return Err(InvalidEmail);
        }
        if !TLD.is_match(labels[labels.len() - 1]) {
            return Err(InvalidEmail);
        }
        Ok(EmailAddress {
            as_submitted: input.trim().to_string(),
        })
    }

    pub fn as_submitted(&self) -> &str {
        &self.as_submitted
    }

    /// How guest lists and simulated addresses are compared.
    pub fn normalised(&self) -> String {
        self.as_submitted.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_unusual_addresses() {
        for ok in [
            "test@example.com",
            "first.o'last@example.co.uk",
            "a+tag@sub.example.gov.uk",
            "email@123.com",
            "test@xn--bcher-kva.com",
            "  padded@example.com  ",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_notify_rejects() {
        for bad in [
            "",
            "plainaddress",
            "@no-local.com",
            "two@@example.com",
            "dots..in@example.com",
            "no-tld@example",
            "trailing-hyphen@example-.com",
            "space in@example.com",
            "x@example.c",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(InvalidEmail), "{bad}");
        }
    }
}
