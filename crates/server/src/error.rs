//! Errors as `{"error": {"code", "message", "field"}}` with fitting statuses.
use argus_domain::ErrorCode;
use argus_ops::OpsError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// More about the error (the refusal of an admission, the rejected elements of a batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<serde_json::Value>>,
    #[serde(skip)]
    pub status: u16,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadInput => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::AlreadyExists | ErrorCode::ProviderDisabled => StatusCode::CONFLICT,
        ErrorCode::VersionMismatch => StatusCode::PRECONDITION_FAILED,
        ErrorCode::BudgetExceeded => StatusCode::PAYMENT_REQUIRED,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unreachable | ErrorCode::Incompatible => StatusCode::BAD_GATEWAY,
        ErrorCode::Timeout | ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::SchemaTooNew | ErrorCode::Store | ErrorCode::Io | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.as_str().into(),
            message: message.into(),
            field: None,
            details: None,
            status: status_of(code).as_u16(),
            retry_after: None,
        }
    }

    /// The same error under another code string and status (the gateway's
    /// `no_provider_available`, which has no `ErrorCode` of its own).
    pub fn with_code(self, code: &str, status: u16) -> ApiError {
        ApiError { code: code.to_string(), status, ..self }
    }

    pub fn internal(message: String) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, "a valid token is required: send `Authorization: Bearer TOKEN` (make one with `argus-usage token create --org SLUG --role ROLE`)")
    }

    pub fn bad_input(message: impl Into<String>, field: Option<String>) -> ApiError {
        ApiError { field, ..ApiError::new(ErrorCode::BadInput, message) }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        if matches!(e.code, ErrorCode::Store | ErrorCode::SchemaTooNew) {
            // The store's own words (SQL, paths) stay in the server's log;
            // the caller gets a reference to quote.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let reference = format!("E{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            tracing::error!(reference, error = %e.message, "store error");
            return ApiError::new(
                e.code,
                format!("the server's store could not complete this; try again, and if it persists give the operator the reference {reference} (the details are in the server's log)"),
            );
        }
        ApiError { field: e.field.clone(), ..ApiError::new(e.code, e.message) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.retry_after;
        let mut res = (status, axum::Json(serde_json::json!({ "error": self }))).into_response();
        if let Some(s) = retry {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                res.headers_mut().insert("retry-after", v);
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_is_answered_without_its_text() {
        let e = ApiError::from(OpsError::new(ErrorCode::Store, "store error: integer overflow in agg_daily at /srv/argus/usage.db"));
        assert_eq!(e.status, 500);
        assert!(!e.message.contains("overflow") && !e.message.contains("/srv") && e.message.contains("reference E"), "{}", e.message);
        let bad = ApiError::from(OpsError::new(ErrorCode::BadInput, "field `amount`: -5 is negative"));
        assert!(bad.message.contains("-5 is negative"), "other errors keep their words");
    }
}
