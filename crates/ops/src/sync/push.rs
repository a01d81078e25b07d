//! Pushing the outbox: each local edit with the version it was made against.
use super::*;

impl Ops {
    /// Pushes each edit waiting in the outbox (conflicts wait for a person).
    pub(super) fn push(&mut self, conn: &Conn<'_>, org: &Org, report: &mut SyncReport) -> Result<()> {
        let items = store::outbox(&self.store.reader(), org.row.id)?;
        for item in items.into_iter().filter(|i| i.state != "conflict") {
            self.push_one(conn, org, &item, report)?;
        }
        Ok(())
    }

    pub(super) fn push_one(&mut self, conn: &Conn<'_>, org: &Org, item: &OutboxRow, report: &mut SyncReport) -> Result<()> {
        let slug = &conn.org;
        let now = to_nanos(self.now());
        let Some(object) = object_of(&item.object) else {
            self.store.write(|w| store::set_refused(w, item.id, "this edit is of a kind this version cannot push", now))?;
            return Ok(());
        };
        let body = item.payload.as_bytes();
        let answer = match object {
            Object::Budget(m, scope) => conn.call("PUT", &budget_path(slug, m, scope), Some(body), item.base_version)?,
            Object::Provider(p) => conn.call("PUT", &format!("/orgs/{slug}/providers/{p}"), Some(body), item.base_version)?,
            Object::Prices => conn.call("POST", &format!("/orgs/{slug}/prices"), Some(body), item.base_version)?,
            Object::AlertAck(m, t) => {
                let rid: Option<i64> = self.store.read(|r| -> Result<Option<i64>> {
                    let alert = argus_store::controls::alerts(r, org.row.id, Some(m))?.into_iter().find(|a| a.threshold == t);
                    Ok(match alert {
                        Some(a) => store::alert_remote_id(r, org.row.id, a.id)?,
                        None => None,
                    })
                })?;
                match rid {
                    Some(rid) => conn.call("POST", &format!("/orgs/{slug}/alerts/{rid}/ack"), Some(b"{}"), None)?,
                    None => {
                        self.store.write(|w| store::set_refused(w, item.id, "the server does not know this alert", now))?;
                        report.refused += 1;
                        return Ok(());
                    }
                }
            }
        };
        match answer.status {
            200..=299 => {
                self.store.write(|w| -> Result<()> {
                    store::remove_edit(w, item.id)?;
                    apply_answer(w, org, &object, &answer.body, now)
                })?;
                report.pushed += 1;
            }
            401 => return Err(conn.refusal(&answer)),
            412 => {
                let (value, version) = server_value(conn, &object)?;
                self.store.write(|w| store::set_conflict(w, item.id, &value.to_string(), version, now))?;
                report.conflicts += 1;
            }
            403 => {
                let msg = format!(
                    "{}; the token linked to this store may not change configuration, so the edit stays here. Link with an admin token (`argus-usage sync link`) and sync again",
                    server_message(&answer)
                );
                self.store.write(|w| store::set_refused(w, item.id, &msg, now))?;
                report.refused += 1;
            }
            _ => {
                let msg = server_message(&answer);
                self.store.write(|w| store::set_refused(w, item.id, &msg, now))?;
                report.refused += 1;
            }
        }
        Ok(())
    }
}

/// The server's current value of an object and its version (a 412 answer).
pub(super) fn server_value(conn: &Conn<'_>, object: &Object<'_>) -> Result<(serde_json::Value, Option<i64>)> {
    let slug = &conn.org;
    match object {
        Object::Budget(m, scope) => {
            let a = conn.call("GET", &budget_path(slug, m, scope), None, None)?;
            match a.status {
                200 => {
                    let b: BudgetView = decode(&a.body, "budget")?;
                    let v = b.version;
                    Ok((serde_json::to_value(b).unwrap_or_default(), Some(v)))
                }
                404 => Ok((serde_json::Value::Null, Some(0))),
                _ => Err(conn.refusal(&a)),
            }
        }
        Object::Provider(p) => {
            let doc: ProvidersDoc = conn.get(&format!("/orgs/{slug}/providers"))?;
            match doc.providers.into_iter().find(|x| x.provider == *p && x.configured) {
                Some(x) => {
                    let v = x.version;
                    Ok((serde_json::to_value(x).unwrap_or_default(), Some(v)))
                }
                None => Ok((serde_json::Value::Null, Some(0))),
            }
        }
        Object::Prices => {
            let doc: PricesDoc = conn.get(&format!("/orgs/{slug}/prices"))?;
            let org_versions: Vec<&PriceView> = doc.prices.iter().filter(|p| p.scope == "org").collect();
            Ok((serde_json::json!({"version": doc.version, "org_prices": org_versions}), Some(doc.version)))
        }
        Object::AlertAck(..) => Ok((serde_json::Value::Null, None)),
    }
}

/// Takes the server's answer to a push as the local value.
pub(super) fn apply_answer(w: &Writer<'_>, org: &Org, object: &Object<'_>, body: &[u8], now: i64) -> Result<()> {
    match object {
        Object::Budget(..) => store::put_budget_exact(w, org.row.id, &budget_row(&decode::<BudgetView>(body, "budget")?)?)?,
        Object::Provider(_) => store::put_provider_exact(w, org.row.id, &provider_row(&decode::<ProviderView>(body, "provider")?, now))?,
        Object::Prices => {
            let report: crate::api::PriceImportReport = decode(body, "prices")?;
            for p in &report.prices {
                let scope = (p.scope == "org").then_some(org.row.id);
                let (v, _) = argus_store::prices::insert(w, scope, &price_input(p)?, now)?;
                store::map_price(w, org.row.id, p.id, v.id.0)?;
            }
        }
        Object::AlertAck(..) => {
            let a: AlertView = decode(body, "alert")?;
            store::put_alert_exact(w, org.row.id, &alert_row(&a)?, a.id)?;
        }
    }
    Ok(())
}
