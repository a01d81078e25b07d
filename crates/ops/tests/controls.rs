//! Budgets, alerts, quotas, admission, routing and projection, with a
//! controllable clock, on real SQLite files.
use argus_domain::time::{Clock, ManualClock};
use argus_ops::controls::{BudgetChange, ProviderChange};
use argus_ops::Ops;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Fx {
    _dir: tempfile::TempDir,
    /// The store: a file in `_dir`, or a PostgreSQL database (ARGUS_TEST_PG).
    path: std::path::PathBuf,
    ops: Ops,
    clock: Arc<ManualClock>,
}

fn fx(now: &str) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at(now)));
    let path = argus_store::pg::test_store(dir.path(), "u.db").unwrap();
    let ops = Ops::open(&path, clock.clone() as Arc<dyn Clock>, "test").unwrap();
    Fx { _dir: dir, path, ops, clock }
}

/// An organisation with a private model costing exactly 1.00 per million input tokens.
fn org(f: &mut Fx, slug: &str, tz: &str) {
    f.ops.org_create(slug, None, "USD", tz).unwrap();
    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\ntest,unit,2026-01-01T00:00:00Z,USD,1,0\n",
            Some(slug),
        )
        .unwrap();
}

/// Records a call costing `cost` (in currency units) at `when`.
fn spend(f: &mut Fx, org: &str, id: &str, cost: u64, when: &str) {
    spend_status(f, org, id, cost, when, "ok", "test")
}

fn spend_status(f: &mut Fx, org: &str, id: &str, cost: u64, when: &str, status: &str, provider: &str) {
    let v = json!({"id": id, "org": org, "provider": provider, "model": "unit", "operation": "chat",
                   "input_tokens": cost * 1_000_000, "output_tokens": 0, "status": status, "occurred_at": when});
    f.ops.record(&v).unwrap();
}

fn budget(f: &mut Fx, org: &str, amount: &str, hard: bool) {
    f.ops.budget_set(org, None, &BudgetChange { amount: Some(amount.into()), hard_limit: Some(hard), ..Default::default() }).unwrap();
}

/// The thresholds that fired (forecast and spike alerts aside).
fn fired(f: &mut Fx, org: &str) -> Vec<u32> {
    f.ops.alerts_list(org).unwrap().iter().filter(|a| a.kind == "threshold").map(|a| a.threshold).collect()
}

#[test]
fn thresholds_fire_one_at_a_time_and_several_at_once_exactly_once() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "a", "UTC");
    budget(&mut f, "a", "100", false);
    spend(&mut f, "a", "r1", 79, "2026-11-02T10:00:00Z");
    assert_eq!(fired(&mut f, "a"), Vec::<u32>::new(), "79% reaches nothing");
    spend(&mut f, "a", "r2", 1, "2026-11-03T10:00:00Z");
    assert_eq!(fired(&mut f, "a"), vec![80], "exactly 80% fires 80");
    spend(&mut f, "a", "r3", 15, "2026-11-04T10:00:00Z");
    assert_eq!(fired(&mut f, "a"), vec![80, 90]);
    spend(&mut f, "a", "r3", 15, "2026-11-04T10:00:00Z"); // a duplicate adds no spend
    spend(&mut f, "a", "r4", 50, "2026-11-05T10:00:00Z");
    assert_eq!(fired(&mut f, "a"), vec![80, 90, 100], "each threshold once");
    let a = f.ops.alerts_list("a").unwrap();
    assert_eq!(
        (a[1].spent.to_string(), a[1].amount.to_string()),
        ("95.00".into(), "100.00".into()),
        "an alert keeps the spend and budget when it fired"
    );

    org(&mut f, "b", "UTC");
    budget(&mut f, "b", "100", false);
    spend(&mut f, "b", "big", 150, "2026-11-02T10:00:00Z");
    assert_eq!(fired(&mut f, "b"), vec![80, 90, 100], "one record crossing three thresholds fires all three");

    // Restart: a new process on the same store fires nothing again.
    let path = f.path.clone();
    let mut again = Ops::open(&path, f.clock.clone() as Arc<dyn Clock>, "test").unwrap();
    again.record(&json!({"id": "r5", "org": "a", "provider": "test", "model": "unit", "operation": "chat", "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": "2026-11-06T10:00:00Z"})).unwrap();
    assert_eq!(again.alerts_list("a").unwrap().iter().filter(|a| a.kind == "threshold").count(), 3);

    let acked = f.ops.alerts_ack("a", a[0].id).unwrap();
    assert_eq!(acked.acknowledged_by.as_deref(), Some("test"));
}

#[test]
fn lowering_a_budget_below_spend_fires_at_once_and_ingest_and_reprice_fire_too() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "a", "UTC");
    spend(&mut f, "a", "r1", 50, "2026-11-02T10:00:00Z");
    budget(&mut f, "a", "1000", false);
    assert!(fired(&mut f, "a").is_empty());
    let set = f.ops.budget_set("a", None, &BudgetChange { amount: Some("55".into()), ..Default::default() }).unwrap();
    assert_eq!(fired(&mut f, "a"), vec![80, 90], "50 of 55 is 90.9%: both fire as the budget is lowered");
    let thresholds: Vec<(&str, u32)> = set.alerts_fired.iter().map(|a| (a.kind.as_str(), a.threshold)).collect();
    // 50 spent by the 20th: about 2.5 a day, so 75 by the month's end, over 55 while spend is below it.
    assert_eq!(thresholds, [("threshold", 80), ("threshold", 90), ("forecast", 0)], "budget_set returns the alerts it fired");
    let again = f.ops.budget_set("a", None, &BudgetChange { amount: Some("56".into()), ..Default::default() }).unwrap().alerts_fired;
    assert!(again.iter().all(|a| a.kind != "threshold"), "no threshold fires twice: {again:?}");

    // Batch ingest fires.
    org(&mut f, "c", "UTC");
    budget(&mut f, "c", "10", false);
    let lines = (0..12).map(|i| json!({"id": format!("c{i}"), "org": "c", "provider": "test", "model": "unit", "operation": "chat", "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": "2026-11-03T10:00:00Z"}).to_string()).collect::<Vec<_>>().join("\n");
    let rep = f.ops.ingest(std::io::Cursor::new(lines.into_bytes()), |_| {}).unwrap();
    assert_eq!(rep.alerts_fired.len(), 3, "the ingest reports the alerts it fired");

    // Reprice fires: unpriced records become priced.
    f.ops.org_create("d", None, "USD", "UTC").unwrap();
    budget(&mut f, "d", "10", false);
    let v = json!({"id": "d1", "org": "d", "provider": "later", "model": "m", "operation": "chat", "input_tokens": 9_000_000, "output_tokens": 0, "occurred_at": "2026-11-03T10:00:00Z"});
    f.ops.record(&v).unwrap();
    assert!(fired(&mut f, "d").is_empty(), "an unpriced record spends nothing yet");
    f.ops
        .prices_import("provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nlater,m,2026-01-01,USD,1,0\n", Some("d"))
        .unwrap();
    f.ops.reprice("d", None, None, true).unwrap();
    assert_eq!(fired(&mut f, "d"), vec![80, 90], "9 of 10 after the reprice");
}

#[test]
fn price_edits_carry_the_version_they_were_made_against() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "a", "UTC");
    let v = f.ops.prices_version("a").unwrap();
    assert!(v > 0);
    let line =
        |model: &str| format!("provider,model,effective_from,currency,input_per_mtok,output_per_mtok\ntest,{model},2026-01-01,USD,1,0\n");
    let stale = f.ops.prices_add("a", &line("m1"), Some(v - 1)).unwrap_err();
    assert_eq!((stale.code, stale.field.as_deref()), (argus_domain::ErrorCode::VersionMismatch, Some("version")), "{}", stale.message);
    assert!(stale.message.contains("reload"), "{}", stale.message);
    assert_eq!(f.ops.prices_version("a").unwrap(), v, "a refused edit adds nothing");
    assert_eq!(f.ops.prices_add("a", &line("m1"), Some(v)).unwrap().added, 1);
    let v2 = f.ops.prices_version("a").unwrap();
    assert!(v2 > v, "an added version moves the version");
    assert_eq!(
        f.ops.prices_add("a", &line("m2"), Some(v)).unwrap_err().code,
        argus_domain::ErrorCode::VersionMismatch,
        "the old version is stale now"
    );
    assert_eq!(f.ops.prices_add("a", &line("m2"), None).unwrap().added, 1, "without a version, no check");
}

#[test]
fn months_are_the_organisations_in_its_time_zone() {
    let mut f = fx("2026-11-01T08:00:00Z");
    org(&mut f, "p", "Europe/Paris");
    budget(&mut f, "p", "10", false);
    spend(&mut f, "p", "late", 9, "2026-10-31T23:30:00Z");
    let nov = f.ops.budget_status("p", None).unwrap();
    assert_eq!((nov.month.as_str(), nov.spent.to_string().as_str()), ("2026-11", "9.00"), "00:30 on 1 November in Paris");
    let oct = f.ops.budget_status("p", Some("2026-10")).unwrap();
    assert!(oct.spent.is_zero());
    assert_eq!(f.ops.alerts_list("p").unwrap()[0].month, "2026-11");
}

#[test]
fn december_to_january() {
    let mut f = fx("2026-12-31T20:00:00Z"); // 15:00 in New York
    org(&mut f, "ny", "America/New_York");
    budget(&mut f, "ny", "100", false);
    for d in 1..=30 {
        spend(&mut f, "ny", &format!("d{d}"), 3, &format!("2026-12-{d:02}T15:00:00Z"));
    }
    let dec = f.ops.forecast("ny", None).unwrap();
    assert_eq!(dec.month, "2026-12");
    assert!(dec.enough_data);
    assert_eq!(dec.spent.to_string(), "90.00");
    assert!(
        dec.projected.unwrap() > dec.spent && dec.projected.unwrap().to_string().starts_with("91."),
        "3 a day, 3/8 of the last day left: {:?}",
        dec.projected
    );
    assert_eq!(dec.crosses_on, None, "100 is not reached this month at 3 a day");
    assert_eq!(dec.days_left.as_deref(), Some("3.3"));

    budget(&mut f, "ny", "80", false);
    let dec = f.ops.forecast("ny", None).unwrap();
    assert_eq!(dec.crosses_on.as_deref(), Some("2026-12-27"), "81 on the 27th: the day 80 was crossed");
    assert_eq!(dec.days_left.as_deref(), Some("0"));

    f.clock.set(at("2027-01-01T05:30:00Z")); // 00:30 on 1 January in New York
    let jan = f.ops.forecast("ny", None).unwrap();
    assert_eq!((jan.month.as_str(), jan.enough_data, jan.projected), ("2027-01", false, None), "not enough data on a month's first day");
    let closed = f.ops.forecast("ny", Some("2026-12")).unwrap();
    assert_eq!(closed.projected, Some(closed.spent), "a closed month projects what it spent");
    let st = f.ops.budget_status("ny", None).unwrap();
    assert_eq!((st.month.as_str(), st.spent.is_zero()), ("2027-01", true), "the new month starts from zero");
    assert!(f.ops.forecast("ny", Some("2027-02")).unwrap().spent.is_zero(), "a future month has spent nothing");
}

#[test]
fn a_quota_filled_then_freed_minute_by_minute() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "q", "UTC");
    f.ops.provider_set("q", "openai", &ProviderChange { hourly_limit: Some(Some(5)), ..Default::default() }).unwrap();
    let start = f.clock.now();
    let mut admitted = Vec::new();
    for minute in 0..180 {
        f.clock.set(start + Duration::minutes(minute));
        let a = f.ops.admit("q", "openai", None).unwrap();
        if a.allowed {
            admitted.push(f.clock.now());
        } else {
            assert_eq!(a.code.as_deref(), Some("rate_limited"));
            let retry = a.retry_after_s.unwrap();
            let frees = admitted[admitted.len() - 5] + Duration::minutes(60);
            assert_eq!(retry as i64, (frees - f.clock.now()).num_seconds(), "Retry-After says when the oldest leaves the window");
            assert!(a.message.unwrap().contains("hourly"), "the refusal names the window");
        }
    }
    for (i, t) in admitted.iter().enumerate() {
        let n = admitted[i..].iter().filter(|u| **u < *t + Duration::minutes(60)).count();
        assert!(n <= 5, "{n} admissions in the hour from {t}");
    }
    assert_eq!(admitted.len(), 15, "5 in each of three hours, with no burst at the window's edge");
    let p = &f.ops.provider_list("q").unwrap()[0];
    assert_eq!((p.hourly_used, p.hourly_limit), (5, Some(5)));
    f.ops.provider_set("q", "openai", &ProviderChange { hourly_limit: Some(None), ..Default::default() }).unwrap();
    assert!(f.ops.admit("q", "openai", None).unwrap().allowed, "a quota set to none frees it");
}

/// The daily quota is a rolling 24 hours, like the hourly one an hour: hour
/// by hour over three days, never more than the quota in any 24 hours, no
/// burst at midnight, and Retry-After says when the oldest leaves the window.
#[test]
fn a_daily_quota_filled_then_freed_hour_by_hour() {
    let mut f = fx("2026-11-20T21:00:00Z");
    org(&mut f, "d", "UTC");
    f.ops.provider_set("d", "openai", &ProviderChange { daily_limit: Some(Some(4)), ..Default::default() }).unwrap();
    let start = f.clock.now();
    let mut admitted = Vec::new();
    for hour in 0..72 {
        // Two tries an hour, half an hour apart.
        for half in 0..2 {
            f.clock.set(start + Duration::hours(hour) + Duration::minutes(30 * half));
            let a = f.ops.admit("d", "openai", None).unwrap();
            if a.allowed {
                admitted.push(f.clock.now());
            } else {
                assert_eq!(a.code.as_deref(), Some("rate_limited"));
                let frees = admitted[admitted.len() - 4] + Duration::hours(24);
                assert_eq!(a.retry_after_s.unwrap() as i64, (frees - f.clock.now()).num_seconds(), "Retry-After says when a slot frees");
                assert!(a.message.unwrap().contains("daily"), "the refusal names the daily window");
            }
        }
    }
    for (i, t) in admitted.iter().enumerate() {
        let n = admitted[i..].iter().filter(|u| **u < *t + Duration::hours(24)).count();
        assert!(n <= 4, "{n} admissions in the 24 hours from {t}");
    }
    assert_eq!(admitted.len(), 12, "4 in each of three days, whatever midnight says");
    let p = &f.ops.provider_list("d").unwrap()[0];
    assert_eq!((p.daily_used, p.daily_limit), (4, Some(4)));
}

#[test]
fn a_hard_limit_with_reservations_outstanding() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "h", "UTC");
    budget(&mut f, "h", "10", true);
    spend(&mut f, "h", "r1", 8, "2026-11-02T10:00:00Z");
    let a1 = f.ops.admit("h", "test", Some("1.5")).unwrap();
    assert!(a1.allowed, "8 spent + 1.5 reserved fits in 10");
    let a2 = f.ops.admit("h", "test", Some("1")).unwrap();
    assert_eq!(a2.code.as_deref(), Some("budget_exceeded"), "9.5 + 1 would overshoot");
    assert_eq!((a2.month.as_deref(), a2.amount.map(|m| m.to_string())), (Some("2026-11"), Some("10.00".into())));
    assert!(a2.message.unwrap().contains("h"), "the refusal names the organisation");
    assert!(f.ops.admit("h", "test", Some("0.5")).unwrap().allowed, "exactly 10 is allowed");
    let a4 = f.ops.admit("h", "test", None).unwrap();
    assert!(!a4.allowed, "spend plus reservations has reached the amount");
    assert!(f.ops.budget_status("h", None).unwrap().blocked);

    // The call's record settles its reservation: 8 + 1 spent, 0.5 still reserved.
    let v = json!({"id": "r2", "org": "h", "provider": "test", "model": "unit", "operation": "chat", "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": "2026-11-20T12:00:00Z", "reservation_id": a1.reservation_id.unwrap()});
    f.ops.record(&v).unwrap();
    let st = f.ops.budget_status("h", None).unwrap();
    assert_eq!((st.spent.to_string(), st.reserved.to_string()), ("9.00".into(), "0.50".into()));
    assert!(f.ops.admit("h", "test", Some("0.5")).unwrap().allowed);

    // Records of calls that happened are recorded whatever the limit says.
    spend(&mut f, "h", "over", 5, "2026-11-20T12:00:00Z");
    assert_eq!(f.ops.budget_status("h", None).unwrap().spent.to_string(), "14.00");

    // Reservations expire.
    budget(&mut f, "h", "14.6", true);
    assert!(!f.ops.admit("h", "test", Some("0.5")).unwrap().allowed);
    f.clock.advance(Duration::minutes(16));
    assert!(f.ops.admit("h", "test", Some("0.5")).unwrap().allowed, "expired reservations no longer hold");
}

#[test]
fn cool_down_grows_and_clears_and_routing_falls_back() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "r", "UTC");
    for (p, prio) in [("openai", 1), ("anthropic", 2)] {
        f.ops.provider_set("r", p, &ProviderChange { priority: Some(prio), ..Default::default() }).unwrap();
    }
    assert_eq!(f.ops.route("r", Some("chat"), true, None).unwrap().chosen.as_deref(), Some("openai"));
    for i in 0..3 {
        spend_status(&mut f, "r", &format!("e{i}"), 0, "2026-11-20T11:59:50Z", "error", "openai");
    }
    let r = f.ops.route("r", Some("chat"), true, None).unwrap();
    assert_eq!(r.chosen.as_deref(), Some("anthropic"), "three failures in a row cool openai down");
    assert_eq!(r.candidates[0].state, "cooling_down");
    assert_eq!(r.candidates[0].until.as_deref(), Some("2026-11-20T12:00:20Z"));
    spend_status(&mut f, "r", "e3", 0, "2026-11-20T11:59:55Z", "timeout", "openai");
    let r = f.ops.route("r", Some("chat"), true, None).unwrap();
    assert_eq!(r.candidates[0].until.as_deref(), Some("2026-11-20T12:00:55Z"), "a fourth failure doubles the cool-down");
    f.clock.advance(Duration::seconds(56));
    assert_eq!(f.ops.route("r", None, true, None).unwrap().chosen.as_deref(), Some("openai"), "available again when the cool-down ends");
    for i in 4..9 {
        spend_status(&mut f, "r", &format!("e{i}"), 0, "2026-11-20T12:00:50Z", "error", "openai");
    }
    assert_eq!(f.ops.route("r", None, true, None).unwrap().chosen.as_deref(), Some("anthropic"));
    spend_status(&mut f, "r", "ok1", 0, "2026-11-20T12:00:55Z", "ok", "openai");
    assert_eq!(f.ops.route("r", None, true, None).unwrap().chosen.as_deref(), Some("openai"), "a success clears the cool-down");

    // A toggle changes the choice; route admits in the same step.
    f.ops.provider_set("r", "openai", &ProviderChange { enabled: Some(false), ..Default::default() }).unwrap();
    let r = f.ops.route("r", Some("chat"), false, None).unwrap();
    assert_eq!((r.chosen.as_deref(), r.candidates[0].state.as_str()), (Some("anthropic"), "disabled"));
    assert!(r.reservation_id.is_some());
    assert_eq!(f.ops.admit("r", "openai", None).unwrap().code.as_deref(), Some("provider_disabled"));

    budget(&mut f, "r", "0", true);
    let r = f.ops.route("r", None, false, None).unwrap();
    assert_eq!(r.chosen, None);
    assert!(r.candidates.iter().all(|c| c.state != "available"));
    assert_eq!(r.candidates[1].state, "budget_blocked");
}

/// Many connections admitting at once never overshoot a quota or a hard
/// limit, and each alert is stored once.
#[test]
fn concurrent_admissions_and_writes_on_one_store() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "c", "UTC");
    f.ops.provider_set("c", "quota", &ProviderChange { hourly_limit: Some(Some(37)), ..Default::default() }).unwrap();
    let path = f.path.clone();
    let shared_clock = f.clock.clone();
    let run = |provider: &'static str, estimate: Option<&'static str>| -> usize {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                let clock = shared_clock.clone();
                std::thread::spawn(move || {
                    let mut ops = Ops::open(&path, clock as Arc<dyn Clock>, "t").unwrap();
                    (0..20).filter(|_| ops.admit("c", provider, estimate).unwrap().allowed).count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    };
    assert_eq!(run("quota", None), 37, "exactly the quota is admitted out of 160 concurrent asks");

    budget(&mut f, "c", "1", true);
    assert_eq!(run("spend", Some("0.03")), 33, "33 x 0.03 = 0.99 fits in 1.00, a 34th would overshoot");
    let st = f.ops.budget_status("c", None).unwrap();
    assert!(st.reserved.decimal() <= rust_decimal::Decimal::ONE);

    budget(&mut f, "c", "50", false);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            let clock = f.clock.clone();
            std::thread::spawn(move || {
                let mut ops = Ops::open(&path, clock as Arc<dyn Clock>, "t").unwrap();
                for i in 0..10 {
                    let v = json!({"id": format!("t{t}-{i}"), "org": "c", "provider": "test", "model": "unit", "operation": "chat", "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": "2026-11-10T10:00:00Z"});
                    ops.record(&v).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(fired(&mut f, "c"), vec![80, 90, 100], "80 records of 1 against 50: each alert stored once");
}

fn scoped(f: &mut Fx, org: &str, scope: &str, amount: &str, thresholds: &[u32], hard: bool) {
    let change = BudgetChange {
        scope: Some(scope.into()),
        amount: Some(amount.into()),
        thresholds: Some(thresholds.to_vec()),
        hard_limit: Some(hard),
        ..Default::default()
    };
    f.ops.budget_set(org, None, &change).unwrap();
}

#[allow(clippy::too_many_arguments)]
fn spend_of(f: &mut Fx, org: &str, id: &str, cost: u64, when: &str, inv: &str, user: &str, operation: &str, provider: &str) {
    let v = json!({"id": id, "org": org, "provider": provider, "model": "unit", "operation": operation, "investigation": inv, "user": user,
                   "input_tokens": cost * 1_000_000, "output_tokens": 0, "occurred_at": when});
    f.ops.record(&v).unwrap();
}

/// A scope's spend is that of its calls alone, to the nano-unit (the same
/// as the filtered summary); each scope's thresholds fire once, with their
/// scope, whatever path records the calls; other scopes are untouched.
#[test]
fn scoped_budgets_count_their_calls_and_fire_their_own_alerts_once() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "a", "UTC");
    f.ops
        .prices_import(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nother,unit,2026-01-01T00:00:00Z,USD,1,0\n",
            Some("a"),
        )
        .unwrap();
    scoped(&mut f, "a", "investigation:INV-1", "10", &[50, 100], false);
    scoped(&mut f, "a", "user:ann", "4", &[50], false);
    scoped(&mut f, "a", "operation:kb", "3", &[100], false);
    scoped(&mut f, "a", "provider:other", "2", &[100], false);
    spend_of(&mut f, "a", "c1", 4, "2026-11-02T10:00:00Z", "INV-1", "bob", "chat", "test");
    assert!(f.ops.alerts_list("a").unwrap().is_empty(), "40 % of INV-1: nothing yet");
    spend_of(&mut f, "a", "c2", 2, "2026-11-03T10:00:00Z", "INV-1", "ann", "kb", "test");
    let fired: Vec<(String, u32)> = f.ops.alerts_list("a").unwrap().iter().map(|a| (a.scope.clone(), a.threshold)).collect();
    assert_eq!(fired, [("investigation:INV-1".to_string(), 50), ("user:ann".to_string(), 50)], "60 % of INV-1, 50 % of ann's");
    spend_of(&mut f, "a", "c3", 1, "2026-11-04T10:00:00Z", "INV-2", "cy", "kb", "other");
    spend_of(&mut f, "a", "c4", 1, "2026-11-04T11:00:00Z", "INV-2", "cy", "kb", "other");
    let all = f.ops.alerts_list("a").unwrap();
    let scopes: Vec<&str> = all.iter().map(|a| a.scope.as_str()).collect();
    assert_eq!(scopes, ["investigation:INV-1", "user:ann", "operation:kb", "provider:other"], "kb reached 3 of 3, other 2 of 2");
    assert!(all.iter().all(|a| a.kind == "threshold"));
    // Recording the same calls again, or another path, fires nothing twice.
    spend_of(&mut f, "a", "c4", 1, "2026-11-04T11:00:00Z", "INV-2", "cy", "kb", "other");
    f.ops
        .budget_set("a", None, &BudgetChange { scope: Some("operation:kb".into()), amount: Some("3".into()), ..Default::default() })
        .unwrap();
    assert_eq!(f.ops.alerts_list("a").unwrap().len(), 4, "each fires once");
    // The spend of a scope is the filtered summary's, exactly.
    for (scope, filter) in
        [("investigation:INV-1", "investigation"), ("user:ann", "user"), ("operation:kb", "operation"), ("provider:other", "provider")]
    {
        let s = f.ops.budget_status_of("a", Some(scope), Some("2026-11")).unwrap();
        let value = scope.split_once(':').unwrap().1.to_string();
        let mut q = argus_ops::analytics::RecordQuery::of(Some("2026-11-01".into()), Some("2026-12-01".into()), Default::default());
        match filter {
            "investigation" => q.investigation = Some(value),
            "user" => q.user = Some(value),
            "operation" => q.operation = Some(value),
            _ => q.provider = Some(value),
        }
        let sum = f.ops.usage_summary_of("a", &q, None).unwrap();
        assert_eq!((s.scope.as_str(), s.spent), (scope, sum.cost), "{scope}");
        assert_eq!(s.alerts.iter().map(|a| a.scope.as_str()).collect::<Vec<_>>(), [scope], "a scope's status lists its own alerts");
    }
    let org = f.ops.budget_status("a", Some("2026-11")).unwrap();
    assert_eq!((org.scope.as_str(), org.amount), ("org", None), "the organisation has no budget of its own");
    assert_eq!(org.spent.to_string(), "8.00");
}

/// Admission checks every budget that applies to a call: a scope's hard
/// limit refuses its calls (naming the scope) and holds their reservations,
/// route skips a provider whose scoped budget is spent.
#[test]
fn admission_and_routing_check_every_budget_that_applies() {
    let mut f = fx("2026-11-20T12:00:00Z");
    org(&mut f, "a", "UTC");
    scoped(&mut f, "a", "user:ann", "1", &[100], true);
    let keys = |user| argus_domain::budget::CallKeys { user: Some(user), ..Default::default() };
    for _ in 0..3 {
        assert!(f.ops.admit_call("a", "test", Some("0.30"), &keys("ann")).unwrap().allowed);
    }
    let refused = f.ops.admit_call("a", "test", Some("0.30"), &keys("ann")).unwrap();
    assert_eq!((refused.allowed, refused.code.as_deref(), refused.scope.as_deref()), (false, Some("budget_exceeded"), Some("user:ann")));
    assert!(refused.message.unwrap().contains("user:ann"));
    assert!(f.ops.admit_call("a", "test", Some("0.30"), &keys("bob")).unwrap().allowed, "bob is not ann");
    assert!(f.ops.admit("a", "test", Some("0.30")).unwrap().allowed, "a call without a user is not ann's");
    // The reservations expire: the headroom is back.
    f.clock.advance(Duration::minutes(16));
    assert!(f.ops.admit_call("a", "test", Some("0.30"), &keys("ann")).unwrap().allowed);
    // Spent by records: refused whatever the estimate.
    spend_of(&mut f, "a", "x", 1, "2026-11-20T12:10:00Z", "INV-1", "ann", "chat", "test");
    assert!(!f.ops.admit_call("a", "test", None, &keys("ann")).unwrap().allowed);

    // A provider's budget spent: route falls back to the next provider.
    for (p, prio) in [("test", 1), ("backup", 2)] {
        f.ops.provider_set("a", p, &ProviderChange { priority: Some(prio), ..Default::default() }).unwrap();
    }
    scoped(&mut f, "a", "provider:test", "1", &[100], true);
    let r = f.ops.route_call("a", &Default::default(), true, None).unwrap();
    assert_eq!(r.chosen.as_deref(), Some("backup"), "{:?}", r.candidates);
    assert_eq!(r.candidates[0].state, "budget_blocked");
    assert!(r.candidates[0].reason.as_deref().unwrap_or_default().contains("provider:test"));
}

/// Forecast and spike alerts against hand-computed cases: each fires once
/// (a month, a day), with its scope and kind, whatever records arrive after.
#[test]
fn forecast_and_spike_alerts_fire_once_against_hand_computed_cases() {
    // 1 a day for the first 10 days of November, at noon UTC.
    let mut f = fx("2026-11-01T00:00:00Z");
    org(&mut f, "a", "UTC");
    let change = BudgetChange {
        scope: Some("investigation:INV-1".into()),
        amount: Some("25".into()),
        thresholds: Some(vec![1000]),
        spike_factor: Some(Some("3".into())),
        ..Default::default()
    };
    f.ops.budget_set("a", None, &change).unwrap();
    for d in 1..=10 {
        let when = format!("2026-11-{d:02}T12:00:00Z");
        f.clock.set(at(&when));
        spend_of(&mut f, "a", &format!("d{d}"), 1, &when, "INV-1", "ann", "chat", "test");
    }
    // On the 10th at noon: 10 spent, 9 complete days of 1 each, so a rate of
    // 1 a day for the 20.5 days left: 30.5 projected > 25, reached on day 25.
    let kinds =
        |f: &mut Fx| f.ops.alerts_list("a").unwrap().into_iter().map(|a| (a.kind, a.scope, a.crosses_on, a.day)).collect::<Vec<_>>();
    let inv = "investigation:INV-1".to_string();
    let forecast = ("forecast".to_string(), inv.clone(), Some("2026-11-25".to_string()), None);
    let fc = f.ops.forecast_of("a", Some("investigation:INV-1"), None).unwrap();
    assert_eq!((fc.projected.map(|p| p.to_string()), fc.crosses_on.as_deref()), (Some("30.50".into()), Some("2026-11-25")));
    let first_forecast_day = {
        let list = f.ops.alerts_list("a").unwrap();
        let fc = list.iter().find(|a| a.kind == "forecast").expect("a forecast alert");
        fc.fired_at.clone()
    };
    assert!(first_forecast_day.starts_with("2026-11-0"), "it fired as soon as the projection passed 25: {first_forecast_day}");
    let words = f.ops.alerts_list("a").unwrap()[0].words();
    assert!(words.0.contains("a investigation:INV-1") && words.0.contains("on course to overspend"), "{words:?}");
    assert!(words.1.contains("of 25.00 in 2026-11, crossing it on"), "{words:?}");
    assert_eq!(kinds(&mut f), std::slice::from_ref(&forecast), "no spike: every day cost the same");
    // The 11th: 3.5 by the evening: not more than 3 times the median (1)? 3.5 > 3: a spike.
    f.clock.set(at("2026-11-11T18:00:00Z"));
    spend_of(&mut f, "a", "s1", 3, "2026-11-11T17:00:00Z", "INV-1", "ann", "chat", "test");
    assert_eq!(kinds(&mut f), std::slice::from_ref(&forecast), "3 is not more than 3 times a median of 1");
    let v = json!({"id": "s2", "org": "a", "provider": "test", "model": "unit", "operation": "chat", "investigation": "INV-1",
                   "input_tokens": 500_000, "output_tokens": 0, "occurred_at": "2026-11-11T17:30:00Z"});
    f.ops.record(&v).unwrap();
    let spike = ("spike".to_string(), inv.clone(), None, Some("2026-11-11".to_string()));
    assert_eq!(kinds(&mut f), [forecast.clone(), spike.clone()], "3.5 is more than 3 times 1");
    // More spend the same day, and the next forecasts: nothing fires twice.
    spend_of(&mut f, "a", "s3", 2, "2026-11-11T17:45:00Z", "INV-1", "ann", "chat", "test");
    assert_eq!(kinds(&mut f).len(), 2);
    // Another investigation without a budget: nothing of its own.
    spend_of(&mut f, "a", "o1", 9, "2026-11-11T17:50:00Z", "INV-2", "ann", "chat", "test");
    assert_eq!(kinds(&mut f).len(), 2);
    // A median of 0 (a new scope): no spike, whatever it spends.
    f.ops
        .budget_set(
            "a",
            None,
            &BudgetChange {
                scope: Some("user:new".into()),
                amount: Some("1000".into()),
                spike_factor: Some(Some("2".into())),
                ..Default::default()
            },
        )
        .unwrap();
    spend_of(&mut f, "a", "n1", 5, "2026-11-11T17:55:00Z", "INV-3", "new", "chat", "test");
    assert!(f.ops.alerts_list("a").unwrap().iter().all(|a| a.scope != "user:new"));
    // Bad factors are refused with what to write.
    for bad in ["0.5", "abc", "12345", "1.23456", "-2"] {
        let e = f
            .ops
            .budget_set(
                "a",
                None,
                &BudgetChange { scope: Some("user:new".into()), spike_factor: Some(Some(bad.into())), ..Default::default() },
            )
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spike_factor"), "{bad}: {}", e.message);
    }
}
