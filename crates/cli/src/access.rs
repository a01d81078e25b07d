//! The server side's commands: API tokens and what the store is.
use crate::table::Table;
use crate::{print_json, TokenCmd};
use argus_ops::{Ops, OpsError};
use std::process::ExitCode;

pub(crate) fn token(ops: &mut Ops, c: TokenCmd) -> Result<ExitCode, OpsError> {
    match c {
        TokenCmd::Create { org, role, name } => {
            let t = ops.token_create(&org, &role, name.as_deref())?;
            outln!("{}", t.token);
            eprintln!(
                "token {} ({}, role {}) made for {}; it is shown only now: keep it in a secret store",
                t.info.id, t.info.name, t.info.role, t.info.org
            );
        }
        TokenCmd::List { org, json } => {
            let list = ops.token_list(&org)?;
            if json {
                print_json(&serde_json::json!({ "tokens": list }));
            } else {
                let mut t = Table::new(&["id", "name", "role", "prefix", "created_at", "revoked_at"]);
                t.right_align(&[0]);
                for x in list {
                    t.row(vec![
                        x.id.to_string(),
                        x.name,
                        x.role,
                        format!("{}...", x.prefix),
                        x.created_at,
                        x.revoked_at.unwrap_or_default(),
                    ]);
                }
                t.print();
            }
        }
        TokenCmd::Revoke { org, id } => {
            let t = ops.token_revoke(&org, id)?;
            outln!("token {} ({}) revoked", t.id, t.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `info`: where the store is, its schema version, its organisations.
pub(crate) fn info(ops: &mut Ops, json: bool) -> Result<ExitCode, OpsError> {
    let orgs = ops.org_list()?;
    let version = ops.schema_version()?;
    let path = ops.path().display().to_string();
    if json {
        print_json(&serde_json::json!({"db": path, "schema_version": version, "orgs": orgs}));
    } else {
        outln!("store: {path}\nschema version: {version}\norganisations: {}", orgs.len());
    }
    Ok(ExitCode::SUCCESS)
}
