//! Letter rules with no I/O: which print run a letter belongs to (the 17:30 London cut-off), its file name.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Europe::London;

/// Letters created before 17:30 London time go to print that evening; later ones the next day.
pub const PRINT_CUT_OFF: NaiveTime = match NaiveTime::from_hms_opt(17, 30, 0) {
    Some(t) => t,
    None => panic!("17:30 is a time"),
};

/// The London calendar day of `at`.
pub fn london_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&London).date_naive()
}

/// The day whose print run takes a letter created at `created_at` (upstream's folder date): its London date,
/// or the next day when it was created at or after 17:30.
pub fn print_day(created_at: DateTime<Utc>) -> NaiveDate {
    let local = created_at.with_timezone(&London);
    let date = local.date_naive();
    if local.time() >= PRINT_CUT_OFF {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    }
}

/// When the print run of `day` starts: 17:30 London that day.
pub fn print_deadline(day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    let naive = day.and_time(PRINT_CUT_OFF);
    London
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| naive.and_utc())
}

/// `1 December 2026`: the date paragraph of an English letter.
pub fn english_date(day: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
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
    format!(
        "{} {} {}",
        day.day(),
        MONTHS[day.month0() as usize],
        day.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_print_day_turns_at_half_past_five_london_time() {
        // Winter: London is UTC.
        assert_eq!(
            print_day(utc("2026-12-01T17:29:59Z")).to_string(),
            "2026-12-01"
        );
        assert_eq!(
            print_day(utc("2026-12-01T17:30:00Z")).to_string(),
            "2026-12-02"
        );
        // Summer: 17:30 BST is 16:30 UTC.
        assert_eq!(
            print_day(utc("2026-06-01T16:29:59Z")).to_string(),
            "2026-06-01"
        );
        assert_eq!(
            print_day(utc("2026-06-01T16:30:00Z")).to_string(),
            "2026-06-02"
        );
        // Just after midnight London in summer is still the previous UTC day.
        assert_eq!(
            london_date(utc("2026-06-01T23:30:00Z")).to_string(),
            "2026-06-02"
        );
        assert_eq!(
            print_deadline("2026-06-01".parse().unwrap()),
            utc("2026-06-01T16:30:00Z")
        );
        assert_eq!(
            english_date("2026-12-01".parse().unwrap()),
            "1 December 2026"
        );
    }
}
