//! Pricing as providers bill it, through the facade on real SQLite files:
//! the catalogue, LiteLLM's price file, tiers, service tiers, 1-hour cache
//! writes and `prices check`.
use argus_domain::price::{RawPrice, PRICE_KEYS};
use argus_domain::time::{Clock, ManualClock};
use argus_ops::prices::{parse_price_file, BUILTIN_CATALOGUE};
use argus_ops::Ops;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn open() -> (tempfile::TempDir, Ops, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-12-01T12:00:00Z")));
    let ops = Ops::open(&argus_store::pg::test_store(dir.path(), "usage.db").unwrap(), clock.clone() as Arc<dyn Clock>, "test").unwrap();
    (dir, ops, clock)
}

fn call(ops: &mut Ops, provider: &str, model: &str, extra: Value) -> argus_ops::api::RecordView {
    let mut v = json!({"org": "acme", "provider": provider, "model": model, "operation": "chat",
                       "input_tokens": 1000, "output_tokens": 100, "occurred_at": "2026-11-20T10:00:00Z"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    ops.record(&v).unwrap()
}

#[test]
fn the_catalogue_loads_and_every_row_is_well_formed() {
    let rows = parse_price_file(BUILTIN_CATALOGUE).unwrap();
    assert!(rows.len() >= 150, "every current chat and embedding model, with its tiers: {}", rows.len());
    let header = BUILTIN_CATALOGUE.lines().next().unwrap();
    assert_eq!(header, PRICE_KEYS.join(","), "the catalogue uses every column of the import format");
    let mut identities = BTreeSet::new();
    let mut standard: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (line, raw) in rows {
        let raw: RawPrice = raw.unwrap_or_else(|e| panic!("line {line}: {e}"));
        let p = raw.validate(chrono_tz::UTC).unwrap_or_else(|e| panic!("line {line}: {e:?}"));
        assert!(p.source.as_deref().is_some_and(|s| s.len() > 20), "line {line}: every row says where its figures come from");
        assert_eq!(p.currency, "USD", "line {line}: list prices are in USD");
        let id = (p.provider.clone(), p.model.clone(), p.effective_from, p.terms.service_tier, p.terms.above_input_tokens);
        assert!(identities.insert(id), "line {line}: one row per model, instant, service tier and threshold");
        if p.terms.service_tier == argus_domain::price::ServiceTier::Standard && p.terms.above_input_tokens.is_none() {
            *standard.entry((p.provider.clone(), p.model.clone())).or_default() += 1;
        }
        // A provider that bills cached input has the rate on every row of
        // its chat models, so that none of them depends on the input-rate fallback.
        if p.provider != "mistral" && !p.model.contains("embed") && !p.model.ends_with("-pro") {
            assert!(p.rates.cached_input_per_mtok.is_some(), "line {line}: {} has a cache-read rate", p.model);
        }
        if p.provider == "anthropic" {
            let (w, h) = (p.rates.cache_write_per_mtok, p.rates.cache_write_1h_per_mtok);
            assert!(w.is_some() && h.is_some(), "line {line}: Anthropic bills both cache writes");
            if p.terms.above_input_tokens.is_none() {
                assert_eq!(
                    h.unwrap(),
                    p.rates.input_per_mtok * rust_decimal::Decimal::from(2),
                    "line {line}: 1-hour writes cost twice the input rate"
                );
            }
        }
    }
    // The models price-facts.md lists as current, each with a standard row.
    for (p, m) in [
        ("openai", "gpt-5.1"),
        ("openai", "gpt-5.4"),
        ("openai", "gpt-6-sol"),
        ("openai", "text-embedding-3-small"),
        ("anthropic", "claude-sonnet-4-6"),
        ("anthropic", "claude-opus-4-5"),
        ("anthropic", "claude-haiku-5-5"),
        ("google", "gemini-3.1-pro-preview"),
        ("google", "gemini-3.5-flash"),
        ("mistral", "mistral-large-2512"),
        ("mistral", "codestral-2508"),
    ] {
        assert!(standard.contains_key(&(p.into(), m.into())), "{p}/{m} is in the catalogue");
    }
    assert_eq!(standard[&("mistral".into(), "mistral-large-latest".into())], 2, "the moved alias is a new version, the old one kept");
}

#[test]
fn moved_aliases_tiers_and_deprecation_as_the_catalogue_gives_them() {
    let (_d, mut ops, _c) = open();
    ops.org_create("acme", None, "USD", "UTC").unwrap();
    // Mistral Large: 2.00/6.00 until the alias moved, 0.50/1.50 since.
    let old = call(
        &mut ops,
        "mistral",
        "mistral-large-latest",
        json!({"occurred_at": "2025-11-30T23:59:59Z", "input_tokens": 1_000_000, "output_tokens": 0}),
    );
    let new = call(
        &mut ops,
        "mistral",
        "mistral-large-latest",
        json!({"occurred_at": "2025-12-01T00:00:00Z", "input_tokens": 1_000_000, "output_tokens": 0}),
    );
    assert_eq!((old.cost.unwrap().to_string(), new.cost.unwrap().to_string()), ("2.00".into(), "0.50".into()));
    // Gemini 2.5 Pro above 200k prompt tokens: every token at 2.50/15.00.
    let at_limit = call(&mut ops, "google", "gemini-2.5-pro", json!({"input_tokens": 200_000, "output_tokens": 1_000}));
    let above =
        call(&mut ops, "google", "gemini-2.5-pro", json!({"input_tokens": 199_000, "cached_input_tokens": 1_001, "output_tokens": 1_000}));
    assert_eq!(at_limit.cost.unwrap().to_string(), "0.26", "200,000 x 1.25 + 1,000 x 10, per million");
    // 199,000 x 2.50 + 1,001 x 0.25 + 1,000 x 15.00, per million
    assert_eq!(above.cost.unwrap().to_string(), "0.51275025");
    assert_ne!(at_limit.price_id, above.price_id, "the tier is its own version");
    // Batch: half the standard rates; priority, without a version of its own, the standard ones.
    let batch = call(&mut ops, "openai", "gpt-5", json!({"service_tier": "batch", "input_tokens": 1_000_000, "output_tokens": 0}));
    assert_eq!((batch.cost.unwrap().to_string(), batch.service_tier.as_str()), ("0.625".into(), "batch"));
    let priority = call(&mut ops, "openai", "gpt-4.1", json!({"service_tier": "priority", "input_tokens": 1_000_000, "output_tokens": 0}));
    assert_eq!(priority.cost.unwrap().to_string(), "2.00");
    // Anthropic's 1-hour cache writes at twice the input rate, the 5-minute ones at 1.25 times.
    let cached = call(
        &mut ops,
        "anthropic",
        "claude-haiku-4-5",
        json!({"input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 1_000_000, "cache_write_1h_tokens": 1_000_000}),
    );
    assert_eq!(cached.cost.unwrap().to_string(), "3.25");
    assert_eq!(cached.cache_write_1h_tokens, 1_000_000);
    // The summary counts the fifth kind like the others.
    let s = ops.usage_summary("acme", Some("2025-01-01"), Some("2027-01-01"), None).unwrap();
    assert_eq!(s.cache_write_1h_tokens, 1_000_000);

    let list = ops.prices_list(None, Some("anthropic")).unwrap();
    let retired = list.iter().find(|p| p.model == "claude-3-5-haiku").unwrap();
    assert_eq!((retired.deprecation_date.as_deref(), retired.deprecated), (Some("2025-10-01"), true));

    let check = ops.prices_check("acme").unwrap();
    let problems: BTreeSet<(String, String)> = check.findings.iter().map(|f| (f.model.clone(), f.problem.clone())).collect();
    assert!(problems.contains(&("gpt-4.1".into(), "service_tier_fallback".into())), "{problems:?}");
    assert!(problems.contains(&("gemini-2.5-pro".into(), "deprecated".into())), "retired on 2026-12-01: {problems:?}");
    assert!(!problems.iter().any(|(m, _)| m == "claude-haiku-4-5"), "a current model with every rate is fine: {problems:?}");
    assert_eq!(check.records, 7);
}

/// A LiteLLM-format file as users keep it, with values that float parsing
/// distorts (1.1e-07 read as a double is 0.10999999999999999 per million).
const LITELLM: &str = r#"{
    "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "one of: chat, embedding"},
    "gemini/gemini-x-pro": {
        "input_cost_per_token": 1.1e-07, "output_cost_per_token": 3.3e-07, "cache_read_input_token_cost": 1.1e-08,
        "input_cost_per_token_above_200k_tokens": 2.2e-07, "output_cost_per_token_above_200k_tokens": 4.4e-07,
        "input_cost_per_token_batches": 5.5e-08, "output_cost_per_token_batches": 1.65e-07,
        "litellm_provider": "gemini", "mode": "chat", "deprecation_date": "2027-06-30"
    },
    "gemini-x-pro": {"input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06, "litellm_provider": "vertex_ai-language-models", "mode": "chat"},
    "claude-x": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07,
                 "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
                 "litellm_provider": "anthropic", "mode": "chat"},
    "gpt-x": {"input_cost_per_token": 0.00000125, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-07,
              "input_cost_per_token_priority": 2.5e-06, "output_cost_per_token_priority": 2e-05,
              "input_cost_per_token_above_272k_tokens_priority": 5e-06,
              "litellm_provider": "openai", "mode": "chat"},
    "text-embedding-x": {"input_cost_per_token": 2e-08, "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "embedding"},
    "mistral/mistral-x": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07, "litellm_provider": "mistral", "mode": "chat"},
    "dall-e-x": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04},
    "anthropic.claude-x": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "litellm_provider": "bedrock", "mode": "chat"},
    "gpt-broken": {"input_cost_per_token": "cheap", "output_cost_per_token": 1e-05, "litellm_provider": "openai", "mode": "chat"}
}"#;

#[test]
fn litellm_price_file_is_read_exactly_and_reimported_without_duplicates() {
    let (_d, mut ops, clock) = open();
    let r = ops.prices_import_litellm(LITELLM, None, Some("2026-11-01")).unwrap();
    assert_eq!(r.entries, Some(10));
    let skipped: BTreeMap<&str, usize> = r.skipped.iter().map(|s| (s.reason.as_str(), s.entries)).collect();
    assert_eq!(skipped.get("mode image_generation"), Some(&1));
    assert_eq!(skipped.get("provider bedrock"), Some(&1));
    assert_eq!(skipped.get("another entry of the same model"), Some(&1), "the Gemini API's entry wins over Vertex AI's");
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert!(r.rejected[0].error.contains("gpt-broken") && r.rejected[0].line == 21, "{:?}", r.rejected[0]);
    // gemini: standard, above 200k, batch; claude; gpt: standard, priority, priority above 272k; embedding; mistral
    assert_eq!(r.added, 9, "{:?}", r.prices.iter().map(|p| (&p.model, &p.service_tier, p.above_input_tokens)).collect::<Vec<_>>());
    let find = |tier: &str, above: Option<u64>, model: &str| {
        r.prices.iter().find(|p| p.model == model && p.service_tier == tier && p.above_input_tokens == above).unwrap().clone()
    };
    let g = find("standard", None, "gemini-x-pro");
    assert_eq!((g.provider.as_str(), g.input_per_mtok.as_str(), g.output_per_mtok.as_str()), ("google", "0.11", "0.33"));
    assert_eq!((g.cached_input_per_mtok.as_deref(), g.deprecation_date.as_deref()), (Some("0.011"), Some("2027-06-30")));
    assert_eq!(g.effective_from, "2026-11-01T00:00:00Z");
    let tier = find("standard", Some(200_000), "gemini-x-pro");
    assert_eq!(
        (tier.input_per_mtok.as_str(), tier.output_per_mtok.as_str(), tier.cached_input_per_mtok.as_deref()),
        ("0.22", "0.44", Some("0.011"))
    );
    assert_eq!(find("batch", None, "gemini-x-pro").input_per_mtok, "0.055");
    let c = find("standard", None, "claude-x");
    assert_eq!((c.cache_write_per_mtok.as_deref(), c.cache_write_1h_per_mtok.as_deref()), (Some("3.75"), Some("6")));
    let p = find("priority", Some(272_000), "gpt-x");
    assert_eq!((p.input_per_mtok.as_str(), p.output_per_mtok.as_str()), ("5", "20"), "output from the priority tier below the threshold");
    assert_eq!(find("standard", None, "text-embedding-x").output_per_mtok, "0");
    assert_eq!(find("standard", None, "mistral-x").provider, "mistral");

    // The same file again, later and without --effective-from: nothing new.
    clock.set(at("2026-12-01T12:00:00Z"));
    let again = ops.prices_import_litellm(LITELLM, None, None).unwrap();
    assert_eq!((again.added, again.unchanged), (0, 9));
    // One changed rate: its model's versions are added again, in force now.
    let changed = LITELLM.replace("\"output_cost_per_token\": 6e-07", "\"output_cost_per_token\": 7e-07");
    let r = ops.prices_import_litellm(&changed, None, None).unwrap();
    assert_eq!((r.added, r.unchanged), (1, 8));
    let m = r.prices.iter().find(|p| p.model == "mistral-x" && p.effective_from == "2026-12-01T12:00:00Z").unwrap();
    assert_eq!(m.output_per_mtok, "0.7");

    // Priced by the file's versions, tier included.
    ops.org_create("acme", None, "USD", "UTC").unwrap();
    let above = call(&mut ops, "google", "gemini-x-pro", json!({"input_tokens": 300_000, "output_tokens": 1_000_000}));
    assert_eq!(above.cost.unwrap().to_string(), "0.506", "300,000 x 0.22 + 1,000,000 x 0.44, per million");
}

#[test]
fn a_price_file_with_the_new_columns_round_trips_and_refuses_what_is_wrong() {
    let (_d, mut ops, _c) = open();
    let csv = "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,cache_write_1h_per_mtok,service_tier,above_input_tokens,deprecation_date\n\
               acme-ai,m1,2026-01-01,USD,1,2,,standard,,\n\
               acme-ai,m1,2026-01-01,USD,3,4,,standard,100000,2027-01-01\n\
               acme-ai,m1,2026-01-01,USD,0.5,1,,batch,,\n\
               acme-ai,m1,2026-01-01,USD,1,2,,premium,,\n\
               acme-ai,m1,2026-01-01,USD,1,2,,standard,200k,\n";
    let r = ops.prices_import(csv, None).unwrap();
    assert_eq!(r.added, 3);
    let fields: Vec<_> = r.rejected.iter().map(|x| (x.line, x.field.clone().unwrap_or_default())).collect();
    assert_eq!(fields, vec![(5, "service_tier".to_string()), (6, "above_input_tokens".to_string())]);
    assert!(r.rejected[0].error.contains("standard, batch, flex or priority"), "{}", r.rejected[0].error);
    assert_eq!(ops.prices_import(csv, None).unwrap().added, 0, "re-importing adds nothing");
}

fn eur_call(ops: &mut Ops, id: &str, when: &str) -> Value {
    let r = ops.record(&json!({"id": id, "org": "eu", "provider": "openai", "model": "gpt-4o", "operation": "chat",
           "input_tokens": 1_000_000, "output_tokens": 100_000, "occurred_at": when}));
    serde_json::to_value(r.unwrap()).unwrap()
}

/// An organisation in EUR priced from the USD list prices: Friday, the
/// weekend across the end of October, and Monday.
#[test]
fn an_eur_organisation_across_a_weekend_and_a_month_boundary() {
    let (_d, mut ops, _c) = open();
    ops.org_create("eu", None, "EUR", "Europe/Paris").unwrap();
    let r = ops.fx_import("date,from,to,rate\n2026-10-29,USD,EUR,0.9200\n2026-10-30,USD,EUR,0.93\n", None).unwrap();
    assert_eq!((r.added, r.rejected.len()), (2, 0));
    // gpt-4o: 1M in x 2.50 + 100k out x 10.00 = 3.50 USD a call.
    let fri = eur_call(&mut ops, "fri", "2026-10-30T15:00:00+01:00");
    let sat = eur_call(&mut ops, "sat", "2026-10-31T15:00:00+01:00");
    let sun = eur_call(&mut ops, "sun", "2026-11-01T15:00:00+01:00");
    let mon = eur_call(&mut ops, "mon", "2026-11-02T15:00:00+01:00");
    assert_eq!((fri["cost"].as_str(), fri["currency"].as_str()), (Some("3.255"), Some("EUR")), "3.50 x 0.93");
    assert_eq!(
        (fri["source_cost"].as_str(), fri["source_currency"].as_str(), fri["fx_rate"].as_str(), fri["fx_date"].as_str()),
        (Some("3.50"), Some("USD"), Some("0.93"), Some("2026-10-30"))
    );
    for r in [&sat, &sun, &mon] {
        assert!(r["cost"].is_null(), "no rate of the day known yet: unconverted, never 0 and never USD: {r}");
        assert_eq!(r["source_cost"].as_str(), Some("3.50"));
    }
    let oct = ops.usage_summary("eu", Some("2026-10-01"), Some("2026-11-01"), None).unwrap();
    assert_eq!((oct.cost.to_string(), oct.unpriced_requests, oct.currency.as_str()), ("3.255".into(), 1, "EUR"));

    // Monday's rate arrives: the weekend takes Friday's, Monday its own.
    let r = ops.fx_import("date,from,to,rate\n2026-11-02,USD,EUR,0.94\n", None).unwrap();
    assert_eq!(r.waiting.len(), 1);
    assert_eq!((r.waiting[0].org.as_str(), r.waiting[0].records), ("eu", 3));
    let rep = ops.reprice("eu", None, None, true).unwrap();
    assert_eq!((rep.changed, rep.after_unpriced), (3, 0));
    let oct = ops.usage_summary("eu", Some("2026-10-01"), Some("2026-11-01"), None).unwrap();
    assert_eq!(oct.cost.to_string(), "6.51", "Friday and Saturday at 0.93");
    let used: Vec<(String, String, i64)> = oct.fx_rates.iter().map(|x| (x.date.clone(), x.rate.clone(), x.records)).collect();
    assert_eq!(used, vec![("2026-10-30".to_string(), "0.93".to_string(), 2)]);
    let nov = ops.usage_summary("eu", Some("2026-11-01"), Some("2026-12-01"), None).unwrap();
    assert_eq!(nov.cost.to_string(), "6.545", "Sunday at Friday's 0.93 (3.255), Monday at 0.94 (3.29)");
    let status = ops.budget_status("eu", Some("2026-11")).unwrap();
    assert_eq!((status.spent.to_string(), status.currency.as_str(), status.fx_rates.len()), ("6.545".into(), "EUR", 2));
    let again = ops.reprice("eu", None, None, true).unwrap();
    assert_eq!(again.changed, 0, "converted once, stable");

    // A negotiated price in EUR comes before the converted USD list price.
    ops.prices_import(
        "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nopenai,gpt-4o,2026-11-02,EUR,2,8\n",
        Some("eu"),
    )
    .unwrap();
    let r = ops
        .record(&json!({"id": "tue", "org": "eu", "provider": "openai", "model": "gpt-4o", "operation": "chat",
        "input_tokens": 1_000_000, "output_tokens": 0, "occurred_at": "2026-11-03T12:00:00Z"}))
        .unwrap();
    assert_eq!((r.cost.unwrap().to_string(), r.source_currency), ("2.00".into(), None));
    let rates = ops.fx_list(Some("eu")).unwrap();
    assert_eq!(rates.len(), 3);
}
