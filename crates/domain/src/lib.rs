//! The pure domain of Argus Usage.
//!
//! Nothing in this crate does I/O or reads a clock: time comes in as
//! arguments. That is what lets every rule here be tested exhaustively.
//!
//! - [`money`] — the one money type and the one rounding rule.
//! - [`price`] — price versions, rates and the cost of a record.
//! - [`record`] — validation of usage input (an ingest line) and its content hash.
//! - [`time`] — organisation time zones, local days, periods and time arguments.
//! - [`analytics`] — dimensions, group keys and the totals kept on write.
//! - [`budget`] — budgets, thresholds and when they are reached.
//! - [`quota`] — rolling request windows.
//! - [`health`] — provider cool-down after repeated failures.
//! - [`projection`] — month-end spend projection.
//! - [`gateway`] — dialects, the providers' usage figures as our token kinds, estimates, failover.
//! - [`error`] — the error codes shared by the CLI, the HTTP API and the window.
#![forbid(unsafe_code)]

pub mod analytics;
pub mod budget;
pub mod error;
pub mod fx;
pub mod gateway;
pub mod health;
pub mod ids;
pub mod money;
pub mod net;
pub mod price;
pub mod projection;
pub mod quota;
pub mod record;
pub mod slug;
pub mod time;

pub use error::{ErrorCode, FieldError};
pub use money::Money;
