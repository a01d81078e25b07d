//! The SQL that carries invariants, on real SQLite files, against plain
//! Rust over the same data: the rolling quota window (`admissions_window`,
//! what admission counts) and the filters of record queries
//! (`records::list` and `records::scan`).
use argus_domain::analytics::RecordFilter;
use argus_domain::ids::OrgId;
use argus_domain::record::UsageInput;
use argus_domain::time::to_nanos;
use argus_store::records::{self, Filter, Insert, Inserter, NewRecord};
use argus_store::{controls, orgs, Store};
use proptest::prelude::*;
use serde_json::json;

fn store() -> (tempfile::TempDir, Store, OrgId) {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::open(&d.path().join("s.db")).unwrap();
    let org = s.write(|w| orgs::insert(w, "acme", "Acme", "USD", "UTC", 0)).unwrap().unwrap().id;
    (d, s, org)
}

const SECOND: i64 = 1_000_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// After any sequence of admissions (times never going back, old ones
    /// forgotten as admission forgets them), the window's count and its
    /// k-th newest admission are what a plain count over all admissions says.
    #[test]
    fn the_quota_window_counts_what_a_plain_count_does(
        gaps in proptest::collection::vec(0i64..400, 1..60),
        window_s in 60i64..3600,
        k in 1i64..6,
        probe_after in 0i64..4000,
    ) {
        let (_d, mut s, org) = store();
        let window = window_s * SECOND;
        let mut t = 1_000_000 * SECOND;
        let mut all = Vec::new();
        for g in &gaps {
            t += g * SECOND;
            s.write(|w| controls::add_admission(w, org, "openai", t, t - window)).unwrap();
            all.push(t);
        }
        let now = t + probe_after * SECOND;
        let since = now - window;
        let (count, kth) = s.read(|r| controls::admissions_window(r, org, "openai", since, k)).unwrap();
        let in_window: Vec<i64> = all.iter().copied().filter(|a| *a > since).collect();
        prop_assert_eq!(count, in_window.len() as i64);
        let expected_kth = (in_window.len() as i64 >= k).then(|| in_window[in_window.len() - k as usize]);
        prop_assert_eq!(kth, expected_kth);
    }
}

/// Records of two organisations over a few values of each dimension.
fn records(s: &mut Store, org: OrgId, other: OrgId) -> Vec<(OrgId, UsageInput)> {
    let mut out = Vec::new();
    for i in 0..240usize {
        let provider = ["openai", "anthropic", "google"][i % 3];
        let model = ["m1", "m2"][i % 2];
        let operation = ["chat", "embed", "kb"][(i / 2) % 3];
        let user = ["ann", "bob"][(i / 3) % 2];
        let v = json!({
            "id": format!("r{i}"),
            "org": "acme",
            "provider": provider,
            "model": model,
            "operation": operation,
            "investigation": if i % 5 == 0 { json!(null) } else { json!(format!("INV-{}", i % 4)) },
            "user": if i % 7 == 0 { json!(null) } else { json!(user) },
            "status": (["ok", "ok", "error"][i % 3]),
            "input_tokens": 10 + i, "output_tokens": 1,
            "occurred_at": format!("2026-11-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24),
        });
        let input = UsageInput::from_json(&v).unwrap();
        let o = if i % 9 == 0 { other } else { org };
        out.push((o, input));
    }
    s.write(|w| -> argus_store::Result<()> {
        let mut ins = Inserter::new(w)?;
        for (o, input) in &out {
            let id = input.id.clone().unwrap();
            let hash = input.content_hash(&id);
            let n = NewRecord {
                org: *o,
                id: &id,
                input,
                day: 0,
                cost_nanos: None,
                currency: "USD",
                price_id: None,
                recorded_at: 0,
                content_hash: &hash,
                conversion: None,
            };
            assert!(matches!(ins.insert(&n)?, Insert::Inserted(_)));
        }
        Ok(())
    })
    .unwrap();
    out
}

fn selects(f: &Filter, o: OrgId, r: &UsageInput) -> bool {
    let at = to_nanos(r.occurred_at);
    f.org.is_none_or(|x| x == o)
        && f.from.is_none_or(|x| at >= x)
        && f.to.is_none_or(|x| at < x)
        && f.what.provider.as_ref().is_none_or(|x| *x == r.provider)
        && f.what.model.as_ref().is_none_or(|x| *x == r.model)
        && f.what.operation.as_ref().is_none_or(|x| *x == r.operation)
        && f.what.investigation.as_ref().is_none_or(|x| Some(x) == r.investigation.as_ref())
        && f.what.user.as_ref().is_none_or(|x| Some(x) == r.user.as_ref())
        && f.what.status.as_ref().is_none_or(|x| *x == r.status)
        && f.what.investigation_contains.as_ref().is_none_or(|x| contains(&r.investigation, x))
        && f.what.user_contains.as_ref().is_none_or(|x| contains(&r.user, x))
}

/// A part of the value, ASCII letters in any case.
fn contains(v: &Option<String>, part: &str) -> bool {
    v.as_ref().is_some_and(|v| v.to_ascii_lowercase().contains(&part.to_ascii_lowercase()))
}

/// Every combination of filters selects exactly the records plain Rust
/// selects, through `list` (by seq, paged) and `scan` (by time).
#[test]
fn record_filters_select_what_plain_rust_selects() {
    let (_d, mut s, org) = store();
    let other = s.write(|w| orgs::insert(w, "other", "Other", "USD", "UTC", 0)).unwrap().unwrap().id;
    let all = records(&mut s, org, other);
    let t = |d: &str| to_nanos(chrono::DateTime::parse_from_rfc3339(d).unwrap().into());
    let ranges =
        [(None, None), (Some(t("2026-11-05T00:00:00Z")), Some(t("2026-11-20T00:00:00Z"))), (Some(t("2026-11-27T00:00:00Z")), None)];
    let opt = |v: &[&str]| -> Vec<Option<String>> { std::iter::once(None).chain(v.iter().map(|s| Some(s.to_string()))).collect() };
    let (mut checked, mut nonempty) = (0, 0);
    for (from, to) in ranges {
        for provider in opt(&["openai", "google", "nobody"]) {
            for operation in opt(&["chat", "kb"]) {
                for investigation in opt(&["INV-1", "INV-2"]) {
                    for user in opt(&["ann"]) {
                        for (model, (status, inv_part, user_part)) in opt(&["m2"]).into_iter().flat_map(|m| {
                            [
                                (None, None, None),
                                (Some("error"), None, None),
                                (None, Some("inv-1"), None),
                                (Some("ok"), Some("V-"), Some("AN")),
                            ]
                            .map(move |x| (m.clone(), x))
                        }) {
                            let s_ = |x: Option<&str>| x.map(str::to_string);
                            let f = Filter {
                                org: Some(org),
                                from,
                                to,
                                what: RecordFilter {
                                    provider: provider.clone(),
                                    model: model.clone(),
                                    operation: operation.clone(),
                                    investigation: investigation.clone(),
                                    user: user.clone(),
                                    status: s_(status),
                                    investigation_contains: s_(inv_part),
                                    user_contains: s_(user_part),
                                },
                                after_seq: None,
                            };
                            let mut want: Vec<String> =
                                all.iter().filter(|(o, r)| selects(&f, *o, r)).map(|(_, r)| r.id.clone().unwrap()).collect();
                            want.sort();
                            let mut listed = Vec::new();
                            let mut page = Filter { after_seq: Some(0), ..f.clone() };
                            loop {
                                let rows = s.read(|r| records::list(r, &page, 7)).unwrap();
                                let Some(last) = rows.last() else { break };
                                page.after_seq = Some(last.seq.0);
                                listed.extend(rows.into_iter().map(|r| r.id));
                            }
                            listed.sort();
                            assert_eq!(listed, want, "list with {f:?}");
                            let mut scanned = Vec::new();
                            s.read(|r| {
                                records::scan(r, &f, |x| -> argus_store::Result<()> {
                                    scanned.push(x.id);
                                    Ok(())
                                })
                            })
                            .unwrap();
                            scanned.sort();
                            assert_eq!(scanned, want, "scan with {f:?}");
                            checked += 1;
                            nonempty += usize::from(!want.is_empty());
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 3 * 4 * 3 * 3 * 2 * 2 * 4);
    assert!(nonempty >= 100, "many combinations select something ({nonempty} of {checked}), so the comparison means something");
}

/// Regression (hardening issue, item 2): a day's cost past 2^63 nano-units
/// (9.2 billion in the currency) used to turn into a REAL in SQLite, and
/// every later read of the organisation's totals failed. Kept in two
/// integers, any total stays exact, and so do the open reservations.
#[test]
fn totals_past_nine_billion_stay_exact_integers() {
    use argus_domain::analytics::{KeyParts, StoredDim, Totals};
    use argus_store::aggregates::{self, Delta};
    let (_d, mut s, org) = store();
    let parts = KeyParts {
        provider: "openai",
        model: "gpt-4o",
        operation: "chat",
        investigation: Some("INV-1"),
        user: None,
        status: "ok",
        token: None,
    };
    // Ten batches, each a little under 2^63 nano-units, and one refund.
    let big = i128::from(i64::MAX) - 12_345;
    let mut expected = 0i128;
    for i in 0..10 {
        let cost = if i == 7 { -big / 3 } else { big };
        expected += cost;
        s.write(|w| {
            let mut d = Delta::default();
            d.add(org, 20_400, &parts, &Totals { requests: 1, cost_nanos: cost, ..Totals::default() });
            d.apply(w)
        })
        .unwrap();
    }
    let rows = s.read(|r| aggregates::rows(r, org, StoredDim::Total, 20_400, 20_401)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2.cost_nanos, expected, "the day's total is the exact sum of what was added");
    assert_eq!(s.read(|r| controls::spend(r, org, 20_000, 21_000)).unwrap(), expected, "the month's spend too");
    let by_inv = s.read(|r| aggregates::rows(r, org, StoredDim::Investigation, 20_400, 20_401)).unwrap();
    assert_eq!(by_inv[0].2.cost_nanos, expected, "and every dimension's");
    for shape in argus_domain::analytics::Shape::ALL {
        let p = shape.period(20_400);
        let mut costs = Vec::new();
        s.read(|r| aggregates::cube_rows(r, org, shape, p, p + 1, &RecordFilter::default(), |c| costs.push(c.totals.cost_nanos))).unwrap();
        assert_eq!(costs, [expected], "and every rollup's ({shape:?})");
    }

    // Open reservations: as much as 3.6 million reservations of 10,000 each
    // (the bound on one estimate) would hold, in four steps.
    let step = 10_000 * 1_000_000_000i64 * 900_000; // 9 * 10^18 nano-units
    for i in 0..4 {
        s.write(|w| controls::add_reservation(w, &format!("r{i}"), org, "openai", &Default::default(), "2026-11", step, 0, i64::MAX))
            .unwrap();
    }
    assert_eq!(s.read(|r| controls::reserved(r, org, "2026-11", 1)).unwrap(), 4 * i128::from(step), "reservations sum exactly");
}

/// The rollups of a store written before them are made by
/// migrations/0011_cube.sql and 0012_pairs.sql from its records: the same rows, to the
/// nano-unit, that the writes keep (records written with their rollups,
/// the table then dropped and made again by the migration).
#[test]
fn the_rollup_migration_builds_what_the_writes_keep() {
    use argus_domain::analytics::Totals;
    use argus_store::aggregates::Delta;
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s.db");
    let mut s = Store::open(&path).unwrap();
    let org = s.write(|w| orgs::insert(w, "acme", "Acme", "USD", "UTC", 0)).unwrap().unwrap().id;
    s.write(|w| -> argus_store::Result<()> {
        let mut ins = Inserter::new(w)?;
        let mut delta = Delta::default();
        for i in 0..400usize {
            let v = json!({
                "id": format!("r{i}"), "org": "acme", "provider": (["openai", "google"][i % 2]), "model": (["m1", "m2", "m3"][i % 3]),
                "operation": (["chat", "kb"][i / 3 % 2]), "status": (["ok", "error"][i / 5 % 2]),
                "investigation": if i % 4 == 0 { json!(null) } else { json!(format!("INV-{}", i % 7)) },
                "user": if i % 6 == 0 { json!(null) } else { json!(format!("u{}", i % 5)) },
                "input_tokens": 10 + i, "output_tokens": i, "cached_input_tokens": i % 3, "cache_write_tokens": i % 4,
                "occurred_at": format!("2026-{:02}-{:02}T10:00:00Z", 9 + i % 3, 1 + i % 28),
            });
            let input = UsageInput::from_json(&v).unwrap();
            let id = input.id.clone().unwrap();
            let hash = input.content_hash(&id);
            let day = argus_domain::time::day_number(input.occurred_at.date_naive());
            // Costs up to 10^13 nano-units (the bound on one call), some unpriced.
            let cost = (i % 9 != 0).then(|| (i as i64 * 7_919_000_003) % 10_000_000_000_000);
            let n = NewRecord {
                org,
                id: &id,
                input: &input,
                day,
                cost_nanos: cost,
                currency: "USD",
                price_id: None,
                recorded_at: 0,
                content_hash: &hash,
                conversion: None,
            };
            assert!(matches!(ins.insert(&n)?, Insert::Inserted(_)));
            delta.add(org, day, &input.key_parts(), &Totals::of_record(&input.tokens, cost));
        }
        drop(ins);
        delta.apply(w)
    })
    .unwrap();
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    let rows = |c: &rusqlite::Connection| -> Vec<Vec<rusqlite::types::Value>> {
        let mut st = c
            .prepare("SELECT * FROM agg_cube ORDER BY org_id, shape, period, provider, model, operation, status, investigation, user_id")
            .unwrap();
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect()).unwrap().map(Result::unwrap).collect()
    };
    let kept = rows(&c);
    assert!(kept.len() > 300, "{} rows", kept.len());
    assert!(kept.iter().any(|r| r[1] == rusqlite::types::Value::Integer(5)), "the pairs are kept on write");
    c.execute_batch("DROP TABLE agg_cube").unwrap();
    for name in ["0011_cube", "0012_pairs"] {
        c.execute_batch(argus_store::MIGRATIONS.iter().find(|(n, _)| *n == name).unwrap().1).unwrap();
    }
    assert_eq!(rows(&c), kept);
}
