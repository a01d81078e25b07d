//! The ledger's commands: organisations, prices, recording and ingesting
//! calls, analytics, reprice and the demo. Each prints a table or, with
//! `--json`, one JSON document.
use crate::table::Table;
use crate::{print_json, print_summary, FxCmd, OrgCmd, PricesCmd, RecordArgs, UsageCmd};
use argus_ops::{Ops, OpsError};
use std::process::ExitCode;

pub(crate) fn org(ops: &mut Ops, c: OrgCmd) -> Result<ExitCode, OpsError> {
    match c {
        OrgCmd::Create { slug, name, currency, timezone, json } => {
            let org = ops.org_create(&slug, name.as_deref(), &currency, &timezone)?;
            if json {
                print_json(&org);
            } else {
                outln!("created organisation {} ({}, {}, {})", org.slug, org.name, org.currency, org.timezone);
            }
        }
        OrgCmd::List { json } => {
            let orgs = ops.org_list()?;
            if json {
                print_json(&serde_json::json!({"orgs": orgs}));
            } else if orgs.is_empty() {
                outln!("no organisations yet; create one with `argus-usage org create SLUG` or load the demo with `argus-usage demo`");
            } else {
                let mut t = Table::new(&["slug", "name", "currency", "timezone"]);
                for o in orgs {
                    t.row(vec![o.slug, o.name, o.currency, o.timezone]);
                }
                t.print();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text of a file the user named, or an error that says what to check.
fn read_text(file: &std::path::Path) -> Result<String, OpsError> {
    std::fs::read_to_string(file)
        .map_err(|err| OpsError::new(argus_domain::ErrorCode::Io, format!("cannot read {}: {err}; check the path", file.display())))
}

pub(crate) fn prices(ops: &mut Ops, c: PricesCmd) -> Result<ExitCode, OpsError> {
    match c {
        PricesCmd::Import { file, org, format, effective_from, json } => {
            let content = read_text(&file)?;
            let report = match format.as_deref() {
                Some("litellm") => ops.prices_import_litellm(&content, org.as_deref(), effective_from.as_deref())?,
                _ if effective_from.is_some() => {
                    return Err(OpsError {
                        code: argus_domain::ErrorCode::BadInput,
                        message: "--effective-from goes with --format litellm; a CSV or JSON file gives effective_from on each row".into(),
                        field: Some("effective_from".into()),
                    })
                }
                _ => ops.prices_import(&content, org.as_deref())?,
            };
            if json {
                print_json(&report);
            } else {
                outln!("{} price versions added, {} already known, {} rejected", report.added, report.unchanged, report.rejected.len());
                if let Some(entries) = report.entries {
                    let skipped: usize = report.skipped.iter().map(|s| s.entries).sum();
                    outln!("{entries} entries in the file, {skipped} skipped:");
                    let mut by: Vec<_> = report.skipped.iter().collect();
                    by.sort_by(|a, b| b.entries.cmp(&a.entries).then_with(|| a.reason.cmp(&b.reason)));
                    for s in by.iter().take(12) {
                        outln!("  {:>6}  {}", s.entries, s.reason);
                    }
                    if by.len() > 12 {
                        let rest: usize = by[12..].iter().map(|s| s.entries).sum();
                        outln!("  {rest:>6}  other reasons ({} more; --json lists them all)", by.len() - 12);
                    }
                }
                for r in &report.rejected {
                    eprintln!("line {}: {}", r.line, r.error);
                }
            }
            if !report.rejected.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        PricesCmd::Check { org, json } => {
            let check = ops.prices_check(&org)?;
            if json {
                print_json(&check);
            } else if check.findings.is_empty() {
                outln!("all {} records of {} are priced by current versions with every rate they need", check.records, check.org);
            } else {
                let mut t = Table::new(&["provider", "model", "tier", "problem", "records", "price", "last record"]);
                t.right_align(&[4, 5]);
                for f in &check.findings {
                    t.row(vec![
                        f.provider.clone(),
                        f.model.clone(),
                        f.service_tier.clone(),
                        f.problem.clone(),
                        f.records.to_string(),
                        f.price_id.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        f.last_occurred_at.clone(),
                    ]);
                }
                t.print();
                for f in &check.findings {
                    outln!("{}/{} ({}): {}", f.provider, f.model, f.problem, f.detail);
                }
            }
        }
        PricesCmd::List { org, provider, json } => {
            let list = ops.prices_list(org.as_deref(), provider.as_deref())?;
            if json {
                print_json(&serde_json::json!({"prices": list}));
            } else {
                let mut t = Table::new(&[
                    "id",
                    "scope",
                    "provider",
                    "model",
                    "tier",
                    "prompt_above",
                    "effective_from",
                    "cur",
                    "input",
                    "output",
                    "cached",
                    "cache_write",
                    "write_1h",
                    "deprecation",
                ]);
                t.right_align(&[0, 5, 8, 9, 10, 11, 12]);
                let dash = |x: Option<String>| x.unwrap_or_else(|| "-".into());
                for p in list {
                    let deprecation = p.deprecation_date.map(|d| if p.deprecated { format!("{d} (retired)") } else { d });
                    t.row(vec![
                        p.id.to_string(),
                        p.scope,
                        p.provider,
                        p.model,
                        p.service_tier,
                        dash(p.above_input_tokens.map(|n| n.to_string())),
                        p.effective_from,
                        p.currency,
                        p.input_per_mtok,
                        p.output_per_mtok,
                        dash(p.cached_input_per_mtok),
                        dash(p.cache_write_per_mtok),
                        dash(p.cache_write_1h_per_mtok),
                        dash(deprecation),
                    ]);
                }
                t.print();
                outln!("rates are per million tokens; prompt_above: a long-context tier's rates price every token of a call whose prompt exceeds it");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn fx(ops: &mut Ops, c: FxCmd) -> Result<ExitCode, OpsError> {
    match c {
        FxCmd::Import { file, org, json } => {
            let content = read_text(&file)?;
            let report = ops.fx_import(&content, org.as_deref())?;
            if json {
                print_json(&report);
            } else {
                outln!("{} rates added, {} already known, {} rejected", report.added, report.unchanged, report.rejected.len());
                for r in &report.rejected {
                    eprintln!("line {}: {}", r.line, r.error);
                }
                for w in &report.waiting {
                    outln!(
                        "{}: {} records are not converted yet; `argus-usage reprice --org {} --apply` converts those whose day now has a rate",
                        w.org, w.records, w.org
                    );
                }
            }
            if !report.rejected.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        FxCmd::List { org, json } => {
            let list = ops.fx_list(org.as_deref())?;
            if json {
                print_json(&serde_json::json!({"rates": list}));
            } else if list.is_empty() {
                outln!("no exchange rates yet; import them with `argus-usage fx import FILE` (CSV: date,from,to,rate)");
            } else {
                let mut t = Table::new(&["date", "from", "to", "rate", "scope"]);
                t.right_align(&[3]);
                for x in list {
                    t.row(vec![x.date, x.from, x.to, x.rate, x.scope]);
                }
                t.print();
                outln!("1 `from` = `rate` `to`; a record's day takes the latest rate on or before it, once a rate of that day or later is known");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `record`: one call, priced as it is stored.
pub(crate) fn record(ops: &mut Ops, a: RecordArgs) -> Result<ExitCode, OpsError> {
    let at = match a.at {
        Some(s) => s,
        None => argus_domain::time::fmt_instant(ops.now()),
    };
    let mut v = serde_json::json!({
        "org": a.org, "provider": a.provider, "model": a.model, "operation": a.operation,
        "input_tokens": a.input_tokens, "output_tokens": a.output_tokens, "occurred_at": at,
    });
    let m = v.as_object_mut().ok_or_else(|| OpsError::new(argus_domain::ErrorCode::Internal, "record"))?;
    let mut put = |k: &str, x: Option<serde_json::Value>| {
        if let Some(x) = x {
            m.insert(k.to_string(), x);
        }
    };
    put("cached_input_tokens", a.cached_input_tokens.map(Into::into));
    put("cache_write_tokens", a.cache_write_tokens.map(Into::into));
    put("cache_write_1h_tokens", a.cache_write_1h_tokens.map(Into::into));
    put("service_tier", a.service_tier.map(Into::into));
    put("investigation", a.investigation.map(Into::into));
    put("user", a.user.map(Into::into));
    put("status", a.status.map(Into::into));
    put("latency_ms", a.latency_ms.map(Into::into));
    put("id", a.id.map(Into::into));
    put("reservation_id", a.reservation.map(Into::into));
    let rec = ops.record(&v)?;
    if a.json {
        print_json(&rec);
    } else {
        let cost =
            rec.cost.map(|c| format!("{c} {}", rec.currency)).unwrap_or_else(|| "UNPRICED (no price for this model at this time)".into());
        outln!("recorded {} (seq {}): {}", rec.id, rec.seq, cost);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn usage(ops: &mut Ops, c: UsageCmd) -> Result<ExitCode, OpsError> {
    match c {
        UsageCmd::Summary { org, filters, by, json } => {
            let s = ops.usage_summary_of(&org, &filters.query(None, None), by.as_deref())?;
            if json {
                print_json(&s);
            } else {
                print_summary(&s);
            }
        }
        UsageCmd::Records { org, filters, after_seq, limit, order, cursor, json } => {
            let q = argus_ops::analytics::RecordQuery { order, cursor, ..filters.query(after_seq, Some(limit)) };
            let page = ops.usage_records(&org, &q)?;
            if json {
                print_json(&page);
            } else if page.records.is_empty() {
                outln!("no records match; widen the period or the filters");
            } else {
                let mut t =
                    Table::new(&["seq", "occurred_at", "provider", "model", "operation", "investigation", "in", "out", "status", "cost"]);
                t.right_align(&[0, 6, 7, 9]);
                for r in &page.records {
                    t.row(vec![
                        r.seq.to_string(),
                        r.occurred_at.clone(),
                        r.provider.clone(),
                        r.model.clone(),
                        r.operation.clone(),
                        r.investigation.clone().unwrap_or_default(),
                        r.input_tokens.to_string(),
                        r.output_tokens.to_string(),
                        r.status.clone(),
                        match (&r.cost, &r.source_cost, &r.source_currency) {
                            (Some(c), _, _) => c.to_string(),
                            (None, Some(s), Some(cur)) => format!("{s} {cur}, awaiting rate"),
                            _ => "unpriced".into(),
                        },
                    ]);
                }
                t.print();
                if page.has_more {
                    outln!("more records follow: add --after-seq {}", page.next_after_seq.unwrap_or(0));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn reprice(
    ops: &mut Ops,
    org: &str,
    from: Option<&str>,
    to: Option<&str>,
    apply: bool,
    json: bool,
) -> Result<ExitCode, OpsError> {
    let r = ops.reprice(org, from, to, apply)?;
    if json {
        print_json(&r);
    } else {
        let mut t =
            Table::new(&["provider", "model", "records", "changed", "before", "after", "difference", "unpriced before", "unpriced after"]);
        t.right_align(&[2, 3, 4, 5, 6, 7, 8]);
        for g in &r.groups {
            t.row(vec![
                g.provider.clone(),
                g.model.clone(),
                g.records.to_string(),
                g.changed.to_string(),
                g.before_cost.to_string(),
                g.after_cost.to_string(),
                g.difference.to_string(),
                g.before_unpriced.to_string(),
                g.after_unpriced.to_string(),
            ]);
        }
        t.print();
        outln!(
            "{} of {} records change; total {} -> {} {} (difference {})",
            r.changed,
            r.records,
            r.before_cost,
            r.after_cost,
            r.currency,
            r.difference
        );
        if r.applied {
            outln!("applied, and written to the audit log");
        } else if r.changed > 0 {
            outln!("this was a preview: run again with --apply to change the records");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn demo(ops: &mut Ops, org: &str, json: bool) -> Result<ExitCode, OpsError> {
    let r = ops.demo(org)?;
    if json {
        print_json(&r);
    } else {
        outln!("created organisation {} with {} records from {} to {} ({} unpriced)", r.org, r.records, r.from, r.to, r.unpriced);
        outln!("try: argus-usage usage summary --org {} --by provider", r.org);
    }
    Ok(ExitCode::SUCCESS)
}
