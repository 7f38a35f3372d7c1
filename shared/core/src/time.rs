//! Notify's one datetime format on the wire: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.

use chrono::{DateTime, Utc};

pub fn format(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn format_opt(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(format)
}

/// Left unspent before the Lambda deadline: the batch in hand finishes and the run reports before it is killed.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The budget of a run invoked with this deadline (the Lambda context's, milliseconds since the epoch). A nightly
/// job gets nearly the function's whole timeout (900 s), so a day's backlog clears in one run rather than in the
/// slice of it that a fixed budget would allow.
pub fn budget_before(deadline_ms: u64) -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    std::time::Duration::from_millis(deadline_ms)
        .saturating_sub(now)
        .saturating_sub(DEADLINE_MARGIN)
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
