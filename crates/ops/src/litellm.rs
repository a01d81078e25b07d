//! LiteLLM's price file (`model_prices_and_context_window.json`) as price
//! versions: `prices import FILE --format litellm`.
//!
//! One entry (a key such as `gemini/gemini-2.5-pro`) gives up to one version
//! per service tier and prompt threshold: `input_cost_per_token` is the
//! standard rate, `input_cost_per_token_above_200k_tokens` a long-context
//! tier, `input_cost_per_token_batches` (`_flex`, `_priority`) a service
//! tier, `..._above_272k_tokens_priority` both. Per-token rates become rates
//! per million tokens exactly: numbers are read as their decimal text, never
//! through a float, so `1.1e-07` is 0.11. A rate a tier's version does not
//! give is the one of the same kind LiteLLM charges instead: the service
//! tier's own below the threshold, else the standard one above it, else the
//! standard one.
use crate::api::Skipped;
use crate::{OpsError, Result};
use argus_domain::price::{RawPrice, ServiceTier};
use argus_domain::ErrorCode;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};

/// The modes of entries read; others (images, audio, rerank...) are skipped.
const MODES: [&str; 3] = ["chat", "completion", "embedding"];

/// The provider of a `litellm_provider`, and how much its entries are
/// preferred when two name one model (the Gemini API's over Vertex AI's).
fn provider_of(litellm: &str) -> Option<(&'static str, u8)> {
    Some(match litellm {
        "openai" | "text-completion-openai" => ("openai", 0),
        "anthropic" => ("anthropic", 0),
        "gemini" => ("google", 0),
        "vertex_ai" | "vertex_ai-language-models" | "vertex_ai-embedding-models" | "vertex_ai-text-models" => ("google", 1),
        "mistral" => ("mistral", 0),
        "azure" | "azure_text" => ("azure", 0),
        _ => return None,
    })
}

/// The kinds of rate, in the order of a version's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Input,
    Output,
    Cached,
    Write,
    Write1h,
}

impl Kind {
    fn of(base: &str) -> Option<Kind> {
        Some(match base {
            "input_cost_per_token" => Kind::Input,
            "output_cost_per_token" => Kind::Output,
            "cache_read_input_token_cost" => Kind::Cached,
            "cache_creation_input_token_cost" => Kind::Write,
            "cache_creation_input_token_cost_above_1hr" => Kind::Write1h,
            _ => return None,
        })
    }
}

/// A rate key: its kind, prompt threshold and service tier.
fn split_key(key: &str) -> Option<(Kind, Option<u64>, ServiceTier)> {
    let (rest, tier) = [("_batches", ServiceTier::Batch), ("_flex", ServiceTier::Flex), ("_priority", ServiceTier::Priority)]
        .iter()
        .find_map(|(suffix, t)| key.strip_suffix(suffix).map(|r| (r, *t)))
        .unwrap_or((key, ServiceTier::Standard));
    let (base, above) = match rest.rfind("_above_") {
        Some(i) if rest.ends_with("k_tokens") => {
            let n: u64 = rest[i + "_above_".len()..rest.len() - "k_tokens".len()].parse().ok()?;
            (&rest[..i], Some(n * 1000))
        }
        _ => (rest, None),
    };
    Some((Kind::of(base)?, above, tier))
}

/// A per-token rate as decimal text, per million tokens, exactly.
fn per_mtok(text: &str) -> std::result::Result<Decimal, String> {
    let t = text.trim();
    let d = if t.contains(['e', 'E']) { Decimal::from_scientific(t) } else { Decimal::from_str_exact(t) };
    let d = d.map_err(|_| format!("{t} is not a number"))?;
    d.checked_mul(Decimal::from(1_000_000)).map(|x| x.normalize()).ok_or_else(|| format!("{t} is too large"))
}

/// The file, read: rows for the import (by the line of their entry), the
/// number of entries, and the entries skipped, by reason.
pub struct File {
    pub rows: crate::rows::Rows<RawPrice>,
    pub entries: usize,
    pub skipped: Vec<Skipped>,
}

/// The entry read for a model: its preference, line, key and fields.
type Chosen<'a> = (u8, usize, String, HashMap<String, &'a RawValue>);

/// Reads the file; every version takes effect at `effective_from`.
pub fn read(content: &str, effective_from: &str) -> Result<File> {
    let bad = |e: serde_json::Error| {
        OpsError::new(
            ErrorCode::BadInput,
            format!("the file is not LiteLLM's price file ({e}); give model_prices_and_context_window.json, an object of models"),
        )
    };
    let trimmed = content.trim_start_matches('\u{feff}');
    let map: HashMap<&str, &RawValue> = serde_json::from_str(trimmed).map_err(bad)?;
    let line_of = |raw: &RawValue| {
        let at = (raw.get().as_ptr() as usize).saturating_sub(trimmed.as_ptr() as usize).min(trimmed.len());
        trimmed.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1
    };
    let mut entries: Vec<(&str, &RawValue)> = map.into_iter().collect();
    entries.sort_by_key(|(_, raw)| raw.get().as_ptr() as usize);
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    // (provider, model) -> (preference, line, key, fields): one entry per model.
    let mut chosen: BTreeMap<(String, String), Chosen<'_>> = BTreeMap::new();
    for (key, raw) in &entries {
        let Ok(fields) = serde_json::from_str::<HashMap<String, &RawValue>>(raw.get()) else {
            *skipped.entry("not an object".into()).or_default() += 1;
            continue;
        };
        let text = |k: &str| fields.get(k).and_then(|v| serde_json::from_str::<String>(v.get()).ok());
        let mode = text("mode").unwrap_or_default();
        if !MODES.contains(&mode.as_str()) {
            let m = if mode.is_empty() { "(none)".to_string() } else { mode.chars().take(40).collect() };
            *skipped.entry(format!("mode {m}")).or_default() += 1;
            continue;
        }
        let litellm = text("litellm_provider").unwrap_or_default();
        let Some((provider, preference)) = provider_of(&litellm) else {
            let p = if litellm.is_empty() { "(none)".to_string() } else { litellm.chars().take(40).collect() };
            *skipped.entry(format!("provider {p}")).or_default() += 1;
            continue;
        };
        if !fields.contains_key("input_cost_per_token") {
            *skipped.entry("no input_cost_per_token".into()).or_default() += 1;
            continue;
        }
        // The model without the provider's prefix (`gemini/`, `mistral/`, `azure/`...).
        let model = match key.split_once('/') {
            Some((prefix, rest)) if prefix == litellm || provider_of(prefix).is_some() || prefix == "vertex_ai" => rest,
            _ => key,
        };
        let slot = (provider.to_string(), model.to_string());
        match chosen.get(&slot) {
            Some((p, ..)) if *p <= preference => *skipped.entry("another entry of the same model".into()).or_default() += 1,
            _ => {
                if chosen.insert(slot, (preference, line_of(raw), key.to_string(), fields)).is_some() {
                    *skipped.entry("another entry of the same model".into()).or_default() += 1;
                }
            }
        }
    }
    let mut rows = Vec::new();
    for ((provider, model), (_, line, key, fields)) in chosen {
        let mode = fields.get("mode").and_then(|v| serde_json::from_str::<String>(v.get()).ok()).unwrap_or_default();
        match versions(&provider, &model, &key, &mode, &fields, effective_from) {
            Ok(list) => rows.extend(list.into_iter().map(|r| (line, Ok(r)))),
            Err(e) => rows.push((line, Err(format!("entry {key:?}: {e}")))),
        }
    }
    rows.sort_by_key(|(line, _)| *line);
    Ok(File { rows, entries: entries.len(), skipped: skipped.into_iter().map(|(reason, entries)| Skipped { reason, entries }).collect() })
}

/// The versions of one entry.
fn versions(
    provider: &str,
    model: &str,
    key: &str,
    mode: &str,
    fields: &HashMap<String, &RawValue>,
    effective_from: &str,
) -> std::result::Result<Vec<RawPrice>, String> {
    type Group = (ServiceTier, Option<u64>);
    let mut groups: BTreeMap<Group, BTreeMap<Kind, Decimal>> = BTreeMap::new();
    for (k, v) in fields {
        let Some((kind, above, tier)) = split_key(k) else { continue };
        if v.get() == "null" {
            continue;
        }
        let rate = per_mtok(v.get()).map_err(|e| format!("field `{k}`: {e}"))?;
        groups.entry((tier, above)).or_default().insert(kind, rate);
    }
    let standard = groups.get(&(ServiceTier::Standard, None)).cloned().unwrap_or_default();
    if !standard.contains_key(&Kind::Output) && mode != "embedding" {
        return Err("has no output_cost_per_token".into());
    }
    let deprecation = fields.get("deprecation_date").and_then(|v| serde_json::from_str::<String>(v.get()).ok());
    let mut out = Vec::new();
    for (&(tier, above), rates) in &groups {
        // A tier's missing rates: its service tier's own, then the standard
        // tier's above the same threshold, then the standard ones.
        let fill = |kind: Kind| -> Option<Decimal> {
            rates
                .get(&kind)
                .or_else(|| groups.get(&(tier, None)).and_then(|g| g.get(&kind)))
                .or_else(|| groups.get(&(ServiceTier::Standard, above)).and_then(|g| g.get(&kind)))
                .or_else(|| standard.get(&kind))
                .copied()
        };
        if !rates.contains_key(&Kind::Input) && !rates.contains_key(&Kind::Output) {
            // Only cache rates of a tier: priced with its other rates, not on their own.
            continue;
        }
        let s = |kind: Kind| fill(kind).map(|d| d.to_string());
        let mut raw = RawPrice {
            provider: Some(provider.to_string()),
            model: Some(model.to_string()),
            effective_from: Some(effective_from.to_string()),
            currency: Some("USD".into()),
            input_per_mtok: s(Kind::Input),
            output_per_mtok: s(Kind::Output),
            cached_input_per_mtok: s(Kind::Cached),
            cache_write_per_mtok: s(Kind::Write),
            cache_write_1h_per_mtok: s(Kind::Write1h),
            service_tier: Some(tier.as_str().to_string()),
            above_input_tokens: above.map(|n| n.to_string()),
            deprecation_date: deprecation.clone(),
            source: Some(format!("LiteLLM model_prices_and_context_window.json, key {key}")),
        };
        if raw.input_per_mtok.is_none() {
            return Err("has no input_cost_per_token".into());
        }
        if mode == "embedding" && raw.output_per_mtok.is_none() {
            raw.output_per_mtok = Some("0".into());
        }
        out.push(raw);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_kind_threshold_and_tier() {
        assert_eq!(split_key("input_cost_per_token"), Some((Kind::Input, None, ServiceTier::Standard)));
        assert_eq!(split_key("output_cost_per_token_above_200k_tokens"), Some((Kind::Output, Some(200_000), ServiceTier::Standard)));
        assert_eq!(split_key("input_cost_per_token_above_272k_tokens_priority"), Some((Kind::Input, Some(272_000), ServiceTier::Priority)));
        assert_eq!(split_key("cache_read_input_token_cost_flex"), Some((Kind::Cached, None, ServiceTier::Flex)));
        assert_eq!(split_key("input_cost_per_token_batches"), Some((Kind::Input, None, ServiceTier::Batch)));
        assert_eq!(split_key("cache_creation_input_token_cost_above_1hr"), Some((Kind::Write1h, None, ServiceTier::Standard)));
        assert_eq!(
            split_key("cache_creation_input_token_cost_above_1hr_above_200k_tokens"),
            Some((Kind::Write1h, Some(200_000), ServiceTier::Standard))
        );
        assert_eq!(split_key("input_cost_per_audio_token"), None);
        assert_eq!(split_key("output_cost_per_reasoning_token"), None);
    }

    #[test]
    fn rates_are_exact_whatever_a_float_would_make_of_them() {
        for (text, want) in [("1.1e-07", "0.11"), ("3e-06", "3"), ("1.25e-06", "1.25"), ("0.0000025", "2.5"), ("2.5E-5", "25"), ("0", "0")]
        {
            assert_eq!(per_mtok(text).unwrap().to_string(), want, "{text}");
        }
        assert!(per_mtok("\"x\"").is_err());
    }
}
