//! The route table and the OpenAPI 3 document made from it. A test checks
//! that the router serves every route of the table, so the two agree.

/// `(method, path under /api/v1, access, summary)`.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("get", "/health", "none", "Health and versions of the server"),
    ("get", "/openapi.json", "none", "This document"),
    ("get", "/orgs/{org}", "read", "The organisation: slug, name, currency, timezone (what a linked desktop store is created with)"),
    ("post", "/orgs/{org}/records", "ingest", "Record one call (an object) or many (an array), keys as an ingest line; an Idempotency-Key header makes records without an id safe to retry; answers accepted, duplicates, rejected by index, retry_safe, and the records with their costs"),
    ("get", "/orgs/{org}/records", "read", "Records after a sequence number (after_seq, limit, from, to, provider, model, operation, investigation, user); answers records, next_after_seq, has_more"),
    ("get", "/orgs/{org}/usage/summary", "read", "Totals and breakdown over a period (from, to, by); the same document as `argus-usage usage summary --json`"),
    ("get", "/orgs/{org}/budgets", "read", "All budgets of the organisation, with versions"),
    ("get", "/orgs/{org}/budgets/{month}", "read", "The budget of a month (YYYY-MM) or the default; ETag is its version"),
    ("put", "/orgs/{org}/budgets/{month}", "configure", "Set a budget: {amount, thresholds, hard_limit}; If-Match: VERSION refuses a stale edit with 412"),
    ("get", "/orgs/{org}/budget-status", "read", "Month-to-date spend against the budget (month)"),
    ("get", "/orgs/{org}/alerts", "read", "Budget alerts fired"),
    ("post", "/orgs/{org}/alerts/{id}/ack", "configure", "Acknowledge an alert"),
    ("get", "/orgs/{org}/providers", "read", "Providers with settings, quota use and health"),
    ("put", "/orgs/{org}/providers/{provider}", "configure", "Set {enabled, priority, hourly_limit, daily_limit} (null quota: none); If-Match: VERSION"),
    ("get", "/orgs/{org}/upstreams", "read", "Where the gateway sends each provider's calls: base URL, dialect, the key's environment variable and whether the server has it"),
    ("put", "/orgs/{org}/providers/{provider}/upstream", "configure", "Set a provider's upstream: {base_url, api, api_key_env} (the key itself is never sent or stored)"),
    ("get", "/orgs/{org}/aliases", "read", "The gateway's model aliases"),
    ("put", "/orgs/{org}/aliases/{name}", "configure", "Set an alias: {targets: [\"provider/model\", ...]}, tried in provider priority order"),
    ("delete", "/orgs/{org}/aliases/{name}", "configure", "Remove an alias"),
    ("get", "/orgs/{org}/prices", "read", "Price versions in force for the organisation (global and negotiated); version is the newest id"),
    ("post", "/orgs/{org}/prices", "configure", "Add negotiated price versions: a JSON array or CSV as `prices import`; If-Match: VERSION"),
    ("post", "/orgs/{org}/reprice", "read", "Re-cost records with the prices now known: {from, to, apply}; a preview unless apply (which needs admin)"),
    ("post", "/orgs/{org}/admit", "ingest", "May a call to {provider} go ahead, holding {estimated_cost}? 200 with a reservation, 402 budget_exceeded, 429 rate_limited (Retry-After), 409 provider_disabled"),
    ("post", "/orgs/{org}/route", "ingest", "Choose a provider by priority with fallback: {operation, dry_run}; candidates with their state"),
    ("get", "/orgs/{org}/forecast", "read", "Month-end projection (month)"),
    ("get", "/orgs/{org}/audit", "audit", "The audit log after an entry id (after, limit)"),
    ("get", "/orgs/{org}/tokens", "configure", "Tokens of the organisation (never the tokens themselves)"),
    ("post", "/orgs/{org}/tokens", "configure", "Make a token: {role, name}; the token is in the answer, once"),
    ("delete", "/orgs/{org}/tokens/{id}", "configure", "Revoke a token"),
    ("get", "/orgs/{org}/reports", "read", "An export, streamed: format=csv|json|pdf, kind=records|summary, by, from, to, provider, model, operation, investigation, user; the same files as `argus-usage export` (a CSV carries its metadata as leading # lines)"),
    ("get", "/orgs/{org}/webhook", "configure", "Where alerts are POSTed"),
    ("put", "/orgs/{org}/webhook", "configure", "Set the webhook: {url}; the answer carries the signing secret (HMAC-SHA256 of the body, header X-Argus-Signature: sha256=HEX)"),
];

fn roles(access: &str) -> &'static str {
    match access {
        "ingest" => "Roles: ingest, admin.",
        "read" => "Roles: analyst, auditor, admin.",
        "audit" => "Roles: auditor, admin.",
        "configure" => "Roles: admin.",
        _ => "No token needed.",
    }
}

/// The OpenAPI 3.0 document of the API.
pub fn openapi_document() -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut paths = Map::new();
    for (method, path, access, summary) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "description": roles(access),
            "operationId": format!("{method}_{}", path.replace(['/', '{', '}', '.', '-'], "_").trim_matches('_')),
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"}
            }
        });
        if *access == "none" {
            op["security"] = json!([]);
        }
        if matches!(*method, "post" | "put") {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(format!("/api/v1{path}")).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Argus Usage", "version": env!("CARGO_PKG_VERSION"), "description": "Exact, auditable accounting of AI usage and cost. Money is a decimal string; times are RFC 3339."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string", "nullable": true}}}}}
            },
            "responses": {"Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
        }
    })
}
