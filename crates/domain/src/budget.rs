//! Budgets and their thresholds.
use crate::{FieldError, Money};
use serde::{Deserialize, Serialize};

/// Thresholds when none are given, in percent.
pub const DEFAULT_THRESHOLDS: [u32; 3] = [80, 90, 100];

/// A monthly budget: an amount, thresholds in percent, a hard limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub amount: Money,
    pub thresholds: Vec<u32>,
    pub hard_limit: bool,
}

/// Parses `80,90,100`: whole percents from 1 to 1000, sorted, no repeats.
pub fn parse_thresholds(field: &str, s: &str) -> Result<Vec<u32>, FieldError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let t: u32 = part
            .trim_end_matches('%')
            .parse()
            .map_err(|_| FieldError::new(field, format!("{part:?} is not a whole percent; write thresholds like \"80,90,100\"")))?;
        out.push(t);
    }
    check_thresholds(field, out)
}

pub fn check_thresholds(field: &str, mut t: Vec<u32>) -> Result<Vec<u32>, FieldError> {
    if t.is_empty() {
        return Err(FieldError::new(field, "is empty; give at least one threshold, such as \"80,90,100\""));
    }
    if let Some(bad) = t.iter().find(|x| !(1..=1000).contains(*x)) {
        return Err(FieldError::new(field, format!("{bad} is out of range; thresholds are percents from 1 to 1000")));
    }
    t.sort_unstable();
    t.dedup();
    Ok(t)
}

/// The most one AI call may cost, in the organisation's currency: well above
/// any real call (the largest context at the highest list price costs tens
/// of units), far below what could overflow a total. Estimates and records
/// above it are refused.
pub const MAX_CALL_COST: i64 = 10_000;

/// Whether a cost is more than any one call could cost (see [`MAX_CALL_COST`]).
pub fn over_call_bound(cost: Money) -> bool {
    cost.decimal() > rust_decimal::Decimal::from(MAX_CALL_COST)
}

/// Checks the estimated cost of one call: an amount, at most [`MAX_CALL_COST`].
pub fn check_estimate(field: &str, s: &str) -> Result<Money, FieldError> {
    let m = check_amount(field, s)?;
    if over_call_bound(m) {
        return Err(FieldError::new(
            field,
            format!("{s} is more than one call could cost (at most {MAX_CALL_COST}); give the estimate of this one call"),
        ));
    }
    Ok(m)
}

/// Checks a budget amount: a decimal, zero or more, at most 9 decimals,
/// below a trillion.
pub fn check_amount(field: &str, s: &str) -> Result<Money, FieldError> {
    let m: Money = s.parse().map_err(|e: String| FieldError::new(field, e))?;
    if m.decimal().is_sign_negative() && !m.is_zero() {
        return Err(FieldError::new(field, format!("{s} is negative; a budget is zero or more")));
    }
    if m.nanos().is_none() || m.decimal() >= rust_decimal::Decimal::from(1_000_000_000_000i64) {
        return Err(FieldError::new(field, format!("{s} has more than 9 decimals or is above a trillion")));
    }
    Ok(m)
}

/// The thresholds that `spent` has reached against `amount`: t is reached
/// when spent >= t% of amount, compared exactly. A zero budget has reached
/// every threshold.
pub fn reached(thresholds: &[u32], spent_nanos: i128, amount_nanos: i128) -> Vec<u32> {
    thresholds.iter().copied().filter(|t| spent_nanos * 100 >= i128::from(*t) * amount_nanos).collect()
}

/// Spend as a percent of the amount, to two decimals; `None` for a zero budget.
pub fn percent(spent: Money, amount: Money) -> Option<rust_decimal::Decimal> {
    if amount.is_zero() {
        return None;
    }
    Some((spent.decimal() * rust_decimal::Decimal::from(100) / amount.decimal()).round_dp(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_sort_and_refuse_nonsense() {
        assert_eq!(parse_thresholds("t", "100, 80,90,80").unwrap(), vec![80, 90, 100]);
        assert!(parse_thresholds("t", "").is_err());
        assert!(parse_thresholds("t", "0").is_err());
        assert!(parse_thresholds("t", "eighty").is_err());
    }

    #[test]
    fn a_threshold_is_reached_at_exactly_its_percent() {
        // amount 100.00, spend 79.999999999 -> not 80 yet; 80.00 -> 80
        let amount = 100_000_000_000i128;
        assert_eq!(reached(&[80, 90, 100], 79_999_999_999, amount), Vec::<u32>::new());
        assert_eq!(reached(&[80, 90, 100], 80_000_000_000, amount), vec![80]);
        assert_eq!(reached(&[80, 90, 100], 100_000_000_000, amount), vec![80, 90, 100]);
    }

    #[test]
    fn amounts() {
        assert!(check_amount("amount", "-1").is_err());
        assert!(check_amount("amount", "1.0000000001").is_err());
        assert_eq!(check_amount("amount", "1500").unwrap().to_string(), "1500.00");
    }
}
