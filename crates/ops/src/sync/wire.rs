//! The wire format of sync: the server's documents as this store reads
//! them, the names of outbox objects, and the connection with its retries
//! and errors that say what to do.
use super::*;

pub(super) fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        OpsError::new(
            ErrorCode::Incompatible,
            format!("the server sent {field} {s:?}, which is not an RFC 3339 time ({e}); is it a compatible version?"),
        )
    })
}

pub(super) fn parse_time_opt(field: &str, s: &Option<String>) -> Result<Option<i64>> {
    s.as_deref().map(|x| parse_time(field, x).map(to_nanos)).transpose()
}

pub(super) fn money_nanos(m: Money) -> Result<i64> {
    m.nanos().ok_or_else(|| OpsError::new(ErrorCode::Incompatible, format!("the server sent the amount {m}, too large to store")))
}

/// The server's error message in an answer, if it sent one.
pub(super) fn server_message(a: &Answer) -> String {
    serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| format!("HTTP {}", a.status))
}

/// Requests with retries, and errors that say what to do.
pub(super) struct Conn<'a> {
    pub(super) remote: &'a dyn Remote,
    pub(super) opts: &'a SyncOptions,
    pub(super) org: String,
}

impl Conn<'_> {
    pub(super) fn call(&self, method: &str, path: &str, body: Option<&[u8]>, if_match: Option<i64>) -> Result<Answer> {
        let mut delay = self.opts.first_delay;
        let mut last = String::new();
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            match self.remote.request(method, path, body, if_match) {
                Ok(a) if a.status >= 500 => last = format!("it answered {}: {}", a.status, server_message(&a)),
                Ok(a) => return Ok(a),
                Err(e) => last = e,
            }
            tracing::warn!(server = self.remote.server(), path, attempt, reason = %last, "sync request failed");
        }
        Err(OpsError::new(
            ErrorCode::Unreachable,
            format!(
                "cannot reach the server at {} ({last}; {} attempts); check the URL and the network. Nothing is lost: this store works offline and local edits wait in the outbox",
                self.remote.server(),
                self.opts.retries + 1
            ),
        ))
    }

    /// The error of a non-2xx answer, worded for the sync's user.
    pub(super) fn refusal(&self, a: &Answer) -> OpsError {
        let msg = server_message(a);
        match a.status {
            401 => OpsError::new(
                ErrorCode::Unauthorized,
                format!(
                    "the server at {} refused the token ({msg}): it is wrong or was revoked. Link again with a valid token: `argus-usage sync link --server {} --org {}`, or set ARGUS_USAGE_TOKEN",
                    self.remote.server(),
                    self.remote.server(),
                    self.org
                ),
            ),
            403 => OpsError::new(ErrorCode::Forbidden, format!("the server refused: {msg}")),
            404 => OpsError::new(ErrorCode::NotFound, format!("the server answered 404: {msg}")),
            412 => OpsError::new(ErrorCode::VersionMismatch, msg),
            _ => OpsError::new(ErrorCode::BadInput, format!("the server refused ({}): {msg}", a.status)),
        }
    }

    pub(super) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let a = self.call("GET", path, None, None)?;
        if a.status != 200 {
            return Err(self.refusal(&a));
        }
        decode(&a.body, path)
    }

    /// Checks that the server is an Argus Usage server speaking our API; returns its version.
    pub(super) fn check_server(&self) -> Result<String> {
        let a = self.call("GET", "/health", None, None)?;
        let v: Option<serde_json::Value> = serde_json::from_slice(&a.body).ok();
        let api = v.as_ref().and_then(|v| v.get("api")).and_then(|x| x.as_str());
        match (a.status, api) {
            (200, Some(API)) => Ok(v.as_ref().and_then(|v| v.get("version")).and_then(|x| x.as_str()).unwrap_or("?").to_string()),
            (200, Some(other)) => Err(OpsError::new(
                ErrorCode::Incompatible,
                format!(
                    "the server at {} speaks API {other}; this Argus Usage {} speaks {API}. Use matching versions of the app and the server",
                    self.remote.server(),
                    env!("CARGO_PKG_VERSION")
                ),
            )),
            (status, _) => Err(OpsError::new(
                ErrorCode::Incompatible,
                format!(
                    "the server at {} does not answer as an Argus Usage server (GET /api/v1/health answered {status}); check the URL, such as http://host:8680",
                    self.remote.server()
                ),
            )),
        }
    }
}

pub(super) fn decode<T: DeserializeOwned>(body: &[u8], path: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        OpsError::new(
            ErrorCode::Incompatible,
            format!("the server's answer to {path} is not what this version expects ({e}); use matching versions"),
        )
    })
}

#[derive(Deserialize)]
pub(super) struct PricesDoc {
    pub(super) version: i64,
    pub(super) prices: Vec<PriceView>,
}
#[derive(Deserialize)]
pub(super) struct BudgetsDoc {
    pub(super) budgets: Vec<BudgetView>,
}
#[derive(Deserialize)]
pub(super) struct ProvidersDoc {
    pub(super) providers: Vec<ProviderView>,
}
#[derive(Deserialize)]
pub(super) struct AlertsDoc {
    pub(super) alerts: Vec<AlertView>,
}

/// Everything pulled besides records, fetched before one write.
pub(super) struct Config {
    pub(super) prices: PricesDoc,
    pub(super) budgets: Vec<BudgetView>,
    pub(super) providers: Vec<ProviderView>,
    pub(super) alerts: Vec<AlertView>,
}

pub(super) fn budget_row(b: &BudgetView) -> Result<BudgetRow> {
    Ok(BudgetRow {
        scope: b.scope.clone(),
        spike_factor: b.spike_factor.clone(),
        month: b.month.clone(),
        amount_nanos: money_nanos(b.amount)?,
        thresholds: b.thresholds.clone(),
        hard_limit: b.hard_limit,
        version: b.version,
        updated_at: to_nanos(parse_time("updated_at", &b.updated_at)?),
    })
}

pub(super) fn provider_row(p: &ProviderView, now: i64) -> ProviderRow {
    ProviderRow {
        provider: p.provider.clone(),
        enabled: p.enabled,
        priority: p.priority,
        hourly_limit: p.hourly_limit,
        daily_limit: p.daily_limit,
        note: p.note.clone(),
        version: p.version,
        updated_at: now,
    }
}

pub(super) fn alert_row(a: &AlertView) -> Result<AlertRow> {
    Ok(AlertRow {
        id: 0,
        scope: a.scope.clone(),
        kind: a.kind.clone(),
        day: a.day.clone().unwrap_or_default(),
        crosses_on: a.crosses_on.clone(),
        month: a.month.clone(),
        threshold: a.threshold,
        fired_at: to_nanos(parse_time("fired_at", &a.fired_at)?),
        spent_nanos: a.spent.nanos_i128(),
        amount_nanos: money_nanos(a.amount)?,
        acknowledged_at: parse_time_opt("acknowledged_at", &a.acknowledged_at)?,
        acknowledged_by: a.acknowledged_by.clone(),
    })
}

pub(super) fn price_input(p: &PriceView) -> Result<PriceInput> {
    let incompatible = |e: FieldError| OpsError::new(ErrorCode::Incompatible, format!("the server sent price {}: {e}", p.id));
    let dec = |field: &str, s: &str| {
        rust_decimal::Decimal::from_str_exact(s)
            .map_err(|e| OpsError::new(ErrorCode::Incompatible, format!("the server sent {field} {s:?} of price {}: {e}", p.id)))
    };
    let opt = |field: &str, s: &Option<String>| s.as_deref().map(|x| dec(field, x)).transpose();
    Ok(PriceInput {
        provider: p.provider.clone(),
        model: p.model.clone(),
        effective_from: parse_time("effective_from", &p.effective_from)?,
        currency: p.currency.clone(),
        rates: Rates {
            input_per_mtok: dec("input_per_mtok", &p.input_per_mtok)?,
            output_per_mtok: dec("output_per_mtok", &p.output_per_mtok)?,
            cached_input_per_mtok: opt("cached_input_per_mtok", &p.cached_input_per_mtok)?,
            cache_write_per_mtok: opt("cache_write_per_mtok", &p.cache_write_per_mtok)?,
            cache_write_1h_per_mtok: opt("cache_write_1h_per_mtok", &p.cache_write_1h_per_mtok)?,
        },
        source: p.source.clone(),
        terms: Terms {
            service_tier: ServiceTier::parse("service_tier", &p.service_tier).map_err(incompatible)?,
            above_input_tokens: p.above_input_tokens,
            deprecation_date: p
                .deprecation_date
                .as_deref()
                .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d"))
                .transpose()
                .map_err(|e| incompatible(FieldError::new("deprecation_date", format!("{e}"))))?,
        },
    })
}

/// What an outbox object names, and how it is pushed.
pub(super) enum Object<'a> {
    /// A budget: its month (or `default`) and scope (`org`, or `KIND:VALUE`).
    Budget(&'a str, &'a str),
    Provider(&'a str),
    Prices,
    AlertAck(&'a str, u32),
}

pub(super) fn object_of(s: &str) -> Option<Object<'_>> {
    let (kind, rest) = s.split_once(':')?;
    match kind {
        // A month has no colon; a scope may have several.
        "budget" => Some(match rest.split_once(':') {
            Some((month, scope)) => Object::Budget(month, scope),
            None => Object::Budget(rest, "org"),
        }),
        "provider" => Some(Object::Provider(rest)),
        "prices" => Some(Object::Prices),
        "alert" => {
            let (m, t) = rest.split_once(':')?;
            Some(Object::AlertAck(m, t.parse().ok()?))
        }
        _ => None,
    }
}

/// `budget:MONTH` for the organisation's budget (as before scopes), `budget:MONTH:KIND:VALUE` for a scope's.
pub(crate) fn budget_object(scope: &str, month: &str) -> String {
    if scope == "org" {
        format!("budget:{month}")
    } else {
        format!("budget:{month}:{scope}")
    }
}

/// The API path of a budget (`/orgs/SLUG/budgets/MONTH`, with `?scope=` for a scope's).
pub(super) fn budget_path(slug: &str, month: &str, scope: &str) -> String {
    if scope == "org" {
        format!("/orgs/{slug}/budgets/{month}")
    } else {
        format!("/orgs/{slug}/budgets/{month}?scope={}", url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>())
    }
}
pub(crate) fn provider_object(provider: &str) -> String {
    format!("provider:{provider}")
}
pub(crate) fn alert_object(month: &str, threshold: u32) -> String {
    format!("alert:{month}:{threshold}")
}
