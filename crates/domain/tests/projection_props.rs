//! Properties of the projection and of rolling windows.
use argus_domain::projection::{project, ProjectionInput};
use argus_domain::quota::{check, check_count, QuotaCheck};
use argus_domain::Money;
use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn projection_never_below_spend_and_its_range_contains_it(
        dim in 28u32..=31,
        raw in proptest::collection::vec(0i64..50_000_000_000_000, 0..31),
        frac in 0u32..=1000,
        amount in proptest::option::of(0i64..2_000_000_000_000_000),
    ) {
        let daily: Vec<Money> = raw.iter().take(dim as usize).map(|n| Money::from_nanos(*n)).collect();
        let p = project(&ProjectionInput { days_in_month: dim, daily, today_fraction: Decimal::new(frac.into(), 3), amount: amount.map(Money::from_nanos) });
        if let (Some(proj), Some(low), Some(high)) = (p.projected, p.low, p.high) {
            prop_assert!(proj >= p.spent, "projected {proj} < spent {}", p.spent);
            prop_assert!(low >= p.spent && low <= proj && proj <= high, "{low} <= {proj} <= {high}");
        } else {
            prop_assert!(!p.enough_data);
        }
        if let Some(d) = p.crosses_on_day {
            prop_assert!(d >= 1 && d <= dim);
        }
    }

    /// Admitting by the rule leaves no 60-minute window with more than the limit.
    #[test]
    fn rolling_window_never_holds_more_than_the_limit(
        limit in 1u64..8,
        gaps in proptest::collection::vec(0i64..900, 1..200),
    ) {
        let w = Duration::minutes(60);
        let mut t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut admitted: Vec<chrono::DateTime<Utc>> = Vec::new();
        for g in gaps {
            t += Duration::seconds(g);
            let in_window: Vec<_> = admitted.iter().copied().filter(|a| *a > t - w).collect();
            // What production calls (`check_count`, from the store's count
            // and the limit-th newest admission), and the list form agree.
            let count = in_window.len() as u64;
            let kth = (count >= limit).then(|| in_window[(count - limit) as usize]);
            let decision = check_count(count, kth, limit, w, t);
            prop_assert_eq!(decision, check(&in_window, limit, w, t));
            match decision {
                QuotaCheck::Ok => admitted.push(t),
                QuotaCheck::FullUntil(until) => {
                    // The slot frees exactly then: one admission fewer in the window at `until`.
                    prop_assert!(until > t);
                    let at_until = admitted.iter().filter(|a| **a > until - w).count() as u64;
                    prop_assert!(at_until < limit, "{at_until} still in the window at {until}");
                    let just_before = admitted.iter().filter(|a| **a > until - w - Duration::seconds(1)).count() as u64;
                    prop_assert!(just_before >= limit, "the slot was free before {until}");
                }
            }
        }
        for (i, a) in admitted.iter().enumerate() {
            let n = admitted[i..].iter().filter(|b| **b < *a + w).count() as u64;
            prop_assert!(n <= limit, "{n} admissions in the hour from {a}");
        }
    }
}
