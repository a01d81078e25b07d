//! The audit log: who changed what, when, with the value before and after.
use crate::sql::{params, Value};
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
    w.c().insert_id(
        "INSERT INTO audit (org_id, at, actor, action, object, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![org.map(|o| o.0), at, actor, action, object, before, after],
        "id",
    )
}

pub fn list(r: &Reader<'_>, org: OrgId, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
    list_filtered(r, org, &AuditFilter::default(), false, Some(after), limit)
}

/// Which entries: parts of the actor, action and object (any ASCII case),
/// and the period `[from, to)` in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Entries of `org` (and the store's own) that `f` selects, oldest or
/// newest first, after (before, newest first) entry id `cursor`.
pub fn list_filtered(
    r: &Reader<'_>,
    org: OrgId,
    f: &AuditFilter,
    newest_first: bool,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    use Value;
    let mut sql =
        String::from("SELECT id, org_id, at, actor, action, object, before, after FROM audit WHERE (org_id = ?1 OR org_id IS NULL)");
    let mut p = vec![Value::Int(org.0)];
    let cond = crate::records::cond;
    for (col, v) in [("actor", &f.actor), ("action", &f.action), ("object", &f.object)] {
        if let Some(x) = v {
            cond(&mut sql, &mut p, &format!("instr(lower({col}), lower(?)) > 0"), Value::Text(x.clone()));
        }
    }
    if let Some(x) = f.from {
        cond(&mut sql, &mut p, "at >= ?", Value::Int(x));
    }
    if let Some(x) = f.to {
        cond(&mut sql, &mut p, "at < ?", Value::Int(x));
    }
    if let Some(c) = cursor {
        cond(&mut sql, &mut p, if newest_first { "id < ?" } else { "id > ?" }, Value::Int(c));
    }
    sql.push_str(if newest_first { " ORDER BY id DESC" } else { " ORDER BY id" });
    sql.push_str(&format!(" LIMIT {limit}"));
    let mut st = r.c().prepare(&sql)?;
    let rows = st
        .query_map(p, |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                org_id: r.get::<Option<i64>>(1)?.map(OrgId),
                at: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                object: r.get(5)?,
                before: r.get(6)?,
                after: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}
