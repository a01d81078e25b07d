//! `argus-bench`: the benchmarks behind `docs/benchmarks.md`.
//!
//! Run in release mode, e.g. `cargo run --release -p argus-bench -- ingest`.
//! Each subcommand prints a Markdown fragment with its figures and how it
//! was measured.
#![forbid(unsafe_code)]
#![allow(clippy::float_arithmetic)] // timings and rates, never money

use anyhow::{Context, Result};
use argus_domain::time::{Clock, ManualClock};
use argus_ops::Ops;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
struct Cli {
    /// Where data files and stores go.
    #[arg(long, default_value = "bench-data")]
    dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest N JSON Lines records with aggregates kept, against a plain insert of the same rows.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
    },
    /// `usage summary --by provider` for one month of a store of N records.
    Summary {
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
    },
    /// The server on loopback: POST /admit at a fixed rate, POST /records in
    /// batches of 100 from concurrent clients, then both at once on a store
    /// holding a month of records.
    Server {
        #[arg(long, default_value_t = 8)]
        clients: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 1000)]
        admit_rate: u64,
        /// The server's background WAL checkpoint interval (the server's default: 50).
        #[arg(long, default_value_t = 50)]
        checkpoint_ms: u64,
        /// Records of the month the store holds for the second run
        /// (admissions while the clients post records); 0 skips the preload.
        #[arg(long, default_value_t = 200_000)]
        store_records: u64,
        /// Records per second the clients post during the second run, in
        /// batches of 100 at a fixed pace; 0 posts as fast as they can.
        #[arg(long, default_value_t = 2_000)]
        ingest_rate: u64,
    },
    /// CSV and JSON export of N records (time, peak memory), and the PDF
    /// monthly summary of the store built by `summary`.
    Export {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// The store of `summary` to make the PDF from (skipped if absent).
        #[arg(long, default_value_t = 10_000_000)]
        pdf_store_records: u64,
    },
    /// A first sync of N records from a server on loopback, then incremental syncs with nothing new.
    Sync {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = argus_ops::sync::PAGE)]
        page: i64,
    },
    /// The gateway's added latency against calling the same fake upstream
    /// directly, at fixed rates, streamed and not; its throughput with
    /// recording on; and the same loads through another proxy (`--other`,
    /// e.g. LiteLLM's) for comparison.
    Gateway {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, value_delimiter = ',', default_value = "500,1000")]
        rates: Vec<u64>,
        /// Clients of the throughput run (closed loop).
        #[arg(long, default_value_t = 32)]
        clients: u64,
        /// Another proxy's chat completions URL in front of the same fake
        /// upstream (started separately; see docs/benchmarks.md), and its key.
        #[arg(long)]
        other: Option<String>,
        #[arg(long, default_value = "sk-bench")]
        other_key: String,
        /// Keep the fake upstream listening on this port (for the other proxy).
        #[arg(long, default_value_t = 0)]
        upstream_port: u16,
    },
    /// One SQLite server, one PostgreSQL instance and three on one
    /// database, side by side: records per second posted by concurrent
    /// clients spread over the instances, and admission latency at a fixed
    /// rate. Real `argus-usage serve` processes (the release binary beside
    /// this one); PostgreSQL from `--pg` or ARGUS_TEST_PG (scripts/pg.sh).
    Cluster {
        #[arg(long, default_value_t = 8)]
        clients: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 1000)]
        admit_rate: u64,
        /// A PostgreSQL database whose server the runs make their databases on.
        #[arg(long, env = "ARGUS_TEST_PG")]
        pg: Option<String>,
    },
    /// In-process admission latency, and admissions per second from concurrent workers.
    Admit {
        #[arg(long, default_value_t = 20_000)]
        admissions: u64,
        #[arg(long, default_value_t = 8)]
        workers: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

const PROVIDERS: [(&str, &str); 6] = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-flash"),
    ("mistral", "mistral-large-latest"),
];
const OPS: [&str; 4] = ["chat", "knowledge_base", "document_analysis", "smart_field"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

/// The keys of each generated line: every key of an ingest line but
/// `reservation_id` (bookkeeping of admissions, not part of a call).
const LINE_KEYS: usize = 14;

/// Writes `n` records spread over `days` days ending at `now()`, each with
/// the [`LINE_KEYS`] keys, all four token counts among them.
fn write_jsonl(path: &Path, org: &str, n: u64, days: i64) -> Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    let end = now().timestamp();
    let span = days * 86_400;
    for i in 0..n {
        let (p, m) = PROVIDERS[(i % 6) as usize];
        let op = OPS[(i / 6 % 4) as usize];
        // Spread evenly and deterministically over the span, in time order.
        let t = end - span + (i as i64 * span / n as i64);
        let at = DateTime::from_timestamp(t, ((i % 1000) * 1_000_000) as u32).unwrap_or_default();
        writeln!(
            w,
            r#"{{"id":"b{i:09}","org":"{org}","provider":"{p}","model":"{m}","operation":"{op}","investigation":"INV-{}","user":"u{}","input_tokens":{},"output_tokens":{},"cached_input_tokens":{},"cache_write_tokens":{},"status":"ok","latency_ms":{},"occurred_at":"{}"}}"#,
            i % 97,
            i % 31,
            200 + i % 5000,
            20 + i % 900,
            i % 7 * 100,
            i % 11 * 40,
            100 + i % 3000,
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )?;
    }
    w.flush()?;
    Ok(())
}

/// Peak resident memory of this process since the last reset, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn reset_peak_rss() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub(crate) fn open(path: &Path) -> Result<Ops> {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now()));
    Ok(Ops::open(path, clock, "bench")?)
}

pub(crate) fn fresh(path: &Path) -> Result<()> {
    for ext in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{ext}", path.display()));
        if p.exists() {
            std::fs::remove_file(p)?;
        }
    }
    Ok(())
}

/// One line as the baseline reads it: typed, borrowing from the line.
#[derive(serde::Deserialize)]
struct PlainLine<'a> {
    id: &'a str,
    org: &'a str,
    provider: &'a str,
    model: &'a str,
    operation: &'a str,
    investigation: Option<&'a str>,
    user: Option<&'a str>,
    input_tokens: u64,
    output_tokens: u64,
    cached_input_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    status: Option<&'a str>,
    latency_ms: Option<u64>,
    occurred_at: &'a str,
}

/// The baseline: the same rows, parsed from the same file with a typed
/// parse, into a bare table with no index, no validation, no costing and no
/// aggregates; on a connection with the store's own settings
/// (`argus_store::SETTINGS`: page size, cache, temp store, checkpoint
/// interval) and in transactions of the ingest's batch size.
fn plain_insert(file: &Path, db: &Path) -> Result<u64> {
    fresh(db)?;
    let mut c = rusqlite::Connection::open(db)?;
    c.execute_batch(argus_store::SETTINGS)?;
    c.execute_batch(
        "CREATE TABLE t (id TEXT, org TEXT, provider TEXT, model TEXT, operation TEXT, investigation TEXT, user_id TEXT,
         input_tokens INTEGER, output_tokens INTEGER, cached_input_tokens INTEGER, cache_write_tokens INTEGER, status TEXT, latency_ms INTEGER, occurred_at TEXT)",
    )?;
    let mut n = 0u64;
    let mut lines = BufReader::with_capacity(1 << 16, std::fs::File::open(file)?).lines();
    loop {
        let tx = c.transaction()?;
        let mut done = true;
        {
            let mut st = tx.prepare_cached("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")?;
            for line in lines.by_ref().take(argus_ops::ingest::BATCH_LINES) {
                done = false;
                let line = line?;
                let v: PlainLine<'_> = serde_json::from_str(&line)?;
                st.execute(rusqlite::params![
                    v.id,
                    v.org,
                    v.provider,
                    v.model,
                    v.operation,
                    v.investigation,
                    v.user,
                    v.input_tokens,
                    v.output_tokens,
                    v.cached_input_tokens,
                    v.cache_write_tokens,
                    v.status,
                    v.latency_ms,
                    v.occurred_at
                ])?;
                n += 1;
            }
        }
        tx.commit()?;
        if done {
            break;
        }
    }
    Ok(n)
}

fn bench_ingest(dir: &Path, n: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join(format!("ingest-{n}.jsonl"));
    if !file.exists() {
        eprintln!("writing {n} records to {}", file.display());
        write_jsonl(&file, "bench", n, 90)?;
    }
    let db = dir.join("ingest.db");
    fresh(&db)?;
    let mut ops = open(&db)?;
    ops.org_create("bench", None, "USD", "Europe/Berlin")?;
    reset_peak_rss();
    let rss_before = peak_rss_mib();
    let t0 = Instant::now();
    let report = ops.ingest(BufReader::with_capacity(1 << 16, std::fs::File::open(&file)?), |_| {})?;
    let ours = t0.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    anyhow::ensure!(report.accepted as u64 == n, "ingest accepted {} of {n}", report.accepted);
    drop(ops);

    let t1 = Instant::now();
    let plain_n = plain_insert(&file, &dir.join("plain.db"))?;
    let plain = t1.elapsed().as_secs_f64();
    anyhow::ensure!(plain_n == n);

    println!("### Ingest of {n} JSON Lines records ({LINE_KEYS} keys a line, four token counts)\n");
    println!("| path | seconds | records/s |\n|---|---:|---:|");
    println!("| `Ops::ingest` (validate, price, insert, aggregates, idempotency index) | {ours:.2} | {:.0} |", n as f64 / ours);
    println!(
        "| plain insert of the same rows (typed parse, bare table, no index; the store's settings and batch size) | {plain:.2} | {:.0} |",
        n as f64 / plain
    );
    println!("\nRatio ingest / plain insert: **{:.2}x**. Peak resident memory during the ingest: **{peak:.0} MiB** (at start {rss_before:.0} MiB).\n", ours / plain);
    Ok(())
}

fn bench_summary(dir: &Path, n: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join(format!("store-{n}.db"));
    if !db.exists() {
        let file = dir.join(format!("store-{n}.jsonl"));
        eprintln!("building a store of {n} records over 120 days (once; kept in {})", db.display());
        write_jsonl(&file, "bench", n, 120)?;
        let mut ops = open(&db)?;
        ops.org_create("bench", None, "USD", "Europe/Berlin")?;
        let t0 = Instant::now();
        let mut last = Instant::now();
        let report = ops.ingest(BufReader::with_capacity(1 << 16, std::fs::File::open(&file)?), |p| {
            if last.elapsed().as_secs() >= 10 {
                eprintln!("  {} lines", p.lines);
                last = Instant::now();
            }
        })?;
        eprintln!("  built in {:.0} s ({} records)", t0.elapsed().as_secs_f64(), report.accepted);
        std::fs::remove_file(&file).context("removing the generated file")?;
    }
    let mut ops = open(&db)?;
    let count = stored_records(ops.path())?;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..21 {
        let t = Instant::now();
        let s = ops.usage_summary("bench", Some("2026-10-01"), Some("2026-11-01"), Some("provider"))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(s);
    }
    let first = times[0];
    let mut warm = times[1..].to_vec();
    warm.sort_by(|a, b| a.total_cmp(b));
    let s = last.context("no summary")?;
    println!("### `usage summary --by provider` for one month of a {count}-record store\n");
    println!(
        "The month holds {} records. First call {first:.2} ms; then median {:.2} ms, max {:.2} ms over 20 calls.\n",
        s.requests,
        warm[warm.len() / 2],
        warm[warm.len() - 1]
    );
    filtered_summaries(&mut ops)?;
    drop(ops);
    cli_summary(&db)
}

/// Filtered and two-grouping summaries of the same month, in process:
/// the questions of the Usage screen's filters, search boxes and
/// drill-downs (rollups of migrations/0011_cube.sql, the range's edges
/// from the records).
fn filtered_summaries(ops: &mut argus_ops::Ops) -> Result<()> {
    use argus_domain::analytics::RecordFilter;
    let f = |k: &str, v: &str| -> RecordFilter {
        let v = Some(v.to_string());
        match k {
            "provider" => RecordFilter { provider: v, ..Default::default() },
            "investigation" => RecordFilter { investigation: v, ..Default::default() },
            "user" => RecordFilter { user: v, ..Default::default() },
            "status" => RecordFilter { status: v, ..Default::default() },
            "investigation_contains" => RecordFilter { investigation_contains: v, ..Default::default() },
            _ => RecordFilter::default(),
        }
    };
    let both = RecordFilter { user_contains: Some("1".into()), investigation_contains: Some("2".into()), ..Default::default() };
    let cases: Vec<(&str, RecordFilter, Option<&str>)> = vec![
        ("`--provider openai`", f("provider", "openai"), None),
        ("`--investigation INV-17`", f("investigation", "INV-17"), None),
        ("`--provider openai --by investigation`", f("provider", "openai"), Some("investigation")),
        ("`--by investigation,provider`", RecordFilter::default(), Some("investigation,provider")),
        ("`--by investigation,user`", RecordFilter::default(), Some("investigation,user")),
        ("`--investigation-contains 001 --by day`", f("investigation_contains", "001"), Some("day")),
        ("`--user u3 --by investigation`", f("user", "u3"), Some("investigation")),
        ("`--status ok --by model,day`", f("status", "ok"), Some("model,day")),
        ("`--investigation INV-17 --by user,day`", f("investigation", "INV-17"), Some("user,day")),
        ("`--user-contains 1 --investigation-contains 2 --by month`", both, Some("month")),
    ];
    println!("Filtered and two-grouping summaries of the same month, in process (median of 11 calls after one):\n");
    println!("| arguments | records selected | groups | median ms | max ms |\n|---|---:|---:|---:|---:|");
    for (name, what, by) in cases {
        let q = argus_ops::analytics::RecordQuery::of(Some("2026-10-01".into()), Some("2026-11-01".into()), what);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..12 {
            let t = Instant::now();
            let s = ops.usage_summary_of("bench", &q, by)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            last = Some(s);
        }
        let mut warm = times[1..].to_vec();
        warm.sort_by(|a, b| a.total_cmp(b));
        let s = last.context("no summary")?;
        println!("| {name} | {} | {} | {:.1} | {:.1} |", s.requests, s.groups.len(), warm[warm.len() / 2], warm[warm.len() - 1]);
    }
    println!();
    record_pages(ops)
}

/// Pages of 100 records of the same month, newest first, with filters: the
/// first page and one deep in the month (the cursor a reader reaches after
/// paging back to its second day).
fn record_pages(ops: &mut argus_ops::Ops) -> Result<()> {
    use argus_domain::analytics::RecordFilter;
    let deep = argus_domain::time::to_nanos(DateTime::parse_from_rfc3339("2026-10-02T00:00:00+02:00")?.with_timezone(&Utc));
    let cases: Vec<(&str, RecordFilter)> = vec![
        ("no filter", RecordFilter::default()),
        ("`--provider openai`", RecordFilter { provider: Some("openai".into()), ..Default::default() }),
        ("`--investigation INV-17`", RecordFilter { investigation: Some("INV-17".into()), ..Default::default() }),
        ("`--user u3 --provider openai`", RecordFilter { user: Some("u3".into()), provider: Some("openai".into()), ..Default::default() }),
    ];
    println!("Pages of 100 records of the same month, newest first (`usage records --order time_desc`), in process (median of 11 calls after one):\n");
    println!("| filter | first page, ms | deep page (2 October), ms |\n|---|---:|---:|");
    for (name, what) in cases {
        let mut cols = Vec::new();
        for cursor in [None, Some(format!("{deep}:0"))] {
            let q = argus_ops::analytics::RecordQuery {
                limit: Some(100),
                order: Some("time_desc".into()),
                cursor,
                ..argus_ops::analytics::RecordQuery::of(Some("2026-10-01".into()), Some("2026-11-01".into()), what.clone())
            };
            let mut times = Vec::new();
            for _ in 0..12 {
                let t = Instant::now();
                let page = ops.usage_records("bench", &q)?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(!page.records.is_empty(), "{name}: the month has records before the cursor");
            }
            let mut warm = times[1..].to_vec();
            warm.sort_by(|a, b| a.total_cmp(b));
            cols.push(warm[warm.len() / 2]);
        }
        println!("| {name} | {:.1} | {:.1} |", cols[0], cols[1]);
    }
    println!();
    Ok(())
}

/// The whole `argus-usage usage summary` command, process start included:
/// the binary built beside this one (`cargo build --release -p argus-cli`).
fn cli_summary(db: &Path) -> Result<()> {
    let bin = std::env::current_exe()?.with_file_name("argus-usage");
    if !bin.exists() {
        println!("(The whole-command figure needs `{}`: build it with `cargo build --release -p argus-cli`.)\n", bin.display());
        return Ok(());
    }
    let mut times = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        let out = std::process::Command::new(&bin)
            .args(["usage", "summary", "--org", "bench", "--from", "2026-10-01", "--to", "2026-11-01", "--by", "provider", "--json"])
            .env("ARGUS_USAGE_DB", db)
            .output()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(out.status.success(), "argus-usage failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "The whole command `argus-usage usage summary --by provider --json` (process start, opening the store, the summary, the output): median {:.1} ms of 11 runs (fastest {:.1} ms, slowest {:.1} ms).\n",
        times[5], times[0], times[10]
    );
    Ok(())
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn bench_admit(dir: &Path, n: u64, workers: u64, seconds: u64) -> Result<()> {
    use argus_ops::controls::{BudgetChange, ProviderChange};
    std::fs::create_dir_all(dir)?;
    let db = dir.join("admit.db");
    fresh(&db)?;
    let file = dir.join("admit-100000.jsonl");
    if !file.exists() {
        write_jsonl(&file, "bench", 100_000, 30)?;
    }
    let clock = Arc::new(ManualClock::new(now()));
    let mut ops = Ops::open(&db, clock.clone() as Arc<dyn Clock>, "bench")?;
    ops.org_create("bench", None, "USD", "Europe/Berlin")?;
    ops.ingest(BufReader::new(std::fs::File::open(&file)?), |_| {})?;
    for p in ["openai", "anthropic"] {
        ops.provider_set(
            "bench",
            p,
            &ProviderChange { hourly_limit: Some(Some(100_000_000)), daily_limit: Some(Some(100_000_000)), ..Default::default() },
        )?;
    }
    ops.budget_set("bench", None, &BudgetChange { amount: Some("100000000".into()), hard_limit: Some(true), ..Default::default() })?;

    // In-process latency: one admission at a time, 10 ms of simulated time apart.
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        clock.advance(chrono::Duration::milliseconds(10));
        let t = Instant::now();
        let a = ops.admit("bench", if i % 2 == 0 { "openai" } else { "anthropic" }, Some("0.01"))?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(a.allowed, "admission refused: {:?}", a.message);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    drop(ops);

    // Throughput: workers on their own connections, for a few seconds, on the real clock.
    let stop = Instant::now() + std::time::Duration::from_secs(seconds);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let db = db.clone();
            let clock = clock.clone();
            std::thread::spawn(move || -> Result<u64> {
                let mut ops = Ops::open(&db, clock as Arc<dyn Clock>, "bench")?;
                let mut k = 0;
                while Instant::now() < stop {
                    ops.admit("bench", if (w + k) % 2 == 0 { "openai" } else { "anthropic" }, Some("0.01"))?;
                    k += 1;
                }
                Ok(k)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
    }
    println!("### Admission (quota check + budget check + reservation, one transaction)\n");
    println!("The store holds 100,000 records of the month; two providers with hourly and daily quotas; a hard-limited budget; each admission holds an estimated cost.\n");
    println!("| measure | value |\n|---|---:|");
    println!("| in-process latency, p50 ({n} admissions, one at a time) | {:.0} µs |", percentile(&lat, 0.50));
    println!("| in-process latency, p99 | **{:.0} µs** |", percentile(&lat, 0.99));
    println!("| in-process latency, max | {:.0} µs |", lat[lat.len() - 1]);
    println!(
        "| admissions per second, {workers} concurrent workers (own connections, {seconds} s) | **{:.0}** |\n",
        total as f64 / seconds as f64
    );
    Ok(())
}

/// A clock that starts at the benchmarks' fixed `now()` and then flows with
/// real time: dates stay reproducible, latencies and windows are real.
struct FlowingClock {
    start: DateTime<Utc>,
    t0: Instant,
}

impl Clock for FlowingClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.t0.elapsed()).unwrap_or_default()
    }
}

/// Admissions at a fixed rate, open loop: the i-th is due at `i / rate` s,
/// and its latency is counted from when it was due, not from when its task
/// got to send it (no coordinated omission: a stall delays the requests due
/// behind it, and their latency says so). Returns the sorted latencies in
/// ms, how many were allowed, how many were sent, and the seconds taken.
async fn admit_at_rate(cs: &[argus_client::api::Client], rate: u64, seconds: u64) -> Result<(Vec<f64>, u64, u64, f64)> {
    let interval = std::time::Duration::from_secs_f64(1.0 / rate as f64);
    let n = rate * seconds;
    let mut handles = Vec::with_capacity(n as usize);
    let t_start = tokio::time::Instant::now();
    for i in 0..n {
        let due = t_start + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let c = cs[i as usize % cs.len()].clone();
        handles.push(tokio::spawn(async move {
            let a = c.post("/orgs/bench/admit", &serde_json::json!({"provider": "openai", "estimated_cost": "0.001"})).await;
            let done = tokio::time::Instant::now();
            (done.duration_since(due).as_secs_f64() * 1000.0, a.map(|a| a.status).unwrap_or(0), due.duration_since(t_start).as_secs_f64())
        }));
    }
    let (mut lat, mut slow, mut ok) = (Vec::new(), Vec::new(), 0);
    for h in handles {
        let (l, s, at) = h.await?;
        lat.push(l);
        slow.push((l, at));
        ok += u64::from(s == 200);
    }
    // On stderr: when the slowest admissions were due (to tell stalls from noise).
    slow.sort_by(|a, b| b.0.total_cmp(&a.0));
    let worst: Vec<String> = slow.iter().take(12).map(|(l, at)| format!("{l:.1}ms@{at:.2}s")).collect();
    eprintln!("slowest admissions: {}", worst.join(" "));
    let elapsed = t_start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok((lat, ok, n, elapsed))
}

/// `clients` tasks posting batches of 100 records until `stop` is set;
/// returns the records accepted and the sorted batch latencies in ms.
async fn post_records(
    cs: &[argus_client::api::Client],
    clients: u64,
    tag: &str,
    stop: Arc<std::sync::atomic::AtomicBool>,
    rate: u64,
) -> Result<(u64, Vec<f64>)> {
    let mut tasks = Vec::new();
    // Paced: each client sends its batches of 100 at fixed times; 0: back to back.
    let every = (rate > 0).then(|| std::time::Duration::from_secs_f64(clients as f64 * 100.0 / rate as f64));
    let start = tokio::time::Instant::now();
    for t in 0..clients {
        let (c, stop, tag) = (cs[t as usize % cs.len()].clone(), stop.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut accepted = 0u64;
            let mut b = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(every) = every {
                    tokio::time::sleep_until(start + every.mul_f64(b as f64 + t as f64 / clients as f64)).await;
                }
                let batch: Vec<serde_json::Value> = (0..100)
                    .map(|i| serde_json::json!({"id": format!("{tag}{t}-{b}-{i}"), "provider": "openai", "model": "gpt-4o", "operation": "chat", "input_tokens": 1000 + i, "output_tokens": 100, "occurred_at": "2026-11-20T10:00:00Z"}))
                    .collect();
                let t0 = Instant::now();
                let a = c.post("/orgs/bench/records", &serde_json::Value::Array(batch)).await?;
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(a.status == 200, "status {}", a.status);
                accepted += a.body["accepted"].as_u64().unwrap_or(0);
                b += 1;
            }
            Ok::<_, anyhow::Error>((accepted, lat))
        }));
    }
    let mut accepted = 0;
    let mut lat = Vec::new();
    for t in tasks {
        let (a, l) = t.await??;
        accepted += a;
        lat.extend(l);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok((accepted, lat))
}

/// Records of the one organisation of a bench store, counted by the store.
fn stored_records(db: &Path) -> Result<i64> {
    let mut store = argus_store::Store::open(db)?;
    Ok(store.read(|r| argus_store::records::count(r, argus_domain::ids::OrgId(1)))?)
}

pub(crate) fn stop_after(seconds: u64) -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        s.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    stop
}

fn bench_server(
    dir: &Path,
    clients: u64,
    seconds: u64,
    admit_rate: u64,
    checkpoint_ms: u64,
    store_records: u64,
    ingest_rate: u64,
) -> Result<()> {
    use argus_client::api::Client;
    std::fs::create_dir_all(dir)?;
    let db = dir.join("server.db");
    fresh(&db)?;
    let (ingest_token, admin_token) = {
        let mut ops = open(&db)?;
        ops.org_create("bench", None, "USD", "UTC")?;
        (ops.token_create("bench", "ingest", Some("load"))?.token, ops.token_create("bench", "admin", None)?.token)
    };
    let preload = dir.join(format!("server-month-{store_records}.jsonl"));
    if store_records > 0 && !preload.exists() {
        write_jsonl(&preload, "bench", store_records, 26)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let clock = Arc::new(FlowingClock { start: now(), t0: Instant::now() });
        let mut config = argus_server::Config::new(db.clone(), clock.clone(), b"bench-server-key-0123456789".to_vec());
        config.checkpoint_every = std::time::Duration::from_millis(checkpoint_ms.max(1));
        let server = tokio::spawn(argus_server::run(listener, config, async {
            let _ = rx.await;
        }));
        let c = Client::new(&base, Some(&ingest_token));
        let admin = c.with_token(Some(&admin_token));
        admin.put("/orgs/bench/providers/openai", &serde_json::json!({"hourly_limit": 100000000}), None).await?;

        // Run 1, phase 1: admissions alone on an empty store.
        let (alat, ok, n, elapsed) = admit_at_rate(std::slice::from_ref(&c), admit_rate, seconds).await?;
        // Phase 2 (after the admissions, so that the checkpoint after a heavy ingest does not land in them): records alone.
        let (accepted, lat) = post_records(std::slice::from_ref(&c), clients, "l", stop_after(seconds), 0).await?;

        // Run 2: a store holding a month of records, admissions at the same
        // rate while the clients post records at the same time.
        if store_records > 0 {
            let (db2, file) = (db.clone(), preload.clone());
            let c2 = clock.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut ops = Ops::open(&db2, c2, "bench")?;
                let r = ops.ingest(BufReader::with_capacity(1 << 16, std::fs::File::open(&file)?), |_| {})?;
                anyhow::ensure!(r.accepted as u64 == store_records, "preloaded {} of {store_records}", r.accepted);
                Ok(())
            })
            .await??;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let posting = {
            let (c, stop) = (c.clone(), stop.clone());
            tokio::spawn(async move { post_records(std::slice::from_ref(&c), clients, "m", stop, ingest_rate).await })
        };
        let (mlat, mok, mn, melapsed) = admit_at_rate(std::slice::from_ref(&c), admit_rate, seconds).await?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (maccepted, _) = posting.await??;

        let stored = stored_records(&db)?;
        let expected = accepted + maccepted + store_records;
        anyhow::ensure!(stored as u64 == expected, "{stored} stored, {expected} accepted");

        let _ = tx.send(());
        let _ = server.await;
        let pace = if ingest_rate > 0 { format!("paced at {ingest_rate} records/s") } else { "as fast as they can".to_string() };
        println!("### The server on loopback\n");
        println!("Real server (`argus_server::run`) and real HTTP client (`argus_client`, reqwest) in one process on 127.0.0.1, {clients} concurrent clients, {seconds} s a phase. Admission latency is counted from when each request was due at the fixed rate (open loop, no coordinated omission).\n");
        println!("| measure | value |\n|---|---:|");
        println!("| `POST /records` alone, batches of 100: records per second | **{:.0}** |", accepted as f64 / seconds as f64);
        println!("| `POST /records` alone: p50 / p99 latency of a batch | {:.1} ms / {:.1} ms |", percentile(&lat, 0.5), percentile(&lat, 0.99));
        println!("| `POST /admit` alone at a fixed {admit_rate}/s, empty store: achieved | {:.0}/s ({ok} of {n} allowed) |", n as f64 / elapsed);
        println!("| `POST /admit` alone, empty store: p50 / p99 latency | {:.2} ms / **{:.2} ms** |", percentile(&alat, 0.5), percentile(&alat, 0.99));
        println!("| `POST /admit` at {admit_rate}/s on a store of {store_records} records of the month, with {clients} clients posting records meanwhile ({pace}): achieved | {:.0}/s ({mok} of {mn} allowed) |", mn as f64 / melapsed);
        println!("| the same: p50 / p99 latency | {:.2} ms / **{:.2} ms** |", percentile(&mlat, 0.5), percentile(&mlat, 0.99));
        println!("| records posted meanwhile: records per second | {:.0} |", maccepted as f64 / melapsed);
        println!("| records accepted / stored (each exactly once) | {expected} / {stored} |\n");
        Ok::<_, anyhow::Error>(())
    })
}

/// `argus-usage serve` processes on one store; killed when dropped.
struct Instances(Vec<std::process::Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `n` servers on `db` and gives their base URLs.
fn start_instances(bin: &Path, db: &Path, n: usize) -> Result<(Instances, Vec<String>)> {
    let (mut children, mut bases) = (Instances(Vec::new()), Vec::new());
    for _ in 0..n {
        let mut child = std::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ARGUS_USAGE_DB", db)
            .env_remove("ARGUS_USAGE_LOG")
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stderr.take().context("serve's stderr")?).lines();
        children.0.push(child);
        let addr = loop {
            let l = lines.next().context("serve ended before saying where it listens")??;
            if let Some(rest) = l.split("http://").nth(1) {
                break rest.trim_end_matches("/api/v1 (Ctrl-C to stop)").to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        bases.push(format!("http://{addr}"));
    }
    Ok((children, bases))
}

fn bench_cluster(dir: &Path, clients: u64, seconds: u64, admit_rate: u64, pg: Option<&str>) -> Result<()> {
    use argus_client::api::Client;
    std::fs::create_dir_all(dir)?;
    let bin = std::env::current_exe()?.with_file_name("argus-usage");
    anyhow::ensure!(bin.exists(), "the cluster benchmark runs {}: build it with `cargo build --release -p argus-cli`", bin.display());
    let mut setups: Vec<(String, PathBuf, usize)> = vec![("one server, SQLite".into(), dir.join("cluster.db"), 1)];
    match pg {
        Some(base) => {
            let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
            for n in [1, 3] {
                let url = argus_store::pg::create_database(base, &format!("bench_{n}_{stamp}"))?;
                setups.push((format!("{n} instance{} on one PostgreSQL", if n > 1 { "s" } else { "" }), PathBuf::from(url), n));
            }
        }
        None => eprintln!("no --pg (nor ARGUS_TEST_PG): SQLite only"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = Vec::new();
    for (name, db, n) in &setups {
        if !argus_ops::is_postgres(db) {
            fresh(db)?;
        }
        let (ingest, admin) = {
            let mut ops = open(db)?;
            ops.org_create("bench", None, "USD", "UTC")?;
            (ops.token_create("bench", "ingest", Some("load"))?.token, ops.token_create("bench", "admin", None)?.token)
        };
        let (_instances, bases) = start_instances(&bin, db, *n)?;
        let row = rt.block_on(async {
            let cs: Vec<Client> = bases.iter().map(|b| Client::new(b, Some(&ingest))).collect();
            cs[0]
                .with_token(Some(&admin))
                .put("/orgs/bench/providers/openai", &serde_json::json!({"hourly_limit": 100000000}), None)
                .await?;
            let (accepted, lat) = post_records(&cs, clients, "c", stop_after(seconds), 0).await?;
            let (alat, ok, sent, elapsed) = admit_at_rate(&cs, admit_rate, seconds).await?;
            Ok::<_, anyhow::Error>(format!(
                "| {name} | **{:.0}** | {:.1} ms | {:.0}/s ({ok} of {sent} allowed) | {:.2} ms | **{:.2} ms** |",
                accepted as f64 / seconds as f64,
                percentile(&lat, 0.99),
                sent as f64 / elapsed,
                percentile(&alat, 0.5),
                percentile(&alat, 0.99)
            ))
        })?;
        let stored = stored_records(db)?;
        anyhow::ensure!(stored > 0, "{name}: nothing stored");
        rows.push(row);
    }
    println!("### One SQLite server, one PostgreSQL instance, three\n");
    println!("Real `argus-usage serve` processes on 127.0.0.1, {clients} clients posting batches of 100 as fast as they can (spread over the instances), then `POST /admit` at a fixed {admit_rate}/s (spread likewise; latency from when each was due), {seconds} s each, one run after the other on this machine.\n");
    println!(
        "| setup | records/s | p99 of a batch | admissions achieved | admission p50 | admission p99 |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        println!("{r}");
    }
    println!();
    Ok(())
}

/// A store of `n` records of org `bench` over 90 days (made once, then reused).
fn records_store(dir: &Path, n: u64) -> Result<PathBuf> {
    let db = dir.join(format!("export-{n}.db"));
    if !db.exists() {
        let file = dir.join(format!("ingest-{n}.jsonl"));
        if !file.exists() {
            write_jsonl(&file, "bench", n, 90)?;
        }
        let mut ops = open(&db)?;
        ops.org_create("bench", None, "USD", "Europe/Berlin")?;
        ops.ingest(BufReader::with_capacity(1 << 16, std::fs::File::open(&file)?), |_| {})?;
    }
    Ok(db)
}

/// A first sync of a store of `n` records from a server on loopback, then
/// incremental syncs with nothing new.
fn bench_sync(dir: &Path, n: u64, page: i64) -> Result<()> {
    use argus_client::remote::HttpRemote;
    use argus_ops::sync::SyncOptions;
    std::fs::create_dir_all(dir)?;
    let server_db = records_store(dir, n)?;
    let token = open(&server_db)?.token_create("bench", "admin", Some("sync-bench"))?.token;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addr_tx.send(format!("http://{}", listener.local_addr()?))?;
            let config = argus_server::Config::new(server_db, Arc::new(argus_ops::SystemClock), b"bench-server-key-0123456789".to_vec());
            argus_server::run(listener, config, async {
                let _ = stop_rx.await;
            })
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
        })
    });
    let base = addr_rx.recv()?;
    let local = dir.join("sync-local.db");
    fresh(&local)?;
    let remote = HttpRemote::new(&base, &token);
    let mut ops = Ops::open(&local, Arc::new(argus_ops::SystemClock), "bench")?;
    ops.sync_link(&remote, "bench")?;
    let opts = SyncOptions { page, ..SyncOptions::default() };
    reset_peak_rss();
    let t = Instant::now();
    let r = ops.sync(&remote, &opts, &mut |_| {})?;
    let first = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    anyhow::ensure!(r.records == n, "synced {} of {n}", r.records);
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = ops.sync(&remote, &opts, &mut |_| {})?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(r.records == 0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let _ = stop_tx.send(());
    server.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    println!(
        "### Sync over loopback
"
    );
    println!("First sync of {n} records in pages of {page}: {first:.2} s ({:.0} records/s), peak memory of the syncing process {peak:.0} MiB (the server runs in the same process).
", n as f64 / first);
    println!(
        "Incremental sync with nothing new (health, outbox, prices, budgets, providers, alerts, audit, one empty page of records): median {:.1} ms of 20 (fastest {:.1} ms, slowest {:.1} ms).\n",
        times[10], times[0], times[19]
    );
    Ok(())
}

fn bench_export(dir: &Path, n: u64, pdf_store: u64) -> Result<()> {
    use argus_reports::{export, ExportRequest, Filters, Format, Kind};
    std::fs::create_dir_all(dir)?;
    let db = records_store(dir, n)?;
    let mut ops = open(&db)?;
    println!("### Export of {n} records\n");
    println!("| format | seconds | records/s | peak memory during the export | file size |\n|---|---:|---:|---:|---:|");
    for (format, ext) in [(Format::Csv, "csv"), (Format::Json, "json")] {
        let req = ExportRequest {
            org: "bench".into(),
            from: Some("2026-01-01".into()),
            to: Some("2027-01-01".into()),
            filters: Filters::default(),
            audit: Default::default(),
            kind: Kind::Records,
            by: None,
            format,
            meta_comments: false,
        };
        let path = dir.join(format!("export.{ext}"));
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        reset_peak_rss();
        let before = peak_rss_mib();
        let t = Instant::now();
        let m = export(&mut ops, &req, &mut w, &mut |_, _| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
        w.flush()?;
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_rss_mib();
        anyhow::ensure!(m.record_count as u64 == n, "exported {} of {n}", m.record_count);
        let size = std::fs::metadata(&path)?.len() as f64 / 1e6;
        println!("| {ext} | {secs:.2} | {:.0} | {peak:.0} MiB (at start {before:.0} MiB) | {size:.0} MB |", n as f64 / secs);
    }
    let big = dir.join(format!("store-{pdf_store}.db"));
    if big.exists() {
        let mut ops = open(&big)?;
        let req = ExportRequest {
            org: "bench".into(),
            from: Some("2026-10-01".into()),
            to: Some("2026-11-01".into()),
            filters: Filters::default(),
            audit: Default::default(),
            kind: Kind::Summary,
            by: Some("provider".into()),
            format: Format::Pdf,
            meta_comments: false,
        };
        let mut times = Vec::new();
        for _ in 0..3 {
            let mut buf = Vec::new();
            let t = Instant::now();
            let m = export(&mut ops, &req, &mut buf, &mut |_, _| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed().as_secs_f64());
            anyhow::ensure!(m.totals.requests > 0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("\nPDF monthly summary (October 2026, by provider) of the {pdf_store}-record store: median {:.2} s of 3 runs (fastest {:.2} s, slowest {:.2} s).\n", times[1], times[0], times[2]);
    } else {
        println!("\n(The PDF figure needs the store of `argus-bench summary --records {pdf_store}`.)\n");
    }
    Ok(())
}

mod gateway;

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Ingest { records } => bench_ingest(&cli.dir, records),
        Cmd::Summary { records } => bench_summary(&cli.dir, records),
        Cmd::Admit { admissions, workers, seconds } => bench_admit(&cli.dir, admissions, workers, seconds),
        Cmd::Cluster { clients, seconds, admit_rate, pg } => bench_cluster(&cli.dir, clients, seconds, admit_rate, pg.as_deref()),
        Cmd::Server { clients, seconds, admit_rate, checkpoint_ms, store_records, ingest_rate } => {
            bench_server(&cli.dir, clients, seconds, admit_rate, checkpoint_ms, store_records, ingest_rate)
        }
        Cmd::Export { records, pdf_store_records } => bench_export(&cli.dir, records, pdf_store_records),
        Cmd::Gateway { seconds, rates, clients, other, other_key, upstream_port } => {
            gateway::run(&cli.dir, &gateway::Plan { seconds, rates, clients, other, other_key, upstream_port })
        }
        Cmd::Sync { records, page } => bench_sync(&cli.dir, records, page),
    }
}
