//! The plain data that crosses the facade: what the CLI prints with
//! `--json`, what the server answers and what the window shows.
//! Money is a decimal string ([`Money`] serializes as one); times are RFC 3339.
use argus_domain::Money;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct OrgView {
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub timezone: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct PriceView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    /// `"global"` (the catalogue) or `"org"` (negotiated, takes precedence).
    pub scope: String,
    pub org: Option<String>,
    pub provider: String,
    pub model: String,
    pub effective_from: String,
    pub currency: String,
    pub input_per_mtok: String,
    pub output_per_mtok: String,
    pub cached_input_per_mtok: Option<String>,
    pub cache_write_per_mtok: Option<String>,
    /// The rate of input written to a cache kept an hour.
    #[serde(default)]
    pub cache_write_1h_per_mtok: Option<String>,
    /// standard, batch, flex or priority.
    #[serde(default = "standard")]
    pub service_tier: String,
    /// A long-context tier: its rates price every token of a call whose prompt exceeds this.
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null"))]
    pub above_input_tokens: Option<u64>,
    /// The date the provider retires the model.
    #[serde(default)]
    pub deprecation_date: Option<String>,
    /// The model is retired (its deprecation date has passed).
    #[serde(default)]
    pub deprecated: bool,
    pub source: Option<String>,
}

fn standard() -> String {
    "standard".to_string()
}

/// One refused line (or array element) of an import or ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Rejected {
    pub line: usize,
    pub error: String,
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct PriceImportReport {
    pub added: usize,
    /// On a linked store: versions queued for the server (they arrive here with the next sync).
    #[serde(default)]
    pub queued: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejected>,
    pub prices: Vec<PriceView>,
    /// LiteLLM's file: how many entries it has.
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null"))]
    pub entries: Option<usize>,
    /// LiteLLM's file: the entries not read, by reason (another mode, a provider not served...).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// Entries of a price file not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Skipped {
    pub reason: String,
    pub entries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct RecordView {
    #[cfg_attr(test, ts(type = "number"))]
    pub seq: i64,
    pub id: String,
    pub org: String,
    pub provider: String,
    pub model: String,
    pub operation: String,
    pub investigation: Option<String>,
    pub user: Option<String>,
    #[cfg_attr(test, ts(type = "number"))]
    pub input_tokens: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub output_tokens: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cached_input_tokens: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cache_write_tokens: u64,
    /// Input written to a cache kept an hour (disjoint from `cache_write_tokens`).
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number"))]
    pub cache_write_1h_tokens: u64,
    /// How the provider processed the call: standard, batch, flex or priority.
    #[serde(default = "standard")]
    pub service_tier: String,
    pub status: String,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub latency_ms: Option<i64>,
    pub occurred_at: String,
    /// `null` when unpriced: never shown as zero.
    #[cfg_attr(test, ts(type = "string | null"))]
    pub cost: Option<Money>,
    pub currency: String,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub price_id: Option<i64>,
    pub recorded_at: String,
    /// The model the provider says served the call (gateway calls).
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// Time to the answer's first byte (gateway calls).
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null"))]
    pub first_byte_ms: Option<i64>,
    /// The token counts are an estimate: the provider's usage never arrived.
    #[serde(default)]
    pub estimated: bool,
    /// Which attempt of a gateway call this was, from 1.
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number | null"))]
    pub attempt: Option<i64>,
    /// Priced in another currency: the cost in that currency (`cost` is
    /// then the converted one, `null` while the day's rate is not known).
    #[serde(default)]
    #[cfg_attr(test, ts(type = "string | null"))]
    pub source_cost: Option<Money>,
    #[serde(default)]
    pub source_currency: Option<String>,
    /// The rate that converted it: 1 `source_currency` = `fx_rate` `currency`, published on `fx_date`.
    #[serde(default)]
    pub fx_rate: Option<String>,
    #[serde(default)]
    pub fx_date: Option<String>,
    /// The name of the API or gateway token that sent the call (`null`
    /// for a file, the command line or the demo): what `token:NAME` budgets count.
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    /// Accepted records without a cost yet: no price, or (counted in
    /// `unconverted` too) priced in another currency whose rate of the
    /// record's day is not known yet.
    pub unpriced: usize,
    #[serde(default)]
    pub unconverted: usize,
    pub rejected: Vec<Rejected>,
    /// Budget alerts this ingest fired.
    pub alerts_fired: Vec<AlertView>,
}

/// Progress of a long ingest, reported after each committed batch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct IngestProgress {
    pub lines: usize,
    #[cfg_attr(test, ts(type = "number"))]
    pub bytes: u64,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Group {
    /// The group's key with one grouping; `null` for records without an
    /// investigation or user, and with two groupings.
    pub key: Option<String>,
    /// The group's value of each grouping, in the order of `by`.
    #[serde(default)]
    pub keys: Vec<Option<String>>,
    #[cfg_attr(test, ts(type = "number"))]
    pub requests: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub input_tokens: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub output_tokens: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cached_input_tokens: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cache_write_tokens: i64,
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number"))]
    pub cache_write_1h_tokens: i64,
    #[cfg_attr(test, ts(type = "string"))]
    pub cost: Money,
    #[cfg_attr(test, ts(type = "number"))]
    pub unpriced_requests: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Previous {
    pub from: String,
    pub to: String,
    #[cfg_attr(test, ts(type = "string"))]
    pub cost: Money,
    #[cfg_attr(test, ts(type = "number"))]
    pub requests: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub unpriced_requests: i64,
    /// Change of cost against the previous period, in percent (`null` when it had none).
    pub cost_change_percent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Summary {
    pub org: String,
    pub currency: String,
    pub timezone: String,
    pub from: String,
    pub to: String,
    pub by: Option<String>,
    #[cfg_attr(test, ts(type = "number"))]
    pub requests: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub input_tokens: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub output_tokens: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cached_input_tokens: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cache_write_tokens: i64,
    #[serde(default)]
    #[cfg_attr(test, ts(type = "number"))]
    pub cache_write_1h_tokens: i64,
    #[cfg_attr(test, ts(type = "string"))]
    pub cost: Money,
    #[cfg_attr(test, ts(type = "number"))]
    pub unpriced_requests: i64,
    pub previous: Previous,
    pub groups: Vec<Group>,
    /// The exchange rates the period's costs were converted by (none when every price is in the organisation's currency).
    #[serde(default)]
    pub fx_rates: Vec<FxUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct RecordsPage {
    pub records: Vec<RecordView>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub next_after_seq: Option<i64>,
    /// In time order (`order` time or time_desc): where the next page starts (`cursor`).
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct RepriceGroup {
    pub provider: String,
    pub model: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub changed: i64,
    #[cfg_attr(test, ts(type = "string"))]
    pub before_cost: Money,
    #[cfg_attr(test, ts(type = "string"))]
    pub after_cost: Money,
    #[cfg_attr(test, ts(type = "string"))]
    pub difference: Money,
    #[cfg_attr(test, ts(type = "number"))]
    pub before_unpriced: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub after_unpriced: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct RepriceReport {
    pub org: String,
    pub currency: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub applied: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub changed: i64,
    #[cfg_attr(test, ts(type = "string"))]
    pub before_cost: Money,
    #[cfg_attr(test, ts(type = "string"))]
    pub after_cost: Money,
    #[cfg_attr(test, ts(type = "string"))]
    pub difference: Money,
    #[cfg_attr(test, ts(type = "number"))]
    pub before_unpriced: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub after_unpriced: i64,
    pub groups: Vec<RepriceGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct DemoReport {
    pub org: String,
    pub from: String,
    pub to: String,
    pub records: usize,
    pub unpriced: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct BudgetView {
    pub org: String,
    /// What the budget covers: `org`, or `KIND:VALUE` (investigation, user,
    /// operation or provider), e.g. `investigation:INV-2026-0440`.
    #[serde(default = "org_scope")]
    pub scope: String,
    /// A spike alert fires when a day's spend exceeds this many times the
    /// median daily spend of the 14 days before; `null`: off.
    #[serde(default)]
    pub spike_factor: Option<String>,
    /// `YYYY-MM`, or `default` for the monthly amount of months without their own.
    pub month: String,
    pub currency: String,
    #[cfg_attr(test, ts(type = "string"))]
    pub amount: Money,
    pub thresholds: Vec<u32>,
    pub hard_limit: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub version: i64,
    pub updated_at: String,
}

/// What setting a budget did: the budget as stored and the alerts it fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BudgetSet {
    pub budget: BudgetView,
    pub alerts_fired: Vec<AlertView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct AlertView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub org: String,
    /// The budget's scope: `org`, or `KIND:VALUE`.
    #[serde(default = "org_scope")]
    pub scope: String,
    /// `threshold` (spend reached `threshold` % of the amount), `forecast`
    /// (the month-end projection, in `spent`, first exceeded the amount;
    /// `crosses_on` is when the amount is reached at that rate) or `spike`
    /// (`day`'s spend, in `spent`, exceeded the spike factor times the
    /// median of the 14 days before).
    #[serde(default = "threshold_kind")]
    pub kind: String,
    pub month: String,
    /// The percent of a threshold alert; 0 for the other kinds.
    pub threshold: u32,
    /// The day of a spike alert (YYYY-MM-DD).
    #[serde(default)]
    pub day: Option<String>,
    /// A forecast alert's date the amount is reached at the current rate.
    #[serde(default)]
    pub crosses_on: Option<String>,
    pub fired_at: String,
    /// Spend at the threshold; the projection of a forecast; the day's spend of a spike.
    #[cfg_attr(test, ts(type = "string"))]
    pub spent: Money,
    #[cfg_attr(test, ts(type = "string"))]
    pub amount: Money,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
}

impl AlertView {
    /// The alert in words: a title and a line, for a notification (and the
    /// alert channels to come).
    pub fn words(&self) -> (String, String) {
        let whose = if self.scope == "org" { self.org.clone() } else { format!("{} {}", self.org, self.scope) };
        match self.kind.as_str() {
            "forecast" => (
                format!("Budget forecast: {whose} is on course to overspend"),
                format!(
                    "projected {} of {} in {}{}",
                    self.spent,
                    self.amount,
                    self.month,
                    self.crosses_on.as_deref().map(|d| format!(", crossing it on {d}")).unwrap_or_default()
                ),
            ),
            "spike" => (
                format!("Spend spike: {whose}"),
                format!(
                    "{} spent on {}, several times a normal day (budget {})",
                    self.spent,
                    self.day.as_deref().unwrap_or("a day"),
                    self.amount
                ),
            ),
            _ => (
                format!("Budget alert: {whose} reached {}%", self.threshold),
                format!("{} of {} spent in {}", self.spent, self.amount, self.month),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct BudgetStatus {
    pub org: String,
    /// `org`, or the `KIND:VALUE` of a scoped budget.
    pub scope: String,
    pub month: String,
    pub currency: String,
    /// `null` when the organisation has no budget for the month.
    #[cfg_attr(test, ts(type = "string | null"))]
    pub amount: Option<Money>,
    /// Where the amount comes from: `month`, `default`, or `null`.
    pub budget_source: Option<String>,
    #[cfg_attr(test, ts(type = "string"))]
    pub spent: Money,
    #[cfg_attr(test, ts(type = "string"))]
    pub reserved: Money,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub remaining: Option<Money>,
    /// Spend as a percent of the amount, two decimals, as a string.
    pub percent: Option<String>,
    pub hard_limit: bool,
    /// Whether admission is refused now (hard limit reached, reservations included).
    pub blocked: bool,
    pub thresholds: Vec<u32>,
    pub alerts: Vec<AlertView>,
    #[cfg_attr(test, ts(type = "number"))]
    pub unpriced_requests: i64,
    /// The exchange rates the month's costs were converted by (none when every price is in the organisation's currency).
    #[serde(default)]
    pub fx_rates: Vec<FxUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct HealthView {
    /// `ok`, `failing` (failures, no cool-down yet) or `cooling_down`.
    pub state: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub consecutive_failures: i64,
    pub cooldown_until: Option<String>,
    pub last_outcome_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct ProviderView {
    pub provider: String,
    /// Whether settings were saved for it (else it is only seen in usage, with defaults).
    pub configured: bool,
    pub enabled: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub priority: i64,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub hourly_limit: Option<i64>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub daily_limit: Option<i64>,
    #[cfg_attr(test, ts(type = "number"))]
    pub hourly_used: i64,
    #[cfg_attr(test, ts(type = "number"))]
    pub daily_used: i64,
    pub note: Option<String>,
    #[cfg_attr(test, ts(type = "number"))]
    pub version: i64,
    pub health: HealthView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Admission {
    pub allowed: bool,
    pub reservation_id: Option<String>,
    /// On refusal: `provider_disabled`, `rate_limited` or `budget_exceeded`.
    pub code: Option<String>,
    pub message: Option<String>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub retry_after_s: Option<u64>,
    pub org: String,
    pub provider: String,
    pub month: Option<String>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub amount: Option<Money>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub spent: Option<Money>,
    /// The scope whose hard limit refused the call (`org`, or `KIND:VALUE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Candidate {
    pub provider: String,
    /// `available`, `disabled`, `rate_limited`, `budget_blocked` or `cooling_down`.
    pub state: String,
    pub reason: Option<String>,
    pub until: Option<String>,
    #[cfg_attr(test, ts(type = "number"))]
    pub priority: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Route {
    pub org: String,
    pub operation: Option<String>,
    pub chosen: Option<String>,
    pub reservation_id: Option<String>,
    pub dry_run: bool,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct Forecast {
    pub org: String,
    /// `org`, or the `KIND:VALUE` of a scoped budget.
    pub scope: String,
    pub month: String,
    pub currency: String,
    #[cfg_attr(test, ts(type = "string"))]
    pub spent: Money,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub projected: Option<Money>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub low: Option<Money>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub high: Option<Money>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub amount: Option<Money>,
    /// The local date spend reaches the amount, if it has or will this month.
    pub crosses_on: Option<String>,
    pub days_left: Option<String>,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub daily_rate: Option<Money>,
    pub enough_data: bool,
}

impl Forecast {
    /// How long the budget lasts at the current rate, in words, for the CLI
    /// and the PDF: "12.5 days of budget left at the current rate", "won't
    /// run out this month" when the rate does not reach the amount before
    /// the month ends, "the budget is spent"; `None` without a budget or a
    /// rate.
    pub fn budget_left_text(&self) -> Option<String> {
        let d = self.days_left.as_deref()?;
        Some(if d == "0" {
            "the budget is spent".into()
        } else if self.crosses_on.is_none() {
            "won't run out this month at the current rate".into()
        } else {
            format!("{d} days of budget left at the current rate")
        })
    }
}

/// One refused element of a batch posted over HTTP (0-based index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct RejectedIndex {
    pub index: usize,
    pub error: String,
    pub field: Option<String>,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct BatchReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<RejectedIndex>,
    /// The stored records, accepted and duplicate, with their costs.
    pub records: Vec<RecordView>,
    pub alerts_fired: Vec<AlertView>,
    /// Whether sending the same request again stores nothing twice: every
    /// record had an `id`, or the request an `Idempotency-Key`.
    pub retry_safe: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct AuditView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub before: Option<serde_json::Value>,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub after: Option<serde_json::Value>,
}

/// Which audit entries, and in which order: the query string of `GET
/// /orgs/{org}/audit` and the window's argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct AuditQuery {
    /// Oldest first: entries after this id (default 0).
    #[cfg_attr(test, ts(optional, type = "number"))]
    #[schemars(range(min = 0))]
    pub after: Option<i64>,
    /// Newest first: entries before this id (the `next_after` of the page before).
    #[cfg_attr(test, ts(optional, type = "number"))]
    #[schemars(range(min = 0))]
    pub before: Option<i64>,
    #[cfg_attr(test, ts(optional, type = "number"))]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<i64>,
    /// `oldest` (default) or `newest` first.
    #[cfg_attr(test, ts(optional, type = "\"oldest\" | \"newest\""))]
    #[schemars(regex(pattern = r"^(oldest|newest)$"))]
    pub order: Option<String>,
    /// A part of who made the change (`token:NAME`, `cli:USER`...), any case.
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub actor: Option<String>,
    /// A part of the action (`budget.set`, `provider.set`...), any case.
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub action: Option<String>,
    /// A part of the object changed, any case.
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub object: Option<String>,
    /// Entries at or after this time (a bare date is the organisation's midnight).
    #[cfg_attr(test, ts(optional))]
    #[schemars(pattern(argus_domain::record::patterns::TIME_OR_DATE))]
    pub from: Option<String>,
    /// Entries before this time.
    #[cfg_attr(test, ts(optional))]
    #[schemars(pattern(argus_domain::record::patterns::TIME_OR_DATE))]
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub next_after: Option<i64>,
    pub has_more: bool,
}

/// What the window shows of itself: its store, version and organisations,
/// and the store's link (`null` in a browser, where the console talks to
/// the server directly).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct AppInfo {
    pub db: String,
    pub version: String,
    pub orgs: Vec<OrgView>,
    pub sync: Option<SyncStatus>,
    /// What the console may do: `admin` on the desktop's own store (edits
    /// of a linked one are pushed with its token, whose role the server
    /// checks); in a browser, the token's role (ingest, analyst, auditor or
    /// admin). Screens hide the controls the role may not use.
    #[cfg_attr(test, ts(type = "\"ingest\" | \"analyst\" | \"auditor\" | \"admin\""))]
    pub role: String,
}

/// What the window hears about a long job (sync, export, import, reprice).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct JobEvent {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: u64,
    pub kind: String,
    #[cfg_attr(test, ts(type = "\"running\" | \"done\" | \"failed\" | \"cancelled\""))]
    pub state: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub done: u64,
    /// 0 when the total is not known.
    #[cfg_attr(test, ts(type = "number"))]
    pub total: u64,
    pub message: String,
    /// What the job answered when done (its report).
    #[cfg_attr(test, ts(type = "any"))]
    pub result: Option<serde_json::Value>,
    #[cfg_attr(test, ts(type = "{ code: string; message: string; field: string | null } | null"))]
    pub error: Option<crate::OpsError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct ConflictView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub object: String,
    /// The local edit.
    #[cfg_attr(test, ts(type = "unknown"))]
    pub local: serde_json::Value,
    /// The server's current value (`null`: it has none).
    #[cfg_attr(test, ts(type = "unknown"))]
    pub server: serde_json::Value,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub base_version: Option<i64>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub server_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct PendingView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub object: String,
    /// `pending` or `refused` (the server said no; retried on each sync).
    pub state: String,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub payload: serde_json::Value,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub base_version: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct SyncStatus {
    /// `null` on a standalone store.
    pub server: Option<String>,
    pub org: Option<String>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub cursor: Option<i64>,
    pub last_synced_at: Option<String>,
    pub pending_pushes: usize,
    pub conflicts: Vec<ConflictView>,
    pub pending: Vec<PendingView>,
    pub last_error: Option<String>,
    pub server_version: Option<String>,
    pub linked_at: Option<String>,
}

/// One exchange rate as the facade shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct FxRateView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    /// `"global"` (every organisation's) or `"org"` (the organisation's own, first of a date).
    pub scope: String,
    pub date: String,
    pub from: String,
    pub to: String,
    /// 1 `from` = `rate` `to`.
    pub rate: String,
}

/// Organisations with records that wait for a rate, after an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct FxWaiting {
    pub org: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct FxImportReport {
    pub added: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejected>,
    /// Records still unconverted (their day's rate was not known): `reprice --apply` converts those these rates now cover.
    pub waiting: Vec<FxWaiting>,
}

/// The rates a period's costs were converted by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct FxUsed {
    pub from: String,
    pub to: String,
    /// The day the rate was published for.
    pub date: String,
    pub rate: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: i64,
}

fn org_scope() -> String {
    "org".into()
}

fn threshold_kind() -> String {
    "threshold".into()
}
