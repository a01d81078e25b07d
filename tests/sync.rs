//! Sync, run as users would: the real `argus-usage serve` on 127.0.0.1:0
//! over its own SQLite file, and linked desktop stores syncing from it with
//! the real binary and HTTP client. Tokens come from ARGUS_USAGE_TOKEN here
//! (no keyring service in CI); the keyring path is tested in scripts/test.sh
//! against a real Secret Service.
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_argus-usage");
const DIMS: &[&str] = &["", "provider", "model", "operation", "investigation", "user"];

fn cmd(db: &Path, token: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    common::at_fake_now(&mut c).env("ARGUS_USAGE_DB", db).env_remove("ARGUS_USAGE_LOG").env_remove("ARGUS_USAGE_TOKEN");
    if let Some(t) = token {
        c.env("ARGUS_USAGE_TOKEN", t);
    }
    c
}

fn run(db: &Path, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let out = cmd(db, token).args(args).stdin(Stdio::null()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn ok(db: &Path, token: Option<&str>, args: &[&str]) -> String {
    let (code, out, err) = run(db, token, args);
    assert_eq!(code, 0, "{args:?} failed: {err}\n{out}");
    out
}

fn json(db: &Path, token: Option<&str>, args: &[&str]) -> Value {
    let out = ok(db, token, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

/// A server process on its own store.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(db: &Path, listen: &str) -> Server {
        let mut c = cmd(db, None);
        c.args(["serve", "--listen", listen]);
        let (child, addr) = common::spawn_server(c);
        Server { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(db: &Path, org: &str, role: &str, name: &str) -> String {
    ok(db, None, &["token", "create", "--org", org, "--role", role, "--name", name]).trim().to_string()
}

/// `n` records for `org`, spread over September to November 2026, as JSON Lines.
fn lines(org: &str, prefix: &str, n: usize, day0: u32) -> String {
    let providers = [("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet"), ("google", "gemini-1.5-pro"), ("mistral", "mistral-large")];
    let mut s = String::new();
    for i in 0..n {
        let (p, m) = providers[i % 4];
        let month = 9 + (i % 3);
        let day = 1 + ((i / 3) as u32 + day0) % 28;
        let inv = if i % 5 == 0 { String::new() } else { format!(r#","investigation":"case-{}""#, i % 37) };
        let user = if i % 7 == 0 { String::new() } else { format!(r#","user":"u{}""#, i % 11) };
        // Some batch calls, some 1-hour cache writes: the billing terms travel too.
        let user = match i % 9 {
            0 => format!(r#"{user},"service_tier":"batch""#),
            1 => format!(r#"{user},"cache_write_1h_tokens":{}"#, i % 300),
            _ => user,
        };
        s.push_str(&format!(
            r#"{{"id":"{prefix}{i}","org":"{org}","provider":"{p}","model":"{m}","operation":"op{}","input_tokens":{},"output_tokens":{},"cached_input_tokens":{},"occurred_at":"2026-{month:02}-{day:02}T{:02}:{:02}:00Z"{inv}{user}}}"#,
            i % 6,
            100 + (i * 37) % 5000,
            10 + (i * 13) % 900,
            (i * 7) % 50,
            i % 24,
            i % 60
        ));
        s.push('\n');
    }
    s
}

fn ingest(db: &Path, text: &str) {
    let mut child = cmd(db, None).args(["ingest", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Every dimension of `usage summary` is the same on both stores, to the last digit.
fn assert_same(server: &Path, local: &Path, org: &str) {
    for by in DIMS {
        let mut args = vec!["usage", "summary", "--org", org, "--from", "2025-01-01", "--to", "2027-06-01", "--json"];
        if !by.is_empty() {
            args.extend(["--by", by]);
        }
        let a = json(server, None, &args);
        let b = json(local, None, &args);
        assert_eq!(a, b, "summary by {by:?} differs between server and linked store");
    }
}

fn status(db: &Path) -> Value {
    json(db, None, &["sync", "status", "--json"])
}

fn setup(n: usize) -> (tempfile::TempDir, PathBuf, Server) {
    let d = tempfile::tempdir().unwrap();
    let sdb = common::server_store(d.path(), "server.db");
    ok(&sdb, None, &["org", "create", "acme", "--currency", "EUR", "--timezone", "Europe/Paris"]);
    // USD list prices converted into EUR for the days up to mid-October;
    // later records stay unconverted (no rate of their day is known).
    let rates = d.path().join("rates.csv");
    let mut csv = String::from("date,from,to,rate\n");
    for day in 0..45 {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + chrono::Duration::days(day);
        csv.push_str(&format!("{date},USD,EUR,0.{}\n", 9100 + day * 7));
    }
    std::fs::write(&rates, csv).unwrap();
    ok(&sdb, None, &["fx", "import", rates.to_str().unwrap()]);
    ingest(&sdb, &lines("acme", "r", n, 0));
    let server = Server::start(&sdb, "127.0.0.1:0");
    (d, sdb, server)
}

fn link(db: &Path, server: &Server, token: &str) {
    ok(db, Some(token), &["sync", "link", "--server", &server.url(), "--org", "acme"]);
}

#[test]
fn first_sync_then_incremental_ones_with_late_records_agree_exactly() {
    let (d, sdb, server) = setup(30_000);
    let admin = token(&sdb, "acme", "admin", "laptop");
    let local = d.path().join("local.db");
    // A standalone store says so.
    assert_eq!(status(&local)["server"], Value::Null);
    let (code, _, err) = run(&local, Some(&admin), &["sync"]);
    assert_eq!(code, 1);
    assert!(err.contains("standalone") && err.contains("sync link"), "{err}");

    link(&local, &server, &admin);
    let r = json(&local, Some(&admin), &["sync", "--page", "2000", "--json"]);
    assert_eq!(r["records"], 30_000);
    assert_eq!(r["pages"], 15);
    assert_same(&sdb, &local, "acme");
    let s = status(&local);
    assert_eq!(s["org"], "acme");
    assert_eq!(s["cursor"], 30_000);
    assert!(s["last_synced_at"].is_string());
    assert_eq!(s["pending_pushes"], 0);
    assert_eq!(s["conflicts"], Value::Array(vec![]));

    // Nothing new: nothing stored, the cursor stays.
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(r["records"], 0);
    assert_eq!(r["cursor"], 30_000);

    // Records that happened long ago but reach the server after the sync still arrive.
    ingest(&sdb, &lines("acme", "late", 120, 5).replace("2026-1", "2025-1").replace("2026-09", "2025-09"));
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(r["records"], 120);
    assert_same(&sdb, &local, "acme");

    // Records keep the server's ids and costs; the linked store refuses its own.
    let a = json(&sdb, None, &["usage", "records", "--org", "acme", "--limit", "5", "--json"]);
    let b = json(&local, None, &["usage", "records", "--org", "acme", "--limit", "5", "--json"]);
    for (x, y) in a["records"].as_array().unwrap().iter().zip(b["records"].as_array().unwrap()) {
        assert_eq!((&x["id"], &x["cost"], &x["occurred_at"]), (&y["id"], &y["cost"], &y["occurred_at"]));
    }
    // Costs converted on the server arrive with their source cost and rate; so do the billing terms.
    let all = |db: &Path| json(db, None, &["usage", "records", "--org", "acme", "--provider", "openai", "--limit", "2000", "--json"]);
    let (a, b) = (all(&sdb), all(&local));
    let converted = a["records"].as_array().unwrap().iter().filter(|r| r["fx_rate"].is_string()).count();
    assert!(converted > 100, "some records were converted on the server: {converted}");
    let keys = ["id", "cost", "currency", "source_cost", "source_currency", "fx_rate", "fx_date", "service_tier", "cache_write_1h_tokens"];
    let pick = |v: &Value| v["records"].as_array().unwrap().iter().map(|r| keys.map(|k| r[k].clone())).collect::<Vec<_>>();
    assert_eq!(pick(&a), pick(&b), "records agree on both stores, conversions and billing terms included");
    assert!(a["records"].as_array().unwrap().iter().any(|r| r["service_tier"] == "batch"));
    let (code, _, err) = run(&local, None, &["ingest", "-"]);
    assert_eq!(code, 0, "an empty ingest is fine: {err}");
    let mut child =
        cmd(&local, None).args(["ingest", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(lines("acme", "mine", 1, 0).as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("follows the server"), "{err}");
    // Exports and analytics work on the linked store (offline: the server is stopped).
    drop(server);
    let csv = d.path().join("r.csv");
    ok(
        &local,
        None,
        &["export", "--org", "acme", "--format", "csv", "--from", "2025-01-01", "--to", "2027-01-01", "--out", csv.to_str().unwrap()],
    );
    ok(&local, None, &["export", "verify", csv.to_str().unwrap()]);
    ok(&local, None, &["forecast", "--org", "acme"]);
}

#[test]
fn sigkill_mid_sync_resumes_with_no_gap_and_no_duplicate() {
    let (d, sdb, server) = setup(40_000);
    let admin = token(&sdb, "acme", "admin", "laptop");
    let local = d.path().join("local.db");
    link(&local, &server, &admin);
    let mut cursors = Vec::new();
    for wait in [250u64, 400, 300] {
        let mut child =
            cmd(&local, Some(&admin)).args(["sync", "--page", "300"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
        let _ = child.wait();
        cursors.push(status(&local)["cursor"].as_i64().unwrap());
    }
    assert!(cursors.iter().any(|&c| c > 0 && c < 40_000), "a kill landed mid-sync: cursors {cursors:?}");
    // What was stored is exactly the records up to the cursor.
    let c = *cursors.last().unwrap();
    let summary = json(&local, None, &["usage", "summary", "--org", "acme", "--from", "2025-01-01", "--to", "2027-01-01", "--json"]);
    assert_eq!(summary["requests"].as_i64().unwrap(), c, "records stored = cursor (seq runs 1..n on the server)");
    json(&local, Some(&admin), &["sync", "--page", "3000", "--json"]);
    assert_eq!(status(&local)["cursor"], 40_000);
    assert_same(&sdb, &local, "acme");
}

#[test]
fn server_down_then_up_and_clear_errors_for_bad_links() {
    let (d, sdb, mut server) = setup(2_000);
    let admin = token(&sdb, "acme", "admin", "laptop");
    let local = d.path().join("local.db");
    link(&local, &server, &admin);
    json(&local, Some(&admin), &["sync", "--json"]);
    let addr = server.addr.clone();
    server.stop();
    ingest(&sdb, &lines("acme", "while-down", 500, 3));
    let (code, _, err) = run(&local, Some(&admin), &["sync", "--retries", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the server") && err.contains("Nothing is lost"), "{err}");
    assert!(status(&local)["last_error"].as_str().unwrap().contains("cannot reach"));
    // Offline, the local store still answers.
    json(&local, None, &["budget", "status", "--org", "acme", "--json"]);
    let server = Server::start(&sdb, &addr);
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(r["records"], 500);
    assert_same(&sdb, &local, "acme");
    assert_eq!(status(&local)["last_error"], Value::Null);

    // A revoked token, a wrong URL, a server that is not Argus Usage.
    let other = d.path().join("other.db");
    let (code, _, err) = run(&other, Some("argus_not-a-real-token"), &["sync", "link", "--server", &server.url(), "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("refused the token") && err.contains("revoked"), "{err}");
    let (code, _, err) = run(&other, Some(&admin), &["sync", "link", "--server", "http://127.0.0.1:9", "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the server at http://127.0.0.1:9"), "{err}");
    let (code, _, err) =
        run(&other, Some(&admin), &["sync", "link", "--server", &format!("{}/nothing-here", server.url()), "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not answer as an Argus Usage server"), "{err}");
    let revoked = token(&sdb, "acme", "analyst", "to-revoke");
    let listed = json(&sdb, None, &["token", "list", "--org", "acme", "--json"]);
    let id = listed["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "to-revoke").unwrap()["id"].to_string();
    link(&other, &server, &revoked);
    ok(&sdb, None, &["token", "revoke", "--org", "acme", &id]);
    let (code, _, err) = run(&other, Some(&revoked), &["sync"]);
    assert_eq!(code, 1);
    assert!(err.contains("revoked") && err.contains("sync link"), "{err}");
    // A store that follows one organisation does not follow another.
    ok(&sdb, None, &["org", "create", "beta"]);
    let beta = token(&sdb, "beta", "admin", "beta");
    let (code, _, err) = run(&other, Some(&beta), &["sync", "link", "--server", &server.url(), "--org", "beta"]);
    assert_eq!(code, 1);
    assert!(err.contains("already follows acme"), "{err}");
}

fn budget_on_server(sdb: &Path, month: &str) -> Value {
    let list = json(sdb, None, &["budget", "list", "--org", "acme", "--json"]);
    list["budgets"].as_array().unwrap().iter().find(|b| b["month"] == month).cloned().unwrap_or(Value::Null)
}

#[test]
fn two_admins_edit_the_same_budget_and_a_conflict_is_resolved_either_way() {
    let (d, sdb, server) = setup(100);
    let (a, b) = (d.path().join("a.db"), d.path().join("b.db"));
    let (ta, tb) = (token(&sdb, "acme", "admin", "alice"), token(&sdb, "acme", "admin", "bob"));
    link(&a, &server, &ta);
    link(&b, &server, &tb);
    json(&a, Some(&ta), &["sync", "--json"]);
    json(&b, Some(&tb), &["sync", "--json"]);

    // Offline edits wait in the outbox with the version they were made against.
    ok(&a, None, &["budget", "set", "--org", "acme", "--month", "2026-12", "--amount", "100"]);
    ok(&b, None, &["budget", "set", "--org", "acme", "--month", "2026-12", "--amount", "200"]);
    assert_eq!(status(&a)["pending_pushes"], 1);
    let r = json(&a, Some(&ta), &["sync", "--json"]);
    assert_eq!((r["pushed"].as_i64(), r["conflicts"].as_i64()), (Some(1), Some(0)));
    assert_eq!(budget_on_server(&sdb, "2026-12")["amount"], "100.00");

    let r = json(&b, Some(&tb), &["sync", "--json"]);
    assert_eq!((r["pushed"].as_i64(), r["conflicts"].as_i64()), (Some(0), Some(1)));
    assert_eq!(budget_on_server(&sdb, "2026-12")["amount"], "100.00", "the stale edit overwrote nothing");
    let s = status(&b);
    let c = &s["conflicts"][0];
    assert_eq!(c["object"], "budget:2026-12");
    assert_eq!(c["local"]["amount"], "200.00");
    assert_eq!(c["server"]["amount"], "100.00");
    // Until someone chooses, the local edit stays, also across syncs.
    json(&b, Some(&tb), &["sync", "--json"]);
    assert_eq!(json(&b, None, &["budget", "list", "--org", "acme", "--json"])["budgets"][0]["amount"], "200.00");

    // Bob keeps his: pushed on the next sync, against the server's version.
    let id = c["id"].to_string();
    ok(&b, None, &["sync", "resolve", &id, "--keep", "local"]);
    let r = json(&b, Some(&tb), &["sync", "--json"]);
    assert_eq!(r["pushed"], 1);
    assert_eq!(budget_on_server(&sdb, "2026-12")["amount"], "200.00");
    assert_eq!(status(&b)["pending_pushes"], 0);

    // Alice, still on the old version, edits again: a conflict; she keeps the server's value.
    ok(&a, None, &["budget", "set", "--org", "acme", "--month", "2026-12", "--amount", "300"]);
    let r = json(&a, Some(&ta), &["sync", "--json"]);
    assert_eq!(r["conflicts"], 1);
    let id = status(&a)["conflicts"][0]["id"].to_string();
    ok(&a, None, &["sync", "resolve", &id, "--keep", "server"]);
    let s = status(&a);
    assert_eq!((s["pending_pushes"].as_i64(), s["conflicts"].as_array().map(Vec::len)), (Some(0), Some(0)));
    let local = json(&a, None, &["budget", "list", "--org", "acme", "--json"]);
    assert_eq!(local["budgets"][0]["amount"], "200.00");
    assert_eq!(budget_on_server(&sdb, "2026-12")["amount"], "200.00");
    let (code, _, err) = run(&a, None, &["sync", "resolve", &id, "--keep", "local"]);
    assert!(code == 1 && err.contains("no conflict"), "{err}");

    // Provider toggles and priorities push the same way.
    ok(&a, None, &["provider", "set", "--org", "acme", "--provider", "openai", "--enabled", "false", "--priority", "3"]);
    json(&a, Some(&ta), &["sync", "--json"]);
    let p = json(&sdb, None, &["provider", "list", "--org", "acme", "--json"]);
    let openai = p["providers"].as_array().unwrap().iter().find(|x| x["provider"] == "openai").unwrap();
    assert_eq!((openai["enabled"].as_bool(), openai["priority"].as_i64()), (Some(false), Some(3)));
}

/// Scoped budgets edited on linked desktops push with their scope, a
/// stale one is a conflict of that scope alone, and the organisation's
/// budget of the same month is never touched by them.
#[test]
fn scoped_budget_edits_push_from_a_linked_desktop() {
    let (d, sdb, server) = setup(20);
    let (a, b) = (d.path().join("a.db"), d.path().join("b.db"));
    let (ta, tb) = (token(&sdb, "acme", "admin", "alice"), token(&sdb, "acme", "admin", "bob"));
    link(&a, &server, &ta);
    link(&b, &server, &tb);
    ok(&sdb, None, &["budget", "set", "--org", "acme", "--month", "2026-12", "--amount", "1000"]);
    json(&a, Some(&ta), &["sync", "--json"]);
    json(&b, Some(&tb), &["sync", "--json"]);
    let scope = "investigation:INV 7/a&b";
    let scoped = |db: &Path| -> Value {
        let list = json(db, None, &["budget", "list", "--org", "acme", "--json"]);
        list["budgets"].as_array().unwrap().iter().find(|b| b["scope"] == scope).cloned().unwrap_or(Value::Null)
    };

    ok(&a, None, &["budget", "set", "--org", "acme", "--scope", scope, "--month", "2026-12", "--amount", "40", "--hard-limit"]);
    ok(&b, None, &["budget", "set", "--org", "acme", "--scope", scope, "--month", "2026-12", "--amount", "50"]);
    let r = json(&a, Some(&ta), &["sync", "--json"]);
    assert_eq!((r["pushed"].as_i64(), r["conflicts"].as_i64()), (Some(1), Some(0)), "{r}");
    let on_server = scoped(&sdb);
    assert_eq!((on_server["amount"].as_str(), on_server["hard_limit"].as_bool()), (Some("40.00"), Some(true)));
    assert_eq!(budget_on_server(&sdb, "2026-12")["amount"], "1000.00", "the organisation's budget is untouched");

    let r = json(&b, Some(&tb), &["sync", "--json"]);
    assert_eq!(r["conflicts"], 1, "{r}");
    let c = status(&b)["conflicts"][0].clone();
    assert_eq!(c["object"], format!("budget:2026-12:{scope}"));
    assert_eq!((c["local"]["amount"].as_str(), c["server"]["amount"].as_str()), (Some("50.00"), Some("40.00")));
    ok(&b, None, &["sync", "resolve", &c["id"].to_string(), "--keep", "server"]);
    assert_eq!(scoped(&b)["amount"], "40.00");
    json(&b, Some(&tb), &["sync", "--json"]);
    assert_eq!(scoped(&b)["amount"], "40.00");
    assert_eq!(budget_on_server(&b, "2026-12")["amount"], "1000.00");
}

/// Records sent over HTTP keep the name of their token, and sync carries
/// it: a `token:NAME` budget reads the same spend on a linked desktop as
/// on the server.
#[test]
fn token_budgets_read_the_same_on_a_linked_desktop() {
    let (d, sdb, server) = setup(20);
    let laptop = token(&sdb, "acme", "admin", "laptop");
    let gw = token(&sdb, "acme", "ingest", "gateway-1");
    let batch = serde_json::json!([
        {"id": "t1", "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 1000, "output_tokens": 100, "occurred_at": "2026-10-05T10:00:00Z"},
        {"id": "t2", "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 3000, "output_tokens": 700, "occurred_at": "2026-10-06T10:00:00Z"},
    ]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let a = rt.block_on(argus_client::api::Client::new(&server.url(), Some(&gw)).post_records("acme", &batch)).unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    ok(&sdb, None, &["budget", "set", "--org", "acme", "--scope", "token:gateway-1", "--month", "2026-10", "--amount", "1"]);
    let local = d.path().join("local.db");
    link(&local, &server, &laptop);
    json(&local, Some(&laptop), &["sync", "--json"]);
    let args = ["budget", "status", "--org", "acme", "--scope", "token:gateway-1", "--month", "2026-10", "--json"];
    let (on_server, on_desktop) = (json(&sdb, None, &args), json(&local, None, &args));
    assert_ne!(on_server["spent"], "0.00", "{on_server}");
    assert_eq!((&on_server["spent"], &on_server["amount"]), (&on_desktop["spent"], &on_desktop["amount"]), "{on_server} {on_desktop}");
    let recs = json(&local, None, &["usage", "records", "--org", "acme", "--from", "2026-10-05", "--to", "2026-10-07", "--json"]);
    let mine: Vec<_> = recs["records"].as_array().unwrap().iter().filter(|r| r["token"] == "gateway-1").map(|r| r["id"].clone()).collect();
    assert_eq!(mine, ["t1", "t2"], "{recs}");
}

#[test]
fn a_token_without_admin_rights_cannot_push_and_the_edit_is_kept() {
    let (d, sdb, server) = setup(100);
    let local = d.path().join("local.db");
    let analyst = token(&sdb, "acme", "analyst", "viewer");
    link(&local, &server, &analyst);
    json(&local, Some(&analyst), &["sync", "--json"]);
    ok(&local, None, &["provider", "set", "--org", "acme", "--provider", "openai", "--hourly-limit", "5"]);
    let r = json(&local, Some(&analyst), &["sync", "--json"]);
    assert_eq!((r["pushed"].as_i64(), r["refused"].as_i64()), (Some(0), Some(1)));
    let s = status(&local);
    assert_eq!(s["pending_pushes"], 1);
    let p = &s["pending"][0];
    assert_eq!((p["object"].as_str(), p["state"].as_str()), (Some("provider:openai"), Some("refused")));
    let why = p["last_error"].as_str().unwrap();
    assert!(why.contains("admin") && why.contains("stays here"), "{why}");
    let list = json(&sdb, None, &["provider", "list", "--org", "acme", "--json"]);
    assert!(list["providers"].as_array().unwrap().iter().all(|x| x["hourly_limit"].is_null()), "nothing changed on the server");
    // Linked again with an admin token, the same edit goes through.
    let admin = token(&sdb, "acme", "admin", "boss");
    link(&local, &server, &admin);
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(r["pushed"], 1);
    let list = json(&sdb, None, &["provider", "list", "--org", "acme", "--json"]);
    assert!(list["providers"].as_array().unwrap().iter().any(|x| x["provider"] == "openai" && x["hourly_limit"] == 5));
}

/// Links with the token on stdin (no ARGUS_USAGE_TOKEN), the way a user would.
fn link_with_stdin(db: &Path, server: &Server, token: &str, no_session: bool) -> std::process::Output {
    let mut c = cmd(db, None);
    if no_session {
        c.env_remove("DBUS_SESSION_BUS_ADDRESS").env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    }
    let mut child = c
        .args(["sync", "link", "--server", &server.url(), "--org", "acme"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{token}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn without_a_keyring_service_the_link_says_so_and_names_the_variable() {
    let (d, sdb, server) = setup(10);
    let local = d.path().join("local.db");
    let admin = token(&sdb, "acme", "admin", "laptop");
    let out = link_with_stdin(&local, &server, &admin, true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("keyring is not available") && err.contains("ARGUS_USAGE_TOKEN"), "{err}");
    assert_absent("token", &admin, d.path(), &err);
    // With the variable, sync works; without it, it says what to do.
    json(&local, Some(&admin), &["sync", "--json"]);
    let mut c = cmd(&local, None);
    c.env_remove("DBUS_SESSION_BUS_ADDRESS").env_remove("DISPLAY");
    let out = c.args(["sync"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("ARGUS_USAGE_TOKEN"), "{err}");
}

/// Needs a Secret Service: scripts/test.sh runs it inside `dbus-run-session`
/// with gnome-keyring unlocked (`cargo test -- --ignored keyring`).
#[test]
#[ignore]
fn keyring_keeps_the_token_out_of_the_store_and_sync_finds_it() {
    let (d, sdb, server) = setup(300);
    let local = d.path().join("local.db");
    let admin = token(&sdb, "acme", "admin", "laptop");
    let out = link_with_stdin(&local, &server, &admin, false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OS keyring"));
    let r = json(&local, None, &["sync", "--json"]);
    assert_eq!(r["records"], 300);
    assert_absent("token", &admin, d.path(), &String::from_utf8_lossy(&out.stderr));
    ok(&local, None, &["sync", "unlink"]);
    assert_eq!(status(&local)["server"], Value::Null);
}

/// A loopback stand-in in front of the real server, for what the real one
/// does not do on demand: while `fail_next` is above zero it answers 503 (and
/// counts down), else it forwards the request to the server (one request a
/// connection). With `api`, it answers the health check as a server of that
/// API version would.
struct Flaky {
    addr: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    fail_next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Flaky {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn fail(&self, n: usize) {
        self.fail_next.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn flaky(upstream: &str, api: Option<&'static str>) -> Flaky {
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fail_next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen, failing, upstream) = (requests.clone(), fail_next.clone(), upstream.to_string());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let (mut head, mut length) = (Vec::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if !lower.starts_with("connection:") {
                    head.push(line);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = |status: &str, body: &str| {
                format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let path = head.first().cloned().unwrap_or_default();
            let refuse = failing
                .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                let _ = client.write_all(
                    answer("503 Service Unavailable", r#"{"error":{"code":"unavailable","message":"busy, try later"}}"#).as_bytes(),
                );
            } else if let (Some(api), true) = (api, path.contains("/health ")) {
                let _ = client.write_all(answer("200 OK", &format!(r#"{{"status":"ok","version":"9.0.0","api":"{api}"}}"#)).as_bytes());
            } else {
                let mut up = TcpStream::connect(&upstream).unwrap();
                let mut req = head.concat().into_bytes();
                req.extend_from_slice(b"connection: close\r\n\r\n");
                req.extend_from_slice(&body);
                up.write_all(&req).unwrap();
                let _ = std::io::copy(&mut up, &mut client);
            }
        }
    });
    Flaky { addr, requests, fail_next }
}

#[test]
fn sync_retries_a_server_that_answers_5xx_and_names_another_api_version() {
    let (d, sdb, server) = setup(300);
    let admin = token(&sdb, "acme", "admin", "laptop");
    let proxy = flaky(&server.addr, None);
    let local = d.path().join("local.db");
    ok(&local, Some(&admin), &["sync", "link", "--server", &proxy.url(), "--org", "acme"]);
    // Three 503s in a row: the sync waits and retries (0.5 s, 1 s, 2 s), then goes through.
    proxy.fail(3);
    let before = proxy.requests();
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(r["records"], 300, "every record arrives once the server answers");
    assert!(proxy.requests() - before > 3, "the refused requests were retried");
    assert_same(&sdb, &local, "acme");
    // More 503s than one retry covers: the sync gives up and says what happened.
    proxy.fail(100);
    let (code, _, err) = run(&local, Some(&admin), &["sync", "--retries", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("answered 503") && err.contains("busy, try later") && err.contains("Nothing is lost"),
        "the error gives the server's answer: {err}"
    );
    // A server of another API version: refused, with what to do.
    let v2 = flaky(&server.addr, Some("v2"));
    let other = d.path().join("other.db");
    let (code, _, err) = run(&other, Some(&admin), &["sync", "link", "--server", &v2.url(), "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("speaks API v2") && err.contains("speaks v1") && err.contains("matching versions"), "{err}");
}

fn alerts(db: &Path) -> Vec<Value> {
    json(db, None, &["alerts", "list", "--org", "acme", "--json"])["alerts"].as_array().unwrap().clone()
}

/// A linked store mirrors its server: it refuses to reprice history, fires
/// no alerts of its own (the server's arrive by sync, once), and pushes the
/// price edits and alert acknowledgements made on it.
#[test]
fn a_linked_store_refuses_reprice_fires_no_alerts_and_pushes_prices_and_acks() {
    let (d, sdb, server) = setup(400);
    // The organisation bills in EUR: give it EUR prices on the server, so that it has spend.
    let eur = d.path().join("eur.csv");
    let mut rows =
        String::from("provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\n");
    for (p, m) in [("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet"), ("google", "gemini-1.5-pro"), ("mistral", "mistral-large")] {
        rows.push_str(&format!("{p},{m},2026-01-01,EUR,2,8,,\n"));
    }
    std::fs::write(&eur, rows).unwrap();
    ok(&sdb, None, &["prices", "import", eur.to_str().unwrap(), "--org", "acme"]);
    ok(&sdb, None, &["reprice", "--org", "acme", "--from", "2026-01-01", "--to", "2027-01-01", "--apply"]);
    let admin = token(&sdb, "acme", "admin", "laptop");
    let local = d.path().join("local.db");
    link(&local, &server, &admin);
    json(&local, Some(&admin), &["sync", "--json"]);

    let (code, _, err) = run(&local, None, &["reprice", "--org", "acme", "--apply"]);
    assert_ne!(code, 0, "a linked store cannot change the server's costs");
    assert!(err.contains("linked") || err.contains("server"), "the refusal says why: {err}");
    let preview = run(&local, None, &["reprice", "--org", "acme", "--json"]);
    assert_eq!(preview.0, 0, "a preview is still allowed: {}", preview.2);

    // A budget far below this month's spend: a plain store would fire every
    // threshold at once; the linked one fires none of its own.
    assert!(alerts(&local).is_empty());
    ok(&local, None, &["budget", "set", "--org", "acme", "--amount", "0.01", "--month", "2026-11"]);
    assert!(alerts(&local).is_empty(), "a linked store fires no alerts of its own");
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(r["pushed"], 1, "the budget edit was pushed: {r}");
    let on_server = alerts(&sdb);
    assert_eq!(on_server.len(), 3, "the server fired 80, 90 and 100%: {on_server:?}");
    let here = alerts(&local);
    assert_eq!(here.len(), 3, "the server's alerts arrive by sync, each once: {here:?}");
    json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!(alerts(&local).len(), 3, "and a second sync does not repeat them");

    // An acknowledgement and a price edit made on the linked store reach the server.
    let id = here[0]["id"].to_string();
    ok(&local, None, &["alerts", "ack", "--org", "acme", &id]);
    let prices = d.path().join("p.csv");
    std::fs::write(
        &prices,
        "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\ninhouse,tiny,2026-11-01,EUR,0.5,1.5,,\n",
    )
    .unwrap();
    ok(&local, None, &["prices", "import", prices.to_str().unwrap(), "--org", "acme"]);
    let r = json(&local, Some(&admin), &["sync", "--json"]);
    assert_eq!((r["pushed"].as_u64(), r["conflicts"].as_u64(), r["refused"].as_u64()), (Some(2), Some(0), Some(0)), "{r}");
    let acked: Vec<Value> = alerts(&sdb).into_iter().filter(|a| a["acknowledged_at"].is_string()).collect();
    assert_eq!(acked.len(), 1, "the acknowledgement is on the server");
    assert_eq!((acked[0]["month"].clone(), acked[0]["threshold"].clone()), (here[0]["month"].clone(), here[0]["threshold"].clone()));
    let listed = json(&sdb, None, &["prices", "list", "--org", "acme", "--provider", "inhouse", "--json"]);
    assert!(listed.to_string().contains("tiny"), "the price edit is on the server: {listed}");
}

/// Every file of a store (the database, its WAL and shared memory) and
/// everything the server logged: no token, no webhook secret.
fn assert_absent(what: &str, secret: &str, dir: &Path, logs: &str) {
    for f in std::fs::read_dir(dir).unwrap() {
        let f = f.unwrap().path();
        if f.to_string_lossy().contains(".db") {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the {what} is in {}", f.display());
        }
    }
    assert!(!logs.contains(secret), "the {what} is in the server's log");
}

/// The server at its most verbose, with the store held open (so that its WAL
/// is there to read): neither tokens nor webhook secrets appear in the
/// store's bytes or in the log.
#[test]
fn the_server_keeps_tokens_and_webhook_secrets_out_of_its_store_and_logs() {
    let d = tempfile::tempdir().unwrap();
    let sdb = common::server_store(d.path(), "server.db");
    ok(&sdb, None, &["org", "create", "acme"]);
    let admin = token(&sdb, "acme", "admin", "first");
    let mut c = cmd(&sdb, None);
    c.env("ARGUS_USAGE_LOG", "trace").args(["serve", "--listen", "127.0.0.1:0", "--allow-private-targets"]);
    let mut child = c.stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut logs = String::new();
    let addr = loop {
        let l = rx.recv_timeout(Duration::from_secs(30)).expect("serve printed its address");
        logs.push_str(&l);
        logs.push('\n');
        if let Some(rest) = l.split("http://").nth(1).filter(|_| l.contains("/api/v1")) {
            break rest.split("/api/v1").next().unwrap().to_string();
        }
    };
    // A hook that is never acknowledged, so that the worker signs and retries.
    let hook = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    let http = |method: &str, path: &str, token: &str, body: &str| -> Value {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "{method} /api/v1{path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
    };
    let made = http("POST", "/orgs/acme/tokens", &admin, r#"{"role":"ingest","name":"svc"}"#);
    let second = made["token"].as_str().expect("a new token").to_string();
    let w = http("PUT", "/orgs/acme/webhook", &admin, &format!(r#"{{"url":"{hook_url}"}}"#));
    let secret = w["secret"].as_str().expect("the webhook's secret, shown once").to_string();
    http(
        "POST",
        "/orgs/acme/records",
        &second,
        r#"{"id":"s1","provider":"openai","model":"gpt-4o","operation":"chat","input_tokens":1000,"output_tokens":100,"occurred_at":"2026-11-20T10:00:00Z"}"#,
    );
    http("PUT", "/orgs/acme/budgets/2026-11", &admin, r#"{"amount":"0.001"}"#);
    // Wait for the worker to try the hook (a connection arrives), then read everything while the server still holds the store.
    hook.set_nonblocking(false).unwrap();
    let (conn, _) = hook.accept().unwrap();
    drop(conn);
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(l) = rx.try_recv() {
        logs.push_str(&l);
        logs.push('\n');
    }
    assert!(logs.contains("TRACE") || logs.contains("DEBUG") || logs.contains("webhook"), "the log is verbose: {logs}");
    for (what, s) in [("admin token", admin.as_str()), ("new token", second.as_str()), ("webhook secret", secret.as_str())] {
        assert_absent(what, s, d.path(), &logs);
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(2)) {
        logs.push_str(&l);
        logs.push('\n');
    }
    for (what, s) in [("admin token", admin.as_str()), ("new token", second.as_str()), ("webhook secret", secret.as_str())] {
        assert_absent(what, s, d.path(), &logs);
    }
}
