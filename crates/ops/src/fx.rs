//! Exchange rates: `fx import`, the rates an organisation sees, and the
//! rates a period's costs were converted by.
use crate::api::Rejected;
pub use crate::api::{FxImportReport, FxRateView, FxUsed, FxWaiting};
use crate::orgs::{self, Org};
use crate::{Ops, Result};
use argus_domain::fx::{FxRate, RawFx};
use argus_domain::record::join_errors;
use argus_domain::time::{day_date, local_day, to_nanos};
use argus_domain::FieldError;
use argus_store::{audit, fx as store, Reader};

fn view(r: &FxRate) -> FxRateView {
    FxRateView {
        id: r.id,
        scope: if r.org.is_some() { "org".into() } else { "global".into() },
        date: r.date.format("%Y-%m-%d").to_string(),
        from: r.from.clone(),
        to: r.to.clone(),
        rate: r.rate.normalize().to_string(),
    }
}

/// The local days `[d0, d1)` that hold the instants `[from, to)`.
pub(crate) fn days_of(org: &Org, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> (i32, i32) {
    let (d0, d1) = (local_day(org.tz, from), local_day(org.tz, to));
    (d0, if argus_domain::time::day_start(org.tz, d1) < to { d1 + 1 } else { d1 })
}

/// The rates that converted the organisation's records of the local days
/// `[d0, d1)`, from the aggregates.
pub(crate) fn used(r: &Reader<'_>, org: &Org, (d0, d1): (i32, i32)) -> Result<Vec<FxUsed>> {
    Ok(store::used(r, org.row.id, d0, d1)?
        .into_iter()
        .map(|(currency, day, rate, records)| FxUsed {
            from: currency,
            to: org.row.currency.clone(),
            date: day_date(day).format("%Y-%m-%d").to_string(),
            rate,
            records,
        })
        .collect())
}

impl Ops {
    /// Imports exchange rates (CSV `date,from,to,rate`, or a JSON array of
    /// objects with those keys): every organisation's, or with `org` the
    /// organisation's own. Re-importing adds nothing.
    pub fn fx_import(&mut self, content: &str, org: Option<&str>) -> Result<FxImportReport> {
        let rows = crate::rows::parse::<RawFx>(content)?;
        if rows.is_empty() {
            return Err(FieldError::new("rates", "there is no rate in it; give at least one row `date,from,to,rate`").into());
        }
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = org.map(|s| orgs::find(&w.reader(), s)).transpose()?;
            let mut report = FxImportReport::default();
            let mut added = Vec::new();
            for (line, raw) in rows {
                match raw.map_err(|e| vec![FieldError::new("", e)]).and_then(|r| r.validate()) {
                    Ok(x) => {
                        let (rate, new) = store::insert(w, org.as_ref().map(|o| o.row.id), &x, now)?;
                        if new {
                            report.added += 1;
                            added.push(rate.id);
                        } else {
                            report.unchanged += 1;
                        }
                    }
                    Err(errs) => report.rejected.push(Rejected {
                        line,
                        error: join_errors(&errs),
                        field: errs.first().map(|e| e.field.clone()).filter(|f| !f.is_empty()),
                    }),
                }
            }
            if !added.is_empty() {
                let object = match &org {
                    Some(o) => format!("org/{}/fx", o.row.slug),
                    None => "fx".to_string(),
                };
                let after = serde_json::json!({"added": added}).to_string();
                audit::add(w, org.as_ref().map(|o| o.row.id), now, &actor, "fx.import", &object, None, Some(&after))?;
            }
            for (id, records) in store::unconverted(&w.reader())? {
                if org.as_ref().is_none_or(|o| o.row.id == id) {
                    if let Some(o) = argus_store::orgs::by_id(&w.reader(), id)? {
                        report.waiting.push(FxWaiting { org: o.slug, records });
                    }
                }
            }
            Ok(report)
        })
    }

    /// The rates an organisation's costs may be converted by (every
    /// organisation's and its own, into its currency), or every shared rate.
    pub fn fx_list(&mut self, org: Option<&str>) -> Result<Vec<FxRateView>> {
        self.store.read(|r| {
            let list = match org {
                Some(s) => {
                    let o = orgs::find(r, s)?;
                    store::list(r, Some(o.row.id), Some(&o.row.currency))?
                }
                None => store::list(r, None, None)?,
            };
            Ok(list.iter().map(view).collect())
        })
    }
}
