//! The handlers. Each one: authenticate, check that the token's
//! organisation is the path's (else 404, as for one that does not exist)
//! and that its role allows the access (else 403), call the facade, answer.
use crate::error::ApiError;
use crate::openapi::openapi_document;
use argus_domain::ErrorCode;
use argus_ops::access::{Access, Principal};
use argus_ops::analytics::RecordQuery;
use argus_ops::channels::{ChannelBody, ChannelSpec};
use argus_ops::controls::{BudgetChange, ProviderChange};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use std::time::Instant;

use crate::bodies::*;
pub use crate::state::App;

/// The caller, from `Authorization: Bearer TOKEN`.
pub struct Auth(pub Principal);

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let now = std::time::Instant::now();
        let too_many = |secs: u64| ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                ErrorCode::RateLimited,
                format!("too many failed authentications from this address; try again in {secs} s with a valid token"),
            )
        };
        if let Some(ip) = ip {
            app.throttle.check(ip, now).map_err(too_many)?;
        }
        let failed = || match ip.and_then(|ip| app.throttle.failed(ip, now)) {
            Some(secs) => too_many(secs),
            None => ApiError::unauthorized(),
        };
        // `Authorization: Bearer TOKEN`, or `x-api-key: TOKEN` as Anthropic's SDK sends it.
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let api_key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(api_key);
        if token.is_empty() || token.len() > 200 {
            return Err(failed());
        }
        let token = token.to_string();
        match app.pool.run("server", move |ops| ops.authenticate(&token)).await? {
            Some(p) => Ok(Auth(p)),
            None => Err(failed()),
        }
    }
}

impl Auth {
    /// Checks the organisation, then the role; returns the actor for the audit log.
    pub(crate) fn allow(&self, org: &str, access: Access) -> Result<String, ApiError> {
        if self.0.org != org {
            return Err(not_found_org(org));
        }
        if !self.0.role.allows(access) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("a token with the role {} may not do this; it needs an {} token", self.0.role.as_str(), needed(access)),
            ));
        }
        Ok(format!("token:{}", self.0.name))
    }
}

fn needed(a: Access) -> &'static str {
    match a {
        Access::Ingest => "ingest or admin",
        Access::Read => "analyst, auditor or admin",
        Access::Audit => "auditor or admin",
        Access::Configure => "admin",
    }
}

fn not_found_org(org: &str) -> ApiError {
    ApiError {
        field: Some("org".into()),
        ..ApiError::new(ErrorCode::NotFound, format!("organisation {org:?} does not exist or is not yours"))
    }
}

/// A JSON body: parsed with our error shape (400 with the field, 413 when too large).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest<App> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(req, app).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the body is larger than {} bytes; send smaller batches", crate::MAX_BODY),
                )
            } else {
                ApiError::bad_input(format!("cannot read the body: {e}"), None)
            }
        })?;
        parse_json(&bytes).map(Body)
    }
}

/// A JSON body: no key twice in an object, and an object where the route
/// takes one (serde would take an array for a struct, field by position).
fn parse_json<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |e: serde_json::Error| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).filter(|_| msg.contains("field") || msg.contains("duplicate key")).map(str::to_string);
        ApiError::bad_input(format!("the body is not valid: {msg}; send JSON as described in /api/v1/openapi.json"), field)
    };
    let crate::strict_json::Strict(value) = serde_json::from_slice(bytes).map_err(invalid)?;
    let wants_value = std::any::TypeId::of::<T>() == std::any::TypeId::of::<serde_json::Value>();
    if !wants_value && !value.is_object() {
        return Err(ApiError::bad_input(
            format!("the body is {}; send a JSON object as described in /api/v1/openapi.json", kind(&value)),
            None,
        ));
    }
    serde_json::from_value(value).map_err(invalid)
}

/// Query parameters, with our error shape.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<App> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, app)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| ApiError::bad_input(format!("bad query parameters: {}", e.body_text()), None))
    }
}

fn if_match(h: &HeaderMap) -> Result<Option<i64>, ApiError> {
    match h.get("if-match") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().unwrap_or("").trim().trim_start_matches("W/").trim_matches('"');
            s.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_input(
                    format!("If-Match {s:?} is not a version; send the `version` of the object you edited"),
                    Some("If-Match".into()),
                )
            })
        }
    }
}

fn with_etag<T: serde::Serialize>(version: i64, body: T) -> Response {
    let mut r = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        r.headers_mut().insert("etag", v);
    }
    r
}

/// The API under `/api/v1`, and `beside` it (the gateway under `/v1`),
/// with the body limit and the request log over both.
pub fn router(app: App, beside: Router<App>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/orgs/{org}", get(get_org))
        .route("/orgs/{org}/me", get(me))
        .route("/orgs/{org}/records", post(post_records).get(get_records))
        .route("/orgs/{org}/usage/summary", get(summary))
        .route("/orgs/{org}/budgets", get(budgets))
        .route("/orgs/{org}/budgets/{month}", get(get_budget).put(put_budget))
        .route("/orgs/{org}/budget-status", get(budget_status))
        .route("/orgs/{org}/alerts", get(alerts))
        .route("/orgs/{org}/alerts/{id}/ack", post(ack_alert))
        .route("/orgs/{org}/providers", get(providers))
        .route("/orgs/{org}/providers/{provider}", put(put_provider))
        .route("/orgs/{org}/upstreams", get(upstreams))
        .route("/orgs/{org}/gateway/today", get(gateway_today))
        .route("/orgs/{org}/providers/{provider}/upstream", put(put_upstream))
        .route("/orgs/{org}/aliases", get(aliases))
        .route("/orgs/{org}/aliases/{name}", put(put_alias).delete(remove_alias))
        .route("/orgs/{org}/prices", get(prices).post(post_prices))
        .route("/orgs/{org}/prices/check", get(prices_check))
        .route("/orgs/{org}/fx", get(fx_list).post(post_fx))
        .route("/orgs/{org}/reprice", post(reprice))
        .route("/orgs/{org}/admit", post(admit))
        .route("/orgs/{org}/route", post(route))
        .route("/orgs/{org}/forecast", get(forecast))
        .route("/orgs/{org}/audit", get(audit))
        .route("/orgs/{org}/tokens", get(tokens).post(post_token))
        .route("/orgs/{org}/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/orgs/{org}/webhook", get(get_webhook).put(put_webhook))
        .route("/orgs/{org}/alert-channels", get(channels).post(post_channel))
        .route("/orgs/{org}/alert-channels/{id}", axum::routing::delete(remove_channel))
        .route("/orgs/{org}/reports", get(reports))
        // Also when the console's files are served at `/`: an unknown API path is a JSON 404.
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route; the routes are listed in /api/v1/openapi.json") });
    Router::new()
        .nest("/api/v1", api)
        .merge(beside)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route; the routes are listed in /api/v1/openapi.json") })
        .layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
}

/// Answers 503 `timeout` when a request's answer has not started within
/// `limit` (the work on a blocking thread still finishes: a write commits
/// whole or not at all).
pub async fn time_limit(State(limit): State<std::time::Duration>, req: Request, next: Next) -> Response {
    // The gateway's calls are bounded by the upstream timeout of each
    // attempt instead: cutting one short could drop an attempt that reached
    // a provider before its record.
    if req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} s, the server's limit; ask for less (a shorter period, a smaller page) and try again",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// One log line a request: route, organisation, status, latency. Never the token.
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "(unmatched)".into());
    let org =
        req.uri().path().strip_prefix("/api/v1/orgs/").and_then(|p| p.split('/').next()).unwrap_or("").chars().take(64).collect::<String>();
    let res = next.run(req).await;
    tracing::info!(%method, route, org, status = res.status().as_u16(), latency_us = start.elapsed().as_micros() as u64, "request");
    res
}

async fn health(State(app): State<App>) -> Result<Json<Health>, ApiError> {
    let schema_version = app.pool.run("server", |ops| ops.schema_version()).await?;
    Ok(Json(Health::of("ok", schema_version)))
}

/// Liveness for a load balancer or an orchestrator: the process answers
/// (the store is not asked, so a slow store never gets a live server restarted).
async fn livez() -> Json<Live> {
    Json(Live { status: "live".into() })
}

/// Readiness: the store answers a read within 2 s (`not_ready`, 503, if
/// not: send this instance no traffic until it is ready again). During a
/// shutdown the listener is closed first, so a draining instance takes no
/// new connection while its requests in flight finish.
async fn readyz(State(app): State<App>) -> Result<Json<Health>, ApiError> {
    let not_ready = |why: String| ApiError::new(ErrorCode::Timeout, why).with_code("not_ready", 503);
    match tokio::time::timeout(std::time::Duration::from_secs(2), app.pool.run("server", |ops| ops.schema_version())).await {
        Ok(Ok(schema_version)) => Ok(Json(Health::of("ready", schema_version))),
        Ok(Err(e)) => Err(not_ready(format!("the store cannot be read: {}", e.message))),
        Err(_) => Err(not_ready("the store did not answer within 2 s".into())),
    }
}

async fn openapi() -> Json<serde_json::Value> {
    Json(openapi_document())
}

async fn get_org(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.org_get(&org)).await?).into_response())
}

/// Who the token is: any token of the organisation may ask (the console
/// shows each role only what it may do).
async fn me(auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    if auth.0.org != org {
        return Err(not_found_org(&org));
    }
    Ok(Json(Me { org, role: auth.0.role.as_str().to_string(), token: auth.0.name.clone() }).into_response())
}

async fn post_records(
    State(app): State<App>,
    auth: Auth,
    Path(org): Path<String>,
    headers: HeaderMap,
    Body(body): Body<serde_json::Value>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::bad_input("the Idempotency-Key header is not visible ASCII; send a UUID", Some("Idempotency-Key".into()))
                })?
                .to_string(),
        ),
    };
    let actor = auth.allow(&org, Access::Ingest)?;
    let token = auth.0.name.clone();
    let single = body.is_object();
    let values = match body {
        serde_json::Value::Array(v) => v,
        v @ serde_json::Value::Object(_) => vec![v],
        other => {
            return Err(ApiError::bad_input(format!("the body is {}; send one record object or an array of them", kind(&other)), None))
        }
    };
    if values.len() > 10_000 {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge, format!("{} records in one request; send at most 10000", values.len())));
    }
    let n = values.len();
    let report = app.pool.run(&actor, move |ops| ops.record_batch(&org, Some(&token), values, key.as_deref())).await?;
    if report.accepted + report.duplicates == 0 && !report.rejected.is_empty() && (single || report.rejected.len() == n) {
        let first = &report.rejected[0];
        let code = if first.code == "conflict" { ErrorCode::Conflict } else { ErrorCode::BadInput };
        return Err(ApiError {
            field: first.field.clone(),
            details: Some(Box::new(serde_json::json!({"rejected": report.rejected}))),
            ..ApiError::new(
                code,
                if single { first.error.clone() } else { format!("no record was accepted; element {}: {}", first.index, first.error) },
            )
        });
    }
    Ok(Json(report).into_response())
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

async fn get_records(State(app): State<App>, auth: Auth, Path(org): Path<String>, Q(q): Q<RecordQuery>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let query = RecordQuery { limit: q.limit.or(Some(1000)), ..q };
    Ok(Json(app.pool.run(&actor, move |ops| ops.usage_records(&org, &query)).await?).into_response())
}

async fn summary(State(app): State<App>, auth: Auth, Path(org): Path<String>, Q(q): Q<SummaryQ>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.usage_summary_of(&org, &q.records(), q.by.as_deref())).await?).into_response())
}

async fn budgets(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let list = app.pool.run(&actor, move |ops| ops.budgets(&org)).await?;
    Ok(Json(Budgets { budgets: list }).into_response())
}

async fn get_budget(
    State(app): State<App>,
    auth: Auth,
    Path((org, month)): Path<(String, String)>,
    Q(q): Q<ScopeQ>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let m = month.clone();
    let scope = q.scope.clone();
    match app.pool.run(&actor, move |ops| ops.budget_get(&org, scope.as_deref(), &m)).await? {
        Some(b) => Ok(with_etag(b.version, b)),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no budget of {} is set for {month}; PUT one", q.scope.as_deref().unwrap_or("the organisation")),
        )),
    }
}

async fn put_budget(
    State(app): State<App>,
    auth: Auth,
    Path((org, month)): Path<(String, String)>,
    Q(q): Q<ScopeQ>,
    headers: HeaderMap,
    Body(change): Body<BudgetChange>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let change = BudgetChange { if_version: if_match(&headers)?, scope: q.scope, ..change };
    let view = app.pool.run(&actor, move |ops| ops.budget_set(&org, Some(&month), &change)).await?.budget;
    Ok(with_etag(view.version, view))
}

async fn budget_status(State(app): State<App>, auth: Auth, Path(org): Path<String>, Q(q): Q<StatusQ>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.budget_status_of(&org, q.scope.as_deref(), q.month.as_deref())).await?).into_response())
}

async fn alerts(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let list = app.pool.run(&actor, move |ops| ops.alerts_list(&org)).await?;
    Ok(Json(Alerts { alerts: list }).into_response())
}

async fn ack_alert(State(app): State<App>, auth: Auth, Path((org, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let id: i64 = id.parse().map_err(|_| ApiError::bad_input(format!("{id:?} is not an alert id"), Some("id".into())))?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.alerts_ack(&org, id)).await?).into_response())
}

async fn providers(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let list = app.pool.run(&actor, move |ops| ops.provider_list(&org)).await?;
    Ok(Json(Providers { providers: list }).into_response())
}

async fn put_provider(
    State(app): State<App>,
    auth: Auth,
    Path((org, provider)): Path<(String, String)>,
    headers: HeaderMap,
    Body(change): Body<ProviderChange>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let change = ProviderChange { if_version: if_match(&headers)?, ..change };
    let view = app.pool.run(&actor, move |ops| ops.provider_set(&org, &provider, &change)).await?;
    Ok(with_etag(view.version, view))
}

async fn prices_check(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.prices_check(&org)).await?).into_response())
}

async fn gateway_today(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.gateway_today(&org)).await?).into_response())
}

async fn upstreams(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let list = app.pool.run(&actor, move |ops| ops.upstream_list(&org)).await?;
    Ok(Json(Upstreams { upstreams: list }).into_response())
}

async fn put_upstream(
    State(app): State<App>,
    auth: Auth,
    Path((org, provider)): Path<(String, String)>,
    Body(body): Body<UpstreamBody>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let change = body.change();
    Ok(Json(app.pool.run(&actor, move |ops| ops.upstream_set(&org, &provider, &change)).await?).into_response())
}

async fn aliases(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let list = app.pool.run(&actor, move |ops| ops.alias_list(&org)).await?;
    Ok(Json(Aliases { aliases: list }).into_response())
}

async fn put_alias(
    State(app): State<App>,
    auth: Auth,
    Path((org, name)): Path<(String, String)>,
    Body(b): Body<AliasBody>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.alias_set(&org, &name, &b.targets.join(","))).await?).into_response())
}

async fn remove_alias(State(app): State<App>, auth: Auth, Path((org, name)): Path<(String, String)>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let n = name.clone();
    app.pool.run(&actor, move |ops| ops.alias_remove(&org, &n)).await?;
    Ok(Json(Removed { removed: name }).into_response())
}

async fn prices(State(app): State<App>, auth: Auth, Path(org): Path<String>, Q(q): Q<PricesQ>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    if let Some(p) = &q.provider {
        argus_domain::slug::check_slug("provider", p).map_err(|e| ApiError::bad_input(e.to_string(), Some(e.field)))?;
    }
    let (list, version) =
        app.pool.run(&actor, move |ops| Ok((ops.prices_list(Some(&org), q.provider.as_deref())?, ops.prices_version(&org)?))).await?;
    Ok(with_etag(version, Prices { version, prices: list }))
}

/// New price versions for the organisation: a JSON array (as `prices import`) or CSV text.
async fn post_prices(
    State(app): State<App>,
    auth: Auth,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let expected = if_match(&headers)?;
    let content = String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_input("the body is not UTF-8 text", None))?;
    let report = app.pool.run(&actor, move |ops| ops.prices_add(&org, &content, expected)).await?;
    refused_whole(report.added + report.unchanged, &report.rejected)?;
    Ok(Json(report).into_response())
}

/// A file of rows of which none was taken: a 400 naming the first bad
/// line, with every rejected line in `details`.
fn refused_whole(taken: usize, rejected: &[argus_ops::api::Rejected]) -> Result<(), ApiError> {
    match rejected.first() {
        Some(first) if taken == 0 => Err(ApiError {
            field: first.field.clone(),
            details: Some(Box::new(serde_json::json!({"rejected": rejected}))),
            ..ApiError::bad_input(format!("line {}: {}", first.line, first.error), None)
        }),
        _ => Ok(()),
    }
}

async fn fx_list(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    let rates = app.pool.run(&actor, move |ops| ops.fx_list(Some(&org))).await?;
    Ok(Json(FxRates { rates }).into_response())
}

async fn post_fx(State(app): State<App>, auth: Auth, Path(org): Path<String>, body: bytes::Bytes) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let content = String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_input("the body is not UTF-8 text", None))?;
    let report = app.pool.run(&actor, move |ops| ops.fx_import(&content, Some(&org))).await?;
    refused_whole(report.added + report.unchanged, &report.rejected)?;
    Ok(Json(report).into_response())
}

async fn reprice(State(app): State<App>, auth: Auth, Path(org): Path<String>, Body(b): Body<RepriceBody>) -> Result<Response, ApiError> {
    let access = if b.apply { Access::Configure } else { Access::Read };
    let actor = auth.allow(&org, access)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.reprice(&org, b.from.as_deref(), b.to.as_deref(), b.apply)).await?).into_response())
}

async fn admit(State(app): State<App>, auth: Auth, Path(org): Path<String>, Body(b): Body<AdmitBody>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Ingest)?;
    let token = auth.0.name.clone();
    let a = app
        .pool
        .run(&actor, move |ops| {
            ops.admit_call(&org, &b.provider, b.estimated_cost.as_deref(), &call_keys(&b.operation, &b.investigation, &b.user, &token))
        })
        .await?;
    if a.allowed {
        return Ok(Json(a).into_response());
    }
    let code = match a.code.as_deref() {
        Some("budget_exceeded") => ErrorCode::BudgetExceeded,
        Some("rate_limited") => ErrorCode::RateLimited,
        _ => ErrorCode::ProviderDisabled,
    };
    Err(ApiError {
        retry_after: a.retry_after_s,
        details: serde_json::to_value(&a).ok().map(Box::new),
        ..ApiError::new(code, a.message.clone().unwrap_or_default())
    })
}

async fn route(State(app): State<App>, auth: Auth, Path(org): Path<String>, Body(b): Body<RouteBody>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Ingest)?;
    let token = auth.0.name.clone();
    let route = app
        .pool
        .run(&actor, move |ops| {
            ops.route_call(&org, &call_keys(&b.operation, &b.investigation, &b.user, &token), b.dry_run, b.estimated_cost.as_deref())
        })
        .await?;
    Ok(Json(route).into_response())
}

async fn forecast(State(app): State<App>, auth: Auth, Path(org): Path<String>, Q(q): Q<StatusQ>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Read)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.forecast_of(&org, q.scope.as_deref(), q.month.as_deref())).await?).into_response())
}

async fn audit(
    State(app): State<App>,
    auth: Auth,
    Path(org): Path<String>,
    Q(q): Q<argus_ops::api::AuditQuery>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Audit)?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.audit_query(&org, &q)).await?).into_response())
}

async fn tokens(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let list = app.pool.run(&actor, move |ops| ops.token_list(&org)).await?;
    Ok(Json(Tokens { tokens: list }).into_response())
}

async fn post_token(State(app): State<App>, auth: Auth, Path(org): Path<String>, Body(b): Body<TokenBody>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let t = app.pool.run(&actor, move |ops| ops.token_create(&org, &b.role, b.name.as_deref())).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

async fn revoke_token(State(app): State<App>, auth: Auth, Path((org, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let id: i64 = id.parse().map_err(|_| ApiError::bad_input(format!("{id:?} is not a token id"), Some("id".into())))?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.token_revoke(&org, id)).await?).into_response())
}

async fn get_webhook(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    match app.pool.run(&actor, move |ops| ops.webhook_get(&org)).await? {
        Some(w) => Ok(Json(w).into_response()),
        None => Err(ApiError::new(ErrorCode::NotFound, "no webhook is set; PUT {\"url\": ...} to set one")),
    }
}

async fn put_webhook(
    State(app): State<App>,
    auth: Auth,
    Path(org): Path<String>,
    Body(b): Body<WebhookBody>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let allow = app.allow_private_targets;
    let w = app.pool.run(&actor, move |ops| ops.webhook_set(&org, &b.url, allow)).await?;
    let secret = crate::webhooks::secret(&app.server_key, &w.org, w.version);
    Ok(Json(WebhookSet { org: w.org, url: w.url, version: w.version, updated_at: w.updated_at, secret }).into_response())
}

async fn channels(State(app): State<App>, auth: Auth, Path(org): Path<String>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    Ok(Json(Channels { channels: app.pool.run(&actor, move |ops| ops.channels_list(&org)).await? }).into_response())
}

async fn post_channel(
    State(app): State<App>,
    auth: Auth,
    Path(org): Path<String>,
    Body(b): Body<ChannelBody>,
) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let allow = app.allow_private_targets;
    let spec = ChannelSpec::from(b);
    let channel = app.pool.run(&actor, move |ops| ops.channel_add(&org, &spec, allow)).await?;
    let secret = argus_client::outbox::channel_secret(&app.server_key, &channel);
    Ok((StatusCode::CREATED, Json(ChannelAdded { channel, secret })).into_response())
}

async fn remove_channel(State(app): State<App>, auth: Auth, Path((org, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let actor = auth.allow(&org, Access::Configure)?;
    let id: i64 = id.parse().map_err(|_| ApiError::bad_input(format!("{id:?} is not a channel id"), Some("id".into())))?;
    Ok(Json(app.pool.run(&actor, move |ops| ops.channel_remove(&org, id)).await?).into_response())
}

/// Sends what the export writes to the response body, 64 KiB at a time.
/// Writes an export into the response body, and gives up when the client
/// stops reading for `stall` (so that a slow client never holds a store
/// connection for long).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
    stall: std::time::Duration,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut chunk = Ok(bytes::Bytes::from(std::mem::take(&mut self.buf)));
        let since = std::time::Instant::now();
        loop {
            match self.tx.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
                }
                Err(tokio::sync::mpsc::error::TrySendError::Full(c)) if since.elapsed() < self.stall => {
                    chunk = c;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading the download"))
                }
            }
        }
    }
}

/// Every byte outside `A-Z a-z 0-9 - _ . ~` as `%XX` (what JavaScript's
/// `decodeURIComponent` undoes): JSON of any script in a header.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The same files as `argus-usage export`, streamed. A CSV carries its
/// metadata as leading `#` lines (the console splits them into the metadata
/// file); a PDF is sent whole with its metadata in `x-argus-meta`.
async fn reports(
    State(app): State<App>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    auth: Auth,
    Path(org): Path<String>,
    Q(q): Q<argus_reports::ReportParams>,
) -> Result<Response, ApiError> {
    // The audit log's export needs the role that reads the audit log.
    let actor = auth.allow(&org, if q.kind.as_deref() == Some("audit") { Access::Audit } else { Access::Read })?;
    // Downloads are bounded per token, per address and in all, below the
    // pool's size: stalled downloads can never take every store connection.
    let slot = app.downloads.acquire(auth.0.token_id, peer.ip()).map_err(|why| ApiError {
        retry_after: Some(5),
        ..ApiError::new(ErrorCode::RateLimited, format!("{why}; finish or cancel a download, then try again"))
    })?;
    let stall = app.download_stall;
    let req = q.request(&org, true).map_err(|e| ApiError::bad_input(e.to_string(), None))?;
    let (format, file_name) = (req.format, req.default_file_name());
    // Check the request (organisation, period, grouping, length) before the answer starts.
    let check = req.clone();
    app.pool
        .run(&actor, move |ops| {
            argus_reports::check(ops, &check).map_err(|e| match e {
                argus_reports::ReportError::Ops(o) => o,
                argus_reports::ReportError::TooLong(m) => argus_ops::OpsError::new(ErrorCode::Conflict, m),
                other => argus_ops::OpsError::new(ErrorCode::BadInput, other.to_string()),
            })
        })
        .await?;
    if format == argus_reports::Format::Pdf {
        // A PDF is made in memory anyway: sent whole, with its metadata (and
        // the file's checksum) in `x-argus-meta`, percent-encoded JSON, which
        // the console saves beside it as FILE.meta.json for `export verify`.
        let (bytes, meta) = app
            .pool
            .run(&actor, move |ops| {
                let _slot = slot;
                argus_reports::export_bytes(ops, &req).map_err(|e| argus_ops::OpsError::new(ErrorCode::Internal, e.to_string()))
            })
            .await?;
        let mut res = axum::body::Body::from(bytes).into_response();
        res.headers_mut().insert("content-type", HeaderValue::from_static(format.content_type()));
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
            res.headers_mut().insert("content-disposition", v);
        }
        if let Ok(v) = HeaderValue::from_str(&percent_encode(&serde_json::to_string(&meta).unwrap_or_default())) {
            res.headers_mut().insert("x-argus-meta", v);
        }
        return Ok(res);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let pool = app.pool.clone();
    tokio::spawn(async move {
        let err_tx = tx.clone();
        let res = pool
            .run(&actor, move |ops| {
                let _slot = slot;
                let mut w = ChannelWriter { tx, buf: Vec::with_capacity(1 << 16), stall };
                let out = argus_reports::export(ops, &req, &mut w, &mut |_, _| {});
                let _ = std::io::Write::flush(&mut w);
                out.map(|_| ()).map_err(|e| argus_ops::OpsError::new(ErrorCode::Internal, e.to_string()))
            })
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e.message, "report failed while streaming");
            let _ = err_tx.send(Err(std::io::Error::other(e.message))).await;
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut res = axum::body::Body::from_stream(stream).into_response();
    res.headers_mut().insert("content-type", HeaderValue::from_static(format.content_type()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        res.headers_mut().insert("content-disposition", v);
    }
    Ok(res)
}
