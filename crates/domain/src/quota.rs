//! Rolling request quotas.
//!
//! A request at instant `now` is admitted when fewer than `limit` requests
//! were admitted in `(now - window, now]`. Then no half-open window of that
//! length ever holds more than `limit` admissions: take the last admission
//! `a` of any window `[t, t + window)`; every other one in it lies in
//! `(a - window, a]`, where fewer than `limit` stood when `a` was admitted.
use chrono::{DateTime, Duration, Utc};

/// The outcome of a quota check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaCheck {
    Ok,
    /// Full until this instant, when the oldest counted admission leaves the window.
    FullUntil(DateTime<Utc>),
}

/// Checks `limit` over `window`, given the admissions of the window
/// `(now - window, now]` in ascending order.
pub fn check(admitted_in_window: &[DateTime<Utc>], limit: u64, window: Duration, now: DateTime<Utc>) -> QuotaCheck {
    let n = admitted_in_window.len() as u64;
    if n < limit {
        return QuotaCheck::Ok;
    }
    // n - limit + 1 admissions must leave for one slot to free: the
    // (n - limit)-th (0-based) oldest leaves at its time + window.
    let idx = (n - limit) as usize;
    let frees_at = admitted_in_window.get(idx).map(|a| *a + window).unwrap_or(now);
    QuotaCheck::FullUntil(frees_at.max(now))
}

/// The same rule from counts: `count` admissions in `(now - window, now]`,
/// and the time of the `limit`-th newest of them when there are that many.
/// The window frees a slot when that one leaves it.
pub fn check_count(count: u64, limit_th_newest: Option<DateTime<Utc>>, limit: u64, window: Duration, now: DateTime<Utc>) -> QuotaCheck {
    if count < limit {
        return QuotaCheck::Ok;
    }
    QuotaCheck::FullUntil(limit_th_newest.map(|a| a + window).unwrap_or(now).max(now))
}

/// Whole seconds until `until`, at least 1.
pub fn retry_after_secs(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let ms = (until - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn frees_when_the_oldest_leaves() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let w = Duration::minutes(60);
        let adm = [t0, t0 + Duration::minutes(10), t0 + Duration::minutes(20)];
        assert_eq!(check(&adm, 4, w, t0 + Duration::minutes(30)), QuotaCheck::Ok);
        assert_eq!(check(&adm, 3, w, t0 + Duration::minutes(30)), QuotaCheck::FullUntil(t0 + w));
        assert_eq!(check(&adm, 2, w, t0 + Duration::minutes(30)), QuotaCheck::FullUntil(t0 + Duration::minutes(70)));
        assert_eq!(retry_after_secs(t0, t0 + Duration::milliseconds(1)), 1);
    }
}
