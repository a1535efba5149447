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
        let mut buf = [0; ISO8601_LEN];
        match write_iso8601(self.0, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&iso8601(self.0)),
        }
    }
}

impl Serialize for V2010Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; RFC2822_LEN];
        match write_rfc2822(self.0, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&rfc2822(self.0)),
        }
    }
}

/// `2020-03-18T23:31:36Z`
const ISO8601_LEN: usize = 20;
/// `Mon, 20 Jul 2015 17:27:10 +0000`
const RFC2822_LEN: usize = 31;

/// Writes `n` as decimal digits filling `out` (leading zeros; `n` must fit).
fn put_digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The date of `ts` (its year 0 to 9999) in the Voice v1 form, written into `buf` without the
/// formatting machinery (a list page writes two per row); `None` for any other year.
fn write_iso8601(ts: i64, buf: &mut [u8; ISO8601_LEN]) -> Option<&str> {
    let (y, mo, d, h, mi, s, _) = civil(ts);
    let y = u32::try_from(y).ok().filter(|y| *y <= 9999)?;
    *buf = *b"0000-00-00T00:00:00Z";
    put_digits(&mut buf[0..4], y);
    put_digits(&mut buf[5..7], mo);
    put_digits(&mut buf[8..10], d);
    put_digits(&mut buf[11..13], h);
    put_digits(&mut buf[14..16], mi);
    put_digits(&mut buf[17..19], s);
    std::str::from_utf8(buf).ok()
}

/// [`write_iso8601`] for the API 2010 form.
fn write_rfc2822(ts: i64, buf: &mut [u8; RFC2822_LEN]) -> Option<&str> {
    let (y, mo, d, h, mi, s, wd) = civil(ts);
    let y = u32::try_from(y).ok().filter(|y| *y <= 9999)?;
    *buf = *b"Sun, 00 Jan 0000 00:00:00 +0000";
    buf[0..3].copy_from_slice(DAYS[wd].as_bytes());
    put_digits(&mut buf[5..7], d);
    buf[8..11].copy_from_slice(MONTHS[mo as usize - 1].as_bytes());
    put_digits(&mut buf[12..16], y);
    put_digits(&mut buf[17..19], h);
    put_digits(&mut buf[20..22], mi);
    put_digits(&mut buf[23..25], s);
    std::str::from_utf8(buf).ok()
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

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

    #[test]
    fn the_serialised_forms_are_the_formatted_ones() {
        let v1 = |ts| serde_json::to_string(&V1Date(ts)).expect("serialises");
        let v2010 = |ts| serde_json::to_string(&V2010Date(ts)).expect("serialises");
        // Every day of 400 years (one Gregorian cycle from year 0), times across a day, the
        // last second of year 9999, and years outside 0 to 9999 (written by the formatter).
        let mut times: Vec<i64> = (0..146_097).map(|d| -62_167_219_200 + d * 86_400).collect();
        times.extend((0..86_400).step_by(7).map(|s| 1_584_500_000 + s));
        times.extend([
            i64::MIN / 2,
            -62_167_219_201,
            253_402_300_799,
            253_402_300_800,
        ]);
        for ts in times {
            assert_eq!(v1(ts), format!("\"{}\"", iso8601(ts)), "{ts}");
            assert_eq!(v2010(ts), format!("\"{}\"", rfc2822(ts)), "{ts}");
        }
    }
}
