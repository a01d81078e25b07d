//! Provider health: cool-down after repeated failures.
//!
//! Outcomes (records and their status) are observed in time order. After
//! [`FAILURES_BEFORE_COOLDOWN`] failures in a row, the provider cools down
//! for [`BASE_COOLDOWN_S`] seconds from the last failure, doubling with each
//! further failure up to [`MAX_COOLDOWN_S`]. A success clears it.
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

pub const FAILURES_BEFORE_COOLDOWN: u32 = 3;
pub const BASE_COOLDOWN_S: i64 = 30;
pub const MAX_COOLDOWN_S: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Health {
    pub consecutive_failures: u32,
    pub cooldown_until: Option<DateTime<Utc>>,
    pub last_outcome_at: Option<DateTime<Utc>>,
}

/// The cool-down after `failures` failures in a row (none below the threshold).
pub fn cooldown_for(failures: u32) -> Option<Duration> {
    if failures < FAILURES_BEFORE_COOLDOWN {
        return None;
    }
    let exp = (failures - FAILURES_BEFORE_COOLDOWN).min(20);
    Some(Duration::seconds((BASE_COOLDOWN_S << exp).min(MAX_COOLDOWN_S)))
}

impl Health {
    /// Observes one outcome. Outcomes older than the last one seen are
    /// ignored (a late record does not rewrite the present).
    pub fn observe(&mut self, ok: bool, at: DateTime<Utc>) {
        if self.last_outcome_at.is_some_and(|last| at < last) {
            return;
        }
        self.last_outcome_at = Some(at);
        if ok {
            self.consecutive_failures = 0;
            self.cooldown_until = None;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.cooldown_until = cooldown_for(self.consecutive_failures).map(|d| at + d);
        }
    }

    pub fn cooling_down(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cooldown_until.filter(|u| *u > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cooldown_grows_and_clears() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut h = Health::default();
        h.observe(false, t);
        h.observe(false, t);
        assert_eq!(h.cooling_down(t), None, "two failures are not yet a pattern");
        h.observe(false, t);
        assert_eq!(h.cooling_down(t), Some(t + Duration::seconds(30)));
        h.observe(false, t + Duration::seconds(1));
        assert_eq!(h.cooling_down(t), Some(t + Duration::seconds(61)), "the fourth failure doubles the cool-down");
        assert_eq!(h.cooling_down(t + Duration::seconds(61)), None, "it ends on its own");
        h.observe(false, t - Duration::hours(1));
        assert_eq!(h.consecutive_failures, 4, "an older outcome changes nothing");
        h.observe(true, t + Duration::seconds(2));
        assert_eq!((h.consecutive_failures, h.cooling_down(t)), (0, None), "a success clears it");
        assert_eq!(cooldown_for(40), Some(Duration::seconds(MAX_COOLDOWN_S)));
    }
}
