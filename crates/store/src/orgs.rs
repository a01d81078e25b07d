//! Organisations.
use crate::sql::{params, Optional, Row};
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub timezone: String,
    pub created_at: i64,
}

const COLS: &str = "id, slug, name, currency, timezone, created_at";

fn row(r: &Row<'_>) -> Result<OrgRow> {
    Ok(OrgRow { id: OrgId(r.get(0)?), slug: r.get(1)?, name: r.get(2)?, currency: r.get(3)?, timezone: r.get(4)?, created_at: r.get(5)? })
}

/// Inserts an organisation; `None` when the slug is taken.
pub fn insert(w: &Writer<'_>, slug: &str, name: &str, currency: &str, timezone: &str, now: i64) -> Result<Option<OrgRow>> {
    let n = w.c().execute(
        "INSERT INTO orgs (slug, name, currency, timezone, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (slug) DO NOTHING",
        params![slug, name, currency, timezone, now],
    )?;
    if n == 0 {
        return Ok(None);
    }
    by_slug(&w.reader(), slug)
}

pub fn by_slug(r: &Reader<'_>, slug: &str) -> Result<Option<OrgRow>> {
    r.c().prepare(&format!("SELECT {COLS} FROM orgs WHERE slug = ?1"))?.query_row([slug], row).optional()
}

pub fn by_id(r: &Reader<'_>, id: OrgId) -> Result<Option<OrgRow>> {
    r.c().prepare(&format!("SELECT {COLS} FROM orgs WHERE id = ?1"))?.query_row([id.0], row).optional()
}

pub fn list(r: &Reader<'_>) -> Result<Vec<OrgRow>> {
    let mut st = r.c().prepare(&format!("SELECT {COLS} FROM orgs ORDER BY slug"))?;
    let rows = st.query_map(params![], row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}
