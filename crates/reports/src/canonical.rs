//! The canonical form of exported rows, and the CSV formula neutralisation.
use sha2::{Digest, Sha256};

/// Columns of a records export: the keys of an ingest line, then what the
/// store adds, then the gateway's details of a call, then the service tier
/// and the 1-hour cache writes (each appended later, so that consumers of
/// the earlier columns keep working).
pub const RECORD_COLUMNS: [&str; 28] = [
    "id",
    "org",
    "provider",
    "model",
    "operation",
    "investigation",
    "user",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "status",
    "latency_ms",
    "occurred_at",
    "cost",
    "currency",
    "price_id",
    "recorded_at",
    "upstream_model",
    "first_byte_ms",
    "estimated",
    "attempt",
    "service_tier",
    "cache_write_1h_tokens",
    "source_cost",
    "source_currency",
    "fx_rate",
    "fx_date",
];

/// How many of [`RECORD_COLUMNS`] the records exports of each edition have,
/// oldest first: 18 before the gateway's details, 22 before the service
/// tier and the 1-hour cache writes, 24 before the cost in another currency
/// and its exchange rate. `export verify` verifies them all.
pub const RECORD_EDITIONS: [usize; 4] = [18, 22, 24, RECORD_COLUMNS.len()];

/// Columns of a summary export.
pub const SUMMARY_COLUMNS: [&str; 6] = ["key", "requests", "input_tokens", "output_tokens", "cost", "unpriced_requests"];

/// Makes a cell inert in a spreadsheet: a cell starting with `=`, `+`, `-`,
/// `@`, tab or carriage return gets a leading `'`; so does one starting
/// with `'`, so that [`unneutralise`] can always undo it.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

pub fn unneutralise(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// Running SHA-256 over canonical rows.
#[derive(Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn row(&mut self, cells: &[Option<&str>]) {
        let line = serde_json::to_string(cells).unwrap_or_default();
        self.0.update(line.as_bytes());
        self.0.update(b"\n");
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_columns_are_the_ingest_keys_then_what_the_store_adds() {
        // The ingest keys live in `argus_domain::record::KEYS` (which ends with
        // `reservation_id`, bookkeeping that is not exported).
        assert_eq!(RECORD_COLUMNS[..14], argus_domain::record::KEYS[..14]);
        assert_eq!(RECORD_COLUMNS[14..RECORD_EDITIONS[0]], ["cost", "currency", "price_id", "recorded_at"]);
        assert_eq!(RECORD_COLUMNS[RECORD_EDITIONS[0]..RECORD_EDITIONS[2]], argus_domain::record::KEYS[15..]);
    }

    #[test]
    fn neutralisation_round_trips() {
        for raw in ["=SUM(A1)", "+1", "-2", "@x", "\tx", "\rx", "'quoted", "plain", "", "1.5"] {
            assert_eq!(unneutralise(&neutralise(raw)), raw);
        }
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("INV-7"), "INV-7", "a dash inside is harmless");
    }
}
