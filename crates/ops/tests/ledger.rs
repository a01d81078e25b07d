//! The ledger through the facade, on real SQLite files.
use argus_domain::time::{Clock, ManualClock};
use argus_domain::ErrorCode;
use argus_ops::Ops;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use std::io::Cursor;
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    ops: Ops,
    clock: Arc<ManualClock>,
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-27T12:00:00Z")));
    let ops = Ops::open(&argus_store::pg::test_store(dir.path(), "usage.db").unwrap(), clock.clone() as Arc<dyn Clock>, "test").unwrap();
    Fixture { _dir: dir, ops, clock }
}

fn line(id: &str, org: &str, model: &str, input: u64, output: u64, when: &str) -> Value {
    json!({"id": id, "org": org, "provider": "openai", "model": model, "operation": "chat",
           "input_tokens": input, "output_tokens": output, "occurred_at": when})
}

fn jsonl(lines: &[Value]) -> Cursor<Vec<u8>> {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l.to_string());
        s.push('\n');
    }
    Cursor::new(s.into_bytes())
}

#[test]
fn the_builtin_catalogue_is_loaded_once_and_prices_records() {
    let mut f = fixture();
    let list = f.ops.prices_list(None, None).unwrap();
    assert!(list.len() >= 20, "the built-in catalogue covers the main models of four providers");
    for p in ["openai", "anthropic", "google", "mistral"] {
        assert!(list.iter().any(|v| v.provider == p && v.source.is_some()), "{p} prices come with their source");
    }
    f.ops.org_create("acme", None, "USD", "UTC").unwrap();
    let r = f.ops.record(&line("r1", "acme", "gpt-4o", 1_000_000, 1_000_000, "2026-11-01T00:00:00Z")).unwrap();
    assert_eq!(r.cost.unwrap().to_string(), "12.50", "gpt-4o list price is 2.50 in + 10.00 out per million");
}

#[test]
fn price_in_force_at_the_exact_boundary_instant() {
    let mut f = fixture();
    f.ops.org_create("acme", None, "USD", "UTC").unwrap();
    let csv = "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\n\
               acme-ai,m1,2026-10-01T00:00:00Z,USD,1,0,,\n\
               acme-ai,m1,2026-11-01T00:00:00Z,USD,2,0,,\n";
    let rep = f.ops.prices_import(csv, None).unwrap();
    assert_eq!(rep.added, 2);
    let mk = |id: &str, when: &str| json!({"id": id, "org": "acme", "provider": "acme-ai", "model": "m1", "operation": "chat", "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": when});
    let before = f.ops.record(&mk("a", "2026-10-31T23:59:59.999999999Z")).unwrap();
    let exact = f.ops.record(&mk("b", "2026-11-01T00:00:00Z")).unwrap();
    let offset = f.ops.record(&mk("c", "2026-11-01T01:00:00+01:00")).unwrap();
    assert_eq!(before.cost.unwrap().to_string(), "1.00", "a nanosecond before the change the old price holds");
    assert_eq!(exact.cost.unwrap().to_string(), "2.00", "the new price is in force from its effective instant");
    assert_eq!(offset.cost.unwrap().to_string(), "2.00", "01:00+01:00 is the same instant as 00:00Z");
    assert_ne!(before.price_id, exact.price_id, "each record keeps the id of the version that costed it");
}

#[test]
fn reimporting_the_same_prices_adds_nothing_in_csv_or_json() {
    let mut f = fixture();
    let csv = "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\n\
               x,m,2026-01-01,USD,0.0375,0.15,,\n";
    let json = r#"[{"provider":"x","model":"m","effective_from":"2026-01-01T00:00:00Z","currency":"USD","input_per_mtok":"0.0375","output_per_mtok":"0.150"}]"#;
    assert_eq!(f.ops.prices_import(csv, None).unwrap().added, 1);
    assert_eq!(f.ops.prices_import(csv, None).unwrap().added, 0, "the same file again adds nothing");
    let again = f.ops.prices_import(json, None).unwrap();
    assert_eq!((again.added, again.unchanged), (0, 1), "the same version written as JSON is the same version");
    let bad = f
        .ops
        .prices_import(
            r#"[{"provider":"x","model":"m","effective_from":"2026-01-01","currency":"USD","input_per_mtok":2.5,"output_per_mtok":"1"}]"#,
            None,
        )
        .unwrap();
    assert_eq!(bad.rejected.len(), 1);
    assert!(bad.rejected[0].error.contains("as strings"), "a JSON number rate is refused with the fix: {}", bad.rejected[0].error);
}

#[test]
fn unpriced_records_are_kept_flagged_and_repriced() {
    let mut f = fixture();
    f.ops.org_create("acme", None, "USD", "UTC").unwrap();
    let lines = [
        line("u1", "acme", "gpt-9", 1000, 100, "2026-11-02T10:00:00Z"),
        line("u2", "acme", "gpt-9", 2000, 200, "2026-11-03T10:00:00Z"),
        line("p1", "acme", "gpt-4o", 1000, 100, "2026-11-03T10:00:00Z"),
    ];
    let rep = f.ops.ingest(jsonl(&lines), |_| {}).unwrap();
    assert_eq!((rep.accepted, rep.unpriced), (3, 2));
    let s = f.ops.usage_summary("acme", Some("2026-11-01"), Some("2026-12-01"), Some("model")).unwrap();
    assert_eq!(s.unpriced_requests, 2, "unpriced records are counted on the total");
    let g = s.groups.iter().find(|g| g.key.as_deref() == Some("openai/gpt-9")).unwrap();
    assert_eq!((g.unpriced_requests, g.cost.to_string().as_str()), (2, "0.00"), "and flagged on their group");
    let recs = f.ops.usage_records("acme", &Default::default()).unwrap();
    assert!(
        recs.records.iter().filter(|r| r.model == "gpt-9").all(|r| r.cost.is_none()),
        "an unpriced record has no cost, not a cost of zero"
    );

    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nopenai,gpt-9,2026-11-01,USD,10,20\n",
            Some("acme"),
        )
        .unwrap();
    let preview = f.ops.reprice("acme", None, None, false).unwrap();
    assert_eq!((preview.changed, preview.applied), (2, false));
    let g = preview.groups.iter().find(|g| g.model == "gpt-9").unwrap();
    // u1: 1000*10/1e6 + 100*20/1e6 = 0.012; u2: 0.024
    assert_eq!(
        (g.before_cost.to_string(), g.after_cost.to_string(), g.before_unpriced, g.after_unpriced),
        ("0.00".into(), "0.036".into(), 2, 0)
    );
    let unchanged = f.ops.usage_summary("acme", Some("2026-11-01"), Some("2026-12-01"), None).unwrap();
    assert_eq!(unchanged.unpriced_requests, 2, "a preview changes nothing");

    let applied = f.ops.reprice("acme", None, None, true).unwrap();
    assert!(applied.applied);
    let after = f.ops.usage_summary("acme", Some("2026-11-01"), Some("2026-12-01"), Some("model")).unwrap();
    assert_eq!(after.unpriced_requests, 0);
    assert_eq!(after.cost, s.cost + applied.difference, "the aggregates move by exactly the previewed difference");
    assert_eq!(f.ops.reprice("acme", None, None, false).unwrap().changed, 0, "a second reprice finds nothing to change");
    let audit = f.ops.audit_list("acme", 0, 1000).unwrap().entries.iter().filter(|e| e.action == "reprice.apply").count();
    assert_eq!(audit, 1, "applying a reprice writes one audit entry");
}

#[test]
fn duplicates_and_conflicts() {
    let mut f = fixture();
    f.ops.org_create("acme", None, "USD", "UTC").unwrap();
    let a = line("same", "acme", "gpt-4o", 100, 10, "2026-11-02T10:00:00Z");
    let rep = f.ops.ingest(jsonl(&[a.clone(), a.clone()]), |_| {}).unwrap();
    assert_eq!((rep.accepted, rep.duplicates), (1, 1), "the same id with the same content is a duplicate, also within one batch");
    let mut changed = a.clone();
    changed["output_tokens"] = json!(11);
    let rep = f.ops.ingest(jsonl(&[a.clone(), changed.clone()]), |_| {}).unwrap();
    assert_eq!((rep.accepted, rep.duplicates, rep.conflicts), (0, 1, 1));
    assert_eq!(rep.rejected[0].line, 2);
    assert_eq!(rep.rejected[0].field.as_deref(), Some("id"));
    let page = f.ops.usage_records("acme", &Default::default()).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].output_tokens, 10, "the stored record is left as it was");
    let err = f.ops.record(&changed).unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
}

#[test]
fn bad_lines_are_reported_by_number_and_good_lines_kept() {
    let mut f = fixture();
    f.ops.org_create("acme", None, "USD", "UTC").unwrap();
    let input = format!(
        "{}\n\n{{\"org\": \"acme\"}}\nnot json\n{}\n{}\n",
        line("g1", "acme", "gpt-4o", 1, 1, "2026-11-02T10:00:00Z"),
        line("g2", "nobody", "gpt-4o", 1, 1, "2026-11-02T10:00:00Z"),
        line("g3", "acme", "gpt-4o", 1, 1, "2026-11-02T10:00:00Z")
    );
    let rep = f.ops.ingest(Cursor::new(input.into_bytes()), |_| {}).unwrap();
    assert_eq!(rep.accepted, 2);
    let lines: Vec<_> = rep.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5], "blank line 2 is skipped; lines 3, 4 and 5 are bad");
    assert!(
        rep.rejected[0].error.contains("provider") && rep.rejected[0].error.contains("occurred_at"),
        "every missing field is named: {}",
        rep.rejected[0].error
    );
    assert!(
        rep.rejected[2].error.contains("nobody") && rep.rejected[2].error.contains("org create"),
        "an unknown organisation says how to create it"
    );
}

#[test]
fn a_late_october_utc_record_counts_in_november_at_utc_plus_one() {
    let mut f = fixture();
    f.ops.org_create("paris", None, "USD", "Europe/Paris").unwrap();
    f.ops.record(&line("t1", "paris", "gpt-4o", 1_000_000, 0, "2026-10-31T23:30:00Z")).unwrap();
    let nov = f.ops.usage_summary("paris", Some("2026-11-01"), Some("2026-12-01"), Some("month")).unwrap();
    assert_eq!(nov.requests, 1, "23:30 UTC on 31 October is 00:30 on 1 November in Paris");
    assert_eq!(nov.groups[0].key.as_deref(), Some("2026-11"));
    let oct = f.ops.usage_summary("paris", Some("2026-10-01"), Some("2026-11-01"), None).unwrap();
    assert_eq!(oct.requests, 0);
    let day = f.ops.usage_summary("paris", Some("2026-10-30"), Some("2026-11-03"), Some("day")).unwrap();
    assert_eq!(day.groups[0].key.as_deref(), Some("2026-11-01"), "days are the organisation's local days");
}

/// The summary from aggregates plus edge scans equals a brute-force sum of
/// the records, for ranges that start and end anywhere.
#[test]
fn summaries_over_any_range_equal_the_sum_of_their_records() {
    let mut f = fixture();
    f.ops.org_create("ny", None, "USD", "America/New_York").unwrap();
    let mut lines = Vec::new();
    let base = Utc.with_ymd_and_hms(2026, 10, 20, 0, 0, 0).unwrap();
    let models = ["gpt-4o", "gpt-4o-mini", "gpt-unknown"];
    for i in 0..600u64 {
        let t = base + chrono::Duration::minutes((i * 97 % 30_000) as i64);
        let mut l = line(&format!("r{i}"), "ny", models[(i % 3) as usize], 100 + i * 7, 10 + i, &argus_domain::time::fmt_instant(t));
        l["investigation"] = if i % 4 == 0 { Value::Null } else { json!(format!("INV-{}", i % 5)) };
        lines.push(l);
    }
    f.ops.ingest(jsonl(&lines), |_| {}).unwrap();
    let all = f.ops.usage_records("ny", &argus_ops::analytics::RecordQuery { limit: Some(10_000), ..Default::default() }).unwrap().records;
    let ranges = [
        ("2026-10-20", "2026-11-10"),
        ("2026-10-21T05:17:00Z", "2026-11-03T13:01:00Z"),
        ("2026-10-25T10:00:00Z", "2026-10-25T11:00:00Z"),
        ("2026-11-01T03:00:00Z", "2026-11-02T07:00:00Z"), // across the US DST change
    ];
    for (from, to) in ranges {
        for by in ["investigation", "model", "day", "week"] {
            let s = f.ops.usage_summary("ny", Some(from), Some(to), Some(by)).unwrap();
            let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
            let a = argus_domain::time::parse_instant("f", from, tz).unwrap();
            let b = argus_domain::time::parse_instant("t", to, tz).unwrap();
            let inside: Vec<_> = all
                .iter()
                .filter(|r| {
                    let t = at(&r.occurred_at);
                    t >= a && t < b
                })
                .collect();
            let cost: argus_domain::Money = inside.iter().filter_map(|r| r.cost).sum();
            assert_eq!(s.requests as usize, inside.len(), "{from}..{to} by {by}");
            assert_eq!(s.cost, cost, "{from}..{to}: the total equals the sum of record costs to the last digit");
            assert_eq!(s.unpriced_requests as usize, inside.iter().filter(|r| r.cost.is_none()).count());
            let group_cost: argus_domain::Money = s.groups.iter().map(|g| g.cost).sum();
            let group_requests: i64 = s.groups.iter().map(|g| g.requests).sum();
            assert_eq!((group_cost, group_requests), (s.cost, s.requests), "groups add up to the total");
        }
    }
    let s = f.ops.usage_summary("ny", Some("2026-10-27"), Some("2026-11-03"), None).unwrap();
    let p = f.ops.usage_summary("ny", Some("2026-10-20"), Some("2026-10-27"), None).unwrap();
    assert_eq!((s.previous.cost, s.previous.requests), (p.cost, p.requests), "previous is the period of the same length just before");

    // Filtered summaries: totals, groups and the previous period count only the records the filter selects.
    use argus_domain::analytics::RecordFilter;
    let filters = [
        RecordFilter { model: Some("gpt-4o".into()), ..Default::default() },
        RecordFilter { investigation: Some("INV-2".into()), ..Default::default() },
        RecordFilter { model: Some("gpt-4o-mini".into()), investigation: Some("INV-3".into()), ..Default::default() },
        RecordFilter { provider: Some("nobody".into()), ..Default::default() },
    ];
    for (from, to) in ranges {
        for what in &filters {
            for by in [None, Some("investigation"), Some("day")] {
                let q = argus_ops::analytics::RecordQuery::of(Some(from.into()), Some(to.into()), what.clone());
                let s = f.ops.usage_summary_of("ny", &q, by).unwrap();
                let listed =
                    f.ops.usage_records("ny", &argus_ops::analytics::RecordQuery { limit: Some(10_000), ..q.clone() }).unwrap().records;
                let cost: argus_domain::Money = listed.iter().filter_map(|r| r.cost).sum();
                assert_eq!(
                    (s.requests as usize, s.cost),
                    (listed.len(), cost),
                    "{from}..{to} {what:?}: the filtered total is its records'"
                );
                if by.is_some() {
                    let group_cost: argus_domain::Money = s.groups.iter().map(|g| g.cost).sum();
                    assert_eq!(group_cost, s.cost, "{what:?} by {by:?}: groups add up");
                }
                if by == Some("investigation") && what.investigation.is_some() {
                    assert!(s.groups.len() <= 1 && s.groups.iter().all(|g| g.key == what.investigation), "the grouping obeys the filter");
                }
                if by == Some("day") {
                    assert!(s.groups.windows(2).all(|w| w[0].key < w[1].key), "days in time order");
                }
            }
        }
    }
    let q = argus_ops::analytics::RecordQuery::of(Some("2026-10-27".into()), Some("2026-11-03".into()), filters[0].clone());
    let before = argus_ops::analytics::RecordQuery::of(Some("2026-10-20".into()), Some("2026-10-27".into()), filters[0].clone());
    let (s, p) = (f.ops.usage_summary_of("ny", &q, None).unwrap(), f.ops.usage_summary_of("ny", &before, None).unwrap());
    assert_eq!((s.previous.cost, s.previous.requests), (p.cost, p.requests), "a filtered summary's previous period is filtered too");

    // Two groupings: each group is the summary filtered to its pair of keys.
    let q = argus_ops::analytics::RecordQuery::of(Some("2026-10-20".into()), Some("2026-11-10".into()), RecordFilter::default());
    let two = f.ops.usage_summary_of("ny", &q, Some("investigation,model")).unwrap();
    assert_eq!(two.by.as_deref(), Some("investigation,model"));
    assert!(two.groups.len() > 4 && two.groups.iter().all(|g| g.keys.len() == 2 && g.key.is_none()));
    assert_eq!(two.groups.iter().map(|g| g.cost).sum::<argus_domain::Money>(), two.cost, "the pairs add up to the total");
    assert!(two.groups.windows(2).all(|w| w[0].cost >= w[1].cost), "largest cost first");
    for g in two.groups.iter().filter(|g| g.keys[0].is_some()) {
        let model = g.keys[1].as_deref().unwrap().trim_start_matches("openai/").to_string();
        let one = RecordFilter { investigation: g.keys[0].clone(), model: Some(model), ..Default::default() };
        let s = f.ops.usage_summary_of("ny", &argus_ops::analytics::RecordQuery::of(q.from.clone(), q.to.clone(), one), None).unwrap();
        assert_eq!((s.cost, s.requests), (g.cost, g.requests), "{:?}", g.keys);
    }
    let by_day = f.ops.usage_summary_of("ny", &q, Some("day,investigation")).unwrap();
    assert!(by_day.groups.windows(2).all(|w| w[0].keys <= w[1].keys), "time first: in time order");
    for bad in ["investigation,investigation", "day,week,month", "provider,colour"] {
        let e = f.ops.usage_summary_of("ny", &q, Some(bad)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("by"), "{bad}: {}", e.message);
    }
    // A search box: a part of the investigation in any case.
    let part = RecordFilter { investigation_contains: Some("inv-".into()), ..Default::default() };
    let exact: i64 = ["INV-0", "INV-1", "INV-2", "INV-3", "INV-4"]
        .iter()
        .map(|i| {
            let one = RecordFilter { investigation: Some(i.to_string()), ..Default::default() };
            f.ops.usage_summary_of("ny", &argus_ops::analytics::RecordQuery::of(q.from.clone(), q.to.clone(), one), None).unwrap().requests
        })
        .sum();
    let s = f.ops.usage_summary_of("ny", &argus_ops::analytics::RecordQuery::of(q.from.clone(), q.to.clone(), part), None).unwrap();
    assert_eq!(s.requests, exact, "every record with an investigation matches \"inv-\"");
}

#[test]
fn demo_has_three_months_of_varied_usage() {
    let mut f = fixture();
    let r = f.ops.demo("demo").unwrap();
    assert!(r.records > 10_000 && r.unpriced > 0, "{r:?}");
    let s = f.ops.usage_summary("demo", Some("2026-08-27"), Some("2026-11-28"), Some("provider")).unwrap();
    assert_eq!(s.groups.len(), 4);
    let ops = f.ops.usage_summary("demo", Some("2026-08-27"), Some("2026-11-28"), Some("operation")).unwrap();
    assert_eq!(ops.groups.len(), 4);
    let models = f.ops.usage_records("demo", &argus_ops::analytics::RecordQuery { limit: Some(10_000), ..Default::default() }).unwrap();
    assert!(models.records.iter().any(|r| r.status != "ok"), "some calls failed");
    let prices: std::collections::BTreeSet<_> = models.records.iter().filter(|r| r.model == "gpt-4o").filter_map(|r| r.price_id).collect();
    assert_eq!(prices.len(), 2, "gpt-4o changes price half way (a negotiated version)");
    assert_eq!(f.ops.demo("demo").unwrap_err().code, ErrorCode::AlreadyExists);
    f.clock.advance(chrono::Duration::days(1));
}

#[test]
fn a_store_with_a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.db");
    drop(argus_store::Store::open(&path).unwrap());
    // What a newer release leaves: the header's user_version (big-endian at
    // byte 60) one past what this build knows. The store is closed, so its
    // WAL is folded in and the header is the whole truth.
    let wal = dir.path().join("u.db-wal");
    assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..64].copy_from_slice(&((argus_store::known_schema_version() + 1) as u32).to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let err = argus_store::Store::open(&path).err().expect("a newer schema must be refused");
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the refused store's bytes are untouched");
    assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true), "and nothing was written to its WAL");
}

/// The price versions of a period come from aggregates kept on write; they
/// equal the distinct versions of the period's records, also after a reprice.
#[test]
fn price_versions_used_follow_ingest_and_reprice() {
    let mut f = fixture();
    f.ops.demo("demo").unwrap();
    let check = |ops: &mut Ops, from: &str, to: &str| {
        let mut expected = std::collections::BTreeSet::new();
        ops.scan_records(
            "demo",
            &argus_ops::analytics::RecordQuery { from: Some(from.into()), to: Some(to.into()), ..Default::default() },
            1,
            |_, r| {
                expected.extend(r.price_id);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(ops.price_ids_used("demo", Some(from), Some(to)).unwrap(), expected.into_iter().collect::<Vec<_>>(), "{from}..{to}");
    };
    check(&mut f.ops, "2026-08-01", "2026-12-01");
    check(&mut f.ops, "2026-10-05T13:00:00Z", "2026-10-20T07:00:00Z");
    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nopenai,gpt-4o,2026-09-01,USD,3,12\n",
            Some("demo"),
        )
        .unwrap();
    f.ops.reprice("demo", None, None, true).unwrap();
    check(&mut f.ops, "2026-08-01", "2026-12-01");
    check(&mut f.ops, "2026-09-15", "2026-10-01");
}

/// Regression (hardening issue, item 2): a reprice with a mistaken price
/// could make one stored call cost more than any call can (and a cost past
/// 64 bits was silently stored as unpriced). It is refused as a whole,
/// naming the price and the record, and nothing changes.
#[test]
fn a_reprice_that_would_make_a_call_cost_absurdly_much_is_refused() {
    let mut f = fixture();
    f.ops.org_create("acme", None, "USD", "UTC").unwrap();
    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nacme-ai,m1,2026-10-01,USD,1,1\n",
            Some("acme"),
        )
        .unwrap();
    let mut l = line("big", "acme", "m1", 1_000_000_000, 1_000_000_000, "2026-11-02T10:00:00Z");
    l["provider"] = json!("acme-ai");
    assert_eq!(f.ops.record(&l).unwrap().cost.unwrap().to_string(), "2000.00", "1e9 tokens each way at 1 per Mtok");
    let before = f.ops.usage_summary("acme", Some("2026-11-01"), Some("2026-12-01"), None).unwrap();
    // A rate typed a thousand times too high.
    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nacme-ai,m1,2026-11-01,USD,5000,5000\n",
            Some("acme"),
        )
        .unwrap();
    for apply in [false, true] {
        let e = f.ops.reprice("acme", None, None, apply).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadInput);
        assert!(
            e.message.contains("acme-ai/m1") && e.message.contains("record big") && e.message.contains("correct that price"),
            "{}",
            e.message
        );
    }
    let after = f.ops.usage_summary("acme", Some("2026-11-01"), Some("2026-12-01"), None).unwrap();
    assert_eq!((after.cost, after.unpriced_requests), (before.cost, 0), "nothing changed");
}

/// The rollups of filtered and two-grouping summaries equal the records:
/// arbitrary ranges (instants, bare dates, whole months, across a DST
/// change), every kind of filter and one or two groupings, before and
/// after a reprice moves costs, checked against a fold of the records
/// written here.
#[test]
fn filtered_summaries_from_the_rollups_equal_their_records() {
    use argus_domain::analytics::RecordFilter;
    use argus_ops::analytics::RecordQuery;
    use std::collections::HashMap;
    let mut f = fixture();
    f.ops.org_create("eu", None, "USD", "Europe/Paris").unwrap();
    let tz: chrono_tz::Tz = "Europe/Paris".parse().unwrap();
    // A small deterministic generator (xorshift), so a failure repeats.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let models = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-unknown"), ("anthropic", "claude-unknown")];
    let ops = ["chat", "kb_query", "enrich"];
    let statuses = ["ok", "error", "rate_limited"];
    let invs = ["INV-1", "INV-2", "inv-21", "Case 7"];
    let users = ["u1", "u2", "Alice", "bob"];
    let start = Utc.with_ymd_and_hms(2026, 8, 25, 0, 0, 0).unwrap();
    let mut lines = Vec::new();
    for i in 0..2500u64 {
        let t = start + chrono::Duration::seconds(next(72 * 86_400) as i64);
        let (p, m) = models[next(4) as usize];
        let mut l = json!({"id": format!("c{i}"), "org": "eu", "provider": p, "model": m, "operation": ops[next(3) as usize],
            "status": statuses[next(3) as usize], "input_tokens": 100 + next(5000), "output_tokens": next(900),
            "cached_input_tokens": next(3) * 50, "occurred_at": argus_domain::time::fmt_instant(t)});
        if next(5) > 0 {
            l["investigation"] = json!(invs[next(4) as usize]);
        }
        if next(4) > 0 {
            l["user"] = json!(users[next(4) as usize]);
        }
        lines.push(l);
    }
    f.ops.ingest(jsonl(&lines), |_| {}).unwrap();

    let pick = |next: &mut dyn FnMut(u64) -> u64, pool: &[&str]| -> Option<String> {
        (next(4) == 0)
            .then(|| if next(6) == 0 { "nothing-like-it".to_string() } else { pool[next(pool.len() as u64) as usize].to_string() })
    };
    let ranges = [
        ("2026-09-01", "2026-10-01"),
        ("2026-09-01", "2026-11-01"),
        ("2026-08-25", "2026-11-06"),
        ("2026-09-14T07:13:00Z", "2026-10-29T23:59:59Z"),
        ("2026-10-20", "2026-11-03"),
        ("2026-10-25T00:30:00Z", "2026-10-25T03:30:00Z"),
        ("2026-10-01T00:00:00+02:00", "2026-10-31T23:00:00Z"),
    ];
    let dims = ["provider", "model", "operation", "investigation", "user", "day", "week", "month"];
    let check = |f: &mut Fixture, next: &mut dyn FnMut(u64) -> u64, round: &str| {
        let all = f.ops.usage_records("eu", &RecordQuery { limit: Some(10_000), ..Default::default() }).unwrap().records;
        assert_eq!(all.len(), 2500);
        for case in 0..240 {
            let what = RecordFilter {
                provider: pick(next, &["openai", "anthropic"]),
                model: pick(next, &["gpt-4o", "gpt-4o-mini", "claude-unknown"]),
                operation: pick(next, &ops),
                investigation: pick(next, &invs),
                user: pick(next, &users),
                status: pick(next, &statuses),
                investigation_contains: pick(next, &["inv-2", "CASE", "1"]),
                user_contains: pick(next, &["U", "li"]),
            };
            let by: Vec<&str> = match next(3) {
                0 => vec![],
                1 => vec![dims[next(8) as usize]],
                _ => {
                    let a = next(8) as usize;
                    vec![dims[a], dims[(a + 1 + next(7) as usize) % 8]]
                }
            };
            let (from, to) = ranges[case % ranges.len()];
            let by_arg = (!by.is_empty()).then(|| by.join(","));
            let q = RecordQuery::of(Some(from.into()), Some(to.into()), what.clone());
            let s = f.ops.usage_summary_of("eu", &q, by_arg.as_deref()).unwrap();
            let ctx = format!("{round} case {case}: {from}..{to} by {by:?} {what:?}");
            let part = |v: &Option<String>, p: &Option<String>| match (v, p) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(v), Some(p)) => v.to_ascii_lowercase().contains(&p.to_ascii_lowercase()),
            };
            let eq = |v: &str, x: &Option<String>| x.as_deref().is_none_or(|x| x == v);
            let eq_opt = |v: &Option<String>, x: &Option<String>| x.is_none() || v == x;
            let selects = |r: &argus_ops::api::RecordView, a: DateTime<Utc>, b: DateTime<Utc>| {
                let t = at(&r.occurred_at);
                t >= a
                    && t < b
                    && eq(&r.provider, &what.provider)
                    && eq(&r.model, &what.model)
                    && eq(&r.operation, &what.operation)
                    && eq(&r.status, &what.status)
                    && eq_opt(&r.investigation, &what.investigation)
                    && eq_opt(&r.user, &what.user)
                    && part(&r.investigation, &what.investigation_contains)
                    && part(&r.user, &what.user_contains)
            };
            let (a, b) = (at(&s.from), at(&s.to));
            let inside: Vec<_> = all.iter().filter(|r| selects(r, a, b)).collect();
            let cost: argus_domain::Money = inside.iter().filter_map(|r| r.cost).sum();
            let input: i64 = inside.iter().map(|r| r.input_tokens as i64).sum();
            assert_eq!((s.requests as usize, s.cost, s.input_tokens), (inside.len(), cost, input), "{ctx}: totals");
            assert_eq!(s.unpriced_requests as usize, inside.iter().filter(|r| r.cost.is_none()).count(), "{ctx}: unpriced");
            let (pa, pb) = (at(&s.previous.from), at(&s.previous.to));
            let before: Vec<_> = all.iter().filter(|r| selects(r, pa, pb)).collect();
            assert_eq!(
                (s.previous.requests as usize, s.previous.cost),
                (before.len(), before.iter().filter_map(|r| r.cost).sum::<argus_domain::Money>()),
                "{ctx}: the previous period"
            );
            if by.is_empty() {
                assert!(s.groups.is_empty());
                continue;
            }
            let mut want: HashMap<Vec<Option<String>>, (i64, argus_domain::Money)> = HashMap::new();
            for r in &inside {
                let day = argus_domain::time::local_day(tz, at(&r.occurred_at));
                let key = by
                    .iter()
                    .map(|d| match *d {
                        "provider" => Some(r.provider.clone()),
                        "model" => Some(format!("{}/{}", r.provider, r.model)),
                        "operation" => Some(r.operation.clone()),
                        "investigation" => r.investigation.clone(),
                        "user" => r.user.clone(),
                        t => argus_domain::analytics::Dim::parse("by", t).unwrap().time_key(day),
                    })
                    .collect();
                let e = want.entry(key).or_default();
                e.0 += 1;
                e.1 += r.cost.unwrap_or_default();
            }
            let got: HashMap<Vec<Option<String>>, (i64, argus_domain::Money)> =
                s.groups.iter().map(|g| (g.keys.clone(), (g.requests, g.cost))).collect();
            assert_eq!(got.len(), s.groups.len(), "{ctx}: each group once");
            assert_eq!(got, want, "{ctx}: groups");
        }
    };
    check(&mut f, &mut next, "as ingested");
    // A reprice moves costs (and prices the unknown model): the rollups follow.
    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nopenai,gpt-unknown,2026-09-20,USD,3.3,7.7\nopenai,gpt-4o,2026-10-10,USD,1.25,9\n",
            Some("eu"),
        )
        .unwrap();
    let rep = f.ops.reprice("eu", Some("2026-08-01"), Some("2026-12-01"), true).unwrap();
    assert!(rep.changed > 100, "{rep:?}");
    check(&mut f, &mut next, "after the reprice");
}

/// Records pages in time order, oldest or newest first, filtered, walk
/// every matching record once in that order whatever the page size; a
/// malformed cursor or order is refused.
#[test]
fn records_page_through_in_time_order_either_way() {
    use argus_ops::analytics::RecordQuery;
    let mut f = fixture();
    f.ops.org_create("t", None, "USD", "UTC").unwrap();
    let lines: Vec<Value> = (0..230u64)
        .map(|i| {
            // Stored out of time order, several calls at the same instant.
            let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(((i * 7919) % 400) as i64);
            let mut l = line(&format!("r{i}"), "t", "gpt-4o", 10 + i, 1, &argus_domain::time::fmt_instant(t));
            l["investigation"] = json!(if i % 3 == 0 { "A" } else { "B" });
            l
        })
        .collect();
    f.ops.ingest(jsonl(&lines), |_| {}).unwrap();
    for (order, investigation) in [("time", None), ("time_desc", None), ("time_desc", Some("A"))] {
        let all = f
            .ops
            .usage_records(
                "t",
                &RecordQuery { limit: Some(10_000), investigation: investigation.map(str::to_string), ..Default::default() },
            )
            .unwrap()
            .records;
        let mut want: Vec<(DateTime<Utc>, i64)> = all.iter().map(|r| (at(&r.occurred_at), r.seq)).collect();
        want.sort();
        if order == "time_desc" {
            want.reverse();
        }
        let (mut got, mut cursor) = (Vec::new(), None);
        loop {
            let q = RecordQuery {
                limit: Some(17),
                order: Some(order.into()),
                cursor: cursor.clone(),
                investigation: investigation.map(str::to_string),
                ..Default::default()
            };
            let page = f.ops.usage_records("t", &q).unwrap();
            assert!(page.next_after_seq.is_none());
            got.extend(page.records.iter().map(|r| (at(&r.occurred_at), r.seq)));
            if !page.has_more {
                break;
            }
            cursor = page.next_cursor;
        }
        assert_eq!(got, want, "{order} {investigation:?}: every record once, in order");
    }
    let e = f
        .ops
        .usage_records("t", &RecordQuery { order: Some("time".into()), cursor: Some("yesterday".into()), ..Default::default() })
        .unwrap_err();
    assert!(e.field.as_deref() == Some("cursor") && e.message.contains("next_cursor"), "{}", e.message);
    let e = f.ops.usage_records("t", &RecordQuery { order: Some("cost".into()), ..Default::default() }).unwrap_err();
    assert!(e.message.contains("seq, time or time_desc"), "{}", e.message);
}
