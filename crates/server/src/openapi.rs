//! The route table and the OpenAPI 3 document made from it and from the
//! Rust types the handlers parse and answer (schemars): each operation's
//! parameters, request body, answers and status codes. A test checks that
//! the router serves every route of the table, so the two agree.
use crate::bodies::*;
use argus_domain::record::patterns;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// `(method, path under /api/v1, access, summary)`.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("get", "/health", "none", "Health and versions of the server"),
    ("get", "/livez", "none", "Liveness: the process answers (the store is not asked)"),
    ("get", "/readyz", "none", "Readiness: the store answers a read within 2 s (503 not_ready if not); for a load balancer's health check"),
    ("get", "/openapi.json", "none", "This document"),
    ("get", "/orgs/{org}", "read", "The organisation: slug, name, currency, timezone (what a linked desktop store is created with)"),
    ("get", "/orgs/{org}/me", "any", "The token of the request: its organisation, role and name (what the console shows and hides)"),
    ("post", "/orgs/{org}/records", "ingest", "Record one call (an object) or many (an array), keys as an ingest line; an Idempotency-Key header makes records without an id safe to retry; answers accepted, duplicates, rejected by index, retry_safe, and the records with their costs"),
    ("get", "/orgs/{org}/records", "read", "Records after a sequence number (after_seq, limit, from, to, provider, model, operation, investigation, user); answers records, next_after_seq, has_more"),
    ("get", "/orgs/{org}/usage/summary", "read", "Totals and breakdown over a period (from, to, by); the same document as `argus-usage usage summary --json`"),
    ("get", "/orgs/{org}/budgets", "read", "Every budget of the organisation, its own and each scope's, with versions"),
    ("get", "/orgs/{org}/budgets/{month}", "read", "The budget of a month (YYYY-MM) or the default, the organisation's or a scope's (?scope=KIND:VALUE); ETag is its version"),
    ("put", "/orgs/{org}/budgets/{month}", "configure", "Set a budget: {amount, thresholds, hard_limit}, the organisation's or a scope's (?scope=investigation:INV-7, user:, operation:, provider:); If-Match: VERSION refuses a stale edit with 412"),
    ("get", "/orgs/{org}/budget-status", "read", "Month-to-date spend against the budget (month; scope=KIND:VALUE for a scoped budget)"),
    ("get", "/orgs/{org}/alerts", "read", "Budget alerts fired"),
    ("post", "/orgs/{org}/alerts/{id}/ack", "configure", "Acknowledge an alert"),
    ("get", "/orgs/{org}/providers", "read", "Providers with settings, quota use and health"),
    ("put", "/orgs/{org}/providers/{provider}", "configure", "Set {enabled, priority, hourly_limit, daily_limit} (null quota: none); If-Match: VERSION"),
    ("get", "/orgs/{org}/gateway/today", "read", "The gateway's calls today (the organisation's local day): served by each provider, failed attempts, calls served after a failover"),
    ("get", "/orgs/{org}/upstreams", "read", "Where the gateway sends each provider's calls: base URL, dialect, the key's environment variable and whether the server has it"),
    ("put", "/orgs/{org}/providers/{provider}/upstream", "configure", "Set a provider's upstream: {base_url, api, api_key_env} (the key itself is never sent or stored)"),
    ("get", "/orgs/{org}/aliases", "read", "The gateway's model aliases"),
    ("put", "/orgs/{org}/aliases/{name}", "configure", "Set an alias: {targets: [\"provider/model\", ...]}, tried in provider priority order"),
    ("delete", "/orgs/{org}/aliases/{name}", "configure", "Remove an alias"),
    ("get", "/orgs/{org}/prices", "read", "Price versions in force for the organisation (global and negotiated); version is the newest id"),
    ("post", "/orgs/{org}/prices", "configure", "Add negotiated price versions: a JSON array (or CSV text) as `prices import`; If-Match: VERSION"),
    ("get", "/orgs/{org}/fx", "read", "The exchange rates into the organisation's currency (every organisation's and its own): date, from, to, rate"),
    ("post", "/orgs/{org}/fx", "configure", "Add the organisation's own exchange rates: a JSON array of {date, from, to, rate} (or CSV text `date,from,to,rate`), as `fx import --org`; answers added, unchanged, rejected and the records waiting for a rate"),
    ("get", "/orgs/{org}/prices/check", "read", "The models in the ledger that have no price, are priced by a deprecated row, or are priced through a fallback rate (`argus-usage prices check`)"),
    ("post", "/orgs/{org}/reprice", "read", "Re-cost records with the prices now known: {from, to, apply}; a preview unless apply (which needs admin)"),
    ("post", "/orgs/{org}/admit", "ingest", "May a call to {provider} (with its operation, investigation and user) go ahead, holding {estimated_cost}? Every budget that applies is checked. 200 with a reservation, 402 budget_exceeded (naming the scope), 429 rate_limited (Retry-After), 409 provider_disabled"),
    ("post", "/orgs/{org}/route", "ingest", "Choose a provider by priority with fallback: {operation, investigation, user, dry_run}; candidates with their state"),
    ("get", "/orgs/{org}/forecast", "read", "Month-end projection (month)"),
    ("get", "/orgs/{org}/audit", "audit", "The audit log: oldest first after an entry id (after), or newest first before one (order=newest, before); parts of actor, action and object; a period (from, to)"),
    ("get", "/orgs/{org}/tokens", "configure", "Tokens of the organisation (never the tokens themselves)"),
    ("post", "/orgs/{org}/tokens", "configure", "Make a token: {role, name}; the token is in the answer, once"),
    ("delete", "/orgs/{org}/tokens/{id}", "configure", "Revoke a token"),
    ("get", "/orgs/{org}/reports", "read", "An export: format=csv|json|pdf, kind=records|summary|audit, by, from, to, the record filters (records, summary) or actor, action, object (audit); the same files as `argus-usage export`. A CSV is streamed with its metadata as leading # lines, a JSON carries it inside; a PDF (a report of totals, or a listing of at most 10,000 records) is sent whole with its metadata, file checksum included, as percent-encoded JSON in the x-argus-meta header"),
    ("get", "/orgs/{org}/webhook", "configure", "Where alerts are POSTed"),
    ("put", "/orgs/{org}/webhook", "configure", "Set the webhook: {url}; the answer carries the signing secret (HMAC-SHA256 of the body, header X-Argus-Signature: sha256=HEX)"),
    ("get", "/orgs/{org}/alert-channels", "configure", "Where every alert also goes, once each: Slack-compatible webhooks, e-mail, signed webhooks (a Slack URL shown up to its host; never a password)"),
    ("post", "/orgs/{org}/alert-channels", "configure", "Add a channel: {kind: slack, url}, {kind: webhook, url} (the answer carries its signing secret) or {kind: email, to, smtp, from, smtp_auth: {user, password_env}} (the password is read from that variable of the serving process)"),
    ("delete", "/orgs/{org}/alert-channels/{id}", "configure", "Remove a channel; what it had not sent yet is dropped"),
];

fn roles(access: &str) -> &'static str {
    match access {
        "ingest" => "Roles: ingest, admin.",
        "read" => "Roles: analyst, auditor, admin.",
        "audit" => "Roles: auditor, admin.",
        "configure" => "Roles: admin.",
        "any" => "Roles: any token of the organisation.",
        _ => "No token needed.",
    }
}

type SchemaFn = fn(&mut SchemaGenerator) -> Value;

fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

/// The body of POST records: one line, or an array of them.
fn records_body(g: &mut SchemaGenerator) -> Value {
    let line = of::<argus_domain::record::RecordLineDoc>(g);
    json!({"oneOf": [line.clone(), {"type": "array", "items": line, "minItems": 1, "maxItems": 10000}]})
}

/// An array of rates: the documented line once per `from` currency, with
/// `to` any other (a rate converts one currency into another).
fn fx_body(_: &mut SchemaGenerator) -> Value {
    let line = serde_json::to_value(schemars::schema_for!(argus_domain::fx::FxLineDoc)).unwrap_or_default();
    let currencies: Vec<String> = line
        .pointer("/properties/from/pattern")
        .and_then(Value::as_str)
        .map(|p| p.trim_start_matches("^(").trim_end_matches(")$").split('|').map(str::to_string).collect())
        .unwrap_or_default();
    let variants: Vec<Value> = currencies
        .iter()
        .map(|c| {
            let mut v = line.clone();
            v["properties"]["from"] = json!({"type": "string", "enum": [c]});
            v["properties"]["to"] = json!({"type": "string", "enum": currencies.iter().filter(|x| *x != c).collect::<Vec<_>>()});
            if let Some(o) = v.as_object_mut() {
                o.remove("$schema");
                o.remove("title");
            }
            v
        })
        .collect();
    json!({"type": "array", "items": {"anyOf": variants}, "minItems": 1})
}

fn prices_body(g: &mut SchemaGenerator) -> Value {
    json!({"type": "array", "items": of::<argus_domain::price::PriceLineDoc>(g), "minItems": 1})
}

/// What an answer carries.
enum Answer {
    Json(u16, SchemaFn),
    /// A streamed file.
    Report,
}

/// What one operation takes and answers besides the path's parameters.
struct Contract {
    query: Option<SchemaFn>,
    body: Option<SchemaFn>,
    answer: Answer,
    /// Statuses of this operation beyond those of every operation.
    statuses: &'static [u16],
    if_match: bool,
    idempotency_key: bool,
}

const fn c(answer: Answer) -> Contract {
    Contract { query: None, body: None, answer, statuses: &[], if_match: false, idempotency_key: false }
}

fn contract(method: &str, path: &str) -> Option<Contract> {
    use argus_ops::api::*;
    Some(match (method, path) {
        ("get", "/health") => c(Answer::Json(200, of::<Health>)),
        ("get", "/livez") => c(Answer::Json(200, of::<Live>)),
        ("get", "/readyz") => c(Answer::Json(200, of::<Health>)),
        ("get", "/openapi.json") => c(Answer::Json(200, |_| json!({"type": "object"}))),
        ("get", "/orgs/{org}") => c(Answer::Json(200, of::<OrgView>)),
        ("post", "/orgs/{org}/records") => {
            Contract { body: Some(records_body), statuses: &[409, 413], idempotency_key: true, ..c(Answer::Json(200, of::<BatchReport>)) }
        }
        ("get", "/orgs/{org}/records") => {
            Contract { query: Some(of::<argus_ops::analytics::RecordQuery>), ..c(Answer::Json(200, of::<RecordsPage>)) }
        }
        ("get", "/orgs/{org}/usage/summary") => Contract { query: Some(of::<SummaryQ>), ..c(Answer::Json(200, of::<Summary>)) },
        ("get", "/orgs/{org}/budgets") => c(Answer::Json(200, of::<Budgets>)),
        ("get", "/orgs/{org}/budgets/{month}") => Contract { query: Some(of::<ScopeQ>), ..c(Answer::Json(200, of::<BudgetView>)) },
        ("put", "/orgs/{org}/budgets/{month}") => Contract {
            query: Some(of::<ScopeQ>),
            body: Some(of::<argus_ops::controls::BudgetChange>),
            // 409: a new budget (of a month, or of a scope) without an amount.
            statuses: &[409, 412, 413],
            if_match: true,
            ..c(Answer::Json(200, of::<BudgetView>))
        },
        ("get", "/orgs/{org}/budget-status") => Contract { query: Some(of::<StatusQ>), ..c(Answer::Json(200, of::<BudgetStatus>)) },
        ("get", "/orgs/{org}/alerts") => c(Answer::Json(200, of::<Alerts>)),
        ("post", "/orgs/{org}/alerts/{id}/ack") => c(Answer::Json(200, of::<AlertView>)),
        ("get", "/orgs/{org}/providers") => c(Answer::Json(200, of::<Providers>)),
        ("put", "/orgs/{org}/providers/{provider}") => Contract {
            body: Some(of::<argus_ops::controls::ProviderChange>),
            statuses: &[412, 413],
            if_match: true,
            ..c(Answer::Json(200, of::<ProviderView>))
        },
        ("get", "/orgs/{org}/upstreams") => c(Answer::Json(200, of::<Upstreams>)),
        ("get", "/orgs/{org}/me") => c(Answer::Json(200, of::<Me>)),
        ("get", "/orgs/{org}/gateway/today") => c(Answer::Json(200, of::<argus_ops::gateway::GatewayDay>)),
        ("put", "/orgs/{org}/providers/{provider}/upstream") => {
            Contract { body: Some(of::<UpstreamBody>), statuses: &[413], ..c(Answer::Json(200, of::<argus_ops::gateway::UpstreamView>)) }
        }
        ("get", "/orgs/{org}/aliases") => c(Answer::Json(200, of::<Aliases>)),
        ("put", "/orgs/{org}/aliases/{name}") => {
            Contract { body: Some(of::<AliasBody>), statuses: &[413], ..c(Answer::Json(200, of::<argus_ops::gateway::AliasView>)) }
        }
        ("delete", "/orgs/{org}/aliases/{name}") => c(Answer::Json(200, of::<Removed>)),
        ("get", "/orgs/{org}/fx") => c(Answer::Json(200, of::<FxRates>)),
        ("post", "/orgs/{org}/fx") => {
            Contract { body: Some(fx_body), statuses: &[413], ..c(Answer::Json(200, of::<argus_ops::fx::FxImportReport>)) }
        }
        ("get", "/orgs/{org}/prices/check") => c(Answer::Json(200, of::<argus_ops::prices::PriceCheck>)),
        ("get", "/orgs/{org}/prices") => Contract { query: Some(of::<PricesQ>), ..c(Answer::Json(200, of::<Prices>)) },
        ("post", "/orgs/{org}/prices") => {
            Contract { body: Some(prices_body), statuses: &[412, 413], if_match: true, ..c(Answer::Json(200, of::<PriceImportReport>)) }
        }
        ("post", "/orgs/{org}/reprice") => {
            Contract { body: Some(of::<RepriceBody>), statuses: &[409, 413], ..c(Answer::Json(200, of::<RepriceReport>)) }
        }
        ("post", "/orgs/{org}/admit") => {
            Contract { body: Some(of::<AdmitBody>), statuses: &[402, 409, 413], ..c(Answer::Json(200, of::<Admission>)) }
        }
        ("post", "/orgs/{org}/route") => Contract { body: Some(of::<RouteBody>), statuses: &[413], ..c(Answer::Json(200, of::<Route>)) },
        ("get", "/orgs/{org}/forecast") => Contract { query: Some(of::<StatusQ>), ..c(Answer::Json(200, of::<Forecast>)) },
        ("get", "/orgs/{org}/audit") => Contract { query: Some(of::<argus_ops::api::AuditQuery>), ..c(Answer::Json(200, of::<AuditPage>)) },
        ("get", "/orgs/{org}/tokens") => c(Answer::Json(200, of::<Tokens>)),
        ("post", "/orgs/{org}/tokens") => {
            Contract { body: Some(of::<TokenBody>), statuses: &[413], ..c(Answer::Json(201, of::<argus_ops::access::CreatedToken>)) }
        }
        ("delete", "/orgs/{org}/tokens/{id}") => c(Answer::Json(200, of::<argus_ops::access::TokenView>)),
        ("get", "/orgs/{org}/reports") => {
            Contract { query: Some(of::<argus_reports::ReportParams>), statuses: &[409], ..c(Answer::Report) }
        }
        ("get", "/orgs/{org}/webhook") => c(Answer::Json(200, of::<argus_ops::access::WebhookView>)),
        ("put", "/orgs/{org}/webhook") => {
            Contract { body: Some(of::<WebhookBody>), statuses: &[413], ..c(Answer::Json(200, of::<WebhookSet>)) }
        }
        ("get", "/orgs/{org}/alert-channels") => c(Answer::Json(200, of::<Channels>)),
        ("post", "/orgs/{org}/alert-channels") => {
            Contract { body: Some(of::<argus_ops::channels::ChannelBody>), statuses: &[413], ..c(Answer::Json(201, of::<ChannelAdded>)) }
        }
        ("delete", "/orgs/{org}/alert-channels/{id}") => c(Answer::Json(200, of::<argus_ops::channels::ChannelView>)),
        _ => return None,
    })
}

/// The schema of a path parameter, by name.
fn path_param(name: &str) -> Value {
    match name {
        "org" | "provider" => json!({"type": "string", "maxLength": 64, "pattern": patterns::SLUG}),
        "month" => json!({"type": "string", "pattern": "^(2[01][0-9]{2}-(0[1-9]|1[0-2])|default)$"}),
        "id" => json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
        "name" => json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"}),
        _ => json!({"type": "string"}),
    }
}

/// The parameters a query-string type stands for: one a property.
fn query_params(g: &mut SchemaGenerator, f: SchemaFn) -> Vec<Value> {
    let reference = f(g);
    let schema = resolve(g, &reference);
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| {
                    let mut s = s.clone();
                    // A query parameter is absent rather than null.
                    if let Some(o) = s.as_object_mut() {
                        o.remove("nullable");
                        o.remove("default");
                    }
                    let description = s.get("description").cloned();
                    let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": s});
                    if let Some(d) = description {
                        p["description"] = d;
                    }
                    p
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The definition a `$ref` names (or the schema itself).
fn resolve(g: &SchemaGenerator, s: &Value) -> Value {
    match s.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        Some(name) => g.definitions().get(name).cloned().unwrap_or(Value::Null),
        None => s.clone(),
    }
}

/// The OpenAPI 3.0 document of the API.
pub fn openapi_document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let error = of::<ErrorBody>(&mut g);
    let mut paths = Map::new();
    for (method, path, access, summary) in ROUTES {
        let Some(k) = contract(method, path) else { continue };
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_param(name)}))
            .collect();
        if let Some(q) = k.query {
            params.extend(query_params(&mut g, q));
        }
        if k.if_match {
            params.push(json!({"name": "If-Match", "in": "header", "required": false,
                "description": "The version the edit was made against (the ETag or `version` shown); a stale one is refused with 412",
                "schema": {"type": "string", "pattern": "^(W/)?\"?[0-9]{1,15}\"?$"}}));
        }
        if k.idempotency_key {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Makes records without an id safe to retry: a retry with the same key stores nothing twice",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}));
        }
        let mut responses = Map::new();
        match k.answer {
            Answer::Json(status, f) => {
                let s = f(&mut g);
                let mut r = json!({"description": "OK", "content": {"application/json": {"schema": s}}});
                if k.if_match || path.ends_with("/budgets/{month}") || path.ends_with("/prices") {
                    r["headers"] = json!({"ETag": {"description": "The version", "schema": {"type": "string"}}});
                }
                responses.insert(status.to_string(), r);
            }
            Answer::Report => {
                responses.insert(
                    "200".into(),
                    json!({"description": "The file, streamed", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/json": {"schema": {}},
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}),
                );
            }
        }
        // Every operation: bad input, too many requests (failed
        // authentications from an address, downloads), the store, a request
        // over the time limit.
        let mut statuses: Vec<u16> = vec![400, 429, 500, 503];
        if *access != "none" {
            statuses.extend([401, 403, 404]);
        }
        statuses.extend(k.statuses);
        statuses.sort_unstable();
        statuses.dedup();
        for s in statuses {
            let description = match s {
                400 => "Bad input: the message names the field and what to do",
                401 => "No valid token",
                402 => "Over the budget's hard limit (budget_exceeded)",
                403 => "The token's role may not do this",
                404 => "No such organisation for this token, or no such object",
                409 => "A conflict (provider disabled, a record stored with other content, a linked store, a new budget without an amount)",
                412 => "The object changed since the version in If-Match",
                413 => "The body is too large",
                429 => "Too many requests: a quota, failed authentications or downloads (Retry-After)",
                500 => "The store failed; the answer gives a reference for the server's log",
                503 => "The request took longer than the server allows",
                _ => "Error",
            };
            responses
                .insert(s.to_string(), json!({"description": description, "content": {"application/json": {"schema": error.clone()}}}));
        }
        let mut op = json!({
            "summary": summary,
            "description": roles(access),
            "operationId": format!("{method}_{}", path.replace(['/', '{', '}', '.', '-'], "_").trim_matches('_')),
            "parameters": params,
            "responses": responses,
        });
        if *access == "none" {
            op["security"] = json!([]);
        }
        if let Some(b) = k.body {
            let s = b(&mut g);
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": s}}});
        }
        let entry = paths.entry(format!("/api/v1{path}")).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    let schemas: Map<String, Value> = g.definitions().clone().into_iter().collect();
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "Argus Usage", "version": env!("CARGO_PKG_VERSION"), "description": "Exact, auditable accounting of AI usage and cost. Money is a decimal string; times are RFC 3339."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        }
    });
    enum_for_const(&mut doc);
    doc
}

/// OpenAPI 3.0 has no `const` (JSON Schema's, which schemars writes for a
/// tagged enum's tag): tools that follow 3.0 ignore it and take any value.
/// A one-value `enum` says the same in 3.0.
fn enum_for_const(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(c) = m.remove("const") {
                m.insert("enum".into(), Value::Array(vec![c]));
            }
            m.values_mut().for_each(enum_for_const);
        }
        Value::Array(a) => a.iter_mut().for_each(enum_for_const),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_contract_and_every_schema_resolves() {
        for (method, path, _, _) in ROUTES {
            assert!(contract(method, path).is_some(), "{method} {path} has no contract");
        }
        let doc = openapi_document();
        let text = doc.to_string();
        assert!(!text.contains("\"const\""), "OpenAPI 3.0 has no const");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = r.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "{name} is referenced but not defined");
        }
        let post = &doc["paths"]["/api/v1/orgs/{org}/admit"]["post"];
        assert!(post["responses"]["402"].is_object() && post["requestBody"].is_object());
        let records = &doc["paths"]["/api/v1/orgs/{org}/records"]["get"]["parameters"];
        assert!(records.as_array().unwrap().iter().any(|p| p["name"] == "after_seq" && p["in"] == "query"));
    }
}
