//! Slugs: the ids of organisations, providers, operations and statuses.

use crate::FieldError;

/// Checks a slug: 1 to 64 characters of `a-z`, `0-9`, `-`, `_`, `.`,
/// starting with a letter or digit.
pub fn check_slug(field: &str, value: &str) -> Result<(), FieldError> {
    let ok_first = value.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_rest = value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if value.is_empty() || value.len() > 64 || !ok_first || !ok_rest || value.contains("..") {
        return Err(FieldError::new(
            field,
            format!(
                "{value:?} is not a valid slug; use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit (for example \"openai\")"
            ),
        ));
    }
    Ok(())
}

/// Checks free text such as a model name, investigation or user id:
/// 1 to `max` characters, no control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "is empty; give a non-empty text or leave the field out"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("is {} characters long; the limit is {max}", value.chars().count())));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, format!("{value:?} contains control characters (such as a newline or tab); remove them")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["openai", "azure-openai", "a", "gpt-4.1", "knowledge_base", "2fa"] {
            assert!(check_slug("f", ok).is_ok(), "{ok} is a plain slug and must be accepted");
        }
        for bad in ["", "OpenAI", "-x", "a b", "../etc", "a/b", "x..y", &"a".repeat(65)] {
            assert!(check_slug("f", bad).is_err(), "{bad:?} must be refused: not a slug");
        }
    }
}
