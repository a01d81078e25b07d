//! The real server on 127.0.0.1:0, the real HTTP client, a real SQLite file.
//!
//! The server runs on a `ManualClock` that the tests hold, set in the month
//! the records are dated in: no test here depends on today's date, and the
//! webhook retries are driven by moving that clock.
#[allow(dead_code)] // each test binary uses a part of it
mod common;

use argus_client::api::Client;
use argus_domain::time::ManualClock;
use argus_ops::controls::BudgetChange;
use argus_ops::Ops;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Server {
    _dir: tempfile::TempDir,
    db: PathBuf,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    tokens: HashMap<&'static str, String>,
    clock: Arc<ManualClock>,
}

/// When the tests run, as far as the server knows: mid-month, in the month
/// that `record` dates its calls.
const NOW: &str = "2026-11-15T12:00:00Z";

impl Server {
    fn ops(&self) -> Ops {
        Ops::open(&self.db, self.clock.clone(), "test").unwrap()
    }

    fn client(&self, role: &str) -> Client {
        Client::new(&self.base, self.tokens.get(role).map(String::as_str))
    }

    fn records(&self, org: &str) -> i64 {
        self.ops()
            .usage_records(org, &argus_ops::analytics::RecordQuery { limit: Some(10_000), ..Default::default() })
            .unwrap()
            .records
            .len() as i64
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("the server shut down without panicking");
        }
    }
}

async fn start() -> Server {
    start_with(None, true).await
}

/// A server over a fresh store; `allow_private`: webhooks may target
/// loopback (the tests' receivers listen there, as an on-premises relay would).
async fn start_with(ui_dir: Option<PathBuf>, allow_private: bool) -> Server {
    start_custom(move |c| {
        c.ui_dir = ui_dir;
        c.allow_private_targets = allow_private;
    })
    .await
}

/// A server over a fresh store, its configuration changed by `configure`.
async fn start_custom(configure: impl FnOnce(&mut argus_server::Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = common::server_store(dir.path(), "server.db");
    let mut tokens = HashMap::new();
    let clock = Arc::new(ManualClock::new(NOW.parse().unwrap()));
    {
        let mut ops = Ops::open(&db, clock.clone(), "setup").unwrap();
        for org in ["acme", "other"] {
            ops.org_create(org, None, "USD", "UTC").unwrap();
        }
        for role in ["ingest", "analyst", "auditor", "admin"] {
            tokens.insert(role, ops.token_create("acme", role, Some(&format!("{role}-token"))).unwrap().token);
        }
        tokens.insert("other", ops.token_create("other", "admin", None).unwrap().token);
        let revoked = ops.token_create("acme", "admin", Some("revoked")).unwrap();
        ops.token_revoke("acme", revoked.info.id).unwrap();
        tokens.insert("revoked", revoked.token);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut config = argus_server::Config::new(db.clone(), clock.clone(), b"test-server-key-0123456789".to_vec());
    config.webhook_poll = std::time::Duration::from_millis(50);
    configure(&mut config);
    let handle = tokio::spawn(async move {
        argus_server::run(listener, config, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server { _dir: dir, db, base, stop: Some(tx), handle: Some(handle), tokens, clock }
}

fn record(id: &str) -> Value {
    json!({"id": id, "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 1000, "output_tokens": 100, "occurred_at": "2026-11-02T10:00:00Z"})
}

/// What each route needs to succeed, for the role matrix.
fn sample(method: &str, path: &str, alert: i64, token_id: i64, channel: i64) -> (String, Option<Value>) {
    let with_query = if path.ends_with("/reports") { format!("{path}?format=csv") } else { path.to_string() };
    let p = with_query
        .replace("{org}", "acme")
        .replace("{month}", "default")
        .replace("{provider}", "openai")
        .replace("{name}", "smart")
        .replace(
            "{id}",
            &if path.contains("alerts") {
                alert
            } else if path.contains("alert-channels") {
                channel
            } else {
                token_id
            }
            .to_string(),
        );
    let body = match (method, path) {
        ("post", "/orgs/{org}/records") => Some(record("matrix")),
        ("put", "/orgs/{org}/budgets/{month}") => Some(json!({"amount": "1000"})),
        ("post", "/orgs/{org}/alerts/{id}/ack") => Some(json!({})),
        ("put", "/orgs/{org}/providers/{provider}") => Some(json!({"priority": 1})),
        ("put", "/orgs/{org}/providers/{provider}/upstream") => {
            Some(json!({"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}))
        }
        ("put", "/orgs/{org}/aliases/{name}") => Some(json!({"targets": ["openai/gpt-4o"]})),
        ("post", "/orgs/{org}/prices") => Some(
            json!([{"provider": "x", "model": "y", "effective_from": "2026-01-01", "currency": "USD", "input_per_mtok": "1", "output_per_mtok": "2"}]),
        ),
        ("post", "/orgs/{org}/fx") => Some(json!([{"date": "2026-11-02", "from": "USD", "to": "EUR", "rate": "0.93"}])),
        ("post", "/orgs/{org}/reprice") => Some(json!({})),
        ("post", "/orgs/{org}/admit") => Some(json!({"provider": "openai"})),
        ("post", "/orgs/{org}/route") => Some(json!({"operation": "chat", "dry_run": true})),
        ("post", "/orgs/{org}/tokens") => Some(json!({"role": "analyst", "name": "made"})),
        ("put", "/orgs/{org}/webhook") => Some(json!({"url": "http://127.0.0.1:1029/hook"})),
        ("post", "/orgs/{org}/alert-channels") => Some(json!({"kind": "slack", "url": "http://127.0.0.1:1031/hook"})),
        _ => None,
    };
    (p, body)
}

fn allowed(role: &str, access: &str) -> bool {
    matches!(
        (role, access),
        (_, "none") | (_, "any") | ("admin", _) | ("ingest", "ingest") | ("analyst", "read") | ("auditor", "read") | ("auditor", "audit")
    )
}

/// Every route with every role, another organisation's token, a revoked
/// token and none: 2xx where the role allows it, else 403; 404 for another
/// organisation; 401 without a valid token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_access_matrix() {
    let s = start().await;
    {
        let mut ops = s.ops();
        ops.webhook_set("acme", "http://127.0.0.1:1029/hook", true).unwrap();
        ops.budget_set("acme", None, &BudgetChange { amount: Some("0.000001".into()), ..Default::default() }).unwrap();
        ops.record(&json!({"org": "acme", "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 1000, "output_tokens": 0, "occurred_at": "2026-11-02T10:00:00Z"})).unwrap();
    }
    let alert = s.ops().alerts_list("acme").unwrap()[0].id;
    // Failed authentications are throttled per address (a few dozen a
    // minute): the unauthenticated calls come from addresses of their own.
    let mut failing = 0u32;
    for (method, path, access, _) in argus_server::ROUTES {
        for role in ["ingest", "analyst", "auditor", "admin", "other", "revoked", "none"] {
            let token_id = s.ops().token_create("acme", "analyst", Some("victim")).unwrap().info.id;
            let slack = argus_ops::channels::ChannelSpec {
                kind: "slack".into(),
                url: Some("http://127.0.0.1:1030/hook".into()),
                ..Default::default()
            };
            let channel = s.ops().channel_add("acme", &slack, true).unwrap().id;
            let (p, body) = sample(method, path, alert, token_id, channel);
            let mut c = s.client(role);
            if matches!(role, "revoked" | "none") {
                failing += 1;
                c = c.from_address(std::net::IpAddr::from([127, 0, 1, (failing / 20) as u8 + 1]));
            }
            let a = c.send(&method.to_uppercase(), &p, body.map(|b| b.to_string().into_bytes()), &[]).await.unwrap();
            let expected = if *access == "none" {
                200
            } else if role == "none" || role == "revoked" {
                401
            } else if role == "other" {
                404
            } else if allowed(role, access) {
                200
            } else {
                403
            };
            let ok = if expected == 200 { (200..300).contains(&a.status) } else { a.status == expected };
            assert!(ok, "{method} {p} as {role}: expected {expected}, got {} {}", a.status, a.body);
            if a.status >= 400 {
                assert!(
                    a.body["error"]["code"].is_string() && a.body["error"]["message"].is_string(),
                    "errors have the envelope: {}",
                    a.body
                );
            }
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_right_status_and_nothing_is_stored() {
    let s = start().await;
    let c = s.client("admin");
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", b"{\"provider\": ".to_vec(), 400, "bad_input"),
        ("not an object", b"42".to_vec(), 400, "bad_input"),
        ("wrong type", json!({"provider": "openai", "model": "m", "operation": "chat", "input_tokens": "many", "output_tokens": 1, "occurred_at": "2026-11-02T10:00:00Z"}).to_string().into_bytes(), 400, "bad_input"),
        ("unknown field", json!({"provider": "openai", "model": "m", "operation": "chat", "input_tokens": 1, "output_tokens": 1, "occurred_at": "2026-11-02T10:00:00Z", "colour": "red"}).to_string().into_bytes(), 400, "bad_input"),
        ("negative tokens", json!({"provider": "openai", "model": "m", "operation": "chat", "input_tokens": -1, "output_tokens": 1, "occurred_at": "2026-11-02T10:00:00Z"}).to_string().into_bytes(), 400, "bad_input"),
        ("absurd tokens", json!({"provider": "openai", "model": "m", "operation": "chat", "input_tokens": 10_000_000_000u64, "output_tokens": 1, "occurred_at": "2026-11-02T10:00:00Z"}).to_string().into_bytes(), 400, "bad_input"),
        ("another organisation in the body", json!({"org": "other", "provider": "openai", "model": "m", "operation": "chat", "input_tokens": 1, "output_tokens": 1, "occurred_at": "2026-11-02T10:00:00Z"}).to_string().into_bytes(), 400, "bad_input"),
        ("huge body", vec![b' '; argus_server::MAX_BODY + 10], 413, "payload_too_large"),
    ];
    for (what, body, status, code) in cases {
        let a = c.send("POST", "/orgs/acme/records", Some(body), &[]).await.unwrap();
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (status, Some(code)), "{what}: {}", a.body);
    }
    let a = c.send("POST", "/orgs/acme/records", Some(json!({"provider": "openai", "model": "m", "operation": "chat", "input_tokens": -1, "output_tokens": 1, "occurred_at": "2026-11-02T10:00:00Z"}).to_string().into_bytes()), &[]).await.unwrap();
    assert_eq!(a.body["error"]["field"], "input_tokens", "the error names the field");
    for path in [
        "/orgs/..%2Facme/records",
        "/orgs/ACME/records",
        "/orgs/acme%00/records",
        "/orgs/acme/records/../../other/records",
        "/orgs/%2e%2e/records",
    ] {
        let a = c.send("POST", path, Some(record("trick").to_string().into_bytes()), &[]).await.unwrap();
        assert!(a.status == 404 || a.status == 400, "{path}: {} {}", a.status, a.body);
    }
    let a = c.send("GET", "/orgs/acme/records?after_seq=abc", None, &[]).await.unwrap();
    assert_eq!(a.status, 400);
    let a = c.put("/orgs/acme/budgets/2026-13", &json!({"amount": "10"}), None).await.unwrap();
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("month")));
    let a = c.put("/orgs/acme/budgets/default", &json!({"amount": 10}), None).await.unwrap();
    assert_eq!(a.status, 400, "money as a JSON number is refused: {}", a.body);
    assert_eq!(s.records("acme") + s.records("other"), 0, "nothing was stored");

    // A batch keeps its good elements and reports the bad ones by index.
    let a = c.post("/orgs/acme/records", &json!([record("g1"), {"provider": "openai"}, record("g2")])).await.unwrap();
    assert_eq!((a.status, a.body["accepted"].as_i64(), a.body["rejected"][0]["index"].as_i64()), (200, Some(2), Some(1)), "{}", a.body);
    assert!(a.body["records"][0]["cost"].is_string());
    let mut changed = record("g1");
    changed["output_tokens"] = json!(5);
    let a = c.post("/orgs/acme/records", &changed).await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("conflict")));
    let a = c.post("/orgs/acme/records", &record("g1")).await.unwrap();
    assert_eq!((a.status, a.body["duplicates"].as_i64()), (200, Some(1)));
    assert_eq!(s.records("acme"), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_refuse_stale_edits_and_admission_maps_to_402_and_429() {
    let s = start().await;
    let c = s.client("admin");
    let a = c.put("/orgs/acme/budgets/default", &json!({"amount": "0.003", "hard_limit": true}), None).await.unwrap();
    assert_eq!((a.status, a.body["version"].as_i64()), (200, Some(1)));
    let a = c.put("/orgs/acme/budgets/default", &json!({"amount": "0.005"}), Some("1")).await.unwrap();
    assert_eq!(a.body["version"], 2);
    let a = c.put("/orgs/acme/budgets/default", &json!({"amount": "999"}), Some("1")).await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (412, Some("version_mismatch")), "a stale If-Match is refused");
    let b = c.get("/orgs/acme/budgets/default").await.unwrap();
    assert_eq!((b.body["amount"].as_str(), b.etag.as_deref()), (Some("0.005"), Some("\"2\"")), "and changes nothing");
    let audit = s.client("auditor").get("/orgs/acme/audit").await.unwrap();
    assert!(
        audit.body["entries"].as_array().unwrap().iter().any(|e| e["actor"] == "token:admin-token" && e["action"] == "budget.set"),
        "changes are audited with the token's name"
    );

    c.post("/orgs/acme/records", &record("spend")).await.unwrap(); // 0.0035
    let ing = s.client("ingest");
    let a = ing.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "0.002"})).await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (402, Some("budget_exceeded")), "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("acme"));
    c.put("/orgs/acme/budgets/default", &json!({"hard_limit": false}), None).await.unwrap();
    c.put("/orgs/acme/providers/openai", &json!({"hourly_limit": 1}), None).await.unwrap();
    assert_eq!(ing.post("/orgs/acme/admit", &json!({"provider": "openai"})).await.unwrap().status, 200);
    let a = ing.post("/orgs/acme/admit", &json!({"provider": "openai"})).await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (429, Some("rate_limited")));
    let retry: u64 = a.retry_after.expect("429 carries Retry-After").parse().unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    let p = c.put("/orgs/acme/providers/openai", &json!({"hourly_limit": null}), Some("1")).await.unwrap();
    assert_eq!(p.body["hourly_limit"], Value::Null, "null means no quota");
    s.stop().await;
}

/// A `token:NAME` budget counts the records and reservations of the token
/// of that name, whatever their other keys, and its hard limit refuses only
/// that token's calls, naming the scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_counts_only_what_its_token_sends() {
    let s = start().await;
    let admin = s.client("admin");
    let ing = s.client("ingest");
    let a = admin
        .put("/orgs/acme/budgets/default?scope=token:ingest-token", &json!({"amount": "0.005", "hard_limit": true}), None)
        .await
        .unwrap();
    assert_eq!((a.status, a.body["scope"].as_str()), (200, Some("token:ingest-token")), "{}", a.body);
    let r = ing.post("/orgs/acme/records", &record("by-ingest")).await.unwrap(); // 0.0035
    assert_eq!(r.body["records"][0]["token"], "ingest-token", "the record keeps the name of the token that sent it: {}", r.body);
    // The same call sent again by another token is the same record, the first one's.
    let again = admin.post("/orgs/acme/records", &record("by-ingest")).await.unwrap();
    assert_eq!((again.body["duplicates"].as_u64(), again.body["records"][0]["token"].as_str()), (Some(1), Some("ingest-token")));
    admin.post("/orgs/acme/records", &record("by-admin")).await.unwrap();
    let st = admin.get("/orgs/acme/budget-status?scope=token:ingest-token").await.unwrap();
    assert_eq!((st.body["spent"].as_str(), st.body["scope"].as_str()), (Some("0.0035"), Some("token:ingest-token")), "{}", st.body);
    let org = admin.get("/orgs/acme/budget-status").await.unwrap();
    assert_eq!(org.body["spent"], "0.007", "the organisation's budget counts both");
    // 0.0035 spent + 0.001 held by a call in flight; another 0.001 would overshoot 0.005.
    let held = ing.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "0.001"})).await.unwrap();
    assert_eq!(held.status, 200, "{}", held.body);
    let a = ing.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "0.001"})).await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (402, Some("budget_exceeded")), "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("token:ingest-token"), "names the scope: {}", a.body);
    let r = ing.post("/orgs/acme/route", &json!({"operation": "chat", "dry_run": true, "estimated_cost": "0.001"})).await.unwrap();
    assert_eq!(r.body["chosen"], Value::Null, "route checks the token's budget too: {}", r.body);
    let other = admin.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "0.001"})).await.unwrap();
    assert_eq!(other.status, 200, "another token's call is not this budget's: {}", other.body);
    let r = admin.post("/orgs/acme/route", &json!({"operation": "chat", "dry_run": true, "estimated_cost": "0.001"})).await.unwrap();
    assert!(r.body["chosen"].is_string(), "{}", r.body);
    s.stop().await;
}

/// Alert channels over HTTP, as the console's Budgets screen manages them:
/// added (a webhook's answer carries its secret once), listed without
/// secrets, removed; a kind the API does not know is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_channels_over_http() {
    let s = start().await;
    let admin = s.client("admin");
    let a = admin
        .post("/orgs/acme/alert-channels", &json!({"kind": "slack", "url": "http://127.0.0.1:1030/services/T0/B0/secret-path"}))
        .await
        .unwrap();
    assert_eq!((a.status, a.body["kind"].as_str()), (201, Some("slack")), "{}", a.body);
    assert!(a.body.get("secret").is_none());
    let w = admin.post("/orgs/acme/alert-channels", &json!({"kind": "webhook", "url": "http://127.0.0.1:1031/hook"})).await.unwrap();
    assert_eq!(w.status, 201, "{}", w.body);
    assert_eq!(w.body["secret"].as_str().map(str::len), Some(64), "a webhook's signing secret, once: {}", w.body);
    let e = admin
        .post(
            "/orgs/acme/alert-channels",
            &json!({"kind": "email", "to": "budgets@example.com", "smtp": "smtp://mail.example.com:2525", "smtp_auth": {"user": "alerts"}}),
        )
        .await
        .unwrap();
    assert_eq!((e.status, e.body["password_env"].as_str()), (201, Some("ARGUS_USAGE_SMTP_PASSWORD")), "{}", e.body);
    let list = admin.get("/orgs/acme/alert-channels").await.unwrap();
    let text = list.body.to_string();
    assert_eq!(list.body["channels"].as_array().map(Vec::len), Some(3), "{text}");
    assert!(!text.contains("secret-path") && !text.contains(w.body["secret"].as_str().unwrap()), "no secret is listed: {text}");
    let bad = admin.post("/orgs/acme/alert-channels", &json!({"kind": "sms", "to": "+15550100"})).await.unwrap();
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("sms"), "{}", bad.body);
    assert_eq!(s.client("analyst").get("/orgs/acme/alert-channels").await.unwrap().status, 403);
    let id = a.body["id"].as_i64().unwrap();
    let r = admin.send("DELETE", &format!("/orgs/acme/alert-channels/{id}"), None, &[]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(admin.get("/orgs/acme/alert-channels").await.unwrap().body["channels"].as_array().map(Vec::len), Some(2));
    let again = admin.send("DELETE", &format!("/orgs/acme/alert-channels/{id}"), None, &[]).await.unwrap();
    assert_eq!(again.status, 404, "{}", again.body);
    s.stop().await;
}

/// A receiver that fails twice, then accepts: the alert arrives, signed,
/// and is acknowledged exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_retry_until_acknowledged() {
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let (h2, b2) = (hits.clone(), bodies.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (h, b) = (h2.clone(), b2.clone());
            async move {
                let n = h.fetch_add(1, Ordering::SeqCst);
                let sig = headers.get("x-argus-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                b.lock().unwrap().push((sig, body));
                if n < 2 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let s = start().await;
    let c = s.client("admin");
    let w = c.put("/orgs/acme/webhook", &json!({"url": hook}), None).await.unwrap();
    let secret = w.body["secret"].as_str().unwrap().to_string();
    c.post("/orgs/acme/records", &record("w1")).await.unwrap();
    // 0.0035 spent of 0.006 fires the 50 % threshold; the month-end
    // projection (0.0055) stays below the amount, so no forecast alert.
    c.put("/orgs/acme/budgets/2026-11", &json!({"amount": "0.006", "thresholds": [50]}), None).await.unwrap();
    // Retries are scheduled on the server's clock (1 s, 2 s, 4 s... later):
    // move it on until the receiver has acknowledged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let d = s.ops().deliveries("acme").unwrap();
        if d.iter().any(|x| x.delivered_at.is_some()) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        s.clock.advance(chrono::Duration::seconds(5));
    }
    let d = s.ops().deliveries("acme").unwrap();
    assert_eq!(d.len(), 1, "one alert, one delivery");
    assert_eq!(
        (d[0].attempts, d[0].delivered_at.is_some(), d[0].last_status.as_deref()),
        (3, true, Some("200")),
        "failed twice, then acknowledged"
    );
    // Past every retry the backoff could schedule (at most 5 minutes), with
    // the worker polling every 50 ms in between: no fourth attempt.
    for _ in 0..10 {
        s.clock.advance(chrono::Duration::minutes(10));
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3, "nothing is sent after the acknowledgement");
    let (sig, body) = bodies.lock().unwrap()[2].clone();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["alert"]["threshold"].as_i64(), v["alert"]["org"].as_str()), (Some(50), Some("acme")));
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body.as_bytes());
    assert_eq!(sig, format!("sha256={}", hex::encode(m.finalize().into_bytes())), "the signature verifies with the secret");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let s = start().await;
    let c = Client::new(&s.base, None);
    let doc = c.get("/openapi.json").await.unwrap().body;
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let mut count = 0;
    for (path, ops) in paths {
        for (method, _) in ops.as_object().unwrap() {
            count += 1;
            let p = path
                .trim_start_matches("/api/v1")
                .replace("{org}", "acme")
                .replace("{month}", "default")
                .replace("{provider}", "openai")
                .replace("{name}", "smart")
                .replace("{id}", "1");
            let a = c.send(&method.to_uppercase(), &p, Some(b"{}".to_vec()), &[]).await.unwrap();
            assert_ne!(
                a.body["error"]["message"].as_str().map(|m| m.starts_with("no such route")),
                Some(true),
                "{method} {path} is documented but not served"
            );
            assert_ne!(a.status, 405, "{method} {path}");
        }
    }
    assert_eq!(count, argus_server::ROUTES.len());
    let a = c.get("/nope").await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(c.get("/health").await.unwrap().body["status"], "ok");
    // A load balancer's checks: no token needed.
    let anyone = Client::new(&s.base, None);
    assert_eq!(anyone.get("/livez").await.unwrap().body["status"], "live");
    let ready = anyone.get("/readyz").await.unwrap();
    assert_eq!((ready.status, ready.body["status"].as_str()), (200, Some("ready")), "{}", ready.body);
    let known = if common::on_postgres() { argus_store::PG_MIGRATIONS.len() } else { argus_store::MIGRATIONS.len() };
    assert_eq!(ready.body["schema_version"].as_i64(), Some(known as i64));
    s.stop().await;
}

/// Many clients posting at once: every accepted record is stored exactly
/// once, and the records endpoint pages through them by sequence number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_store_each_accepted_record_once() {
    let s = start().await;
    let c = s.client("ingest");
    let mut tasks = Vec::new();
    for t in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for b in 0..5 {
                let batch: Vec<Value> = (0..20).map(|i| record(&format!("c{t}-{b}-{i}"))).collect();
                let a = c.post("/orgs/acme/records", &Value::Array(batch.clone())).await.unwrap();
                assert_eq!(a.status, 200);
                accepted += a.body["accepted"].as_i64().unwrap();
                // A retry of the same batch is all duplicates.
                let again = c.post("/orgs/acme/records", &Value::Array(batch)).await.unwrap();
                assert_eq!(again.body["duplicates"].as_i64(), Some(20));
            }
            accepted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 1600);
    assert_eq!(s.records("acme"), 1600);
    let reader = s.client("analyst");
    let mut after = 0;
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = reader.get(&format!("/orgs/acme/records?after_seq={after}&limit=300")).await.unwrap().body;
        for r in page["records"].as_array().unwrap() {
            assert!(seen.insert(r["id"].as_str().unwrap().to_string()), "no record twice");
            assert!(r["seq"].as_i64().unwrap() > after);
        }
        after = page["next_after_seq"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen.len(), 1600);
    let sum = reader.get("/orgs/acme/usage/summary?from=2026-11-01&to=2026-12-01&by=provider").await.unwrap().body;
    assert_eq!(sum["requests"], 1600);
    s.stop().await;
}

/// A report downloads over HTTP, streamed, and verifies as the file `export` writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_downloads_and_verifies() {
    let s = start().await;
    let c = s.client("admin");
    let batch: Vec<Value> = (0..300).map(|i| record(&format!("r{i}"))).collect();
    c.post("/orgs/acme/records", &Value::Array(batch)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let analyst = s.client("analyst");
    for (q, name) in
        [("format=csv&from=2026-11-01&to=2026-12-01", "r.csv"), ("format=json&kind=summary&by=day&from=2026-11-01&to=2026-12-01", "s.json")]
    {
        let url = format!("{}/api/v1/orgs/acme/reports?{q}", s.base);
        let bytes = reqwest_get(&url, s.tokens.get("analyst").unwrap()).await;
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let v = argus_reports::verify(&path).unwrap();
        assert!(v.ok, "{name}: {:?}", v.problems);
        assert!(v.record_count > 0);
    }
    let pdf = reqwest_get(
        &format!("{}/api/v1/orgs/acme/reports?format=pdf&kind=summary&from=2026-11-01&to=2026-12-01", s.base),
        s.tokens.get("auditor").unwrap(),
    )
    .await;
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let pdf_path = dir.path().join("s.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let text =
        std::process::Command::new("pdftotext").arg("-layout").arg(&pdf_path).arg("-").output().expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8_lossy(&text.stdout);
    let summary = analyst.get("/orgs/acme/usage/summary?from=2026-11-01&to=2026-12-01").await.unwrap().body;
    let total = summary["cost"].as_str().expect("the summary's cost is a decimal string");
    assert!(total != "0" && text.contains(total), "the PDF read back shows the summary's total {total}:\n{text}");
    // The PDF comes whole, with its metadata (and the file's checksum) in a
    // header, which saved beside it as FILE.meta.json makes it verify.
    let auditor = argus_client::api::Client::new(&s.base, Some(s.tokens.get("auditor").unwrap()));
    let (status, headers, bytes) =
        auditor.raw_get_with_headers("/orgs/acme/reports?format=pdf&kind=summary&from=2026-11-01&to=2026-12-01").await.unwrap();
    assert_eq!(status, 200);
    let meta = headers.get("x-argus-meta").expect("the PDF's metadata travels in x-argus-meta").to_str().unwrap();
    let meta = percent_decode(meta);
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["kind"], "summary");
    std::fs::write(&pdf_path, &bytes).unwrap();
    std::fs::write(format!("{}.meta.json", pdf_path.display()), meta.to_string()).unwrap();
    let v = argus_reports::verify(&pdf_path).unwrap();
    assert!(v.ok, "the downloaded PDF verifies: {:?}", v.problems);
    // A records PDF lists the records; the audit log exports for those who read it.
    let (status, headers, _) =
        auditor.raw_get_with_headers("/orgs/acme/reports?format=pdf&kind=records&from=2026-11-01&to=2026-12-01").await.unwrap();
    assert_eq!(status, 200);
    assert!(percent_decode(headers["x-argus-meta"].to_str().unwrap()).contains("\"record_count\":300"));
    let set = s.client("admin").put("/orgs/acme/budgets/default", &json!({"amount": "124"}), None).await.unwrap();
    assert_eq!(set.status, 200, "{}", set.body);
    let a = analyst.get("/orgs/acme/reports?format=csv&kind=audit").await.unwrap();
    assert_eq!(a.status, 403, "an analyst does not read the audit log, nor its export");
    let audit =
        reqwest_get(&format!("{}/api/v1/orgs/acme/reports?format=csv&kind=audit&action=budget", s.base), s.tokens.get("auditor").unwrap())
            .await;
    let path = dir.path().join("audit.csv");
    std::fs::write(&path, &audit).unwrap();
    let v = argus_reports::verify(&path).unwrap();
    assert!(v.ok && v.record_count >= 1, "the audit export verifies: {v:?}");
    assert!(String::from_utf8_lossy(&audit).contains("124"));
    let a = analyst.get("/orgs/acme/reports?format=xls").await.unwrap();
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("bad_input")));
    let a = s.client("ingest").get("/orgs/acme/reports?format=csv").await.unwrap();
    assert_eq!(a.status, 403);
    s.stop().await;
}

/// What `decodeURIComponent` makes of a percent-encoded header.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn reqwest_get(url: &str, token: &str) -> Vec<u8> {
    let c = argus_client::api::Client::new(url.split("/api/v1").next().unwrap(), Some(token));
    c.raw_get(&url[url.find("/api/v1").unwrap() + 7..]).await.unwrap()
}

/// A reprice preview is a read; applying one changes costs and needs admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_reprice_over_http_needs_the_admin_role() {
    let s = start().await;
    let admin = s.client("admin");
    admin.post("/orgs/acme/records", &json!([record("p1"), {"id": "p2", "provider": "inhouse", "model": "m1", "operation": "chat", "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": "2026-11-02T10:00:00Z"}])).await.unwrap();
    let price = json!([{"provider": "inhouse", "model": "m1", "effective_from": "2026-11-01", "currency": "USD", "input_per_mtok": "2", "output_per_mtok": "4"}]);
    assert_eq!(admin.post("/orgs/acme/prices", &price).await.unwrap().status, 200);
    let body = json!({"from": "2026-11-01", "to": "2026-12-01", "apply": true});
    for role in ["ingest", "analyst", "auditor"] {
        let a = s.client(role).post("/orgs/acme/reprice", &body).await.unwrap();
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (403, Some("forbidden")), "{role} may not apply a reprice: {}", a.body);
    }
    let preview = s.client("analyst").post("/orgs/acme/reprice", &json!({"from": "2026-11-01", "to": "2026-12-01"})).await.unwrap();
    assert_eq!(preview.status, 200, "an analyst may preview: {}", preview.body);
    let sum = |c: Client| async move { c.get("/orgs/acme/usage/summary?from=2026-11-01&to=2026-12-01").await.unwrap().body };
    assert_eq!(sum(s.client("analyst")).await["unpriced_requests"], 1, "nothing was applied by the refused requests");
    let a = admin.post("/orgs/acme/reprice", &body).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let after = sum(s.client("analyst")).await;
    assert_eq!(after["unpriced_requests"], 0, "the admin's reprice priced the record: {after}");
    s.stop().await;
}

/// `serve --ui DIR` serves regular files inside DIR only: no dotfiles, no
/// `..`, nothing a symlink leads to outside DIR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_files_are_served_from_inside_their_folder_only() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside").unwrap();
    let ui = tempfile::tempdir().unwrap();
    std::fs::write(ui.path().join("index.html"), "<h1>console</h1>").unwrap();
    std::fs::create_dir(ui.path().join("assets")).unwrap();
    std::fs::write(ui.path().join("assets/app.js"), "console.log(1)").unwrap();
    std::fs::write(ui.path().join(".env"), "TOKEN=secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), ui.path().join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ui.path().join("out")).unwrap();
    let s = start_with(Some(ui.path().to_path_buf()), true).await;
    let c = Client::new(&s.base, None);
    let get = |path: &'static str| {
        let c = c.clone();
        async move { c.raw_get_root(path).await.unwrap() }
    };
    let (status, body) = get("/").await;
    assert_eq!((status, body.as_slice()), (200, b"<h1>console</h1>".as_slice()));
    assert_eq!(get("/assets/app.js").await.0, 200);
    for bad in
        ["/.env", "/%2eenv", "/link.txt", "/out/secret.txt", "/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/etc/passwd", "/nothing.js"]
    {
        let (status, body) = get(bad).await;
        assert_eq!(status, 404, "{bad} must not be served");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{bad}");
    }
    assert_eq!(s.client("admin").get("/orgs/acme/budgets").await.unwrap().status, 200, "the API beside the files still answers");
    s.stop().await;
}

/// Records without ids, posted again after a timeout, are stored once when
/// the request carries an `Idempotency-Key` (the project's client always
/// sends one); without it the answer says a retry is not safe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_post_with_an_idempotency_key_stores_nothing_twice() {
    let s = start().await;
    let c = s.client("ingest");
    let batch = json!([
        {"provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 100, "output_tokens": 10, "occurred_at": "2026-11-10T10:00:00Z"},
        {"provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 100, "output_tokens": 10, "occurred_at": "2026-11-10T10:00:00Z"}
    ]);
    let body = batch.to_string().into_bytes();
    let with_key = |key: &'static str| {
        let (c, body) = (c.clone(), body.clone());
        async move { c.send("POST", "/orgs/acme/records", Some(body), &[("idempotency-key", key)]).await.unwrap() }
    };
    let first = with_key("3f1c-retry-me").await;
    assert_eq!(
        (first.status, first.body["accepted"].as_u64(), first.body["retry_safe"].as_bool()),
        (200, Some(2), Some(true)),
        "{}",
        first.body
    );
    let retry = with_key("3f1c-retry-me").await;
    assert_eq!(
        (retry.body["accepted"].as_u64(), retry.body["duplicates"].as_u64()),
        (Some(0), Some(2)),
        "the retry is recognised: {}",
        retry.body
    );
    assert_eq!(s.records("acme"), 2, "two identical calls in one request are two records, and a retry adds none");

    // Another request with the same content but another key: other calls.
    assert_eq!(with_key("another-request").await.body["accepted"].as_u64(), Some(2));
    // No id and no key: stored, and the answer says a retry is not safe.
    let bare = c.post("/orgs/acme/records", &batch).await.unwrap();
    assert_eq!((bare.status, bare.body["retry_safe"].as_bool()), (200, Some(false)), "{}", bare.body);
    // The project's client sends a key of its own.
    let own = c.post_records("acme", &batch).await.unwrap();
    assert_eq!((own.status, own.body["retry_safe"].as_bool()), (200, Some(true)), "{}", own.body);
    // A key that is not one is refused, naming the header.
    let bad = c.send("POST", "/orgs/acme/records", Some(body.clone()), &[("idempotency-key", "has spaces")]).await.unwrap();
    assert_eq!((bad.status, bad.body["error"]["field"].as_str()), (400, Some("Idempotency-Key")), "{}", bad.body);
    s.stop().await;
}

/// Money is a plain decimal, an object is an object, a key is given once:
/// each refused with a 400 that names the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lax_bodies_are_refused_naming_the_field() {
    let s = start().await;
    let c = s.client("admin");
    let raw = |method: &'static str, path: &'static str, body: &'static str| {
        let c = c.clone();
        async move { c.send(method, path, Some(body.as_bytes().to_vec()), &[]).await.unwrap() }
    };
    let a = raw("PUT", "/orgs/acme/providers/openai", "[null,null]").await;
    assert_eq!(a.status, 400, "an array is not an object: {}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("send a JSON object"), "{}", a.body);
    let a = raw("PUT", "/orgs/acme/providers/openai", r#"{"priority": 1, "priority": 2}"#).await;
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("priority")), "{}", a.body);
    for amount in ["1_000", " 5", "1e3", "+5"] {
        let body = json!({"amount": amount});
        let a = c.put("/orgs/acme/budgets/default", &body, None).await.unwrap();
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("amount")), "{amount:?}: {}", a.body);
    }
    let a = c.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "1_000"})).await.unwrap();
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("estimated_cost")), "{}", a.body);
    assert_eq!(c.put("/orgs/acme/budgets/default", &json!({"amount": "1000.50"}), None).await.unwrap().status, 200);
    s.stop().await;
}

/// Guessing tokens: after a few dozen failed authentications in a minute
/// an address is answered 429 with Retry-After, even with a valid token;
/// another address is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_from_one_address_is_throttled() {
    let s = start().await;
    let guesser = s.client("admin").from_address(std::net::IpAddr::from([127, 0, 0, 2]));
    let mut statuses = Vec::new();
    for i in 0..40 {
        let a = guesser.with_token(Some(&format!("argus_guess{i}"))).get("/orgs/acme/budgets").await.unwrap();
        statuses.push((a.status, a.retry_after));
    }
    assert!(statuses[..29].iter().all(|(s, _)| *s == 401), "{statuses:?}");
    assert!(statuses[29..].iter().all(|(s, r)| *s == 429 && r.is_some()), "{statuses:?}");
    let with_valid = guesser.get("/orgs/acme/budgets").await.unwrap();
    assert_eq!(with_valid.status, 429, "the address is refused before its token is looked at");
    assert_eq!(s.client("admin").get("/orgs/acme/budgets").await.unwrap().status, 200, "127.0.0.1 is not affected");
    assert_eq!(
        Client::new(&s.base, None).from_address(std::net::IpAddr::from([127, 0, 0, 2])).get("/health").await.unwrap().status,
        200,
        "health needs no token"
    );
    s.stop().await;
}

/// Webhooks may not target this machine, private networks or cloud
/// metadata (when the URL is set, and again when posting), unless the
/// server was started with --allow-private-targets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_refuse_internal_targets() {
    let s = start_with(None, false).await;
    let c = s.client("admin");
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://[::1]:8080/hook",
        "http://0.0.0.0:8080/hook",
        "http://127.1:8080/hook",
        "http://2130706433:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00::1]/hook",
        "http://10.0.0.1/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "https://user:pass@hooks.example.com/hook",
        "https://hooks.example.com:22/hook",
        "ftp://hooks.example.com/hook",
    ] {
        let a = c.put("/orgs/acme/webhook", &json!({"url": url}), None).await.unwrap();
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("url")), "{url}: {}", a.body);
    }
    assert_eq!(c.put("/orgs/acme/webhook", &json!({"url": "https://hooks.example.com/argus"}), None).await.unwrap().status, 200);

    // Set behind the server's back (as an older version may have stored it):
    // the delivery is refused when posting, and recorded as such.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    s.ops().webhook_set("acme", &format!("http://{}/hook", l.local_addr().unwrap()), true).unwrap();
    c.post("/orgs/acme/records", &record("ssrf")).await.unwrap();
    c.put("/orgs/acme/budgets/2026-11", &json!({"amount": "0.004", "thresholds": [50]}), None).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let d = loop {
        let d = s.ops().deliveries("acme").unwrap();
        if d.first().is_some_and(|x| x.attempts > 0) || std::time::Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(d[0].last_status.as_deref().is_some_and(|st| st.contains("refused") && st.contains("loopback")), "{d:?}");
    assert!(l.accept().is_err(), "nothing connected to the internal target");
    s.stop().await;
}

/// One organisation's silent endpoint does not hold up another's alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_does_not_delay_another_organisations_alerts() {
    // Accepts connections and never answers (each attempt waits for the 10 s timeout).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let g = g.clone();
            async move {
                g.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fast_url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let s = start().await;
    {
        let mut ops = s.ops();
        ops.webhook_set("acme", &silent_url, true).unwrap();
        ops.webhook_set("other", &fast_url, true).unwrap();
        for (org, id) in [("acme", "a1"), ("other", "o1")] {
            ops.record(&json!({"id": id, "org": org, "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 1000, "output_tokens": 0, "occurred_at": "2026-11-02T10:00:00Z"})).unwrap();
        }
        // acme's several thresholds fire first, then other's one.
        ops.budget_set("acme", None, &BudgetChange { amount: Some("0.000001".into()), ..Default::default() }).unwrap();
        ops.budget_set("other", None, &BudgetChange { amount: Some("0.000001".into()), thresholds: Some(vec![100]), ..Default::default() })
            .unwrap();
    }
    let t0 = std::time::Instant::now();
    while got.load(Ordering::SeqCst) == 0 && t0.elapsed() < std::time::Duration::from_secs(8) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got.load(Ordering::SeqCst), 1, "other's alert arrived while acme's endpoint stays silent");
    assert!(t0.elapsed() < std::time::Duration::from_secs(3), "within seconds, not after acme's timeouts: {:?}", t0.elapsed());
    s.stop().await;
}

/// Downloads nobody reads: a token gets two at a time (429 beyond), they
/// never take every store connection (the other routes answer at once),
/// and a stalled one gives up its connection after the stall timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_downloads_stall_no_one_else() {
    let s = start_custom(|c| {
        c.allow_private_targets = true;
        c.download_stall = std::time::Duration::from_secs(1);
    })
    .await;
    {
        // Enough records that an export outgrows every buffer on the way.
        let lines: String = (0..40_000)
            .map(|i| format!("{{\"id\":\"big{i}\",\"org\":\"acme\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"operation\":\"chat\",\"investigation\":\"INV-{}\",\"input_tokens\":{},\"output_tokens\":10,\"occurred_at\":\"2026-11-10T10:00:00Z\"}}\n", i % 50, 100 + i))
            .collect();
        s.ops().ingest(std::io::Cursor::new(lines.into_bytes()), |_| {}).unwrap();
    }
    let addr = s.base.trim_start_matches("http://").to_string();
    let token = s.tokens.get("analyst").unwrap().clone();
    // Sends the request and reads only the status line's first bytes, then stops reading.
    let stalled = |addr: String, token: String| {
        let mut sock = std::net::TcpStream::connect(&addr).unwrap();
        use std::io::{Read, Write};
        write!(sock, "GET /api/v1/orgs/acme/reports?format=json&kind=records&from=2026-11-01 HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\r\n").unwrap();
        let mut head = [0u8; 12];
        sock.read_exact(&mut head).unwrap();
        (sock, String::from_utf8_lossy(&head).to_string())
    };
    let (a, ha) = stalled(addr.clone(), token.clone());
    let (b, hb) = stalled(addr.clone(), token.clone());
    assert!(ha.ends_with("200") && hb.ends_with("200"), "{ha} {hb}");
    let (c, hc) = stalled(addr.clone(), token.clone());
    assert!(hc.ends_with("429"), "a third download of the token is refused: {hc}");
    // Everyone else is served at once while those two stall.
    let t0 = std::time::Instant::now();
    assert_eq!(Client::new(&s.base, None).get("/health").await.unwrap().status, 200);
    assert_eq!(s.client("admin").get("/orgs/acme/budgets").await.unwrap().status, 200);
    assert_eq!(s.client("auditor").get("/orgs/other/budgets").await.unwrap().status, 404);
    assert!(t0.elapsed() < std::time::Duration::from_secs(1), "{:?}", t0.elapsed());
    // After the stall timeout the stalled downloads give up their places
    // (once their export has filled the buffers and waited a second: how
    // soon depends on the machine's load, so the test polls, bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let d = loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (d, hd) = stalled(addr.clone(), token.clone());
        if hd.ends_with("200") {
            break d;
        }
        assert!(hd.ends_with("429"), "{hd}");
        assert!(std::time::Instant::now() < deadline, "the stalled downloads never gave up their places");
    };
    drop((a, b, c, d));
    s.stop().await;
}

/// What no real call could cost is refused with a clear error, so that no
/// estimate or record can push a total out of range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_costs_are_refused_and_totals_stay_whole() {
    let s = start().await;
    let c = s.client("admin");
    for _ in 0..2 {
        let a = c.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "9223372036.854775807"})).await.unwrap();
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("estimated_cost")), "{}", a.body);
        assert!(a.body["error"]["message"].as_str().unwrap().contains("more than one call could cost"), "{}", a.body);
    }
    assert_eq!(c.post("/orgs/acme/admit", &json!({"provider": "openai", "estimated_cost": "10000"})).await.unwrap().status, 200);
    let huge = json!({"provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 1_000_000_000u64, "output_tokens": 1_000_000_000u64, "occurred_at": "2026-11-10T10:00:00Z"});
    let a = c.post("/orgs/acme/records", &huge).await.unwrap();
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (400, Some("input_tokens")), "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("more than any one call"), "{}", a.body);
    // The organisation's figures still answer, exactly.
    let st = c.get("/orgs/acme/budget-status").await.unwrap();
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(c.get("/orgs/acme/usage/summary").await.unwrap().status, 200);
    s.stop().await;
}

/// Regression (hardening issue, item 1): a client that sends half a
/// request head, or a body a byte at a time, held its connection (and, for
/// a body, a handler) for as long as it liked. The head must arrive within
/// the header-read timeout, and the answer start within the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_and_trickled_requests_are_cut_off() {
    use std::io::{Read, Write};
    let s = start_custom(|c| {
        c.header_read_timeout = std::time::Duration::from_secs(1);
        c.request_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // Half a head, then silence: the server closes the connection.
    let t0 = std::time::Instant::now();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(half, "GET /api/v1/health HTTP/1.1\r\nhost: {addr}\r\n").unwrap();
    let mut buf = Vec::new();
    let n = half.read_to_end(&mut buf);
    assert!(n.is_ok(), "the server closed the half-sent request rather than the test timing out: {n:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "closed after about the header timeout: {:?}", t0.elapsed());
    // A body trickled a byte every 300 ms: 503 `timeout` once the limit passes.
    let token = s.tokens.get("ingest").unwrap().clone();
    let body = serde_json::to_vec(&record("slow-1")).unwrap();
    let t0 = std::time::Instant::now();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    write!(
        slow,
        "POST /api/v1/orgs/acme/records HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut answer = Vec::new();
    for b in &body {
        if slow.write_all(&[*b]).is_err() {
            break;
        }
        let mut chunk = [0u8; 4096];
        if let Ok(n) = slow.read(&mut chunk) {
            answer.extend_from_slice(&chunk[..n]);
            if n == 0 || !answer.is_empty() {
                break;
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 503") && answer.contains("\"timeout\""), "{answer}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(s.records("acme"), 0, "the trickled record was never taken");
    // Everyone else is served meanwhile and after.
    assert_eq!(Client::new(&s.base, None).get("/health").await.unwrap().status, 200);
    s.stop().await;
}

/// A deliverer of its own over the store, as another process would run one.
#[derive(Clone)]
struct Rival(Arc<std::sync::Mutex<Ops>>);

impl argus_client::outbox::Outbox for Rival {
    async fn due(&self, limit: i64) -> Result<Vec<argus_ops::channels::Due>, String> {
        self.0.lock().unwrap().deliveries_due(limit).map_err(|e| e.message)
    }

    async fn attempted(&self, id: i64, status: String, delivered: bool, retry_in: chrono::Duration) -> Result<(), String> {
        self.0.lock().unwrap().delivery_attempted(id, &status, delivered, retry_in).map_err(|e| e.message)
    }
}

/// A loopback SMTP server, as small as lettre needs (no STARTTLS offered, so
/// the opportunistic TLS stays plain): each message's DATA is kept.
async fn smtp_receiver() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", l.local_addr().unwrap());
    let mails = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap());
                            w.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (url, mails)
}

/// Slack and e-mail channels: a threshold alert reaches a Slack-compatible
/// receiver (a JSON `text`) and a loopback SMTP server once each, naming the
/// organisation, the scope, the threshold, the amounts and the console; a
/// removed channel gets nothing more; a test message goes at once; a
/// password that is not in the environment is said to be missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_slack_and_email_once() {
    let texts = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let t2 = texts.clone();
    let app = axum::Router::new().route(
        "/services/T0/B0/secret",
        axum::routing::post(move |body: String| {
            let t = t2.clone();
            async move {
                t.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slack = format!("http://{}/services/T0/B0/secret", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let (smtp, mails) = smtp_receiver().await;

    let s = start_custom(|c| {
        c.allow_private_targets = true;
        c.console_url = Some("https://argus.example.com".into());
    })
    .await;
    // A second deliverer on the same store (as a desktop window open on the
    // served file would be): the deliverer lock lets one of them send.
    let (_rival_stop, rival_rx) = tokio::sync::watch::channel(false);
    let rival = Rival(Arc::new(std::sync::Mutex::new(s.ops())));
    let (db, rival_sender) = (
        s.db.clone(),
        argus_client::outbox::Sender::new(Arc::new(b"rival-key-0123456789".to_vec()), Some("https://argus.example.com".into()), true),
    );
    tokio::spawn(
        async move { argus_client::outbox::worker(&db, rival, rival_sender, std::time::Duration::from_millis(20), rival_rx).await },
    );
    let mut ops = s.ops();
    use argus_ops::channels::ChannelSpec;
    let sl = ops.channel_add("acme", &ChannelSpec { kind: "slack".into(), url: Some(slack.clone()), ..Default::default() }, true).unwrap();
    assert!(!sl.target.contains("secret"), "a Slack URL's path is its secret, not shown: {}", sl.target);
    let mail_spec =
        ChannelSpec { kind: "email".into(), to: Some("budgets@example.com".into()), smtp: Some(smtp.clone()), ..Default::default() };
    let em = ops.channel_add("acme", &mail_spec, true).unwrap();
    assert_eq!(ops.channels_list("acme").unwrap().len(), 2);
    assert!(ops.channels_list("other").unwrap().is_empty(), "channels are the organisation's");

    let c = s.client("admin");
    c.post("/orgs/acme/records", &record("ch1")).await.unwrap();
    c.put("/orgs/acme/budgets/2026-11", &json!({"amount": "0.006", "thresholds": [50, 100]}), None).await.unwrap();
    let wait = |n: usize| {
        let (texts, mails) = (texts.clone(), mails.clone());
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while (texts.lock().unwrap().len() + mails.lock().unwrap().len()) < n && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    wait(2).await;
    let text = texts.lock().unwrap()[0]["text"].as_str().unwrap().to_string();
    assert_eq!(
        text,
        "Budget alert: acme reached 50%: 0.0035 of 0.006 spent in 2026-11 (USD). Open the console: https://argus.example.com/#/budgets"
    );
    let mail = mails.lock().unwrap()[0].clone();
    assert!(mail.contains("To: budgets@example.com") && mail.contains("From: argus-usage@127.0.0.1"), "{mail}");
    assert!(mail.contains("Subject: Argus Usage: Budget alert: acme reached 50%") && mail.contains("0.0035 of 0.006 spent"), "{mail}");

    // The Slack channel removed, the 100 % threshold goes by e-mail only.
    ops.channel_remove("acme", sl.id).unwrap();
    c.post("/orgs/acme/records", &record("ch2")).await.unwrap();
    wait(3).await;
    for _ in 0..10 {
        s.clock.advance(chrono::Duration::minutes(10));
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    assert_eq!((texts.lock().unwrap().len(), mails.lock().unwrap().len()), (1, 2), "each alert once a channel, none to a removed one");
    assert!(mails.lock().unwrap()[1].contains("reached 100%"));
    let d = s.ops().deliveries("acme").unwrap();
    assert_eq!(d.iter().filter(|x| x.channel_id == Some(em.id) && x.delivered_at.is_some()).count(), 2);

    // A test message, sent at once; a password not in the environment is named.
    let sender = argus_client::outbox::Sender::new(Arc::new(b"k".to_vec()), None, true);
    let attempt = sender.send(&ops.channel_test("acme", em.id).unwrap()).await;
    assert!(attempt.delivered(), "{attempt:?}");
    assert!(mails.lock().unwrap()[2].contains("test of an alert channel of acme"));
    let with_user = ChannelSpec { smtp_user: Some("alerts".into()), password_env: Some("ARGUS_TEST_UNSET_PASSWORD".into()), ..mail_spec };
    let locked = ops.channel_add("acme", &with_user, true).unwrap();
    let attempt = sender.send(&ops.channel_test("acme", locked.id).unwrap()).await;
    assert_eq!(
        attempt.describe(),
        "the SMTP password is not set: put it in the environment variable ARGUS_TEST_UNSET_PASSWORD of the process that sends alerts"
    );
    assert!(ops.channel_test("acme", sl.id).is_err(), "a removed channel cannot be tested");
    s.stop().await;
}
