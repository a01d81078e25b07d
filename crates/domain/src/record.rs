//! Usage input: validation of one ingest line (or one record given on the
//! command line or over HTTP) and its content hash.
use crate::price::{ServiceTier, Tokens};
use crate::slug::{check_slug, check_text};
use crate::time::{accepted_range, to_nanos};
use crate::FieldError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Most tokens of one kind accepted in one record.
pub const MAX_TOKENS: u64 = 1_000_000_000;
/// Longest latency accepted: one day.
pub const MAX_LATENCY_MS: u64 = 86_400_000;

/// The keys of an ingest line, in the canonical order.
pub const KEYS: [&str; 21] = [
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
    "upstream_model",
    "first_byte_ms",
    "estimated",
    "attempt",
    "service_tier",
    "cache_write_1h_tokens",
];

/// Longest model name accepted (`model`, `upstream_model`), in characters.
pub const MAX_MODEL_CHARS: usize = 128;

/// Most attempts of one call through the gateway.
pub const MAX_ATTEMPT: u64 = 100;

/// What the gateway knows of a call besides its usage; optional in an
/// ingest line, and part of the content (hashed when given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallDetail {
    /// The model the provider says served the call (it may name a dated
    /// version of the model asked for).
    pub upstream_model: Option<String>,
    /// Time to the answer's first byte.
    pub first_byte_ms: Option<u64>,
    /// The token counts are an estimate: the provider's usage never
    /// arrived (a stream cut off, a client gone, an answer without usage).
    pub estimated: bool,
    /// Which attempt of the call this was, from 1 (a gateway call failed
    /// over to another provider has several).
    pub attempt: Option<u64>,
}

/// Patterns of the API's documented values (the rules of [`check_slug`](crate::slug::check_slug)
/// and of an RFC 3339 time in the accepted years), for the OpenAPI document.
pub mod patterns {
    /// Lowercase letters, digits, `-`, `_` and `.` (never two dots in a row),
    /// starting with a letter or digit; at most 64 (with `maxLength`).
    pub const SLUG: &str = r"^[a-z0-9]([a-z0-9_-]|\.[a-z0-9_-])*\.?$";
    /// Free text: no control characters, not only spaces.
    pub const TEXT: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
    pub const TIME: &str = r"^2[01][0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$";
    /// A time, or a bare date meaning the organisation's midnight.
    pub const TIME_OR_DATE: &str = r"^2[01][0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]))?$";
    /// An http(s) URL of a named host (the last label starts with a
    /// letter, so that it is no IPv4 address), an optional port, a path.
    pub const HTTP_URL: &str = r"^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*$";
    /// The same, on an HTTP port (80, 443, or 1024 and up), as webhooks take.
    pub const WEBHOOK_URL: &str = r"^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:(80|443|102[4-9]|10[3-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*$";
    /// An e-mail address as a channel takes it (`channels::check_address`).
    pub const EMAIL: &str = r"^[A-Za-z0-9._%+-]{1,64}@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,22}[a-z0-9])$";
    /// An SMTP server: `smtp://HOST[:PORT]` (STARTTLS) or `smtps://HOST[:PORT]`, no path.
    pub const SMTP_URL: &str = r"^smtps?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$";
    /// The name of an environment variable (`access::check_env_name`).
    pub const ENV_NAME: &str = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$";
    /// A budget amount: below a billion, 9 decimals.
    pub const MONEY: &str = r"^[0-9]{1,9}(\.[0-9]{1,9})?$";
    /// A rate per million tokens: at most 100000, 12 decimals.
    pub const RATE: &str = r"^([0-9]{1,5}(\.[0-9]{1,12})?|100000(\.0{1,12})?)$";
    /// One call's estimated cost: at most 10000, 9 decimals.
    pub const ESTIMATE: &str = r"^([0-9]{1,4}(\.[0-9]{1,9})?|10000(\.0{1,9})?)$";
    pub const MONTH: &str = r"^2[01][0-9]{2}-(0[1-9]|1[0-2])$";
    /// A budget's scope as the API takes it: `org`, `investigation:TEXT`,
    /// `user:TEXT`, `operation:SLUG` or `provider:SLUG`; at most 270
    /// characters in all (with `maxLength`). Token scopes are not taken yet.
    pub const SCOPE: &str = r"^(org|(investigation|user|token):[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*|(operation|provider):[a-z0-9]([a-z0-9_-]|\.[a-z0-9_-])*\.?)$";
    /// `usage summary`'s `by`: one grouping, or two different ones
    /// separated by a comma (each first grouping lists the seconds it takes,
    /// so that a pattern without look-ahead leaves out `provider,provider`).
    pub const GROUPINGS: &str = r"^(provider(,(model|operation|investigation|user|day|week|month))?|model(,(provider|operation|investigation|user|day|week|month))?|operation(,(provider|model|investigation|user|day|week|month))?|investigation(,(provider|model|operation|user|day|week|month))?|user(,(provider|model|operation|investigation|day|week|month))?|day(,(provider|model|operation|investigation|user|week|month))?|week(,(provider|model|operation|investigation|user|day|month))?|month(,(provider|model|operation|investigation|user|day|week))?)$";
    /// A date (YYYY-MM-DD).
    pub const DATE: &str = r"^2[01][0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$";
    /// A whole number from 1, as text.
    pub const COUNT: &str = r"^[1-9][0-9]{0,8}$";
}

/// One ingest line as the HTTP API documents it (`POST /orgs/{org}/records`):
/// the keys of [`KEYS`] but `org` (the path's; a body may repeat it), with
/// the rules of [`UsageInput::from_json`] (a test keeps the key lists equal).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RecordLine")]
pub struct RecordLineDoc {
    /// The caller's id; without one the record is keyed by its content (or the request's Idempotency-Key).
    #[schemars(length(min = 1, max = 128), pattern(patterns::TEXT))]
    pub id: Option<String>,
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub provider: String,
    #[schemars(length(min = 1, max = 128), pattern(patterns::TEXT))]
    pub model: String,
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub operation: String,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub investigation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub user: Option<String>,
    #[schemars(range(max = 1_000_000_000))]
    pub input_tokens: u64,
    #[schemars(range(max = 1_000_000_000))]
    pub output_tokens: u64,
    #[schemars(range(max = 1_000_000_000))]
    pub cached_input_tokens: Option<u64>,
    #[schemars(range(max = 1_000_000_000))]
    pub cache_write_tokens: Option<u64>,
    /// `ok` by default; `error`, `timeout`, `rate_limited`... (a failure counts toward the provider's cool-down).
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub status: Option<String>,
    #[schemars(range(max = 86_400_000))]
    pub latency_ms: Option<u64>,
    #[schemars(pattern(patterns::TIME))]
    pub occurred_at: String,
    /// The reservation of an admission this call settles.
    #[schemars(length(min = 1, max = 128), pattern(patterns::TEXT))]
    pub reservation_id: Option<String>,
    /// The model the provider says served the call.
    #[schemars(length(min = 1, max = 128), pattern(patterns::TEXT))]
    pub upstream_model: Option<String>,
    /// Time to the answer's first byte.
    #[schemars(range(max = 86_400_000))]
    pub first_byte_ms: Option<u64>,
    /// The token counts are an estimate (the provider's usage never arrived); false by default.
    pub estimated: Option<bool>,
    /// Which attempt of a gateway call this was, from 1.
    #[schemars(range(min = 1, max = 100))]
    pub attempt: Option<u64>,
    /// How the provider processed the call: standard (the default), batch, flex or priority.
    #[schemars(regex(pattern = r"^(standard|batch|flex|priority)$"))]
    pub service_tier: Option<String>,
    /// Input written to a cache kept an hour (disjoint from `cache_write_tokens`, the 5-minute writes).
    #[schemars(range(max = 1_000_000_000))]
    pub cache_write_1h_tokens: Option<u64>,
}

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
    pub detail: CallDetail,
    /// How the provider processed the call (it bills the tiers differently).
    pub service_tier: ServiceTier,
    /// The name of the API or gateway token that sent the call: set by the
    /// server from the caller's token (never read from a line, which could
    /// claim any), carried by sync; `None` for what a file or the command
    /// line brings. Not part of the content: the same call sent by two
    /// tokens is one record, the first one's.
    pub token: Option<String>,
}

impl UsageInput {
    /// The dimension keys of this call (provider, model, operation, investigation, user).
    pub fn key_parts(&self) -> crate::analytics::KeyParts<'_> {
        crate::analytics::KeyParts {
            provider: &self.provider,
            model: &self.model,
            operation: &self.operation,
            investigation: self.investigation.as_deref(),
            user: self.user.as_deref(),
            status: &self.status,
            token: self.token.as_deref(),
        }
    }
}

/// Whether a status counts as a failed call (feeds provider health).
pub fn is_failure(status: &str) -> bool {
    // `client_error`: the provider refused the caller's request (a 4xx
    // other than 429), which says nothing of the provider's health.
    status != "ok" && status != "client_error"
}

fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// The fields of a line after the type checks, before the rules.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFields<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    org: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    investigation: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cached_input_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(borrow, default)]
    occurred_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reservation_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    upstream_model: Option<Cow<'a, str>>,
    #[serde(default)]
    first_byte_ms: Option<u64>,
    #[serde(default)]
    estimated: Option<bool>,
    #[serde(default)]
    attempt: Option<u64>,
    #[serde(borrow, default)]
    service_tier: Option<Cow<'a, str>>,
    #[serde(default)]
    cache_write_1h_tokens: Option<u64>,
}

/// Type checks of a JSON value, field by field, with messages that say what to do.
struct Typed<'a> {
    map: &'a Map<String, Value>,
    errs: Vec<FieldError>,
}

impl<'a> Typed<'a> {
    fn string(&mut self, k: &str) -> Option<Cow<'a, str>> {
        match self.map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Cow::Borrowed(s.as_str())),
            Some(v) => {
                self.errs.push(FieldError::new(k, format!("{} is not a string; give it in quotes", describe(v))));
                None
            }
        }
    }

    fn flag(&mut self, k: &str) -> Option<bool> {
        match self.map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => {
                self.errs.push(FieldError::new(k, format!("{} is not true or false; give true or false, without quotes", describe(v))));
                None
            }
        }
    }

    fn count(&mut self, k: &str, max: u64) -> Option<u64> {
        match self.map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(Value::Number(n)) if n.as_i64().is_some() => {
                self.errs.push(FieldError::new(k, format!("{n} is negative; give a whole number from 0 to {max}")));
                None
            }
            Some(v) => {
                self.errs.push(FieldError::new(k, format!("{} is not a whole number; give a whole number from 0 to {max}", describe(v))));
                None
            }
        }
    }
}

/// The rules, applied to type-checked fields. `errs` holds the type errors
/// already found; a field with one is not also reported as missing.
fn finish(f: RawFields<'_>, mut errs: Vec<FieldError>) -> Result<UsageInput, Vec<FieldError>> {
    let had_error = |errs: &Vec<FieldError>, k: &str| errs.iter().any(|e| e.field == k);
    fn keep<T>(errs: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| errs.push(e)).ok()
    }
    let required = |errs: &mut Vec<FieldError>, k: &str, v: Option<Cow<'_, str>>, unit: &str| -> Option<String> {
        match v {
            Some(s) => Some(s.into_owned()),
            None => {
                if !had_error(errs, k) {
                    errs.push(FieldError::new(k, format!("is missing; it is required{unit}")));
                }
                None
            }
        }
    };
    let org = required(&mut errs, "org", f.org, "");
    let provider = required(&mut errs, "provider", f.provider, "");
    let model = required(&mut errs, "model", f.model, "");
    let operation = required(&mut errs, "operation", f.operation, "");
    let occurred_at = required(&mut errs, "occurred_at", f.occurred_at, " (RFC 3339, such as \"2026-10-31T23:30:00Z\")");
    let count = |errs: &mut Vec<FieldError>, k: &str, v: Option<u64>, required: bool, max: u64, unit: &str| -> Option<u64> {
        match v {
            Some(x) if x > max => {
                errs.push(FieldError::new(k, format!("{x} is more than the {max} accepted; check the unit ({unit})")));
                None
            }
            Some(x) => Some(x),
            None if required && !had_error(errs, k) => {
                errs.push(FieldError::new(k, format!("is missing; give the number of {unit}, 0 if none")));
                None
            }
            None => None,
        }
    };
    let input = count(&mut errs, "input_tokens", f.input_tokens, true, MAX_TOKENS, "tokens");
    let output = count(&mut errs, "output_tokens", f.output_tokens, true, MAX_TOKENS, "tokens");
    let cached = count(&mut errs, "cached_input_tokens", f.cached_input_tokens, false, MAX_TOKENS, "tokens");
    let write = count(&mut errs, "cache_write_tokens", f.cache_write_tokens, false, MAX_TOKENS, "tokens");
    let write_1h = count(&mut errs, "cache_write_1h_tokens", f.cache_write_1h_tokens, false, MAX_TOKENS, "tokens");
    let service_tier = match f.service_tier {
        Some(s) => keep(&mut errs, ServiceTier::parse("service_tier", &s)),
        None => Some(ServiceTier::Standard),
    };
    let latency = count(&mut errs, "latency_ms", f.latency_ms, false, MAX_LATENCY_MS, "milliseconds");
    let first_byte = count(&mut errs, "first_byte_ms", f.first_byte_ms, false, MAX_LATENCY_MS, "milliseconds");
    let attempt = match f.attempt {
        Some(0) => {
            errs.push(FieldError::new("attempt", format!("0 is not an attempt; attempts count from 1 to {MAX_ATTEMPT}")));
            None
        }
        a => count(&mut errs, "attempt", a, false, MAX_ATTEMPT, "attempts"),
    };
    if let Some(s) = &org {
        keep(&mut errs, check_slug("org", s));
    }
    if let Some(s) = &provider {
        keep(&mut errs, check_slug("provider", s));
    }
    if let Some(s) = &operation {
        keep(&mut errs, check_slug("operation", s));
    }
    if let Some(s) = &model {
        keep(&mut errs, check_text("model", s, MAX_MODEL_CHARS));
    }
    let opt_text = |errs: &mut Vec<FieldError>, k: &str, v: Option<Cow<'_, str>>, max: usize| -> Option<String> {
        let s = v?;
        keep(errs, check_text(k, &s, max)).map(|_| s.into_owned())
    };
    let id = opt_text(&mut errs, "id", f.id, 128);
    let investigation = opt_text(&mut errs, "investigation", f.investigation, 256);
    let user = opt_text(&mut errs, "user", f.user, 256);
    let reservation_id = opt_text(&mut errs, "reservation_id", f.reservation_id, 128);
    let upstream_model = opt_text(&mut errs, "upstream_model", f.upstream_model, MAX_MODEL_CHARS);
    let status = match f.status {
        Some(s) => keep(&mut errs, check_slug("status", &s)).map(|_| s.into_owned()),
        None => Some("ok".to_string()),
    };
    let occurred_at = occurred_at.and_then(|s| {
        let r = match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                let (lo, hi) = accepted_range();
                if t < lo || t >= hi {
                    Err(FieldError::new("occurred_at", format!("{s:?} is outside the years 2000 to 2199")))
                } else {
                    Ok(t)
                }
            }
            Err(_) => Err(FieldError::new(
                "occurred_at",
                format!("{s:?} is not an RFC 3339 time; write it like \"2026-10-31T23:30:00Z\" or \"2026-10-31T23:30:00+01:00\""),
            )),
        };
        keep(&mut errs, r)
    });
    if !errs.is_empty() {
        return Err(errs);
    }
    match (org, provider, model, operation, input, output, occurred_at, status, service_tier) {
        (
            Some(org),
            Some(provider),
            Some(model),
            Some(operation),
            Some(input),
            Some(output),
            Some(occurred_at),
            Some(status),
            Some(service_tier),
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
                cache_write_1h: write_1h.unwrap_or(0),
            },
            status,
            latency_ms: latency,
            occurred_at,
            reservation_id,
            detail: CallDetail { upstream_model, first_byte_ms: first_byte, estimated: f.estimated.unwrap_or(false), attempt },
            service_tier,
            token: None,
        }),
        _ => Err(vec![FieldError::new("", "is incomplete")]),
    }
}

impl UsageInput {
    /// Validates one JSON object. Every bad field is reported, not just the
    /// first. Unknown keys are refused, since they are usually typos.
    pub fn from_json(v: &Value) -> Result<UsageInput, Vec<FieldError>> {
        let Some(map) = v.as_object() else {
            return Err(vec![FieldError::new(
                "",
                format!("{} is not a JSON object; each line must be one object such as {{\"org\": \"acme\", ...}}", describe(v)),
            )]);
        };
        let mut t = Typed { map, errs: Vec::new() };
        for k in map.keys() {
            if k == "token" {
                // Who sent a record is the token it came with, never what it says.
                t.errs.push(FieldError::new(
                    "token",
                    "is not taken from a record: the server sets it to the name of the token that sends it; leave it out",
                ));
            } else if !KEYS.contains(&k.as_str()) {
                t.errs.push(FieldError::new(k.as_str(), format!("is not a known key; the keys are {}", KEYS.join(", "))));
            }
        }
        let raw = RawFields {
            id: t.string("id"),
            org: t.string("org"),
            provider: t.string("provider"),
            model: t.string("model"),
            operation: t.string("operation"),
            investigation: t.string("investigation"),
            user: t.string("user"),
            input_tokens: t.count("input_tokens", MAX_TOKENS),
            output_tokens: t.count("output_tokens", MAX_TOKENS),
            cached_input_tokens: t.count("cached_input_tokens", MAX_TOKENS),
            cache_write_tokens: t.count("cache_write_tokens", MAX_TOKENS),
            status: t.string("status"),
            latency_ms: t.count("latency_ms", MAX_LATENCY_MS),
            occurred_at: t.string("occurred_at"),
            reservation_id: t.string("reservation_id"),
            upstream_model: t.string("upstream_model"),
            first_byte_ms: t.count("first_byte_ms", MAX_LATENCY_MS),
            estimated: t.flag("estimated"),
            attempt: t.count("attempt", MAX_ATTEMPT),
            service_tier: t.string("service_tier"),
            cache_write_1h_tokens: t.count("cache_write_1h_tokens", MAX_TOKENS),
        };
        finish(raw, t.errs)
    }

    /// Validates one line of JSON text. Well-formed lines take a fast typed
    /// path; anything else goes through [`UsageInput::from_json`], whose
    /// messages name every bad field. Both apply the same rules.
    pub fn from_json_text(text: &str) -> Result<UsageInput, Vec<FieldError>> {
        if let Ok(raw) = serde_json::from_str::<RawFields<'_>>(text) {
            return finish(raw, Vec::new());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(v) => UsageInput::from_json(&v),
            Err(e) => Err(vec![FieldError::new("", format!("the line is not valid JSON ({e}); each line must be one JSON object"))]),
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
        // The gateway's details, when given (a record without them hashes
        // as it did before they existed).
        let d = &self.detail;
        if *d != CallDetail::default() {
            let n = |x: Option<u64>| x.map(|x| x.to_string()).unwrap_or_default();
            for p in [opt(&d.upstream_model), n(d.first_byte_ms), d.estimated.to_string(), n(d.attempt)] {
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
        }
        // The service tier and the 1-hour cache writes, likewise only when
        // given (tagged, so that they never read as the details above).
        if self.service_tier != ServiceTier::Standard || self.tokens.cache_write_1h > 0 {
            for p in ["tier".to_string(), self.service_tier.as_str().to_string(), self.tokens.cache_write_1h.to_string()] {
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
        }
        h.finalize().into()
    }
}

/// Joins the errors of one input into one line: `field `a`: ...; field `b`: ...`.
pub fn join_errors(errs: &[FieldError]) -> String {
    errs.iter().map(|e| if e.field.is_empty() { e.message.clone() } else { e.to_string() }).collect::<Vec<_>>().join("; ")
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
        let e = errs.iter().find(|e| e.field == field).unwrap_or_else(|| panic!("no error for {field}: {errs:?}"));
        assert!(e.message.contains(needle), "error for {field} should mention {needle:?}: {}", e.message);
    }

    #[test]
    fn the_documented_line_has_the_keys_of_an_ingest_line() {
        let schema = schemars::schema_for!(RecordLineDoc);
        let mut props: Vec<&str> = schema.get("properties").and_then(|p| p.as_object()).unwrap().keys().map(String::as_str).collect();
        props.sort();
        let mut keys: Vec<&str> = KEYS.iter().copied().filter(|k| *k != "org").collect();
        keys.sort();
        assert_eq!(props, keys);
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
        check(json!({"output_tokens": 1.5}), "output_tokens", "whole number");
        check(json!({"output_tokens": "12"}), "output_tokens", "whole number");
        check(json!({"cached_input_tokens": 2_000_000_000u64}), "cached_input_tokens", "more than");
        check(json!({"cache_write_tokens": true}), "cache_write_tokens", "whole number");
        check(json!({"status": "OK!"}), "status", "slug");
        check(json!({"latency_ms": -1}), "latency_ms", "negative");
        check(json!({"occurred_at": "31/10/2026"}), "occurred_at", "RFC 3339");
        check(json!({"occurred_at": "1999-12-31T23:59:59Z"}), "occurred_at", "outside");
        check(json!({"id": 42}), "id", "not a string");
        check(json!({"input_token": 3}), "input_token", "not a known key");
        check(json!({"token": "gw-1"}), "token", "the server sets it to the name of the token that sends it");
        check(json!({"service_tier": "premium"}), "service_tier", "standard, batch, flex or priority");
        check(json!({"cache_write_1h_tokens": -3}), "cache_write_1h_tokens", "negative");
    }

    #[test]
    fn several_bad_fields_are_all_reported() {
        let errs = UsageInput::from_json(&json!({"org": "acme"})).unwrap_err();
        assert!(errs.len() >= 5, "each missing required field is named: {errs:?}");
        assert!(UsageInput::from_json(&json!([1, 2])).is_err());
    }

    #[test]
    fn the_hash_ignores_the_offset_a_time_was_written_with() {
        let a = UsageInput::from_json(&good()).unwrap();
        let mut v = good();
        v["occurred_at"] = json!("2026-11-01T11:00:00+01:00");
        let b = UsageInput::from_json(&v).unwrap();
        assert_eq!(a.content_hash("x"), b.content_hash("x"), "the same instant is the same content");
        v["output_tokens"] = json!(6);
        let c = UsageInput::from_json(&v).unwrap();
        assert_ne!(a.content_hash("x"), c.content_hash("x"));
    }
}

#[cfg(test)]
mod fast_path {
    use super::*;

    #[test]
    fn a_good_line_takes_the_fast_path_and_agrees_with_the_thorough_one() {
        let text = r#"{"id":"b000000001","org":"bench","provider":"openai","model":"gpt-4o-mini","operation":"chat","investigation":"INV-1","user":"u1","input_tokens":201,"output_tokens":21,"cached_input_tokens":100,"status":"ok","latency_ms":101,"occurred_at":"2026-08-29T12:00:00.001Z"}"#;
        let raw = serde_json::from_str::<RawFields<'_>>(text);
        assert!(raw.is_ok(), "{:?}", raw.err());
        let fast = UsageInput::from_json_text(text).unwrap();
        let slow = UsageInput::from_json(&serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(fast, slow);
    }
}
