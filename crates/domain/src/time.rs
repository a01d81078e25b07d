//! Time: organisation time zones, local days, periods and time arguments.
//!
//! Instants are `DateTime<Utc>`; the store keeps them as nanoseconds since
//! the Unix epoch. A *day number* is the organisation-local calendar date as
//! days since 1970-01-01; budgets, months and daily aggregates use it.
use crate::FieldError;
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// Earliest and latest instants the store accepts (nanosecond i64 range is wider).
pub fn accepted_range() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC),
        Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

pub fn parse_timezone(field: &str, s: &str) -> Result<Tz, FieldError> {
    s.parse::<Tz>().map_err(|_| {
        FieldError::new(
            field,
            format!("{s:?} is not an IANA time zone; use a name such as \"UTC\", \"Europe/Paris\" or \"America/New_York\""),
        )
    })
}

/// Parses a time argument: RFC 3339 (`2026-10-31T23:30:00Z`) or a bare date
/// `YYYY-MM-DD`, which means midnight in `tz`.
pub fn parse_instant(field: &str, s: &str, tz: Tz) -> Result<DateTime<Utc>, FieldError> {
    let t = s.trim();
    let parsed = if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        local_midnight(tz, d)
    } else {
        return Err(FieldError::new(
            field,
            format!("{s:?} is not a time; use RFC 3339 such as \"2026-10-31T23:30:00Z\" or a date \"2026-10-31\""),
        ));
    };
    let (lo, hi) = accepted_range();
    if parsed < lo || parsed >= hi {
        return Err(FieldError::new(field, format!("{s:?} is outside the years 2000 to 2199")));
    }
    Ok(parsed)
}

/// The first instant of local date `d` in `tz`. Where midnight does not
/// exist (a DST gap at midnight) it is the first local time that does.
pub fn local_midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let mut local = d.and_time(NaiveTime::MIN);
    for _ in 0..48 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(x) => return x.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => local += Duration::minutes(30),
        }
    }
    Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN))
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The organisation-local date of an instant.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Day number (days since 1970-01-01) of a local date.
pub fn day_number(d: NaiveDate) -> i32 {
    (d - epoch_date()).num_days() as i32
}

/// The local date of a day number.
pub fn day_date(day: i32) -> NaiveDate {
    epoch_date() + Duration::days(i64::from(day))
}

/// Day number of the local date of an instant in `tz`.
pub fn local_day(tz: Tz, at: DateTime<Utc>) -> i32 {
    day_number(local_date(tz, at))
}

/// First instant of a day number in `tz`.
pub fn day_start(tz: Tz, day: i32) -> DateTime<Utc> {
    local_midnight(tz, day_date(day))
}

pub fn day_key(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// ISO 8601 week, such as `2026-W44` (weeks start on Monday).
pub fn week_key(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

pub fn month_key(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn parse(field: &str, s: &str) -> Result<Month, FieldError> {
        let bad = || FieldError::new(field, format!("{s:?} is not a month; write it as YYYY-MM, such as \"2026-11\""));
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if y.len() != 4 || m.len() != 2 || !(1..=12).contains(&month) || !(2000..2200).contains(&year) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    pub fn of_date(d: NaiveDate) -> Month {
        Month { year: d.year(), month: d.month() }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    pub fn prev(self) -> Month {
        if self.month == 1 {
            Month { year: self.year - 1, month: 12 }
        } else {
            Month { year: self.year, month: self.month - 1 }
        }
    }

    pub fn days(self) -> u32 {
        (self.next().first_day() - self.first_day()).num_days() as u32
    }

    /// `[start, end)` of the month in `tz`.
    pub fn bounds(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (local_midnight(tz, self.first_day()), local_midnight(tz, self.next().first_day()))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

pub fn to_nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub fn from_nanos(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// RFC 3339 in UTC, with as many fractional digits as needed.
pub fn fmt_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// RFC 3339 with the offset of `tz` at that instant.
pub fn fmt_instant_in(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_october_utc_is_november_in_paris() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let at = parse_instant("t", "2026-10-31T23:30:00Z", tz).unwrap();
        assert_eq!(day_key(local_date(tz, at)), "2026-11-01", "Paris is UTC+01:00 after 25 October 2026");
        let nov = parse_instant("t", "2026-11-01", tz).unwrap();
        assert_eq!(fmt_instant(nov), "2026-10-31T23:00:00Z", "a bare date is midnight in the organisation's zone");
    }

    #[test]
    fn months_wrap_the_year() {
        let dec = Month::parse("m", "2026-12").unwrap();
        assert_eq!(dec.next().to_string(), "2027-01");
        assert_eq!(dec.days(), 31);
        assert_eq!(Month::parse("m", "2028-02").unwrap().days(), 29);
        assert_eq!(Month::parse("m", "2027-01").unwrap().prev().to_string(), "2026-12");
        assert!(Month::parse("m", "2026-13").is_err());
        assert!(Month::parse("m", "26-1").is_err());
    }

    #[test]
    fn midnight_in_a_dst_gap_moves_forward() {
        // Santiago skipped midnight 2026-09-06 00:00 -> 01:00.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = local_midnight(tz, d);
        assert_eq!(local_date(tz, start), d, "the first instant of a day belongs to that day");
    }

    #[test]
    fn week_keys_are_iso() {
        let d = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(week_key(d), "2026-W53");
    }
}

/// Where time comes from. Business logic takes the time from a `Clock`
/// (or as an argument), never from the system, so that tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that tests set and move by hand.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut g) = self.0.lock() {
            *g = at;
        }
    }

    pub fn advance(&self, d: Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|g| *g).unwrap_or_else(|p| *p.into_inner())
    }
}
