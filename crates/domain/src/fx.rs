//! Exchange rates and the conversion of a cost into an organisation's
//! currency.
//!
//! A rate says that on `date`, 1 `from` = `rate` `to` (the European Central
//! Bank's reference rates, turned into this form, are the expected source).
//! The rate of a record's local day is the latest one published on or
//! before that day; it is *known* once a rate of the pair dated on or after
//! the day exists (until then a later publication could still be the day's
//! own: a record of a Saturday waits for Monday's rates, and then takes
//! Friday's). Of two rates of one date, an organisation's own comes first,
//! then the later import.
//!
//! cost in the organisation's currency = the record's cost in the price's
//! currency (already rounded by the money rule) x the rate, rounded half to
//! even to 9 places, exactly ([`convert`]).
use crate::ids::OrgId;
use crate::price::check_currency;
use crate::{FieldError, Money};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Highest rate accepted: a cost of at most 10,000 converted stays below
/// 10^9 in the organisation's currency (and its nano-units in 63 bits).
pub const MAX_FX_RATE: i64 = 100_000;
/// Most decimal places accepted in a rate.
pub const MAX_FX_SCALE: u32 = 12;

/// A stored rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxRate {
    pub id: i64,
    /// `None` for rates every organisation uses, else the organisation's own.
    pub org: Option<OrgId>,
    pub date: NaiveDate,
    pub from: String,
    pub to: String,
    pub rate: Decimal,
}

/// A rate as given for import, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxInput {
    pub date: NaiveDate,
    pub from: String,
    pub to: String,
    pub rate: Decimal,
}

/// One row of `fx import` (CSV header `date,from,to,rate`, or a JSON object
/// with those keys), as text.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawFx {
    pub date: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub rate: Option<String>,
}

/// One rate as the HTTP API documents it (`POST /orgs/{org}/fx`, a JSON
/// array of these, one variant per `from` so that `to` is another
/// currency; a test keeps the fields those of [`FX_KEYS`]).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FxLine")]
pub struct FxLineDoc {
    #[schemars(pattern(crate::record::patterns::DATE))]
    pub date: String,
    /// An ISO 4217 code, in capitals.
    #[schemars(regex(pattern = r"^(USD|EUR|GBP|CHF|JPY|CAD|AUD)$"))]
    pub from: String,
    #[schemars(regex(pattern = r"^(USD|EUR|GBP|CHF|JPY|CAD|AUD)$"))]
    pub to: String,
    /// 1 `from` = `rate` `to`: above 0, at most 100000, 12 decimals.
    #[schemars(regex(pattern = r"^(0\.[0-9]{0,11}[1-9]|[1-9][0-9]{0,4}(\.[0-9]{1,12})?)$"))]
    pub rate: String,
}

/// The keys of a rate, in the order of the CSV header.
pub const FX_KEYS: [&str; 4] = ["date", "from", "to", "rate"];

impl RawFx {
    pub fn validate(&self) -> Result<FxInput, Vec<FieldError>> {
        let mut errs = Vec::new();
        let mut req = |k: &str, v: &Option<String>| match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(s.to_string()),
            None => {
                errs.push(FieldError::new(k, "is missing; it is required (the header is date,from,to,rate)"));
                None
            }
        };
        let (date, from, to, rate) = (req("date", &self.date), req("from", &self.from), req("to", &self.to), req("rate", &self.rate));
        let date = date.and_then(|s| match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(d) if (2000..2200).contains(&chrono::Datelike::year(&d)) => Some(d),
            _ => {
                errs.push(FieldError::new("date", format!("{s:?} is not a date; write it like \"2026-10-30\"")));
                None
            }
        });
        let mut currency = |k: &str, s: Option<String>| s.and_then(|s| check_currency(k, &s).map_err(|e| errs.push(e)).ok());
        let (from, to) = (currency("from", from), currency("to", to));
        if let (Some(f), Some(t)) = (&from, &to) {
            if f == t {
                errs.push(FieldError::new("to", format!("{t} is the currency converted from; a rate converts one currency into another")));
            }
        }
        let rate = rate.and_then(|s| {
            let bad = |m: String| FieldError::new("rate", m);
            let r = match Decimal::from_str_exact(&s).ok().filter(|_| crate::money::is_plain_decimal(&s)) {
                None => Err(bad(format!("{s:?} is not a decimal number; write how many `to` one `from` is worth, such as \"0.9234\""))),
                Some(d) if d <= Decimal::ZERO => Err(bad(format!("{s} is not above zero; a rate is positive"))),
                Some(d) if d > Decimal::from(MAX_FX_RATE) => {
                    Err(bad(format!("{s} is above {MAX_FX_RATE}; check that the rate is 1 `from` in `to`")))
                }
                Some(d) if d.scale() > MAX_FX_SCALE => Err(bad(format!("{s} has more than {MAX_FX_SCALE} decimal places"))),
                Some(d) => Ok(d.normalize()),
            };
            r.map_err(|e| errs.push(e)).ok()
        });
        match (date, from, to, rate) {
            (Some(date), Some(from), Some(to), Some(rate)) if errs.is_empty() => Ok(FxInput { date, from, to, rate }),
            _ => Err(errs),
        }
    }

    /// The field of a key of [`FX_KEYS`].
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "date" => &mut self.date,
            "from" => &mut self.from,
            "to" => &mut self.to,
            "rate" => &mut self.rate,
            _ => return None,
        })
    }
}

/// `cost` in another currency at `rate`: cost x rate, rounded half to even
/// to 9 places, exactly (in 128-bit integers: nano-units x the rate's
/// mantissa, then divided by its power of ten). `None` only for a cost with
/// more than 9 decimals, which the money rule never gives.
pub fn convert(cost: Money, rate: Decimal) -> Option<Money> {
    let nanos = i128::from(cost.nanos()?);
    let (m, scale) = (rate.mantissa(), rate.scale());
    let product = nanos.checked_mul(m)?;
    let div = 10i128.checked_pow(scale)?;
    let (q, r) = (product.div_euclid(div), product.rem_euclid(div));
    let twice = 2 * r;
    let q = if twice > div || (twice == div && q % 2 != 0) { q + 1 } else { q };
    Some(Money::from_nanos(i64::try_from(q).ok()?))
}

/// The rates that may convert one organisation's costs, by pair.
#[derive(Debug, Default, Clone)]
pub struct FxBook {
    by_pair: HashMap<(String, String), Vec<FxRate>>,
}

impl FxBook {
    pub fn new(rates: impl IntoIterator<Item = FxRate>) -> FxBook {
        let mut by_pair: HashMap<(String, String), Vec<FxRate>> = HashMap::new();
        for r in rates {
            by_pair.entry((r.from.clone(), r.to.clone())).or_default().push(r);
        }
        for list in by_pair.values_mut() {
            // Of one date the organisation's own last, then the later import:
            // the last of a date is the one that applies.
            list.sort_by_key(|r| (r.date, r.org.is_some(), r.id));
        }
        FxBook { by_pair }
    }

    /// The rate of `day` for `from` -> `to`, by the rule of the module;
    /// `None` while it is not known.
    pub fn rate_for(&self, from: &str, to: &str, day: NaiveDate) -> Option<&FxRate> {
        let list = self.by_pair.get(&(from.to_string(), to.to_string()))?;
        if list.last().is_none_or(|r| r.date < day) {
            return None;
        }
        list.iter().rev().find(|r| r.date <= day)
    }

    /// The latest rate of a pair, whatever its date (for an estimate before a call).
    pub fn latest(&self, from: &str, to: &str) -> Option<&FxRate> {
        self.by_pair.get(&(from.to_string(), to.to_string()))?.last()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pair.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn rate(id: i64, org: Option<i64>, date: &str, r: &str) -> FxRate {
        FxRate { id, org: org.map(OrgId), date: d(date), from: "USD".into(), to: "EUR".into(), rate: Decimal::from_str_exact(r).unwrap() }
    }

    #[test]
    fn a_weekend_takes_fridays_rate_once_mondays_is_known() {
        let thu_fri = FxBook::new([rate(1, None, "2026-10-29", "0.92"), rate(2, None, "2026-10-30", "0.93")]);
        assert_eq!(thu_fri.rate_for("USD", "EUR", d("2026-10-30")).unwrap().id, 2);
        assert!(thu_fri.rate_for("USD", "EUR", d("2026-10-31")).is_none(), "Saturday: Monday's rate could still be the later one");
        let with_monday =
            FxBook::new([rate(1, None, "2026-10-29", "0.92"), rate(2, None, "2026-10-30", "0.93"), rate(3, None, "2026-11-02", "0.94")]);
        assert_eq!(with_monday.rate_for("USD", "EUR", d("2026-10-31")).unwrap().id, 2, "Saturday: Friday's");
        assert_eq!(with_monday.rate_for("USD", "EUR", d("2026-11-01")).unwrap().id, 2, "Sunday, across the month: Friday's");
        assert_eq!(with_monday.rate_for("USD", "EUR", d("2026-11-02")).unwrap().id, 3);
        assert!(with_monday.rate_for("USD", "EUR", d("2026-10-28")).is_none(), "before the first rate");
        assert!(with_monday.rate_for("USD", "GBP", d("2026-10-30")).is_none());
        let own = FxBook::new([rate(5, Some(1), "2026-10-30", "0.95"), rate(6, None, "2026-10-30", "0.93")]);
        assert_eq!(own.rate_for("USD", "EUR", d("2026-10-30")).unwrap().id, 5, "the organisation's own rate of a date first");
    }

    #[test]
    fn conversion_rounds_half_to_even_once() {
        let c = |cost: &str, r: &str| {
            convert(Money::from_nanos(cost.parse().unwrap()), Decimal::from_str_exact(r).unwrap()).unwrap().nanos().unwrap()
        };
        assert_eq!(c("1", "0.5"), 0, "0.5 nano: to the even 0");
        assert_eq!(c("3", "0.5"), 2, "1.5 nano: to the even 2");
        assert_eq!(c("1000000000", "0.923456789012"), 923_456_789);
        assert_eq!(c("10000000000000", "100000"), 1_000_000_000_000_000_000, "the largest call at the largest rate fits");
    }

    #[test]
    fn the_documented_line_has_the_keys_of_a_rate() {
        let schema = schemars::schema_for!(FxLineDoc);
        let props: Vec<&str> = schema.get("properties").and_then(|p| p.as_object()).unwrap().keys().map(String::as_str).collect();
        let mut keys = FX_KEYS.to_vec();
        keys.sort();
        let mut props = props;
        props.sort();
        assert_eq!(props, keys);
    }

    #[test]
    fn bad_rates_name_their_field() {
        let raw = RawFx { date: Some("30/10/2026".into()), from: Some("usd".into()), to: Some("EUR".into()), rate: Some("-1".into()) };
        let fields: Vec<String> = raw.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["date", "from", "rate"]);
        let same = RawFx { date: Some("2026-10-30".into()), from: Some("EUR".into()), to: Some("EUR".into()), rate: Some("1".into()) };
        assert_eq!(same.validate().unwrap_err()[0].field, "to");
    }
}

/// How a record priced in another currency was converted: its cost in the
/// price's currency, and the rate of its day with the rate's date (`None`
/// while the day has no known rate: the record is unconverted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub source_cost: Money,
    pub source_currency: String,
    pub rate: Option<(Decimal, NaiveDate)>,
}

/// A priced record's cost in the organisation's currency: the cost itself
/// when the price is in that currency; converted at the rate of the
/// record's local `day` otherwise, with the [`Conversion`]; `None` while
/// unconverted.
pub fn in_currency(cost: Money, price_currency: &str, currency: &str, fx: &FxBook, day: NaiveDate) -> (Option<Money>, Option<Conversion>) {
    if price_currency == currency {
        return (Some(cost), None);
    }
    let rate = fx.rate_for(price_currency, currency, day).map(|r| (r.rate, r.date));
    let converted = rate.and_then(|(r, _)| convert(cost, r));
    let rate = rate.filter(|_| converted.is_some());
    (converted, Some(Conversion { source_cost: cost, source_currency: price_currency.to_string(), rate }))
}
