//! The audit log's export: every entry of a period that the filters select,
//! oldest first, as CSV, JSON or a PDF listing, with the metadata and
//! checksum of every other export.
use crate::canonical::{neutralise, Hasher};
use crate::tabular::{meta, Scope};
use crate::{ExportRequest, Format, Meta, ReportError, Result, Totals};
use argus_ops::api::{AuditQuery, AuditView};
use argus_ops::Ops;
use std::io::Write;

/// Columns of an audit export; `before` and `after` are compact JSON.
pub const AUDIT_COLUMNS: [&str; 7] = ["id", "at", "actor", "action", "object", "before", "after"];

/// The entries of the request's period and audit filters, oldest first.
pub(crate) fn entries(ops: &mut Ops, req: &ExportRequest, sc: &Scope) -> Result<Vec<AuditView>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let q = AuditQuery {
            after: Some(after),
            limit: Some(1000),
            actor: req.audit.actor.clone(),
            action: req.audit.action.clone(),
            object: req.audit.object.clone(),
            from: Some(sc.from.clone()),
            to: Some(sc.to.clone()),
            ..Default::default()
        };
        let page = ops.audit_query(&req.org, &q)?;
        let more = page.has_more;
        after = page.next_after.unwrap_or(after);
        out.extend(page.entries);
        if !more {
            return Ok(out);
        }
    }
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().filter(|v| !v.is_null()).map(|v| serde_json::to_string(v).unwrap_or_default())
}

/// The cells of an entry, as exported (and hashed).
pub(crate) fn cells(e: &AuditView) -> [Option<String>; AUDIT_COLUMNS.len()] {
    [
        Some(e.id.to_string()),
        Some(e.at.clone()),
        Some(e.actor.clone()),
        Some(e.action.clone()),
        Some(e.object.clone()),
        json_text(&e.before),
        json_text(&e.after),
    ]
}

/// The metadata of an audit export of `entries`.
pub(crate) fn audit_meta(req: &ExportRequest, sc: &Scope, now: chrono::DateTime<chrono::Utc>, entries: &[AuditView]) -> Meta {
    let mut h = Hasher::default();
    for e in entries {
        h.row(&cells(e).iter().map(|c| c.as_deref()).collect::<Vec<_>>());
    }
    let totals = Totals { currency: sc.currency.clone(), ..Totals::of(&Default::default(), &sc.currency) };
    meta(req, sc, now, entries.len() as i64, totals, Vec::new(), h.finish())
}

/// CSV or JSON of the audit log.
pub(crate) fn write(
    ops: &mut Ops,
    req: &ExportRequest,
    sc: &Scope,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Meta> {
    let now = ops.now();
    let list = entries(ops, req, sc)?;
    let m = audit_meta(req, sc, now, &list);
    let bad = |e: &dyn std::fmt::Display| ReportError::Bad(format!("cannot write the export: {e}"));
    if req.format == Format::Json {
        writeln!(out, "{{\"meta\": {},", serde_json::to_string(&m).map_err(|e| bad(&e))?)?;
        writeln!(out, "\"entries\": [")?;
        for (i, e) in list.iter().enumerate() {
            let obj = serde_json::json!({"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "object": e.object, "before": e.before, "after": e.after});
            writeln!(out, "{obj}{}", if i + 1 < list.len() { "," } else { "" })?;
        }
        writeln!(out, "]}}")?;
    } else {
        if req.meta_comments {
            crate::tabular::meta_comments(out, &m)?;
        }
        let mut w = csv::Writer::from_writer(out);
        w.write_record(AUDIT_COLUMNS).map_err(|e| bad(&e))?;
        for e in &list {
            w.write_record(cells(e).iter().map(|c| neutralise(c.as_deref().unwrap_or("")).into_owned())).map_err(|e| bad(&e))?;
        }
        w.flush()?;
    }
    progress(list.len() as u64, list.len() as u64);
    Ok(m)
}
