//! CSV and JSON exports, streamed: rows go out as they are read, so memory
//! does not grow with the size of the export.
use crate::canonical::{neutralise, Hasher, RECORD_COLUMNS, SUMMARY_COLUMNS};
use crate::{generator, ExportRequest, Format, Kind, Meta, Period, ReportError, Result, Totals};
use argus_domain::time::{fmt_instant, fmt_instant_in, parse_timezone};
use argus_ops::analytics::RecordQuery;
use argus_ops::api::{Group, RecordView};
use argus_ops::Ops;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::io::Write;

pub(crate) fn query(req: &ExportRequest, from: &str, to: &str) -> RecordQuery {
    RecordQuery::of(Some(from.to_string()), Some(to.to_string()), req.filters.clone())
}

/// The cells of a record, as exported. Times are ISO 8601 in UTC (`Z`), as
/// stored; the metadata gives the period in the organisation's offset.
pub(crate) fn record_cells(r: &RecordView, _tz: chrono_tz::Tz) -> [Option<String>; RECORD_COLUMNS.len()] {
    let t = |s: &str| s.to_string();
    [
        Some(r.id.clone()),
        Some(r.org.clone()),
        Some(r.provider.clone()),
        Some(r.model.clone()),
        Some(r.operation.clone()),
        r.investigation.clone(),
        r.user.clone(),
        Some(r.input_tokens.to_string()),
        Some(r.output_tokens.to_string()),
        Some(r.cached_input_tokens.to_string()),
        Some(r.cache_write_tokens.to_string()),
        Some(r.status.clone()),
        r.latency_ms.map(|x| x.to_string()),
        Some(t(&r.occurred_at)),
        r.cost.map(|c| c.to_string()),
        Some(r.currency.clone()),
        r.price_id.map(|x| x.to_string()),
        Some(t(&r.recorded_at)),
        r.upstream_model.clone(),
        r.first_byte_ms.map(|x| x.to_string()),
        Some(r.estimated.to_string()),
        r.attempt.map(|x| x.to_string()),
        Some(r.service_tier.clone()),
        Some(r.cache_write_1h_tokens.to_string()),
        r.source_cost.map(|c| c.to_string()),
        r.source_currency.clone(),
        r.fx_rate.clone(),
        r.fx_date.clone(),
    ]
}

pub(crate) fn group_cells(g: &Group) -> [Option<String>; 6] {
    [
        g.key.clone(),
        Some(g.requests.to_string()),
        Some(g.input_tokens.to_string()),
        Some(g.output_tokens.to_string()),
        Some(g.cost.to_string()),
        Some(g.unpriced_requests.to_string()),
    ]
}

fn refs<const N: usize>(cells: &[Option<String>; N]) -> Vec<Option<&str>> {
    cells.iter().map(|c| c.as_deref()).collect()
}

/// Count, totals, price versions and checksum of the records exported.
#[derive(Default)]
pub(crate) struct Acc {
    pub(crate) hasher: Hasher,
    pub(crate) count: i64,
    t: argus_domain::analytics::Totals,
    pub(crate) prices: BTreeSet<i64>,
}

impl Acc {
    pub(crate) fn record(&mut self, r: &RecordView, cells: &[Option<String>; RECORD_COLUMNS.len()]) {
        self.hasher.row(&refs(cells));
        self.count += 1;
        let tokens = argus_domain::price::Tokens {
            input: r.input_tokens,
            output: r.output_tokens,
            cached_input: r.cached_input_tokens,
            cache_write: r.cache_write_tokens,
            cache_write_1h: r.cache_write_1h_tokens,
        };
        self.t.add(&argus_domain::analytics::Totals::of_record(&tokens, r.cost.and_then(|c| c.nanos())));
        if let Some(p) = r.price_id {
            self.prices.insert(p);
        }
    }

    pub(crate) fn totals(&self, currency: &str) -> Totals {
        Totals::of(&self.t, currency)
    }
}

/// The organisation, its time zone and the resolved period of a request.
pub(crate) struct Scope {
    pub name: String,
    pub currency: String,
    pub tz: chrono_tz::Tz,
    pub timezone: String,
    pub from: String,
    pub to: String,
    /// The exchange rates of the period's costs.
    pub fx_rates: Vec<argus_ops::fx::FxUsed>,
}

pub(crate) fn scope(ops: &mut Ops, req: &ExportRequest) -> Result<Scope> {
    let org = ops.org_get(&req.org)?;
    let tz = parse_timezone("timezone", &org.timezone).map_err(|e| ReportError::Bad(e.to_string()))?;
    // The period of the request; the audit log's without a start is the whole log.
    let from = match (req.kind, req.from.clone()) {
        (Kind::Audit, None) => Some(fmt_instant(argus_domain::time::accepted_range().0)),
        (_, from) => from,
    };
    let s = ops.usage_summary(&req.org, from.as_deref(), req.to.as_deref(), None)?;
    Ok(Scope { name: org.name, currency: org.currency, tz, timezone: org.timezone, from: s.from, to: s.to, fx_rates: s.fx_rates })
}

pub(crate) fn meta(
    req: &ExportRequest,
    sc: &Scope,
    now: DateTime<Utc>,
    count: i64,
    totals: Totals,
    price_ids: Vec<i64>,
    sha256: String,
) -> Meta {
    Meta {
        org: req.org.clone(),
        org_name: sc.name.clone(),
        kind: req.kind,
        by: if req.kind == Kind::Summary { Some(req.by.clone().unwrap_or_else(|| "provider".into())) } else { None },
        audit_filters: (req.kind == Kind::Audit).then(|| req.audit.clone()),
        period: Period { from: fmt_in(&sc.from, sc.tz), to: fmt_in(&sc.to, sc.tz), timezone: sc.timezone.clone() },
        // An audit export is not filtered by the record filters.
        filters: if req.kind == Kind::Audit { Default::default() } else { req.filters.clone() },
        generated_at: fmt_instant(now),
        generator: generator(),
        record_count: count,
        totals,
        price_ids,
        fx_rates: sc.fx_rates.clone(),
        sha256,
        file_sha256: None,
        canonical_form: match req.kind {
            Kind::Records => format!("argus-usage/records/v1: sha256 over each row as a compact JSON array of the {} column values (strings, null when empty), each followed by \\n", RECORD_COLUMNS.len()),
            Kind::Summary => "argus-usage/summary/v1: sha256 over each group as a compact JSON array of the 6 column values (strings, null when empty), each followed by \\n".into(),
            Kind::Audit => "argus-usage/audit/v1: sha256 over each entry as a compact JSON array of the 7 column values (strings, before and after as compact JSON, null when empty), each followed by \\n".into(),
        },
    }
}

pub(crate) fn fmt_in(s: &str, tz: chrono_tz::Tz) -> String {
    DateTime::parse_from_rfc3339(s).map(|d| fmt_instant_in(d.with_timezone(&Utc), tz)).unwrap_or_else(|_| s.to_string())
}

/// The groups and daily series of a summary export: the facade's summary
/// of the request's period and filters, by its dimension and by day.
pub(crate) fn summary_groups(ops: &mut Ops, req: &ExportRequest, sc: &Scope) -> Result<(Vec<Group>, Vec<Group>)> {
    let by = req.by.clone().unwrap_or_else(|| "provider".into());
    let q = query(req, &sc.from, &sc.to);
    let groups = ops.usage_summary_of(&req.org, &q, Some(&by))?.groups;
    let daily = ops.usage_summary_of(&req.org, &q, Some("day"))?.groups;
    Ok((groups, daily))
}

pub(crate) fn summary_totals(groups: &[Group], currency: &str) -> Totals {
    let mut t = argus_domain::analytics::Totals::default();
    for g in groups {
        t.add(&argus_ops::analytics::totals_of(g));
    }
    Totals::of(&t, currency)
}

fn csv_row(w: &mut csv::Writer<&mut dyn Write>, cells: &[Option<String>]) -> Result<()> {
    w.write_record(cells.iter().map(|c| neutralise(c.as_deref().unwrap_or("")).into_owned()))
        .map_err(|e| ReportError::Bad(format!("cannot write CSV: {e}")))
}

pub(crate) fn meta_comments(out: &mut dyn Write, m: &Meta) -> Result<()> {
    let json = serde_json::to_string_pretty(m).map_err(|e| ReportError::Bad(e.to_string()))?;
    for line in json.lines() {
        writeln!(out, "# {line}")?;
    }
    Ok(())
}

pub(crate) fn write(ops: &mut Ops, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    let sc = scope(ops, req)?;
    match req.kind {
        Kind::Summary => write_summary(ops, req, &sc, out, progress),
        Kind::Records => write_records(ops, req, &sc, out, progress),
        Kind::Audit => crate::audit::write(ops, req, &sc, out, progress),
    }
}

/// A summary: the groups (and, in JSON, the daily series), metadata first.
fn write_summary(ops: &mut Ops, req: &ExportRequest, sc: &Scope, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    let now = ops.now();
    let (groups, daily) = summary_groups(ops, req, sc)?;
    let mut h = Hasher::default();
    for g in &groups {
        h.row(&refs(&group_cells(g)));
    }
    let price_ids = ops.price_ids_used(&req.org, Some(&sc.from), Some(&sc.to))?;
    let m = meta(req, sc, now, groups.len() as i64, summary_totals(&groups, &sc.currency), price_ids, h.finish());
    match req.format {
        Format::Csv => {
            if req.meta_comments {
                meta_comments(out, &m)?;
            }
            let mut w = csv::Writer::from_writer(out);
            w.write_record(SUMMARY_COLUMNS).map_err(|e| ReportError::Bad(e.to_string()))?;
            for g in &groups {
                csv_row(&mut w, &group_cells(g))?;
            }
            w.flush()?;
        }
        _ => {
            let obj = |g: &Group| serde_json::json!({"key": g.key, "requests": g.requests, "input_tokens": g.input_tokens, "output_tokens": g.output_tokens, "cost": g.cost, "unpriced_requests": g.unpriced_requests});
            writeln!(out, "{{\"meta\": {},", serde_json::to_string(&m).map_err(|e| ReportError::Bad(e.to_string()))?)?;
            writeln!(out, "\"groups\": [")?;
            for (i, g) in groups.iter().enumerate() {
                writeln!(out, "{}{}", obj(g), if i + 1 < groups.len() { "," } else { "" })?;
            }
            writeln!(out, "],\n\"daily\": [")?;
            for (i, g) in daily.iter().enumerate() {
                writeln!(out, "{}{}", obj(g), if i + 1 < daily.len() { "," } else { "" })?;
            }
            writeln!(out, "]}}")?;
        }
    }
    progress(groups.len() as u64, groups.len() as u64);
    Ok(m)
}

/// Every record: streamed, one pass for a CSV with a sidecar, two (the
/// metadata first) for JSON and CSV with comment lines.
fn write_records(ops: &mut Ops, req: &ExportRequest, sc: &Scope, out: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> Result<Meta> {
    let now = ops.now();

    // Records: the first pass makes the metadata (count, totals, checksum),
    // the second writes the rows, over one snapshot of the store.
    let q = query(req, &sc.from, &sc.to);
    let mut acc = Acc::default();
    let mut m: Option<Meta> = None;
    let mut written = 0u64;
    let mut csv_w: Option<csv::Writer<Vec<u8>>> = None;
    let tz = sc.tz;
    let json = req.format == Format::Json;
    // The metadata must come first in JSON and in CSV with comment lines:
    // two passes. A CSV with a sidecar is written in one.
    let one_pass = !json && !req.meta_comments;
    let mut first_error: Option<ReportError> = None;
    ops.scan_records(&req.org, &q, if one_pass { 1 } else { 2 }, |pass, r| {
        if first_error.is_some() {
            return Ok(());
        }
        let cells = record_cells(r, tz);
        if pass == 0 {
            acc.record(r, &cells);
            if !one_pass {
                // Reading for the metadata: progress with no total yet, and
                // a flush, where a cancelled writer stops the export.
                if (acc.count as u64).is_multiple_of(10_000) {
                    progress(acc.count as u64, 0);
                    if let Err(e) = out.flush() {
                        first_error = Some(e.into());
                    }
                }
                return Ok(());
            }
        }
        if m.is_none() {
            // In one pass the metadata is only known at the end (it goes to
            // the sidecar); what `begin` needs here is the header alone.
            let meta_now = if one_pass {
                meta(req, sc, now, 0, Totals::default(), Vec::new(), String::new())
            } else {
                meta(
                    req,
                    sc,
                    now,
                    acc.count,
                    acc.totals(&sc.currency),
                    acc.prices.iter().copied().collect(),
                    std::mem::take(&mut acc.hasher).finish(),
                )
            };
            let res = begin(out, req, &meta_now, json);
            if let Err(e) = res {
                first_error = Some(e);
                return Ok(());
            }
            m = Some(meta_now);
            if !json {
                csv_w = Some(csv::WriterBuilder::new().from_writer(Vec::with_capacity(1 << 16)));
            }
        }
        let res = if json {
            let sep = if written + 1 < acc.count as u64 { "," } else { "" };
            writeln!(out, "{}{sep}", json_object(&cells)).map_err(ReportError::from)
        } else if let Some(w) = csv_w.as_mut() {
            let r = csv_row_buf(w, &cells);
            if r.is_ok() && w.get_ref().len() > (1 << 16) {
                flush_csv(w, out)
            } else {
                r
            }
        } else {
            Ok(())
        };
        if let Err(e) = res {
            first_error = Some(e);
        }
        written += 1;
        if written.is_multiple_of(10_000) {
            progress(written, acc.count as u64);
        }
        Ok(())
    })?;
    if let Some(e) = first_error {
        return Err(e);
    }
    let m = match m {
        Some(_) if one_pass => meta(
            req,
            sc,
            now,
            acc.count,
            acc.totals(&sc.currency),
            acc.prices.iter().copied().collect(),
            std::mem::take(&mut acc.hasher).finish(),
        ),
        Some(m) => m,
        None => {
            // No record in the period: an export that says so.
            let m = meta(req, sc, now, 0, acc.totals(&sc.currency), Vec::new(), std::mem::take(&mut acc.hasher).finish());
            begin(out, req, &m, json)?;
            if !json {
                csv_w = Some(csv::WriterBuilder::new().from_writer(Vec::new()));
            }
            m
        }
    };
    if json {
        writeln!(out, "]}}")?;
    } else if let Some(mut w) = csv_w {
        flush_csv(&mut w, out)?;
    }
    progress(written, written);
    Ok(m)
}

/// One record as a JSON object, written by hand (much faster than building
/// a `serde_json::Map`): numbers for counts and ids, strings otherwise.
fn json_object(cells: &[Option<String>; RECORD_COLUMNS.len()]) -> String {
    let mut o = String::with_capacity(512);
    o.push('{');
    for (i, (k, v)) in RECORD_COLUMNS.iter().zip(cells.iter()).enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push('"');
        o.push_str(k);
        o.push_str("\":");
        match v {
            None => o.push_str("null"),
            Some(s)
                if matches!(
                    *k,
                    "input_tokens"
                        | "output_tokens"
                        | "cached_input_tokens"
                        | "cache_write_tokens"
                        | "cache_write_1h_tokens"
                        | "latency_ms"
                        | "price_id"
                        | "first_byte_ms"
                        | "attempt"
                ) && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                o.push_str(s)
            }
            Some(s) if *k == "estimated" && (s == "true" || s == "false") => o.push_str(s),
            Some(s) => o.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())),
        }
    }
    o.push('}');
    o
}

fn begin(out: &mut dyn Write, req: &ExportRequest, m: &Meta, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{{\"meta\": {},", serde_json::to_string(m).map_err(|e| ReportError::Bad(e.to_string()))?)?;
        writeln!(out, "\"records\": [")?;
    } else {
        if req.meta_comments {
            meta_comments(out, m)?;
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(RECORD_COLUMNS).map_err(|e| ReportError::Bad(e.to_string()))?;
        out.write_all(&w.into_inner().map_err(|e| ReportError::Bad(e.to_string()))?)?;
    }
    Ok(())
}

fn csv_row_buf(w: &mut csv::Writer<Vec<u8>>, cells: &[Option<String>]) -> Result<()> {
    w.write_record(cells.iter().map(|c| neutralise(c.as_deref().unwrap_or("")).into_owned()))
        .map_err(|e| ReportError::Bad(format!("cannot write CSV: {e}")))
}

fn flush_csv(w: &mut csv::Writer<Vec<u8>>, out: &mut dyn Write) -> Result<()> {
    let full = std::mem::replace(w, csv::WriterBuilder::new().from_writer(Vec::with_capacity(1 << 16)));
    let buf = full.into_inner().map_err(|e| ReportError::Bad(format!("cannot write CSV: {e}")))?;
    out.write_all(&buf)?;
    Ok(())
}
