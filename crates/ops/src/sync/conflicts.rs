//! Resolving a conflict: a push the server refused (412).
use super::*;

impl Ops {
    /// Resolves a conflict: `Local` pushes the local edit again on the next
    /// sync, now against the server's version; `Server` drops the local
    /// edit and takes the server's value.
    pub fn sync_resolve(&mut self, id: i64, keep: Keep) -> Result<SyncStatus> {
        let link = require_link(self)?;
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| -> Result<()> {
            let Some(item) = store::outbox_item(&w.reader(), link.org_id, id)? else {
                return Err(OpsError {
                    field: Some("id".into()),
                    ..OpsError::not_found(format!("there is no conflict {id}; list them with `argus-usage sync status`"))
                });
            };
            if item.state != "conflict" {
                return Err(OpsError {
                    field: Some("id".into()),
                    ..OpsError::new(
                        ErrorCode::Conflict,
                        format!("edit {id} ({}) is {}, not a conflict; nothing to resolve", item.object, item.state),
                    )
                });
            }
            match keep {
                Keep::Local => store::rebase(w, id, item.server_version, now)?,
                Keep::Server => {
                    let org = orgs::from_row(
                        argus_store::orgs::list(&w.reader())?
                            .into_iter()
                            .find(|o| o.id == link.org_id)
                            .ok_or_else(|| OpsError::new(ErrorCode::Store, "the linked organisation is missing"))?,
                    )?;
                    let value: serde_json::Value =
                        item.server_value.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
                    match object_of(&item.object) {
                        Some(Object::Budget(m, scope)) => {
                            if value.is_null() {
                                store::delete_budget(w, org.row.id, scope, m)?;
                            } else {
                                let b: BudgetView =
                                    serde_json::from_value(value).map_err(|e| OpsError::new(ErrorCode::Store, e.to_string()))?;
                                store::put_budget_exact(w, org.row.id, &budget_row(&b)?)?;
                            }
                        }
                        Some(Object::Provider(p)) => {
                            if value.is_null() {
                                store::delete_provider(w, org.row.id, p)?;
                            } else {
                                let v: ProviderView =
                                    serde_json::from_value(value).map_err(|e| OpsError::new(ErrorCode::Store, e.to_string()))?;
                                store::put_provider_exact(w, org.row.id, &provider_row(&v, now))?;
                            }
                        }
                        _ => {}
                    }
                    store::remove_edit(w, id)?;
                }
            }
            let keep_s = if keep == Keep::Local { "local" } else { "server" };
            audit::add(
                w,
                Some(link.org_id),
                now,
                &actor,
                "sync.resolve",
                &item.object,
                None,
                Some(&serde_json::json!({"keep": keep_s}).to_string()),
            )?;
            Ok(())
        })?;
        self.sync_status()
    }
}
