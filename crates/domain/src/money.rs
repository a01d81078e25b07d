//! Money: one type over `rust_decimal`, and the one rounding rule.
//!
//! **The rule**: the cost of a record is computed exactly in decimal, then
//! rounded once, half to even, to [`COST_SCALE`] (9) decimal places. Totals
//! are exact sums of record costs and are never rounded again. Because every
//! cost has at most 9 decimals, it is also an exact integer number of
//! nano-units, which is how the store keeps and sums it ([`Money::nanos`]).
//!
//! **Text form**: a plain decimal string with no exponent and no thousands
//! separator, at least two decimals, trailing zeros beyond two removed
//! (`"12.00"`, `"0.001615"`, `"0.000000038"`). It parses back to the same value.
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

/// Decimal places of a record's cost.
pub const COST_SCALE: u32 = 9;

/// An exact amount of money in one currency (the currency travels beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

/// In JSON, money is a plain decimal string (`"0.001615"`).
impl schemars::JsonSchema for Money {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
            "description": "An exact decimal amount, as a string (never a float)."
        })
    }
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Applies the rounding rule: half to even, to 9 decimal places.
    pub fn round_cost(exact: Decimal) -> Money {
        Money(exact.round_dp_with_strategy(COST_SCALE, RoundingStrategy::MidpointNearestEven))
    }

    pub fn from_decimal(d: Decimal) -> Money {
        Money(d)
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// From an integer number of nano-units (10^-9).
    pub fn from_nanos(nanos: i64) -> Money {
        Money(Decimal::new(nanos, COST_SCALE))
    }

    /// From a total of nano-units kept as i128 (sums of many records).
    pub fn from_nanos_i128(nanos: i128) -> Money {
        Decimal::try_from_i128_with_scale(nanos, COST_SCALE).map(Money).unwrap_or(Money(Decimal::MAX))
    }

    /// The amount in nano-units, if it has at most 9 decimals and fits in i64.
    pub fn nanos(self) -> Option<i64> {
        let scaled = self.0.checked_mul(Decimal::from(1_000_000_000i64))?;
        if scaled.fract() != Decimal::ZERO {
            return None;
        }
        i64::try_from(scaled.trunc()).ok()
    }

    /// The amount in nano-units as i128, for exact sums: exact for every
    /// amount with at most 9 decimals (every cost and total the store keeps).
    pub fn nanos_i128(self) -> i128 {
        let mut d = self.0;
        d.rescale(COST_SCALE);
        d.mantissa()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The amount for reading (the PDF report, the console): rounded half to
    /// even to the cent, thousands grouped with `,` (`"1,234.57"`). For the
    /// eye only: the exact figure stays in CSV, JSON and the report's
    /// appendix, and nothing is summed from this form.
    pub fn to_cents_grouped(self) -> String {
        let r = self.0.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        let text = format!("{:.2}", r.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
        let neg = r.is_sign_negative() && !r.is_zero();
        format!("{}{}.{frac}", if neg { "-" } else { "" }, group_thousands(int))
    }
}

/// Digits grouped by thousands with `,` (`"1234567"` -> `"1,234,567"`), for
/// token counts and amounts read by people.
pub fn group_thousands(digits: &str) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", digits),
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0.normalize();
        if d.scale() < 2 {
            d.rescale(2);
        }
        write!(f, "{d}")
    }
}

/// A plain decimal as money is written: digits, at most one point with
/// digits after it, an optional leading minus. No spaces, no `_`, no `+`, no
/// exponent (`1_000`, ` 5` and `1e3` are not money).
pub fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

impl FromStr for Money {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a plain decimal number; write it like \"12.50\" (digits and one point, no spaces, no _)");
        if !is_plain_decimal(s) {
            return Err(bad());
        }
        Decimal::from_str_exact(s).map(Money).map_err(|_| bad())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        self.0 += o.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_for_reading_round_half_to_even_to_the_cent_and_group_thousands() {
        let m = |s: &str| s.parse::<Money>().unwrap().to_cents_grouped();
        assert_eq!(m("1234567.891"), "1,234,567.89");
        assert_eq!(m("0.005"), "0.00", "half to even: down to the even cent");
        assert_eq!(m("0.015"), "0.02", "half to even: up to the even cent");
        assert_eq!(m("0.0150000001"), "0.02");
        assert_eq!(m("999.995"), "1,000.00");
        assert_eq!(m("-1234.5"), "-1,234.50");
        assert_eq!(m("-0.001"), "0.00", "no negative zero");
        assert_eq!(m("12"), "12.00");
        assert_eq!(group_thousands("100"), "100");
        assert_eq!(group_thousands("1000"), "1,000");
        assert_eq!(group_thousands("-12345678"), "-12,345,678");
        assert_eq!(group_thousands("0"), "0");
    }

    #[test]
    fn money_is_a_plain_decimal() {
        for ok in ["0", "5", "12.50", "-3", "0.000000001", "1000000"] {
            assert!(ok.parse::<Money>().is_ok(), "{ok}");
        }
        for bad in ["1_000", " 5", "5 ", "+5", "1e3", "1.", ".5", "", "-", "1.2.3", "NaN", "١٢"] {
            let e = bad.parse::<Money>().unwrap_err();
            assert!(e.contains("not a plain decimal"), "{bad}: {e}");
        }
    }

    #[test]
    fn nano_units_round_trip_exactly() {
        for n in [0i128, 1, -1, 999_999_999, 1_000_000_000, 123_456_789_012_345_678, i64::MAX as i128 * 1000] {
            assert_eq!(Money::from_nanos_i128(n).nanos_i128(), n, "{n}");
        }
        assert_eq!(Money::from_decimal(Decimal::new(5, 1)).nanos_i128(), 500_000_000);
    }

    fn check(exact: &str, expected: &str) {
        let got = Money::round_cost(Decimal::from_str_exact(exact).unwrap());
        assert_eq!(got.to_string(), expected, "rounding {exact} half-even to 9 dp");
    }

    #[test]
    fn rounding_is_half_even_at_nine_places() {
        check("0.0000000005", "0.00");
        check("0.0000000015", "0.000000002");
        check("0.0000000025", "0.000000002");
        check("0.00000000250001", "0.000000003");
        check("1.0000000004999", "1.00");
        check("-0.0000000015", "-0.000000002");
    }

    #[test]
    fn text_form() {
        assert_eq!(Money::from_nanos(12_000_000_000).to_string(), "12.00");
        assert_eq!(Money::from_nanos(1_615_000).to_string(), "0.001615");
        assert_eq!(Money::from_nanos(38).to_string(), "0.000000038");
        assert_eq!("0.001615".parse::<Money>().unwrap(), Money::from_nanos(1_615_000));
        assert!("1e3".parse::<Money>().is_err(), "exponents are refused: money is written plainly");
        assert!("abc".parse::<Money>().is_err());
    }

    #[test]
    fn nanos_round_trip() {
        let m = Money::from_nanos(123_456_789_012);
        assert_eq!(m.nanos(), Some(123_456_789_012));
        assert_eq!("0.0000000001".parse::<Money>().unwrap().nanos(), None, "sub-nano amounts have no nano form");
    }
}
