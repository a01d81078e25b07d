//! The command-line contract, run as a user would: the real binary on real
//! SQLite files.
use argus_domain::price::{Rates, Tokens};
use argus_domain::Money;
use rust_decimal::Decimal;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_argus-usage");

fn cmd(db: &Path) -> Command {
    let mut c = Command::new(BIN);
    common::at_fake_now(&mut c).env("ARGUS_USAGE_DB", db).env_remove("ARGUS_USAGE_LOG");
    c
}

fn run(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = cmd(db).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn run_json(db: &Path, args: &[&str]) -> Value {
    let (code, out, err) = run(db, args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let db = common::server_store(d.path(), "usage.db");
    (d, db)
}

#[test]
fn org_record_summary_and_records_contract() {
    let (_d, db) = temp();
    let org = run_json(&db, &["org", "create", "acme", "--name", "Acme", "--currency", "USD", "--timezone", "Europe/Paris", "--json"]);
    assert_eq!(org["timezone"], "Europe/Paris");
    let rec = run_json(
        &db,
        &[
            "record",
            "--org",
            "acme",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--operation",
            "chat",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "200",
            "--cached-input-tokens",
            "400",
            "--at",
            "2026-10-31T23:30:00Z",
            "--investigation",
            "INV-1",
            "--user",
            "ann",
            "--json",
        ],
    );
    // 1000*2.5 + 200*10 + 400*1.25 = 5000 per million = 0.005
    assert_eq!(rec["cost"], "0.005", "money in JSON is a decimal string");
    assert_eq!(rec["currency"], "USD");
    assert!(rec["price_id"].is_i64());
    let unpriced = run_json(
        &db,
        &[
            "record",
            "--org",
            "acme",
            "--provider",
            "openai",
            "--model",
            "gpt-x",
            "--operation",
            "chat",
            "--input-tokens",
            "5",
            "--output-tokens",
            "5",
            "--at",
            "2026-11-05T10:00:00Z",
            "--json",
        ],
    );
    assert!(unpriced["cost"].is_null(), "an unpriced record's cost is null, never zero");

    let s =
        run_json(&db, &["usage", "summary", "--org", "acme", "--from", "2026-11-01", "--to", "2026-12-01", "--by", "provider", "--json"]);
    for k in [
        "org",
        "currency",
        "from",
        "to",
        "requests",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "cost",
        "unpriced_requests",
        "previous",
        "groups",
    ] {
        assert!(s.get(k).is_some(), "summary has key {k}");
    }
    assert_eq!(s["requests"], 2, "the 23:30Z record counts in November in Paris");
    assert_eq!(s["cost"], "0.005");
    assert_eq!(s["unpriced_requests"], 1);
    assert_eq!(s["from"], "2026-10-31T23:00:00Z", "a bare date is midnight in the organisation's time zone");
    assert!(s["previous"]["cost"].is_string() && s["previous"]["requests"].is_i64());
    let g = &s["groups"][0];
    for k in ["key", "requests", "input_tokens", "output_tokens", "cost", "unpriced_requests"] {
        assert!(g.get(k).is_some(), "group has key {k}");
    }

    let recs = run_json(
        &db,
        &["usage", "records", "--org", "acme", "--provider", "openai", "--investigation", "INV-1", "--limit", "10", "--json"],
    );
    assert_eq!(recs["records"].as_array().unwrap().len(), 1);
    assert_eq!(recs["records"][0]["cost"], "0.005");

    let (code, _, err) = run(&db, &["usage", "summary", "--org", "nobody", "--json"]);
    assert_eq!(code, 1);
    assert!(err.contains("org create"), "an unknown organisation says what to do: {err}");
    let (code, _, err) = run(&db, &["usage", "summary", "--org", "acme", "--by", "colour"]);
    assert_eq!(code, 1);
    assert!(err.contains("provider, model"), "{err}");
}

#[test]
fn ingest_reports_lines_and_exit_status() {
    let (d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    let file = d.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"org\":\"acme\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"operation\":\"chat\",\"input_tokens\":10,\"output_tokens\":1,\"occurred_at\":\"2026-11-02T10:00:00Z\"}\n\
         {\"id\":\"b\",\"org\":\"acme\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"operation\":\"chat\",\"input_tokens\":-10,\"output_tokens\":1,\"occurred_at\":\"2026-11-02T10:00:00Z\"}\n",
    )
    .unwrap();
    let (code, out, _) = run(&db, &["ingest", file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "exit status 1 when something was rejected");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["rejected"][0]["line"], 2);
    assert!(v["rejected"][0]["error"].as_str().unwrap().contains("input_tokens"));

    let mut child = cmd(&db).args(["ingest", "-", "--json"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let content = std::fs::read_to_string(&file).unwrap();
    let first_line = &content[..=content.find('\n').unwrap()];
    child.stdin.take().unwrap().write_all(first_line.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!((v["accepted"].as_i64(), v["duplicates"].as_i64()), (Some(0), Some(1)), "stdin works and re-ingest is idempotent");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn prices_import_list_and_reprice_from_the_cli() {
    let (d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    run_json(
        &db,
        &[
            "record",
            "--org",
            "acme",
            "--provider",
            "inhouse",
            "--model",
            "m1",
            "--operation",
            "chat",
            "--input-tokens",
            "1000000",
            "--output-tokens",
            "0",
            "--at",
            "2026-11-02T10:00:00Z",
            "--json",
        ],
    );
    let csv = d.path().join("p.csv");
    std::fs::write(&csv, "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\ninhouse,m1,2026-11-01,USD,0.0375,0,,\n").unwrap();
    let r = run_json(&db, &["prices", "import", csv.to_str().unwrap(), "--org", "acme", "--json"]);
    assert_eq!(r["added"], 1);
    let r = run_json(&db, &["prices", "import", csv.to_str().unwrap(), "--org", "acme", "--json"]);
    assert_eq!(r["added"], 0, "re-importing the same file adds nothing");
    let list = run_json(&db, &["prices", "list", "--org", "acme", "--provider", "inhouse", "--json"]);
    assert_eq!(list["prices"][0]["input_per_mtok"], "0.0375");
    let preview = run_json(&db, &["reprice", "--org", "acme", "--json"]);
    assert_eq!((preview["changed"].as_i64(), preview["applied"].as_bool()), (Some(1), Some(false)));
    let applied = run_json(&db, &["reprice", "--org", "acme", "--apply", "--json"]);
    assert_eq!(applied["after_cost"], "0.0375");
    let s = run_json(&db, &["usage", "summary", "--org", "acme", "--from", "2026-11-01", "--to", "2026-12-01", "--json"]);
    assert_eq!((s["cost"].as_str(), s["unpriced_requests"].as_i64()), (Some("0.0375"), Some(0)));
}

#[test]
fn db_flag_overrides_the_environment_and_newer_schemas_are_refused() {
    let (d, db) = temp();
    let other = d.path().join("other.db");
    run_json(&db, &["--db", other.to_str().unwrap(), "org", "create", "x", "--json"]);
    let here = run_json(&db, &["org", "list", "--json"]);
    assert_eq!(here["orgs"].as_array().unwrap().len(), 0, "--db wrote elsewhere than ARGUS_USAGE_DB");
    let there = run_json(&other, &["org", "list", "--json"]);
    assert_eq!(there["orgs"][0]["slug"], "x");

    // A store written by a newer version: its schema version (the header's
    // user_version, big-endian at byte 60) one past what this binary knows.
    let known = run_json(&other, &["info", "--json"])["schema_version"].as_i64().unwrap();
    common::set_user_version(&other, known + 1);
    let before = std::fs::read(&other).unwrap();
    let (code, out, err) = run(&other, &["org", "list", "--json"]);
    assert_ne!(code, 0, "a newer schema is refused: {out}");
    assert!(err.contains("newer"), "the error says the store is newer: {err}");
    assert_eq!(std::fs::read(&other).unwrap(), before, "and the store is untouched");
}

fn expected_cost(i: u64) -> (Money, &'static str, Tokens) {
    // Built-in list prices: gpt-4o 2.50/10.00, gpt-4o-mini 0.15/0.60.
    let (model, rates) = if i.is_multiple_of(3) {
        (
            "gpt-4o",
            Rates {
                input_per_mtok: Decimal::new(250, 2),
                output_per_mtok: Decimal::new(1000, 2),
                cached_input_per_mtok: Some(Decimal::new(125, 2)),
                cache_write_per_mtok: None,
                cache_write_1h_per_mtok: None,
            },
        )
    } else {
        (
            "gpt-4o-mini",
            Rates {
                input_per_mtok: Decimal::new(15, 2),
                output_per_mtok: Decimal::new(60, 2),
                cached_input_per_mtok: Some(Decimal::new(75, 3)),
                cache_write_per_mtok: None,
                cache_write_1h_per_mtok: None,
            },
        )
    };
    let t = Tokens { input: 100 + i % 977, output: 7 + i % 331, cached_input: i % 5 * 100, ..Tokens::default() };
    (rates.cost(&t), model, t)
}

/// A child process killed with SIGKILL in the middle of a large ingest
/// leaves a store that opens cleanly; re-running gives exactly the totals.
#[test]
fn sigkill_mid_ingest_then_rerun_gives_exact_totals() {
    let (d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    let n = 120_000u64;
    let file = d.path().join("big.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    let mut total = Money::ZERO;
    for i in 0..n {
        let (cost, model, t) = expected_cost(i);
        total += cost;
        writeln!(
            w,
            "{{\"id\":\"k{i}\",\"org\":\"acme\",\"provider\":\"openai\",\"model\":\"{model}\",\"operation\":\"chat\",\"input_tokens\":{},\"output_tokens\":{},\"cached_input_tokens\":{},\"occurred_at\":\"2026-11-{:02}T{:02}:{:02}:00Z\"}}",
            t.input, t.output, t.cached_input, 1 + i % 26, i % 24, i % 60
        )
        .unwrap();
    }
    drop(w);

    let mut child = cmd(&db).args(["ingest", file.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Kill it once some batches are committed but before the end.
    let start = Instant::now();
    let count = |db: &Path| -> i64 {
        let s = argus_store::Store::open(db).unwrap();
        // The one organisation of this store (acme) is the first.
        argus_store::records::count(&s.reader(), argus_domain::ids::OrgId(1)).unwrap_or(0)
    };
    loop {
        let c = count(&db);
        if c >= 10_000 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let partial = count(&db);
    assert!(partial > 0 && (partial as u64) < n, "the kill landed mid-ingest ({partial} of {n} stored)");
    assert_eq!(partial % argus_ops::ingest::BATCH_LINES as i64, 0, "only whole batches are ever committed");

    let s = argus_store::Store::open(&db).unwrap();
    assert_eq!(s.integrity_check().unwrap(), "ok", "the store opens cleanly after SIGKILL");
    drop(s);

    let v = run_json(&db, &["ingest", file.to_str().unwrap(), "--json"]);
    assert_eq!(v["accepted"].as_i64().unwrap() + v["duplicates"].as_i64().unwrap(), n as i64);
    assert_eq!(v["duplicates"].as_i64().unwrap(), partial, "what was committed before the kill is recognised, not stored twice");
    let sum = run_json(&db, &["usage", "summary", "--org", "acme", "--from", "2026-11-01", "--to", "2026-12-01", "--json"]);
    assert_eq!(sum["requests"].as_i64(), Some(n as i64), "every record exactly once");
    assert_eq!(sum["cost"].as_str().unwrap(), total.to_string(), "the total is exact to the last digit");
}

#[test]
fn controls_contract() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    let b = run_json(&db, &["budget", "set", "--org", "acme", "--amount", "0.01", "--thresholds", "50,100", "--hard-limit", "--json"]);
    assert_eq!((b["amount"].as_str(), b["hard_limit"].as_bool(), b["version"].as_i64()), (Some("0.01"), Some(true), Some(1)));
    run_json(
        &db,
        &[
            "record",
            "--org",
            "acme",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--operation",
            "chat",
            "--input-tokens",
            "2000",
            "--output-tokens",
            "0",
            "--at",
            "2026-11-20T10:00:00Z",
            "--json",
        ],
    );
    let s = run_json(&db, &["budget", "status", "--org", "acme", "--json"]);
    for k in ["org", "month", "currency", "amount", "spent", "remaining", "percent", "hard_limit", "blocked", "thresholds", "alerts"] {
        assert!(s.get(k).is_some(), "budget status has key {k}");
    }
    assert_eq!((s["month"].as_str(), s["spent"].as_str(), s["percent"].as_str()), (Some("2026-11"), Some("0.005"), Some("50")));
    assert_eq!(s["alerts"][0]["threshold"], 50);
    for k in ["threshold", "fired_at", "spent", "amount"] {
        assert!(s["alerts"][0].get(k).is_some(), "alert has key {k}");
    }
    let alerts = run_json(&db, &["alerts", "list", "--org", "acme", "--json"]);
    let id = alerts["alerts"][0]["id"].as_i64().unwrap().to_string();
    let (code, _, _) = run(&db, &["alerts", "ack", "--org", "acme", &id]);
    assert_eq!(code, 0);

    let (code, out, _) = run(&db, &["admit", "--org", "acme", "--provider", "openai", "--estimated-cost", "0.004", "--json"]);
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, a["allowed"].as_bool()), (0, Some(true)));
    assert!(a["reservation_id"].is_string());
    let (code, out, _) = run(&db, &["admit", "--org", "acme", "--provider", "openai", "--estimated-cost", "0.004", "--json"]);
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, a["allowed"].as_bool(), a["code"].as_str()), (2, Some(false), Some("budget_exceeded")), "exit status 2 when refused");
    assert!(a.get("retry_after_s").is_some() && a["message"].as_str().unwrap().contains("acme"));

    run_json(&db, &["provider", "set", "--org", "acme", "--provider", "anthropic", "--priority", "1", "--hourly-limit", "1", "--json"]);
    run_json(&db, &["provider", "set", "--org", "acme", "--provider", "openai", "--priority", "2", "--daily-limit", "none", "--json"]);
    let list = run_json(&db, &["provider", "list", "--org", "acme", "--json"]);
    assert_eq!(list["providers"][0]["provider"], "anthropic");
    assert_eq!(list["providers"][0]["hourly_limit"], 1);
    run_json(&db, &["budget", "set", "--org", "acme", "--amount", "100", "--no-hard-limit", "--json"]);
    let r = run_json(&db, &["route", "--org", "acme", "--operation", "chat", "--json"]);
    assert_eq!(r["chosen"], "anthropic");
    assert!(r["reservation_id"].is_string());
    let (code, out, _) = run(&db, &["route", "--org", "acme", "--operation", "chat", "--dry-run", "--json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, r["chosen"].as_str()), (0, Some("openai")), "the hourly quota of 1 is used: fall back to openai");
    let c = &r["candidates"][0];
    assert_eq!((c["provider"].as_str(), c["state"].as_str()), (Some("anthropic"), Some("rate_limited")));
    for k in ["provider", "state", "reason", "until"] {
        assert!(c.get(k).is_some(), "candidate has key {k}");
    }
    run_json(&db, &["provider", "set", "--org", "acme", "--provider", "openai", "--enabled", "false", "--json"]);
    let (code, out, _) = run(&db, &["route", "--org", "acme", "--json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, r["chosen"].is_null()), (2, true), "exit status 2 when no provider is available");

    let f = run_json(&db, &["forecast", "--org", "acme", "--json"]);
    for k in ["month", "spent", "projected", "low", "high", "amount", "crosses_on", "days_left", "enough_data"] {
        assert!(f.get(k).is_some(), "forecast has key {k}");
    }
    let (code, _, err) = run(&db, &["provider", "set", "--org", "acme", "--provider", "openai", "--hourly-limit", "lots"]);
    assert_eq!(code, 1);
    assert!(err.contains("none"), "{err}");
}

/// `serve` stops on SIGTERM after finishing the requests in flight: every
/// record whose POST was answered 200 is in the store.
#[test]
fn sigterm_stops_the_server_without_losing_an_accepted_record() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    let (code, token, _) = run(&db, &["token", "create", "--org", "acme", "--role", "ingest"]);
    assert_eq!(code, 0);
    let token = token.trim().to_string();
    assert!(token.starts_with("argus_") && !token.contains(char::is_whitespace), "the token alone on stdout");
    let mut c = cmd(&db);
    c.args(["serve", "--listen", "127.0.0.1:0"]);
    let (mut child, addr) = common::spawn_server(c);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pid = child.id();
    let accepted: Vec<String> = rt.block_on(async move {
        let c = argus_client::api::Client::new(&format!("http://{addr}"), Some(&token));
        let mut tasks = Vec::new();
        for t in 0..8 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = Vec::new();
                for b in 0.. {
                    let ids: Vec<String> = (0..50).map(|i| format!("s{t}-{b}-{i}")).collect();
                    let batch: Vec<Value> = ids
                        .iter()
                        .map(|id| serde_json::json!({"id": id, "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 10, "output_tokens": 1, "occurred_at": "2026-11-20T10:00:00Z"}))
                        .collect();
                    match c.post("/orgs/acme/records", &Value::Array(batch)).await {
                        Ok(a) if a.status == 200 => ok.extend(ids),
                        _ => break,
                    }
                }
                ok
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status:?}");
    assert!(accepted.len() > 100, "the load ran ({} accepted)", accepted.len());
    let mut stored = std::collections::HashSet::new();
    let mut after = 0;
    loop {
        let page = run_json(&db, &["usage", "records", "--org", "acme", "--limit", "10000", "--after-seq", &after.to_string(), "--json"]);
        stored.extend(page["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        after = page["next_after_seq"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    for id in &accepted {
        assert!(stored.contains(id), "{id} was answered 200 and must be stored");
    }
}

/// Starts `n` `argus-usage admit` processes at once on one store and
/// returns how many were allowed (exit 0) and refused (exit 2).
fn admit_at_once(db: &Path, n: usize, args: &[&str]) -> (usize, usize) {
    let children: Vec<_> = (0..n)
        .map(|_| cmd(db).args(["admit", "--json"]).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    let (mut allowed, mut refused) = (0, 0);
    for c in children {
        let out = c.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => allowed += 1,
            Some(2) => refused += 1,
            other => panic!("admit exited {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    (allowed, refused)
}

/// Quotas and hard limits hold between processes, not only between threads
/// of one process: many `admit` processes at once on one store never admit
/// more than the quota or the budget allows.
#[test]
fn separate_processes_never_overshoot_a_quota_or_a_hard_limit() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    run_json(&db, &["provider", "set", "--org", "acme", "--provider", "openai", "--hourly-limit", "7", "--json"]);
    let (allowed, refused) = admit_at_once(&db, 24, &["--org", "acme", "--provider", "openai"]);
    assert_eq!((allowed, refused), (7, 17), "exactly the hourly quota is admitted");

    // A hard limit of 1.00 with 0.30 reserved per call in flight: three fit.
    run_json(&db, &["budget", "set", "--org", "acme", "--amount", "1", "--hard-limit", "--json"]);
    let (allowed, refused) = admit_at_once(&db, 24, &["--org", "acme", "--provider", "anthropic", "--estimated-cost", "0.30"]);
    assert_eq!((allowed, refused), (3, 21), "reservations never pass the hard limit");
    let s = run_json(&db, &["budget", "status", "--org", "acme", "--json"]);
    assert_eq!(s["reserved"], "0.90", "the three reservations are held: {s}");
}

/// Many processes admitting calls of one investigation against its hard
/// limit: exactly the headroom is admitted, the refusal names the scope, and
/// calls of another investigation are not held by it.
#[test]
fn separate_processes_never_overshoot_an_investigations_hard_limit() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    run_json(&db, &["budget", "set", "--org", "acme", "--amount", "1000", "--json"]);
    let set =
        run_json(&db, &["budget", "set", "--org", "acme", "--scope", "investigation:INV-7", "--amount", "1", "--hard-limit", "--json"]);
    assert_eq!(set["scope"], "investigation:INV-7");
    let inv7 = ["--org", "acme", "--provider", "openai", "--investigation", "INV-7", "--estimated-cost", "0.30"];
    let (allowed, refused) = admit_at_once(&db, 24, &inv7);
    assert_eq!((allowed, refused), (3, 21), "exactly the headroom of INV-7 is admitted");
    let (code, out, _) = run(&db, &[&["admit"][..], &inv7[..], &["--json"]].concat());
    assert_eq!(code, 2);
    let a: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((a["code"].as_str(), a["scope"].as_str()), (Some("budget_exceeded"), Some("investigation:INV-7")), "{a}");
    assert!(a["message"].as_str().unwrap().contains("investigation:INV-7"), "the message names the scope: {a}");
    let other = ["--org", "acme", "--provider", "openai", "--investigation", "INV-8", "--estimated-cost", "0.30"];
    let (allowed, _) = admit_at_once(&db, 6, &other);
    assert_eq!(allowed, 6, "another investigation is not held by INV-7's budget");
    let s = run_json(&db, &["budget", "status", "--org", "acme", "--scope", "investigation:INV-7", "--json"]);
    assert_eq!((s["scope"].as_str(), s["reserved"].as_str()), (Some("investigation:INV-7"), Some("0.90")), "{s}");
    let org = run_json(&db, &["budget", "status", "--org", "acme", "--json"]);
    assert_eq!(org["reserved"], "2.70", "the organisation holds all nine calls in flight: {org}");
    let list = run_json(&db, &["budget", "list", "--org", "acme", "--json"]);
    let scopes: Vec<&str> = list["budgets"].as_array().unwrap().iter().map(|b| b["scope"].as_str().unwrap()).collect();
    assert_eq!(scopes, ["org", "investigation:INV-7"]);
}

/// Forecast and spike alerts with the clock moved from outside the
/// processes (libfaketime, at FAKE_NOW, 2026-11-27): the day's spend comes
/// from four processes at once, and each alert fires exactly once.
#[test]
fn forecast_and_spike_alerts_fire_once_across_processes() {
    let (d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--timezone", "UTC", "--json"]);
    let prices = d.path().join("p.csv");
    std::fs::write(
        &prices,
        "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\ntest,unit,2026-01-01T00:00:00Z,USD,1,0\n",
    )
    .unwrap();
    run(&db, &["prices", "import", "--org", "acme", prices.to_str().unwrap()]);
    run_json(
        &db,
        &[
            "budget",
            "set",
            "--org",
            "acme",
            "--scope",
            "investigation:INV-1",
            "--amount",
            "100",
            "--thresholds",
            "1000",
            "--spike-factor",
            "3",
            "--json",
        ],
    );
    run_json(&db, &["budget", "set", "--org", "acme", "--scope", "user:ann", "--amount", "21", "--thresholds", "1000", "--json"]);
    // One unit a day for the 14 days before the 27th.
    let line = |id: &str, units: f64, day: u32| {
        format!(
            "{{\"id\":\"{id}\",\"org\":\"acme\",\"provider\":\"test\",\"model\":\"unit\",\"operation\":\"chat\",\"investigation\":\"INV-1\",\"user\":\"ann\",\"input_tokens\":{},\"output_tokens\":0,\"occurred_at\":\"2026-11-{day:02}T10:00:00Z\"}}\n",
            (units * 1_000_000.0) as u64
        )
    };
    let history: String = (13..=26).map(|day| line(&format!("h{day}"), 1.0, day)).collect();
    let file = d.path().join("h.jsonl");
    std::fs::write(&file, history).unwrap();
    run_json(&db, &["ingest", file.to_str().unwrap(), "--json"]);
    assert!(run_json(&db, &["alerts", "list", "--org", "acme", "--json"])["alerts"].as_array().unwrap().is_empty());
    // Today: 4 x 1.5 from four processes at once: 6 > 3 x the median of 1.
    let children: Vec<_> = (0..4)
        .map(|i| {
            let f = d.path().join(format!("t{i}.jsonl"));
            std::fs::write(&f, line(&format!("t{i}"), 1.5, 27)).unwrap();
            cmd(&db).args(["ingest", f.to_str().unwrap(), "--json"]).stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let alerts = run_json(&db, &["alerts", "list", "--org", "acme", "--json"]);
    let got: Vec<(String, String, Option<String>)> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["scope"].as_str().unwrap().into(), a["kind"].as_str().unwrap().into(), a["day"].as_str().map(str::to_string)))
        .collect();
    // ann: 20 spent of 21 by the 27th at noon, at about a unit a day: over 21 by the month's end.
    assert_eq!(
        got,
        [
            ("investigation:INV-1".to_string(), "spike".to_string(), Some("2026-11-27".to_string())),
            ("user:ann".to_string(), "forecast".to_string(), None)
        ],
        "{alerts}"
    );
    let forecast = run_json(&db, &["forecast", "--org", "acme", "--scope", "user:ann", "--json"]);
    assert_eq!(forecast["scope"], "user:ann");
    assert!(forecast["projected"].as_str().unwrap().parse::<f64>().unwrap() > 21.0, "{forecast}");
    // Recording more the same day fires neither again.
    let f = d.path().join("more.jsonl");
    std::fs::write(&f, line("more", 0.5, 27)).unwrap();
    run_json(&db, &["ingest", f.to_str().unwrap(), "--json"]);
    assert_eq!(run_json(&db, &["alerts", "list", "--org", "acme", "--json"])["alerts"].as_array().unwrap().len(), 2);
}

/// What a newcomer mistypes gets our message, naming the field and the fix,
/// not the argument parser's.
#[test]
fn mistyped_values_get_messages_that_say_what_to_do() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    let fails = |args: &[&str]| {
        let (code, _, err) = run(&db, args);
        assert_ne!(code, 0, "{args:?} must fail");
        err
    };
    let err = fails(&["budget", "set", "--org", "acme", "--amount", "-50"]);
    assert!(err.contains("`amount`") && err.contains("-50 is negative"), "{err}");
    let err = fails(&[
        "record",
        "--org",
        "acme",
        "--provider",
        "openai",
        "--model",
        "gpt-4o",
        "--operation",
        "chat",
        "--input-tokens",
        "-3",
        "--output-tokens",
        "1",
    ]);
    assert!(err.contains("`input_tokens`") && err.contains("-3 is negative"), "{err}");
    let err = fails(&["budget", "status", "--org", "Acme"]);
    assert!(err.contains("did you mean \"acme\""), "a slug differing only by case is suggested: {err}");
    assert!(!err.contains("org create Acme"), "an invalid slug is never suggested: {err}");
    let err = fails(&["org", "create", "beta", "--currency", "XYZ"]);
    assert!(err.contains("\"XYZ\" is not an ISO 4217 currency code"), "{err}");
    let err = fails(&["org", "create", "beta", "--currency", "eur"]);
    assert!(err.contains("write it in capitals: \"EUR\""), "{err}");
    // A URL of another kind is not a store: nothing is created under a
    // folder named after its scheme.
    let here = tempfile::tempdir().unwrap();
    let out =
        Command::new(BIN).current_dir(here.path()).args(["--db", "mysql://argus@127.0.0.1:3306/argus", "org", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("PostgreSQL URL") && err.contains("SQLite file"), "{err}");
    // A PostgreSQL server that is not there: a clear error, fast, without the password.
    let started = std::time::Instant::now();
    let out = Command::new(BIN)
        .current_dir(here.path())
        .args(["--db", "postgres://argus:s3cret@127.0.0.1:1/argus", "org", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot connect to postgres://argus@127.0.0.1:1/argus") && err.contains("check that the database runs"), "{err}");
    assert!(!err.contains("s3cret"), "the password is never shown: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(std::fs::read_dir(here.path()).unwrap().count(), 0, "nothing was created");
}

/// Output into a pipe whose reader has gone (`... | head`) ends the
/// command quietly, as a pipe's writer killed by SIGPIPE does (141), not
/// with a panic.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    let (_d, db) = temp();
    run_json(&db, &["demo", "--json"]);
    for args in
        [&["usage", "records", "--org", "demo", "--limit", "5000"][..], &["usage", "records", "--org", "demo", "--limit", "5000", "--json"]]
    {
        let mut child = cmd(&db).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A second server on a store another one serves would deliver every
/// webhook twice: it refuses to start, exits non-zero and names the holder.
/// Once the first stops, the store can be served again.
#[test]
fn a_second_server_on_one_store_refuses_to_start() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    if common::on_postgres() {
        // Several servers on one PostgreSQL database is what it is for
        // (tests/cluster.rs): the second starts beside the first.
        let (mut servers, mut addrs) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let mut c = cmd(&db);
            c.args(["serve", "--listen", "127.0.0.1:0"]);
            let (child, addr) = common::spawn_server(c);
            servers.push(child);
            addrs.push(addr);
        }
        assert_ne!(addrs[0], addrs[1]);
        for mut s in servers {
            s.kill().unwrap();
            s.wait().unwrap();
        }
        return;
    }
    let mut c = cmd(&db);
    c.args(["serve", "--listen", "127.0.0.1:0"]);
    let (mut first, _addr) = common::spawn_server(c);
    let out = cmd(&db).args(["serve", "--listen", "127.0.0.1:0"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server must not start: {err}");
    assert!(err.contains("already serves the store") && err.contains(&format!("process {}", first.id())), "{err}");
    assert!(!err.contains("serving"), "it never said it serves: {err}");
    first.kill().unwrap();
    first.wait().unwrap();
    let mut c = cmd(&db);
    c.args(["serve", "--listen", "127.0.0.1:0"]);
    let (mut again, _) = common::spawn_server(c);
    again.kill().unwrap();
    again.wait().unwrap();
}

/// `alerts channel add/list/test/remove` as a user types them: a Slack
/// channel to a loopback receiver (refused without --allow-private-targets),
/// its URL's secret path never printed, a test message received, an SMTP URL
/// with a password refused without echoing it, the changes in the audit log.
#[test]
fn alert_channels_from_the_command_line() {
    let (_d, db) = temp();
    run_json(&db, &["org", "create", "acme", "--json"]);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/services/T0/B0/s3cr3t", l.local_addr().unwrap());
    let got = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        let (sock, _) = l.accept().unwrap();
        let mut r = BufReader::new(sock.try_clone().unwrap());
        let (mut line, mut len) = (String::new(), 0usize);
        r.read_line(&mut line).unwrap();
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if h == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        (&sock).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").unwrap();
        (line, String::from_utf8(body).unwrap())
    });

    let (code, _, err) = run(&db, &["alerts", "channel", "add", "--org", "acme", "--kind", "slack", "--url", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("field `url`") && err.contains("--allow-private-targets"), "{err}");
    let c = run_json(
        &db,
        &["alerts", "channel", "add", "--org", "acme", "--kind", "slack", "--url", &url, "--allow-private-targets", "--json"],
    );
    let id = c["id"].as_i64().unwrap().to_string();
    let (code, out, _) = run(&db, &["alerts", "channel", "list", "--org", "acme"]);
    assert!(code == 0 && out.contains("slack") && !out.contains("s3cr3t"), "{out}");
    let (code, out, err) = run(&db, &["alerts", "channel", "test", "--org", "acme", &id, "--allow-private-targets"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("delivered"), "{out}");
    let (line, body) = got.join().unwrap();
    assert!(line.starts_with("POST /services/T0/B0/s3cr3t"), "{line}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["text"].as_str().unwrap().contains("test of an alert channel of acme"), "{body}");

    let add_email = |rest: &[&str]| run(&db, &[&["alerts", "channel", "add", "--org", "acme", "--kind", "email"], rest].concat());
    let (code, _, err) = add_email(&["--to", "b@example.com", "--smtp", "smtp://me:hunter2@mail.example.com:587"]);
    assert_eq!(code, 1);
    assert!(err.contains("field `smtp`") && err.contains("--smtp-user") && !err.contains("hunter2"), "{err}");
    let (code, _, err) = add_email(&["--to", "nobody", "--smtp", "smtp://mail.example.com"]);
    assert!(code == 1 && err.contains("field `to`") && err.contains("budgets@example.com"), "{err}");
    let (code, out, err) = add_email(&["--to", "b@example.com", "--smtp", "smtp://mail.example.com", "--smtp-user", "alerts", "--json"]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((e["smtp"].as_str(), e["password_env"].as_str()), (Some("smtp://mail.example.com:587"), Some("ARGUS_USAGE_SMTP_PASSWORD")));

    let (code, out, _) = run(&db, &["alerts", "channel", "remove", "--org", "acme", &id]);
    assert!(code == 0 && out.contains("removed"), "{out}");
    let (code, _, err) = run(&db, &["alerts", "channel", "remove", "--org", "acme", &id]);
    assert!(code == 1 && err.contains("alerts channel list"), "{err}");
    let list = run_json(&db, &["alerts", "channel", "list", "--org", "acme", "--json"]);
    assert_eq!(list["channels"].as_array().unwrap().len(), 1);
    let file = _d.path().join("audit.json");
    let (code, _, err) = run(&db, &["export", "--org", "acme", "--kind", "audit", "--format", "json", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let audit = std::fs::read_to_string(&file).unwrap();
    assert!(audit.contains("channel.add") && audit.contains("channel.remove"), "{audit}");
    assert!(!audit.contains("s3cr3t"), "the Slack URL's secret path is not in the audit log");
}
