//! The gateway's pure rules: which dialect a provider speaks, how the
//! providers' usage figures become our four disjoint token kinds, what a
//! request is estimated to use before it is sent, and which upstream
//! answers move on to the next candidate.
use crate::price::{ServiceTier, Tokens};
use serde_json::Value;

/// The wire protocol of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI's chat completions and embeddings (also Mistral, Google's
    /// OpenAI-compatible endpoint, Azure, local servers).
    OpenAi,
    /// Anthropic's Messages.
    Anthropic,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
        }
    }

    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "openai" => Some(Dialect::OpenAi),
            "anthropic" => Some(Dialect::Anthropic),
            _ => None,
        }
    }

    /// What a provider speaks unless told otherwise: `anthropic` speaks
    /// Messages, every other provider OpenAI's chat completions.
    pub fn default_for(provider: &str) -> Dialect {
        if provider == "anthropic" {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }
}

/// The endpoints the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
    Messages,
}

impl Endpoint {
    pub fn dialect(self) -> Dialect {
        match self {
            Endpoint::ChatCompletions | Endpoint::Embeddings => Dialect::OpenAi,
            Endpoint::Messages => Dialect::Anthropic,
        }
    }

    /// The path under the upstream's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Messages => "/v1/messages",
        }
    }

    /// The operation a record of this endpoint gets unless the caller says
    /// (`X-Argus-Operation`).
    pub fn default_operation(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat",
            Endpoint::Embeddings => "embedding",
            Endpoint::Messages => "messages",
        }
    }
}

/// The URL of `endpoint` under an upstream's base URL (the one the
/// provider's own SDK takes: OpenAI's ends in `/v1`, Anthropic's does not).
pub fn upstream_url(base_url: &str, endpoint: Endpoint) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), endpoint.path())
}

/// Tokens of an OpenAI usage object: `prompt_tokens` include the cached
/// ones, so input = prompt - cached; completion tokens are output.
pub fn openai_usage(usage: &Value) -> Option<Tokens> {
    let prompt = usage.get("prompt_tokens")?.as_u64()?;
    let completion = usage.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0);
    let cached = usage.pointer("/prompt_tokens_details/cached_tokens").and_then(Value::as_u64).unwrap_or(0).min(prompt);
    Some(Tokens { input: prompt - cached, output: completion, cached_input: cached, ..Tokens::default() })
}

/// Tokens of an Anthropic usage object: the kinds are disjoint already,
/// but `cache_creation_input_tokens` counts the writes of both cache
/// lifetimes; `cache_creation.ephemeral_1h_input_tokens` says how many of
/// them are kept an hour.
pub fn anthropic_usage(usage: &Value) -> Option<Tokens> {
    usage.get("input_tokens")?.as_u64()?;
    let mut t = Tokens::default();
    anthropic_update(&mut t, usage);
    Some(t)
}

/// Sets the kinds an Anthropic usage object gives (a stream's
/// `message_delta` repeats some of them, cumulatively).
fn anthropic_update(t: &mut Tokens, usage: &Value) {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64);
    if let Some(x) = n("input_tokens") {
        t.input = x;
    }
    if let Some(x) = n("output_tokens") {
        t.output = x;
    }
    if let Some(x) = n("cache_read_input_tokens") {
        t.cached_input = x;
    }
    let hour = usage.pointer("/cache_creation/ephemeral_1h_input_tokens").and_then(Value::as_u64);
    let five = usage.pointer("/cache_creation/ephemeral_5m_input_tokens").and_then(Value::as_u64);
    match (n("cache_creation_input_tokens"), hour) {
        (Some(all), Some(h)) => (t.cache_write, t.cache_write_1h) = (all.saturating_sub(h), h.min(all)),
        (Some(all), None) => t.cache_write = all,
        (None, Some(h)) => (t.cache_write, t.cache_write_1h) = (five.unwrap_or(0), h),
        (None, None) => {}
    }
}

/// The service tier an answer says processed the call: OpenAI's
/// top-level `service_tier`, Anthropic's `usage.service_tier`.
pub fn answer_service_tier(dialect: Dialect, answer: &Value) -> Option<ServiceTier> {
    let s = match dialect {
        Dialect::OpenAi => answer.get("service_tier"),
        Dialect::Anthropic => answer.pointer("/usage/service_tier").or_else(|| answer.pointer("/message/usage/service_tier")),
    };
    s.and_then(Value::as_str).and_then(ServiceTier::from_provider)
}

/// What a request is expected to use, before it is sent: the prompt at
/// about four bytes a token, and the output it allows (`max_tokens`,
/// `max_completion_tokens`; 1,024 when it sets none). Used for the
/// reservation only; the record takes the provider's figures.
pub fn estimate(body: &Value, endpoint: Endpoint) -> Tokens {
    let prompt_bytes = ["messages", "system", "input", "prompt", "tools"]
        .iter()
        .filter_map(|k| body.get(*k))
        .map(|v| v.to_string().len() as u64)
        .sum::<u64>();
    let input = prompt_bytes.div_ceil(4);
    let output = match endpoint {
        Endpoint::Embeddings => 0,
        _ => ["max_completion_tokens", "max_tokens", "max_output_tokens"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_u64))
            .unwrap_or(1024)
            .min(crate::record::MAX_TOKENS),
    };
    Tokens { input: input.min(crate::record::MAX_TOKENS), output, ..Tokens::default() }
}

/// Whether an upstream's answer moves on to the next candidate: a 429 or
/// a 5xx (the provider is unavailable or rate-limited). Any other status
/// is the caller's and is returned as it came.
pub fn fails_over(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The status a record of an upstream answer gets: `ok`, `rate_limited`
/// (429), `error` (5xx), or `client_error` (another 4xx: the provider
/// refused the caller's request, which says nothing of its health).
pub fn record_status(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        429 => "rate_limited",
        400..=499 => "client_error",
        _ => "error",
    }
}

/// Reads the usage out of a stream of server-sent events, event by event,
/// as they pass through to the client.
#[derive(Debug, Default)]
pub struct StreamUsage {
    line: Vec<u8>,
    /// Anthropic: input kinds from `message_start`, output from the last `message_delta`.
    tokens: Option<Tokens>,
    /// The upstream's model, as it names it.
    pub model: Option<String>,
    /// The service tier the stream says processed the call.
    pub service_tier: Option<ServiceTier>,
    /// The stream ended properly (`[DONE]`, or Anthropic's `message_stop`).
    pub finished: bool,
}

impl StreamUsage {
    /// Feeds bytes of the stream (any split).
    pub fn feed(&mut self, dialect: Dialect, bytes: &[u8]) {
        for b in bytes {
            if *b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(dialect, &line);
            } else if self.line.len() < 1 << 20 {
                self.line.push(*b);
            }
        }
    }

    fn line_done(&mut self, dialect: Dialect, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else { return };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.finished = true;
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
        if let Some(t) = answer_service_tier(dialect, &v) {
            self.service_tier = Some(t);
        }
        match dialect {
            Dialect::OpenAi => {
                if let Some(m) = v.get("model").and_then(Value::as_str) {
                    self.model.get_or_insert_with(|| m.to_string());
                }
                if let Some(t) = v.get("usage").filter(|u| !u.is_null()).and_then(openai_usage) {
                    self.tokens = Some(t);
                }
            }
            Dialect::Anthropic => match v.get("type").and_then(Value::as_str) {
                Some("message_start") => {
                    if let Some(m) = v.pointer("/message/model").and_then(Value::as_str) {
                        self.model = Some(m.to_string());
                    }
                    if let Some(t) = v.pointer("/message/usage").and_then(anthropic_usage) {
                        self.tokens = Some(t);
                    }
                }
                Some("message_delta") => {
                    if let Some(u) = v.get("usage") {
                        // Cumulative counts: the last one is the total.
                        anthropic_update(self.tokens.get_or_insert_with(Tokens::default), u);
                    }
                }
                Some("message_stop") => self.finished = true,
                _ => {}
            },
        }
    }

    /// The usage the stream reported, if it did.
    pub fn tokens(&self) -> Option<Tokens> {
        self.tokens
    }
}

/// Whether a server-sent event of an OpenAI stream is the usage chunk that
/// `stream_options.include_usage` adds (no choices, a usage object): the
/// gateway asks for it, and drops it again when the caller did not.
pub fn is_usage_only_chunk(event_data: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(event_data.trim_ascii()) else { return false };
    v.get("choices").and_then(Value::as_array).is_some_and(|c| c.is_empty()) && v.get("usage").is_some_and(|u| !u.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_cached_tokens_are_taken_out_of_the_input() {
        let t = openai_usage(&json!({"prompt_tokens": 1200, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1000}}))
            .unwrap();
        assert_eq!(t, Tokens { input: 200, output: 300, cached_input: 1000, ..Tokens::default() });
        let t = openai_usage(&json!({"prompt_tokens": 8, "total_tokens": 8})).unwrap();
        assert_eq!(t, Tokens { input: 8, ..Tokens::default() }, "embeddings have no completion");
    }

    #[test]
    fn anthropic_kinds_are_disjoint_already() {
        let t = anthropic_usage(
            &json!({"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 40}),
        )
        .unwrap();
        assert_eq!(t, Tokens { input: 10, output: 20, cached_input: 30, cache_write: 40, cache_write_1h: 0 });
        let answer = json!({"usage": {"input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 40,
            "cache_creation": {"ephemeral_5m_input_tokens": 15, "ephemeral_1h_input_tokens": 25}, "service_tier": "priority"}});
        let t = anthropic_usage(&answer["usage"]).unwrap();
        assert_eq!((t.cache_write, t.cache_write_1h), (15, 25), "the writes of each cache lifetime, disjoint");
        assert_eq!(answer_service_tier(Dialect::Anthropic, &answer), Some(ServiceTier::Priority));
        assert_eq!(answer_service_tier(Dialect::OpenAi, &json!({"service_tier": "default"})), Some(ServiceTier::Standard));
        assert_eq!(answer_service_tier(Dialect::OpenAi, &json!({"service_tier": "flex"})), Some(ServiceTier::Flex));
        assert_eq!(answer_service_tier(Dialect::OpenAi, &json!({})), None);
    }

    #[test]
    fn streams_give_their_usage_at_the_end_in_any_split() {
        let openai = "data: {\"model\":\"gpt-4o-2024\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n";
        for split in [1, 3, 17, 1000] {
            let mut u = StreamUsage::default();
            for part in openai.as_bytes().chunks(split) {
                u.feed(Dialect::OpenAi, part);
            }
            assert_eq!(u.tokens(), Some(Tokens { input: 5, output: 7, ..Tokens::default() }));
            assert!(u.finished);
            assert_eq!(u.model.as_deref(), Some("gpt-4o-2024"));
        }
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n\
                         event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n\
                         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let mut u = StreamUsage::default();
        u.feed(Dialect::Anthropic, anthropic.as_bytes());
        assert_eq!(u.tokens(), Some(Tokens { input: 25, output: 15, cached_input: 3, ..Tokens::default() }));
        assert!(u.finished);
    }

    #[test]
    fn only_429_and_5xx_fail_over() {
        for (s, f, st) in [
            (200, false, "ok"),
            (400, false, "client_error"),
            (404, false, "client_error"),
            (429, true, "rate_limited"),
            (500, true, "error"),
            (503, true, "error"),
        ] {
            assert_eq!((fails_over(s), record_status(s)), (f, st), "{s}");
        }
    }

    #[test]
    fn estimates_take_the_prompt_and_the_allowed_output() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(400)}], "max_tokens": 50});
        let t = estimate(&body, Endpoint::ChatCompletions);
        assert!(t.input >= 100 && t.input < 130, "{t:?}");
        assert_eq!(t.output, 50);
        assert_eq!(estimate(&json!({"input": "abc"}), Endpoint::Embeddings).output, 0);
    }

    #[test]
    fn the_usage_only_chunk_is_recognised() {
        assert!(is_usage_only_chunk(br#"{"choices":[],"usage":{"prompt_tokens":1}}"#));
        assert!(!is_usage_only_chunk(br#"{"choices":[{"delta":{}}],"usage":null}"#));
    }
}
