//! Timestamps as the two Twilio APIs write them.
//!
//! Timestamps are kept as whole seconds since the Unix epoch (UTC). Voice v1 writes them as
//! `2020-03-18T23:31:36Z` and API 2010 as `Mon, 20 Jul 2015 17:27:10 +0000`; the SDKs parse both
//! with exact format strings, so no other shape may ever be emitted.

use serde::{Serialize, Serializer};

/// A Voice v1 date field: serialised as `2020-03-18T23:31:36Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Date(pub i64);

/// An API 2010 date field: serialised as `Mon, 20 Jul 2015 17:27:10 +0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2010Date(pub i64);

impl Serialize for V1Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&iso8601(self.0))
    }
}

impl Serialize for V2010Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc2822(self.0))
    }
}

/// Splits a Unix time into (year, month 1–12, day 1–31, hour, minute, second, weekday 0=Sunday).
fn civil(ts: i64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
        weekday,
    )
}

/// Voice v1 form: `2020-03-18T23:31:36Z`.
pub fn iso8601(ts: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ts);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// API 2010 form: `Mon, 20 Jul 2015 17:27:10 +0000`.
pub fn rfc2822(ts: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(ts);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[wd],
        MONTHS[mo as usize - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_spec_examples() {
        assert_eq!(iso8601(1_584_574_296), "2020-03-18T23:31:36Z");
        assert_eq!(rfc2822(1_437_413_230), "Mon, 20 Jul 2015 17:27:10 +0000");
        assert_eq!(rfc2822(1_438_286_400), "Thu, 30 Jul 2015 20:00:00 +0000");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
