//! Exchange rates: never edited in place.
use crate::sql::{params, Row};
use crate::{Reader, Result, Writer};
use argus_domain::fx::{FxBook, FxInput, FxRate};
use argus_domain::ids::OrgId;
use argus_domain::time::{day_date, day_number};
use rust_decimal::Decimal;

const COLS: &str = "id, org_id, day, from_currency, to_currency, rate";

fn row(r: &Row<'_>) -> Result<FxRate> {
    let rate: String = r.get(5)?;
    Ok(FxRate {
        id: r.get(0)?,
        org: r.get::<Option<i64>>(1)?.map(OrgId),
        date: day_date(r.get(2)?),
        from: r.get(3)?,
        to: r.get(4)?,
        rate: Decimal::from_str_exact(&rate).map_err(crate::sql::bad)?,
    })
}

/// Inserts a rate unless the identical one is stored; whether it was new.
pub fn insert(w: &Writer<'_>, org: Option<OrgId>, x: &FxInput, now: i64) -> Result<(FxRate, bool)> {
    let identity = params![org.map(|o| o.0), day_number(x.date), x.from, x.to, x.rate.normalize().to_string()];
    let n = w.c().execute(
        "INSERT INTO fx_rates (org_id, day, from_currency, to_currency, rate, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![org.map(|o| o.0), day_number(x.date), x.from, x.to, x.rate.normalize().to_string(), now],
    )?;
    let v = w.c().query_row(
        &format!("SELECT {COLS} FROM fx_rates WHERE coalesce(org_id, 0) = coalesce(?1, 0) AND day = ?2 AND from_currency = ?3 AND to_currency = ?4 AND rate = ?5"),
        identity,
        row,
    )?;
    Ok((v, n == 1))
}

/// The rates an organisation uses (every organisation's and its own), or
/// only the shared ones when `org` is `None`; optionally into one currency.
pub fn list(r: &Reader<'_>, org: Option<OrgId>, to: Option<&str>) -> Result<Vec<FxRate>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {COLS} FROM fx_rates WHERE (org_id IS NULL OR org_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR to_currency = ?2) ORDER BY from_currency, to_currency, day, id"
    ))?;
    let rows = st.query_map(params![org.map(|o| o.0), to], row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The rates into an organisation's currency.
pub fn book(r: &Reader<'_>, org: OrgId, currency: &str) -> Result<FxBook> {
    Ok(FxBook::new(list(r, Some(org), Some(currency))?))
}

/// Unconverted records, per organisation: `(org, records)`.
pub fn unconverted(r: &Reader<'_>) -> Result<Vec<(OrgId, i64)>> {
    // SQLite is told the partial index to use; PostgreSQL finds it itself.
    let index = if r.c().is_pg() { "" } else { "INDEXED BY records_unconverted" };
    let mut st = r.c().prepare(&format!(
        "SELECT org_id, count(*) FROM records {index} WHERE cost_nanos IS NULL AND source_currency IS NOT NULL GROUP BY org_id"
    ))?;
    let rows = st.query_map(params![], |x| Ok((OrgId(x.get(0)?), x.get(1)?)))?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The rates that converted records of local days `[from, to)`:
/// `(source currency, rate's day, rate, records)`.
pub fn used(r: &Reader<'_>, org: OrgId, from_day: i32, to_day: i32) -> Result<Vec<(String, i32, String, i64)>> {
    let mut st = r.c().prepare(
        "SELECT source_currency, fx_day, fx_rate, sum(records) FROM agg_fx_days WHERE org_id = ?1 AND day >= ?2 AND day < ?3
         GROUP BY source_currency, fx_day, fx_rate HAVING sum(records) > 0 ORDER BY source_currency, fx_day",
    )?;
    let rows = st
        .query_map(params![org.0, from_day, to_day], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?)))?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}
