//! Money totals that never overflow (migrations/0006_wide_sums.sql).
//!
//! SQLite turns an INTEGER that passes 2^63 into a REAL, silently, so a kept
//! total of nano-units is two columns: `exa`, a count of 10^18 nano-units,
//! and `nanos`, the rest, strictly between -10^18 and 10^18. Every update
//! adds a delta split the same way and normalises in SQL:
//! `nanos = (nanos + d_nanos) % 10^18`, `exa = exa + d_exa + (nanos +
//! d_nanos) / 10^18` (SQLite's `/` and `%` both truncate toward zero, so they
//! agree); two parts below 10^18 never pass 2^63. The value is `exa * 10^18 + nanos`, read into an i128.

/// 10^18 nano-units: a billion in the currency.
pub const EXA: i128 = 1_000_000_000_000_000_000;

/// Splits a total into `(exa, nanos)`; `None` past ±9.2 * 10^27 in the
/// currency (no total comes near).
pub fn split(v: i128) -> Option<(i64, i64)> {
    let exa = i64::try_from(v / EXA).ok()?;
    // |v % EXA| < 10^18, so it fits.
    let nanos = (v % EXA) as i64;
    Some((exa, nanos))
}

/// The total of `(exa, nanos)`.
pub fn join(exa: i64, nanos: i64) -> i128 {
    i128::from(exa) * EXA + i128::from(nanos)
}

/// Error for a total past what [`split`] keeps.
pub(crate) fn too_large(what: &str) -> crate::StoreError {
    crate::StoreError::Corrupt(format!("{what} exceeds 9.2 * 10^27; no total of real calls comes near"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_are_inverse() {
        for v in [0i128, 1, -1, EXA - 1, EXA, -EXA, EXA + 1, i128::from(i64::MAX) * 7, -(i128::from(i64::MAX) * 3) + 5] {
            let (e, n) = split(v).unwrap();
            assert!(i128::from(n).abs() < EXA, "the rest stays below 10^18 so two never overflow");
            assert_eq!(join(e, n), v);
        }
    }
}
