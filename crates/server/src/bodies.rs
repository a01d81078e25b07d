//! The HTTP API's own request and answer types: query strings, bodies and
//! the envelopes around the facade's types. The handlers parse and answer
//! these, and the OpenAPI document is generated from them (`openapi`), so
//! the two cannot drift.
use argus_domain::record::patterns;
use argus_ops::api::{AlertView, BudgetView, PriceView, ProviderView};
use argus_ops::gateway::{AliasView, UpstreamView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryQ {
    /// Inclusive; a bare date is the organisation's midnight (default: the month's start).
    #[schemars(pattern(patterns::TIME_OR_DATE))]
    pub from: Option<String>,
    /// Exclusive.
    #[schemars(pattern(patterns::TIME_OR_DATE))]
    pub to: Option<String>,
    /// One of provider, model, operation, investigation, user, day, week, month; or two of them separated by a comma.
    #[schemars(pattern(patterns::GROUPINGS))]
    pub by: Option<String>,
    /// Only the records of this provider (and so on: the filters of `GET /records`).
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub provider: Option<String>,
    #[schemars(length(min = 1, max = 128), pattern(patterns::TEXT))]
    pub model: Option<String>,
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub operation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub investigation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub user: Option<String>,
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub status: Option<String>,
    /// A part of the investigation, ASCII letters in any case.
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub investigation_contains: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub user_contains: Option<String>,
}

impl SummaryQ {
    /// The records the query selects, as the facade takes them.
    pub fn records(&self) -> argus_ops::analytics::RecordQuery {
        let filter = argus_domain::analytics::RecordFilter {
            provider: self.provider.clone(),
            model: self.model.clone(),
            operation: self.operation.clone(),
            investigation: self.investigation.clone(),
            user: self.user.clone(),
            status: self.status.clone(),
            investigation_contains: self.investigation_contains.clone(),
            user_contains: self.user_contains.clone(),
        };
        argus_ops::analytics::RecordQuery::of(self.from.clone(), self.to.clone(), filter)
    }
}

/// Which budget: the organisation's (no `scope`, or `org`) or a scope's.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeQ {
    /// `org`, or `KIND:VALUE` with KIND investigation, user, operation or provider.
    #[schemars(length(min = 3, max = 270), pattern(patterns::SCOPE))]
    pub scope: Option<String>,
}

/// A budget's month-to-date status: the month and the scope.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusQ {
    /// YYYY-MM (default: the current month).
    #[schemars(pattern(patterns::MONTH))]
    pub month: Option<String>,
    /// `org`, or `KIND:VALUE` with KIND investigation, user, operation or provider.
    #[schemars(length(min = 3, max = 270), pattern(patterns::SCOPE))]
    pub scope: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PricesQ {
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub provider: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasBody {
    /// `provider/model`, tried in the organisation's provider priority order.
    #[schemars(length(min = 1, max = 32), inner(regex(pattern = r"^[a-z0-9]([a-z0-9_-]|\.[a-z0-9_-])*\.?/[^\x00-\x1f\x7f-\x9f,]+$")))]
    pub targets: Vec<String>,
}

/// A provider's upstream, replaced whole (`PUT /orgs/{org}/providers/{p}/upstream`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBody {
    /// The base URL the provider's own SDK takes (https://api.openai.com/v1, https://api.anthropic.com).
    #[schemars(length(max = 2000), pattern(patterns::HTTP_URL))]
    pub base_url: String,
    /// `openai` (chat completions) or `anthropic` (Messages); the provider's own by default.
    #[schemars(regex(pattern = r"^(openai|anthropic)$"))]
    pub api: Option<String>,
    /// The environment variable of the serving process that holds the key.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"))]
    pub api_key_env: Option<String>,
}

impl UpstreamBody {
    pub fn change(self) -> argus_ops::gateway::UpstreamChange {
        argus_ops::gateway::UpstreamChange { base_url: Some(self.base_url), api: self.api, api_key_env: self.api_key_env }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepriceBody {
    #[schemars(pattern(patterns::TIME_OR_DATE))]
    pub from: Option<String>,
    #[schemars(pattern(patterns::TIME_OR_DATE))]
    pub to: Option<String>,
    /// Apply the change (admin only); a preview otherwise.
    #[serde(default)]
    pub apply: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmitBody {
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub provider: String,
    /// The call's operation, investigation and user: the budgets scoped to
    /// them apply too.
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub operation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub investigation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub user: Option<String>,
    /// At most 10000 (more than any one call could cost).
    #[schemars(pattern(patterns::ESTIMATE))]
    pub estimated_cost: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    #[schemars(length(max = 64), pattern(patterns::SLUG))]
    pub operation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub investigation: Option<String>,
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub user: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[schemars(pattern(patterns::ESTIMATE))]
    pub estimated_cost: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[schemars(regex(pattern = r"^(ingest|analyst|auditor|admin)$"))]
    pub role: String,
    #[schemars(length(min = 1, max = 100), pattern(patterns::TEXT))]
    pub name: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// An http(s) URL of a public host (internal ones only with `serve --allow-private-targets`).
    #[schemars(length(max = 2000), pattern(patterns::WEBHOOK_URL))]
    pub url: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Live {
    /// Always `live`.
    pub status: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub api: String,
    pub schema_version: i64,
}

impl Health {
    /// This build's health document, with `status` and the store's schema version.
    pub fn of(status: &str, schema_version: i64) -> Health {
        Health { status: status.into(), version: env!("CARGO_PKG_VERSION").into(), api: "v1".into(), schema_version }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Budgets {
    pub budgets: Vec<BudgetView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Alerts {
    pub alerts: Vec<AlertView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Providers {
    pub providers: Vec<ProviderView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Upstreams {
    pub upstreams: Vec<UpstreamView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Aliases {
    pub aliases: Vec<AliasView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Removed {
    pub removed: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Prices {
    /// The newest price id: send it as If-Match when adding prices.
    pub version: i64,
    pub prices: Vec<PriceView>,
}

#[derive(Serialize, JsonSchema)]
pub struct FxRates {
    pub rates: Vec<argus_ops::fx::FxRateView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Tokens {
    pub tokens: Vec<argus_ops::access::TokenView>,
}

#[derive(Serialize, JsonSchema)]
pub struct Channels {
    pub channels: Vec<argus_ops::channels::ChannelView>,
}

/// A channel just added; a webhook's with its signing secret (shown once
/// here, derived from the server key, stored nowhere).
#[derive(Serialize, JsonSchema)]
pub struct ChannelAdded {
    #[serde(flatten)]
    pub channel: argus_ops::channels::ChannelView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct WebhookSet {
    pub org: String,
    pub url: String,
    pub version: i64,
    pub updated_at: String,
    /// HMAC-SHA256 key of the signatures (`X-Argus-Signature: sha256=HEX`).
    pub secret: String,
}

/// Every error: `{"error": {"code", "message", "field"}}`.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: crate::error::ApiError,
}

/// The token a request carries: its organisation, role and name.
#[derive(Serialize, JsonSchema)]
pub struct Me {
    pub org: String,
    /// ingest, analyst, auditor or admin.
    #[schemars(regex(pattern = r"^(ingest|analyst|auditor|admin)$"))]
    pub role: String,
    /// The token's name (as in the audit log), never the token.
    pub token: String,
}

/// The keys of a call that scoped budgets match, from a body's fields.
pub fn call_keys<'a>(
    operation: &'a Option<String>,
    investigation: &'a Option<String>,
    user: &'a Option<String>,
    token: &'a str,
) -> argus_domain::budget::CallKeys<'a> {
    argus_domain::budget::CallKeys {
        operation: operation.as_deref(),
        investigation: investigation.as_deref(),
        user: user.as_deref(),
        token: Some(token),
        provider: None,
    }
}
