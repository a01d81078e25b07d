//! `export` and `export verify`.
use crate::{print_json, ExportArgs, ExportSub};
use argus_domain::{ErrorCode, FieldError};
use argus_ops::{Ops, OpsError};
use argus_reports::{ExportRequest, Filters, Format, Kind, ReportError};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn err(e: ReportError) -> OpsError {
    match e {
        ReportError::Ops(o) => o,
        ReportError::Io(e) => OpsError::new(ErrorCode::Io, format!("cannot write the export: {e}; check the path and the free space")),
        ReportError::Bad(m) => OpsError::new(ErrorCode::BadInput, m),
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
            println!("OK: {} matches its metadata ({} rows, sha256 {})", v.file, v.record_count, v.sha256);
        } else {
            println!("MISMATCH: {}", v.file);
            for p in &v.problems {
                println!("  - {p}");
            }
        }
        return Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let org = required(a.org, "org", "give --org SLUG")?;
    let format = Format::parse(&required(a.format, "format", "give --format csv, json or pdf")?).map_err(err)?;
    let out: PathBuf = required(a.out.map(|p| p.display().to_string()), "out", "give --out FILE")?.into();
    let req = ExportRequest {
        org,
        from: a.from,
        to: a.to,
        filters: Filters { provider: a.provider, model: a.model, operation: a.operation, investigation: a.investigation, user: a.user },
        kind: Kind::parse(&a.kind).map_err(err)?,
        by: a.by,
        format,
        meta_comments: a.meta_comments,
    };
    // Written beside the target and renamed at the end: never a partial file.
    let tmp = PathBuf::from(format!("{}.partial", out.display()));
    let file = std::fs::File::create(&tmp).map_err(|e| {
        OpsError::new(ErrorCode::Io, format!("cannot create {}: {e}; check the folder exists and is writable", tmp.display()))
    })?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let bar = std::io::stderr().is_terminal().then(|| {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    });
    let result = argus_reports::export(ops, &req, &mut w, &mut |done, total| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let meta = match result.and_then(|m| w.flush().map(|_| m).map_err(ReportError::from)) {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
    };
    drop(w);
    std::fs::rename(&tmp, &out).map_err(|e| OpsError::new(ErrorCode::Io, format!("cannot write {}: {e}", out.display())))?;
    let mut sidecar = None;
    if format == Format::Csv && !req.meta_comments {
        let p = PathBuf::from(format!("{}.meta.json", out.display()));
        let mut f = std::fs::File::create(&p).map_err(|e| OpsError::new(ErrorCode::Io, format!("cannot write {}: {e}", p.display())))?;
        let _ = writeln!(f, "{}", serde_json::to_string_pretty(&meta).unwrap_or_default());
        sidecar = Some(p);
    }
    if a.json {
        print_json(&serde_json::json!({"file": out, "meta_file": sidecar, "meta": meta}));
    } else {
        if meta.record_count == 0 {
            println!("no usage matches this period and these filters: the export says so and holds no rows");
        }
        println!(
            "wrote {} ({} rows; {} requests, cost {} {}, {} unpriced; sha256 {})",
            out.display(),
            meta.record_count,
            meta.totals.requests,
            meta.totals.cost,
            meta.totals.currency,
            meta.totals.unpriced_requests,
            &meta.sha256[..16]
        );
        if let Some(p) = sidecar {
            println!("metadata in {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
