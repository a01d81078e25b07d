//! The daily aggregates, kept on write in the same transaction as the
//! records they count.
use crate::sql::{params, Row, Value};
use crate::{Reader, Result, Writer};
use argus_domain::analytics::{stored_key, KeyParts, RecordFilter, Shape, StoredDim, Totals};
use argus_domain::ids::OrgId;
use std::collections::HashMap;

/// Changes to the aggregates, gathered in memory during a transaction and
/// applied once at its end.
/// Keyed by `(org, dim, day)` and then by key, so that adding to a group
/// that exists allocates nothing.
#[derive(Debug, Default)]
pub struct Delta {
    map: HashMap<(OrgId, StoredDim, i32), HashMap<String, Totals>>,
    /// `agg_cube`: `(org, shape, period)` -> the attributes joined by
    /// [`SEP`] (a control character, which no attribute holds) -> totals.
    cube: HashMap<(OrgId, Shape, i32), HashMap<String, Totals>>,
    key: String,
    prices: HashMap<(OrgId, i32, i64), i64>,
    /// `(org, day, source currency, rate's day, rate)` -> records.
    rates: HashMap<(OrgId, i32, String, i32, String), i64>,
}

impl Delta {
    fn entry(&mut self, org: OrgId, dim: StoredDim, day: i32, parts: &KeyParts<'_>) -> Option<&mut Totals> {
        let Delta { map, key, .. } = self;
        key.clear();
        match dim {
            StoredDim::Total => {}
            StoredDim::Provider => key.push_str(parts.provider),
            StoredDim::Operation => key.push_str(parts.operation),
            StoredDim::Investigation => key.push_str(parts.investigation.unwrap_or_default()),
            StoredDim::User => key.push_str(parts.user.unwrap_or_default()),
            StoredDim::Token => key.push_str(parts.token.unwrap_or_default()),
            StoredDim::Model => key.push_str(&stored_key(dim, parts)),
        }
        let keys = map.entry((org, dim, day)).or_default();
        if !keys.contains_key(key.as_str()) {
            keys.insert(key.clone(), Totals::default());
        }
        keys.get_mut(key.as_str())
    }

    fn cube_entry(&mut self, org: OrgId, shape: Shape, day: i32, p: &KeyParts<'_>) -> Option<&mut Totals> {
        let Delta { cube, key, .. } = self;
        key.clear();
        let inv = if shape.has_investigation() { p.investigation.unwrap_or_default() } else { "" };
        let user = if shape.has_user() { p.user.unwrap_or_default() } else { "" };
        let kind = |x: &'static str, part| if shape.has_kind() { part } else { x };
        for (i, part) in
            [kind("", p.provider), kind("", p.model), kind("", p.operation), kind("", p.status), inv, user].into_iter().enumerate()
        {
            if i > 0 {
                key.push(SEP);
            }
            key.push_str(part);
        }
        let keys = cube.entry((org, shape, shape.period(day))).or_default();
        if !keys.contains_key(key.as_str()) {
            keys.insert(key.clone(), Totals::default());
        }
        keys.get_mut(key.as_str())
    }

    pub fn add(&mut self, org: OrgId, day: i32, parts: &KeyParts<'_>, t: &Totals) {
        for dim in StoredDim::ALL {
            if let Some(x) = self.entry(org, dim, day, parts) {
                x.add(t);
            }
        }
        for shape in Shape::ALL {
            if let Some(x) = self.cube_entry(org, shape, day, parts) {
                x.add(t);
            }
        }
    }

    pub fn sub(&mut self, org: OrgId, day: i32, parts: &KeyParts<'_>, t: &Totals) {
        for dim in StoredDim::ALL {
            if let Some(x) = self.entry(org, dim, day, parts) {
                x.sub(t);
            }
        }
        for shape in Shape::ALL {
            if let Some(x) = self.cube_entry(org, shape, day, parts) {
                x.sub(t);
            }
        }
    }

    /// Counts a record costed with `price_id` on `day` (`n` = 1 or -1).
    pub fn price(&mut self, org: OrgId, day: i32, price_id: Option<i64>, n: i64) {
        if let Some(p) = price_id {
            *self.prices.entry((org, day, p)).or_default() += n;
        }
    }

    /// Counts a record of `day` converted by a rate (`n` = 1 or -1).
    pub fn rate(&mut self, org: OrgId, day: i32, c: Option<&argus_domain::fx::Conversion>, n: i64) {
        if let Some((c, (rate, date))) = c.and_then(|c| c.rate.map(|r| (c, r))) {
            let key = (org, day, c.source_currency.clone(), argus_domain::time::day_number(date), rate.normalize().to_string());
            *self.rates.entry(key).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Days touched, per organisation (for alert checks).
    pub fn days(&self) -> Vec<(OrgId, i32)> {
        let mut v: Vec<_> = self.map.keys().filter(|k| k.1 == StoredDim::Total).map(|k| (k.0, k.2)).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn apply(self, w: &Writer<'_>) -> Result<()> {
        {
            let mut up = w.c().prepare(
                "INSERT INTO agg_price_days AS t (org_id, day, price_id, records) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (org_id, day, price_id) DO UPDATE SET records = t.records + excluded.records",
            )?;
            for ((org, day, price), n) in &self.prices {
                if *n != 0 {
                    up.execute(params![org.0, day, price, n])?;
                }
            }
            if self.prices.values().any(|n| *n < 0) {
                w.c().execute("DELETE FROM agg_price_days WHERE records <= 0", params![])?;
            }
            for ((org, day, currency, fx_day, rate), n) in &self.rates {
                if *n != 0 {
                    w.c().execute(
                        "INSERT INTO agg_fx_days AS t (org_id, day, source_currency, fx_day, fx_rate, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (org_id, day, source_currency, fx_day, fx_rate) DO UPDATE SET records = t.records + excluded.records",
                        params![org.0, day, currency, fx_day, rate, n],
                    )?;
                }
            }
            if self.rates.values().any(|n| *n < 0) {
                w.c().execute("DELETE FROM agg_fx_days WHERE records <= 0", params![])?;
            }
        }
        let mut st = w.c().prepare(&format!(
            "INSERT INTO agg_daily AS t (org_id, dim, day, key, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cost_nanos, unpriced_requests, cost_exa, cache_write_1h_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (org_id, dim, day, key) DO UPDATE SET {ADD_TOTALS}"
        ))?;
        for ((org, dim, day), key, t) in self.map.into_iter().flat_map(|(k, m)| m.into_iter().map(move |(key, t)| (k, key, t))) {
            if t == Totals::default() {
                continue;
            }
            // Two parts (crate::wide): the sum of a day can never overflow.
            let (exa, cost) = crate::wide::split(t.cost_nanos).ok_or_else(|| crate::wide::too_large("a daily cost total"))?;
            st.execute(params![
                org.0,
                dim as i64,
                day,
                key,
                t.requests,
                t.input_tokens,
                t.output_tokens,
                t.cached_input_tokens,
                t.cache_write_tokens,
                cost,
                t.unpriced_requests,
                exa,
                t.cache_write_1h_tokens
            ])?;
        }
        let mut st = w.c().prepare(&format!(
            "INSERT INTO agg_cube AS t (org_id, shape, period, provider, model, operation, status, investigation, user_id, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, cost_exa, cost_nanos, unpriced_requests)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             ON CONFLICT (org_id, shape, period, provider, model, operation, status, investigation, user_id) DO UPDATE SET {ADD_TOTALS}"
        ))?;
        for ((org, shape, period), key, t) in self.cube.into_iter().flat_map(|(k, m)| m.into_iter().map(move |(key, t)| (k, key, t))) {
            if t == Totals::default() {
                continue;
            }
            let mut parts = key.split(SEP);
            let mut next = || parts.next().unwrap_or_default();
            let (provider, model, operation, status, inv, user) = (next(), next(), next(), next(), next(), next());
            let (exa, cost) = crate::wide::split(t.cost_nanos).ok_or_else(|| crate::wide::too_large("a rollup's cost total"))?;
            st.execute(params![
                org.0,
                shape as i64,
                period,
                provider,
                model,
                operation,
                status,
                inv,
                user,
                t.requests,
                t.input_tokens,
                t.output_tokens,
                t.cached_input_tokens,
                t.cache_write_tokens,
                t.cache_write_1h_tokens,
                exa,
                cost,
                t.unpriced_requests
            ])?;
        }
        Ok(())
    }
}

/// Adds a row's totals to the one kept (`excluded` is the row inserted): the
/// upsert of `agg_daily` and `agg_cube` alike. Money in two parts
/// (`crate::wide`), so no total can overflow.
const ADD_TOTALS: &str = "requests = t.requests + excluded.requests,
    input_tokens = t.input_tokens + excluded.input_tokens,
    output_tokens = t.output_tokens + excluded.output_tokens,
    cached_input_tokens = t.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_tokens = t.cache_write_tokens + excluded.cache_write_tokens,
    cache_write_1h_tokens = t.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
    cost_nanos = (t.cost_nanos + excluded.cost_nanos) % 1000000000000000000,
    cost_exa = t.cost_exa + excluded.cost_exa + (t.cost_nanos + excluded.cost_nanos) / 1000000000000000000,
    unpriced_requests = t.unpriced_requests + excluded.unpriced_requests";

/// Separates the attributes of a rollup's key in [`Delta`].
const SEP: char = '\u{1f}';

/// One row of `agg_cube`, borrowed from the statement: its period,
/// attributes (`''` for a missing investigation or user, and for the
/// attribute the shape leaves out) and totals.
#[derive(Debug, Clone)]
pub struct CubeRow<'a> {
    pub period: i32,
    pub provider: &'a str,
    pub model: &'a str,
    pub operation: &'a str,
    pub status: &'a str,
    pub investigation: &'a str,
    pub user: &'a str,
    pub totals: Totals,
}

/// Each row of `shape` for periods `[from, to)` that `what` selects (the
/// record filter's own conditions, `crate::records::what_sql`), to `each`.
pub fn cube_rows(
    r: &Reader<'_>,
    org: OrgId,
    shape: Shape,
    from: i32,
    to: i32,
    what: &RecordFilter,
    mut each: impl FnMut(&CubeRow<'_>),
) -> Result<()> {
    let mut sql = String::from(
        "SELECT period, provider, model, operation, status, investigation, user_id, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, cost_exa, cost_nanos, unpriced_requests
         FROM agg_cube WHERE org_id = ?1 AND shape = ?2 AND period >= ?3 AND period < ?4",
    );
    let mut p = vec![Value::Int(org.0), Value::Int(shape as i64), Value::Int(from.into()), Value::Int(to.into())];
    crate::records::what_sql(what, &mut sql, &mut p);
    let mut st = r.c().prepare(&sql)?;
    st.each(p, |r| {
        let s = |i: usize| r.str(i);
        each(&CubeRow {
            period: r.get(0)?,
            provider: s(1)?,
            model: s(2)?,
            operation: s(3)?,
            status: s(4)?,
            investigation: s(5)?,
            user: s(6)?,
            totals: Totals {
                requests: r.get(7)?,
                input_tokens: r.get(8)?,
                output_tokens: r.get(9)?,
                cached_input_tokens: r.get(10)?,
                cache_write_tokens: r.get(11)?,
                cache_write_1h_tokens: r.get(12)?,
                cost_nanos: crate::wide::join(r.get(13)?, r.get(14)?),
                unpriced_requests: r.get(15)?,
            },
        });
        Ok::<_, crate::StoreError>(())
    })
}

const DAILY_COLS: &str = "day, key, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cost_nanos, unpriced_requests, cost_exa, cache_write_1h_tokens";

fn daily_row(r: &Row<'_>) -> Result<(i32, String, Totals)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        Totals {
            requests: r.get(2)?,
            input_tokens: r.get(3)?,
            output_tokens: r.get(4)?,
            cached_input_tokens: r.get(5)?,
            cache_write_tokens: r.get(6)?,
            cache_write_1h_tokens: r.get(10)?,
            cost_nanos: crate::wide::join(r.get(9)?, r.get(7)?),
            unpriced_requests: r.get(8)?,
        },
    ))
}

/// Rows of one stored dimension for days `[from, to)`: `(day, key, totals)`.
pub fn rows(r: &Reader<'_>, org: OrgId, dim: StoredDim, from_day: i32, to_day: i32) -> Result<Vec<(i32, String, Totals)>> {
    let mut st = r.c().prepare(&format!("SELECT {DAILY_COLS} FROM agg_daily WHERE org_id = ?1 AND dim = ?2 AND day >= ?3 AND day < ?4"))?;
    let rows = st.query_map(params![org.0, dim as i64, from_day, to_day], daily_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The rows of one key of a stored dimension for days `[from, to)`, by
/// day: `(day, totals)` (a `token:NAME` budget's spend).
pub fn key_rows(r: &Reader<'_>, org: OrgId, dim: StoredDim, key: &str, from_day: i32, to_day: i32) -> Result<Vec<(i32, Totals)>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {DAILY_COLS} FROM agg_daily WHERE org_id = ?1 AND dim = ?2 AND key = ?3 AND day >= ?4 AND day < ?5 ORDER BY day"
    ))?;
    let rows = st
        .query_map(params![org.0, dim as i64, key, from_day, to_day], |x| daily_row(x).map(|(d, _, t)| (d, t)))?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Price versions that costed records of local days `[from, to)`.
pub fn price_ids(r: &Reader<'_>, org: OrgId, from_day: i32, to_day: i32) -> Result<Vec<i64>> {
    let mut st =
        r.c().prepare("SELECT DISTINCT price_id FROM agg_price_days WHERE org_id = ?1 AND day >= ?2 AND day < ?3 AND records > 0")?;
    let rows = st.query_map(params![org.0, from_day, to_day], |x| x.get(0))?.collect::<Result<Vec<i64>>>()?;
    Ok(rows)
}
