//! Price versions and the cost of a record.
//!
//! cost = (input x input_rate + output x output_rate + cached_input x
//! cached_rate + cache_write x cache_write_rate) / 1,000,000, exactly, where a
//! missing cached-input or cache-write rate means the input rate; then the
//! rounding rule of [`crate::money`].
use crate::ids::{OrgId, PriceId};
use crate::slug::{check_slug, check_text};
use crate::time::parse_instant;
use crate::{FieldError, Money};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Highest rate accepted, per million tokens.
pub const MAX_RATE: i64 = 100_000;
/// Most decimal places accepted in a rate.
pub const MAX_RATE_SCALE: u32 = 12;

/// Rates per million tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    pub input_per_mtok: Decimal,
    pub output_per_mtok: Decimal,
    pub cached_input_per_mtok: Option<Decimal>,
    pub cache_write_per_mtok: Option<Decimal>,
}

/// The four disjoint token counts of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
    pub cache_write: u64,
}

impl Rates {
    /// The exact cost of `t`, rounded once by the money rule.
    pub fn cost(&self, t: &Tokens) -> Money {
        let cached = self.cached_input_per_mtok.unwrap_or(self.input_per_mtok);
        let write = self.cache_write_per_mtok.unwrap_or(self.input_per_mtok);
        // Token counts are at most 1e9 and rates at most 1e5 with 12 decimals,
        // so every product and the sum fit in a Decimal's 96-bit mantissa.
        let exact = Decimal::from(t.input) * self.input_per_mtok
            + Decimal::from(t.output) * self.output_per_mtok
            + Decimal::from(t.cached_input) * cached
            + Decimal::from(t.cache_write) * write;
        Money::round_cost(exact / Decimal::from(1_000_000))
    }
}

/// A stored price version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceVersion {
    pub id: PriceId,
    /// `None` for the global catalogue, the organisation for negotiated prices.
    pub org: Option<OrgId>,
    pub provider: String,
    pub model: String,
    pub effective_from: DateTime<Utc>,
    pub currency: String,
    pub rates: Rates,
    pub source: Option<String>,
}

/// A price version as given for import, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceInput {
    pub provider: String,
    pub model: String,
    pub effective_from: DateTime<Utc>,
    pub currency: String,
    pub rates: Rates,
    pub source: Option<String>,
}

/// One price version as the HTTP API documents it (`POST /orgs/{org}/prices`,
/// a JSON array of these): the fields of [`RawPrice`], with the rules of the
/// import (a test keeps the two field lists equal).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PriceLine")]
pub struct PriceLineDoc {
    #[schemars(length(max = 64), pattern(crate::record::patterns::SLUG))]
    pub provider: String,
    #[schemars(length(min = 1, max = 128), pattern(crate::record::patterns::TEXT))]
    pub model: String,
    #[schemars(pattern(crate::record::patterns::TIME_OR_DATE))]
    pub effective_from: String,
    /// An ISO 4217 code, in capitals.
    #[schemars(regex(pattern = r"^(USD|EUR|GBP|CHF|JPY|CAD|AUD)$"))]
    pub currency: String,
    /// Per million tokens, at most 100000.
    #[schemars(pattern(crate::record::patterns::RATE))]
    pub input_per_mtok: String,
    #[schemars(pattern(crate::record::patterns::RATE))]
    pub output_per_mtok: String,
    #[schemars(pattern(crate::record::patterns::RATE))]
    pub cached_input_per_mtok: Option<String>,
    #[schemars(pattern(crate::record::patterns::RATE))]
    pub cache_write_per_mtok: Option<String>,
    #[schemars(length(min = 1, max = 512), pattern(crate::record::patterns::TEXT))]
    pub source: Option<String>,
}

/// A price version as text fields (one CSV row or JSON object).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawPrice {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub effective_from: Option<String>,
    pub currency: Option<String>,
    pub input_per_mtok: Option<String>,
    pub output_per_mtok: Option<String>,
    pub cached_input_per_mtok: Option<String>,
    pub cache_write_per_mtok: Option<String>,
    pub source: Option<String>,
}

/// The active ISO 4217 codes of currencies (and of the funds codes some
/// countries price in), without precious metals, bond units and the test
/// codes. Sorted, for a binary search.
pub const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB",
    "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW",
    "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN",
    "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

pub fn check_currency(field: &str, s: &str) -> Result<String, FieldError> {
    if ISO_4217.binary_search(&s).is_ok() {
        return Ok(s.to_string());
    }
    let upper = s.to_ascii_uppercase();
    let hint = if ISO_4217.binary_search(&upper.as_str()).is_ok() {
        format!("write it in capitals: \"{upper}\"")
    } else {
        "use the code of a currency such as \"USD\", \"EUR\" or \"GBP\"".to_string()
    };
    Err(FieldError::new(field, format!("{s:?} is not an ISO 4217 currency code; {hint}")))
}

fn parse_rate(field: &str, s: &str) -> Result<Decimal, FieldError> {
    let t = s.trim();
    let d = Decimal::from_str_exact(t).ok().filter(|_| crate::money::is_plain_decimal(t)).ok_or_else(|| {
        FieldError::new(field, format!("{s:?} is not a decimal number; write the price per million tokens, such as \"2.50\""))
    })?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(FieldError::new(field, format!("{s} is negative; a rate is zero or more")));
    }
    if d > Decimal::from(MAX_RATE) {
        return Err(FieldError::new(
            field,
            format!("{s} is above {MAX_RATE} per million tokens; check the unit (the rate is per million tokens)"),
        ));
    }
    if d.scale() > MAX_RATE_SCALE {
        return Err(FieldError::new(field, format!("{s} has more than {MAX_RATE_SCALE} decimal places")));
    }
    Ok(d.normalize())
}

impl RawPrice {
    /// Validates every field; `tz` gives the meaning of a bare date.
    pub fn validate(&self, tz: Tz) -> Result<PriceInput, Vec<FieldError>> {
        let mut errs = Vec::new();
        let req = |name: &str, v: &Option<String>, errs: &mut Vec<FieldError>| -> Option<String> {
            match v.as_deref().map(str::trim) {
                Some(s) if !s.is_empty() => Some(s.to_string()),
                _ => {
                    errs.push(FieldError::new(name, "is missing; it is required"));
                    None
                }
            }
        };
        let provider = req("provider", &self.provider, &mut errs);
        let model = req("model", &self.model, &mut errs);
        let eff = req("effective_from", &self.effective_from, &mut errs);
        let currency = req("currency", &self.currency, &mut errs);
        let input = req("input_per_mtok", &self.input_per_mtok, &mut errs);
        let output = req("output_per_mtok", &self.output_per_mtok, &mut errs);
        let mut keep = |r: Result<(), FieldError>| {
            if let Err(e) = r {
                errs.push(e)
            }
        };
        if let Some(p) = &provider {
            keep(check_slug("provider", p));
        }
        if let Some(m) = &model {
            keep(check_text("model", m, 128));
        }
        let opt_rate = |name: &str, v: &Option<String>, errs: &mut Vec<FieldError>| match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => match parse_rate(name, s) {
                Ok(d) => Some(d),
                Err(e) => {
                    errs.push(e);
                    None
                }
            },
            _ => None,
        };
        let effective_from = eff.and_then(|s| parse_instant("effective_from", &s, tz).map_err(|e| errs.push(e)).ok());
        let currency = currency.and_then(|s| check_currency("currency", &s).map_err(|e| errs.push(e)).ok());
        let input_r = input.and_then(|s| parse_rate("input_per_mtok", &s).map_err(|e| errs.push(e)).ok());
        let output_r = output.and_then(|s| parse_rate("output_per_mtok", &s).map_err(|e| errs.push(e)).ok());
        let cached = opt_rate("cached_input_per_mtok", &self.cached_input_per_mtok, &mut errs);
        let write = opt_rate("cache_write_per_mtok", &self.cache_write_per_mtok, &mut errs);
        let source = self.source.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        match (provider, model, effective_from, currency, input_r, output_r) {
            (Some(provider), Some(model), Some(effective_from), Some(currency), Some(i), Some(o)) if errs.is_empty() => Ok(PriceInput {
                provider,
                model,
                effective_from,
                currency,
                rates: Rates { input_per_mtok: i, output_per_mtok: o, cached_input_per_mtok: cached, cache_write_per_mtok: write },
                source,
            }),
            _ => Err(errs),
        }
    }
}

/// All the price versions that may apply to one organisation's records,
/// indexed for selection.
#[derive(Debug, Default, Clone)]
pub struct PriceBook {
    by_model: HashMap<String, HashMap<String, Vec<PriceVersion>>>,
}

impl PriceBook {
    /// Keeps only versions in the organisation's `currency`: a price in
    /// another currency never applies (there is no currency conversion).
    pub fn new(versions: impl IntoIterator<Item = PriceVersion>, currency: &str) -> PriceBook {
        let mut by_model: HashMap<String, HashMap<String, Vec<PriceVersion>>> = HashMap::new();
        for v in versions.into_iter().filter(|v| v.currency == currency) {
            by_model.entry(v.provider.clone()).or_default().entry(v.model.clone()).or_default().push(v);
        }
        for list in by_model.values_mut().flat_map(|m| m.values_mut()) {
            list.sort_by_key(|v| (v.effective_from, v.id));
        }
        PriceBook { by_model }
    }

    /// Every `(provider, model)` with a version in force at `at`, sorted.
    pub fn models_in_force(&self, at: DateTime<Utc>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .by_model
            .iter()
            .flat_map(|(p, models)| models.keys().map(move |m| (p.clone(), m.clone())))
            .filter(|(p, m)| self.select(p, m, at).is_some())
            .collect();
        out.sort();
        out
    }

    /// The version in force at `at`: the latest organisation version with
    /// `effective_from <= at`, or failing that the latest global one. Among
    /// versions with the same `effective_from`, the newest (highest id) wins,
    /// which is how a correction is made without editing history.
    pub fn select(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Option<&PriceVersion> {
        let list = self.by_model.get(provider)?.get(model)?;
        let latest = |org_scoped: bool| list.iter().rev().find(|v| v.org.is_some() == org_scoped && v.effective_from <= at);
        latest(true).or_else(|| latest(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]), "sorted, for the binary search");
        for ok in ["USD", "EUR", "GBP", "JPY", "CHF", "XOF"] {
            assert_eq!(check_currency("currency", ok).unwrap(), ok);
        }
        let e = check_currency("currency", "XYZ").unwrap_err();
        assert!(e.to_string().contains("\"XYZ\" is not an ISO 4217 currency code"), "{e}");
        let e = check_currency("currency", "usd").unwrap_err();
        assert!(e.to_string().contains("write it in capitals: \"USD\""), "{e}");
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn version(id: i64, org: Option<i64>, at: DateTime<Utc>, input: &str) -> PriceVersion {
        PriceVersion {
            id: PriceId(id),
            org: org.map(OrgId),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            effective_from: at,
            currency: "USD".into(),
            rates: Rates { input_per_mtok: d(input), output_per_mtok: d("10"), cached_input_per_mtok: None, cache_write_per_mtok: None },
            source: None,
        }
    }

    #[test]
    fn missing_cache_rates_mean_the_input_rate() {
        let r = Rates { input_per_mtok: d("3"), output_per_mtok: d("15"), cached_input_per_mtok: None, cache_write_per_mtok: None };
        let t = Tokens { input: 1_000_000, output: 0, cached_input: 1_000_000, cache_write: 1_000_000 };
        assert_eq!(r.cost(&t).to_string(), "9.00");
    }

    #[test]
    fn sub_nano_rate() {
        let r = Rates { input_per_mtok: d("0.0375"), output_per_mtok: d("0"), cached_input_per_mtok: None, cache_write_per_mtok: None };
        // 1 token x 0.0375 / 1e6 = 0.0000000375 -> 0.000000038 (half-even on ...375 rounds the 7 up to 8)
        assert_eq!(r.cost(&Tokens { input: 1, ..Tokens::default() }).to_string(), "0.000000038");
        // 3 tokens: 0.0000001125 -> 0.000000112 (the 5 is a tie, 2 is even)
        assert_eq!(r.cost(&Tokens { input: 3, ..Tokens::default() }).to_string(), "0.000000112");
    }

    #[test]
    fn selection_at_the_boundary_instant() {
        let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let book = PriceBook::new([version(1, None, t0, "5"), version(2, None, t1, "2.5")], "USD");
        let just_before = t1 - chrono::Duration::nanoseconds(1);
        assert_eq!(
            book.select("openai", "gpt-4o", just_before).unwrap().id,
            PriceId(1),
            "one nanosecond before the change the old price holds"
        );
        assert_eq!(
            book.select("openai", "gpt-4o", t1).unwrap().id,
            PriceId(2),
            "the new price is in force from its effective instant itself"
        );
        assert!(
            book.select("openai", "gpt-4o", t0 - chrono::Duration::nanoseconds(1)).is_none(),
            "before any version the record is unpriced"
        );
        assert!(book.select("openai", "gpt-5", t1).is_none());
    }

    #[test]
    fn organisation_prices_take_precedence_and_corrections_win() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let book = PriceBook::new([version(1, None, t1, "5"), version(2, Some(7), t0, "4"), version(3, Some(7), t0, "3.9")], "USD");
        let v = book.select("openai", "gpt-4o", t1).unwrap();
        assert_eq!(v.id, PriceId(3), "a negotiated price beats a newer list price, and of two at one instant the later import wins");
    }

    #[test]
    fn other_currencies_never_apply() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let book = PriceBook::new([version(1, None, t0, "5")], "EUR");
        assert!(book.select("openai", "gpt-4o", t0).is_none());
    }

    #[test]
    fn raw_price_errors_name_each_field() {
        let raw = RawPrice {
            provider: Some("Open AI".into()),
            model: Some("gpt-4o".into()),
            effective_from: Some("yesterday".into()),
            currency: Some("usd".into()),
            input_per_mtok: Some("-1".into()),
            output_per_mtok: None,
            ..RawPrice::default()
        };
        let errs = raw.validate(chrono_tz::UTC).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["provider", "effective_from", "currency", "input_per_mtok", "output_per_mtok"] {
            assert!(fields.contains(&f), "{f} is wrong and must be reported; got {fields:?}");
        }
    }
}
