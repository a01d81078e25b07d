//! Error codes shared by every front end. Front ends branch on the code,
//! never on message text.
use serde::{Deserialize, Serialize};

/// One code per kind of failure a caller may want to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadInput,
    NotFound,
    Conflict,
    AlreadyExists,
    SchemaTooNew,
    VersionMismatch,
    BudgetExceeded,
    RateLimited,
    ProviderDisabled,
    Unauthorized,
    Forbidden,
    PayloadTooLarge,
    /// The central server could not be reached (sync).
    Unreachable,
    /// The server is not an Argus Usage server of a compatible version (sync).
    Incompatible,
    /// A request took longer than the server allows (or an upstream did).
    Timeout,
    /// The store's database cannot be reached now (PostgreSQL down or its
    /// connection lost): try again shortly.
    Unavailable,
    Store,
    Io,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadInput => "bad_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::SchemaTooNew => "schema_too_new",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ProviderDisabled => "provider_disabled",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::Incompatible => "incompatible",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Store => "store",
            ErrorCode::Io => "io",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A problem with one field of some input: which field, which value, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}
