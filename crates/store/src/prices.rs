//! Price versions: never edited in place.
use crate::sql::{bad, params, Row};
use crate::{Reader, Result, Writer};
use argus_domain::ids::{OrgId, PriceId};
use argus_domain::price::{PriceBook, PriceInput, PriceVersion, Rates, ServiceTier, Terms};
use argus_domain::time::{from_nanos, to_nanos};
use rust_decimal::Decimal;

const COLS: &str = "id, org_id, provider, model, effective_from, currency, input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, source, cache_write_1h_per_mtok, service_tier, above_input_tokens, deprecation_date";

fn dec(s: String) -> Result<Decimal> {
    Decimal::from_str_exact(&s).map_err(bad)
}

fn row(r: &Row<'_>) -> Result<PriceVersion> {
    let opt = |i: usize| -> Result<Option<Decimal>> { r.get::<Option<String>>(i)?.map(dec).transpose() };
    Ok(PriceVersion {
        id: PriceId(r.get(0)?),
        org: r.get::<Option<i64>>(1)?.map(OrgId),
        provider: r.get(2)?,
        model: r.get(3)?,
        effective_from: from_nanos(r.get(4)?),
        currency: r.get(5)?,
        rates: Rates {
            input_per_mtok: dec(r.get(6)?)?,
            output_per_mtok: dec(r.get(7)?)?,
            cached_input_per_mtok: opt(8)?,
            cache_write_per_mtok: opt(9)?,
            cache_write_1h_per_mtok: opt(11)?,
        },
        source: r.get(10)?,
        terms: Terms {
            service_tier: ServiceTier::parse("service_tier", &r.get::<String>(12)?).map_err(bad)?,
            above_input_tokens: r.get::<Option<i64>>(13)?.map(|n| n.max(0) as u64),
            deprecation_date: r
                .get::<Option<String>>(14)?
                .map(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(bad))
                .transpose()?,
        },
    })
}

/// Inserts a version unless the identical one exists. Returns the stored
/// version and whether it was new.
pub fn insert(w: &Writer<'_>, org: Option<OrgId>, p: &PriceInput, now: i64) -> Result<(PriceVersion, bool)> {
    let s = |d: &Decimal| d.normalize().to_string();
    let t = &p.terms;
    let (org_id, at) = (org.map(|o| o.0), to_nanos(p.effective_from));
    let (input, output) = (s(&p.rates.input_per_mtok), s(&p.rates.output_per_mtok));
    let cached = p.rates.cached_input_per_mtok.as_ref().map(s);
    let write = p.rates.cache_write_per_mtok.as_ref().map(s);
    let write_1h = p.rates.cache_write_1h_per_mtok.as_ref().map(s);
    let above = t.above_input_tokens.map(|n| n as i64);
    let retired = t.deprecation_date.map(|d| d.format("%Y-%m-%d").to_string());
    let identity: [&dyn crate::sql::Param; 13] = [
        &org_id,
        &p.provider,
        &p.model,
        &at,
        &p.currency,
        &input,
        &output,
        &cached,
        &write,
        &write_1h,
        &t.service_tier.as_str(),
        &above,
        &retired,
    ];
    let mut all = identity.to_vec();
    all.extend([&p.source as &dyn crate::sql::Param, &now]);
    // The identity of migrations/0009's unique index: a version already
    // there is left as it is (its source and time of import too).
    let inserted = w.c().execute(
        "INSERT INTO price_versions (org_id, provider, model, effective_from, currency, input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok,
                                     cache_write_1h_per_mtok, service_tier, above_input_tokens, deprecation_date, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT DO NOTHING",
        all.as_slice(),
    )?;
    let v = w
        .c()
        .query_row(
            &format!(
                "SELECT {COLS} FROM price_versions WHERE coalesce(org_id, 0) = coalesce(?1, 0) AND provider = ?2 AND model = ?3 AND effective_from = ?4 AND currency = ?5
                 AND input_per_mtok = ?6 AND output_per_mtok = ?7 AND coalesce(cached_input_per_mtok, '') = coalesce(?8, '') AND coalesce(cache_write_per_mtok, '') = coalesce(?9, '')
                 AND coalesce(cache_write_1h_per_mtok, '') = coalesce(?10, '') AND service_tier = ?11 AND coalesce(above_input_tokens, 0) = coalesce(?12, 0)
                 AND coalesce(deprecation_date, '') = coalesce(?13, '')"
            ),
            identity.as_slice(),
            row,
        )?;
    Ok((v, inserted == 1))
}

/// Versions visible to an organisation (global ones and its own), or only
/// the global catalogue when `org` is `None`; optionally of one provider.
pub fn list(r: &Reader<'_>, org: Option<OrgId>, provider: Option<&str>) -> Result<Vec<PriceVersion>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {COLS} FROM price_versions WHERE (org_id IS NULL OR org_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR provider = ?2)
         ORDER BY provider, model, effective_from, id"
    ))?;
    let rows = st.query_map(params![org.map(|o| o.0), provider], row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The version of an organisation's prices (global and its own): the
/// largest price version id, 0 when there is none. Versions are only ever
/// added, so any addition changes it.
pub fn version(r: &Reader<'_>, org: OrgId) -> Result<i64> {
    r.c().query_row("SELECT coalesce(max(id), 0) FROM price_versions WHERE org_id IS NULL OR org_id = ?1", [org.0], |x| x.get(0))
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
