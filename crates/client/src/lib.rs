//! The HTTP client side of Argus Usage: the only crate that touches reqwest.
//!
//! - [`webhook`] — delivery of signed alert payloads.
//! - [`api`] — a client of the server's HTTP API (tests, benchmarks, sync).
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

    /// A client for webhook deliveries (rustls, 10 s timeout, no redirects).
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("argus-usage/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    }

    /// POSTs `body` (JSON) to `url` with the given signature header value.
    pub async fn post(client: &reqwest::Client, url: &str, body: String, signature: &str, delivery_id: i64) -> Attempt {
        let res = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-argus-signature", signature)
            .header("x-argus-delivery", delivery_id.to_string())
            .body(body)
            .send()
            .await;
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

    impl Client {
        /// `base` is the server's address, such as `http://127.0.0.1:8680`.
        pub fn new(base: &str, token: Option<&str>) -> Client {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(64).build().unwrap_or_default();
            Client { http, base: base.trim_end_matches('/').to_string(), token: token.map(str::to_string) }
        }

        pub fn with_token(&self, token: Option<&str>) -> Client {
            Client { token: token.map(str::to_string), ..self.clone() }
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

        pub async fn get(&self, path: &str) -> Result<Answer, ClientError> {
            self.send("GET", path, None, &[]).await
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
