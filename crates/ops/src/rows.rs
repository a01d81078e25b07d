//! Files of text rows (price versions, exchange rates): a JSON array of
//! objects with string values, or CSV with a header row. One reader for
//! both kinds, so that both give the same errors.
use crate::OpsError;
use argus_domain::ErrorCode;
use serde::de::DeserializeOwned;

/// A row of text fields read from such a file.
pub trait TextRow: Default + DeserializeOwned {
    /// What the file holds, for messages ("price versions").
    const WHAT: &'static str;
    /// Every key, in the order of the CSV header.
    const KEYS: &'static [&'static str];
    /// The keys a CSV header must have.
    const REQUIRED: &'static [&'static str];
    /// Keys whose value may be a JSON whole number (exact as such).
    const WHOLE_NUMBERS: &'static [&'static str] = &[];
    fn slot(&mut self, key: &str) -> Option<&mut Option<String>>;
}

/// Rows of a file: the line (or array position) and the row, or why it cannot be read.
pub type Rows<R> = Vec<(usize, std::result::Result<R, String>)>;

pub fn parse<R: TextRow>(content: &str) -> std::result::Result<Rows<R>, OpsError> {
    let trimmed = content.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(trimmed).map_err(|e| {
            OpsError::new(
                ErrorCode::BadInput,
                format!(
                    "the file of {} is not a valid JSON array ({e}); give an array of objects with the keys {}",
                    R::WHAT,
                    R::REQUIRED.join(", ")
                ),
            )
        })?;
        return Ok(values.into_iter().enumerate().map(|(i, v)| (i + 1, from_json::<R>(&v))).collect());
    }
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(trimmed.as_bytes());
    let headers = rdr.headers().map_err(|e| OpsError::new(ErrorCode::BadInput, format!("cannot read the CSV header: {e}")))?.clone();
    for required in R::REQUIRED {
        if !headers.iter().any(|h| h == *required) {
            let optional = R::KEYS.len() - R::REQUIRED.len();
            let rest = if optional > 0 { format!(" (the last {optional} columns are optional)") } else { String::new() };
            return Err(OpsError {
                code: ErrorCode::BadInput,
                message: format!("the CSV header has no column {required:?}; the header is {}{rest}", R::KEYS.join(",")),
                field: Some((*required).into()),
            });
        }
    }
    Ok(rdr.deserialize::<R>().enumerate().map(|(i, rec)| (i + 2, rec.map_err(|e| format!("cannot read the row: {e}")))).collect())
}

fn from_json<R: TextRow>(v: &serde_json::Value) -> std::result::Result<R, String> {
    let Some(map) = v.as_object() else {
        return Err(format!("{v} is not an object"));
    };
    let mut raw = R::default();
    for (k, x) in map {
        let s = match x {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            serde_json::Value::Number(n) if R::WHOLE_NUMBERS.contains(&k.as_str()) && n.is_u64() => Some(n.to_string()),
            serde_json::Value::Number(n) => {
                return Err(format!(
                    "field `{k}`: {n} is a JSON number; write rates and times as strings, such as \"2.50\", so that they stay exact"
                ))
            }
            other => return Err(format!("field `{k}`: {other} is not a string")),
        };
        let Some(slot) = raw.slot(k) else {
            return Err(format!("field `{k}`: is not a known key; the keys are {}", R::KEYS.join(", ")));
        };
        *slot = s;
    }
    Ok(raw)
}

impl TextRow for argus_domain::price::RawPrice {
    const WHAT: &'static str = "price versions";
    const KEYS: &'static [&'static str] = &argus_domain::price::PRICE_KEYS;
    const REQUIRED: &'static [&'static str] = argus_domain::price::PRICE_KEYS.split_at(6).0;
    const WHOLE_NUMBERS: &'static [&'static str] = &["above_input_tokens"];
    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        argus_domain::price::RawPrice::slot(self, key)
    }
}

impl TextRow for argus_domain::fx::RawFx {
    const WHAT: &'static str = "exchange rates";
    const KEYS: &'static [&'static str] = &argus_domain::fx::FX_KEYS;
    const REQUIRED: &'static [&'static str] = &argus_domain::fx::FX_KEYS;
    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        argus_domain::fx::RawFx::slot(self, key)
    }
}
