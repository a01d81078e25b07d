//! The gateway's side of the facade: where an organisation's calls to each
//! provider go (upstreams), model aliases, which candidates may serve a
//! call and the admission of the first that may (the routing rule of
//! `route`, one transaction), and what happens to an attempt that never
//! reached a provider. The calls themselves are the caller's (the server),
//! through the [`Upstream`] trait that `argus-client` implements: this
//! crate has no network code.
use crate::api::Candidate;
use crate::controls::{admit_now, all_providers, budget_block, candidate_block, candidate_view, default_settings, observe_health};
use crate::orgs::{self, Org};
use crate::{Ops, OpsError, Result};
use argus_domain::budget::CallKeys;
use argus_domain::gateway::{Dialect, Endpoint};
use argus_domain::price::{ServiceTier, Tokens};
use argus_domain::slug::check_slug;
use argus_domain::time::{fmt_instant, from_nanos, to_nanos};
use argus_domain::{ErrorCode, FieldError};
use argus_store::gateway::{self as store, AliasRow, UpstreamRow};
use argus_store::{audit, Reader};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// What `provider set` changes of a provider's upstream. As JSON:
/// `{"base_url", "api", "api_key_env"}`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct UpstreamChange {
    /// Kept as it is when absent (an upstream must have one).
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(max = 2000), pattern(argus_domain::record::patterns::HTTP_URL))]
    pub base_url: Option<String>,
    /// `openai` or `anthropic`; the provider's own by default.
    #[cfg_attr(test, ts(optional))]
    #[schemars(regex(pattern = r"^(openai|anthropic)$"))]
    pub api: Option<String>,
    /// The environment variable of the serving process that holds the key.
    #[cfg_attr(test, ts(optional))]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"))]
    pub api_key_env: Option<String>,
}

/// A provider's upstream as the console shows it. The key itself never
/// leaves the serving process; `key_available` says whether its variable
/// is set there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct UpstreamView {
    pub provider: String,
    pub base_url: String,
    pub api: String,
    pub api_key_env: Option<String>,
    pub key_available: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub version: i64,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct AliasView {
    pub name: String,
    /// `provider/model`, tried in the organisation's provider priority order.
    pub targets: Vec<String>,
    pub updated_at: String,
}

/// One provider and model that may serve a call, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: String,
    pub model: String,
    pub base_url: String,
    pub dialect: Dialect,
    pub api_key_env: Option<String>,
}

/// The gateway's choice for one attempt: the target admitted (with its
/// reservation), and every candidate's state.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Seconds until the soonest blocked candidate frees a slot.
    pub retry_after_s: Option<u64>,
    pub chosen: Option<(Target, String)>,
    pub candidates: Vec<Candidate>,
}

impl Choice {
    /// Why nothing was chosen, as an error code: every candidate over the
    /// budget is `budget_exceeded`, every one rate limited (by our quotas)
    /// `rate_limited` with the soonest slot, else `no_provider_available`.
    pub fn refusal(&self) -> (ErrorCode, &'static str, Option<u64>, String) {
        let states: Vec<&str> = self.candidates.iter().map(|c| c.state.as_str()).collect();
        let reasons = self
            .candidates
            .iter()
            .map(|c| format!("{}: {}", c.provider, c.reason.clone().unwrap_or_else(|| c.state.clone())))
            .collect::<Vec<_>>()
            .join("; ");
        if !states.is_empty() && states.iter().all(|s| *s == "budget_blocked") {
            let msg = self.candidates.first().and_then(|c| c.reason.clone()).unwrap_or_default();
            return (ErrorCode::BudgetExceeded, "budget_exceeded", None, msg);
        }
        if !states.is_empty() && states.iter().all(|s| *s == "rate_limited") {
            return (
                ErrorCode::RateLimited,
                "rate_limited",
                self.retry_after_s.or(Some(1)),
                format!("every candidate is rate limited: {reasons}"),
            );
        }
        (ErrorCode::Unreachable, "no_provider_available", None, format!("no provider can serve this call now: {reasons}"))
    }
}

/// A request to an upstream, made by the gateway.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
    /// How long to wait for the answer's head.
    pub timeout: std::time::Duration,
}

/// A chunk of an upstream's answer body, or why the body broke off.
pub type BodyChunk = std::result::Result<bytes::Bytes, String>;

/// An upstream's answer: its head, and its body as it arrives.
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Pin<Box<dyn futures_core::Stream<Item = BodyChunk> + Send>>,
}

/// Why an upstream gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreached {
    /// Refused, reset, unresolvable, or an internal address refused.
    Connect(String),
    /// No answer's head within the timeout.
    Timeout,
}

impl std::fmt::Display for Unreached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreached::Connect(e) => write!(f, "cannot connect: {e}"),
            Unreached::Timeout => write!(f, "no answer in time"),
        }
    }
}

/// The transport of the gateway's upstream calls (implemented over HTTP in
/// `argus-client`; tests may stand in another).
pub trait Upstream: Send + Sync {
    fn send(&self, req: UpstreamRequest) -> Pin<Box<dyn Future<Output = std::result::Result<UpstreamResponse, Unreached>> + Send>>;
}

fn upstream_view(u: &UpstreamRow) -> UpstreamView {
    UpstreamView {
        provider: u.provider.clone(),
        base_url: u.base_url.clone(),
        api: u.api.clone(),
        api_key_env: u.api_key_env.clone(),
        key_available: u.api_key_env.as_deref().is_some_and(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty())),
        version: u.version,
        updated_at: fmt_instant(from_nanos(u.updated_at)),
    }
}

fn alias_view(a: &AliasRow) -> AliasView {
    AliasView { name: a.name.clone(), targets: a.targets.clone(), updated_at: fmt_instant(from_nanos(a.updated_at)) }
}

/// Checks a base URL: http or https, a host, no credentials, no query.
fn check_base_url(s: &str) -> std::result::Result<String, FieldError> {
    if s.len() > 2000 {
        return Err(FieldError::new("base_url", format!("is {} characters long, more than the 2000 a base URL may have; give the provider's base URL, e.g. https://api.openai.com/v1", s.len())));
    }
    let u = url::Url::parse(s).map_err(|e| {
        FieldError::new(
            "base_url",
            format!("{s:?} is not a URL ({e}); give the base URL the provider's SDK takes, e.g. https://api.openai.com/v1"),
        )
    })?;
    let odd_host = |h: &str| !h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(odd_host) {
        return Err(FieldError::new("base_url", format!("{s:?} is not an http(s) URL with a host; e.g. https://api.anthropic.com")));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(FieldError::new(
            "base_url",
            "credentials do not belong in the URL; name the key's environment variable with --api-key-env",
        ));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(FieldError::new("base_url", format!("{s:?} has a query or fragment; give the base URL only")));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// An alias name: 1 to 128 letters, digits, `-`, `.`, `_` or `:`.
fn check_alias_name(name: &str) -> std::result::Result<(), FieldError> {
    let ok = !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !ok {
        return Err(FieldError::new("name", format!("{name:?} is not an alias name; use 1 to 128 letters, digits, - . _ or :")));
    }
    Ok(())
}

/// Parses `provider/model` (the model may itself contain `/`).
fn split_target(s: &str) -> Option<(&str, &str)> {
    let (p, m) = s.split_once('/')?;
    (check_slug("provider", p).is_ok() && !m.is_empty()).then_some((p, m))
}

impl Ops {
    /// Sets where the organisation's calls to `provider` go.
    pub fn upstream_set(&mut self, org: &str, provider: &str, change: &UpstreamChange) -> Result<UpstreamView> {
        check_slug("provider", provider)?;
        let base_url = change.base_url.as_deref().map(check_base_url).transpose()?;
        let api = change
            .api
            .as_deref()
            .map(|a| {
                Dialect::parse(a).ok_or_else(|| {
                    FieldError::new("api", format!("{a:?} is not a dialect; give openai (chat completions) or anthropic (Messages)"))
                })
            })
            .transpose()?;
        if let Some(k) = &change.api_key_env {
            crate::access::check_env_name("api_key_env", k, "OPENAI_API_KEY", "key")?;
        }
        let now = self.now();
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let before = store::upstream(&w.reader(), org.row.id, provider)?;
            let base_url = match (base_url, &before) {
                (Some(u), _) => u,
                (None, Some(b)) => b.base_url.clone(),
                (None, None) => {
                    return Err(FieldError::new(
                        "base_url",
                        format!("{provider} has no upstream yet; give its base URL (e.g. --base-url https://api.openai.com/v1)"),
                    )
                    .into())
                }
            };
            let row = UpstreamRow {
                provider: provider.to_string(),
                base_url,
                api: match (api, &before) {
                    (Some(a), _) => a.as_str().to_string(),
                    (None, Some(b)) => b.api.clone(),
                    (None, None) => Dialect::default_for(provider).as_str().to_string(),
                },
                api_key_env: change.api_key_env.clone().or_else(|| before.as_ref().and_then(|b| b.api_key_env.clone())),
                version: before.as_ref().map_or(1, |b| b.version + 1),
                updated_at: to_nanos(now),
            };
            store::put_upstream(w, org.row.id, &row)?;
            let json =
                |u: &UpstreamRow| serde_json::json!({"base_url": u.base_url, "api": u.api, "api_key_env": u.api_key_env}).to_string();
            audit::add(
                w,
                Some(org.row.id),
                to_nanos(now),
                &actor,
                "upstream.set",
                &format!("org/{}/providers/{provider}/upstream", org.row.slug),
                before.as_ref().map(json).as_deref(),
                Some(&json(&row)),
            )?;
            Ok(upstream_view(&row))
        })
    }

    pub fn upstream_list(&mut self, org: &str) -> Result<Vec<UpstreamView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(store::upstreams(r, org.row.id)?.iter().map(upstream_view).collect())
        })
    }

    /// Sets a model alias: `targets` is `provider/model,provider/model`.
    pub fn alias_set(&mut self, org: &str, name: &str, targets: &str) -> Result<AliasView> {
        check_alias_name(name)?;
        let list: Vec<String> = targets.split(',').map(str::trim).map(str::to_string).collect();
        if list.iter().any(String::is_empty) && list.len() > 1 {
            return Err(FieldError::new("targets", "one of the targets is empty; give provider/model, separated by commas").into());
        }
        if list.len() > 32 {
            return Err(FieldError::new("targets", format!("{} targets; give at most 32", list.len())).into());
        }
        if list.iter().all(String::is_empty) {
            return Err(
                FieldError::new("targets", "give at least one provider/model, e.g. openai/gpt-4o,anthropic/claude-sonnet-4-5").into()
            );
        }
        for t in &list {
            if split_target(t).is_none() {
                return Err(FieldError::new("targets", format!("{t:?} is not provider/model; e.g. openai/gpt-4o")).into());
            }
        }
        let now = self.now();
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let before = store::alias(&w.reader(), org.row.id, name)?;
            let row = AliasRow { name: name.to_string(), targets: list, updated_at: to_nanos(now) };
            store::put_alias(w, org.row.id, &row)?;
            audit::add(
                w,
                Some(org.row.id),
                to_nanos(now),
                &actor,
                "alias.set",
                &format!("org/{}/aliases/{name}", org.row.slug),
                before.map(|b| b.targets.join(",")).as_deref(),
                Some(&row.targets.join(",")),
            )?;
            Ok(alias_view(&row))
        })
    }

    pub fn alias_list(&mut self, org: &str) -> Result<Vec<AliasView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(store::aliases(r, org.row.id)?.iter().map(alias_view).collect())
        })
    }

    pub fn alias_remove(&mut self, org: &str, name: &str) -> Result<()> {
        check_alias_name(name)?;
        let now = self.now();
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let before = store::alias(&w.reader(), org.row.id, name)?;
            if !store::remove_alias(w, org.row.id, name)? {
                return Err(OpsError::new(
                    ErrorCode::NotFound,
                    format!("there is no alias {name:?}; `argus-usage alias list --org {}` lists them", org.row.slug),
                ));
            }
            audit::add(
                w,
                Some(org.row.id),
                to_nanos(now),
                &actor,
                "alias.remove",
                &format!("org/{}/aliases/{name}", org.row.slug),
                before.map(|b| b.targets.join(",")).as_deref(),
                None,
            )?;
            Ok(())
        })
    }

    /// Chooses the first of the targets of `model` (by the organisation's
    /// provider priority, skipping `tried`) that may be called now, exactly
    /// as `route` decides (disabled, cooling down, over a quota, over a
    /// hard limit with `estimate` priced at the target's rates), plus a key
    /// that the serving process lacks; admits it with a reservation, in one
    /// transaction.
    pub fn gateway_admit(&mut self, a: &Admit) -> Result<Choice> {
        self.gateway_admit_many(std::slice::from_ref(a))?.remove(0)
    }

    /// Several admissions in one transaction, each decided as
    /// [`Ops::gateway_admit`] decides it, in order (the gateway's calls in
    /// flight share a transaction, so the single writer is not the bound on
    /// calls a second). What they read of an organisation's settings (its
    /// upstreams, aliases, providers, prices) is read once for all of them;
    /// what admissions change (reservations, quotas) is read by each. One
    /// call's refusal or error is its own, and leaves nothing behind (each
    /// admission in a savepoint of its own).
    pub fn gateway_admit_many(&mut self, items: &[Admit]) -> Result<Vec<Result<Choice>>> {
        let now = self.now();
        self.store.write(|w| {
            let mut settings: std::collections::HashMap<&str, Result<Setting>> = std::collections::HashMap::new();
            let mut out = Vec::with_capacity(items.len());
            for a in items {
                let s = settings.entry(a.org.as_str()).or_insert_with(|| Setting::read(&w.reader(), &a.org));
                out.push(match s {
                    Err(e) => Err(e.clone()),
                    Ok(s) => w.atomically(|w| {
                        let targets = s.targets(&a.model, a.endpoint, now)?;
                        admit_in(w, s, &targets, &a.tried, &a.estimate, &a.keys(), now)
                    }),
                });
            }
            Ok(out)
        })
    }

    /// An attempt that never reached its provider (no connection, no
    /// answer in time): its reservation is released, the failure counts
    /// toward the provider's cool-down, and nothing is recorded.
    pub fn gateway_unreached(&mut self, org: &str, provider: &str, reservation: &str) -> Result<()> {
        let now = self.now();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            store::release_reservation(w, org.row.id, reservation, to_nanos(now))?;
            observe_health(w, &org, provider, &[(false, now)])
        })
    }

    /// A provider answered 429 with Retry-After: it is not tried again
    /// before then (the cool-down is at least that long).
    pub fn gateway_retry_after(&mut self, org: &str, provider: &str, secs: u64) -> Result<()> {
        let now = self.now();
        let until = now + chrono::Duration::seconds(secs.min(86_400) as i64);
        self.store.write(|w| {
            let org: Org = orgs::find(&w.reader(), org)?;
            let mut h = argus_store::controls::health(&w.reader(), org.row.id, provider)?.unwrap_or_default();
            if h.cooldown_until.is_none_or(|u| u < to_nanos(until)) {
                h.cooldown_until = Some(to_nanos(until));
                argus_store::controls::put_health(w, org.row.id, provider, &h)?;
            }
            Ok(())
        })
    }

    /// The models the organisation's gateway serves (`GET /v1/models`):
    /// its aliases, and `provider/model` for every priced model of a
    /// provider with an upstream.
    pub fn gateway_models(&mut self, org: &str) -> Result<Vec<String>> {
        let now = self.now();
        self.store.read(|r: &Reader<'_>| {
            let org = orgs::find(r, org)?;
            let ups = store::upstreams(r, org.row.id)?;
            let mut out: Vec<String> = store::aliases(r, org.row.id)?.into_iter().map(|a| a.name).collect();
            let prices = argus_store::prices::book(r, org.row.id, &org.row.currency)?.models_in_force(now);
            for u in &ups {
                for (p, m) in &prices {
                    if *p == u.provider {
                        out.push(format!("{p}/{m}"));
                    }
                }
            }
            out.dedup();
            Ok(out)
        })
    }
}

/// The gateway's day so far (the Overview): calls served by each provider,
/// failed attempts, and calls served after a failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct GatewayDay {
    /// The organisation's local date.
    pub day: String,
    /// Calls a provider answered.
    #[cfg_attr(test, ts(type = "number"))]
    pub served: u64,
    /// Calls answered after one or more providers failed (failovers).
    #[cfg_attr(test, ts(type = "number"))]
    pub failed_over: u64,
    pub providers: Vec<GatewayProviderDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct GatewayProviderDay {
    pub provider: String,
    /// Calls it answered.
    #[cfg_attr(test, ts(type = "number"))]
    pub served: u64,
    /// Attempts that failed there (a 429, a 5xx, a timeout): the call failed over, or ended.
    #[cfg_attr(test, ts(type = "number"))]
    pub failed: u64,
}

impl Ops {
    /// The gateway's calls today (the organisation's local day), from the records.
    pub fn gateway_today(&mut self, org: &str) -> Result<GatewayDay> {
        let now = self.now();
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let day = argus_domain::time::local_day(org.tz, now);
            let from = argus_domain::time::day_start(org.tz, day);
            let to = argus_domain::time::day_start(org.tz, day + 1);
            let rows = argus_store::records::gateway_attempts(r, org.row.id, to_nanos(from), to_nanos(to))?;
            Ok(GatewayDay {
                day: argus_domain::time::day_key(argus_domain::time::day_date(day)),
                served: rows.iter().map(|x| x.1).sum(),
                failed_over: rows.iter().map(|x| x.3).sum(),
                providers: rows.into_iter().map(|(provider, served, failed, _)| GatewayProviderDay { provider, served, failed }).collect(),
            })
        })
    }
}

/// What admissions read of an organisation's settings, once a transaction.
struct Setting {
    org: Org,
    upstreams: Vec<UpstreamRow>,
    aliases: Vec<AliasRow>,
    /// Configured providers and those seen in usage, by priority.
    providers: Vec<argus_store::controls::ProviderRow>,
    book: argus_domain::price::PriceBook,
    /// Rates into the organisation's currency, for estimates priced in another.
    fx: argus_domain::fx::FxBook,
}

impl Setting {
    fn read(r: &Reader<'_>, org: &str) -> Result<Setting> {
        let org = orgs::find(r, org)?;
        Ok(Setting {
            upstreams: store::upstreams(r, org.row.id)?,
            aliases: store::aliases(r, org.row.id)?,
            providers: all_providers(r, &org)?.into_iter().map(|(p, _)| p).collect(),
            book: argus_store::prices::book(r, org.row.id, &org.row.currency)?,
            fx: argus_store::fx::book(r, org.row.id, &org.row.currency)?,
            org,
        })
    }

    /// The targets that may serve `model` at `endpoint`: `provider/model`
    /// names one; an alias its targets; a bare model every provider with an
    /// upstream and a price for it. Only upstreams that speak the
    /// endpoint's dialect serve it.
    fn targets(&self, model: &str, endpoint: Endpoint, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Target>> {
        let (org, ups) = (&self.org, &self.upstreams);
        let target = |p: &str, m: &str| -> Option<Target> {
            let u = ups.iter().find(|u| u.provider == p)?;
            let dialect = Dialect::parse(&u.api)?;
            (dialect == endpoint.dialect()).then(|| Target {
                provider: p.to_string(),
                model: m.to_string(),
                base_url: u.base_url.clone(),
                dialect,
                api_key_env: u.api_key_env.clone(),
            })
        };
        let speaks = |p: &str| ups.iter().any(|u| u.provider == p);
        let (list, what): (Vec<Target>, String) = if let Some(a) = self.aliases.iter().find(|a| a.name == model) {
            (a.targets.iter().filter_map(|t| split_target(t)).filter_map(|(p, m)| target(p, m)).collect(), format!("alias {model:?}"))
        } else if let Some((p, m)) = split_target(model).filter(|(p, _)| speaks(p)) {
            (target(p, m).into_iter().collect(), format!("provider {p}"))
        } else {
            let list = ups
                .iter()
                .filter(|u| self.book.select(&u.provider, model, now).is_some())
                .filter_map(|u| target(&u.provider, model))
                .collect();
            (list, format!("model {model:?}"))
        };
        if list.is_empty() {
            let dialect = endpoint.dialect().as_str();
            return Err(OpsError {
                code: ErrorCode::NotFound,
                field: Some("model".into()),
                message: format!(
                    "no provider of {} can serve {what} here: give provider/model (a provider with an upstream speaking {dialect}: `argus-usage provider set --org {} --provider P --base-url URL --api-key-env NAME`), an alias (`argus-usage alias set`), or a model with a price",
                    org.row.slug, org.row.slug
                ),
            });
        }
        Ok(list)
    }
}

/// One admission of [`Ops::gateway_admit`], in the writer's transaction.
fn admit_in(
    w: &argus_store::Writer<'_>,
    s: &Setting,
    targets: &[Target],
    tried: &[String],
    estimate: &Tokens,
    keys: &CallKeys<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Choice> {
    let (org, book) = (&s.org, &s.book);
    let r = w.reader();
    let mut candidates = Vec::new();
    let mut chosen = None;
    // The organisation's providers by priority, and a target's
    // provider that has an upstream but no settings yet (defaults).
    let mut providers = s.providers.clone();
    for t in targets {
        if !providers.iter().any(|p| p.provider == t.provider) {
            providers.push(default_settings(&t.provider));
        }
    }
    providers.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.provider.cmp(&b.provider)));
    for p in providers {
        for t in targets.iter().filter(|t| t.provider == p.provider && !tried.contains(&t.provider)) {
            // The estimate in the organisation's currency: a price in
            // another is converted at the latest rate known (none: 0).
            let cost = book
                .price(&t.provider, &t.model, ServiceTier::Standard, estimate, now)
                .and_then(|p| match p.version.currency == org.row.currency {
                    true => Some(p.cost),
                    false => s.fx.latest(&p.version.currency, &org.row.currency).and_then(|r| argus_domain::fx::convert(p.cost, r.rate)),
                })
                .and_then(|c| c.nanos())
                .unwrap_or(0)
                .min(argus_domain::budget::MAX_CALL_COST * 1_000_000_000);
            let keys = CallKeys { provider: Some(&t.provider), ..*keys };
            let budget = budget_block(&r, org, now, cost, &keys)?;
            let block = candidate_block(&r, org, &p, now, budget.as_ref())?;
            let mut c = candidate_view(org, &p, block.as_ref(), now);
            if c.state == "available" && !key_present(t) {
                c.state = "unavailable".into();
                c.reason = Some(format!(
                    "the key of {} is not available to the server: set {} in its environment",
                    t.provider,
                    t.api_key_env.as_deref().unwrap_or("a variable named by --api-key-env")
                ));
            }
            if c.state == "available" && chosen.is_none() {
                let id = admit_now(w, org, &t.provider, &keys, now, cost)?;
                chosen = Some((t.clone(), id));
            }
            candidates.push(c);
        }
    }
    // When the first slot frees, by the clock that decided (not the wall's).
    let retry_after_s = candidates
        .iter()
        .filter_map(|c| c.until.as_deref())
        .filter_map(|u| chrono::DateTime::parse_from_rfc3339(u).ok())
        .map(|u| (u.with_timezone(&chrono::Utc) - now).num_seconds().max(1) as u64)
        .min();
    Ok(Choice { chosen, candidates, retry_after_s })
}

/// One admission asked of [`Ops::gateway_admit_many`]: a call for `model`
/// (`provider/model`, an alias or a bare model) at `endpoint`, its
/// providers `tried` already, its `estimate`.
#[derive(Debug, Clone)]
pub struct Admit {
    pub org: String,
    pub model: String,
    pub endpoint: Endpoint,
    pub tried: Vec<String>,
    pub estimate: Tokens,
    /// What scoped budgets match: the call's operation, investigation and user.
    pub operation: Option<String>,
    pub investigation: Option<String>,
    pub user: Option<String>,
    /// The name of the token that sent the call.
    pub token: Option<String>,
}

impl Admit {
    fn keys(&self) -> CallKeys<'_> {
        CallKeys {
            operation: self.operation.as_deref(),
            investigation: self.investigation.as_deref(),
            user: self.user.as_deref(),
            token: self.token.as_deref(),
            provider: None,
        }
    }
}

fn key_present(t: &Target) -> bool {
    match &t.api_key_env {
        // A local server may need no key.
        None => true,
        Some(k) => std::env::var_os(k).is_some_and(|v| !v.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_base_url;

    #[test]
    fn a_base_url_is_checked_as_the_api_documents_it() {
        assert_eq!(check_base_url("https://api.openai.com/v1/").unwrap(), "https://api.openai.com/v1");
        assert!(check_base_url("http://127.0.0.1:8000/v1").is_ok(), "a local model server");
        let long = format!("https://api.example.com/{}", "a".repeat(2000));
        assert!(check_base_url(&long).unwrap_err().to_string().contains("more than the 2000"));
        assert!(check_base_url("http://p.example***").is_err(), "no such host name");
        assert!(check_base_url("https://user:pw@api.example.com").is_err());
    }
}
