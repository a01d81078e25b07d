//! Audit-grade exports: CSV, JSON and PDF of records or of grouped totals,
//! with the metadata that lets an auditor verify them later.
//!
//! - [`export`] — one entry point for every format and kind.
//! - `canonical` — the canonical form the checksum is computed over.
//! - `tabular` — CSV and JSON, streamed in constant memory.
//! - `pdf` — the PDF report with its charts.
//! - [`verify`] — recomputes the checksum and totals of a CSV or JSON export.
//!
//! **The checksum** (`sha256` in the metadata) is SHA-256 over the exported
//! rows in their canonical form: each row as a compact JSON array of strings
//! (or `null` for an empty optional cell) in the column order of the CSV,
//! with the values as exported (before the CSV's formula neutralisation),
//! each followed by a newline (`\n`). The same rows give the same checksum in
//! CSV and JSON.
#![forbid(unsafe_code)]

mod canonical;
mod pdf;
mod tabular;
mod verify;

pub use canonical::{neutralise, unneutralise, RECORD_COLUMNS, SUMMARY_COLUMNS};
pub use verify::{verify, Verification};

use argus_ops::{Ops, OpsError};
use serde::{Deserialize, Serialize};
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Ops(#[from] OpsError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Bad(String),
}

pub type Result<T> = std::result::Result<T, ReportError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Pdf,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "pdf" => Ok(Format::Pdf),
            _ => Err(ReportError::Bad(format!("field `format`: {s:?} is not a format; use csv, json or pdf"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Records,
    Summary,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "records" => Ok(Kind::Records),
            "summary" => Ok(Kind::Summary),
            _ => Err(ReportError::Bad(format!("field `kind`: {s:?} is not a kind; use records or summary"))),
        }
    }
}

/// The filters of an export; `None` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub operation: Option<String>,
    pub investigation: Option<String>,
    pub user: Option<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub org: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub filters: Filters,
    pub kind: Kind,
    /// The grouping of a summary (default provider).
    pub by: Option<String>,
    pub format: Format,
    /// CSV: the metadata as leading `#` comment lines instead of a sidecar file.
    pub meta_comments: bool,
}

/// Totals of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost: String,
    pub currency: String,
    pub unpriced_requests: i64,
}

/// The metadata every export carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub org: String,
    pub org_name: String,
    pub kind: Kind,
    pub by: Option<String>,
    pub period: Period,
    pub filters: Filters,
    pub generated_at: String,
    pub generator: String,
    /// Rows exported: records, or groups for a summary.
    pub record_count: i64,
    pub totals: Totals,
    pub price_ids: Vec<i64>,
    /// SHA-256 of the rows in canonical form (see the crate documentation).
    pub sha256: String,
    pub canonical_form: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: String,
    pub to: String,
    pub timezone: String,
}

pub fn generator() -> String {
    format!("argus-usage {}", env!("CARGO_PKG_VERSION"))
}

/// Writes the export to `out` and returns its metadata. `progress` gets
/// (rows done, rows in all) as it goes.
pub fn export(ops: &mut Ops, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    match req.format {
        Format::Pdf => pdf::write(ops, req, out, progress),
        Format::Csv | Format::Json => tabular::write(ops, req, out, progress),
    }
}
