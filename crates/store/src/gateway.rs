//! The gateway's configuration: upstreams (where an organisation's calls to
//! a provider go) and model aliases.
use crate::sql::{params, Optional, Row};
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRow {
    pub provider: String,
    pub base_url: String,
    pub api: String,
    pub api_key_env: Option<String>,
    pub version: i64,
    pub updated_at: i64,
}

const UPSTREAM_COLS: &str = "provider, base_url, api, api_key_env, version, updated_at";

fn upstream_row(r: &Row<'_>) -> Result<UpstreamRow> {
    Ok(UpstreamRow {
        provider: r.get(0)?,
        base_url: r.get(1)?,
        api: r.get(2)?,
        api_key_env: r.get(3)?,
        version: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn upstream(r: &Reader<'_>, org: OrgId, provider: &str) -> Result<Option<UpstreamRow>> {
    r.c()
        .prepare(&format!("SELECT {UPSTREAM_COLS} FROM upstreams WHERE org_id = ?1 AND provider = ?2"))?
        .query_row(params![org.0, provider], upstream_row)
        .optional()
}

pub fn upstreams(r: &Reader<'_>, org: OrgId) -> Result<Vec<UpstreamRow>> {
    let mut st = r.c().prepare(&format!("SELECT {UPSTREAM_COLS} FROM upstreams WHERE org_id = ?1 ORDER BY provider"))?;
    let rows = st.query_map([org.0], upstream_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Writes an upstream (its version one more than before).
pub fn put_upstream(w: &Writer<'_>, org: OrgId, u: &UpstreamRow) -> Result<()> {
    w.c().execute(
        "INSERT INTO upstreams (org_id, provider, base_url, api, api_key_env, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (org_id, provider) DO UPDATE SET base_url = excluded.base_url, api = excluded.api,
           api_key_env = excluded.api_key_env, version = excluded.version, updated_at = excluded.updated_at",
        params![org.0, u.provider, u.base_url, u.api, u.api_key_env, u.version, u.updated_at],
    )?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRow {
    pub name: String,
    /// `provider/model`, in the order given (tried by provider priority).
    pub targets: Vec<String>,
    pub updated_at: i64,
}

fn alias_row(r: &Row<'_>) -> Result<AliasRow> {
    let targets: String = r.get(1)?;
    Ok(AliasRow { name: r.get(0)?, targets: targets.split(',').map(str::to_string).collect(), updated_at: r.get(2)? })
}

pub fn alias(r: &Reader<'_>, org: OrgId, name: &str) -> Result<Option<AliasRow>> {
    r.c()
        .prepare("SELECT name, targets, updated_at FROM model_aliases WHERE org_id = ?1 AND name = ?2")?
        .query_row(params![org.0, name], alias_row)
        .optional()
}

pub fn aliases(r: &Reader<'_>, org: OrgId) -> Result<Vec<AliasRow>> {
    let mut st = r.c().prepare("SELECT name, targets, updated_at FROM model_aliases WHERE org_id = ?1 ORDER BY name")?;
    let rows = st.query_map([org.0], alias_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn put_alias(w: &Writer<'_>, org: OrgId, a: &AliasRow) -> Result<()> {
    w.c().execute(
        "INSERT INTO model_aliases (org_id, name, targets, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org_id, name) DO UPDATE SET targets = excluded.targets, updated_at = excluded.updated_at",
        params![org.0, a.name, a.targets.join(","), a.updated_at],
    )?;
    Ok(())
}

/// Removes an alias; false when there was none.
pub fn remove_alias(w: &Writer<'_>, org: OrgId, name: &str) -> Result<bool> {
    Ok(w.c().execute("DELETE FROM model_aliases WHERE org_id = ?1 AND name = ?2", params![org.0, name])? > 0)
}

/// Closes an open reservation without a record (the call never reached a
/// provider); false if there is none.
pub fn release_reservation(w: &Writer<'_>, org: OrgId, id: &str, at: i64) -> Result<bool> {
    crate::controls::close_reservation(w, org, id, None, at)
}
