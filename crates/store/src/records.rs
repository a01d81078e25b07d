//! Usage records. Rows are never deleted; `seq` only grows.
use crate::sql::{params, Optional, Row, Value};
use crate::{Reader, Result, Writer};
use argus_domain::analytics::{KeyParts, RecordFilter};
use argus_domain::fx::Conversion;
use argus_domain::ids::{OrgId, PriceId, Seq};
use argus_domain::price::{ServiceTier, Tokens};
use argus_domain::record::{CallDetail, UsageInput};

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub seq: Seq,
    pub org_id: OrgId,
    pub id: String,
    pub provider: String,
    pub model: String,
    pub operation: String,
    pub investigation: Option<String>,
    pub user: Option<String>,
    pub tokens: Tokens,
    pub status: String,
    pub latency_ms: Option<i64>,
    pub occurred_at: i64,
    pub day: i32,
    pub cost_nanos: Option<i64>,
    pub currency: String,
    pub price_id: Option<PriceId>,
    pub recorded_at: i64,
    pub detail: CallDetail,
    pub service_tier: ServiceTier,
    /// How its cost was converted into the organisation's currency.
    pub conversion: Option<Conversion>,
    /// The name of the token that sent it (`UsageInput::token`).
    pub token: Option<String>,
}

fn conversion_of(r: &Row<'_>, at: usize) -> Result<Option<Conversion>> {
    let (Some(cost), Some(currency)) = (r.get::<Option<i64>>(at)?, r.get::<Option<String>>(at + 1)?) else { return Ok(None) };
    let rate = match (r.get::<Option<String>>(at + 2)?, r.get::<Option<i32>>(at + 3)?) {
        (Some(x), Some(day)) => {
            Some((rust_decimal::Decimal::from_str_exact(&x).map_err(crate::sql::bad)?, argus_domain::time::day_date(day)))
        }
        _ => None,
    };
    Ok(Some(Conversion { source_cost: argus_domain::Money::from_nanos(cost), source_currency: currency, rate }))
}

/// The four columns of a conversion, as stored.
type ConversionSql = (Option<i64>, Option<String>, Option<String>, Option<i32>);

fn conversion_sql(c: Option<&Conversion>) -> ConversionSql {
    match c {
        None => (None, None, None, None),
        Some(c) => (
            c.source_cost.nanos(),
            Some(c.source_currency.clone()),
            c.rate.map(|(r, _)| r.normalize().to_string()),
            c.rate.map(|(_, d)| argus_domain::time::day_number(d)),
        ),
    }
}

/// A record's service tier as stored: NULL for standard.
fn tier_sql(t: ServiceTier) -> Option<&'static str> {
    (t != ServiceTier::Standard).then(|| t.as_str())
}

fn tier_of(s: Option<String>) -> Result<ServiceTier> {
    match s {
        None => Ok(ServiceTier::Standard),
        Some(s) => ServiceTier::parse("service_tier", &s).map_err(crate::sql::bad),
    }
}

impl StoredRecord {
    pub fn key_parts(&self) -> KeyParts<'_> {
        KeyParts {
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

const COLS: &str = "seq, org_id, id, provider, model, operation, investigation, user_id, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, status, latency_ms, occurred_at, day, cost_nanos, currency, price_id, recorded_at, upstream_model, first_byte_ms, estimated, attempt, service_tier, cache_write_1h_tokens, source_cost_nanos, source_currency, fx_rate, fx_day, token";

fn row(r: &Row<'_>) -> Result<StoredRecord> {
    let n = |i: usize| -> Result<u64> { Ok(r.get::<i64>(i)?.max(0) as u64) };
    Ok(StoredRecord {
        seq: Seq(r.get(0)?),
        org_id: OrgId(r.get(1)?),
        id: r.get(2)?,
        provider: r.get(3)?,
        model: r.get(4)?,
        operation: r.get(5)?,
        investigation: r.get(6)?,
        user: r.get(7)?,
        tokens: Tokens { input: n(8)?, output: n(9)?, cached_input: n(10)?, cache_write: n(11)?, cache_write_1h: n(25)? },
        status: r.get(12)?,
        latency_ms: r.get(13)?,
        occurred_at: r.get(14)?,
        day: r.get(15)?,
        cost_nanos: r.get(16)?,
        currency: r.get(17)?,
        price_id: r.get::<Option<i64>>(18)?.map(PriceId),
        recorded_at: r.get(19)?,
        detail: CallDetail {
            upstream_model: r.get(20)?,
            first_byte_ms: r.get::<Option<i64>>(21)?.map(|x| x.max(0) as u64),
            estimated: r.get::<i64>(22)? != 0,
            attempt: r.get::<Option<i64>>(23)?.map(|x| x.max(0) as u64),
        },
        service_tier: tier_of(r.get(24)?)?,
        conversion: conversion_of(r, 26)?,
        token: r.get(30)?,
    })
}

/// What to insert.
pub struct NewRecord<'a> {
    pub org: OrgId,
    pub id: &'a str,
    pub input: &'a UsageInput,
    pub day: i32,
    pub cost_nanos: Option<i64>,
    pub currency: &'a str,
    pub price_id: Option<PriceId>,
    pub recorded_at: i64,
    pub content_hash: &'a [u8; 32],
    pub conversion: Option<&'a Conversion>,
}

/// The outcome of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Inserted(Seq),
    /// The same id with the same content is already stored.
    Duplicate(Seq),
    /// The same id with different content is stored; it was left as it was.
    Conflict(Seq),
}

/// Inserts records with its statements prepared once, for batches.
pub struct Inserter<'w> {
    sql: crate::sql::Sql<'w>,
    find: crate::sql::Stmt<'w>,
}

const INSERT: &str = "INSERT INTO records (org_id, id, provider, model, operation, investigation, user_id, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, status, latency_ms, occurred_at, day, cost_nanos, currency, price_id, recorded_at, content_hash, upstream_model, first_byte_ms, estimated, attempt, service_tier, cache_write_1h_tokens, source_cost_nanos, source_currency, fx_rate, fx_day, token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)
                 ON CONFLICT (org_id, id) DO NOTHING";

impl<'w> Inserter<'w> {
    pub fn new(w: &'w Writer<'_>) -> Result<Inserter<'w>> {
        let sql = w.c();
        Ok(Inserter { sql, find: sql.prepare("SELECT seq, content_hash FROM records WHERE org_id = ?1 AND id = ?2")? })
    }

    /// Inserts one record, or tells whether the id is a duplicate or a conflict.
    pub fn insert(&mut self, n: &NewRecord<'_>) -> Result<Insert> {
        let t = &n.input.tokens;
        let (source_cost, source_currency, fx_rate, fx_day) = conversion_sql(n.conversion);
        let inserted = self.sql.insert_id_if_new(
            INSERT,
            params![
                n.org.0,
                n.id,
                n.input.provider,
                n.input.model,
                n.input.operation,
                n.input.investigation,
                n.input.user,
                t.input as i64,
                t.output as i64,
                t.cached_input as i64,
                t.cache_write as i64,
                n.input.status,
                n.input.latency_ms.map(|x| x as i64),
                argus_domain::time::to_nanos(n.input.occurred_at),
                n.day,
                n.cost_nanos,
                n.currency,
                n.price_id.map(|p| p.0),
                n.recorded_at,
                &n.content_hash[..],
                n.input.detail.upstream_model,
                n.input.detail.first_byte_ms.map(|x| x as i64),
                i64::from(n.input.detail.estimated),
                n.input.detail.attempt.map(|x| x as i64),
                tier_sql(n.input.service_tier),
                t.cache_write_1h as i64,
                source_cost,
                source_currency,
                fx_rate,
                fx_day,
                n.input.token,
            ],
            "seq",
        )?;
        if let Some(seq) = inserted {
            return Ok(Insert::Inserted(Seq(seq)));
        }
        let (seq, hash): (i64, Vec<u8>) = self.find.query_row(params![n.org.0, n.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(if hash.as_slice() == &n.content_hash[..] { Insert::Duplicate(Seq(seq)) } else { Insert::Conflict(Seq(seq)) })
    }
}

pub fn by_seq(r: &Reader<'_>, seq: Seq) -> Result<Option<StoredRecord>> {
    r.c().query_row(&format!("SELECT {COLS} FROM records WHERE seq = ?1"), [seq.0], row).optional()
}

/// Filters for listing and scanning records. Times are nanoseconds,
/// `from` inclusive and `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub org: Option<OrgId>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The dimensions (provider, model, operation, investigation, user).
    pub what: RecordFilter,
    pub after_seq: Option<i64>,
}

fn filter_sql(f: &Filter) -> (String, Vec<Value>) {
    use Value;
    let mut sql = String::from(" WHERE 1=1");
    let mut p: Vec<Value> = Vec::new();
    if let Some(o) = f.org {
        // Paging by seq alone (sync): walk the table in seq order from the
        // cursor; the unary + keeps SQLite from choosing the (org_id,
        // occurred_at) index and sorting the organisation's whole history.
        let by_seq = f.after_seq.is_some() && f.from.is_none() && f.to.is_none();
        cond(&mut sql, &mut p, if by_seq { "+org_id = ?" } else { "org_id = ?" }, Value::Int(o.0));
    }
    if let Some(x) = f.from {
        cond(&mut sql, &mut p, "occurred_at >= ?", Value::Int(x));
    }
    if let Some(x) = f.to {
        cond(&mut sql, &mut p, "occurred_at < ?", Value::Int(x));
    }
    what_sql(&f.what, &mut sql, &mut p);
    if let Some(x) = f.after_seq {
        cond(&mut sql, &mut p, "seq > ?", Value::Int(x));
    }
    (sql, p)
}

/// Appends ` AND cond` to `sql`, with `?` where the parameter `v` goes
/// (its number among `p`): the one condition builder of the store's queries.
pub(crate) fn cond(sql: &mut String, p: &mut Vec<Value>, cond: &str, v: Value) {
    p.push(v);
    sql.push_str(" AND ");
    sql.push_str(&cond.replace('?', &format!("?{}", p.len())));
}

/// The conditions of a record filter, on the columns the records and the
/// rollups (`agg_cube`) both have, appended to `sql` after its parameters
/// `p`.
pub(crate) fn what_sql(what: &RecordFilter, sql: &mut String, p: &mut Vec<Value>) {
    use Value;
    for (col, v) in [
        ("provider", &what.provider),
        ("model", &what.model),
        ("operation", &what.operation),
        ("investigation", &what.investigation),
        ("user_id", &what.user),
        ("status", &what.status),
    ] {
        if let Some(x) = v {
            cond(sql, p, &format!("{col} = ?"), Value::Text(x.clone()));
        }
    }
    // A substring in any case: instr over lower-cased text (no pattern
    // characters to escape, unlike LIKE). A missing value (NULL in the
    // records, '' in the rollups) never holds a non-empty part.
    if let Some(x) = &what.investigation_contains {
        cond(sql, p, "instr(lower(investigation), lower(?)) > 0", Value::Text(x.clone()));
    }
    if let Some(x) = &what.user_contains {
        cond(sql, p, "instr(lower(user_id), lower(?)) > 0", Value::Text(x.clone()));
    }
}

/// The order of a page of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By `seq`: the order they were stored.
    Seq,
    /// By time of the call, oldest first (ties by `seq`).
    Time,
    /// By time of the call, newest first.
    TimeDesc,
}

/// Records matching `f` in `order`, at most `limit`; with `after` =
/// `(occurred_at, seq)`, only those after that place in time order (before
/// it, newest first).
pub fn list_ordered(r: &Reader<'_>, f: &Filter, order: Order, after: Option<(i64, i64)>, limit: i64) -> Result<Vec<StoredRecord>> {
    // The cursor narrows the time range itself, so that the index seeks to
    // it (SQLite picks one bound of a column; a row value alone is not
    // one): a deep page is as fast as the first.
    let mut f = f.clone();
    if let Some((at, _)) = after {
        if order == Order::TimeDesc {
            f.to = Some(f.to.map_or(at.saturating_add(1), |t| t.min(at.saturating_add(1))));
        } else {
            f.from = Some(f.from.map_or(at, |x| x.max(at)));
        }
    }
    let (mut w, mut p) = filter_sql(&f);
    if let Some((at, seq)) = after {
        p.push(Value::Int(at));
        p.push(Value::Int(seq));
        let op = if order == Order::TimeDesc { "<" } else { ">" };
        w.push_str(&format!(" AND (occurred_at, seq) {op} (?{}, ?{})", p.len() - 1, p.len()));
    }
    let by = match order {
        Order::Seq => "seq",
        Order::Time => "occurred_at, seq",
        Order::TimeDesc => "occurred_at DESC, seq DESC",
    };
    let mut st = r.c().prepare(&format!("SELECT {COLS} FROM records{w} ORDER BY {by} LIMIT {limit}"))?;
    let rows = st.query_map(p, row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Records matching `f` in `seq` order, at most `limit`.
pub fn list(r: &Reader<'_>, f: &Filter, limit: i64) -> Result<Vec<StoredRecord>> {
    let (w, p) = filter_sql(f);
    let mut st = r.c().prepare(&format!("SELECT {COLS} FROM records{w} ORDER BY seq LIMIT {limit}"))?;
    let rows = st.query_map(p, row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Calls `each` for every record matching `f`, in time order, without
/// holding them all in memory.
pub fn scan<E: From<crate::StoreError>>(
    r: &Reader<'_>,
    f: &Filter,
    mut each: impl FnMut(StoredRecord) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let (w, p) = filter_sql(f);
    let mut st = r.c().prepare(&format!("SELECT {COLS} FROM records{w} ORDER BY occurred_at, seq"))?;
    st.each(p, |x| each(row(x).map_err(E::from)?))
}

/// Sets the cost of a stored record, and its conversion (reprice).
pub fn set_cost(
    w: &Writer<'_>,
    seq: Seq,
    cost_nanos: Option<i64>,
    price_id: Option<PriceId>,
    conversion: Option<&Conversion>,
) -> Result<()> {
    let (source_cost, source_currency, fx_rate, fx_day) = conversion_sql(conversion);
    w.c().execute(
        "UPDATE records SET cost_nanos = ?2, price_id = ?3, source_cost_nanos = ?4, source_currency = ?5, fx_rate = ?6, fx_day = ?7 WHERE seq = ?1",
        params![seq.0, cost_nanos, price_id.map(|p| p.0), source_cost, source_currency, fx_rate, fx_day],
    )?;
    Ok(())
}

/// How many records an organisation has.
pub fn count(r: &Reader<'_>, org: OrgId) -> Result<i64> {
    r.c().query_row("SELECT count(*) FROM records WHERE org_id = ?1", [org.0], |x| x.get(0))
}

/// Distinct price version ids of an organisation's records in `[from, to)`.
pub fn price_ids(r: &Reader<'_>, org: OrgId, from: i64, to: i64) -> Result<Vec<i64>> {
    let mut st = r.c().prepare("SELECT DISTINCT price_id FROM records WHERE org_id = ?1 AND occurred_at >= ?2 AND occurred_at < ?3 AND price_id IS NOT NULL ORDER BY 1")?;
    let rows = st.query_map(params![org.0, from, to], |x| x.get(0))?.collect::<Result<Vec<i64>>>()?;
    Ok(rows)
}

/// The gateway's attempts of an organisation between two instants, by
/// provider: `(provider, served, failed, served_after_failover)`. An attempt
/// is served when the provider answered it (`ok`, `incomplete`,
/// `client_error`), failed otherwise (the call moved on, or ended there).
pub fn gateway_attempts(r: &Reader<'_>, org: OrgId, from: i64, to: i64) -> Result<Vec<(String, u64, u64, u64)>> {
    let mut st = r.c().prepare(
        "SELECT provider,
                sum(CASE WHEN status IN ('ok', 'incomplete', 'client_error') THEN 1 ELSE 0 END),
                sum(CASE WHEN status NOT IN ('ok', 'incomplete', 'client_error') THEN 1 ELSE 0 END),
                sum(CASE WHEN attempt > 1 AND status IN ('ok', 'incomplete', 'client_error') THEN 1 ELSE 0 END)
         FROM records WHERE org_id = ?1 AND occurred_at >= ?2 AND occurred_at < ?3 AND attempt IS NOT NULL
         GROUP BY provider ORDER BY provider",
    )?;
    let n = |x: i64| x.max(0) as u64;
    let rows = st
        .query_map(params![org.0, from, to], |x| Ok((x.get(0)?, n(x.get(1)?), n(x.get(2)?), n(x.get(3)?))))?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The organisation's records grouped by how they were priced: `(provider,
/// model, service tier, price id, records, with cached input, with cache
/// writes, with 1-hour cache writes, last occurred_at)`, for `prices check`.
pub type PricingGroup = (String, String, ServiceTier, Option<PriceId>, i64, i64, i64, i64, i64);

pub fn pricing_groups(r: &Reader<'_>, org: OrgId) -> Result<Vec<PricingGroup>> {
    let mut st = r.c().prepare(
        "SELECT provider, model, service_tier, price_id, count(*), sum(CASE WHEN cached_input_tokens > 0 THEN 1 ELSE 0 END), sum(CASE WHEN cache_write_tokens > 0 THEN 1 ELSE 0 END),
                sum(CASE WHEN cache_write_1h_tokens > 0 THEN 1 ELSE 0 END), max(occurred_at)
         FROM records WHERE org_id = ?1 GROUP BY provider, model, service_tier, price_id ORDER BY provider, model, coalesce(service_tier, ''), coalesce(price_id, 0)",
    )?;
    let rows = st
        .query_map([org.0], |x| {
            Ok((
                x.get(0)?,
                x.get(1)?,
                tier_of(x.get(2)?)?,
                x.get::<Option<i64>>(3)?.map(PriceId),
                x.get(4)?,
                x.get(5)?,
                x.get(6)?,
                x.get(7)?,
                x.get(8)?,
            ))
        })?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}
