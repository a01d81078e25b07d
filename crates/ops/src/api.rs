//! The plain data that crosses the facade: what the CLI prints with
//! `--json`, what the server answers and what the window shows.
//! Money is a decimal string ([`Money`] serializes as one); times are RFC 3339.
use argus_domain::Money;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgView {
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub timezone: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceView {
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
    pub source: Option<String>,
}

/// One refused line (or array element) of an import or ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub line: usize,
    pub error: String,
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PriceImportReport {
    pub added: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejected>,
    pub prices: Vec<PriceView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordView {
    pub seq: i64,
    pub id: String,
    pub org: String,
    pub provider: String,
    pub model: String,
    pub operation: String,
    pub investigation: Option<String>,
    pub user: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub status: String,
    pub latency_ms: Option<i64>,
    pub occurred_at: String,
    /// `null` when unpriced: never shown as zero.
    pub cost: Option<Money>,
    pub currency: String,
    pub price_id: Option<i64>,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub unpriced: usize,
    pub rejected: Vec<Rejected>,
}

/// Progress of a long ingest, reported after each committed batch.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct IngestProgress {
    pub lines: usize,
    pub bytes: u64,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group's key; `null` for records without an investigation or user.
    pub key: Option<String>,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost: Money,
    pub unpriced_requests: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Previous {
    pub from: String,
    pub to: String,
    pub cost: Money,
    pub requests: i64,
    pub unpriced_requests: i64,
    /// Change of cost against the previous period, in percent (`null` when it had none).
    pub cost_change_percent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub org: String,
    pub currency: String,
    pub timezone: String,
    pub from: String,
    pub to: String,
    pub by: Option<String>,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost: Money,
    pub unpriced_requests: i64,
    pub previous: Previous,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordsPage {
    pub records: Vec<RecordView>,
    pub next_after_seq: Option<i64>,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepriceGroup {
    pub provider: String,
    pub model: String,
    pub records: i64,
    pub changed: i64,
    pub before_cost: Money,
    pub after_cost: Money,
    pub difference: Money,
    pub before_unpriced: i64,
    pub after_unpriced: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepriceReport {
    pub org: String,
    pub currency: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub applied: bool,
    pub records: i64,
    pub changed: i64,
    pub before_cost: Money,
    pub after_cost: Money,
    pub difference: Money,
    pub before_unpriced: i64,
    pub after_unpriced: i64,
    pub groups: Vec<RepriceGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoReport {
    pub org: String,
    pub from: String,
    pub to: String,
    pub records: usize,
    pub unpriced: usize,
}
