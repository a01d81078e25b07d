//! Audit-grade exports: CSV, JSON and PDF of records or of grouped totals,
//! with the metadata that lets an auditor verify them later.
//!
//! - [`export`] — one entry point for every format and kind.
//! - `canonical` — the canonical form the checksum is computed over.
//! - `tabular` — CSV and JSON, streamed in constant memory.
//! - `pdf` — the PDF report with its charts.
//! - [`verify`] — recomputes the checksum and totals of a CSV or JSON
//!   export; checks a PDF against the file checksum in its metadata file.
//!
//! **The checksum** (`sha256` in the metadata) is SHA-256 over the exported
//! rows in their canonical form: each row as a compact JSON array of strings
//! (or `null` for an empty optional cell) in the column order of the CSV,
//! with the values as exported (before the CSV's formula neutralisation),
//! each followed by a newline (`\n`). The same rows give the same checksum in
//! CSV and JSON.
#![forbid(unsafe_code)]

mod audit;
mod canonical;
mod pdf;
mod tabular;
mod verify;

pub use audit::AUDIT_COLUMNS;
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
    /// Too many rows for a PDF listing: a valid request that the store's
    /// contents refuse (409 over HTTP).
    #[error("{0}")]
    TooLong(String),
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

    /// The file extension of the format (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Pdf => "pdf",
        }
    }

    /// The HTTP content type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Pdf => "application/pdf",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Records,
    Summary,
    /// The audit log (who changed what), filtered by [`AuditFilters`].
    Audit,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "records" => Ok(Kind::Records),
            "summary" => Ok(Kind::Summary),
            "audit" => Ok(Kind::Audit),
            _ => Err(ReportError::Bad(format!("field `kind`: {s:?} is not a kind; use records, summary or audit"))),
        }
    }
}

/// The filters of an export (the one record filter); `None` means all.
pub use argus_domain::analytics::RecordFilter as Filters;

/// The filters of an audit export: a part of the actor, the action and the
/// object changed (any case), as the audit log's own filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilters {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object: Option<String>,
}

impl AuditFilters {
    /// Each part is text of at most 256 characters, as the audit log's filters take.
    pub fn check(&self) -> std::result::Result<(), argus_domain::FieldError> {
        for (field, v) in [("actor", &self.actor), ("action", &self.action), ("object", &self.object)] {
            if let Some(v) = v {
                argus_domain::slug::check_text(field, v, 256)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub org: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub filters: Filters,
    /// The filters of an audit export (the record filters do not apply to it).
    pub audit: AuditFilters,
    pub kind: Kind,
    /// The grouping of a summary (default provider).
    pub by: Option<String>,
    pub format: Format,
    /// CSV: the metadata as leading `#` comment lines instead of a sidecar file.
    pub meta_comments: bool,
}

impl ExportRequest {
    /// The name an export is saved under unless the user names the file:
    /// `argus-usage-ORG-KIND-FROM_TO.EXT` (`start`, `now` for an open end),
    /// with no `:` (not allowed in file names everywhere). The window saves
    /// under it, and the server sends it as the download's file name.
    pub fn default_file_name(&self) -> String {
        let kind = match self.kind {
            Kind::Summary => "summary",
            Kind::Records => "records",
            Kind::Audit => "audit",
        };
        let (from, to) = (self.from.as_deref().unwrap_or("start"), self.to.as_deref().unwrap_or("now"));
        format!("argus-usage-{}-{kind}-{from}_{to}.{}", self.org, self.format.extension()).replace([':', '/', '\\', '"'], "-")
    }
}

/// The parameters of an export as the HTTP API and the window take them
/// (`GET /orgs/{org}/reports?...`, the window's export job).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    #[schemars(regex(pattern = r"^(csv|json|pdf)$"))]
    pub format: String,
    /// `records` (default), `summary` or `audit` (the audit log: auditor
    /// and admin tokens).
    #[schemars(regex(pattern = r"^(records|summary|audit)$"))]
    pub kind: Option<String>,
    /// The grouping of a summary.
    #[schemars(regex(pattern = r"^(provider|model|operation|investigation|user|day|week|month)$"))]
    pub by: Option<String>,
    #[schemars(pattern(argus_domain::record::patterns::TIME_OR_DATE))]
    pub from: Option<String>,
    #[schemars(pattern(argus_domain::record::patterns::TIME_OR_DATE))]
    pub to: Option<String>,
    #[schemars(length(max = 64), pattern(argus_domain::record::patterns::SLUG))]
    pub provider: Option<String>,
    #[schemars(length(min = 1, max = 128), pattern(argus_domain::record::patterns::TEXT))]
    pub model: Option<String>,
    #[schemars(length(max = 64), pattern(argus_domain::record::patterns::SLUG))]
    pub operation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub investigation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub user: Option<String>,
    #[schemars(length(max = 64), pattern(argus_domain::record::patterns::SLUG))]
    pub status: Option<String>,
    /// A part of the investigation, ASCII letters in any case.
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub investigation_contains: Option<String>,
    /// A part of the user, ASCII letters in any case.
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub user_contains: Option<String>,
    /// Audit exports: a part of who made the change, any case.
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub actor: Option<String>,
    /// Audit exports: a part of the action (`budget.set`...), any case.
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub action: Option<String>,
    /// Audit exports: a part of the object changed, any case.
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub object: Option<String>,
}

impl ReportParams {
    /// The export of `org` these parameters ask for (format and kind checked).
    pub fn request(self, org: &str, meta_comments: bool) -> Result<ExportRequest> {
        // The filters are those of a record query, checked the same way.
        let filters = Filters {
            provider: self.provider,
            model: self.model,
            operation: self.operation,
            investigation: self.investigation,
            user: self.user,
            status: self.status,
            investigation_contains: self.investigation_contains,
            user_contains: self.user_contains,
        };
        let query = argus_ops::analytics::RecordQuery::of(self.from.clone(), self.to.clone(), filters.clone());
        query.check().map_err(|e| ReportError::Bad(e.to_string()))?;
        let audit = AuditFilters { actor: self.actor, action: self.action, object: self.object };
        audit.check().map_err(|e| ReportError::Bad(e.to_string()))?;
        if let Some(b) = self
            .by
            .as_deref()
            .filter(|b| !matches!(*b, "provider" | "model" | "operation" | "investigation" | "user" | "day" | "week" | "month"))
        {
            return Err(ReportError::Bad(format!(
                "field `by`: {b:?} is not a grouping; use provider, model, operation, investigation, user, day, week or month"
            )));
        }
        Ok(ExportRequest {
            org: org.to_string(),
            from: self.from,
            to: self.to,
            filters,
            audit,
            kind: Kind::parse(self.kind.as_deref().unwrap_or("records"))?,
            by: self.by,
            format: Format::parse(&self.format)?,
            meta_comments,
        })
    }
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

impl Totals {
    /// The export form of the one accumulator of totals
    /// (`argus_domain::analytics::Totals`): the cost as a decimal string,
    /// with its currency.
    pub fn of(t: &argus_domain::analytics::Totals, currency: &str) -> Totals {
        Totals {
            requests: t.requests,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cached_input_tokens: t.cached_input_tokens,
            cache_write_tokens: t.cache_write_tokens,
            cost: t.cost().to_string(),
            currency: currency.to_string(),
            unpriced_requests: t.unpriced_requests,
        }
    }
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
    /// The filters of an audit export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_filters: Option<AuditFilters>,
    pub generated_at: String,
    pub generator: String,
    /// Rows exported: records, groups for a summary, entries of the audit log.
    pub record_count: i64,
    pub totals: Totals,
    pub price_ids: Vec<i64>,
    /// The exchange rates that converted the period's costs into the organisation's currency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fx_rates: Vec<argus_ops::fx::FxUsed>,
    /// SHA-256 of the rows in canonical form (see the crate documentation).
    pub sha256: String,
    pub canonical_form: String,
    /// In the metadata file beside an export (`FILE.meta.json`): SHA-256 of
    /// the export file's bytes, which is what `export verify` checks of a
    /// PDF (its rows cannot be read back exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
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

/// Checks a request before a byte of it is written (the organisation, the
/// period, the grouping, and that a records PDF is not too long to list),
/// so that a download is refused with a clear error before its answer starts.
pub fn check(ops: &mut Ops, req: &ExportRequest) -> Result<()> {
    let sc = tabular::scope(ops, req)?;
    if req.kind == Kind::Summary {
        let by = req.by.as_deref().unwrap_or("provider");
        ops.usage_summary_of(&req.org, &tabular::query(req, &sc.from, &sc.to), Some(by))?;
    }
    if req.kind != Kind::Summary && req.format == Format::Pdf {
        pdf::check_listing(ops, req, &sc)?;
    }
    Ok(())
}

/// Writes the export to `out` and returns its metadata. `progress` gets
/// (rows done, rows in all) as it goes; rows in all is 0 while not yet known
/// (the first of two passes).
pub fn export(ops: &mut Ops, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    match req.format {
        Format::Pdf => pdf::write(ops, req, out, progress),
        Format::Csv | Format::Json => tabular::write(ops, req, out, progress),
    }
}

/// [`export`] into memory, with the bytes' checksum in the metadata (what
/// the metadata file beside a written export says): the server's PDF
/// downloads, whose metadata travels in a header so that the browser can
/// save it beside the file.
pub fn export_bytes(ops: &mut Ops, req: &ExportRequest) -> Result<(Vec<u8>, Meta)> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    let mut meta = export(ops, req, &mut out, &mut |_, _| {})?;
    meta.file_sha256 = Some(hex::encode(Sha256::digest(&out)));
    Ok((out, meta))
}

/// An export written to a file, and its metadata beside it as
/// `FILE.meta.json` (every format, except a CSV that carries it as comment
/// lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub file: std::path::PathBuf,
    pub meta_file: Option<std::path::PathBuf>,
    pub meta: Meta,
}

/// Errors the write once `cancel` is set, so that the export stops.
struct Cancellable<'a, W: Write> {
    inner: W,
    cancel: &'a std::sync::atomic::AtomicBool,
}

impl<W: Write> Write for Cancellable<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"));
        }
        self.inner.write(buf)
    }

    /// Also where a pass that writes nothing (the first of two) checks for a cancel.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"));
        }
        self.inner.flush()
    }
}

/// [`export`] into the file `out`: written beside it as `OUT.partial` and
/// renamed at the end, so there is never a partial file under the name
/// asked for, also when cancelled (`cancel` set) or failing.
pub fn export_file(
    ops: &mut Ops,
    req: &ExportRequest,
    out: &std::path::Path,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Written> {
    use std::path::PathBuf;
    let tmp = PathBuf::from(format!("{}.partial", out.display()));
    let file = std::fs::File::create(&tmp)
        .map_err(|e| ReportError::Bad(format!("cannot create {}: {e}; check the folder exists and is writable", tmp.display())))?;
    let mut w = Cancellable { inner: std::io::BufWriter::with_capacity(1 << 20, file), cancel };
    let result = export(ops, req, &mut w, progress).and_then(|m| w.flush().map(|_| m).map_err(ReportError::from));
    drop(w);
    let meta = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(ReportError::Bad("the export was cancelled; no file was written".into()));
            }
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(|e| ReportError::Bad(format!("cannot write {}: {e}", out.display())))?;
    let mut meta_file = None;
    let mut meta = meta;
    if !(req.format == Format::Csv && req.meta_comments) {
        let p = verify::sidecar(out);
        meta.file_sha256 = Some(verify::file_sha256(out)?);
        let text = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
        std::fs::write(&p, text).map_err(|e| ReportError::Bad(format!("cannot write {}: {e}", p.display())))?;
        meta_file = Some(p);
    }
    Ok(Written { file: out.to_path_buf(), meta_file, meta })
}
