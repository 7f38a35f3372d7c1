//! Postal addresses for letters (utils `postal_address.py`), with the v2 API's messages in its order.

use std::sync::LazyLock;

use regex::Regex;

use crate::model::Postage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostalZone {
    Uk,
    Europe,
    RestOfWorld,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostalAddress {
    /// Normalised lines, postcode or country last.
    lines: Vec<String>,
    zone: PostalZone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("Address must be at least 3 lines")]
    TooFewLines,
    #[error("Address must be no more than 7 lines")]
    TooManyLines,
    #[error(
        "The first 2 lines of the address must both include at least one alphanumeric character"
    )]
    NoAlphanumeric,
    #[error("The last line of a BFPO address must not be a country.")]
    BfpoWithCountry,
    #[error("Last line of address must be a real UK postcode or another country")]
    NotPostcodeOrCountry,
    #[error("Must be a real UK postcode")]
    NotUkPostcode,
    #[error(
        "Address lines must not start with any of the following characters: @ ( ) = [ ] ” \\ / , < >"
    )]
    InvalidCharacters,
    #[error("Must be a real address")]
    NoFixedAbode,
    /// Not upstream's (whose database refuses a NUL with a 500): a control character cannot be printed, and
    /// Postgres cannot store a NUL.
    #[error("Address lines must not contain control characters")]
    ControlCharacters,
}

impl AddressError {
    /// Upstream's code for this error when the address was read from a precompiled letter (template preview's
    /// `PrecompiledPostalAddress.error_code`). Two of its codes need more than the error: `address-is-empty`
    /// (no text at all in the window) and `cant-send-international-letters` (a real country, where the service
    /// may not send abroad) are told apart by the caller, which has the lines.
    pub fn precompiled_code(self) -> &'static str {
        match self {
            AddressError::TooFewLines => "not-enough-address-lines",
            AddressError::TooManyLines => "too-many-address-lines",
            AddressError::NoAlphanumeric => "invalid-address-line-1-or-2",
            AddressError::BfpoWithCountry => "has-country-for-bfpo-address",
            AddressError::NotPostcodeOrCountry => "not-a-real-uk-postcode-or-country",
            AddressError::NotUkPostcode => "not-a-real-uk-postcode",
            AddressError::InvalidCharacters => "invalid-char-in-address",
            AddressError::NoFixedAbode => "no-fixed-abode-address",
            AddressError::ControlCharacters => "invalid-char-in-address",
        }
    }
}

const AREAS: &str = "AB|AL|B|BA|BB|BD|BF|BH|BL|BN|BR|BS|BT|BX|CA|CB|CF|CH|CM|CO|CR|CT|CV|CW|DA|DD|DE|DG|DH|DL|DN|DT|DY|\
    E|EC|EH|EN|EX|FK|FY|G|GL|GU|GY|HA|HD|HG|HP|HR|HS|HU|HX|IG|IM|IP|IV|JE|KA|KT|KW|KY|L|LA|LD|LE|LL|LN|LS|LU|M|ME|\
    MK|ML|N|NE|NG|NN|NP|NR|NW|OL|OX|PA|PE|PH|PL|PO|PR|RG|RH|RM|S|SA|SE|SG|SK|SL|SM|SN|SO|SP|SR|SS|ST|SW|SY|TA|TD|\
    TF|TN|TQ|TR|TS|TW|UB|W|WA|WC|WD|WF|WN|WR|WS|WV|YO|ZE";

static POSTCODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?:GIR0AA|(?:{AREAS})[0-9][0-9A-Z]?[0-9][ABD-HJLNP-UW-Z]{{2}})$"
    ))
    .expect("valid regex")
});
static BFPO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(c/o\s+)?bfpo\s*[0-9]+$").expect("valid regex"));
static NO_FIXED_ABODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^nfa$|no\s+fixed\s+(abode|address)").expect("valid regex"));

/// Country names (lower case) in Royal Mail's Europe zone; other recognised countries are rest of world.
const EUROPE: &[&str] = &[
    "albania",
    "andorra",
    "armenia",
    "austria",
    "azerbaijan",
    "belarus",
    "belgium",
    "bosnia and herzegovina",
    "bulgaria",
    "croatia",
    "cyprus",
    "czechia",
    "czech republic",
    "denmark",
    "estonia",
    "faroe islands",
    "finland",
    "france",
    "georgia",
    "germany",
    "gibraltar",
    "greece",
    "greenland",
    "hungary",
    "iceland",
    "ireland",
    "italy",
    "kazakhstan",
    "kosovo",
    "kyrgyzstan",
    "latvia",
    "liechtenstein",
    "lithuania",
    "luxembourg",
    "malta",
    "moldova",
    "monaco",
    "montenegro",
    "netherlands",
    "north macedonia",
    "norway",
    "poland",
    "portugal",
    "romania",
    "russia",
    "san marino",
    "serbia",
    "slovakia",
    "slovenia",
    "spain",
    "sweden",
    "switzerland",
    "tajikistan",
    "turkey",
    "turkmenistan",
    "ukraine",
    "uzbekistan",
    "vatican city",
];
const REST_OF_WORLD: &[&str] = &[
    "argentina",
    "australia",
    "bangladesh",
    "brazil",
    "canada",
    "chile",
    "china",
    "colombia",
    "egypt",
    "ghana",
    "hong kong",
    "india",
    "indonesia",
    "israel",
    "jamaica",
    "japan",
    "kenya",
    "malaysia",
    "mexico",
    "new zealand",
    "nigeria",
    "pakistan",
    "peru",
    "philippines",
    "saudi arabia",
    "singapore",
    "south africa",
    "south korea",
    "sri lanka",
    "thailand",
    "united arab emirates",
    "united states",
    "united states of america",
    "usa",
    "vietnam",
    "zimbabwe",
];
const UK: &[&str] = &[
    "uk",
    "united kingdom",
    "great britain",
    "england",
    "scotland",
    "wales",
    "northern ireland",
    "gb",
];

fn zone_of(line: &str) -> Option<PostalZone> {
    let key = line.trim().trim_end_matches('.').to_lowercase();
    if UK.contains(&key.as_str()) {
        Some(PostalZone::Uk)
    } else if EUROPE.contains(&key.as_str()) {
        Some(PostalZone::Europe)
    } else if REST_OF_WORLD.contains(&key.as_str()) {
        Some(PostalZone::RestOfWorld)
    } else {
        None
    }
}

fn normalise_line(line: &str) -> String {
    let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let collapsed = collapsed.replace(" ,", ",").replace(" .", ".");
    collapsed.trim_end_matches([',', ' ']).to_string()
}

pub fn normalise_postcode(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

pub fn is_uk_postcode(line: &str) -> bool {
    POSTCODE.is_match(&normalise_postcode(line))
}

impl PostalAddress {
    /// `lines` are the submitted `address_line_1`… values in order (postcode or `address_line_7` last).
    pub fn parse(raw_lines: &[String], allow_international: bool) -> Result<Self, AddressError> {
        let mut lines: Vec<String> = raw_lines
            .iter()
            .map(|l| normalise_line(l))
            .filter(|l| !l.is_empty())
            .collect();
        // A trailing "United Kingdom" says nothing a postcode does not.
        if lines.len() > 1 && lines.last().and_then(|l| zone_of(l)) == Some(PostalZone::Uk) {
            lines.pop();
        }
        if lines.len() < 3 {
            return Err(AddressError::TooFewLines);
        }
        if lines.len() > 7 {
            return Err(AddressError::TooManyLines);
        }
        if !lines
            .iter()
            .take(2)
            .all(|l| l.chars().any(char::is_alphanumeric))
        {
            return Err(AddressError::NoAlphanumeric);
        }
        let last = lines.last().cloned().unwrap_or_default();
        let is_bfpo = lines.iter().any(|l| BFPO.is_match(l));
        let country = zone_of(&last);
        if is_bfpo && country.is_some() {
            return Err(AddressError::BfpoWithCountry);
        }
        let zone = if is_bfpo {
            PostalZone::Uk
        } else if is_uk_postcode(&last) {
            let postcode = normalise_postcode(&last);
            let (outward, inward) = postcode.split_at(postcode.len() - 3);
            *lines.last_mut().expect("at least 3 lines") = format!("{outward} {inward}");
            PostalZone::Uk
        } else if let (Some(zone), true) = (country, allow_international) {
            zone
        } else if allow_international {
            return Err(AddressError::NotPostcodeOrCountry);
        } else {
            return Err(AddressError::NotUkPostcode);
        };
        if lines.iter().any(|l| {
            l.starts_with([
                '@', '(', ')', '=', '[', ']', '"', '\\', '/', ',', '<', '>', '~', '”',
            ])
        }) {
            return Err(AddressError::InvalidCharacters);
        }
        // What whitespace normalising left: NUL and the other control characters.
        if lines.iter().any(|l| l.chars().any(char::is_control)) {
            return Err(AddressError::ControlCharacters);
        }
        if lines.iter().any(|l| NO_FIXED_ABODE.is_match(l)) {
            return Err(AddressError::NoFixedAbode);
        }
        Ok(PostalAddress { lines, zone })
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn zone(&self) -> PostalZone {
        self.zone
    }

    /// International letters go at the zone's rate whatever the template says.
    pub fn postage(&self, template_postage: Option<Postage>) -> Postage {
        match self.zone {
            PostalZone::Europe => Postage::Europe,
            PostalZone::RestOfWorld => Postage::RestOfWorld,
            PostalZone::Uk => template_postage.unwrap_or(Postage::Second),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str], international: bool) -> Result<PostalAddress, AddressError> {
        PostalAddress::parse(
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            international,
        )
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            parse(&["The Occupier", "123 High\u{0} Street", "SW1A 1AA"], false),
            Err(AddressError::ControlCharacters)
        );
        // Tabs and newlines are whitespace, normalised away as before.
        assert!(parse(&["The\tOccupier", "123 High\nStreet", "SW1A 1AA"], false).is_ok());
    }

    #[test]
    fn uk_address_with_normalised_postcode() {
        let address = parse(&["The Occupier", "123 High Street ,", "sw1a1aa"], false).unwrap();
        assert_eq!(
            address.lines(),
            ["The Occupier", "123 High Street", "SW1A 1AA"]
        );
        assert_eq!(address.postage(Some(Postage::First)), Postage::First);
    }

    #[test]
    fn errors_in_order() {
        assert_eq!(parse(&["a", "b"], false), Err(AddressError::TooFewLines));
        assert_eq!(
            parse(&["a", "b", "c", "d", "e", "f", "g", "SW1A 1AA"], false),
            Err(AddressError::TooManyLines)
        );
        assert_eq!(
            parse(&["---", "b", "SW1A 1AA"], false),
            Err(AddressError::NoAlphanumeric)
        );
        assert_eq!(
            parse(&["a", "b", "not a postcode"], false),
            Err(AddressError::NotUkPostcode)
        );
        assert_eq!(
            parse(&["a", "b", "not a postcode"], true),
            Err(AddressError::NotPostcodeOrCountry)
        );
        assert_eq!(
            parse(&["a", "=b", "SW1A 1AA"], false),
            Err(AddressError::InvalidCharacters)
        );
        assert_eq!(
            parse(&["NFA", "b", "SW1A 1AA"], false),
            Err(AddressError::NoFixedAbode)
        );
        assert_eq!(
            parse(&["a", "BFPO 1234", "France"], true),
            Err(AddressError::BfpoWithCountry)
        );
    }

    #[test]
    fn precompiled_codes_are_upstreams() {
        assert_eq!(
            parse(&["a", "b"], false).unwrap_err().precompiled_code(),
            "not-enough-address-lines"
        );
        assert_eq!(
            parse(&["a", "b", "not a postcode"], false)
                .unwrap_err()
                .precompiled_code(),
            "not-a-real-uk-postcode"
        );
        assert_eq!(
            parse(&["NFA", "b", "SW1A 1AA"], false)
                .unwrap_err()
                .precompiled_code(),
            "no-fixed-abode-address"
        );
    }

    #[test]
    fn international_zones() {
        assert_eq!(
            parse(&["a", "b", "France"], true).unwrap().postage(None),
            Postage::Europe
        );
        assert_eq!(
            parse(&["a", "b", "Japan"], true).unwrap().postage(None),
            Postage::RestOfWorld
        );
        assert_eq!(
            parse(&["a", "b", "Japan"], false),
            Err(AddressError::NotUkPostcode)
        );
    }
}
