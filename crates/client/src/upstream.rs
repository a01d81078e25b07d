//! The gateway's calls to the providers: `argus_ops::gateway::Upstream`
//! over reqwest, the answer's body streamed as it arrives. Unless internal
//! targets are allowed, literal internal addresses are refused and names
//! resolve to public addresses only (as for webhooks).
use argus_ops::gateway::{Unreached, Upstream, UpstreamRequest, UpstreamResponse};
use futures_util::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[derive(Clone)]
pub struct HttpUpstream {
    http: reqwest::Client,
    allow_private: bool,
}

impl HttpUpstream {
    /// A client with a connect timeout of 5 s, many idle connections kept
    /// per host, no redirects, no overall timeout (a stream may last).
    pub fn new(allow_private: bool) -> HttpUpstream {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("argus-usage-gateway/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            b = b.dns_resolver(std::sync::Arc::new(crate::webhook::PublicOnly));
        }
        HttpUpstream { http: b.build().unwrap_or_default(), allow_private }
    }
}

impl Upstream for HttpUpstream {
    fn send(&self, req: UpstreamRequest) -> Pin<Box<dyn Future<Output = Result<UpstreamResponse, Unreached>> + Send>> {
        let http = self.http.clone();
        let allow_private = self.allow_private;
        Box::pin(async move {
            if !allow_private {
                if let Some(why) = crate::webhook::refused_literal(&req.url) {
                    return Err(Unreached::Connect(format!(
                        "the upstream is {why}; start serve with --allow-private-targets for an on-premises upstream"
                    )));
                }
            }
            let mut b = http.post(&req.url).body(req.body);
            for (k, v) in &req.headers {
                b = b.header(k, v);
            }
            let res = match tokio::time::timeout(req.timeout, b.send()).await {
                Err(_) => return Err(Unreached::Timeout),
                Ok(Err(e)) if e.is_timeout() => return Err(Unreached::Timeout),
                Ok(Err(e)) => {
                    return Err(Unreached::Connect(if e.is_connect() { "connection failed".into() } else { "request failed".into() }))
                }
                Ok(Ok(r)) => r,
            };
            let status = res.status().as_u16();
            let headers = res.headers().iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
            let body = Box::pin(res.bytes_stream().map(|r| r.map_err(|e| format!("the upstream's answer broke off: {e}"))));
            Ok(UpstreamResponse { status, headers, body })
        })
    }
}
