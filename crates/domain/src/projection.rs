//! Month-end projection of spend. Pure decimal arithmetic, no floats.
//!
//! The daily rate is a weighted mean of the month's complete days, each day
//! weighing [`DECAY`] times the next (recent days count more). The range is
//! the projection plus or minus 1.2816 standard deviations of the remaining
//! days' total (an 80 % band, days taken as independent), never below the
//! spend so far. On a month's first day there is no complete day to learn
//! from, and the answer is "not enough data" rather than a guess.
use crate::Money;
use rust_decimal::{Decimal, MathematicalOps};

/// Weight of a day relative to the day after it.
pub const DECAY: Decimal = Decimal::from_parts(9, 0, 0, false, 1); // 0.9
const Z80: Decimal = Decimal::from_parts(12816, 0, 0, false, 4); // 1.2816

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionInput {
    pub days_in_month: u32,
    /// Spend of each local day of the month so far: index 0 is the 1st, the
    /// last is today (partial). Empty for a month that has not begun.
    pub daily: Vec<Money>,
    /// How much of today has passed, from 0 to 1 (1 for a month that is over).
    pub today_fraction: Decimal,
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub spent: Money,
    pub enough_data: bool,
    pub projected: Option<Money>,
    pub low: Option<Money>,
    pub high: Option<Money>,
    /// Day of the month (1-based) on which spend reaches the amount, if it
    /// has or will at the current rate within the month.
    pub crosses_on_day: Option<u32>,
    /// Days of budget left at the current rate (one decimal); 0 when spent.
    pub days_left: Option<Decimal>,
    /// The daily rate the projection uses.
    pub daily_rate: Option<Money>,
}

pub fn project(input: &ProjectionInput) -> Projection {
    let spent: Money = input.daily.iter().copied().sum();
    let dim = input.days_in_month as usize;
    let today_idx = input.daily.len(); // 1-based day number of today
    let complete = today_idx.saturating_sub(1);
    let crossed_day = input.amount.and_then(|a| {
        let mut cum = Money::ZERO;
        input.daily.iter().position(|d| {
            cum += *d;
            cum >= a && !(a.is_zero() && cum.is_zero())
        })
    });
    let mut p = Projection {
        spent,
        enough_data: false,
        projected: None,
        low: None,
        high: None,
        crosses_on_day: crossed_day.map(|i| i as u32 + 1),
        days_left: None,
        daily_rate: None,
    };
    if complete == 0 {
        return p;
    }
    let frac = input.today_fraction.clamp(Decimal::ZERO, Decimal::ONE);
    // The month is over: the projection is what was spent.
    let remaining = Decimal::from(dim.saturating_sub(complete) as u64) - frac;
    let remaining = remaining.max(Decimal::ZERO);

    let mut wsum = Decimal::ZERO;
    let mut wx = Decimal::ZERO;
    let mut w = Decimal::ONE;
    let mut weights = Vec::with_capacity(complete);
    for d in input.daily[..complete].iter().rev() {
        weights.push(w);
        wsum += w;
        wx += w * d.decimal();
        w *= DECAY;
    }
    let mean = wx / wsum;
    let var =
        input.daily[..complete].iter().rev().zip(&weights).map(|(d, w)| *w * (d.decimal() - mean) * (d.decimal() - mean)).sum::<Decimal>()
            / wsum;
    let sd = var.sqrt().unwrap_or(Decimal::ZERO);
    let spread = Z80 * sd * remaining.sqrt().unwrap_or(Decimal::ZERO);
    let expected = mean * remaining;
    let projected = Money::round_cost(spent.decimal() + expected);
    let low = Money::round_cost(spent.decimal() + (expected - spread).max(Decimal::ZERO)).min(projected).max(spent);
    let high = Money::round_cost(spent.decimal() + expected + spread).max(projected);
    p.enough_data = true;
    p.projected = Some(projected);
    p.low = Some(low);
    p.high = Some(high);
    p.daily_rate = Some(Money::round_cost(mean));
    if let Some(amount) = input.amount {
        if spent >= amount {
            p.days_left = Some(Decimal::ZERO);
        } else if mean > Decimal::ZERO {
            let need = (amount.decimal() - spent.decimal()) / mean;
            p.days_left = Some(need.round_dp_with_strategy(1, rust_decimal::RoundingStrategy::ToZero));
            if p.crosses_on_day.is_none() && need < remaining {
                // Position in days from the start of the month, today's part included.
                let pos = Decimal::from(complete as u64) + frac + need;
                let day = pos.floor().to_string().parse::<u32>().unwrap_or(u32::MAX) + 1;
                if day as usize <= dim {
                    p.crosses_on_day = Some(day);
                }
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn not_enough_data_on_the_first_day() {
        let p = project(&ProjectionInput {
            days_in_month: 31,
            daily: vec![m("5")],
            today_fraction: Decimal::new(5, 1),
            amount: Some(m("100")),
        });
        assert!(!p.enough_data);
        assert_eq!(p.projected, None);
        assert_eq!(p.spent, m("5"));
    }

    #[test]
    fn steady_spend_projects_linearly_and_finds_the_crossing_day() {
        // 10 a day; on day 11 at midnight (fraction 0), 100 spent in 10 complete days.
        let mut daily = vec![m("10"); 10];
        daily.push(Money::ZERO);
        let p = project(&ProjectionInput { days_in_month: 30, daily, today_fraction: Decimal::ZERO, amount: Some(m("250")) });
        assert_eq!(p.projected, Some(m("300")), "10 a day for 30 days");
        assert_eq!((p.low, p.high), (Some(m("300")), Some(m("300"))), "no variation, no spread");
        assert_eq!(p.days_left, Some(Decimal::from(15)));
        assert_eq!(p.crosses_on_day, Some(26), "250 is reached during day 26");
    }

    #[test]
    fn a_finished_month_projects_what_was_spent() {
        let daily = vec![m("3"); 28];
        let p = project(&ProjectionInput { days_in_month: 28, daily, today_fraction: Decimal::ONE, amount: Some(m("50")) });
        assert_eq!(p.projected, Some(m("84")));
        assert_eq!(p.crosses_on_day, Some(17), "cumulative 51 on day 17");
        assert_eq!(p.days_left, Some(Decimal::ZERO));
    }
}
