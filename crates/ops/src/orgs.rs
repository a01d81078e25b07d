//! Organisations.
use crate::api::OrgView;
use crate::{Ops, OpsError, Result};
use argus_domain::price::check_currency;
use argus_domain::slug::{check_slug, check_text};
use argus_domain::time::{fmt_instant, from_nanos, parse_timezone, to_nanos};
use argus_domain::ErrorCode;
use argus_store::orgs::{self, OrgRow};
use argus_store::{audit, Reader};
use chrono_tz::Tz;

/// An organisation with its time zone parsed.
#[derive(Debug, Clone)]
pub struct Org {
    pub row: OrgRow,
    pub tz: Tz,
}

impl Org {
    pub fn view(&self) -> OrgView {
        OrgView {
            slug: self.row.slug.clone(),
            name: self.row.name.clone(),
            currency: self.row.currency.clone(),
            timezone: self.row.timezone.clone(),
            created_at: fmt_instant(from_nanos(self.row.created_at)),
        }
    }
}

pub(crate) fn from_row(row: OrgRow) -> Result<Org> {
    let tz = parse_timezone("timezone", &row.timezone)?;
    Ok(Org { row, tz })
}

/// Looks an organisation up by slug, with an error that says what to do.
pub(crate) fn find(r: &Reader<'_>, slug: &str) -> Result<Org> {
    if let Some(row) = orgs::by_slug(r, slug)? {
        return from_row(row);
    }
    // Slugs are lower case: a slug that differs only by case is the one meant.
    let same_but_case = orgs::list(r)?.into_iter().find(|o| o.slug.eq_ignore_ascii_case(slug));
    let message = match same_but_case {
        Some(o) => format!("organisation {slug:?} does not exist; did you mean {:?}? (slugs are lower case)", o.slug),
        None if argus_domain::slug::check_slug("org", slug).is_ok() => format!(
            "organisation {slug:?} does not exist; create it with `argus-usage org create {slug}` or list them with `argus-usage org list`"
        ),
        None => format!("organisation {slug:?} does not exist; list them with `argus-usage org list` (slugs are lower-case letters, digits and hyphens)"),
    };
    Err(OpsError { code: ErrorCode::NotFound, message, field: Some("org".into()) })
}

impl Ops {
    pub fn org_create(&mut self, slug: &str, name: Option<&str>, currency: &str, timezone: &str) -> Result<OrgView> {
        check_slug("org", slug)?;
        let name = name.unwrap_or(slug);
        check_text("name", name, 200)?;
        let currency = check_currency("currency", currency)?;
        parse_timezone("timezone", timezone)?;
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let row = orgs::insert(w, slug, name, &currency, timezone, now)?.ok_or_else(|| OpsError {
                code: ErrorCode::AlreadyExists,
                message: format!("organisation {slug:?} already exists; choose another slug"),
                field: Some("org".into()),
            })?;
            let org = from_row(row)?;
            let after = serde_json::to_string(&org.view()).unwrap_or_default();
            audit::add(w, Some(org.row.id), now, &actor, "org.create", &format!("org/{slug}"), None, Some(&after))?;
            Ok(org.view())
        })
    }

    pub fn org_list(&mut self) -> Result<Vec<OrgView>> {
        let rows = orgs::list(&self.store.reader())?;
        rows.into_iter().map(|r| from_row(r).map(|o| o.view())).collect()
    }

    pub fn org_get(&mut self, slug: &str) -> Result<OrgView> {
        Ok(find(&self.store.reader(), slug)?.view())
    }
}
