//! The demo organisation: about three months of realistic usage ending now.
//!
//! Deterministic for a given clock: a small seeded generator, no system
//! randomness. It has several providers and models, the four operations,
//! investigations and users, a weekday rhythm with office hours, a
//! negotiated price change half way, a model without a price (unpriced
//! records) and a few failed calls.
use crate::api::DemoReport;
use crate::ingest::Item;
use crate::{Ops, OpsError, Result};
use argus_domain::price::Tokens;
use argus_domain::record::UsageInput;
use argus_domain::time::{day_start, fmt_instant, local_day};
use argus_domain::ErrorCode;
use chrono::{Datelike, Duration, Weekday};

/// SplitMix64: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, weighted: &'a [(T, u64)]) -> &'a T {
        let total: u64 = weighted.iter().map(|w| w.1).sum();
        let mut x = self.below(total);
        for (t, w) in weighted {
            if x < *w {
                return t;
            }
            x -= w;
        }
        &weighted[0].0
    }
}

const MODELS: &[((&str, &str), u64)] = &[
    (("openai", "gpt-4o"), 24),
    (("openai", "gpt-4o-mini"), 20),
    (("anthropic", "claude-sonnet-4-5"), 20),
    (("anthropic", "claude-haiku-4-5"), 10),
    (("google", "gemini-2.5-flash"), 12),
    (("google", "gemini-2.5-pro"), 5),
    (("mistral", "mistral-large-latest"), 7),
    // No list price in the catalogue: these records stay unpriced.
    (("mistral", "mistral-ocr-latest"), 2),
];

const OPERATIONS: &[(&str, u64)] = &[("chat", 40), ("knowledge_base", 25), ("document_analysis", 20), ("smart_field", 15)];

const USERS: &[&str] = &[
    "a.martin",
    "b.okafor",
    "c.nguyen",
    "d.schmidt",
    "e.rossi",
    "f.haddad",
    "g.kowalski",
    "h.tanaka",
    "i.silva",
    "j.murphy",
    "k.larsen",
    "l.dubois",
];

const INVESTIGATIONS: &[&str] = &[
    "INV-2026-0412 Harbour Logistics fraud",
    "INV-2026-0415 Supplier kickbacks",
    "INV-2026-0418 Expense misuse (regional)",
    "INV-2026-0421 Data leak - CRM export",
    "INV-2026-0427 Procurement irregularities",
    "INV-2026-0433 Whistleblower report 17",
    "INV-2026-0436 Insider trading review",
    "INV-2026-0440 Sanctions screening",
    "INV-2026-0444 Payroll anomalies",
    "INV-2026-0451 Vendor due diligence",
    "INV-2026-0457 Conflict of interest",
    "INV-2026-0462 Inventory shrinkage",
];

impl Ops {
    /// Creates the organisation `slug` (default `demo`) with about 92 days of
    /// usage up to now, and a negotiated gpt-4o price from 45 days ago.
    pub fn demo(&mut self, slug: &str) -> Result<DemoReport> {
        let org = self.org_create(slug, Some("Demo Investigations Ltd"), "USD", "Europe/Berlin").map_err(|e| {
            if e.code == ErrorCode::AlreadyExists {
                OpsError {
                    message: format!(
                        "organisation {slug:?} already exists; load the demo under another name with `argus-usage demo --org demo2`"
                    ),
                    ..e
                }
            } else {
                e
            }
        })?;
        let tz: chrono_tz::Tz = org.timezone.parse().map_err(|_| OpsError::new(ErrorCode::Internal, "demo time zone"))?;
        let now = self.now();
        let today = local_day(tz, now);
        let first = today - 92;
        let change_day = today - 45;
        let change_at = day_start(tz, change_day);
        let negotiated = format!(
            "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cached_input_per_mtok,cache_write_per_mtok,source\n\
             openai,gpt-4o,{},USD,2.00,8.00,1.00,,Demo: negotiated enterprise price\n",
            fmt_instant(change_at)
        );
        self.prices_import(&negotiated, Some(slug))?;

        let mut rng = Rng(0x5EED_0A26_u64 ^ (first as u64));
        let mut items = Vec::new();
        let mut n = 0usize;
        for day in first..=today {
            let start = day_start(tz, day);
            let date = argus_domain::time::day_date(day);
            let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
            // Slow growth over the quarter, quieter weekends.
            let growth = 100 + (day - first) as u64;
            let base = if weekend { rng.range(20, 45) } else { rng.range(170, 260) };
            let calls = base * growth / 140;
            for _ in 0..calls {
                // Office hours on weekdays (08:00-19:00), anywhere on weekends.
                let secs = if weekend { rng.below(86_400) } else { 8 * 3600 + rng.below(11 * 3600) };
                let at = start + Duration::seconds(secs as i64) + Duration::milliseconds(rng.below(1000) as i64);
                if at > now {
                    continue;
                }
                let (provider, model) = *rng.pick(MODELS);
                let operation = *rng.pick(OPERATIONS);
                let (input, output) = match operation {
                    "document_analysis" => (rng.range(12_000, 80_000), rng.range(400, 2_500)),
                    "knowledge_base" => (rng.range(2_500, 14_000), rng.range(200, 1_200)),
                    "smart_field" => (rng.range(400, 2_000), rng.range(20, 200)),
                    _ => (rng.range(800, 8_000), rng.range(150, 1_500)),
                };
                let cacheable = operation == "knowledge_base" && provider != "mistral";
                let cached = if cacheable { rng.range(1_000, 8_000) } else { 0 };
                let cache_write = if cacheable && provider == "anthropic" && rng.below(5) == 0 { rng.range(1_000, 4_000) } else { 0 };
                let failure = rng.below(100);
                let status = match failure {
                    0 => "error",
                    1 => "timeout",
                    2 if provider == "openai" => "rate_limited",
                    _ => "ok",
                };
                let output = if status == "ok" { output } else { 0 };
                let investigation = if operation == "smart_field" && rng.below(3) == 0 {
                    None
                } else {
                    Some(INVESTIGATIONS[rng.below(INVESTIGATIONS.len() as u64) as usize].to_string())
                };
                let user = Some(USERS[rng.below(USERS.len() as u64) as usize].to_string());
                n += 1;
                let input = UsageInput {
                    id: Some(format!("demo-{slug}-{n:07}")),
                    org: slug.to_string(),
                    provider: provider.to_string(),
                    model: model.to_string(),
                    operation: operation.to_string(),
                    investigation,
                    user,
                    tokens: Tokens { input, output, cached_input: cached, cache_write, cache_write_1h: 0 },
                    status: status.to_string(),
                    latency_ms: Some(if status == "timeout" { 60_000 } else { 300 + input / 20 + rng.below(900) }),
                    occurred_at: at,
                    reservation_id: None,
                    detail: Default::default(),
                    service_tier: Default::default(),
                    token: None,
                };
                items.push(Item { line: n, parsed: Ok(input), fallback_id: String::new() });
            }
        }
        let mut unpriced = 0;
        let mut written = 0;
        for chunk in items.chunks(crate::ingest::BATCH_LINES) {
            let (report, _) = self.write_items(chunk)?;
            unpriced += report.unpriced;
            written += report.accepted;
        }
        for (i, p) in ["openai", "anthropic", "google", "mistral"].iter().enumerate() {
            let change = crate::controls::ProviderChange { priority: Some(i as i64 + 1), ..Default::default() };
            self.provider_set(slug, p, &change)?;
        }
        // A default monthly budget the current month is about 85 % through,
        // so that the 80 % alert has fired and the projection crosses it.
        let status = self.budget_status(slug, None)?;
        let amount = (status.spent.decimal() / rust_decimal::Decimal::new(85, 2) / rust_decimal::Decimal::from(10)).ceil()
            * rust_decimal::Decimal::from(10);
        let amount = amount.max(rust_decimal::Decimal::from(100));
        self.budget_set(slug, None, &crate::controls::BudgetChange { amount: Some(amount.to_string()), ..Default::default() })?;
        Ok(DemoReport { org: slug.to_string(), from: fmt_instant(day_start(tz, first)), to: fmt_instant(now), records: written, unpriced })
    }
}
