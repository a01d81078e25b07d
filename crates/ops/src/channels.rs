//! Alert channels: where an organisation's alerts go besides its webhook
//! (`alerts channel add/list/remove/test`). A Slack-compatible incoming
//! webhook gets a JSON `text`; an e-mail goes over SMTP (STARTTLS when the
//! server offers it, required when a password is sent to another machine);
//! a webhook channel gets today's signed webhook payload.
//!
//! An alert is queued once for each channel in the transaction that fires
//! it (`queue`, from `controls::deliver`); the sending is the client's
//! (`argus_client::outbox`), which reads [`Due`] deliveries and renders
//! each with [`Due::message`].
use crate::api::AlertView;
use crate::orgs;
use crate::{Ops, OpsError, Result};
use argus_domain::record::patterns;
use argus_domain::time::{fmt_instant, from_nanos, to_nanos};
use argus_domain::{ErrorCode, FieldError};
use argus_store::server::{self, ChannelRow, ChannelTarget};
use argus_store::{audit, Writer};
use serde::{Deserialize, Serialize};

/// The variable an SMTP password is read from unless `--password-env` names another.
pub const PASSWORD_ENV: &str = "ARGUS_USAGE_SMTP_PASSWORD";

/// What `alerts channel add` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// `slack`, `email` or `webhook`.
    pub kind: String,
    /// The incoming webhook's URL (`slack`, `webhook`).
    #[serde(default)]
    pub url: Option<String>,
    /// The address alerts are sent to (`email`).
    #[serde(default)]
    pub to: Option<String>,
    /// `smtp://HOST:PORT` (STARTTLS when offered) or `smtps://HOST:PORT` (TLS from the start).
    #[serde(default)]
    pub smtp: Option<String>,
    /// The sender (default `argus-usage@HOST`).
    #[serde(default)]
    pub from: Option<String>,
    /// The SMTP user; the password is read from `password_env` at send time.
    #[serde(default)]
    pub smtp_user: Option<String>,
    /// The environment variable holding the SMTP password (default `ARGUS_USAGE_SMTP_PASSWORD`).
    #[serde(default)]
    pub password_env: Option<String>,
}

/// A channel to add as the API and the window send it (`POST
/// /alert-channels`, the `channel_add` command): by its kind, with exactly
/// what that kind takes (the command line's flags make a [`ChannelSpec`]).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelBody {
    /// A Slack-compatible incoming webhook: a JSON `text` per alert.
    Slack {
        #[schemars(length(max = 2000), pattern(patterns::WEBHOOK_URL))]
        url: String,
    },
    /// A signed webhook, like the organisation's; the answer carries its secret.
    Webhook {
        #[schemars(length(max = 2000), pattern(patterns::WEBHOOK_URL))]
        url: String,
    },
    /// An e-mail per alert over SMTP (STARTTLS when offered; `smtps://` for TLS from the start).
    Email {
        #[schemars(length(max = 254), pattern(patterns::EMAIL))]
        to: String,
        #[schemars(length(max = 500), pattern(patterns::SMTP_URL))]
        smtp: String,
        /// The sender (default `argus-usage@HOST`).
        #[serde(default)]
        #[schemars(length(max = 254), pattern(patterns::EMAIL))]
        from: Option<String>,
        /// Log in to the SMTP server; the password is read from the
        /// environment of the process that sends, never sent or stored.
        #[serde(default)]
        smtp_auth: Option<SmtpAuth>,
    },
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpAuth {
    #[schemars(length(min = 1, max = 256), pattern(patterns::TEXT))]
    pub user: String,
    /// The variable holding the password (default `ARGUS_USAGE_SMTP_PASSWORD`).
    #[serde(default)]
    #[schemars(pattern(patterns::ENV_NAME))]
    pub password_env: Option<String>,
}

impl From<ChannelBody> for ChannelSpec {
    fn from(b: ChannelBody) -> ChannelSpec {
        match b {
            ChannelBody::Slack { url } => ChannelSpec { kind: "slack".into(), url: Some(url), ..Default::default() },
            ChannelBody::Webhook { url } => ChannelSpec { kind: "webhook".into(), url: Some(url), ..Default::default() },
            ChannelBody::Email { to, smtp, from, smtp_auth } => ChannelSpec {
                kind: "email".into(),
                to: Some(to),
                smtp: Some(smtp),
                from,
                smtp_user: smtp_auth.as_ref().map(|a| a.user.clone()),
                password_env: smtp_auth.and_then(|a| a.password_env),
                url: None,
            },
        }
    }
}

/// A channel as listed: where it sends, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct ChannelView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub org: String,
    pub kind: String,
    /// Where it sends, in words: a Slack URL is shown up to its host (its
    /// path is the secret), an e-mail channel as `ADDR via smtp://HOST:PORT`.
    pub target: String,
    pub to: Option<String>,
    pub smtp: Option<String>,
    pub from: Option<String>,
    pub smtp_user: Option<String>,
    pub password_env: Option<String>,
    pub created_at: String,
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A signed webhook; `secret_label` is what its signing secret is
    /// derived from (with the server key).
    Webhook {
        url: String,
        secret_label: String,
    },
    Slack {
        url: String,
    },
    Email {
        to: String,
        smtp: String,
        from: String,
        smtp_user: Option<String>,
        password_env: Option<String>,
    },
}

/// A delivery due now, with everything needed to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub attempts: i64,
    pub org: String,
    pub currency: String,
    /// The webhook payload, `{"type": "budget_alert", "alert": ...}`, or `{"type": "test"}`.
    pub payload: String,
    pub target: Target,
}

/// What a Slack channel or an e-mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
}

impl Due {
    /// The words of this delivery, with a link to the console's Budgets
    /// screen when the server knows its address (`serve --console-url`).
    pub fn message(&self, console: Option<&str>) -> Message {
        let open = match console {
            Some(base) => format!("Open the console: {}/#/budgets", base.trim_end_matches('/')),
            None => "Open the Budgets screen of Argus Usage to see it.".to_string(),
        };
        let alert = serde_json::from_str::<serde_json::Value>(&self.payload)
            .ok()
            .and_then(|v| serde_json::from_value::<AlertView>(v.get("alert")?.clone()).ok());
        match alert {
            Some(a) => {
                let (title, detail) = a.words();
                Message { subject: format!("Argus Usage: {title}"), text: format!("{title}: {detail} ({}). {open}", self.currency) }
            }
            None => Message {
                subject: format!("Argus Usage: test of an alert channel of {}", self.org),
                text: format!("Argus Usage: this is a test of an alert channel of {}; its budget alerts will come here. {open}", self.org),
            },
        }
    }
}

/// The payload of `alerts channel test`.
pub const TEST_PAYLOAD: &str = r#"{"type":"test"}"#;

/// The label a webhook channel's signing secret is derived from.
pub fn secret_label(org: &str, channel: i64) -> String {
    format!("argus-usage channel {org} {channel}")
}

/// The label the organisation's webhook's signing secret is derived from.
pub fn webhook_secret_label(org: &str, version: i64) -> String {
    format!("argus-usage webhook {org} {version}")
}

/// Queues an alert for each of the organisation's channels.
pub(crate) fn queue(w: &Writer<'_>, org: argus_domain::ids::OrgId, alert_id: i64, payload: &str, now: i64) -> Result<()> {
    for c in server::channels(&w.reader(), org)? {
        server::enqueue_delivery(w, org, alert_id, Some(c.id), payload, now)?;
    }
    Ok(())
}

fn target_of(org: &str, c: &ChannelRow) -> Option<Target> {
    let t = &c.target;
    Some(match t.kind.as_str() {
        "webhook" => Target::Webhook { url: t.url.clone()?, secret_label: secret_label(org, c.id) },
        "slack" => Target::Slack { url: t.url.clone()? },
        _ => Target::Email {
            to: t.email_to.clone()?,
            smtp: t.smtp.clone()?,
            from: t.email_from.clone()?,
            smtp_user: t.smtp_user.clone(),
            password_env: t.password_env.clone(),
        },
    })
}

/// `https://hooks.slack.com/services/T/B/X` as `https://hooks.slack.com/…`.
fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}{}/…", u.scheme(), u.host_str().unwrap_or(""), u.port().map(|p| format!(":{p}")).unwrap_or_default()),
        Err(_) => "…".into(),
    }
}

fn view(org: &str, c: &ChannelRow) -> ChannelView {
    let t = &c.target;
    let target = match t.kind.as_str() {
        "slack" => masked(t.url.as_deref().unwrap_or("")),
        "webhook" => t.url.clone().unwrap_or_default(),
        _ => format!("{} via {}", t.email_to.as_deref().unwrap_or(""), t.smtp.as_deref().unwrap_or("")),
    };
    ChannelView {
        id: c.id,
        org: org.to_string(),
        kind: t.kind.clone(),
        target,
        to: t.email_to.clone(),
        smtp: t.smtp.clone(),
        from: t.email_from.clone(),
        smtp_user: t.smtp_user.clone(),
        password_env: t.password_env.clone(),
        created_at: fmt_instant(from_nanos(c.created_at)),
    }
}

/// An e-mail address as SMTP takes it: one `@`, no spaces or angle brackets.
fn check_address(field: &str, raw: &str) -> Result<String> {
    let ok = raw.len() <= 254
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && matches!(raw.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@') && !d.starts_with('.') && !d.ends_with('.'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(field, format!("{raw:?} is not an e-mail address; give one like budgets@example.com")).into())
    }
}

/// `smtp://HOST[:PORT]` (default port 587) or `smtps://HOST[:PORT]` (465),
/// without credentials; the host, as the checks of webhooks see it.
fn check_smtp(raw: &str, allow_private: bool) -> Result<(String, String)> {
    let bad = |why: &str| -> OpsError { FieldError::new("smtp", format!("{raw:?} {why}")).into() };
    let how = "is not an SMTP server's URL; give it like smtp://mail.example.com:587 (STARTTLS) or smtps://mail.example.com:465";
    let u = url::Url::parse(raw).map_err(|_| bad(how))?;
    if !matches!(u.scheme(), "smtp" | "smtps") || raw.len() > 500 {
        return Err(bad(how));
    }
    if !u.username().is_empty() || u.password().is_some() {
        // Not echoed: the value holds a password.
        return Err(FieldError::new("smtp", format!(
            "carries credentials (user:password@); give the user with --smtp-user and put the password in an environment variable ({PASSWORD_ENV}, or the one --password-env names), which is read when an e-mail is sent and never stored"
        ))
        .into());
    }
    if u.path().len() > 1 || u.query().is_some() {
        return Err(bad(how));
    }
    let Some(host) = u.host_str().filter(|h| !h.is_empty()) else { return Err(bad(how)) };
    if !allow_private {
        if let Some(why) = argus_domain::net::refused_host(host) {
            return Err(bad(&format!(
                "points at {why}; alerts are sent only to public addresses (start the server with --allow-private-targets, and give that flag here, to allow an on-premises relay)"
            )));
        }
    }
    let port = u.port().unwrap_or(if u.scheme() == "smtps" { 465 } else { 587 });
    Ok((format!("{}://{host}:{port}", u.scheme()), host.trim_matches(|c| c == '[' || c == ']').to_string()))
}

/// A spec checked and made into what the store keeps.
fn target_of_spec(spec: &ChannelSpec, allow_private: bool) -> Result<ChannelTarget> {
    let unused = |field: &str, kind: &str| -> OpsError {
        let a = if kind == "email" { "an" } else { "a" };
        FieldError::new(
            field,
            format!(
                "is not taken by {a} {kind} channel; leave it out ({a} {kind} channel takes {})",
                match kind {
                    "email" => "--to, --smtp, --from, --smtp-user and --password-env",
                    _ => "--url",
                }
            ),
        )
        .into()
    };
    match spec.kind.as_str() {
        "slack" | "webhook" => {
            for (f, v) in [
                ("to", &spec.to),
                ("smtp", &spec.smtp),
                ("from", &spec.from),
                ("smtp_user", &spec.smtp_user),
                ("password_env", &spec.password_env),
            ] {
                if v.is_some() {
                    return Err(unused(f, &spec.kind));
                }
            }
            let Some(url) = spec.url.as_deref() else {
                return Err(FieldError::new(
                    "url",
                    format!("is required for a {} channel; give it like --url https://hooks.slack.com/services/...", spec.kind),
                )
                .into());
            };
            crate::access::check_webhook_url(url, allow_private)?;
            Ok(ChannelTarget { kind: spec.kind.clone(), url: Some(url.to_string()), ..Default::default() })
        }
        "email" => {
            if spec.url.is_some() {
                return Err(unused("url", "email"));
            }
            let to = check_address(
                "to",
                spec.to
                    .as_deref()
                    .ok_or_else(|| FieldError::new("to", "is required for an email channel; give it like --to budgets@example.com"))?,
            )?;
            let smtp_raw = spec.smtp.as_deref().ok_or_else(|| {
                FieldError::new("smtp", "is required for an email channel; give it like --smtp smtp://mail.example.com:587")
            })?;
            let (smtp, host) = check_smtp(smtp_raw, allow_private)?;
            let from = match spec.from.as_deref() {
                Some(f) => check_address("from", f)?,
                None => format!("argus-usage@{host}"),
            };
            let smtp_user = match spec.smtp_user.as_deref() {
                Some(u) if u.is_empty() || u.len() > 256 || u.chars().any(char::is_control) => {
                    return Err(FieldError::new(
                        "smtp_user",
                        format!("{u:?} is not a user name; give the SMTP server's user, like alerts@example.com"),
                    )
                    .into())
                }
                u => u.map(str::to_string),
            };
            let password_env = match (&smtp_user, spec.password_env.as_deref()) {
                (Some(_), Some(e)) => {
                    crate::access::check_env_name("password_env", e, PASSWORD_ENV, "password")?;
                    Some(e.to_string())
                }
                (Some(_), None) => Some(PASSWORD_ENV.to_string()),
                (None, Some(_)) => {
                    return Err(
                        FieldError::new("password_env", "is only taken with --smtp-user; give the user the password belongs to").into()
                    )
                }
                (None, None) => None,
            };
            Ok(ChannelTarget {
                kind: "email".into(),
                url: None,
                email_to: Some(to),
                smtp: Some(smtp),
                email_from: Some(from),
                smtp_user,
                password_env,
            })
        }
        other => Err(FieldError::new("kind", format!("{other:?} is not a kind of channel; use slack, email or webhook")).into()),
    }
}

fn not_found(org: &str, id: i64) -> OpsError {
    OpsError {
        field: Some("id".into()),
        ..OpsError::new(
            ErrorCode::NotFound,
            format!("channel {id} does not exist in {org}; list them with `argus-usage alerts channel list --org {org}`"),
        )
    }
}

impl Ops {
    /// Adds a channel (written to the audit log, a Slack URL masked there too).
    pub fn channel_add(&mut self, org: &str, spec: &ChannelSpec, allow_private: bool) -> Result<ChannelView> {
        let target = target_of_spec(spec, allow_private)?;
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            if argus_store::sync::is_linked(&w.reader(), org.row.id)? {
                return Err(OpsError::new(
                    ErrorCode::BadInput,
                    format!("organisation {} is linked to a server, which fires and sends its alerts: add the channel there (`argus-usage alerts channel add` against the server's store)", org.row.slug),
                ));
            }
            let row = server::add_channel(w, org.row.id, &target, now)?;
            let v = view(&org.row.slug, &row);
            let after = serde_json::to_string(&v).unwrap_or_default();
            audit::add(w, Some(org.row.id), now, &actor, "channel.add", &format!("org/{}/channels/{}", org.row.slug, row.id), None, Some(&after))?;
            Ok(v)
        })
    }

    pub fn channels_list(&mut self, org: &str) -> Result<Vec<ChannelView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(server::channels(r, org.row.id)?.iter().map(|c| view(&org.row.slug, c)).collect())
        })
    }

    /// Takes a channel out of use; deliveries to it not yet made are dropped.
    pub fn channel_remove(&mut self, org: &str, id: i64) -> Result<ChannelView> {
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let row = server::channel(&w.reader(), id)?.filter(|c| c.org_id == org.row.id && c.removed_at.is_none());
            let Some(row) = row else { return Err(not_found(&org.row.slug, id)) };
            server::remove_channel(w, org.row.id, id, now)?;
            let v = view(&org.row.slug, &row);
            let before = serde_json::to_string(&v).unwrap_or_default();
            audit::add(
                w,
                Some(org.row.id),
                now,
                &actor,
                "channel.remove",
                &format!("org/{}/channels/{id}", org.row.slug),
                Some(&before),
                None,
            )?;
            Ok(v)
        })
    }

    /// A test message for a channel, to send at once (not queued).
    pub fn channel_test(&mut self, org: &str, id: i64) -> Result<Due> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let row = server::channel(r, id)?.filter(|c| c.org_id == org.row.id && c.removed_at.is_none());
            let Some(row) = row else { return Err(not_found(&org.row.slug, id)) };
            let target = target_of(&org.row.slug, &row)
                .ok_or_else(|| OpsError::new(ErrorCode::Store, format!("channel {id} is missing its target")))?;
            Ok(Due {
                id: 0,
                attempts: 0,
                org: org.row.slug.clone(),
                currency: org.row.currency.clone(),
                payload: TEST_PAYLOAD.into(),
                target,
            })
        })
    }

    /// Deliveries due now, to the organisation's webhook or a channel.
    pub fn deliveries_due(&mut self, limit: i64) -> Result<Vec<Due>> {
        let now = to_nanos(self.now());
        self.store.read(|r| {
            let mut out = Vec::new();
            for d in server::due_deliveries(r, now, limit)? {
                let Some(org) = argus_store::orgs::by_id(r, d.org_id)? else { continue };
                let target = match d.channel_id {
                    None => server::webhook(r, d.org_id)?
                        .map(|h| Target::Webhook { url: h.url, secret_label: webhook_secret_label(&org.slug, h.version) }),
                    Some(c) => server::channel(r, c)?.filter(|c| c.removed_at.is_none()).and_then(|c| target_of(&org.slug, &c)),
                };
                if let Some(target) = target {
                    out.push(Due { id: d.id, attempts: d.attempts, org: org.slug, currency: org.currency, payload: d.payload, target });
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str) -> ChannelSpec {
        ChannelSpec { kind: kind.into(), ..Default::default() }
    }

    #[test]
    fn specs_are_checked_field_by_field() {
        let slack = ChannelSpec { url: Some("https://hooks.slack.com/services/T0/B0/x".into()), ..spec("slack") };
        assert_eq!(target_of_spec(&slack, false).unwrap().url.as_deref(), Some("https://hooks.slack.com/services/T0/B0/x"));
        let e = target_of_spec(&spec("slack"), false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("url"));
        let e = target_of_spec(&spec("pager"), false).unwrap_err();
        assert!(e.message.contains("slack, email or webhook"), "{}", e.message);
        let mail = ChannelSpec { to: Some("budgets@example.com".into()), smtp: Some("smtp://mail.example.com".into()), ..spec("email") };
        let t = target_of_spec(&mail, false).unwrap();
        assert_eq!(
            (t.smtp.as_deref(), t.email_from.as_deref()),
            (Some("smtp://mail.example.com:587"), Some("argus-usage@mail.example.com"))
        );
        let creds = ChannelSpec { smtp: Some("smtp://me:secret@mail.example.com:587".into()), ..mail.clone() };
        let e = target_of_spec(&creds, false).unwrap_err();
        assert!(e.message.contains("--smtp-user") && !e.message.contains("secret@"), "{}", e.message);
        let local = ChannelSpec { smtp: Some("smtp://127.0.0.1:2525".into()), ..mail.clone() };
        assert_eq!(target_of_spec(&local, false).unwrap_err().field.as_deref(), Some("smtp"));
        assert!(target_of_spec(&local, true).is_ok());
        let user = ChannelSpec { smtp_user: Some("alerts".into()), ..mail.clone() };
        assert_eq!(target_of_spec(&user, false).unwrap().password_env.as_deref(), Some(PASSWORD_ENV));
        let bad_env = ChannelSpec { password_env: Some("not a name".into()), ..user };
        assert_eq!(target_of_spec(&bad_env, false).unwrap_err().field.as_deref(), Some("password_env"));
        let bad_to = ChannelSpec { to: Some("budgets".into()), ..mail };
        assert_eq!(target_of_spec(&bad_to, false).unwrap_err().field.as_deref(), Some("to"));
    }

    #[test]
    fn a_message_names_the_organisation_scope_amounts_and_the_console() {
        let payload = serde_json::json!({"type": "budget_alert", "alert": {
            "id": 1, "org": "acme", "scope": "investigation:INV-1", "kind": "threshold", "month": "2026-11", "threshold": 80,
            "fired_at": "2026-11-15T12:00:00Z", "spent": "812.5", "amount": "1000", "acknowledged_at": null, "acknowledged_by": null}});
        let d = Due {
            id: 1,
            attempts: 0,
            org: "acme".into(),
            currency: "USD".into(),
            payload: payload.to_string(),
            target: Target::Slack { url: "https://hooks.slack.com/x".into() },
        };
        let m = d.message(Some("https://argus.example.com/"));
        assert_eq!(
            m.text,
            "Budget alert: acme investigation:INV-1 reached 80%: 812.50 of 1000.00 spent in 2026-11 (USD). Open the console: https://argus.example.com/#/budgets"
        );
        assert_eq!(m.subject, "Argus Usage: Budget alert: acme investigation:INV-1 reached 80%");
        let t = Due { payload: TEST_PAYLOAD.into(), ..d }.message(None);
        assert!(t.text.contains("test of an alert channel of acme"), "{}", t.text);
    }
}
