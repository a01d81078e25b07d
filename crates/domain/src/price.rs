//! Price versions and the cost of a record.
//!
//! cost = (input x input_rate + output x output_rate + cached_input x
//! cached_rate + cache_write x cache_write_rate + cache_write_1h x
//! cache_write_1h_rate) / 1,000,000, exactly; then the rounding rule of
//! [`crate::money`] (once per record, half to even, 9 places).
//!
//! A rate a version lacks: a missing cached-input or cache-write rate means
//! the input rate; a missing 1-hour cache-write rate means the cache-write
//! rate, and failing that the input rate. A record priced through such a
//! fallback is listed by `prices check`.
//!
//! Which version prices a record ([`PriceBook::price`]): the version of the
//! record's provider, model and service tier in force at the record's
//! instant (an organisation's own before the global catalogue); a service
//! tier without any version falls back to the standard tier's. Then, when
//! the record's prompt (uncached input + cached input + cache writes)
//! exceeds a tier's `above_input_tokens`, every token of the record is
//! priced at that tier's rates: the tier in force of the same scope and
//! service tier with the largest threshold the prompt exceeds, taking
//! effect no earlier than the base version (a newer base version ends the
//! older tiers).
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
    #[serde(default)]
    pub cache_write_1h_per_mtok: Option<Decimal>,
}

/// The five disjoint token counts of a call: uncached input, output, input
/// read from a cache, input written to a cache kept 5 minutes, and input
/// written to a cache kept an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    #[serde(default)]
    pub cache_write_1h: u64,
}

impl Tokens {
    /// The prompt's size, which selects a long-context tier: uncached input,
    /// cached input and cache writes.
    pub fn prompt(&self) -> u64 {
        self.input + self.cached_input + self.cache_write + self.cache_write_1h
    }
}

/// How a provider processed a call, which it bills at different rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    #[default]
    Standard,
    Batch,
    Flex,
    Priority,
}

impl ServiceTier {
    pub const ALL: [ServiceTier; 4] = [ServiceTier::Standard, ServiceTier::Batch, ServiceTier::Flex, ServiceTier::Priority];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Batch => "batch",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
        }
    }

    /// The tier a field names, with an error that lists the tiers.
    pub fn parse(field: &str, s: &str) -> Result<ServiceTier, FieldError> {
        ServiceTier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| FieldError::new(field, format!("{s:?} is not a service tier; give standard, batch, flex or priority")))
    }

    /// The tier a provider's answer names (`service_tier` of OpenAI's and
    /// Anthropic's answers): OpenAI says `default` for standard processing.
    pub fn from_provider(s: &str) -> Option<ServiceTier> {
        match s {
            "default" | "standard" | "auto" | "standard_only" => Some(ServiceTier::Standard),
            "batch" => Some(ServiceTier::Batch),
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            _ => None,
        }
    }
}

impl std::fmt::Display for ServiceTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token kind priced at another kind's rate because the version has no
/// rate of its own for it (see the module's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackRate {
    /// Cached input at the input rate.
    CachedInput,
    /// 5-minute cache writes at the input rate.
    CacheWrite,
    /// 1-hour cache writes at the 5-minute rate (or the input rate).
    CacheWrite1h,
}

impl Rates {
    fn cached_rate(&self) -> Decimal {
        self.cached_input_per_mtok.unwrap_or(self.input_per_mtok)
    }

    fn write_rate(&self) -> Decimal {
        self.cache_write_per_mtok.unwrap_or(self.input_per_mtok)
    }

    fn write_1h_rate(&self) -> Decimal {
        self.cache_write_1h_per_mtok.or(self.cache_write_per_mtok).unwrap_or(self.input_per_mtok)
    }

    /// The exact cost of `t`, rounded once by the money rule.
    pub fn cost(&self, t: &Tokens) -> Money {
        // Token counts are at most 1e9 and rates at most 1e5 with 12 decimals,
        // so every product (below 1e26 in units of 1e-12) and the sum of five
        // fit in a Decimal's 96-bit mantissa (7.9e28).
        let exact = Decimal::from(t.input) * self.input_per_mtok
            + Decimal::from(t.output) * self.output_per_mtok
            + Decimal::from(t.cached_input) * self.cached_rate()
            + Decimal::from(t.cache_write) * self.write_rate()
            + Decimal::from(t.cache_write_1h) * self.write_1h_rate();
        Money::round_cost(exact / Decimal::from(1_000_000))
    }

    /// The token kinds of `t` this version prices through a fallback rate.
    pub fn fallbacks(&self, t: &Tokens) -> Vec<FallbackRate> {
        let mut out = Vec::new();
        if t.cached_input > 0 && self.cached_input_per_mtok.is_none() {
            out.push(FallbackRate::CachedInput);
        }
        if t.cache_write > 0 && self.cache_write_per_mtok.is_none() {
            out.push(FallbackRate::CacheWrite);
        }
        if t.cache_write_1h > 0 && self.cache_write_1h_per_mtok.is_none() {
            out.push(FallbackRate::CacheWrite1h);
        }
        out
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
    #[serde(default)]
    pub terms: Terms,
}

/// What a version prices besides its rates: the service tier, the prompt
/// size above which it applies (a long-context tier), and the date the
/// provider retires the model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    #[serde(default)]
    pub service_tier: ServiceTier,
    /// A tier's rates price every token of a record whose prompt exceeds this.
    #[serde(default)]
    pub above_input_tokens: Option<u64>,
    /// The provider's date of retirement (or deprecation) of the model.
    #[serde(default)]
    pub deprecation_date: Option<chrono::NaiveDate>,
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
    pub terms: Terms,
}

/// Highest `above_input_tokens` accepted: a prompt has at most this many tokens.
pub const MAX_ABOVE_INPUT_TOKENS: u64 = 4 * crate::record::MAX_TOKENS;

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
    /// The rate of input written to a cache kept an hour (Anthropic's: twice the input rate).
    #[schemars(pattern(crate::record::patterns::RATE))]
    pub cache_write_1h_per_mtok: Option<String>,
    /// standard (the default), batch, flex or priority.
    #[schemars(regex(pattern = r"^(standard|batch|flex|priority)$"))]
    pub service_tier: Option<String>,
    /// A long-context tier: these rates price every token of a call whose prompt exceeds this many tokens.
    #[schemars(pattern(crate::record::patterns::COUNT))]
    pub above_input_tokens: Option<String>,
    /// The date the provider retires the model.
    #[schemars(pattern(crate::record::patterns::DATE))]
    pub deprecation_date: Option<String>,
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
    #[serde(default)]
    pub cache_write_1h_per_mtok: Option<String>,
    #[serde(default)]
    pub service_tier: Option<String>,
    #[serde(default)]
    pub above_input_tokens: Option<String>,
    #[serde(default)]
    pub deprecation_date: Option<String>,
    pub source: Option<String>,
}

/// The keys of a price version (CSV columns, JSON keys), in order.
pub const PRICE_KEYS: [&str; 13] = [
    "provider",
    "model",
    "effective_from",
    "currency",
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "cache_write_1h_per_mtok",
    "service_tier",
    "above_input_tokens",
    "deprecation_date",
    "source",
];

impl RawPrice {
    /// The field of a key of [`PRICE_KEYS`].
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "provider" => &mut self.provider,
            "model" => &mut self.model,
            "effective_from" => &mut self.effective_from,
            "currency" => &mut self.currency,
            "input_per_mtok" => &mut self.input_per_mtok,
            "output_per_mtok" => &mut self.output_per_mtok,
            "cached_input_per_mtok" => &mut self.cached_input_per_mtok,
            "cache_write_per_mtok" => &mut self.cache_write_per_mtok,
            "cache_write_1h_per_mtok" => &mut self.cache_write_1h_per_mtok,
            "service_tier" => &mut self.service_tier,
            "above_input_tokens" => &mut self.above_input_tokens,
            "deprecation_date" => &mut self.deprecation_date,
            "source" => &mut self.source,
            _ => return None,
        })
    }
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
        let write_1h = opt_rate("cache_write_1h_per_mtok", &self.cache_write_1h_per_mtok, &mut errs);
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let service_tier = match given(&self.service_tier) {
            Some(s) => ServiceTier::parse("service_tier", &s).map_err(|e| errs.push(e)).unwrap_or_default(),
            None => ServiceTier::Standard,
        };
        let above_input_tokens = given(&self.above_input_tokens).and_then(|s| match s.parse::<u64>() {
            Ok(n) if (1..=MAX_ABOVE_INPUT_TOKENS).contains(&n) => Some(n),
            _ => {
                errs.push(FieldError::new(
                    "above_input_tokens",
                    format!("{s:?} is not a prompt size; give a whole number of tokens from 1 to {MAX_ABOVE_INPUT_TOKENS}, such as 200000, or leave it empty"),
                ));
                None
            }
        });
        let deprecation_date = given(&self.deprecation_date).and_then(|s| match chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(d) if (2000..2200).contains(&chrono::Datelike::year(&d)) => Some(d),
            _ => {
                errs.push(FieldError::new(
                    "deprecation_date",
                    format!("{s:?} is not a date; write it like \"2026-12-31\", or leave it empty"),
                ));
                None
            }
        });
        let source = given(&self.source);
        match (provider, model, effective_from, currency, input_r, output_r) {
            (Some(provider), Some(model), Some(effective_from), Some(currency), Some(i), Some(o)) if errs.is_empty() => Ok(PriceInput {
                provider,
                model,
                effective_from,
                currency,
                rates: Rates {
                    input_per_mtok: i,
                    output_per_mtok: o,
                    cached_input_per_mtok: cached,
                    cache_write_per_mtok: write,
                    cache_write_1h_per_mtok: write_1h,
                },
                source,
                terms: Terms { service_tier, above_input_tokens, deprecation_date },
            }),
            _ => Err(errs),
        }
    }
}

/// All the price versions that may apply to one organisation's records,
/// indexed for selection.
#[derive(Debug, Default, Clone)]
pub struct PriceBook {
    /// The organisation's currency: its versions come first.
    currency: String,
    by_model: HashMap<String, HashMap<String, Vec<PriceVersion>>>,
}

/// How a record is priced: the version applied (a long-context tier's when
/// one applies), the cost, and the fallbacks it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced<'a> {
    pub version: &'a PriceVersion,
    pub cost: Money,
    /// The record's service tier has no version: the standard tier's priced it.
    pub tier_fallback: bool,
    /// Token kinds priced at another kind's rate.
    pub rate_fallbacks: Vec<FallbackRate>,
}

impl PriceBook {
    /// The versions of an organisation in `currency`. A model priced in
    /// that currency is priced by those versions only; a model priced only
    /// in another (the USD list prices) by those, and the facade converts
    /// the cost ([`crate::fx`]).
    pub fn new(versions: impl IntoIterator<Item = PriceVersion>, currency: &str) -> PriceBook {
        let mut by_model: HashMap<String, HashMap<String, Vec<PriceVersion>>> = HashMap::new();
        for v in versions {
            by_model.entry(v.provider.clone()).or_default().entry(v.model.clone()).or_default().push(v);
        }
        for list in by_model.values_mut().flat_map(|m| m.values_mut()) {
            list.sort_by_key(|v| (v.effective_from, v.id));
        }
        PriceBook { currency: currency.to_string(), by_model }
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

    /// The standard version in force at `at` (below any long-context tier):
    /// the latest organisation version with `effective_from <= at`, or
    /// failing that the latest global one. Among versions with the same
    /// `effective_from`, the newest (highest id) wins, which is how a
    /// correction is made without editing history.
    pub fn select(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Option<&PriceVersion> {
        self.base(self.versions(provider, model)?, ServiceTier::Standard, at)
    }

    fn versions(&self, provider: &str, model: &str) -> Option<&[PriceVersion]> {
        self.by_model.get(provider)?.get(model).map(Vec::as_slice)
    }

    /// The base version of a service tier: in the organisation's currency
    /// (its own, then the global one), else in another currency.
    fn base<'a>(&self, list: &'a [PriceVersion], tier: ServiceTier, at: DateTime<Utc>) -> Option<&'a PriceVersion> {
        let latest = |own_currency: bool, org_scoped: bool| {
            list.iter().rev().find(|v| {
                (v.currency == self.currency) == own_currency
                    && v.org.is_some() == org_scoped
                    && v.effective_from <= at
                    && v.terms.service_tier == tier
                    && v.terms.above_input_tokens.is_none()
            })
        };
        latest(true, true).or_else(|| latest(true, false)).or_else(|| latest(false, true)).or_else(|| latest(false, false))
    }

    /// The versions of one service tier in force at `at`: its base version
    /// and the long-context tiers that apply with it, by threshold.
    pub fn in_force(&self, provider: &str, model: &str, tier: ServiceTier, at: DateTime<Utc>) -> Vec<&PriceVersion> {
        let Some(list) = self.versions(provider, model) else { return Vec::new() };
        let Some(base) = self.base(list, tier, at).filter(|b| b.currency == self.currency) else { return Vec::new() };
        let mut tiers: std::collections::BTreeMap<u64, &PriceVersion> = std::collections::BTreeMap::new();
        for v in list.iter().filter(|v| {
            v.org.is_some() == base.org.is_some()
                && v.currency == base.currency
                && v.terms.service_tier == tier
                && v.effective_from <= at
                && v.effective_from >= base.effective_from
        }) {
            if let Some(n) = v.terms.above_input_tokens {
                // Sorted by (effective_from, id): the last one of a threshold is in force.
                tiers.insert(n, v);
            }
        }
        std::iter::once(base).chain(tiers.into_values()).collect()
    }

    /// Prices a record of `tokens` in service tier `tier` at `at`, by the
    /// rule of the module's documentation; `None` when no version applies.
    pub fn price(&self, provider: &str, model: &str, tier: ServiceTier, tokens: &Tokens, at: DateTime<Utc>) -> Option<Priced<'_>> {
        let list = self.versions(provider, model)?;
        let (base, tier_fallback) = match self.base(list, tier, at) {
            Some(b) => (b, false),
            None if tier != ServiceTier::Standard => (self.base(list, ServiceTier::Standard, at)?, true),
            None => return None,
        };
        let prompt = tokens.prompt();
        // The long-context tier: of the base's scope and service tier, in
        // force, no older than the base; the largest threshold exceeded, and
        // of one threshold the latest version.
        let version = list
            .iter()
            .filter(|v| {
                v.org.is_some() == base.org.is_some()
                    && v.currency == base.currency
                    && v.terms.service_tier == base.terms.service_tier
                    && v.effective_from <= at
                    && v.effective_from >= base.effective_from
                    && v.terms.above_input_tokens.is_some_and(|n| prompt > n)
            })
            .max_by_key(|v| (v.terms.above_input_tokens, v.effective_from, v.id))
            .unwrap_or(base);
        Some(Priced { version, cost: version.rates.cost(tokens), tier_fallback, rate_fallbacks: version.rates.fallbacks(tokens) })
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
            rates: Rates {
                input_per_mtok: d(input),
                output_per_mtok: d("10"),
                cached_input_per_mtok: None,
                cache_write_per_mtok: None,
                cache_write_1h_per_mtok: None,
            },
            source: None,
            terms: Terms::default(),
        }
    }

    #[test]
    fn missing_cache_rates_mean_the_input_rate() {
        let r = Rates {
            input_per_mtok: d("3"),
            output_per_mtok: d("15"),
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
            cache_write_1h_per_mtok: None,
        };
        let t = Tokens { input: 1_000_000, output: 0, cached_input: 1_000_000, cache_write: 1_000_000, cache_write_1h: 1_000_000 };
        assert_eq!(r.cost(&t).to_string(), "12.00");
        assert_eq!(r.fallbacks(&t), vec![FallbackRate::CachedInput, FallbackRate::CacheWrite, FallbackRate::CacheWrite1h]);
        let r = Rates { cache_write_per_mtok: Some(d("3.75")), ..r };
        // The 1-hour writes take the 5-minute rate when the version has no 1-hour rate.
        assert_eq!(r.cost(&t).to_string(), "13.50");
        let r = Rates { cache_write_1h_per_mtok: Some(d("6")), ..r };
        assert_eq!(r.cost(&t).to_string(), "15.75");
        assert_eq!(r.fallbacks(&t), vec![FallbackRate::CachedInput]);
    }

    #[test]
    fn sub_nano_rate() {
        let r = Rates {
            input_per_mtok: d("0.0375"),
            output_per_mtok: d("0"),
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
            cache_write_1h_per_mtok: None,
        };
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
    fn the_organisations_currency_comes_first_then_another() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let book = PriceBook::new([version(1, None, t0, "5")], "EUR");
        assert_eq!(book.select("openai", "gpt-4o", t0).unwrap().currency, "USD", "a USD list price, to be converted");
        let mut eur = version(2, None, t0 - chrono::Duration::days(30), "4");
        eur.currency = "EUR".into();
        let book = PriceBook::new([version(1, None, t0, "5"), eur], "EUR");
        assert_eq!(book.select("openai", "gpt-4o", t0).unwrap().id, PriceId(2), "a price in EUR, even older, comes first");
    }

    fn tiered(id: i64, org: Option<i64>, at: DateTime<Utc>, tier: ServiceTier, above: Option<u64>, input: &str) -> PriceVersion {
        let mut v = version(id, org, at, input);
        v.terms = Terms { service_tier: tier, above_input_tokens: above, deprecation_date: None };
        v
    }

    #[test]
    fn a_long_prompt_prices_every_token_at_the_tier() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let book = PriceBook::new(
            [
                tiered(1, None, t0, ServiceTier::Standard, None, "1.25"),
                tiered(2, None, t0, ServiceTier::Standard, Some(200_000), "2.5"),
                tiered(3, None, t0, ServiceTier::Batch, None, "0.625"),
            ],
            "USD",
        );
        let at = t0 + chrono::Duration::days(1);
        let tokens = |input, cached| Tokens { input, cached_input: cached, output: 1000, ..Tokens::default() };
        let p = book.price("openai", "gpt-4o", ServiceTier::Standard, &tokens(200_000, 0), at).unwrap();
        assert_eq!((p.version.id, p.cost.to_string()), (PriceId(1), "0.26".into()), "exactly at the threshold: the standard rate");
        let p = book.price("openai", "gpt-4o", ServiceTier::Standard, &tokens(150_000, 50_001), at).unwrap();
        assert_eq!(p.version.id, PriceId(2), "cached input counts toward the prompt");
        // 150,000 x 2.5 + 50,001 x 2.5 (no cached rate: the tier's input rate) + 1,000 x 10, per million
        assert_eq!(p.cost.to_string(), "0.5100025");
        assert_eq!(p.rate_fallbacks, vec![FallbackRate::CachedInput]);
        let p = book.price("openai", "gpt-4o", ServiceTier::Batch, &tokens(300_000, 0), at).unwrap();
        assert_eq!(p.version.id, PriceId(3), "a tier of another service tier never applies");
        let p = book.price("openai", "gpt-4o", ServiceTier::Priority, &tokens(10, 0), at).unwrap();
        assert!(p.tier_fallback, "no priority version: the standard one, flagged");
        assert_eq!(p.version.id, PriceId(1));
    }

    #[test]
    fn a_newer_base_version_ends_older_tiers_and_the_largest_threshold_wins() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let book = PriceBook::new(
            [
                tiered(1, None, t0, ServiceTier::Standard, None, "1"),
                tiered(2, None, t0, ServiceTier::Standard, Some(100_000), "2"),
                tiered(3, None, t0, ServiceTier::Standard, Some(200_000), "3"),
                tiered(4, None, t1, ServiceTier::Standard, None, "1.5"),
                tiered(5, Some(7), t0, ServiceTier::Standard, None, "0.9"),
            ],
            "USD",
        );
        let big = Tokens { input: 250_000, ..Tokens::default() };
        let before = t1 - chrono::Duration::days(1);
        let global: PriceBook = PriceBook::new(book.by_model["openai"]["gpt-4o"].iter().filter(|v| v.org.is_none()).cloned(), "USD");
        assert_eq!(global.price("openai", "gpt-4o", ServiceTier::Standard, &big, before).unwrap().version.id, PriceId(3));
        assert_eq!(
            global
                .price("openai", "gpt-4o", ServiceTier::Standard, &Tokens { input: 150_000, ..Tokens::default() }, before)
                .unwrap()
                .version
                .id,
            PriceId(2)
        );
        assert_eq!(
            global.price("openai", "gpt-4o", ServiceTier::Standard, &big, t1).unwrap().version.id,
            PriceId(4),
            "the new base has no tier"
        );
        assert_eq!(
            book.price("openai", "gpt-4o", ServiceTier::Standard, &big, before).unwrap().version.id,
            PriceId(5),
            "a negotiated price has no global tier"
        );
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
        let raw = RawPrice {
            service_tier: Some("premium".into()),
            above_input_tokens: Some("200k".into()),
            deprecation_date: Some("31/12/2026".into()),
            cache_write_1h_per_mtok: Some("x".into()),
            ..raw
        };
        let errs = raw.validate(chrono_tz::UTC).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["service_tier", "above_input_tokens", "deprecation_date", "cache_write_1h_per_mtok"] {
            assert!(fields.contains(&f), "{f} is wrong and must be reported; got {fields:?}");
        }
    }
}
