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
    c.env("ARGUS_USAGE_DB", db)
        .env("ARGUS_USAGE_NOW", "2026-11-27T12:00:00Z")
        .env_remove("ARGUS_USAGE_LOG")
        .env_remove("ARGUS_USAGE_TOKEN");
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
    let sdb = d.path().join("server.db");
    ok(&sdb, None, &["org", "create", "acme", "--currency", "EUR", "--timezone", "Europe/Paris"]);
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
    assert!(!err.contains(&admin), "the token is never printed");
    let bytes = std::fs::read(&local).unwrap();
    assert!(!bytes.windows(admin.len()).any(|w| w == admin.as_bytes()), "the token is not in the store");
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
    for f in std::fs::read_dir(d.path()).unwrap() {
        let f = f.unwrap().path();
        if f.to_string_lossy().contains("local.db") {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!bytes.windows(admin.len()).any(|w| w == admin.as_bytes()), "the token is not in {}", f.display());
        }
    }
    ok(&local, None, &["sync", "unlink"]);
    assert_eq!(status(&local)["server"], Value::Null);
}
