//! Exports read back: totals reconcile with `usage summary` to the last
//! digit, CSV parses the same in Rust and Python, formulas are inert,
//! verification catches a changed digit, the PDF says what it must.
use argus_domain::time::{Clock, ManualClock};
use argus_domain::Money;
use argus_ops::controls::BudgetChange;
use argus_ops::Ops;
use argus_reports::{verify, ExportRequest, Filters, Format, Kind};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn setup() -> (tempfile::TempDir, Ops) {
    let dir = tempfile::tempdir().unwrap();
    let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().with_timezone(&Utc);
    let mut ops = Ops::open(&dir.path().join("u.db"), Arc::new(ManualClock::new(now)) as Arc<dyn Clock>, "test").unwrap();
    ops.demo("demo").unwrap();
    // A formula-injection probe, and an unpriced record.
    for (id, inv, model) in [
        ("probe", "=HYPERLINK(\"http://evil\",\"click\")", "gpt-4o"),
        ("probe2", "+1+cmd|' /C calc'!A0", "gpt-4o"),
        ("unpriced", "@SUM(1)", "no-such-model"),
    ] {
        ops.record(
            &json!({"id": id, "org": "demo", "provider": "openai", "model": model, "operation": "chat", "investigation": inv, "user": "-x",
            "input_tokens": 1000, "output_tokens": 10, "occurred_at": "2026-11-10T10:00:00Z"}),
        )
        .unwrap();
    }
    (dir, ops)
}

fn req(format: Format, kind: Kind, filters: Filters) -> ExportRequest {
    ExportRequest {
        org: "demo".into(),
        from: Some("2026-11-01".into()),
        to: Some("2026-12-01".into()),
        filters,
        audit: Default::default(),
        kind,
        by: Some("provider".into()),
        format,
        meta_comments: false,
    }
}

/// An export written as `argus-usage export` writes it: the file, and its
/// metadata file beside it (unless a CSV carries it as comment lines).
fn write(ops: &mut Ops, r: &ExportRequest, path: &Path) -> argus_reports::Meta {
    let never = std::sync::atomic::AtomicBool::new(false);
    argus_reports::export_file(ops, r, path, &mut |_, _| {}, &never).unwrap().meta
}

#[test]
fn totals_reconcile_with_the_summary_in_every_format() {
    let (dir, mut ops) = setup();
    let s = ops.usage_summary("demo", Some("2026-11-01"), Some("2026-12-01"), None).unwrap();
    for (format, ext) in [(Format::Csv, "csv"), (Format::Json, "json"), (Format::Pdf, "pdf")] {
        for kind in [Kind::Records, Kind::Summary] {
            let path = dir.path().join(format!("e-{ext}-{kind:?}.{ext}"));
            let m = write(&mut ops, &req(format, kind, Filters::default()), &path);
            assert_eq!(
                (m.totals.cost.as_str(), m.totals.requests, m.totals.unpriced_requests),
                (s.cost.to_string().as_str(), s.requests, s.unpriced_requests),
                "{ext} {kind:?}"
            );
            let v = verify(&path).unwrap();
            assert!(v.ok, "an untouched export verifies, PDFs included ({ext} {kind:?}): {:?}", v.problems);
        }
    }
    // With a filter, the same totals as the records that match.
    let f = Filters { provider: Some("openai".into()), operation: Some("chat".into()), ..Filters::default() };
    let path = dir.path().join("f.csv");
    let m = write(&mut ops, &req(Format::Csv, Kind::Records, f.clone()), &path);
    let mut expected = Money::ZERO;
    let mut n = 0;
    ops.scan_records(
        "demo",
        &argus_ops::analytics::RecordQuery {
            from: Some("2026-11-01".into()),
            to: Some("2026-12-01".into()),
            provider: Some("openai".into()),
            operation: Some("chat".into()),
            ..Default::default()
        },
        1,
        |_, r| {
            expected += r.cost.unwrap_or(Money::ZERO);
            n += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!((m.totals.cost.clone(), m.record_count), (expected.to_string(), n));
    let sm = write(&mut ops, &req(Format::Json, Kind::Summary, f), &dir.path().join("fs.json"));
    assert_eq!(sm.totals.cost, m.totals.cost, "a filtered summary adds up to the filtered records");
}

#[test]
fn csv_reads_back_the_same_in_rust_and_python_and_formulas_are_inert() {
    let (dir, mut ops) = setup();
    let path = dir.path().join("r.csv");
    write(&mut ops, &req(Format::Csv, Kind::Records, Filters::default()), &path);
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let rust_rows: Vec<Vec<String>> = rdr.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    let probe = rust_rows.iter().find(|r| r[0] == "probe").unwrap();
    assert_eq!(probe[5], "'=HYPERLINK(\"http://evil\",\"click\")", "the formula is neutralised");
    assert_eq!(probe[6], "'-x");
    assert!(rust_rows.iter().find(|r| r[0] == "probe2").unwrap()[5].starts_with("'+"));
    for row in &rust_rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "no cell a spreadsheet would run: {cell}");
        }
    }
    let unpriced = rust_rows.iter().find(|r| r[0] == "unpriced").unwrap();
    assert_eq!(unpriced[14], "", "an unpriced cost is empty, not 0");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import csv,json,sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))))")
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let py: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(py[0][0], "id");
    assert_eq!(py[1..], rust_rows[..], "Python's csv module reads the same rows");
}

#[test]
fn verify_rejects_a_single_changed_digit() {
    let (dir, mut ops) = setup();
    for (ext, format) in [("csv", Format::Csv), ("json", Format::Json)] {
        let path = dir.path().join(format!("t.{ext}"));
        write(&mut ops, &req(format, Kind::Records, Filters::default()), &path);
        assert!(verify(&path).unwrap().ok);
        let text = std::fs::read_to_string(&path).unwrap();
        // Change one digit of one cost: 0.0 -> 0.1 somewhere past the header.
        let at = text.find(",0.0").or_else(|| text.find("\"0.0")).unwrap() + 3;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&path, bytes).unwrap();
        let v = verify(&path).unwrap();
        assert!(!v.ok, "{ext}: a changed digit is caught");
        assert!(v.problems.iter().any(|p| p.contains("checksum")), "{:?}", v.problems);
    }
    let mut m = req(Format::Csv, Kind::Summary, Filters::default());
    m.meta_comments = true;
    let path = dir.path().join("c.csv");
    write(&mut ops, &m, &path);
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("# {"));
    assert!(verify(&path).unwrap().ok, "metadata in comment lines verifies too");
}

fn pdftotext(path: &PathBuf) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by scripts/setup.sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each font of a PDF with the value of its `emb` column, read from
/// `pdffonts` by the column positions its dashed rule gives.
fn pdffonts_embedded(path: &Path) -> Vec<(String, String)> {
    let out = std::process::Command::new("pdffonts").arg(path).output().expect("pdffonts (poppler-utils) runs");
    assert!(out.status.success(), "pdffonts failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let header = lines.next().expect("pdffonts prints a header");
    let rule = lines.next().expect("pdffonts prints a rule under the header");
    // Column spans: the runs of dashes.
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in rule.char_indices().chain(std::iter::once((rule.len(), ' '))) {
        match (c, start) {
            ('-', None) => start = Some(i),
            (' ', Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    let col = |line: &str, (a, b): (usize, usize)| line.get(a..b.min(line.len())).unwrap_or("").trim().to_string();
    let emb = spans.iter().position(|&sp| col(header, sp) == "emb").expect("pdffonts has an emb column");
    lines.filter(|l| !l.trim().is_empty()).map(|l| (col(l, spans[0]), col(l, spans[emb]))).collect()
}

#[test]
fn the_same_records_give_the_same_checksum_in_every_format() {
    let (dir, mut ops) = setup();
    let mut sums = Vec::new();
    for (format, kind, ext) in [
        (Format::Csv, Kind::Records, "csv"),
        (Format::Json, Kind::Records, "json"),
        (Format::Csv, Kind::Summary, "csv"),
        (Format::Json, Kind::Summary, "json"),
        (Format::Pdf, Kind::Summary, "pdf"),
    ] {
        let m = write(&mut ops, &req(format, kind, Filters::default()), &dir.path().join(format!("same-{kind:?}.{ext}")));
        assert_eq!(m.sha256.len(), 64, "a SHA-256 in hex");
        sums.push(m.sha256);
    }
    assert_eq!(sums[0], sums[1], "CSV and JSON of the same records: one checksum");
    assert_eq!(sums[2], sums[3], "the summary in CSV and in JSON: one checksum");
    assert_eq!(sums[4], sums[2], "the PDF's checksum is the summary CSV's");
}

#[test]
fn the_pdf_shows_the_totals_the_period_and_the_unpriced_warning() {
    let (dir, mut ops) = setup();
    let path = dir.path().join("r.pdf");
    let m = write(&mut ops, &req(Format::Pdf, Kind::Summary, Filters::default()), &path);
    let text = pdftotext(&path);
    let cents = m.totals.cost.parse::<Money>().unwrap().to_cents_grouped();
    assert!(text.contains(&format!("{cents} {}", m.totals.currency)), "the total cost {} is printed to the cent: {cents}", m.totals.cost);
    assert!(
        text.contains("Exact figures by provider") && text.contains(&m.totals.cost),
        "the exact total {} is in the appendix",
        m.totals.cost
    );
    let requests = argus_domain::money::group_thousands(&m.totals.requests.to_string());
    assert!(requests.contains(',') && text.contains(&requests), "counts are grouped: {requests}");
    assert!(text.contains("2026-11-01T00:00:00+01:00") && text.contains("Europe/Berlin"), "the period with its time zone");
    assert!(text.contains("UNPRICED"), "the unpriced warning");
    assert!(text.contains("Page 1 of") && text.contains(&m.sha256[..16]), "page numbers and the checksum in the footer");
    assert!(text.contains("Top investigations") && text.contains("Price versions used"));
    let fonts = pdffonts_embedded(&path);
    assert!(!fonts.is_empty(), "the PDF uses at least one font");
    assert!(fonts.iter().all(|(_, emb)| emb == "yes"), "every font is embedded: {fonts:?}");

    let mut empty = req(Format::Pdf, Kind::Summary, Filters::default());
    empty.from = Some("2020-01-01".into());
    empty.to = Some("2020-02-01".into());
    let path = dir.path().join("empty.pdf");
    write(&mut ops, &empty, &path);
    assert!(pdftotext(&path).contains("No usage matches"), "an empty period says so");
    empty.format = Format::Csv;
    empty.kind = Kind::Records;
    let path = dir.path().join("empty.csv");
    let m = write(&mut ops, &empty, &path);
    assert_eq!(m.record_count, 0);
    assert!(verify(&path).unwrap().ok);
}

/// Regression (found by Schemathesis): an empty period at the start of the
/// accepted years (only `to`, 2000-01-01) made the PDF ask for the budget
/// of 1999-12, which is refused, after the HTTP answer had started.
#[test]
fn a_pdf_of_an_empty_period_at_the_first_accepted_day_is_written() {
    let (dir, mut ops) = setup();
    let r = ExportRequest { from: None, to: Some("2000-01-01T00:00:00Z".into()), ..req(Format::Pdf, Kind::Summary, Filters::default()) };
    let m = write(&mut ops, &r, &dir.path().join("empty.pdf"));
    assert_eq!(m.record_count, 0, "an empty period has no rows");
}

fn pdfinfo(path: &Path) -> String {
    let out = std::process::Command::new("pdfinfo").arg("-isodates").arg(path).output().expect("pdfinfo (poppler-utils) runs");
    assert!(out.status.success(), "pdfinfo failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_pdf_carries_its_creation_date_and_verifies_until_a_byte_changes() {
    let (dir, mut ops) = setup();
    let path = dir.path().join("r.pdf");
    write(&mut ops, &req(Format::Pdf, Kind::Summary, Filters::default()), &path);
    let info = pdfinfo(&path);
    assert!(info.lines().any(|l| l.starts_with("CreationDate:") && l.contains("2026-11-27T12:00:00")), "the clock's time: {info}");
    assert!(info.lines().any(|l| l.starts_with("Creator:") && l.contains("argus-usage")), "{info}");
    assert!(verify(&path).unwrap().ok);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let v = verify(&path).unwrap();
    assert!(!v.ok && v.problems.iter().any(|p| p.contains("was changed")), "{:?}", v.problems);
    std::fs::remove_file(format!("{}.meta.json", path.display())).unwrap();
    let e = verify(&path).unwrap_err().to_string();
    assert!(e.contains("r.pdf.meta.json is missing"), "{e}");
}

#[test]
fn a_records_pdf_lists_the_records_of_the_csv_and_refuses_a_listing_too_long_to_read() {
    let (dir, mut ops) = setup();
    let f = Filters { investigation_contains: Some("hyperlink".into()), ..Filters::default() };
    let path = dir.path().join("records.pdf");
    let m = write(&mut ops, &req(Format::Pdf, Kind::Records, f.clone()), &path);
    assert_eq!(m.kind, Kind::Records);
    assert_eq!(m.record_count, 1);
    let csv = write(&mut ops, &req(Format::Csv, Kind::Records, f), &dir.path().join("records.csv"));
    assert_eq!(csv.sha256, m.sha256, "the rows of the records CSV");
    let text = pdftotext(&path);
    assert!(text.contains("AI usage records") && text.contains("openai/gpt-4o") && text.contains("HYPERLINK"), "{text}");
    assert!(text.contains("2026-11-10 11:00:00"), "the record's time in the organisation's zone: {text}");
    assert!(verify(&path).unwrap().ok);

    // More records than a PDF lists: refused before a byte is written.
    let many: Vec<serde_json::Value> = (0..10_001)
        .map(|i| {
            json!({"id": format!("many-{i}"), "org": "demo", "provider": "openai", "model": "gpt-4o", "operation": "chat",
            "input_tokens": 1, "output_tokens": 1, "occurred_at": "2026-11-20T10:00:00Z"})
        })
        .collect();
    ops.record_batch("demo", None, many, None).unwrap();
    let mut long = req(Format::Pdf, Kind::Records, Filters::default());
    long.from = Some("2026-11-20".into());
    long.to = Some("2026-11-21".into());
    let out = dir.path().join("long.pdf");
    let never = std::sync::atomic::AtomicBool::new(false);
    let e = argus_reports::export_file(&mut ops, &long, &out, &mut |_, _| {}, &never).unwrap_err().to_string();
    let selected = ops.usage_summary("demo", long.from.as_deref(), long.to.as_deref(), None).unwrap().requests;
    let selected = argus_domain::money::group_thousands(&selected.to_string());
    assert!(e.contains("at most 10,000 records") && e.contains(&format!("select {selected};")) && e.contains("CSV or JSON"), "{e}");
    assert!(!out.exists(), "no file");
    assert!(
        matches!(argus_reports::check(&mut ops, &long), Err(argus_reports::ReportError::TooLong(_))),
        "the server's check before a download refuses it too (409: the request is valid, the store holds too much for it)"
    );
}

#[test]
fn the_pdf_says_the_budget_wont_run_out_when_the_rate_does_not_reach_it() {
    let (dir, mut ops) = setup();
    ops.budget_set("demo", None, &BudgetChange { amount: Some("1000000".into()), ..Default::default() }).unwrap();
    let path = dir.path().join("b.pdf");
    write(&mut ops, &req(Format::Pdf, Kind::Summary, Filters::default()), &path);
    let text = pdftotext(&path).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("won't run out this month"), "{text}");
    assert!(text.contains("Budget 1,000,000.00 USD"), "{text}");
}

#[test]
fn the_audit_log_exports_with_its_checksum_in_every_format() {
    let (dir, mut ops) = setup();
    ops.budget_set("demo", None, &BudgetChange { amount: Some("500".into()), ..Default::default() }).unwrap();
    ops.budget_set("demo", None, &BudgetChange { amount: Some("750".into()), hard_limit: Some(true), ..Default::default() }).unwrap();
    let all = ops.audit_query("demo", &Default::default()).unwrap().entries;
    let budget_sets = all.iter().filter(|e| e.action.contains("budget")).count();
    assert!(budget_sets >= 2, "{all:?}");
    let mut r = req(Format::Csv, Kind::Audit, Filters::default());
    r.from = None;
    r.to = None;
    r.audit.action = Some("BUDGET".into());
    for (format, ext) in [(Format::Csv, "csv"), (Format::Json, "json"), (Format::Pdf, "pdf")] {
        r.format = format;
        let path = dir.path().join(format!("audit.{ext}"));
        let m = write(&mut ops, &r, &path);
        assert_eq!((m.kind, m.record_count), (Kind::Audit, budget_sets as i64), "{ext}");
        assert_eq!(m.audit_filters.as_ref().and_then(|a| a.action.as_deref()), Some("BUDGET"));
        let v = verify(&path).unwrap();
        assert!(v.ok, "{ext}: {:?}", v.problems);
    }
    let text = pdftotext(&dir.path().join("audit.pdf"));
    assert!(text.contains("Audit log") && text.contains("amount: 500") && text.contains("750"), "a field-level change: {text}");
    // The CSV opens as a table: the header, then one row an entry.
    let path = dir.path().join("audit.csv");
    r.format = Format::Csv;
    write(&mut ops, &r, &path);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&path).unwrap().records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), budget_sets);
    assert!(rows.iter().all(|row| row[3].contains("budget")));
    // One changed character of an entry is caught.
    let text = std::fs::read_to_string(&path).unwrap().replacen("750", "751", 1);
    std::fs::write(&path, text).unwrap();
    let v = verify(&path).unwrap();
    assert!(!v.ok && v.problems.iter().any(|p| p.contains("checksum")), "{:?}", v.problems);
}
