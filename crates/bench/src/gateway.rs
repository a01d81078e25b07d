//! `argus-bench gateway`: what the gateway adds to a call.
//!
//! A fake upstream that answers as OpenAI's chat completions do (at once:
//! a JSON answer with usage, or a stream of five chunks, the usage chunk and
//! `[DONE]`), the real server (`argus_server::run`) with its gateway over a
//! real store, and the real HTTP client, in one process on 127.0.0.1. The
//! same calls are sent at fixed rates, open loop (latency from when each was
//! due), to the upstream directly and through the gateway, streamed and not;
//! the difference of the percentiles is what the gateway adds (admission,
//! routing, forwarding, recording with the provider's usage). Then a
//! closed-loop run for the gateway's throughput with recording on; and the
//! same fixed-rate loads through another proxy (`--other`) when given.
use anyhow::Result;
use argus_client::api::Client;
use std::path::Path;
use std::sync::Arc;

pub struct Plan {
    pub seconds: u64,
    pub rates: Vec<u64>,
    pub clients: u64,
    pub other: Option<String>,
    pub other_key: String,
    pub upstream_port: u16,
}

const USAGE: &str = r#"{"prompt_tokens":120,"completion_tokens":40,"total_tokens":160,"prompt_tokens_details":{"cached_tokens":20}}"#;

/// The fake upstream: `POST /v1/chat/completions`, plain or streamed.
async fn upstream(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let stream = body.windows(13).any(|w| w == b"\"stream\":true");
    if !stream {
        let json = format!(
            r#"{{"id":"c1","object":"chat.completion","created":1,"model":"fake-model","choices":[{{"index":0,"message":{{"role":"assistant","content":"hello"}},"finish_reason":"stop"}}],"usage":{USAGE}}}"#
        );
        return ([("content-type", "application/json")], json).into_response();
    }
    let mut sse = String::new();
    for w in ["a", "b", "c", "d", "e"] {
        sse.push_str(&format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"fake-model\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}}}}]}}\n\n"
        ));
    }
    sse.push_str(&format!(
        "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"fake-model\",\"choices\":[],\"usage\":{USAGE}}}\n\n"
    ));
    sse.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], sse).into_response()
}

fn body(stream: bool, model: &str) -> Vec<u8> {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Say hello in five letters."}], "max_tokens": 40, "stream": stream})
        .to_string()
        .into_bytes()
}

/// Calls at `rate` a second for `seconds`, open loop: sorted latencies (ms)
/// from when each was due to its last byte, and how many answered 200.
async fn at_rate(c: &Client, url: &str, payload: Vec<u8>, rate: u64, seconds: u64) -> (Vec<f64>, u64) {
    let interval = std::time::Duration::from_secs_f64(1.0 / rate as f64);
    let n = rate * seconds;
    let payload = Arc::new(payload);
    let t0 = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        let due = t0 + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let (c, url, payload) = (c.clone(), url.to_string(), payload.clone());
        handles.push(tokio::spawn(async move {
            let r = c.raw_post(&url, payload.to_vec()).await;
            (tokio::time::Instant::now().duration_since(due).as_secs_f64() * 1000.0, r.map(|x| x.0).unwrap_or(0))
        }));
    }
    let (mut lat, mut ok) = (Vec::with_capacity(n as usize), 0);
    for h in handles {
        if let Ok((l, s)) = h.await {
            lat.push(l);
            ok += u64::from(s == 200);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    (lat, ok)
}

/// `clients` callers back to back for `seconds`: calls answered 200 a second.
async fn throughput(c: &Client, url: &str, payload: Vec<u8>, clients: u64, seconds: u64) -> f64 {
    let stop = crate::stop_after(seconds);
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (c, url, payload, stop) = (c.clone(), url.to_string(), payload.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if matches!(c.raw_post(&url, payload.clone()).await, Ok((200, _))) {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total as f64 / t0.elapsed().as_secs_f64()
}

pub fn run(dir: &Path, plan: &Plan) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join("gateway.db");
    crate::fresh(&db)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let up = tokio::net::TcpListener::bind(("127.0.0.1", plan.upstream_port)).await?;
        let up_base = format!("http://{}/v1", up.local_addr()?);
        tokio::spawn(async move { axum::serve(up, axum::Router::new().route("/v1/chat/completions", axum::routing::post(upstream))).await });
        let token = {
            let mut ops = crate::open(&db)?;
            ops.org_create("bench", None, "USD", "UTC")?;
            ops.prices_import(
                "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok\nfake,fake-model,2020-01-01,USD,2.50,10.00,1.25,\n",
                Some("bench"),
            )?;
            ops.upstream_set(
                "bench",
                "fake",
                &argus_ops::gateway::UpstreamChange { base_url: Some(up_base.clone()), api: None, api_key_env: Some("BENCH_FAKE_KEY".into()) },
            )?;
            ops.token_create("bench", "ingest", Some("gateway"))?.token
        };
        // The key the upstream names, set before the server starts.
        std::env::set_var("BENCH_FAKE_KEY", "sk-fake");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut config = argus_server::Config::new(db.clone(), Arc::new(argus_ops::SystemClock), b"bench-server-key-0123456789".to_vec());
        config.allow_private_targets = true;
        let server = tokio::spawn(argus_server::run(listener, config, async {
            let _ = rx.await;
        }));
        let direct = Client::new(&up_base, Some("sk-fake"));
        let gateway = Client::new(&base, Some(&token));
        let direct_url = format!("{up_base}/chat/completions");
        let gateway_url = format!("{base}/v1/chat/completions");
        // One call first: a gateway that does not serve is a broken bench, not a figure.
        let (status, answer) = gateway.raw_post(&gateway_url, body(false, "fake/fake-model")).await?;
        anyhow::ensure!(status == 200, "the gateway answered {status}: {}", String::from_utf8_lossy(&answer));
        // Warm both paths (connections, prepared statements).
        let _ = at_rate(&gateway, &gateway_url, body(false, "fake/fake-model"), 200, 1).await;
        let _ = at_rate(&direct, &direct_url, body(false, "fake-model"), 200, 1).await;
        println!("One process on 127.0.0.1 (2 cores): a fake upstream answering at once, the real gateway over a real store, the real HTTP client. {} s a phase, open loop; latency from when each call was due to its last byte.\n", plan.seconds);
        println!("| load | direct p50 / p99 | through the gateway p50 / p99 | added p50 / p99 | calls ok |");
        println!("|---|---:|---:|---:|---:|");
        let mut other_rows = Vec::new();
        for &rate in &plan.rates {
            for stream in [false, true] {
                let (d, _) = at_rate(&direct, &direct_url, body(stream, "fake-model"), rate, plan.seconds).await;
                let (g, ok) = at_rate(&gateway, &gateway_url, body(stream, "fake/fake-model"), rate, plan.seconds).await;
                let p = |v: &[f64], q: f64| crate::percentile(v, q);
                println!(
                    "| {rate}/s, {} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | **{:.2} / {:.2} ms** | {ok} of {} |",
                    if stream { "streamed" } else { "not streamed" },
                    p(&d, 0.5),
                    p(&d, 0.99),
                    p(&g, 0.5),
                    p(&g, 0.99),
                    p(&g, 0.5) - p(&d, 0.5),
                    p(&g, 0.99) - p(&d, 0.99),
                    g.len()
                );
                if let Some(url) = &plan.other {
                    let other = Client::new(url, Some(&plan.other_key));
                    let (o, ok) = at_rate(&other, url, body(stream, "fake-model"), rate, plan.seconds).await;
                    other_rows.push(format!(
                        "| {rate}/s, {} | {:.2} / {:.2} ms | **{:.2} / {:.2} ms** | {ok} of {} |",
                        if stream { "streamed" } else { "not streamed" },
                        p(&o, 0.5),
                        p(&o, 0.99),
                        p(&o, 0.5) - p(&d, 0.5),
                        p(&o, 0.99) - p(&d, 0.99),
                        o.len()
                    ));
                }
            }
        }
        let rps = throughput(&gateway, &gateway_url, body(false, "fake/fake-model"), plan.clients, plan.seconds).await;
        let rps_stream = throughput(&gateway, &gateway_url, body(true, "fake/fake-model"), plan.clients, plan.seconds).await;
        println!("\nThroughput through the gateway with recording on, {} clients back to back: **{rps:.0} calls/s** not streamed, **{rps_stream:.0} calls/s** streamed.", plan.clients);
        let recorded = {
            let mut ops = crate::open(&db)?;
            ops.usage_summary("bench", Some("2000-01-01"), Some("2199-01-01"), None)?.requests
        };
        println!("Calls recorded in the store: {recorded} (every call that answered 200, each once).");
        if !other_rows.is_empty() {
            println!("\nThe other proxy (`{}`), same upstream, same loads, in the same run:\n", plan.other.as_deref().unwrap_or(""));
            println!("| load | p50 / p99 | added p50 / p99 | calls ok |");
            println!("|---|---:|---:|---:|");
            for r in other_rows {
                println!("{r}");
            }
        }
        let _ = tx.send(());
        let _ = server.await;
        Ok::<_, anyhow::Error>(())
    })
}
