//! The audit log: who changed what, when, with the value before and after.
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub org_id: Option<OrgId>,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub fn add(
    w: &Writer<'_>,
    org: Option<OrgId>,
    at: i64,
    actor: &str,
    action: &str,
    object: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<i64> {
    w.c().execute(
        "INSERT INTO audit (org_id, at, actor, action, object, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![org.map(|o| o.0), at, actor, action, object, before, after],
    )?;
    Ok(w.c().last_insert_rowid())
}

pub fn list(r: &Reader<'_>, org: OrgId, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
    let mut st = r.c().prepare(
        "SELECT id, org_id, at, actor, action, object, before, after FROM audit WHERE (org_id = ?1 OR org_id IS NULL) AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = st
        .query_map(rusqlite::params![org.0, after, limit], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                org_id: r.get::<_, Option<i64>>(1)?.map(OrgId),
                at: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                object: r.get(5)?,
                before: r.get(6)?,
                after: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
