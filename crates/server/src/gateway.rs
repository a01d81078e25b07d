//! The gateway: OpenAI- and Anthropic-compatible endpoints under `/v1`.
//!
//! An application changes only its base URL and key: each call is
//! authenticated (an `ingest` or `admin` token, as `Authorization: Bearer`
//! or `x-api-key`), its candidates found and the first that may be called
//! admitted with a reservation, in one step (`Ops::gateway_admit`, the
//! routing rule of `route`; the calls in flight share its transaction,
//! `recorder::Admitter`), sent upstream with
//! the provider's key (never the caller's token), failed over on a
//! connection failure, a timeout, a 429 or a 5xx before any byte reached
//! the client, and recorded once per attempt that reached a provider, with
//! the provider's own usage figures. Streams pass through chunk by chunk;
//! their usage is read on the way (asked for with
//! `stream_options.include_usage`, and that chunk dropped again when the
//! caller did not ask for it). Refusals come in the provider's own error
//! shape, so the SDKs raise their usual exceptions.
use crate::error::ApiError;
use crate::routes::{App, Auth};
use argus_domain::gateway::{self as rules, Dialect, Endpoint, StreamUsage};
use argus_domain::price::{ServiceTier, Tokens};
use argus_domain::ErrorCode;
use argus_ops::access::Access;
use argus_ops::gateway::{Target, UpstreamRequest};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Instant;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
}

async fn chat_completions(State(app): State<App>, auth: Result<Auth, ApiError>, headers: HeaderMap, body: Bytes) -> Response {
    call(app, auth, Endpoint::ChatCompletions, headers, body).await
}

async fn embeddings(State(app): State<App>, auth: Result<Auth, ApiError>, headers: HeaderMap, body: Bytes) -> Response {
    call(app, auth, Endpoint::Embeddings, headers, body).await
}

async fn messages(State(app): State<App>, auth: Result<Auth, ApiError>, headers: HeaderMap, body: Bytes) -> Response {
    call(app, auth, Endpoint::Messages, headers, body).await
}

async fn models(State(app): State<App>, auth: Result<Auth, ApiError>) -> Response {
    let run = async {
        let auth = auth?;
        let org = auth.0.org.clone();
        let actor = auth.allow(&org, Access::Ingest)?;
        let list = app.pool.run(&actor, move |ops| ops.gateway_models(&org)).await?;
        let data: Vec<Value> = list
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": id.split('/').next().filter(|_| id.contains('/')).unwrap_or("argus")}))
            .collect();
        Ok::<_, ApiError>(axum::Json(json!({"object": "list", "data": data})).into_response())
    };
    run.await.unwrap_or_else(|e| dialect_error(Dialect::OpenAi, e))
}

/// An error in the shape of the endpoint's provider (`Retry-After` kept).
fn dialect_error(dialect: Dialect, e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match dialect {
        Dialect::OpenAi => {
            let kind = match e.status {
                401 => "authentication_error",
                403 => "permission_error",
                402 => "insufficient_quota",
                404 => "not_found_error",
                429 => "rate_limit_error",
                400..=499 => "invalid_request_error",
                _ => "api_error",
            };
            json!({"error": {"message": e.message, "type": kind, "param": e.field, "code": e.code, "details": e.details}})
        }
        Dialect::Anthropic => {
            let kind = match e.status {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                402 => "billing_error",
                400..=499 => "invalid_request_error",
                503 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": e.message, "code": e.code, "details": e.details}})
        }
    };
    let mut r = (status, axum::Json(body)).into_response();
    if let Some(s) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
    }
    r
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty())
}

/// Who a call is for, from the `X-Argus-*` headers (or the body's `user`).
#[derive(Clone)]
struct Attribution {
    operation: String,
    investigation: Option<String>,
    user: Option<String>,
}

/// One attempt of a call: what its record says besides the outcome.
#[derive(Clone)]
struct Attempt {
    org: String,
    id: String,
    target: Target,
    who: Attribution,
    occurred_at: String,
    reservation: String,
    /// From 1.
    number: usize,
    /// When the request was sent upstream.
    sent: Instant,
    /// Until the answer's head arrived.
    first_byte_ms: u64,
}

/// How an attempt ended, for its record.
struct Outcome<'a> {
    tokens: Tokens,
    status: &'a str,
    /// The tokens are the gateway's estimate (the provider's usage never arrived).
    estimated: bool,
    /// The model the provider's answer names.
    upstream_model: Option<String>,
    /// The service tier the answer says processed the call.
    service_tier: Option<ServiceTier>,
}

impl Attempt {
    /// The attempt's record, as an ingest line (the same rules check it
    /// before the call is made, so that a call that happened can always be
    /// recorded).
    fn record(&self, o: &Outcome<'_>) -> Value {
        let (t, a, tokens) = (&self.target, &self.who, &o.tokens);
        json!({
            "id": self.id, "org": self.org, "provider": t.provider, "model": t.model, "operation": a.operation,
            "investigation": a.investigation, "user": a.user,
            "input_tokens": tokens.input, "output_tokens": tokens.output,
            "cached_input_tokens": tokens.cached_input, "cache_write_tokens": tokens.cache_write,
            "cache_write_1h_tokens": tokens.cache_write_1h, "service_tier": o.service_tier.unwrap_or_default().as_str(),
            "status": o.status, "latency_ms": self.sent.elapsed().as_millis() as u64, "occurred_at": self.occurred_at,
            "reservation_id": self.reservation,
            // A name the record's rules would refuse is left out, never the record.
            "upstream_model": o.upstream_model.as_deref().filter(|m| {
                argus_domain::slug::check_text("upstream_model", m, argus_domain::record::MAX_MODEL_CHARS).is_ok()
            }),
            "first_byte_ms": self.first_byte_ms, "estimated": o.estimated, "attempt": self.number,
        })
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What the last failed attempt left, for the answer when no candidate is left.
enum LastFailure {
    Unreached(String),
    Answer { status: u16, headers: Vec<(String, String)>, body: Bytes },
}

async fn call(app: App, auth: Result<Auth, ApiError>, endpoint: Endpoint, headers: HeaderMap, body: Bytes) -> Response {
    let dialect = endpoint.dialect();
    match serve(app, auth, endpoint, headers, body).await {
        Ok(r) => r,
        Err(e) => dialect_error(dialect, e),
    }
}

async fn serve(app: App, auth: Result<Auth, ApiError>, endpoint: Endpoint, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let auth = auth?;
    let org = auth.0.org.clone();
    // The calls it records, and the reservations it makes, carry the token's name (`token:NAME` budgets).
    let token = auth.0.name.clone();
    let actor = auth.allow(&org, Access::Ingest)?;
    let mut req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_input(format!("the body is not JSON: {e}; send the request as the provider's API takes it"), None))?;
    if !req.is_object() {
        return Err(ApiError::bad_input("the body is not a JSON object; send the request as the provider's API takes it", None));
    }
    let model =
        req.get("model").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
            ApiError::bad_input("`model` is missing: give provider/model, an alias, or a model name", Some("model".into()))
        })?;
    let stream = endpoint != Endpoint::Embeddings && req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let body_user = match dialect_of(endpoint) {
        Dialect::OpenAi => req.get("user").and_then(Value::as_str),
        Dialect::Anthropic => req.pointer("/metadata/user_id").and_then(Value::as_str),
    };
    let attribution = Attribution {
        operation: header(&headers, "x-argus-operation").unwrap_or(endpoint.default_operation()).to_string(),
        investigation: header(&headers, "x-argus-investigation").map(str::to_string),
        user: header(&headers, "x-argus-user").or(body_user).map(str::to_string),
    };
    // The record must be valid before the provider is called.
    let probe = Attempt {
        org: org.clone(),
        id: "probe".into(),
        target: Target {
            provider: "probe".into(),
            model: model.clone(),
            base_url: String::new(),
            dialect: Dialect::OpenAi,
            api_key_env: None,
        },
        who: attribution.clone(),
        occurred_at: argus_domain::time::fmt_instant(app.pool.now()),
        reservation: "probe".into(),
        number: 1,
        sent: Instant::now(),
        first_byte_ms: 0,
    };
    let probe_outcome = Outcome { tokens: Tokens::default(), status: "ok", estimated: false, upstream_model: None, service_tier: None };
    if let Err(errs) = argus_domain::record::UsageInput::from_json(&probe.record(&probe_outcome)) {
        let first = &errs[0];
        let name = match first.field.as_str() {
            "operation" => "X-Argus-Operation",
            "investigation" => "X-Argus-Investigation",
            "user" => "X-Argus-User",
            other => other,
        };
        return Err(ApiError::bad_input(format!("{name}: {}", first.message), Some(name.into())));
    }
    let estimate = rules::estimate(&req, endpoint);
    // Streams carry their usage at the end, asked for when the caller did not.
    let caller_wants_usage = req.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    if stream && endpoint == Endpoint::ChatCompletions && !caller_wants_usage {
        if let Some(o) = req.as_object_mut() {
            let so = o.entry("stream_options").or_insert_with(|| json!({}));
            if let Some(so) = so.as_object_mut() {
                so.insert("include_usage".into(), Value::Bool(true));
            }
        }
    }
    let started = Instant::now();
    let mut tried: Vec<String> = Vec::new();
    let mut last: Option<LastFailure> = None;
    loop {
        let choice = app
            .admitter
            .admit(argus_ops::gateway::Admit {
                org: org.clone(),
                model: model.clone(),
                endpoint,
                tried: tried.clone(),
                estimate,
                operation: Some(attribution.operation.clone()),
                token: Some(token.clone()),
                investigation: attribution.investigation.clone(),
                user: attribution.user.clone(),
            })
            .await?;
        let Some((target, reservation)) = choice.chosen.clone() else {
            return Err(match last {
                Some(LastFailure::Answer { status, headers, body }) => {
                    // The last provider's own answer, as it came.
                    return Ok(passthrough(status, &headers, body, &[("x-argus-attempts", tried.len().to_string())]));
                }
                Some(LastFailure::Unreached(why)) => ApiError::new(ErrorCode::Unreachable, format!("no provider could be reached: {why}"))
                    .with_code("no_provider_available", 503),
                None => {
                    let (code, name, retry, message) = choice.refusal();
                    let status = if code == ErrorCode::Unreachable { 503 } else { crate::error::status_of(code).as_u16() };
                    ApiError {
                        retry_after: retry,
                        details: Some(Box::new(json!({"candidates": choice.candidates}))),
                        ..ApiError::new(code, message).with_code(name, status)
                    }
                }
            });
        };
        tried.push(target.provider.clone());
        let attempts = tried.len();
        let mut upstream_body = req.clone();
        upstream_body["model"] = Value::String(target.model.clone());
        let mut up_headers = vec![("content-type".to_string(), "application/json".to_string())];
        let key = target.api_key_env.as_deref().and_then(|k| std::env::var(k).ok()).filter(|k| !k.is_empty());
        match target.dialect {
            Dialect::OpenAi => {
                if let Some(k) = &key {
                    up_headers.push(("authorization".into(), format!("Bearer {k}")));
                }
            }
            Dialect::Anthropic => {
                if let Some(k) = &key {
                    up_headers.push(("x-api-key".into(), k.clone()));
                }
                up_headers.push(("anthropic-version".into(), header(&headers, "anthropic-version").unwrap_or("2023-06-01").to_string()));
                if let Some(b) = header(&headers, "anthropic-beta") {
                    up_headers.push(("anthropic-beta".into(), b.to_string()));
                }
            }
        }
        if stream {
            up_headers.push(("accept".into(), "text/event-stream".into()));
        }
        let request = UpstreamRequest {
            url: rules::upstream_url(&target.base_url, endpoint),
            headers: up_headers,
            body: Bytes::from(serde_json::to_vec(&upstream_body).unwrap_or_default()),
            timeout: app.upstream_timeout,
        };
        let occurred_at = argus_domain::time::fmt_instant(app.pool.now());
        let t0 = Instant::now();
        let res = match app.upstream.send(request).await {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(org, provider = %target.provider, reason = %why, "gateway: upstream not reached; failing over");
                let (o, p, r) = (org.clone(), target.provider.clone(), reservation.clone());
                app.pool.run(&actor, move |ops| ops.gateway_unreached(&o, &p, &r)).await?;
                last = Some(LastFailure::Unreached(format!("{}: {why}", target.provider)));
                continue;
            }
        };
        let attempt = Attempt {
            org: org.clone(),
            id: new_id(),
            target: target.clone(),
            who: attribution.clone(),
            occurred_at,
            reservation: reservation.clone(),
            number: attempts,
            sent: t0,
            first_byte_ms: t0.elapsed().as_millis() as u64,
        };
        let served_headers = |model: &str| {
            vec![
                ("x-argus-provider", target.provider.clone()),
                ("x-argus-model", model.to_string()),
                ("x-argus-record-id", attempt.id.clone()),
                ("x-argus-attempts", attempts.to_string()),
            ]
        };
        if rules::fails_over(res.status) {
            let body = read_all(res.body, 1 << 20).await;
            let retry =
                res.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")).and_then(|(_, v)| v.trim().parse::<u64>().ok());
            let status = rules::record_status(res.status);
            let rec =
                attempt.record(&Outcome { tokens: Tokens::default(), status, estimated: false, upstream_model: None, service_tier: None });
            app.recorder.record(&org, &token, rec).await?;
            if let Some(secs) = retry {
                let (o, p) = (org.clone(), target.provider.clone());
                app.pool.run(&actor, move |ops| ops.gateway_retry_after(&o, &p, secs)).await?;
            }
            tracing::warn!(org, provider = %target.provider, status = res.status, "gateway: upstream failed; failing over");
            last = Some(LastFailure::Answer { status: res.status, headers: res.headers, body });
            continue;
        }
        if !stream || !(200..300).contains(&res.status) {
            let body = read_all(res.body, 64 << 20).await;
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            let usage = parsed.as_ref().and_then(|v| v.get("usage")).and_then(|u| match target.dialect {
                Dialect::OpenAi => rules::openai_usage(u),
                Dialect::Anthropic => rules::anthropic_usage(u),
            });
            let status = rules::record_status(res.status);
            let (tokens, estimated) = match (usage, status) {
                (Some(t), _) => (t, false),
                // A success without usage figures: the estimate, flagged as such.
                (None, "ok") => (estimate, true),
                (None, _) => (Tokens::default(), false),
            };
            let named = parsed.as_ref().and_then(|v| v.get("model")).and_then(Value::as_str).map(str::to_string);
            let service_tier = parsed.as_ref().and_then(|v| rules::answer_service_tier(target.dialect, v));
            let rec = attempt.record(&Outcome { tokens, status, estimated, upstream_model: named.clone(), service_tier });
            app.recorder.record(&org, &token, rec).await?;
            let upstream_model = named.unwrap_or_else(|| target.model.clone());
            tracing::debug!(org, provider = %target.provider, latency_ms = started.elapsed().as_millis() as u64, "gateway: served");
            return Ok(passthrough(res.status, &res.headers, body, &served_headers(&upstream_model)));
        }
        // A stream: pass it through as it comes, read its usage on the way,
        // record it at the end (also when the caller went away: the rest is
        // read so that the provider's own figures are recorded).
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(32);
        let filter_usage = endpoint == Endpoint::ChatCompletions && !caller_wants_usage;
        let (app2, org2, token2, target2, attempt2) = (app.clone(), org.clone(), token.clone(), target.clone(), attempt.clone());
        let mut upstream = res.body;
        tokio::spawn(async move {
            let mut usage = StreamUsage::default();
            let mut pending: Vec<u8> = Vec::new();
            let mut client_gone = false;
            let mut broke = false;
            let drain_until = Instant::now() + std::time::Duration::from_secs(600);
            while let Some(chunk) = upstream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(org = org2, provider = %target2.provider, error = %e, "gateway: a stream broke off");
                        broke = true;
                        // The caller's stream breaks off too (it is not ended
                        // as if complete), so its SDK raises.
                        let _ = tx.send(Err(std::io::Error::other("the provider's stream broke off"))).await;
                        break;
                    }
                };
                usage.feed(target2.dialect, &chunk);
                if client_gone {
                    if Instant::now() > drain_until {
                        break;
                    }
                    continue;
                }
                let out = if filter_usage {
                    pending.extend_from_slice(&chunk);
                    take_events(&mut pending)
                } else {
                    chunk
                };
                if !out.is_empty() && tx.send(Ok(out)).await.is_err() {
                    client_gone = true;
                }
            }
            if !pending.is_empty() && !client_gone && !broke {
                let _ = tx.send(Ok(Bytes::from(std::mem::take(&mut pending)))).await;
            }
            drop(tx);
            let outcome = match usage.tokens() {
                Some(t) if usage.finished || !broke => Outcome {
                    tokens: t,
                    status: "ok",
                    estimated: false,
                    upstream_model: usage.model.clone(),
                    service_tier: usage.service_tier,
                },
                // Cut before its usage arrived: the estimate, flagged as one and by the status.
                _ => Outcome {
                    tokens: estimate,
                    status: "incomplete",
                    estimated: true,
                    upstream_model: usage.model.clone(),
                    service_tier: usage.service_tier,
                },
            };
            let rec = attempt2.record(&outcome);
            if let Err(e) = app2.recorder.record(&org2, &token2, rec).await {
                tracing::error!(org = org2, error = %e.message, "gateway: a streamed call could not be recorded");
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        let mut r = Response::new(axum::body::Body::from_stream(stream));
        *r.status_mut() = StatusCode::from_u16(res.status).unwrap_or(StatusCode::OK);
        copy_headers(r.headers_mut(), &res.headers);
        for (k, v) in served_headers(&target.model) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        return Ok(r);
    }
}

fn dialect_of(e: Endpoint) -> Dialect {
    e.dialect()
}

/// The complete server-sent events at the front of `pending`, less the
/// usage-only chunk the gateway asked for; the rest stays pending.
fn take_events(pending: &mut Vec<u8>) -> Bytes {
    let mut out = Vec::with_capacity(pending.len());
    let mut start = 0;
    while let Some(end) = find_event_end(&pending[start..]) {
        let event = &pending[start..start + end];
        let data: Vec<&[u8]> = event.split(|b| *b == b'\n').filter_map(|l| l.strip_prefix(b"data:")).collect();
        let usage_only = data.len() == 1 && rules::is_usage_only_chunk(data[0]);
        if !usage_only {
            out.extend_from_slice(event);
        }
        start += end;
    }
    pending.drain(..start);
    Bytes::from(out)
}

/// The length of the first complete event (through its blank line).
fn find_event_end(b: &[u8]) -> Option<usize> {
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

async fn read_all(
    mut body: std::pin::Pin<Box<dyn futures_util::Stream<Item = argus_ops::gateway::BodyChunk> + Send>>,
    limit: usize,
) -> Bytes {
    let mut out = Vec::new();
    while let Some(Ok(c)) = body.next().await {
        if out.len() + c.len() > limit {
            break;
        }
        out.extend_from_slice(&c);
    }
    Bytes::from(out)
}

/// Upstream headers worth passing on (not hop-by-hop ones, nor cookies).
fn copy_headers(to: &mut HeaderMap, from: &[(String, String)]) {
    for (k, v) in from {
        let k = k.to_ascii_lowercase();
        if matches!(k.as_str(), "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "set-cookie" | "server" | "date") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            to.insert(name, value);
        }
    }
}

fn passthrough(status: u16, headers: &[(String, String)], body: Bytes, extra: &[(&'static str, String)]) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_headers(r.headers_mut(), headers);
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}
