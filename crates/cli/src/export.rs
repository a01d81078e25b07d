//! `export` and `export verify`.
use crate::{print_json, ExportArgs, ExportSub};
use argus_domain::{ErrorCode, FieldError};
use argus_ops::{Ops, OpsError};
use argus_reports::{ExportRequest, Format, Kind, ReportError};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

fn err(e: ReportError) -> OpsError {
    match e {
        ReportError::Ops(o) => o,
        ReportError::Io(e) => OpsError::new(ErrorCode::Io, format!("cannot write the export: {e}; check the path and the free space")),
        ReportError::Bad(m) | ReportError::TooLong(m) => OpsError::new(ErrorCode::BadInput, m),
    }
}

fn required(v: Option<String>, field: &str, hint: &str) -> Result<String, OpsError> {
    v.ok_or_else(|| FieldError::new(field, format!("is required; {hint}")).into())
}

pub(crate) fn run(ops: &mut Ops, a: ExportArgs) -> Result<ExitCode, OpsError> {
    if let Some(ExportSub::Verify { file, json }) = a.verify {
        let v = argus_reports::verify(&file).map_err(err)?;
        if json {
            print_json(&v);
        } else if v.ok {
            outln!("OK: {} matches its metadata ({} rows, sha256 {})", v.file, v.record_count, v.sha256);
        } else {
            outln!("MISMATCH: {}", v.file);
            for p in &v.problems {
                outln!("  - {p}");
            }
        }
        return Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let org = required(a.org, "org", "give --org SLUG")?;
    let format = Format::parse(&required(a.format, "format", "give --format csv, json or pdf")?).map_err(err)?;
    let out: PathBuf = required(a.out.map(|p| p.display().to_string()), "out", "give --out FILE")?.into();
    let q = a.filters.query(None, None);
    let audit = argus_reports::AuditFilters { actor: a.actor, action: a.action, object: a.object };
    audit.check()?;
    let req = ExportRequest {
        org,
        filters: q.filter(),
        audit,
        from: q.from,
        to: q.to,
        kind: Kind::parse(&a.kind).map_err(err)?,
        by: a.by,
        format,
        meta_comments: a.meta_comments,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    });
    let never = std::sync::atomic::AtomicBool::new(false);
    let result = argus_reports::export_file(
        ops,
        &req,
        &out,
        &mut |done, total| {
            if let Some(b) = &bar {
                // While the total is not known yet, the bar stays at the start.
                b.set_length(total.max(done));
                b.set_position(if total == 0 { 0 } else { done });
            }
        },
        &never,
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let argus_reports::Written { file: out, meta_file: sidecar, meta } = result.map_err(err)?;
    if a.json {
        print_json(&serde_json::json!({"file": out, "meta_file": sidecar, "meta": meta}));
    } else {
        if meta.kind == Kind::Audit {
            outln!("wrote {} ({} entries of the audit log; sha256 {})", out.display(), meta.record_count, &meta.sha256[..16]);
        } else if meta.record_count == 0 {
            outln!("no usage matches this period and these filters: the export says so and holds no rows");
        }
        if meta.kind != Kind::Audit {
            outln!(
                "wrote {} ({} rows; {} requests, cost {} {}, {} unpriced; sha256 {})",
                out.display(),
                meta.record_count,
                meta.totals.requests,
                meta.totals.cost,
                meta.totals.currency,
                meta.totals.unpriced_requests,
                &meta.sha256[..16]
            );
        }
        if let Some(p) = sidecar {
            outln!("metadata in {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
