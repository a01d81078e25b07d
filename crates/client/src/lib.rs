//! The HTTP client side of Argus Usage: the only crate that touches reqwest.
//!
//! - [`webhook`] — delivery of signed alert payloads.
//! - [`outbox`] — the alert outbox's delivery loop (webhooks, Slack, e-mail).
//! - [`email`] — e-mail over SMTP (lettre).
//! - [`api`] — a client of the server's HTTP API (tests, benchmarks).
//! - [`remote`] — the sync's transport to the server (blocking).
//! - [`upstream`] — the gateway's calls to the providers (streamed).
//! - [`credentials`] — sync tokens in the OS keyring, or `ARGUS_USAGE_TOKEN`.
#![forbid(unsafe_code)]

pub mod webhook {
    //! POSTs a webhook payload and reports the status.
    use std::time::Duration;

    /// The answer of one delivery attempt.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Attempt {
        /// The receiver answered with this HTTP status.
        Status(u16),
        /// No answer: the reason (connection refused, timeout...).
        Failed(String),
    }

    impl Attempt {
        pub fn delivered(&self) -> bool {
            matches!(self, Attempt::Status(s) if (200..300).contains(s))
        }

        pub fn describe(&self) -> String {
            match self {
                Attempt::Status(s) => s.to_string(),
                Attempt::Failed(e) => e.clone(),
            }
        }
    }

    /// A client for webhook deliveries (rustls, 10 s timeout, no
    /// redirects). Unless `allow_private`, names are resolved to public
    /// addresses only, checked at connect time (a name may resolve to an
    /// internal address after the URL was accepted).
    pub fn client(allow_private: bool) -> Client {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("argus-usage/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            b = b.dns_resolver(std::sync::Arc::new(PublicOnly));
        }
        Client { http: b.build().unwrap_or_default(), allow_private }
    }

    /// The webhook client and whether internal targets are allowed.
    #[derive(Clone)]
    pub struct Client {
        http: reqwest::Client,
        allow_private: bool,
    }

    /// Resolves names to their public addresses only.
    pub(crate) struct PublicOnly;

    impl reqwest::dns::Resolve for PublicOnly {
        fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
            Box::pin(async move {
                let all: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
                let public: Vec<std::net::SocketAddr> =
                    all.into_iter().filter(|a| argus_domain::net::refused_target(a.ip()).is_none()).collect();
                if public.is_empty() {
                    let e: Box<dyn std::error::Error + Send + Sync> = format!(
                        "{} resolves only to internal addresses, which may not be targeted unless serve runs with --allow-private-targets",
                        name.as_str()
                    )
                    .into();
                    return Err(e);
                }
                let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
                Ok(addrs)
            })
        }
    }

    /// Why `url`'s literal address may not be posted to (names are checked
    /// by the resolver).
    pub(crate) fn refused_literal(url: &str) -> Option<&'static str> {
        argus_domain::net::refused_host(reqwest::Url::parse(url).ok()?.host_str()?)
    }

    /// POSTs `body` (JSON) to `url` with the given signature header value.
    pub async fn post(client: &Client, url: &str, body: String, signature: &str, delivery_id: i64) -> Attempt {
        send(client, url, body, Some(signature), delivery_id).await
    }

    /// POSTs `body` (JSON) unsigned, as a Slack incoming webhook takes it.
    pub async fn post_plain(client: &Client, url: &str, body: String, delivery_id: i64) -> Attempt {
        send(client, url, body, None, delivery_id).await
    }

    async fn send(client: &Client, url: &str, body: String, signature: Option<&str>, delivery_id: i64) -> Attempt {
        if !client.allow_private {
            if let Some(why) = refused_literal(url) {
                return Attempt::Failed(format!("refused: the target is {why}"));
            }
        }
        let mut req = client.http.post(url).header("content-type", "application/json").header("x-argus-delivery", delivery_id.to_string());
        if let Some(s) = signature {
            req = req.header("x-argus-signature", s);
        }
        let res = req.body(body).send().await;
        match res {
            Ok(r) => Attempt::Status(r.status().as_u16()),
            Err(e) => Attempt::Failed(if e.is_timeout() {
                "timeout".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                "request failed".into()
            }),
        }
    }
}

pub mod upstream;

pub mod email;
pub mod outbox;

pub mod api {
    //! A small client of the server's API: JSON in, status and JSON out.
    use std::time::Duration;

    /// An answer: status, `Retry-After` and `ETag` if any, and the JSON body.
    #[derive(Debug, Clone)]
    pub struct Answer {
        pub status: u16,
        pub retry_after: Option<String>,
        pub etag: Option<String>,
        pub body: serde_json::Value,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum ClientError {
        #[error("cannot reach the server at {url}: {reason}; check the URL and that the server runs")]
        Unreachable { url: String, reason: String },
    }

    #[derive(Clone)]
    pub struct Client {
        http: reqwest::Client,
        base: String,
        token: Option<String>,
    }

    /// The HTTP client of the API client, connecting from `local` if given.
    fn http(local: Option<std::net::IpAddr>) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .local_address(local)
            .build()
            .unwrap_or_default()
    }

    /// A key unique to one request of this process: time, process, sequence.
    fn idempotency_key() -> String {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        format!("argus-{nanos:x}-{:x}-{:x}", std::process::id(), SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    impl Client {
        /// `base` is the server's address, such as `http://127.0.0.1:8680`.
        pub fn new(base: &str, token: Option<&str>) -> Client {
            Client { http: http(None), base: base.trim_end_matches('/').to_string(), token: token.map(str::to_string) }
        }

        pub fn with_token(&self, token: Option<&str>) -> Client {
            Client { token: token.map(str::to_string), ..self.clone() }
        }

        /// The same client, connecting from `local` (another loopback
        /// address, such as 127.0.0.2, looks like another machine to the server).
        pub fn from_address(&self, local: std::net::IpAddr) -> Client {
            Client { http: http(Some(local)), ..self.clone() }
        }

        /// Sends `method path` (under `/api/v1`) with an optional raw body and headers.
        pub async fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Result<Answer, ClientError> {
            let url = format!("{}/api/v1{path}", self.base);
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut req = self.http.request(m, &url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let res = req.send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), reason: e.to_string() })?;
            let status = res.status().as_u16();
            let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
            let retry_after = header("retry-after");
            let etag = header("etag");
            let bytes = res.bytes().await.map_err(|e| ClientError::Unreachable { url, reason: e.to_string() })?;
            let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            Ok(Answer { status, retry_after, etag, body })
        }

        /// The raw bytes of a GET (a downloaded report).
        pub async fn raw_get(&self, path: &str) -> Result<Vec<u8>, ClientError> {
            let url = format!("{}/api/v1{path}", self.base);
            let mut req = self.http.get(&url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), reason: e.to_string() })?;
            Ok(res.bytes().await.map_err(|e| ClientError::Unreachable { url, reason: e.to_string() })?.to_vec())
        }

        /// A GET of `/api/v1{path}` with the answer's status and headers (a
        /// report download and the metadata in its header).
        pub async fn raw_get_with_headers(&self, path: &str) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), ClientError> {
            let url = format!("{}/api/v1{path}", self.base);
            let mut req = self.http.get(&url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), reason: e.to_string() })?;
            let (status, headers) = (res.status().as_u16(), res.headers().clone());
            Ok((status, headers, res.bytes().await.map_err(|e| ClientError::Unreachable { url, reason: e.to_string() })?.to_vec()))
        }

        pub async fn get(&self, path: &str) -> Result<Answer, ClientError> {
            self.send("GET", path, None, &[]).await
        }

        /// Posts a batch of records to `/orgs/{org}/records` with an
        /// `Idempotency-Key` made once for the batch and sent again with each
        /// retry (up to 3 attempts, on no answer or a 5xx), so that a retry
        /// never stores a call twice, even for records without an `id`.
        pub async fn post_records(&self, org: &str, batch: &serde_json::Value) -> Result<Answer, ClientError> {
            let key = idempotency_key();
            let body = batch.to_string().into_bytes();
            let path = format!("/orgs/{org}/records");
            let mut attempt = 0;
            loop {
                attempt += 1;
                let r = self.send("POST", &path, Some(body.clone()), &[("idempotency-key", &key)]).await;
                match r {
                    Ok(a) if a.status < 500 || attempt >= 3 => return Ok(a),
                    Err(e) if attempt >= 3 => return Err(e),
                    _ => tokio::time::sleep(Duration::from_millis(200 * attempt)).await,
                }
            }
        }

        /// A POST of JSON to a path outside the API (the gateway's `/v1/...`,
        /// or any server's URL when `path` is absolute): the status and the
        /// whole body, read to its end (a stream included).
        pub async fn raw_post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ClientError> {
            let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.base) };
            let mut req = self.http.post(&url).header("content-type", "application/json").body(body);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), reason: e.to_string() })?;
            let status = res.status().as_u16();
            let bytes = res.bytes().await.map_err(|e| ClientError::Unreachable { url, reason: e.to_string() })?;
            Ok((status, bytes.to_vec()))
        }

        /// A GET of a path outside the API (the console's files): status and bytes.
        pub async fn raw_get_root(&self, path: &str) -> Result<(u16, Vec<u8>), ClientError> {
            let url = format!("{}{path}", self.base);
            let res = self.http.get(&url).send().await.map_err(|e| ClientError::Unreachable { url: url.clone(), reason: e.to_string() })?;
            let status = res.status().as_u16();
            Ok((status, res.bytes().await.map_err(|e| ClientError::Unreachable { url, reason: e.to_string() })?.to_vec()))
        }

        pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<Answer, ClientError> {
            self.send("POST", path, Some(body.to_string().into_bytes()), &[]).await
        }

        pub async fn put(&self, path: &str, body: &serde_json::Value, if_match: Option<&str>) -> Result<Answer, ClientError> {
            match if_match {
                Some(v) => self.send("PUT", path, Some(body.to_string().into_bytes()), &[("if-match", v)]).await,
                None => self.send("PUT", path, Some(body.to_string().into_bytes()), &[]).await,
            }
        }
    }
}

pub mod remote {
    //! The sync's transport: [`argus_ops::sync::Remote`] over blocking
    //! reqwest (rustls). Call it off any async runtime (a plain thread).
    use argus_ops::sync::{Answer, Remote};
    use std::time::Duration;

    pub struct HttpRemote {
        http: reqwest::blocking::Client,
        server: String,
        token: String,
    }

    impl HttpRemote {
        /// `server` such as `http://127.0.0.1:8680` (a trailing `/` or `/api/v1` is ignored).
        pub fn new(server: &str, token: &str) -> HttpRemote {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("argus-usage-sync/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default();
            HttpRemote { http, server: normalize_server(server), token: token.to_string() }
        }
    }

    /// The server's base address as stored in a link.
    pub fn normalize_server(s: &str) -> String {
        let s = s.trim().trim_end_matches('/');
        s.strip_suffix("/api/v1").unwrap_or(s).to_string()
    }

    impl Remote for HttpRemote {
        fn server(&self) -> &str {
            &self.server
        }

        fn request(&self, method: &str, path: &str, body: Option<&[u8]>, if_match: Option<i64>) -> Result<Answer, String> {
            let url = format!("{}/api/v1{path}", self.server);
            let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
            let mut req = self.http.request(m, &url).bearer_auth(&self.token);
            if let Some(v) = if_match {
                req = req.header("if-match", format!("\"{v}\""));
            }
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b.to_vec());
            }
            let res = req.send().map_err(describe)?;
            let status = res.status().as_u16();
            let body = res.bytes().map_err(describe)?.to_vec();
            Ok(Answer { status, body })
        }
    }

    /// A network failure in words, without the URL's query or any header.
    fn describe(e: reqwest::Error) -> String {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_builder() {
            "bad URL"
        } else {
            "request failed"
        };
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        let mut root = String::new();
        while let Some(s) = source {
            root = s.to_string();
            source = s.source();
        }
        if root.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {root}")
        }
    }
}

pub mod credentials {
    //! Sync tokens live in the OS keyring (the Secret Service on Linux),
    //! never in the store, a config file or a log. `ARGUS_USAGE_TOKEN`
    //! always takes precedence; where no keyring runs, the error says so
    //! and names that variable. There is no plain-text fallback.

    /// The environment variable that gives the token explicitly.
    pub const TOKEN_ENV: &str = "ARGUS_USAGE_TOKEN";
    const SERVICE: &str = "argus-usage";

    #[derive(Debug, thiserror::Error)]
    pub enum CredError {
        #[error("the OS keyring is not available here ({0}); set the environment variable ARGUS_USAGE_TOKEN to the token instead (it always takes precedence)")]
        NoKeyring(String),
        #[error("no token for {org} on {server} is in the OS keyring; link again with `argus-usage sync link --server {server} --org {org}`, or set ARGUS_USAGE_TOKEN")]
        Missing { server: String, org: String },
    }

    /// Where tokens are kept: the OS keyring, or memory in unit tests.
    pub trait Vault {
        fn get(&self, account: &str) -> Result<Option<String>, CredError>;
        fn set(&self, account: &str, token: &str) -> Result<(), CredError>;
        fn delete(&self, account: &str) -> Result<(), CredError>;
    }

    /// The OS keyring through the `keyring` crate.
    pub struct KeyringVault;

    fn entry(account: &str) -> Result<keyring::Entry, CredError> {
        keyring::Entry::new(SERVICE, account).map_err(|e| CredError::NoKeyring(e.to_string()))
    }

    impl Vault for KeyringVault {
        fn get(&self, account: &str) -> Result<Option<String>, CredError> {
            match entry(account)?.get_password() {
                Ok(t) => Ok(Some(t)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(CredError::NoKeyring(e.to_string())),
            }
        }

        fn set(&self, account: &str, token: &str) -> Result<(), CredError> {
            entry(account)?.set_password(token).map_err(|e| CredError::NoKeyring(e.to_string()))
        }

        fn delete(&self, account: &str) -> Result<(), CredError> {
            match entry(account)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(CredError::NoKeyring(e.to_string())),
            }
        }
    }

    /// Tokens in memory, for tests of the logic around the keyring.
    #[derive(Default)]
    pub struct MemoryVault(std::sync::Mutex<std::collections::HashMap<String, String>>);

    impl Vault for MemoryVault {
        fn get(&self, account: &str) -> Result<Option<String>, CredError> {
            Ok(self.0.lock().map_err(|_| CredError::NoKeyring("poisoned".into()))?.get(account).cloned())
        }
        fn set(&self, account: &str, token: &str) -> Result<(), CredError> {
            self.0.lock().map_err(|_| CredError::NoKeyring("poisoned".into()))?.insert(account.into(), token.into());
            Ok(())
        }
        fn delete(&self, account: &str) -> Result<(), CredError> {
            self.0.lock().map_err(|_| CredError::NoKeyring("poisoned".into()))?.remove(account);
            Ok(())
        }
    }

    /// The keyring account of a link: the organisation at the server.
    pub fn account(server: &str, org: &str) -> String {
        format!("{org}@{server}")
    }

    /// Where a token came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Source {
        Env,
        Keyring,
    }

    /// The token of a link: `env` (ARGUS_USAGE_TOKEN's value) if set, else the vault's.
    pub fn token(vault: &dyn Vault, env: Option<String>, server: &str, org: &str) -> Result<(String, Source), CredError> {
        if let Some(t) = env.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            return Ok((t, Source::Env));
        }
        match vault.get(&account(server, org))? {
            Some(t) => Ok((t, Source::Keyring)),
            None => Err(CredError::Missing { server: server.into(), org: org.into() }),
        }
    }

    /// [`token`] with the OS keyring and the real environment.
    pub fn os_token(server: &str, org: &str) -> Result<(String, Source), CredError> {
        token(&KeyringVault, std::env::var(TOKEN_ENV).ok(), server, org)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_environment_wins_over_the_vault_and_a_missing_token_says_what_to_do() {
            let v = MemoryVault::default();
            v.set(&account("http://s", "acme"), "from-vault").unwrap();
            assert_eq!(token(&v, Some("from-env".into()), "http://s", "acme").unwrap(), ("from-env".into(), Source::Env));
            assert_eq!(token(&v, None, "http://s", "acme").unwrap(), ("from-vault".into(), Source::Keyring));
            assert_eq!(token(&v, Some("  ".into()), "http://s", "acme").unwrap().1, Source::Keyring);
            let e = token(&v, None, "http://s", "other").unwrap_err().to_string();
            assert!(e.contains("ARGUS_USAGE_TOKEN") && e.contains("sync link"), "{e}");
            v.delete(&account("http://s", "acme")).unwrap();
            assert!(token(&v, None, "http://s", "acme").is_err());
        }

        #[test]
        fn no_keyring_names_the_environment_variable() {
            let e = CredError::NoKeyring("no D-Bus session".into()).to_string();
            assert!(e.contains("ARGUS_USAGE_TOKEN") && e.contains("no D-Bus session"), "{e}");
        }
    }
}

pub mod link {
    //! Linking a store to a server, written once for every front end (the
    //! CLI's `sync link`/`sync`/`sync unlink`, the window's Sync screen and
    //! sync job): which token counts (`ARGUS_USAGE_TOKEN` always takes
    //! precedence and is never stored; otherwise the token given, kept in
    //! the vault), and the [`HttpRemote`] of a linked store.
    use crate::credentials::{self, CredError, Source, Vault, TOKEN_ENV};
    use crate::remote::{normalize_server, HttpRemote};
    use argus_domain::ErrorCode;
    use argus_ops::api::OrgView;
    use argus_ops::sync::SyncStatus;
    use argus_ops::{Ops, OpsError};

    fn cred_error(e: CredError) -> OpsError {
        OpsError::new(ErrorCode::Unauthorized, e.to_string())
    }

    /// `ARGUS_USAGE_TOKEN`'s value, when set and not blank.
    pub fn env_token() -> Option<String> {
        std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    }

    /// What [`link`] did.
    #[derive(Debug)]
    pub struct Linked {
        /// The server's address as stored.
        pub server: String,
        pub org: OrgView,
        /// Where the token came from: the environment (not stored) or the
        /// one given, now in the vault.
        pub token: Source,
    }

    /// Links the store of `ops` to `org` at `server`. The token is
    /// `ARGUS_USAGE_TOKEN` when set (never stored); else `given()` (asked
    /// for only then), which is stored in `vault` once the server accepted it.
    pub fn link(
        ops: &mut Ops,
        vault: &dyn Vault,
        server: &str,
        org: &str,
        given: impl FnOnce() -> Result<String, OpsError>,
    ) -> Result<Linked, OpsError> {
        let server = normalize_server(server);
        let (token, source) = match env_token() {
            Some(t) => (t, Source::Env),
            None => (given()?.trim().to_string(), Source::Keyring),
        };
        let view = ops.sync_link(&HttpRemote::new(&server, &token), org)?;
        if source == Source::Keyring {
            vault
                .set(&credentials::account(&server, org), &token)
                .map_err(|e| OpsError::new(ErrorCode::Unauthorized, format!("linked, but the token could not be stored: {e}")))?;
        }
        Ok(Linked { server, org: view, token: source })
    }

    /// The transport to the server of a linked store, with its token
    /// (`ARGUS_USAGE_TOKEN`, else the OS keyring's).
    pub fn remote(status: &SyncStatus) -> Result<HttpRemote, OpsError> {
        let (Some(server), Some(org)) = (&status.server, &status.org) else {
            return Err(OpsError::new(
                ErrorCode::NotFound,
                "this store is standalone (not linked to a server); link it first: `argus-usage sync link --server URL --org SLUG`, or from the Sync screen",
            ));
        };
        let (token, _) = credentials::os_token(server, org).map_err(cred_error)?;
        Ok(HttpRemote::new(server, &token))
    }

    /// Unlinks the store (its data stays) and removes the token from
    /// `vault`. Returns the server and organisation it was linked to, and
    /// the error of removing the token, if that failed (the unlink stands).
    pub fn unlink(ops: &mut Ops, vault: &dyn Vault) -> Result<Option<(String, String, Option<CredError>)>, OpsError> {
        let s = ops.sync_status()?;
        ops.sync_unlink()?;
        Ok(match (s.server, s.org) {
            (Some(server), Some(org)) => {
                let removed = vault.delete(&credentials::account(&server, &org)).err();
                Some((server, org, removed))
            }
            _ => None,
        })
    }
}
