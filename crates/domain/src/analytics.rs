//! Analytics: the dimensions, the group keys and the totals kept on write.
//!
//! The store keeps, per organisation and local day, one row of totals per
//! key of each *stored* dimension (total, provider, model, operation,
//! investigation, user). Day, week and month groupings fold the daily totals.
//! The key functions here are used both when aggregates are written and when
//! the edges of a range are scanned, so the two always agree.
use crate::price::Tokens;
use crate::time::{day_date, day_key, month_key, week_key};
use crate::{FieldError, Money};
use serde::{Deserialize, Serialize};

/// A grouping of `usage summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    Provider,
    Model,
    Operation,
    Investigation,
    User,
    Day,
    Week,
    Month,
}

impl Dim {
    pub const ALL: [Dim; 8] = [Dim::Provider, Dim::Model, Dim::Operation, Dim::Investigation, Dim::User, Dim::Day, Dim::Week, Dim::Month];

    pub fn parse(field: &str, s: &str) -> Result<Dim, FieldError> {
        Dim::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| {
            FieldError::new(
                field,
                format!("{s:?} is not a grouping; use one of provider, model, operation, investigation, user, day, week, month"),
            )
        })
    }

    /// One or two groupings separated by a comma (`investigation,provider`).
    pub fn parse_list(field: &str, s: &str) -> Result<Vec<Dim>, FieldError> {
        let dims = s.split(',').map(|p| Dim::parse(field, p.trim())).collect::<Result<Vec<_>, _>>()?;
        match dims.as_slice() {
            [_] => Ok(dims),
            [a, b] if a != b => Ok(dims),
            [a, _] => Err(FieldError::new(field, format!("{s:?} names {} twice; give two different groupings", a.as_str()))),
            _ => Err(FieldError::new(field, format!("{s:?} has {} groupings; give one, or two separated by a comma", dims.len()))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Provider => "provider",
            Dim::Model => "model",
            Dim::Operation => "operation",
            Dim::Investigation => "investigation",
            Dim::User => "user",
            Dim::Day => "day",
            Dim::Week => "week",
            Dim::Month => "month",
        }
    }

    /// The stored dimension whose rows answer this grouping.
    pub fn stored(self) -> StoredDim {
        match self {
            Dim::Provider => StoredDim::Provider,
            Dim::Model => StoredDim::Model,
            Dim::Operation => StoredDim::Operation,
            Dim::Investigation => StoredDim::Investigation,
            Dim::User => StoredDim::User,
            Dim::Day | Dim::Week | Dim::Month => StoredDim::Total,
        }
    }

    /// The group key of a day's total row for the time groupings.
    pub fn time_key(self, day: i32) -> Option<String> {
        let d = day_date(day);
        match self {
            Dim::Day => Some(day_key(d)),
            Dim::Week => Some(week_key(d)),
            Dim::Month => Some(month_key(d)),
            _ => None,
        }
    }

    pub fn is_time(self) -> bool {
        matches!(self, Dim::Day | Dim::Week | Dim::Month)
    }
}

/// The dimensions kept in the daily aggregate table. The numbers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoredDim {
    Total = 0,
    Provider = 1,
    Model = 2,
    Operation = 3,
    Investigation = 4,
    User = 5,
    /// The name of the token that sent the call (`''` for none): what a
    /// `token:NAME` budget spends (migrations/0015_record_tokens.sql).
    Token = 6,
}

impl StoredDim {
    pub const ALL: [StoredDim; 7] = [
        StoredDim::Total,
        StoredDim::Provider,
        StoredDim::Model,
        StoredDim::Operation,
        StoredDim::Investigation,
        StoredDim::User,
        StoredDim::Token,
    ];
}

/// The rollups of `agg_cube` (migrations/0011_cube.sql, 0012_pairs.sql),
/// which answer filtered and two-grouping summaries. The numbers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// A local day by provider, model, operation, status and investigation.
    DayInvestigation = 0,
    /// A local day by provider, model, operation, status and user.
    DayUser = 1,
    /// [`Shape::DayInvestigation`] by local month.
    MonthInvestigation = 3,
    /// [`Shape::DayUser`] by local month.
    MonthUser = 4,
    /// A local day by investigation and user (no kind of call).
    DayPair = 5,
    /// [`Shape::DayPair`] by local month.
    MonthPair = 6,
}

impl Shape {
    pub const ALL: [Shape; 6] =
        [Shape::DayInvestigation, Shape::DayUser, Shape::MonthInvestigation, Shape::MonthUser, Shape::DayPair, Shape::MonthPair];

    pub fn is_monthly(self) -> bool {
        matches!(self, Shape::MonthInvestigation | Shape::MonthUser | Shape::MonthPair)
    }

    /// The period of a local day in this shape: the day itself, or the
    /// first day of its month.
    pub fn period(self, day: i32) -> i32 {
        if self.is_monthly() {
            month_period(day)
        } else {
            day
        }
    }

    pub fn has_investigation(self) -> bool {
        !matches!(self, Shape::DayUser | Shape::MonthUser)
    }

    pub fn has_user(self) -> bool {
        !matches!(self, Shape::DayInvestigation | Shape::MonthInvestigation)
    }

    /// Whether its rows are by the kind of call too (provider, model,
    /// operation, status); those of the pairs hold `''` there.
    pub fn has_kind(self) -> bool {
        !matches!(self, Shape::DayPair | Shape::MonthPair)
    }
}

/// The day number of the first day of the month of local day `day`.
pub fn month_period(day: i32) -> i32 {
    let d = day_date(day);
    crate::time::day_number(d - chrono::Duration::days(i64::from(chrono::Datelike::day0(&d))))
}

/// The fields of a record that analytics group by.
#[derive(Debug, Clone, Copy)]
pub struct KeyParts<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub operation: &'a str,
    pub investigation: Option<&'a str>,
    pub user: Option<&'a str>,
    /// Not a stored dimension of `agg_daily`; the rollups of filtered
    /// summaries key by it.
    pub status: &'a str,
    /// The token that sent the call ([`StoredDim::Token`]); not in the rollups.
    pub token: Option<&'a str>,
}

/// The stored key of a record in a stored dimension. Models are keyed as
/// `provider/model`, since two providers may serve models of one name. A
/// missing investigation or user is the empty key, shown as `null`.
pub fn stored_key(dim: StoredDim, p: &KeyParts<'_>) -> String {
    let mut s = String::new();
    push_stored_key(&mut s, dim, p);
    s
}

/// Appends [`stored_key`] to `buf` (no allocation of its own).
pub fn push_stored_key(buf: &mut String, dim: StoredDim, p: &KeyParts<'_>) {
    match dim {
        StoredDim::Total => {}
        StoredDim::Provider => buf.push_str(p.provider),
        StoredDim::Model => {
            buf.push_str(p.provider);
            buf.push('/');
            buf.push_str(p.model);
        }
        StoredDim::Operation => buf.push_str(p.operation),
        StoredDim::Investigation => buf.push_str(p.investigation.unwrap_or_default()),
        StoredDim::User => buf.push_str(p.user.unwrap_or_default()),
        StoredDim::Token => buf.push_str(p.token.unwrap_or_default()),
    }
}

/// Totals of a set of records. Cost is kept in nano-units, exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub cost_nanos: i128,
    pub unpriced_requests: i64,
}

impl Totals {
    /// The totals of one record; `cost_nanos` is `None` when unpriced.
    pub fn of_record(t: &Tokens, cost_nanos: Option<i64>) -> Totals {
        Totals {
            requests: 1,
            input_tokens: t.input as i64,
            output_tokens: t.output as i64,
            cached_input_tokens: t.cached_input as i64,
            cache_write_tokens: t.cache_write as i64,
            cache_write_1h_tokens: t.cache_write_1h as i64,
            cost_nanos: i128::from(cost_nanos.unwrap_or(0)),
            unpriced_requests: i64::from(cost_nanos.is_none()),
        }
    }

    pub fn add(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.cache_write_1h_tokens += o.cache_write_1h_tokens;
        self.cost_nanos += o.cost_nanos;
        self.unpriced_requests += o.unpriced_requests;
    }

    pub fn sub(&mut self, o: &Totals) {
        self.requests -= o.requests;
        self.input_tokens -= o.input_tokens;
        self.output_tokens -= o.output_tokens;
        self.cached_input_tokens -= o.cached_input_tokens;
        self.cache_write_tokens -= o.cache_write_tokens;
        self.cache_write_1h_tokens -= o.cache_write_1h_tokens;
        self.cost_nanos -= o.cost_nanos;
        self.unpriced_requests -= o.unpriced_requests;
    }

    pub fn cost(&self) -> Money {
        Money::from_nanos_i128(self.cost_nanos)
    }
}

/// Which records: an exact value for any of the dimensions a record is
/// attributed to; `None` means any. The one definition of a record filter:
/// the store selects by it, exports carry it in their metadata, and the
/// front ends' queries (`RecordQuery`, the report parameters, the CLI's
/// flags) each make one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFilter {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub operation: Option<String>,
    pub investigation: Option<String>,
    pub user: Option<String>,
    /// The record's status (`ok`, `error`, `rate_limited`...).
    #[serde(default)]
    pub status: Option<String>,
    /// A part of the investigation, in any case (a search box).
    #[serde(default)]
    pub investigation_contains: Option<String>,
    /// A part of the user, in any case.
    #[serde(default)]
    pub user_contains: Option<String>,
}

impl RecordFilter {
    /// No dimension is filtered: every record of the period.
    pub fn is_empty(&self) -> bool {
        *self == RecordFilter::default()
    }
}
