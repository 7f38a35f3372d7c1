//! The date paragraph, as upstream prints it (`%-d {month} %Y`), with Welsh month names in the Welsh part.
//! Written here rather than taken from notify-core so that this crate stays a leaf.

use chrono::{Datelike, NaiveDate};

use crate::Language;

const ENGLISH_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WELSH_MONTHS: [&str; 12] = [
    "Ionawr",
    "Chwefror",
    "Mawrth",
    "Ebrill",
    "Mai",
    "Mehefin",
    "Gorffennaf",
    "Awst",
    "Medi",
    "Hydref",
    "Tachwedd",
    "Rhagfyr",
];

/// The month's name in `language` (the cancel message's "on 5 January" uses it too).
pub fn month_name(date: NaiveDate, language: Language) -> &'static str {
    let months = match language {
        Language::English => &ENGLISH_MONTHS,
        Language::Welsh => &WELSH_MONTHS,
    };
    months[date.month0() as usize]
}

pub fn letter_date(date: NaiveDate, language: Language) -> String {
    format!(
        "{} {} {}",
        date.day(),
        month_name(date, language),
        date.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_welsh_dates() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(letter_date(date, Language::English), "1 December 2026");
        assert_eq!(letter_date(date, Language::Welsh), "1 Rhagfyr 2026");
        let date = NaiveDate::from_ymd_opt(2027, 7, 23).unwrap();
        assert_eq!(letter_date(date, Language::Welsh), "23 Gorffennaf 2027");
    }
}
