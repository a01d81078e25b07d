//! Usage input: validation of one ingest line (or one record given on the
//! command line or over HTTP) and its content hash.
use crate::price::Tokens;
use crate::slug::{check_slug, check_text};
use crate::time::{accepted_range, to_nanos};
use crate::FieldError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Most tokens of one kind accepted in one record.
pub const MAX_TOKENS: u64 = 1_000_000_000;
/// Longest latency accepted: one day.
pub const MAX_LATENCY_MS: u64 = 86_400_000;

/// The keys of an ingest line, in the canonical order.
pub const KEYS: [&str; 15] = [
    "id",
    "org",
    "provider",
    "model",
    "operation",
    "investigation",
    "user",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "status",
    "latency_ms",
    "occurred_at",
    "reservation_id",
];

/// A validated usage record as given by a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageInput {
    pub id: Option<String>,
    pub org: String,
    pub provider: String,
    pub model: String,
    pub operation: String,
    pub investigation: Option<String>,
    pub user: Option<String>,
    pub tokens: Tokens,
    pub status: String,
    pub latency_ms: Option<u64>,
    pub occurred_at: DateTime<Utc>,
    pub reservation_id: Option<String>,
}

/// Whether a status counts as a failed call (feeds provider health).
pub fn is_failure(status: &str) -> bool {
    status != "ok"
}

fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    errs: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn string(&mut self, k: &str, required: bool) -> Option<String> {
        match self.get(k) {
            None if required => {
                self.errs
                    .push(FieldError::new(k, "is missing; it is required"));
                None
            }
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.errs.push(FieldError::new(
                    k,
                    format!("{} is not a string; give it in quotes", describe(v)),
                ));
                None
            }
        }
    }

    fn slug(&mut self, k: &str, required: bool) -> Option<String> {
        let s = self.string(k, required)?;
        match check_slug(k, &s) {
            Ok(()) => Some(s),
            Err(e) => {
                self.errs.push(e);
                None
            }
        }
    }

    fn text(&mut self, k: &str, required: bool, max: usize) -> Option<String> {
        let s = self.string(k, required)?;
        match check_text(k, &s, max) {
            Ok(()) => Some(s),
            Err(e) => {
                self.errs.push(e);
                None
            }
        }
    }

    fn count(&mut self, k: &str, required: bool, max: u64, unit: &str) -> Option<u64> {
        let v = match self.get(k) {
            None if required => {
                self.errs.push(FieldError::new(
                    k,
                    format!("is missing; give the number of {unit}, 0 if none"),
                ));
                return None;
            }
            None => return None,
            Some(v) => v,
        };
        match v {
            Value::Number(n) if n.as_u64().is_some() => {
                let x = n.as_u64().unwrap_or(u64::MAX);
                if x > max {
                    self.errs.push(FieldError::new(
                        k,
                        format!("{x} is more than the {max} accepted; check the unit ({unit})"),
                    ));
                    None
                } else {
                    Some(x)
                }
            }
            Value::Number(n) if n.as_i64().is_some() => {
                self.errs.push(FieldError::new(
                    k,
                    format!("{n} is negative; give a whole number from 0 to {max}"),
                ));
                None
            }
            _ => {
                self.errs.push(FieldError::new(
                    k,
                    format!(
                        "{} is not a whole number; give a whole number from 0 to {max}",
                        describe(v)
                    ),
                ));
                None
            }
        }
    }
}

impl UsageInput {
    /// Validates one JSON object. Every bad field is reported, not just the
    /// first. Unknown keys are refused, since they are usually typos.
    pub fn from_json(v: &Value) -> Result<UsageInput, Vec<FieldError>> {
        let Some(map) = v.as_object() else {
            return Err(vec![FieldError::new("", format!("{} is not a JSON object; each line must be one object such as {{\"org\": \"acme\", ...}}", describe(v)))]);
        };
        let mut f = Fields {
            map,
            errs: Vec::new(),
        };
        for k in map.keys() {
            if !KEYS.contains(&k.as_str()) {
                f.errs.push(FieldError::new(
                    k.as_str(),
                    format!("is not a known key; the keys are {}", KEYS.join(", ")),
                ));
            }
        }
        let id = f.text("id", false, 128);
        let org = f.slug("org", true);
        let provider = f.slug("provider", true);
        let model = f.text("model", true, 128);
        let operation = f.slug("operation", true);
        let investigation = f.text("investigation", false, 256);
        let user = f.text("user", false, 256);
        let input = f.count("input_tokens", true, MAX_TOKENS, "tokens");
        let output = f.count("output_tokens", true, MAX_TOKENS, "tokens");
        let cached = f.count("cached_input_tokens", false, MAX_TOKENS, "tokens");
        let write = f.count("cache_write_tokens", false, MAX_TOKENS, "tokens");
        let status = f.slug("status", false);
        let latency = f.count("latency_ms", false, MAX_LATENCY_MS, "milliseconds");
        let reservation_id = f.text("reservation_id", false, 128);
        let occurred_at = f.string("occurred_at", true).and_then(|s| match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                let (lo, hi) = accepted_range();
                if t < lo || t >= hi {
                    f.errs.push(FieldError::new("occurred_at", format!("{s:?} is outside the years 2000 to 2199")));
                    None
                } else {
                    Some(t)
                }
            }
            Err(_) => {
                f.errs.push(FieldError::new(
                    "occurred_at",
                    format!("{s:?} is not an RFC 3339 time; write it like \"2026-10-31T23:30:00Z\" or \"2026-10-31T23:30:00+01:00\""),
                ));
                None
            }
        });
        if !f.errs.is_empty() {
            return Err(f.errs);
        }
        match (org, provider, model, operation, input, output, occurred_at) {
            (
                Some(org),
                Some(provider),
                Some(model),
                Some(operation),
                Some(input),
                Some(output),
                Some(occurred_at),
            ) => Ok(UsageInput {
                id,
                org,
                provider,
                model,
                operation,
                investigation,
                user,
                tokens: Tokens {
                    input,
                    output,
                    cached_input: cached.unwrap_or(0),
                    cache_write: write.unwrap_or(0),
                },
                status: status.unwrap_or_else(|| "ok".to_string()),
                latency_ms: latency,
                occurred_at,
                reservation_id,
            }),
            _ => Err(vec![FieldError::new("", "is incomplete")]),
        }
    }

    /// SHA-256 over the canonical form of the call's content (everything but
    /// the reservation, which is bookkeeping, not content). Two submissions
    /// with the same id and the same hash are the same call.
    pub fn content_hash(&self, id: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        let lat = self.latency_ms.map(|x| x.to_string()).unwrap_or_default();
        let parts = [
            id.to_string(),
            self.org.clone(),
            self.provider.clone(),
            self.model.clone(),
            self.operation.clone(),
            opt(&self.investigation),
            opt(&self.user),
            self.tokens.input.to_string(),
            self.tokens.output.to_string(),
            self.tokens.cached_input.to_string(),
            self.tokens.cache_write.to_string(),
            self.status.clone(),
            lat,
            to_nanos(self.occurred_at).to_string(),
        ];
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        h.finalize().into()
    }
}

/// Joins the errors of one input into one line: `field `a`: ...; field `b`: ...`.
pub fn join_errors(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| {
            if e.field.is_empty() {
                e.message.clone()
            } else {
                e.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"org": "acme", "provider": "openai", "model": "gpt-4o", "operation": "chat",
               "input_tokens": 10, "output_tokens": 5, "occurred_at": "2026-11-01T10:00:00Z"})
    }

    fn check(patch: Value, field: &str, needle: &str) {
        let mut v = good();
        for (k, x) in patch.as_object().unwrap() {
            if x.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = x.clone();
            }
        }
        let errs = UsageInput::from_json(&v).expect_err("input must be refused");
        let e = errs
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error for {field}: {errs:?}"));
        assert!(
            e.message.contains(needle),
            "error for {field} should mention {needle:?}: {}",
            e.message
        );
    }

    #[test]
    fn a_good_line_parses_with_defaults() {
        let u = UsageInput::from_json(&good()).unwrap();
        assert_eq!(u.status, "ok");
        assert_eq!(u.tokens.cached_input, 0);
    }

    #[test]
    fn every_field_of_a_bad_line_is_named() {
        check(json!({"org": null}), "org", "missing");
        check(json!({"org": "Acme Inc"}), "org", "slug");
        check(json!({"provider": 3}), "provider", "not a string");
        check(json!({"model": ""}), "model", "empty");
        check(json!({"operation": "doc analysis"}), "operation", "slug");
        check(json!({"investigation": "a\nb"}), "investigation", "control");
        check(json!({"user": "x".repeat(300)}), "user", "limit");
        check(json!({"input_tokens": -5}), "input_tokens", "negative");
        check(
            json!({"output_tokens": 1.5}),
            "output_tokens",
            "whole number",
        );
        check(
            json!({"output_tokens": "12"}),
            "output_tokens",
            "whole number",
        );
        check(
            json!({"cached_input_tokens": 2_000_000_000u64}),
            "cached_input_tokens",
            "more than",
        );
        check(
            json!({"cache_write_tokens": true}),
            "cache_write_tokens",
            "whole number",
        );
        check(json!({"status": "OK!"}), "status", "slug");
        check(json!({"latency_ms": -1}), "latency_ms", "negative");
        check(
            json!({"occurred_at": "31/10/2026"}),
            "occurred_at",
            "RFC 3339",
        );
        check(
            json!({"occurred_at": "1999-12-31T23:59:59Z"}),
            "occurred_at",
            "outside",
        );
        check(json!({"id": 42}), "id", "not a string");
        check(json!({"input_token": 3}), "input_token", "not a known key");
    }

    #[test]
    fn several_bad_fields_are_all_reported() {
        let errs = UsageInput::from_json(&json!({"org": "acme"})).unwrap_err();
        assert!(
            errs.len() >= 5,
            "each missing required field is named: {errs:?}"
        );
        assert!(UsageInput::from_json(&json!([1, 2])).is_err());
    }

    #[test]
    fn the_hash_ignores_the_offset_a_time_was_written_with() {
        let a = UsageInput::from_json(&good()).unwrap();
        let mut v = good();
        v["occurred_at"] = json!("2026-11-01T11:00:00+01:00");
        let b = UsageInput::from_json(&v).unwrap();
        assert_eq!(
            a.content_hash("x"),
            b.content_hash("x"),
            "the same instant is the same content"
        );
        v["output_tokens"] = json!(6);
        let c = UsageInput::from_json(&v).unwrap();
        assert_ne!(a.content_hash("x"), c.content_hash("x"));
    }
}
