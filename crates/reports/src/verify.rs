//! Verification of a CSV or JSON export against its metadata: the checksum
//! over the rows, the row count and the totals, recomputed from the file.
use crate::audit::AUDIT_COLUMNS;
use crate::canonical::{unneutralise, Hasher, RECORD_COLUMNS, RECORD_EDITIONS, SUMMARY_COLUMNS};
use crate::{Kind, Meta, ReportError, Result};
use argus_domain::Money;
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub file: String,
    pub ok: bool,
    pub kind: Kind,
    pub record_count: i64,
    pub sha256: String,
    pub expected_sha256: String,
    /// What does not match; empty when the export is intact.
    pub problems: Vec<String>,
}

#[derive(Default)]
struct Sums {
    rows: i64,
    requests: i64,
    input: i64,
    output: i64,
    cost: Money,
    unpriced: i64,
    hasher: Hasher,
}

impl Sums {
    fn row(&mut self, kind: Kind, cells: &[Option<String>]) -> std::result::Result<(), String> {
        let refs: Vec<Option<&str>> = cells.iter().map(|c| c.as_deref()).collect();
        self.hasher.row(&refs);
        self.rows += 1;
        let int = |i: usize| -> std::result::Result<i64, String> {
            cells
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_default()
                .parse::<i64>()
                .map_err(|_| format!("row {}: column {i} is not a whole number", self.rows))
        };
        let money = |i: usize| -> std::result::Result<Option<Money>, String> {
            match cells.get(i).cloned().flatten() {
                None => Ok(None),
                Some(s) => s.parse::<Money>().map(Some).map_err(|e| format!("row {}: {e}", self.rows)),
            }
        };
        match kind {
            Kind::Records => {
                self.requests += 1;
                self.input += int(7)?;
                self.output += int(8)?;
                match money(14)? {
                    Some(c) => self.cost += c,
                    None => self.unpriced += 1,
                }
            }
            Kind::Summary => {
                self.requests += int(1)?;
                self.input += int(2)?;
                self.output += int(3)?;
                self.cost += money(4)?.unwrap_or(Money::ZERO);
                self.unpriced += int(5)?;
            }
            // The audit log has no totals: its rows and checksum are checked.
            Kind::Audit => {}
        }
        Ok(())
    }
}

fn cells_of_json(kind: Kind, v: &serde_json::Value) -> Vec<Option<String>> {
    let cols: &[&str] = match kind {
        // The columns of the record's edition: the first that has every key it carries.
        Kind::Records => {
            let n = RECORD_EDITIONS.into_iter().find(|n| RECORD_COLUMNS[*n..].iter().all(|c| v.get(*c).is_none()));
            &RECORD_COLUMNS[..n.unwrap_or(RECORD_COLUMNS.len())]
        }
        Kind::Summary => &SUMMARY_COLUMNS,
        Kind::Audit => &AUDIT_COLUMNS,
    };
    cols.iter()
        .map(|c| match v.get(*c) {
            None | Some(serde_json::Value::Null) => None,
            // An audit entry's values before and after are JSON in the file, compact JSON in its rows.
            Some(x) if kind == Kind::Audit && matches!(*c, "before" | "after") => Some(x.to_string()),
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        })
        .collect()
}

/// Where the metadata of the export at `path` is written: `PATH.meta.json`.
pub(crate) fn sidecar(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.meta.json", path.display()))
}

/// SHA-256 of a file's bytes, read in pieces.
pub(crate) fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).map_err(|e| ReportError::Bad(format!("cannot open {}: {e}", path.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

fn read_sidecar(path: &Path) -> Result<Meta> {
    let side = sidecar(path);
    let f = std::fs::File::open(&side)
        .map_err(|_| ReportError::Bad(format!("no metadata: {} is missing (it is written beside every export)", side.display())))?;
    serde_json::from_reader(BufReader::new(f)).map_err(|e| ReportError::Bad(format!("{} is not valid metadata: {e}", side.display())))
}

/// A PDF: its bytes against the file checksum of its metadata file (the
/// figures it shows are those of the metadata's rows).
fn verify_pdf(path: &Path) -> Result<Verification> {
    let sha = file_sha256(path)?;
    let meta = read_sidecar(path)?;
    let mut problems = Vec::new();
    match meta.file_sha256.as_deref() {
        Some(expected) if expected == sha => {}
        Some(expected) => {
            problems.push(format!("the file's checksum is {sha}, the metadata says {expected}: the PDF was changed or is another one"))
        }
        None => problems.push("the metadata has no file_sha256; it was not written beside this PDF by argus-usage export".into()),
    }
    Ok(Verification {
        file: path.display().to_string(),
        ok: problems.is_empty(),
        kind: meta.kind,
        record_count: meta.record_count,
        sha256: sha,
        expected_sha256: meta.file_sha256.unwrap_or_default(),
        problems,
    })
}

/// Verifies the export at `path` (`.csv` with its `.meta.json` sidecar or
/// leading `#` lines, `.json`, or `.pdf` with its sidecar). For a PDF the
/// checksums compared are the file's; otherwise the rows'.
pub fn verify(path: &Path) -> Result<Verification> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")) {
        return verify_pdf(path);
    }
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| ReportError::Bad(format!("cannot open {}: {e}", p.display())));
    let mut sums = Sums::default();
    let mut problems = Vec::new();
    let meta: Meta;
    let is_json = path.extension().is_some_and(|e| e == "json") && !path.to_string_lossy().ends_with(".meta.json");
    if is_json {
        let v: serde_json::Value = serde_json::from_reader(BufReader::new(open(path)?))
            .map_err(|e| ReportError::Bad(format!("{} is not valid JSON: {e}", path.display())))?;
        meta = serde_json::from_value(v.get("meta").cloned().unwrap_or_default())
            .map_err(|e| ReportError::Bad(format!("the export has no valid \"meta\": {e}")))?;
        let key = match meta.kind {
            Kind::Records => "records",
            Kind::Summary => "groups",
            Kind::Audit => "entries",
        };
        for row in v.get(key).and_then(|x| x.as_array()).map(Vec::as_slice).unwrap_or(&[]) {
            if let Err(e) = sums.row(meta.kind, &cells_of_json(meta.kind, row)) {
                problems.push(e);
            }
        }
    } else {
        // The metadata: the sidecar, or the leading comment lines.
        let mut comment = String::new();
        let mut header_lines = 0;
        for line in BufReader::new(open(path)?).lines() {
            let line = line?;
            match line.strip_prefix("# ") {
                Some(rest) => {
                    comment.push_str(rest);
                    comment.push('\n');
                    header_lines += 1;
                }
                None => break,
            }
        }
        meta = if header_lines > 0 {
            serde_json::from_str(&comment).map_err(|e| ReportError::Bad(format!("the metadata lines are not valid: {e}")))?
        } else {
            read_sidecar(path).map_err(|e| ReportError::Bad(format!("{e}; or the CSV has no # lines")))?
        };
        let mut rdr =
            csv::ReaderBuilder::new().comment(if header_lines > 0 { Some(b'#') } else { None }).from_reader(BufReader::new(open(path)?));
        let expected: &[&str] = match meta.kind {
            Kind::Records => &RECORD_COLUMNS,
            Kind::Summary => &SUMMARY_COLUMNS,
            Kind::Audit => &AUDIT_COLUMNS,
        };
        let headers = rdr.headers().map_err(|e| ReportError::Bad(format!("cannot read the CSV header: {e}")))?.clone();
        let found = headers.iter().collect::<Vec<_>>();
        // Records exports of earlier editions have the first columns only.
        let earlier = meta.kind == Kind::Records && RECORD_EDITIONS.iter().any(|n| found == RECORD_COLUMNS[..*n]);
        if found != expected && !earlier {
            problems.push("the CSV header is not the one of this kind of export".into());
        }
        for rec in rdr.records() {
            let rec = rec.map_err(|e| ReportError::Bad(format!("cannot read the CSV: {e}")))?;
            let cells: Vec<Option<String>> =
                rec.iter().map(|c| if c.is_empty() { None } else { Some(unneutralise(c).to_string()) }).collect();
            if let Err(e) = sums.row(meta.kind, &cells) {
                problems.push(e);
            }
        }
    }
    let rows = sums.rows;
    let (requests, input, output, cost, unpriced) = (sums.requests, sums.input, sums.output, sums.cost, sums.unpriced);
    let sha = sums.hasher.finish();
    if sha != meta.sha256 {
        problems.push(format!("the checksum of the rows is {sha}, the metadata says {}: the rows were changed", meta.sha256));
    }
    if rows != meta.record_count {
        problems.push(format!("{rows} rows, the metadata says {}", meta.record_count));
    }
    let t = &meta.totals;
    if requests != t.requests || input != t.input_tokens || output != t.output_tokens || unpriced != t.unpriced_requests {
        problems.push(format!(
            "totals differ: requests {requests}/{}, input tokens {input}/{}, output tokens {output}/{}, unpriced {unpriced}/{}",
            t.requests, t.input_tokens, t.output_tokens, t.unpriced_requests
        ));
    }
    if t.cost.parse::<Money>().ok() != Some(cost) {
        problems.push(format!("the cost adds up to {cost}, the metadata says {}", t.cost));
    }
    Ok(Verification {
        file: path.display().to_string(),
        ok: problems.is_empty(),
        kind: meta.kind,
        record_count: rows,
        sha256: sha,
        expected_sha256: meta.sha256,
        problems,
    })
}
