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

/// What a budget covers: the whole organisation, or the calls of one
/// investigation, user, operation, provider or token. Written `org` or
/// `KIND:VALUE` (`investigation:INV-2026-0440`), which is also how it is
/// stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Org,
    Investigation(String),
    User(String),
    Operation(String),
    Provider(String),
    /// An API or gateway token, by its name.
    Token(String),
}

/// The keys of one call that scopes match.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallKeys<'a> {
    pub provider: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub investigation: Option<&'a str>,
    pub user: Option<&'a str>,
    pub token: Option<&'a str>,
}

impl Scope {
    /// Parses `org` or `KIND:VALUE`; the value is text as a record's (1 to
    /// 256 characters, no control characters), a slug for operation and
    /// provider.
    pub fn parse(field: &str, s: &str) -> Result<Scope, FieldError> {
        if s == "org" {
            return Ok(Scope::Org);
        }
        if s.chars().count() > 270 {
            return Err(FieldError::new(field, format!("is {} characters long; a scope is at most 270", s.chars().count())));
        }
        let Some((kind, value)) = s.split_once(':') else {
            return Err(FieldError::new(
                field,
                format!("{s:?} is not a scope; write org, or KIND:VALUE with KIND investigation, user, operation, provider or token (investigation:INV-7)"),
            ));
        };
        // The value's length is bounded by the scope's (270), as the API documents it.
        let text = |v: &str| crate::slug::check_text(field, v, 270).map(|_| v.to_string());
        let slug = |v: &str| {
            let first = v.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            let rest = v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
            match first && rest && !v.contains("..") {
                true => Ok(v.to_string()),
                // The slug's own message says what a slug is.
                false => crate::slug::check_slug(field, v).map(|_| v.to_string()),
            }
        };
        Ok(match kind {
            "investigation" => Scope::Investigation(text(value)?),
            "user" => Scope::User(text(value)?),
            "operation" => Scope::Operation(slug(value)?),
            "provider" => Scope::Provider(slug(value)?),
            "token" => Scope::Token(text(value)?),
            other => {
                return Err(FieldError::new(
                    field,
                    format!("{other:?} is not a kind of scope; use investigation, user, operation, provider or token (or org)"),
                ))
            }
        })
    }

    /// The kind and value (`None` for the organisation).
    pub fn parts(&self) -> Option<(&'static str, &str)> {
        match self {
            Scope::Org => None,
            Scope::Investigation(v) => Some(("investigation", v)),
            Scope::User(v) => Some(("user", v)),
            Scope::Operation(v) => Some(("operation", v)),
            Scope::Provider(v) => Some(("provider", v)),
            Scope::Token(v) => Some(("token", v)),
        }
    }

    /// Whether a call with `keys` counts against a budget of this scope.
    pub fn matches(&self, keys: &CallKeys<'_>) -> bool {
        let is = |k: Option<&str>, v: &str| k == Some(v);
        match self {
            Scope::Org => true,
            Scope::Investigation(v) => is(keys.investigation, v),
            Scope::User(v) => is(keys.user, v),
            Scope::Operation(v) => is(keys.operation, v),
            Scope::Provider(v) => is(keys.provider, v),
            Scope::Token(v) => is(keys.token, v),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parts() {
            None => f.write_str("org"),
            Some((k, v)) => write!(f, "{k}:{v}"),
        }
    }
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

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn scopes_parse_print_and_match() {
        for s in ["org", "investigation:INV-2026-0440", "user:ann@example.com", "operation:chat", "provider:openai", "token:gateway-1"] {
            assert_eq!(Scope::parse("scope", s).unwrap().to_string(), s);
        }
        let inv = Scope::parse("scope", "investigation:INV:7").unwrap();
        assert_eq!(inv, Scope::Investigation("INV:7".into()), "only the first colon separates");
        let keys = CallKeys { investigation: Some("INV:7"), provider: Some("openai"), ..Default::default() };
        assert!(inv.matches(&keys) && Scope::Org.matches(&keys));
        assert!(!Scope::User("ann".into()).matches(&keys));
        assert!(Scope::Provider("openai".into()).matches(&keys));
        for bad in ["team:x", "investigation", "investigation:", "provider:Open AI", ""] {
            let e = Scope::parse("scope", bad).unwrap_err();
            assert_eq!(e.field, "scope", "{bad}");
        }
        assert!(Scope::parse("scope", "team:x").unwrap_err().message.contains("investigation, user, operation, provider or token"));
    }
}
