//! Phone numbers with libphonenumber (the `phonenumber` port), following Notify's rules and legacy messages.

use phonenumber::metadata::DATABASE;
use phonenumber::{ParseError, Type, country};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneError {
    InvalidNumber,
    TooLong,
    TooShort,
    NotAUkMobile,
    UnknownCharacter,
    UnsupportedCountryCode,
}

impl PhoneError {
    /// The texts the v2 API has always used.
    pub fn legacy_message(self) -> &'static str {
        match self {
            PhoneError::InvalidNumber => {
                "Number is not valid – double check the phone number you entered"
            }
            PhoneError::TooLong => "Too many digits",
            PhoneError::TooShort => "Not enough digits",
            PhoneError::NotAUkMobile => "Not a UK mobile number",
            PhoneError::UnknownCharacter => "Must not contain letters or symbols",
            PhoneError::UnsupportedCountryCode => "Not a valid country prefix",
        }
    }
}

impl std::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.legacy_message())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber {
    /// As submitted, trimmed: what `phone_number` reads back as.
    as_submitted: String,
    /// E.164 without the `+`, e.g. `447700900123`.
    normalised: String,
    country_code: u16,
    region: Option<String>,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Mobile,
    Landline,
    /// Ofcom's drama range, which libphonenumber calls invalid but Notify accepts.
    TvNumber,
}

const CROWN_DEPENDENCIES: [&str; 3] = ["JE", "GG", "IM"];

impl PhoneNumber {
    /// Syntax only: landlines and international numbers are allowed here; [`PhoneNumber::check_allowed`] applies a
    /// service's permissions.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let as_submitted = input.trim().to_string();
        match parse_once(input) {
            Ok(number) => Ok(PhoneNumber {
                as_submitted,
                ..number
            }),
            Err(first) => {
                // A second chance for `0+447…`, `000007700…`, `+07700…` and the like.
                let thorough: String = input.replace('+', "");
                let thorough = thorough.trim().trim_start_matches('0');
                if thorough == input.trim() {
                    return Err(first);
                }
                parse_once(thorough)
                    .map(|number| PhoneNumber {
                        as_submitted,
                        ..number
                    })
                    .map_err(|_| first)
            }
        }
    }

    pub fn as_submitted(&self) -> &str {
        &self.as_submitted
    }

    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    pub fn country_code(&self) -> u16 {
        self.country_code
    }

    /// Jersey, Guernsey and the Isle of Man are international for billing but UK for permissions.
    pub fn is_uk_for_permissions(&self) -> bool {
        self.country_code == 44
    }

    pub fn is_international(&self) -> bool {
        self.kind != Kind::TvNumber && self.region.as_deref() != Some("GB")
    }

    pub fn is_crown_dependency(&self) -> bool {
        self.region
            .as_deref()
            .is_some_and(|r| CROWN_DEPENDENCIES.contains(&r))
    }

    pub fn phone_prefix(&self) -> String {
        self.country_code.to_string()
    }

    /// Notify bills international texts as several UK ones; without the full table every other country is
    /// billed as one, which errs towards the service.
    pub fn rate_multiplier(&self) -> f64 {
        1.0
    }

    pub fn check_allowed(
        &self,
        allow_international: bool,
        allow_uk_landline: bool,
    ) -> Result<(), PhoneError> {
        if !self.is_uk_for_permissions() && !allow_international {
            return Err(PhoneError::NotAUkMobile);
        }
        if self.is_uk_for_permissions() && self.kind == Kind::Landline && !allow_uk_landline {
            return Err(PhoneError::NotAUkMobile);
        }
        Ok(())
    }
}

fn parse_once(input: &str) -> Result<PhoneNumber, PhoneError> {
    let allowed =
        |c: char| c.is_ascii_digit() || c.is_whitespace() || "()-+\u{200B}\u{FEFF}".contains(c);
    if !input.chars().all(allowed) {
        return Err(PhoneError::UnknownCharacter);
    }
    let compact: String = input
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    if !compact.chars().any(|c| c.is_ascii_digit()) {
        return Err(PhoneError::TooShort);
    }
    let number = match phonenumber::parse(Some(country::Id::GB), &compact) {
        Ok(number) => number,
        Err(ParseError::TooLong) => return Err(PhoneError::TooLong),
        Err(ParseError::TooShortNsn | ParseError::TooShortAfterIdd | ParseError::NoNumber) => {
            // libphonenumber gives up on what it reads as a short national number; try it as international.
            return parse_international(&compact)
                .ok_or(PhoneError::TooShort)
                .and_then(classify);
        }
        Err(ParseError::InvalidCountryCode) => return Err(PhoneError::UnsupportedCountryCode),
        Err(_) => return Err(PhoneError::InvalidNumber),
    };
    let number = match possibility(&number) {
        Ok(()) => number,
        Err(reason) => match parse_international(&compact) {
            Some(forced) => return classify(forced),
            None => return Err(reason),
        },
    };
    classify(number)
}

fn parse_international(compact: &str) -> Option<phonenumber::PhoneNumber> {
    let forced = format!("+{}", compact.trim_start_matches('+'));
    let number = phonenumber::parse(None, forced).ok()?;
    possibility(&number).ok().map(|()| number)
}

/// libphonenumber's "is possible" check, with its reasons mapped to Notify's errors.
fn possibility(number: &phonenumber::PhoneNumber) -> Result<(), PhoneError> {
    let Some(meta) = DATABASE
        .by_code(&number.code().value())
        .and_then(|m| m.into_iter().next())
    else {
        return Err(PhoneError::UnsupportedCountryCode);
    };
    let length = number.national().to_string().len() as u16;
    // The general descriptor's lengths are often left empty in the metadata: take every type's.
    let d = meta.descriptors();
    let typed = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    let mut possible: Vec<u16> = d.general().possible_length().to_vec();
    let mut local: Vec<u16> = d.general().possible_local_length().to_vec();
    for desc in typed.into_iter().flatten() {
        possible.extend_from_slice(desc.possible_length());
        local.extend_from_slice(desc.possible_local_length());
    }
    possible.sort_unstable();
    possible.dedup();
    match (possible.first(), possible.last()) {
        _ if local.contains(&length) && !possible.contains(&length) => Err(PhoneError::TooShort),
        (Some(&min), _) if length < min => Err(PhoneError::TooShort),
        (_, Some(&max)) if length > max => Err(PhoneError::TooLong),
        _ if possible.contains(&length) => Ok(()),
        _ => Err(PhoneError::InvalidNumber),
    }
}

fn classify(number: phonenumber::PhoneNumber) -> Result<PhoneNumber, PhoneError> {
    let code = number.code().value();
    let national = number.national().to_string();
    let normalised = format!("{code}{national}");
    let region = number.country().id().map(|id| id.as_ref().to_string());
    let is_tv = code == 44 && national.len() == 10 && national.starts_with("7700");
    let kind = if is_tv {
        Kind::TvNumber
    } else if !number.is_valid() {
        return Err(PhoneError::InvalidNumber);
    } else {
        match number.number_type(&DATABASE) {
            Type::Mobile | Type::PersonalNumber => Kind::Mobile,
            Type::FixedLineOrMobile if code != 44 => Kind::Mobile,
            Type::FixedLine | Type::FixedLineOrMobile | Type::Uan => Kind::Landline,
            _ => return Err(PhoneError::InvalidNumber),
        }
    };
    Ok(PhoneNumber {
        as_submitted: String::new(),
        normalised,
        country_code: code,
        region,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(input: &str) -> String {
        PhoneNumber::parse(input)
            .unwrap_or_else(|e| panic!("{input}: {e}"))
            .normalised()
            .to_string()
    }

    #[test]
    fn uk_mobiles_in_every_spelling() {
        for input in [
            "07700900123",
            "07700 900123",
            "+447700900123",
            "447700900123",
            "(07700) 900-123",
            "0+447700900123",
            "+07700900123",
            "0044 7700 900123",
            "07123456789",
        ] {
            let expected = if input == "07123456789" {
                "447123456789"
            } else {
                "447700900123"
            };
            assert_eq!(normalised(input), expected, "{input}");
        }
    }

    #[test]
    fn international_numbers() {
        let number = PhoneNumber::parse("+1 202 555 0104").unwrap();
        assert_eq!(number.normalised(), "12025550104");
        assert!(number.is_international());
        assert_eq!(
            number.check_allowed(false, false),
            Err(PhoneError::NotAUkMobile)
        );
        assert_eq!(number.check_allowed(true, false), Ok(()));
    }

    #[test]
    fn tv_numbers_are_uk_mobiles() {
        let number = PhoneNumber::parse("07700900000").unwrap();
        assert!(!number.is_international());
        assert_eq!(number.check_allowed(false, false), Ok(()));
    }

    #[test]
    fn landlines_need_permission() {
        let number = PhoneNumber::parse("020 7946 0000").unwrap();
        assert_eq!(
            number.check_allowed(true, false),
            Err(PhoneError::NotAUkMobile)
        );
        assert_eq!(number.check_allowed(true, true), Ok(()));
    }

    #[test]
    fn legacy_errors() {
        assert_eq!(
            PhoneNumber::parse("0770090012a"),
            Err(PhoneError::UnknownCharacter)
        );
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::TooShort));
        assert_eq!(PhoneNumber::parse("0770090"), Err(PhoneError::TooShort));
        assert_eq!(
            PhoneNumber::parse("077009001234567890"),
            Err(PhoneError::TooLong)
        );
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn unsupported_country_codes_and_invalid_numbers() {
        assert_eq!(
            PhoneNumber::parse("+999 1234 56789"),
            Err(PhoneError::UnsupportedCountryCode)
        );
        assert_eq!(
            PhoneNumber::parse("0909 876 5432"),
            Err(PhoneError::InvalidNumber),
            "premium rate"
        );
        assert_eq!(
            PhoneError::InvalidNumber.legacy_message(),
            "Number is not valid – double check the phone number you entered"
        );
    }
}
