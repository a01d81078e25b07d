//! Several `argus-usage serve` instances on one PostgreSQL database, as
//! behind a load balancer: the real binary, the real HTTP client, the
//! tests' PostgreSQL (scripts/pg.sh, started by scripts/test.sh, named by
//! ARGUS_TEST_PG). Without ARGUS_TEST_PG these tests say so and pass.
//!
//! - Records sent through three instances by concurrent clients, one
//!   instance killed with SIGKILL mid-load: every acknowledged record is
//!   stored exactly once, and the totals are the same on every instance and
//!   on a desktop store that synced all along (its cursor skipped nothing).
//! - The same batch through every instance at once is stored once.
//! - A quota and a hard limit are exact across instances.
//! - A newer schema is refused, as on SQLite.
//! - Each alert is delivered once, whatever the number of instances.
//! - The database going away: requests fail fast with 503, `/livez` stays
//!   live, `/readyz` says not ready, and the instance recovers by itself.
use argus_client::api::Client;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(dead_code)] // each test binary uses a part of it
mod common;

const BIN: &str = env!("CARGO_BIN_EXE_argus-usage");

fn cmd(db: &Path, token: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    c.env("ARGUS_USAGE_DB", db).env_remove("ARGUS_USAGE_LOG").env_remove("ARGUS_USAGE_TOKEN");
    if let Some(t) = token {
        c.env("ARGUS_USAGE_TOKEN", t);
    }
    c
}

fn ok(db: &Path, token: Option<&str>, args: &[&str]) -> String {
    let out = cmd(db, token).args(args).stdin(Stdio::null()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?} failed: {stderr}\n{stdout}");
    stdout
}

fn json_of(db: &Path, args: &[&str]) -> Value {
    let out = ok(db, None, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

/// A `serve` process; SIGKILLed when dropped.
struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    fn start(db: &Path, extra: &[&str]) -> Instance {
        let mut c = cmd(db, None);
        c.args(["serve", "--listen", "127.0.0.1:0"]).args(extra);
        let (child, addr) = common::spawn_server(c);
        Instance { child, base: format!("http://{addr}") }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL database of its own for a test, or `None` (and a note)
/// when the tests do not run against PostgreSQL.
fn database(dir: &Path) -> Option<PathBuf> {
    if !common::on_postgres() {
        eprintln!("ARGUS_TEST_PG is not set: the cluster tests need PostgreSQL (scripts/test.sh starts one)");
        return None;
    }
    Some(argus_store::pg::test_store(dir, "unused.db").expect("the tests' PostgreSQL makes a database"))
}

fn setup(db: &Path) -> (String, String) {
    ok(db, None, &["org", "create", "acme"]);
    let ingest = ok(db, None, &["token", "create", "--org", "acme", "--role", "ingest", "--name", "app"]).trim().to_string();
    let admin = ok(db, None, &["token", "create", "--org", "acme", "--role", "admin", "--name", "laptop"]).trim().to_string();
    (ingest, admin)
}

fn record(id: &str, i: usize) -> Value {
    let (provider, model) = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-flash")][i % 3];
    json!({"id": id, "provider": provider, "model": model,
           "operation": "chat", "investigation": format!("INV-{}", i % 7), "user": format!("u{}", i % 5),
           "input_tokens": 100 + (i * 37) % 5000, "output_tokens": 10 + (i * 13) % 900, "occurred_at": "2026-11-20T10:00:00Z"})
}

/// The organisation's November totals as one instance answers them.
async fn totals(base: &str, token: &str) -> Value {
    let c = Client::new(base, Some(token));
    let a = c.get("/orgs/acme/usage/summary?from=2026-11-01&to=2026-12-01&by=provider").await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let mut v = a.body;
    // The same question, asked of each: only the answer's own time may differ.
    if let Some(o) = v.as_object_mut() {
        o.remove("generated_at");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_one_killed_store_every_acknowledged_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(dir.path()) else { return };
    let (ingest, admin) = setup(&db);
    let mut instances: Vec<Instance> = (0..3).map(|_| Instance::start(&db, &[])).collect();
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();

    // A desktop store linked to the first instance syncs all along.
    let local = dir.path().join("local.db");
    ok(&local, Some(&admin), &["sync", "link", "--server", &bases[0], "--org", "acme"]);
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (local, admin, stop) = (local.clone(), admin.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                // Small pages: many cursors handed out while writers commit.
                ok(&local, Some(&admin), &["sync", "--page", "50"]);
                rounds += 1;
            }
            rounds
        })
    };

    // Six clients, 30 batches of 20 each, spread over the instances; a
    // batch whose instance is gone is sent again to the next one (the
    // same ids: records are idempotent by id).
    let (clients, batches, size) = (6usize, 30usize, 20usize);
    let sent = Arc::new(AtomicUsize::new(0));
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..clients {
        let (bases, ingest, sent, acknowledged) = (bases.clone(), ingest.clone(), sent.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            for b in 0..batches {
                let ids: Vec<String> = (0..size).map(|i| format!("c{t}-b{b}-{i}")).collect();
                let batch = Value::Array(ids.iter().enumerate().map(|(i, id)| record(id, t * 1000 + b * size + i)).collect());
                let mut attempt = 0;
                loop {
                    let base = &bases[(t + b + attempt) % bases.len()];
                    match Client::new(base, Some(&ingest)).post("/orgs/acme/records", &batch).await {
                        Ok(a) if a.status == 200 => {
                            assert_eq!(
                                a.body["accepted"].as_u64().unwrap() + a.body["duplicates"].as_u64().unwrap(),
                                size as u64,
                                "{}",
                                a.body
                            );
                            acknowledged.lock().unwrap().extend(ids.iter().cloned());
                            break;
                        }
                        _ => {
                            attempt += 1;
                            assert!(attempt < 12, "a batch found no instance to take it");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // A third of the way in, the third instance dies without a word.
    while sent.load(Ordering::Relaxed) < clients * batches / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    instances[2].kill();
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = syncer.join().unwrap();
    assert!(rounds >= 2, "the desktop synced while the clients sent ({rounds} rounds)");
    ok(&local, Some(&admin), &["sync", "--page", "50"]);

    // The killed instance started again; the same batch through every
    // instance at once: stored once.
    instances[2] = Instance::start(&db, &[]);
    let same = Value::Array((0..50).map(|i| record(&format!("same-{i}"), i)).collect());
    let answers: Vec<_> = futures_join(instances.iter().map(|i| {
        let (b, t, same) = (i.base.clone(), ingest.clone(), same.clone());
        async move { Client::new(&b, Some(&t)).post("/orgs/acme/records", &same).await.unwrap() }
    }))
    .await;
    let accepted: u64 = answers.iter().map(|a| a.body["accepted"].as_u64().unwrap()).sum();
    let duplicates: u64 = answers.iter().map(|a| a.body["duplicates"].as_u64().unwrap()).sum();
    assert_eq!((accepted, duplicates), (50, 100), "each of the 50 stored once, the rest duplicates");
    ok(&local, Some(&admin), &["sync", "--page", "50"]);

    // Every acknowledged record, once.
    let acknowledged = acknowledged.lock().unwrap().len() + 50;
    assert_eq!(acknowledged, clients * batches * size + 50);
    let stored = json_of(&db, &["usage", "records", "--org", "acme", "--limit", "10000", "--json"]);
    let ids: HashSet<&str> = stored["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!((stored["records"].as_array().unwrap().len(), ids.len()), (acknowledged, acknowledged), "each record stored exactly once");

    // The same totals on every instance, on the store itself and on the desktop.
    let first = totals(&instances[0].base, &admin).await;
    assert_eq!(first["requests"].as_u64(), Some(acknowledged as u64), "{first}");
    for i in &instances[1..] {
        assert_eq!(totals(&i.base, &admin).await, first);
    }
    for by in ["", "provider", "investigation", "user"] {
        let mut args = vec!["usage", "summary", "--org", "acme", "--from", "2026-11-01", "--to", "2026-12-01", "--json"];
        if !by.is_empty() {
            args.extend(["--by", by]);
        }
        assert_eq!(json_of(&db, &args), json_of(&local, &args), "the desktop agrees with the server, by {by:?}");
    }
}

/// Runs the futures at once (each on a task of its own) and gives their outputs in order.
async fn futures_join<F, T>(fs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[test]
fn a_newer_schema_is_refused_on_postgres_too() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(dir.path()) else { return };
    ok(&db, None, &["org", "create", "acme"]);
    // What a newer release leaves: a version past what this build knows.
    let psql = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|d| d.path().join("bin/psql"))
        .find(|p| p.exists())
        .expect("psql (Debian's postgresql)");
    let url = db.to_string_lossy().to_string();
    let st = Command::new(psql).args([url.as_str(), "-qc", "UPDATE argus_schema SET version = version + 1"]).status().unwrap();
    assert!(st.success());
    let out = cmd(&db, None).args(["org", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let known = argus_store::PG_MIGRATIONS.len();
    assert!(
        err.contains(&format!("schema version {}, newer than version {known}", known + 1)) && err.contains("update Argus Usage"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quota_and_a_hard_limit_are_exact_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(dir.path()) else { return };
    let (ingest, _) = setup(&db);
    ok(&db, None, &["provider", "set", "--org", "acme", "--provider", "openai", "--hourly-limit", "30"]);
    ok(&db, None, &["budget", "set", "--org", "acme", "--amount", "0.010", "--hard-limit"]);
    let instances: Vec<Instance> = (0..3).map(|_| Instance::start(&db, &[])).collect();

    // 90 admissions at once, 30 through each instance, against a quota of 30 an hour.
    let statuses = |body: Value| {
        let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
        let ingest = ingest.clone();
        async move {
            let mut tasks = Vec::new();
            for k in 0..90 {
                let (base, token, body) = (bases[k % 3].clone(), ingest.clone(), body.clone());
                tasks.push(tokio::spawn(
                    async move { Client::new(&base, Some(&token)).post("/orgs/acme/admit", &body).await.unwrap().status },
                ));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };
    let s = statuses(json!({"provider": "openai"})).await;
    let (admitted, limited) = (s.iter().filter(|x| **x == 200).count(), s.iter().filter(|x| **x == 429).count());
    assert_eq!((admitted, limited), (30, 60), "exactly the quota is admitted: {s:?}");

    // 90 reservations of 0.001 against a hard limit of 0.010: exactly 10 fit.
    let s = statuses(json!({"provider": "anthropic", "estimated_cost": "0.001"})).await;
    let (admitted, refused) = (s.iter().filter(|x| **x == 200).count(), s.iter().filter(|x| **x == 402).count());
    assert_eq!((admitted, refused), (10, 80), "exactly the headroom is reserved: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_alert_is_delivered_once_whatever_the_instances() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(dir.path()) else { return };
    let (ingest, admin) = setup(&db);
    ok(&db, None, &["budget", "set", "--org", "acme", "--amount", "0.02", "--thresholds", "50,100"]);
    // A receiver on loopback that acknowledges every delivery and keeps it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    {
        let got = got.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut l = String::new();
                    if std::io::BufRead::read_line(&mut r, &mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                    if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = std::io::Read::read_exact(&mut r, &mut body);
                if let Ok(v) = serde_json::from_slice(&body) {
                    got.lock().unwrap().push(v);
                }
                let mut s = s;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
    }
    let instances: Vec<Instance> = (0..3).map(|_| Instance::start(&db, &["--allow-private-targets"])).collect();
    let a = Client::new(&instances[0].base, Some(&admin)).put("/orgs/acme/webhook", &json!({"url": hook}), None).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // Spend past both thresholds, through every instance at once.
    let mut tasks = Vec::new();
    for k in 0..30 {
        let (base, token) = (instances[k % 3].base.clone(), ingest.clone());
        tasks.push(tokio::spawn(async move {
            let r = json!({"id": format!("spend-{k}"), "provider": "openai", "model": "gpt-4o", "operation": "chat",
                           "input_tokens": 1000, "output_tokens": 100, "occurred_at": "2026-11-20T10:00:00Z"});
            assert_eq!(Client::new(&base, Some(&token)).post("/orgs/acme/records", &r).await.unwrap().status, 200);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a second delivery of either, were there one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = got.lock().unwrap();
    let mut thresholds: Vec<i64> = got.iter().map(|v| v["alert"]["threshold"].as_i64().unwrap_or(-1)).collect();
    thresholds.sort();
    assert_eq!(thresholds, vec![50, 100], "each alert once: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_gives_503_and_the_instance_recovers() {
    if !common::on_postgres() {
        eprintln!("ARGUS_TEST_PG is not set: this test needs PostgreSQL (scripts/test.sh starts one)");
        return;
    }
    // A cluster of its own, to stop and start (scripts/pg.sh).
    let pg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg.sh");
    let out = Command::new("bash").args([pg, "start"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let var = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap().to_string();
    let (url, pgdir) = (var("ARGUS_PG_URL"), var("ARGUS_PG_DIR"));
    struct Cluster(String, &'static str);
    impl Drop for Cluster {
        fn drop(&mut self) {
            let _ = Command::new("bash").args([self.1, "stop", &self.0]).status();
        }
    }
    let _cluster = Cluster(pgdir.clone(), pg);
    let db = PathBuf::from(&url);
    let (ingest, _) = setup(&db);
    let server = Instance::start(&db, &[]);
    let c = Client::new(&server.base, Some(&ingest));
    let anyone = Client::new(&server.base, None);
    assert_eq!(c.post("/orgs/acme/records", &record("before", 1)).await.unwrap().status, 200);

    assert!(Command::new("bash").args([pg, "pause", &pgdir]).status().unwrap().success());
    let started = Instant::now();
    for k in 0..3 {
        let a = c.post("/orgs/acme/records", &record(&format!("during-{k}"), k)).await.unwrap();
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (503, Some("unavailable")), "{}", a.body);
    }
    assert!(started.elapsed() < Duration::from_secs(15), "fails fast: {:?}", started.elapsed());
    assert_eq!(anyone.get("/livez").await.unwrap().status, 200, "the process is live");
    assert_eq!(anyone.get("/readyz").await.unwrap().status, 503, "and not ready");

    assert!(Command::new("bash").args([pg, "resume", &pgdir]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = c.post("/orgs/acme/records", &record("after", 2)).await.unwrap();
        if a.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the instance recovers by itself: {} {}", a.status, a.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(anyone.get("/readyz").await.unwrap().status, 200);
    let stored = json_of(&db, &["usage", "records", "--org", "acme", "--json"]);
    let ids: Vec<&str> = stored["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["before", "after"], "what was refused was not stored");
}
