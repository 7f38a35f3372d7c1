//! Notify's one datetime format on the wire: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.

use chrono::{DateTime, Utc};

pub fn format(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn format_opt(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn six_fraction_digits_and_literal_z() {
        let at = Utc.with_ymd_and_hms(2017, 5, 14, 12, 15, 30).unwrap();
        assert_eq!(format(at), "2017-05-14T12:15:30.000000Z");
    }
}
