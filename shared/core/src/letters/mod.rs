//! Letter rules with no I/O: which print run a letter belongs to (the 17:30 London cut-off), its file name.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Europe::London;
use uuid::Uuid;

use crate::model::Postage;

pub mod dvla_callback;
pub mod guardduty;

/// Where a precompiled letter is kept as uploaded (the bucket GuardDuty watches, in AWS): what is scanned, and
/// what `GET /v2/notifications/{id}/pdf` serves once it passed the scan.
pub fn precompiled_upload_key(notification_id: Uuid) -> String {
    format!("precompiled/{notification_id}.pdf")
}

/// The notification a precompiled upload key names.
pub fn notification_of_upload_key(key: &str) -> Option<Uuid> {
    key.strip_prefix("precompiled/")?
        .strip_suffix(".pdf")?
        .parse()
        .ok()
}

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

/// How a letter's postage is named in its file name (upstream's `RESOLVE_POSTAGE_FOR_FILE_NAME`).
fn postage_in_file_name(postage: Postage) -> &'static str {
    match postage {
        Postage::First => "1",
        Postage::Second => "2",
        Postage::Economy => "ECONOMY",
        Postage::Europe => "E",
        Postage::RestOfWorld => "N",
    }
}

/// The key of a letter's PDF in the file store, as upstream names it:
/// `{print day}/NOTIFY.{REFERENCE}.D.{postage}.C.{created_at UTC, YYYYMMDDHHMMSS}.PDF`. Test-key letters are never
/// printed, so they have no print-day folder (upstream keeps them in a bucket of their own, without one).
pub fn pdf_file_key(
    reference: &str,
    created_at: DateTime<Utc>,
    postage: Postage,
    test_key: bool,
) -> String {
    let folder = if test_key {
        String::new()
    } else {
        format!("{}/", print_day(created_at).format("%Y-%m-%d"))
    };
    format!(
        "{folder}NOTIFY.{}.D.{}.C.{}.PDF",
        reference.to_uppercase(),
        postage_in_file_name(postage),
        created_at.format("%Y%m%d%H%M%S")
    )
}

/// A letter's 16-character reference (upstream's `create_random_identifier`: capital letters and digits), made
/// from `seed`'s random bits: the printer's `businessIdentifier`, the file name, and what returned-letter reports
/// name.
pub fn letter_reference(seed: Uuid) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    seed.as_bytes()
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
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
    }

    #[test]
    fn file_keys_are_named_as_upstream_names_them() {
        let created = utc("2026-12-01T17:45:09Z");
        assert_eq!(
            pdf_file_key("abcdefghijklmnop", created, Postage::Second, false),
            "2026-12-02/NOTIFY.ABCDEFGHIJKLMNOP.D.2.C.20261201174509.PDF"
        );
        let summer = utc("2026-06-01T09:00:00Z");
        for (postage, name) in [
            (Postage::First, "1"),
            (Postage::Economy, "ECONOMY"),
            (Postage::Europe, "E"),
            (Postage::RestOfWorld, "N"),
        ] {
            assert_eq!(
                pdf_file_key("REF", summer, postage, false),
                format!("2026-06-01/NOTIFY.REF.D.{name}.C.20260601090000.PDF")
            );
        }
        assert_eq!(
            pdf_file_key("REF", summer, Postage::Second, true),
            "NOTIFY.REF.D.2.C.20260601090000.PDF"
        );
    }

    #[test]
    fn references_are_sixteen_capitals_and_digits() {
        let reference = letter_reference(Uuid::new_v4());
        assert_eq!(reference.len(), 16);
        assert!(
            reference
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        let seed = Uuid::new_v4();
        assert_eq!(letter_reference(seed), letter_reference(seed));
    }
}
