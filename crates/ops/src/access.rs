//! Access: tokens per organisation and role, stored hashed, and webhooks.
use crate::orgs;
use crate::{Ops, OpsError, Result};
use argus_domain::time::{fmt_instant, from_nanos, to_nanos};
use argus_domain::{ErrorCode, FieldError};
use argus_store::{audit, server};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do. Each role includes nothing of the others but what
/// the table in `allows` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Ingest,
    Analyst,
    Auditor,
    Admin,
}

/// The kinds of access a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Post records, admit, route.
    Ingest,
    /// Read usage, budgets, providers, prices, forecasts, reports.
    Read,
    /// Read the audit log.
    Audit,
    /// Change configuration, prices, tokens, webhooks.
    Configure,
}

impl Role {
    pub fn parse(s: &str) -> std::result::Result<Role, FieldError> {
        match s {
            "ingest" => Ok(Role::Ingest),
            "analyst" => Ok(Role::Analyst),
            "auditor" => Ok(Role::Auditor),
            "admin" => Ok(Role::Admin),
            _ => Err(FieldError::new("role", format!("{s:?} is not a role; use ingest, analyst, auditor or admin"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// The access matrix of the product brief.
    pub fn allows(self, a: Access) -> bool {
        matches!(
            (self, a),
            (Role::Admin, _)
                | (Role::Ingest, Access::Ingest)
                | (Role::Analyst, Access::Read)
                | (Role::Auditor, Access::Read)
                | (Role::Auditor, Access::Audit)
        )
    }
}

/// Who a token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Principal {
    pub org: String,
    pub role: Role,
    /// The token's name, recorded in the audit log.
    pub name: String,
    pub token_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TokenView {
    pub id: i64,
    pub org: String,
    pub role: String,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CreatedToken {
    /// The token itself: shown once, stored only as a hash.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WebhookView {
    pub org: String,
    pub url: String,
    pub version: i64,
    pub updated_at: String,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn view(t: &server::TokenRow) -> TokenView {
    TokenView {
        id: t.id,
        org: t.org_slug.clone(),
        role: t.role.clone(),
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_at: fmt_instant(from_nanos(t.created_at)),
        revoked_at: t.revoked_at.map(|x| fmt_instant(from_nanos(x))),
    }
}

impl Ops {
    /// Makes a token for an organisation and role. The token is returned
    /// once; the store keeps only its SHA-256 (tokens are 244 random bits,
    /// so a plain hash is enough).
    pub fn token_create(&mut self, org: &str, role: &str, name: Option<&str>) -> Result<CreatedToken> {
        let role = Role::parse(role)?;
        let name = name.unwrap_or(role.as_str());
        argus_domain::slug::check_text("name", name, 100)?;
        let mut raw = uuid::Uuid::new_v4().simple().to_string();
        raw.push_str(&uuid::Uuid::new_v4().simple().to_string());
        let token = format!("argus_{raw}");
        let prefix: String = token.chars().take(12).collect();
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let row = server::add_token(w, org.row.id, role.as_str(), name, &hash(&token), &prefix, now)?;
            let after = serde_json::json!({"id": row.id, "role": row.role, "name": row.name, "prefix": row.prefix}).to_string();
            audit::add(
                w,
                Some(org.row.id),
                now,
                &actor,
                "token.create",
                &format!("org/{}/tokens/{}", org.row.slug, row.id),
                None,
                Some(&after),
            )?;
            Ok(CreatedToken { token: token.clone(), info: view(&row) })
        })
    }

    pub fn token_list(&mut self, org: &str) -> Result<Vec<TokenView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(server::tokens(r, org.row.id)?.iter().map(view).collect())
        })
    }

    pub fn token_revoke(&mut self, org: &str, id: i64) -> Result<TokenView> {
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            if !server::revoke_token(w, org.row.id, id, now)? {
                let exists = server::tokens(&w.reader(), org.row.id)?.into_iter().find(|t| t.id == id);
                return match exists {
                    Some(t) => Ok(view(&t)),
                    None => Err(OpsError {
                        code: ErrorCode::NotFound,
                        message: format!(
                            "token {id} does not exist in {}; list them with `argus-usage token list --org {}`",
                            org.row.slug, org.row.slug
                        ),
                        field: Some("id".into()),
                    }),
                };
            }
            audit::add(w, Some(org.row.id), now, &actor, "token.revoke", &format!("org/{}/tokens/{id}", org.row.slug), None, None)?;
            let t = server::tokens(&w.reader(), org.row.id)?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or_else(|| OpsError::new(ErrorCode::Internal, "token vanished"))?;
            Ok(view(&t))
        })
    }

    /// The principal of a live token, or `None` (unknown or revoked).
    pub fn authenticate(&mut self, token: &str) -> Result<Option<Principal>> {
        let Some(t) = server::token_by_hash(&self.store.reader(), &hash(token))? else { return Ok(None) };
        let role = Role::parse(&t.role)?;
        Ok(Some(Principal { org: t.org_slug, role, name: t.name, token_id: t.id }))
    }

    /// Sets where the organisation's alerts are POSTed. Internal targets
    /// (this machine, private networks, cloud metadata) are refused unless
    /// `allow_private` (a server started with `--allow-private-targets`, for
    /// an on-premises relay); the client checks again at connect time.
    pub fn webhook_set(&mut self, org: &str, url: &str, allow_private: bool) -> Result<WebhookView> {
        check_webhook_url(url, allow_private)?;
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let before = server::webhook(&w.reader(), org.row.id)?;
            let row = server::put_webhook(w, org.row.id, url, now)?;
            audit::add(
                w,
                Some(org.row.id),
                now,
                &actor,
                "webhook.set",
                &format!("org/{}/webhook", org.row.slug),
                before.map(|b| b.url).as_deref(),
                Some(url),
            )?;
            Ok(WebhookView {
                org: org.row.slug.clone(),
                url: row.url,
                version: row.version,
                updated_at: fmt_instant(from_nanos(row.updated_at)),
            })
        })
    }

    pub fn webhook_get(&mut self, org: &str) -> Result<Option<WebhookView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(server::webhook(r, org.row.id)?.map(|row| WebhookView {
                org: org.row.slug.clone(),
                url: row.url,
                version: row.version,
                updated_at: fmt_instant(from_nanos(row.updated_at)),
            }))
        })
    }

    pub fn delivery_attempted(&mut self, id: i64, status: &str, delivered: bool, retry_in: chrono::Duration) -> Result<()> {
        let now = self.now();
        Ok(self.store.write(|w| server::record_attempt(w, id, status, delivered.then(|| to_nanos(now)), to_nanos(now + retry_in)))?)
    }

    pub fn deliveries(&mut self, org: &str) -> Result<Vec<server::DeliveryRow>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(server::deliveries(r, org.row.id)?)
        })
    }

    /// Sets who changes are made by (the token's name on the server).
    pub fn set_actor(&mut self, actor: &str) {
        self.actor = actor.to_string();
    }
}

/// An environment variable's name: letters, digits and `_`, not starting
/// with a digit (the key itself is refused: it would be stored).
/// Also the rule of an SMTP password's variable (`channels`): `field`
/// names what is refused, `example` a good name, `secret` what must not be
/// given instead.
pub(crate) fn check_env_name(field: &str, s: &str, example: &str, secret: &str) -> std::result::Result<(), FieldError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return Err(FieldError::new(
            field,
            format!("give the name of an environment variable of the serving process (e.g. {example}), not the {secret} itself"),
        ));
    }
    Ok(())
}

/// A webhook URL the server may post to: http(s), no credentials, an HTTP
/// port, and (unless `allow_private`) no internal host.
pub(crate) fn check_webhook_url(raw: &str, allow_private: bool) -> Result<()> {
    let bad = |why: String| -> OpsError { FieldError::new("url", format!("{raw:?} {why}")).into() };
    if raw.len() > 2000 || raw.chars().any(char::is_whitespace) {
        return Err(bad("is not an http(s) URL; give it like https://hooks.example.com/argus".into()));
    }
    let u = url::Url::parse(raw).map_err(|_| bad("is not an http(s) URL; give it like https://hooks.example.com/argus".into()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("is not an http(s) URL; give it like https://hooks.example.com/argus".into()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("carries credentials (user:password@), which auditors would read in the audit log; put a secret in the path instead, and check the X-Argus-Signature header at the receiver".into()));
    }
    let port = u.port_or_known_default().unwrap_or(0);
    if port < 1024 && port != 80 && port != 443 {
        return Err(bad(format!("uses port {port}, which is not an HTTP port; use 80, 443 or a port from 1024")));
    }
    if allow_private {
        return Ok(());
    }
    let refused = match u.host_str() {
        Some(host) => argus_domain::net::refused_host(host),
        None => Some("no host"),
    };
    match refused {
        Some(why) => Err(bad(format!(
            "points at {why}; the server posts only to public addresses (start it with --allow-private-targets to allow an on-premises relay)"
        ))),
        None => Ok(()),
    }
}
