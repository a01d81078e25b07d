//! Price versions: never edited in place.
use crate::{Reader, Result, StoreError, Writer};
use argus_domain::ids::{OrgId, PriceId};
use argus_domain::price::{PriceBook, PriceInput, PriceVersion, Rates};
use argus_domain::time::{from_nanos, to_nanos};
use rust_decimal::Decimal;

const COLS: &str = "id, org_id, provider, model, effective_from, currency, input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, source";

fn dec(s: String) -> rusqlite::Result<Decimal> {
    Decimal::from_str_exact(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PriceVersion> {
    let opt = |i: usize| -> rusqlite::Result<Option<Decimal>> { r.get::<_, Option<String>>(i)?.map(dec).transpose() };
    Ok(PriceVersion {
        id: PriceId(r.get(0)?),
        org: r.get::<_, Option<i64>>(1)?.map(OrgId),
        provider: r.get(2)?,
        model: r.get(3)?,
        effective_from: from_nanos(r.get(4)?),
        currency: r.get(5)?,
        rates: Rates {
            input_per_mtok: dec(r.get(6)?)?,
            output_per_mtok: dec(r.get(7)?)?,
            cached_input_per_mtok: opt(8)?,
            cache_write_per_mtok: opt(9)?,
        },
        source: r.get(10)?,
    })
}

/// Inserts a version unless the identical one exists. Returns the stored
/// version and whether it was new.
pub fn insert(w: &Writer<'_>, org: Option<OrgId>, p: &PriceInput, now: i64) -> Result<(PriceVersion, bool)> {
    let s = |d: &Decimal| d.normalize().to_string();
    let params = rusqlite::params![
        org.map(|o| o.0),
        p.provider,
        p.model,
        to_nanos(p.effective_from),
        p.currency,
        s(&p.rates.input_per_mtok),
        s(&p.rates.output_per_mtok),
        p.rates.cached_input_per_mtok.as_ref().map(s),
        p.rates.cache_write_per_mtok.as_ref().map(s),
    ];
    let existing = w.c().query_row(
        &format!(
            "SELECT {COLS} FROM price_versions WHERE ifnull(org_id, 0) = ifnull(?1, 0) AND provider = ?2 AND model = ?3 AND effective_from = ?4 AND currency = ?5
             AND input_per_mtok = ?6 AND output_per_mtok = ?7 AND ifnull(cached_input_per_mtok, '') = ifnull(?8, '') AND ifnull(cache_write_per_mtok, '') = ifnull(?9, '')"
        ),
        params,
        row,
    );
    match existing {
        Ok(v) => return Ok((v, false)),
        Err(rusqlite::Error::QueryReturnedNoRows) => {}
        Err(e) => return Err(e.into()),
    }
    w.c().execute(
        "INSERT INTO price_versions (org_id, provider, model, effective_from, currency, input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            org.map(|o| o.0),
            p.provider,
            p.model,
            to_nanos(p.effective_from),
            p.currency,
            s(&p.rates.input_per_mtok),
            s(&p.rates.output_per_mtok),
            p.rates.cached_input_per_mtok.as_ref().map(s),
            p.rates.cache_write_per_mtok.as_ref().map(s),
            p.source,
            now
        ],
    )?;
    let id = w.c().last_insert_rowid();
    let v = w.c().query_row(&format!("SELECT {COLS} FROM price_versions WHERE id = ?1"), [id], row).map_err(StoreError::from)?;
    Ok((v, true))
}

/// Versions visible to an organisation (global ones and its own), or only
/// the global catalogue when `org` is `None`; optionally of one provider.
pub fn list(r: &Reader<'_>, org: Option<OrgId>, provider: Option<&str>) -> Result<Vec<PriceVersion>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {COLS} FROM price_versions WHERE (org_id IS NULL OR org_id = ?1) AND (?2 IS NULL OR provider = ?2)
         ORDER BY provider, model, effective_from, id"
    ))?;
    let rows = st.query_map(rusqlite::params![org.map(|o| o.0), provider], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The version of an organisation's prices (global and its own): the
/// largest price version id, 0 when there is none. Versions are only ever
/// added, so any addition changes it.
pub fn version(r: &Reader<'_>, org: OrgId) -> Result<i64> {
    Ok(r.c().query_row("SELECT ifnull(max(id), 0) FROM price_versions WHERE org_id IS NULL OR org_id = ?1", [org.0], |x| x.get(0))?)
}

/// The price book of an organisation in its currency.
pub fn book(r: &Reader<'_>, org: OrgId, currency: &str) -> Result<PriceBook> {
    Ok(PriceBook::new(list(r, Some(org), None)?, currency))
}

pub fn by_ids(r: &Reader<'_>, ids: &[PriceId]) -> Result<Vec<PriceVersion>> {
    let mut st = r.c().prepare(&format!("SELECT {COLS} FROM price_versions WHERE id = ?1"))?;
    let mut out = Vec::new();
    for id in ids {
        out.push(st.query_row([id.0], row)?);
    }
    Ok(out)
}
